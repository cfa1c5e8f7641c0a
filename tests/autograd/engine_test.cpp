// The backward engine: accumulation, grad(), higher-order gradients, retain_graph, in-place
// checks, grad mode and freezing.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <thread>

#include "autograd/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

using ag_test::expect_values;
using ag_test::f64;
using ag_test::param;

}  // namespace

TEST(Backward, GradientAccumulatesOverEveryUse) {
  Tensor x = param({0.5, -1.0, 2.0});
  // x appears four times: d/dx (x*x + 3x + exp(x)) = 2x + 3 + exp(x).
  Tensor y = (x * x + x * 3.0 + exp(x)).sum();
  y.backward();
  expect_values(x.grad(), {2 * 0.5 + 3 + std::exp(0.5), -2 + 3 + std::exp(-1.0), 4 + 3 + std::exp(2.0)});
}

TEST(Backward, DiamondGraphSumsBothPaths) {
  Tensor x = param({3.0});
  Tensor a = x * 2.0;    // da/dx = 2
  Tensor b = a * a;      // path 1
  Tensor c = sin(a);     // path 2
  Tensor y = (b + c).sum();
  y.backward();
  // dy/dx = (2a + cos a) * 2 at a = 6.
  expect_values(x.grad(), {(12 + std::cos(6.0)) * 2}, 1e-12);
}

TEST(Backward, SuccessiveBackwardsAccumulateIntoGrad) {
  Tensor x = param({1.0, 2.0});
  (x * x).sum().backward();
  expect_values(x.grad(), {2, 4});
  (x * 5.0).sum().backward();
  expect_values(x.grad(), {7, 9});
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
  (x * 5.0).sum().backward();
  expect_values(x.grad(), {5, 5});
}

TEST(Backward, BroadcastGradientsReduceToInputShape) {
  Tensor a = param({1, 2, 3});
  Tensor b = f64({10, 20}).reshape({2, 1}).requires_grad_();
  (a * b).sum().backward();  // [2, 3]
  expect_values(a.grad(), {30, 30, 30});
  EXPECT_EQ(b.grad().shape(), (Shape{2, 1}));
  expect_values(b.grad(), {6, 6});
}

TEST(Backward, NonScalarNeedsAGradient) {
  Tensor x = param({1, 2, 3});
  Tensor y = x * 2.0;
  EXPECT_ERROR(y.backward(), "[backward]", "only for outputs with one element", "[3]", "grad_outputs");
  y.backward(f64({1, 10, 100}));
  expect_values(x.grad(), {2, 20, 200});
  EXPECT_ERROR(y.backward(f64({1, 2})), "[backward]", "grad_output 0 has shape [2]", "[3]");
  Tensor c = f64({1});
  EXPECT_ERROR(c.backward(), "[backward]", "does not require grad");
}

TEST(GradApi, DoesNotTouchDotGrad) {
  Tensor x = param({1, 2});
  Tensor y = (x * x * x).sum();
  TensorList g = grad({y}, {x});
  expect_values(g[0], {3, 12});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());  // no create_graph: a plain tensor
}

TEST(GradApi, SecondDerivativeWithCreateGraph) {
  Tensor x = param({-1.0, 0.5, 2.0});
  Tensor y = (x * x * x).sum();
  Tensor dy = grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  expect_values(dy, {3, 0.75, 12});  // 3x^2
  EXPECT_TRUE(dy.requires_grad());
  Tensor d2y = grad({dy.sum()}, {x}, {}, true, true)[0];
  expect_values(d2y, {-6, 3, 12});  // 6x
  Tensor d3y = grad({d2y.sum()}, {x})[0];
  expect_values(d3y, {6, 6, 6});
  // Through a unary op: d2/dx2 sin(x) = -sin(x).
  Tensor s = sin(x).sum();
  Tensor ds = grad({s}, {x}, {}, true, true)[0];
  expect_values(grad({ds.sum()}, {x})[0], {std::sin(1.0), -std::sin(0.5), -std::sin(2.0)});
}

TEST(GradApi, CreateGraphKeepsTheGraphWithoutRetainGraph) {
  // As in PyTorch, create_graph implies retain_graph: the first-order result refers to the
  // graph's saved tensors, so differentiating it must not find them freed.
  Tensor x = param({-1.0, 0.5, 2.0});
  Tensor y = (x * x * x).sum();
  Tensor dy = grad({y}, {x}, {}, /*retain_graph=*/false, /*create_graph=*/true)[0];
  // The original graph is still usable too.
  expect_values(grad({y}, {x}, {}, /*retain_graph=*/true)[0], {3, 0.75, 12});
  expect_values(grad({dy.sum()}, {x})[0], {-6, 3, 12});
  Tensor z = param({2.0});
  Tensor w = (z * z * z).sum();
  w.backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
  expect_values(grad({z.grad().sum()}, {z})[0], {12});
}

