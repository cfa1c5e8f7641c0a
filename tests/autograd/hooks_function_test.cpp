// Hooks, retain_grad, custom Functions, gradcheck/gradgradcheck and anomaly mode.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

using ag_test::expect_values;
using ag_test::f64;
using ag_test::param;

// ---- custom Functions --------------------------------------------------------------------

/// y = x^3, with a hand-written VJP 3x^2 g (written with nabla ops, so differentiable again).
struct Cube : Function<Cube> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static TensorList backward(AutogradContext* ctx, const TensorList& g) {
    Tensor x = ctx->get_saved()[0];
    return {g[0] * x * x * 3.0};
  }
};

/// The same forward with a wrong VJP (2x^2 g instead of 3x^2 g).
struct BadCube : Function<BadCube> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static TensorList backward(AutogradContext* ctx, const TensorList& g) {
    Tensor x = ctx->get_saved()[0];
    return {g[0] * x * x * 2.0};
  }
};

/// out = a * exp(b) + scale, with scale kept as a value; two tensor inputs. The VJP
/// recomputes exp(b) from the saved input (not a forward intermediate, which has no
/// history), so it is itself differentiable for gradgradcheck.
struct MulExp : Function<MulExp> {
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b) {
    ctx->save_for_backward({a, b});
    ctx->saved_values = {0.5};
    EXPECT_FALSE(is_grad_enabled());  // forward runs without recording
    return a * exp(b) + ctx->saved_values[0];
  }
  static TensorList backward(AutogradContext* ctx, const TensorList& g) {
    TensorList s = ctx->get_saved();
    Tensor e = exp(s[1]);
    Tensor ga = ctx->needs_input_grad[0] ? g[0] * e : Tensor();
    Tensor gb = ctx->needs_input_grad[1] ? g[0] * s[0] * e : Tensor();
    return {ga, gb};
  }
};

/// Returns the wrong number of gradients.
struct TooManyGrads : Function<TooManyGrads> {
  static Tensor forward(AutogradContext*, const Tensor& x) { return x * 2.0; }
  static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0], g[0]}; }
};

/// Returns a gradient of the wrong shape.
struct WrongShapeGrad : Function<WrongShapeGrad> {
  static Tensor forward(AutogradContext*, const Tensor& x) { return x * 2.0; }
  static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0].sum()}; }
};

/// Returns NaN as its gradient (for anomaly mode).
struct NanGrad : Function<NanGrad> {
  static Tensor forward(AutogradContext*, const Tensor& x) { return x * 1.0; }
  static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0] * NAN}; }
};

}  // namespace

// ---- hooks -------------------------------------------------------------------------------

TEST(Hooks, LeafHookCanReplaceTheGradient) {
  Tensor x = param({1, 2});
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    seen = g.to_double_vector();
    return g * 10.0;
  });
  (x * x).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{2, 4}));
  expect_values(x.grad(), {20, 40});
}

TEST(Hooks, HookReturningUndefinedOnlyObserves) {
  Tensor x = param({1, 2});
  int calls = 0;
  x.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  x.register_hook([](const Tensor& g) { return g + 1.0; });  // hooks chain in order
  (x * 3.0).sum().backward();
  EXPECT_EQ(calls, 1);
  expect_values(x.grad(), {4, 4});
}

TEST(Hooks, NonLeafHookChangesWhatFlowsUpstream) {
  Tensor x = param({1, 2});
  Tensor y = x * 3.0;
  std::vector<double> seen;
  y.register_hook([&](const Tensor& g) {
    seen = g.to_double_vector();
    return g * 10.0;
  });
  (y * y).sum().backward();  // dL/dy = 2y = [6, 12]
  EXPECT_EQ(seen, (std::vector<double>{6, 12}));
  expect_values(x.grad(), {180, 360});
  EXPECT_FALSE(y.grad().defined());  // non-leaf grads are not kept by default
}

TEST(Hooks, RetainGrad) {
  Tensor x = param({1, 2});
  Tensor y = x * x;
  Tensor z = y * 3.0;
  y.retain_grad();
  z.sum().backward(Tensor(), /*retain_graph=*/true);
  expect_values(y.grad(), {3, 3});
  EXPECT_FALSE(z.grad().defined());
  expect_values(x.grad(), {6, 12});
  z.sum().backward();  // retained grads accumulate like leaf grads
  expect_values(y.grad(), {6, 6});
  Tensor c = f64({1});
  EXPECT_ERROR(c.register_hook([](const Tensor& g) { return g; }), "[register_hook]", "does not require grad");
  EXPECT_ERROR(c.retain_grad(), "[retain_grad]", "does not require grad");
}

