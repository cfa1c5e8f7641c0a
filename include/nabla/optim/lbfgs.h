// L-BFGS (PyTorch's torch.optim.LBFGS, itself a port of minFunc): a quasi-Newton method that
// builds an approximation of the inverse Hessian from the last `history_size` pairs of
// parameter steps s and gradient changes y, and moves along d = -H·g (the two-loop recursion,
// initial scale H₀ = sᵀy / yᵀy). One step() runs up to max_iter iterations and re-evaluates the
// loss through the closure, so the closure must zero the gradients, run the forward pass and
// backward, and return the loss:
//   optim::LBFGS opt(params, optim::LBFGSOptions(1).line_search_fn("strong_wolfe"));
//   opt.step([&] { opt.zero_grad(); Tensor l = loss_fn(); l.backward(); return l; });
// Without a line search each iteration moves by lr·d (the first iteration of all by
// min(1, 1/‖g‖₁)·lr·d); with "strong_wolfe" a bracketing and zooming search with cubic
// interpolation picks the step (sufficient decrease c1 = 1e-4, curvature c2 = 0.9, at most 25
// evaluations). An iteration ends the step when the gradient's max |g| <= tolerance_grad, the
// step or the loss changes by less than tolerance_change, or max_iter iterations / max_eval
// evaluations are used. As PyTorch: one parameter group only, all parameters on one device
// with one dtype; vectors are flattened over all parameters (history costs
// 2·history_size·numel elements); scalars (step length, ρ, H₀) are doubles.
#pragma once
#include <deque>
#include <optional>
#include <string>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class LBFGSOptions : public OptimizerCloneableOptions<LBFGSOptions> {
 public:
  LBFGSOptions(double lr = 1) : lr_(lr) {}  // NOLINT: implicit, as torch::optim::LBFGSOptions
  NB_ARG(double, lr) = 1;
  /// Iterations per step().
  NB_ARG(int64_t, max_iter) = 20;
  /// Loss evaluations per step(); unset: max_iter·5/4 (filled in by the optimizer).
  NB_ARG(std::optional<int64_t>, max_eval) = std::nullopt;
  /// Stop when max |g| <= tolerance_grad.
  NB_ARG(double, tolerance_grad) = 1e-7;
  /// Stop when the step (max |t·d|) or the loss change is below it.
  NB_ARG(double, tolerance_change) = 1e-9;
  /// How many (s, y) pairs are kept.
  NB_ARG(int64_t, history_size) = 100;
  /// "strong_wolfe", or unset for fixed steps of lr.
  NB_ARG(std::optional<std::string>, line_search_fn) = std::nullopt;

 public:
  const char* optimizer_name() const override { return "LBFGS"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("max_iter", max_iter_), f("max_eval", max_eval_), f("tolerance_grad", tolerance_grad_);
    f("tolerance_change", tolerance_change_), f("history_size", history_size_), f("line_search_fn", line_search_fn_);
  }
};

/// LBFGS's state (PyTorch keeps it under the first parameter's state): counters over all
/// steps, the last direction d and step length t, the curvature pairs with ρᵢ = 1/(yᵢᵀsᵢ),
/// H₀'s scale, and the previous flat gradient and loss. Flat tensors have all parameters'
/// elements, in group order, in LBFGS::compute_dtype() (f32 for 16-bit parameters).
struct LBFGSState {
  int64_t func_evals = 0;
  int64_t n_iter = 0;
  Tensor d;
  double t = 0;
  std::deque<Tensor> old_dirs;  ///< y: gradient changes
  std::deque<Tensor> old_stps;  ///< s: parameter steps
  std::deque<double> ro;
  double H_diag = 1;
  Tensor prev_flat_grad;
  double prev_loss = 0;
};

class LBFGS : public Optimizer {
 public:
  explicit LBFGS(std::vector<OptimizerParamGroup> groups, LBFGSOptions defaults = {});
  explicit LBFGS(std::vector<Tensor> params, LBFGSOptions defaults = {});
  const char* name() const override { return "LBFGS"; }
  /// LBFGS keeps no per-parameter buffers; its state is lbfgs_state().
  std::array<const char*, 3> state_names() const override { return {"", "", ""}; }
  /// Up to max_iter iterations; returns the loss the closure gave first (before any move).
  /// The closure is required (a missing one is an error).
  Tensor step(const LossClosure& closure) override;
  const LBFGSState& lbfgs_state() const { return state_; }
  /// The dtype of the state's vectors: the parameters' dtype, f32 for f16/bf16 parameters.
  DType compute_dtype() const;

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
  void save_extra_state(OptimizerStateDict& dict) const override;
  void load_extra_state(const OptimizerStateDict& dict) override;

 private:
  LBFGSState state_;
};

}  // namespace nabla::optim
