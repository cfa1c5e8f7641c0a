// nn::utils::checkpoint and checkpoint_sequential: gradients equal to the un-checkpointed model's
// (dropout replayed, train/eval mode and BatchNorm statistics as at forward time), parameter
// hooks and grad(), double backward, nesting, module hooks inside a checkpoint, lower peak
// memory, and the error paths.
#include <functional>
#include <string>
#include <vector>

#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

namespace {

double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  return max(abs(a - b)).item<double>();
}

std::shared_ptr<nn::Sequential> dropout_mlp() {
  auto m = std::make_shared<nn::Sequential>(nn::Linear(6, 16), nn::ReLU(), nn::Dropout(0.3), nn::Linear(16, 16),
                                            nn::Tanh(), nn::Dropout(0.5), nn::Linear(16, 16), nn::ReLU(),
                                            nn::Dropout(0.2), nn::Linear(16, 3));
  m->to(kF64);
  return m;
}

/// The parameters' gradients (cloned), then cleared.
std::vector<Tensor> take_grads(nn::Module& m) {
  std::vector<Tensor> g;
  for (const Tensor& p : m.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
  m.zero_grad();
  return g;
}

/// Equal within tol; undefined where the other is (a gradient nothing reached).
void expect_grads_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].defined(), b[i].defined()) << "gradient " << i;
    if (a[i].defined()) {
      EXPECT_LE(max_diff(a[i], b[i]), tol) << "gradient " << i;
    }
  }
}

/// One training-mode forward/backward from `seed`: the loss, x's and the parameters' gradients,
/// and the generator's state afterwards.
struct Pass {
  Tensor loss, x_grad;
  std::vector<Tensor> grads;
  GeneratorState rng_after;
};

Pass run(nn::Module& m, const Tensor& x0, uint64_t seed, const std::function<Tensor(const Tensor&)>& forward) {
  manual_seed(seed);
  Tensor x = x0.detach().requires_grad_();
  // Two calls, both drawing dropout masks: each recomputation must replay its own.
  Tensor y1 = forward(x);
  Tensor y2 = forward(x);
  Tensor loss = (y1 * sign(y2.detach())).sum();
  loss.backward();
  Pass r{loss.detach(), x.grad(), take_grads(m), get_rng_state()};
  return r;
}

}  // namespace

TEST(Checkpoint, DropoutMlpGradientsEqualTheUncheckpointedOnes) {
  manual_seed(1);
  auto mlp = dropout_mlp();
  mlp->train();
  Tensor x = randn({8, 6}, {.dtype = kF64});
  Pass plain = run(*mlp, x, 42, [&](const Tensor& in) { return (*mlp)(in); });
  for (int64_t segments : {1, 2, 3, 5, 10}) {
    SCOPED_TRACE("segments " + std::to_string(segments));
    Pass ck = run(*mlp, x, 42, [&](const Tensor& in) { return nn::utils::checkpoint_sequential(*mlp, segments, in); });
    EXPECT_LE(max_diff(ck.loss, plain.loss), 1e-12);
    EXPECT_LE(max_diff(ck.x_grad, plain.x_grad), 1e-12);
    expect_grads_equal(ck.grads, plain.grads, 1e-12);
    // The recomputation put the generator back: the stream moved as without checkpointing.
    EXPECT_EQ(ck.rng_after.seed, plain.rng_after.seed);
    EXPECT_EQ(ck.rng_after.offset, plain.rng_after.offset);
  }
  // The whole model as one checkpoint (the Module form) and as a function.
  Pass whole = run(*mlp, x, 42, [&](const Tensor& in) { return nn::utils::checkpoint(*mlp, in); });
  expect_grads_equal(whole.grads, plain.grads, 1e-12);
  EXPECT_LE(max_diff(whole.x_grad, plain.x_grad), 1e-12);
  Pass fn = run(*mlp, x, 42, [&](const Tensor& in) {
    return nn::utils::checkpoint([&](const Tensor& h) { return (*mlp)(h); }, in);
  });
  expect_grads_equal(fn.grads, plain.grads, 1e-12);
}

TEST(Checkpoint, SameGraphOpsGiveBitwiseEqualGradients) {
  // Segments that do not split a Linear+ReLU pair run exactly the ops of the plain model.
  manual_seed(2);
  auto mlp = dropout_mlp();
  Tensor x = randn({8, 6}, {.dtype = kF64});
  Pass plain = run(*mlp, x, 7, [&](const Tensor& in) { return (*mlp)(in); });
  Pass ck = run(*mlp, x, 7, [&](const Tensor& in) { return nn::utils::checkpoint_sequential(*mlp, 3, in); });
  ASSERT_EQ(ck.grads.size(), plain.grads.size());
  for (size_t i = 0; i < ck.grads.size(); ++i) EXPECT_TRUE(bitwise_equal(ck.grads[i], plain.grads[i])) << i;
  EXPECT_TRUE(bitwise_equal(ck.x_grad, plain.x_grad));
}

