// ASGD (PyTorch's torch.optim.ASGD), averaged stochastic gradient descent (Polyak & Juditsky):
// SGD with a decaying step size and, from step t0 on, a running average `ax` of the iterates.
// With g = ∇f (-∇f when maximize) + weight_decay·p and t the step, η starting at lr and μ at 1:
//   p ← p·(1 - lambd·η) - η·g;  ax ← p while μ = 1, else ax + μ·(p - ax);
//   then η ← lr / (1 + lambd·lr·t)^alpha and μ ← 1 / max(1, t - t0) for the next step.
// The average is state_tensor(p, "ax"); the parameters themselves are the plain iterates.
#pragma once
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class ASGDOptions : public OptimizerCloneableOptions<ASGDOptions> {
 public:
  ASGDOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT: implicit, as torch::optim options
  NB_ARG(double, lr) = 1e-2;
  NB_ARG(double, lambd) = 1e-4;   ///< decay term
  NB_ARG(double, alpha) = 0.75;   ///< power of the step-size decay
  NB_ARG(double, t0) = 1e6;       ///< step from which the average starts
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "ASGD"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("lambd", lambd_), f("alpha", alpha_), f("t0", t0_), f("weight_decay", weight_decay_);
    f("maximize", maximize_);
  }
};

class ASGD : public Optimizer {
 public:
  explicit ASGD(std::vector<OptimizerParamGroup> groups, ASGDOptions defaults = {});
  explicit ASGD(std::vector<Tensor> params, ASGDOptions defaults = {});
  const char* name() const override { return "ASGD"; }
  std::array<const char*, 3> state_names() const override { return {"ax", "", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