// ---- handles and post-accumulate-grad hooks (PyTorch: tensor.register_hook returns a
// RemovableHandle; tensor.register_post_accumulate_grad_hook, 2.1) ---------------------------------

TEST(Hooks, RegisterHookReturnsAHandleThatRemovesIt) {
  Tensor x = param({1, 2});
  RemovableHandle h = x.register_hook([](const Tensor& g) { return g * 10.0; });
  EXPECT_TRUE(h.active());
  (x * 3.0).sum().backward();
  expect_values(x.grad(), {30, 30});
  h.remove();
  EXPECT_FALSE(h.active());
  h.remove();  // idempotent
  x.set_grad(Tensor());
  (x * 3.0).sum().backward();
  expect_values(x.grad(), {3, 3});

  // Non-leaf: removing one hook keeps the others (and retain_grad) working.
  Tensor a = param({1, 2});
  Tensor y = a * 2.0;
  y.retain_grad();
  auto h1 = y.register_hook([](const Tensor& g) { return g * 100.0; });
  y.register_hook([](const Tensor& g) { return g + 1.0; });
  h1.remove();
  (y * y).sum().backward();  // dL/dy = 2y = [4, 8], + 1 -> [5, 9]; dL/da = 2 * that
  expect_values(a.grad(), {10, 18});
  expect_values(y.grad(), {4, 8});  // retain_grad's hook was registered first: it sees 2y

  // Register-remove in a loop does not grow the leaf's hook list (removed ones are purged).
  Tensor w = param({1});
  for (int i = 0; i < 100; ++i) w.register_hook([](const Tensor& g) { return g; }).remove();
  EXPECT_LE(w.impl().hooks.size(), 1u);

  // A handle outliving its tensor does nothing.
  RemovableHandle late;
  {
    Tensor t = param({1});
    late = t.register_hook([](const Tensor&) { return Tensor(); });
    EXPECT_TRUE(late.active());
  }
  EXPECT_FALSE(late.active());
  late.remove();
}

TEST(Hooks, AHookThatRemovesItselfFinishesItsCall) {
  Tensor x = param({1, 2});
  int calls = 0;
  RemovableHandle h;
  h = x.register_hook([&](const Tensor& g) {
    ++calls;
    h.remove();
    return g * 2.0;
  });
  (x * 1.0).sum().backward();
  (x * 1.0).sum().backward();
  EXPECT_EQ(calls, 1);
  expect_values(x.grad(), {3, 3});  // 2 from the first backward, 1 from the second
}

TEST(Hooks, PostAccumulateGradHookSeesTheAccumulatedGrad) {
  Tensor x = param({1, 2});
  std::vector<std::vector<double>> seen;
  std::vector<std::string> order;
  x.register_hook([&](const Tensor& g) {
    order.push_back("hook");
    return g;
  });
  RemovableHandle h = x.register_post_accumulate_grad_hook([&](const Tensor& t) {
    order.push_back("post");
    EXPECT_TRUE(t.is_leaf());
    EXPECT_EQ(t.impl_ptr(), x.impl_ptr()) << "called with the leaf itself";
    seen.push_back(t.grad().to_double_vector());
  });
  (x * x).sum().backward();  // grad 2x
  (x * 3.0).sum().backward();  // accumulates: 2x + 3
  EXPECT_EQ(order, (std::vector<std::string>{"hook", "post", "hook", "post"}));
  EXPECT_EQ(seen, (std::vector<std::vector<double>>{{2, 4}, {5, 7}}));
  // grad() accumulates nothing, so the hook does not run (as in PyTorch).
  grad({(x * x).sum()}, {x});
  EXPECT_EQ(seen.size(), 2u);
  h.remove();
  EXPECT_FALSE(h.active());
  (x * 3.0).sum().backward();
  EXPECT_EQ(seen.size(), 2u);

  Tensor y = x * 2.0;
  EXPECT_ERROR(y.register_post_accumulate_grad_hook([](const Tensor&) {}), "[register_post_accumulate_grad_hook]",
               "non-leaf");
  EXPECT_ERROR(f64({1}).register_post_accumulate_grad_hook([](const Tensor&) {}),
               "[register_post_accumulate_grad_hook]", "does not require grad");
}

