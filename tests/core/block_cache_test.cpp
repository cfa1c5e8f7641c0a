// The caching allocator's bookkeeping (src/backend/block_cache.h) with fake raw memory and fake
// events, so stream-ordered reuse, cross-stream events, empty_cache, statistics and the
// out-of-memory path are tested without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "../../src/backend/block_cache.h"
#include "common/expect_error.h"

using nabla::MemoryStats;
using nabla::backend::BlockCache;
using nabla::backend::EventHandle;
using nabla::backend::StreamHandle;

namespace {

// Host memory with an optional capacity, so "the device is full" can be staged.
class FakeRaw final : public nabla::backend::RawMemory {
 public:
  size_t capacity = size_t(1) << 40;
  size_t live_bytes = 0;
  int allocs = 0, frees = 0, failures = 0;
  std::map<void*, size_t> live;

  void* raw_alloc(size_t n) override {
    if (live_bytes + n > capacity) {
      ++failures;
      return nullptr;
    }
    void* p = std::malloc(n);
    live[p] = n;
    live_bytes += n;
    ++allocs;
    return p;
  }
  void raw_free(void* p, size_t n) override {
    auto it = live.find(p);
    ASSERT_NE(it, live.end()) << "raw_free of a pointer raw_alloc did not return";
    EXPECT_EQ(it->second, n) << "raw_free with a size other than the allocation's";
    live_bytes -= n;
    live.erase(it);
    std::free(p);
    ++frees;
  }
  ~FakeRaw() override {
    for (auto& [p, n] : live) std::free(p);
  }
};

// Streams are small integers; each counts the work queued on it and the work completed. An
// event completes when its stream's completed count reaches the count at record time.
class FakeEvents final : public nabla::backend::EventSource {
 public:
  struct Event {
    intptr_t stream;
    int64_t ticket;
  };
  std::map<intptr_t, int64_t> queued, completed;
  int recorded = 0, released = 0, waits = 0;

  void enqueue(StreamHandle s) { ++queued[id(s)]; }
  void finish(StreamHandle s) { completed[id(s)] = queued[id(s)]; }

  EventHandle record(StreamHandle s) override {
    ++recorded;
    return new Event{id(s), queued[id(s)]};
  }
  bool query(EventHandle h) override {
    auto* e = static_cast<Event*>(h);
    return completed[e->stream] >= e->ticket;
  }
  void wait(EventHandle h) override {
    auto* e = static_cast<Event*>(h);
    ++waits;
    completed[e->stream] = std::max(completed[e->stream], e->ticket);  // the host waited for it
  }
  void release(EventHandle h) override {
    ++released;
    delete static_cast<Event*>(h);
  }

 private:
  static intptr_t id(StreamHandle s) { return reinterpret_cast<intptr_t>(s); }
};

StreamHandle stream(intptr_t i) { return reinterpret_cast<StreamHandle>(i); }
const StreamHandle s1 = stream(1), s2 = stream(2);

struct BlockCacheTest : ::testing::Test {
  FakeRaw raw;
  FakeEvents events;
  BlockCache cache{raw, events, "fake:0"};
};

}  // namespace

TEST(BlockCacheRounding, SizeClasses) {
  EXPECT_EQ(BlockCache::round_size(0), 512u);
  EXPECT_EQ(BlockCache::round_size(1), 512u);
  EXPECT_EQ(BlockCache::round_size(512), 512u);
  EXPECT_EQ(BlockCache::round_size(513), 1024u);
  EXPECT_EQ(BlockCache::round_size(4096), 4096u);
  EXPECT_EQ(BlockCache::round_size(4097), 5120u);   // 8192 * 5/8
  EXPECT_EQ(BlockCache::round_size(8192), 8192u);
  EXPECT_EQ(BlockCache::round_size(8193), 10240u);  // 16384 * 5/8
  EXPECT_EQ(BlockCache::round_size(size_t(1) << 20), size_t(1) << 20);
  EXPECT_EQ(BlockCache::round_size((size_t(1) << 20) + 1), size_t(1280) << 10);
  for (size_t n = 1; n < (size_t(64) << 20); n = n * 3 / 2 + 7) {
    size_t c = BlockCache::round_size(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % 512, 0u) << n;
    if (n > 4096) {
      EXPECT_LT(double(c), 1.25 * double(n)) << "more than 25% waste for " << n;
    }
    EXPECT_EQ(BlockCache::round_size(c), c) << "a class is its own class";
  }
}

