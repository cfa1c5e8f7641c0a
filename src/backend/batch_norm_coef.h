// batch_norm's per-channel coefficients in one formula for every backend. The forward used to
// build them from a dozen tiny tensor ops per layer (casts, rsqrt, products, the running-average
// updates); on a GPU each was a kernel launch of a few microseconds over C values (Nsight Compute
// counted 90 f32->f64 cast launches per ResNet-18 step, forward and backward together). Now one
// CPU loop or one CUDA kernel calls batch_norm_coef_channel below, written with explicitly
// rounded operations so the two give the same bits (nvcc would otherwise fuse a*b + c into one fma).
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

/// Inputs and outputs of Backend::batch_norm_coefficients; every pointer is in the device's
/// memory, C values each. weight and bias hold param_dtype values, running_mean and running_var
/// running_dtype values (f32 or f64 each, so f64 running averages of an f32 model keep their
/// precision); any of the four may be null.
struct BatchNormCoef {
  int64_t C = 0;
  DType param_dtype = DType::f32;
  DType running_dtype = DType::f32;
  const double* mean = nullptr;  // batch mean (f64)
  const double* var = nullptr;   // batch variance, biased (f64)
  const void* weight = nullptr;  // gamma; null: 1
  const void* bias = nullptr;    // beta; null: 0
  void* running_mean = nullptr;  // updated in place when not null
  void* running_var = nullptr;
  double eps = 1e-5;
  double momentum = 0.1;
  double count = 2;  // values per channel (N * S, > 1): the running variance is unbiased by count / (count - 1)
  double* rstd = nullptr;   // out: 1 / sqrt(var + eps)
  double* scale = nullptr;  // out: weight * rstd
  double* shift = nullptr;  // out: bias - mean * scale
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

/// Channel c of BatchNormCoef, for weight/bias values of type P and running values of type R.
/// The running averages follow PyTorch: r = (1 - momentum) * r + momentum * batch statistic, the
/// variance unbiased.
template <typename P, typename R>
NB_BN_HOST_DEVICE void batch_norm_coef_channel(const BatchNormCoef& a, int64_t c) {
  using namespace bn_detail;
  const double m = a.mean[c], v = a.var[c];
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
    const double unbiased = mul(v, div(a.count, sub(a.count, 1.0)));
    *r = R(add(mul(keep, double(*r)), mul(a.momentum, unbiased)));
  }
}

/// Calls f(P{}, R{}) with the C++ types of a.param_dtype and a.running_dtype (f32 or f64; the
/// caller, ops/norm.cpp, converts anything else).
template <typename F>
void dispatch_coef_types(const BatchNormCoef& a, F&& f) {
  auto with_running = [&](auto p) {
    if (a.running_dtype == DType::f64) f(p, double{});
    else f(p, float{});
  };
  if (a.param_dtype == DType::f64) with_running(double{});
  else with_running(float{});
}

}  // namespace nabla::backend
