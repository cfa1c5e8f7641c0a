// Inverted dropout: the mask comes from the global RNG (so a seed reproduces it) and the
// kept activations are scaled by 1/(1-p), so evaluation needs no rescaling.
#include "op_util.h"

namespace nabla {

namespace {

/// 1 / (1 - p) where a uniform draw is >= p, else 0: a mask of `shape` in x's dtype and device.
/// A 16-bit x draws in f32: draws rounded to bf16 would keep an element with a probability off
/// by up to 2^-10 (the draws in [0.5 - 2^-10, 0.5) round up to 0.5).
Tensor scaled_keep_mask(const Shape& shape, const Tensor& x, double p) {
  NoGradGuard ng;
  Tensor u = rand(shape, {.dtype = is_half(x.dtype()) ? DType::f32 : x.dtype(), .device = x.device()});
  return ge(u, ops::scalar_like(p, u)).to(x.dtype()) * (1.0 / (1.0 - p));
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training) {
  NB_CHECK(p >= 0.0 && p <= 1.0, "[dropout] probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  ops::check_floating(x, "dropout");
  if (p == 1.0) return x * 0.0;
  return x * scaled_keep_mask(x.shape(), x, p);  // mul's VJP gives g * mask
}

namespace {

/// Channel dropout for x of `batched_rank` dims [N, C, ...] (or one fewer, unbatched): one draw
/// per (sample, channel), broadcast over the channel's positions.
Tensor feature_dropout(const Tensor& x, double p, bool training, int64_t batched_rank, const char* op,
                       const char* shapes) {
  NB_CHECK(p >= 0.0 && p <= 1.0, "[", op, "] probability p must be in [0, 1], got ", p);
  NB_CHECK(x.dim() == batched_rank || x.dim() == batched_rank - 1, "[", op, "] expected input ", shapes,
           ", got shape ", x.shape());
  if (!training || p == 0.0) return x;
  ops::check_floating(x, op);
  if (p == 1.0) return x * 0.0;
  const int64_t channel_dims = x.dim() == batched_rank ? 2 : 1;  // [N, C] or [C]
  Shape mask_shape(size_t(x.dim()), 1);
  for (int64_t d = 0; d < channel_dims; ++d) mask_shape[size_t(d)] = x.size(d);
  return x * scaled_keep_mask(mask_shape, x, p);
}

}  // namespace

Tensor dropout1d(const Tensor& x, double p, bool training) {
  return feature_dropout(x, p, training, 3, "dropout1d", "[N, C, L] or [C, L]");
}

Tensor dropout2d(const Tensor& x, double p, bool training) {
  return feature_dropout(x, p, training, 4, "dropout2d", "[N, C, H, W] or [C, H, W]");
}

}  // namespace nabla
