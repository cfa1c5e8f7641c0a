// The optimizers: options validation and, per step, the per-parameter scalars (bias
// corrections, schedules) in double; the element math runs in one fused kernel per group
// (nabla/ops/optim_update.h), in place.
#include <algorithm>
#include <cmath>

#include "nabla/ops.h"
#include "nabla/optim/adadelta.h"
#include "nabla/optim/adagrad.h"
#include "nabla/optim/adam.h"
#include "nabla/optim/adamax.h"
#include "nabla/optim/adamw.h"
#include "nabla/optim/asgd.h"
#include "nabla/optim/nadam.h"
#include "nabla/optim/radam.h"
#include "nabla/optim/rmsprop.h"
#include "nabla/optim/rprop.h"
#include "nabla/optim/sgd.h"

namespace nabla::optim {

using detail::check_non_negative;
using detail::check_unit_interval;

namespace {

/// Appends a slot for every parameter of `group` that has a gradient and lets `f` fill its
/// state and scalars: f(param, state, slot).
template <typename F>
void for_each_with_grad(OptimizerParamGroup& group, const std::vector<ParamState*>& states, std::vector<OptimSlot>& slots,
                        F&& f) {
  auto& params = group.params();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& impl = params[i].impl();
    if (!impl.grad) continue;
    slots.emplace_back();
    OptimSlot& s = slots.back();
    s.param = params[i];
    s.grad = Tensor(impl.grad);
    ParamState& st = *states[i];
    st.initialized = true;
    f(params[i], st, s);
  }
}

/// State buffer j of `st`, created (filled with `value`) on first use. True when created.
bool ensure(ParamState& st, int j, const Tensor& p, double value = 0.0) {
  if (st.buffers[j].defined()) return false;
  st.buffers[j] = value == 0.0 ? zeros_like(p) : full_like(p, value);
  return true;
}

void check_betas(const char* opt, const std::tuple<double, double>& betas) {
  check_unit_interval(opt, "betas[0] (beta1)", std::get<0>(betas), false);
  check_unit_interval(opt, "betas[1] (beta2)", std::get<1>(betas), false);
}

}  // namespace

// ---- SGD ----------------------------------------------------------------------------------
void SGDOptions::validate() const {
  check_non_negative("SGD", "lr", lr());
  check_non_negative("SGD", "momentum", momentum());
  check_unit_interval("SGD", "dampening", dampening(), true);
  check_non_negative("SGD", "weight_decay", weight_decay());
  NB_CHECK(!nesterov() || (momentum() > 0 && dampening() == 0),
           "[SGD] invalid nesterov: Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ",
           momentum(), ", dampening ", dampening(), ")");
}

SGD::SGD(std::vector<OptimizerParamGroup> groups, SGDOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<SGDOptions>(defaults)) {}
SGD::SGD(std::vector<Tensor> params, SGDOptions defaults)
    : SGD(detail::one_group(std::move(params)), std::move(defaults)) {}

void SGD::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<SGDOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.momentum = o.momentum();
  h.dampening = o.dampening();
  h.weight_decay = o.weight_decay();
  h.nesterov = o.nesterov();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    st.step += 1;
    if (h.momentum != 0) {
      s.c[0] = ensure(st, 0, p) ? 1.0 : 0.0;  // first step: buf <- g
      s.state[0] = st.buffers[0];
    }
  });
  optim_update_(OptimAlgo::SGD, h, slots_);
}

// ---- Adagrad ------------------------------------------------------------------------------
void AdagradOptions::validate() const {
  check_non_negative("Adagrad", "lr", lr());
  check_non_negative("Adagrad", "lr_decay", lr_decay());
  check_non_negative("Adagrad", "weight_decay", weight_decay());
  check_non_negative("Adagrad", "initial_accumulator_value", initial_accumulator_value());
  check_non_negative("Adagrad", "eps", eps());
}

Adagrad::Adagrad(std::vector<OptimizerParamGroup> groups, AdagradOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdagradOptions>(defaults)) {}
Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions defaults)
    : Adagrad(detail::one_group(std::move(params)), std::move(defaults)) {}

void Adagrad::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<AdagradOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p, o.initial_accumulator_value());
    st.step += 1;
    s.state[0] = st.buffers[0];
    s.c[0] = o.lr() / (1.0 + double(st.step - 1) * o.lr_decay());
  });
  optim_update_(OptimAlgo::Adagrad, h, slots_);
}

