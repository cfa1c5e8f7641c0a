// amp::GradScaler: torch.amp.GradScaler's schedule (backoff on overflow, growth after
// growth_interval clean steps), skipped steps, exact unscaling, misuse errors and state_dict.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/expect_error.h"
#include "nabla/nabla.h"
#include "nabla/optim.h"

namespace {

namespace nb = nabla;
using nb::Tensor;
using nb::amp::GradScaler;

Tensor param(std::vector<double> v) {
  return nb::from_vector(v, {int64_t(v.size())}, nb::DType::f32).requires_grad_(true);
}

TEST(GradScaler, ScalesTheLossAndUnscalesGradientsExactly) {
  Tensor w = param({1.0, -2.0, 3.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.1));
  GradScaler scaler({.init_scale = 1024.0});
  Tensor loss = (w * w).sum();
  Tensor scaled = scaler.scale(loss);
  EXPECT_DOUBLE_EQ(scaled.item(), loss.item() * 1024.0);
  scaled.backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{2048, -4096, 6144}));
  scaler.unscale_(opt);
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{2, -4, 6}));
  EXPECT_FALSE(scaler.found_inf(opt));
  EXPECT_TRUE(scaler.step(opt));  // uses the unscaled gradients: w - 0.1 * 2w
  std::vector<double> got = w.to_vector<double>();
  EXPECT_NEAR(got[0], 0.8, 1e-6);
  EXPECT_NEAR(got[1], -1.6, 1e-6);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1024.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);
}

TEST(GradScaler, ScaledLossDtypeFollowsResultTypeWithAnF32ZeroDimScale) {
  // PyTorch's scale() is outputs * self._scale, _scale = torch.full((), init_scale, float32); by
  // torch.result_type a 0-d f16/bf16 loss times a 0-d f32 is f32, a dimensioned one stays f16/bf16
  // (LibTorch 1.13: (torch::full({}, 3, kHalf) * torch::full({}, 1024., kFloat)).dtype() == kFloat).
  GradScaler scaler({.init_scale = 1024.0});
  for (nb::DType half : {nb::DType::f16, nb::DType::bf16}) {
    Tensor w = nb::full({}, 3.0, {.dtype = half, .requires_grad = true});
    Tensor loss0 = w * w;  // 0-d
    Tensor s0 = scaler.scale(loss0);
    EXPECT_EQ(s0.dtype(), nb::DType::f32) << nb::dtype_name(half);
    EXPECT_EQ(s0.shape(), nb::Shape{});
    EXPECT_EQ(s0.item(), 9.0 * 1024.0);
    s0.backward();
    EXPECT_EQ(w.grad().dtype(), half) << "the gradient goes back in the parameter's dtype";
    EXPECT_EQ(w.grad().item(), 6.0 * 1024.0);
    for (const nb::Shape& shape : {nb::Shape{1}, nb::Shape{2, 3}}) {
      Tensor loss = nb::full(shape, 0.5, {.dtype = half});
      Tensor s = scaler.scale(loss);
      EXPECT_EQ(s.dtype(), half) << nb::dtype_name(half) << " " << nb::shape_str(shape);
      EXPECT_EQ(s.shape(), shape);
      EXPECT_EQ(s.to_vector<double>(), std::vector<double>(size_t(s.numel()), 512.0));
    }
  }
  // f64 stays f64 (0-d or not), times the scale rounded to f32 as PyTorch's _scale is: 0.1f.
  GradScaler tenth({.init_scale = 0.1});
  Tensor l64 = nb::full({}, 1.0, {.dtype = nb::DType::f64});
  Tensor s64 = tenth.scale(l64);
  EXPECT_EQ(s64.dtype(), nb::DType::f64);
  EXPECT_EQ(s64.item(), double(0.1f));
  EXPECT_EQ(tenth.scale(nb::full({2}, 1.0, {.dtype = nb::DType::f64})).dtype(), nb::DType::f64);
  EXPECT_EQ(tenth.scale(nb::full({}, 1.0, {.dtype = nb::DType::f32})).item(), double(0.1f));
}

