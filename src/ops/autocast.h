// Autocast at an op's entry (nabla/autocast.h). An op on autocast's lists starts with
//
//   if (AutocastRegion ac(autocast_op::linear, {&x, &weight, &bias}); ac.active())
//     return linear(ac.cast(x), ac.cast(weight), ac.cast(bias));
//
// The op's entry in the lists below names its policy on each device type; the device type of the
// op's first floating input picks which one applies. When autocast is on for that device type
// and the op is on its list there, the op calls itself again with the inputs cast per the policy,
// and autocast stays suspended inside that call, so the op's own sub-ops and its VJP run in the
// dtypes they are given (PyTorch's dispatcher does the same by excluding its autocast key below
// the op).
#pragma once
#include <initializer_list>

#include "nabla/autocast.h"

namespace nabla::ops {

enum class CastPolicy {
  none,     ///< not on this device type's lists: runs as written; the ops it is composed of cast as
            ///< theirs say (as PyTorch's composite ops, whose parts autocast sees one by one)
  as_is,    ///< not on the lists, but one kernel in PyTorch: runs in its inputs' dtypes, and its
            ///< parts here (a sum, a matmul) are not cast on their own
  lower,    ///< floating inputs (not f64, as PyTorch) to autocast's 16-bit dtype: GEMM-like ops
  fp32,     ///< 16-bit inputs to f32: ops that need float's range or precision
  promote,  ///< floating inputs to the widest among them: f32 when one is f32, else the 16-bit dtype
  refuse,   ///< an error: the op is unsafe to autocast (binary_cross_entropy on CUDA)
};

/// One op's place on PyTorch's autocast lists, per device type.
struct AutocastOp {
  const char* name;
  CastPolicy cpu, cuda;
};

// PyTorch's lists (aten/src/ATen/autocast_mode.h AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32,
// AT_FORALL_FP32_SET_OPT_DTYPE, AT_FORALL_PROMOTE for CUDA; autocast_mode.cpp's AutocastCPU block
// for the CPU), as of PyTorch 2.x after rms_norm and the upsample ops joined CUDA's f32 list, for
// the ops nabla has. The two devices differ on purpose: the CPU's f32 list holds the losses, prod,
// cdist, trace and the reflection/replication pads, but not softmax, exp/log, pow, the norms or
// the reductions, which run in bf16 there.
//
// Differences from LibTorch 1.13 (which bench/ compares against), seen by running its CPU
// autocast and listing its Autocast/AutocastCPU kernels: its CPU lists have no prelu (f32 in,
// f32 out) and no scaled_dot_product_attention (it had no such op), and put conv_transpose1d/2d
// on the f32 list (2.x moved them to lower precision); its CUDA lists have no rms_norm, no
// upsample (interpolate) and no scaled_dot_product_attention. The other entries below agree.
namespace autocast_op {
using enum CastPolicy;
// Lower precision on both devices (CPU: conv*, bmm/mm/matmul, baddbmm/addmm/addbmm, linear,
// conv_transpose*, prelu, scaled_dot_product_attention; CUDA adds einsum, mv, addmv, addr,
// chain_matmul, the RNN cells).
inline constexpr AutocastOp matmul{"matmul", lower, lower};
inline constexpr AutocastOp linear{"linear", lower, lower};  // also linear_relu (CPU: _addmm_activation)
inline constexpr AutocastOp conv{"conv", lower, lower};      // conv1d/2d, conv_transpose1d/2d
inline constexpr AutocastOp prelu{"prelu", lower, lower};
inline constexpr AutocastOp attention{"scaled_dot_product_attention", lower, lower};
// einsum: on CUDA's list; on the CPU it is composite and its bmm casts (here: its matmuls).
inline constexpr AutocastOp einsum{"einsum", none, lower};

// f32 on CUDA only: the CPU runs these in their inputs' dtype.
inline constexpr AutocastOp unary_fp32{"exp/log", none, fp32};  // acos asin cosh exp expm1 log log10
                                                            // log2 log1p reciprocal rsqrt sinh tan
inline constexpr AutocastOp pow{"pow", none, fp32};  // pow, square (PyTorch's is pow(x, 2))
inline constexpr AutocastOp softplus{"softplus", none, fp32};
inline constexpr AutocastOp softmax{"softmax", none, fp32};  // softmax, log_softmax (fp32_set_opt_dtype)
inline constexpr AutocastOp logsumexp{"logsumexp", none, fp32};
inline constexpr AutocastOp sum{"sum", none, fp32};         // sum, cumsum, cumprod (fp32_set_opt_dtype)
inline constexpr AutocastOp layer_norm{"layer_norm", none, fp32};  // layer_norm, group_norm, rms_norm
inline constexpr AutocastOp norm{"norm", none, fp32};
inline constexpr AutocastOp cosine_similarity{"cosine_similarity", none, fp32};
inline constexpr AutocastOp interpolate{"interpolate", none, fp32};  // upsample_nearest2d/bilinear2d
// Composite in PyTorch; on CUDA their parts are on the f32 list (norm; log and pow; sum), on the
// CPU none is, so there they keep bf16.
inline constexpr AutocastOp pairwise_distance{"pairwise_distance", none, fp32};
inline constexpr AutocastOp gaussian_nll_loss{"gaussian_nll_loss", none, fp32};
inline constexpr AutocastOp multilabel_soft_margin_loss{"multilabel_soft_margin_loss", none, fp32};

// f32 on both devices.
inline constexpr AutocastOp loss{"loss", fp32, fp32};  // nll, cross_entropy, mse, l1, smooth_l1, huber,
                                                       // kl_div, bce_with_logits, poisson_nll, margin
                                                       // ranking, hinge/cosine embedding, soft margin,
                                                       // multi margin, triplet margin
inline constexpr AutocastOp prod{"prod", fp32, fp32};
inline constexpr AutocastOp cdist{"cdist", fp32, fp32};
// Composite in PyTorch: pow (CUDA list) makes it f32 on CUDA; on the CPU, inputs of 4 or more
// dims go through avg_pool3d (CPU list, f32), 3-d ones through avg_pool2d (on no list).
inline constexpr AutocastOp local_response_norm{"local_response_norm", fp32, fp32};
inline constexpr AutocastOp local_response_norm_3d{"local_response_norm", none, fp32};

// f32 on the CPU only. trace is one kernel on CUDA (here a sum, which CUDA's list would cast).
inline constexpr AutocastOp trace{"trace", fp32, as_is};
inline constexpr AutocastOp reflection_pad{"pad", fp32, none};  // reflect and replicate modes

// PyTorch's CPU f32 list has binary_cross_entropy; CUDA's autocast refuses it.
inline constexpr AutocastOp binary_cross_entropy{"binary_cross_entropy", fp32, refuse};

// CUDA's promote list, for the ops here that do not promote alike by themselves: scatter_add
// would round src to the input's dtype; cross would add its gradient's two terms in 16 bits.
// (atan2, addcmul, addcdiv and the CPU's cat and stack promote here as PyTorch's autocast
// would, outputs and gradients.) On the CPU, tensordot is composite (its mm casts); bilinear is
// one kernel.
inline constexpr AutocastOp tensordot{"tensordot", none, promote};
inline constexpr AutocastOp bilinear{"bilinear", as_is, promote};
inline constexpr AutocastOp cross{"cross", none, promote};
inline constexpr AutocastOp scatter_add{"scatter_add", none, promote};

// On no list, one kernel each in PyTorch; composed here of ops on CUDA's f32 list (exp and log;
// sum), which must not cast on their own.
inline constexpr AutocastOp logcumsumexp{"logcumsumexp", none, as_is};
inline constexpr AutocastOp instance_norm{"instance_norm", none, as_is};
}  // namespace autocast_op

class AutocastRegion {
 public:
  AutocastRegion(const AutocastOp& op, std::initializer_list<const Tensor*> inputs);
  AutocastRegion(const AutocastOp& op, const TensorList& inputs);
  bool active() const { return active_; }
  /// `t` per the policy (unchanged when undefined, integral, on another device type or already
  /// in the target dtype).
  Tensor cast(const Tensor& t) const;
  TensorList cast(const TensorList& ts) const;

 private:
  template <typename Range>
  void enter(const AutocastOp& op, const Range& inputs);

  CastPolicy policy_ = CastPolicy::none;
  bool active_ = false;
  DeviceType device_ = DeviceType::cpu;
  DType target_ = DType::bf16;  // lower and promote: the dtype floating inputs are cast to
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