// ---- RMSprop ------------------------------------------------------------------------------
void RMSpropOptions::validate() const {
  check_non_negative("RMSprop", "lr", lr());
  check_unit_interval("RMSprop", "alpha", alpha(), true);
  check_non_negative("RMSprop", "eps", eps());
  check_non_negative("RMSprop", "weight_decay", weight_decay());
  check_non_negative("RMSprop", "momentum", momentum());
}

RMSprop::RMSprop(std::vector<OptimizerParamGroup> groups, RMSpropOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<RMSpropOptions>(defaults)) {}
RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions defaults)
    : RMSprop(detail::one_group(std::move(params)), std::move(defaults)) {}

void RMSprop::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<RMSpropOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.alpha = o.alpha();
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.momentum = o.momentum();
  h.centered = o.centered();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    st.step += 1;
    ensure(st, 0, p);
    s.state[0] = st.buffers[0];
    if (h.momentum > 0) {
      ensure(st, 1, p);
      s.state[1] = st.buffers[1];
    }
    if (h.centered) {
      ensure(st, 2, p);
      s.state[2] = st.buffers[2];
    }
  });
  optim_update_(OptimAlgo::RMSprop, h, slots_);
}

// ---- Adadelta -----------------------------------------------------------------------------
void AdadeltaOptions::validate() const {
  check_non_negative("Adadelta", "lr", lr());
  check_unit_interval("Adadelta", "rho", rho(), true);
  check_non_negative("Adadelta", "eps", eps());
  check_non_negative("Adadelta", "weight_decay", weight_decay());
}

Adadelta::Adadelta(std::vector<OptimizerParamGroup> groups, AdadeltaOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdadeltaOptions>(defaults)) {}
Adadelta::Adadelta(std::vector<Tensor> params, AdadeltaOptions defaults)
    : Adadelta(detail::one_group(std::move(params)), std::move(defaults)) {}

void Adadelta::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<AdadeltaOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.alpha = o.rho();
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    st.step += 1;
    ensure(st, 0, p);
    ensure(st, 1, p);
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
  });
  optim_update_(OptimAlgo::Adadelta, h, slots_);
}

// ---- Adam and AdamW -------------------------------------------------------------------------
namespace {

template <typename Options>
void adam_like_update(const Options& o, bool decoupled, OptimizerParamGroup& group, const std::vector<ParamState*>& states,
                      std::vector<OptimSlot>& slots) {
  OptimHyper h;
  h.lr = o.lr();
  h.beta1 = std::get<0>(o.betas());
  h.beta2 = std::get<1>(o.betas());
  h.eps = o.eps();
  h.weight_decay = decoupled ? 0.0 : o.weight_decay();
  h.decay = decoupled ? 1.0 - o.lr() * o.weight_decay() : 1.0;
  h.amsgrad = o.amsgrad();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p);
    ensure(st, 1, p);
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
    if (h.amsgrad) {
      ensure(st, 2, p);
      s.state[2] = st.buffers[2];
    }
    st.step += 1;
    const double t = double(st.step);
    const double bc1 = 1.0 - std::pow(h.beta1, t), bc2 = 1.0 - std::pow(h.beta2, t);
    s.c[0] = h.lr / bc1;
    s.c[1] = std::sqrt(bc2);
  });
  optim_update_(OptimAlgo::Adam, h, slots);
}

}  // namespace

void AdamOptions::validate() const {
  check_non_negative("Adam", "lr", lr());
  check_non_negative("Adam", "eps", eps());
  check_betas("Adam", betas());
  check_non_negative("Adam", "weight_decay", weight_decay());
}

Adam::Adam(std::vector<OptimizerParamGroup> groups, AdamOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdamOptions>(defaults)) {}
Adam::Adam(std::vector<Tensor> params, AdamOptions defaults)
    : Adam(detail::one_group(std::move(params)), std::move(defaults)) {}

void Adam::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  adam_like_update(group_options<AdamOptions>(group), false, group, states, slots_);
}

void AdamWOptions::validate() const {
  check_non_negative("AdamW", "lr", lr());
  check_non_negative("AdamW", "eps", eps());
  check_betas("AdamW", betas());
  check_non_negative("AdamW", "weight_decay", weight_decay());
}

