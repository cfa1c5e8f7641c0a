// Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d.
#pragma once
#include "nabla/nn/module.h"

namespace nabla::nn {

/// How Conv2d pads its input: zeros (the default) or by mirroring / repeating the border.
enum class PaddingMode { Zeros, Reflect, Replicate, Circular };

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, IntPair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  NB_ARG(int64_t, in_channels);
  NB_ARG(int64_t, out_channels);
  NB_ARG(IntPair, kernel_size);
  NB_ARG(IntPair, stride) = 1;
  NB_ARG(IntPair, padding) = 0;
  /// Pad so the output has the input's spatial size (PyTorch's padding="same"; stride 1 only).
  NB_ARG(bool, padding_same) = false;
  NB_ARG(IntPair, dilation) = 1;
  NB_ARG(int64_t, groups) = 1;
  NB_ARG(bool, bias) = true;
  NB_ARG(PaddingMode, padding_mode) = PaddingMode::Zeros;
};

/// Cross-correlation of x [N, C_in, H, W] (or unbatched [C_in, H, W]) with weight
/// [C_out, C_in/groups, kH, kW], plus bias [C_out]. Output size per dim:
/// (H + 2 padding - dilation (k - 1) - 1) / stride + 1.
/// Default init (PyTorch's): weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// with fan_in = C_in/groups * kH * kW; bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Conv2dOptions options;
  Tensor weight;
  Tensor bias;

  /// Runs this layer followed by ReLU as one fused op (Sequential does this for a Conv2d directly
  /// followed by a ReLU): same result and gradients, one pass fewer over the output.
  /// A layer with hooks runs unfused, relu((*this)(x)), so its hooks see its own output.
  Tensor forward_relu(const Tensor& x);

 private:
  Tensor run(const Tensor& x, bool fuse_relu);
};

struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(int64_t in_channels, int64_t out_channels, IntPair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  NB_ARG(int64_t, in_channels);
  NB_ARG(int64_t, out_channels);
  NB_ARG(IntPair, kernel_size);
  NB_ARG(IntPair, stride) = 1;
  NB_ARG(IntPair, padding) = 0;
  NB_ARG(IntPair, output_padding) = 0;
  NB_ARG(IntPair, dilation) = 1;
  NB_ARG(int64_t, groups) = 1;
  NB_ARG(bool, bias) = true;
};

/// Transposed convolution (the gradient of Conv2d with respect to its input) of x
/// [N, C_in, H, W] with weight [C_in, C_out/groups, kH, kW]. Output size per dim:
/// (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
/// Default init (PyTorch's): weight kaiming_uniform_(a = sqrt(5)) with PyTorch's fan rule,
/// fan_in = C_out/groups * kH * kW; bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class ConvTranspose2d : public Module {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options);
  Tensor forward(const Tensor& x) override;
  /// PyTorch's forward(input, output_size): the output's spatial size [H, W] (or the whole
  /// [N, C, H, W]) picks the output_padding, which resolves the sizes a strided layer's input could
  /// have come from (a U-Net's decoder matching its encoder). Each size must lie between the
  /// smallest output and that plus stride - 1. The options' output_padding is not used.
  Tensor forward(const Tensor& x, const Shape& output_size);
  void reset_parameters();
  std::string extra_repr() const override;

  ConvTranspose2dOptions options;
  Tensor weight;
  Tensor bias;
};

struct Conv1dOptions {
  Conv1dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  NB_ARG(int64_t, in_channels);
  NB_ARG(int64_t, out_channels);
  NB_ARG(int64_t, kernel_size);
  NB_ARG(int64_t, stride) = 1;
  NB_ARG(int64_t, padding) = 0;
  /// Pad so the output has the input's length (PyTorch's padding="same"; stride 1 only).
  NB_ARG(bool, padding_same) = false;
  NB_ARG(int64_t, dilation) = 1;
  NB_ARG(int64_t, groups) = 1;
  NB_ARG(bool, bias) = true;
  NB_ARG(PaddingMode, padding_mode) = PaddingMode::Zeros;
};

/// Cross-correlation of x [N, C_in, L] (or unbatched [C_in, L]) with weight
/// [C_out, C_in/groups, K], plus bias [C_out], for sequences and signals. Output length
/// (L + 2 padding - dilation (K - 1) - 1) / stride + 1. Runs on Conv2d's kernels (as [N, C, 1, L]).
/// Default init (PyTorch's): weight kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)) with fan_in = C_in/groups * K.
class Conv1d : public Module {
 public:
  explicit Conv1d(const Conv1dOptions& options);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Conv1dOptions options;
  Tensor weight;
  Tensor bias;
};

struct ConvTranspose1dOptions {
  ConvTranspose1dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  NB_ARG(int64_t, in_channels);
  NB_ARG(int64_t, out_channels);
  NB_ARG(int64_t, kernel_size);
  NB_ARG(int64_t, stride) = 1;
  NB_ARG(int64_t, padding) = 0;
  NB_ARG(int64_t, output_padding) = 0;
  NB_ARG(int64_t, dilation) = 1;
  NB_ARG(int64_t, groups) = 1;
  NB_ARG(bool, bias) = true;
};

/// Transposed 1-D convolution (the gradient of Conv1d with respect to its input) of x
/// [N, C_in, L] (or [C_in, L]) with weight [C_in, C_out/groups, K], plus bias [C_out]: a decoder's
/// or vocoder's upsampling layer. Output length (L - 1) stride - 2 padding + dilation (K - 1) +
/// output_padding + 1. Runs on ConvTranspose2d's kernels (as [N, C, 1, L]).
/// Default init (PyTorch's): weight kaiming_uniform_(a = sqrt(5)) with fan_in = C_out/groups * K
/// (PyTorch's fan rule reads weight.size(1)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class ConvTranspose1d : public Module {
 public:
  explicit ConvTranspose1d(const ConvTranspose1dOptions& options);
  Tensor forward(const Tensor& x) override;
  /// As ConvTranspose2d's: output_size is [L] (or [N, C, L], or [C, L] for an unbatched input).
  Tensor forward(const Tensor& x, const Shape& output_size);
  void reset_parameters();
  std::string extra_repr() const override;

  ConvTranspose1dOptions options;
  Tensor weight;
  Tensor bias;
};

}  // namespace nabla::nn
