// RMSNorm, LocalResponseNorm, PixelShuffle/Unshuffle, ChannelShuffle, Unfold, Fold,
// ConvTranspose1d, Bilinear, the padding layers and EmbeddingBag: default init, printing (PyTorch's
// extra_repr), errors naming the layer and what was expected, and the properties the LibTorch
// comparison (layers_reference_test.cpp) does not reach: the default eps per dtype, unfold's
// exactness on non-finite values, unbatched inputs, inverse pairs.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>

#include "nn/helpers.h"

namespace {

using namespace nabla;
using nn_test::error_of;
using nn_test::expect_contains;
using nn_test::moments;

Tensor f64(const std::vector<double>& v, const Shape& s) { return from_vector<double>(v, s); }
Tensor idx(const std::vector<int64_t>& v, Shape s = {}) {
  return from_vector<int64_t>(v, s.empty() ? Shape{int64_t(v.size())} : s);
}
Tensor randn64(const Shape& s) { return randn(s, {.dtype = DType::f64}); }

// ---- init and parameters ---------------------------------------------------------------------

TEST(ExtraLayersInit, ShapesNamesAndPyTorchDefaults) {
  manual_seed(7);
  nn::RMSNorm rms(nn::RMSNormOptions({3, 4}));
  EXPECT_EQ(rms.state_dict().keys(), std::vector<std::string>{"weight"});
  EXPECT_EQ(rms.weight.shape(), (Shape{3, 4}));
  EXPECT_TRUE(allclose(rms.weight, ones({3, 4})));
  EXPECT_EQ(nn::RMSNorm(nn::RMSNormOptions({4}).elementwise_affine(false)).state_dict().size(), 0u);

  nn::Bilinear bl(nn::BilinearOptions(16, 5, 300));
  EXPECT_EQ(bl.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(bl.weight.shape(), (Shape{300, 16, 5}));
  // U(-1/sqrt(in1), 1/sqrt(in1)) = U(-0.25, 0.25): variance 0.25^2 / 3.
  nn_test::Moments w = moments(bl.weight), b = moments(bl.bias);
  EXPECT_LE(w.max, 0.25);
  EXPECT_GE(w.min, -0.25);
  EXPECT_NEAR(w.var, 0.0625 / 3, 0.002);
  EXPECT_LE(b.max, 0.25);
  EXPECT_GE(b.min, -0.25);
  EXPECT_GT(b.max - b.min, 0.4);
  EXPECT_EQ(nn::Bilinear(nn::BilinearOptions(2, 3, 4).bias(false)).state_dict().size(), 1u);

  nn::ConvTranspose1d ct(nn::ConvTranspose1dOptions(8, 12, 5).groups(4));
  EXPECT_EQ(ct.weight.shape(), (Shape{8, 3, 5}));
  EXPECT_EQ(ct.bias.shape(), (Shape{12}));
  // fan_in = weight.size(1) * K = 15: bounds 1/sqrt(15) for weight (kaiming a = sqrt(5)) and bias.
  EXPECT_LE(moments(ct.weight).max, 1 / std::sqrt(15.0));
  EXPECT_LE(moments(ct.bias).max, 1 / std::sqrt(15.0));

  nn::EmbeddingBag eb(nn::EmbeddingBagOptions(2000, 8).padding_idx(-1));
  EXPECT_EQ(*eb.options.padding_idx(), 1999) << "a negative padding_idx counts from the end";
  EXPECT_TRUE(allclose(eb.weight.select(0, 1999), zeros({8})));
  nn_test::Moments e = moments(eb.weight);
  EXPECT_NEAR(e.mean, 0, 0.03);
  EXPECT_NEAR(e.var, 1, 0.05);
}

TEST(ExtraLayersRepr, MatchesPyTorch) {
  auto repr = [](const nn::Module& m) { return m.to_string(); };
  EXPECT_EQ(repr(nn::RMSNorm(nn::RMSNormOptions({4}))), "RMSNorm((4,), eps=None, elementwise_affine=true)");
  EXPECT_EQ(repr(nn::RMSNorm(nn::RMSNormOptions({3, 4}).eps(1e-3).elementwise_affine(false))),
            "RMSNorm((3, 4), eps=0.001, elementwise_affine=false)");
  EXPECT_EQ(repr(nn::LayerNorm(nn::LayerNormOptions({5}))), "LayerNorm((5,), eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(repr(nn::LocalResponseNorm(nn::LocalResponseNormOptions(2))),
            "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1)");
  EXPECT_EQ(repr(nn::PixelShuffle(3)), "PixelShuffle(upscale_factor=3)");
  EXPECT_EQ(repr(nn::PixelUnshuffle(2)), "PixelUnshuffle(downscale_factor=2)");
  EXPECT_EQ(repr(nn::ChannelShuffle(2)), "ChannelShuffle(groups=2)");
  EXPECT_EQ(repr(nn::Unfold(nn::UnfoldOptions({2, 3}))), "Unfold(kernel_size=(2, 3), dilation=1, padding=0, stride=1)");
  EXPECT_EQ(repr(nn::Fold(nn::FoldOptions({4, 5}, 2).stride(2))),
            "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=2)");
  EXPECT_EQ(repr(nn::ConvTranspose1d(
                nn::ConvTranspose1dOptions(4, 6, 3).stride(2).padding(1).output_padding(1).dilation(2).groups(2))),
            "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), output_padding=(1,), "
            "groups=2)");
  EXPECT_EQ(repr(nn::ConvTranspose1d(nn::ConvTranspose1dOptions(3, 2, 4).bias(false))),
            "ConvTranspose1d(3, 2, kernel_size=(4,), stride=(1,), bias=false)");
  EXPECT_EQ(repr(nn::Conv1d(nn::Conv1dOptions(3, 2, 4).padding(2))), "Conv1d(3, 2, kernel_size=(4,), stride=(1,), padding=(2,))");
  EXPECT_EQ(repr(nn::Bilinear(nn::BilinearOptions(4, 3, 5))),
            "Bilinear(in1_features=4, in2_features=3, out_features=5, bias=true)");
  EXPECT_EQ(repr(nn::ZeroPad2d(1)), "ZeroPad2d((1, 1, 1, 1))");
  EXPECT_EQ(repr(nn::ZeroPad1d({2, 0})), "ZeroPad1d((2, 0))");
  EXPECT_EQ(repr(nn::ConstantPad1d({2, 1}, 3.5)), "ConstantPad1d(padding=(2, 1), value=3.5)");
  EXPECT_EQ(repr(nn::ConstantPad2d(1, -1)), "ConstantPad2d(padding=(1, 1, 1, 1), value=-1)");
  EXPECT_EQ(repr(nn::ReflectionPad2d({1, 2, 2, 0})), "ReflectionPad2d((1, 2, 2, 0))");
  EXPECT_EQ(repr(nn::ReplicationPad1d(3)), "ReplicationPad1d((3, 3))");
  EXPECT_EQ(repr(nn::CircularPad1d(2)), "CircularPad1d((2, 2))");
  EXPECT_EQ(repr(nn::CircularPad2d({0, 1, 2, 3})), "CircularPad2d((0, 1, 2, 3))");
  EXPECT_EQ(repr(nn::EmbeddingBag(nn::EmbeddingBagOptions(10, 3))), "EmbeddingBag(10, 3, mode=mean)");
  EXPECT_EQ(repr(nn::EmbeddingBag(nn::EmbeddingBagOptions(10, 3).mode(EmbeddingBagMode::Sum).padding_idx(-1))),
            "EmbeddingBag(10, 3, mode=sum, padding_idx=9)");
}

// ---- behaviour -------------------------------------------------------------------------------

TEST(RMSNormLayer, DefaultEpsIsTheDtypesMachineEpsilon) {
  // Inputs small enough that eps dominates the mean square: 1e-8 against 2^-23 ≈ 1.19e-7 (f32)
  // and 1e-18 against 2^-52 ≈ 2.2e-16 (f64).
  nn::RMSNorm m(nn::RMSNormOptions({2}).elementwise_affine(false));
  Tensor y32 = m(from_vector<float>({1e-4f, -1e-4f}, {1, 2}));
  const double want32 = 1e-4 / std::sqrt(1e-8 + double(FLT_EPSILON));
  EXPECT_NEAR(y32.to_vector<float>()[0], want32, 1e-6 * want32);
  Tensor y64 = m(f64({1e-9, -1e-9}, {1, 2}));
  const double want64 = 1e-9 / std::sqrt(1e-18 + DBL_EPSILON);
  EXPECT_NEAR(y64.to_vector<double>()[0], want64, 1e-12 * want64);
  EXPECT_NEAR(y64.to_vector<double>()[1], -want64, 1e-12 * want64);
  // An explicit eps is used as given.
  Tensor y = rms_norm(f64({3, 4}, {2}), {2}, Tensor(), 1.5);
  EXPECT_TRUE(allclose(y, f64({3 / std::sqrt(14.0), 4 / std::sqrt(14.0)}, {2}), 0, 1e-15));
}

TEST(UnfoldFoldLayers, ExactOnNonFiniteValuesAndInverseWithoutOverlap) {
  // A gather copies: inf and NaN stay where they are. A one-hot convolution would give 0 * inf =
  // NaN in every column whose window touches the pixel.
  Tensor x = randn64({1, 2, 4, 4});
  std::vector<double> v = x.to_vector<double>();
  v[5] = INFINITY;   // channel 0, pixel (1, 1)
  v[16 + 10] = NAN;  // channel 1, pixel (2, 2)
  x = f64(v, {1, 2, 4, 4});
  Tensor cols = nn::Unfold(nn::UnfoldOptions(2))(x);  // [1, 8, 9]
  ASSERT_EQ(cols.shape(), (Shape{1, 8, 9}));
  std::vector<double> c = cols.to_vector<double>();
  int64_t infs = 0, nans = 0;
  for (double e : c) infs += std::isinf(e), nans += std::isnan(e);
  EXPECT_EQ(infs, 4) << "pixel (1, 1) lies in 4 of the 2 x 2 blocks";
  EXPECT_EQ(nans, 4);
  // Non-overlapping blocks (stride = kernel): fold(unfold(x)) is x, bit for bit.
  Tensor y = randn64({2, 3, 6, 4});
  nn::Unfold u(nn::UnfoldOptions({3, 2}).stride({3, 2}));
  nn::Fold f(nn::FoldOptions({6, 4}, {3, 2}).stride({3, 2}));
  EXPECT_TRUE(nn_test::bitwise_equal(f(u(y)).contiguous(), y));
  // Unbatched input: the batched result without its batch dim.
  EXPECT_TRUE(nn_test::bitwise_equal(u(y.select(0, 1)).contiguous(), u(y).select(0, 1).contiguous()));
  Tensor cy = u(y);
  EXPECT_TRUE(nn_test::bitwise_equal(f(cy.select(0, 1)).contiguous(), f(cy).select(0, 1).contiguous()));
}

TEST(ShuffleLayers, InversePairsAndUnbatchedInputs) {
  Tensor x = randn64({2, 3, 8, 4, 6});  // two leading dims
  EXPECT_TRUE(nn_test::bitwise_equal(nn::PixelUnshuffle(2)(nn::PixelShuffle(2)(x)).contiguous(), x));
  EXPECT_EQ(nn::PixelShuffle(2)(x).shape(), (Shape{2, 3, 2, 8, 12}));
  Tensor img = randn64({4, 6, 9});
  EXPECT_TRUE(nn_test::bitwise_equal(nn::PixelShuffle(3)(nn::PixelUnshuffle(3)(img)).contiguous(), img));
  // Shuffling with g groups, then with C / g, restores the order.
  Tensor y = randn64({2, 6, 5});
  EXPECT_TRUE(nn_test::bitwise_equal(nn::ChannelShuffle(3)(nn::ChannelShuffle(2)(y)).contiguous(), y));
  EXPECT_TRUE(nn_test::bitwise_equal(channel_shuffle(f64({0, 1, 2, 3, 4, 5}, {1, 6, 1}), 2).reshape({6}),
                                     f64({0, 3, 1, 4, 2, 5}, {6})));
}

TEST(ConvTranspose1dLayer, UnbatchedMatchesBatchedAndIsConv1dsAdjoint) {
  manual_seed(3);
  nn::ConvTranspose1d ct(nn::ConvTranspose1dOptions(4, 6, 3).stride(2).padding(1).output_padding(1).groups(2).bias(false));
  ct.to(DType::f64);
  Tensor x = randn64({2, 4, 5});
  Tensor y = ct(x);
  EXPECT_EQ(y.shape(), (Shape{2, 6, 10}));  // (5 - 1) 2 - 2 + 2 + 1 + 1
  EXPECT_TRUE(allclose(ct(x.select(0, 1)), y.select(0, 1), 0, 1e-14));
  // <conv_transpose1d(x, w), z> = <x, conv1d(z, w)>: the transposed layer is conv1d's adjoint.
  Tensor z = randn64({2, 6, 10});
  Tensor lhs = sum(y * z), rhs = sum(x * conv1d(z, ct.weight.detach(), Tensor(), {.stride = 2, .padding = 1, .groups = 2}));
  EXPECT_NEAR(lhs.item<double>(), rhs.item<double>(), 1e-12 * (1 + std::abs(lhs.item<double>())));
}

TEST(PaddingLayers, UnbatchedInputsAndConstantPadOnAnyRank) {
  Tensor x = randn64({2, 3, 4, 5});
  nn::ReflectionPad2d r({1, 2, 3, 0});
  EXPECT_TRUE(nn_test::bitwise_equal(r(x.select(0, 1)).contiguous(), r(x).select(0, 1).contiguous()));
  nn::CircularPad1d c(2);
  Tensor s = f64({1, 2, 3}, {1, 3});
  EXPECT_TRUE(nn_test::bitwise_equal(c(s).contiguous(), f64({2, 3, 1, 2, 3, 1, 2}, {1, 7})));
  nn::ReplicationPad1d rep({1, 2});
  EXPECT_TRUE(nn_test::bitwise_equal(rep(s).contiguous(), f64({1, 1, 2, 3, 3, 3}, {1, 6})));
  // Constant padding reads no border, so like PyTorch's it pads the last dims of any rank.
  EXPECT_EQ(nn::ConstantPad2d(1, 0.5)(randn64({2, 2, 3, 4, 5})).shape(), (Shape{2, 2, 3, 6, 7}));
  EXPECT_EQ(nn::ZeroPad1d(1)(randn64({4})).shape(), (Shape{6}));
}

TEST(EmbeddingBagLayer, AgreesWithEmbeddingAndPaddingGetsNoGradient) {
  manual_seed(11);
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(6, 4).mode(EmbeddingBagMode::Sum).padding_idx(0));
  bag.to(DType::f64);
  Tensor input = idx({3, 0, 5, 5, 1}), offsets = idx({0, 3});
  Tensor out = bag(input, offsets);
  const Tensor w = bag.weight.detach();
  Tensor rows = embedding(w, input);  // [5, 4]
  Tensor expect0 = rows.select(0, 0) + rows.select(0, 2);  // entry 1 is padding_idx 0
  Tensor expect1 = rows.select(0, 3) + rows.select(0, 4);
  EXPECT_TRUE(allclose(out, stack({expect0, expect1}), 0, 1e-15));
  sum(out).backward();
  Tensor g = bag.weight.grad();
  EXPECT_TRUE(allclose(g.select(0, 0), zeros({4}, {.dtype = DType::f64}))) << "padding_idx row";
  EXPECT_TRUE(allclose(g.select(0, 5), full({4}, 2.0, {.dtype = DType::f64}))) << "row 5 used twice";
  // Mean of a 2-D input = the mean of the looked-up rows; an empty bag gives zeros.
  nn::EmbeddingBag mean(nn::EmbeddingBagOptions(6, 4));
  Tensor two_d = idx({1, 2, 4, 4, 3, 0}, {2, 3});
  EXPECT_TRUE(allclose(mean(two_d), nabla::mean(embedding(mean.weight, two_d), {1}), 0, 1e-6));
  Tensor empty_bags = mean(idx({2}), idx({0, 0, 1}));  // bags [], [2], []
  EXPECT_TRUE(allclose(empty_bags.select(0, 0), zeros({4})));
  EXPECT_TRUE(allclose(empty_bags.select(0, 1), mean.weight.select(0, 2)));
  EXPECT_TRUE(allclose(empty_bags.select(0, 2), zeros({4})));
}

// ---- errors ------------------------------------------------------------------------------------

TEST(ExtraLayersErrors, RearrangementsNameTheLayerAndTheShapes) {
  expect_contains(error_of([] { nn::PixelShuffle(2)(randn({1, 6, 2, 2})); }),
                  {"[PixelShuffle]", "[pixel_shuffle]", "[1, 6, 2, 2]", "(6) are not divisible by upscale_factor^2 = 4"});
  expect_contains(error_of([] { nn::PixelShuffle(2)(randn({8, 2})); }), {"[PixelShuffle]", "at least 3 dims", "[8, 2]"});
  expect_contains(error_of([] { nn::PixelShuffle(0); }), {"[PixelShuffle]", "upscale_factor must be positive, got 0"});
  expect_contains(error_of([] { nn::PixelUnshuffle(2)(randn({1, 1, 3, 4})); }),
                  {"[PixelUnshuffle]", "(3, 4) must be divisible by downscale_factor 2"});
  expect_contains(error_of([] { nn::ChannelShuffle(4)(randn({1, 6, 2})); }),
                  {"[ChannelShuffle]", "(6) are not divisible by groups 4"});
  expect_contains(error_of([] { nn::ChannelShuffle(2)(randn({2, 6})); }), {"[ChannelShuffle]", "[N, C, *]", "[2, 6]"});
  expect_contains(error_of([] { nn::Unfold(nn::UnfoldOptions(2))(randn({4, 4})); }),
                  {"[Unfold]", "expected input [N, C, H, W] or [C, H, W], got shape [4, 4]"});
  expect_contains(error_of([] { nn::Unfold(nn::UnfoldOptions(3).dilation(2))(randn({1, 1, 4, 4})); }),
                  {"[Unfold]", "dilated kernel [5, 5] does not fit the padded spatial size [4, 4]"});
  expect_contains(error_of([] { nn::Unfold(nn::UnfoldOptions({2, 0})); }),
                  {"[Unfold]", "kernel_size, dilation and stride must be positive", "kernel_size (2, 0)"});
  expect_contains(error_of([] { nn::Fold(nn::FoldOptions({4, 4}, 2))(randn({1, 8, 5})); }),
                  {"[Fold]", "has 5 blocks but output_size [4, 4]", "gives 3 x 3 = 9"});
  expect_contains(error_of([] { nn::Fold(nn::FoldOptions({4, 4}, {2, 3}))(randn({1, 8, 6})); }),
                  {"[Fold]", "(8) must be divisible by the kernel's kh * kw = 6"});
  expect_contains(error_of([] { nn::Fold(nn::FoldOptions({0, 4}, 2)); }), {"[Fold]", "output_size must be positive"});
}

TEST(ExtraLayersErrors, ConvBilinearNormsAndPads) {
  nn::ConvTranspose1d ct(nn::ConvTranspose1dOptions(4, 6, 3));
  expect_contains(error_of([&] { ct(randn({2, 3, 5})); }),
                  {"[ConvTranspose1d]", "expected input [N, 4, L] or [4, L], got shape [2, 3, 5]"});
  expect_contains(error_of([] { nn::ConvTranspose1d(nn::ConvTranspose1dOptions(4, 6, 3).stride(2).output_padding(2)); }),
                  {"[ConvTranspose1d]", "output_padding 2 must be non-negative and smaller than stride or dilation"});
  expect_contains(error_of([] { nn::ConvTranspose1d(nn::ConvTranspose1dOptions(4, 6, 3).groups(4)); }),
                  {"[ConvTranspose1d]", "groups = 4 must be positive and divide in_channels 4 and out_channels 6"});
  expect_contains(error_of([] { conv_transpose1d(randn({1, 4, 5}), randn({3, 2, 3})); }),
                  {"[conv_transpose1d]", "input [1, 4, 5] has 4 channels but weight [3, 2, 3] expects 3"});

  nn::Bilinear bl(nn::BilinearOptions(4, 3, 5));
  expect_contains(error_of([&] { bl(randn({2, 4})); }), {"[Bilinear]", "takes two inputs", "bilinear(x1, x2)"});
  expect_contains(error_of([&] { bl(randn({2, 4}), randn({3, 3})); }),
                  {"[Bilinear]", "input1 [2, 4] and input2 [3, 3] must have the same size except the last dimension"});
  expect_contains(error_of([&] { bl(randn({2, 3}), randn({2, 3})); }),
                  {"[Bilinear]", "expected inputs [..., 4] and [..., 3], got shapes [2, 3] and [2, 3]"});
  expect_contains(error_of([&] { bl(randn({2, 4}, {.dtype = DType::f64}), randn({2, 3})); }), {"[Bilinear]", "f64"});

  expect_contains(error_of([] { nn::RMSNorm(nn::RMSNormOptions({4}))(randn({2, 3})); }),
                  {"[RMSNorm]", "expected input [..., 4] (ending with normalized_shape [4]), got shape [2, 3]"});
  expect_contains(error_of([] { nn::RMSNorm(nn::RMSNormOptions(Shape{})); }),
                  {"[RMSNorm]", "normalized_shape must have at least one dim"});
  expect_contains(error_of([] { nn::RMSNorm(nn::RMSNormOptions({4}).eps(-1.0)); }), {"[RMSNorm]", "eps must be non-negative"});
  expect_contains(error_of([] { rms_norm(randn({2, 4}), {4}, ones({3})); }),
                  {"[rms_norm]", "weight shape [3] must equal [4]"});
  expect_contains(error_of([] { nn::LocalResponseNorm(2)(randn({4, 5})); }),
                  {"[LocalResponseNorm]", "[local_response_norm] expected input [N, C, *] (at least 3 dims), got shape [4, 5]"});
  expect_contains(error_of([] { nn::LocalResponseNorm(0); }), {"[LocalResponseNorm]", "size must be positive, got 0"});

  expect_contains(error_of([] { nn::ReflectionPad1d(4)(randn({1, 2, 4})); }),
                  {"[ReflectionPad1d]", "reflect padding (4, 4) must be smaller than the size 4"});
  expect_contains(error_of([] { nn::ReflectionPad2d(1)(randn({4, 5})); }),
                  {"[ReflectionPad2d]", "expected input [C, H, W] or [N, C, H, W], got shape [4, 5] (rank 2)"});
  expect_contains(error_of([] { nn::CircularPad1d(5)(randn({2, 4})); }),
                  {"[CircularPad1d]", "circular padding (5, 5) must not exceed the size 4"});
  expect_contains(error_of([] { nn::ReplicationPad1d(1)(randn({1, 2, 3, 4})); }),
                  {"[ReplicationPad1d]", "expected input [C, W] or [N, C, W]"});
  expect_contains(error_of([] { nn::ZeroPad2d(1)(randn({4})); }), {"[ZeroPad2d]", "[pad] 2 padded dims", "[4]"});
}

TEST(ExtraLayersErrors, EmbeddingBagInputs) {
  nn::EmbeddingBag mean(nn::EmbeddingBagOptions(5, 2));
  nn::EmbeddingBag sum_bag(nn::EmbeddingBagOptions(5, 2).mode(EmbeddingBagMode::Sum));
  expect_contains(error_of([&] { mean(idx({1, 2}), idx({0}), ones({2})); }),
                  {"[EmbeddingBag]", "per_sample_weights is only supported for mode sum, got mode mean"});
  expect_contains(error_of([&] { sum_bag(idx({1, 2}), idx({0}), ones({3})); }),
                  {"[EmbeddingBag]", "per_sample_weights [3] f32 must have the input's shape [2]"});
  expect_contains(error_of([&] { mean(idx({1, 2, 3}), idx({1, 2})); }),
                  {"[EmbeddingBag]", "offsets[0] must be 0", "got offsets [1, 2]"});
  expect_contains(error_of([&] { mean(idx({1, 2, 3}), idx({0, 2, 1})); }),
                  {"[EmbeddingBag]", "offsets must be non-decreasing and at most the input's length 3, got offsets [0, 2, 1]"});
  expect_contains(error_of([&] { mean(idx({1, 2, 3}, {1, 3}), idx({0})); }),
                  {"[EmbeddingBag]", "a 2-D input [1, 3] is one bag per row and takes no offsets"});
  expect_contains(error_of([&] { mean(idx({1, 2, 3})); }), {"[EmbeddingBag]", "a 1-D input needs 1-D i64 offsets"});
  expect_contains(error_of([&] { mean(idx({1, 5}), idx({0})); }),
                  {"[EmbeddingBag]", "index 5 is out of range for weight [5, 2]"});
  expect_contains(error_of([&] { mean(randn({2, 3})); }), {"[EmbeddingBag]", "expected i64 indices, got f32"});
  nn::EmbeddingBag csr(nn::EmbeddingBagOptions(5, 2).include_last_offset(true));
  expect_contains(error_of([&] { csr(idx({1, 2, 3}), idx({0, 2})); }),
                  {"[EmbeddingBag]", "with include_last_offset the last offset must be the input's length 3"});
  expect_contains(error_of([] { nn::EmbeddingBag(nn::EmbeddingBagOptions(5, 2).padding_idx(5)); }),
                  {"[EmbeddingBag]", "padding_idx 5 is out of range for 5 embeddings"});
}

}  // namespace
