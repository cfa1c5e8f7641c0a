// AutocastGuard: which ops run in 16 bits and which in f32 (PyTorch's lists, per device type),
// gradients coming back in the parameters' dtype, nesting and per-device state, the parameter cast cache (reused,
// never stale, never a no-grad copy), backward and checkpoint recomputation inside a region.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <tuple>

#include "common/expect_error.h"
#include "common/fake_device.h"
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
    // The CPU's f32 list is not CUDA's: softmax, exp and the like keep bf16 there, the losses
    // and prod go to f32 (the AutocastLists cases below check every list entry on both).
    EXPECT_EQ(nb::softmax(y, 1).dtype(), DType::bf16) << "softmax is on CUDA's f32 list only";
    EXPECT_EQ(nb::exp(y).dtype(), DType::bf16);
    EXPECT_EQ(nb::prod(y).dtype(), DType::f32) << "prod is on the CPU's f32 list";
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

// ---- PyTorch's lists, per device type ---------------------------------------------------------
// Every op nabla has that is on one of PyTorch's autocast lists (src/ops/autocast.h names the
// version), and ops on none, on the CPU and on the fake "cuda" device of tests/common/fake_device.h
// (the CPU kernels behind a device of type cuda, so the CUDA lists apply). Each case says what
// PyTorch's list gives on each device type; the test checks the output dtype, that the values are
// exactly those of the op on inputs cast by hand outside any region (so autocast does the cast and
// nothing else), and that the gradients come back in the inputs' dtypes with those values too.
// For composite ops in PyTorch (softmin, gaussian_nll_loss, ...) the expectation is what their
// parts' lists give there. The CPU column agrees with the output dtypes LibTorch 1.13's CPU
// autocast gives for these ops, except where 2.x's lists changed: prelu and conv_transpose1d/2d
// (f32 in 1.13, lower precision in 2.x).
enum class Want {
  lower,    // f32 inputs -> autocast's 16-bit dtype
  fp32,     // 16-bit inputs -> f32
  keep,     // 16-bit stays 16-bit, f32 stays f32
  promote,  // 16-bit with f32 -> f32; all 16-bit -> 16-bit; all f32 -> f32
  refuse,   // an error naming binary_cross_entropy_with_logits
};

struct In {
  nb::Shape shape;
  double lo = -1, hi = 1;
};

struct ListCase {
  std::string name;
  Want cpu, cuda;
  std::vector<In> inputs;  // the floating inputs (integer targets are made inside f)
  std::function<Tensor(const nb::TensorList&)> f;
};