TEST(Hooks, PostAccumulateGradHookCanStepAnOptimizerInBackward) {
  // PyTorch's "fuse the optimizer step into backward" recipe: SGD on each parameter as soon as its
  // gradient is ready, then free the gradient. Same parameters as a step after backward.
  const double lr = 0.1;
  Tensor w = param({1, -2, 3}), b = param({0.5});
  for (Tensor p : {w, b}) {
    p.register_post_accumulate_grad_hook([lr](const Tensor& t) {
      NoGradGuard ng;
      Tensor q = t;
      q.sub_(t.grad() * lr);
      q.set_grad(Tensor());
    });
  }
  Tensor x = f64({0.5, 1.0, -1.0});
  // L = (w.x + b)^2: dL/dw = 2 (w.x + b) x, dL/db = 2 (w.x + b); w.x + b = 0.5 - 2 - 3 + 0.5 = -4.
  pow((w * x).sum() + b.sum(), 2.0).backward();
  expect_values(w, {1 - lr * -8 * 0.5, -2 - lr * -8 * 1.0, 3 - lr * -8 * -1.0});
  expect_values(b, {0.5 - lr * -8});
  EXPECT_FALSE(w.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

// ---- custom Functions ----------------------------------------------------------------------

TEST(CustomFunction, ForwardAndBackward) {
  Tensor x = param({-1.0, 0.5, 2.0});
  Tensor y = Cube::apply(x);
  expect_values(y, {-1, 0.125, 8});
  ASSERT_TRUE(y.requires_grad());
  EXPECT_NE(y.grad_fn()->name().find("Cube"), std::string::npos);
  y.sum().backward();
  expect_values(x.grad(), {3, 0.75, 12});
  // Without grad the Function records nothing.
  Tensor c = Cube::apply(f64({2}));
  EXPECT_FALSE(c.requires_grad());
  expect_values(c, {8});
}

TEST(CustomFunction, PassesGradcheckAndGradgradcheck) {
  manual_seed(0);
  Tensor x = randn({4, 3}, {.dtype = kF64, .requires_grad = true});
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return Cube::apply(in[0]); }, {x}));
  EXPECT_TRUE(gradgradcheck([](const TensorList& in) { return Cube::apply(in[0]); }, {x}));
  // Non-contiguous input.
  Tensor xt = randn({3, 4}, {.dtype = kF64}).t().requires_grad_();
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return Cube::apply(in[0]); }, {xt}));
  // Two inputs, saved values and needs_input_grad.
  Tensor a = randn({5}, {.dtype = kF64, .requires_grad = true});
  Tensor b = randn({5}, {.dtype = kF64, .requires_grad = true});
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return MulExp::apply(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(gradgradcheck([](const TensorList& in) { return MulExp::apply(in[0], in[1]); }, {a, b}));
  Tensor const_b = randn({5}, {.dtype = kF64});
  Tensor out = MulExp::apply(a, const_b);
  out.sum().backward();
  expect_values(a.grad(), exp(const_b).to_double_vector());
}

TEST(CustomFunction, GradcheckCatchesAWrongBackward) {
  Tensor x = param({0.5, -1.5, 2.0});
  auto f = [](const TensorList& in) { return BadCube::apply(in[0]); };
  EXPECT_FALSE(gradcheck(f, {x}, {.raise = false}));
  std::string msg = ag_test::error_of([&] { gradcheck(f, {x}); });
  ag_test::expect_contains(msg, {"[gradcheck]", "Jacobian mismatch", "input 0", "analytical", "numerical"});
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return Cube::apply(in[0]); }, {x}, {.raise = false}));
}

TEST(CustomFunction, BadBackwardResultsAreClearErrors) {
  Tensor x = param({1, 2});
  EXPECT_ERROR(TooManyGrads::apply(x).sum().backward(), "custom backward returned 2 gradients for 1 inputs");
  EXPECT_ERROR(WrongShapeGrad::apply(x).sum().backward(), "backward returned a gradient of shape []", "shape [2]");
}

TEST(CustomFunction, SavedInputModifiedInPlaceIsCaught) {
  Tensor x = param({1, 2});
  Tensor a = x * 1.0;
  Tensor y = Cube::apply(a);
  a.mul_(2.0);
  EXPECT_ERROR(y.sum().backward(), "Cube", "(mul_)", "modified by an in-place operation");
}

