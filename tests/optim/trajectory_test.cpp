// Trajectory tests: for each optimizer and a fixed small problem, 10 steps of nabla (gradients
// from autograd, update from the fused kernels) match an independent f64 implementation of
// the update rules as PyTorch documents them, written here element by element (relative
// tolerance 1e-6 in f64), and so do the state buffers (momentum, moments) after the 10 steps.
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "optim_test_util.h"

using namespace nabla;
using optim_test::expect_near_rel;

namespace {

// ---- the problem: L(w) = Σ a (w - c)² + Σ sin(w) over two parameters --------------------------
// Curvatures a span 0.05..5 so the adaptive methods see different scales; sizes 15 and 7 run
// both the SIMD body and the scalar tail of the kernels.
const std::vector<Shape> kShapes = {{3, 5}, {7}};

std::vector<double> init_w(size_t k, int64_t n) {
  std::vector<double> w(n);
  for (int64_t i = 0; i < n; ++i) w[i] = 0.8 * std::sin(1.3 * double(i) + 0.4 * double(k)) + 0.1;
  return w;
}
std::vector<double> curv(size_t k, int64_t n) {
  std::vector<double> a(n);
  for (int64_t i = 0; i < n; ++i) a[i] = 0.05 * std::pow(100.0, double(i) / double(n - 1)) * (k == 0 ? 1.0 : 0.7);
  return a;
}
std::vector<double> target(size_t k, int64_t n) {
  std::vector<double> c(n);
  for (int64_t i = 0; i < n; ++i) c[i] = std::cos(0.7 * double(i) + double(k));
  return c;
}
std::vector<double> ref_grad(size_t k, const std::vector<double>& w) {
  auto a = curv(k, int64_t(w.size()));
  auto c = target(k, int64_t(w.size()));
  std::vector<double> g(w.size());
  for (size_t i = 0; i < w.size(); ++i) g[i] = 2.0 * a[i] * (w[i] - c[i]) + std::cos(w[i]);
  return g;
}

// ---- the reference: one parameter's update, in f64, from the documented formulas ---------------
struct RefState {
  Shape shape;  ///< the parameter's shape (Adafactor factors matrices over their last two dims)
  int t = 0;
  double mu_product = 1.0;
  std::map<std::string, std::vector<double>> buf;
  std::vector<double>& get(const std::string& name, size_t n, double init = 0.0) {
    auto it = buf.find(name);
    if (it == buf.end()) it = buf.emplace(name, std::vector<double>(n, init)).first;
    return it->second;
  }
};
using RefStep = std::function<void(std::vector<double>& w, std::vector<double> g, RefState& s)>;

struct SgdH { double lr, momentum = 0, dampening = 0, wd = 0; bool nesterov = false, maximize = false; };
RefStep ref_sgd(SgdH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.maximize) g[i] = -g[i];
      g[i] += h.wd * w[i];
      if (h.momentum != 0) {
        auto& b = s.get("momentum_buffer", w.size());
        b[i] = s.t == 1 ? g[i] : h.momentum * b[i] + (1 - h.dampening) * g[i];
        g[i] = h.nesterov ? g[i] + h.momentum * b[i] : b[i];
      }
      w[i] -= h.lr * g[i];
    }
  };
}

struct AdagradH { double lr, lr_decay = 0, wd = 0, init = 0, eps = 1e-10; };
RefStep ref_adagrad(AdagradH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& sum = s.get("sum", w.size(), h.init);
    const double clr = h.lr / (1 + (s.t - 1) * h.lr_decay);
    for (size_t i = 0; i < w.size(); ++i) {
      g[i] += h.wd * w[i];
      sum[i] += g[i] * g[i];
      w[i] -= clr * g[i] / (std::sqrt(sum[i]) + h.eps);
    }
  };
}

struct RmsH { double lr, alpha = 0.99, eps = 1e-8, wd = 0, momentum = 0; bool centered = false; };
RefStep ref_rmsprop(RmsH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& v = s.get("square_avg", w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      g[i] += h.wd * w[i];
      v[i] = h.alpha * v[i] + (1 - h.alpha) * g[i] * g[i];
      double vt = v[i];
      if (h.centered) {
        auto& ga = s.get("grad_avg", w.size());
        ga[i] = h.alpha * ga[i] + (1 - h.alpha) * g[i];
        vt -= ga[i] * ga[i];
      }
      if (h.momentum > 0) {
        auto& b = s.get("momentum_buffer", w.size());
        b[i] = h.momentum * b[i] + g[i] / (std::sqrt(vt) + h.eps);
        w[i] -= h.lr * b[i];
      } else {
        w[i] -= h.lr * g[i] / (std::sqrt(vt) + h.eps);
      }
    }
  };
}

