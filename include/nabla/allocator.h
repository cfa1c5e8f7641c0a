// Caching CPU allocator: freed blocks go to per-size-class free lists and are reused,
// so a training step allocates nothing from the OS after warm-up.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nabla {

struct MemoryStats {
  int64_t allocated = 0;       ///< bytes in blocks handed out to tensors right now
  int64_t reserved = 0;        ///< bytes held from the OS (allocated + cached)
  int64_t peak_allocated = 0;  ///< high-water mark of `allocated` since the last reset
  int64_t os_allocations = 0;  ///< number of times memory was requested from the OS
  int64_t cache_hits = 0;      ///< allocations served from the cache
};

/// Statistics of the CPU caching allocator.
MemoryStats memory_stats();
/// Returns every cached (unused) block to the OS.
void empty_cache();
/// Resets `peak_allocated` to the current `allocated`.
void reset_peak_memory_stats();

namespace detail {
/// 64-byte aligned block of at least `nbytes`, from the cache when possible.
void* cpu_alloc(size_t nbytes);
void cpu_free(void* ptr, size_t nbytes);
}  // namespace detail

}  // namespace nabla
