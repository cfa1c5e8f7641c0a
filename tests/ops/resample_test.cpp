// pad (constant incl. negative = crop, reflect, replicate), interpolate (nearest and bilinear
// against PyTorch's align_corners=False formulas, written out in reference_conv.h) and
// embedding: forward values, gradcheck in f64, gradgradcheck, and error messages.
#include <gtest/gtest.h>

#include "ops/reference_conv.h"

namespace convref {
namespace {

namespace nb = nabla;
using nb::Tensor;
using nb::TensorList;

// ---- pad --------------------------------------------------------------------------------------

struct PadCase {
  std::string name;
  Shape x;
  std::vector<int64_t> pads;
  PadKind mode;
  double value = 0.0;
};

nb::PadMode to_mode(PadKind k) {
  switch (k) {
    case PadKind::Constant: return nb::PadMode::Constant;
    case PadKind::Reflect: return nb::PadMode::Reflect;
    case PadKind::Replicate: return nb::PadMode::Replicate;
    case PadKind::Circular: return nb::PadMode::Circular;
  }
  return nb::PadMode::Constant;
}

const std::vector<PadCase> kPadCases = {
    {"constant_last_dim", {2, 3, 4}, {1, 2}, PadKind::Constant},
    {"constant_two_dims_value", {2, 3, 4}, {1, 2, 0, 1}, PadKind::Constant, 1.5},
    {"constant_negative_crops", {2, 3, 4}, {-1, 2, 1, -1}, PadKind::Constant, -0.5},
    {"constant_pure_crop", {2, 3, 5}, {-1, -2}, PadKind::Constant},
    {"constant_three_dims", {2, 3, 4}, {0, 0, 2, 1, 1, 0}, PadKind::Constant, 2.0},
    {"constant_4d", {1, 2, 3, 4}, {2, 1, 1, 2}, PadKind::Constant},
    {"reflect_4d", {1, 2, 3, 4}, {2, 1, 1, 2}, PadKind::Reflect},
    {"reflect_maximal", {1, 2, 3, 4}, {3, 3, 2, 2}, PadKind::Reflect},
    {"reflect_3d", {2, 3, 5}, {4, 1}, PadKind::Reflect},
    {"replicate_4d", {1, 2, 3, 4}, {3, 1, 0, 2}, PadKind::Replicate},
    {"replicate_beyond_size", {2, 3}, {5, 6}, PadKind::Replicate},
    {"circular_4d", {1, 2, 3, 4}, {2, 1, 1, 2}, PadKind::Circular},
    {"circular_whole_size", {1, 2, 3, 4}, {4, 4, 3, 0}, PadKind::Circular},
    {"circular_3d", {2, 3, 5}, {0, 3}, PadKind::Circular},
};

TEST(ResampleTestPad, ForwardAndGradcheck) {
  for (const PadCase& c : kPadCases) {
    SCOPED_TRACE(c.name);
    Ref x = random_ref(c.x, 501);
    Ref ref = pad(x, c.pads, c.mode, c.value);
    Shape pads(c.pads.begin(), c.pads.end());
    expect_close(nb::pad(tensor_of(x, false), pads, to_mode(c.mode), c.value), ref, 0, 0, "f64");
    expect_close(nb::pad(tensor_of(x, false, nb::DType::f32), pads, to_mode(c.mode), c.value), ref, 1e-7, 0, "f32");
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::pad(a[0], pads, to_mode(c.mode), c.value); },
                              {tensor_of(x)}, kGradOpts));
  }
}

TEST(ResampleTestPad, NonContiguousAndGradGrad) {
  Ref x = random_ref({2, 3, 4}, 511);
  Tensor xt = noncontiguous_of(x, 0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  for (PadKind k : {PadKind::Constant, PadKind::Reflect, PadKind::Replicate, PadKind::Circular}) {
    SCOPED_TRACE(int(k));
    const Shape pads{2, 1, 1, 2};
    expect_close(nb::pad(xt, pads, to_mode(k), 0.25), pad(x, {2, 1, 1, 2}, k, 0.25), 0, 0, "non-contiguous");
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::pad(a[0], pads, to_mode(k), 0.25); }, {xt},
                              kGradOpts));
    EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::pad(a[0], pads, to_mode(k), 0.25); },
                                  {tensor_of(random_ref({1, 3, 4}, 512))}, kGradOpts));
  }
}