struct AdadeltaH { double lr = 1.0, rho = 0.9, eps = 1e-6, wd = 0; };
RefStep ref_adadelta(AdadeltaH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& v = s.get("square_avg", w.size());
    auto& u = s.get("acc_delta", w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      g[i] += h.wd * w[i];
      v[i] = v[i] * h.rho + g[i] * g[i] * (1 - h.rho);
      const double dx = std::sqrt(u[i] + h.eps) / std::sqrt(v[i] + h.eps) * g[i];
      u[i] = u[i] * h.rho + dx * dx * (1 - h.rho);
      w[i] -= h.lr * dx;
    }
  };
}

// Adam and AdamW: m̂ = m/(1-β1ᵗ), v̂ = v/(1-β2ᵗ), θ -= lr m̂/(√v̂ + ε); AMSGrad keeps the max of
// the raw v (PyTorch's implementation and current docs).
struct AdamH { double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0; bool amsgrad = false, decoupled = false, maximize = false; };
RefStep ref_adam(AdamH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& m = s.get("exp_avg", w.size());
    auto& v = s.get("exp_avg_sq", w.size());
    const double bc1 = 1 - std::pow(h.b1, s.t), bc2 = 1 - std::pow(h.b2, s.t);
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.maximize) g[i] = -g[i];
      if (h.decoupled) {
        w[i] -= h.lr * h.wd * w[i];
      } else {
        g[i] += h.wd * w[i];
      }
      m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
      v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
      double vv = v[i];
      if (h.amsgrad) {
        auto& vmax = s.get("max_exp_avg_sq", w.size());
        vmax[i] = std::max(vmax[i], v[i]);
        vv = vmax[i];
      }
      const double mhat = m[i] / bc1, vhat = vv / bc2;
      w[i] -= h.lr * mhat / (std::sqrt(vhat) + h.eps);
    }
  };
}

struct NAdamH { double lr = 2e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0, psi = 4e-3; bool decoupled = false; };
RefStep ref_nadam(NAdamH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& m = s.get("exp_avg", w.size());
    auto& v = s.get("exp_avg_sq", w.size());
    const double t = s.t;
    const double mu = h.b1 * (1 - 0.5 * std::pow(0.96, t * h.psi));
    const double mu1 = h.b1 * (1 - 0.5 * std::pow(0.96, (t + 1) * h.psi));
    const double prod = s.mu_product * mu, prod1 = prod * mu1;
    s.mu_product = prod;
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.decoupled) {
        w[i] -= h.lr * h.wd * w[i];
      } else {
        g[i] += h.wd * w[i];
      }
      m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
      v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
      const double mhat = mu1 * m[i] / (1 - prod1) + (1 - mu) * g[i] / (1 - prod);
      const double vhat = v[i] / (1 - std::pow(h.b2, t));
      w[i] -= h.lr * mhat / (std::sqrt(vhat) + h.eps);
    }
  };
}

struct RAdamH { double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0; bool decoupled = false; };
RefStep ref_radam(RAdamH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& m = s.get("exp_avg", w.size());
    auto& v = s.get("exp_avg_sq", w.size());
    const double t = s.t;
    const double rho_inf = 2 / (1 - h.b2) - 1;
    const double rho_t = rho_inf - 2 * t * std::pow(h.b2, t) / (1 - std::pow(h.b2, t));
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.decoupled) {
        w[i] -= h.lr * h.wd * w[i];
      } else {
        g[i] += h.wd * w[i];
      }
      m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
      v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(h.b1, t));
      if (rho_t > 5) {
        const double l = std::sqrt(1 - std::pow(h.b2, t)) / (std::sqrt(v[i]) + h.eps);
        const double r = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
        w[i] -= h.lr * mhat * r * l;
      } else {
        w[i] -= h.lr * mhat;
      }
    }
  };
}

// Adamax: m as Adam's; u = max(β2 u, |g| + ε) (no bias correction); θ -= lr/(1-β1ᵗ) · m/u.
struct AdamaxH { double lr = 2e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0; bool maximize = false; };
RefStep ref_adamax(AdamaxH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& m = s.get("exp_avg", w.size());
    auto& u = s.get("exp_inf", w.size());
    const double clr = h.lr / (1 - std::pow(h.b1, s.t));
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.maximize) g[i] = -g[i];
      g[i] += h.wd * w[i];
      m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
      u[i] = std::max(h.b2 * u[i], std::abs(g[i]) + h.eps);
      w[i] -= clr * m[i] / u[i];
    }
  };
}

// Rprop: step sizes start at lr and grow by η+ while g keeps its sign, shrink by η- on a flip
// (where the step is then skipped and the remembered gradient is 0), within [min, max].
struct RpropH { double lr = 1e-2, eta_minus = 0.5, eta_plus = 1.2, min = 1e-6, max = 50; bool maximize = false; };
RefStep ref_rprop(RpropH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& prev = s.get("prev", w.size());
    auto& step = s.get("step_size", w.size(), h.lr);
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.maximize) g[i] = -g[i];
      const double sgn = g[i] * prev[i];
      if (sgn > 0) step[i] *= h.eta_plus;
      if (sgn < 0) step[i] *= h.eta_minus;
      step[i] = std::min(std::max(step[i], h.min), h.max);
      if (sgn < 0) g[i] = 0;
      w[i] -= (g[i] > 0 ? 1.0 : g[i] < 0 ? -1.0 : 0.0) * step[i];
      prev[i] = g[i];
    }
  };
}

