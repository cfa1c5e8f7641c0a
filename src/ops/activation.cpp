// Activations composed from other ops (gradients come from the composition), plus softplus,
// whose composed form would give the wrong derivative at its threshold. The kernel-backed ones
// (relu, sigmoid, tanh, silu, mish, hardsigmoid, hardswish) live in elementwise.cpp.
#include <cmath>

#include "op_util.h"

namespace nabla {

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  ops::check_floating(x, "gelu");
  if (tanh_approximation) {
    const double k = std::sqrt(2.0 / M_PI);
    return x * 0.5 * (tanh((x + x * x * x * 0.044715) * k) + 1.0);
  }
  return x * 0.5 * (erf(x * M_SQRT1_2) + 1.0);
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  ops::check_floating(x, "softplus");
  NB_CHECK(beta > 0, "[softplus] beta must be positive, got ", beta);
  Tensor out;
  {
    // log(1 + e^{bx}) = max(bx, 0) + log1p(e^{-|bx|}): no overflow for large |x|.
    NoGradGuard ng;
    Tensor bx = x * beta;
    Tensor soft = (relu(bx) + log1p(exp(-abs(bx)))) / beta;
    out = where(bx > threshold, x, soft);
  }
  if (auto node = autograd::record("softplus", {x}, {out})) {
    node->backward_fn = [sx = node->save(x), beta, threshold](const TensorList& g) {
      Tensor xv = sx.get();
      Tensor bx = xv * beta;
      return TensorList{where(bx > threshold, g[0], g[0] * sigmoid(bx))};
    };
  }
  return out;
}

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
