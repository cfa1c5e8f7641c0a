// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_. Both act in place
// on the `.grad()` of the given parameters (parameters without a gradient are skipped).
#pragma once
#include <vector>

#include "nabla/tensor.h"

namespace nabla::optim {

/// Scales all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
/// norm of order `norm_type` (inf: max |g|) of all gradients together, and returns
/// total_norm. When it is NaN or inf: throws if `error_if_nonfinite`, else scales anyway as
/// PyTorch does (which spreads the NaN; check the returned norm to skip such a step).
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every gradient element to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace nabla::optim
