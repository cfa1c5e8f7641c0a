// RMSprop (PyTorch's torch.optim.RMSprop). With g = ∇f + weight_decay·p:
//   v ← α·v + (1-α)·g²;  centered: ḡ ← α·ḡ + (1-α)·g, d = √(v - ḡ²) + eps, else d = √v + eps;
//   momentum > 0: b ← momentum·b + g/d, p ← p - lr·b;  else p ← p - lr·g/d.
#pragma once
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class RMSpropOptions : public OptimizerCloneableOptions<RMSpropOptions> {
 public:
  RMSpropOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1e-2;
  NB_ARG(double, alpha) = 0.99;
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(double, momentum) = 0;
  NB_ARG(bool, centered) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "RMSprop"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("alpha", alpha_), f("eps", eps_), f("weight_decay", weight_decay_), f("momentum", momentum_);
    f("centered", centered_), f("maximize", maximize_);
  }
};

class RMSprop : public Optimizer {
 public:
  explicit RMSprop(std::vector<OptimizerParamGroup> groups, RMSpropOptions defaults = {});
  explicit RMSprop(std::vector<Tensor> params, RMSpropOptions defaults = {});
  const char* name() const override { return "RMSprop"; }
  std::array<const char*, 3> state_names() const override { return {"square_avg", "momentum_buffer", "grad_avg"}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
