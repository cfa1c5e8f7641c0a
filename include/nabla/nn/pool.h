// Pooling layers over x [N, C, H, W] (or unbatched [C, H, W]) and x [N, C, L] (or [C, L]), and Upsample.
#pragma once
#include <array>
#include <optional>

#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

struct MaxPool2dOptions {
  MaxPool2dOptions(IntPair kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: `MaxPool2d(2)`
  NB_ARG(IntPair, kernel_size);
  /// 0 = kernel_size (PyTorch's default stride=None).
  NB_ARG(IntPair, stride) = 0;
  NB_ARG(IntPair, padding) = 0;
  NB_ARG(bool, ceil_mode) = false;
};

/// Maximum over each kernel window.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options) : Module("MaxPool2d"), options(options) {}
  explicit MaxPool2d(IntPair kernel_size) : MaxPool2d(MaxPool2dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  MaxPool2dOptions options;
};

struct AvgPool2dOptions {
  AvgPool2dOptions(IntPair kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: `AvgPool2d(2)`
  NB_ARG(IntPair, kernel_size);
  /// 0 = kernel_size (PyTorch's default stride=None).
  NB_ARG(IntPair, stride) = 0;
  NB_ARG(IntPair, padding) = 0;
  NB_ARG(bool, ceil_mode) = false;
  /// Padded zeros count in the average's denominator.
  NB_ARG(bool, count_include_pad) = true;
};

/// Mean over each kernel window.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options) : Module("AvgPool2d"), options(options) {}
  explicit AvgPool2d(IntPair kernel_size) : AvgPool2d(AvgPool2dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AvgPool2dOptions options;
};

struct AdaptiveAvgPool2dOptions {
  AdaptiveAvgPool2dOptions(IntPair output_size) : output_size_(output_size) {}  // NOLINT
  NB_ARG(IntPair, output_size);
};

/// Averages to a fixed output size: output (i, j) averages rows floor(i H / oh) .. ceil((i+1) H / oh)
/// and likewise for columns, whatever the input size.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options)
      : Module("AdaptiveAvgPool2d"), options(options) {}
  explicit AdaptiveAvgPool2d(IntPair output_size) : AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions(output_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AdaptiveAvgPool2dOptions options;
};

/// Max to a fixed output size, over the same windows as AdaptiveAvgPool2d.
class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(const AdaptiveAvgPool2dOptions& options)
      : Module("AdaptiveMaxPool2d"), options(options) {}
  explicit AdaptiveMaxPool2d(IntPair output_size) : AdaptiveMaxPool2d(AdaptiveAvgPool2dOptions(output_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AdaptiveAvgPool2dOptions options;
};

struct MaxPool1dOptions {
  MaxPool1dOptions(int64_t kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: `MaxPool1d(2)`
  NB_ARG(int64_t, kernel_size);
  /// 0 = kernel_size (PyTorch's default stride=None).
  NB_ARG(int64_t, stride) = 0;
  NB_ARG(int64_t, padding) = 0;
  NB_ARG(bool, ceil_mode) = false;
};

/// Maximum over each kernel window of x [N, C, L] or [C, L].
class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(const MaxPool1dOptions& options) : Module("MaxPool1d"), options(options) {}
  explicit MaxPool1d(int64_t kernel_size) : MaxPool1d(MaxPool1dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  MaxPool1dOptions options;
};

struct AvgPool1dOptions {
  AvgPool1dOptions(int64_t kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: `AvgPool1d(2)`
  NB_ARG(int64_t, kernel_size);
  /// 0 = kernel_size (PyTorch's default stride=None).
  NB_ARG(int64_t, stride) = 0;
  NB_ARG(int64_t, padding) = 0;
  NB_ARG(bool, ceil_mode) = false;
  /// Padded zeros count in the average's denominator.
  NB_ARG(bool, count_include_pad) = true;
};

/// Mean over each kernel window of x [N, C, L] or [C, L].
class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(const AvgPool1dOptions& options) : Module("AvgPool1d"), options(options) {}
  explicit AvgPool1d(int64_t kernel_size) : AvgPool1d(AvgPool1dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AvgPool1dOptions options;
};

struct AdaptiveAvgPool1dOptions {
  AdaptiveAvgPool1dOptions(int64_t output_size) : output_size_(output_size) {}  // NOLINT
  NB_ARG(int64_t, output_size);
};

/// Averages x [N, C, L] or [C, L] to a fixed length: output i averages floor(i L / out) ..
/// ceil((i+1) L / out), whatever L is.
class AdaptiveAvgPool1d : public Module {
 public:
  explicit AdaptiveAvgPool1d(const AdaptiveAvgPool1dOptions& options)
      : Module("AdaptiveAvgPool1d"), options(options) {}
  explicit AdaptiveAvgPool1d(int64_t output_size) : AdaptiveAvgPool1d(AdaptiveAvgPool1dOptions(output_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AdaptiveAvgPool1dOptions options;
};

/// Max to a fixed length, over the same windows as AdaptiveAvgPool1d.
class AdaptiveMaxPool1d : public Module {
 public:
  explicit AdaptiveMaxPool1d(const AdaptiveAvgPool1dOptions& options)
      : Module("AdaptiveMaxPool1d"), options(options) {}
  explicit AdaptiveMaxPool1d(int64_t output_size) : AdaptiveMaxPool1d(AdaptiveAvgPool1dOptions(output_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AdaptiveAvgPool1dOptions options;
};

/// Upsample's scale: one factor for both spatial dims, or (h, w).
struct ScalePair {
  ScalePair(double s) : v{s, s} {}  // NOLINT: implicit by design, `scale_factor(2)`
  ScalePair(double h, double w) : v{h, w} {}
  std::array<double, 2> v;
};

struct UpsampleOptions {
  /// The output size, or
  NB_ARG(std::optional<IntPair>, size);
  /// the factor the input size is multiplied by (rounded down). Give exactly one.
  NB_ARG(std::optional<ScalePair>, scale_factor);
  NB_ARG(InterpolateMode, mode) = InterpolateMode::Nearest;
  /// Bilinear only: corner pixels' centres map onto each other.
  NB_ARG(bool, align_corners) = false;
};
/// Resizes [N, C, H, W] inputs with interpolate() (a decoder's or U-Net's upsampling step).
class Upsample : public Module {
 public:
  explicit Upsample(const UpsampleOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  UpsampleOptions options;
};

}  // namespace nabla::nn
