// AutocastRegion (autocast.h): decides at an op's entry whether autocast applies and casts.
#include "autocast.h"

#include "nabla/autograd.h"

namespace nabla::ops {

namespace {
/// Whether a backward without retain_graph ran through the cast `c` (a gradient accumulated over
/// several backward passes in one region): its values are still right, but its graph is freed.
bool graph_freed(const Tensor& c) {
  const auto* node = dynamic_cast<const autograd::FunctionNode*>(c.grad_fn().get());
  return node != nullptr && node->released();
}
}  // namespace

AutocastRegion::AutocastRegion(CastPolicy policy, std::initializer_list<const Tensor*> inputs) : policy_(policy) {
  for (const Tensor* t : inputs) {
    if (!t->defined() || !t->is_floating_point()) continue;
    device_ = t->device().type;  // the first floating input decides, as PyTorch's device_type
    active_ = autocast_detail::applies(device_);
    break;
  }
  if (!active_) return;
  lower_ = autocast_dtype(device_);
  suspend_.emplace();
}

Tensor AutocastRegion::cast(const Tensor& t) const {
  if (!active_ || !t.defined() || !t.is_floating_point() || t.device().type != device_) return t;
  if (policy_ == CastPolicy::fp32) return is_half(t.dtype()) ? t.to(DType::f32) : t;
  if (t.dtype() == lower_ || t.dtype() == DType::f64) return t;
  // A parameter used several times in the region (an RNN's weights, a shared embedding) is
  // cast once; only casts that carry autograd history are reused, so a copy made under
  // no_grad never stands in for one that must reach the parameter's gradient.
  const bool cacheable = autocast_detail::cache_enabled(device_) && t.is_leaf() && t.requires_grad() &&
                         is_grad_enabled();
  if (cacheable) {
    if (Tensor c = autocast_detail::cached_cast(t, lower_); c.defined() && !graph_freed(c)) return c;
  }
  Tensor c = t.to(lower_);
  if (cacheable) autocast_detail::store_cast(t, lower_, c);
  return c;
}

TensorList AutocastRegion::cast(const TensorList& ts) const {
  TensorList out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(cast(t));
  return out;
}

}  // namespace nabla::ops
