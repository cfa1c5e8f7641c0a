// Activations composed from other ops (gradients come from the composition), plus softplus,
// hardsigmoid and hardswish, whose composed forms would differ from PyTorch's derivative at the
// kinks (0 for softplus's threshold, +-3 for the hard ones).
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

Tensor silu(const Tensor& x) {
  ops::check_floating(x, "silu");
  return x * sigmoid(x);
}

Tensor mish(const Tensor& x) {
  ops::check_floating(x, "mish");
  return x * tanh(softplus(x));
}

Tensor hardsigmoid(const Tensor& x) {
  ops::check_floating(x, "hardsigmoid");
  Tensor out;
  {
    NoGradGuard ng;
    out = clamp(x / 6.0 + 0.5, 0.0, 1.0);
  }
  if (auto node = autograd::record("hardsigmoid", {x}, {out})) {
    node->backward_fn = [sx = node->save(x)](const TensorList& g) {
      Tensor xv = sx.get();
      return TensorList{where(abs(xv) < 3.0, g[0] / 6.0, zeros_like(g[0]))};  // open interval, as PyTorch
    };
  }
  return out;
}

Tensor hardswish(const Tensor& x) {
  ops::check_floating(x, "hardswish");
  Tensor out;
  {
    NoGradGuard ng;
    out = x * clamp(x + 3.0, 0.0, 6.0) / 6.0;
  }
  if (auto node = autograd::record("hardswish", {x}, {out})) {
    node->backward_fn = [sx = node->save(x)](const TensorList& g) {
      Tensor xv = sx.get();
      Tensor inside = g[0] * (xv / 3.0 + 0.5);  // closed interval [-3, 3], as PyTorch
      return TensorList{where(xv < -3.0, zeros_like(g[0]), where(xv > 3.0, g[0], inside))};
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
