// Experiment 2 — momentum on ill-conditioned quadratics.
//
// f(w) = ½ Σ λ_i w_i² in d dimensions, eigenvalues λ log-spaced in [1, κ], from w0 = (1, ..., 1).
// Each method runs nabla's optim::SGD (the lecture's v ← μv + η∇f, w ← w - v is SGD with
// momentum μ, lr η) at its best learning rate from a log grid, until |w| <= 1e-6 |w0|.
// The lecture's claim: momentum needs about √κ times fewer steps than gradient descent
// (GD ∝ κ, heavy ball with the right μ ∝ √κ). Theory columns give the optimal linear rates:
//   GD at η = 2/(L+m):                          steps ≈ ln(1/ε) / ln((κ+1)/(κ-1))  ~ (κ/2) ln(1/ε)
//   heavy ball at Polyak's μ* = ((√κ-1)/(√κ+1))²: steps ≈ ln(1/ε) / ln((√κ+1)/(√κ-1)) ~ (√κ/2) ln(1/ε)
//   heavy ball with a fixed μ cannot contract faster than √μ per step: steps >= ln(1/ε) / ln(1/√μ),
//   so a fixed μ only accelerates when it is near μ* for the κ at hand.
// Writes steps.csv, trajectory.csv (distance per step at κ = 100), steps_vs_kappa.svg,
// convergence_kappa100.svg.
#include <cmath>
#include <cstdio>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

constexpr double kTol = 1e-6;

struct Method {
  std::string name;
  double momentum = 0;
  bool nesterov = false;
  bool polyak = false;  ///< momentum and lr from the theory for this κ (no grid search)
};

struct Run {
  int64_t steps = 0;  ///< 0: did not reach the tolerance within the budget
  double lr = 0, momentum = 0;
  std::vector<double> distance;  ///< |w_t| / |w_0|, t = 0..steps (when recorded)
};

// Runs SGD on the quadratic; stops at the tolerance, on divergence, or after max_steps.
Run run(const Tensor& lambda, double lr, double momentum, bool nesterov, int64_t max_steps, bool record) {
  const int64_t d = lambda.numel();
  Tensor w = ones({d}, {.dtype = kF64, .requires_grad = true});
  optim::SGD opt({w}, optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov));
  Run r{0, lr, momentum, {}};
  const double d0 = std::sqrt(double(d));
  if (record) r.distance.push_back(1.0);
  for (int64_t t = 1; t <= max_steps; ++t) {
    {
      NoGradGuard ng;
      w.set_grad(lambda * w);  // ∇f = Λw, exactly
    }
    opt.step();
    double s = 0;
    for (double v : w.to_vector<double>()) s += v * v;
    const double dist = std::sqrt(s) / d0;
    if (record) r.distance.push_back(dist);
    if (dist <= kTol) {
      r.steps = t;
      return r;
    }
    if (!(dist < 1e6)) return r;  // diverged
  }
  return r;
}

