// Fused Adafactor step (adafactor_kernel.h): the composed step (src/optim/adafactor.cpp) makes
// about fifteen passes over parameter-sized tensors and allocates as many temporaries; this
// kernel reads the parameter twice and the gradient once or twice, keeps u in a scratch array
// and allocates nothing after the first step.
//   factored   pass 1: sum p^2, row sums and column sums of g^2 (per-thread column partials)
//              then, serially: the new row/col statistics and the per-matrix mean of the rows
//              pass 2: u = g / sqrt(max(R C / mean(R), eps1^2)) into a scratch array, sum u^2
//              pass 3: p <- decay p - (alpha / max(1, RMS(u) / d)) u
//   unfactored pass 1: sum p^2, V <- V + w (g^2 - V), u into a scratch array, sum u^2
//              pass 2: p <- decay p - (alpha / ...) u
// Element operations are the composed path's, in its order and precision (the parameter's dtype;
// f32 for 16-bit parameters, whose blocks are widened to float and each written array rounded
// once, as the composed 16-bit path and the other fused optimizers do), except u of a factored
// parameter (see factored_u_row: a few ulps apart); the sums (RMS(p), RMS(u), the means) are
// accumulated in double in fixed per-thread chunks (the composed reductions round differently):
// results agree to ~1e-7 relative in f32, see tests/optim/adafactor_fused_test.cpp. Compiled with -fno-math-errno and
// -fno-trapping-math (CMakeLists.txt) so the loops with sqrt and the clamp select vectorize; the
// two loops that bound the time also have an AVX2 clone (target_clones).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../adafactor_kernel.h"
#include "half_buffer.h"
#include "nabla/half.h"
#include "parallel.h"

