// Adamax (PyTorch's torch.optim.Adamax): Adam with the infinity norm in place of the second
// moment. With g = ∇f (-∇f when maximize) + weight_decay·p and t the step:
//   m ← β1·m + (1-β1)·g;  u ← max(β2·u, |g| + eps);  p ← p - lr/(1-β1ᵗ) · m/u.
// u needs no bias correction: it is a max, not an average started at zero.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdamaxOptions : public OptimizerCloneableOptions<AdamaxOptions> {
 public:
  AdamaxOptions(double lr = 2e-3) : lr_(lr) {}  // NOLINT: implicit, as torch::optim options
  NB_ARG(double, lr) = 2e-3;
 public:
  typedef std::tuple<double, double> betas_t;
  NB_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adamax"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("betas", betas_), f("eps", eps_), f("weight_decay", weight_decay_), f("maximize", maximize_);
  }
};

class Adamax : public Optimizer {
 public:
  explicit Adamax(std::vector<OptimizerParamGroup> groups, AdamaxOptions defaults = {});
  explicit Adamax(std::vector<Tensor> params, AdamaxOptions defaults = {});
  const char* name() const override { return "Adamax"; }
  std::array<const char*, 3> state_names() const override { return {"exp_avg", "exp_inf", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
