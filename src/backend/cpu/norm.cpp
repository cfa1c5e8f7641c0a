// Normalization kernels: per-channel moments (batch norm) and row-wise layer norm.
// Statistics accumulate in f64 so f32 inputs with a large mean stay accurate. 16-bit inputs
// (f16, bf16) are read as they are and computed in float (opmath_t) with the per-channel
// constants kept in float, each result rounded once; their weights, parameter gradients and
// saved statistics are f32 (PyTorch's mixed precision: parameters stay f32 under autocast).
#include <cmath>
#include <vector>

#include "../conv_kernels.h"
#include "lane_sum.h"
#include "nabla/error.h"
#include "parallel.h"

namespace nabla::backend::cpu {
namespace {

// Per-channel mean and biased variance of x [N, C, S], two passes in f64.
void channel_moments(DType dt, int64_t N, int64_t C, int64_t S, const void* xv, double* mean, double* var) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "batch_norm", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    const double count = double(N * S);
    parallel_for(C, std::max<int64_t>(1, kGrain / std::max<int64_t>(N * S, 1)), [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n) s += sum_contiguous<double>(x + (n * C + c) * S, S);
        double m = count > 0 ? s / count : 0.0, ss = 0;
        for (int64_t n = 0; n < N; ++n) {  // second pass: no cancellation
          const scalar_t* p = x + (n * C + c) * S;
          ss += lane_sum<double>(S, [p, m](int64_t i) {
            const double d = double(p[i]) - m;
            return d * d;
          });
        }
        mean[c] = m;
        var[c] = count > 0 ? ss / count : 0.0;
      }
    });
  });
}

}  // namespace

void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* xv, const double* scale,
                    const double* shift, void* yv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "batch_norm", [&] {
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* y = static_cast<scalar_t*>(yv);
    parallel_for(N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const acc_t a = acc_t(scale[nc % C]), s = acc_t(shift[nc % C]);
        const scalar_t* p = x + nc * S;
        scalar_t* q = y + nc * S;
        for (int64_t i = 0; i < S; ++i) q[i] = scalar_t(acc_t(p[i]) * a + s);
      }
    });
  });
}

void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* gv, const void* xv, const double* a,
                     const double* m, const double* b, const double* k, void* yv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "group_norm", [&] {
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* g = static_cast<const scalar_t*>(gv);
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* y = static_cast<scalar_t*>(yv);
    parallel_for(N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t nc = lo; nc < hi; ++nc) {
        const int64_t c = nc % C;
        // As batch_norm_backward's input gradient: the constants rounded to opmath once per channel.
        const acc_t at = acc_t(a[c]), mt = acc_t(m[c]), bt = acc_t(b[c]), kt = acc_t(k[c]);
        const scalar_t* gp = g + nc * S;
        const scalar_t* xp = x + nc * S;
        scalar_t* q = y + nc * S;
        for (int64_t i = 0; i < S; ++i) q[i] = scalar_t(at * acc_t(gp[i]) + bt * (acc_t(xp[i]) - mt) + kt);
      }
    });
  });
}

void batch_norm_stats(const BatchNormStats& a) {
  channel_moments(a.dtype, a.N, a.C, a.S, a.x, a.mean, a.var);
  dispatch_coef_types(a, [&](auto p, auto r) {
    for (int64_t c = 0; c < a.C; ++c) batch_norm_coef_channel<decltype(p), decltype(r)>(a, c);
  });
}

void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* xv, const void* gv,
                         const double* mean, const double* rstd, const void* weightv, void* gxv, void* gwv,
                         void* gbv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "batch_norm", [&] {
    using acc_t = opmath_t<scalar_t>;  // also the weight's and the parameter gradients' type
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    const scalar_t* g = static_cast<const scalar_t*>(gv);
    scalar_t* gx = static_cast<scalar_t*>(gxv);
    const acc_t* weight = static_cast<const acc_t*>(weightv);
    acc_t* gw = static_cast<acc_t*>(gwv);
    acc_t* gb = static_cast<acc_t*>(gbv);
    const double count = double(N * S);
    // One channel per task, so every sum has one order whatever the thread count.
    parallel_for(C, std::max<int64_t>(1, kGrain / std::max<int64_t>(N * S, 1)), [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const double m = mean[c], rs = rstd[c];
        double sg = 0, sgc = 0;  // sum(g), sum(g * (x - mean))
        for (int64_t n = 0; n < N; ++n) {
          const scalar_t* xp = x + (n * C + c) * S;
          const scalar_t* gp = g + (n * C + c) * S;
          sg += sum_contiguous<double>(gp, S);
          sgc += lane_sum<double>(S, [xp, gp, m](int64_t i) { return double(gp[i]) * (double(xp[i]) - m); });
        }
        const double sgx = sgc * rs;  // sum(g * xhat)
        if (gb) gb[c] = acc_t(sg);
        if (gw) gw[c] = acc_t(sgx);
        if (!gx || count <= 0) continue;
        // gx = a * g + b * (x - mean) + k, with the per-channel constants folded once (x - mean
        // stays a difference, so a large mean does not cancel digits away in f32).
        const double w = weight ? double(weight[c]) : 1.0, a = rs * w;
        const acc_t at = acc_t(a), bt = acc_t(-a * rs * sgx / count), kt = acc_t(-a * sg / count);
        const acc_t mt = acc_t(m);
        for (int64_t n = 0; n < N; ++n) {
          const scalar_t* xp = x + (n * C + c) * S;
          const scalar_t* gp = g + (n * C + c) * S;
          scalar_t* q = gx + (n * C + c) * S;
          for (int64_t i = 0; i < S; ++i) q[i] = scalar_t(at * acc_t(gp[i]) + bt * (acc_t(xp[i]) - mt) + kt);
        }
      }
    });
  });
}

void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* xv, const void* wv, const void* bv, double eps,
                        void* yv, void* meanv, void* rstdv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "layer_norm", [&] {
    using T = scalar_t;
    using A = opmath_t<T>;  // the weight's, the bias's and the saved statistics' type
    const T* x = static_cast<const T*>(xv);
    const A* w = static_cast<const A*>(wv);
    const A* bias = static_cast<const A*>(bv);
    T* y = static_cast<T*>(yv);
    A* mean = static_cast<A*>(meanv);
    A* rstd = static_cast<A*>(rstdv);
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = x + r * D;
        const double s = sum_contiguous<double>(p, D);
        const double m = D > 0 ? s / double(D) : 0.0;
        const double ss = lane_sum<double>(D, [p, m](int64_t i) { return (double(p[i]) - m) * (double(p[i]) - m); });
        double rs = 1.0 / std::sqrt((D > 0 ? ss / double(D) : 0.0) + eps);
        mean[r] = A(m);
        rstd[r] = A(rs);
        T* q = y + r * D;
        for (int64_t i = 0; i < D; ++i) {
          A v = A((double(p[i]) - m) * rs);
          if (w) v *= w[i];
          if (bias) v += bias[i];
          q[i] = T(v);
        }
      }
    });
  });
}

}  // namespace nabla::backend::cpu
