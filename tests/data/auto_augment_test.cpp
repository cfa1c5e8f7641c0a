// Photometric ops and the TrivialAugmentWide / RandAugment policies (nabla/data/auto_augment.h)
// against values worked out by hand from torchvision.transforms.v2's definitions.
#include <cmath>
#include <map>
#include <set>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;

namespace {

Tensor img(const std::vector<float>& v, const Shape& shape) { return from_vector(v, shape); }

void expect_pixels(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  const auto got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "pixel " << i;
}

}  // namespace

TEST(Photometric, BrightnessScalesAndClamps) {
  expect_pixels(adjust_brightness(img({0, 0.25f, 0.5f, 0.8f}, {1, 2, 2}), 1.5), {0, 0.375, 0.75, 1.0});
  expect_pixels(adjust_brightness(img({0.4f, 0.8f}, {1, 2}), 0.5), {0.2, 0.4});
}

TEST(Photometric, ContrastBlendsWithTheGrayscaleMean) {
  // One channel: mean 0.5; factor 2 gives 2x - 0.5, clamped.
  expect_pixels(adjust_contrast(img({0, 0.5f, 1, 0.5f}, {1, 2, 2}), 2.0), {0, 0.5, 1, 0.5});
  expect_pixels(adjust_contrast(img({0.2f, 0.4f, 0.6f, 0.8f}, {1, 2, 2}), 0.5), {0.35, 0.45, 0.55, 0.65});
  // Three channels: the mean of 0.2989 R + 0.587 G + 0.114 B over the image (here one pixel).
  const double m = 0.2989 * 0.6 + 0.587 * 0.2 + 0.114 * 1.0;
  expect_pixels(adjust_contrast(img({0.6f, 0.2f, 1.0f}, {3, 1, 1}), 0.5),
                {0.5 * 0.6 + 0.5 * m, 0.5 * 0.2 + 0.5 * m, std::min(1.0, 0.5 * 1.0 + 0.5 * m)});
}

TEST(Photometric, SaturationBlendsWithGrayscaleAndLeavesGrayImages) {
  const double g = 0.2989 * 0.6 + 0.587 * 0.2 + 0.114 * 1.0;
  expect_pixels(adjust_saturation(img({0.6f, 0.2f, 1.0f}, {3, 1, 1}), 0.0), {g, g, g});
  expect_pixels(adjust_saturation(img({0.6f, 0.2f, 1.0f}, {3, 1, 1}), 1.5),
                {1.5 * 0.6 - 0.5 * g, std::max(0.0, 1.5 * 0.2 - 0.5 * g), std::min(1.0, 1.5 - 0.5 * g)});
  expect_pixels(adjust_saturation(img({0.1f, 0.7f}, {1, 1, 2}), 0.0), {0.1, 0.7});
}

TEST(Photometric, SharpnessBlendsWithTheSmoothedInterior) {
  // 3 x 3 with a bright centre: the smoothed centre is (8·0.2 + 5·0.8) / 13; borders keep theirs.
  std::vector<float> v(9, 0.2f);
  v[4] = 0.8f;
  const double blurred = (8 * 0.2 + 5 * 0.8) / 13;
  std::vector<double> want(9, 0.2);
  want[4] = blurred;
  expect_pixels(adjust_sharpness(img(v, {1, 3, 3}), 0.0), want);
  want[4] = std::min(1.0, 2 * 0.8 - blurred);  // factor 2 sharpens: 2x - blurred
  expect_pixels(adjust_sharpness(img(v, {1, 3, 3}), 2.0), want);
  expect_pixels(adjust_sharpness(img({0.1f, 0.9f}, {1, 1, 2}), 0.0), {0.1, 0.9});  // no interior
}

TEST(Photometric, PosterizeSolarizeAutocontrast) {
  // 2 bits: floor(4x) / 4, at most 3/4.
  expect_pixels(posterize(img({0.1f, 0.3f, 0.74f, 1.0f}, {1, 4}), 2), {0.0, 0.25, 0.5, 0.75});
  expect_pixels(solarize(img({0.1f, 0.5f, 0.9f}, {1, 3}), 0.5), {0.1, 0.5, 0.1});
  // Each channel stretched to [0, 1]; a flat channel stays.
  expect_pixels(autocontrast(img({0.2f, 0.4f, 0.6f, 0.3f, 0.3f, 0.3f}, {2, 1, 3})), {0, 0.5, 1, 0.3, 0.3, 0.3});
  expect_pixels(autocontrast(img({1.5f, 1.5f}, {1, 1, 2})), {1.0, 1.0});  // flat, clamped as torchvision
}

TEST(Photometric, EqualizeSpreadsTheHistogram) {
  // 256 pixels at 8-bit level 10 and 256 at 20: step = (512 - 256) / 255 = 1, so level 10 maps
  // to the count below it (0) and level 20 to min(255, 256).
  std::vector<float> v(512);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i < 256 ? 10.5 : 20.5) / 255.999f;
  const auto out = equalize(img(v, {1, 16, 32})).to_vector();
  EXPECT_EQ(out[0], 0.0);
  EXPECT_EQ(out[511], 1.0);
  // Out-of-range and NaN pixels are clamped to the 8-bit range before the conversion.
  expect_pixels(equalize(img({NAN, 1e12f, -3.f}, {1, 1, 3})), {0.0, 1.0, 0.0});
  // Too few pixels to spread (step 0): the image comes back quantized to 8 bits.
  expect_pixels(equalize(img({0.5f, 0.25f}, {1, 1, 2})), {127.0 / 255, 63.0 / 255});
}