Tensor ints(std::vector<int64_t> v, nb::Shape s, const Tensor& like) {
  return nb::from_vector(v, s).to(like.device());
}
Tensor plus_minus_one(nb::Shape s, const Tensor& like) {
  std::vector<double> v(size_t(nb::shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 3 == 1 ? -1.0 : 1.0;
  return nb::from_vector(v, s, like.dtype()).to(like.device());
}

std::vector<ListCase> list_cases() {
  using W = Want;
  using TL = nb::TensorList;
  const W L = W::lower, F = W::fp32, K = W::keep, P = W::promote;
  const In pos{{4, 6}, 0.2, 0.8};  // inside every f32-list function's domain (acos, log, ...)
  const In x46{{4, 6}}, w36{{3, 6}}, b3{{3}};
  std::vector<ListCase> c = {
      // lower precision on both
      {"matmul", L, L, {{{4, 6}}, {{6, 3}}}, [](const TL& t) { return nb::matmul(t[0], t[1]); }},
      {"linear", L, L, {x46, w36, b3}, [](const TL& t) { return nb::linear(t[0], t[1], t[2]); }},
      {"linear_relu", L, L, {x46, w36, b3}, [](const TL& t) { return nb::linear_relu(t[0], t[1], t[2]); }},
      {"conv1d", L, L, {{{2, 3, 8}}, {{4, 3, 3}}, {{4}}}, [](const TL& t) { return nb::conv1d(t[0], t[1], t[2]); }},
      {"conv2d", L, L, {{{2, 3, 5, 5}}, {{4, 3, 3, 3}}, {{4}}},
       [](const TL& t) { return nb::conv2d(t[0], t[1], t[2]); }},
      {"conv_transpose1d", L, L, {{{2, 3, 6}}, {{3, 4, 3}}, {{4}}},
       [](const TL& t) { return nb::conv_transpose1d(t[0], t[1], t[2]); }},
      {"conv_transpose2d", L, L, {{{2, 3, 4, 4}}, {{3, 4, 3, 3}}, {{4}}},
       [](const TL& t) { return nb::conv_transpose2d(t[0], t[1], t[2]); }},
      {"prelu", L, L, {x46, {{1}, 0.1, 0.3}}, [](const TL& t) { return nb::prelu(t[0], t[1]); }},
      {"scaled_dot_product_attention", L, L, {{{2, 4, 8}}, {{2, 5, 8}}, {{2, 5, 8}}},
       [](const TL& t) { return nb::scaled_dot_product_attention(t[0], t[1], t[2]); }},
      // einsum: on CUDA's list; composite on the CPU, where its bmm is on the list
      {"einsum", L, L, {{{4, 6}}, {{3, 6}}}, [](const TL& t) { return nb::einsum("ij,kj->ik", {t[0], t[1]}); }},
      // tensordot: CUDA's promote list; composite on the CPU (its mm casts)
      {"tensordot", L, P, {{{4, 6}}, {{6, 3}}}, [](const TL& t) { return nb::tensordot(t[0], t[1], 1); }},
      // f32 on CUDA, the input's dtype on the CPU
      {"exp", K, F, {pos}, [](const TL& t) { return nb::exp(t[0]); }},
      {"log", K, F, {pos}, [](const TL& t) { return nb::log(t[0]); }},
      {"log1p", K, F, {pos}, [](const TL& t) { return nb::log1p(t[0]); }},
      {"log2", K, F, {pos}, [](const TL& t) { return nb::log2(t[0]); }},
      {"log10", K, F, {pos}, [](const TL& t) { return nb::log10(t[0]); }},
      {"expm1", K, F, {pos}, [](const TL& t) { return nb::expm1(t[0]); }},
      {"reciprocal", K, F, {pos}, [](const TL& t) { return nb::reciprocal(t[0]); }},
      {"rsqrt", K, F, {pos}, [](const TL& t) { return nb::rsqrt(t[0]); }},
      {"tan", K, F, {pos}, [](const TL& t) { return nb::tan(t[0]); }},
      {"asin", K, F, {pos}, [](const TL& t) { return nb::asin(t[0]); }},
      {"acos", K, F, {pos}, [](const TL& t) { return nb::acos(t[0]); }},
      {"sinh", K, F, {pos}, [](const TL& t) { return nb::sinh(t[0]); }},
      {"cosh", K, F, {pos}, [](const TL& t) { return nb::cosh(t[0]); }},
      {"pow_scalar", K, F, {pos}, [](const TL& t) { return nb::pow(t[0], 2.5); }},
      {"pow_tensor", K, F, {pos, pos}, [](const TL& t) { return nb::pow(t[0], t[1]); }},
      {"square", K, F, {x46}, [](const TL& t) { return nb::square(t[0]); }},  // PyTorch's is pow(x, 2)
      {"softplus", K, F, {x46}, [](const TL& t) { return nb::softplus(t[0]); }},
      {"softmax", K, F, {x46}, [](const TL& t) { return nb::softmax(t[0], 1); }},
      {"log_softmax", K, F, {x46}, [](const TL& t) { return nb::log_softmax(t[0], 1); }},
      {"softmin", K, F, {x46}, [](const TL& t) { return nb::softmin(t[0], 1); }},  // softmax(-x)
      {"logsumexp", K, F, {x46}, [](const TL& t) { return nb::logsumexp(t[0], {1}); }},
      {"sum", K, F, {x46}, [](const TL& t) { return nb::sum(t[0], {1}); }},
      {"cumsum", K, F, {x46}, [](const TL& t) { return nb::cumsum(t[0], 1); }},
      {"cumprod", K, F, {pos}, [](const TL& t) { return nb::cumprod(t[0], 1); }},
      {"layer_norm", K, F, {x46, {{6}}, {{6}}}, [](const TL& t) { return nb::layer_norm(t[0], {6}, t[1], t[2]); }},
      {"group_norm", K, F, {{{2, 4, 3}}, {{4}}, {{4}}},
       [](const TL& t) { return nb::group_norm(t[0], 2, t[1], t[2]); }},
      {"rms_norm", K, F, {x46}, [](const TL& t) { return nb::rms_norm(t[0], {6}); }},
      {"norm", K, F, {x46}, [](const TL& t) { return nb::norm(t[0], 2, {1}); }},
      {"cosine_similarity", K, F, {x46, x46}, [](const TL& t) { return nb::cosine_similarity(t[0], t[1]); }},
      {"pairwise_distance", K, F, {x46, x46}, [](const TL& t) { return nb::pairwise_distance(t[0], t[1]); }},
      {"interpolate_nearest", K, F, {{{1, 2, 3, 3}}},
       [](const TL& t) { return nb::interpolate(t[0], {5, 5}, nb::InterpolateMode::Nearest); }},
      {"interpolate_bilinear", K, F, {{{1, 2, 3, 3}}},
       [](const TL& t) { return nb::interpolate(t[0], {5, 5}, nb::InterpolateMode::Bilinear); }},
      {"gaussian_nll_loss", K, F, {x46, x46, pos}, [](const TL& t) { return nb::gaussian_nll_loss(t[0], t[1], t[2]); }},
      {"multilabel_soft_margin_loss", K, F, {x46},
       [](const TL& t) { return nb::multilabel_soft_margin_loss(t[0], (t[0] > 0.0).to(t[0].dtype()).detach()); }},
      // f32 on both
      {"prod", F, F, {pos}, [](const TL& t) { return nb::prod(t[0], {1}); }},
      {"cdist", F, F, {x46, {{5, 6}}}, [](const TL& t) { return nb::cdist(t[0], t[1]); }},
      {"local_response_norm", F, F, {{{2, 5, 3, 2}}}, [](const TL& t) { return nb::local_response_norm(t[0], 3); }},
      // 3-d: avg_pool2d on the CPU (no list), pow on CUDA
      {"local_response_norm_3d", K, F, {{{2, 5, 3}}}, [](const TL& t) { return nb::local_response_norm(t[0], 3); }},
      {"nll_loss", F, F, {x46}, [](const TL& t) { return nb::nll_loss(t[0], ints({0, 5, 2, 1}, {4}, t[0])); }},
      {"cross_entropy", F, F, {x46},
       [](const TL& t) { return nb::cross_entropy(t[0], ints({0, 5, 2, 1}, {4}, t[0])); }},
      {"mse_loss", F, F, {x46, x46}, [](const TL& t) { return nb::mse_loss(t[0], t[1]); }},
      {"l1_loss", F, F, {x46, x46}, [](const TL& t) { return nb::l1_loss(t[0], t[1]); }},
      {"smooth_l1_loss", F, F, {x46, x46}, [](const TL& t) { return nb::smooth_l1_loss(t[0], t[1]); }},
      {"huber_loss", F, F, {x46, x46}, [](const TL& t) { return nb::huber_loss(t[0], t[1]); }},
      {"kl_div", F, F, {x46, pos}, [](const TL& t) { return nb::kl_div(t[0], t[1]); }},
      {"binary_cross_entropy_with_logits", F, F, {x46, pos},
       [](const TL& t) { return nb::binary_cross_entropy_with_logits(t[0], t[1]); }},
      {"poisson_nll_loss", F, F, {x46, pos}, [](const TL& t) { return nb::poisson_nll_loss(t[0], t[1]); }},
      {"cosine_embedding_loss", F, F, {x46, x46},
       [](const TL& t) { return nb::cosine_embedding_loss(t[0], t[1], plus_minus_one({4}, t[0])); }},
      {"margin_ranking_loss", F, F, {x46, x46},
       [](const TL& t) { return nb::margin_ranking_loss(t[0], t[1], plus_minus_one({4, 6}, t[0])); }},
      {"hinge_embedding_loss", F, F, {x46},
       [](const TL& t) { return nb::hinge_embedding_loss(t[0], plus_minus_one({4, 6}, t[0])); }},
      {"soft_margin_loss", F, F, {x46},
       [](const TL& t) { return nb::soft_margin_loss(t[0], plus_minus_one({4, 6}, t[0])); }},
      {"multi_margin_loss", F, F, {x46},
       [](const TL& t) { return nb::multi_margin_loss(t[0], ints({0, 5, 2, 1}, {4}, t[0])); }},
      {"triplet_margin_loss", F, F, {x46, x46, x46},
       [](const TL& t) { return nb::triplet_margin_loss(t[0], t[1], t[2]); }},
      // f32 on the CPU only
      {"trace", F, K, {{{5, 5}}}, [](const TL& t) { return nb::trace(t[0]); }},
      {"pad_reflect", F, K, {{{1, 2, 4, 4}}},
       [](const TL& t) { return nb::pad(t[0], {1, 1, 2, 1}, nb::PadMode::Reflect); }},
      {"pad_replicate", F, K, {{{1, 2, 4, 4}}},
       [](const TL& t) { return nb::pad(t[0], {1, 1, 2, 1}, nb::PadMode::Replicate); }},
      // CUDA's promote list; on the CPU these are single kernels on no list
      {"bilinear", K, P, {{{4, 3}}, {{4, 5}}, {{2, 3, 5}}, {{2}}},
       [](const TL& t) { return nb::bilinear(t[0], t[1], t[2], t[3]); }},
      {"cross", K, P, {{{4, 3}}, {{4, 3}}}, [](const TL& t) { return nb::cross(t[0], t[1]); }},
      {"atan2", K, P, {x46, x46}, [](const TL& t) { return nb::atan2(t[0], t[1]); }},
      {"addcmul", K, P, {x46, x46, x46}, [](const TL& t) { return nb::addcmul(t[0], t[1], t[2], 0.5); }},
      {"addcdiv", K, P, {x46, x46, pos}, [](const TL& t) { return nb::addcdiv(t[0], t[1], t[2], 0.5); }},
      {"scatter_add", K, P, {x46, {{4, 2}}},
       [](const TL& t) { return nb::scatter_add(t[0], 1, ints({0, 5, 2, 2, 1, 0, 3, 3}, {4, 2}, t[0]), t[1]); }},
      // The CPU's promote list (cat, stack); CUDA's cat promotes natively
      {"cat", P, K, {x46, {{2, 6}}}, [](const TL& t) { return nb::cat({t[0], t[1]}); }},
      {"stack", P, K, {x46, x46}, [](const TL& t) { return nb::stack({t[0], t[1]}); }},
      // On no list: they run in their inputs' dtype (nabla's compositions must not leak a cast)
      {"constant_pad", K, K, {{{1, 2, 4, 4}}}, [](const TL& t) { return nb::pad(t[0], {1, 1, 2, 1}); }},
      {"circular_pad", K, K, {{{1, 2, 4, 4}}},
       [](const TL& t) { return nb::pad(t[0], {1, 1, 2, 1}, nb::PadMode::Circular); }},
      {"sigmoid", K, K, {x46}, [](const TL& t) { return nb::sigmoid(t[0]); }},
      {"tanh", K, K, {x46}, [](const TL& t) { return nb::tanh(t[0]); }},
      {"relu", K, K, {x46}, [](const TL& t) { return nb::relu(t[0]); }},
      {"gelu", K, K, {x46}, [](const TL& t) { return nb::gelu(t[0]); }},
      {"silu", K, K, {x46}, [](const TL& t) { return nb::silu(t[0]); }},
      {"mish", K, K, {x46}, [](const TL& t) { return nb::mish(t[0]); }},
      {"elu", K, K, {x46}, [](const TL& t) { return nb::elu(t[0]); }},
      {"selu", K, K, {x46}, [](const TL& t) { return nb::selu(t[0]); }},
      {"celu", K, K, {x46}, [](const TL& t) { return nb::celu(t[0]); }},
      {"logsigmoid", K, K, {x46}, [](const TL& t) { return nb::logsigmoid(t[0]); }},
      {"softsign", K, K, {x46}, [](const TL& t) { return nb::softsign(t[0]); }},
      {"tanhshrink", K, K, {x46}, [](const TL& t) { return nb::tanhshrink(t[0]); }},
      {"hardswish", K, K, {x46}, [](const TL& t) { return nb::hardswish(t[0]); }},
      {"glu", K, K, {x46}, [](const TL& t) { return nb::glu(t[0], 1); }},
      {"exp2", K, K, {x46}, [](const TL& t) { return nb::exp2(t[0]); }},
      {"sqrt", K, K, {pos}, [](const TL& t) { return nb::sqrt(t[0]); }},
      {"sin", K, K, {x46}, [](const TL& t) { return nb::sin(t[0]); }},
      {"erf", K, K, {x46}, [](const TL& t) { return nb::erf(t[0]); }},
      {"mean", K, K, {x46}, [](const TL& t) { return nb::mean(t[0], {1}); }},
      {"var", K, K, {x46}, [](const TL& t) { return nb::var(t[0], {1}); }},
      {"std", K, K, {x46}, [](const TL& t) { return nb::std(t[0], {1}); }},
      {"amax", K, K, {x46}, [](const TL& t) { return nb::max(t[0], {1}); }},
      {"logcumsumexp", K, K, {x46}, [](const TL& t) { return nb::logcumsumexp(t[0], 1); }},
      {"avg_pool2d", K, K, {{{1, 2, 4, 4}}}, [](const TL& t) { return nb::avg_pool2d(t[0]); }},
      {"max_pool2d", K, K, {{{1, 2, 4, 4}}}, [](const TL& t) { return nb::max_pool2d(t[0]); }},
      {"adaptive_avg_pool2d", K, K, {{{1, 2, 5, 5}}},
       [](const TL& t) { return nb::adaptive_avg_pool2d(t[0], {2, 2}); }},
      {"batch_norm", K, K, {{{4, 3, 2}}, {{3}}, {{3}}},
       [](const TL& t) { return nb::batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); }},
      {"instance_norm", K, K, {{{2, 3, 4}}}, [](const TL& t) { return nb::instance_norm(t[0]); }},
      {"kron", K, K, {{{2, 3}}, {{2, 2}}}, [](const TL& t) { return nb::kron(t[0], t[1]); }},
      {"outer", K, K, {{{4}}, {{3}}}, [](const TL& t) { return nb::outer(t[0], t[1]); }},
      {"lerp", K, K, {x46, x46}, [](const TL& t) { return nb::lerp(t[0], t[1], 0.3); }},
      {"leaky_relu", K, K, {x46}, [](const TL& t) { return nb::leaky_relu(t[0]); }},
      {"hardsigmoid", K, K, {x46}, [](const TL& t) { return nb::hardsigmoid(t[0]); }},
      {"global_avg_pool2d", K, K, {{{1, 2, 4, 4}}}, [](const TL& t) { return nb::global_avg_pool2d(t[0]); }},
      {"avg_pool1d", K, K, {{{1, 2, 6}}}, [](const TL& t) { return nb::avg_pool1d(t[0]); }},
      {"adaptive_avg_pool1d", K, K, {{{1, 2, 7}}}, [](const TL& t) { return nb::adaptive_avg_pool1d(t[0], 3); }},
      {"unfold", K, K, {{{1, 2, 4, 4}}}, [](const TL& t) { return nb::unfold(t[0], {2, 2}); }},
      {"embedding", K, K, {{{5, 3}}}, [](const TL& t) { return nb::embedding(t[0], ints({4, 0, 4, 2}, {4}, t[0])); }},
      {"embedding_bag", K, K, {{{5, 3}}},
       [](const TL& t) { return nb::embedding_bag(t[0], ints({4, 0, 4, 2, 1, 3}, {2, 3}, t[0])); }},
  };
  return c;
}

class AutocastLists : public ::testing::TestWithParam<std::tuple<ListCase, bool>> {
 protected:
  static fake_device::FakeDevice& fake() {
    static auto* f = new fake_device::FakeDevice();
    return *f;
  }
  void SetUp() override {
    if (std::get<1>(GetParam())) previous_ = nb::backend::register_device_backend(&fake(), nb::DeviceType::cuda);
  }
  void TearDown() override {
    if (std::get<1>(GetParam())) nb::backend::register_device_backend(previous_, nb::DeviceType::cuda);
  }
  nb::backend::Backend* previous_ = nullptr;
};

struct Outcome {
  Tensor out;
  nb::TensorList grads;
};

/// f on leaves of `values` in `dtypes`: under autocast (`region`) or on inputs cast by hand to `cast`.
Outcome run(const ListCase& c, const nb::TensorList& values, const std::vector<DType>& dtypes,
            std::optional<nb::AutocastOptions> region, const std::vector<DType>& cast) {
  nb::TensorList leaves, args;
  for (size_t i = 0; i < values.size(); ++i) {
    leaves.push_back(values[i].to(dtypes[i]).detach().requires_grad_(true));
    args.push_back(region ? leaves.back() : leaves.back().to(cast[i]));
  }
  Outcome o;
  {
    std::optional<AutocastGuard> ac;
    if (region) ac.emplace(*region);
    o.out = c.f(args);
  }
  o.out.to(DType::f32).sum().backward();
  for (const Tensor& l : leaves) o.grads.push_back(l.grad());
  return o;
}

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.defined(), want.defined()) << what;
  if (!got.defined()) return;
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_EQ(got.to_vector<double>(), want.to_vector<double>()) << what << " differs from the op on inputs cast by hand";
}

