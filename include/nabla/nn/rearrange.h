// Layers that only move elements: PixelShuffle, PixelUnshuffle, ChannelShuffle, Unfold and Fold
// (over the functional ops of the same names; no parameters).
#pragma once
#include "nabla/nn/module.h"

namespace nabla::nn {

/// [*, C r^2, H, W] -> [*, C, H r, W r] (sub-pixel convolution's upsampling, Shi et al. 2016).
class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t upscale_factor;
};

/// [*, C, H r, W r] -> [*, C r^2, H, W], the inverse of PixelShuffle.
class PixelUnshuffle : public Module {
 public:
  explicit PixelUnshuffle(int64_t downscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t downscale_factor;
};

/// ShuffleNet's channel shuffle of x [N, C, *]: channels seen as [groups, C/groups] are transposed,
/// so the next grouped convolution sees channels from every group.
class ChannelShuffle : public Module {
 public:
  explicit ChannelShuffle(int64_t groups);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t groups;
};

struct UnfoldOptions {
  UnfoldOptions(IntPair kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: `Unfold(3)`
  NB_ARG(IntPair, kernel_size);
  NB_ARG(IntPair, dilation) = 1;
  NB_ARG(IntPair, padding) = 0;
  NB_ARG(IntPair, stride) = 1;
};

/// im2col: the kernel_size blocks of x [N, C, H, W] (or [C, H, W]) as columns [N, C kh kw, L].
class Unfold : public Module {
 public:
  explicit Unfold(const UnfoldOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  UnfoldOptions options;
};

struct FoldOptions {
  FoldOptions(IntPair output_size, IntPair kernel_size) : output_size_(output_size), kernel_size_(kernel_size) {}
  NB_ARG(IntPair, output_size);
  NB_ARG(IntPair, kernel_size);
  NB_ARG(IntPair, dilation) = 1;
  NB_ARG(IntPair, padding) = 0;
  NB_ARG(IntPair, stride) = 1;
};

/// col2im: sums columns [N, C kh kw, L] (or [C kh kw, L]) into an image [N, C, output_size],
/// overlapping blocks adding up (the adjoint of Unfold).
class Fold : public Module {
 public:
  explicit Fold(const FoldOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  FoldOptions options;
};

}  // namespace nabla::nn
