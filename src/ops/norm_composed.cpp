// rms_norm and local_response_norm, composed from element-wise ops, reductions, pad and
// avg_pool2d: no kernels of their own, VJPs (to any order) from the ops they are made of.
#include <limits>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, std::optional<double> eps) {
  if (ops::AutocastRegion ac(ops::autocast_op::layer_norm, {&x, &weight}); ac.active())
    return rms_norm(ac.cast(x), normalized_shape, ac.cast(weight), eps);
  ops::check_normalized_shape(x, normalized_shape, weight, Tensor(), "rms_norm");
  if (weight.defined()) ops::check_same_device(x, weight, "rms_norm");
  // PyTorch's default: the machine epsilon of the dtype the statistics are computed in.
  const double e = eps ? *eps
                       : x.dtype() == DType::f64 ? std::numeric_limits<double>::epsilon()
                                                 : double(std::numeric_limits<float>::epsilon());
  NB_CHECK(e >= 0, "[rms_norm] eps must be non-negative, got ", e);
  Shape dims;
  for (int64_t d = x.dim() - int64_t(normalized_shape.size()); d < x.dim(); ++d) dims.push_back(d);
  Tensor y = x * rsqrt(mean(square(x), dims, true) + e);
  return weight.defined() ? y * weight : y;
}

Tensor local_response_norm(const Tensor& x, int64_t size, double alpha, double beta, double k) {
  const ops::AutocastOp& list =
      x.dim() >= 4 ? ops::autocast_op::local_response_norm : ops::autocast_op::local_response_norm_3d;
  if (ops::AutocastRegion ac(list, {&x}); ac.active()) return local_response_norm(ac.cast(x), size, alpha, beta, k);
  ops::check_floating(x, "local_response_norm");
  NB_CHECK(x.dim() >= 3, "[local_response_norm] expected input [N, C, *] (at least 3 dims), got shape ", x.shape());
  NB_CHECK(size > 0, "[local_response_norm] size must be positive, got ", size);
  if (x.numel() == 0) return x;
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  // The window average across channels, as PyTorch computes it: x^2 as a one-channel image
  // [N, 1, C, S], zero-padded by size/2 channels before and (size-1)/2 after, average-pooled
  // with a (size, 1) window (the padded zeros count).
  Tensor sq = pad(square(x).reshape({N, 1, C, S}), {0, 0, size / 2, (size - 1) / 2});
  Tensor avg = avg_pool2d(sq, {.kernel = {size, 1}, .stride = {1, 1}}).reshape(x.shape());
  return x / pow(avg * alpha + k, beta);
}

}  // namespace nabla
