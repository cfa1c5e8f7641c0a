// Inverted dropout: the mask comes from the global RNG (so a seed reproduces it) and the
// kept activations are scaled by 1/(1-p), so evaluation needs no rescaling.
#include "op_util.h"

namespace nabla {

Tensor dropout(const Tensor& x, double p, bool training) {
  NB_CHECK(p >= 0.0 && p <= 1.0, "[dropout] probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  ops::check_floating(x, "dropout");
  if (p == 1.0) return x * 0.0;
  Tensor mask;
  {
    NoGradGuard ng;
    Tensor u = rand(x.shape(), {.dtype = x.dtype(), .device = x.device()});
    mask = ge(u, ops::scalar_like(p, u)).to(x.dtype()) * (1.0 / (1.0 - p));
  }
  return x * mask;  // mul's VJP gives g * mask
}

}  // namespace nabla
