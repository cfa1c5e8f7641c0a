// Statistical tests of nn::init: each initializer's sample mean and variance lie within
// 5 standard errors of its stated formula (seeded, so the draws are fixed), bounds hold,
// orthogonal_ is orthogonal; and each layer's default init matches PyTorch's.
#include <algorithm>
#include <numbers>
#include <optional>
#include <iostream>
#include <sstream>

#include "helpers.h"

using namespace nabla;
using nn_test::moments;
namespace init = nabla::nn::init;

namespace {

constexpr double kZ = 5.0;  // tolerance in standard errors

/// Checks mean and variance of `t` against a distribution with `mean`, `var` and fourth
/// central moment `mu4` (3 var^2 for a normal, 9/5 var^2 for a uniform).
void expect_moments(const Tensor& t, double mean, double var, double mu4, const std::string& what) {
  auto m = moments(t);
  double n = double(m.n);
  double se_mean = std::sqrt(var / n), se_var = std::sqrt((mu4 - var * var) / n);
  EXPECT_NEAR(m.mean, mean, kZ * se_mean) << what;
  EXPECT_NEAR(m.var, var, kZ * se_var) << what << " (relative error " << (m.var / var - 1) << ")";
}
void expect_normal(const Tensor& t, double mean, double std, const std::string& what) {
  double v = std * std;
  expect_moments(t, mean, v, 3 * v * v, what);
}
void expect_uniform(const Tensor& t, double lo, double hi, const std::string& what) {
  double v = (hi - lo) * (hi - lo) / 12;
  expect_moments(t, (lo + hi) / 2, v, 9.0 / 5.0 * v * v, what);
  auto m = moments(t);
  EXPECT_GE(m.min, lo) << what;
  EXPECT_LT(m.max, hi) << what;
  // The range is filled: the extremes are within 0.1% of the bounds for 100k+ samples.
  EXPECT_LT(m.min, lo + 1e-3 * (hi - lo)) << what;
  EXPECT_GT(m.max, hi - 1e-3 * (hi - lo)) << what;
}

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); }
double Phi(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

TEST(Init, CalculateGain) {
  using NL = init::Nonlinearity;
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::Linear), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::Conv2d), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::Sigmoid), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::LeakyReLU), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::LeakyReLU, 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain(NL::SELU), 0.75);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_ERROR(init::calculate_gain("swish"), "unknown nonlinearity 'swish'");
}

TEST(Init, FanInFanOut) {
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({30, 20})), (std::pair<int64_t, int64_t>{20, 30}));
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({16, 8, 3, 5})), (std::pair<int64_t, int64_t>{120, 240}));
  EXPECT_ERROR(init::calculate_fan_in_and_fan_out(empty({7})), "at least 2 dims", "[7]");
  Tensor v = empty({7});
  EXPECT_ERROR(init::xavier_uniform_(v), "at least 2 dims");
  Tensor i = zeros({3, 3}, {.dtype = kI64});
  EXPECT_ERROR(init::normal_(i), "floating", "i64");
}

TEST(Init, ConstantZerosOnes) {
  Tensor t = empty({4, 5}, {.requires_grad = true});
  init::constant_(t, 2.5);
  for (double v : t.to_double_vector()) EXPECT_EQ(v, 2.5);
  init::zeros_(t);
  for (double v : t.to_double_vector()) EXPECT_EQ(v, 0.0);
  init::ones_(t);
  for (double v : t.to_double_vector()) EXPECT_EQ(v, 1.0);
  EXPECT_TRUE(t.requires_grad());
  EXPECT_TRUE(t.is_leaf());  // no history recorded
}

TEST(Init, UniformAndNormal) {
  manual_seed(11);
  Tensor t = empty({400, 500});
  init::uniform_(t, -2.0, 3.0);
  expect_uniform(t, -2.0, 3.0, "uniform_(-2, 3)");
  init::normal_(t, 1.0, 2.0);
  expect_normal(t, 1.0, 2.0, "normal_(1, 2)");
  Tensor d = empty({400, 500}, {.dtype = kF64});
  init::normal_(d, -0.5, 0.1);
  expect_normal(d, -0.5, 0.1, "normal_ f64");
}

