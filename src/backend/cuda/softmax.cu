// Row-wise softmax and log-softmax over contiguous rows, with the semantics of
// ../cpu/softmax.cpp: the max propagates NaN, rows whose max is not finite shift by 0, the sum
// of exp accumulates in f64, and y = x - (log(sum) rounded to the dtype + max) or
// y = exp(x - max) * (1 / sum). f16 and bf16 load to float, sum exp in float and round y once
// (PyTorch's opmath): the same formulas with float for the dtype and the f64 sum. Without this
// kernel ops/ composes the seven- to ten-op forms
// (max, isfinite, where, sub, exp, sum, div / log, add, sub), as many launches per classifier
// head or attention softmax and as many nodes in its backward.
//
// One warp per row: classifier rows are short ([64, 10] to [512, 1000]), so a warp striding
// along the row and a shuffle reduction beat a block per row; long rows (a language model's
// vocabulary) still stream at full width through the stride.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;

template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = kWarp / 2; o > 0; o /= 2) {
    const A w = __shfl_xor_sync(0xffffffffu, v, o);
    v = (w > v || w != w) ? w : v;  // NaN propagates, as in the CPU's scan
  }
  return v;
}

template <typename S>
__device__ __forceinline__ S warp_sum(S v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The type the sum of exp accumulates in: f64 for f32 and f64 (as on the CPU), float for the
// 16-bit types (PyTorch's accumulate type there; f64 exp would only cost time).
template <typename T>
using SumT = std::conditional_t<is_half_v<T>, float, double>;

// V = opmath_t<T> is T itself for f32 and f64, so their code is the former one unchanged.
template <typename T, bool Log>
__global__ void __launch_bounds__(kThreads) softmax_kernel(const T* in, T* out, int64_t rows, int64_t n) {
  using V = opmath_t<T>;
  using S = SumT<T>;
  const int lane = int(threadIdx.x) % kWarp;
  const int64_t warps = int64_t(gridDim.x) * kRowsPerBlock;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < rows; r += warps) {
    const T* x = in + r * n;
    T* y = out + r * n;
    V m = -INFINITY;
    for (int64_t i = lane; i < n; i += kWarp) {
      const V v = V(x[i]);
      m = (v > m || v != v) ? v : m;
    }
    m = warp_max(m);
    if (!isfinite(m)) m = V(0);
    S s = 0;
    for (int64_t i = lane; i < n; i += kWarp) s += exp(S(V(x[i]) - m));
    s = warp_sum(s);
    if constexpr (Log) {
      const V lse = V(log(s)) + m;
      for (int64_t i = lane; i < n; i += kWarp) y[i] = T(V(x[i]) - lse);
    } else {
      // exp is recomputed rather than stored: the row is re-read from L1/L2, and the f64 exp of
      // the sum pass would otherwise need a buffer.
      const V inv = V(S(1) / s);
      for (int64_t i = lane; i < n; i += kWarp) y[i] = T(V(exp(S(V(x[i]) - m))) * inv);
    }
  }
}

}  // namespace

void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, log ? "log_softmax" : "softmax", [&] {
    if (rows <= 0 || n <= 0) return;
    const auto* x = static_cast<const scalar_t*>(in);
    auto* y = static_cast<scalar_t*>(out);
    if (log) softmax_kernel<scalar_t, true><<<grid_for(rows * kWarp), kThreads, 0, compute_stream()>>>(x, y, rows, n);
    else softmax_kernel<scalar_t, false><<<grid_for(rows * kWarp), kThreads, 0, compute_stream()>>>(x, y, rows, n);
    check_launch(log ? "log_softmax" : "softmax");
  });
}

}  // namespace nabla::backend::cuda
