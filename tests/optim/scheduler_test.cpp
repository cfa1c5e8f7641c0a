// Learning-rate schedulers: values against PyTorch's formulas, composition, the optimizer's
// group lr being what changes, and state_dict round trips.
#include <numbers>

#include "optim_test_util.h"

using namespace nabla;
using namespace nabla::optim;

namespace {

struct Fixture {
  Tensor p = zeros({2}, {.requires_grad = true});
  SGD opt{std::vector<Tensor>{p}, SGDOptions(0.1).momentum(0.9)};
  double lr() const { return opt.param_groups()[0].options().get_lr(); }
};

/// Steps `s` n times and returns the lr in effect before each step (epoch 0..n-1).
template <typename S>
std::vector<double> run(Fixture& f, S& s, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(f.lr());
    EXPECT_EQ(s.get_last_lr()[0], f.lr());
    s.step();
  }
  return out;
}

TEST(Schedulers, StepLR) {
  Fixture f;
  StepLR s(f.opt, 3, 0.5);
  auto lrs = run(f, s, 8);
  std::vector<double> want = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
  optim_test::expect_near_rel(lrs, want, 1e-15, 0, "StepLR");
  EXPECT_EQ(s.last_epoch(), 8);
}

TEST(Schedulers, MultiStepLR) {
  Fixture f;
  MultiStepLR s(f.opt, {2, 5}, 0.1);
  auto lrs = run(f, s, 7);
  optim_test::expect_near_rel(lrs, {0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001}, 1e-14, 0, "MultiStepLR");
  // Milestones in any order; a repeated one decays twice (PyTorch counts them).
  Fixture f2;
  MultiStepLR unsorted(f2.opt, {5, 2, 5}, 0.1);
  optim_test::expect_near_rel(run(f2, unsorted, 7), {0.1, 0.1, 0.01, 0.01, 0.01, 0.0001, 0.0001}, 1e-14, 0,
                              "MultiStepLR, unsorted milestones");
}

TEST(Schedulers, ExponentialLR) {
  Fixture f;
  ExponentialLR s(f.opt, 0.9);
  auto lrs = run(f, s, 5);
  for (int e = 0; e < 5; ++e) EXPECT_NEAR(lrs[e], 0.1 * std::pow(0.9, e), 1e-16);
}

// The lecture's fixed-decay schedule: η_t = η/√t (t = 1, 2, ...).
TEST(Schedulers, InverseSqrt) {
  Fixture f;
  InverseSqrtLR s(f.opt);
  auto lrs = run(f, s, 10);
  for (int e = 0; e < 10; ++e) EXPECT_NEAR(lrs[e], 0.1 / std::sqrt(e + 1.0), 1e-16);
  Fixture g;
  InverseSqrtLR slow(g.opt, 4.0);
  auto l2 = run(g, slow, 9);
  EXPECT_NEAR(l2[8], 0.1 / std::sqrt(3.0), 1e-16);
}

TEST(Schedulers, CosineAnnealing) {
  Fixture f;
  CosineAnnealingLR s(f.opt, 10, 0.001);
  auto lrs = run(f, s, 11);
  for (int e = 0; e <= 10; ++e)
    EXPECT_NEAR(lrs[e], 0.001 + (0.1 - 0.001) * (1 + std::cos(std::numbers::pi * e / 10)) / 2, 1e-15);
  EXPECT_NEAR(lrs[10], 0.001, 1e-15);
}

TEST(Schedulers, CosineAnnealingWarmRestarts) {
  Fixture f;
  CosineAnnealingWarmRestarts s(f.opt, 2, 2, 0.0);  // cycles of 2, 4, 8 epochs
  auto lrs = run(f, s, 15);
  const int t_cur[] = {0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 0};
  const int t_i[] = {2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 16};
  for (int e = 0; e < 15; ++e)
    EXPECT_NEAR(lrs[e], 0.1 * (1 + std::cos(std::numbers::pi * t_cur[e] / t_i[e])) / 2, 1e-15) << e;
  Fixture g;
  CosineAnnealingWarmRestarts s1(g.opt, 3);
  auto l1 = run(g, s1, 7);
  EXPECT_EQ(l1[0], l1[3]);
  EXPECT_EQ(l1[3], l1[6]);
}

