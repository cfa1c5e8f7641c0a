// Loss modules over the functional losses.
#include "nabla/nn/loss.h"

namespace nabla::nn {

Tensor Loss::operator()(const Tensor& input, const Tensor& target) {
  try {
    return forward(input, target);
  } catch (const ModuleError&) {
    throw;
  } catch (const Error& e) {
    throw ModuleError(::nabla::detail::concat("[", tag(), "] ", e.what()));
  }
}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o) : Loss("CrossEntropyLoss"), options(o) {
  if (!(o.label_smoothing() >= 0.0 && o.label_smoothing() <= 1.0))
    fail("label_smoothing must be in [0, 1], got ", o.label_smoothing());
  weight = register_buffer("weight", o.weight());
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target,
                       {.weight = weight,
                        .ignore_index = options.ignore_index(),
                        .label_smoothing = options.label_smoothing(),
                        .reduction = options.reduction()});
}

NLLLoss::NLLLoss(const NLLLossOptions& o) : Loss("NLLLoss"), options(o) { weight = register_buffer("weight", o.weight()); }
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target,
                  {.weight = weight, .ignore_index = options.ignore_index(), .reduction = options.reduction()});
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, options.reduction()); }
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, options.reduction()); }

SmoothL1Loss::SmoothL1Loss(const SmoothL1LossOptions& o) : Loss("SmoothL1Loss"), options(o) {
  if (!(o.beta() >= 0)) fail("beta must be non-negative, got ", o.beta());
}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, options.reduction(), options.beta());
}

HuberLoss::HuberLoss(const HuberLossOptions& o) : Loss("HuberLoss"), options(o) {
  if (!(o.delta() > 0)) fail("delta must be positive, got ", o.delta());
}
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return huber_loss(input, target, options.reduction(), options.delta());
}

Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return kl_div(input, target, {.reduction = options.reduction(), .log_target = options.log_target()});
}

BCELoss::BCELoss(const BCELossOptions& o) : Loss("BCELoss"), options(o) { weight = register_buffer("weight", o.weight()); }
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, {.weight = weight, .reduction = options.reduction()});
}

BCEWithLogitsLoss::BCEWithLogitsLoss(const BCEWithLogitsLossOptions& o) : Loss("BCEWithLogitsLoss"), options(o) {
  weight = register_buffer("weight", o.weight());
  pos_weight = register_buffer("pos_weight", o.pos_weight());
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(
      input, target, {.weight = weight, .pos_weight = pos_weight, .reduction = options.reduction()});
}

}  // namespace nabla::nn
