// In-place ops and the histories around them, each against PyTorch's result: views taken before
// their base changed in place, refused writes (views of tensors that require grad, expanded
// views), retain_grad after an in-place op, mul_/div_ with an operand that requires grad,
// leaves that receive no gradient, and grad() running a leaf's hooks.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "autograd/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

using ag_test::expect_values;
using ag_test::f64;
using ag_test::param;

}  // namespace

// Before: the view kept the history it was made with, so x.grad was [1, 1, 0, 0] although v read
// [3, 6]; PyTorch gives [3, 3, 0, 0].
TEST(ViewHistory, BaseChangedInPlaceAfterTheViewWasTaken) {
  Tensor x = param({1, 2, 3, 4});
  Tensor y = x * 1.0;
  Tensor v = y.narrow(0, 0, 2);
  y.mul_(3.0);
  expect_values(v, {3, 6});
  sum(v).backward();
  expect_values(x.grad(), {3, 3, 0, 0});

  // A view of a view (transpose, then select), and a base changed twice.
  Tensor x2 = param({1, 2, 3, 4});
  Tensor m = x2.reshape({2, 2}) * 1.0;
  Tensor col = m.t().select(0, 0);  // m[:, 0] = x2[0], x2[2]
  m.mul_(2.0);
  m.add_(x2.reshape({2, 2}));  // m = 3 * x2 as a matrix
  sum(col * col).backward();    // d/dx of (3 x0)^2 + (3 x2)^2
  expect_values(x2.grad(), {18 * 1, 0, 18 * 3, 0});
}

TEST(ViewHistory, BaseThatGainsAHistoryInPlaceGivesItToItsViews) {
  // y needs no grad when the view is taken; add_ with w makes it depend on w.
  Tensor w = param({1, 2, 3, 4});
  Tensor y = zeros({4}, {.dtype = kF64});
  Tensor v = y.narrow(0, 1, 2);
  EXPECT_FALSE(v.requires_grad());
  y.add_(w);
  EXPECT_TRUE(v.requires_grad());
  sum(v * v).backward();
  expect_values(w.grad(), {0, 4, 6, 0});
}

// Overwriting with a constant keeps a history that passes zeros (PyTorch's FillBackward):
// the tensor and its views still require grad, and the leaves get a zero gradient, not none.
TEST(ViewHistory, BaseOverwrittenByAConstantPassesZeros) {
  Tensor x = param({1, 2, 3});
  Tensor y = x * 2.0;
  Tensor v = y.narrow(0, 0, 2);
  y.zero_();
  EXPECT_TRUE(y.requires_grad());
  EXPECT_TRUE(v.requires_grad());
  expect_values(v, {0, 0});
  sum(v * 5.0).backward();
  expect_values(x.grad(), {0, 0, 0});

  Tensor a = param({2, 2});
  Tensor z = a * 3.0;
  z.copy_(full({2}, 7.0, {.dtype = kF64}));  // a source without grad: a constant as well
  sum(z * a).backward();
  expect_values(a.grad(), {7, 7});  // through the product only; z's old history passes zeros

  Tensor b = param({1, 1});
  Tensor w = b * 3.0;
  w.fill_(4.0);
  sum(w).backward();
  expect_values(b.grad(), {0, 0});
  // Without grad mode nothing is recorded: a tensor with history keeps the history it had.
  Tensor c = param({1}) * 1.0;
  const autograd::Node* before = c.grad_fn().get();
  {
    NoGradGuard ng;
    c.fill_(2.0);
  }
  EXPECT_EQ(c.grad_fn().get(), before);
  expect_values(c, {2});
}

// Found by review: the refresh ran only for inputs up to the first that required grad, so a
// stale view in a later position kept its old history (x.grad [10, 20, 0, 0] and [1, 1, 0, 0]).
TEST(ViewHistory, AStaleViewInAnyInputPosition) {
  Tensor x = param({1, 2, 3, 4});
  Tensor y = x * 1.0;
  Tensor v = y.narrow(0, 0, 2);
  y.mul_(3.0);
  Tensor w = param({10, 20});
  sum(w * v).backward();
  expect_values(x.grad(), {30, 60, 0, 0});
  expect_values(w.grad(), {3, 6});
  Tensor x2 = param({1, 2, 3, 4});
  Tensor y2 = x2 * 1.0;
  Tensor v2 = y2.narrow(0, 0, 2);
  y2.mul_(3.0);
  sum(cat({param({5}), v2}, 0)).backward();
  expect_values(x2.grad(), {3, 3, 0, 0});
}

TEST(ViewHistory, RetainGradOnAViewFollowsItsRemadeHistory) {
  Tensor x = param({1, 2, 3});
  Tensor y = x * 1.0;
  Tensor v = y.narrow(0, 0, 2);
  v.retain_grad();
  y.mul_(3.0);
  sum(v * v).backward();
  expect_values(v.grad(), {6, 12});
  expect_values(x.grad(), {18, 36, 0});
}

