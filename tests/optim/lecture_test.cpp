// The lecture's claims about optimization, as tests.
#include "optim_test_util.h"

using namespace nabla;
using namespace nabla::optim;

namespace {

// Steps SGD (optionally heavy-ball momentum) on f(w) = ½(w1² + 100 w2²), condition number 100,
// from (1, 1) until |w - w*| <= 1e-6; 0 when it does not get there in `max_steps`.
int steps_to_converge(double lr, double momentum, int max_steps = 3000) {
  Tensor w = from_vector(std::vector<double>{1.0, 1.0}, {2}, kF64).requires_grad_();
  SGD opt({w}, SGDOptions(lr).momentum(momentum));
  const Tensor curvature = from_vector(std::vector<double>{1.0, 100.0}, {2}, kF64);
  for (int t = 1; t <= max_steps; ++t) {
    opt.zero_grad();
    (0.5 * sum(curvature * square(w))).backward();
    opt.step();
    auto v = w.to_vector();
    const double dist = std::hypot(v[0], v[1]);
    if (dist <= 1e-6) return t;
    if (!(dist < 1e3)) return 0;  // diverged
  }
  return 0;
}

/// Fewest steps over a grid of learning rates (the best stable lr for this method).
std::pair<int, double> best_over_lr(double momentum) {
  std::pair<int, double> best{0, 0};
  for (int k = 0; k < 160; ++k) {
    const double lr = 0.001 + k * (0.04 - 0.001) / 159;
    const int n = steps_to_converge(lr, momentum);
    if (n > 0 && (best.first == 0 || n < best.first)) best = {n, lr};
  }
  return best;
}

// "Momentum reinforces directions that repeatedly point the same way ... faster convergence,
// reduced oscillation": heavy-ball (μ = 0.9) needs several times fewer steps than plain gradient
// descent, each at its best stable learning rate.
TEST(Lecture, HeavyBallMomentumBeatsGradientDescentOnIllConditionedQuadratic) {
  auto [gd_steps, gd_lr] = best_over_lr(0.0);
  auto [hb_steps, hb_lr] = best_over_lr(0.9);
  ASSERT_GT(gd_steps, 0);
  ASSERT_GT(hb_steps, 0);
  // GD's best rate is 2/(λmin+λmax) = 2/101, contracting by 99/101 per step: ~690 steps.
  EXPECT_NEAR(gd_lr, 2.0 / 101, 0.0005);
  EXPECT_GT(gd_steps, 600);
  RecordProperty("gd_steps", gd_steps);
  RecordProperty("heavy_ball_steps", hb_steps);
  EXPECT_GE(double(gd_steps) / hb_steps, 3.0) << "GD: " << gd_steps << " steps at lr " << gd_lr
                                              << "; heavy ball: " << hb_steps << " steps at lr " << hb_lr;
  // Above 2/λmax plain GD diverges; momentum's stable range is wider (lr < 2(1+μ)/λmax).
  EXPECT_EQ(steps_to_converge(0.021, 0.0), 0);
  EXPECT_GT(steps_to_converge(0.03, 0.9), 0);
}

// "The equations ... with bias correction": Adam's first step moves every coordinate by ≈ lr,
// whatever the gradient's scale (m̂ = g, v̂ = g², so Δ = lr·g/(|g| + eps)).
TEST(Lecture, AdamFirstStepIsAboutLrRegardlessOfGradientScale) {
  const double lr = 0.01;
  for (DType dt : {kF64, kF32}) {
    for (double scale : {1e-3, 1.0, 1e3, 1e6}) {
      Tensor w = zeros({4}, {.dtype = dt, .requires_grad = true});
      Adam opt({w}, AdamOptions(lr));
      w.set_grad(from_vector(std::vector<double>{scale, -2 * scale, 0.5 * scale, 3 * scale}, {4}, dt));
      opt.step();
      auto v = w.to_vector();
      EXPECT_NEAR(v[0], -lr, 1e-3 * lr) << "scale " << scale;
      EXPECT_NEAR(v[1], lr, 1e-3 * lr) << "scale " << scale;
      EXPECT_NEAR(v[2], -lr, 1e-3 * lr) << "scale " << scale;
      EXPECT_NEAR(v[3], -lr, 1e-3 * lr) << "scale " << scale;
    }
  }
  // Without the corrections the first step would be lr·(1-β1)/√(1-β2) ≈ 3.16·lr: check that the
  // second step (whose corrections are smaller) is still ≈ lr for a constant gradient.
  Tensor w = zeros({1}, {.dtype = kF64, .requires_grad = true});
  Adam opt({w}, AdamOptions(lr));
  for (int t = 0; t < 2; ++t) {
    w.set_grad(full({1}, 5.0, {.dtype = kF64}));
    opt.step();
  }
  EXPECT_NEAR(w.to_vector()[0], -2 * lr, 1e-8);
}

// The lecture's accumulated preconditioning s ← s + g², w ← w - η g/√(s + ε) is Adagrad: with a
// constant gradient the k-th step is η/√k, the 1/√t decay it mentions.
TEST(Lecture, AdagradStepsDecayAsOneOverSqrtT) {
  Tensor w = zeros({1}, {.dtype = kF64, .requires_grad = true});
  Adagrad opt({w}, AdagradOptions(0.1).eps(0.0));
  double prev = 0;
  for (int k = 1; k <= 5; ++k) {
    w.set_grad(full({1}, 3.0, {.dtype = kF64}));
    opt.step();
    const double now = w.to_vector()[0];
    EXPECT_NEAR(prev - now, 0.1 / std::sqrt(double(k)), 1e-15) << k;
    prev = now;
  }
}

}  // namespace
