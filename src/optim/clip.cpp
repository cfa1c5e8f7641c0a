// Gradient clipping over all gradients at once (one multi-tensor pass for the norm, one to scale).
#include "nabla/optim/clip.h"

#include <cmath>

#include "nabla/autograd.h"
#include "nabla/ops/optim_update.h"

namespace nabla::optim {

namespace {
std::vector<Tensor> grads_of(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> grads;
  grads.reserve(parameters.size());
  for (const Tensor& p : parameters) {
    NB_CHECK(p.defined(), "[clip_grad] an undefined tensor in the parameter list");
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  return grads;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  NB_CHECK(max_norm >= 0, "[clip_grad_norm_] invalid max_norm: ", max_norm, " (must be >= 0)");
  NB_CHECK(norm_type > 0, "[clip_grad_norm_] invalid norm_type: ", norm_type, " (must be > 0, or inf)");
  NoGradGuard ng;
  std::vector<Tensor> grads = grads_of(parameters);
  if (grads.empty()) return 0.0;
  const double total = foreach_norm(grads, norm_type);
  NB_CHECK(!error_if_nonfinite || std::isfinite(total), "[clip_grad_norm_] the total norm of order ", norm_type,
           " of the gradients is ", total, ", so they cannot be clipped (error_if_nonfinite = true)");
  const double coef = max_norm / (total + 1e-6);
  // PyTorch multiplies by min(coef, 1) unconditionally; multiplying by exactly 1 is a no-op,
  // so skip that pass (NaN coefficients still go through).
  if (!(coef >= 1.0)) foreach_mul_(grads, coef);
  return total;
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  NB_CHECK(clip_value >= 0, "[clip_grad_value_] invalid clip_value: ", clip_value, " (must be >= 0)");
  NoGradGuard ng;
  foreach_clamp_(grads_of(parameters), -clip_value, clip_value);
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace nabla::optim
