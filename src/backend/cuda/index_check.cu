// Index checks on the GPU (../index_checks.h): one single-block kernel per index tensor finds
// the first index out of range and writes it to a slot of mapped pinned memory, which the host
// reads after its next synchronization (synchronize, copy_to_host in memory.cpp) without a copy.
// So an op on indices (cross-entropy's targets, gather, index_select) never stalls the queue.
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>

#include "../index_checks.h"
#include "kernels.h"
#include "memory.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

constexpr int kSlots = 256;  // checks queued between synchronizations before one is forced
constexpr int kCheckThreads = 1024;

// Each thread stops at its first bad index; the block's minimum is the first one overall.
__global__ void __launch_bounds__(kCheckThreads) check_indices_kernel(const int64_t* index, int64_t n, int64_t limit,
                                                                      bool has_also, int64_t also,
                                                                      IndexCheckSlot* slot) {
  __shared__ unsigned long long first;
  if (threadIdx.x == 0) first = ULLONG_MAX;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t v = index[i];
    if (!((v >= 0 && v < limit) || (has_also && v == also))) {
      atomicMin(&first, static_cast<unsigned long long>(i));
      break;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0 && first != ULLONG_MAX) {
    slot->position = int64_t(first);
    slot->value = index[first];
  }
}

struct DeviceChecks {
  std::once_flag once;
  IndexCheckSlot* host = nullptr;  // mapped pinned memory, never freed (as the streams)
  IndexCheckSlot* dev = nullptr;   // the device's address of the same memory
  std::unique_ptr<DeferredIndexChecks> checks;
};

DeviceChecks& checks_of(int index) {
  static DeviceChecks* all = new DeviceChecks[size_t(device_count() > 0 ? device_count() : 1)];
  DeviceChecks& d = all[index];
  std::call_once(d.once, [&] {
    DeviceGuard g(index);
    void* p = nullptr;
    NB_CUDA_CHECK(cudaHostAlloc(&p, kSlots * sizeof(IndexCheckSlot), cudaHostAllocMapped | cudaHostAllocPortable));
    d.host = static_cast<IndexCheckSlot*>(p);
    NB_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&d.dev), p, 0));
    d.checks = std::make_unique<DeferredIndexChecks>(d.host, kSlots);
  });
  return d;
}

}  // namespace

void check_indices(const int64_t* index, int64_t n, const IndexRange& range, const IndexErrorMessage& message,
                   int device) {
  if (n <= 0) return;
  NB_CHECK(device >= 0 && device < device_count(), "[index check] device cuda:", device, " is not available");
  DeviceChecks& d = checks_of(device);
  DeviceGuard g(device);
  int slot = d.checks->begin(message);
  if (slot < 0) {  // every slot pending: wait for the queue (which reports what they found)
    synchronize(device);
    slot = d.checks->begin(message);
  }
  check_indices_kernel<<<1, kCheckThreads, 0, compute_stream(device)>>>(index, n, range.limit, range.also.has_value(),
                                                                         range.also.value_or(0), d.dev + slot);
  check_launch("index check");
}

void settle_index_checks(int device) {
  if (device < 0 || device >= device_count()) return;
  checks_of(device).checks->settle();
}

}  // namespace nabla::backend::cuda
