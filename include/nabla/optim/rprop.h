// Rprop (PyTorch's torch.optim.Rprop), resilient backpropagation: each element moves by its own
// step size in the direction of -sign(g), and only the gradient's sign is used. With
// g = ∇f (-∇f when maximize) and the previous step's (possibly zeroed) gradient `prev`:
//   f = etaplus if g·prev > 0, etaminus if g·prev < 0, else 1;
//   step_size ← clamp(step_size·f, step_size_min, step_size_max);
//   g ← 0 where g·prev < 0 (a sign flip: no move this step);  p ← p - sign(g)·step_size;  prev ← g.
// Step sizes start at the group's lr on a parameter's first step; as in PyTorch, later changes
// of lr (a scheduler) do not reach them. Meant for full-batch training: the sign of a noisy
// minibatch gradient says little.
#pragma once
#include <tuple>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class RpropOptions : public OptimizerCloneableOptions<RpropOptions> {
 public:
  RpropOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT: implicit, as torch::optim options
  NB_ARG(double, lr) = 1e-2;
 public:
  typedef std::tuple<double, double> etas_t;
  typedef std::tuple<double, double> step_sizes_t;
  /// (etaminus, etaplus): the step-size factors after a sign flip and after a kept sign.
  NB_ARG(etas_t, etas) = std::make_tuple(0.5, 1.2);
  /// (min, max) bounds of every step size.
  NB_ARG(step_sizes_t, step_sizes) = std::make_tuple(1e-6, 50.0);
  NB_ARG(bool, maximize) = false;

 public:
  const char* optimizer_name() const override { return "Rprop"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("etaminus", std::get<0>(etas_)), f("etaplus", std::get<1>(etas_));
    f("step_size_min", std::get<0>(step_sizes_)), f("step_size_max", std::get<1>(step_sizes_));
    f("maximize", maximize_);
  }
};

class Rprop : public Optimizer {
 public:
  explicit Rprop(std::vector<OptimizerParamGroup> groups, RpropOptions defaults = {});
  explicit Rprop(std::vector<Tensor> params, RpropOptions defaults = {});
  const char* name() const override { return "Rprop"; }
  std::array<const char*, 3> state_names() const override { return {"prev", "step_size", ""}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
};

}  // namespace nabla::optim
