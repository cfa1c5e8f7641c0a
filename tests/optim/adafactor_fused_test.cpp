// The fused CPU Adafactor step (src/backend/cpu/adafactor.cpp, AdafactorOptions::fused, the
// default) against (a) the composed tensor-op step (fused(false), the path other devices run)
// over several steps, for matrices (factored, including a batch of matrices), vectors and a
// scalar, with and without weight decay, maximize and eps1, in f32, f64, bf16 and f16; and (b) a
// double-precision computation of the formulas (PyTorch 2.5's torch.optim.Adafactor; LibTorch
// 1.13 has no Adafactor) written out in plain loops here. Also: thread counts, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "nabla/nabla.h"
#include "nabla/ops/adafactor_update.h"
#include "nabla/optim.h"

using namespace nabla;
using namespace nabla::optim;

namespace {

const std::vector<Shape> kShapes = {{37, 53}, {3, 5, 7}, {41}, {1}, {}};

struct OptRun {
  std::vector<Tensor> params;
  std::unique_ptr<Adafactor> opt;
};

OptRun make_run(DType dt, AdafactorOptions o, bool fused) {
  OptRun r;
  manual_seed(11);
  for (const Shape& s : kShapes) r.params.push_back(randn(s).to(dt).requires_grad_());
  r.opt = std::make_unique<Adafactor>(r.params, o.fused(fused));
  return r;
}

void set_grads(OptRun& r, int step) {
  manual_seed(100 + step);
  for (Tensor& p : r.params) p.set_grad((randn(p.shape()) * (0.5 + step)).to(p.dtype()));
}

/// The spacing of `dt`'s values at |b|: one unit of 16-bit rounding.
double ulp16(DType dt, double b) {
  const int mantissa = dt == DType::bf16 ? 7 : 10;
  const double smallest = std::ldexp(1.0, dt == DType::bf16 ? -133 : -24);
  if (b == 0 || !std::isfinite(b)) return smallest;
  int e = 0;
  std::frexp(std::abs(b), &e);
  return std::max(std::ldexp(1.0, e - 1 - mantissa), smallest);
}

/// f32/f64: max |a - b| / max |b| over the tensor (an element passing near 0 moves by the
/// update's size, not its own). 16-bit: max |a - b| / (one unit of rounding at b + 1e-6 max |b|),
/// element-wise: the f32 bound, then the final rounding to 16 bits (1 when within it).
double diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0, scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) {
    if (is_half(a.dtype())) {
      worst = std::max(worst, std::abs(x[i] - y[i]) / (ulp16(a.dtype(), y[i]) + 1e-6 * scale));
    } else {
      worst = std::max(worst, std::abs(x[i] - y[i]));
    }
  }
  return is_half(a.dtype()) ? worst : worst / std::max(scale, 1e-300);
}

struct Config {
  std::string name;
  AdafactorOptions o;
};

std::vector<Config> configs() {
  return {{"defaults", AdafactorOptions()},
          {"wd", AdafactorOptions(0.05).weight_decay(0.1)},
          {"eps1_maximize_d", AdafactorOptions(0.02).eps1(1e-4).maximize(true).d(2).beta2_decay(-0.5)},
          {"wd_eps2_lr_above_rho", AdafactorOptions(0.8).weight_decay(0.01).eps2(0.5)}};
}

// Element-wise the two paths run the same operations in the same precision, except u of a
// factored parameter (the fused kernel multiplies by per-row and per-column 1/sqrt factors: a
// few ulps apart); the sums (RMS(p), RMS(u), the means of g^2 and of R) are accumulated
// differently (double in the fused kernel), which moves alpha, the clipping denominator and the
// means by ~1e-7 relative in f32. Bounds,
// after each of 6 steps: f32 max |fused - composed| <= 1e-6 max |composed| per tensor (parameter
// and each state), f64 1e-14; 16-bit: that f32 bound plus one unit of the dtype's rounding at
// each element (the two paths' f32 values may round to neighbouring 16-bit values).
TEST(AdafactorFused, MatchesTheComposedStepOverSixSteps) {
  for (DType dt : {kF32, DType::f64, DType::bf16, DType::f16}) {
    const double tol = dt == kF32 ? 1e-6 : dt == DType::f64 ? 1e-14 : 1.0;
    for (const Config& c : configs()) {
      OptRun fused = make_run(dt, c.o, true), composed = make_run(dt, c.o, false);
      for (int step = 0; step < 6; ++step) {
        set_grads(fused, step);
        set_grads(composed, step);
        fused.opt->step();
        composed.opt->step();
        // Each step is compared from identical inputs: after the checks the fused run takes the
        // composed run's values (otherwise a 16-bit rounding that differs once, or f32 roundings
        // amplified by large steps, would carry into every later step).
        for (size_t i = 0; i < kShapes.size(); ++i) {
          const std::string where = std::string(dtype_name(dt)) + " " + c.name + " step " + std::to_string(step + 1) +
                                    " param " + std::to_string(i);
          EXPECT_LE(diff(fused.params[i], composed.params[i]), tol) << where;
          const auto& sf = fused.opt->state(fused.params[i]);
          const auto& sc = composed.opt->state(composed.params[i]);
          for (size_t j = 0; j < 3; ++j) {
            ASSERT_EQ(sf.buffers[j].defined(), sc.buffers[j].defined()) << where << " state " << j;
            if (!sf.buffers[j].defined()) continue;
            EXPECT_EQ(sf.buffers[j].shape(), sc.buffers[j].shape()) << where;
            EXPECT_EQ(sf.buffers[j].dtype(), dt) << where;
            EXPECT_LE(diff(sf.buffers[j], sc.buffers[j]), tol) << where << " state " << j;
          }
          NoGradGuard ng;
          fused.params[i].copy_(composed.params[i]);
          for (size_t j = 0; j < 3; ++j)
            if (sf.buffers[j].defined()) Tensor(sf.buffers[j]).copy_(sc.buffers[j]);
        }
      }
    }
  }
}

