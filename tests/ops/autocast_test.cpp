// AutocastGuard: which ops run in 16 bits and which in f32 (PyTorch's lists), gradients coming
// back in the parameters' dtype, nesting and per-device state, the parameter cast cache (reused,
// never stale, never a no-grad copy), backward and checkpoint recomputation inside a region.
#include <gtest/gtest.h>

#include "common/expect_error.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"

namespace {

namespace nb = nabla;
using nb::AutocastGuard;
using nb::DType;
using nb::Tensor;

Tensor rand_f32(nb::Shape s, bool grad = false) {
  Tensor t = nb::rand(s, {.dtype = DType::f32}) * 2.0 - 1.0;
  return grad ? t.detach().requires_grad_(true) : t;
}

TEST(Autocast, ListsDecideTheDtype) {
  nb::manual_seed(1);
  Tensor x = rand_f32({4, 8}), w = rand_f32({3, 8}), b = rand_f32({3});
  {
    AutocastGuard ac;  // CPU, bf16
    EXPECT_TRUE(nb::is_autocast_enabled(nb::DeviceType::cpu));
    EXPECT_FALSE(nb::is_autocast_enabled(nb::DeviceType::cuda));
    Tensor y = nb::linear(x, w, b);
    EXPECT_EQ(y.dtype(), DType::bf16) << "linear is on the lower-precision list";
    EXPECT_EQ(nb::relu(y).dtype(), DType::bf16) << "relu runs in its input's dtype";
    EXPECT_EQ(nb::softmax(y, 1).dtype(), DType::f32) << "softmax is on the f32 list";
    EXPECT_EQ(nb::exp(y).dtype(), DType::f32);
    for (auto f : {nb::tan, nb::asin, nb::acos, nb::sinh, nb::cosh, nb::log2, nb::log10})
      EXPECT_EQ(f(y).dtype(), DType::f32) << "PyTorch's CUDA f32 list";
    EXPECT_EQ((y + x.narrow(1, 0, 3)).dtype(), DType::f32) << "bf16 + f32 promotes";
    EXPECT_EQ(nb::linear(x.to(DType::f64), w.to(DType::f64)).dtype(), DType::f64) << "f64 is not cast (PyTorch)";
    {
      AutocastGuard off({.enabled = false});
      EXPECT_EQ(nb::linear(x, w, b).dtype(), DType::f32);
    }
    EXPECT_EQ(nb::matmul(x, w.t()).dtype(), DType::bf16) << "re-enabled after the nested guard";
    AutocastGuard f16({.dtype = DType::f16});
    EXPECT_EQ(nb::linear(x, w).dtype(), DType::f16);
  }
  EXPECT_FALSE(nb::is_autocast_enabled(nb::DeviceType::cpu));
  EXPECT_EQ(nb::linear(x, w, b).dtype(), DType::f32);
  {
    AutocastGuard gpu({.device_type = nb::DeviceType::cuda});
    EXPECT_EQ(nb::autocast_dtype(nb::DeviceType::cuda), DType::f16);
    EXPECT_EQ(nb::linear(x, w, b).dtype(), DType::f32) << "a CUDA region leaves CPU tensors alone";
  }
  EXPECT_ERROR(AutocastGuard({.dtype = DType::f32}), "[autocast] dtype must be f16 or bf16, got f32");
}

// cosine_embedding_loss and hinge_embedding_loss are on PyTorch's f32 list (CPU and CUDA) like
// the other losses: 16-bit inputs are computed in f32 and the loss comes back f32.
TEST(Autocast, EmbeddingLossesRunInF32) {
  nb::manual_seed(8);
  Tensor a = rand_f32({4, 6}).to(DType::f16), b = rand_f32({4, 6}).to(DType::f16);
  Tensor y = nb::from_vector(std::vector<double>{1, -1, 1, -1}, {4}, DType::f32);
  const double want_cos = nb::cosine_embedding_loss(a.to(DType::f32), b.to(DType::f32), y).item();
  const double want_hinge = nb::hinge_embedding_loss(a.to(DType::f32), y.reshape({4, 1}).expand({4, 6})).item();
  AutocastGuard ac({.dtype = DType::f16});
  Tensor cos = nb::cosine_embedding_loss(a, b, y);
  Tensor hinge = nb::hinge_embedding_loss(a, y.reshape({4, 1}).expand({4, 6}));
  EXPECT_EQ(cos.dtype(), DType::f32);
  EXPECT_EQ(hinge.dtype(), DType::f32);
  EXPECT_EQ(cos.item(), want_cos);
  EXPECT_EQ(hinge.item(), want_hinge);
}

TEST(Autocast, ValuesAreTheRoundedComputation) {
  nb::manual_seed(2);
  Tensor x = rand_f32({5, 16}), w = rand_f32({7, 16}), b = rand_f32({7});
  Tensor y;
  {
    AutocastGuard ac;
    y = nb::linear(x, w, b);
  }
  // What autocast promises: the op on bf16-rounded inputs, computed in float, rounded once.
  Tensor want = nb::linear(x.to(DType::bf16).to(DType::f32), w.to(DType::bf16).to(DType::f32),
                           b.to(DType::bf16).to(DType::f32));
  std::vector<double> g = y.to_vector<double>(), r = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], r[i], std::abs(r[i]) * 0.0079 + 1e-6) << i;
}

