// The fused Adafactor step behind nabla::optim::Adafactor on CPU (its `fused` option): one
// parameter per call, in place, recording nothing for autograd (call it under NoGradGuard, as
// optimizers do). The formulas are nabla/optim/adafactor.h's (PyTorch 2.5's Adafactor).
#pragma once
#include "nabla/tensor.h"

namespace nabla {

/// Per-step scalars of one parameter, computed by the optimizer in double.
struct AdafactorStepScalars {
  double new_weight = 0;  ///< 1 - beta2_hat = t^beta2_decay
  double rho = 0;         ///< min(lr, 1 / sqrt(t)); the kernel reads RMS(p) for alpha
  double eps1 = 0;        ///< the floor of the second-moment estimate (squared under the root)
  double eps2 = 0;        ///< the floor of RMS(p)
  double d = 1;           ///< the clipping threshold of RMS(u)
  double decay = 1;       ///< 1 - lr weight_decay
  bool maximize = false;
};

/// True when `device` has the fused kernel (the CPU); elsewhere the optimizer composes the step.
bool has_fused_adafactor(Device device);

/// One Adafactor step of `param` (dim >= 2: factored over its last two dims, with row_var of
/// shape [..., m, 1] and col_var [..., 1, n]; otherwise `variance` of the parameter's shape; the
/// unused state tensors may be undefined). State tensors have the parameter's dtype.
void adafactor_update_(const Tensor& param, const Tensor& grad, const Tensor& row_var, const Tensor& col_var,
                       const Tensor& variance, const AdafactorStepScalars& s);

}  // namespace nabla
