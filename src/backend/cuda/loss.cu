// cross_entropy / nll_loss over class targets (../class_nll.h) as one launch each way (two for
// the forward of more than kOneBlockRows rows). The row formulas are the CPU's; the loss sums
// in f64 over a grid-stride split that depends on the row count alone, then adds the block
// partials in block order, so a result repeats bit for bit (it may differ from the CPU's
// sequential sum in the last f64 bits). f16 and bf16 log-probabilities are read as float and
// the loss and gradients rounded once on the store, so they take the same f64 path.
#include <algorithm>
#include <cstdint>

#include "../class_nll.h"
#include "kernels.h"
#include "runtime.h"
#include "scratch.h"

namespace nabla::backend::cuda {
namespace {

constexpr int64_t kOneBlockRows = 4 * kThreads;  // classifier batches: one block, one launch
constexpr int64_t kMaxBlocks = 128;

struct Partial {
  double total;
  double kept;
};

__device__ Partial block_sum(Partial p) {
  __shared__ double tot[kThreads], kept[kThreads];
  tot[threadIdx.x] = p.total, kept[threadIdx.x] = p.kept;
  __syncthreads();
  for (unsigned s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) tot[threadIdx.x] += tot[threadIdx.x + s], kept[threadIdx.x] += kept[threadIdx.x + s];
    __syncthreads();
  }
  return {tot[0], kept[0]};
}

template <typename T>
__device__ void write_result(Partial p, Reduction r, T* out, T* kept) {
  if (r == Reduction::Sum) out[0] = T(p.total);
  if (r == Reduction::Mean) out[0] = T(p.total / p.kept);  // 0 / 0: NaN, as the CPU and PyTorch
  if (kept) kept[0] = T(p.kept);
}

// Block b covers rows b*kThreads + threadIdx.x, striding by the grid; one block writes the result,
// several write their partials for class_nll_finish_kernel.
template <typename T>
__global__ void __launch_bounds__(kThreads) class_nll_kernel(const T* lp, const int64_t* target, int64_t rows,
                                                             int64_t C, int64_t ignore_index, double s, Reduction r,
                                                             T* out, T* kept, Partial* partials) {
  Partial p{0, 0};
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < rows; i += int64_t(gridDim.x) * kThreads) {
    const int64_t t = target[i];
    const bool keep = class_nll_kept(t, C, ignore_index);
    const double l = keep ? class_nll_row(lp + i * C, t, C, s) : 0.0;
    if (r == Reduction::None) out[i] = T(l);
    p.total += l;
    p.kept += keep ? 1.0 : 0.0;
  }
  p = block_sum(p);
  if (threadIdx.x != 0) return;
  if (gridDim.x == 1) write_result(p, r, out, kept);
  else partials[blockIdx.x] = p;
}

template <typename T>
__global__ void class_nll_finish_kernel(const Partial* partials, int blocks, Reduction r, T* out, T* kept) {
  Partial p{0, 0};
  for (int b = 0; b < blocks; ++b) p.total += partials[b].total, p.kept += partials[b].kept;
  write_result(p, r, out, kept);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) class_nll_backward_kernel(const T* lp, const int64_t* target, int64_t rows,
                                                                      int64_t C, int64_t ignore_index, double s,
                                                                      Reduction r, const T* g, const T* kept, T* gx) {
  const int64_t n = rows * C;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += int64_t(blockDim.x) * gridDim.x) {
    const int64_t i = k / C, c = k - i * C, t = target[i];
    if (!class_nll_kept(t, C, ignore_index)) {
      gx[k] = T(0);
      continue;
    }
    double scale = double(g[r == Reduction::None ? i : 0]);
    if (r == Reduction::Mean) scale /= double(kept[0]);
    gx[k] = class_nll_grad(lp[k], c == t, C, s, scale);
  }
}

thread_local GrowBuffer t_partials;

}  // namespace

void class_nll(const ClassNll& a, void* out, void* kept) {
  NB_DISPATCH_FLOAT_AND_HALF(a.dtype, "cross_entropy", [&] {
    const int64_t blocks = a.rows <= kOneBlockRows ? 1 : std::min(kMaxBlocks, (a.rows + kThreads - 1) / kThreads);
    Partial* partials = blocks > 1 ? static_cast<Partial*>(t_partials.get(size_t(blocks) * sizeof(Partial))) : nullptr;
    auto* o = static_cast<scalar_t*>(out);
    auto* k = static_cast<scalar_t*>(kept);
    class_nll_kernel<scalar_t><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(
        static_cast<const scalar_t*>(a.lp), a.target, a.rows, a.classes, a.ignore_index, a.smoothing, a.reduction, o, k,
        partials);
    check_launch("cross_entropy");
    if (blocks > 1) {
      class_nll_finish_kernel<scalar_t><<<1, 1, 0, compute_stream()>>>(partials, int(blocks), a.reduction, o, k);
      check_launch("cross_entropy");
    }
  });
}

void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(a.dtype, "cross_entropy", [&] {
    const int64_t n = a.rows * a.classes;
    if (n <= 0) return;
    class_nll_backward_kernel<scalar_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<const scalar_t*>(a.lp), a.target, a.rows, a.classes, a.ignore_index, a.smoothing, a.reduction,
        static_cast<const scalar_t*>(g), static_cast<const scalar_t*>(kept), static_cast<scalar_t*>(gx));
    check_launch("cross_entropy backward");
  });
}

}  // namespace nabla::backend::cuda
