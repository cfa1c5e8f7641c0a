// Kernel interface for fused optimizer updates and multi-tensor helpers (CPU). Every array is
// contiguous with `n` elements of one floating dtype; ops/ has validated everything. One call
// updates all parameters of a group in a single parallel region: the element math of each
// algorithm lives here, the per-step scalars (bias corrections, schedules) are computed by the
// caller in double and passed per parameter.
#pragma once
#include <cstdint>

#include "nabla/dtype.h"

namespace nabla::backend {

enum class OptimAlgo : uint8_t { SGD, Adagrad, RMSprop, Adadelta, Adam, NAdam, RAdam, Adamax, Rprop, ASGD };

/// Hyper-parameters shared by all parameters of one call. `weight_decay` is the coupled
/// (L2, added to the gradient) decay; `decay` multiplies the parameter first (1 - lr*wd for
/// decoupled decay, exactly 1 otherwise). Rprop reads etaminus/etaplus and the step-size bounds.
struct OptimHyper {
  double lr = 0, momentum = 0, dampening = 0, alpha = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, decay = 1;
  double etaminus = 0, etaplus = 0, step_size_min = 0, step_size_max = 0;
  bool nesterov = false, centered = false, amsgrad = false, maximize = false;
};

/// One parameter: its data, gradient, up to three state buffers and per-parameter scalars.
struct OptimSlot {
  void* param;
  const void* grad;
  void* state[3];
  int64_t n;
  double c[4];
};

namespace cpu {

/// Applies one step of `algo` to every slot (see nabla/ops/optim_update.h for the formulas).
void optim_update(OptimAlgo algo, DType dt, const OptimSlot* slots, int64_t count, const OptimHyper& h);

/// sum_i sum_j |x_ij|^p over all arrays (p = inf: max |x|), accumulated in double.
/// p = 2 returns the sum of squares (no root); the caller finishes the norm.
double multi_abs_pow_sum(DType dt, const void* const* data, const int64_t* n, int64_t count, double p);
/// x *= factor for every array.
void multi_scale(DType dt, void* const* data, const int64_t* n, int64_t count, double factor);
/// x = clamp(x, lo, hi) for every array.
void multi_clamp(DType dt, void* const* data, const int64_t* n, int64_t count, double lo, double hi);

}  // namespace cpu
}  // namespace nabla::backend
