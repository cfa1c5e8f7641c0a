// Adam (PyTorch's torch.optim.Adam), with AMSGrad. With g = ∇f + weight_decay·p and t the step:
//   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  v̂ ← max(v̂, v) (amsgrad, used in place of v);
//   p ← p - lr/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps).
// The bias corrections make the first step's size ≈ lr whatever the gradient's scale.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdamOptions : public OptimizerCloneableOptions<AdamOptions> {
 public:
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT
  NB_ARG(double, lr) = 1e-3;
 public:
  typedef std::tuple<double, double> betas_t;
  NB_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  NB_ARG(double, eps) = 1e-8;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, amsgrad) = false;
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Adam"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("betas", betas_), f("eps", eps_), f("weight_decay", weight_decay_), f("amsgrad", amsgrad_);
    f("maximize", maximize_);
  }
};

class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<OptimizerParamGroup> groups, AdamOptions defaults = {});
  explicit Adam(std::vector<Tensor> params, AdamOptions defaults = {});
  const char* name() const override { return "Adam"; }
  std::array<const char*, 3> state_names() const override { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
