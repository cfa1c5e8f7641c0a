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

}  // namespace nabla::nn
