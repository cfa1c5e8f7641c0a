// Host memory and always-complete events for BlockCache (block_cache.h): what a stand-in device
// needs when its "device memory" is host memory and its kernels finish before they return, as
// the tests' fake device (tests/core/fake_device_test.cpp) and the benchmark's null device
// (bench/gpu/bench_host_step.cpp) do.
#pragma once
#include <cstdlib>

#include "block_cache.h"

namespace nabla::backend {

class HostMemorySource final : public RawMemory {
 public:
  void* raw_alloc(size_t n) override { return std::aligned_alloc(256, (n + 255) & ~size_t(255)); }
  void raw_free(void* p, size_t) override { std::free(p); }
};

/// Every event is complete when recorded: nothing runs asynchronously.
class CompletedEvents final : public EventSource {
 public:
  EventHandle record(StreamHandle) override { return nullptr; }
  bool query(EventHandle) override { return true; }
  void wait(EventHandle) override {}
  void release(EventHandle) override {}
};

}  // namespace nabla::backend
