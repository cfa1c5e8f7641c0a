// Fused, allocation-free optimizer updates and multi-tensor helpers (the kernels behind
// nabla::optim). They write parameters and state in place, bump version counters and record
// nothing for autograd: call them under NoGradGuard, as optimizers do.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "nabla/tensor.h"

namespace nabla {

enum class OptimAlgo : uint8_t { SGD, Adagrad, RMSprop, Adadelta, Adam, NAdam, RAdam, Adamax, Rprop, ASGD };

/// Hyper-parameters shared by every parameter of one `optim_update_` call.
struct OptimHyper {
  double lr = 0;
  double momentum = 0;      ///< SGD, RMSprop
  double dampening = 0;     ///< SGD
  double alpha = 0;         ///< RMSprop's alpha, Adadelta's rho
  double beta1 = 0, beta2 = 0;
  double eps = 0;
  double weight_decay = 0;  ///< coupled (L2) decay: g <- g + weight_decay * p
  double decay = 1;         ///< decoupled decay factor applied first: p <- decay * p (1 - lr wd)
  double etaminus = 0, etaplus = 0;            ///< Rprop: step-size factors on a sign flip / a kept sign
  double step_size_min = 0, step_size_max = 0;  ///< Rprop: bounds of the per-element step sizes
  bool nesterov = false, centered = false, amsgrad = false, maximize = false;
};

/// One parameter of an update: contiguous param, a gradient of the same shape and dtype,
/// the state buffers the algorithm uses (same shape/dtype, contiguous) and per-parameter
/// scalars `c` computed by the optimizer in double. The dtype is any floating one; f16/bf16
/// slots are read into float, updated with the f32 math and each written value is rounded once
/// (PyTorch's opmath), so they equal the f32 update of the same values, rounded.
struct OptimSlot {
  Tensor param;
  Tensor grad;
  std::array<Tensor, 3> state;
  std::array<double, 4> c{};
};

/// One step of `algo` on every slot, in one parallel pass. With g = (maximize ? -grad : grad)
/// + weight_decay * p (after p <- decay * p), and PyTorch's documented rules:
///   SGD      state {buf}; c0 = 1 on buf's first step.  buf <- c0 ? g : momentum buf + (1-dampening) g;
///            g <- nesterov ? g + momentum buf : buf (when momentum != 0);  p <- p - lr g
///   Adagrad  state {sum}; c0 = lr / (1 + (t-1) lr_decay).  sum <- sum + g²;  p <- p - c0 g / (√sum + eps)
///   RMSprop  state {square_avg, momentum_buffer, grad_avg}.  sq <- α sq + (1-α) g²;
///            avg <- √(sq - ga²) + eps with ga <- α ga + (1-α) g when centered, else √sq + eps;
///            buf <- momentum buf + g/avg, p <- p - lr buf (momentum > 0), else p <- p - lr g/avg
///   Adadelta state {square_avg, acc_delta}; alpha = rho.  sq <- ρ sq + (1-ρ) g²;
///            δ <- √(acc + eps)/√(sq + eps) g;  acc <- ρ acc + (1-ρ) δ²;  p <- p - lr δ
///   Adam     state {exp_avg, exp_avg_sq, max_exp_avg_sq}; c0 = lr/(1-β1ᵗ), c1 = √(1-β2ᵗ).
///            m <- β1 m + (1-β1) g; v <- β2 v + (1-β2) g²; v̂ <- max(v̂, v) (amsgrad);
///            p <- p - c0 m / (√v(̂) / c1 + eps)
///   NAdam    state {exp_avg, exp_avg_sq}; c0 = lr(1-μₜ)/(1-Πμ), c1 = lr μₜ₊₁/(1-Πμ·μₜ₊₁),
///            c2 = 1-β2ᵗ.  m, v as Adam;  d = √(v/c2) + eps;  p <- p - c0 g/d - c1 m/d
///   RAdam    state {exp_avg, exp_avg_sq}; m, v as Adam; c1 != 0 (rectified): p <- p - c0 m/(√v + eps)
///            with c0 = lr rₜ √(1-β2ᵗ)/(1-β1ᵗ); else p <- p - c0 m with c0 = lr/(1-β1ᵗ).
///   Adamax   state {exp_avg, exp_inf}; c0 = lr/(1-β1ᵗ).  m <- β1 m + (1-β1) g;
///            u <- max(β2 u, |g| + eps);  p <- p - c0 m/u
///   Rprop    state {prev, step_size}; no weight decay.  f = etaplus if g·prev > 0, etaminus if
///            g·prev < 0, else 1;  step_size <- clamp(step_size·f, step_size_min, step_size_max);
///            g <- 0 where g·prev < 0;  p <- p - sign(g)·step_size;  prev <- g
///   ASGD     state {ax}; c0 = eta, c1 = mu, c2 = 1 - lambd·eta.  p <- c2 p - c0 g;
///            ax <- c1 != 1 ? ax + (p - ax) c1 : p
void optim_update_(OptimAlgo algo, const OptimHyper& h, const std::vector<OptimSlot>& slots);

/// (Σ over all tensors and elements of |x|^p)^(1/p), accumulated in double; p = inf gives
/// max |x|. Undefined tensors are skipped; NaN propagates.
double foreach_norm(const TensorList& tensors, double p = 2.0);
/// x <- factor * x for every (defined) tensor, in place.
void foreach_mul_(const TensorList& tensors, double factor);
/// x <- clamp(x, min, max) for every (defined) tensor, in place (NaN stays NaN).
void foreach_clamp_(const TensorList& tensors, double min, double max);

}  // namespace nabla
