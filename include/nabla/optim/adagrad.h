// Adagrad (PyTorch's torch.optim.Adagrad): the lecture's accumulated preconditioning.
// With g = ∇f + weight_decay·p and t the step:  clr = lr / (1 + (t-1)·lr_decay);
//   sum ← sum + g² (sum starts at initial_accumulator_value);  p ← p - clr·g / (√sum + eps).
#pragma once
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdagradOptions : public OptimizerCloneableOptions<AdagradOptions> {
 public:
  AdagradOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1e-2;
  NB_ARG(double, lr_decay) = 0;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(double, initial_accumulator_value) = 0;
  NB_ARG(double, eps) = 1e-10;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adagrad"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("lr_decay", lr_decay_), f("weight_decay", weight_decay_);
    f("initial_accumulator_value", initial_accumulator_value_), f("eps", eps_), f("maximize", maximize_);
  }
};

class Adagrad : public Optimizer {
 public:
  explicit Adagrad(std::vector<OptimizerParamGroup> groups, AdagradOptions defaults = {});
  explicit Adagrad(std::vector<Tensor> params, AdagradOptions defaults = {});
  const char* name() const override { return "Adagrad"; }
  std::array<const char*, 3> state_names() const override { return {"sum", "", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
