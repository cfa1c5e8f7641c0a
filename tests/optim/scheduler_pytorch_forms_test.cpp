// LinearLR, ConstantLR, PolynomialLR, CyclicLR and SequentialLR against PyTorch's own code for
// them, rewritten here as f64 loops: the recursive get_lr() forms of LinearLR, ConstantLR and
// PolynomialLR (nabla evaluates their closed forms, _get_closed_form_lr; the two agree to
// rounding, held to 1e-13 relative), CyclicLR's get_lr(), and SequentialLR's rule (the
// scheduler in charge restarts from its epoch 0 at its milestone). Also chaining with another
// scheduler stepped on the same optimizer, momentum cycling, argument errors and state_dict.
#include <cmath>
#include <functional>
#include <numbers>

#include "optim_test_util.h"

using namespace nabla;
using namespace nabla::optim;
using optim_test::expect_near_rel;

namespace {

struct Fixture {
  Tensor p = zeros({2}, {.requires_grad = true});
  SGD opt{std::vector<Tensor>{p}, SGDOptions(0.1).momentum(0.9)};
  double lr() const { return opt.param_groups()[0].options().get_lr(); }
  double momentum() const { return static_cast<const SGDOptions&>(opt.param_groups()[0].options()).momentum(); }
};

/// The lr in effect at epochs 0..n-1 (and the momentum, when `moms` is given), stepping `s`.
template <typename S>
std::vector<double> run(Fixture& f, S& s, int n, std::vector<double>* moms = nullptr) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(f.lr());
    if (moms) moms->push_back(f.momentum());
    EXPECT_EQ(s.get_last_lr()[0], f.lr());
    s.step();
  }
  return out;
}

/// PyTorch's recursive forms: lr(e) = get_lr(lr(e - 1), e), starting from the base lr.
using Recursion = std::function<double(double lr, int e)>;
std::vector<double> recurse(double base, int n, const Recursion& get_lr) {
  std::vector<double> out;
  double lr = base;
  for (int e = 0; e < n; ++e) out.push_back(lr = get_lr(lr, e));
  return out;
}

Recursion linear_lr(double start, double end, int total) {
  return [=](double lr, int e) {
    if (e == 0) return lr * start;
    if (e > total) return lr;
    return lr * (1.0 + (end - start) / (total * start + (e - 1) * (end - start)));
  };
}
Recursion constant_lr(double factor, int total) {
  return [=](double lr, int e) {
    if (e == 0) return lr * factor;
    if (e != total) return lr;
    return lr * (1.0 / factor);
  };
}
Recursion polynomial_lr(int total, double power) {
  return [=](double lr, int e) {
    if (e == 0 || e > total) return lr;
    return lr * std::pow((1.0 - double(e) / total) / (1.0 - double(e - 1) / total), power);
  };
}

TEST(SchedulersPyTorch, LinearLR) {
  for (auto [start, end, total] : {std::tuple{1.0 / 3, 1.0, 5}, {0.5, 0.1, 4}, {1.0, 0.0, 3}, {0.25, 0.25, 2}}) {
    Fixture f;
    LinearLR s(f.opt, start, end, total);
    expect_near_rel(run(f, s, 9), recurse(0.1, 9, linear_lr(start, end, total)), 1e-13, 1e-18,
                    "LinearLR " + std::to_string(start) + " " + std::to_string(end));
  }
  Fixture f;  // the defaults: a third of the lr, rising to it over 5 epochs
  LinearLR s(f.opt);
  expect_near_rel(run(f, s, 7), {0.1 / 3, 0.1 * (1 / 3.0 + 2 / 15.0), 0.1 * (1 / 3.0 + 4 / 15.0), 0.1 * (1 / 3.0 + 6 / 15.0),
                                 0.1 * (1 / 3.0 + 8 / 15.0), 0.1, 0.1},
                  1e-14, 0, "LinearLR defaults");
}