TEST(Schedulers, LinearWarmupAlone) {
  Fixture f;
  LinearWarmup s(f.opt, 4, 0.25);
  auto lrs = run(f, s, 6);
  optim_test::expect_near_rel(lrs, {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1}, 1e-14, 0, "warmup");
}

TEST(Schedulers, LinearWarmupComposesWithAnySchedule) {
  {
    Fixture f;  // multiplicative: cosine's clock starts at 0
    auto cos = std::make_unique<CosineAnnealingLR>(f.opt, 10);
    CosineAnnealingLR ref(f.opt, 10);
    LinearWarmup s(f.opt, 3, 0.1, std::move(cos));
    auto lrs = run(f, s, 10);
    for (int e = 0; e < 10; ++e) {
      const double w = e < 3 ? 0.1 + 0.9 * e / 3.0 : 1.0;
      EXPECT_NEAR(lrs[e], ref.lr_at(e, 0) * w, 1e-16) << e;
    }
  }
  {
    Fixture f;  // sequential: warm up for 3 epochs, then the step schedule from its epoch 0
    LinearWarmup s(f.opt, 3, 0.1, std::make_unique<StepLR>(f.opt, 2, 0.5), WarmupMode::Sequential);
    auto lrs = run(f, s, 8);
    optim_test::expect_near_rel(lrs, {0.01, 0.04, 0.07, 0.1, 0.1, 0.05, 0.05, 0.025}, 1e-14, 0, "sequential");
  }
  {
    Fixture f;  // with exponential decay
    LinearWarmup s(f.opt, 2, 0.5, std::make_unique<ExponentialLR>(f.opt, 0.5));
    auto lrs = run(f, s, 4);
    optim_test::expect_near_rel(lrs, {0.05, 0.0375, 0.025, 0.0125}, 1e-14, 0, "exp");
  }
}

// Two schedulers stepped on one optimizer chain, as PyTorch's documented example: before, the
// last one stepped wrote its closed form and the exponential decay was lost (helper-37).
TEST(Schedulers, SchedulersSteppedTogetherChain) {
  Fixture f;
  ExponentialLR exp(f.opt, 0.9);
  MultiStepLR steps(f.opt, {3, 6}, 0.1);
  for (int e = 0; e < 9; ++e) {
    const double want = 0.1 * std::pow(0.9, e) * std::pow(0.1, (e >= 3) + (e >= 6));
    EXPECT_NEAR(f.lr(), want, 1e-15 * want) << e;
    exp.step();
    steps.step();
  }
  // ReduceLROnPlateau next to a warm-up: its cuts stay after the warm-up (they were undone).
  Fixture g;
  LinearWarmup warm(g.opt, 3, 0.25);
  ReduceLROnPlateau plateau(g.opt, {.factor = 0.5, .patience = 0});
  std::vector<double> lrs;
  for (int e = 0; e < 6; ++e) {
    plateau.step(1.0);  // a constant metric: a cut every epoch after the first
    warm.step();
    lrs.push_back(g.lr());
  }
  // Epoch 1: warm-up 0.25 -> 0.5 of 0.1 (no cut yet); then each epoch halves it, with the warm-up's
  // own factor (0.5 -> 0.75 -> 1) applied on top until it ends.
  optim_test::expect_near_rel(lrs, {0.05, 0.0375, 0.025, 0.0125, 0.00625, 0.003125}, 1e-14, 0, "warm-up + plateau");
}