TEST_F(BlockCacheTest, FreedBlockIsReusedAtOnceOnItsStream) {
  void* a = cache.allocate(1000, s1);
  cache.free(a);
  void* b = cache.allocate(900, s1);  // same 1024-byte class, same stream
  EXPECT_EQ(b, a);
  MemoryStats st = cache.stats();
  EXPECT_EQ(st.os_allocations, 1);
  EXPECT_EQ(st.cache_hits, 1);
  EXPECT_EQ(events.recorded, 0) << "same-stream reuse needs no event";
  // Another stream has its own free lists: it never gets a block still queued on s1.
  cache.free(b);
  void* c = cache.allocate(1000, s2);
  EXPECT_NE(c, a);
  EXPECT_EQ(cache.stats().os_allocations, 2);
  // A different size class is a different list.
  void* d = cache.allocate(2000, s1);
  EXPECT_NE(d, a);
  cache.free(c);
  cache.free(d);
}

TEST_F(BlockCacheTest, BlockUsedOnAnotherStreamWaitsForItsEvent) {
  void* a = cache.allocate(1000, s1);
  events.enqueue(s2);  // s2 reads the block...
  EXPECT_TRUE(cache.record_stream(static_cast<char*>(a) + 100, s2));  // any address inside it
  EXPECT_TRUE(cache.record_stream(a, s2));                            // recorded once
  EXPECT_TRUE(cache.record_stream(a, s1));                            // its own stream: nothing to do
  cache.free(a);
  EXPECT_EQ(events.recorded, 1) << "one event, on s2";
  EXPECT_FALSE(cache.owns(a));
  // ... and has not finished: the block must not come back, not even on its own stream.
  void* b = cache.allocate(1000, s1);
  EXPECT_NE(b, a);
  cache.free(b);
  events.finish(s2);
  void* c = cache.allocate(1000, s1);
  void* d = cache.allocate(1000, s1);
  EXPECT_TRUE((c == a && d == b) || (c == b && d == a)) << "both blocks are reused once s2 is done";
  EXPECT_EQ(events.released, 1);
  EXPECT_EQ(cache.stats().os_allocations, 2);
  cache.free(c);
  cache.free(d);
}

TEST_F(BlockCacheTest, RecordStreamAndOwnsIgnoreForeignPointers) {
  int local = 0;
  EXPECT_FALSE(cache.record_stream(&local, s2));
  EXPECT_FALSE(cache.owns(&local));
  void* a = cache.allocate(600, s1);  // a 1024-byte block
  EXPECT_TRUE(cache.owns(a));
  EXPECT_TRUE(cache.owns(static_cast<char*>(a) + 1023));
  EXPECT_FALSE(cache.owns(static_cast<char*>(a) + 1024));  // the only block ends before
  cache.free(a);
  EXPECT_FALSE(cache.record_stream(a, s2)) << "a freed block is not in use";
}