TEST(SchedulersPyTorch, ConstantLR) {
  for (auto [factor, total] : {std::pair{1.0 / 3, 5}, {0.5, 2}, {0.1, 1}}) {
    Fixture f;
    ConstantLR s(f.opt, factor, total);
    expect_near_rel(run(f, s, 8), recurse(0.1, 8, constant_lr(factor, total)), 1e-13, 1e-18,
                    "ConstantLR " + std::to_string(factor));
  }
  Fixture f;
  ConstantLR s(f.opt);
  auto lrs = run(f, s, 7);
  for (int e = 0; e < 7; ++e) EXPECT_NEAR(lrs[e], e < 5 ? 0.1 / 3 : 0.1, 1e-16) << e;
  Fixture g;
  ConstantLR zero(g.opt, 0.0, 2);  // factor 0 is allowed (PyTorch's recursion would divide by it)
  expect_near_rel(run(g, zero, 4), {0.0, 0.0, 0.1, 0.1}, 1e-15, 0, "ConstantLR factor 0");
}

TEST(SchedulersPyTorch, PolynomialLR) {
  for (auto [total, power] : {std::pair{5, 1.0}, {4, 2.0}, {6, 0.5}}) {
    Fixture f;
    PolynomialLR s(f.opt, total, power);
    expect_near_rel(run(f, s, 9), recurse(0.1, 9, polynomial_lr(total, power)), 1e-13, 1e-18,
                    "PolynomialLR " + std::to_string(total));
  }
  Fixture f;
  PolynomialLR s(f.opt);
  expect_near_rel(run(f, s, 7), {0.1, 0.08, 0.06, 0.04, 0.02, 0.0, 0.0}, 1e-14, 1e-18, "PolynomialLR defaults");
}

// PyTorch's CyclicLR.get_lr(), rewritten: lr and momentum at epoch e.
struct CyclicRef {
  double base, max, up, down, base_m = 0.8, max_m = 0.9;
  std::function<double(double)> scale;
  bool by_cycle = true;
  std::pair<double, double> at(int e) const {
    const double total = up + down, ratio = up / total;
    const double cycle = std::floor(1 + e / total);
    const double x = 1.0 + e / total - cycle;
    const double sf = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
    const double s = scale(by_cycle ? cycle : double(e));
    return {base + (max - base) * sf * s, max_m - (max_m - base_m) * sf * s};
  }
};

void check_cyclic(const CyclicLROptions& o, const CyclicRef& ref, const std::string& what) {
  Fixture f;
  CyclicLR s(f.opt, ref.base, ref.max, o);
  std::vector<double> moms;
  auto lrs = run(f, s, 25, &moms);
  std::vector<double> want, want_m;
  for (int e = 0; e < 25; ++e) {
    want.push_back(ref.at(e).first);
    want_m.push_back(ref.at(e).second);
  }
  expect_near_rel(lrs, want, 1e-14, 1e-17, what + " lr");
  expect_near_rel(moms, want_m, 1e-14, 1e-17, what + " momentum");
}

TEST(SchedulersPyTorch, CyclicLRModes) {
  auto one = [](double) { return 1.0; };
  check_cyclic({.step_size_up = 4, .step_size_down = 2}, {0.01, 0.1, 4, 2, 0.8, 0.9, one}, "triangular 4/2");
  check_cyclic({.step_size_up = 3, .mode = CyclicMode::Triangular2},
               {0.01, 0.1, 3, 3, 0.8, 0.9, [](double c) { return 1 / std::pow(2.0, c - 1); }}, "triangular2");
  check_cyclic({.step_size_up = 2.5, .step_size_down = 4, .mode = CyclicMode::ExpRange, .gamma = 0.9},
               {0.001, 0.05, 2.5, 4, 0.8, 0.9, [](double e) { return std::pow(0.9, e); }, false}, "exp_range");
  auto half = [](double x) { return 1.0 / (1.0 + x); };
  check_cyclic({.step_size_up = 3, .scale_fn = half, .base_momentum = {0.7}, .max_momentum = {0.95}},
               {0.02, 0.2, 3, 3, 0.7, 0.95, half}, "scale_fn by cycle");
  check_cyclic({.step_size_up = 3, .scale_fn = half, .scale_mode = CyclicScaleMode::Iterations},
               {0.02, 0.2, 3, 3, 0.8, 0.9, half, false}, "scale_fn by iteration");
  // The defaults: a half cycle of 2000 iterations, lr at epoch 1000 halfway up.
  Fixture f;
  CyclicLR s(f.opt, 0.001, 0.006);
  for (int i = 0; i < 1000; ++i) s.step();
  EXPECT_NEAR(f.lr(), 0.0035, 1e-15);
  EXPECT_NEAR(f.momentum(), 0.85, 1e-15);
}

