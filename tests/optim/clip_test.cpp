// Gradient clipping: clip_grad_norm_ returns the total norm and scales like PyTorch;
// non-finite norms raise or propagate by option; clip_grad_value_ clamps element-wise.
#include <cstring>

#include "optim_test_util.h"

using namespace nabla;
using namespace nabla::optim;

namespace {

Tensor with_grad(const std::vector<double>& g, DType dt = kF32) {
  Tensor p = zeros({int64_t(g.size())}, {.dtype = dt, .requires_grad = true});
  p.set_grad(from_vector(g, {int64_t(g.size())}, dt));
  return p;
}

TEST(ClipGradNorm, ScalesToMaxNormAndReturnsTheTotal) {
  Tensor a = with_grad({3, 4}), b = with_grad({12}, kF64), c = zeros({2}, {.requires_grad = true});
  double total = clip_grad_norm_({a, b, c}, 1.0);
  EXPECT_NEAR(total, 13.0, 1e-12);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad().to_vector()[0], 3 * coef, 1e-7);
  EXPECT_NEAR(a.grad().to_vector()[1], 4 * coef, 1e-7);
  EXPECT_NEAR(b.grad().to_vector()[0], 12 * coef, 1e-15);
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGradNorm, BelowMaxNormLeavesGradientsUntouched) {
  Tensor a = with_grad({0.3, -0.4});
  auto before = a.grad().to_vector<float>();
  EXPECT_NEAR(clip_grad_norm_(a, 1.0), 0.5, 1e-7);
  auto after = a.grad().to_vector<float>();
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), sizeof(float) * 2));
}

TEST(ClipGradNorm, OtherNormTypes) {
  Tensor a = with_grad({3, -4}, kF64), b = with_grad({-12}, kF64);
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 100.0, INFINITY), 12.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 100.0, 1.0), 19.0);
  EXPECT_NEAR(clip_grad_norm_({a, b}, 100.0, 3.0), std::cbrt(27.0 + 64 + 1728), 1e-12);
  clip_grad_norm_({a, b}, 6.0, INFINITY);
  EXPECT_NEAR(b.grad().to_vector()[0], -6.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector()[1], -2.0, 1e-6);
}

TEST(ClipGradNorm, NonFiniteNormsByOption) {
  Tensor a = with_grad({1, NAN}), b = with_grad({2});
  EXPECT_ERROR(clip_grad_norm_({a, b}, 1.0, 2.0, true), "[clip_grad_norm_]", "nan", "error_if_nonfinite");
  EXPECT_EQ(b.grad().to_vector()[0], 2.0);  // untouched when it raises
  EXPECT_TRUE(std::isnan(clip_grad_norm_({a, b}, 1.0)));  // PyTorch's default: propagate
  EXPECT_TRUE(std::isnan(b.grad().to_vector()[0]));

  Tensor c = with_grad({1, INFINITY});
  EXPECT_ERROR(clip_grad_norm_(c, 1.0, 2.0, true), "[clip_grad_norm_]", "inf");
  EXPECT_TRUE(std::isinf(clip_grad_norm_(c, 1.0, INFINITY)));
}

TEST(ClipGradNorm, BadArguments) {
  Tensor a = with_grad({1});
  EXPECT_ERROR(clip_grad_norm_(a, -1.0), "[clip_grad_norm_] invalid max_norm: -1");
  EXPECT_ERROR(clip_grad_norm_(a, 1.0, 0.0), "[clip_grad_norm_] invalid norm_type: 0");
  EXPECT_EQ(clip_grad_norm_(std::vector<Tensor>{zeros({2}, {.requires_grad = true})}, 1.0), 0.0);
}

TEST(ClipGradValue, ClampsEveryElement) {
  Tensor a = with_grad({-3, -0.5, 0.25, 7, NAN}), b = with_grad({100}, kF64);
  clip_grad_value_({a, b}, 1.0);
  auto g = a.grad().to_vector();
  EXPECT_EQ(g[0], -1.0);
  EXPECT_EQ(g[1], -0.5);
  EXPECT_EQ(g[2], 0.25);
  EXPECT_EQ(g[3], 1.0);
  EXPECT_TRUE(std::isnan(g[4]));
  EXPECT_EQ(b.grad().to_vector()[0], 1.0);
  EXPECT_ERROR(clip_grad_value_(a, -1.0), "[clip_grad_value_] invalid clip_value");
}

TEST(ClipGradNorm, StridedGradients) {
  Tensor p = zeros({2, 3}, {.dtype = kF64, .requires_grad = true});
  p.set_grad(from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2}, kF64).t());  // non-contiguous
  EXPECT_NEAR(clip_grad_norm_(p, 1.0), std::sqrt(91.0), 1e-12);
  EXPECT_NEAR(p.grad().to_vector()[1], 3.0 / (std::sqrt(91.0) + 1e-6), 1e-12);
  clip_grad_value_(p, 0.1);
  EXPECT_NEAR(p.grad().to_vector()[5], 0.1, 1e-15);
}

// Large gradients take the threaded path of the norm; it must agree with a plain sum.
TEST(ClipGradNorm, LargeTensors) {
  manual_seed(2);
  Tensor p = zeros({500000}, {.requires_grad = true});
  p.set_grad(randn({500000}));
  double want = 0;
  for (double v : p.grad().to_vector()) want += v * v;
  EXPECT_NEAR(clip_grad_norm_(p, 1e9), std::sqrt(want), 1e-9 * std::sqrt(want));
}

}  // namespace
