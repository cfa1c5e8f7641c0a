// Very deep graphs: backward and graph destruction must not recurse per node (DESIGN §3:
// a 100k-node chain must work), or they overflow the stack.
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.h"

using namespace nabla;

namespace {

constexpr int kOps = 100000;
constexpr double kFactor = 1.0000001;

/// x * kFactor + 0.0, repeated: 2 * kOps graph nodes in one chain.
Tensor chain(const Tensor& x, int n) {
  Tensor y = x;
  for (int i = 0; i < n; ++i) y = y * kFactor + 0.0;
  return y;
}

}  // namespace

TEST(LongChain, BackwardThrough100kOps) {
  Tensor x = full({}, 2.0, {.dtype = kF64, .requires_grad = true});
  Tensor y = chain(x, kOps);
  const double want = std::pow(kFactor, kOps);  // ~1.01005
  EXPECT_NEAR(y.item(), 2.0 * want, 1e-9);
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_NEAR(x.grad().item(), want, 1e-9);
}

TEST(LongChain, GradThrough100kOps) {
  Tensor x = full({3}, 1.0, {.dtype = kF64, .requires_grad = true});
  Tensor y = chain(x, kOps).sum();
  Tensor g = grad({y}, {x})[0];
  for (double v : g.to_double_vector()) EXPECT_NEAR(v, std::pow(kFactor, kOps), 1e-9);
}

TEST(LongChain, DestroyingAnUnusedChainDoesNotOverflow) {
  // Never backpropagated: every node still holds its edges when the last handle goes.
  {
    Tensor x = ones({2}, {.requires_grad = true});
    Tensor y = chain(x, kOps);
    EXPECT_TRUE(y.requires_grad());
  }
  // Nodes that reach the previous node through a saved input tensor (mul saves both
  // operands), not only through their edges.
  {
    Tensor x = full({}, 1.0, {.dtype = kF64, .requires_grad = true});
    Tensor c = full({}, kFactor, {.dtype = kF64});
    Tensor y = x;
    for (int i = 0; i < kOps; ++i) y = sin(y * c);
    EXPECT_TRUE(y.requires_grad());
  }
  // A chain of differently-shaped view nodes, dropped mid-graph.
  Tensor x = ones({1}, {.requires_grad = true});
  Tensor y = x;
  for (int i = 0; i < kOps; ++i) y = y.unsqueeze(0).squeeze(0);
  y = Tensor();
  SUCCEED();
}

TEST(LongChain, DestroyingARetainedChainAfterBackwardDoesNotOverflow) {
  // (BackwardThrough100kOps destroys a chain whose saved state backward released.)
  Tensor x = ones({}, {.dtype = kF64, .requires_grad = true});
  {
    Tensor y = chain(x, kOps);
    y.backward(Tensor(), /*retain_graph=*/true);
  }
  EXPECT_NEAR(x.grad().item(), std::pow(kFactor, kOps), 1e-9);
}

TEST(LongChain, WideAndDeepGraphWithSharedNodes) {
  // Each step uses the previous value twice, so every node has two consumers.
  Tensor x = full({}, 0.5, {.dtype = kF64, .requires_grad = true});
  Tensor y = x;
  const int n = 20000;
  for (int i = 0; i < n; ++i) y = (y + y) * 0.5;
  y.backward();
  EXPECT_NEAR(x.grad().item(), 1.0, 1e-12);
}
