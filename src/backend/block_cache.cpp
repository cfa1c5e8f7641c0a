#include "block_cache.h"

#include <algorithm>
#include <cstdio>

#include "nabla/error.h"

namespace nabla::backend {
namespace {

// "1073741824 bytes (1.00 GiB)": exact for tests and scripts, readable for people.
std::string format_bytes(int64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld bytes (%.2f %s)", static_cast<long long>(n), v, units[u]);
  return buf;
}

}  // namespace

BlockCache::BlockCache(RawMemory& raw, EventSource& events, std::string device)
    : raw_(raw), events_(events), device_(std::move(device)) {}

BlockCache::~BlockCache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

size_t BlockCache::round_size(size_t n) {
  if (n <= 4096) return std::max<size_t>(512, (n + 511) & ~size_t(511));
  if (n > (size_t(1) << 62)) return (n + 511) & ~size_t(511);  // absurd sizes: the raw allocation fails
  size_t p = 4096;
  while (p < n) p <<= 1;
  size_t step = p >> 3, c = p >> 1;
  while (c < n) c += step;
  return c;
}

void* BlockCache::allocate(size_t nbytes, StreamHandle stream) {
  size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  process_events_locked();
  void* p = take_cached_locked(size, stream);
  if (p) {
    stats_.cache_hits++;
  } else {
    p = raw_.raw_alloc(size);
    if (!p) {  // the cache may hold enough memory in blocks of other sizes or streams
      release_cached_locked();
      p = raw_.raw_alloc(size);
    }
    if (!p)
      fail("[", device_, "] out of memory: could not allocate ", format_bytes(int64_t(size)), "; ",
           format_bytes(stats_.reserved), " reserved by the caching allocator, ", format_bytes(stats_.allocated),
           " in use by tensors. Free tensors you no longer need, use a smaller batch, or call empty_cache()");
    blocks_[reinterpret_cast<uintptr_t>(p)] = Block{size, stream, false, {}};
    stats_.reserved += int64_t(size);
    stats_.os_allocations++;
  }
  Block& b = blocks_.at(reinterpret_cast<uintptr_t>(p));
  b.in_use = true;
  b.used_on.clear();
  stats_.allocated += int64_t(size);
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  return p;
}

void BlockCache::free(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(reinterpret_cast<uintptr_t>(ptr));
  NB_CHECK(it != blocks_.end() && it->second.in_use, "[", device_,
           "] internal error: freeing a pointer that the caching allocator did not hand out");
  Block& b = it->second;
  b.in_use = false;
  stats_.allocated -= int64_t(b.size);
  if (b.used_on.empty()) {
    free_lists_[{b.stream, b.size}].push_back(ptr);  // stream order makes reuse on b.stream safe now
    return;
  }
  // Other streams may still have queued work on the block: reuse it once that work is done.
  Pending pd{ptr, {}};
  pd.events.reserve(b.used_on.size());
  for (StreamHandle s : b.used_on) pd.events.push_back(events_.record(s));
  b.used_on.clear();
  pending_.push_back(std::move(pd));
}

bool BlockCache::record_stream(const void* ptr, StreamHandle stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = find_containing_locked(ptr);
  if (it == blocks_.end() || !it->second.in_use) return false;
  Block& b = blocks_.at(it->first);
  if (stream != b.stream && std::find(b.used_on.begin(), b.used_on.end(), stream) == b.used_on.end())
    b.used_on.push_back(stream);
  return true;
}

bool BlockCache::owns(const void* ptr) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = find_containing_locked(ptr);
  return it != blocks_.end() && it->second.in_use;
}

void BlockCache::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

MemoryStats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BlockCache::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated = stats_.allocated;
}

void* BlockCache::take_cached_locked(size_t size, StreamHandle stream) {
  auto it = free_lists_.find({stream, size});
  if (it == free_lists_.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  return p;
}

void BlockCache::process_events_locked() {
  for (size_t i = 0; i < pending_.size();) {
    Pending& pd = pending_[i];
    // Drop the events that completed; the block is free once none is left.
    auto done = [&](EventHandle e) {
      if (e && !events_.query(e)) return false;
      if (e) events_.release(e);
      return true;
    };
    pd.events.erase(std::remove_if(pd.events.begin(), pd.events.end(), done), pd.events.end());
    if (!pd.events.empty()) {
      ++i;
      continue;
    }
    const Block& b = blocks_.at(reinterpret_cast<uintptr_t>(pd.ptr));
    free_lists_[{b.stream, b.size}].push_back(pd.ptr);
    pending_[i] = std::move(pending_.back());
    pending_.pop_back();
  }
}

void BlockCache::release_cached_locked() {
  for (Pending& pd : pending_) {
    for (EventHandle e : pd.events) {
      if (!e) continue;
      events_.wait(e);
      events_.release(e);
    }
    const Block& b = blocks_.at(reinterpret_cast<uintptr_t>(pd.ptr));
    free_lists_[{b.stream, b.size}].push_back(pd.ptr);
  }
  pending_.clear();
  for (auto& [key, list] : free_lists_) {
    for (void* p : list) {
      raw_.raw_free(p, key.size);
      stats_.reserved -= int64_t(key.size);
      blocks_.erase(reinterpret_cast<uintptr_t>(p));
    }
  }
  free_lists_.clear();
}

std::map<uintptr_t, BlockCache::Block>::const_iterator BlockCache::find_containing_locked(const void* ptr) const {
  uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  auto it = blocks_.upper_bound(a);
  if (it == blocks_.begin()) return blocks_.end();
  --it;
  return a < it->first + it->second.size ? it : blocks_.end();
}

}  // namespace nabla::backend