// LinearWarmup around OneCycleLR cycles momentum on the wrapped schedule's clock (it stayed at
// max_momentum: only OneCycleLR's own step() wrote it, and a wrapped scheduler is not stepped).
TEST(Schedulers, WarmupAroundOneCycleCyclesMomentum) {
  Fixture f, g;
  LinearWarmup warm(f.opt, 2, 0.5, std::make_unique<OneCycleLR>(f.opt, 1.0, OneCycleLROptions{.total_steps = 10}));
  OneCycleLR alone(g.opt, 1.0, {.total_steps = 10});
  auto momentum = [](Fixture& x) { return static_cast<const SGDOptions&>(x.opt.param_groups()[0].options()).momentum(); };
  for (int e = 0; e < 8; ++e) {
    EXPECT_EQ(momentum(f), momentum(g)) << e;
    warm.step();
    alone.step();
  }
  EXPECT_LT(momentum(f), 0.95);
}

TEST(Schedulers, OneCycleFollowsPyTorchsPhases) {
  Fixture f;
  OneCycleLR s(f.opt, 1.0, {.total_steps = 10, .pct_start = 0.3});
  // Phase 1: epochs 0..2 from 1/25 up to 1 (end_step = 0.3*10 - 1 = 2); phase 2 down to 1/25/1e4.
  const double init = 1.0 / 25, min = init / 1e4;
  auto cosine = [](double a, double b, double pct) { return b + (a - b) / 2 * (std::cos(std::numbers::pi * pct) + 1); };
  std::vector<double> lrs, moms;
  for (int e = 0; e < 10; ++e) {
    lrs.push_back(f.lr());
    moms.push_back(static_cast<const SGDOptions&>(f.opt.param_groups()[0].options()).momentum());
    s.step();
  }
  for (int e = 0; e < 10; ++e) {
    const double want = e <= 2 ? cosine(init, 1.0, e / 2.0) : cosine(1.0, min, (e - 2) / 7.0);
    const double want_m = e <= 2 ? cosine(0.95, 0.85, e / 2.0) : cosine(0.85, 0.95, (e - 2) / 7.0);
    EXPECT_NEAR(lrs[e], want, 1e-15) << e;
    EXPECT_NEAR(moms[e], want_m, 1e-15) << e;
  }
  EXPECT_NEAR(lrs[9], min, 1e-18);
  EXPECT_EQ(s.last_epoch(), 10);  // step number total_steps is still allowed, as in PyTorch
  EXPECT_ERROR(s.step(), "[OneCycleLR]", "tried to step 11 times", "total_steps is 10");
  EXPECT_EQ(s.last_epoch(), 10);  // a failed step changes nothing

  Tensor q = zeros({2}, {.requires_grad = true});
  Adam adam({q}, AdamOptions(0.1));
  OneCycleLR sa(adam, 0.01, {.total_steps = 100, .three_phase = true});
  EXPECT_EQ(std::get<0>(static_cast<const AdamOptions&>(adam.param_groups()[0].options()).betas()), 0.95);
  Adagrad ada({q});
  EXPECT_ERROR(OneCycleLR(ada, 0.1, {.total_steps = 5}), "[OneCycleLR]", "cycle_momentum");

  // pct_start x total_steps = 1 makes the warm-up a phase of zero length: an error naming them at
  // construction (PyTorch: ZeroDivisionError there), where the lr used to become NaN.
  // pct_start = 1 leaves the last phase no length for the last allowed step (total_steps): also
  // refused at construction rather than at the last batch.
  for (auto [steps, pct] : {std::pair{10, 0.1}, {2, 0.5}, {4, 0.25}, {1, 1.0}, {10, 1.0}}) {
    Fixture g;
    EXPECT_ERROR(OneCycleLR(g.opt, 1.0, {.total_steps = steps, .pct_start = pct}), "[OneCycleLR]", "zero length",
                 "pct_start");
    if (pct < 1.0)  // three phases at pct_start 1 leave none of zero length (nor does PyTorch fail)
      EXPECT_ERROR(OneCycleLR(g.opt, 1.0, {.total_steps = steps, .pct_start = pct, .three_phase = true}),
                   "[OneCycleLR]", "zero length");
    EXPECT_FALSE(std::isnan(g.lr())) << steps << " " << pct;
  }
}

