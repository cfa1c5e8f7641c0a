// Conv1d and InstanceNorm1d/2d: the modules wrap conv1d / instance_norm (whose values and
// gradients are op-table rows), with PyTorch's defaults, padding modes, running statistics,
// unbatched inputs, printing, and errors that name the problem.
#include <cmath>

#include "helpers.h"
#include "nabla/optim.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(Conv1d, WrapsConv1dWithPyTorchsDefaultsAndShapes) {
  manual_seed(1);
  nn::Conv1d conv(nn::Conv1dOptions(3, 4, 5));
  EXPECT_EQ(conv.weight.shape(), (Shape{4, 3, 5}));
  EXPECT_EQ(conv.bias.shape(), (Shape{4}));
  // kaiming_uniform(a = sqrt 5): |w| <= 1/sqrt(fan_in), fan_in = 3 * 5.
  const double bound = 1.0 / std::sqrt(15.0);
  for (double w : conv.weight.to_vector<double>()) EXPECT_LE(std::fabs(w), bound + 1e-7);
  Tensor x = randn({2, 3, 11});
  EXPECT_EQ(conv(x).shape(), (Shape{2, 4, 7}));
  EXPECT_TRUE(bitwise_equal(conv(x), conv1d(x, conv.weight, conv.bias)));
  // Unbatched [C, L] gives [C_out, L_out].
  EXPECT_TRUE(bitwise_equal(conv(x.select(0, 1)), conv(x).select(0, 1)));
  EXPECT_EQ(conv.extra_repr(), "3, 4, kernel_size=(5,), stride=(1,)");

  nn::Conv1d strided(nn::Conv1dOptions(3, 6, 3).stride(2).padding(1).dilation(2).groups(3).bias(false));
  EXPECT_EQ(strided(x).shape(), (Shape{2, 6, 5}));  // (11 + 2 - 4 - 1) / 2 + 1
  EXPECT_EQ(strided.extra_repr(), "3, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), groups=3, bias=false");
}

TEST(Conv1d, PaddingModesPadTheSequenceThenConvolve) {
  manual_seed(2);
  Tensor x = randn({2, 2, 6});
  for (auto [mode, pad_mode] : {std::pair{nn::PaddingMode::Reflect, PadMode::Reflect},
                                std::pair{nn::PaddingMode::Replicate, PadMode::Replicate},
                                std::pair{nn::PaddingMode::Circular, PadMode::Circular}}) {
    nn::Conv1d conv(nn::Conv1dOptions(2, 3, 3).padding(2).padding_mode(mode));
    EXPECT_TRUE(bitwise_equal(conv(x), conv1d(pad(x, {2, 2}, pad_mode), conv.weight, conv.bias)));
  }
  // padding_same keeps the length; an even kernel puts the extra element at the end (PyTorch).
  nn::Conv1d same(nn::Conv1dOptions(2, 3, 4).padding_same(true).padding_mode(nn::PaddingMode::Reflect));
  EXPECT_EQ(same(x).shape(), (Shape{2, 3, 6}));
  EXPECT_TRUE(bitwise_equal(same(x), conv1d(pad(x, {1, 2}, PadMode::Reflect), same.weight, same.bias)));
  EXPECT_EQ(same.extra_repr(), "2, 3, kernel_size=(4,), stride=(1,), padding='same', padding_mode='reflect'");
  nn::Conv1d same_zeros(nn::Conv1dOptions(2, 3, 5).padding_same(true));
  EXPECT_EQ(same_zeros(x).shape(), (Shape{2, 3, 6}));
}

