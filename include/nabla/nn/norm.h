// Normalization layers.
#pragma once
#include <optional>

#include "nabla/nn/module.h"

namespace nabla::nn {

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: `BatchNorm2d(64)`
  NB_ARG(int64_t, num_features);
  NB_ARG(double, eps) = 1e-5;
  /// running = (1 - momentum) running + momentum batch; nullopt: cumulative average (1 / batches seen).
  NB_ARG(std::optional<double>, momentum) = 0.1;
  /// Learnable per-channel weight (gamma) and bias (beta).
  NB_ARG(bool, affine) = true;
  /// Keep running_mean / running_var / num_batches_tracked buffers and use them in eval mode;
  /// without them, batch statistics are used in both modes.
  NB_ARG(bool, track_running_stats) = true;
};

/// Batch normalization over every dim but the channel dim 1:
/// y = (x - mean) / sqrt(var + eps) * weight + bias, with batch statistics (biased variance)
/// in training mode, and the running statistics (unbiased variance, updated in training) in
/// eval mode. Buffers: running_mean (zeros), running_var (ones), num_batches_tracked (i64 0).
/// Default init (PyTorch's): weight ones, bias zeros.
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;
  void reset_running_stats();

  BatchNormOptions options;
  Tensor weight, bias;                                    ///< [C], when affine
  Tensor running_mean, running_var, num_batches_tracked;  ///< when track_running_stats

 protected:
  BatchNorm(const char* type, const BatchNormOptions& options);
  virtual void check_input(const Tensor& x) const = 0;
};

/// BatchNorm over x [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNorm("BatchNorm1d", options) {}

 protected:
  void check_input(const Tensor& x) const override;
};

/// BatchNorm over x [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNorm("BatchNorm2d", options) {}

 protected:
  void check_input(const Tensor& x) const override;
};

struct LayerNormOptions {
  LayerNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT
  NB_ARG(Shape, normalized_shape);
  NB_ARG(double, eps) = 1e-5;
  /// Learnable weight (and bias, if `bias`) of normalized_shape.
  NB_ARG(bool, elementwise_affine) = true;
  NB_ARG(bool, bias) = true;
};

/// Normalizes over the trailing normalized_shape dims of each sample:
/// y = (x - mean) / sqrt(var + eps) * weight + bias (biased variance).
/// Default init (PyTorch's): weight ones, bias zeros.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  LayerNormOptions options;
  Tensor weight, bias;
};

struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels) : num_groups_(num_groups), num_channels_(num_channels) {}
  NB_ARG(int64_t, num_groups);
  NB_ARG(int64_t, num_channels);
  NB_ARG(double, eps) = 1e-5;
  /// Learnable per-channel weight and bias [num_channels].
  NB_ARG(bool, affine) = true;
};

/// Normalizes each group of channels of each sample over its channels and positions, the same
/// in training and evaluation (no running statistics, so it works at any batch size):
/// y = (x - mean) / sqrt(var + eps) * weight + bias. Default init: weight ones, bias zeros.
class GroupNorm : public Module {
 public:
  explicit GroupNorm(const GroupNormOptions& options);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  GroupNormOptions options;
  Tensor weight, bias;
};

struct InstanceNormOptions {
  InstanceNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: `InstanceNorm2d(64)`
  NB_ARG(int64_t, num_features);
  NB_ARG(double, eps) = 1e-5;
  NB_ARG(double, momentum) = 0.1;
  /// Learnable per-channel weight and bias (off by default, as PyTorch's).
  NB_ARG(bool, affine) = false;
  /// Keep running averages of the per-sample statistics and normalize with them in eval mode
  /// (off by default: each sample's own statistics in both modes).
  NB_ARG(bool, track_running_stats) = false;
};

/// Instance normalization: each channel of each sample normalized over its positions,
/// y = (x - mean) / sqrt(var + eps) * weight + bias (PyTorch's InstanceNorm1d/2d, style
/// transfer's normalization). Buffers with track_running_stats: running_mean (zeros),
/// running_var (ones), num_batches_tracked (i64 0, kept for PyTorch's state_dict layout and,
/// as there, not advanced). Default init: weight ones, bias zeros.
class InstanceNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  void reset_running_stats();
  std::string extra_repr() const override;

  InstanceNormOptions options;
  Tensor weight, bias;                                    ///< [C], when affine
  Tensor running_mean, running_var, num_batches_tracked;  ///< when track_running_stats

 protected:
  /// `spatial_dims`: 1 for [N, C, L] (or unbatched [C, L]), 2 for [N, C, H, W] (or [C, H, W]).
  InstanceNorm(const char* type, int spatial_dims, const InstanceNormOptions& options);

 private:
  int spatial_dims_;
};

class InstanceNorm1d : public InstanceNorm {
 public:
  explicit InstanceNorm1d(const InstanceNormOptions& options) : InstanceNorm("InstanceNorm1d", 1, options) {}
};

class InstanceNorm2d : public InstanceNorm {
 public:
  explicit InstanceNorm2d(const InstanceNormOptions& options) : InstanceNorm("InstanceNorm2d", 2, options) {}
};

struct RMSNormOptions {
  RMSNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT
  NB_ARG(Shape, normalized_shape);
  /// Added to the mean square; nullopt (PyTorch's eps=None): the input dtype's machine epsilon.
  NB_ARG(std::optional<double>, eps);
  /// A learnable weight of normalized_shape (RMSNorm has no bias).
  NB_ARG(bool, elementwise_affine) = true;
};

/// Root-mean-square normalization over the trailing normalized_shape dims of each sample
/// (Zhang & Sennrich 2019; PyTorch 2.4's nn.RMSNorm): y = x / sqrt(mean(x^2) + eps) * weight.
/// Unlike LayerNorm no mean is subtracted and there is no bias. Default init: weight ones.
class RMSNorm : public Module {
 public:
  explicit RMSNorm(const RMSNormOptions& options);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  RMSNormOptions options;
  Tensor weight;  ///< when elementwise_affine
};

struct LocalResponseNormOptions {
  LocalResponseNormOptions(int64_t size) : size_(size) {}  // NOLINT: `LocalResponseNorm(5)`
  /// Neighbouring channels in the window.
  NB_ARG(int64_t, size);
  NB_ARG(double, alpha) = 1e-4;
  NB_ARG(double, beta) = 0.75;
  NB_ARG(double, k) = 1.0;
};

/// AlexNet's local response normalization across channels of x [N, C, *]:
/// y = x / (k + alpha * avg(x^2 over `size` neighbouring channels))^beta (PyTorch's formula, which
/// averages where the AlexNet paper sums: alpha here is the paper's alpha times size).
class LocalResponseNorm : public Module {
 public:
  explicit LocalResponseNorm(const LocalResponseNormOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  LocalResponseNormOptions options;
};

}  // namespace nabla::nn