// ASGD: η_t = lr / (1 + λ·lr·(t-1))^α (η_1 = lr), μ_t = 1 / max(1, t-1-t0) (μ_1 = 1);
// w ← w(1 - λη_t) - η_t g;  ax ← w while μ_t = 1, else ax + μ_t (w - ax).
struct AsgdH { double lr = 1e-2, lambd = 1e-4, alpha = 0.75, t0 = 1e6, wd = 0; bool maximize = false; };
RefStep ref_asgd(AsgdH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    auto& ax = s.get("ax", w.size());
    const double eta = h.lr / std::pow(1 + h.lambd * h.lr * (s.t - 1), h.alpha);
    const double mu = s.t == 1 ? 1.0 : 1.0 / std::max(1.0, s.t - 1 - h.t0);
    for (size_t i = 0; i < w.size(); ++i) {
      if (h.maximize) g[i] = -g[i];
      g[i] += h.wd * w[i];
      w[i] = w[i] * (1 - h.lambd * eta) - eta * g[i];
      ax[i] = mu == 1 ? w[i] : ax[i] + mu * (w[i] - ax[i]);
    }
  };
}

// Adafactor (PyTorch 2.5's _single_tensor_adafactor): β̂ = t^decay (the new value's weight),
// ρ = min(lr, 1/√t), α = max(eps2, RMS(w))·ρ; w ← w(1 - lr·wd); matrices: R, C ← running means
// of g² over the last / second-last dim, V = R Cᵀ / max(mean(R), eps1); vectors: V ← running
// g²; u = g / √max(V, eps1²); w ← w - α u / max(1, RMS(u)/d). eps1 unset: f64's epsilon.
struct AdafactorH {
  double lr = 1e-2, decay = -0.8;
  std::optional<double> eps1 = std::nullopt;
  double eps2 = 1e-3, d = 1, wd = 0;
  bool maximize = false;
};
RefStep ref_adafactor(AdafactorH h) {
  return [h](std::vector<double>& w, std::vector<double> g, RefState& s) {
    s.t += 1;
    const size_t N = w.size();
    const double t = s.t, fresh = std::pow(t, h.decay), rho = std::min(h.lr, 1 / std::sqrt(t));
    const double eps1 = h.eps1.value_or(std::numeric_limits<double>::epsilon());
    double sw = 0;
    for (double x : w) sw += x * x;
    const double alpha = std::max(h.eps2, std::sqrt(sw / double(N))) * rho;
    for (size_t i = 0; i < N; ++i) {
      if (h.maximize) g[i] = -g[i];
      w[i] *= 1 - h.lr * h.wd;
    }
    std::vector<double> v(N);
    if (s.shape.size() >= 2) {
      const size_t n = size_t(s.shape.back()), m = size_t(s.shape[s.shape.size() - 2]), B = N / (m * n);
      auto& R = s.get("row_var", B * m);
      auto& C = s.get("col_var", B * n);
      auto g2 = [&](size_t b, size_t i, size_t j) { return g[(b * m + i) * n + j] * g[(b * m + i) * n + j]; };
      for (size_t b = 0; b < B; ++b) {
        for (size_t i = 0; i < m; ++i) {
          double acc = 0;
          for (size_t j = 0; j < n; ++j) acc += g2(b, i, j);
          R[b * m + i] += fresh * (acc / double(n) - R[b * m + i]);
        }
        for (size_t j = 0; j < n; ++j) {
          double acc = 0;
          for (size_t i = 0; i < m; ++i) acc += g2(b, i, j);
          C[b * n + j] += fresh * (acc / double(m) - C[b * n + j]);
        }
        double mean_r = 0;
        for (size_t i = 0; i < m; ++i) mean_r += R[b * m + i] / double(m);
        for (size_t i = 0; i < m; ++i)
          for (size_t j = 0; j < n; ++j) v[(b * m + i) * n + j] = R[b * m + i] * C[b * n + j] / std::max(mean_r, eps1);
      }
    } else {
      auto& V = s.get("variance", N);
      for (size_t i = 0; i < N; ++i) v[i] = V[i] += fresh * (g[i] * g[i] - V[i]);
    }
    std::vector<double> u(N);
    double su = 0;
    for (size_t i = 0; i < N; ++i) {
      u[i] = g[i] / std::sqrt(std::max(v[i], eps1 * eps1));
      su += u[i] * u[i];
    }
    const double denom = std::max(1.0, std::sqrt(su / double(N)) / h.d);
    for (size_t i = 0; i < N; ++i) w[i] -= alpha / denom * u[i];
  };
}

