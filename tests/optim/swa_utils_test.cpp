// AveragedModel (SWA and EMA), SWALR and update_bn against hand-computed values: the running
// mean of the snapshots, PyTorch's EMA recursion, PyTorch's recursive SWALR get_lr() rewritten
// as a loop, and BatchNorm statistics recomputed from the data.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "../common/expect_error.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;
using namespace nabla::optim;

namespace {

/// Sets every parameter of `m` to `v` (a fresh snapshot for the averages).
void fill_params(nn::Module& m, double v) {
  NoGradGuard ng;
  for (Tensor& p : m.parameters()) p.fill_(v);
}

TEST(AveragedModel, SwaIsTheMeanOfTheSnapshots) {
  auto model = std::make_shared<nn::Linear>(3, 2);
  AveragedModel swa(std::make_shared<nn::Linear>(3, 2));
  EXPECT_EQ(swa.num_averaged(), 0);
  const std::vector<double> snapshots = {1.0, 4.0, -2.0, 0.5};
  double sum = 0;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    fill_params(*model, snapshots[i]);
    swa.update_parameters(*model);
    sum += snapshots[i];
    EXPECT_EQ(swa.num_averaged(), int64_t(i + 1));
    for (const Tensor& p : swa.module->parameters())
      for (float v : p.to_vector<float>()) EXPECT_NEAR(v, sum / double(i + 1), 1e-6) << "after " << i + 1;
  }
  // The averaged model computes with the averaged weights (all 0.875): 3 * 0.875 * 1 + 0.875.
  swa.eval();
  Tensor y = swa(ones({1, 3}));
  for (float v : y.to_vector<float>()) EXPECT_NEAR(v, 4 * 0.875, 1e-5);
}

TEST(AveragedModel, EmaFollowsPyTorchsRecursion) {
  auto model = std::make_shared<nn::Linear>(2, 2);
  const double decay = 0.9;
  AveragedModel ema(std::make_shared<nn::Linear>(2, 2), get_ema_avg_fn(decay));
  double want = 0;
  for (int i = 0; i < 6; ++i) {
    const double v = std::sin(1.0 + i) * 3;
    fill_params(*model, v);
    ema.update_parameters(*model);
    want = i == 0 ? v : decay * want + (1 - decay) * v;  // the first update copies
  }
  for (const Tensor& p : ema.module->parameters())
    for (float v : p.to_vector<float>()) EXPECT_NEAR(v, want, 1e-6);
}

TEST(AveragedModel, StateDictHasPyTorchsKeys) {
  AveragedModel swa(std::make_shared<nn::Linear>(3, 2));
  nn::StateDict sd = swa.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, v] : sd) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"module.bias", "module.weight", "n_averaged"}));
}

TEST(AveragedModel, BuffersAreCopiedOrAveraged) {
  auto make = [] { return std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(2)); };
  auto model = make();
  AveragedModel copying(make()), averaging(make(), get_swa_avg_fn(), /*use_buffers=*/true);
  for (double v : {2.0, 4.0}) {
    {
      NoGradGuard ng;
      model->running_mean.fill_(v);
    }
    copying.update_parameters(*model);
    averaging.update_parameters(*model);
  }
  auto bn = [](AveragedModel& a) { return a.module->as<nn::BatchNorm>(); };
  for (float v : bn(copying)->running_mean.to_vector<float>()) EXPECT_EQ(v, 4.0f);
  for (float v : bn(averaging)->running_mean.to_vector<float>()) EXPECT_EQ(v, 3.0f);
}

TEST(AveragedModel, AnotherArchitectureIsRejectedAndChangesNothing) {
  AveragedModel swa(std::make_shared<nn::Linear>(3, 2));
  nn::Linear other(3, 4);
  EXPECT_ERROR(swa.update_parameters(other), "[AveragedModel]", "update_parameters", "weight", "[4, 3]", "[2, 3]");
  EXPECT_EQ(swa.num_averaged(), 0);
  nn::Sequential deeper(nn::Linear(3, 2), nn::Linear(2, 2));
  EXPECT_ERROR(swa.update_parameters(deeper), "the model has 4 parameters, the averaged module 2");
  EXPECT_ERROR(AveragedModel(nullptr), "[AveragedModel]", "null");
  EXPECT_ERROR(get_ema_avg_fn(1.5), "[get_ema_avg_fn]", "1.5", "[0, 1]");
}

