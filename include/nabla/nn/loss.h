// Loss modules wrapping the functional losses of ops.h; call as loss(input, target).
// Class weights are registered as buffers (so to(dtype) converts them and state_dict holds them).
#pragma once
#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

/// Base of the losses: forward(input, target) and the tagging call operator.
class Loss : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  /// Runs forward(input, target), prefixing errors with this module's tag.
  Tensor operator()(const Tensor& input, const Tensor& target);
  using Module::forward;

 protected:
  explicit Loss(const char* type) : Module(type) {}
};

struct CrossEntropyLossOptions {
  NB_ARG(Tensor, weight);                ///< per-class weights [C]
  NB_ARG(int64_t, ignore_index) = -100;  ///< targets equal to this contribute nothing
  NB_ARG(double, label_smoothing) = 0.0;
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// cross_entropy(logits [N, C], i64 targets [N] or probability targets [N, C]).
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  CrossEntropyLossOptions options;
  Tensor weight;
};

struct NLLLossOptions {
  NB_ARG(Tensor, weight);
  NB_ARG(int64_t, ignore_index) = -100;
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// nll_loss(log-probabilities [N, C], i64 targets [N]).
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(const NLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  NLLLossOptions options;
  Tensor weight;
};

struct MSELossOptions {
  MSELossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}  // NOLINT
  NB_ARG(Reduction, reduction);
};
/// (input - target)^2, reduced.
class MSELoss : public Loss {
 public:
  explicit MSELoss(const MSELossOptions& options = {}) : Loss("MSELoss"), options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  MSELossOptions options;
};

struct BCEWithLogitsLossOptions {
  NB_ARG(Tensor, weight);      ///< broadcast to the input
  NB_ARG(Tensor, pos_weight);  ///< per-class weight of positive examples
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// Binary cross-entropy on logits (stable: log-sum-exp form).
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(const BCEWithLogitsLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  BCEWithLogitsLossOptions options;
  Tensor weight, pos_weight;
};

struct BCELossOptions {
  NB_ARG(Tensor, weight);  ///< broadcast to the input
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// Binary cross-entropy of probabilities in [0, 1] (after a Sigmoid); each log is clamped at
/// -100. BCEWithLogitsLoss on the logits is the stable choice.
class BCELoss : public Loss {
 public:
  explicit BCELoss(const BCELossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  BCELossOptions options;
  Tensor weight;
};

struct L1LossOptions {
  L1LossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}  // NOLINT
  NB_ARG(Reduction, reduction);
};
/// |input - target|, reduced.
class L1Loss : public Loss {
 public:
  explicit L1Loss(const L1LossOptions& options = {}) : Loss("L1Loss"), options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  L1LossOptions options;
};

struct SmoothL1LossOptions {
  NB_ARG(Reduction, reduction) = Reduction::Mean;
  NB_ARG(double, beta) = 1.0;  ///< quadratic below |d| = beta; 0 gives L1Loss
};
/// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Fast R-CNN's box loss).
class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(const SmoothL1LossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  SmoothL1LossOptions options;
};

struct HuberLossOptions {
  NB_ARG(Reduction, reduction) = Reduction::Mean;
  NB_ARG(double, delta) = 1.0;  ///< quadratic below |d| = delta, linear (slope delta) above
};
/// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): robust regression.
class HuberLoss : public Loss {
 public:
  explicit HuberLoss(const HuberLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  HuberLossOptions options;
};

struct KLDivLossOptions {
  /// BatchMean gives the KL divergence per sample; Mean (PyTorch's default) divides by every element.
  NB_ARG(Reduction, reduction) = Reduction::Mean;
  NB_ARG(bool, log_target) = false;
};
/// KL(target || p) for log-probabilities `input` (log p) and probabilities `target`
/// (log-probabilities if log_target): target (log target - input).
class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(const KLDivLossOptions& options = {}) : Loss("KLDivLoss"), options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  KLDivLossOptions options;
};

/// Base of the losses of three tensors: (input1, input2, target), (anchor, positive, negative)
/// or (input, target, var).
class TernaryLoss : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  virtual Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) = 0;
  /// Runs forward(a, b, c), prefixing errors with this module's tag.
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c);
  using Module::forward;

 protected:
  explicit TernaryLoss(const char* type) : Module(type) {}
};