/// The formulas in double: one step of p (shape [B, R, N] when factored, else flat) with
/// gradient g, states row [B, R], col [B, N] or var [n].
struct RefParam {
  std::vector<double> p, row, col, var;
  int64_t B = 0, R = 0, N = 0;
};

void ref_step(RefParam& s, const std::vector<double>& grad, int t, const AdafactorOptions& o, double eps1) {
  const int64_t n = int64_t(s.p.size());
  const double w = std::pow(double(t), o.beta2_decay()), rho = std::min(o.lr(), 1.0 / std::sqrt(double(t)));
  double sp = 0;
  for (double v : s.p) sp += v * v;
  const double alpha = std::max(o.eps2(), std::sqrt(sp / double(n))) * rho;
  std::vector<double> g(grad);
  std::vector<double> u(static_cast<size_t>(n));
  if (o.maximize())
    for (double& v : g) v = -v;
  for (double& v : s.p) v *= 1.0 - o.lr() * o.weight_decay();
  if (s.R > 0) {
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t i = 0; i < s.R; ++i) {
        double m = 0;
        for (int64_t j = 0; j < s.N; ++j) m += g[size_t((b * s.R + i) * s.N + j)] * g[size_t((b * s.R + i) * s.N + j)];
        double& r = s.row[size_t(b * s.R + i)];
        r += w * (m / double(s.N) - r);
      }
      for (int64_t j = 0; j < s.N; ++j) {
        double m = 0;
        for (int64_t i = 0; i < s.R; ++i) m += g[size_t((b * s.R + i) * s.N + j)] * g[size_t((b * s.R + i) * s.N + j)];
        double& c = s.col[size_t(b * s.N + j)];
        c += w * (m / double(s.R) - c);
      }
      double rm = 0;
      for (int64_t i = 0; i < s.R; ++i) rm += s.row[size_t(b * s.R + i)];
      rm = std::max(rm / double(s.R), eps1);
      for (int64_t i = 0; i < s.R; ++i)
        for (int64_t j = 0; j < s.N; ++j) {
          const size_t k = size_t((b * s.R + i) * s.N + j);
          const double v = s.row[size_t(b * s.R + i)] * s.col[size_t(b * s.N + j)] / rm;
          u[k] = g[k] / std::sqrt(std::max(v, eps1 * eps1));
        }
    }
  } else {
    for (int64_t k = 0; k < n; ++k) {
      s.var[size_t(k)] += w * (g[size_t(k)] * g[size_t(k)] - s.var[size_t(k)]);
      u[size_t(k)] = g[size_t(k)] / std::sqrt(std::max(s.var[size_t(k)], eps1 * eps1));
    }
  }
  double su = 0;
  for (double v : u) su += v * v;
  const double denom = std::max(1.0, std::sqrt(su / double(n)) / o.d());
  for (int64_t k = 0; k < n; ++k) s.p[size_t(k)] -= alpha / denom * u[size_t(k)];
}

