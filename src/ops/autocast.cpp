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
const Tensor& as_ref(const Tensor* t) { return *t; }
const Tensor& as_ref(const Tensor& t) { return t; }
}  // namespace

template <typename Range>
void AutocastRegion::enter(const AutocastOp& op, const Range& inputs) {
  bool floating = false;
  for (const auto& in : inputs) {
    const Tensor& t = as_ref(in);
    if (!t.defined() || !t.is_floating_point()) continue;
    device_ = t.device().type;  // the first floating input decides, as PyTorch's device_type
    floating = true;
    break;
  }
  if (!floating) return;  // integers are never cast
  policy_ = device_ == DeviceType::cpu ? op.cpu : op.cuda;
  if (policy_ == CastPolicy::none || !autocast_detail::applies(device_)) return;
  if (policy_ == CastPolicy::refuse) {
    // PyTorch's advice (binary_cross_entropy_banned in aten/src/ATen/autocast_mode.cpp), in nabla's names.
    const char* dev = device_ == DeviceType::cpu ? "cpu" : "cuda";
    NB_CHECK(false, "[", op.name, "] binary_cross_entropy and nn::BCELoss are unsafe to autocast on ", dev,
             ". Many models use a sigmoid right before the binary cross entropy; in that case combine the two with "
             "binary_cross_entropy_with_logits or nn::BCEWithLogitsLoss, which are safe to autocast (or compute "
             "this loss outside the region: AutocastGuard({.device_type = DeviceType::", dev, ", .enabled = false}))");
  }
  active_ = true;
  target_ = autocast_dtype(device_);
  if (policy_ == CastPolicy::promote) {
    // The widest of the floating inputs on this device type (f64 ignored, as PyTorch's
    // prioritize): f32 if one is f32 or if f16 meets bf16 (PyTorch raises there), else the
    // 16-bit dtype they share.
    bool first = true;
    for (const auto& in : inputs) {
      const Tensor& t = as_ref(in);
      if (!t.defined() || !t.is_floating_point() || t.device().type != device_ || t.dtype() == DType::f64) continue;
      target_ = first ? t.dtype() : (t.dtype() == target_ ? target_ : DType::f32);
      first = false;
    }
  }
  suspend_.emplace();
}

AutocastRegion::AutocastRegion(const AutocastOp& op, std::initializer_list<const Tensor*> inputs) {
  enter(op, inputs);
}
AutocastRegion::AutocastRegion(const AutocastOp& op, const TensorList& inputs) { enter(op, inputs); }

Tensor AutocastRegion::cast(const Tensor& t) const {
  if (!active_ || !t.defined() || !t.is_floating_point() || t.device().type != device_) return t;
  switch (policy_) {
    case CastPolicy::fp32: return is_half(t.dtype()) ? t.to(DType::f32) : t;
    case CastPolicy::lower:
    case CastPolicy::promote: break;
    default: return t;  // as_is
  }
  if (t.dtype() == target_ || t.dtype() == DType::f64) return t;
  if (target_ == DType::f32) return t.to(target_);  // promote to f32: never cached, as PyTorch's cache
  // A parameter used several times in the region (an RNN's weights, a shared embedding) is
  // cast once; only casts that carry autograd history are reused, so a copy made under
  // no_grad never stands in for one that must reach the parameter's gradient.
  const bool cacheable = autocast_detail::cache_enabled(device_) && t.is_leaf() && t.requires_grad() &&
                         is_grad_enabled();
  if (cacheable) {
    if (Tensor c = autocast_detail::cached_cast(t, target_); c.defined() && !graph_freed(c)) return c;
  }
  Tensor c = t.to(target_);
  if (cacheable) autocast_detail::store_cast(t, target_, c);
  return c;
}

TensorList AutocastRegion::cast(const TensorList& ts) const {
  TensorList out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(cast(t));
  return out;
}

}  // namespace nabla::ops