// SGD with noisy gradients on a quadratic at a constant lr rattles around the optimum; the
// average of its iterates (SWA) and their EMA sit much closer to it than the last iterate.
TEST(AveragedModel, AveragingIteratesOfNoisySgdLandsNearerTheOptimum) {
  manual_seed(3);
  auto model = std::make_shared<nn::Linear>(nn::LinearOptions(8, 1).bias(false));
  SGD opt(model->parameters(), SGDOptions(0.2));
  AveragedModel swa(std::make_shared<nn::Linear>(nn::LinearOptions(8, 1).bias(false)));
  AveragedModel ema(std::make_shared<nn::Linear>(nn::LinearOptions(8, 1).bias(false)), get_ema_avg_fn(0.98));
  Tensor target = ones({1, 8});
  for (int step = 0; step < 600; ++step) {
    opt.zero_grad();
    // loss = |w - target|^2 / 2 + noise . w: the gradient is (w - target) plus noise.
    Tensor w = model->weight;
    Tensor loss = (square(w - target).sum() * 0.5) + (randn({1, 8}) * w).sum();
    loss.backward();
    opt.step();
    if (step >= 100) {  // averaging starts after the approach, as SWA's swa_start
      swa.update_parameters(*model);
      ema.update_parameters(*model);
    }
  }
  auto dist = [&](const Tensor& w) { return std::sqrt(square(w.detach() - target).sum().item<double>()); };
  const double last = dist(model->weight), d_swa = dist(swa.module->as<nn::Linear>()->weight),
               d_ema = dist(ema.module->as<nn::Linear>()->weight);
  std::printf("distance to the optimum: last iterate %.4f, EMA(0.98) %.4f, SWA %.4f\n", last, d_ema, d_swa);
  EXPECT_LT(d_swa, last / 4);
  EXPECT_LT(d_ema, last / 2);
}

// ---- SWALR ---------------------------------------------------------------------------------

/// PyTorch's SWALR.get_lr(), recursive: from the group's current lr at each step.
double pytorch_swalr_step(double lr, double swa_lr, int64_t step, int64_t anneal_epochs, bool cos) {
  auto anneal = [cos](double t) { return cos ? (1 - std::cos(std::numbers::pi * t)) / 2 : t; };
  const double prev_t = std::max(0.0, std::min(1.0, double(step - 1) / double(std::max<int64_t>(1, anneal_epochs))));
  const double prev_alpha = anneal(prev_t);
  const double prev_lr = prev_alpha == 1 ? swa_lr : (lr - prev_alpha * swa_lr) / (1 - prev_alpha);
  const double t = std::max(0.0, std::min(1.0, double(step) / double(std::max<int64_t>(1, anneal_epochs))));
  const double alpha = anneal(t);
  return swa_lr * alpha + prev_lr * (1 - alpha);
}

TEST(SWALR, MatchesPyTorchsRecursionFromTheCurrentLr) {
  for (bool cos : {true, false}) {
    for (int64_t anneal : {0, 1, 3, 10}) {
      Tensor p = zeros({2}, {.requires_grad = true});
      SGD opt(std::vector<Tensor>{p}, SGDOptions(0.5));
      CosineAnnealingLR before(opt, 10);  // the phase before averaging moves the lr off its initial value
      for (int i = 0; i < 4; ++i) before.step();
      double lr = opt.param_groups()[0].options().get_lr();
      ASSERT_LT(lr, 0.5);
      SWALR s(opt, 0.05, anneal, cos ? AnnealStrategy::Cos : AnnealStrategy::Linear);
      lr = pytorch_swalr_step(lr, 0.05, 0, anneal, cos);  // the constructor's step
      for (int64_t step = 0; step < 15; ++step) {
        EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), lr, 1e-12 * std::max(1.0, lr))
            << (cos ? "cos" : "linear") << " anneal_epochs " << anneal << " step " << step;
        s.step();
        lr = pytorch_swalr_step(lr, 0.05, step + 1, anneal, cos);
      }
      EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.05, 1e-15);
    }
  }
}