namespace nabla::backend::cpu {
namespace {

constexpr int64_t kBlock = 512;

/// Sum of x[j] (Sq: of x[j]^2) over [0, m) in double, in 8 independent lanes combined in a fixed
/// order: vectorizes without reassociating.
template <bool Sq, typename C>
__attribute__((always_inline)) inline double lane_sum(const C* __restrict x, int64_t m) {  // inlined: AVX2 in the clones
  double acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= m; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += Sq ? double(x[j + l]) * double(x[j + l]) : double(x[j + l]);
  double s = 0;
  for (; j < m; ++j) s += Sq ? double(x[j]) * double(x[j]) : double(x[j]);
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

/// A read-only view of src[0, m) in the compute type: the array itself, or (16-bit) a copy
/// widened to float (exact).
template <typename T>
struct Widened {
  alignas(64) float buf[is_half_v<T> ? kBlock : 1];
  const opmath_t<T>* operator()(const T* src, int64_t m) {
    if constexpr (is_half_v<T>) {
      widen_to_f32_serial(dtype_of<T>::value, src, buf, m);
      return buf;
    } else {
      return src;
    }
  }
};

/// dst[0, m) <- src rounded to T (a plain copy for float and double).
template <typename T>
void store(const opmath_t<T>* src, T* dst, int64_t m) {
  if constexpr (is_half_v<T>) {
    narrow_from_f32_serial(dtype_of<T>::value, src, dst, m);
  } else {
    std::copy(src, src + m, dst);
  }
}

/// Calls f(chunk, begin, end) on up to one contiguous chunk of [0, n) per thread (one chunk,
/// on the caller, when n < 2 grain); returns the number of chunks, so callers can size and
/// combine per-chunk partials in a fixed order.
template <typename F>
int64_t run_chunks(int64_t n, int64_t grain, F&& f) {
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = std::clamp<int64_t>((n + grain - 1) / std::max<int64_t>(grain, 1), 1, max_threads);
  if (chunks == 1) {
    f(int64_t(0), int64_t(0), n);
    return 1;
  }
#pragma omp parallel num_threads(int(chunks))
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    const int64_t per = (n + k - 1) / k, b = t * per, e = std::min(n, b + per);
    if (b < e) f(t, b, e);
  }
  return chunks;
}

template <typename C>
struct Scalars {
  C sign, w, eps1, eps1_sq;
};

/// u[j] = (1 / sqrt(max(v[j], eps1^2))) * (sign g[j]): the composed rsqrt(clamp(V, eps1^2)) * g.
template <typename C>
inline C update_of(C v, C g, const Scalars<C>& k) {
  v = v < k.eps1_sq ? k.eps1_sq : v;
  return (C(1) / std::sqrt(v)) * (k.sign * g);
}

/// u of one row of a factored parameter (row statistic r, matrix mean rm, column statistics
/// c_j): u_j = g_j / sqrt(max(r c_j / rm, eps1^2)), computed as g_j min(k_r / sqrt(c_j), 1 / eps1)
/// with k_r = 1 / sqrt(r / rm) per row and 1 / sqrt(c_j) per column (`rsc`, once per step): a
/// multiply and a compare per element instead of a division, a square root and a division (the
/// composed path's), which bound the time; the result differs from the composed one by a few
/// ulps (the test's bound is 1e-6 of each tensor's largest value). v < eps1^2 exactly when
/// 1 / sqrt(v) > 1 / eps1, so the min is the clamp; NaN stays NaN (the compare picks it).
/// Returns sum u^2 (double). Built twice (function multiversioning, chosen at load time): for
/// AVX2 and the baseline; no FMA in either, so both give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_ADAFACTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NB_ADAFACTOR_CLONES
#endif
template <typename C>
__attribute__((always_inline)) inline double factored_u_row_impl(const C* __restrict rsc, C k_r, C inv_eps1, const C* __restrict g,
                                  C* __restrict u, int64_t m, C sign) {
  for (int64_t j = 0; j < m; ++j) {
    const C f = k_r * rsc[j];
    u[j] = (f > inv_eps1 ? inv_eps1 : f) * (sign * g[j]);
  }
  return lane_sum<true>(u, m);
}
NB_ADAFACTOR_CLONES double factored_u_row(const float* rsc, float k_r, float inv_eps1, const float* g, float* u,
                                          int64_t m, float sign) {
  return factored_u_row_impl(rsc, k_r, inv_eps1, g, u, m, sign);
}
NB_ADAFACTOR_CLONES double factored_u_row(const double* rsc, double k_r, double inv_eps1, const double* g, double* u,
                                          int64_t m, double sign) {
  return factored_u_row_impl(rsc, k_r, inv_eps1, g, u, m, sign);
}

/// Pass 1 over one block of a row: sum p^2 and sum g^2 (double), and col[j] += g_j^2, with g^2
/// rounded in C first (the composed square(g)).
template <typename C>
__attribute__((always_inline)) inline void row_stats_impl(const C* __restrict p, const C* __restrict g, int64_t m,
                                                          double* __restrict col, double* sums) {
  // Three simple loops over the (L1-resident) block rather than one: each vectorizes cleanly.
  for (int64_t j = 0; j < m; ++j) col[j] += double(C(g[j] * g[j]));
  sums[0] += lane_sum<true>(p, m);
  double acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= m; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += double(C(g[j + l] * g[j + l]));
  for (; j < m; ++j) sums[1] += double(C(g[j] * g[j]));
  for (int l = 0; l < 8; ++l) sums[1] += acc[l];
}
NB_ADAFACTOR_CLONES void row_stats(const float* p, const float* g, int64_t m, double* col, double* sums) {
  row_stats_impl(p, g, m, col, sums);
}
NB_ADAFACTOR_CLONES void row_stats(const double* p, const double* g, int64_t m, double* col, double* sums) {
  row_stats_impl(p, g, m, col, sums);
}

/// p <- decay p + a u over [0, m) (the composed mul_(decay) then add_(u, a)).
template <typename C>
__attribute__((always_inline)) inline void axpby_impl(C* __restrict p, const C* __restrict u, int64_t m, C decay, C a) {
  for (int64_t j = 0; j < m; ++j) p[j] = p[j] * decay + u[j] * a;
}
NB_ADAFACTOR_CLONES void axpby(float* p, const float* u, int64_t m, float decay, float a) {
  axpby_impl(p, u, m, decay, a);
}
NB_ADAFACTOR_CLONES void axpby(double* p, const double* u, int64_t m, double decay, double a) {
  axpby_impl(p, u, m, decay, a);
}

/// Writes the parameter of [b, e): p <- decay p + a u, widened and rounded once for 16 bits.
template <typename T>
void apply_block(T* p, const opmath_t<T>* u, int64_t m, opmath_t<T> decay, opmath_t<T> a) {
  if constexpr (is_half_v<T>) {
    alignas(64) float buf[kBlock];
    widen_to_f32_serial(dtype_of<T>::value, p, buf, m);
    axpby(buf, u, m, decay, a);
    narrow_from_f32_serial(dtype_of<T>::value, buf, p, m);
  } else {
    axpby(p, u, m, decay, a);
  }
}

template <typename T>
void factored(const AdafactorSlot& s, const AdafactorHyper& h) {
  using C = opmath_t<T>;
  const int64_t B = s.batch, R = s.rows, N = s.cols, rows = B * R;
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T* row_state = static_cast<T*>(s.row);
  T* col_state = static_cast<T*>(s.col);
  const Scalars<C> k{C(h.maximize ? -1 : 1), C(h.new_weight), C(h.eps1), C(h.eps1 * h.eps1)};
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1));
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();