AdamW::AdamW(std::vector<OptimizerParamGroup> groups, AdamWOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdamWOptions>(defaults)) {}
AdamW::AdamW(std::vector<Tensor> params, AdamWOptions defaults)
    : AdamW(detail::one_group(std::move(params)), std::move(defaults)) {}

void AdamW::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  adam_like_update(group_options<AdamWOptions>(group), true, group, states, slots_);
}

// ---- NAdam --------------------------------------------------------------------------------
void NAdamOptions::validate() const {
  check_non_negative("NAdam", "lr", lr());
  check_non_negative("NAdam", "eps", eps());
  check_betas("NAdam", betas());
  check_non_negative("NAdam", "weight_decay", weight_decay());
  check_non_negative("NAdam", "momentum_decay", momentum_decay());
}

NAdam::NAdam(std::vector<OptimizerParamGroup> groups, NAdamOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<NAdamOptions>(defaults)) {}
NAdam::NAdam(std::vector<Tensor> params, NAdamOptions defaults)
    : NAdam(detail::one_group(std::move(params)), std::move(defaults)) {}

void NAdam::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<NAdamOptions>(group);
  const bool decoupled = o.decoupled_weight_decay();
  OptimHyper h;
  h.lr = o.lr();
  h.beta1 = std::get<0>(o.betas());
  h.beta2 = std::get<1>(o.betas());
  h.eps = o.eps();
  h.weight_decay = decoupled ? 0.0 : o.weight_decay();
  h.decay = decoupled ? 1.0 - o.lr() * o.weight_decay() : 1.0;
  h.maximize = o.maximize();
  const double psi = o.momentum_decay();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p);
    ensure(st, 1, p);
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
    st.step += 1;
    const double t = double(st.step);
    const double mu = h.beta1 * (1.0 - 0.5 * std::pow(0.96, t * psi));
    const double mu_next = h.beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1.0) * psi));
    st.mu_product *= mu;
    s.c[0] = h.lr * (1.0 - mu) / (1.0 - st.mu_product);
    s.c[1] = h.lr * mu_next / (1.0 - st.mu_product * mu_next);
    s.c[2] = 1.0 - std::pow(h.beta2, t);
  });
  optim_update_(OptimAlgo::NAdam, h, slots_);
}

// ---- RAdam --------------------------------------------------------------------------------
void RAdamOptions::validate() const {
  check_non_negative("RAdam", "lr", lr());
  check_non_negative("RAdam", "eps", eps());
  check_betas("RAdam", betas());
  check_non_negative("RAdam", "weight_decay", weight_decay());
}

RAdam::RAdam(std::vector<OptimizerParamGroup> groups, RAdamOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<RAdamOptions>(defaults)) {}
RAdam::RAdam(std::vector<Tensor> params, RAdamOptions defaults)
    : RAdam(detail::one_group(std::move(params)), std::move(defaults)) {}

void RAdam::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<RAdamOptions>(group);
  const bool decoupled = o.decoupled_weight_decay();
  OptimHyper h;
  h.lr = o.lr();
  h.beta1 = std::get<0>(o.betas());
  h.beta2 = std::get<1>(o.betas());
  h.eps = o.eps();
  h.weight_decay = decoupled ? 0.0 : o.weight_decay();
  h.decay = decoupled ? 1.0 - o.lr() * o.weight_decay() : 1.0;
  h.maximize = o.maximize();
  const double rho_inf = 2.0 / (1.0 - h.beta2) - 1.0;
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p);
    ensure(st, 1, p);
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
    st.step += 1;
    const double t = double(st.step);
    const double b2t = std::pow(h.beta2, t);
    const double bc1 = 1.0 - std::pow(h.beta1, t), bc2 = 1.0 - b2t;
    const double rho_t = rho_inf - 2.0 * t * b2t / bc2;
    if (rho_t > 5.0) {
      const double rect =
          std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
      s.c[0] = h.lr * rect * std::sqrt(bc2) / bc1;
      s.c[1] = 1.0;
    } else {
      s.c[0] = h.lr / bc1;
      s.c[1] = 0.0;
    }
  });
  optim_update_(OptimAlgo::RAdam, h, slots_);
}

