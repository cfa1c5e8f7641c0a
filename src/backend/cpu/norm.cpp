// Normalization kernels: per-channel moments (batch norm) and row-wise layer norm.
// Statistics accumulate in f64 so f32 inputs with a large mean stay accurate.
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
  NB_DISPATCH_FLOAT(dt, "batch_norm", [&] {
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
  NB_DISPATCH_FLOAT(dt, "batch_norm", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* y = static_cast<scalar_t*>(yv);
    parallel_for(N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const scalar_t a = scalar_t(scale[nc % C]), s = scalar_t(shift[nc % C]);
        const scalar_t* p = x + nc * S;
        scalar_t* q = y + nc * S;
        for (int64_t i = 0; i < S; ++i) q[i] = p[i] * a + s;
      }
    });
  });
}

void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* gv, const void* xv, const double* a,
                     const double* m, const double* b, const double* k, void* yv) {
  NB_DISPATCH_FLOAT(dt, "group_norm", [&] {
    const scalar_t* g = static_cast<const scalar_t*>(gv);
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* y = static_cast<scalar_t*>(yv);
    parallel_for(N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t nc = lo; nc < hi; ++nc) {
        const int64_t c = nc % C;
        // As batch_norm_backward's input gradient: the constants rounded to T once per channel.
        const scalar_t at = scalar_t(a[c]), mt = scalar_t(m[c]), bt = scalar_t(b[c]), kt = scalar_t(k[c]);
        const scalar_t* gp = g + nc * S;
        const scalar_t* xp = x + nc * S;
        scalar_t* q = y + nc * S;
        for (int64_t i = 0; i < S; ++i) q[i] = at * gp[i] + bt * (xp[i] - mt) + kt;
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
  NB_DISPATCH_FLOAT(dt, "batch_norm", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    const scalar_t* g = static_cast<const scalar_t*>(gv);
    scalar_t* gx = static_cast<scalar_t*>(gxv);
    const scalar_t* weight = static_cast<const scalar_t*>(weightv);
    scalar_t* gw = static_cast<scalar_t*>(gwv);
    scalar_t* gb = static_cast<scalar_t*>(gbv);
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
        if (gb) gb[c] = scalar_t(sg);
        if (gw) gw[c] = scalar_t(sgx);
        if (!gx || count <= 0) continue;
        // gx = a * g + b * (x - mean) + k, with the per-channel constants folded once (x - mean
        // stays a difference, so a large mean does not cancel digits away in f32).
        const double w = weight ? double(weight[c]) : 1.0, a = rs * w;
        const scalar_t at = scalar_t(a), bt = scalar_t(-a * rs * sgx / count), kt = scalar_t(-a * sg / count);
        const scalar_t mt = scalar_t(m);
        for (int64_t n = 0; n < N; ++n) {
          const scalar_t* xp = x + (n * C + c) * S;
          const scalar_t* gp = g + (n * C + c) * S;
          scalar_t* q = gx + (n * C + c) * S;
          for (int64_t i = 0; i < S; ++i) q[i] = at * gp[i] + bt * (xp[i] - mt) + kt;
        }
      }
    });
  });
}

void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* xv, const void* wv, const void* bv, double eps,
                        void* yv, void* meanv, void* rstdv) {
  NB_DISPATCH_FLOAT(dt, "layer_norm", [&] {
    using T = scalar_t;
    const T* x = static_cast<const T*>(xv);
    const T* w = static_cast<const T*>(wv);
    const T* bias = static_cast<const T*>(bv);
    T* y = static_cast<T*>(yv);
    T* mean = static_cast<T*>(meanv);
    T* rstd = static_cast<T*>(rstdv);
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = x + r * D;
        const double s = sum_contiguous<double>(p, D);
        const double m = D > 0 ? s / double(D) : 0.0;
        const double ss = lane_sum<double>(D, [p, m](int64_t i) { return (double(p[i]) - m) * (double(p[i]) - m); });
        double rs = 1.0 / std::sqrt((D > 0 ? ss / double(D) : 0.0) + eps);
        mean[r] = T(m);
        rstd[r] = T(rs);
        T* q = y + r * D;
        for (int64_t i = 0; i < D; ++i) {
          T v = T((double(p[i]) - m) * rs);
          if (w) v *= w[i];
          if (bias) v += bias[i];
          q[i] = v;
        }
      }
    });
  });
}

}  // namespace nabla::backend::cpu
