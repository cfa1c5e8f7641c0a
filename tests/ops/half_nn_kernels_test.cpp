// 16-bit convolution, pooling and normalization on the CPU beyond the op table's small rows:
// a ResNet-like conv2d, overlapping pooling windows whose gradients add up in one cell, and
// PyTorch's mixed precision (a 16-bit input with f32 weight, bias and running statistics, as
// autocast leaves BatchNorm). Each is compared with f32 from the same rounded inputs: where the
// 16-bit kernel is the f32 one on widened operands, or sums in the same order, the result must be
// the f32 result rounded once, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>

#include "../../src/backend/cpu/conv_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;
using nb::TensorList;

Tensor randn_in(const nb::Shape& shape, DType dt, uint64_t seed, double scale = 1, double shift = 0) {
  nb::manual_seed(seed);
  return (nb::randn(shape) * scale + shift).to(dt);
}

/// A fresh leaf copy of t that requires grad.
Tensor leaf(const Tensor& t, DType dt) { return t.detach().to(dt).requires_grad_(true); }

void expect_bits_equal(const Tensor& got, const Tensor& want_f32, DType dt, const std::string& what) {
  ASSERT_EQ(got.dtype(), dt) << what;
  const std::vector<double> g = got.to_vector<double>(), w = want_f32.to(dt).to_vector<double>();
  ASSERT_EQ(g.size(), w.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i]))) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", the f32 result rounded is " << w[i];
  EXPECT_EQ(bad, 0) << what;
}

/// |got - want| <= rel * (|want| + max |want|): a few roundings of the output's scale. Prints
/// the largest |got - want| / max |want|, the figure the bound is about.
void expect_close(const Tensor& got, const Tensor& want, double rel, const std::string& what, DType dt) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  ASSERT_EQ(g.size(), w.size()) << what;
  double scale = 0, worst = 0;
  for (double v : w) scale = std::max(scale, std::abs(v));
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    worst = std::max(worst, std::abs(g[i] - w[i]) / std::max(scale, 1e-300));
    if (!(std::abs(g[i] - w[i]) <= rel * (std::abs(w[i]) + scale)) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", want " << w[i];
  }
  EXPECT_EQ(bad, 0) << what;
  std::printf("[half_nn] %s, %s input: largest |diff| / max |f32| %.3g\n", what.c_str(), nb::dtype_name(dt), worst);
}

class HalfNn : public ::testing::TestWithParam<DType> {};

/// The widened 16-bit convolution path for the scope (where oneDNN has native 16-bit kernels they
/// sum in their own order, within the bound that half_conv_native_test.cpp checks, not bit for bit).
struct WidenedConvPath {
  bool saved = nb::backend::cpu::half_conv_native();
  WidenedConvPath() { nb::backend::cpu::set_half_conv_native(false); }
  ~WidenedConvPath() { nb::backend::cpu::set_half_conv_native(saved); }
};

// ResNet's 3x3 stage-2 convolution (64 -> 64 channels, 28x28, padding 1) and a strided 1x1
// downsample: forward and input gradient on the widened path are the f32 kernels' results rounded
// once. The widened path converts a chunk of samples at a time (here one sample: 600 KB of f32
// copies each), and sums the weight gradient over chunks in f32: a different order of f32
// additions than the f32 kernel's over the whole batch, so the weight gradient is checked against
// the bound of two f32 sums of K = N*Ho*Wo terms and one rounding, u16*|f32| + (1 + u16)*2*K*u32*S
// with S = sum |x||gout| (computed in f64), and bit for bit when the whole batch is one chunk.
void expect_within_f32_sum_bound(const Tensor& got, const Tensor& want_f32, const Tensor& abs_sum, double terms,
                                 DType dt, const std::string& what) {
  const std::vector<double> g = got.to_vector<double>(), w = want_f32.to_vector<double>(), s = abs_sum.to_vector<double>();
  ASSERT_EQ(g.size(), w.size()) << what;
  const double u16 = dt == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11), u32 = std::ldexp(1.0, -24);
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double bound = u16 * std::abs(w[i]) + (1 + u16) * 2 * terms * u32 * s[i];
    if (!(std::abs(g[i] - w[i]) <= bound) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", f32 " << w[i] << ", bound " << bound;
  }
  EXPECT_EQ(bad, 0) << what;
}

