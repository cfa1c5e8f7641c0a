// Seeds, RNG state, and results that do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>

#include "core/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

std::vector<double> v(const Tensor& t) { return t.to_double_vector(); }

/// Restores the thread count when a test ends, whatever happens.
struct ThreadCountGuard {
  int prev = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(prev); }
};

// Large enough that every random kernel splits the work across threads (grain 32768).
constexpr int64_t kBig = 1 << 18;

}  // namespace

TEST(Random, ManualSeedReproduces) {
  manual_seed(42);
  auto a = v(rand({1000}));
  auto b = v(randn({1000}, {.dtype = kF64}));
  auto c = v(randint(0, 100, {50}));
  auto d = v(randperm(50));
  manual_seed(42);
  EXPECT_EQ(v(rand({1000})), a);
  EXPECT_EQ(v(randn({1000}, {.dtype = kF64})), b);
  EXPECT_EQ(v(randint(0, 100, {50})), c);
  EXPECT_EQ(v(randperm(50)), d);
  manual_seed(43);
  EXPECT_NE(v(rand({1000})), a);
  // Consecutive draws differ.
  manual_seed(42);
  EXPECT_NE(v(rand({1000})), v(rand({1000})));
}

TEST(Random, CounterBasedStreamIsSplittable) {
  // Element i of the stream depends only on (seed, offset + i): two draws of 8 equal one of 16.
  for (DType dt : {kF32, kF64}) {
    manual_seed(7);
    auto whole = v(rand({16}, {.dtype = dt}));
    manual_seed(7);
    auto first = v(rand({8}, {.dtype = dt}));
    auto second = v(rand({8}, {.dtype = dt}));
    first.insert(first.end(), second.begin(), second.end());
    EXPECT_EQ(first, whole);
  }
}

TEST(Random, GetAndSetRngState) {
  manual_seed(123);
  GeneratorState s = get_rng_state();
  EXPECT_EQ(s.seed, 123u);
  EXPECT_EQ(s.offset, 0u);
  rand({10});  // 10 numbers use 3 Philox blocks of 4
  EXPECT_EQ(get_rng_state().offset, 3u);
  randint(0, 5, {5});  // 2 values per block
  EXPECT_EQ(get_rng_state().offset, 6u);

  GeneratorState saved = get_rng_state();
  auto a = v(randn({100}));
  auto b = v(rand({33}, {.dtype = kF64}));
  auto drop = v(dropout(ones({64}), 0.5));
  manual_seed(999);  // disturb
  rand({5});
  set_rng_state(saved);
  EXPECT_EQ(get_rng_state().seed, saved.seed);
  EXPECT_EQ(get_rng_state().offset, saved.offset);
  EXPECT_EQ(v(randn({100})), a);
  EXPECT_EQ(v(rand({33}, {.dtype = kF64})), b);
  EXPECT_EQ(v(dropout(ones({64}), 0.5)), drop);
}

TEST(Random, DropoutMaskAndScale) {
  manual_seed(11);
  Tensor x = ones({100000}, {.dtype = kF64});
  Tensor y = dropout(x, 0.3);
  int64_t kept = 0;
  for (double e : v(y)) {
    ASSERT_TRUE(e == 0.0 || std::abs(e - 1.0 / 0.7) < 1e-12) << e;
    kept += e != 0.0;
  }
  EXPECT_NEAR(double(kept) / 100000, 0.7, 0.01);
  EXPECT_NEAR(mean(y).item(), 1.0, 0.02);  // inverted dropout keeps the expectation
  EXPECT_TRUE(dropout(x, 0.3, /*training=*/false).shares_storage(x));
  EXPECT_EQ(v(dropout(x, 1.0)), std::vector<double>(100000, 0.0));
  EXPECT_ERROR(dropout(x, 1.5), "[dropout]", "[0, 1]", "1.5");
}

TEST(Threads, SetAndGet) {
  ThreadCountGuard g;
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  set_num_threads(2);
  EXPECT_EQ(get_num_threads(), 2);
}

TEST(Threads, RandomDrawsAreBitIdenticalForOneAndTwoThreads) {
  ThreadCountGuard g;
  auto draw = [](int threads) {
    set_num_threads(threads);
    manual_seed(2024);
    std::vector<std::vector<double>> out;
    out.push_back(v(rand({kBig})));
    out.push_back(v(rand({kBig + 3}, {.dtype = kF64})));
    out.push_back(v(randn({kBig + 1})));
    out.push_back(v(randn({kBig}, {.dtype = kF64})));
    out.push_back(v(randint(-50, 50, {kBig + 5})));
    out.push_back(v(randperm(1000)));
    out.push_back(v(dropout(ones({kBig}), 0.25)));
    Tensor t = empty({kBig}, {.dtype = kF64});
    normal_(t, 1.0, 3.0);
    out.push_back(v(t));
    return out;
  };
  auto one = draw(1);
  auto two = draw(2);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << "draw " << i << " depends on the thread count";
}

TEST(Threads, MlpForwardBackwardIsBitIdenticalForOneAndTwoThreads) {
  ThreadCountGuard g;
  struct Result {
    std::vector<double> out, loss, gw1, gb1, gw2, gb2, gx;
  };
  auto run = [](int threads) {
    set_num_threads(threads);
    manual_seed(5);
    // Sizes above the kernels' grain so element-wise ops, reductions and GEMM all run threaded.
    Tensor x = randn({512, 256}).requires_grad_();
    Tensor w1 = (randn({384, 256}) * 0.05).requires_grad_();
    Tensor b1 = (randn({384}) * 0.1).requires_grad_();
    Tensor w2 = (randn({10, 384}) * 0.05).requires_grad_();
    Tensor b2 = zeros({10}, {.requires_grad = true});
    Tensor y = randint(0, 10, {512});
    Tensor h = dropout(tanh(linear(x, w1, b1)), 0.1);
    Tensor out = linear(relu(h), w2, b2);
    Tensor loss = cross_entropy(out, y) + mean(h * h);
    loss.backward();
    return Result{v(out), v(loss), v(w1.grad()), v(b1.grad()), v(w2.grad()), v(b2.grad()), v(x.grad())};
  };
  Result one = run(1), two = run(2);
  EXPECT_TRUE(one.out == two.out);
  EXPECT_TRUE(one.loss == two.loss);
  EXPECT_TRUE(one.gw1 == two.gw1);
  EXPECT_TRUE(one.gb1 == two.gb1);
  EXPECT_TRUE(one.gw2 == two.gw2);
  EXPECT_TRUE(one.gb2 == two.gb2);
  EXPECT_TRUE(one.gx == two.gx);
  EXPECT_TRUE(std::isfinite(one.loss[0]));
}

TEST(Threads, LongReductionIsIndependentOfThreadCount) {
  ThreadCountGuard g;
  manual_seed(9);
  Tensor x = randn({3 * 65536 + 17});
  set_num_threads(1);
  double s1 = sum(x).item();
  set_num_threads(2);
  double s2 = sum(x).item();
  EXPECT_EQ(s1, s2);
}
