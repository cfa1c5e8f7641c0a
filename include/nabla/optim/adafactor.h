// Adafactor (PyTorch's torch.optim.Adafactor, Shazeer & Stern 2018): Adam-like step sizes from
// a second moment kept in factored form, so a [m, n] matrix costs m + n floats of state instead
// of m·n. With t the step, g = ∇f (-∇f when maximize), β̂₂ = 1 - t^beta2_decay,
// ρ = min(lr, 1/√t) and α = max(eps2, RMS(p))·ρ:
//   p ← p·(1 - lr·weight_decay)
//   matrices (dim ≥ 2, factored over the last two dims):
//     R ← β̂₂R + (1-β̂₂)·mean_{-1}(g²);  C ← β̂₂C + (1-β̂₂)·mean_{-2}(g²);  V = R·C / max(mean(R), eps1)
//   otherwise:  V ← β̂₂V + (1-β̂₂)·g²
//   U = g / √max(V, eps1²);  p ← p - α·U / max(1, RMS(U)/d)
// eps1 unset means the parameter dtype's machine epsilon (2^-7 for bf16, 2^-10 for f16), as
// PyTorch's None. There is no first moment. For f16/bf16 parameters the step is computed in f32
// (widened parameter, gradient and statistics) and the parameter and its statistics (kept in its
// dtype) are rounded once.
// State per parameter: row_var [..., m, 1] and col_var [..., 1, n] for matrices, variance
// (the parameter's shape) for vectors and scalars. RMS(p) and RMS(U) are read back to the host
// once each per parameter and step (as PyTorch's .item()), so on a GPU a step synchronizes.
#pragma once
#include <optional>

#include "nabla/optim/optimizer.h"

namespace nabla::optim {

class AdafactorOptions : public OptimizerCloneableOptions<AdafactorOptions> {
 public:
  AdafactorOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT: implicit, as torch::optim options
  NB_ARG(double, lr) = 1e-2;
  NB_ARG(double, beta2_decay) = -0.8;
  /// Floor of the second-moment estimate (squared before use); unset: the dtype's epsilon.
  NB_ARG(std::optional<double>, eps1) = std::nullopt;
  /// Floor of RMS(p) in the relative step size.
  NB_ARG(double, eps2) = 1e-3;
  /// Clipping threshold of the update's RMS.
  NB_ARG(double, d) = 1.0;
  NB_ARG(double, weight_decay) = 0;
  NB_ARG(bool, maximize) = false;
  /// On the CPU, one fused kernel per parameter (src/backend/cpu/adafactor.cpp: two or three
  /// passes, no temporaries) instead of the composed tensor ops (about fifteen passes). The same
  /// element operations in the same precision; the sums (RMS, means) are accumulated in double,
  /// so results agree with the composed step to ~1e-7 relative (f32). Other devices compose the
  /// step either way. An implementation choice, not a hyper-parameter: state_dict leaves it out.
  NB_ARG(bool, fused) = true;

 public:
  const char* optimizer_name() const override { return "Adafactor"; }
  void validate() const override;
  template <typename F>
  void fields(F&& f) {
    f("lr", lr_), f("beta2_decay", beta2_decay_), f("eps1", eps1_), f("eps2", eps2_), f("d", d_);
    f("weight_decay", weight_decay_), f("maximize", maximize_);
  }
};

class Adafactor : public Optimizer {
 public:
  explicit Adafactor(std::vector<OptimizerParamGroup> groups, AdafactorOptions defaults = {});
  explicit Adafactor(std::vector<Tensor> params, AdafactorOptions defaults = {});
  const char* name() const override { return "Adafactor"; }
  std::array<const char*, 3> state_names() const override { return {"row_var", "col_var", "variance"}; }

 protected:
  void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) override;
  std::optional<Shape> state_shape(size_t buffer, const Tensor& param) const override;
};

}  // namespace nabla::optim
