// MixUp and CutMix (nabla/data/mix.h) against element loops of torchvision.transforms.v2's
// definitions; the Beta sampler against the distribution's moments.
#include <cmath>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;

namespace {

// 3 images [3, 2, H, W] with value 1000 b + 100 c + 10 y + x, labels {2, 0, 1}.
Batch coord_batch(int64_t h = 4, int64_t w = 5) {
  std::vector<float> v;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) v.push_back(float(1000 * b + 100 * c + 10 * y + x));
  return {from_vector(v, {3, 2, h, w}), from_vector<int64_t>({2, 0, 1}, {3})};
}

// Row b of the mixed targets: λ at labels[b], 1 - λ at labels[b - 1 mod 3] (summed if equal).
std::vector<double> expected_targets(const std::vector<int64_t>& labels, double lambda, int64_t classes) {
  std::vector<double> t(labels.size() * size_t(classes), 0.0);
  for (size_t b = 0; b < labels.size(); ++b) {
    t[b * size_t(classes) + size_t(labels[b])] += lambda;
    t[b * size_t(classes) + size_t(labels[(b + labels.size() - 1) % labels.size()])] += 1 - lambda;
  }
  return t;
}

void expect_vectors_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

}  // namespace

TEST(MixUp, BlendsEachImageWithItsNeighbourAndMixesTheLabels) {
  const Batch b = coord_batch();
  const double lambda = 0.3;
  const Batch m = mixup_batch(b, lambda, 4);
  ASSERT_EQ(m.inputs.shape(), b.inputs.shape());
  const auto x = b.inputs.to_vector();
  const int64_t per = 2 * 4 * 5;
  std::vector<double> want(x.size());
  for (int64_t i = 0; i < 3 * per; ++i) {
    const int64_t prev = ((i / per + 2) % 3) * per + i % per;  // the same pixel of image b - 1
    want[size_t(i)] = lambda * x[size_t(i)] + (1 - lambda) * x[size_t(prev)];
  }
  expect_vectors_near(m.inputs.to_vector(), want, 1e-3);
  EXPECT_EQ(m.targets.shape(), (Shape{3, 4}));
  EXPECT_EQ(m.targets.dtype(), DType::f32);
  expect_vectors_near(m.targets.to_vector(), expected_targets({2, 0, 1}, lambda, 4), 1e-7);
}

TEST(CutMix, PastesTheBoxFromTheNeighbourAndWeighsLabelsByArea) {
  const Batch b = coord_batch();
  const CutMixBox box{.y1 = 1, .y2 = 3, .x1 = 2, .x2 = 5};  // 2 x 3 of 4 x 5: λ = 1 - 6/20
  const Batch m = cutmix_batch(b, box, 3);
  const auto x = b.inputs.to_vector(), got = m.inputs.to_vector();
  size_t i = 0;
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t xx = 0; xx < 5; ++xx, ++i) {
          const bool inside = y >= 1 && y < 3 && xx >= 2 && xx < 5;
          const int64_t src = inside ? (n + 2) % 3 : n;
          EXPECT_EQ(got[i], double(1000 * src + 100 * c + 10 * y + xx)) << n << " " << c << " " << y << " " << xx;
        }
  expect_vectors_near(m.targets.to_vector(), expected_targets({2, 0, 1}, 0.7, 3), 1e-7);
}

// torchvision's box: centre uniform over the image, half-sides ⌊w√(1-λ)/2⌋, ⌊h√(1-λ)/2⌋, cut at
// the borders; so an uncut box has area ≈ (1-λ)HW and a cut one less.
TEST(CutMix, BoxesLieInTheImageWithTorchvisionsHalfSides) {
  Rng rng(7, 0);
  int uncut = 0;
  for (int k = 0; k < 200; ++k) {
    const double lambda = rng.uniform(0.0, 1.0);
    const CutMixBox box = cutmix_box(rng, lambda, 28, 32);
    ASSERT_TRUE(0 <= box.y1 && box.y1 <= box.y2 && box.y2 <= 28 && 0 <= box.x1 && box.x1 <= box.x2 && box.x2 <= 32);
    const int64_t hh = int64_t(0.5 * std::sqrt(1 - lambda) * 28), hw = int64_t(0.5 * std::sqrt(1 - lambda) * 32);
    EXPECT_LE(box.y2 - box.y1, 2 * hh);
    EXPECT_LE(box.x2 - box.x1, 2 * hw);
    if (box.y2 - box.y1 == 2 * hh && box.x2 - box.x1 == 2 * hw) {
      ++uncut;
      EXPECT_NEAR(double(box.area()) / (28.0 * 32.0), 1 - lambda, 0.15) << lambda;
    }
  }
  EXPECT_GT(uncut, 20);
}

