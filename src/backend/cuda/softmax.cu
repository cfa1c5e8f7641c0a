// Row-wise log-softmax over contiguous rows, with the semantics of ../cpu/softmax.cpp: the max
// propagates NaN, rows whose max is not finite shift by 0, the sum of exp accumulates in f64,
// and y = x - (log(sum) rounded to the dtype + max). Without this kernel ops/ composes the
// ten-op form (max, isfinite, where, sub, exp, sum, log, add, sub), ten launches per classifier
// head forward and as many nodes in its backward.
//
// One warp per row: classifier rows are short ([64, 10] to [512, 1000]), so a warp striding
// along the row and a shuffle reduction beat a block per row; long rows (a language model's
// vocabulary) still stream at full width through the stride.
#include <cmath>
#include <cstdint>

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

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) log_softmax_kernel(const T* in, T* out, int64_t rows, int64_t n) {
  const int lane = int(threadIdx.x) % kWarp;
  const int64_t warps = int64_t(gridDim.x) * kRowsPerBlock;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < rows; r += warps) {
    const T* x = in + r * n;
    T* y = out + r * n;
    T m = -INFINITY;
    for (int64_t i = lane; i < n; i += kWarp) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
    m = warp_max(m);
    if (!isfinite(m)) m = T(0);
    double s = 0;
    for (int64_t i = lane; i < n; i += kWarp) s += exp(double(x[i] - m));
    s = warp_sum(s);
    const T lse = T(log(s)) + m;
    for (int64_t i = lane; i < n; i += kWarp) y[i] = x[i] - lse;
  }
}

}  // namespace

void log_softmax(DType dt, const void* in, void* out, int64_t rows, int64_t n) {
  NB_DISPATCH_FLOAT(dt, "log_softmax", [&] {
    if (rows <= 0 || n <= 0) return;
    log_softmax_kernel<scalar_t><<<grid_for(rows * kWarp), kThreads, 0, compute_stream()>>>(
        static_cast<const scalar_t*>(in), static_cast<scalar_t*>(out), rows, n);
    check_launch("log_softmax");
  });
}

}  // namespace nabla::backend::cuda