TEST(Checkpoint, MultiInputFormGivesEveryInputItsGradient) {
  manual_seed(3);
  auto mlp = dropout_mlp();
  Tensor a0 = randn({4, 6}, {.dtype = kF64}), b0 = randn({4, 3}, {.dtype = kF64});
  auto body = [&](const TensorList& in) { return tanh((*mlp)(in[0]) * in[1]); };
  auto grads_of = [&](bool ckpt) {
    manual_seed(5);
    Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor y = ckpt ? nn::utils::checkpoint(body, {a, b}) : body({a, b});
    y.sum().backward();
    std::vector<Tensor> g{a.grad(), b.grad()};
    for (Tensor& p : take_grads(*mlp)) g.push_back(p);
    return g;
  };
  expect_grads_equal(grads_of(true), grads_of(false), 1e-12);
}

TEST(Checkpoint, RecomputesInTheForwardsTrainMode) {
  manual_seed(4);
  auto mlp = dropout_mlp();
  Tensor x = randn({8, 6}, {.dtype = kF64});
  mlp->train();
  Pass plain = run(*mlp, x, 9, [&](const Tensor& in) { return (*mlp)(in); });
  manual_seed(9);
  Tensor xi = x.clone().requires_grad_();
  Tensor y1 = nn::utils::checkpoint_sequential(*mlp, 4, xi);
  Tensor y2 = nn::utils::checkpoint_sequential(*mlp, 4, xi);
  Tensor loss = (y1 * sign(y2.detach())).sum();
  mlp->eval();  // switched before backward: the recomputation still runs in training mode
  loss.backward();
  EXPECT_FALSE(mlp->is_training());
  for (nn::Module* m : mlp->modules()) EXPECT_FALSE(m->is_training()) << m->tag();
  expect_grads_equal(take_grads(*mlp), plain.grads, 1e-12);
  EXPECT_LE(max_diff(xi.grad(), plain.x_grad), 1e-12);
}

TEST(Checkpoint, BatchNormStatisticsAreUpdatedOncePerForward) {
  manual_seed(5);
  auto make = [] {
    manual_seed(11);
    auto m = std::make_shared<nn::Sequential>(nn::Linear(4, 8), nn::BatchNorm1d(8), nn::ReLU(), nn::Linear(8, 8),
                                              nn::BatchNorm1d(8), nn::Tanh(), nn::Linear(8, 2));
    m->to(kF64);
    return m;
  };
  auto plain = make(), ck = make();
  Tensor x = randn({16, 4}, {.dtype = kF64});
  for (int step = 0; step < 2; ++step) {
    plain->forward(x).sum().backward();
    nn::utils::checkpoint_sequential(*ck, 3, x).sum().backward();
  }
  const auto a = plain->named_buffers(), b = ck->named_buffers();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(bitwise_equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_EQ(ck->at<nn::BatchNorm1d>(1)->num_batches_tracked.item<int64_t>(), 2);
  expect_grads_equal(take_grads(*ck), take_grads(*plain), 1e-12);
}

TEST(Checkpoint, ParameterHooksRunOnceAndGradWorks) {
  manual_seed(6);
  auto mlp = dropout_mlp();
  mlp->eval();
  Tensor x = randn({5, 6}, {.dtype = kF64});
  auto fc0 = mlp->at<nn::Linear>(0);
  int calls = 0;
  fc0->weight.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 3.0;
  });
  (*mlp)(x).sum().backward();
  EXPECT_EQ(calls, 1);
  std::vector<Tensor> plain = take_grads(*mlp);
  nn::utils::checkpoint_sequential(*mlp, 2, x).sum().backward();
  EXPECT_EQ(calls, 2);
  expect_grads_equal(take_grads(*mlp), plain, 1e-12);  // tripled once, not twice

  // grad() returns the parameters' gradients through the checkpoint and accumulates nothing.
  TensorList params = mlp->parameters();
  TensorList g = grad({nn::utils::checkpoint_sequential(*mlp, 3, x).sum()}, params);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_LE(max_diff(g[i], plain[i]), 1e-12);
    EXPECT_FALSE(params[i].grad().defined());
  }
}