TEST(SchedulersPyTorch, CyclicLRSetsBaseLrAndCyclesBeta1PerGroup) {
  Tensor a = zeros({2}, {.requires_grad = true}), b = zeros({2}, {.requires_grad = true});
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{a});
  groups.emplace_back(std::vector<Tensor>{b}, std::make_unique<AdamOptions>(AdamOptions(0.5).betas({0.5, 0.99})));
  Adam opt(std::move(groups), AdamOptions(0.3));
  CyclicLR s(opt, {0.01, 0.02}, {0.1, 0.4},
             {.step_size_up = 2, .base_momentum = {0.8, 0.6}, .max_momentum = {0.9, 0.7}});
  // Construction: lr = base_lr (and initial_lr), betas[0] = max_momentum, betas[1] untouched.
  auto betas = [&](size_t g) { return static_cast<const AdamOptions&>(opt.param_groups()[g].options()).betas(); };
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.01);
  EXPECT_EQ(opt.param_groups()[1].options().get_lr(), 0.02);
  EXPECT_EQ(opt.param_groups()[1].initial_lr(), 0.02);
  EXPECT_EQ(betas(0), std::make_tuple(0.9, 0.999));
  EXPECT_EQ(betas(1), std::make_tuple(0.7, 0.99));
  s.step();  // halfway up
  EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.055, 1e-16);
  EXPECT_NEAR(opt.param_groups()[1].options().get_lr(), 0.21, 1e-16);
  EXPECT_NEAR(std::get<0>(betas(0)), 0.85, 1e-15);
  EXPECT_NEAR(std::get<0>(betas(1)), 0.65, 1e-15);
  s.step();  // the top
  EXPECT_NEAR(opt.param_groups()[1].options().get_lr(), 0.4, 1e-16);
  EXPECT_NEAR(std::get<0>(betas(1)), 0.6, 1e-15);
  EXPECT_EQ(std::get<1>(betas(1)), 0.99);

  // Without momentum cycling any optimizer works; with it, one without momentum or betas fails.
  Tensor q = zeros({2}, {.requires_grad = true});
  Rprop rprop({q});
  EXPECT_ERROR(CyclicLR(rprop, 0.01, 0.1), "[CyclicLR] invalid cycle_momentum: Rprop has neither momentum nor betas",
               "cycle_momentum = false");
  CyclicLR plain(rprop, 0.01, 0.1, {.step_size_up = 2, .cycle_momentum = false});
  plain.step();
  EXPECT_NEAR(rprop.param_groups()[0].options().get_lr(), 0.055, 1e-16);
}

