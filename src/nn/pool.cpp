// Pooling layers; unbatched [C, H, W] inputs get a batch dim for the op and lose it after.
#include "nabla/nn/pool.h"

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

}  // namespace nabla::nn