TEST(GradApi, BackwardWithCreateGraphMakesDifferentiableGrad) {
  Tensor x = param({2.0});
  Tensor y = (x * x * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true, /*create_graph=*/true);
  Tensor g = x.grad();  // 3x^2 = 12, with history
  expect_values(g, {12});
  ASSERT_TRUE(g.requires_grad());
  Tensor gg = grad({g.sum()}, {x})[0];
  expect_values(gg, {12});  // 6x
}

TEST(GradApi, CreateGraphBackwardDoesNotLeak) {
  // x.grad refers to its graph, which reaches x's gradient sink and x's saved data, but
  // never x itself: no reference cycle (PyTorch has one here and warns about it).
  int64_t before = memory_stats().allocated;
  {
    Tensor x = randn({1 << 14}, {.dtype = kF64, .requires_grad = true});
    Tensor w = randn({1 << 14}, {.dtype = kF64, .requires_grad = true});
    Tensor y = (x * x * w + sin(x)).sum();
    y.backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
    ASSERT_TRUE(x.grad().requires_grad());
    // The grad is still differentiable, into both leaves: d/dw sum(dy/dx) = 2x.
    TensorList gg = grad({x.grad().sum()}, {x, w});
    expect_values(gg[1], (x * 2.0).to_double_vector());
  }
  EXPECT_EQ(memory_stats().allocated, before);
}

TEST(Backward, GradientForADroppedLeafIsDiscarded) {
  Tensor x = param({1, 2});
  Tensor y;
  {
    Tensor tmp = param({3, 4});
    y = (x * tmp).sum();
  }  // tmp's only handle is gone; the graph keeps its data (saved by mul) but not the tensor
  y.backward();
  expect_values(x.grad(), {3, 4});
}

TEST(GradApi, AllowUnused) {
  Tensor x = param({1, 2});
  Tensor unused = param({3});
  Tensor y = (x * 2.0).sum();
  EXPECT_ERROR(grad({y}, {x, unused}, {}, true), "[grad]", "input 1", "was not used", "allow_unused=true");
  TensorList g = grad({y}, {x, unused}, {}, false, false, /*allow_unused=*/true);
  expect_values(g[0], {2, 2});
  EXPECT_FALSE(g[1].defined());
}

TEST(GradApi, MultipleOutputsAndGradOutputs) {
  Tensor x = param({1, 2, 3});
  Tensor a = x * x;          // [3]
  Tensor b = (x * 4.0).sum();  // scalar
  TensorList g = grad({a, b}, {x}, {f64({1, 0, 2}), f64({1}).reshape({})});
  expect_values(g[0], {2 * 1 + 4, 0 + 4, 2 * 2 * 3 + 4});
  EXPECT_ERROR(grad({a, b}, {x}, {f64({1, 1, 1})}), "[grad]", "1 grad_outputs for 2 outputs");
  // A grad_output in another dtype is cast to the output's, as in PyTorch: an f32 parameter
  // gets an f32 gradient (it used to get an f64 one).
  Tensor x32 = ones({3}, {.requires_grad = true});
  Tensor g32 = grad({x32 * 2.0}, {x32}, {f64({1, 2, 3})})[0];
  EXPECT_EQ(g32.dtype(), kF32);
  EXPECT_EQ(g32.to_vector<double>(), (std::vector<double>{2, 4, 6}));
}

TEST(GradApi, InputThatDoesNotRequireGradIsAnError) {
  Tensor x = param({1});
  Tensor c = f64({2});
  Tensor y = (x * c).sum();
  EXPECT_ERROR(grad({y}, {c}), "[grad]", "input 0 does not require grad");
}

TEST(RetainGraph, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = param({1, 2});
  Tensor y = (x * x).sum();
  y.backward();
  std::string msg = ag_test::error_of([&] { y.backward(); });
  ag_test::expect_contains(msg, {"retain_graph", "second time", "freed"});
  // The same through grad().
  Tensor z = exp(x).sum();
  grad({z}, {x});
  EXPECT_ERROR(grad({z}, {x}), "retain_graph");
}

