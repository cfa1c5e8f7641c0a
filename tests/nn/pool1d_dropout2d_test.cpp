// MaxPool1d / AvgPool1d / AdaptiveAvgPool1d / AdaptiveMaxPool1d and channel dropout
// (Dropout1d / Dropout2d): the modules wrap the functional ops (whose values and gradients are
// op-table rows for the pools), unbatched inputs, printing, and errors that name the problem.
#include <cmath>

#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(Pool1d, ModulesWrapTheFunctionalOpsBatchedAndUnbatched) {
  manual_seed(3);
  Tensor x = randn({2, 3, 11});
  nn::MaxPool1d mp(nn::MaxPool1dOptions(3).stride(2).padding(1).ceil_mode(true));
  EXPECT_EQ(mp(x).shape(), (Shape{2, 3, 6}));  // ceil((11 + 2 - 3) / 2) + 1
  EXPECT_TRUE(bitwise_equal(mp(x), max_pool1d(x, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true})));
  EXPECT_TRUE(bitwise_equal(mp(x.select(0, 1)), mp(x).select(0, 1)));
  EXPECT_EQ(mp.extra_repr(), "kernel_size=3, stride=2, padding=1, ceil_mode=true");

  nn::AvgPool1d ap(nn::AvgPool1dOptions(4).padding(2).count_include_pad(false));
  EXPECT_EQ(ap(x).shape(), (Shape{2, 3, 3}));  // (11 + 4 - 4) / 4 + 1
  EXPECT_TRUE(bitwise_equal(ap(x), avg_pool1d(x, {.kernel = 4, .padding = 2, .count_include_pad = false})));
  EXPECT_EQ(ap.extra_repr(), "kernel_size=4, stride=4, padding=2");
  // The first window covers x[0..1] and two padded zeros, which do not count.
  EXPECT_NEAR(ap(x).select(2, 0).to_vector<double>()[0], (x.to_vector<double>()[0] + x.to_vector<double>()[1]) / 2,
              1e-6);

  nn::AdaptiveAvgPool1d aap(1);
  EXPECT_TRUE(allclose(aap(x).squeeze(2), mean(x, {2}), 1e-6, 1e-7));
  EXPECT_EQ(aap.extra_repr(), "output_size=1");
  nn::AdaptiveMaxPool1d amp(1);
  EXPECT_TRUE(bitwise_equal(amp(x).squeeze(2), max(x, {2})));
  EXPECT_EQ(amp(x.select(0, 0)).shape(), (Shape{3, 1}));
}

TEST(Pool1d, ErrorsNameTheOpAndTheShapesTheCallerPassed) {
  Tensor x = randn({2, 3, 5});
  EXPECT_ERROR(max_pool1d(randn({2, 3, 4, 5})), "[max_pool1d] expected input [N, C, L] or [C, L], got shape [2, 3, 4, 5]");
  EXPECT_ERROR(max_pool1d(x, {.kernel = 3, .padding = 2}), "[max_pool1d] padding 2 must be non-negative and at most half the kernel 3");
  EXPECT_ERROR(avg_pool1d(x, {.kernel = 6}), "[avg_pool1d] kernel 6 is longer than the padded input length 5 (input [2, 3, 5])");
  EXPECT_ERROR(avg_pool1d(x, {.kernel = 2, .stride = -1}), "[avg_pool1d] kernel and stride must be positive, got kernel 2, stride -1");
  EXPECT_ERROR(max_pool1d(ones({2, 3, 5}, {.dtype = DType::i64})), "[max_pool1d]");
  EXPECT_ERROR(adaptive_avg_pool1d(x, 0), "[adaptive_avg_pool1d] output size 0 must be positive");
  EXPECT_ERROR(adaptive_max_pool1d(randn({2, 3, 0}), 2), "[adaptive_max_pool1d] input [2, 3, 0] has an empty length");
  nn::MaxPool1d mp(2);
  EXPECT_ERROR(mp(randn({5})), "[MaxPool1d] expected input [N, C, L] or [C, L], got shape [5]");
  nn::AdaptiveAvgPool1d aap(2);
  EXPECT_ERROR(aap(randn({1, 2, 3, 4})), "[AdaptiveAvgPool1d] expected input [N, C, L] or [C, L], got shape [1, 2, 3, 4]");
}

namespace {

/// Checks y = dropout of x = 2 (all ones times 2) zeroed whole channels: every [sample, channel]
/// slice of y is all 0 or all 2 / (1 - p). Returns the fraction of dropped channels.
double dropped_channel_fraction(const Tensor& y, int64_t channel_dims, double p) {
  int64_t slices = 1;
  for (int64_t d = 0; d < channel_dims; ++d) slices *= y.size(d);
  const int64_t per = y.numel() / slices;
  const std::vector<double> v = y.contiguous().to_vector<double>();
  int64_t dropped = 0;
  for (int64_t s = 0; s < slices; ++s) {
    const double first = v[size_t(s * per)];
    EXPECT_TRUE(first == 0.0 || std::fabs(first - 2.0 / (1.0 - p)) < 1e-5) << first;
    for (int64_t i = 1; i < per; ++i) EXPECT_EQ(v[size_t(s * per + i)], first) << "slice " << s;
    dropped += first == 0.0;
  }
  return double(dropped) / double(slices);
}

}  // namespace