// Accessors are const: two threads reading a stale view's history remake it once, safely.
TEST(ViewHistory, ConcurrentReadsOfAStaleView) {
  for (int round = 0; round < 20; ++round) {
    Tensor x = param({1, 2, 3, 4});
    Tensor y = x * 1.0;
    Tensor v = y.narrow(0, 1, 2);
    y.mul_(2.0);
    const autograd::Node* seen[2] = {nullptr, nullptr};
    std::thread a([&] { seen[0] = v.grad_fn().get(); });
    std::thread b([&] { seen[1] = v.grad_fn().get(); });
    a.join();
    b.join();
    ASSERT_NE(seen[0], nullptr);
    EXPECT_EQ(seen[0], seen[1]);
    sum(v).backward();
    expect_values(x.grad(), {0, 2, 2, 0});
  }
}

// A view keeps its base alive (PyTorch's view._base): when the base changed in place and the
// caller dropped it, the view's gradient still goes through the change (it was an error; LibTorch
// computes it, helper-38). Second case: v = 3 * 2 * x[1:], d/dx sum(v^2) = 2 v * 6.
TEST(ViewHistory, AViewOutlivesItsChangedBase) {
  Tensor x = param({1, 2});
  Tensor v;
  {
    Tensor y = x * 1.0;
    v = y.narrow(0, 0, 1);
    y.mul_(2.0);
  }
  std::ostringstream os;
  os << v;
  EXPECT_NE(os.str().find("2"), std::string::npos);
  EXPECT_FALSE(v.is_leaf());
  sum(v).backward();
  expect_values(x.grad(), {2, 0});
  Tensor x2 = param({1, 2, 3});
  Tensor w;
  {
    Tensor y = x2 * 2.0;
    w = y.narrow(0, 1, 2);
    y.mul_(3.0);
  }
  sum(w * w).backward();
  expect_values(x2.grad(), {0, 144, 216});
}

TEST(ViewHistory, ViewsOfLeavesAndUnchangedBasesKeepTheirHistory) {
  Tensor w = param({1, 2, 3, 4});
  Tensor wt = w.reshape({2, 2}).t();
  const autograd::Node* fn = wt.grad_fn().get();
  {
    NoGradGuard ng;
    w.add_(1.0);  // an optimizer step: a new version, the same history
  }
  EXPECT_NE(fn, nullptr);
  EXPECT_EQ(wt.grad_fn().get(), fn);
  sum(wt * 2.0).backward();
  expect_values(w.grad(), {2, 2, 2, 2});
}

// In-place writes into a view of a tensor with history, or of a buffer with a value that has
// one, rebase the root's history (PyTorch's CopySlices; helper-38 found them refused). A view of
// a leaf that requires grad is still refused, as in PyTorch. Values checked by hand.
TEST(InPlaceIntoViews, FillCopyAndMulOfARegion) {
  Tensor x = param({1, 2, 3, 4, 5, 6}), w = param({6, 5, 4, 3, 2, 1});
  {  // masking a column of an activation
    Tensor y = (x * w).reshape({2, 3});
    y.select(1, 2).fill_(0.0);
    expect_values(y.reshape({6}), {6, 10, 0, 12, 10, 0});
    EXPECT_TRUE(y.requires_grad());
    sum(y).backward();
    expect_values(x.grad(), {6, 5, 0, 3, 2, 0});
    expect_values(w.grad(), {1, 2, 0, 4, 5, 0});
  }
  x.set_grad(Tensor()), w.set_grad(Tensor());
  {  // filling a row of a plain buffer with a value that has history
    Tensor buf = zeros({2, 3}, {.dtype = kF64});
    buf.select(0, 1).copy_(x.narrow(0, 0, 3));
    EXPECT_FALSE(buf.is_leaf());
    sum(buf * w.reshape({2, 3})).backward();
    expect_values(x.grad(), {3, 2, 1, 0, 0, 0});
    expect_values(w.grad(), {0, 0, 0, 1, 2, 3});
  }
  x.set_grad(Tensor()), w.set_grad(Tensor());
  {  // mul_ of a region by a tensor that requires grad
    Tensor y = x * 2.0;
    y.narrow(0, 0, 2).mul_(w.narrow(0, 0, 2));
    expect_values(y, {12, 20, 6, 8, 10, 12});
    sum(y).backward();
    expect_values(x.grad(), {12, 10, 2, 2, 2, 2});
    expect_values(w.grad(), {2, 4, 0, 0, 0, 0});
  }
  x.set_grad(Tensor());
  {  // a view of a view, and a view taken before the write sees it
    Tensor y = x * 1.0;
    Tensor before = y.narrow(0, 3, 3);
    y.reshape({2, 3}).select(0, 1).narrow(0, 1, 2).fill_(7.0);
    expect_values(before, {4, 7, 7});
    sum(before * before).backward();
    expect_values(x.grad(), {0, 0, 0, 8, 0, 0});
  }
  // Refused: a view of a leaf that requires grad (the leaf is unchanged); fine without grad mode.
  EXPECT_ERROR(x.narrow(0, 0, 1).copy_(zeros({1}, {.dtype = kF64})), "[copy_]", "view of a leaf", "[6]");
  EXPECT_ERROR(x.narrow(0, 0, 1).fill_(0.0), "[fill_]", "view of a leaf");
  expect_values(x, {1, 2, 3, 4, 5, 6});
  {
    NoGradGuard ng;
    x.narrow(0, 0, 1).copy_(zeros({1}, {.dtype = kF64}));
  }
  expect_values(x, {0, 2, 3, 4, 5, 6});
}

