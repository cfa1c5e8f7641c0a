// Adadelta (PyTorch's torch.optim.Adadelta). With g = ∇f + weight_decay·p:
//   v ← ρ·v + (1-ρ)·g²;  Δ = √(u + eps) / √(v + eps) · g;  u ← ρ·u + (1-ρ)·Δ²;  p ← p - lr·Δ.
#pragma once
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdadeltaOptions : public OptimizerCloneableOptions<AdadeltaOptions> {
 public:
  AdadeltaOptions(double lr = 1.0) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1.0;
  NB_ARG(double, rho) = 0.9;
  NB_ARG(double, eps) = 1e-6;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adadelta"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("rho", rho_), f("eps", eps_), f("weight_decay", weight_decay_), f("maximize", maximize_);
  }
};

class Adadelta : public Optimizer {
 public:
  explicit Adadelta(std::vector<OptimizerParamGroup> groups, AdadeltaOptions defaults = {});
  explicit Adadelta(std::vector<Tensor> params, AdadeltaOptions defaults = {});
  const char* name() const override { return "Adadelta"; }
  std::array<const char*, 3> state_names() const override { return {"square_avg", "acc_delta", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