TEST(GradScaler, OverflowSkipsTheStepAndBacksOff) {
  Tensor w = param({1.0, 2.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.1));
  GradScaler scaler({.init_scale = 8.0});
  for (double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    opt.zero_grad();
    scaler.scale((w * nb::from_vector(std::vector<double>{1.0, bad}, {2}, nb::DType::f32)).sum()).backward();
    const double before = scaler.get_scale();
    EXPECT_FALSE(scaler.step(opt));
    EXPECT_TRUE(scaler.found_inf(opt));
    EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{1.0, 2.0})) << "a skipped step leaves the weights";
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), before * 0.5);
    EXPECT_EQ(scaler.growth_tracker(), 0);
  }
}

// The scale after a pattern of clean (0) and overflowing (1) iterations, growth_interval 3:
// what torch.amp.GradScaler's _amp_update_scale_ gives for the same pattern.
TEST(GradScaler, ScheduleMatchesPyTorchsRule) {
  Tensor w = param({1.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.0));
  GradScaler scaler({.init_scale = 16.0, .growth_factor = 2.0, .backoff_factor = 0.25, .growth_interval = 3});
  const int pattern[] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1};
  const double want[] = {16, 16, 32, 32, 8, 8, 8, 16, 16, 16, 32, 8, 2};
  for (size_t i = 0; i < std::size(pattern); ++i) {
    opt.zero_grad();
    const double v = pattern[i] ? std::numeric_limits<double>::infinity() : 1.0;
    scaler.scale(w * v).sum().backward();
    scaler.step(opt);
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), want[i]) << "after iteration " << i;
  }
}

TEST(GradScaler, DisabledIsAPassThrough) {
  Tensor w = param({1.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.5));
  GradScaler scaler({.enabled = false});
  Tensor loss = (w * 3.0).sum();
  EXPECT_EQ(scaler.scale(loss).item(), 3.0);
  scaler.scale(loss).backward();
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  EXPECT_NEAR(w.item(), -0.5, 1e-7);
  EXPECT_EQ(scaler.get_scale(), 1.0);
}

TEST(GradScaler, MisuseIsAnError) {
  Tensor w = param({1.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.1));
  GradScaler scaler;
  EXPECT_ERROR(scaler.update(), "[GradScaler] update() without any unscale_() or step()");
  scaler.scale(w.sum()).backward();
  scaler.unscale_(opt);
  EXPECT_ERROR(scaler.unscale_(opt), "unscale_() has already been called on this optimizer");
  scaler.step(opt);
  EXPECT_ERROR(scaler.step(opt), "step() has already been called");
  scaler.update();
  EXPECT_ERROR(GradScaler({.init_scale = 0}), "init_scale must be positive");
  EXPECT_ERROR(GradScaler({.growth_factor = 1.0}), "growth_factor must be > 1");
  EXPECT_ERROR(GradScaler({.backoff_factor = 1.0}), "backoff_factor must be in (0, 1)");
  EXPECT_ERROR(GradScaler({.growth_interval = 0}), "growth_interval must be positive");
  EXPECT_ERROR(scaler.update(-1.0), "new_scale must be positive");
  EXPECT_ERROR(scaler.scale(nb::from_vector(std::vector<double>{1}, {1}, nb::DType::i64)),
               "scale() expects a floating loss");
}

TEST(GradScaler, StateDictRoundTripsAndIsChecked) {
  Tensor w = param({1.0});
  nb::optim::SGD opt({w}, nb::optim::SGDOptions(0.1));
  GradScaler a({.init_scale = 3.0, .growth_factor = 3.0, .backoff_factor = 0.1, .growth_interval = 5});
  a.scale(w.sum()).backward();
  a.step(opt);
  a.update();
  GradScaler b;
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.get_scale(), 3.0);
  EXPECT_EQ(b.growth_tracker(), 1);
  EXPECT_EQ(b.state_dict(), a.state_dict());
  nb::io::Metadata bad = a.state_dict();
  bad.erase("growth_factor");
  EXPECT_ERROR(b.load_state_dict(bad), "missing \"growth_factor\"");
  bad = a.state_dict();
  bad["growth_tracker"] = "5";
  EXPECT_ERROR(b.load_state_dict(bad), "growth_tracker 5 must be in [0, growth_interval = 5)");
  bad = a.state_dict();
  bad["scale"] = "x";
  EXPECT_ERROR(b.load_state_dict(bad), "GradScaler scale");
  EXPECT_EQ(b.get_scale(), 3.0) << "a refused state changes nothing";
}

}  // namespace
