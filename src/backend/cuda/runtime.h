// CUDA runtime plumbing shared by the kernels: error checks that become nabla::Error, the
// compute stream every kernel launches on, and the library handles (cuBLAS, cuDNN) bound to it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "nabla/error.h"

#define NB_CUDA_CHECK(expr)                                                                          \
  do {                                                                                               \
    cudaError_t nb_err_ = (expr);                                                                    \
    if (nb_err_ != cudaSuccess) [[unlikely]]                                                         \
      ::nabla::fail("[cuda] ", #expr, " failed: ", cudaGetErrorString(nb_err_), " (", __FILE__, ":", \
                    __LINE__, ")");                                                                  \
  } while (0)

namespace nabla::backend::cuda {

/// Devices visible to the CUDA runtime (0 when there is no driver or GPU).
int device_count();
/// The stream all kernels launch on: the current device's compute stream (runtime.cpp). There is
/// one per device, shared by every thread, so work queued by different threads is ordered and
/// the caching allocator's stream-ordered reuse is safe; created on first use.
cudaStream_t compute_stream();
/// Device `index`'s compute stream.
cudaStream_t compute_stream(int index);
/// Device `index`'s copy stream: host-to-device uploads run on it, overlapping the compute
/// stream's kernels, and events order the two (memory.cpp upload_async).
cudaStream_t copy_stream(int index);

/// Makes device `index` current for the scope (a no-op on a machine with one GPU).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) {
    if (device_count() <= 1) return;
    int cur = 0;
    NB_CUDA_CHECK(cudaGetDevice(&cur));
    if (cur == index) return;
    NB_CUDA_CHECK(cudaSetDevice(index));
    prev_ = cur;
  }
  ~DeviceGuard() {
    if (prev_ >= 0) (void)cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};
/// Threads per block and grid size for an element-wise launch over n items.
inline constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);  // grid-stride loops cover the rest
}
/// Checks the last launch (cheap: no synchronization).
inline void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) [[unlikely]]
    ::nabla::fail("[", kernel, "] CUDA launch failed: ", cudaGetErrorString(e));
}

}  // namespace nabla::backend::cuda
