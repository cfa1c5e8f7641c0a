// Loss modules over the functional losses.
#include "nabla/nn/loss.h"

#include <cmath>
#include <string>

#include "repr.h"

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

Tensor TernaryLoss::operator()(const Tensor& a, const Tensor& b, const Tensor& c) {
  try {
    return forward(a, b, c);
  } catch (const ModuleError&) {
    throw;
  } catch (const Error& e) {
    throw ModuleError(::nabla::detail::concat("[", tag(), "] ", e.what()));
  }
}

namespace {
/// ", reduction=sum" when not the default (Mean), for extra_repr; `first` drops the comma.
std::string reduction_str(Reduction r, bool first = false) {
  if (r == Reduction::Mean) return "";
  const char* name = r == Reduction::Sum ? "sum" : r == Reduction::None ? "none" : "batchmean";
  return std::string(first ? "" : ", ") + "reduction=" + name;
}
}  // namespace

CosineEmbeddingLoss::CosineEmbeddingLoss(const CosineEmbeddingLossOptions& o) : TernaryLoss("CosineEmbeddingLoss"), options(o) {}
Tensor CosineEmbeddingLoss::forward(const Tensor& input1, const Tensor& input2, const Tensor& target) {
  return cosine_embedding_loss(input1, input2, target, {.margin = options.margin(), .reduction = options.reduction()});
}
std::string CosineEmbeddingLoss::extra_repr() const {
  return "margin=" + detail::num_str(options.margin()) + reduction_str(options.reduction());
}

MarginRankingLoss::MarginRankingLoss(const MarginRankingLossOptions& o) : TernaryLoss("MarginRankingLoss"), options(o) {}
Tensor MarginRankingLoss::forward(const Tensor& input1, const Tensor& input2, const Tensor& target) {
  return margin_ranking_loss(input1, input2, target, {.margin = options.margin(), .reduction = options.reduction()});
}
std::string MarginRankingLoss::extra_repr() const {
  return "margin=" + detail::num_str(options.margin()) + reduction_str(options.reduction());
}

HingeEmbeddingLoss::HingeEmbeddingLoss(const HingeEmbeddingLossOptions& o) : Loss("HingeEmbeddingLoss"), options(o) {}
Tensor HingeEmbeddingLoss::forward(const Tensor& input, const Tensor& target) {
  return hinge_embedding_loss(input, target, {.margin = options.margin(), .reduction = options.reduction()});
}
std::string HingeEmbeddingLoss::extra_repr() const {
  return "margin=" + detail::num_str(options.margin()) + reduction_str(options.reduction());
}

SoftMarginLoss::SoftMarginLoss(const SoftMarginLossOptions& o) : Loss("SoftMarginLoss"), options(o) {}
Tensor SoftMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return soft_margin_loss(input, target, options.reduction());
}
std::string SoftMarginLoss::extra_repr() const { return reduction_str(options.reduction(), true); }

MultiLabelSoftMarginLoss::MultiLabelSoftMarginLoss(const MultiLabelSoftMarginLossOptions& o)
    : Loss("MultiLabelSoftMarginLoss"), options(o) {
  weight = register_buffer("weight", o.weight());
}
Tensor MultiLabelSoftMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return multilabel_soft_margin_loss(input, target, {.weight = weight, .reduction = options.reduction()});
}
std::string MultiLabelSoftMarginLoss::extra_repr() const { return reduction_str(options.reduction(), true); }

MultiMarginLoss::MultiMarginLoss(const MultiMarginLossOptions& o) : Loss("MultiMarginLoss"), options(o) {
  if (o.p() != 1 && o.p() != 2) fail("p must be 1 or 2, got ", o.p());
  if (o.weight().defined() && o.weight().dim() != 1) fail("weight must be 1-D (one per class), got shape ", o.weight().shape());
  weight = register_buffer("weight", o.weight());
}
Tensor MultiMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return multi_margin_loss(input, target,
                           {.p = options.p(), .margin = options.margin(), .weight = weight, .reduction = options.reduction()});
}
std::string MultiMarginLoss::extra_repr() const {
  return "p=" + std::to_string(options.p()) + ", margin=" + detail::num_str(options.margin()) +
         reduction_str(options.reduction());
}

TripletMarginLoss::TripletMarginLoss(const TripletMarginLossOptions& o) : TernaryLoss("TripletMarginLoss"), options(o) {
  if (std::isnan(o.p())) fail("p must be a number, got NaN");
}
Tensor TripletMarginLoss::forward(const Tensor& anchor, const Tensor& positive, const Tensor& negative) {
  return triplet_margin_loss(anchor, positive, negative,
                             {.margin = options.margin(), .p = options.p(), .eps = options.eps(),
                              .swap = options.swap(), .reduction = options.reduction()});
}
std::string TripletMarginLoss::extra_repr() const {
  return "margin=" + detail::num_str(options.margin()) + ", p=" + detail::num_str(options.p()) +
         ", eps=" + detail::num_str(options.eps()) + ", swap=" + detail::bool_str(options.swap()) +
         reduction_str(options.reduction());
}

PoissonNLLLoss::PoissonNLLLoss(const PoissonNLLLossOptions& o) : Loss("PoissonNLLLoss"), options(o) {}
Tensor PoissonNLLLoss::forward(const Tensor& input, const Tensor& target) {
  return poisson_nll_loss(input, target,
                          {.log_input = options.log_input(), .full = options.full(), .eps = options.eps(),
                           .reduction = options.reduction()});
}
std::string PoissonNLLLoss::extra_repr() const {
  return std::string("log_input=") + detail::bool_str(options.log_input()) + ", full=" + detail::bool_str(options.full()) +
         ", eps=" + detail::num_str(options.eps()) + reduction_str(options.reduction());
}

GaussianNLLLoss::GaussianNLLLoss(const GaussianNLLLossOptions& o) : TernaryLoss("GaussianNLLLoss"), options(o) {
  if (!(o.eps() >= 0)) fail("eps must be non-negative, got ", o.eps());
}
Tensor GaussianNLLLoss::forward(const Tensor& input, const Tensor& target, const Tensor& var) {
  return gaussian_nll_loss(input, target, var,
                           {.full = options.full(), .eps = options.eps(), .reduction = options.reduction()});
}
std::string GaussianNLLLoss::extra_repr() const {
  return std::string("full=") + detail::bool_str(options.full()) + ", eps=" + detail::num_str(options.eps()) +
         reduction_str(options.reduction());
}

}  // namespace nabla::nn