TEST(Conv1d, LearnsAFilter) {
  // A 3-tap moving difference recovered by SGD from its input/output pairs.
  manual_seed(4);
  Tensor target_w = from_vector<float>({1, 0, -1}, {1, 1, 3});
  nn::Conv1d conv(nn::Conv1dOptions(1, 1, 3).bias(false));
  optim::SGD opt(conv.parameters(), optim::SGDOptions(0.1));
  for (int step = 0; step < 300; ++step) {
    Tensor x = randn({8, 1, 16});
    Tensor loss = mse_loss(conv(x), conv1d(x, target_w));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const auto w = conv.weight.to_vector<double>();
  EXPECT_NEAR(w[0], 1, 1e-3);
  EXPECT_NEAR(w[1], 0, 1e-3);
  EXPECT_NEAR(w[2], -1, 1e-3);
}

TEST(Conv1d, RefusesBadOptionsAndInputs) {
  EXPECT_ERROR(nn::Conv1d(nn::Conv1dOptions(3, 4, 0)), "[Conv1d] kernel_size, stride and dilation must be positive");
  EXPECT_ERROR(nn::Conv1d(nn::Conv1dOptions(3, 4, 3).groups(2)), "groups = 2 must be positive and divide in_channels 3");
  EXPECT_ERROR(nn::Conv1d(nn::Conv1dOptions(3, 4, 3).padding_same(true).stride(2)),
               "padding_same needs stride 1, got stride 2");
  nn::Conv1d conv(nn::Conv1dOptions(3, 4, 3));
  EXPECT_ERROR(conv(zeros({2, 5, 8})), "[Conv1d] expected input [N, 3, L] or [3, L], got shape [2, 5, 8]");
  EXPECT_ERROR(conv(zeros({2, 3, 8, 8})), "expected input [N, 3, L] or [3, L], got shape [2, 3, 8, 8]");
  EXPECT_ERROR(conv1d(zeros({2, 3, 8}), zeros({4, 3, 3, 3})), "[conv1d] expected weight [C_out, C_in/groups, K]");
  // The functional form names itself and the 3-D shapes it was given.
  EXPECT_ERROR(conv1d(zeros({2, 5, 10}), zeros({4, 3, 3})),
               "[conv1d] input [2, 5, 10] has 5 channels but weight [4, 3, 3] with groups = 1 expects 3");
  EXPECT_ERROR(conv1d(zeros({2, 3, 10}), zeros({4, 3, 3}), Tensor(), {.stride = 2, .padding_same = true}),
               "[conv1d] padding='same' needs stride 1, got stride 2");
  EXPECT_ERROR(conv1d(zeros({2, 4, 10}), zeros({6, 2, 3}), Tensor(), {.groups = 3}), "[conv1d] groups = 3 must divide");
  EXPECT_ERROR(conv1d(zeros({2, 3, 4}), zeros({4, 3, 7})), "[conv1d] input [2, 3, 4] padded by 0 on each side is shorter");
  EXPECT_ERROR(conv1d(zeros({2, 3, 8}), zeros({4, 3, 3}), zeros({3})), "[conv1d] bias shape [3] must be [4]");
  EXPECT_ERROR(conv1d(zeros({2, 3, 8}), zeros({4, 3, 3}, {.dtype = DType::f64})),
               "[conv1d] input dtype f32, weight dtype f64");
}

namespace {
/// Per-channel mean and unbiased variance of x [N, C, ...] for each sample, averaged over N: what
/// PyTorch's instance_norm folds into the running statistics.
std::pair<std::vector<double>, std::vector<double>> batch_stats(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  const auto v = x.to_vector<double>();
  std::vector<double> mean(size_t(C), 0.0), var(size_t(C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double m = 0, q = 0;
      for (int64_t s = 0; s < S; ++s) m += v[size_t((n * C + c) * S + s)];
      m /= double(S);
      for (int64_t s = 0; s < S; ++s) q += std::pow(v[size_t((n * C + c) * S + s)] - m, 2);
      mean[size_t(c)] += m / double(N);
      var[size_t(c)] += q / double(S - 1) / double(N);
    }
  return {mean, var};
}
}  // namespace

TEST(InstanceNorm, NormalizesEachSampleAndChannel) {
  manual_seed(5);
  nn::InstanceNorm2d norm(3);
  EXPECT_FALSE(norm.options.affine());
  EXPECT_FALSE(norm.options.track_running_stats());
  EXPECT_TRUE(norm.parameters().empty());
  EXPECT_TRUE(norm.named_buffers().empty());
  Tensor x = randn({2, 3, 4, 5}) * 3.0 + 1.0;
  Tensor y = norm(x);
  EXPECT_TRUE(bitwise_equal(y, group_norm(x, 3)));
  // Every (sample, channel) plane has mean 0 and biased variance 1 (up to eps).
  Tensor m = mean(y, {2, 3}), v = var(y, {2, 3}, false, 0);
  for (double e : m.to_vector<double>()) EXPECT_NEAR(e, 0, 1e-5);
  for (double e : v.to_vector<double>()) EXPECT_NEAR(e, 1, 1e-3);
  // The same in eval mode without running statistics; unbatched [C, H, W] works.
  norm.eval();
  EXPECT_TRUE(bitwise_equal(norm(x), y));
  EXPECT_TRUE(bitwise_equal(norm(x.select(0, 1)), y.select(0, 1)));
  EXPECT_EQ(norm.extra_repr(), "3, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false");

  nn::InstanceNorm1d affine(nn::InstanceNormOptions(2).affine(true));
  EXPECT_EQ(affine.named_parameters().size(), 2u);
  Tensor s = randn({4, 2, 7});
  EXPECT_TRUE(bitwise_equal(affine(s), group_norm(s, 2, affine.weight, affine.bias)));
}

TEST(InstanceNorm, TracksRunningStatisticsAndUsesThemInEval) {
  manual_seed(6);
  nn::InstanceNorm2d norm(nn::InstanceNormOptions(3).track_running_stats(true).momentum(0.2));
  const auto buffers = norm.named_buffers();
  ASSERT_EQ(buffers.size(), 3u);  // running_mean, running_var, num_batches_tracked (PyTorch's layout)
  Tensor x = randn({4, 3, 5, 5}) * 2.0 + 0.5;
  Tensor y = norm(x);  // training: the input's own statistics
  EXPECT_TRUE(bitwise_equal(y, group_norm(x, 3)));
  const auto [bm, bv] = batch_stats(x);
  const auto rm = norm.running_mean.to_vector<double>(), rv = norm.running_var.to_vector<double>();
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(rm[c], 0.8 * 0.0 + 0.2 * bm[c], 1e-6);
    EXPECT_NEAR(rv[c], 0.8 * 1.0 + 0.2 * bv[c], 1e-5);
  }
  EXPECT_EQ(norm.num_batches_tracked.item(), 0.0);  // PyTorch's InstanceNorm does not count
  // Eval: (x - running_mean) / sqrt(running_var + eps), per channel.
  norm.eval();
  Tensor e = norm(x);
  const auto xv = x.to_vector<double>(), ev = e.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) {
    const size_t c = (i / 25) % 3;
    EXPECT_NEAR(ev[i], (xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5), 1e-5);
  }
  // The functional form refuses eval without statistics.
  InstanceNormOptions o;
  o.use_input_stats = false;
  EXPECT_ERROR(instance_norm(x, o), "[instance_norm] use_input_stats = false needs running_mean and running_var");
}