TEST(SchedulersPyTorch, CyclicLRBadArguments) {
  Fixture f;
  EXPECT_ERROR(CyclicLR(f.opt, {0.1, 0.2}, {0.3}), "[CyclicLR] invalid base_lr: 2 values for 1 parameter groups");
  EXPECT_ERROR(CyclicLR(f.opt, -0.1, 0.3), "[CyclicLR] invalid base_lr: -0.1 (must be >= 0)");
  EXPECT_ERROR(CyclicLR(f.opt, 0.1, 0.3, {.step_size_up = 0}), "[CyclicLR] invalid step_size_up: 0 (must be > 0)");
  EXPECT_ERROR(CyclicLR(f.opt, 0.1, 0.3, {.step_size_down = -2}), "[CyclicLR] invalid step_size_down: -2");
  EXPECT_ERROR(CyclicLR(f.opt, 0.1, 0.3, {.gamma = 0}), "[CyclicLR] invalid gamma: 0 (must be > 0)");
  EXPECT_ERROR(CyclicLR(f.opt, 0.1, 0.3, {.base_momentum = {0.8, 0.7}}), "[CyclicLR] invalid base_momentum: 2 values");
  EXPECT_EQ(f.lr(), 0.1);  // a refused CyclicLR changed nothing
  EXPECT_EQ(f.opt.param_groups()[0].initial_lr(), -1.0);
  EXPECT_ERROR(LinearLR(f.opt, 0.0), "[LinearLR] invalid start_factor: 0 (must be in (0, 1])");
  EXPECT_ERROR(LinearLR(f.opt, 0.5, 1.5), "[LinearLR] invalid end_factor: 1.5 (must be in [0, 1])");
  EXPECT_ERROR(LinearLR(f.opt, 0.5, 1.0, 0), "[LinearLR] invalid total_iters: 0 (must be > 0)");
  EXPECT_ERROR(ConstantLR(f.opt, 1.5), "[ConstantLR] invalid factor: 1.5 (must be in [0, 1])");
  EXPECT_ERROR(ConstantLR(f.opt, 0.5, -1), "[ConstantLR] invalid total_iters: -1 (must be >= 0)");
  EXPECT_ERROR(PolynomialLR(f.opt, 0), "[PolynomialLR] invalid total_iters: 0 (must be > 0)");
  EXPECT_ERROR(PolynomialLR(f.opt, 5, -1.0), "[PolynomialLR] invalid power: -1 (must be >= 0)");
}

// PyTorch's ChainedScheduler example: ConstantLR(factor 0.1, total_iters 2) and ExponentialLR(0.9)
// stepped together give lr = base · 0.9^e · (0.1 while e < 2).
TEST(SchedulersPyTorch, NewSchedulersChainWithOthers) {
  Fixture f;
  f.opt.param_groups()[0].options().set_lr(1.0);
  ConstantLR c(f.opt, 0.1, 2);
  ExponentialLR x(f.opt, 0.9);
  for (int e = 0; e < 7; ++e) {
    EXPECT_NEAR(f.lr(), std::pow(0.9, e) * (e < 2 ? 0.1 : 1.0), 1e-15) << e;
    x.step();
    c.step();
  }
  Fixture g;  // LinearLR warm-up multiplied onto a cosine schedule
  CosineAnnealingLR cos(g.opt, 10);
  LinearLR warm(g.opt, 0.2, 1.0, 4);
  for (int e = 0; e < 10; ++e) {
    EXPECT_NEAR(g.lr(), 0.1 * (1 + std::cos(std::numbers::pi * e / 10)) / 2 * (0.2 + 0.8 * std::min(e, 4) / 4.0), 1e-15) << e;
    cos.step();
    warm.step();
  }
}