TEST(RetainGraph, RetainedGraphCanBeReused) {
  Tensor x = param({1, 2});
  Tensor y = (x * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward(Tensor(), /*retain_graph=*/true);
  expect_values(x.grad(), {4, 8});
  y.backward();  // last use may free it
  expect_values(x.grad(), {6, 12});
  EXPECT_ERROR(y.backward(), "retain_graph");
}

TEST(InPlace, ModifyingASavedOutputIsCaught) {
  Tensor x = param({0.0, 1.0});
  Tensor y = exp(x);  // exp saves its output for backward
  y.mul_(2.0);
  Tensor loss = y.sum();
  std::string msg = ag_test::error_of([&] { loss.backward(); });
  ag_test::expect_contains(msg, {"[exp]", "modified by an in-place operation", "(mul_)", "version"});
}

TEST(InPlace, ModifyingASavedInputIsCaught) {
  Tensor x = param({1.0, 2.0});
  Tensor a = x * 1.0;
  Tensor b = a * a;  // mul saves a
  a.add_(1.0);
  std::string msg = ag_test::error_of([&] { b.sum().backward(); });
  ag_test::expect_contains(msg, {"[mul]", "(add_)", "Clone it"});
  // A detached alias shares the version counter, so writing through it is caught too.
  Tensor c = x * 1.0;
  Tensor d = sin(c);  // sin saves its input
  c.detach().add_(ones({2}, {.dtype = kF64}));
  EXPECT_ERROR(d.sum().backward(), "[sin]", "(add_)");
}

TEST(InPlace, UnsavedTensorsMayBeModified) {
  Tensor x = param({1.0, 2.0});
  Tensor a = x * 2.0;  // scalar mul saves nothing
  Tensor b = a + 1.0;  // add saves nothing
  a.add_(100.0);       // fine: neither VJP reads a
  b.sum().backward();
  expect_values(x.grad(), {2, 2});
  // In-place op history is differentiable: y = 3 * (x*x) done with mul_.
  Tensor x2 = param({1.5});
  Tensor y = x2 * x2;
  y.mul_(3.0);
  y.sum().backward();
  expect_values(x2.grad(), {9});
}

TEST(InPlace, LeafRequiringGradRejectsInPlaceUnderGrad) {
  Tensor w = param({1.0});
  EXPECT_ERROR(w.add_(1.0), "[add_]", "leaf tensor that requires grad", "NoGradGuard");
  EXPECT_ERROR(w.mul_(2.0), "[mul_]", "leaf");
  {
    NoGradGuard ng;
    w.add_(f64({1.0}), -0.5);  // optimizer-style update is allowed
  }
  expect_values(w, {0.5});
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
}

// add_(double) / mul_(double) on a tensor that records nothing run as one kernel in place
// (scalar_inplace): same values as the general path, a version bump, strided views respected,
// and integer tensors with a fractional scalar still promote and truncate.
TEST(InPlace, ScalarUpdatesWithoutHistory) {
  Tensor c = zeros({3}, {.dtype = DType::i64});
  const uint64_t v0 = c.version();
  c.add_(2.0).mul_(3.0);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{6, 6, 6}));
  EXPECT_EQ(c.version(), v0 + 2);
  // An f32 result is not truncated into an i64 tensor (PyTorch: "result type Float can't be cast
  // to the desired output type Long"); the tensor is left as it was.
  EXPECT_ERROR(c.add_(0.75), "[add_]", "dtype f32", "dtype i64");
  EXPECT_ERROR(c.mul_(f64({0.5, 0.5, 0.5})), "[mul_]", "dtype f64", "dtype i64");
  EXPECT_ERROR(c.div_(c), "[div_]", "dtype f32");
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{6, 6, 6}));
  EXPECT_EQ(c.version(), v0 + 2);
  Tensor m = f64({1, 2, 3, 4, 5, 6}).reshape({2, 3});
  m.select(1, 1).mul_(10.0);  // a strided column
  expect_values(m, {1, 20, 3, 4, 50, 6});
  Tensor b = zeros({1}, {.dtype = kF64});
  EXPECT_ERROR(b.expand({4}).add_(1.0), "[add_]", "stride 0");  // one element four times: refused, as PyTorch
  expect_values(b, {0});
  Tensor x = param({1.5});
  {
    NoGradGuard ng;
    x.add_(1.0);  // a leaf that requires grad may be updated without recording
  }
  expect_values(x, {2.5});
  EXPECT_TRUE(x.is_leaf());
}