TEST(InstanceNorm, RefusesBadOptionsAndInputs) {
  EXPECT_ERROR(nn::InstanceNorm2d(0), "[InstanceNorm2d] num_features must be positive, got 0");
  EXPECT_ERROR(nn::InstanceNorm1d(nn::InstanceNormOptions(2).momentum(1.5)), "momentum must be in [0, 1], got 1.5");
  nn::InstanceNorm2d norm(3);
  EXPECT_ERROR(norm(zeros({2, 4, 5, 5})), "[InstanceNorm2d] expected input [N, 3, H, W] or unbatched [3, H, W], got [2, 4, 5, 5]");
  EXPECT_ERROR(norm(zeros({2, 3, 5})), "expected input [N, 3, H, W]");
  // One position per channel has no variance to normalize by (PyTorch refuses it too).
  EXPECT_ERROR(norm(zeros({2, 3, 1, 1})), "[instance_norm] expected more than 1 spatial element per channel");
  InstanceNormOptions o;
  o.running_mean = zeros({3});
  EXPECT_ERROR(instance_norm(zeros({2, 3, 4}), o), "give both running_mean and running_var or neither");
  o.running_var = ones({2});
  EXPECT_ERROR(instance_norm(zeros({2, 3, 4}), o), "running_var shape [2] must be [3] for input [2, 3, 4]");
  InstanceNormOptions ints;
  ints.running_mean = zeros({3}, {.dtype = DType::i64});
  ints.running_var = ones({3}, {.dtype = DType::i64});
  EXPECT_ERROR(instance_norm(zeros({2, 3, 4}), ints), "[instance_norm] running_mean must be floating, got i64");
  InstanceNormOptions affine;
  affine.weight = ones({4});
  EXPECT_ERROR(instance_norm(zeros({2, 3, 4}), affine), "[instance_norm] weight shape [4] must be [3]");
  InstanceNormOptions no_eps;
  no_eps.eps = 0;
  EXPECT_ERROR(instance_norm(zeros({2, 3, 4}), no_eps), "[instance_norm] eps must be positive, got 0");
}

TEST(InstanceNorm, EmptyBatchGivesAnEmptyResultAndKeepsTheStatistics) {
  InstanceNormOptions o;
  o.running_mean = zeros({3});
  o.running_var = ones({3});
  Tensor y = instance_norm(zeros({0, 3, 5}), o);
  EXPECT_EQ(y.shape(), (Shape{0, 3, 5}));
  EXPECT_EQ(o.running_mean.to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(o.running_var.to_vector<double>(), (std::vector<double>{1, 1, 1}));
}