TEST_P(AutocastLists, DtypeValuesAndGradients) {
  const ListCase& c = std::get<0>(GetParam());
  const bool cuda = std::get<1>(GetParam());
  const nb::Device dev = cuda ? nb::Device::cuda(0) : nb::Device::cpu();
  const DType low = cuda ? DType::f16 : DType::bf16;
  const Want want = cuda ? c.cuda : c.cpu;
  nb::manual_seed(11);
  nb::TensorList values;
  for (const In& in : c.inputs) values.push_back((nb::rand(in.shape) * (in.hi - in.lo) + in.lo).to(dev));
  const size_t n = values.size();
  const nb::AutocastOptions region{.device_type = dev.type};

  if (want == Want::refuse) {
    const std::string msg = nabla_test::error_of([&] {
      AutocastGuard ac(region);
      (void)c.f(nb::TensorList(values.begin(), values.end()));
    });
    nabla_test::expect_contains(msg, {"[" + c.name + "]", "unsafe to autocast", "binary_cross_entropy_with_logits"});
    return;
  }
  // (input dtypes, dtypes a hand cast gives them, the output dtype autocast must give)
  std::vector<std::tuple<std::vector<DType>, std::vector<DType>, DType>> scenarios;
  const std::vector<DType> all_low(n, low), all_f32(n, DType::f32);
  switch (want) {
    case Want::lower: scenarios.push_back({all_f32, all_low, low}); break;
    case Want::fp32: scenarios.push_back({all_low, all_f32, DType::f32}); break;
    case Want::keep:
      scenarios.push_back({all_low, all_low, low});
      scenarios.push_back({all_f32, all_f32, DType::f32});
      break;
    case Want::promote: {
      std::vector<DType> mixed = all_f32;
      mixed[0] = low;
      scenarios.push_back({mixed, all_f32, DType::f32});
      scenarios.push_back({all_low, all_low, low});
      scenarios.push_back({all_f32, all_f32, DType::f32});
      break;
    }
    case Want::refuse: break;
  }
  for (const auto& [dtypes, cast, out_dtype] : scenarios) {
    const std::string what = c.name + (cuda ? " on cuda" : " on cpu") + " from " +
                             (dtypes[0] == DType::f32 ? "f32" : low == DType::f16 ? "f16" : "bf16") +
                             (dtypes.back() != dtypes[0] ? " and f32" : "");
    const Outcome got = run(c, values, dtypes, region, cast);
    const Outcome ref = run(c, values, dtypes, std::nullopt, cast);
    EXPECT_EQ(got.out.dtype(), out_dtype) << what;
    expect_same(got.out, ref.out, what + ": output");
    ASSERT_TRUE(got.grads[0].defined()) << what;
    for (size_t i = 0; i < n; ++i) {
      if (got.grads[i].defined()) {
        EXPECT_EQ(got.grads[i].dtype(), dtypes[i]) << what << ": gradient " << i;
      }
      expect_same(got.grads[i], ref.grads[i], what + ": gradient " + std::to_string(i));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, AutocastLists, ::testing::Combine(::testing::ValuesIn(list_cases()), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + (std::get<1>(info.param) ? "_cuda" : "_cpu");
                         });

// PyTorch's CUDA autocast refuses binary_cross_entropy (and so nn::BCELoss) with its advice; the
// CPU's runs it in f32. Outside a region, or with CUDA's autocast off, it runs as usual.
TEST(AutocastBinaryCrossEntropy, RefusedOnCudaF32OnCpu) {
  fake_device::FakeDevice fake;
  nb::backend::Backend* previous = nb::backend::register_device_backend(&fake, nb::DeviceType::cuda);
  {
    nb::manual_seed(12);
    Tensor p = nb::rand({4, 3}) * 0.8 + 0.1, t = nb::rand({4, 3});
    Tensor pc = p.to(DType::f16).to(nb::Device::cuda(0)), tc = t.to(DType::f16).to(nb::Device::cuda(0));
    {
      AutocastGuard ac({.device_type = nb::DeviceType::cuda});
      const std::string msg = nabla_test::error_of([&] { (void)nb::binary_cross_entropy(pc, tc); });
      nabla_test::expect_contains(msg, {"[binary_cross_entropy]", "unsafe to autocast on cuda", "sigmoid",
                                        "binary_cross_entropy_with_logits", "nn::BCEWithLogitsLoss"});
      nabla_test::expect_contains(nabla_test::error_of([&] { (void)nb::nn::BCELoss()(pc, tc); }),
                                  {"unsafe to autocast on cuda"});
      // The CPU's autocast is off here: CPU tensors are not refused.
      EXPECT_EQ(nb::binary_cross_entropy(p, t).dtype(), DType::f32);
      AutocastGuard off({.device_type = nb::DeviceType::cuda, .enabled = false});
      EXPECT_EQ(nb::binary_cross_entropy(pc, tc).dtype(), DType::f16);
    }
    Tensor pb = p.to(DType::bf16), tb = t.to(DType::bf16);
    AutocastGuard ac;  // CPU
    Tensor loss = nb::binary_cross_entropy(pb, tb);
    EXPECT_EQ(loss.dtype(), DType::f32);
    EXPECT_EQ(loss.item(), nb::binary_cross_entropy(pb.to(DType::f32), tb.to(DType::f32)).item());
  }
  nb::backend::register_device_backend(previous, nb::DeviceType::cuda);
}

}  // namespace