// Beta(a, b) has mean a / (a + b) and variance ab / ((a + b)²(a + b + 1)); 20000 draws put the
// sample moments within a few standard errors (the draws are fixed by the seed).
TEST(SampleBeta, MatchesTheMomentsOfBeta) {
  for (auto [a, b] : {std::pair{0.2, 0.2}, std::pair{1.0, 1.0}, std::pair{2.0, 5.0}, std::pair{0.5, 3.0}}) {
    Rng rng(11, uint64_t(a * 100 + b));
    const int n = 20000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double v = sample_beta(rng, a, b);
      ASSERT_TRUE(v >= 0 && v <= 1) << v;
      s += v, s2 += v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    const double want_mean = a / (a + b), want_var = a * b / ((a + b) * (a + b) * (a + b + 1));
    EXPECT_NEAR(mean, want_mean, 4 * std::sqrt(want_var / n)) << a << " " << b;
    EXPECT_NEAR(var, want_var, 0.05 * want_var) << a << " " << b;
  }
}

// A tiny alpha puts Beta's mass at 0 and 1, where both Gamma draws underflow in the linear domain
// (their x / (x + y) was 0/0 = NaN); the draws must stay finite, in [0, 1], half near each end.
TEST(SampleBeta, TinyAlphaStaysFiniteAndSplitsBetweenTheEnds) {
  Rng rng(2, 7);
  int low = 0, high = 0;
  for (int i = 0; i < 4000; ++i) {
    const double v = sample_beta(rng, 1e-3, 1e-3);
    ASSERT_TRUE(v >= 0 && v <= 1) << v;
    low += v < 0.01, high += v > 0.99;
  }
  EXPECT_GT(low + high, 3900);
  EXPECT_NEAR(double(low) / (low + high), 0.5, 0.05);
  const Batch b = coord_batch();
  Rng r2(3, 3);
  for (int i = 0; i < 50; ++i) {
    const Batch m = CutMix({.alpha = 1e-3, .num_classes = 3})(b, r2);
    for (double t : m.targets.to_vector()) ASSERT_TRUE(std::isfinite(t));
  }
}

TEST(MixUp, SameRngSameMixAndTargetsAreDistributions) {
  const Batch b = coord_batch();
  MixUp mix({.alpha = 0.4, .num_classes = 3});
  Rng r1 = Rng::for_sample(5, 2, 9, RngDomain::mix), r2 = Rng::for_sample(5, 2, 9, RngDomain::mix);
  const Batch m1 = mix(b, r1), m2 = mix(b, r2);
  EXPECT_EQ(m1.inputs.to_vector(), m2.inputs.to_vector());
  const auto t = m1.targets.to_vector();
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(t[size_t(3 * r)] + t[size_t(3 * r + 1)] + t[size_t(3 * r + 2)], 1.0, 1e-6);
  CutMix cut({.alpha = 1.0, .num_classes = 3});
  const Batch c = cut(b, r1);
  EXPECT_EQ(c.targets.shape(), (Shape{3, 3}));
}

TEST(MixUp, BadArgumentsAreRefusedWithTheReason) {
  using nabla_test::error_of;
  const Batch b = coord_batch();
  EXPECT_ERROR(MixUp({.alpha = 0, .num_classes = 3}), "[MixUp] alpha must be positive, got 0");
  EXPECT_ERROR(CutMix({.alpha = 1, .num_classes = 0}), "[CutMix] num_classes must be positive, got 0");
  EXPECT_ERROR(mixup_batch(b, 1.5, 3), "[mixup] lambda must be in [0, 1], got 1.5");
  EXPECT_ERROR(mixup_batch(mixup_batch(b, 0.5, 3), 0.5, 3), "[mixup] targets must be i64 class indices [B], got f32",
               "a batch that was mixed already");
  EXPECT_ERROR(cutmix_batch({randn({3, 20}), b.targets}, {}, 3), "[cutmix] inputs must be images [B, C, H, W], got shape [3, 20]");
  EXPECT_ERROR(cutmix_batch(b, {.y1 = 2, .y2 = 6, .x1 = 0, .x2 = 1}, 3), "[cutmix] box rows [2, 6) columns [0, 1)",
               "4 x 5 image");
  EXPECT_ERROR(mixup_batch({b.inputs, from_vector<int64_t>({0, 1}, {2})}, 0.5, 3), "[mixup] inputs of shape [3, 2, 4, 5]",
               "targets of shape [2]");
  Rng rng(1, 1);
  EXPECT_ERROR(sample_beta(rng, 0, 1), "[sample_beta] parameters must be positive");
}