TEST_P(HalfNn, ResNetConv2dIsF32RoundedOnce) {
  const DType dt = GetParam();
  WidenedConvPath widened;
  struct Case {
    int64_t cin, cout, hw, k, stride, pad;
  };
  for (const Case& c : {Case{64, 64, 28, 3, 1, 1}, Case{64, 128, 28, 1, 2, 0}}) {
    SCOPED_TRACE("kernel " + std::to_string(c.k));
    const Tensor x0 = randn_in({4, c.cin, c.hw, c.hw}, dt, 1), w0 = randn_in({c.cout, c.cin, c.k, c.k}, dt, 2, 0.05);
    const nb::Conv2dOptions o{.stride = {c.stride, c.stride}, .padding = {c.pad, c.pad}};
    Tensor xh = leaf(x0, dt), wh = leaf(w0, dt), xf = leaf(x0, DType::f32), wf = leaf(w0, DType::f32);
    const Tensor yh = nb::conv2d(xh, wh, Tensor(), o), yf = nb::conv2d(xf, wf, Tensor(), o);
    expect_bits_equal(yh, yf, dt, "forward");
    const Tensor go = randn_in(yf.shape(), dt, 3);
    const TensorList gh = nb::grad({yh}, {xh, wh}, {go}), gf = nb::grad({yf}, {xf, wf}, {go.to(DType::f32)});
    expect_bits_equal(gh[0], gf[0], dt, "input gradient");
    const Tensor s = nb::conv2d_weight_grad(nb::abs(x0.to(DType::f64)), nb::abs(go.to(DType::f64)), {c.k, c.k}, o);
    expect_within_f32_sum_bound(gh[1], gf[1], s, double(yf.size(0) * yf.size(2) * yf.size(3)), dt, "weight gradient");
    {  // the whole batch in one chunk: the f32 kernel's sum, rounded once
      const int64_t saved = nb::backend::cpu::half_conv_widen_bytes();
      nb::backend::cpu::set_half_conv_widen_bytes(int64_t(64) << 20);
      Tensor xh1 = leaf(x0, dt), wh1 = leaf(w0, dt);
      const TensorList g1 = nb::grad({nb::conv2d(xh1, wh1, Tensor(), o)}, {wh1}, {go});
      nb::backend::cpu::set_half_conv_widen_bytes(saved);
      expect_bits_equal(g1[0], gf[1], dt, "weight gradient, one chunk");
    }
  }
}

TEST_P(HalfNn, ConvBiasAndReluMatchF32) {
  const DType dt = GetParam();
  WidenedConvPath widened;
  const Tensor x0 = randn_in({2, 8, 9, 9}, dt, 4), w0 = randn_in({6, 8, 3, 3}, dt, 5, 0.2), b0 = randn_in({6}, dt, 6);
  const nb::Conv2dOptions o{.padding = {1, 1}, .fuse_relu = true};
  Tensor xh = leaf(x0, dt), wh = leaf(w0, dt), bh = leaf(b0, dt);
  Tensor xf = leaf(x0, DType::f32), wf = leaf(w0, DType::f32), bf = leaf(b0, DType::f32);
  const Tensor yh = nb::conv2d(xh, wh, bh, o), yf = nb::conv2d(xf, wf, bf, o);
  expect_bits_equal(yh, yf, dt, "conv2d + bias + relu");
  const TensorList gh = nb::grad({yh}, {bh}, {nb::ones_like(yh)}), gf = nb::grad({yf}, {bf}, {nb::ones_like(yf)});
  EXPECT_EQ(gh[0].dtype(), dt);
  expect_close(gh[0], gf[0], std::ldexp(1.0, -7), "bias gradient", dt);
}

