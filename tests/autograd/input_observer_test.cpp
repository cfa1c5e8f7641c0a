// autograd::InputObserver (the tensors that require grad an op reads, with or without grad mode)
// and autograd::grad_before_leaf_hooks, the two engine pieces nn::utils::checkpoint builds on.
#include <gtest/gtest.h>

#include "autograd/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;
using ag_test::expect_values;
using ag_test::f64;
using ag_test::param;

TEST(InputObserver, SeesLeavesReadUnderNoGradOnceEachAndNests) {
  Tensor w = param({1, 2}), b = param({3, 4}), frozen = f64({5, 6});
  autograd::InputObserver outer;
  {
    autograd::InputObserver inner;
    NoGradGuard ng;
    Tensor h = w * frozen + w;  // recorded ops: w twice, frozen never (it needs no grad)
    EXPECT_FALSE(h.requires_grad());
    h.add_(b);  // the unrecorded in-place fast path reports b too
    Tensor c = zeros_like(h);
    c.copy_(w);
    ASSERT_EQ(inner.tensors().size(), 2u);
    EXPECT_EQ(inner.tensors()[0].impl_ptr(), w.impl_ptr());
    EXPECT_EQ(inner.tensors()[1].impl_ptr(), b.impl_ptr());
  }
  Tensor x = param({7, 8});
  Tensor y = x * 2.0;  // with grad mode too; y has history and is seen when read
  Tensor z = y + 1.0;
  ASSERT_EQ(outer.tensors().size(), 4u);  // w, b from the inner scope, then x and y
  EXPECT_EQ(outer.tensors()[2].impl_ptr(), x.impl_ptr());
  EXPECT_EQ(outer.tensors()[3].impl_ptr(), y.impl_ptr());
  (void)z;
}

TEST(InputObserver, NothingIsCollectedWithoutAnObserver) {
  Tensor w = param({1});
  Tensor y = w * 2.0;
  autograd::InputObserver late;
  EXPECT_TRUE(late.tensors().empty());
  (void)y;
}

TEST(GradBeforeLeafHooks, ReturnsTheRawGradientAndLeavesTheHooksToTheEngine) {
  Tensor w = param({1, 2});
  int calls = 0;
  w.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 10.0;
  });
  Tensor y = (w * w).sum();
  TensorList with = grad({y}, {w}, {}, /*retain_graph=*/true);
  EXPECT_EQ(calls, 1);
  expect_values(with[0], {20, 40});  // grad() runs the leaf's hooks, as torch.autograd.grad
  Tensor unused = param({0});
  TensorList raw = autograd::grad_before_leaf_hooks({y}, {w, unused}, {}, false, false);
  EXPECT_EQ(calls, 1);
  expect_values(raw[0], {2, 4});
  EXPECT_FALSE(raw[1].defined());  // unused inputs are allowed
  EXPECT_FALSE(w.grad().defined());
}
