// L-BFGS: PyTorch's torch.optim.LBFGS (lbfgs.py: step, _strong_wolfe, _cubic_interpolate),
// operation by operation, on flat vectors built with nabla ops under NoGradGuard. No fused
// kernel: an iteration is a handful of vector ops per history pair, and the closure's forward
// and backward dominate its cost.
#include "nabla/optim/lbfgs.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

#include "nabla/autograd.h"
#include "nabla/ops.h"
#include "nabla/parse_number.h"

namespace nabla::optim {

using detail::check_non_negative;

void LBFGSOptions::validate() const {
  check_non_negative("LBFGS", "lr", lr());
  NB_CHECK(max_iter() >= 1, "[LBFGS] invalid max_iter: ", max_iter(), " (must be >= 1)");
  NB_CHECK(!max_eval() || *max_eval() >= 1, "[LBFGS] invalid max_eval: ", max_eval().value_or(0),
           " (must be >= 1, or unset for max_iter * 5 / 4)");
  check_non_negative("LBFGS", "tolerance_grad", tolerance_grad());
  check_non_negative("LBFGS", "tolerance_change", tolerance_change());
  NB_CHECK(history_size() >= 1, "[LBFGS] invalid history_size: ", history_size(), " (must be >= 1)");
  NB_CHECK(!line_search_fn() || *line_search_fn() == "strong_wolfe", "[LBFGS] invalid line_search_fn: \"",
           line_search_fn().value_or(""), "\" (must be \"strong_wolfe\" or unset)");
}

namespace {

double dot(const Tensor& a, const Tensor& b) { return sum(a * b).item(); }
double max_abs(const Tensor& a) { return max(abs(a)).item(); }

/// Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
/// `bounds` (default: between the points); the midpoint when the cubic has no minimum.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds = std::nullopt) {
  const auto [lo, hi] = bounds ? *bounds : (x1 <= x2 ? std::pair{x1, x2} : std::pair{x2, x1});
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return std::min(std::max(min_pos, lo), hi);  // NaN stays NaN, as Python's min/max
  }
  return (lo + hi) / 2.0;
}

struct Evaluated {
  double loss;
  Tensor flat_grad;
};

struct LineSearchResult {
  double loss;
  Tensor flat_grad;
  double t;
  int64_t evals;
};

