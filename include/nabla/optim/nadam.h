// NAdam (PyTorch's torch.optim.NAdam): Adam with Nesterov momentum and a momentum schedule.
// With g = ∇f (+ weight_decay·p, or p ← (1 - lr·wd)·p when decoupled) and t the step:
//   μₜ = β1(1 - ½·0.96^(t·ψ)), μₜ₊₁ likewise, ψ = momentum_decay;  Πₜ = μ1···μₜ;
//   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  d = √(v / (1-β2ᵗ)) + eps;
//   p ← p - lr(1-μₜ)/(1-Πₜ) · g/d - lr·μₜ₊₁/(1-Πₜμₜ₊₁) · m/d.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class NAdamOptions : public OptimizerCloneableOptions<NAdamOptions> {
 public:
  NAdamOptions(double lr = 2e-3) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 2e-3;
 public:
  typedef std::tuple<double, double> betas_t;
  NB_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(double, momentum_decay) = 4e-3;
  NB_ARG(bool, decoupled_weight_decay) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "NAdam"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("betas", betas_), f("eps", eps_), f("weight_decay", weight_decay_);
    f("momentum_decay", momentum_decay_), f("decoupled_weight_decay", decoupled_weight_decay_);
    f("maximize", maximize_);
  }
};

class NAdam : public Optimizer {
 public:
  explicit NAdam(std::vector<OptimizerParamGroup> groups, NAdamOptions defaults = {});
  explicit NAdam(std::vector<Tensor> params, NAdamOptions defaults = {});
  const char* name() const override { return "NAdam"; }
  std::array<const char*, 3> state_names() const override { return {"exp_avg", "exp_avg_sq", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