// ---- the cases --------------------------------------------------------------------------------
using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
struct Case {
  std::string name;
  Make make;
  RefStep ref;
  std::vector<std::string> states;  // buffers compared after the steps
};

template <typename Opt, typename Options>
Make make(Options o) {
  return [o](std::vector<Tensor> p) { return std::make_unique<Opt>(std::move(p), o); };
}

std::vector<Case> cases() {
  using namespace optim;
  return {
      {"SGD", make<SGD>(SGDOptions(0.05)), ref_sgd({.lr = 0.05}), {}},
      {"SGD_momentum_dampening_wd", make<SGD>(SGDOptions(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01)),
       ref_sgd({.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .wd = 0.01}), {"momentum_buffer"}},
      {"SGD_nesterov_wd", make<SGD>(SGDOptions(0.03).momentum(0.9).nesterov(true).weight_decay(0.01)),
       ref_sgd({.lr = 0.03, .momentum = 0.9, .wd = 0.01, .nesterov = true}), {"momentum_buffer"}},
      {"SGD_maximize", make<SGD>(SGDOptions(0.01).momentum(0.5).maximize(true)),
       ref_sgd({.lr = 0.01, .momentum = 0.5, .maximize = true}), {"momentum_buffer"}},
      {"Adagrad", make<Adagrad>(AdagradOptions(0.1)), ref_adagrad({.lr = 0.1}), {"sum"}},
      {"Adagrad_decay_wd_init",
       make<Adagrad>(AdagradOptions(0.1).lr_decay(0.05).weight_decay(0.01).initial_accumulator_value(0.1)),
       ref_adagrad({.lr = 0.1, .lr_decay = 0.05, .wd = 0.01, .init = 0.1}), {"sum"}},
      {"RMSprop", make<RMSprop>(RMSpropOptions(0.01)), ref_rmsprop({.lr = 0.01}), {"square_avg"}},
      {"RMSprop_centered_momentum_wd",
       make<RMSprop>(RMSpropOptions(0.01).alpha(0.9).momentum(0.5).centered(true).weight_decay(0.01)),
       ref_rmsprop({.lr = 0.01, .alpha = 0.9, .wd = 0.01, .momentum = 0.5, .centered = true}),
       {"square_avg", "grad_avg", "momentum_buffer"}},
      {"Adadelta", make<Adadelta>(AdadeltaOptions()), ref_adadelta({}), {"square_avg", "acc_delta"}},
      {"Adadelta_rho_wd", make<Adadelta>(AdadeltaOptions(0.5).rho(0.8).eps(1e-5).weight_decay(0.02)),
       ref_adadelta({.lr = 0.5, .rho = 0.8, .eps = 1e-5, .wd = 0.02}), {"square_avg", "acc_delta"}},
      {"Adam", make<Adam>(AdamOptions(0.01)), ref_adam({.lr = 0.01}), {"exp_avg", "exp_avg_sq"}},
      {"Adam_amsgrad_wd_betas",
       make<Adam>(AdamOptions(0.02).betas({0.8, 0.99}).amsgrad(true).weight_decay(0.05).eps(1e-6)),
       ref_adam({.lr = 0.02, .b1 = 0.8, .b2 = 0.99, .eps = 1e-6, .wd = 0.05, .amsgrad = true}),
       {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
      {"Adam_maximize", make<Adam>(AdamOptions(0.01).maximize(true)), ref_adam({.lr = 0.01, .maximize = true}),
       {"exp_avg", "exp_avg_sq"}},
      {"AdamW", make<AdamW>(AdamWOptions(0.01).weight_decay(0.1)),
       ref_adam({.lr = 0.01, .wd = 0.1, .decoupled = true}), {"exp_avg", "exp_avg_sq"}},
      {"AdamW_amsgrad", make<AdamW>(AdamWOptions(0.01).amsgrad(true)),
       ref_adam({.lr = 0.01, .wd = 1e-2, .amsgrad = true, .decoupled = true}),
       {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
      {"NAdam", make<NAdam>(NAdamOptions(0.01)), ref_nadam({.lr = 0.01}), {"exp_avg", "exp_avg_sq"}},
      {"NAdam_wd_momentum_decay", make<NAdam>(NAdamOptions(0.01).weight_decay(0.05).momentum_decay(0.01)),
       ref_nadam({.lr = 0.01, .wd = 0.05, .psi = 0.01}), {"exp_avg", "exp_avg_sq"}},
      {"NAdam_decoupled", make<NAdam>(NAdamOptions(0.01).weight_decay(0.1).decoupled_weight_decay(true)),
       ref_nadam({.lr = 0.01, .wd = 0.1, .decoupled = true}), {"exp_avg", "exp_avg_sq"}},
      // β2 = 0.999 keeps ρₜ ≤ 5 for the first five steps: both branches run.
      {"RAdam", make<RAdam>(RAdamOptions(0.01)), ref_radam({.lr = 0.01}), {"exp_avg", "exp_avg_sq"}},
      {"RAdam_wd", make<RAdam>(RAdamOptions(0.01).weight_decay(0.05)), ref_radam({.lr = 0.01, .wd = 0.05}),
       {"exp_avg", "exp_avg_sq"}},
      {"RAdam_decoupled", make<RAdam>(RAdamOptions(0.01).weight_decay(0.1).decoupled_weight_decay(true)),
       ref_radam({.lr = 0.01, .wd = 0.1, .decoupled = true}), {"exp_avg", "exp_avg_sq"}},
      {"Adamax", make<Adamax>(AdamaxOptions(0.02)), ref_adamax({.lr = 0.02}), {"exp_avg", "exp_inf"}},
      {"Adamax_betas_eps_wd", make<Adamax>(AdamaxOptions(0.05).betas({0.8, 0.95}).eps(1e-3).weight_decay(0.05)),
       ref_adamax({.lr = 0.05, .b1 = 0.8, .b2 = 0.95, .eps = 1e-3, .wd = 0.05}), {"exp_avg", "exp_inf"}},
      {"Adamax_maximize", make<Adamax>(AdamaxOptions(0.01).maximize(true)),
       ref_adamax({.lr = 0.01, .maximize = true}), {"exp_avg", "exp_inf"}},
      // lr 0.1 growing by 1.2 overshoots the minima within the 10 steps: sign flips happen.
      {"Rprop", make<Rprop>(RpropOptions(0.1)), ref_rprop({.lr = 0.1}), {"prev", "step_size"}},
      {"Rprop_etas_step_sizes",
       make<Rprop>(RpropOptions(0.05).etas({0.3, 1.5}).step_sizes({0.01, 0.12})),
       ref_rprop({.lr = 0.05, .eta_minus = 0.3, .eta_plus = 1.5, .min = 0.01, .max = 0.12}), {"prev", "step_size"}},
      {"Rprop_maximize", make<Rprop>(RpropOptions(0.02).maximize(true)), ref_rprop({.lr = 0.02, .maximize = true}),
       {"prev", "step_size"}},
      // t0 = 3: the average starts within the 10 steps (μ = 1, 1, 1, 1, 1, 1/2, 1/3, ...).
      {"ASGD_averaging", make<ASGD>(ASGDOptions(0.05).lambd(0.05).alpha(0.6).t0(3)),
       ref_asgd({.lr = 0.05, .lambd = 0.05, .alpha = 0.6, .t0 = 3}), {"ax"}},
      {"ASGD_defaults_wd", make<ASGD>(ASGDOptions().weight_decay(0.1)), ref_asgd({.wd = 0.1}), {"ax"}},
      {"ASGD_maximize", make<ASGD>(ASGDOptions(0.02).t0(0).maximize(true)),
       ref_asgd({.lr = 0.02, .t0 = 0, .maximize = true}), {"ax"}},
      // The [3, 5] parameter is factored (row_var, col_var), the [7] one keeps a full variance.
      {"Adafactor", make<Adafactor>(AdafactorOptions()), ref_adafactor({}), {"row_var", "col_var", "variance"}},
      // lr 1: the relative step ρ = 1/√t; d 1.5 and RMS(u) near 1 on the first steps: clipping
      // both on and off.
      {"Adafactor_relative_step_wd_d", make<Adafactor>(AdafactorOptions(1.0).beta2_decay(-0.5).d(1.5).weight_decay(0.01)),
       ref_adafactor({.lr = 1.0, .decay = -0.5, .d = 1.5, .wd = 0.01}), {"row_var", "col_var", "variance"}},
      // eps1 0.5 floors mean(R) and V for the small gradients; eps2 2 floors RMS(w).
      {"Adafactor_eps_maximize", make<Adafactor>(AdafactorOptions(0.05).eps1(0.5).eps2(2.0).maximize(true)),
       ref_adafactor({.lr = 0.05, .eps1 = 0.5, .eps2 = 2.0, .maximize = true}), {"row_var", "col_var", "variance"}},
  };
}

struct Param {
  Case c;
  DType dtype;
};

// ctest lists the case by name instead of the parameter's bytes.
void PrintTo(const Param& p, std::ostream* os) { *os << p.c.name << (p.dtype == kF64 ? " f64" : " f32"); }

class Trajectory : public ::testing::TestWithParam<Param> {};

TEST_P(Trajectory, TenStepsMatchTheDocumentedFormulas) {
  const Case& c = GetParam().c;
  const DType dt = GetParam().dtype;
  // f64 is held to 1e-6 relative; f32 runs the same kernels in single precision.
  const double rtol = dt == kF64 ? 1e-6 : 2e-4, atol = dt == kF64 ? 1e-12 : 1e-6;
  constexpr int kSteps = 10;

  std::vector<Tensor> params, a, cs;
  std::vector<std::vector<double>> ref_w;
  for (size_t k = 0; k < kShapes.size(); ++k) {
    const int64_t n = shape_numel(kShapes[k]);
    ref_w.push_back(init_w(k, n));
    params.push_back(from_vector(ref_w.back(), kShapes[k], dt).requires_grad_());
    a.push_back(from_vector(curv(k, n), kShapes[k], dt));
    cs.push_back(from_vector(target(k, n), kShapes[k], dt));
  }
  auto opt = c.make(params);
  std::vector<RefState> ref_state(kShapes.size());
  for (size_t k = 0; k < kShapes.size(); ++k) ref_state[k].shape = kShapes[k];

  for (int step = 0; step < kSteps; ++step) {
    opt->zero_grad();
    Tensor loss = scalar_tensor(0.0, dt);
    for (size_t k = 0; k < params.size(); ++k)
      loss = loss + sum(a[k] * square(params[k] - cs[k])) + sum(sin(params[k]));
    loss.backward();
    opt->step();
    for (size_t k = 0; k < params.size(); ++k) {
      c.ref(ref_w[k], ref_grad(k, ref_w[k]), ref_state[k]);
      expect_near_rel(params[k].to_vector(), ref_w[k], rtol, atol,
                      c.name + " step " + std::to_string(step + 1) + " param " + std::to_string(k));
      if (HasFatalFailure()) return;
    }
  }
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_EQ(opt->state(params[k]).step, kSteps);
    for (const auto& name : c.states) {
      Tensor buf = opt->state_tensor(params[k], name);
      if (!ref_state[k].buf.count(name)) {  // a buffer this parameter does not keep (Adafactor's)
        EXPECT_FALSE(buf.defined()) << c.name << ": param " << k << " keeps " << name;
        continue;
      }
      ASSERT_TRUE(buf.defined()) << c.name << ": no state " << name;
      EXPECT_EQ(buf.dtype(), dt);
      expect_near_rel(buf.to_vector(), ref_state[k].buf.at(name), rtol, atol,
                      c.name + " state " + name + " param " + std::to_string(k));
    }
  }
}

std::vector<Param> all_params() {
  std::vector<Param> out;
  for (DType dt : {kF64, kF32})
    for (auto& c : cases()) out.push_back({c, dt});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Optim, Trajectory, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return info.param.c.name + (info.param.dtype == kF64 ? "_f64" : "_f32");
                         });

// Parameter groups with their own options follow their own trajectories.
TEST(OptimGroups, EachGroupUsesItsOwnOptions) {
  using namespace optim;
  const int64_t n0 = 15, n1 = 7;
  std::vector<double> w0 = init_w(0, n0), w1 = init_w(1, n1);
  Tensor p0 = from_vector(w0, kShapes[0], kF64).requires_grad_();
  Tensor p1 = from_vector(w1, kShapes[1], kF64).requires_grad_();
  Tensor a0 = from_vector(curv(0, n0), kShapes[0], kF64), c0 = from_vector(target(0, n0), kShapes[0], kF64);
  Tensor a1 = from_vector(curv(1, n1), kShapes[1], kF64), c1 = from_vector(target(1, n1), kShapes[1], kF64);
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{p0});  // takes the defaults
  groups.emplace_back(std::vector<Tensor>{p1}, std::make_unique<SGDOptions>(SGDOptions(0.01).momentum(0.9)));
  SGD opt(std::move(groups), SGDOptions(0.05));
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.05);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.01);
  RefState s0, s1;
  auto r0 = ref_sgd({.lr = 0.05}), r1 = ref_sgd({.lr = 0.01, .momentum = 0.9});
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    Tensor loss = sum(a0 * square(p0 - c0)) + sum(sin(p0)) + sum(a1 * square(p1 - c1)) + sum(sin(p1));
    loss.backward();
    opt.step();
    r0(w0, ref_grad(0, w0), s0);
    r1(w1, ref_grad(1, w1), s1);
  }
  expect_near_rel(p0.to_vector(), w0, 1e-6, 1e-12, "group 0");
  expect_near_rel(p1.to_vector(), w1, 1e-6, 1e-12, "group 1");
  EXPECT_FALSE(opt.state_tensor(p0, "momentum_buffer").defined());
  expect_near_rel(opt.state_tensor(p1, "momentum_buffer").to_vector(), s1.buf.at("momentum_buffer"), 1e-6, 1e-12,
                  "group 1 momentum");

  // add_param_group later: a third parameter with its own lr.
  Tensor p2 = zeros({4}, {.dtype = kF64, .requires_grad = true});
  opt.add_param_group(OptimizerParamGroup({p2}, std::make_unique<SGDOptions>(SGDOptions(0.5))));
  ASSERT_EQ(opt.param_groups().size(), 3u);
  p2.set_grad(ones({4}, {.dtype = kF64}));
  opt.step();
  for (double v : p2.to_vector()) EXPECT_DOUBLE_EQ(v, -0.5);
}