TEST(Init, TruncNormalMatchesTruncatedMoments) {
  manual_seed(12);
  const double mu = 0.5, sd = 1.0, a = -1.0, b = 1.5;
  Tensor t = empty({400, 500});
  init::trunc_normal_(t, mu, sd, a, b);
  auto m = moments(t);
  EXPECT_GE(m.min, a);
  EXPECT_LE(m.max, b);
  // Moments of N(mu, sd^2) truncated to [a, b].
  double al = (a - mu) / sd, be = (b - mu) / sd, Z = Phi(be) - Phi(al);
  double mean = mu + sd * (phi(al) - phi(be)) / Z;
  double var = sd * sd * (1 + (al * phi(al) - be * phi(be)) / Z - std::pow((phi(al) - phi(be)) / Z, 2));
  double n = double(m.n);
  EXPECT_NEAR(m.mean, mean, kZ * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, 0.01 * var);
  // The default, N(0, 1) cut at +-2: variance 0.7737.
  init::trunc_normal_(t);
  EXPECT_NEAR(moments(t).var, 0.773741, 0.01);
  EXPECT_NEAR(moments(t).mean, 0.0, 0.01);
}

TEST(Init, XavierVarianceIsTwoOverFanInPlusFanOut) {
  manual_seed(13);
  Tensor w = empty({256, 512});  // fan_in 512, fan_out 256
  init::xavier_normal_(w);
  expect_normal(w, 0, std::sqrt(2.0 / (512 + 256)), "xavier_normal_");
  init::xavier_normal_(w, 5.0 / 3.0);
  expect_normal(w, 0, 5.0 / 3.0 * std::sqrt(2.0 / 768), "xavier_normal_ gain 5/3");
  init::xavier_uniform_(w);
  double bound = std::sqrt(6.0 / 768);
  expect_uniform(w, -bound, bound, "xavier_uniform_");
  EXPECT_NEAR(moments(w).var, 2.0 / 768, 0.02 * 2.0 / 768);  // same variance as xavier_normal_
  Tensor c = empty({64, 32, 3, 3});  // fan_in 288, fan_out 576
  init::xavier_uniform_(c, 2.0);
  bound = 2.0 * std::sqrt(6.0 / (288 + 576));
  expect_uniform(c, -bound, bound, "xavier_uniform_ conv gain 2");
}

TEST(Init, KaimingVarianceIsGainSquaredOverFan) {
  manual_seed(14);
  using init::FanMode;
  using NL = init::Nonlinearity;
  Tensor w = empty({300, 600});  // fan_in 600, fan_out 300
  init::kaiming_normal_(w, 0.0, FanMode::FanIn, NL::ReLU);
  expect_normal(w, 0, std::sqrt(2.0 / 600), "kaiming_normal_ relu fan_in");
  init::kaiming_normal_(w, 0.0, FanMode::FanOut, NL::ReLU);
  expect_normal(w, 0, std::sqrt(2.0 / 300), "kaiming_normal_ relu fan_out");
  init::kaiming_uniform_(w, 0.0, FanMode::FanIn, NL::ReLU);
  double bound = std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(600.0);
  expect_uniform(w, -bound, bound, "kaiming_uniform_ relu");
  // PyTorch's Linear/Conv default: leaky_relu with a = sqrt(5) -> bound 1/sqrt(fan_in).
  init::kaiming_uniform_(w, std::sqrt(5.0));
  expect_uniform(w, -1 / std::sqrt(600.0), 1 / std::sqrt(600.0), "kaiming_uniform_ a=sqrt(5)");
  Tensor c = empty({32, 16, 5, 5});  // fan_in 400, fan_out 800
  init::kaiming_normal_(c, 0.0, FanMode::FanOut, NL::Tanh);
  expect_normal(c, 0, 5.0 / 3.0 / std::sqrt(800.0), "kaiming_normal_ tanh fan_out");
}

TEST(Init, LecunNormalVarianceIsOneOverFanIn) {
  manual_seed(15);
  Tensor w = empty({300, 700});
  init::lecun_normal_(w);
  expect_normal(w, 0, std::sqrt(1.0 / 700), "lecun_normal_");
}

