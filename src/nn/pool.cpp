// Pooling layers (unbatched [C, H, W] inputs get a batch dim for the op and lose it after) and Upsample.
#include "nabla/nn/pool.h"

#include <cmath>

#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {

template <typename F>
Tensor pool_4d(const Module& m, const Tensor& x, F&& op) {
  if (x.dim() != 3 && x.dim() != 4) m.fail("expected input [N, C, H, W] or [C, H, W], got shape ", x.shape());
  if (x.dim() == 4) return op(x);
  return op(x.unsqueeze(0)).squeeze(0);
}

Pool2dOptions pool_options(IntPair kernel, IntPair stride, IntPair padding, bool ceil_mode) {
  Pool2dOptions p;
  p.kernel = kernel;
  p.stride = stride;
  p.padding = padding;
  p.ceil_mode = ceil_mode;
  return p;
}

}  // namespace

Tensor MaxPool2d::forward(const Tensor& x) {
  Pool2dOptions p = pool_options(options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
  return pool_4d(*this, x, [&](const Tensor& t) { return max_pool2d(t, p); });
}

Tensor AvgPool2d::forward(const Tensor& x) {
  Pool2dOptions p = pool_options(options.kernel_size(), options.stride(), options.padding(), options.ceil_mode());
  p.count_include_pad = options.count_include_pad();
  return pool_4d(*this, x, [&](const Tensor& t) { return avg_pool2d(t, p); });
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  Size2 size = options.output_size();
  return pool_4d(*this, x, [&](const Tensor& t) { return adaptive_avg_pool2d(t, size); });
}

Tensor AdaptiveMaxPool2d::forward(const Tensor& x) {
  Size2 size = options.output_size();
  return pool_4d(*this, x, [&](const Tensor& t) { return adaptive_max_pool2d(t, size); });
}

// The 1-D ops take unbatched [C, L] inputs themselves; only the rank is checked here, so the
// error names the layer.
template <typename F>
Tensor pool_3d(const Module& m, const Tensor& x, F&& op) {
  if (x.dim() != 2 && x.dim() != 3) m.fail("expected input [N, C, L] or [C, L], got shape ", x.shape());
  return op(x);
}

Tensor MaxPool1d::forward(const Tensor& x) {
  return pool_3d(*this, x, [&](const Tensor& t) {
    return max_pool1d(t, {.kernel = options.kernel_size(), .stride = options.stride(), .padding = options.padding(),
                          .ceil_mode = options.ceil_mode()});
  });
}

Tensor AvgPool1d::forward(const Tensor& x) {
  return pool_3d(*this, x, [&](const Tensor& t) {
    return avg_pool1d(t, {.kernel = options.kernel_size(), .stride = options.stride(), .padding = options.padding(),
                          .ceil_mode = options.ceil_mode(), .count_include_pad = options.count_include_pad()});
  });
}

Tensor AdaptiveAvgPool1d::forward(const Tensor& x) {
  return pool_3d(*this, x, [&](const Tensor& t) { return adaptive_avg_pool1d(t, options.output_size()); });
}

Tensor AdaptiveMaxPool1d::forward(const Tensor& x) {
  return pool_3d(*this, x, [&](const Tensor& t) { return adaptive_max_pool1d(t, options.output_size()); });
}

Upsample::Upsample(const UpsampleOptions& o) : Module("Upsample"), options(o) {
  if (o.size().has_value() == o.scale_factor().has_value()) fail("give exactly one of size and scale_factor");
  if (o.size() && ((*o.size())[0] < 1 || (*o.size())[1] < 1))
    fail("size (", (*o.size())[0], ", ", (*o.size())[1], ") must be positive");
  if (o.scale_factor())
    for (double f : o.scale_factor()->v)
      if (!(f > 0) || !std::isfinite(f)) fail("scale_factor ", f, " must be positive and finite");
  if (o.align_corners() && o.mode() == InterpolateMode::Nearest)
    fail("align_corners only applies to bilinear mode, not nearest");
}

Tensor Upsample::forward(const Tensor& x) {
  if (x.dim() != 4) fail("expected input [N, C, H, W], got shape ", x.shape());
  InterpolateOptions o;
  o.mode = options.mode();
  o.align_corners = options.align_corners();
  if (options.size()) o.size = Size2(*options.size());
  if (options.scale_factor()) o.scale_factor = options.scale_factor()->v;
  return interpolate(x, o);
}

// ---- printing -------------------------------------------------------------------------------

std::string MaxPool2d::extra_repr() const {
  using detail::pair_str;
  IntPair stride = options.stride() == IntPair(0) ? options.kernel_size() : options.stride();
  return "kernel_size=" + pair_str(options.kernel_size()) + ", stride=" + pair_str(stride) +
         ", padding=" + pair_str(options.padding()) + ", ceil_mode=" + detail::bool_str(options.ceil_mode());
}

std::string AvgPool2d::extra_repr() const {
  using detail::pair_str;
  IntPair stride = options.stride() == IntPair(0) ? options.kernel_size() : options.stride();
  return "kernel_size=" + pair_str(options.kernel_size()) + ", stride=" + pair_str(stride) +
         ", padding=" + pair_str(options.padding());
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + detail::pair_str(options.output_size()); }
std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + detail::pair_str(options.output_size()); }

std::string MaxPool1d::extra_repr() const {
  const int64_t stride = options.stride() == 0 ? options.kernel_size() : options.stride();
  return "kernel_size=" + std::to_string(options.kernel_size()) + ", stride=" + std::to_string(stride) +
         ", padding=" + std::to_string(options.padding()) + ", ceil_mode=" + detail::bool_str(options.ceil_mode());
}

std::string AvgPool1d::extra_repr() const {
  const int64_t stride = options.stride() == 0 ? options.kernel_size() : options.stride();
  return "kernel_size=" + std::to_string(options.kernel_size()) + ", stride=" + std::to_string(stride) +
         ", padding=" + std::to_string(options.padding());
}

std::string AdaptiveAvgPool1d::extra_repr() const { return "output_size=" + std::to_string(options.output_size()); }
std::string AdaptiveMaxPool1d::extra_repr() const { return "output_size=" + std::to_string(options.output_size()); }

std::string Upsample::extra_repr() const {
  std::string s = options.size() ? "size=" + detail::pair_str(*options.size())
                                 : "scale_factor=(" + detail::num_str(options.scale_factor()->v[0]) + ", " +
                                       detail::num_str(options.scale_factor()->v[1]) + ")";
  s += options.mode() == InterpolateMode::Nearest ? ", mode='nearest'" : ", mode='bilinear'";
  if (options.align_corners()) s += ", align_corners=true";
  return s;
}

}  // namespace nabla::nn
