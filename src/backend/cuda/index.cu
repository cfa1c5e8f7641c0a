// Index kernels over contiguous [outer, n, inner] layouts, with the semantics of
// ../cpu/index.cpp. ops/ has queued a check of the indices (index_check.cu) that reports a bad
// one only at the next synchronization, so these skip an index out of range (gathers write 0):
// never a read or write out of bounds, which would end the CUDA context. One thread per element moved. The adds
// (index_add, scatter_add) use atomics because indices may repeat: duplicates accumulate, as in
// the CPU's sequential loop, though floating sums may come out in a different order (f16 and
// bf16 round after each add, as PyTorch's CUDA index_add_ / scatter_add_ do).
#include <cstdint>

#include "atomics.cuh"
#include "kernels.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

#define NB_GRID_STRIDE(k, n) \
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < (n); k += int64_t(blockDim.x) * gridDim.x)

// Moves elements of any dtype by their size: index_select does not look at values.
template <typename W>
__global__ void __launch_bounds__(kThreads) index_select_kernel(const W* in, W* out, const int64_t* index,
                                                                int64_t n_index, int64_t outer, int64_t n_in,
                                                                int64_t inner) {
  NB_GRID_STRIDE(k, outer * n_index * inner) {
    const int64_t i = k % inner, t = k / inner;
    const int64_t j = t % n_index, o = t / n_index;
    out[k] = index[j] < 0 || index[j] >= n_in ? W{} : in[(o * n_in + index[j]) * inner + i];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) index_add_kernel(T* out, const T* src, const int64_t* index,
                                                             int64_t n_index, int64_t outer, int64_t n_out,
                                                             int64_t inner) {
  NB_GRID_STRIDE(k, outer * n_index * inner) {
    const int64_t i = k % inner, t = k / inner;
    const int64_t j = t % n_index, o = t / n_index;
    if (index[j] >= 0 && index[j] < n_out) atomic_add(out + (o * n_out + index[j]) * inner + i, src[k]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) gather_kernel(const T* in, T* out, const int64_t* index, int64_t outer,
                                                          int64_t n_in, int64_t n_idx, int64_t inner) {
  NB_GRID_STRIDE(k, outer * n_idx * inner) {
    const int64_t i = k % inner, o = k / (n_idx * inner);
    out[k] = index[k] < 0 || index[k] >= n_in ? T(0) : in[(o * n_in + index[k]) * inner + i];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) scatter_add_kernel(T* out, const T* src, const int64_t* index,
                                                               int64_t outer, int64_t n_out, int64_t n_idx,
                                                               int64_t inner) {
  NB_GRID_STRIDE(k, outer * n_idx * inner) {
    const int64_t i = k % inner, o = k / (n_idx * inner);
    if (index[k] >= 0 && index[k] < n_out) atomic_add(out + (o * n_out + index[k]) * inner + i, src[k]);
  }
}

#undef NB_GRID_STRIDE

}  // namespace

void index_select(DType dt, const void* in, void* out, const int64_t* index, int64_t n_index, int64_t outer,
                  int64_t n_in, int64_t inner) {
  const int64_t n = outer * n_index * inner;
  if (n <= 0) return;
  const unsigned grid = grid_for(n);
  cudaStream_t s = compute_stream();
  switch (dtype_size(dt)) {
    case 1:
      index_select_kernel<<<grid, kThreads, 0, s>>>(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), index,
                                                    n_index, outer, n_in, inner);
      break;
    case 2:
      index_select_kernel<<<grid, kThreads, 0, s>>>(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out),
                                                    index, n_index, outer, n_in, inner);
      break;
    case 4:
      index_select_kernel<<<grid, kThreads, 0, s>>>(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out),
                                                    index, n_index, outer, n_in, inner);
      break;
    case 8:
      index_select_kernel<<<grid, kThreads, 0, s>>>(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out),
                                                    index, n_index, outer, n_in, inner);
      break;
    default: ::nabla::fail("[index_select] unknown dtype");
  }
  check_launch("index_select");
}

void index_add(DType dt, void* out, const void* src, const int64_t* index, int64_t n_index, int64_t outer,
               int64_t n_out, int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, "index_add", [&] {
    const int64_t n = outer * n_index * inner;
    if (n <= 0) return;
    index_add_kernel<<<grid_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<scalar_t*>(out), static_cast<const scalar_t*>(src), index, n_index, outer, n_out, inner);
    check_launch("index_add");
  });
}

void gather(DType dt, const void* in, void* out, const int64_t* index, int64_t outer, int64_t n_in, int64_t n_idx,
            int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, "gather", [&] {
    const int64_t n = outer * n_idx * inner;
    if (n <= 0) return;
    gather_kernel<<<grid_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<const scalar_t*>(in), static_cast<scalar_t*>(out), index, outer, n_in, n_idx, inner);
    check_launch("gather");
  });
}

void scatter_add(DType dt, void* out, const void* src, const int64_t* index, int64_t outer, int64_t n_out,
                 int64_t n_idx, int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, "scatter_add", [&] {
    const int64_t n = outer * n_idx * inner;
    if (n <= 0) return;
    scatter_add_kernel<<<grid_for(n), kThreads, 0, compute_stream()>>>(
        static_cast<scalar_t*>(out), static_cast<const scalar_t*>(src), index, outer, n_out, n_idx, inner);
    check_launch("scatter_add");
  });
}

}  // namespace nabla::backend::cuda
