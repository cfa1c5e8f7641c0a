// Activations composed from other ops (gradients come from the composition). The kernel-backed
// ones (relu, sigmoid, tanh, silu, mish, gelu, softplus, hardsigmoid, hardswish) live in
// elementwise.cpp.
#include <cmath>

#include "op_util.h"

namespace nabla {

Tensor prelu(const Tensor& x, const Tensor& weight) {
  ops::check_floating(x, "prelu");
  ops::check_same_device(x, weight, "prelu");
  const int64_t channels = x.dim() >= 2 ? x.size(1) : 1;
  NB_CHECK(weight.dim() <= 1 && (weight.numel() == 1 || weight.numel() == channels), "[prelu] weight ", weight.shape(),
           " must hold 1 value or one per channel (", channels, " for input ", x.shape(), ") in at most one dim");
  Tensor w = weight.to(x.dtype());
  if (weight.numel() == 1) {
    w = w.reshape({});
  } else {
    Shape per_channel(size_t(x.dim()), 1);
    per_channel[1] = channels;
    w = w.reshape(per_channel);
  }
  // The slope multiplies only the non-positive part, so an infinite x on the other side gives
  // 0 (not 0 * inf = NaN) to the weight's gradient, and a NaN weight none to a positive x.
  Tensor positive = x > 0.0;
  return where(positive, x, w * where(positive, zeros_like(x), x));
}

}  // namespace nabla