TEST(InPlaceIntoViews, GradientsOfGradientsThroughARegionWrite) {
  auto f = [](const TensorList& a) {
    Tensor y = (a[0] * a[1]).reshape({2, 3});
    y.select(1, 0).mul_(a[0].narrow(0, 0, 2));
    y.select(0, 1).narrow(0, 1, 2).fill_(0.5);
    return y * y;
  };
  const GradcheckOptions opts{.eps = 1e-6, .atol = 1e-6, .rtol = 1e-4};
  EXPECT_TRUE(gradcheck(f, {param({0.3, -0.7, 1.1, 0.4, -0.2, 0.9}), param({0.5, 0.8, -1.2, 0.6, 1.3, -0.4})}, opts));
  EXPECT_TRUE(
      gradgradcheck(f, {param({0.3, -0.7, 1.1, 0.4, -0.2, 0.9}), param({0.5, 0.8, -1.2, 0.6, 1.3, -0.4})}, opts));
}

// Before: zeros(1).expand(3).add_(ones(3)) left 3 and ones(1).expand(3).mul_([2, 3, 4]) left 4,
// whatever the write order happened to be. PyTorch refuses such writes; so do we, changing nothing.
TEST(InPlaceRefusals, ExpandedViewsAreNotWrittenInPlace) {
  Tensor b = ones({1}, {.dtype = kF64});
  Tensor e = b.expand({3});
  EXPECT_ERROR(e.add_(ones({3}, {.dtype = kF64})), "[add_]", "[3]", "stride 0", "clone()");
  EXPECT_ERROR(e.mul_(f64({2, 3, 4})), "[mul_]", "stride 0");
  EXPECT_ERROR(e.add_(1.0), "[add_]", "stride 0");
  EXPECT_ERROR(e.fill_(2.0), "[fill_]", "stride 0");
  EXPECT_ERROR(e.copy_(f64({2, 3, 4})), "[copy_]", "stride 0");
  EXPECT_ERROR(uniform_(e, 0, 1), "[uniform_]", "stride 0");
  expect_values(b, {1});
  // One element along the expanded dim, or none at all, is no overlap.
  Tensor one = b.expand({1});
  one.add_(1.0);
  expect_values(b, {2});
  zeros({0, 1}, {.dtype = kF64}).expand({0, 5}).fill_(1.0);
}

// retain_grad() follows the tensor's current value (PyTorch moves its hook); before, y.grad was
// the gradient of the value before mul_ (15 instead of 5).
TEST(InPlaceHistory, RetainGradFollowsAnInPlaceOp) {
  Tensor x = ones({2}, {.dtype = kF64, .requires_grad = true});
  Tensor y = x * 1.0;
  y.retain_grad();
  y.mul_(3.0);
  sum(y * 5.0).backward();
  expect_values(y.grad(), {5, 5});
  expect_values(x.grad(), {15, 15});
}

// mul_/div_ keep their operands for backward; with an operand that requires grad the write used
// to overwrite one of them, so every backward failed. PyTorch keeps the original self.
TEST(InPlaceHistory, MulAndDivInPlaceByATensorThatRequiresGrad) {
  Tensor w = param({4, 5});
  Tensor y = full({2}, 2.0, {.dtype = kF64});
  y.mul_(w);
  expect_values(y, {8, 10});
  sum(y).backward();
  expect_values(w.grad(), {2, 2});

  Tensor d = param({4, 5});
  Tensor q = full({2}, 2.0, {.dtype = kF64});
  q.div_(d);
  sum(q).backward();
  expect_values(d.grad(), {-2.0 / 16, -2.0 / 25});

  Tensor x = param({3, -1});
  Tensor s = x * 1.0;
  s.mul_(s);  // x^2
  sum(s).backward();
  expect_values(x.grad(), {6, -2});
}

