// Activations composed from other ops (gradients come from the composition). The kernel-backed
// ones (relu, sigmoid, tanh, silu, mish, gelu, softplus, hardsigmoid, hardswish, hardtanh, relu6,
// selu, celu, softsign, logsigmoid, tanhshrink, softshrink, hardshrink, threshold) live in
// elementwise.cpp.
#include <cmath>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

Tensor prelu(const Tensor& x, const Tensor& weight) {
  if (ops::AutocastRegion ac(ops::autocast_op::prelu, {&x, &weight}); ac.active())
    return prelu(ac.cast(x), ac.cast(weight));
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

Tensor glu(const Tensor& x, int64_t dim) {
  ops::check_floating(x, "glu");
  NB_CHECK(x.dim() > 0, "[glu] expected a tensor with at least one dimension to halve, got a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "glu");
  const int64_t n = x.size(d);
  NB_CHECK(n % 2 == 0, "[glu] halving dimension must be even, but dimension ", d, " of input ", x.shape(), " has size ",
           n);
  // Two views, no copies: the gradient of each half lands in its slice of x's gradient.
  return x.slice(d, 0, n / 2) * sigmoid(x.slice(d, n / 2, n));
}

Tensor softmin(const Tensor& x, int64_t dim) {
  ops::check_floating(x, "softmin");
  return softmax(-x, wrap_dim(dim, x.dim(), "softmin"));
}

}  // namespace nabla