// A parameter without a gradient is skipped and keeps no state.
TEST(OptimGroups, ParametersWithoutGradAreSkipped) {
  Tensor p = ones({3}, {.dtype = kF64, .requires_grad = true});
  Tensor q = ones({3}, {.dtype = kF64, .requires_grad = true});
  optim::Adam opt({p, q}, optim::AdamOptions(0.1));
  p.set_grad(full({3}, 2.0, {.dtype = kF64}));
  opt.step();
  EXPECT_NEAR(p.to_vector()[0], 0.9, 1e-9);
  EXPECT_EQ(q.to_vector()[0], 1.0);
  EXPECT_EQ(opt.state(q).step, 0);
  EXPECT_FALSE(opt.state_tensor(q, "exp_avg").defined());
}

}  // namespace

namespace {

// Two groups with their own Adamax / Rprop options follow their own reference trajectories.
template <typename Opt, typename Options>
void check_two_groups(Options defaults, Options second, RefStep r0, RefStep r1) {
  const int64_t n0 = 15, n1 = 7;
  std::vector<double> w0 = init_w(0, n0), w1 = init_w(1, n1);
  Tensor p0 = from_vector(w0, kShapes[0], kF64).requires_grad_();
  Tensor p1 = from_vector(w1, kShapes[1], kF64).requires_grad_();
  Tensor a0 = from_vector(curv(0, n0), kShapes[0], kF64), c0 = from_vector(target(0, n0), kShapes[0], kF64);
  Tensor a1 = from_vector(curv(1, n1), kShapes[1], kF64), c1 = from_vector(target(1, n1), kShapes[1], kF64);
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{p0});
  groups.emplace_back(std::vector<Tensor>{p1}, std::make_unique<Options>(second));
  Opt opt(std::move(groups), defaults);
  RefState s0, s1;
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    Tensor loss = sum(a0 * square(p0 - c0)) + sum(sin(p0)) + sum(a1 * square(p1 - c1)) + sum(sin(p1));
    loss.backward();
    opt.step();
    r0(w0, ref_grad(0, w0), s0);
    r1(w1, ref_grad(1, w1), s1);
  }
  expect_near_rel(p0.to_vector(), w0, 1e-6, 1e-12, std::string(opt.name()) + " group 0");
  expect_near_rel(p1.to_vector(), w1, 1e-6, 1e-12, std::string(opt.name()) + " group 1");
}

