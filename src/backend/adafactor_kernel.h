// Kernel interface of the fused Adafactor step (CPU; the CUDA backend has none, and
// nabla::optim::Adafactor composes tensor ops there). One call updates one parameter in place:
// the parameter, its gradient and its state are contiguous arrays of one floating dtype, and
// ops/ has validated them. The formulas are nabla/optim/adafactor.h's (PyTorch 2.5's
// torch.optim.Adafactor); the per-step scalars are computed by the caller in double.
#pragma once
#include <cstdint>

#include "nabla/dtype.h"

namespace nabla::backend {

struct AdafactorSlot {
  void* param;
  const void* grad;
  /// Factored (rows > 0, a parameter of dim >= 2 seen as [batch, rows, cols]): the row_var
  /// state ([batch, rows]) and the col_var state ([batch, cols]); var is null.
  void* row;
  void* col;
  /// Unfactored (rows == 0): the variance state, n elements; row and col are null.
  void* var;
  int64_t batch, rows, cols;
  int64_t n;
};

struct AdafactorHyper {
  double new_weight;  ///< 1 - beta2_hat = t^beta2_decay: the weight of the new squared gradient
  double rho;         ///< min(lr, 1 / sqrt(t)); alpha = max(eps2, RMS(p)) rho, RMS(p) read by the kernel
  double eps1, eps2, d;
  double decay;       ///< 1 - lr weight_decay (exactly 1 without weight decay)
  bool maximize;
};

namespace cpu {
/// One Adafactor step of one parameter.
void adafactor_update(DType dt, const AdafactorSlot& s, const AdafactorHyper& h);
}  // namespace cpu

}  // namespace nabla::backend