TEST(ResampleTestPad, ErrorsNameOpAndShapes) {
  Tensor x = nb::zeros({1, 2, 3, 4}, {.dtype = nb::DType::f64});
  expect_error([&] { nb::pad(x, {1, 1, 3, 0}, nb::PadMode::Reflect); }, {"[pad]", "reflect", "[1, 2, 3, 4]"},
               "reflect pad >= size");
  expect_error([&] { nb::pad(x, {-1, 0}, nb::PadMode::Replicate); }, {"[pad]", "non-negative"},
               "negative replicate pad");
  expect_error([&] { nb::pad(x, {5, 0}, nb::PadMode::Circular); },
               {"[pad] circular padding (5, 0) must not exceed the size 4", "wrap around more than once"},
               "circular pad > size");
  expect_error([&] { nb::pad(x, {1, 1, 1}); }, {"[pad]", "pairs"}, "odd pads length");
  expect_error([&] { nb::pad(x, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}); }, {"[pad]", "[1, 2, 3, 4]"}, "too many dims");
  expect_error([&] { nb::pad(x, {-3, -2}); }, {"[pad]", "negative size"}, "crop below zero");
}

// ---- interpolate --------------------------------------------------------------------------------

struct InterpCase {
  Shape x;
  I2 size;
};

const InterpCase kInterpCases[] = {
    {{1, 2, 3, 4}, {5, 7}},  {{1, 2, 3, 4}, {6, 8}},  {{1, 2, 3, 4}, {2, 3}}, {{1, 2, 3, 4}, {3, 4}},
    {{1, 2, 3, 4}, {1, 1}},  {{1, 2, 3, 4}, {7, 3}},  {{1, 2, 3, 4}, {4, 10}}, {{2, 1, 5, 6}, {3, 4}},
    {{2, 1, 5, 6}, {10, 9}}, {{2, 1, 5, 6}, {4, 9}}, {{1, 1, 7, 6}, {3, 11}},
};

std::string interp_name(const InterpCase& c, bool bilinear) {
  return std::string(bilinear ? "bilinear " : "nearest ") + nb::shape_str(c.x) + " -> (" + std::to_string(c.size[0]) +
         ", " + std::to_string(c.size[1]) + ")";
}

TEST(ResampleTestInterpolate, ForwardMatchesPyTorchFormulas) {
  for (const InterpCase& c : kInterpCases) {
    for (bool bilinear : {false, true}) {
      SCOPED_TRACE(interp_name(c, bilinear));
      Ref x = random_ref(c.x, 601);
      Ref ref = bilinear ? interpolate_bilinear(x, c.size) : interpolate_nearest(x, c.size);
      auto mode = bilinear ? nb::InterpolateMode::Bilinear : nb::InterpolateMode::Nearest;
      expect_close(nb::interpolate(tensor_of(x, false), c.size, mode), ref, 1e-14, 1e-12, "f64");
      expect_close(nb::interpolate(tensor_of(x, false, nb::DType::f32), c.size, mode), ref, 1e-6, 1e-6, "f32");
    }
  }
}

TEST(ResampleTestInterpolate, Gradcheck) {
  for (const InterpCase& c : kInterpCases) {
    for (bool bilinear : {false, true}) {
      SCOPED_TRACE(interp_name(c, bilinear));
      auto mode = bilinear ? nb::InterpolateMode::Bilinear : nb::InterpolateMode::Nearest;
      I2 size = c.size;
      EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::interpolate(a[0], size, mode); },
                                {tensor_of(random_ref(c.x, 611))}, kGradOpts));
    }
  }
  Tensor xt = noncontiguous_of(random_ref({1, 2, 3, 4}, 612), 2, 3);
  EXPECT_TRUE(nb::gradcheck(
      [&](const TensorList& a) { return nb::interpolate(a[0], {5, 3}, nb::InterpolateMode::Bilinear); }, {xt},
      kGradOpts));
  EXPECT_TRUE(nb::gradgradcheck(
      [&](const TensorList& a) { return nb::interpolate(a[0], {3, 5}, nb::InterpolateMode::Bilinear); },
      {tensor_of(random_ref({1, 1, 2, 3}, 613))}, kGradOpts));
}