TEST(GradMode, NoGradGuardStopsRecording) {
  Tensor x = param({1, 2});
  EXPECT_TRUE(is_grad_enabled());
  Tensor y;
  {
    NoGradGuard ng;
    EXPECT_FALSE(is_grad_enabled());
    y = x * x;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    {
      EnableGradGuard eg;
      EXPECT_TRUE(is_grad_enabled());
      EXPECT_TRUE((x * x).requires_grad());
    }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  expect_values(y, {1, 4});
  EXPECT_ERROR(y.sum().backward(), "does not require grad", "NoGradGuard");
}

TEST(GradMode, DetachBlocksGradient) {
  Tensor x = param({3.0});
  Tensor y = x * x.detach();  // only the first factor is differentiated
  EXPECT_TRUE(x.detach().is_leaf());
  EXPECT_FALSE(x.detach().requires_grad());
  y.sum().backward();
  expect_values(x.grad(), {3});
}

TEST(GradMode, RequiresGradFalseFreezes) {
  Tensor w = param({2.0});
  Tensor b = param({1.0});
  w.requires_grad_(false);  // frozen
  Tensor x = f64({3.0});
  Tensor y = (w * x + b).sum();
  y.backward();
  EXPECT_FALSE(w.grad().defined());
  expect_values(b.grad(), {1});
  // Unfreezing again.
  w.requires_grad_(true);
  (w * x + b).sum().backward();
  expect_values(w.grad(), {3});
  // With everything frozen there is nothing to differentiate.
  w.requires_grad_(false);
  b.requires_grad_(false);
  EXPECT_FALSE((w * x + b).requires_grad());
}

TEST(GradMode, IntegerOpsDoNotRecord) {
  Tensor x = param({1.5});
  Tensor i = x.to(kI64);  // casting to an integer type cuts the graph
  EXPECT_FALSE(i.requires_grad());
  Tensor back = x.to(kF32).to(kF64);  // float casts keep it
  back.sum().backward();
  expect_values(x.grad(), {1});
}

TEST(InPlace, UpdatingAParameterBeforeBackwardIsCaught) {
  // A classic bug: the optimizer step runs between forward and backward.
  Tensor w = param({1.0, 2.0});
  Tensor x = f64({3.0, 4.0});
  Tensor loss = (w * x).sum();  // d/dw reads only x; x needs no grad, so w is not saved
  Tensor h = (w * w).sum();     // this one saves w itself
  {
    NoGradGuard ng;
    w.add_(f64({1.0, 1.0}), -0.1);
  }
  loss.backward();  // fine, as in PyTorch
  expect_values(w.grad(), {3, 4});
  EXPECT_ERROR(h.backward(), "[mul]", "(add_)", "version");
}

TEST(Backward, SavedTensorsAreFreedByBackward) {
  const int64_t n = 1 << 18;  // 1 MiB of f32
  Tensor x = randn({n}, {.requires_grad = true});
  auto run = [&](bool retain) {
    int64_t before = memory_stats().allocated;
    Tensor y = exp(x).sum();  // exp keeps its 1 MiB output for backward
    EXPECT_GE(memory_stats().allocated - before, n * 4);
    y.backward(Tensor(), retain);
    x.set_grad(Tensor());
    return memory_stats().allocated - before;  // y (and its graph) still alive here
  };
  EXPECT_LT(run(/*retain=*/false), 1024);  // only the scalar output remains
  EXPECT_GE(run(/*retain=*/true), n * 4);  // the saved output is kept for another backward
}

TEST(GradMode, IsPerThread) {
  NoGradGuard ng;
  bool other_thread = false;
  std::thread t([&] { other_thread = is_grad_enabled(); });
  t.join();
  EXPECT_TRUE(other_thread);
  EXPECT_FALSE(is_grad_enabled());
}

TEST(Backward, IndependentGraphsOnSeveralThreads) {
  // Each thread builds and differentiates its own graph; results must not interfere.
  auto work = [](double scale, double* out) {
    Tensor w = full({16, 16}, scale, {.dtype = kF64, .requires_grad = true});
    Tensor x = full({8, 16}, 1.0, {.dtype = kF64});
    for (int i = 0; i < 200; ++i) {
      Tensor loss = tanh(matmul(x, w)).sum() + (w * w).sum();
      loss.backward();
    }
    *out = w.grad().sum().item();
  };
  double r[4];
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(work, 0.01 * (i + 1), &r[i]);
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    double s = 0.01 * (i + 1), a = std::tanh(16 * s);
    // d/dw [sum tanh(x w) + sum w^2] = 8 (1 - tanh^2(16 s)) + 2 s per element, 256 elements, 200 steps.
    EXPECT_NEAR(r[i], 200 * 256 * (8 * (1 - a * a) + 2 * s), 1e-6) << "thread " << i;
  }
}

// Threads running backward into one shared leaf (helper-38: w.grad came out at 204-229 of 240,
// updates lost between the read of .grad and the write of the sum).
TEST(Backward, ThreadsAccumulateIntoASharedLeafWithoutLosingUpdates) {
  Tensor w = zeros({1 << 18}, {.requires_grad = true});
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&w] {
      for (int k = 0; k < 40; ++k) w.sum().backward();
    });
  for (auto& t : threads) t.join();
  const std::vector<double> g = w.grad().to_double_vector();
  EXPECT_EQ(*std::min_element(g.begin(), g.end()), 160.0);
  EXPECT_EQ(*std::max_element(g.begin(), g.end()), 160.0);
}
