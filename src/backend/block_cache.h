// Bookkeeping of a stream-ordered caching allocator, free of any GPU library so it is unit-tested
// on the CPU with fake memory and fake events (tests/core/block_cache_test.cpp). The CUDA backend
// runs one per device over cudaMalloc/cudaFree and one for pinned host buffers over
// cudaHostAlloc/cudaFreeHost (src/backend/cuda/memory.cpp).
//
// Rules (the same as PyTorch's CUDA caching allocator, without block splitting):
// - A request is rounded up to a size class (round_size) and served from the free list of
//   (stream, class); only on a miss is raw memory requested.
// - A block belongs to the stream it was allocated on. Freed without further ado, it is reusable by
//   that stream at once: work queued later on the same stream runs after the work that used it.
// - A block also used on other streams (record_stream) is, when freed, held back until an event
//   recorded on each of those streams at free time has completed.
// - When raw memory runs out, every cached block is released and the request retried once; if
//   that fails too, a nabla::Error names the size, the bytes reserved and the device.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/allocator.h"

namespace nabla::backend {

/// Opaque stream handle (a cudaStream_t for CUDA; any distinct value in tests).
using StreamHandle = void*;
/// Opaque event handle; nullptr means "already complete".
using EventHandle = void*;

/// Where blocks come from: raw (uncached) memory.
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  /// `nbytes` of memory, or nullptr when the device is out of memory (other failures throw).
  virtual void* raw_alloc(size_t nbytes) = 0;
  virtual void raw_free(void* ptr, size_t nbytes) = 0;
};

/// Events that mark a point in a stream's queue of work.
class EventSource {
 public:
  virtual ~EventSource() = default;
  /// An event recorded now on `stream`: it completes when the work queued so far has.
  virtual EventHandle record(StreamHandle stream) = 0;
  /// Whether the event has completed (non-blocking).
  virtual bool query(EventHandle e) = 0;
  /// Blocks the host until the event has completed.
  virtual void wait(EventHandle e) = 0;
  /// Gives the event back (it is not used afterwards).
  virtual void release(EventHandle e) = 0;
};

class BlockCache {
 public:
  /// `device` names the memory in error messages ("cuda:0", "pinned host memory").
  BlockCache(RawMemory& raw, EventSource& events, std::string device);
  /// Releases the cached blocks; blocks still handed out are left alone.
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  /// Size class of a request: multiples of 512 bytes up to 4 KiB, then quarter steps between
  /// powers of two (5/8, 6/8, 7/8, 8/8 of the next one), so a block wastes under 25%.
  static size_t round_size(size_t nbytes);

  /// A block of at least `nbytes` for work on `stream`.
  void* allocate(size_t nbytes, StreamHandle stream);
  /// Returns a block from allocate(); errors on a pointer this cache did not hand out.
  void free(void* ptr);
  /// Marks the block containing `ptr` as used by work queued on `stream` (beyond its own), so
  /// after free() it is reused only once that work has completed. False when `ptr` is not in a
  /// block of this cache (nothing is recorded).
  bool record_stream(const void* ptr, StreamHandle stream);
  /// Whether `ptr` lies in a block handed out by this cache.
  bool owns(const void* ptr) const;

  /// Returns every cached block to raw memory, first waiting for the events of freed blocks
  /// whose work is still running.
  void empty_cache();
  MemoryStats stats() const;
  void reset_peak();

 private:
  struct Block {
    size_t size = 0;  ///< size class (bytes)
    StreamHandle stream = nullptr;
    bool in_use = false;
    std::vector<StreamHandle> used_on;  ///< other streams that used it (record_stream)
  };
  struct Pending {  ///< a freed block waiting for events before reuse
    void* ptr;
    std::vector<EventHandle> events;
  };
  struct ListKey {
    StreamHandle stream;
    size_t size;
    bool operator==(const ListKey&) const = default;
  };
  struct ListKeyHash {
    size_t operator()(const ListKey& k) const {
      return std::hash<const void*>()(k.stream) ^ (std::hash<size_t>()(k.size) * 0x9e3779b97f4a7c15ull);
    }
  };

  void* take_cached_locked(size_t size, StreamHandle stream);
  void process_events_locked();
  void make_free_locked(void* ptr, Block& b);
  void release_cached_locked();
  std::map<uintptr_t, Block>::const_iterator find_containing_locked(const void* ptr) const;

  RawMemory& raw_;
  EventSource& events_;
  std::string device_;
  mutable std::mutex mu_;
  std::map<uintptr_t, Block> blocks_;  // every block held from raw memory, by address
  std::unordered_map<ListKey, std::vector<void*>, ListKeyHash> free_lists_;
  std::vector<Pending> pending_;
  MemoryStats stats_;
};

}  // namespace nabla::backend
