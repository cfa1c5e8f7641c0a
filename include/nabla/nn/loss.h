// Loss modules wrapping the functional losses of ops.h; call as loss(input, target).
// Class weights are registered as buffers (so to(dtype) converts them and state_dict holds them).
#pragma once
#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

/// Base of the losses: forward(input, target) and the tagging call operator.
class Loss : public Module {
 public:
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

}  // namespace nabla::nn