TEST(Init, OrthogonalIsOrthogonal) {
  manual_seed(16);
  auto gram_error = [](const Tensor& w, double gain) {
    // Rows orthonormal (times gain) when rows <= cols, else columns.
    Tensor m = w.to(kF64).reshape({w.size(0), -1});
    Tensor g = m.size(0) <= m.size(1) ? matmul(m, m.t()) : matmul(m.t(), m);
    Tensor target = eye(g.size(0), {.dtype = kF64}) * (gain * gain);
    return max(abs(g - target)).item<double>();
  };
  for (Shape s : {Shape{64, 64}, Shape{40, 100}, Shape{100, 40}, Shape{16, 8, 3, 3}, Shape{1, 10}}) {
    Tensor w = empty(s);
    init::orthogonal_(w);
    EXPECT_LT(gram_error(w, 1.0), 2e-6) << shape_str(s);
    init::orthogonal_(w, 1.5);
    EXPECT_LT(gram_error(w, 1.5), 5e-6) << shape_str(s);
  }
  Tensor d = empty({128, 128}, {.dtype = kF64});
  init::orthogonal_(d);
  EXPECT_LT(gram_error(d, 1.0), 1e-12);
  // Haar-distributed: each entry of a random n x n orthogonal matrix has mean 0, variance 1/n.
  expect_moments(d, 0.0, 1.0 / 128, 3.0 / (128.0 * 128.0), "orthogonal_ entries");
  // Two draws differ; the same seed repeats.
  Tensor a = empty({8, 8}), b = empty({8, 8});
  manual_seed(3);
  init::orthogonal_(a);
  init::orthogonal_(b);
  EXPECT_FALSE(nn_test::bitwise_equal(a, b));
  manual_seed(3);
  init::orthogonal_(b);
  EXPECT_TRUE(nn_test::bitwise_equal(a, b));
  Tensor v = empty({5});
  EXPECT_ERROR(init::orthogonal_(v), "2 or more dims");
}

// ---- every layer's default init is PyTorch's --------------------------------------------------

TEST(Init, LayerDefaultsMatchPyTorch) {
  manual_seed(17);
  nn::Linear lin(600, 300);
  double b = 1 / std::sqrt(600.0);
  expect_uniform(lin.weight, -b, b, "Linear weight");
  EXPECT_LE(moments(lin.bias).max, b);
  EXPECT_GE(moments(lin.bias).min, -b);

  nn::Conv2d conv(nn::Conv2dOptions(32, 64, 5).groups(2));  // fan_in = 16 * 25 = 400
  b = 1 / std::sqrt(400.0);
  expect_uniform(conv.weight, -b, b, "Conv2d weight");
  EXPECT_LE(moments(conv.bias).max, b);
  EXPECT_GE(moments(conv.bias).min, -b);

  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(64, 32, 4));  // weight [64, 32, 4, 4]: fan_in 512
  EXPECT_EQ(convt.weight.shape(), (Shape{64, 32, 4, 4}));
  b = 1 / std::sqrt(512.0);
  expect_uniform(convt.weight, -b, b, "ConvTranspose2d weight");
  EXPECT_LE(moments(convt.bias).max, b);

  nn::Embedding emb(nn::EmbeddingOptions(1000, 200).padding_idx(-1));
  EXPECT_EQ(*emb.options.padding_idx(), 999);
  Tensor rows = emb.weight.slice(0, 0, 999);
  expect_normal(rows, 0, 1, "Embedding weight");
  for (double v : emb.weight.select(0, 999).to_double_vector()) EXPECT_EQ(v, 0.0);

  nn::BatchNorm2d bn(8);
  for (double v : bn.weight.to_double_vector()) EXPECT_EQ(v, 1.0);
  for (double v : bn.bias.to_double_vector()) EXPECT_EQ(v, 0.0);
  for (double v : bn.running_mean.to_double_vector()) EXPECT_EQ(v, 0.0);
  for (double v : bn.running_var.to_double_vector()) EXPECT_EQ(v, 1.0);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kI64);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);
  nn::LayerNorm ln(Shape{4, 5});
  for (double v : ln.weight.to_double_vector()) EXPECT_EQ(v, 1.0);
  for (double v : ln.bias.to_double_vector()) EXPECT_EQ(v, 0.0);
}

// ---- the lecture's claim -----------------------------------------------------------------------

namespace {

enum class Act { Tanh, ReLU };

struct DeepMlpStats {
  std::vector<double> grad_norms;  ///< ||dL/dW_l||, l = 1..depth
  std::vector<double> act_vars;    ///< variance of each layer's activations
};

/// A `depth`-layer MLP of width `width` (no biases) with weights drawn by `init_w`, run in f64
/// on a batch of N(0, 1) inputs with an MSE loss to N(0, 1) targets.
template <typename Init>
DeepMlpStats deep_mlp(Act act, Init init_w, uint64_t seed = 2024, bool backward = true, int depth = 20,
                      int64_t width = 256, int64_t batch = 64) {
  manual_seed(seed);
  nn::Sequential net;
  std::vector<std::shared_ptr<nn::Linear>> layers;
  for (int l = 0; l < depth; ++l) {
    auto lin = std::make_shared<nn::Linear>(nn::LinearOptions(width, width).bias(false));
    init_w(lin->weight);
    layers.push_back(lin);
    net.push_back(lin);
    if (act == Act::Tanh) net.push_back(nn::Tanh());
    else net.push_back(nn::ReLU());
  }
  net.to(kF64);
  Tensor x = randn({batch, width}, {.dtype = kF64});
  Tensor target = randn({batch, width}, {.dtype = kF64});
  DeepMlpStats s;
  std::optional<NoGradGuard> no_grad;
  if (!backward) no_grad.emplace();
  Tensor h = x;
  for (const auto& m : net) {
    h = (*m)(h);
    if (m->as<nn::Linear>() == nullptr) s.act_vars.push_back(var(h, {}, false, 0).item<double>());
  }
  if (!backward) return s;
  mse_loss(h, target).backward();
  for (const auto& l : layers) s.grad_norms.push_back(std::sqrt(sum(square(l->weight.grad())).item<double>()));
  return s;
}

double spread(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end()) / *std::min_element(v.begin(), v.end());
}

}  // namespace