TEST(OptimGroups, AdamaxAndRpropGroupsUseTheirOwnOptions) {
  using namespace optim;
  check_two_groups<Adamax>(AdamaxOptions(0.02), AdamaxOptions(0.05).betas({0.5, 0.9}).weight_decay(0.1),
                           ref_adamax({.lr = 0.02}), ref_adamax({.lr = 0.05, .b1 = 0.5, .b2 = 0.9, .wd = 0.1}));
  check_two_groups<Rprop>(RpropOptions(0.1), RpropOptions(0.03).etas({0.2, 1.1}).maximize(true),
                          ref_rprop({.lr = 0.1}),
                          ref_rprop({.lr = 0.03, .eta_minus = 0.2, .eta_plus = 1.1, .maximize = true}));
}

// f(w) = (w - 1)², w0 = 0, lr 0.3, by hand: the step grows 0.3, 0.36, 0.432 while g < 0; at
// w = 1.092 the gradient changes sign, so the step shrinks to 0.216 and that move is skipped
// (prev becomes 0); the next step keeps 0.216 (factor 1) and moves back to 0.876.
TEST(OptimRprop, ShrinksTheStepOnASignFlipAndSkipsThatMove) {
  Tensor w = zeros({1}, {.dtype = kF64, .requires_grad = true});
  optim::Rprop opt({w}, optim::RpropOptions(0.3));
  const std::vector<double> want_w = {0.3, 0.66, 1.092, 1.092, 0.876};
  const std::vector<double> want_step = {0.3, 0.36, 0.432, 0.216, 0.216};
  const std::vector<double> want_prev = {-2.0, -1.4, -0.68, 0.0, 0.184};
  for (size_t k = 0; k < want_w.size(); ++k) {
    opt.zero_grad();
    square(w - 1.0).sum().backward();
    opt.step();
    EXPECT_NEAR(w.item(), want_w[k], 1e-12) << "step " << k + 1;
    EXPECT_NEAR(opt.state_tensor(w, "step_size").item(), want_step[k], 1e-12) << "step " << k + 1;
    EXPECT_NEAR(opt.state_tensor(w, "prev").item(), want_prev[k], 1e-12) << "step " << k + 1;
  }
}

