// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay
// (PyTorch's torch.optim.SGD). With g = ∇f + weight_decay·p:
//   b ← g (first step), b ← momentum·b + (1 - dampening)·g (after);
//   g ← g + momentum·b (nesterov) or g ← b (momentum > 0);   p ← p - lr·g.
// The lecture's heavy-ball form v ← μv + η∇f, w ← w - v is this with lr = η, momentum = μ.
#pragma once
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class SGDOptions : public OptimizerCloneableOptions<SGDOptions> {
 public:
  SGDOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as torch::optim::SGDOptions
  NB_ARG(double, lr) = 1e-3;
  NB_ARG(double, momentum) = 0;
  NB_ARG(double, dampening) = 0;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, nesterov) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "SGD"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("momentum", momentum_), f("dampening", dampening_), f("weight_decay", weight_decay_);
    f("nesterov", nesterov_), f("maximize", maximize_);
  }
};

class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<OptimizerParamGroup> groups, SGDOptions defaults = {});
  explicit SGD(std::vector<Tensor> params, SGDOptions defaults = {});
  const char* name() const override { return "SGD"; }
  std::array<const char*, 3> state_names() const override { return {"momentum_buffer", "", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
