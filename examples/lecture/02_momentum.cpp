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
//
// The lecture's other answer to poor landscapes is preconditioning: its update
// s ← s + g², w ← w − η g / √(s + ε) is optim::Adagrad. On the same spectra it runs on two
// landscapes from the same starting point (seeded normal coordinates in the eigenbasis):
//   "axis-aligned": the eigenvectors are the coordinate axes (f = ½ Σ λ_i w_i²), where a
//                   per-coordinate step size can undo λ exactly (λ_i cancels from g_i / √s_i);
//   "rotated":      f = ½ wᵀ Q Λ Qᵀ w for a seeded random rotation Q, where it cannot.
// GD is blind to the rotation (same steps on both), so the pair shows what a diagonal
// preconditioner can and cannot fix.
//
// Writes steps.csv, trajectory.csv (distance per step at κ = 100), steps_vs_kappa.svg,
// convergence_kappa100.svg, preconditioning.csv and preconditioning.svg.
#include <cmath>
#include <cstdio>
#include <functional>

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

/// ∇f at w, exactly.
using Gradient = std::function<Tensor(const Tensor& w)>;
/// The optimizer under test, over the one parameter w, at learning rate lr.
using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(const Tensor& w, double lr)>;

MakeOptimizer sgd(double momentum, bool nesterov) {
  return [=](const Tensor& w, double lr) {
    return std::make_unique<optim::SGD>(TensorList{w}, optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov));
  };
}

/// |w|, summed in index order on the host (the same every run and platform).
double length(const Tensor& w) {
  double s = 0;
  for (double v : w.to_vector<double>()) s += v * v;
  return std::sqrt(s);
}

// Runs the optimizer from w0; stops at the tolerance, on divergence, or after max_steps.
Run run(const Gradient& grad, const Tensor& w0, const MakeOptimizer& make, double lr, int64_t max_steps, bool record) {
  Tensor w = w0.clone();
  w.requires_grad_();
  auto opt = make(w, lr);
  Run r{0, lr, 0, {}};
  const double d0 = length(w0);
  if (record) r.distance.push_back(1.0);
  for (int64_t t = 1; t <= max_steps; ++t) {
    {
      NoGradGuard ng;
      w.set_grad(grad(w));
    }
    opt->step();
    const double dist = length(w) / d0;
    if (record) r.distance.push_back(dist);
    if (dist <= kTol) {
      r.steps = t;
      return r;
    }
    if (!(dist < 1e6)) return r;  // diverged
  }
  return r;
}

// Fewest steps over a log grid of lr = c / curvature, c in [c_lo, c_hi] (for SGD, curvature is
// the largest eigenvalue L: momentum is stable up to c = 2(1 + μ)); a run is cut off as soon as
// it cannot beat the best so far.
Run best_over_grid(const Gradient& grad, const Tensor& w0, const MakeOptimizer& make, double curvature, double c_lo,
                   double c_hi, int grid, int64_t max_steps) {
  Run best;
  const double lo = std::log10(c_lo), hi = std::log10(c_hi);
  for (int k = grid - 1; k >= 0; --k) {
    const double c = std::pow(10.0, lo + (hi - lo) * k / (grid - 1));
    Run r = run(grad, w0, make, c / curvature, best.steps ? best.steps - 1 : max_steps, false);
    if (r.steps > 0) best = r;
  }
  return best;
}

