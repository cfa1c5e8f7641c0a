// PixelShuffle, PixelUnshuffle, ChannelShuffle, Unfold and Fold over the functional ops.
#include "nabla/nn/rearrange.h"

#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {

/// "2" when both entries are equal, else "(2, 3)" (PyTorch prints what it was given; an IntPair
/// no longer knows, so the shorter form is used when it says the same).
std::string int_or_pair(const IntPair& p) { return p[0] == p[1] ? std::to_string(p[0]) : detail::pair_str(p); }

/// The functional options of Unfold's and Fold's settings.
template <typename Opts>
nabla::FoldOptions fold_options(const Opts& o) {
  return {.dilation = o.dilation(), .padding = o.padding(), .stride = o.stride()};
}

/// Checked at construction, so a bad layer fails where it is built (a model spec names its line).
template <typename Opts>
void check_fold_options(const Module& m, const Opts& o) {
  for (size_t i = 0; i < 2; ++i)
    if (o.kernel_size()[i] <= 0 || o.dilation()[i] <= 0 || o.stride()[i] <= 0 || o.padding()[i] < 0)
      m.fail("kernel_size, dilation and stride must be positive and padding non-negative, got kernel_size ",
             detail::pair_str(o.kernel_size()), ", dilation ", detail::pair_str(o.dilation()), ", padding ",
             detail::pair_str(o.padding()), ", stride ", detail::pair_str(o.stride()));
}

template <typename Opts>
std::string fold_repr(const Opts& o) {
  return "kernel_size=" + int_or_pair(o.kernel_size()) + ", dilation=" + int_or_pair(o.dilation()) +
         ", padding=" + int_or_pair(o.padding()) + ", stride=" + int_or_pair(o.stride());
}

}  // namespace

PixelShuffle::PixelShuffle(int64_t r) : Module("PixelShuffle"), upscale_factor(r) {
  if (r <= 0) fail("upscale_factor must be positive, got ", r);
}
Tensor PixelShuffle::forward(const Tensor& x) { return pixel_shuffle(x, upscale_factor); }
std::string PixelShuffle::extra_repr() const { return "upscale_factor=" + std::to_string(upscale_factor); }

PixelUnshuffle::PixelUnshuffle(int64_t r) : Module("PixelUnshuffle"), downscale_factor(r) {
  if (r <= 0) fail("downscale_factor must be positive, got ", r);
}
Tensor PixelUnshuffle::forward(const Tensor& x) { return pixel_unshuffle(x, downscale_factor); }
std::string PixelUnshuffle::extra_repr() const { return "downscale_factor=" + std::to_string(downscale_factor); }

ChannelShuffle::ChannelShuffle(int64_t g) : Module("ChannelShuffle"), groups(g) {
  if (g <= 0) fail("groups must be positive, got ", g);
}
Tensor ChannelShuffle::forward(const Tensor& x) { return channel_shuffle(x, groups); }
std::string ChannelShuffle::extra_repr() const { return "groups=" + std::to_string(groups); }

Unfold::Unfold(const UnfoldOptions& o) : Module("Unfold"), options(o) { check_fold_options(*this, o); }
Tensor Unfold::forward(const Tensor& x) { return unfold(x, options.kernel_size(), fold_options(options)); }
std::string Unfold::extra_repr() const { return fold_repr(options); }

Fold::Fold(const FoldOptions& o) : Module("Fold"), options(o) {
  check_fold_options(*this, o);
  if (o.output_size()[0] <= 0 || o.output_size()[1] <= 0)
    fail("output_size must be positive, got ", detail::pair_str(o.output_size()));
}
Tensor Fold::forward(const Tensor& x) {
  return fold(x, options.output_size(), options.kernel_size(), fold_options(options));
}
std::string Fold::extra_repr() const { return "output_size=" + int_or_pair(options.output_size()) + ", " + fold_repr(options); }

}  // namespace nabla::nn