  // Reused across steps (a step allocates nothing once they have grown). Bound to local
  // references: inside the parallel regions a thread_local's name would mean that worker's copy.
  thread_local std::vector<double> tl_col_part, tl_partial;
  thread_local std::vector<C> tl_row_new, tl_col_new, tl_row_mean, tl_u;
  std::vector<double>&col_part = tl_col_part, &partial = tl_partial;
  std::vector<C>&row_new = tl_row_new, &col_new = tl_col_new, &row_mean_clamped = tl_row_mean, &u_all = tl_u;
  u_all.resize(size_t(s.n));  // u, written by pass 2 and read by pass 3
  col_part.assign(size_t(max_threads * B * N), 0.0);
  partial.assign(size_t(2 * max_threads), 0.0);
  row_new.resize(size_t(rows));
  col_new.resize(size_t(B * N));
  row_mean_clamped.resize(size_t(B));

  // Pass 1: sum p^2; row means of g^2 (into row_new, each row by one thread); column sums.
  const int64_t c1 = run_chunks(rows, grain, [&](int64_t t, int64_t rb, int64_t re) {
    double* cp = col_part.data() + t * B * N;
    Widened<T> wp, wg;
    double sp = 0;
    for (int64_t r = rb; r < re; ++r) {
      double* cpb = cp + (r / R) * N;
      double sums[2] = {0, 0};  // sum p^2, sum g^2 of the row
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        const int64_t m = std::min(kBlock, N - j0);
        // (-g)^2 = g^2: maximize needs no sign here.
        row_stats(wp(p + r * N + j0, m), wg(g + r * N + j0, m), m, cpb + j0, sums);
      }
      sp += sums[0];
      row_new[size_t(r)] = C(sums[1] / double(N));
    }
    partial[size_t(t)] = sp;
  });
  double sum_p2 = 0;
  for (int64_t t = 0; t < c1; ++t) sum_p2 += partial[size_t(t)];

  // The statistics: R <- R + w (mean_{-1} g^2 - R), C likewise; mean(R) over each matrix's rows.
  for (int64_t r = 0; r < rows; ++r) {
    const C r0 = C(row_state[r]);
    row_new[size_t(r)] = r0 + (row_new[size_t(r)] - r0) * k.w;
  }
  for (int64_t i = 0; i < B * N; ++i) {
    double cs = 0;
    for (int64_t t = 0; t < c1; ++t) cs += col_part[size_t(t * B * N + i)];
    const C c0 = C(col_state[i]);
    col_new[size_t(i)] = c0 + (C(cs / double(R)) - c0) * k.w;
  }
  for (int64_t b = 0; b < B; ++b) {
    const C mean = C(lane_sum<false>(row_new.data() + b * R, R) / double(R));
    row_mean_clamped[size_t(b)] = mean < k.eps1 ? k.eps1 : mean;
  }
  store<T>(row_new.data(), row_state, rows);
  store<T>(col_new.data(), col_state, B * N);
  // The factors of u: 1 / sqrt(c_j) per column (in place of col_new, which is no longer needed)
  // and 1 / sqrt(r_i / rm) per row (in place of row_new).
  for (int64_t i = 0; i < B * N; ++i) col_new[size_t(i)] = C(1) / std::sqrt(col_new[size_t(i)]);
  for (int64_t r = 0; r < rows; ++r)
    row_new[size_t(r)] = C(1) / std::sqrt(row_new[size_t(r)] / row_mean_clamped[size_t(r / R)]);
  const C inv_eps1 = C(1) / k.eps1;

  // Pass 2: u (kept for pass 3) and sum u^2.
  const int64_t c2 = run_chunks(rows, grain, [&](int64_t t, int64_t rb, int64_t re) {
    Widened<T> wg;
    double su = 0;
    for (int64_t r = rb; r < re; ++r) {
      const int64_t b = r / R;
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        const int64_t m = std::min(kBlock, N - j0);
        su += factored_u_row(col_new.data() + b * N + j0, row_new[size_t(r)], inv_eps1, wg(g + r * N + j0, m),
                             u_all.data() + r * N + j0, m, k.sign);
      }
    }
    partial[size_t(max_threads + t)] = su;
  });
  double sum_u2 = 0;
  for (int64_t t = 0; t < c2; ++t) sum_u2 += partial[size_t(max_threads + t)];

  // Pass 3: the parameter.
  const double n = double(s.n);
  const double alpha = std::max(h.eps2, std::sqrt(sum_p2 / n)) * h.rho;
  const double denom = std::max(1.0, std::sqrt(sum_u2 / n) / h.d);
  const C a = C(-alpha / denom), decay = C(h.decay);
  parallel_for(s.n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i0 = b; i0 < e; i0 += kBlock) apply_block<T>(p + i0, u_all.data() + i0, std::min(kBlock, e - i0), decay, a);
  });
}