struct CosineEmbeddingLossOptions {
  NB_ARG(double, margin) = 0.0;  ///< in [-1, 1]; 0 to 0.5 is suggested
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// cosine_embedding_loss(input1, input2, target): 1 - cos where target is 1, max(0, cos - margin)
/// where it is -1 (learning embeddings in which similar pairs point the same way).
class CosineEmbeddingLoss : public TernaryLoss {
 public:
  explicit CosineEmbeddingLoss(const CosineEmbeddingLossOptions& options = {});
  Tensor forward(const Tensor& input1, const Tensor& input2, const Tensor& target) override;
  std::string extra_repr() const override;
  CosineEmbeddingLossOptions options;
};

struct MarginRankingLossOptions {
  NB_ARG(double, margin) = 0.0;
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// margin_ranking_loss(input1, input2, target): max(0, -target (input1 - input2) + margin).
class MarginRankingLoss : public TernaryLoss {
 public:
  explicit MarginRankingLoss(const MarginRankingLossOptions& options = {});
  Tensor forward(const Tensor& input1, const Tensor& input2, const Tensor& target) override;
  std::string extra_repr() const override;
  MarginRankingLossOptions options;
};

struct HingeEmbeddingLossOptions {
  NB_ARG(double, margin) = 1.0;
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// hinge_embedding_loss(input, target): input where target is 1, max(0, margin - input) where -1.
class HingeEmbeddingLoss : public Loss {
 public:
  explicit HingeEmbeddingLoss(const HingeEmbeddingLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  HingeEmbeddingLossOptions options;
};

struct SoftMarginLossOptions {
  SoftMarginLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}  // NOLINT
  NB_ARG(Reduction, reduction);
};
/// soft_margin_loss(input, target): log(1 + exp(-target input)), targets 1 or -1.
class SoftMarginLoss : public Loss {
 public:
  explicit SoftMarginLoss(const SoftMarginLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  SoftMarginLossOptions options;
};

struct MultiLabelSoftMarginLossOptions {
  NB_ARG(Tensor, weight);  ///< per class [C], optional
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// multilabel_soft_margin_loss(logits [N, C], 0/1 targets [N, C]): one-versus-all logistic loss.
class MultiLabelSoftMarginLoss : public Loss {
 public:
  explicit MultiLabelSoftMarginLoss(const MultiLabelSoftMarginLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  MultiLabelSoftMarginLossOptions options;
  Tensor weight;
};

struct MultiMarginLossOptions {
  NB_ARG(int64_t, p) = 1;  ///< 1 or 2
  NB_ARG(double, margin) = 1.0;
  NB_ARG(Tensor, weight);  ///< per class [C], optional
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// multi_margin_loss(scores [N, C], i64 targets [N]): the multi-class hinge (SVM) loss.
class MultiMarginLoss : public Loss {
 public:
  explicit MultiMarginLoss(const MultiMarginLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  MultiMarginLossOptions options;
  Tensor weight;
};

struct TripletMarginLossOptions {
  NB_ARG(double, margin) = 1.0;
  NB_ARG(double, p) = 2.0;
  NB_ARG(double, eps) = 1e-6;
  NB_ARG(bool, swap) = false;
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// triplet_margin_loss(anchor, positive, negative): max(0, margin + d(a, p) - d(a, n)).
class TripletMarginLoss : public TernaryLoss {
 public:
  explicit TripletMarginLoss(const TripletMarginLossOptions& options = {});
  Tensor forward(const Tensor& anchor, const Tensor& positive, const Tensor& negative) override;
  std::string extra_repr() const override;
  TripletMarginLossOptions options;
};

struct PoissonNLLLossOptions {
  NB_ARG(bool, log_input) = true;  ///< input is the log of the rate
  NB_ARG(bool, full) = false;      ///< add Stirling's approximation of log(target!)
  NB_ARG(double, eps) = 1e-8;      ///< log(input + eps) when !log_input
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// poisson_nll_loss(input, target counts).
class PoissonNLLLoss : public Loss {
 public:
  explicit PoissonNLLLoss(const PoissonNLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  PoissonNLLLossOptions options;
};

struct GaussianNLLLossOptions {
  NB_ARG(bool, full) = false;  ///< add log(2π)/2
  NB_ARG(double, eps) = 1e-6;  ///< floor of var
  NB_ARG(Reduction, reduction) = Reduction::Mean;
};
/// gaussian_nll_loss(input (mean), target, var).
class GaussianNLLLoss : public TernaryLoss {
 public:
  explicit GaussianNLLLoss(const GaussianNLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target, const Tensor& var) override;
  std::string extra_repr() const override;
  GaussianNLLLossOptions options;
};

}  // namespace nabla::nn