TEST(ChannelDropout, ZeroesWholeChannelsAboutPOfTheTimeAndKeepsTheExpectation) {
  for (DType dt : {DType::f32, DType::f64}) {
    manual_seed(11);
    // 2,000 channels: the dropped fraction's standard deviation is about 0.011.
    const double p2 = 0.3;
    Tensor y2 = dropout2d(full({50, 40, 3, 4}, 2.0, {.dtype = dt}), p2);
    EXPECT_EQ(y2.dtype(), dt);
    EXPECT_NEAR(dropped_channel_fraction(y2, 2, p2), p2, 0.05);
    const double p1 = 0.6;
    Tensor y1 = dropout1d(full({40, 50, 7}, 2.0, {.dtype = dt}), p1);
    EXPECT_NEAR(dropped_channel_fraction(y1, 2, p1), p1, 0.05);
    // Unbatched: one draw per channel.
    EXPECT_NEAR(dropped_channel_fraction(dropout2d(full({2000, 2, 2}, 2.0, {.dtype = dt}), p2), 1, p2), p2, 0.05);
    EXPECT_NEAR(dropped_channel_fraction(dropout1d(full({2000, 3}, 2.0, {.dtype = dt}), p1), 1, p1), p1, 0.05);
  }
}

TEST(ChannelDropout, GradientIsTheChannelMaskAndEvalIsIdentity) {
  manual_seed(5);
  Tensor x = randn({4, 6, 3, 3}, {.dtype = DType::f64}).requires_grad_();
  Tensor y = dropout2d(x, 0.5);
  Tensor g = randn(y.shape(), {.dtype = DType::f64});
  y.backward(g);
  // y = x * m with m in {0, 2} per channel, so dx = g * m = g * y / x.
  const auto xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = g.to_vector<double>(),
             gx = x.grad().to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_NEAR(gx[i], gv[i] * yv[i] / xv[i], 1e-12);
  // Seeded: the same seed draws the same channels.
  manual_seed(5);
  randn({4, 6, 3, 3}, {.dtype = DType::f64});
  EXPECT_TRUE(bitwise_equal(dropout2d(x.detach(), 0.5), y.detach()));
  Tensor plain = randn({2, 3, 4});
  EXPECT_TRUE(bitwise_equal(dropout1d(plain, 0.5, false), plain));
  EXPECT_EQ(sum(abs(dropout1d(plain, 1.0))).item<double>(), 0.0);

  nn::Dropout2d d2(0.25);
  EXPECT_EQ(d2.extra_repr(), "p=0.25");
  d2.eval();
  Tensor img = randn({2, 3, 4, 4});
  EXPECT_TRUE(bitwise_equal(d2(img), img));
  d2.train();
  Tensor z = randn({64, 8, 2, 2}) + 5.0;  // no zeros of its own: a zero in the output is a dropped channel
  const Tensor zeros_per_channel = sum(eq(d2(z), zeros_like(z)).to(DType::f32), {2, 3}).reshape({-1});
  int64_t dropped = 0;
  for (double c : zeros_per_channel.to_vector<double>()) {
    EXPECT_TRUE(c == 0 || c == 4) << c;  // all of a channel or none of it
    dropped += c == 4;
  }
  EXPECT_GT(dropped, 64);  // about 128 of 512
  EXPECT_LT(dropped, 192);
}

TEST(ChannelDropout, ErrorsNameTheLayerAndExpectedShapes) {
  EXPECT_ERROR(dropout2d(randn({2, 3}), 0.5), "[dropout2d] expected input [N, C, H, W] or [C, H, W], got shape [2, 3]");
  EXPECT_ERROR(dropout1d(randn({2, 3, 4, 5}), 0.5), "[dropout1d] expected input [N, C, L] or [C, L], got shape [2, 3, 4, 5]");
  EXPECT_ERROR(dropout2d(randn({2, 3, 4}), 1.5), "[dropout2d] probability p must be in [0, 1], got 1.5");
  EXPECT_ERROR(nn::Dropout1d(-0.1), "[Dropout1d] probability p must be in [0, 1], got -0.1");
  nn::Dropout2d d2;
  EXPECT_ERROR(d2(randn({2, 3})), "[Dropout2d] expected input [N, C, H, W] or [C, H, W], got shape [2, 3]");
  EXPECT_ERROR(dropout2d(ones({2, 3, 4}, {.dtype = DType::i64}), 0.5), "[dropout2d]");
}
