// Devices and streams: the device count (0, never an error, without a driver or GPU) and one
// compute stream plus one copy stream per device, created on first use and never destroyed
// (tensors freed after main returns may still queue work on them).
#include "runtime.h"

#include <memory>
#include <mutex>

namespace nabla::backend::cuda {
namespace {

struct DeviceStreams {
  std::once_flag once;
  cudaStream_t compute = nullptr;
  cudaStream_t copy = nullptr;
};

DeviceStreams& streams_of(int index) {
  const int n = device_count();
  NB_CHECK(index >= 0 && index < n, "[cuda] device cuda:", index, " is not available: there are ", n,
           " CUDA device(s)");
  static DeviceStreams* all = new DeviceStreams[size_t(n)];
  DeviceStreams& s = all[index];
  std::call_once(s.once, [&] {
    DeviceGuard g(index);
    // The compute stream synchronizes with the legacy default stream, so a stray synchronous
    // cudaMemcpy still sees finished kernels; the copy stream does not, so nothing stalls uploads.
    NB_CUDA_CHECK(cudaStreamCreateWithFlags(&s.compute, cudaStreamDefault));
    NB_CUDA_CHECK(cudaStreamCreateWithFlags(&s.copy, cudaStreamNonBlocking));
  });
  return s;
}

}  // namespace

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no GPU: report none, keep the error state clean
      return 0;
    }
    return count;
  }();
  return n;
}

cudaStream_t compute_stream(int index) { return streams_of(index).compute; }
cudaStream_t copy_stream(int index) { return streams_of(index).copy; }

cudaStream_t compute_stream() {
  if (device_count() == 1) return compute_stream(0);  // the usual case: skip cudaGetDevice
  int dev = 0;
  NB_CUDA_CHECK(cudaGetDevice(&dev));
  return compute_stream(dev);
}

}  // namespace nabla::backend::cuda
