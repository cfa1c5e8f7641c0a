// AdamW (PyTorch's torch.optim.AdamW): Adam with decoupled weight decay. Each step first
// shrinks the parameter, p ← (1 - lr·weight_decay)·p, then applies Adam's update with g = ∇f.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdamWOptions : public OptimizerCloneableOptions<AdamWOptions> {
 public:
  AdamWOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1e-3;
 public:
  typedef std::tuple<double, double> betas_t;
  NB_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 1e-2;
  NB_ARG(bool, amsgrad) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "AdamW"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("betas", betas_), f("eps", eps_), f("weight_decay", weight_decay_), f("amsgrad", amsgrad_);
    f("maximize", maximize_);
  }
};

class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<OptimizerParamGroup> groups, AdamWOptions defaults = {});
  explicit AdamW(std::vector<Tensor> params, AdamWOptions defaults = {});
  const char* name() const override { return "AdamW"; }
  std::array<const char*, 3> state_names() const override { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