TEST(Schedulers, ReduceLROnPlateau) {
  Fixture f;
  ReduceLROnPlateau s(f.opt, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = {0.02}});
  // Improves, then stalls: after patience (2) bad epochs the third reduces.
  std::vector<double> metrics = {1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95};
  std::vector<double> lrs;
  for (double m : metrics) {
    s.step(m);
    lrs.push_back(f.lr());
  }
  // epochs: 1, 2 improve; 3, 4 bad (1, 2); 5 bad (3 > patience) -> 0.05; 6 is cooldown; 7, 8 bad;
  // 9 -> 0.025; 10 cooldown; 11, 12 bad; 13 -> max(0.0125, min_lr) = 0.02.
  optim_test::expect_near_rel(lrs, {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02},
                              1e-15, 0, "plateau");
  EXPECT_EQ(s.get_last_lr()[0], 0.02);
  EXPECT_ERROR(ReduceLROnPlateau(f.opt, {.factor = 1.5}), "[ReduceLROnPlateau] invalid factor");

  // A group added after the scheduler was made: a single min_lr is its floor too (min_lr[1] used to
  // be read past the end of the vector); a per-group list no longer fits and says so.
  Fixture h;
  ReduceLROnPlateau one(h.opt, {.factor = 0.1, .patience = 0, .min_lr = {0.05}});
  Tensor q = zeros({2}, {.requires_grad = true});
  h.opt.add_param_group(OptimizerParamGroup({q}, std::make_unique<SGDOptions>(0.2)));
  one.step(1.0);
  one.step(1.0);  // bad: both groups drop, to their floor 0.05
  EXPECT_EQ(one.get_last_lr(), (std::vector<double>{0.05, 0.05}));
  Fixture k;
  Tensor r1 = zeros({2}, {.requires_grad = true}), r2 = zeros({2}, {.requires_grad = true});
  k.opt.add_param_group(OptimizerParamGroup({r1}, std::make_unique<SGDOptions>(0.2)));
  ReduceLROnPlateau listed(k.opt, {.min_lr = {0.01, 0.02}});
  listed.step(1.0);
  k.opt.add_param_group(OptimizerParamGroup({r2}, std::make_unique<SGDOptions>(0.2)));
  EXPECT_ERROR(listed.step(1.0), "[ReduceLROnPlateau]", "min_lr has 2 values", "3 parameter groups");

  Fixture g;  // mode max with an absolute threshold
  ReduceLROnPlateau sm(g.opt, {.mode = ReduceLROnPlateauOptions::Max, .patience = 0,
                               .threshold = 0.1, .threshold_mode = ReduceLROnPlateauOptions::Abs});
  sm.step(0.5);
  sm.step(0.55);  // not better by 0.1: reduce
  EXPECT_NEAR(g.lr(), 0.01, 1e-17);
  EXPECT_EQ(sm.best(), 0.5);
}

TEST(Schedulers, BadArgumentsNameTheArgument) {
  Fixture f;
  EXPECT_ERROR(StepLR(f.opt, 0), "[StepLR] invalid step_size: 0");
  EXPECT_ERROR(CosineAnnealingLR(f.opt, 0), "[CosineAnnealingLR] invalid T_max");
  EXPECT_ERROR(CosineAnnealingWarmRestarts(f.opt, 2, 0), "[CosineAnnealingWarmRestarts] invalid T_mult");
  EXPECT_ERROR(LinearWarmup(f.opt, 5, 0.0), "[LinearWarmup] invalid start_factor");
  EXPECT_ERROR(OneCycleLR(f.opt, 0.1, {}), "[OneCycleLR] invalid total_steps");
}