TEST(InitLecture, TanhGradientsExplodeWithStandardNormalButNotWithXavier) {
  auto normal = deep_mlp(Act::Tanh, [](Tensor& w) { init::normal_(w, 0.0, 1.0); });
  auto xavier = deep_mlp(Act::Tanh, [](Tensor& w) { init::xavier_normal_(w); });
  double normal_ratio = normal.grad_norms.front() / normal.grad_norms.back();
  double xavier_spread = spread(xavier.grad_norms);
  std::ostringstream report;
  report << "first/last layer gradient norm: N(0,1) " << normal_ratio << ", Xavier "
         << xavier.grad_norms.front() / xavier.grad_norms.back() << "; Xavier max/min over layers " << xavier_spread;
  RecordProperty("tanh_grad_ratio_normal", std::to_string(normal_ratio));
  RecordProperty("tanh_grad_spread_xavier", std::to_string(xavier_spread));
  std::cout << "[tanh, 20 layers, width 256] " << report.str() << "\n";
  // N(0, 1): pre-activations of std ~16 saturate tanh; each layer back multiplies the gradient
  // by ~sqrt(256 E[tanh'(z)^2]) ~ 3, so it grows by many orders of magnitude toward the input.
  EXPECT_GT(normal_ratio, 1e6) << report.str();
  EXPECT_GT(spread(normal.grad_norms), 1e6) << report.str();
  // Xavier: every layer's gradient norm within a factor of 10 of every other's.
  EXPECT_LT(xavier_spread, 10.0) << report.str();
}

TEST(InitLecture, ReluActivationVarianceStableWithHeInit) {
  using NL = init::Nonlinearity;
  // He: averaged over 4 networks, since a single width-256 network's variance wanders by
  // ~10% per layer (a random walk in log-variance); the trend is what the claim is about.
  DeepMlpStats he;
  const int nets = 4;
  for (int s = 0; s < nets; ++s) {
    auto one = deep_mlp(
        Act::ReLU, [](Tensor& w) { init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, NL::ReLU); }, 10 + s, false);
    if (he.act_vars.empty()) he.act_vars.assign(one.act_vars.size(), 0.0);
    for (size_t l = 0; l < one.act_vars.size(); ++l) he.act_vars[l] += one.act_vars[l] / nets;
  }
  auto xavier = deep_mlp(Act::ReLU, [](Tensor& w) { init::xavier_normal_(w); }, 2024, false);
  auto normal = deep_mlp(Act::ReLU, [](Tensor& w) { init::normal_(w, 0.0, 1.0); }, 2024, false);
  double he_ratio = he.act_vars.back() / he.act_vars.front();
  double xavier_ratio = xavier.act_vars.back() / xavier.act_vars.front();
  double normal_ratio = normal.act_vars.back() / normal.act_vars.front();
  std::ostringstream report;
  report << "last/first activation variance: He " << he_ratio << " (max/min " << spread(he.act_vars) << "), Xavier "
         << xavier_ratio << ", N(0,1) " << normal_ratio;
  std::cout << "[ReLU, 20 layers, width 256] " << report.str() << "\n";
  // He: var(z) = n * (2/n) * E[h^2] and ReLU halves it back, so the variance is preserved.
  EXPECT_LT(spread(he.act_vars), 2.0) << report.str();
  EXPECT_GT(he_ratio, 0.5) << report.str();
  EXPECT_LT(he_ratio, 2.0) << report.str();
  // Xavier (1/n for a square layer) loses a factor ~2 per ReLU layer: 2^-19 over 20 layers.
  EXPECT_LT(xavier_ratio, 1e-4) << report.str();
  // N(0, 1) gains a factor ~n/2 = 128 per layer.
  EXPECT_GT(normal_ratio, 1e30) << report.str();
}