TEST_F(BlockCacheTest, StatsTrackAllocatedReservedPeak) {
  void* a = cache.allocate(1000, s1);  // 1024
  void* b = cache.allocate(5000, s1);  // 5120
  MemoryStats st = cache.stats();
  EXPECT_EQ(st.allocated, 1024 + 5120);
  EXPECT_EQ(st.reserved, 1024 + 5120);
  EXPECT_EQ(st.peak_allocated, 1024 + 5120);
  EXPECT_EQ(st.os_allocations, 2);
  EXPECT_EQ(st.cache_hits, 0);
  cache.free(b);
  st = cache.stats();
  EXPECT_EQ(st.allocated, 1024);
  EXPECT_EQ(st.reserved, 1024 + 5120) << "freed blocks stay cached";
  EXPECT_EQ(st.peak_allocated, 1024 + 5120);
  cache.reset_peak();
  EXPECT_EQ(cache.stats().peak_allocated, 1024);
  // Steady state: the same requests again come only from the cache.
  for (int step = 0; step < 5; ++step) {
    void* x = cache.allocate(4500, s1);
    cache.free(x);
  }
  st = cache.stats();
  EXPECT_EQ(st.os_allocations, 2);
  EXPECT_EQ(st.cache_hits, 5);
  EXPECT_EQ(st.reserved, 1024 + 5120);
  cache.free(a);
  EXPECT_EQ(cache.stats().allocated, 0);
}

TEST_F(BlockCacheTest, EmptyCacheReleasesEveryCachedBlock) {
  void* keep = cache.allocate(1000, s1);
  void* a = cache.allocate(3000, s1);
  void* b = cache.allocate(3000, s2);
  void* c = cache.allocate(70000, s1);
  events.enqueue(s2);
  cache.record_stream(c, s2);  // c is still in use by s2 when freed
  cache.free(a);
  cache.free(b);
  cache.free(c);
  EXPECT_EQ(raw.live.size(), 4u);
  cache.empty_cache();
  EXPECT_EQ(events.waits, 1) << "the pending block's event was waited for before its release";
  EXPECT_EQ(events.released, 1);
  EXPECT_EQ(raw.live.size(), 1u) << "only the block in use remains";
  EXPECT_EQ(raw.live.count(keep), 1u);
  MemoryStats st = cache.stats();
  EXPECT_EQ(st.reserved, st.allocated);
  EXPECT_EQ(st.allocated, 1024);
  EXPECT_TRUE(cache.owns(keep));
  cache.free(keep);
}

TEST_F(BlockCacheTest, OutOfMemoryRetriesAfterFreeingTheCacheThenNamesSizeReservedAndDevice) {
  raw.capacity = 8192;
  void* a = cache.allocate(4000, s1);  // 4096 bytes
  void* b = cache.allocate(2000, s2);  // 2048
  cache.free(a);
  cache.free(b);
  // 5120 more would exceed the capacity while 6144 bytes sit in the cache: release them, retry.
  void* c = cache.allocate(5000, s1);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(raw.failures, 1);
  MemoryStats st = cache.stats();
  EXPECT_EQ(st.reserved, 5120);
  EXPECT_EQ(st.allocated, 5120);
  EXPECT_EQ(st.os_allocations, 3);
  // Nothing cached to free: the second failure is a clear error.
  EXPECT_ERROR(cache.allocate(4000, s1), "[fake:0] out of memory", "could not allocate 4096 bytes",
               "5120 bytes (5.00 KiB) reserved", "5120 bytes (5.00 KiB) in use");
  EXPECT_EQ(cache.stats().allocated, 5120) << "a failed request changes nothing";
  cache.free(c);
}

TEST_F(BlockCacheTest, FreeingAForeignOrFreedPointerIsAnError) {
  int local = 0;
  EXPECT_ERROR(cache.free(&local), "[fake:0]", "did not hand out");
  void* a = cache.allocate(100, s1);
  cache.free(a);
  EXPECT_ERROR(cache.free(a), "did not hand out");
  cache.free(nullptr);  // like std::free
}

TEST(BlockCacheLifetime, DestructorReturnsCachedMemory) {
  FakeRaw raw;
  FakeEvents events;
  {
    BlockCache cache(raw, events, "fake:0");
    for (int i = 0; i < 4; ++i) cache.free(cache.allocate(size_t(1000) << i, s1));
    EXPECT_EQ(raw.live.size(), 4u);
  }
  EXPECT_EQ(raw.live.size(), 0u);
  EXPECT_EQ(raw.frees, 4);
}