// ---- Adamax -------------------------------------------------------------------------------
void AdamaxOptions::validate() const {
  check_non_negative("Adamax", "lr", lr());
  check_non_negative("Adamax", "eps", eps());
  check_betas("Adamax", betas());
  check_non_negative("Adamax", "weight_decay", weight_decay());
}

Adamax::Adamax(std::vector<OptimizerParamGroup> groups, AdamaxOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdamaxOptions>(defaults)) {}
Adamax::Adamax(std::vector<Tensor> params, AdamaxOptions defaults)
    : Adamax(detail::one_group(std::move(params)), std::move(defaults)) {}

void Adamax::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<AdamaxOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.beta1 = std::get<0>(o.betas());
  h.beta2 = std::get<1>(o.betas());
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p);
    ensure(st, 1, p);
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
    st.step += 1;
    s.c[0] = h.lr / (1.0 - std::pow(h.beta1, double(st.step)));
  });
  optim_update_(OptimAlgo::Adamax, h, slots_);
}

// ---- Rprop --------------------------------------------------------------------------------
void RpropOptions::validate() const {
  check_non_negative("Rprop", "lr", lr());
  const auto [minus, plus] = etas();
  NB_CHECK(0 < minus && minus < 1 && 1 < plus, "[Rprop] invalid etas: (", minus, ", ", plus,
           ") (must satisfy 0 < etaminus < 1 < etaplus)");
  const auto [lo, hi] = step_sizes();
  NB_CHECK(lo >= 0 && hi >= lo, "[Rprop] invalid step_sizes: (", lo, ", ", hi,
           ") (must satisfy 0 <= step_size_min <= step_size_max)");
}

Rprop::Rprop(std::vector<OptimizerParamGroup> groups, RpropOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<RpropOptions>(defaults)) {}
Rprop::Rprop(std::vector<Tensor> params, RpropOptions defaults)
    : Rprop(detail::one_group(std::move(params)), std::move(defaults)) {}

void Rprop::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<RpropOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.etaminus = std::get<0>(o.etas());
  h.etaplus = std::get<1>(o.etas());
  h.step_size_min = std::get<0>(o.step_sizes());
  h.step_size_max = std::get<1>(o.step_sizes());
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    ensure(st, 0, p);
    ensure(st, 1, p, o.lr());  // PyTorch: step_size = full_like(grad, lr) on the first step only
    s.state[0] = st.buffers[0];
    s.state[1] = st.buffers[1];
    st.step += 1;
  });
  optim_update_(OptimAlgo::Rprop, h, slots_);
}

// ---- ASGD --------------------------------------------------------------------------------
void ASGDOptions::validate() const {
  check_non_negative("ASGD", "lr", lr());
  check_non_negative("ASGD", "lambd", lambd());
  check_non_negative("ASGD", "alpha", alpha());
  check_non_negative("ASGD", "t0", t0());
  check_non_negative("ASGD", "weight_decay", weight_decay());
}

ASGD::ASGD(std::vector<OptimizerParamGroup> groups, ASGDOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<ASGDOptions>(defaults)) {}
ASGD::ASGD(std::vector<Tensor> params, ASGDOptions defaults)
    : ASGD(detail::one_group(std::move(params)), std::move(defaults)) {}

void ASGD::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<ASGDOptions>(group);
  OptimHyper h;
  h.lr = o.lr();
  h.weight_decay = o.weight_decay();
  h.maximize = o.maximize();
  for_each_with_grad(group, states, slots_, [&](const Tensor& p, ParamState& st, OptimSlot& s) {
    if (ensure(st, 0, p)) st.eta = o.lr(), st.mu = 1.0;  // PyTorch: eta = lr, mu = 1 at the first step
    s.state[0] = st.buffers[0];
    st.step += 1;
    s.c[0] = st.eta;
    s.c[1] = st.mu;
    s.c[2] = 1.0 - o.lambd() * st.eta;
    // This step's η and μ are in the slot; the next step's come from this step's lr and count.
    const double t = double(st.step);
    st.eta = o.lr() / std::pow(1.0 + o.lambd() * o.lr() * t, o.alpha());
    st.mu = 1.0 / std::max(1.0, t - o.t0());
  });
  optim_update_(OptimAlgo::ASGD, h, slots_);
}

}  // namespace nabla::optim
