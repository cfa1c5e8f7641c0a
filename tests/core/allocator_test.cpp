// The caching CPU allocator: statistics, reuse, empty_cache, and a training step that
// allocates nothing from the OS after warm-up.
#include <gtest/gtest.h>

#include <cstdint>

#include "nabla/nabla.h"

using namespace nabla;

TEST(Allocator, StatsTrackAllocatedReservedAndPeak) {
  empty_cache();
  reset_peak_memory_stats();
  MemoryStats s0 = memory_stats();
  EXPECT_EQ(s0.reserved, s0.allocated);  // empty_cache returned every cached block
  EXPECT_EQ(s0.peak_allocated, s0.allocated);
  {
    Tensor a = empty({1000}, {.dtype = kF32});  // 4000 bytes -> 4032-byte (64-multiple) class
    MemoryStats s1 = memory_stats();
    EXPECT_EQ(s1.allocated - s0.allocated, 4032);
    EXPECT_EQ(s1.reserved - s0.reserved, 4032);
    EXPECT_EQ(s1.os_allocations - s0.os_allocations, 1);
    EXPECT_EQ(s1.peak_allocated, s1.allocated);
    // 64-byte alignment.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw_data()) % 64, 0u);
    Tensor b = empty({1 << 20}, {.dtype = kF64});  // 8 MiB, a large size class
    MemoryStats s2 = memory_stats();
    int64_t big = s2.allocated - s1.allocated;
    EXPECT_GE(big, int64_t(8) << 20);
    EXPECT_LE(big, int64_t(10) << 20);  // size classes waste at most 25%
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 64, 0u);
  }
  // Freed blocks stay reserved (cached) but no longer count as allocated; the peak remains.
  MemoryStats s3 = memory_stats();
  EXPECT_EQ(s3.allocated, s0.allocated);
  EXPECT_GE(s3.reserved - s0.reserved, (int64_t(8) << 20) + 4032);
  EXPECT_GE(s3.peak_allocated - s0.allocated, (int64_t(8) << 20) + 4032);
  reset_peak_memory_stats();
  EXPECT_EQ(memory_stats().peak_allocated, s3.allocated);
  // The same size again is served from the cache, not the OS.
  {
    Tensor c = empty({1000}, {.dtype = kF32});
    Tensor d = empty({990}, {.dtype = kF32});  // 3960 bytes: same 4032-byte class, but that block is taken
    MemoryStats s4 = memory_stats();
    EXPECT_EQ(s4.os_allocations - s3.os_allocations, 1);
    EXPECT_EQ(s4.cache_hits - s3.cache_hits, 1);
  }
  // empty_cache gives the cached memory back to the OS.
  empty_cache();
  MemoryStats s5 = memory_stats();
  EXPECT_EQ(s5.reserved, s5.allocated);
  EXPECT_EQ(s5.allocated, s0.allocated);
  EXPECT_LT(s5.reserved, s3.reserved);
}

TEST(Allocator, ViewsDoNotAllocate) {
  Tensor x = zeros({64, 64});
  MemoryStats s0 = memory_stats();
  Tensor v = x.t().slice(0, 1, 10).unsqueeze(0).expand({3, 9, 64}).select(0, 1).reshape({9, 64});
  Tensor d = x.detach();
  MemoryStats s1 = memory_stats();
  EXPECT_EQ(s1.allocated, s0.allocated);
  EXPECT_EQ(s1.os_allocations, s0.os_allocations);
  EXPECT_EQ(s1.cache_hits, s0.cache_hits);
}

namespace {

struct Mlp {
  Tensor w1, b1, w2, b2;
  Mlp() {
    manual_seed(0);
    w1 = (randn({64, 32}) * 0.2).requires_grad_();
    b1 = zeros({64}, {.requires_grad = true});
    w2 = (randn({10, 64}) * 0.2).requires_grad_();
    b2 = zeros({10}, {.requires_grad = true});
  }
  TensorList params() { return {w1, b1, w2, b2}; }
  Tensor forward(const Tensor& x) { return linear(relu(linear(x, w1, b1)), w2, b2); }
  double step(const Tensor& x, const Tensor& y, double lr) {
    Tensor loss = cross_entropy(forward(x), y);
    loss.backward();
    NoGradGuard ng;
    for (Tensor& p : params()) {
      p.add_(p.grad(), -lr);
      p.set_grad(Tensor());
    }
    return loss.item();
  }
};

}  // namespace

TEST(Allocator, TrainingStepMakesNoOsAllocationsAfterWarmup) {
  Mlp net;
  manual_seed(1);
  Tensor x = randn({128, 32});
  Tensor y = randint(0, 10, {128});
  double first = net.step(x, y, 0.1);
  for (int i = 0; i < 3; ++i) net.step(x, y, 0.1);  // warm-up fills the cache
  MemoryStats before = memory_stats();
  double last = 0;
  for (int i = 0; i < 5; ++i) {
    last = net.step(x, y, 0.1);
    MemoryStats now = memory_stats();
    EXPECT_EQ(now.os_allocations, before.os_allocations) << "step " << i << " asked the OS for memory";
    EXPECT_EQ(now.allocated, before.allocated) << "step " << i << " leaked memory";
    EXPECT_EQ(now.reserved, before.reserved);
  }
  EXPECT_GT(memory_stats().cache_hits - before.cache_hits, 5 * 10);  // the step does allocate, from the cache
  EXPECT_LT(last, first);                                            // and it trains
}

TEST(Allocator, GraphIsFreedWithTheLoss) {
  Mlp net;
  Tensor x = randn({16, 32});
  Tensor y = randint(0, 10, {16});
  MemoryStats before = memory_stats();
  {
    Tensor loss = cross_entropy(net.forward(x), y);
    EXPECT_GT(memory_stats().allocated, before.allocated);  // activations saved for backward
  }
  EXPECT_EQ(memory_stats().allocated, before.allocated);  // dropping the graph frees them
}