// Against the formulas in double, step by step: before each step the reference takes the fused
// run's parameters and states (so one step's roundings are measured, not their growth over a
// trajectory), then max |fused - reference| / max |reference| per parameter: f32 <= 2e-6, f64 <= 1e-14.
TEST(AdafactorFused, FollowsTheFormulasInDouble) {
  for (DType dt : {kF32, DType::f64}) {
    const double tol = dt == kF32 ? 2e-6 : 1e-14;
    for (const Config& c : configs()) {
      OptRun r = make_run(dt, c.o, true);
      const double eps1 = c.o.eps1().value_or(dt == kF32 ? 0x1p-23 : 0x1p-52);
      std::vector<RefParam> ref(kShapes.size());
      for (size_t i = 0; i < kShapes.size(); ++i) {
        ref[i].p = r.params[i].to_vector<double>();
        if (r.params[i].dim() >= 2) {
          const Shape& s = kShapes[i];
          ref[i].R = s[s.size() - 2], ref[i].N = s.back();
          ref[i].B = int64_t(ref[i].p.size()) / (ref[i].R * ref[i].N);
          ref[i].row.assign(size_t(ref[i].B * ref[i].R), 0.0);
          ref[i].col.assign(size_t(ref[i].B * ref[i].N), 0.0);
        } else {
          ref[i].var.assign(ref[i].p.size(), 0.0);
        }
      }
      for (int step = 0; step < 8; ++step) {
        set_grads(r, step);
        for (size_t i = 0; i < kShapes.size(); ++i) {
          ref[i].p = r.params[i].to_vector<double>();
          if (step == 0) continue;  // the states start at 0
          const auto& st = r.opt->state(r.params[i]);
          if (ref[i].R > 0) {
            ref[i].row = st.buffers[0].to_vector<double>(), ref[i].col = st.buffers[1].to_vector<double>();
          } else {
            ref[i].var = st.buffers[2].to_vector<double>();
          }
        }
        for (size_t i = 0; i < kShapes.size(); ++i)
          ref_step(ref[i], Tensor(r.params[i].impl().grad).to_vector<double>(), step + 1, c.o, eps1);
        r.opt->step();
        for (size_t i = 0; i < kShapes.size(); ++i) {
          const std::vector<double> got = r.params[i].to_vector<double>();
          double worst = 0, scale = 0;
          for (size_t k = 0; k < got.size(); ++k) {
            worst = std::max(worst, std::abs(got[k] - ref[i].p[k]));
            scale = std::max(scale, std::abs(ref[i].p[k]));
          }
          worst /= scale;
          EXPECT_LE(worst, tol) << dtype_name(dt) << " " << c.name << " step " << step + 1 << " param " << i;
        }
      }
    }
  }
}

// A matrix large enough to be split across threads: one and two threads agree to the rounding
// of the differently chunked double sums (f32: 1e-6 relative, floor 1e-3).
TEST(AdafactorFused, ThreadCountsAgree) {
  const int before = get_num_threads();
  std::vector<std::vector<double>> results;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    manual_seed(3);
    std::vector<Tensor> params = {randn({300, 700}).requires_grad_(), randn({70000}).requires_grad_()};
    Adafactor opt(params, AdafactorOptions(0.05).weight_decay(0.1));
    for (int step = 0; step < 3; ++step) {
      manual_seed(50 + step);
      for (Tensor& p : params) p.set_grad(randn(p.shape()));
      opt.step();
    }
    std::vector<double> all = params[0].to_vector<double>(), v = params[1].to_vector<double>();
    all.insert(all.end(), v.begin(), v.end());
    results.push_back(all);
  }
  set_num_threads(before);
  double worst = 0;
  for (size_t k = 0; k < results[0].size(); ++k)
    worst = std::max(worst, std::abs(results[0][k] - results[1][k]) / std::max(std::abs(results[1][k]), 1e-3));
  EXPECT_LE(worst, 1e-6);
}

TEST(AdafactorFused, ChecksItsArguments) {
  Tensor p = randn({4, 5});
  p.set_grad(randn({4, 5}));
  const Tensor row = zeros({4, 1}), col = zeros({1, 5});
  AdafactorStepScalars s;
  s.rho = 0.01, s.eps1 = 1e-30, s.eps2 = 1e-3;
  try {
    adafactor_update_(p, Tensor(p.impl().grad), zeros({5, 1}), col, Tensor(), s);
    FAIL() << "a row_var of the wrong shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[Adafactor] row_var has shape [5, 1]"), std::string::npos) << e.what();
  }
  try {
    adafactor_update_(p, Tensor(p.impl().grad), row, zeros({1, 5}, {.dtype = DType::f64}), Tensor(), s);
    FAIL() << "a col_var of another dtype was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("col_var"), std::string::npos) << e.what();
  }
  Tensor v = randn({6});
  v.set_grad(randn({6}));
  EXPECT_THROW(adafactor_update_(v, Tensor(v.impl().grad), Tensor(), Tensor(), Tensor(), s), Error);
}

}  // namespace