/// The strong Wolfe line search along d from x (loss f, gradient g, slope gtd = gᵀd), first
/// trying step t: bracket a step satisfying both conditions, then zoom into the bracket.
template <typename Obj>
LineSearchResult strong_wolfe(Obj&& obj, double t, const Tensor& d, double f, const Tensor& g, double gtd,
                              double tolerance_change, double c1 = 1e-4, double c2 = 0.9, int64_t max_ls = 25) {
  const double d_norm = max_abs(d);
  Evaluated e = obj(t);
  int64_t evals = 1;
  double gtd_new = dot(e.flat_grad, d);

  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  Tensor g_prev = g;
  bool done = false;
  int64_t ls_iter = 0;
  // The bracket: one point (done) or two; bracket_gtd is read only with two.
  std::array<double, 2> bracket{}, bracket_f{}, bracket_gtd{};
  std::array<Tensor, 2> bracket_g;
  size_t size = 0;
  auto set_pair = [&](double t0, double f0, const Tensor& g0, double gtd0, double t1, double f1, const Tensor& g1,
                      double gtd1) {
    bracket = {t0, t1}, bracket_f = {f0, f1}, bracket_g = {g0, g1}, bracket_gtd = {gtd0, gtd1};
    size = 2;
  };
  while (ls_iter < max_ls) {
    if (e.loss > f + c1 * t * gtd || (ls_iter > 1 && e.loss >= f_prev)) {
      set_pair(t_prev, f_prev, g_prev, gtd_prev, t, e.loss, e.flat_grad, gtd_new);
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {
      bracket[0] = t, bracket_f[0] = e.loss, bracket_g[0] = e.flat_grad;
      size = 1;
      done = true;
      break;
    }
    if (gtd_new >= 0) {
      set_pair(t_prev, f_prev, g_prev, gtd_prev, t, e.loss, e.flat_grad, gtd_new);
      break;
    }
    // Extrapolate: the cubic's minimum, at least 1% beyond t and at most 10·t.
    const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10;
    const double tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, e.loss, gtd_new, std::pair{min_step, max_step});
    t_prev = tmp, f_prev = e.loss, g_prev = e.flat_grad, gtd_prev = gtd_new;
    e = obj(t);
    ++evals;
    gtd_new = dot(e.flat_grad, d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) {  // no bracket found: between the start and the last trial
    bracket = {0, t}, bracket_f = {f, e.loss}, bracket_g = {g, e.flat_grad};
    size = 2;
  }

  // Zoom: shrink the bracket until a point satisfies the conditions.
  bool insuf_progress = false;
  // Which end has the lower loss (with one point, `low` is 0, the only one read).
  auto order = [&] {
    return bracket_f[0] <= bracket_f[size - 1] ? std::pair<size_t, size_t>{0, 1} : std::pair<size_t, size_t>{1, 0};
  };
  size_t low = 0, high = 1;
  std::tie(low, high) = order();
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    // Too close to an end of the bracket (twice in a row, or outside it): move to 10% of the
    // bracket's length away from the nearer end.
    const double bmax = std::max(bracket[0], bracket[1]), bmin = std::min(bracket[0], bracket[1]);
    const double eps = 0.1 * (bmax - bmin);
    if (std::min(bmax - t, t - bmin) < eps) {
      if (insuf_progress || t >= bmax || t <= bmin) {
        t = std::abs(t - bmax) < std::abs(t - bmin) ? bmax - eps : bmin + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    e = obj(t);
    ++evals;
    gtd_new = dot(e.flat_grad, d);
    ++ls_iter;
    if (e.loss > f + c1 * t * gtd || e.loss >= bracket_f[low]) {
      // No sufficient decrease, or not below the lowest point: t becomes the high end.
      bracket[high] = t, bracket_f[high] = e.loss, bracket_g[high] = e.flat_grad, bracket_gtd[high] = gtd_new;
      std::tie(low, high) = order();
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;  // both Wolfe conditions hold
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
        // The old high end becomes the new low end.
        bracket[high] = bracket[low], bracket_f[high] = bracket_f[low], bracket_g[high] = bracket_g[low];
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t, bracket_f[low] = e.loss, bracket_g[low] = e.flat_grad, bracket_gtd[low] = gtd_new;
    }
  }
  return {bracket_f[low], bracket_g[low], bracket[low], evals};
}

}  // namespace

LBFGS::LBFGS(std::vector<OptimizerParamGroup> groups, LBFGSOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<LBFGSOptions>(defaults)) {
  NB_CHECK(param_groups().size() == 1, "[LBFGS] got ", param_groups().size(),
           " parameter groups; LBFGS supports one (as PyTorch's, it has no per-parameter options)");
  // As LibTorch: the default max_eval is written into the options, so state_dict shows it.
  for (OptimizerOptions* o : {&this->defaults(), &param_groups()[0].options()}) {
    auto& lo = static_cast<LBFGSOptions&>(*o);
    if (!lo.max_eval()) lo.max_eval(lo.max_iter() * 5 / 4);
  }
}
LBFGS::LBFGS(std::vector<Tensor> params, LBFGSOptions defaults) : LBFGS(detail::one_group(std::move(params)), defaults) {}

void LBFGS::update(OptimizerParamGroup&, const std::vector<ParamState*>&) {
  fail("[LBFGS] internal error: update() is not used; step(closure) runs the iterations");
}

Tensor LBFGS::step(const LossClosure& closure) {
  NB_CHECK(closure != nullptr, "[LBFGS] step() needs a closure that re-evaluates the loss: it zeroes the gradients, ",
           "runs the forward pass and backward, and returns the loss (opt.step([&] { ... }))");
  NB_CHECK(param_groups().size() == 1, "[LBFGS] has ", param_groups().size(),
           " parameter groups; LBFGS supports one (add_param_group is not for LBFGS)");
  const auto& o = group_options<LBFGSOptions>(param_groups()[0]);
  o.validate();  // options edited through param_groups() since construction
  const std::vector<Tensor>& params = param_groups()[0].params();
  NB_CHECK(!params.empty(), "[LBFGS] the parameter group is empty");
  for (const Tensor& p : params) {
    NB_CHECK(p.dtype() == params[0].dtype() && p.device() == params[0].device(), "[LBFGS] all parameters must ",
             "have one dtype and device (they are flattened into one vector): parameter 0 is ", params[0].dtype(),
             " on ", params[0].device(), ", another is ", p.dtype(), " on ", p.device());
  }
  const double lr = o.lr(), tolerance_grad = o.tolerance_grad(), tolerance_change = o.tolerance_change();
  const int64_t max_iter = o.max_iter(), max_eval = o.max_eval().value_or(max_iter * 5 / 4);
  const size_t history_size = size_t(o.history_size());
  const bool wolfe = o.line_search_fn().has_value();
  // 16-bit parameters (pure bf16/f16 training) keep the flat vectors (gradient, direction and
  // the history pairs) in f32: the two-loop recursion's dot products and differences of nearby
  // gradients would lose the curvature to 16-bit rounding. Each move of a parameter is computed
  // in f32 and rounded once.
  const bool narrow = is_half(params[0].dtype());
  const TensorOptions topt{.dtype = compute_dtype(), .device = params[0].device()};

  NoGradGuard ng;
  auto evaluate = [&]() -> Tensor {
    EnableGradGuard eg;
    Tensor loss = closure();
    NB_CHECK(loss.defined() && loss.numel() == 1, "[LBFGS] the closure must return the loss, a one-element tensor",
             loss.defined() ? "; it returned shape " + shape_str(loss.shape()) : std::string("; it returned none"));
    return loss;
  };
  auto gather_flat_grad = [&] {
    std::vector<Tensor> views;
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      views.push_back(g.defined() ? (narrow ? g.reshape({-1}).to(kF32) : g.reshape({-1})) : zeros({p.numel()}, topt));
    }
    return cat(views, 0);
  };
  auto add_grad = [&](double step_size, const Tensor& update) {
    int64_t offset = 0;
    for (const Tensor& p : params) {
      const Tensor part = update.narrow(0, offset, p.numel()).view(p.shape());
      if (narrow) {
        Tensor(p).copy_(p.to(kF32).add_(part, step_size));
      } else {
        Tensor(p).add_(part, step_size);
      }
      offset += p.numel();
    }
  };
  auto clone_params = [&] {
    std::vector<Tensor> x;
    for (const Tensor& p : params) x.push_back(p.clone());
    return x;
  };
  auto set_params = [&](const std::vector<Tensor>& x) {
    for (size_t i = 0; i < params.size(); ++i) Tensor(params[i]).copy_(x[i]);
  };

  LBFGSState& st = state_;
  Tensor orig_loss = evaluate();
  double loss = orig_loss.item();
  int64_t current_evals = 1;
  st.func_evals += 1;
  Tensor flat_grad = gather_flat_grad();
  bool opt_cond = max_abs(flat_grad) <= tolerance_grad;
  if (opt_cond) return orig_loss;  // already optimal

  std::vector<double> al(history_size);
  int64_t n_iter = 0;
  while (n_iter < max_iter) {
    ++n_iter;
    ++st.n_iter;
    // ---- the direction: steepest descent first, then the two-loop recursion ----
    if (st.n_iter == 1) {
      st.d = -flat_grad;
      st.old_dirs.clear(), st.old_stps.clear(), st.ro.clear();
      st.H_diag = 1;
    } else {
      Tensor y = flat_grad - st.prev_flat_grad;
      Tensor s = st.d * st.t;
      const double ys = dot(y, s);
      if (ys > 1e-10) {  // keep only pairs with positive curvature
        // PyTorch pops one when full; a loop also honours a history_size lowered since.
        while (st.old_dirs.size() >= history_size) st.old_dirs.pop_front(), st.old_stps.pop_front(), st.ro.pop_front();
        st.old_dirs.push_back(y), st.old_stps.push_back(s), st.ro.push_back(1.0 / ys);
        st.H_diag = ys / dot(y, y);
      }
      const size_t num_old = st.old_dirs.size();
      // A loaded history longer than a since-lowered history_size is only trimmed when a pair is
      // added, so size the coefficients by the history actually held.
      if (al.size() < num_old) al.resize(num_old);
      Tensor q = -flat_grad;
      for (size_t i = num_old; i-- > 0;) {
        al[i] = dot(st.old_stps[i], q) * st.ro[i];
        q.add_(st.old_dirs[i], -al[i]);
      }
      Tensor r = q * st.H_diag;
      for (size_t i = 0; i < num_old; ++i) {
        const double be_i = dot(st.old_dirs[i], r) * st.ro[i];
        r.add_(st.old_stps[i], al[i] - be_i);
      }
      st.d = r;
    }
    if (!st.prev_flat_grad.defined()) {
      st.prev_flat_grad = flat_grad.clone();
    } else {
      st.prev_flat_grad.copy_(flat_grad);
    }
    st.prev_loss = loss;

    // ---- the step length ----
    st.t = st.n_iter == 1 ? std::min(1.0, 1.0 / sum(abs(flat_grad)).item()) * lr : lr;
    const double gtd = dot(flat_grad, st.d);
    if (gtd > -tolerance_change) break;  // not a descent direction any more

    int64_t ls_func_evals = 0;
    if (wolfe) {
      const std::vector<Tensor> x_init = clone_params();
      auto obj = [&](double t) {
        add_grad(t, st.d);
        Evaluated e{evaluate().item(), gather_flat_grad()};
        set_params(x_init);
        return e;
      };
      LineSearchResult ls = strong_wolfe(obj, st.t, st.d, loss, flat_grad, gtd, tolerance_change);
      loss = ls.loss, flat_grad = ls.flat_grad, st.t = ls.t, ls_func_evals = ls.evals;
      add_grad(st.t, st.d);
      opt_cond = max_abs(flat_grad) <= tolerance_grad;
    } else {
      add_grad(st.t, st.d);
      if (n_iter != max_iter) {
        // Not after the last iteration: with minibatches the next step's first evaluation
        // would see another batch anyway.
        loss = evaluate().item();
        flat_grad = gather_flat_grad();
        opt_cond = max_abs(flat_grad) <= tolerance_grad;
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    st.func_evals += ls_func_evals;

    // ---- stopping conditions ----
    if (n_iter == max_iter) break;
    if (current_evals >= max_eval) break;
    if (opt_cond) break;
    if (max_abs(st.d * st.t) <= tolerance_change) break;  // lack of progress
    if (std::abs(loss - st.prev_loss) < tolerance_change) break;
  }
  return orig_loss;
}

DType LBFGS::compute_dtype() const {
  if (param_groups().empty() || param_groups()[0].params().empty()) return kF32;
  const DType dt = param_groups()[0].params()[0].dtype();
  return is_half(dt) ? kF32 : dt;
}

// ---- state_dict ------------------------------------------------------------------------------
// As PyTorch, LBFGS's global state is stored as the first parameter's: metadata state.0.func_evals,
// n_iter, t, H_diag, prev_loss, history (pair count) and ro (comma list); tensors state.0.d,
// prev_flat_grad, old_dirs.<k>, old_stps.<k>.
namespace {
constexpr const char* kPre = "state.0.";
}

void LBFGS::save_extra_state(OptimizerStateDict& dict) const {
  if (state_.func_evals == 0) return;  // never stepped: no state, as a fresh PyTorch optimizer
  auto& m = dict.metadata;
  const std::string pre = kPre;
  m[pre + "func_evals"] = std::to_string(state_.func_evals);
  m[pre + "n_iter"] = std::to_string(state_.n_iter);
  m[pre + "t"] = detail::format_double(state_.t);
  m[pre + "H_diag"] = detail::format_double(state_.H_diag);
  m[pre + "prev_loss"] = detail::format_double(state_.prev_loss);
  m[pre + "history"] = std::to_string(state_.old_dirs.size());
  std::string ro;
  for (size_t k = 0; k < state_.ro.size(); ++k) {
    if (k) ro += ',';
    ro += detail::format_double(state_.ro[k]);
  }
  m[pre + "ro"] = ro;
  if (state_.d.defined()) dict.tensors[pre + "d"] = state_.d;
  if (state_.prev_flat_grad.defined()) dict.tensors[pre + "prev_flat_grad"] = state_.prev_flat_grad;
  for (size_t k = 0; k < state_.old_dirs.size(); ++k) {
    dict.tensors[pre + "old_dirs." + std::to_string(k)] = state_.old_dirs[k];
    dict.tensors[pre + "old_stps." + std::to_string(k)] = state_.old_stps[k];
  }
}

void LBFGS::load_extra_state(const OptimizerStateDict& dict) {
  const auto& m = dict.metadata;
  const std::string pre = kPre;
  auto meta = [&](const char* key) -> const std::string* {
    auto it = m.find(pre + key);
    return it == m.end() ? nullptr : &it->second;
  };
  auto integer = [&](const char* key) {
    const std::string* s = meta(key);
    NB_CHECK(s != nullptr, "[LBFGS] load_state_dict: no entry ", pre, key);
    const std::optional<int64_t> v = parse_number<int64_t>(*s);
    NB_CHECK(v && *v >= 0, "[LBFGS] load_state_dict: ", pre, key, ": expected a count, got \"", *s, "\"");
    return *v;
  };
  auto number = [&](const char* key) {
    const std::string* s = meta(key);
    NB_CHECK(s != nullptr, "[LBFGS] load_state_dict: no entry ", pre, key);
    return detail::parse_double(*s, (pre + key).c_str());
  };
  LBFGSState st;  // built aside: nothing changes unless everything is valid
  if (meta("func_evals") == nullptr) {
    state_ = st;  // a state saved before any step
    return;
  }
  st.func_evals = integer("func_evals");
  st.n_iter = integer("n_iter");
  st.t = number("t");
  st.H_diag = number("H_diag");
  st.prev_loss = number("prev_loss");
  const int64_t history = integer("history");  // may exceed history_size: step() drops the extra pairs
  const std::string* ro = meta("ro");
  NB_CHECK(ro != nullptr, "[LBFGS] load_state_dict: no entry ", pre, "ro");
  for (size_t b = 0; !ro->empty();) {
    const size_t e = ro->find(',', b);
    st.ro.push_back(detail::parse_double(ro->substr(b, e == std::string::npos ? std::string::npos : e - b), "ro"));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  NB_CHECK(int64_t(st.ro.size()) == history, "[LBFGS] load_state_dict: ", pre, "ro has ", st.ro.size(),
           " values for ", history, " pairs");
  const std::vector<Tensor>& params = param_groups()[0].params();
  int64_t numel = 0;
  for (const Tensor& p : params) numel += p.numel();
  NB_CHECK(!params.empty(), "[LBFGS] load_state_dict: the parameter group is empty, the state is not");
  auto tensor = [&](const std::string& key, bool required) -> Tensor {
    auto it = dict.tensors.find(pre + key);
    if (it == dict.tensors.end()) {
      NB_CHECK(!required, "[LBFGS] load_state_dict: no tensor ", pre, key);
      return Tensor();
    }
    const Tensor& t = it->second;
    NB_CHECK(t.defined() && t.dim() == 1 && t.numel() == numel && t.is_floating_point(), "[LBFGS] load_state_dict: ",
             pre, key, " has shape ", t.defined() ? shape_str(t.shape()) : std::string("(undefined)"), " and dtype ",
             t.defined() ? std::string(dtype_name(t.dtype())) : std::string("-"), ", expected a floating vector of ",
             numel, " elements (all parameters, flattened)");
    NB_CHECK(t.dtype() == compute_dtype(), "[LBFGS] load_state_dict: ", pre, key, " has dtype ", t.dtype(),
             ", expected ", compute_dtype(), " (LBFGS keeps its vectors in the parameters' dtype, f32 for 16-bit ",
             "parameters)");
    NoGradGuard ng;
    Tensor copy = empty({numel}, {.dtype = compute_dtype(), .device = params[0].device()});
    copy.copy_(t);  // fresh storage: the optimizer never aliases the dict's tensors
    return copy;
  };
  st.d = tensor("d", st.n_iter > 0);
  st.prev_flat_grad = tensor("prev_flat_grad", st.n_iter > 0);
  for (int64_t k = 0; k < history; ++k) {
    st.old_dirs.push_back(tensor("old_dirs." + std::to_string(k), true));
    st.old_stps.push_back(tensor("old_stps." + std::to_string(k), true));
  }
  state_ = std::move(st);
}

}  // namespace nabla::optim