TEST(Checkpoint, DoubleBackwardMatchesTheUncheckpointedModel) {
  // A gradient penalty: d/dtheta |dL/dx|^2, through two checkpointed segments.
  manual_seed(7);
  auto mlp = std::make_shared<nn::Sequential>(nn::Linear(3, 8), nn::Tanh(), nn::Linear(8, 8), nn::Tanh(),
                                              nn::Linear(8, 8), nn::Tanh(), nn::Linear(8, 1));
  mlp->to(kF64);
  Tensor x0 = randn({4, 3}, {.dtype = kF64});
  auto penalty_grads = [&](bool ckpt) {
    Tensor x = x0.clone().requires_grad_();
    Tensor y = ckpt ? nn::utils::checkpoint_sequential(*mlp, 3, x) : (*mlp)(x);
    Tensor gx = grad({y.sum()}, {x}, {}, false, /*create_graph=*/true)[0];
    (gx * gx).sum().backward();
    std::vector<Tensor> g{x.grad()};
    for (Tensor& p : take_grads(*mlp)) g.push_back(p);
    return g;
  };
  std::vector<Tensor> plain = penalty_grads(false);
  for (size_t i = 0; i + 1 < plain.size(); ++i) ASSERT_TRUE(plain[i].defined()) << i;
  EXPECT_FALSE(plain.back().defined());  // the last bias does not change dL/dx
  EXPECT_GT(max(abs(plain[0])).item<double>(), 1e-6);  // a real second derivative with respect to x
  expect_grads_equal(penalty_grads(true), plain, 1e-12);
}

TEST(Checkpoint, NestedCheckpointsAndModuleHooksInside) {
  manual_seed(8);
  auto mlp = dropout_mlp();
  Tensor x = randn({6, 6}, {.dtype = kF64});
  auto fc3 = mlp->at<nn::Linear>(3);
  int forward_calls = 0, backward_calls = 0;
  Tensor hook_grad_output;
  fc3->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++forward_calls; });
  fc3->register_full_backward_hook([&](nn::Module&, const Tensor&, const Tensor& go) {
    ++backward_calls;
    hook_grad_output = go.clone();
  });
  manual_seed(3);
  (*mlp)(x).sum().backward();
  std::vector<Tensor> plain = take_grads(*mlp);
  Tensor plain_go = hook_grad_output;
  EXPECT_EQ(forward_calls, 1);
  EXPECT_EQ(backward_calls, 1);

  manual_seed(3);
  auto inner = [&](const Tensor& h) { return nn::utils::checkpoint_sequential(*mlp, 4, h); };
  nn::utils::checkpoint(inner, x).sum().backward();
  expect_grads_equal(take_grads(*mlp), plain, 1e-12);
  EXPECT_EQ(backward_calls, 2);  // once, in the recomputation
  EXPECT_LE(max_diff(hook_grad_output, plain_go), 1e-12);
  EXPECT_GE(forward_calls, 3);  // forward, and again in each recomputation (as in PyTorch)
}