/// A seeded random rotation of R^d: Gram-Schmidt on the columns of a normal matrix.
Tensor random_rotation(int64_t d) {
  const std::vector<double> g = randn({d, d}, {.dtype = kF64}).to_vector<double>();
  std::vector<std::vector<double>> q;
  for (int64_t j = 0; j < d; ++j) {
    std::vector<double> v(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) v[size_t(i)] = g[size_t(i * d + j)];
    for (int pass = 0; pass < 2; ++pass)  // twice: classical Gram-Schmidt loses orthogonality once
      for (const auto& u : q) {
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) dot += u[size_t(i)] * v[size_t(i)];
        for (int64_t i = 0; i < d; ++i) v[size_t(i)] -= dot * u[size_t(i)];
      }
    double n = 0;
    for (double x : v) n += x * x;
    for (double& x : v) x /= std::sqrt(n);
    q.push_back(v);
  }
  std::vector<double> flat(static_cast<size_t>(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) flat[size_t(i * d + j)] = q[size_t(j)][size_t(i)];  // columns are the q's
  return from_vector(flat, {d, d}, kF64);
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
    const Tensor lambda = from_vector(lam, {d}, kF64);
    const Gradient grad = [&](const Tensor& w) { return lambda * w; };
    const Tensor w0 = ones({d}, {.dtype = kF64});
    const double sq = std::sqrt(kappa);
    int64_t gd_steps = 0;
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const Method& m = methods[mi];
      Run r;
      double theory;
      if (m.polyak) {
        const double mu = std::pow((sq - 1) / (sq + 1), 2), lr = 4.0 / std::pow(std::sqrt(kappa) + 1.0, 2);
        r = run(grad, w0, sgd(mu, false), lr, max_steps, false);
        theory = log_inv_tol / std::log((sq + 1) / (sq - 1));
      } else {
        r = best_over_grid(grad, w0, sgd(m.momentum, m.nesterov), kappa, 0.01, 4, grid, max_steps);
        // Nesterov's floor depends on the lr too (√(μ(1 - η m))): no single number, left empty.
        theory = m.nesterov        ? std::nan("")
                 : m.momentum == 0 ? log_inv_tol / std::log((kappa + 1) / (kappa - 1))
                                   : log_inv_tol / std::log(1 / std::sqrt(m.momentum));  // the √μ floor
      }
      r.momentum = m.polyak ? std::pow((sq - 1) / (sq + 1), 2) : m.momentum;
      if (mi == 0) gd_steps = r.steps;
      const double speedup = r.steps > 0 && gd_steps > 0 ? double(gd_steps) / double(r.steps) : std::nan("");
      csv.row({m.name, kappa, d, r.lr, r.momentum, r.steps, theory, speedup});
      std::printf("kappa %5g  %-24s lr %.4g  steps %6lld  (theory %.0f)\n", kappa, m.name.c_str(), r.lr,
                  (long long)r.steps, theory);
      measured[mi].x.push_back(kappa);
      measured[mi].y.push_back(r.steps > 0 ? double(r.steps) : std::nan(""));
      if (kappa == 100 && r.steps > 0) {  // the convergence curve at the best lr, for the plot
        Run c = run(grad, w0, sgd(r.momentum, m.nesterov), r.lr, r.steps, true);
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

  // Preconditioning: GD and Adagrad, each at its best lr, on the axis-aligned and the rotated
  // landscape of each spectrum, from the same seeded start (z in the eigenbasis).
  lecture::Csv pre_csv(lecture::join(args.out, "preconditioning.csv"), {"landscape", "kappa", "method", "lr", "steps"});
  const Tensor z = randn({d}, {.dtype = kF64});
  const Tensor q = random_rotation(d);
  const MakeOptimizer adagrad = [](const Tensor& w, double lr) {
    return std::make_unique<optim::Adagrad>(TensorList{w}, optim::AdagradOptions(lr));
  };
  const int64_t pre_max_steps = 100000;
  // Adagrad at two fixed lrs (|w0|'s coordinates are about 1) and at its best over a wide grid.
  // (On the axis-aligned landscape that best sits at the grid's top: a huge first step fills
  // the accumulator so that later steps are nearly Newton steps.)
  struct PreMethod {
    std::string name;
    double fixed_lr;  ///< 0: best over the grid
    bool adagrad;
  };
  const std::vector<PreMethod> pre_methods = {
      {"GD", 0, false}, {"Adagrad lr=1", 1, true}, {"Adagrad lr=0.1", 0.1, true}, {"Adagrad, best lr", 0, true}};
  std::vector<lecture::Series> pre_series;
  for (const char* landscape : {"axis-aligned", "rotated"}) {
    const bool rotated = landscape[0] == 'r';
    std::vector<lecture::Series> series;
    for (const PreMethod& m : pre_methods) series.emplace_back(m.name + ", " + landscape, rotated, true);
    for (double kappa : kappas) {
      std::vector<double> lam(static_cast<size_t>(d));
      for (int64_t i = 0; i < d; ++i) lam[size_t(i)] = std::pow(kappa, double(i) / double(d - 1));
      const Tensor lambda = from_vector(lam, {d}, kF64);
      const Tensor a = matmul(q * lambda, q.t());  // Q Λ Qᵀ
      const Gradient grad = rotated ? Gradient([&](const Tensor& w) { return matmul(a, w.reshape({d, 1})).reshape({d}); })
                                    : Gradient([&](const Tensor& w) { return lambda * w; });
      const Tensor w0 = rotated ? matmul(q, z.reshape({d, 1})).reshape({d}) : z;
      for (size_t mi = 0; mi < pre_methods.size(); ++mi) {
        const PreMethod& m = pre_methods[mi];
        const Run r = !m.adagrad       ? best_over_grid(grad, w0, sgd(0, false), kappa, 0.01, 4, grid, pre_max_steps)
                      : m.fixed_lr > 0 ? run(grad, w0, adagrad, m.fixed_lr, pre_max_steps, false)
                                       : best_over_grid(grad, w0, adagrad, 1, 1e-3, 1e3, grid, pre_max_steps);
        pre_csv.row({landscape, kappa, m.name, r.lr, r.steps});
        std::printf("%-12s kappa %5g  %-17s lr %-8.4g steps %6lld\n", landscape, kappa, m.name.c_str(), r.lr,
                    (long long)r.steps);
        series[mi].x.push_back(kappa), series[mi].y.push_back(r.steps > 0 ? double(r.steps) : std::nan(""));
      }
    }
    pre_series.insert(pre_series.end(), series.begin(), series.end());
  }
  lecture::write_line_plot(lecture::join(args.out, "preconditioning.svg"), pre_series,
                           {"Steps to |w| <= 1e-6 |w0|: GD (best lr) vs Adagrad, axis-aligned vs rotated",
                            "condition number kappa", "steps", true, true});
  std::printf("wrote %s/{steps.csv,trajectory.csv,steps_vs_kappa.svg,convergence_kappa100.svg,preconditioning.csv,"
              "preconditioning.svg}\n",
              args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "02_momentum: %s\n", e.what());
  return 1;
}