// Fewest steps over a log grid of lr = c / L, c in [0.01, 4] (momentum is stable up to
// c = 2(1 + μ)); a run is cut off as soon as it cannot beat the best so far.
Run best_over_grid(const Tensor& lambda, double L, const Method& m, int grid, int64_t max_steps) {
  Run best;
  for (int k = grid - 1; k >= 0; --k) {
    const double c = std::pow(10.0, -2.0 + (std::log10(4.0) + 2.0) * k / (grid - 1));
    Run r = run(lambda, c / L, m.momentum, m.nesterov, best.steps ? best.steps - 1 : max_steps, false);
    if (r.steps > 0) best = r;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "02_momentum", "GD vs heavy ball vs Nesterov on ill-conditioned quadratics");
  const std::vector<double> kappas = args.smoke ? std::vector<double>{10, 100} : std::vector<double>{10, 100, 1000};
  const int64_t d = args.smoke ? 10 : 20, max_steps = 30000;
  const int grid = args.smoke ? 30 : 60;
  const std::vector<Method> methods = {{"GD", 0.0},
                                       {"heavy ball mu=0.9", 0.9},
                                       {"heavy ball mu=0.99", 0.99},
                                       {"Nesterov mu=0.9", 0.9, true},
                                       {"heavy ball, Polyak mu*", 0.0, false, true}};
  const double log_inv_tol = std::log(1.0 / kTol);

  lecture::Csv csv(lecture::join(args.out, "steps.csv"),
                   {"method", "kappa", "dims", "lr", "momentum", "steps", "theory_steps", "gd_steps_over_steps"});
  lecture::Csv traj(lecture::join(args.out, "trajectory.csv"), {"method", "kappa", "step", "distance"});
  std::vector<lecture::Series> measured, curves;
  for (const auto& m : methods) measured.push_back(lecture::Series(m.name, false, true));

  for (double kappa : kappas) {
    std::vector<double> lam(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) lam[size_t(i)] = std::pow(kappa, double(i) / double(d - 1));
    Tensor lambda = from_vector(lam, {d}, kF64);
    const double sq = std::sqrt(kappa);
    int64_t gd_steps = 0;
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const Method& m = methods[mi];
      Run r;
      double theory;
      if (m.polyak) {
        const double mu = std::pow((sq - 1) / (sq + 1), 2), lr = 4.0 / std::pow(std::sqrt(kappa) + 1.0, 2);
        r = run(lambda, lr, mu, false, max_steps, false);
        theory = log_inv_tol / std::log((sq + 1) / (sq - 1));
      } else {
        r = best_over_grid(lambda, kappa, m, grid, max_steps);
        // Nesterov's floor depends on the lr too (√(μ(1 - η m))): no single number, left empty.
        theory = m.nesterov        ? std::nan("")
                 : m.momentum == 0 ? log_inv_tol / std::log((kappa + 1) / (kappa - 1))
                                   : log_inv_tol / std::log(1 / std::sqrt(m.momentum));  // the √μ floor
      }
      if (mi == 0) gd_steps = r.steps;
      const double speedup = r.steps > 0 && gd_steps > 0 ? double(gd_steps) / double(r.steps) : std::nan("");
      csv.row({m.name, kappa, d, r.lr, r.momentum, r.steps, theory, speedup});
      std::printf("kappa %5g  %-24s lr %.4g  steps %6lld  (theory %.0f)\n", kappa, m.name.c_str(), r.lr,
                  (long long)r.steps, theory);
      measured[mi].x.push_back(kappa);
      measured[mi].y.push_back(r.steps > 0 ? double(r.steps) : std::nan(""));
      if (kappa == 100 && r.steps > 0) {  // the convergence curve at the best lr, for the plot
        Run c = run(lambda, r.lr, r.momentum, m.nesterov, r.steps, true);
        lecture::Series s{m.name};
        for (size_t t = 0; t < c.distance.size(); ++t) {
          traj.row({m.name, kappa, int64_t(t), c.distance[t]});
          s.x.push_back(double(t)), s.y.push_back(c.distance[t]);
        }
        curves.push_back(s);
      }
    }
  }
  // Reference slopes through the measured GD and Polyak points at the smallest κ.
  lecture::Series ref_k("theory GD (kappa/2) ln(1/eps)", true), ref_sq("theory Polyak (sqrt(kappa)/2) ln(1/eps)", true);
  for (double kappa : kappas) {
    ref_k.x.push_back(kappa), ref_k.y.push_back(kappa / 2 * log_inv_tol);
    ref_sq.x.push_back(kappa), ref_sq.y.push_back(std::sqrt(kappa) / 2 * log_inv_tol);
  }
  measured.push_back(ref_k);
  measured.push_back(ref_sq);
  lecture::write_line_plot(lecture::join(args.out, "steps_vs_kappa.svg"), measured,
                           {"Steps to |w| <= 1e-6 |w0| (best lr per method)", "condition number kappa", "steps", true, true});
  lecture::write_line_plot(lecture::join(args.out, "convergence_kappa100.svg"), curves,
                           {"Convergence on kappa = 100 at each method's best lr", "step", "|w_t| / |w_0|", false, true});
  std::printf("wrote %s/{steps.csv,trajectory.csv,steps_vs_kappa.svg,convergence_kappa100.svg}\n", args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "02_momentum: %s\n", e.what());
  return 1;
}
