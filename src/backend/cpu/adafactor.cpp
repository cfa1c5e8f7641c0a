// Fused Adafactor step (adafactor_kernel.h): the composed step (src/optim/adafactor.cpp) makes
// about fifteen passes over parameter-sized tensors and allocates as many temporaries; this
// kernel reads the parameter and the gradient twice (factored) or three times (unfactored) and
// allocates nothing after the first step.
//   factored   pass 1: sum p^2, row sums and column sums of g^2 (per-thread column partials)
//              then, serially: the new row/col statistics and the per-matrix mean of the rows
//              pass 2: u = g / sqrt(max(R C / mean(R), eps1^2)), sum u^2
//              pass 3: p <- decay p - (alpha / max(1, RMS(u) / d)) u, u recomputed (same bits)
//   unfactored pass 1: sum p^2, V <- V + w (g^2 - V), u into a scratch array, sum u^2
//              pass 2: p <- decay p - (alpha / ...) u
// Element operations are the composed path's, in its order and precision (the parameter's dtype;
// f32 for 16-bit parameters, whose blocks are widened to float and each written array rounded
// once, as the composed 16-bit path and the other fused optimizers do), so element-wise results
// agree with it bit for bit; the sums (RMS(p), RMS(u), the means) are accumulated in double in
// fixed per-thread chunks (the composed reductions round differently: results agree to ~1e-7
// relative in f32, see tests/optim/adafactor_fused_test.cpp). Compiled with -fno-math-errno and
// -fno-trapping-math (CMakeLists.txt) so the loops with sqrt and the clamp select vectorize.
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
double lane_sum(const C* __restrict x, int64_t m) {
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

/// Writes the parameter of [b, e): p <- decay p + a u, widened and rounded once for 16 bits.
template <typename T>
void apply_block(T* p, const opmath_t<T>* u, int64_t m, opmath_t<T> decay, opmath_t<T> a) {
  using C = opmath_t<T>;
  Widened<T> wp;
  const C* pv = wp(p, m);
  alignas(64) C out[kBlock];
  for (int64_t j = 0; j < m; ++j) out[j] = pv[j] * decay + u[j] * a;
  store<T>(out, p, m);
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
  thread_local std::vector<C> tl_row_new, tl_col_new, tl_row_mean;
  std::vector<double>&col_part = tl_col_part, &partial = tl_partial;
  std::vector<C>&row_new = tl_row_new, &col_new = tl_col_new, &row_mean_clamped = tl_row_mean;
  col_part.assign(size_t(max_threads * B * N), 0.0);
  partial.assign(size_t(2 * max_threads), 0.0);
  row_new.resize(size_t(rows));
  col_new.resize(size_t(B * N));
  row_mean_clamped.resize(size_t(B));

  // Pass 1: sum p^2; row means of g^2 (into row_new, each row by one thread); column sums.
  const int64_t c1 = run_chunks(rows, grain, [&](int64_t t, int64_t rb, int64_t re) {
    double* cp = col_part.data() + t * B * N;
    Widened<T> wp, wg;
    alignas(64) C g2[kBlock];
    double sp = 0;
    for (int64_t r = rb; r < re; ++r) {
      double* cpb = cp + (r / R) * N;
      double rs = 0;
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        const int64_t m = std::min(kBlock, N - j0);
        const C* pv = wp(p + r * N + j0, m);
        const C* gv = wg(g + r * N + j0, m);
        sp += lane_sum<true>(pv, m);
        for (int64_t j = 0; j < m; ++j) g2[j] = gv[j] * gv[j];  // (-g)^2 = g^2: maximize needs no sign
        rs += lane_sum<false>(g2, m);
        for (int64_t j = 0; j < m; ++j) cpb[j0 + j] += double(g2[j]);
      }
      row_new[size_t(r)] = C(rs / double(N));
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

  // u of row r, columns [j0, j0 + m): V = R_i C_j / max(mean(R), eps1) (the composed
  // matmul(row, col) / clamp(mean(row)), two roundings), then update_of.
  auto u_block = [&](int64_t r, int64_t j0, int64_t m, const C* gv, C* u) {
    const int64_t b = r / R;
    const C ri = row_new[size_t(r)], rm = row_mean_clamped[size_t(b)];
    const C* cj = col_new.data() + b * N + j0;
    for (int64_t j = 0; j < m; ++j) u[j] = update_of(C(ri * cj[j]) / rm, gv[j], k);
  };

  // Pass 2: sum u^2.
  const int64_t c2 = run_chunks(rows, grain, [&](int64_t t, int64_t rb, int64_t re) {
    Widened<T> wg;
    alignas(64) C u[kBlock];
    double su = 0;
    for (int64_t r = rb; r < re; ++r)
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        const int64_t m = std::min(kBlock, N - j0);
        u_block(r, j0, m, wg(g + r * N + j0, m), u);
        su += lane_sum<true>(u, m);
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
  parallel_for(rows, grain, [&](int64_t rb, int64_t re) {
    Widened<T> wg;
    alignas(64) C u[kBlock];
    for (int64_t r = rb; r < re; ++r)
      for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
        const int64_t m = std::min(kBlock, N - j0);
        u_block(r, j0, m, wg(g + r * N + j0, m), u);
        apply_block<T>(p + r * N + j0, u, m, decay, a);
      }
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