TEST(Checkpoint, WithoutGradModeOrGradsItIsAPlainCall) {
  auto mlp = dropout_mlp();
  mlp->eval();
  Tensor x = randn({2, 6}, {.dtype = kF64});
  Tensor want = (*mlp)(x);
  {
    NoGradGuard ng;
    Tensor y = nn::utils::checkpoint_sequential(*mlp, 2, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(bitwise_equal(y, want.detach()));
  }
  mlp->freeze();
  Tensor y = nn::utils::checkpoint(*mlp, x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(bitwise_equal(y, want.detach()));
}

TEST(Checkpoint, PeakMemoryIsLowerForADeepMlp) {
  manual_seed(9);
  const int depth = 48;
  auto mlp = std::make_shared<nn::Sequential>();
  for (int i = 0; i < depth; ++i) {
    mlp->push_back(nn::Linear(64, 64));
    mlp->push_back(nn::ReLU());
  }
  Tensor x = randn({1024, 64});
  auto peak_bytes = [&](int64_t segments) {
    mlp->zero_grad();
    const int64_t base = memory_stats().allocated;
    reset_peak_memory_stats();
    Tensor y = segments > 0 ? nn::utils::checkpoint_sequential(*mlp, segments, x) : (*mlp)(x);
    y.sum().backward();
    y = Tensor();
    return memory_stats().peak_allocated - base;
  };
  peak_bytes(0);  // warm-up
  const int64_t plain = peak_bytes(0);
  const int64_t ck = peak_bytes(8);
  const int64_t activation = 1024 * 64 * 4;  // one layer's output
  // Plain keeps all 48 layers' outputs; 8 segments keep 7 boundaries and recompute 6 layers at a
  // time (parameter gradients, 16 KiB per layer, are the same in both).
  RecordProperty("peak_bytes_plain", std::to_string(plain));
  RecordProperty("peak_bytes_checkpointed", std::to_string(ck));
  EXPECT_GT(plain, int64_t(depth) * activation);
  EXPECT_LT(ck, plain / 2) << "plain " << plain << " bytes, checkpointed " << ck << " bytes";
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(Checkpoint, SegmentCountsAndArgumentsAreChecked) {
  auto mlp = dropout_mlp();
  Tensor x = randn({2, 6}, {.dtype = kF64});
  EXPECT_ERROR(nn::utils::checkpoint_sequential(*mlp, 0, x), "segments", "between 1 and", "10", "got 0");
  EXPECT_ERROR(nn::utils::checkpoint_sequential(*mlp, 11, x), "segments", "got 11");
  nn::Sequential empty;
  EXPECT_ERROR(nn::utils::checkpoint_sequential(empty, 1, x), "no modules");
  EXPECT_ERROR(nn::utils::checkpoint([](const TensorList&) { return Tensor(); }, TensorList{}), "at least one input");
  EXPECT_ERROR(nn::utils::checkpoint([](const Tensor&) { return Tensor(); }, x), "undefined");
  EXPECT_ERROR(nn::utils::checkpoint(std::function<Tensor(const Tensor&)>(), x), "empty");
  EXPECT_ERROR(mlp->forward_range(x, 3, 11), "forward_range(3, 11)", "10 entries");
}

TEST(Checkpoint, ATensorWithHistoryMustBeAnInput) {
  Tensor w = randn({3}, {.dtype = kF64}).requires_grad_();
  Tensor h = w * 2.0;  // has history
  Tensor x = randn({3}, {.dtype = kF64}).requires_grad_();
  EXPECT_ERROR(nn::utils::checkpoint([&](const Tensor& in) { return in * h; }, x), "has history", "pass it as an input");
  // Passed as an input it works.
  Tensor y = nn::utils::checkpoint([](const TensorList& in) { return in[0] * in[1]; }, {x, h});
  y.sum().backward();
  EXPECT_LE(max_diff(w.grad(), x.detach() * 2.0), 1e-15);
  EXPECT_LE(max_diff(x.grad(), h.detach()), 1e-15);
  // Returning a parameter itself is refused (the Function would take over its history).
  EXPECT_ERROR(nn::utils::checkpoint([&](const Tensor&) { return w; }, x), "requires grad");
}

TEST(Checkpoint, InPlaceChangesAndDifferentRecomputationsAreCaught) {
  nn::Linear fc(3, 3);
  Tensor x = randn({2, 3}).requires_grad_();
  Tensor h = x * 1.0;
  Tensor y = nn::utils::checkpoint(fc, h);
  {
    NoGradGuard ng;
    h.add_(1.0);  // the saved input changed
  }
  EXPECT_ERROR(y.sum().backward(), "modified by an in-place operation");

  // A function that reads a parameter only the second time it runs.
  Tensor extra = randn({2, 3}).requires_grad_();
  bool second = false;
  Tensor z = nn::utils::checkpoint(
      [&](const Tensor& in) {
        Tensor r = fc(in);
        return second ? r * extra : r;
      },
      x);
  second = true;
  EXPECT_ERROR(z.sum().backward(), "recomputation", "did not read");

  // One whose output changes shape.
  int64_t n = 2;
  Tensor s = nn::utils::checkpoint([&](const Tensor& in) { return fc(in).narrow(0, 0, n); }, x);
  n = 1;
  EXPECT_ERROR(s.sum().backward(), "recomputation gave shape", "[1, 3]", "[2, 3]");
}

TEST(Checkpoint, ParametersReadByUnrecordedInPlaceOpsGetTheirGradients) {
  // Without grad mode add_ and copy_ take paths that record nothing; the forward still sees b and w.
  manual_seed(12);
  Tensor b = randn({4}, {.dtype = kF64}).requires_grad_(), w = randn({3, 4}, {.dtype = kF64}).requires_grad_();
  Tensor x0 = randn({3, 4}, {.dtype = kF64});
  auto body = [&](const Tensor& in) {
    Tensor h = in * 2.0;
    h.add_(b);
    Tensor c = zeros_like(h);
    c.copy_(w);
    return h * c;
  };
  auto grads = [&](bool ckpt) {
    Tensor x = x0.clone().requires_grad_();
    (ckpt ? nn::utils::checkpoint(body, x) : body(x)).sum().backward();
    std::vector<Tensor> g{x.grad(), b.grad().clone(), w.grad().clone()};
    b.set_grad(Tensor());
    w.set_grad(Tensor());
    return g;
  };
  expect_grads_equal(grads(true), grads(false), 1e-15);
}