TEST(SchedulersPyTorch, SequentialLRRestartsEachScheduleAtItsMilestone) {
  {
    Fixture f;  // warm-up, then exponential decay from its own epoch 0
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<LinearLR>(f.opt, 0.1, 1.0, 3));
    s.push_back(std::make_unique<ExponentialLR>(f.opt, 0.5));
    SequentialLR seq(f.opt, std::move(s), {3});
    expect_near_rel(run(f, seq, 7), {0.01, 0.04, 0.07, 0.1, 0.05, 0.025, 0.0125}, 1e-14, 0, "linear then exp");
  }
  {
    Fixture f;  // three: constant | cosine (T_max 4) | polynomial (power 2), milestones 3 and 7
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<ConstantLR>(f.opt, 0.5, 2));
    s.push_back(std::make_unique<CosineAnnealingLR>(f.opt, 4));
    s.push_back(std::make_unique<PolynomialLR>(f.opt, 3, 2.0));
    SequentialLR seq(f.opt, std::move(s), {3, 7});
    auto lrs = run(f, seq, 12);
    std::vector<double> want;
    const auto c = recurse(0.1, 3, constant_lr(0.5, 2)), p = recurse(0.1, 5, polynomial_lr(3, 2.0));
    for (int e = 0; e < 12; ++e) {
      if (e < 3) want.push_back(c[e]);
      else if (e < 7) want.push_back(0.1 * (1 + std::cos(std::numbers::pi * (e - 3) / 4)) / 2);
      else want.push_back(p[e - 7]);
    }
    expect_near_rel(lrs, want, 1e-13, 1e-18, "constant | cosine | polynomial");
  }
  {
    Fixture f;  // CyclicLR after a constant phase: its momentum runs on its own clock
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<ConstantLR>(f.opt, 0.5, 100));
    s.push_back(std::make_unique<CyclicLR>(f.opt, 0.01, 0.1, CyclicLROptions{.step_size_up = 2}));
    SequentialLR seq(f.opt, std::move(s), {2});
    std::vector<double> moms;
    auto lrs = run(f, seq, 6, &moms);
    // ConstantLR was made first, so initial_lr stays 0.1 (CyclicLR set the lr to its base_lr,
    // 0.01, but initial_lr only where none was set, as PyTorch's setdefault): the constant phase
    // runs at 0.5 · 0.1, then CyclicLR from its own epoch 0.
    expect_near_rel(lrs, {0.05, 0.05, 0.01, 0.055, 0.1, 0.055}, 1e-15, 0, "constant then cyclic");
    // Momentum: CyclicLR set max_momentum when made and cycles it from the milestone on.
    expect_near_rel(moms, {0.9, 0.9, 0.9, 0.85, 0.8, 0.85}, 1e-15, 0, "cyclic momentum");
  }
}

TEST(SchedulersPyTorch, SequentialLRBadArgumentsAndStateDict) {
  Fixture f, g;
  auto make = [](Optimizer& o, std::vector<int64_t> milestones) {
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<LinearLR>(o, 0.25, 1.0, 4));
    s.push_back(std::make_unique<PolynomialLR>(o, 6, 1.5));
    return std::make_unique<SequentialLR>(o, std::move(s), std::move(milestones));
  };
  EXPECT_ERROR(make(f.opt, {}), "[SequentialLR] invalid milestones: 0 milestones for 2 schedulers");
  EXPECT_ERROR(make(f.opt, {0}), "[SequentialLR] invalid milestones: milestone 0 is 0");
  EXPECT_ERROR(SequentialLR(f.opt, {}, {}), "[SequentialLR] invalid schedulers: none given");
  {
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<ExponentialLR>(g.opt, 0.5));
    EXPECT_ERROR(SequentialLR(f.opt, std::move(s), {}), "[SequentialLR] invalid schedulers: scheduler 0",
                 "ExponentialLR", "another optimizer");
  }
  {
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<ExponentialLR>(f.opt, 0.5));
    s.push_back(std::make_unique<ExponentialLR>(f.opt, 0.5));
    s.push_back(std::make_unique<ExponentialLR>(f.opt, 0.5));
    EXPECT_ERROR(SequentialLR(f.opt, std::move(s), {5, 3}), "[SequentialLR] invalid milestones: milestone 1 is 3",
                 "increasing");
  }
  Fixture a, b;
  auto s = make(a.opt, {4});
  for (int i = 0; i < 6; ++i) s->step();
  auto sd = s->state_dict();
  EXPECT_EQ(sd.at("scheduler"), "SequentialLR");
  EXPECT_EQ(sd.at("schedulers.1.scheduler"), "PolynomialLR");
  auto t = make(b.opt, {4});
  b.opt.load_state_dict(a.opt.state_dict());
  t->load_state_dict(sd);
  EXPECT_EQ(t->last_epoch(), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(a.lr(), b.lr()) << i;
    s->step();
    t->step();
  }
  EXPECT_EQ(a.lr(), 0.0);  // the polynomial phase ended at epoch 4 + 6
  CyclicLR other(b.opt, 0.1, 0.2);
  EXPECT_ERROR(other.load_state_dict(sd), "[CyclicLR] load_state_dict", "saved by SequentialLR");
}

}  // namespace