TEST(ResampleTestInterpolate, AlignCornersAndScaleFactorMatchPyTorchFormulas) {
  for (const InterpCase& c : kInterpCases) {
    SCOPED_TRACE(interp_name(c, true) + " align_corners");
    Ref x = random_ref(c.x, 621);
    nb::InterpolateOptions o;
    o.size = c.size;
    o.mode = nb::InterpolateMode::Bilinear;
    o.align_corners = true;
    expect_close(nb::interpolate(tensor_of(x, false), o), interpolate_bilinear(x, c.size, true), 1e-14, 1e-12, "f64");
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::interpolate(a[0], o); }, {tensor_of(x)}, kGradOpts));
  }
  // A scale factor enters the source formula as 1/scale_factor (PyTorch), which differs from
  // in/out when the output size was rounded down: 5 * 1.5 -> 7 rows, scale 2/3 rather than 5/7.
  Ref x = random_ref({1, 2, 5, 4}, 622);
  for (auto mode : {nb::InterpolateMode::Nearest, nb::InterpolateMode::Bilinear}) {
    for (std::array<double, 2> f : {std::array<double, 2>{1.5, 2.0}, {0.7, 1.3}, {2.0, 2.0}, {1.0, 3.4}}) {
      SCOPED_TRACE(::testing::Message() << "scale_factor (" << f[0] << ", " << f[1] << ") mode " << int(mode));
      nb::InterpolateOptions o;
      o.scale_factor = f;
      o.mode = mode;
      const I2 size{int64_t(std::floor(5 * f[0])), int64_t(std::floor(4 * f[1]))};
      const Scales sf{f[0], f[1]};
      Ref ref = mode == nb::InterpolateMode::Nearest ? interpolate_nearest(x, size, sf)
                                                     : interpolate_bilinear(x, size, false, sf);
      expect_close(nb::interpolate(tensor_of(x, false), o), ref, 1e-14, 1e-12, "f64");
    }
  }
  // LibTorch 1.13's values: bilinear 2x2 -> 3x3 with align_corners, and 1x5 -> 1x7 by scale 1.5.
  Tensor corners = nb::interpolate(nb::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}),
                                   {.size = nb::Size2{3, 3}, .scale_factor = std::nullopt,
                                    .mode = nb::InterpolateMode::Bilinear, .align_corners = true});
  EXPECT_EQ(corners.to_vector<double>(), (std::vector<double>{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}));
  Tensor scaled = nb::interpolate(nb::from_vector<double>({0, 1, 2, 3, 4}, {1, 1, 1, 5}),
                                  {.size = std::nullopt, .scale_factor = std::array<double, 2>{1.0, 1.5},
                                   .mode = nb::InterpolateMode::Bilinear, .align_corners = false});
  const std::vector<double> torch_scaled{0, 0.5, 1 + 1.0 / 6, 1 + 5.0 / 6, 2.5, 3 + 1.0 / 6, 3 + 5.0 / 6};
  std::vector<double> got = scaled.to_vector<double>();
  ASSERT_EQ(got.size(), torch_scaled.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], torch_scaled[i], 1e-12) << i;
  nb::InterpolateOptions bad;
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), bad); }, {"[interpolate] give exactly one of size and scale_factor"},
               "neither size nor scale");
  bad.size = nb::Size2{2, 2};
  bad.align_corners = true;
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), bad); }, {"[interpolate] align_corners only applies to bilinear"},
               "align_corners with nearest");
  bad = {};
  bad.scale_factor = std::array<double, 2>{0.1, 1.0};
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), bad); }, {"[interpolate] output size (0, 4) must be positive",
               "scale_factor"}, "scale rounds to 0 rows");
  bad.scale_factor = std::array<double, 2>{-1.0, 1.0};
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), bad); }, {"[interpolate] scale_factor (-1, 1) must be positive"},
               "negative scale");
}

