// Autocast at an op's entry (nabla/autocast.h). An op on one of autocast's lists starts with
//
//   if (AutocastRegion ac(CastPolicy::lower, {&x, &weight, &bias}); ac.active())
//     return linear(ac.cast(x), ac.cast(weight), ac.cast(bias));
//
// When autocast is on for the device of the op's floating inputs, the op calls itself again
// with the inputs cast per its policy, and autocast stays suspended inside that call, so the
// op's own sub-ops and its VJP run in the dtypes they are given (PyTorch's dispatcher does the
// same by excluding its autocast key below the op).
#pragma once
#include <initializer_list>

#include "nabla/autocast.h"

namespace nabla::ops {

enum class CastPolicy {
  lower,  ///< floating inputs (not f64, as PyTorch) to autocast's 16-bit dtype: GEMM-like ops
  fp32,   ///< 16-bit inputs to f32: ops that need float's range or precision
};

class AutocastRegion {
 public:
  AutocastRegion(CastPolicy policy, std::initializer_list<const Tensor*> inputs);
  bool active() const { return active_; }
  /// `t` per the policy (unchanged when undefined, integral, on another device type or already
  /// in the target dtype).
  Tensor cast(const Tensor& t) const;
  TensorList cast(const TensorList& ts) const;

 private:
  CastPolicy policy_;
  bool active_ = false;
  DeviceType device_ = DeviceType::cpu;
  DType lower_ = DType::bf16;
  std::optional<autocast_detail::Suspend> suspend_;
};

/// An options struct with its tensor members (weight, pos_weight, attn_mask) cast as the op's
/// inputs are.
template <typename Options>
Options cast_options(const AutocastRegion& ac, Options o) {
  if constexpr (requires { o.weight; }) o.weight = ac.cast(o.weight);
  if constexpr (requires { o.pos_weight; }) o.pos_weight = ac.cast(o.pos_weight);
  if constexpr (requires { o.attn_mask; }) o.attn_mask = ac.cast(o.attn_mask);
  return o;
}

}  // namespace nabla::ops
