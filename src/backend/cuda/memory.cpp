// Device and pinned host memory for the CUDA backend: the CUDA-free BlockCache (../block_cache.h)
// over cudaMalloc/cudaFree and cudaHostAlloc/cudaFreeHost, with CUDA events for cross-stream
// reuse, plus blocking copies and the asynchronous upload the trainer overlaps with compute.
#include "memory.h"

#include <cuda_profiler_api.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../block_cache.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

class DeviceMemory final : public RawMemory {
 public:
  explicit DeviceMemory(int index) : index_(index) {}
  void* raw_alloc(size_t nbytes) override {
    DeviceGuard g(index_);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, nbytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it, the cache frees memory and retries
      return nullptr;
    }
    NB_CUDA_CHECK(e);
    return p;
  }
  void raw_free(void* ptr, size_t) override {
    DeviceGuard g(index_);
    NB_CUDA_CHECK(cudaFree(ptr));
  }

 private:
  int index_;
};

class PinnedMemory final : public RawMemory {
 public:
  void* raw_alloc(size_t nbytes) override {
    void* p = nullptr;
    // Portable: usable for uploads to every device, whichever is current.
    cudaError_t e = cudaHostAlloc(&p, nbytes, cudaHostAllocPortable);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    NB_CUDA_CHECK(e);
    return p;
  }
  void raw_free(void* ptr, size_t) override { NB_CUDA_CHECK(cudaFreeHost(ptr)); }
};

// Events recorded on this backend's streams, pooled per device (an event must be recorded on a
// stream of the device it was created on).
class CudaEvents final : public EventSource {
 public:
  EventHandle record(StreamHandle s) override {
    auto stream = static_cast<cudaStream_t>(s);
    const int dev = device_of(stream);
    Event* ev = take(dev);
    DeviceGuard g(dev);
    cudaError_t e = cudaEventRecord(ev->event, stream);
    if (e == cudaErrorCudartUnloading) return nullptr;  // process exit: nothing runs any more
    NB_CUDA_CHECK(e);
    return ev;
  }
  bool query(EventHandle h) override {
    cudaError_t e = cudaEventQuery(static_cast<Event*>(h)->event);
    if (e == cudaErrorNotReady) {
      (void)cudaGetLastError();  // not an error: the work is still running
      return false;
    }
    if (e == cudaErrorCudartUnloading) return true;
    NB_CUDA_CHECK(e);
    return true;
  }
  void wait(EventHandle h) override { NB_CUDA_CHECK(cudaEventSynchronize(static_cast<Event*>(h)->event)); }
  void release(EventHandle h) override {
    auto* ev = static_cast<Event*>(h);
    std::lock_guard<std::mutex> lock(mu_);
    pools_[size_t(ev->device)].push_back(ev);
  }
  /// The raw event behind a handle from record() (nullptr: already complete).
  static cudaEvent_t raw(EventHandle h) { return h ? static_cast<Event*>(h)->event : nullptr; }

 private:
  struct Event {
    cudaEvent_t event;
    int device;
  };

  // Only this backend's streams are ever recorded on.
  static int device_of(cudaStream_t s) {
    for (int i = 0; i < device_count(); ++i)
      if (s == compute_stream(i) || s == copy_stream(i)) return i;
    fail("[cuda] internal error: an event was recorded on a stream the backend did not create");
  }

  Event* take(int dev) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pools_.empty()) pools_.resize(size_t(device_count()));
      auto& pool = pools_[size_t(dev)];
      if (!pool.empty()) {
        Event* ev = pool.back();
        pool.pop_back();
        return ev;
      }
    }
    DeviceGuard g(dev);
    auto* ev = new Event{nullptr, dev};  // pooled for the life of the process
    NB_CUDA_CHECK(cudaEventCreateWithFlags(&ev->event, cudaEventDisableTiming));
    return ev;
  }

  std::mutex mu_;
  std::vector<std::vector<Event*>> pools_;
};