// A leaf that receives only undefined gradients (a custom Function's "none") keeps .grad
// undefined, as in PyTorch; a zero .grad made SGD with weight decay move it (3 -> 2.7).
TEST(InPlaceHistory, LeafWithNoGradientKeepsGradUndefined) {
  struct MulFirstOnly : Function<MulFirstOnly> {
    static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b) {
      ctx->save_for_backward({a, b});
      return a * b;
    }
    static TensorList backward(AutogradContext* ctx, const TensorList& g) {
      return {g[0] * ctx->get_saved()[1], Tensor()};
    }
  };
  Tensor a = ones({1}, {.dtype = kF64, .requires_grad = true});
  Tensor b = full({1}, 3.0, {.dtype = kF64}).requires_grad_();
  sum(MulFirstOnly::apply(a, b)).backward();
  expect_values(a.grad(), {3});
  EXPECT_FALSE(b.grad().defined());  // so an optimizer skips b, as PyTorch's do
}

// Found by review: the rule above held only for leaves fed directly; behind another op (x * 2, a
// view) the zeros came back. A node whose incoming gradients are all undefined passes none on.
TEST(InPlaceHistory, NoGradientPassesThroughIntermediateOps) {
  struct FirstOnly : Function<FirstOnly> {
    static Tensor forward(AutogradContext*, const Tensor& a, const Tensor& b) { return a * b.detach(); }
    static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0], Tensor()}; }
  };
  Tensor a = ones({2}, {.dtype = kF64, .requires_grad = true});
  Tensor x = param({1, 2, 3});
  sum(FirstOnly::apply(a, (x * 2.0).narrow(0, 0, 2))).backward();
  expect_values(a.grad(), {1, 1});
  EXPECT_FALSE(x.grad().defined());
}

// Custom Functions are run with zeros for undefined gradients (PyTorch's materialize_grads): their
// backward need not be linear in g. Here it adds 1, so x.grad is [1, 1] although no gradient
// arrived (the all-undefined skip above must not apply to them).
TEST(InPlaceHistory, CustomFunctionsRunWithZerosForUndefinedGradients) {
  struct FirstOnly : Function<FirstOnly> {
    static Tensor forward(AutogradContext*, const Tensor& a, const Tensor& b) { return a * b.detach(); }
    static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0], Tensor()}; }
  };
  struct PlusOneGrad : Function<PlusOneGrad> {
    static Tensor forward(AutogradContext*, const Tensor& x) { return x * 1.0; }
    static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0] + 1.0}; }
  };
  Tensor a = ones({2}, {.dtype = kF64, .requires_grad = true});
  Tensor x = param({3, 4});
  sum(FirstOnly::apply(a, PlusOneGrad::apply(x))).backward();
  expect_values(x.grad(), {1, 1});
}

// After backward(create_graph) stored sum's expanded (stride 0) gradient as .grad, the next
// backward added into it in place ([4, 4, 4] before the overlap check, an error after it).
TEST(InPlaceHistory, BackwardAfterACreateGraphBackwardAccumulates) {
  Tensor x = param({1, 2, 3});
  sum(x).backward(Tensor(), false, true);
  sum(x).backward();
  expect_values(x.grad(), {2, 2, 2});
  x.grad().zero_();
  expect_values(x.grad(), {0, 0, 0});
}

// y[1:] += y[:-1] reads memory it is writing: the operand is read from a copy, so the result is
// the out-of-place sum (before: [1, 3, 6, 10], and order-dependent on large tensors).
TEST(InPlaceRefusals, PartlyOverlappingOperandIsReadBeforeTheWrite) {
  Tensor y = f64({1, 2, 3, 4});
  y.narrow(0, 1, 3).add_(y.narrow(0, 0, 3));
  expect_values(y, {1, 3, 5, 7});
  Tensor z = f64({1, 2, 3, 4});
  z.add_(z);  // the same elements: fine in place
  expect_values(z, {2, 4, 6, 8});
  // A broadcast row of self has the same offset and strides but not the same shape: row 0 must
  // be read before it is doubled (was [[0, 2, 4], [3, 6, 9], [6, 9, 12]]).
  Tensor m = f64({0, 1, 2, 3, 4, 5, 6, 7, 8}).reshape({3, 3});
  m.add_(m.narrow(0, 0, 1));
  expect_values(m, {0, 2, 4, 3, 5, 7, 6, 8, 10});
}

// grad() runs a leaf input's hooks on the gradient it returns, as backward() does before
// accumulating (before: [2, 4] from grad() against [20, 40] in .grad).
TEST(Hooks, GradRunsTheHooksOfLeafInputs) {
  Tensor x = param({1, 2});
  x.register_hook([](const Tensor& g) { return g * 10.0; });
  expect_values(grad({sum(x * x)}, {x})[0], {20, 40});
  sum(x * x).backward();
  expect_values(x.grad(), {20, 40});
}