TEST(SWALR, PerGroupValuesStateAndErrors) {
  Tensor a = zeros({1}, {.requires_grad = true}), b = zeros({1}, {.requires_grad = true});
  SGD opt(std::vector<Tensor>{a}, SGDOptions(0.1));
  opt.add_param_group(OptimizerParamGroup({b}, std::make_unique<SGDOptions>(0.2)));
  SWALR s(opt, std::vector<double>{0.01, 0.02}, 2, AnnealStrategy::Linear);
  s.step();
  EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.055, 1e-15);
  EXPECT_NEAR(opt.param_groups()[1].options().get_lr(), 0.11, 1e-15);
  io::Metadata saved = s.state_dict();
  s.step();
  SWALR restored(opt, std::vector<double>{0.01, 0.02}, 2, AnnealStrategy::Linear);
  restored.load_state_dict(saved);
  EXPECT_EQ(restored.last_epoch(), 1);
  EXPECT_NEAR(restored.lr_at(1, 0), 0.055, 1e-15);
  EXPECT_ERROR(SWALR(opt, std::vector<double>{0.1, 0.2, 0.3}), "[SWALR]", "swa_lr", "3 values for 2");
  EXPECT_ERROR(SWALR(opt, -0.1), "[SWALR]", "invalid swa_lr: -0.1");
  EXPECT_ERROR(SWALR(opt, 0.1, -1), "[SWALR]", "invalid anneal_epochs: -1");
}

// ---- update_bn -------------------------------------------------------------------------------

TEST(UpdateBn, RecomputesTheStatisticsAsTheAverageOverTheData) {
  manual_seed(5);
  nn::Sequential net(nn::Linear(3, 4), nn::BatchNorm1d(nn::BatchNormOptions(4).momentum(0.3)));
  net.eval();
  std::vector<Tensor> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(randn({16, 3}) * (1.0 + i));
  update_bn(batches, net);
  // Reference: the cumulative average of each batch's mean and unbiased variance of the
  // Linear's output (equal batch sizes, so the mean is the data's mean).
  auto* bn = net.named_modules()[2].second->as<nn::BatchNorm>();
  ASSERT_NE(bn, nullptr);
  std::vector<double> mean(4, 0.0), var(4, 0.0);
  {
    NoGradGuard ng;
    for (const Tensor& x : batches) {
      Tensor h = (*net.named_modules()[1].second)(x);
      for (int c = 0; c < 4; ++c) {
        std::vector<float> col = h.select(1, c).contiguous().to_vector<float>();
        double m = 0, v = 0;
        for (float f : col) m += f;
        m /= double(col.size());
        for (float f : col) v += (f - m) * (f - m);
        mean[size_t(c)] += m / 4;
        var[size_t(c)] += v / double(col.size() - 1) / 4;
      }
    }
  }
  std::vector<float> rm = bn->running_mean.to_vector<float>(), rv = bn->running_var.to_vector<float>();
  for (int c = 0; c < 4; ++c) {
    EXPECT_NEAR(rm[size_t(c)], mean[size_t(c)], 1e-5);
    EXPECT_NEAR(rv[size_t(c)], var[size_t(c)], 1e-4 * var[size_t(c)]);
  }
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 4);
  // The momentum and the training flags are as they were.
  ASSERT_TRUE(bn->options.momentum().has_value());
  EXPECT_EQ(*bn->options.momentum(), 0.3);
  for (nn::Module* m : net.modules()) EXPECT_FALSE(m->is_training());
}

TEST(UpdateBn, WithoutBatchNormNothingRuns) {
  nn::Linear lin(3, 2);
  std::vector<Tensor> bad = {zeros({2, 5})};  // would fail if it ran
  EXPECT_NO_THROW(update_bn(bad, lin));
}

}  // namespace