// As PyTorch: the step sizes are set from lr once, on the first step; a scheduler's later lr
// changes do not reach them (Rprop's steps are in parameter units, not scaled by lr).
TEST(OptimRprop, LrChangesAfterTheFirstStepDoNotReachTheStepSizes) {
  Tensor w = zeros({2}, {.dtype = kF64, .requires_grad = true});
  optim::Rprop opt({w}, optim::RpropOptions(0.1));
  w.set_grad(full({2}, -1.0, {.dtype = kF64}));
  opt.step();
  opt.param_groups()[0].options().set_lr(1e-4);
  opt.step();
  EXPECT_NEAR(w.to_vector()[0], 0.1 + 0.12, 1e-12);
}

// Adamax's first step: m̂ = g and u = |g| (eps 0), so the step is lr·sign(g) whatever the
// gradient's scale.
TEST(OptimAdamax, FirstStepIsLrTimesTheGradientSign) {
  for (double g : {1e-3, 1.0, 1e3}) {
    Tensor w = zeros({2}, {.dtype = kF64, .requires_grad = true});
    optim::Adamax opt({w}, optim::AdamaxOptions(0.01).eps(0));
    w.set_grad(from_vector(std::vector<double>{g, -g}, {2}, kF64));
    opt.step();
    EXPECT_NEAR(w.to_vector()[0], -0.01, 1e-15) << g;
    EXPECT_NEAR(w.to_vector()[1], 0.01, 1e-15) << g;
  }
}