struct State {
  CudaEvents events;
  std::vector<std::unique_ptr<DeviceMemory>> device_raw;
  std::vector<std::unique_ptr<BlockCache>> device;
  PinnedMemory pinned_raw;
  BlockCache pinned{pinned_raw, events, "pinned host memory"};

  State() {
    for (int i = 0; i < device_count(); ++i) {
      device_raw.push_back(std::make_unique<DeviceMemory>(i));
      device.push_back(std::make_unique<BlockCache>(*device_raw.back(), events, "cuda:" + std::to_string(i)));
    }
  }
};

// Never destroyed: tensors in static storage may be freed after main returns.
State& state() {
  static State* s = new State();
  return *s;
}

BlockCache& device_cache(int index) {
  State& s = state();
  NB_CHECK(index >= 0 && index < int(s.device.size()), "[cuda] device cuda:", index,
           " is not available: there are ", s.device.size(), " CUDA device(s)");
  return *s.device[size_t(index)];
}

}  // namespace

void* device_alloc(size_t nbytes, int index) { return device_cache(index).allocate(nbytes, compute_stream(index)); }
void device_free(void* ptr, size_t, int index) { device_cache(index).free(ptr); }
MemoryStats device_memory_stats(int index) { return device_cache(index).stats(); }
void device_empty_cache(int index) { device_cache(index).empty_cache(); }
void device_reset_peak(int index) { device_cache(index).reset_peak(); }

void copy_from_host(void* dst, const void* host_src, size_t nbytes, int index) {
  if (nbytes == 0) return;
  DeviceGuard g(index);
  cudaStream_t s = compute_stream(index);
  NB_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, s));
  NB_CUDA_CHECK(cudaStreamSynchronize(s));  // the host may reuse host_src on return
}

void copy_to_host(void* host_dst, const void* src, size_t nbytes, int index) {
  if (nbytes == 0) return;
  DeviceGuard g(index);
  cudaStream_t s = compute_stream(index);
  const uint64_t checks = index_check_mark(index);
  NB_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  NB_CUDA_CHECK(cudaStreamSynchronize(s));
  settle_index_checks(index, checks);  // the queue has drained: report a bad index found on the way
}

void set_profiler_collecting(bool on) { NB_CUDA_CHECK(on ? cudaProfilerStart() : cudaProfilerStop()); }

void synchronize(int index) {
  DeviceGuard g(index);
  const uint64_t checks = index_check_mark(index);
  NB_CUDA_CHECK(cudaDeviceSynchronize());
  settle_index_checks(index, checks);
}

void* pinned_alloc(size_t nbytes) { return state().pinned.allocate(nbytes, nullptr); }
void pinned_free(void* ptr) { state().pinned.free(ptr); }
bool is_pinned(const void* host_ptr) { return state().pinned.owns(host_ptr); }
MemoryStats pinned_memory_stats() { return state().pinned.stats(); }

void* upload_async(const void* host_src, size_t nbytes, int index) {
  State& st = state();
  BlockCache& cache = device_cache(index);
  DeviceGuard g(index);
  cudaStream_t copy = copy_stream(index), compute = compute_stream(index);
  // From the copy stream's pool: a block reused there is free of earlier copies by stream order,
  // and free of kernels by the compute-stream event recorded when it was freed (below).
  void* dst = cache.allocate(nbytes, copy);
  try {
    if (nbytes > 0) NB_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, copy));
    st.pinned.record_stream(host_src, copy);  // a pinned source is recycled only after the copy
    EventHandle done = st.events.record(copy);
    if (done) NB_CUDA_CHECK(cudaStreamWaitEvent(compute, CudaEvents::raw(done), 0));
    if (done) st.events.release(done);  // the wait captured the event: it may be re-recorded now
    cache.record_stream(dst, compute);   // kernels read dst on the compute stream
  } catch (...) {
    cache.free(dst);
    throw;
  }
  return dst;
}

}  // namespace nabla::backend::cuda
