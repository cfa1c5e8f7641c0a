#include "nabla/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "nabla/error.h"

namespace nabla {
namespace {

// Size classes: 64-byte granularity below 4 KiB, then 1/4-power-of-two steps above, so a
// reused block wastes at most ~25% while the number of lists stays small.
size_t size_class(size_t n) {
  if (n <= 4096) return (n + 63) & ~size_t(63);
  size_t p = 4096;
  while (p < n) p <<= 1;
  size_t step = p >> 3;  // p/2 .. p in 4 steps of p/8
  size_t c = p >> 1;
  while (c < n) c += step;
  return c;
}

struct CpuCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  MemoryStats stats;

  void* alloc(size_t nbytes) {
    size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    std::lock_guard<std::mutex> lock(mu);
    auto it = free_lists.find(cls);
    void* p = nullptr;
    if (it != free_lists.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats.cache_hits++;
    } else {
      p = std::aligned_alloc(64, cls);
      if (!p) {
        release_all_locked();
        p = std::aligned_alloc(64, cls);
      }
      NB_CHECK(p != nullptr, "[allocator] out of memory: could not allocate ", cls, " bytes (",
               stats.reserved, " bytes already reserved)");
      stats.reserved += cls;
      stats.os_allocations++;
    }
    stats.allocated += cls;
    if (stats.allocated > stats.peak_allocated) stats.peak_allocated = stats.allocated;
    return p;
  }

  void free(void* p, size_t nbytes) {
    size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    std::lock_guard<std::mutex> lock(mu);
    stats.allocated -= cls;
    free_lists[cls].push_back(p);
  }

  void release_all_locked() {
    for (auto& [cls, list] : free_lists) {
      for (void* p : list) std::free(p);
      stats.reserved -= int64_t(cls * list.size());
      list.clear();
    }
  }
};

CpuCache& cache() {
  // Never destroyed: tensors in static storage may be freed after main returns.
  static CpuCache* c = new CpuCache();
  return *c;
}

}  // namespace

MemoryStats memory_stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}

void empty_cache() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().release_all_locked();
}

void reset_peak_memory_stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().stats.peak_allocated = cache().stats.allocated;
}

namespace detail {
void* cpu_alloc(size_t nbytes) { return cache().alloc(nbytes); }
void cpu_free(void* ptr, size_t nbytes) { cache().free(ptr, nbytes); }
}  // namespace detail

}  // namespace nabla