TEST(Autocast, GradientsComeBackInTheParametersDtype) {
  nb::manual_seed(3);
  nb::nn::Linear fc1(8, 16), fc2(16, 4);
  Tensor x = rand_f32({6, 8});
  Tensor target = nb::from_vector(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
  Tensor loss;
  {
    AutocastGuard ac;
    Tensor logits = fc2(nb::relu(fc1(x)));
    EXPECT_EQ(logits.dtype(), DType::bf16);
    loss = nb::cross_entropy(logits, target);
    EXPECT_EQ(loss.dtype(), DType::f32) << "cross_entropy is on the f32 list";
  }
  loss.backward();
  for (nb::nn::Linear* l : {&fc1, &fc2}) {
    EXPECT_EQ(l->weight.grad().dtype(), DType::f32);
    EXPECT_EQ(l->bias.grad().dtype(), DType::f32);
  }
  // Close to the f32 gradients (bf16 keeps about 3 significant digits).
  Tensor g16 = fc1.weight.grad().clone();
  for (nb::nn::Linear* l : {&fc1, &fc2}) {
    l->weight.set_grad(Tensor());
    l->bias.set_grad(Tensor());
  }
  nb::cross_entropy(fc2(nb::relu(fc1(x))), target).backward();
  Tensor g32 = fc1.weight.grad();
  const double scale = nb::max(nb::abs(g32)).item();
  EXPECT_LT(nb::max(nb::abs(g16 - g32)).item(), 0.05 * scale);
}

// Layers after the first see 16-bit activations with f32 weights: the modules must let the ops
// cast them (PyTorch's layers run under autocast unchanged), not refuse the dtype pair.
TEST(Autocast, LayersTakeSixteenBitActivations) {
  nb::manual_seed(7);
  nb::nn::Sequential cnn(nb::nn::Conv2d(nb::nn::Conv2dOptions(2, 4, 3).padding(1)), nb::nn::BatchNorm2d(4),
                         nb::nn::ReLU(), nb::nn::Flatten(), nb::nn::LayerNorm(nb::Shape{64}), nb::nn::Linear(64, 8),
                         nb::nn::RMSNorm(nb::Shape{8}), nb::nn::Linear(8, 3));
  nb::nn::Conv1d conv1d(nb::nn::Conv1dOptions(2, 3, 1));
  Tensor x = rand_f32({2, 2, 4, 4});
  Tensor target = nb::from_vector(std::vector<int64_t>{0, 2}, {2});
  {
    AutocastGuard ac;
    Tensor logits = cnn(x);
    EXPECT_EQ(logits.dtype(), DType::bf16);
    EXPECT_EQ(conv1d(x.reshape({2, 2, 16}).to(DType::bf16)).dtype(), DType::bf16);
    nb::cross_entropy(logits, target).backward();
  }
  for (const auto& [name, p] : cnn.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
  }
  nb::nn::LSTM lstm(3, 5);
  nb::nn::Linear head(5, 2);
  {
    AutocastGuard ac;
    auto [out, state] = lstm(rand_f32({4, 2, 3}));
    nb::mse_loss(head(out), nb::zeros({4, 2, 2})).backward();
  }
  for (const auto& [name, p] : lstm.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
  }
  Tensor x64 = rand_f32({2, 8}).to(DType::f64);
  AutocastGuard ac;
  EXPECT_ERROR(nb::nn::Linear(8, 3)(x64), "expected f32 input (the dtype of its parameters), got f64 input");
}

TEST(Autocast, BackwardInsideTheRegionKeepsDtypes) {
  Tensor x = rand_f32({3, 4}), w = rand_f32({2, 4}, true);
  AutocastGuard ac;
  Tensor loss = nb::mse_loss(nb::linear(x, w), nb::zeros({3, 2}));
  loss.backward();  // the VJPs are not cast again
  EXPECT_EQ(w.grad().dtype(), DType::f32);
}

TEST(Autocast, ParameterCastsAreCachedButNeverStale) {
  Tensor x = rand_f32({2, 3}), w = rand_f32({2, 3}, true);
  AutocastGuard ac;
  Tensor y1 = nb::linear(x, w), y2 = nb::linear(x, w);
  EXPECT_EQ(y1.to_vector<double>(), y2.to_vector<double>());
  {
    nb::NoGradGuard ng;
    w.mul_(2.0);  // an in-place update between two uses: the cached copy must not be reused
  }
  Tensor y3 = nb::linear(x, w);
  std::vector<double> a = y1.to_vector<double>(), c = y3.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(c[i], 2 * a[i], std::abs(a[i]) * 0.02 + 1e-6);
  // A cast made under no_grad carries no history; a later use under grad mode must reach w.
  Tensor v = rand_f32({2, 3}, true);
  {
    nb::NoGradGuard ng;
    (void)nb::linear(x, v);
  }
  nb::linear(x, v).sum().backward();
  ASSERT_TRUE(v.grad().defined());
  EXPECT_EQ(v.grad().dtype(), DType::f32);
}

// Gradient accumulation in one region: the first backward frees the graph of w's cached cast,
// so the second forward must not be handed that cast again (its backward would fail with
// "backward through this graph a second time").
TEST(Autocast, ACastWhoseGraphWasFreedIsNotReused) {
  nb::manual_seed(5);
  Tensor x = rand_f32({3, 4}), w = rand_f32({2, 4}, true);
  AutocastGuard ac;
  nb::linear(x, w).to(DType::f32).sum().backward();
  const std::vector<double> once = w.grad().to_vector<double>();
  nb::linear(x, w).to(DType::f32).sum().backward();
  const std::vector<double> twice = w.grad().to_vector<double>();
  ASSERT_EQ(twice.size(), once.size());
  for (size_t i = 0; i < once.size(); ++i) EXPECT_EQ(twice[i], 2 * once[i]) << i;
}

TEST(Autocast, CheckpointRecomputesWithTheForwardsAutocast) {
  nb::manual_seed(4);
  nb::nn::Linear fc(6, 6);
  Tensor x = rand_f32({4, 6}, true);
  auto fn = [&](const nb::TensorList& in) { return nb::relu(fc(in[0])); };
  Tensor plain, ck;
  {
    AutocastGuard ac;
    plain = fn({x});
    ck = nb::nn::utils::checkpoint(fn, {x});
  }
  EXPECT_EQ(ck.dtype(), DType::bf16);
  EXPECT_EQ(plain.to_vector<double>(), ck.to_vector<double>());
  nb::TensorList g_plain = nb::grad({plain.to(DType::f32).sum()}, {x, fc.weight});
  nb::TensorList g_ck = nb::grad({ck.to(DType::f32).sum()}, {x, fc.weight});
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(g_ck[i].dtype(), DType::f32);
    EXPECT_EQ(g_ck[i].to_vector<double>(), g_plain[i].to_vector<double>()) << "gradient " << i;
  }
}

