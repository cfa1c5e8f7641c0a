// Row-wise softmax and log-softmax over contiguous rows, a block of rows at a time: one pass for
// each row's max, one exp over the block, then per row the sum of the exps in double and the
// normalization (softmax: e * (1 / sum); log-softmax: x - (log(sum) + max)). Replaces the seven to ten element-wise and reduction ops of the
// composed forms (max, isfinite, where, sub, exp, sum, div / log, add, sub) where per-op
// overhead dominates (classifier heads [64, 10], attention scores [B*H*L, L]).
// f32 rows take the AVX2 exp (vec_math.h, within 1 ulp) when the CPU has it; log-softmax's
// f32 rows get the same bits from its scalar twin elsewhere. f64 uses std::exp. f16 and bf16
// rows are computed as f32 rows in a float copy and rounded once (half_block).
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../backend.h"
#include "parallel.h"
#include "vec_math.h"

namespace nabla::backend::cpu {
namespace {

/// The max of the row; 0 when it is not finite or the row holds a NaN (an all -inf row, an inf,
/// a NaN): no shift, as logsumexp. Eight independent maxima and a NaN flag instead of one
/// NaN-propagating chain: the chain's compare-and-branch per element cost more than the exps.
template <typename T>
T row_shift(const T* x, int64_t n) {
  constexpr int kLanes = 8;
  T acc[kLanes];
  for (T& a : acc) a = -std::numeric_limits<T>::infinity();
  bool nan = false;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const T v = x[i + k];
      acc[k] = v > acc[k] ? v : acc[k];
      nan |= v != v;
    }
  }
  for (; i < n; ++i) {
    acc[0] = x[i] > acc[0] ? x[i] : acc[0];
    nan |= x[i] != x[i];
  }
  T m = acc[0];
  for (int k = 1; k < kLanes; ++k) m = acc[k] > m ? acc[k] : m;
  return nan || !std::isfinite(double(m)) ? T(0) : m;
}

/// e[i] = exp(d[i]) for i < n; `e` may equal `d`.
template <typename T>
void exp_into(const T* d, T* e, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (vec::available()) return vec::unary_f32(UnaryOp::Exp, d, e, n, 0.0, 0.0);
  }
  for (int64_t i = 0; i < n; ++i) e[i] = static_cast<T>(std::exp(double(d[i])));
}

/// Sum in double with four accumulators (the chain of dependent adds is the loop's bound).
template <typename T>
double sum_double(const T* e, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += double(e[i]);
    s1 += double(e[i + 1]);
    s2 += double(e[i + 2]);
    s3 += double(e[i + 3]);
  }
  for (; i < n; ++i) s0 += double(e[i]);
  return (s0 + s1) + (s2 + s3);
}

/// e[i] = exp(d[i]) with bits that do not depend on the CPU (vec::exp_f32_portable for f32):
/// log-softmax's result is what a classifier's loss is, and a checkpoint resumed on a CPU
/// without AVX2 (or with NABLA_CPU_BASELINE) must continue with the same bits (OptimResume).
template <typename T>
void exp_portable(const T* d, T* e, int64_t n) {
  if constexpr (std::is_same_v<T, float>) return vec::exp_f32_portable(d, e, n);
  for (int64_t i = 0; i < n; ++i) e[i] = std::exp(d[i]);
}

/// Log-softmax of `rows` rows, blocked as softmax_block; the exps go to a scratch buffer.
template <typename T>
void log_softmax_block(const T* x, T* y, int64_t rows, int64_t n) {
  std::vector<T> shift(static_cast<size_t>(rows)), e(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    const T m = shift[size_t(r)] = row_shift(x + r * n, n);
    for (int64_t i = 0; i < n; ++i) e[size_t(r * n + i)] = x[r * n + i] - m;
  }
  exp_portable(e.data(), e.data(), rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    const T lse = T(std::log(sum_double(e.data() + r * n, n))) + shift[size_t(r)];
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] - lse;
  }
}

/// Softmax of `rows` rows: shift every row, one exp over the whole block (as the element-wise
/// exp computes it, vectorized for f32; one call instead of one per short row), then scale each
/// row by 1 / its sum.
template <typename T>
void softmax_block(const T* x, T* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T m = row_shift(x + r * n, n);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] - m;
  }
  exp_into(y, y, rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * n;
    const T inv = T(1.0 / sum_double(yr, n));  // an all -inf row: 0 * inf = NaN, as the composed e / sum(e)
    for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
  }
}

/// The f32 block of `rows` rows of 16-bit values: loaded into float, computed exactly as f32
/// rows are, and each result rounded once on store (PyTorch's opmath). The float copies cover at
/// most `step` rows at a time, so the scratch stays small whatever the chunk a thread gets.
template <typename H>
void half_block(bool log, const H* x, H* y, int64_t rows, int64_t n, int64_t step) {
  std::vector<float> buf(size_t(std::min(rows, step) * n));
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t m = std::min(step, rows - r0), count = m * n;
    const H* xs = x + r0 * n;
    for (int64_t i = 0; i < count; ++i) buf[size_t(i)] = float(xs[i]);
    if (log) log_softmax_block(buf.data(), buf.data(), m, n);
    else softmax_block(buf.data(), buf.data(), m, n);
    H* ys = y + r0 * n;
    for (int64_t i = 0; i < count; ++i) ys[i] = H(buf[size_t(i)]);
  }
}

/// One thread's `rows` rows, `step` rows at most to a 16-bit block.
template <typename T>
void softmax_chunk(bool log, const T* x, T* y, int64_t rows, int64_t n, int64_t step) {
  if constexpr (is_half_v<T>) half_block(log, x, y, rows, n, step);
  else if (log) log_softmax_block(x, y, rows, n);
  else softmax_block(x, y, rows, n);
}

}  // namespace

void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, log ? "log_softmax" : "softmax", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(in);
    scalar_t* y = static_cast<scalar_t*>(out);
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1));
    parallel_for(rows, grain, [&](int64_t b, int64_t e) { softmax_chunk(log, x + b * n, y + b * n, e - b, n, grain); });
  });
}

}  // namespace nabla::backend::cpu
