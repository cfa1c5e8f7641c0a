// Automatic mixed precision (PyTorch's torch.autocast): inside an AutocastGuard, the ops on
// PyTorch's autocast lists for the device type of their inputs run as PyTorch runs them there:
// - lower precision (f16 or bf16), both devices: matmul, linear, the convolutions, prelu,
//   scaled_dot_product_attention (and einsum: listed on CUDA, composed of matmuls on the CPU);
// - f32 on CUDA: softmax, log_softmax, logsumexp, sum, cumsum, cumprod, exp, log, log1p, log2,
//   log10, expm1, pow, square, reciprocal, rsqrt, tan, asin, acos, sinh, cosh, softplus,
//   layer/group/RMS norm, norm, cosine_similarity, pairwise_distance, interpolate; the CPU runs
//   these in their inputs' dtype;
// - f32 on both: the losses, prod, cdist, local_response_norm; on the CPU also trace and the
//   reflect/replicate pads;
// - CUDA refuses binary_cross_entropy (use binary_cross_entropy_with_logits), as PyTorch does;
//   the CPU runs it in f32;
// - widest input dtype on CUDA: tensordot, bilinear, cross, scatter_add (cat, stack, atan2,
//   addcmul, addcdiv promote so by themselves).
// Every other op runs in the dtype of its inputs, promoted as usual. Parameters stay f32; their
// gradients come back in f32 through the casts. src/ops/autocast.h holds the lists, with the
// PyTorch version they follow and how LibTorch 1.13's differ.
//
//   nabla::AutocastGuard ac({.device_type = nabla::DeviceType::cuda});  // f16 on the GPU
//   Tensor loss = cross_entropy(model(x), y);  // linear layers in f16, the loss in f32
//   ...                                         // leave the region before backward()
//
// The guard is per thread and per device type (cpu: bf16 by default, cuda: f16), and nests.
// Backward passes run with autocast suspended, so a gradient keeps its forward's dtype.
#pragma once
#include <optional>

#include "nabla/tensor.h"

namespace nabla {

struct AutocastOptions {
  DeviceType device_type = DeviceType::cpu;
  /// The 16-bit dtype (f16 or bf16); unset: bf16 on the CPU, f16 on CUDA (PyTorch's defaults).
  std::optional<DType> dtype = std::nullopt;
  bool enabled = true;
  /// Reuse each parameter's 16-bit copy (a leaf that requires grad) until the outermost region
  /// ends, as PyTorch does: a weight used at every step of a sequence is cast once.
  bool cache_enabled = true;
};

/// Enables (or, with enabled = false, disables) autocast for one device type until destroyed.
class AutocastGuard {
 public:
  explicit AutocastGuard(const AutocastOptions& opts = {});
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_;
  bool prev_enabled_, prev_cache_;
  DType prev_dtype_;
};

bool is_autocast_enabled(DeviceType device_type);
/// The 16-bit dtype autocast uses on `device_type` (its default when no guard set one).
DType autocast_dtype(DeviceType device_type);
/// Drops the cached parameter casts (done when the outermost region ends).
void clear_autocast_cache();

namespace autocast_detail {
/// Whether an op entered now should apply autocast on `device_type`: enabled there and not
/// inside an autocast op or a backward pass.
bool applies(DeviceType device_type);
bool cache_enabled(DeviceType device_type);
/// While alive, ops run as written (their own sub-ops are not cast again; VJPs keep dtypes).
class Suspend {
 public:
  Suspend();
  ~Suspend();
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;
};
/// What autocast does on each device type at one moment (for activation checkpointing, whose
/// recomputation inside the backward pass must cast as the forward did).
struct Snapshot {
  bool cpu_enabled = false, cuda_enabled = false;
  DType cpu_dtype = DType::bf16, cuda_dtype = DType::f16;
};
Snapshot snapshot();
/// While alive, autocast behaves as in `s` (not suspended); puts everything back after.
class Replay {
 public:
  explicit Replay(const Snapshot& s);
  ~Replay();
  Replay(const Replay&) = delete;
  Replay& operator=(const Replay&) = delete;

 private:
  Snapshot prev_;
  int prev_suspended_;
};
/// The cached cast of `t` to `dtype`, or an undefined tensor (stale when t changed in place).
Tensor cached_cast(const Tensor& t, DType dtype);
void store_cast(const Tensor& t, DType dtype, const Tensor& cast);
}  // namespace autocast_detail

}  // namespace nabla