TEST(Schedulers, ActOnEachGroupFromItsInitialLr) {
  Tensor a = zeros({2}, {.requires_grad = true}), b = zeros({2}, {.requires_grad = true});
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{a});
  groups.emplace_back(std::vector<Tensor>{b}, std::make_unique<AdamOptions>(AdamOptions(0.5)));
  Adam opt(std::move(groups), AdamOptions(0.1));
  ExponentialLR s(opt, 0.5);
  s.step();
  EXPECT_EQ(s.get_last_lr(), (std::vector<double>{0.05, 0.25}));
  EXPECT_EQ(opt.param_groups()[1].initial_lr(), 0.5);
  EXPECT_EQ(s.base_lrs(), (std::vector<double>{0.1, 0.5}));
}

// reapply() writes the current epoch's lr again (a resumed run whose schedule got longer); when
// the schedule throws, the scheduler is left as it was, so a retry gives the same lr.
TEST(Schedulers, ReapplyRewritesTheCurrentLrAndSurvivesAThrowingSchedule) {
  Fixture f;
  bool broken = false;
  LambdaLR s(f.opt, [&broken](int64_t e) {
    if (broken) nabla::fail("[test] factor unavailable at epoch ", e);
    return 1.0 / double(e + 1);
  });
  s.step();
  s.step();
  ASSERT_EQ(s.last_epoch(), 2);
  f.opt.param_groups()[0].options().set_lr(0.0);  // as a finished cosine run leaves it
  s.reapply();
  EXPECT_EQ(s.last_epoch(), 2);
  EXPECT_DOUBLE_EQ(f.lr(), 0.1 / 3);
  broken = true;
  EXPECT_ERROR(s.reapply(), "factor unavailable at epoch 2");
  EXPECT_EQ(s.last_epoch(), 2);
  EXPECT_DOUBLE_EQ(f.lr(), 0.1 / 3);
  broken = false;
  s.reapply();
  EXPECT_EQ(s.last_epoch(), 2);
  EXPECT_DOUBLE_EQ(f.lr(), 0.1 / 3);
}

TEST(Schedulers, StateDictRoundTrip) {
  Fixture f, g;
  auto make = [](Optimizer& o) {
    return std::make_unique<LinearWarmup>(o, 3, 0.2, std::make_unique<CosineAnnealingLR>(o, 20, 1e-4));
  };
  auto s = make(f.opt);
  for (int i = 0; i < 7; ++i) s->step();
  auto sd = s->state_dict();
  EXPECT_EQ(sd.at("scheduler"), "LinearWarmup");
  EXPECT_EQ(sd.at("after.scheduler"), "CosineAnnealingLR");
  // Resume order (as PyTorch): build optimizer and scheduler as for a fresh run, then load both.
  auto t = make(g.opt);
  g.opt.load_state_dict(f.opt.state_dict());
  t->load_state_dict(sd);
  EXPECT_EQ(t->last_epoch(), 7);
  EXPECT_EQ(g.lr(), f.lr());
  for (int i = 0; i < 5; ++i) {
    s->step();
    t->step();
    EXPECT_EQ(f.lr(), g.lr());
  }
  StepLR other(g.opt, 2);
  EXPECT_ERROR(other.load_state_dict(sd), "[StepLR] load_state_dict", "saved by LinearWarmup");

  ReduceLROnPlateau p(f.opt, {.patience = 1});
  p.step(1.0);
  p.step(2.0);
  auto pd = p.state_dict();
  ReduceLROnPlateau q(g.opt, {.patience = 1});
  q.load_state_dict(pd);
  EXPECT_EQ(q.best(), 1.0);
  EXPECT_EQ(q.num_bad_epochs(), 1);
  EXPECT_EQ(q.last_epoch(), 2);
}

}  // namespace
