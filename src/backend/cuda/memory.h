// Device memory for the CUDA backend: a stream-ordered caching allocator per device (so a
// steady training step calls cudaMalloc zero times), byte copies to and from the host, and
// synchronization. Host-side bookkeeping lives in ../block_cache.h, which is CUDA-free and
// unit-tested on the CPU.
#pragma once
#include <cstddef>
#include <cstdint>

#include "nabla/allocator.h"

namespace nabla::backend::cuda {

void* device_alloc(size_t nbytes, int index);
void device_free(void* ptr, size_t nbytes, int index);
MemoryStats device_memory_stats(int index);
void device_empty_cache(int index);
void device_reset_peak(int index);

/// Blocking copies (the compute stream's queued work is ordered before them).
void copy_from_host(void* dst, const void* host_src, size_t nbytes, int index);
void copy_to_host(void* host_dst, const void* src, size_t nbytes, int index);
void synchronize(int index);
/// The index checks queued on device `index` so far (index_check.cu): taken before draining the
/// compute stream, then settle_index_checks(index, mark) once it has drained reports what those
/// checks found (the first failure's nabla::Error). synchronize and copy_to_host do both.
uint64_t index_check_mark(int index);
void settle_index_checks(int index, uint64_t mark);
/// cudaProfilerStart / cudaProfilerStop (no-ops unless a profiler waits for them).
void set_profiler_collecting(bool on);

/// Pinned (page-locked) host memory from a cache over cudaHostAlloc: a freed buffer whose upload
/// is still queued is reused only after that upload has completed.
void* pinned_alloc(size_t nbytes);
void pinned_free(void* ptr);
bool is_pinned(const void* host_ptr);
MemoryStats pinned_memory_stats();

/// New device memory holding a copy of host_src, queued on the copy stream; the compute stream
/// waits for it, the host does not (see Backend::upload_async).
void* upload_async(const void* host_src, size_t nbytes, int index);

/// Installs the CUDA backend when a GPU is visible; false (and nothing installed) otherwise.
bool install();

}  // namespace nabla::backend::cuda