TEST(AutoAugmentOps, GeometricOpsFollowTorchvisionsConventions) {
  std::vector<float> v(20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i + 1) / 20.f;
  const Tensor im = img(v, {1, 4, 5});
  // ShearX with tan = 1 about the top-left corner: row y moves y pixels right (the sign is drawn
  // at random by the policies), row 0 stays.
  const auto sheared = apply_augment_op(im, {"ShearX", 1.0}).to_vector();
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 5; ++x)
      EXPECT_NEAR(sheared[size_t(y * 5 + x)], x - y >= 0 ? v[size_t(y * 5 + x - y)] : 0.0, 1e-6) << y << " " << x;
  // Translations are truncated to whole pixels.
  expect_pixels(apply_augment_op(im, {"TranslateX", 1.7}), shift(im, 1, 0).to_vector());
  expect_pixels(apply_augment_op(im, {"TranslateY", -2.9}), shift(im, 0, -2).to_vector());
  expect_pixels(apply_augment_op(im, {"Rotate", 90.0}), rotate(im, 90.0).to_vector());
  expect_pixels(apply_augment_op(im, {"Brightness", -0.5}), adjust_brightness(im, 0.5).to_vector());
  expect_pixels(apply_augment_op(im, {"Posterize", 3.0}), posterize(im, 3).to_vector());
  expect_pixels(apply_augment_op(im, {"Solarize", 0.4}), solarize(im, 0.4).to_vector());
  EXPECT_ERROR(apply_augment_op(im, {"Invert", 0}), "[apply_augment_op] unknown op 'Invert'");
}

// TrivialAugmentWide: every op is drawn, with magnitudes from its 31 bins (rotation: multiples of
// 135/30 degrees up to 135, both signs; posterize: 2 to 8 bits; solarize thresholds in [0, 1]).
TEST(TrivialAugmentWide, DrawsEveryOpFromItsBins) {
  Rng rng(3, 0);
  std::map<std::string, std::set<double>> seen;
  for (int i = 0; i < 5000; ++i) {
    const AugmentOp op = sample_trivial_augment_op(rng);
    seen[op.name].insert(op.magnitude);
  }
  EXPECT_EQ(seen.size(), 14u);
  for (double m : seen["Rotate"]) {
    EXPECT_LE(std::fabs(m), 135.0);
    EXPECT_NEAR(std::fmod(std::fabs(m), 4.5), 0.0, 1e-9) << m;
  }
  EXPECT_EQ(*seen["Rotate"].begin(), -135.0);
  EXPECT_EQ(*seen["Rotate"].rbegin(), 135.0);
  EXPECT_EQ(seen["Posterize"], (std::set<double>{2, 3, 4, 5, 6, 7, 8}));
  EXPECT_GE(*seen["Solarize"].begin(), 0.0);
  EXPECT_LE(*seen["Solarize"].rbegin(), 1.0);
  EXPECT_EQ(seen["Equalize"], (std::set<double>{0.0}));
  // As a transform: pixels stay in [0, 1], the same stream gives the same image.
  std::vector<float> v(28 * 28);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float((i * 37) % 256) / 255.f;
  const Tensor image = img(v, {1, 28, 28});
  const Transform t = trivial_augment_wide();
  for (int64_t s = 0; s < 50; ++s) {
    Rng a = Rng::for_sample(9, 1, s), b = Rng::for_sample(9, 1, s);
    const auto out = t(image, a).to_vector();
    EXPECT_EQ(out, t(image, b).to_vector());
    for (double p : out) ASSERT_TRUE(p >= 0 && p <= 1) << p;
  }
}

// RandAugment at magnitude 9 of 31 bins: rotation ±9 degrees, brightness factor 1 ± 0.27,
// posterize 7 bits, solarize 0.7, translation ±150/331·28·0.3 pixels; num_ops ops per image.
TEST(RandAugment, AppliesNumOpsAtTheFixedStrength) {
  Rng rng(4, 0);
  std::map<std::string, std::set<double>> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto ops = sample_rand_augment_ops(rng, 28, 28);
    ASSERT_EQ(ops.size(), 2u);
    for (const auto& op : ops) seen[op.name].insert(op.magnitude);
  }
  EXPECT_EQ(seen.size(), 14u);
  EXPECT_EQ(seen["Rotate"], (std::set<double>{-9.0, 9.0}));
  EXPECT_EQ(seen["Posterize"], (std::set<double>{7.0}));
  EXPECT_NEAR(*seen["Solarize"].begin(), 0.7, 1e-12);
  EXPECT_NEAR(*seen["Brightness"].rbegin(), 0.27, 1e-12);
  EXPECT_NEAR(*seen["TranslateX"].rbegin(), 150.0 / 331.0 * 28 * 0.3, 1e-12);
  EXPECT_ERROR(rand_augment({.magnitude = 31}), "[RandAugment] magnitude must be a bin in [0, 31), got 31");
  EXPECT_ERROR(trivial_augment_wide({.num_bins = 0}), "[TrivialAugmentWide] num_bins must be at least 1, got 0");
}

TEST(Photometric, BadArgumentsAreRefusedWithTheReason) {
  const Tensor im = img({0.5f}, {1, 1, 1});
  EXPECT_ERROR(posterize(im, 0), "[posterize] bits must be in [1, 8], got 0");
  EXPECT_ERROR(solarize(im, 1.5), "[solarize] threshold must be in [0, 1] for float images, got 1.5");
  EXPECT_ERROR(adjust_contrast(im, -1), "[adjust_contrast] factor must be a finite number >= 0, got -1");
  EXPECT_ERROR(adjust_saturation(img({0.5f, 0.5f}, {2, 1, 1}), 2), "[adjust_saturation] expected 1 or 3 channels, got 2");
  EXPECT_ERROR(adjust_brightness(from_vector<double>({0.5}, {1, 1}), 2), "[adjust_brightness] expected an f32 CPU image");
}