// Adafactor on what the table's [3, 5] and [7] leave out: a [2, 3, 4] parameter (factored per
// leading index), a 0-d scalar (a full variance), and an empty parameter (counted, untouched).
TEST(OptimAdafactor, BatchedMatricesAndScalarsFollowTheReference) {
  const std::vector<Shape> shapes = {{2, 3, 4}, {}, {0, 3}};
  std::vector<Tensor> params;
  std::vector<std::vector<double>> ref_w;
  std::vector<RefState> ref_state(shapes.size());
  for (size_t k = 0; k < shapes.size(); ++k) {
    ref_w.push_back(init_w(k, shape_numel(shapes[k])));
    params.push_back(from_vector(ref_w.back(), shapes[k], kF64).requires_grad_());
    ref_state[k].shape = shapes[k];
  }
  optim::Adafactor opt(params, optim::AdafactorOptions(0.1).weight_decay(0.02));
  auto ref = ref_adafactor({.lr = 0.1, .wd = 0.02});
  for (int step = 1; step <= 6; ++step) {
    opt.zero_grad();
    Tensor loss = scalar_tensor(0.0, kF64);
    for (size_t k = 0; k < params.size(); ++k) loss = loss + sum(sin(params[k]) * 3.0 + square(params[k]));
    loss.backward();
    opt.step();
    for (size_t k = 0; k < params.size(); ++k) {
      if (ref_w[k].empty()) continue;
      std::vector<double> g(ref_w[k].size());
      for (size_t i = 0; i < g.size(); ++i) g[i] = 3.0 * std::cos(ref_w[k][i]) + 2.0 * ref_w[k][i];
      ref(ref_w[k], g, ref_state[k]);
      expect_near_rel(params[k].to_vector(), ref_w[k], 1e-12, 1e-14, "step " + std::to_string(step));
    }
  }
  EXPECT_EQ(opt.state_tensor(params[0], "row_var").shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(opt.state_tensor(params[0], "col_var").shape(), (Shape{2, 1, 4}));
  expect_near_rel(opt.state_tensor(params[0], "row_var").to_vector(), ref_state[0].buf.at("row_var"), 1e-12, 1e-15,
                  "row_var");
  expect_near_rel(opt.state_tensor(params[0], "col_var").to_vector(), ref_state[0].buf.at("col_var"), 1e-12, 1e-15,
                  "col_var");
  EXPECT_FALSE(opt.state_tensor(params[0], "variance").defined());
  EXPECT_EQ(opt.state_tensor(params[1], "variance").shape(), Shape{});
  EXPECT_EQ(opt.state(params[2]).step, 6);
  EXPECT_EQ(opt.state_tensor(params[2], "row_var").shape(), (Shape{0, 1}));
}

// eps1 unset is the parameter dtype's epsilon, as PyTorch's None: a gradient of 1e-10 has
// V = 1e-20, under f32's eps1² (1.4e-14) but over f64's (4.9e-32), so the f32 step is
// α·g/eps1 and the f64 step is α·sign(g).
TEST(OptimAdafactor, UnsetEps1IsTheDtypesEpsilon) {
  for (DType dt : {kF32, kF64}) {
    Tensor w = full({1}, 0.5, {.dtype = dt, .requires_grad = true});
    optim::Adafactor opt({w}, optim::AdafactorOptions(0.01));
    w.set_grad(full({1}, 1e-10, {.dtype = dt}));
    opt.step();
    const double eps = dt == kF32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
    const double u = std::min(1e-10 / eps, 1.0), alpha = 0.5 * 0.01;  // α = max(eps2, RMS(w))·min(lr, 1/√1)
    EXPECT_NEAR(w.to_vector()[0], 0.5 - alpha * u, dt == kF32 ? 1e-7 : 1e-15) << dt;
  }
}

}  // namespace
