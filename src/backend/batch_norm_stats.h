// batch_norm's training statistics for every backend: the per-channel batch mean and variance,
// then the coefficients of y = x * scale + shift and the running-average updates. The forward
// used to build the coefficients from a dozen tiny tensor ops per layer (casts, rsqrt, products,
// the running-average updates); on a GPU each was a kernel launch of a few microseconds over C
// values (Nsight Compute counted 90 f32->f64 cast launches per ResNet-18 step). Now one backend
// call does it: the CPU as two passes per channel and a loop over batch_norm_coef_channel below;
// CUDA as one kernel (slices of each channel, merged by the slice that arrives last with
// slice_merge_term below, then batch_norm_coef_channel). The mean and variance differ between
// the two in rounding only (two passes against a shifted merge: about 1e-14 relative in f64);
// batch_norm_coef_channel is written with explicitly rounded operations so that from the same
// statistics CPU and GPU give the same bits (nvcc would otherwise fuse a*b + c into one fma).
#pragma once
#include <cmath>
#include <cstdint>

#include "nabla/dtype.h"

#ifdef __CUDACC__
#define NB_BN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NB_BN_HOST_DEVICE inline
#endif

namespace nabla::backend {

/// Inputs and outputs of Backend::batch_norm_stats; every pointer is in the device's memory.
/// x is [N, C, S], contiguous, of dtype. mean, var, rstd, scale and shift are C doubles each.
/// weight and bias hold C param_dtype values, running_mean and running_var C running_dtype
/// values (f32 or f64 each, so f64 running averages of an f32 model keep their precision); any
/// of those four may be null.
struct BatchNormStats {
  DType dtype = DType::f32;
  int64_t N = 0, C = 0, S = 0;  // N * S > 1 (ops/norm.cpp checks it)
  const void* x = nullptr;
  DType param_dtype = DType::f32;
  DType running_dtype = DType::f32;
  const void* weight = nullptr;  // gamma; null: 1
  const void* bias = nullptr;    // beta; null: 0
  void* running_mean = nullptr;  // updated in place when not null
  void* running_var = nullptr;
  double eps = 1e-5;
  double momentum = 0.1;
  double* mean = nullptr;   // out: batch mean
  double* var = nullptr;    // out: batch variance, biased
  double* rstd = nullptr;   // out: 1 / sqrt(var + eps)
  double* scale = nullptr;  // out: weight * rstd
  double* shift = nullptr;  // out: bias - mean * scale

  NB_BN_HOST_DEVICE double count() const { return double(N * S); }  // values per channel
};

namespace bn_detail {
#ifdef __CUDA_ARCH__
NB_BN_HOST_DEVICE double add(double a, double b) { return __dadd_rn(a, b); }
NB_BN_HOST_DEVICE double sub(double a, double b) { return __dsub_rn(a, b); }
NB_BN_HOST_DEVICE double mul(double a, double b) { return __dmul_rn(a, b); }
NB_BN_HOST_DEVICE double div(double a, double b) { return __ddiv_rn(a, b); }
NB_BN_HOST_DEVICE double root(double a) { return __dsqrt_rn(a); }
#else
NB_BN_HOST_DEVICE double add(double a, double b) { return a + b; }
NB_BN_HOST_DEVICE double sub(double a, double b) { return a - b; }
NB_BN_HOST_DEVICE double mul(double a, double b) { return a * b; }
NB_BN_HOST_DEVICE double div(double a, double b) { return a / b; }
NB_BN_HOST_DEVICE double root(double a) { return std::sqrt(a); }
#endif
}  // namespace bn_detail

/// Channel c of BatchNormStats, for weight/bias values of type P and running values of type R.
/// The running averages follow PyTorch: r = (1 - momentum) * r + momentum * batch statistic, the
/// variance unbiased.
template <typename P, typename R>
NB_BN_HOST_DEVICE void batch_norm_coef_channel(const BatchNormStats& a, int64_t c) {
  using namespace bn_detail;
  const double m = a.mean[c], v = a.var[c], count = a.count();
  const double rs = div(1.0, root(add(v, a.eps)));
  const double sc = a.weight ? mul(double(static_cast<const P*>(a.weight)[c]), rs) : rs;
  const double b = a.bias ? double(static_cast<const P*>(a.bias)[c]) : 0.0;
  a.rstd[c] = rs;
  a.scale[c] = sc;
  a.shift[c] = sub(b, mul(m, sc));
  const double keep = sub(1.0, a.momentum);
  if (a.running_mean) {
    R* r = static_cast<R*>(a.running_mean) + c;
    *r = R(add(mul(keep, double(*r)), mul(a.momentum, m)));
  }
  if (a.running_var) {
    R* r = static_cast<R*>(a.running_var) + c;
    const double unbiased = mul(v, div(count, sub(count, 1.0)));
    *r = R(add(mul(keep, double(*r)), mul(a.momentum, unbiased)));
  }
}

/// Chan et al.'s merge of per-slice moments. The slices' values are shifted, u = x - shift
/// (shift: any value of the channel, so the sums stay small whatever the mean); slice k holds
/// n_k values with sum s_k of u and q_k = sum((u - s_k / n_k)^2), the squared deviations from the
/// slice's own mean. With m = sum(s_k) / n, the channel's mean is shift + m and its biased
/// variance sum(slice_merge_term(n_k, s_k, q_k, m)) / n: exact in real arithmetic and, like the
/// CPU's two passes, free of the cancellation of sum(x^2) - n * mean^2. The CUDA kernel adds the
/// terms in a fixed tree over its block (tests/core/slice_moments_test.cpp adds them in order).
NB_BN_HOST_DEVICE double slice_merge_term(double nk, double sk, double qk, double m) {
  using namespace bn_detail;
  if (nk <= 0) return 0.0;
  const double d = sub(div(sk, nk), m);
  return add(qk, mul(nk, mul(d, d)));
}

/// Calls f(P{}, R{}) with the C++ types of a.param_dtype and a.running_dtype (f32 or f64; the
/// caller, ops/norm.cpp, converts anything else).
template <typename F>
void dispatch_coef_types(const BatchNormStats& a, F&& f) {
  auto with_running = [&](auto p) {
    if (a.running_dtype == DType::f64) f(p, double{});
    else f(p, float{});
  };
  if (a.param_dtype == DType::f64) with_running(double{});
  else with_running(float{});
}

}  // namespace nabla::backend