TEST(ResampleTestInterpolate, ErrorsNameOpAndShapes) {
  expect_error([&] { nb::interpolate(nb::zeros({2, 3, 4}), {2, 2}); }, {"[interpolate]", "[2, 3, 4]"}, "3-D input");
  // Too large to count, or to allocate: an error naming the op and the size, not a wrap or a
  // bare std::bad_alloc.
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), {int64_t(1) << 40, int64_t(1) << 40}); },
               {"[shape]", "more than 2^63 elements"}, "uncountable output");
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), {int64_t(1) << 61, 1}); },
               {"[interpolate]", "out of memory", "2305843009213693952"}, "unallocatable output");
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}), {0, 2}); }, {"[interpolate]", "output size"},
               "zero output size");
  expect_error([&] { nb::interpolate(nb::zeros({1, 1, 3, 4}, {.dtype = nb::DType::i64}), {2, 2}); },
               {"[interpolate]"}, "integer input");
}

// ---- embedding ----------------------------------------------------------------------------------

TEST(ResampleTestEmbedding, ForwardAndGradcheck) {
  Ref w = random_ref({5, 3}, 701);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 3}, {0, 4, 2, 2, 0, 1}}, {{4}, {3, 3, 3, 1}}, {{}, {2}}, {{2, 1, 2}, {4, 0, 0, 4}}};
  for (const auto& [shape, idx] : cases) {
    SCOPED_TRACE(nb::shape_str(shape));
    Tensor indices = nb::from_vector(idx, shape);
    Shape os = shape;
    os.push_back(3);
    Ref ref(os);
    for (size_t i = 0; i < idx.size(); ++i)
      for (int64_t d = 0; d < 3; ++d) ref.v[i * 3 + size_t(d)] = w(idx[i], d);
    expect_close(nb::embedding(tensor_of(w, false), indices), ref, 0, 0, "forward");
    // Repeated indices accumulate their gradients.
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::embedding(a[0], indices); }, {tensor_of(w)},
                              kGradOpts));
  }
  Tensor indices = nb::from_vector(std::vector<int64_t>{1, 1, 0}, {3});
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::embedding(a[0], indices); },
                                {tensor_of(random_ref({2, 2}, 702))}, kGradOpts));
}

TEST(ResampleTestEmbedding, PaddingIndexLookupsPassNoGradient) {
  Ref w = random_ref({4, 2}, 703);
  Tensor indices = nb::from_vector(std::vector<int64_t>{3, 1, 3, 0}, {2, 2});
  for (int64_t pad : {3, -1}) {
    SCOPED_TRACE(pad);
    Tensor weight = tensor_of(w);
    Tensor out = nb::embedding(weight, indices, pad);
    EXPECT_EQ(out.to_double_vector(), nb::embedding(tensor_of(w, false), indices).to_double_vector());
    out.sum().backward();
    const std::vector<double> g = weight.grad().to_double_vector();
    const std::vector<double> expected = {1, 1, 1, 1, 0, 0, 0, 0};  // rows 0 and 1 once, row 2 unused, row 3 padding
    EXPECT_EQ(g, expected);
  }
  // The other rows keep exact gradients (and gradients of gradients); the padding row is held
  // fixed here, since a numerical gradient would see its value.
  Tensor pad_row = tensor_of(random_ref({1, 2}, 704), false);
  auto with_pad = [&](const Tensor& rows) { return nb::embedding(nb::cat({rows, pad_row}, 0), indices, 3); };
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return with_pad(a[0]); }, {tensor_of(random_ref({3, 2}, 705))},
                            kGradOpts));
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return with_pad(a[0]) * a[0].sum(); },
                                {tensor_of(random_ref({3, 2}, 706))}, kGradOpts));
  expect_error([&] { nb::embedding(tensor_of(w), indices, 4); }, {"[embedding]", "padding_idx 4", "[4, 2]"},
               "padding_idx out of range");
}

TEST(ResampleTestEmbedding, ErrorsNameOpAndShapes) {
  Tensor w = nb::zeros({5, 3}, {.dtype = nb::DType::f64});
  expect_error([&] { nb::embedding(nb::zeros({5}), nb::from_vector(std::vector<int64_t>{0}, {1})); },
               {"[embedding]", "[5]"}, "1-D weight");
  expect_error([&] { nb::embedding(w, nb::zeros({2})); }, {"[embedding]", "i64"}, "float indices");
  expect_error([&] { nb::embedding(w, nb::from_vector(std::vector<int64_t>{0, 5}, {2})); }, {"5"},
               "index out of range");
}

}  // namespace
}  // namespace convref