// Overlapping windows (3x3, stride 1 or 2) send several gradient terms to one input cell; they
// add up in float and the cell is rounded once, as the f32 sums rounded.
TEST_P(HalfNn, PoolingGradientsSumInFloat) {
  const DType dt = GetParam();
  const Tensor x0 = randn_in({2, 3, 11, 13}, dt, 7);
  const nb::Pool2dOptions avg{.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}};
  const nb::Pool2dOptions mx{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
  const std::pair<const char*, std::function<Tensor(const Tensor&)>> pools[] = {
      {"avg_pool2d", [&](const Tensor& t) { return nb::avg_pool2d(t, avg); }},
      {"max_pool2d", [&](const Tensor& t) { return nb::max_pool2d(t, mx); }},
      {"adaptive_avg_pool2d",
       [](const Tensor& t) {
         return nb::adaptive_avg_pool2d(t, {4, 5});
       }},
  };
  for (const auto& [name, pool] : pools) {
    SCOPED_TRACE(name);
    Tensor xh = leaf(x0, dt), xf = leaf(x0, DType::f32);
    const Tensor yh = pool(xh), yf = pool(xf);
    expect_bits_equal(yh, yf, dt, "forward");
    const Tensor go = randn_in(yf.shape(), dt, 8);
    expect_bits_equal(nb::grad({yh}, {xh}, {go})[0], nb::grad({yf}, {xf}, {go.to(DType::f32)})[0], dt, "gradient");
  }
}

// Autocast's BatchNorm: 16-bit activations, f32 weight, bias and running statistics. The output
// is in the input's dtype, the statistics come from the same values as f32's (so the running
// averages, updated in f32, and the parameter gradients, f32 sums of the same terms, are f32's
// exactly), and the input gradient is f32's within a rounding.
TEST_P(HalfNn, BatchNormMixedF32ParametersTrain) {
  const DType dt = GetParam();
  const Tensor x0 = randn_in({8, 6, 5, 5}, dt, 9, 3, 2);
  const Tensor w0 = randn_in({6}, DType::f32, 10, 0.5, 1), b0 = randn_in({6}, DType::f32, 11);
  Tensor rm_h = randn_in({6}, DType::f32, 12), rv_h = nb::ones({6}) * 2.0;
  Tensor rm_f = rm_h.clone(), rv_f = rv_h.clone();
  Tensor xh = leaf(x0, dt), xf = leaf(x0, DType::f32);
  Tensor wh = leaf(w0, DType::f32), bh = leaf(b0, DType::f32), wf = leaf(w0, DType::f32), bf = leaf(b0, DType::f32);
  const Tensor yh = nb::batch_norm(xh, rm_h, rv_h, wh, bh, true), yf = nb::batch_norm(xf, rm_f, rv_f, wf, bf, true);
  EXPECT_EQ(rm_h.dtype(), DType::f32);
  EXPECT_EQ(rm_h.to_vector<double>(), rm_f.to_vector<double>());
  EXPECT_EQ(rv_h.to_vector<double>(), rv_f.to_vector<double>());
  expect_bits_equal(yh, yf, dt, "output");
  const Tensor go = randn_in(yf.shape(), dt, 13);
  const TensorList gh = nb::grad({yh}, {xh, wh, bh}, {go}), gf = nb::grad({yf}, {xf, wf, bf}, {go.to(DType::f32)});
  EXPECT_EQ(gh[0].dtype(), dt);
  EXPECT_EQ(gh[1].dtype(), DType::f32);
  EXPECT_EQ(gh[2].dtype(), DType::f32);
  expect_close(gh[0], gf[0], std::ldexp(1.0, dt == DType::bf16 ? -7 : -10), "input gradient", dt);
  EXPECT_EQ(gh[1].to_vector<double>(), gf[1].to_vector<double>()) << "weight gradient";
  EXPECT_EQ(gh[2].to_vector<double>(), gf[2].to_vector<double>()) << "bias gradient";
}

TEST_P(HalfNn, BatchNormMixedF32ParametersEval) {
  const DType dt = GetParam();
  const Tensor x0 = randn_in({4, 3, 6}, dt, 14, 2, 1);
  const Tensor w = randn_in({3}, DType::f32, 15), b = randn_in({3}, DType::f32, 16);
  const Tensor rm = randn_in({3}, DType::f32, 17), rv = nb::ones({3}) * 1.5;
  const Tensor yh = nb::batch_norm(x0, rm, rv, w, b, false),
               yf = nb::batch_norm(x0.to(DType::f32), rm, rv, w, b, false);
  expect_bits_equal(yh, yf, dt, "evaluation output");  // f32 throughout, then one rounding
}

