// RAdam (PyTorch's torch.optim.RAdam): Adam whose adaptive term is switched on only once the
// variance estimate is tractable. With m, v as Adam, ρ∞ = 2/(1-β2) - 1 and
// ρₜ = ρ∞ - 2tβ2ᵗ/(1-β2ᵗ):  m̂ = m/(1-β1ᵗ);
//   ρₜ > 5: rₜ = √((ρₜ-4)(ρₜ-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρₜ)), p ← p - lr·m̂·rₜ·√(1-β2ᵗ)/(√v + eps);
//   else    p ← p - lr·m̂.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class RAdamOptions : public OptimizerCloneableOptions<RAdamOptions> {
 public:
  RAdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1e-3;
 public:
  typedef std::tuple<double, double> betas_t;
  NB_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, decoupled_weight_decay) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "RAdam"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("betas", betas_), f("eps", eps_), f("weight_decay", weight_decay_);
    f("decoupled_weight_decay", decoupled_weight_decay_), f("maximize", maximize_);
  }
};

class RAdam : public Optimizer {
 public:
  explicit RAdam(std::vector<OptimizerParamGroup> groups, RAdamOptions defaults = {});
  explicit RAdam(std::vector<Tensor> params, RAdamOptions defaults = {});
  const char* name() const override { return "RAdam"; }
  std::array<const char*, 3> state_names() const override { return {"exp_avg", "exp_avg_sq", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