// The recomputation's casts are its own. Backward inside the region: the forward cached w's
// cast (used outside the segment too); had the recomputation reused it, its inner backward
// would free that cast's graph while the outer backward still needed it. Backward after the
// region: the recomputation's casts must not outlive it in the thread's cache (they would hold
// 16-bit copies of the weights and hand a freed graph to the next region).
TEST(Autocast, CheckpointRecomputationKeepsItsCastsToItself) {
  nb::manual_seed(6);
  nb::nn::Linear fc(5, 5);
  Tensor x = rand_f32({3, 5});
  auto block = [&](const nb::TensorList& in) { return nb::relu(fc(in[0])); };
  auto grads = [&](bool ck, bool backward_inside, bool cache = true) {
    fc.weight.set_grad(Tensor());
    fc.bias.set_grad(Tensor());
    Tensor loss;
    {
      AutocastGuard ac({.cache_enabled = cache});
      Tensor h = fc(x);  // caches fc.weight's cast
      Tensor y = ck ? nb::nn::utils::checkpoint(block, {h}) : block({h});
      loss = y.to(DType::f32).sum();
      if (backward_inside) loss.backward();
    }
    if (!backward_inside) loss.backward();
    return fc.weight.grad().to_vector<double>();
  };
  // Without the cache each use of the weight has its cast, whose gradients add in f32, as the
  // recomputation's (a shared cast would add them in bf16 first).
  const std::vector<double> want = grads(false, true, /*cache=*/false);
  EXPECT_EQ(grads(true, true), want) << "backward inside the region";
  EXPECT_EQ(grads(true, false), want) << "backward after the region";
  EXPECT_FALSE(nb::autocast_detail::cached_cast(fc.weight, DType::bf16).defined())
      << "a cast made by the recomputation outside any region stayed in the cache";
  EXPECT_EQ(grads(true, false), want) << "the next region, weights unchanged";
}

}  // namespace