// All-16-bit BatchNorm keeps its running statistics in their dtype (updated in float, rounded).
TEST_P(HalfNn, BatchNormSixteenBitRunningStatistics) {
  const DType dt = GetParam();
  const Tensor x0 = randn_in({5, 4, 7}, dt, 18, 1.5, -1);
  Tensor rm = nb::zeros({4}, {.dtype = dt}), rv = nb::ones({4}, {.dtype = dt});
  Tensor rm_f = nb::zeros({4}), rv_f = nb::ones({4});
  const Tensor w = randn_in({4}, dt, 19), b = randn_in({4}, dt, 20);
  const Tensor yh = nb::batch_norm(x0, rm, rv, w, b, true);
  const Tensor yf = nb::batch_norm(x0.to(DType::f32), rm_f, rv_f, w.to(DType::f32), b.to(DType::f32), true);
  EXPECT_EQ(rm.dtype(), dt);
  expect_bits_equal(rm, rm_f, dt, "running_mean");
  expect_bits_equal(rv, rv_f, dt, "running_var");
  expect_bits_equal(yh, yf, dt, "output");
}

// LayerNorm and GroupNorm with f32 affine parameters: output in the input's dtype, parameter
// gradients in f32.
TEST_P(HalfNn, LayerAndGroupNormMixedF32Parameters) {
  const DType dt = GetParam();
  const Tensor x0 = randn_in({4, 6, 16}, dt, 21, 2, 3);
  const Tensor w0 = randn_in({16}, DType::f32, 22), b0 = randn_in({16}, DType::f32, 23);
  Tensor xh = leaf(x0, dt), xf = leaf(x0, DType::f32), wh = leaf(w0, DType::f32), wf = leaf(w0, DType::f32);
  Tensor bh = leaf(b0, DType::f32), bf = leaf(b0, DType::f32);
  const Tensor yh = nb::layer_norm(xh, {16}, wh, bh), yf = nb::layer_norm(xf, {16}, wf, bf);
  expect_bits_equal(yh, yf, dt, "layer_norm output");
  const Tensor go = randn_in(yf.shape(), dt, 24);
  TensorList gh = nb::grad({yh}, {xh, wh, bh}, {go}), gf = nb::grad({yf}, {xf, wf, bf}, {go.to(DType::f32)});
  EXPECT_EQ(gh[0].dtype(), dt);
  EXPECT_EQ(gh[1].dtype(), DType::f32);
  EXPECT_EQ(gh[2].dtype(), DType::f32);
  const double rel = std::ldexp(1.0, dt == DType::bf16 ? -7 : -10);
  for (size_t i = 0; i < 3; ++i) expect_close(gh[i], gf[i], rel, "layer_norm gradient " + std::to_string(i), dt);

  const Tensor gw0 = randn_in({6}, DType::f32, 25), gb0 = randn_in({6}, DType::f32, 26);
  Tensor gwh = leaf(gw0, DType::f32), gwf = leaf(gw0, DType::f32), gbh = leaf(gb0, DType::f32),
         gbf = leaf(gb0, DType::f32);
  const Tensor zh = nb::group_norm(xh, 3, gwh, gbh), zf = nb::group_norm(xf, 3, gwf, gbf);
  EXPECT_EQ(zh.dtype(), dt);
  expect_close(zh, zf, rel, "group_norm output", dt);
  gh = nb::grad({zh}, {xh, gwh, gbh}, {go}), gf = nb::grad({zf}, {xf, gwf, gbf}, {go.to(DType::f32)});
  EXPECT_EQ(gh[0].dtype(), dt);
  EXPECT_EQ(gh[1].dtype(), DType::f32);
  for (size_t i = 0; i < 3; ++i) expect_close(gh[i], gf[i], rel, "group_norm gradient " + std::to_string(i), dt);
}

TEST_P(HalfNn, ConvRefusesMixedDtypesByName) {
  const DType dt = GetParam();
  try {
    nb::conv2d(nb::zeros({1, 2, 4, 4}, {.dtype = dt}), nb::zeros({3, 2, 3, 3}));
    FAIL() << "conv2d of a " << dt << " input with an f32 weight did not throw";
  } catch (const nb::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[conv2d]"), std::string::npos) << msg;
    EXPECT_NE(msg.find(nb::dtype_name(dt)), std::string::npos) << msg;
    EXPECT_NE(msg.find("f32"), std::string::npos) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfNn, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(nb::dtype_name(info.param)); });

}  // namespace