// ---- gradcheck on user functions -------------------------------------------------------------

TEST(Gradcheck, UserFunctions) {
  manual_seed(1);
  Tensor x = randn({3, 4}, {.dtype = kF64, .requires_grad = true});
  Tensor w = randn({4, 2}, {.dtype = kF64, .requires_grad = true});
  Tensor b = randn({2}, {.dtype = kF64});  // not differentiated
  auto f = [](const TensorList& in) { return tanh(matmul(in[0], in[1]) + in[2]); };
  EXPECT_TRUE(gradcheck(f, {x, w, b}));
  EXPECT_TRUE(gradgradcheck(f, {x, w, b}));
  // Several outputs.
  DiffFn two = [](const TensorList& in) { return TensorList{sigmoid(in[0]).sum({1}), in[0] * in[0]}; };
  EXPECT_TRUE(gradcheck(two, {x}));
  EXPECT_TRUE(gradgradcheck(two, {x}));
  // Broadcast, non-contiguous input.
  Tensor xt = randn({4, 3}, {.dtype = kF64}).t().requires_grad_();
  Tensor r = randn({1, 4}, {.dtype = kF64, .requires_grad = true});
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return exp(in[0] * in[1]) / (1.0 + in[1] * in[1]); }, {xt, r}));
}

TEST(Gradcheck, RejectsNonF64Inputs) {
  Tensor x = ones({2}, {.requires_grad = true});
  EXPECT_ERROR(gradcheck([](const TensorList& in) { return in[0] * 2.0; }, {x}), "[gradcheck]", "f32", "f64");
}

TEST(Gradcheck, DetectsAWrongVjpInAComposition) {
  // A user function whose gradient is "wrong" because part of it is detached.
  Tensor x = param({0.3, 0.7});
  auto f = [](const TensorList& in) { return in[0] * in[0].detach(); };
  EXPECT_FALSE(gradcheck(f, {x}, {.raise = false}));
}

// ---- anomaly mode -----------------------------------------------------------------------------

TEST(Anomaly, NamesTheOpWhoseBackwardMadeNaNOrInf) {
  EXPECT_FALSE(is_anomaly_enabled());
  {
    DetectAnomalyGuard guard;
    EXPECT_TRUE(is_anomaly_enabled());
    Tensor x = param({0.0, 4.0});
    Tensor y = sqrt(x).sum();  // d sqrt/dx = 1/(2 sqrt x) = inf at 0
    std::string msg = ag_test::error_of([&] { y.backward(); });
    ag_test::expect_contains(msg, {"[anomaly]", "'sqrt'", "NaN or Inf"});

    Tensor z = param({0.0, 1.0});
    EXPECT_ERROR((log(z) * 2.0).sum().backward(), "[anomaly]", "'log'");

    Tensor w = param({1.0});
    EXPECT_ERROR(NanGrad::apply(w).sum().backward(), "[anomaly]", "NanGrad");
  }
  EXPECT_FALSE(is_anomaly_enabled());
  // Without anomaly mode the infinite gradient simply propagates.
  Tensor x = param({0.0, 4.0});
  sqrt(x).sum().backward();
  auto g = x.grad().to_double_vector();
  EXPECT_TRUE(std::isinf(g[0]));
  EXPECT_DOUBLE_EQ(g[1], 0.25);
  set_detect_anomaly(true);
  EXPECT_TRUE(is_anomaly_enabled());
  set_detect_anomaly(false);
}

TEST(Anomaly, FiniteGradientsPass) {
  DetectAnomalyGuard guard;
  Tensor x = param({1.0, 4.0});
  sqrt(x).sum().backward();
  expect_values(x.grad(), {0.5, 0.25});
}

namespace {
/// Returns its input unchanged: the output must get its own history, not the input's.
struct Identity : Function<Identity> {
  static Tensor forward(AutogradContext*, const Tensor& x) { return x; }
  static TensorList backward(AutogradContext*, const TensorList& g) { return {g[0] * 2.0}; }
};
}  // namespace

TEST(CustomFunction, OutputAliasingAnInputKeepsTheInputALeaf) {
  Tensor x = param({1, 2});
  Tensor y = Identity::apply(x);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.shares_storage(x));
  y.sum().backward();
  expect_values(x.grad(), {2, 2});
}
