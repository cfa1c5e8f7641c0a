// Index checks on the GPU (../index_checks.h): a kernel per index tensor finds the first index
// out of range and writes its position and value to a slot of mapped pinned memory, which the
// host reads after its next synchronization (synchronize, copy_to_host in memory.cpp) without a
// copy. So an op on indices (cross-entropy's targets, gather, index_select) never stalls the
// queue. Up to kOneBlock indices (a batch's targets): one block, one launch. More (per-pixel
// targets of a segmentation batch, a large gather): a grid whose blocks take the minimum bad
// position with an atomic in device memory, then one thread copies it and its value to the
// slot (atomics on mapped host memory are not available on every system, so none go there).
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
constexpr int64_t kOneBlock = int64_t(1) << 16;
constexpr unsigned long long kNone = ~0ull;

__device__ __forceinline__ bool outside(int64_t v, int64_t limit, bool has_also, int64_t also) {
  return !((v >= 0 && v < limit) || (has_also && v == also));
}

// Each thread stops at its first bad index; the block's minimum is the first one overall.
__global__ void __launch_bounds__(kCheckThreads) check_indices_kernel(const int64_t* index, int64_t n, int64_t limit,
                                                                      bool has_also, int64_t also,
                                                                      IndexCheckSlot* slot) {
  __shared__ unsigned long long first;
  if (threadIdx.x == 0) first = kNone;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (outside(index[i], limit, has_also, also)) {
      atomicMin(&first, static_cast<unsigned long long>(i));
      break;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0 && first != kNone) {
    slot->position = int64_t(first);
    slot->value = index[first];
  }
}

// The grid version: each thread walks its grid-stride positions in increasing order and stops
// at its first bad one, so the minimum over threads is the first bad position overall.
__global__ void __launch_bounds__(kThreads) find_first_bad_kernel(const int64_t* index, int64_t n, int64_t limit,
                                                                   bool has_also, int64_t also,
                                                                   unsigned long long* first) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (outside(index[i], limit, has_also, also)) {
      atomicMin(first, static_cast<unsigned long long>(i));
      return;
    }
  }
}

__global__ void report_first_bad_kernel(const int64_t* index, const unsigned long long* first, IndexCheckSlot* slot) {
  if (*first == kNone) return;
  slot->position = int64_t(*first);
  slot->value = index[*first];
}

struct DeviceChecks {
  std::once_flag once;
  IndexCheckSlot* host = nullptr;  // mapped pinned memory, never freed (as the streams)
  IndexCheckSlot* dev = nullptr;   // the device's address of the same memory
  unsigned long long* first = nullptr;  // device memory, one minimum per slot (the grid version)
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
    // Outside the caching allocator: a permanent 2 KiB that memory_stats should not report.
    NB_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d.first), kSlots * sizeof(unsigned long long)));
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
  cudaStream_t s = compute_stream(device);
  const bool has_also = range.also.has_value();
  const int64_t also = range.also.value_or(0);
  auto launch = [&](int slot) {
    if (n <= kOneBlock) {
      check_indices_kernel<<<1, kCheckThreads, 0, s>>>(index, n, range.limit, has_also, also, d.dev + slot);
    } else {
      unsigned long long* first = d.first + slot;
      NB_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long), s));  // kNone
      find_first_bad_kernel<<<grid_for(n), kThreads, 0, s>>>(index, n, range.limit, has_also, also, first);
      report_first_bad_kernel<<<1, 1, 0, s>>>(index, first, d.dev + slot);
    }
    check_launch("index check");
  };
  // Every slot pending: wait for the queue (which reports what those checks found) and retry;
  // another thread may have taken the freed slots in between.
  while (!d.checks->enqueue(message, launch)) synchronize(device);
}

uint64_t index_check_mark(int device) {
  if (device < 0 || device >= device_count()) return 0;
  return checks_of(device).checks->mark();
}

void settle_index_checks(int device, uint64_t mark) {
  if (device < 0 || device >= device_count()) return;
  checks_of(device).checks->settle(mark);
}

}  // namespace nabla::backend::cuda
