// Activations composed from other ops (gradients come from the composition), plus
// softplus, whose composed form would give the wrong derivative at exactly 0.
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

}  // namespace nabla