template <typename T>
void unfactored(const AdafactorSlot& s, const AdafactorHyper& h) {
  using C = opmath_t<T>;
  const int64_t n = s.n;
  T* p = static_cast<T*>(s.param);
  const T* g = static_cast<const T*>(s.grad);
  T* var = static_cast<T*>(s.var);
  const Scalars<C> k{C(h.maximize ? -1 : 1), C(h.new_weight), C(h.eps1), C(h.eps1 * h.eps1)};
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  thread_local std::vector<C> tl_u;
  thread_local std::vector<double> tl_partial;
  std::vector<C>& u_all = tl_u;  // local references: see factored()
  std::vector<double>& partial = tl_partial;
  u_all.resize(size_t(n));
  partial.assign(size_t(2 * max_threads), 0.0);

  // Pass 1: sum p^2; V <- V + w (g^2 - V) (the composed lerp); u; sum u^2.
  const int64_t chunks = run_chunks(n, kGrain, [&](int64_t t, int64_t b, int64_t e) {
    Widened<T> wp, wg, wv;
    alignas(64) C v[kBlock];
    double sp = 0, su = 0;
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      const C* pv = wp(p + i0, m);
      const C* gv = wg(g + i0, m);
      const C* v0 = wv(var + i0, m);
      C* u = u_all.data() + i0;
      sp += lane_sum<true>(pv, m);
      for (int64_t j = 0; j < m; ++j) {
        v[j] = v0[j] + (gv[j] * gv[j] - v0[j]) * k.w;
        u[j] = update_of(v[j], gv[j], k);
      }
      su += lane_sum<true>(u, m);
      store<T>(v, var + i0, m);
    }
    partial[size_t(t)] = sp;
    partial[size_t(max_threads + t)] = su;
  });
  double sum_p2 = 0, sum_u2 = 0;
  for (int64_t t = 0; t < chunks; ++t) sum_p2 += partial[size_t(t)], sum_u2 += partial[size_t(max_threads + t)];

  // Pass 2: the parameter.
  const double alpha = std::max(h.eps2, std::sqrt(sum_p2 / double(n))) * h.rho;
  const double denom = std::max(1.0, std::sqrt(sum_u2 / double(n)) / h.d);
  const C a = C(-alpha / denom), decay = C(h.decay);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      apply_block<T>(p + i0, u_all.data() + i0, m, decay, a);
    }
  });
}

}  // namespace

void adafactor_update(DType dt, const AdafactorSlot& s, const AdafactorHyper& h) {
  if (s.n == 0) return;
  NB_DISPATCH_FLOAT_AND_HALF(dt, "adafactor_update", [&] {
    if (s.rows > 0) {
      factored<scalar_t>(s, h);
    } else {
      unfactored<scalar_t>(s, h);
    }
  });
}

}  // namespace nabla::backend::cpu
