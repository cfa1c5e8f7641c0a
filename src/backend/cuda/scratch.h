// Grow-only device buffers for kernel scratch (reduction partials, argument tables, library
// workspaces) and the host-to-device upload of small argument tables. Every use is ordered on
// the compute stream, so one buffer can be reused call after call without synchronizing, and a
// steady training step allocates nothing. Keep one GrowBuffer per purpose, thread_local (so
// threads never share one; all of them queue on the device's one compute stream, which orders
// the uses): two live uses of one buffer in a call would alias.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "memory.h"
#include "runtime.h"

namespace nabla::backend::cuda {

/// The calling thread's current CUDA device.
inline int current_device() {
  int dev = 0;
  NB_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

/// A device buffer per device that only grows (doubling, so a few calls reach the steady size).
/// The blocks are deliberately not returned at thread exit: they are few, and the allocator may
/// already be gone when thread_local destructors of the main thread run.
class GrowBuffer {
 public:
  void* get(size_t nbytes) { return get(nbytes, false); }

  /// As get, but a block the call allocates is zero-filled (on the compute stream) before it is
  /// kept. For state kept zero between uses, as the arrival counters of norm.cu's reductions
  /// that finish in the block arriving last; such a buffer is only ever used through get_zeroed.
  void* get_zeroed(size_t nbytes) { return get(nbytes, true); }

  /// Copies nbytes from host memory into the buffer on the compute stream and returns the
  /// device copy. The host source may be reused as soon as this returns (a pageable source is
  /// staged by the driver before cudaMemcpyAsync returns).
  void* upload(const void* host, size_t nbytes) {
    void* dst = get(nbytes);
    if (nbytes > 0) NB_CUDA_CHECK(cudaMemcpyAsync(dst, host, nbytes, cudaMemcpyHostToDevice, compute_stream()));
    return dst;
  }

 private:
  void* get(size_t nbytes, bool zeroed) {
    const int dev = current_device();
    if (dev >= int(slots_.size())) slots_.resize(size_t(dev) + 1);
    Slot& s = slots_[size_t(dev)];
    if (s.bytes < nbytes || s.ptr == nullptr) {
      // The old block goes back to the caching allocator; work queued on the compute stream
      // that still reads it runs before any later use of the block on the same stream.
      if (s.ptr != nullptr) device_free(s.ptr, s.bytes, dev);
      s.ptr = nullptr;
      const size_t want = nbytes > 2 * s.bytes ? nbytes : 2 * s.bytes;
      const size_t bytes = want > 0 ? want : 256;
      void* p = device_alloc(bytes, dev);
      if (zeroed) {
        try {
          NB_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, compute_stream()));
        } catch (...) {
          device_free(p, bytes, dev);  // never keep a block that is not known to be zero
          throw;
        }
      }
      s.ptr = p;
      s.bytes = bytes;
    }
    return s.ptr;
  }

  struct Slot {
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  std::vector<Slot> slots_;
};

}  // namespace nabla::backend::cuda
