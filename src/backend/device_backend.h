// The device interface: one object per device type (CPU, CUDA) with a virtual per kernel.
// ops/ call `backend::get(tensor.device()).kernel(...)`, so an op is written once and runs on
// whichever device its inputs live on. A backend that lacks a kernel inherits the default body,
// which throws "[kernel] has no <device> kernel" instead of crashing.
//
// Pointer conventions: every data pointer handed to a kernel is memory of that backend's device
// (a host pointer for CPU, a device pointer for CUDA), except where a comment says "host".
// Scalar results (all_finite, multi_abs_pow_sum) come back to the host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "adafactor_kernel.h"
#include "backend.h"
#include "batch_norm_stats.h"
#include "class_nll.h"
#include "conv_kernels.h"
#include "index_checks.h"
#include "nabla/allocator.h"
#include "nabla/dtype.h"
#include "optim_kernels.h"

namespace nabla::backend {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType type() const = 0;
  /// Number of devices of this type that can be used now (CPU: 1).
  virtual int device_count() const { return 1; }

  // ---- memory ------------------------------------------------------------------------
  virtual void* allocate(size_t nbytes, int index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int index) = 0;
  virtual MemoryStats memory_stats(int index) const = 0;
  virtual void empty_cache(int index) = 0;
  virtual void reset_peak_memory_stats(int index) = 0;
  /// Byte copies between this device's memory and host memory (blocking for the host).
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes, int index) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes, int index) = 0;
  /// Waits until every queued kernel on the device has finished.
  virtual void synchronize(int /*index*/) {}

  // ---- element-wise (kernels/elementwise_ops.h) -------------------------------------------
  virtual void unary(UnaryOp, DType, Geometry, Operand /*out*/, Operand /*in*/, double /*a*/, double /*b*/) {
    missing("unary");
  }
  virtual void binary(BinaryOp, DType, Geometry, Operand /*out*/, Operand, Operand) { missing("binary"); }
  virtual void compare(CompareOp, DType, Geometry, Operand /*out*/, Operand, Operand) { missing("compare"); }
  virtual void where(DType, Geometry, Operand /*out*/, Operand /*cond*/, Operand, Operand) { missing("where"); }
  virtual void copy(DType /*out_dt*/, DType /*in_dt*/, Geometry, Operand /*out*/, Operand /*in*/) {
    missing("copy");
  }
  virtual void fill(DType, void* /*out*/, int64_t /*n*/, double /*value*/) { missing("fill"); }
  virtual void axpy(DType, int64_t /*n*/, double /*alpha*/, const void* /*x*/, void* /*y*/) { missing("axpy"); }

  // ---- reductions ----------------------------------------------------------------------
  virtual void reduce(ReduceOp, DType, const void*, void*, int64_t /*outer*/, int64_t /*r*/, int64_t /*inner*/) {
    missing("reduce");
  }
  virtual void arg_reduce(bool /*is_max*/, DType, const void*, int64_t*, int64_t, int64_t, int64_t) {
    missing("arg_reduce");
  }
  virtual bool all_finite(DType, const void*, int64_t) { return missing("all_finite"), false; }
  /// Row-wise softmax (log_softmax when `log`) of `rows` contiguous rows of n elements.
  /// Optional: ops compose it from element-wise kernels when a backend does not have it
  /// (has_softmax_rows() false).
  virtual bool has_softmax_rows() const { return false; }
  virtual void softmax_rows(bool /*log*/, DType, const void*, void*, int64_t /*rows*/, int64_t /*n*/) {
    missing("softmax_rows");
  }

  // ---- linear algebra, random numbers, indexing -------------------------------------------------
  virtual void gemm(DType, const GemmArgs&) { missing("gemm"); }
  /// linear's forward: C = op(A)·op(B) + bias (n values added to every row; null for none), then
  /// relu(C) when `relu`; batch 1, alpha 1, beta 0. This default composes it from copy, GEMM
  /// (beta 1) and ReLU in place; a backend overrides it where the bias rides along with the
  /// GEMM (a oneDNN matmul with bias on the CPU, then its own ReLU pass).
  virtual void gemm_bias_relu(DType dt, const GemmArgs& g, const void* bias, bool relu) {
    const int64_t shape[2] = {g.m, g.n}, cs[2] = {g.ldc, 1}, bs[2] = {0, 1};
    GemmArgs a = g;
    if (bias) {
      copy(dt, dt, Geometry{2, shape}, Operand{g.c, cs}, Operand{const_cast<void*>(bias), bs});
      a.beta = 1;
    }
    gemm(dt, a);
    if (relu) unary(UnaryOp::Relu, dt, Geometry{2, shape}, Operand{g.c, cs}, Operand{g.c, cs}, 0, 0);
  }
  virtual void rand_uniform(DType, void*, int64_t, uint64_t /*seed*/, uint64_t /*offset*/, double, double) {
    missing("rand_uniform");
  }
  virtual void rand_normal(DType, void*, int64_t, uint64_t, uint64_t, double, double) { missing("rand_normal"); }
  virtual void rand_int(int64_t*, int64_t, uint64_t, uint64_t, int64_t, int64_t) { missing("rand_int"); }
  /// Checks that the n indices at `index` (memory of device `device` of this type) lie in `range`, and throws
  /// nabla::Error with message(position, value) for the first that does not. This default reads
  /// them back to the host; a device with a queue of kernels checks them there and reports at its
  /// next synchronizing call (index_checks.h). Either way the index kernels below skip indices
  /// out of range (gathers write 0 there), so a bad index never reads or writes out of bounds.
  virtual void check_indices(const int64_t* index, int64_t n, const IndexRange& range,
                             const IndexErrorMessage& message, int device);
  virtual void index_select(DType, const void*, void*, const int64_t*, int64_t, int64_t, int64_t, int64_t) {
    missing("index_select");
  }
  virtual void index_add(DType, void*, const void*, const int64_t*, int64_t, int64_t, int64_t, int64_t) {
    missing("index_add");
  }
  virtual void gather(DType, const void*, void*, const int64_t*, int64_t, int64_t, int64_t, int64_t) {
    missing("gather");
  }
  virtual void scatter_add(DType, void*, const void*, const int64_t*, int64_t, int64_t, int64_t, int64_t) {
    missing("scatter_add");
  }

  // ---- class-target losses (class_nll.h: cross_entropy and nll_loss without class weights) ------
  /// Writes `out` (rows losses for Reduction::None, else one value) and, unless null, `kept` (one
  /// value: how many rows were not ignored), both of a.dtype.
  virtual void class_nll(const ClassNll& /*a*/, void* /*out*/, void* /*kept*/) { missing("class_nll"); }
  /// gx [rows, classes] = the loss's gradient with respect to the logits, from g (rows values for
  /// Reduction::None, else one) and, for Mean, `kept` as class_nll wrote it.
  virtual void class_nll_backward(const ClassNll& /*a*/, const void* /*g*/, const void* /*kept*/, void* /*gx*/) {
    missing("class_nll_backward");
  }

  // ---- convolution, pooling, normalization (conv_kernels.h) ----------------------------------
  virtual void conv2d_forward(DType, const ConvGeom&, const void*, const void*, const void* /*bias*/, void*) {
    missing("conv2d_forward");
  }
  /// out = relu(conv(x, w) + bias). This default runs the convolution and then ReLU in place;
  /// a backend may override it where the activation can ride along without mapping NaN to 0.
  virtual void conv2d_forward_relu(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias,
                                   void* out) {
    conv2d_forward(dt, g, x, w, bias, out);
    const int64_t n = g.N * g.O * g.Ho * g.Wo, one = 1;
    unary(UnaryOp::Relu, dt, Geometry{1, &n}, Operand{out, &one}, Operand{out, &one}, 0, 0);
  }
  virtual void conv2d_input_grad(DType, const ConvGeom&, const void*, const void*, void*) {
    missing("conv2d_input_grad");
  }
  virtual void conv2d_weight_grad(DType, const ConvGeom&, const void*, const void*, void*) {
    missing("conv2d_weight_grad");
  }
  /// gb[o] = sum of gout[n][o][...] over n and the output positions (conv2d's bias gradient).
  virtual void conv2d_bias_grad(DType, const ConvGeom&, const void* /*gout*/, void* /*gb*/) {
    missing("conv2d_bias_grad");
  }
  /// conv2d's first-order backward in one call: the input, weight and bias gradients, each
  /// skipped when its pointer is null (x is read only for gw, w only for gx). This default runs the
  /// three kernels; a backend overrides it where they share work (on the CPU: one layout
  /// conversion of gout for both oneDNN passes, one pass over gout for weight and bias).
  virtual void conv2d_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx,
                               void* gw, void* gb) {
    if (gx) conv2d_input_grad(dt, g, gout, w, gx);
    if (gw) conv2d_weight_grad(dt, g, x, gout, gw);
    if (gb) conv2d_bias_grad(dt, g, gout, gb);
  }
  /// conv2d_backward behind the fused ReLU (conv2d with fuse_relu): `gout` is the gradient of
  /// relu(conv) and `out` that saved output, so the convolution's gradient is gout where out > 0
  /// and 0 elsewhere (threshold_backward's rule, a NaN output passing gout). Returns false, doing
  /// nothing, where the backend has no fused kernel for the case: the caller then masks gout into
  /// a tensor (threshold_backward) and calls conv2d_backward. The CPU's widened 16-bit path masks
  /// each f32 chunk it widens, which saves the masked 16-bit copy of gout and a pass over it.
  virtual bool conv2d_relu_backward(DType, const ConvGeom&, const void* /*x*/, const void* /*w*/, const void* /*out*/,
                                    const void* /*gout*/, void* /*gx*/, void* /*gw*/, void* /*gb*/) {
    return false;
  }
  virtual void max_pool2d_forward(DType, const PoolGeom&, const void*, void*, int64_t* /*indices*/) {
    missing("max_pool2d_forward");
  }
  /// gx (overwritten) = max_pool2d's input gradient, routed through the forward's indices.
  virtual void max_pool2d_backward(DType, const PoolGeom&, const void* /*gout*/, const int64_t* /*indices*/,
                                   void* /*gx*/) {
    missing("max_pool2d_backward");
  }
  virtual void avg_pool2d_forward(DType, const PoolGeom&, const void*, void*) { missing("avg_pool2d_forward"); }
  virtual void avg_pool2d_backward(DType, const PoolGeom&, const void*, void*) { missing("avg_pool2d_backward"); }
  virtual void adaptive_avg_pool2d_forward(DType, int64_t, int64_t, int64_t, int64_t, int64_t, const void*, void*) {
    missing("adaptive_avg_pool2d_forward");
  }
  virtual void adaptive_avg_pool2d_backward(DType, int64_t, int64_t, int64_t, int64_t, int64_t, const void*,
                                            void*) {
    missing("adaptive_avg_pool2d_backward");
  }
  /// scale/shift: C doubles (f64 arrays in the device's memory).
  virtual void channel_affine(DType, int64_t, int64_t, int64_t, const void*, const double* /*scale*/,
                              const double* /*shift*/, void*) {
    missing("channel_affine");
  }
  /// A normalization's input gradient from per-channel constants, over [N, C, S]:
  /// gx = g * a[c] + (x - m[c]) * b[c] + k[c] (a, m, b, k: C doubles in the device's memory;
  /// x - m stays a difference so a large mean does not cancel digits). Optional
  /// (has_norm_input_grad()): group_norm's affine backward takes one pass with it and composes
  /// without it.
  virtual bool has_norm_input_grad() const { return false; }
  virtual void norm_input_grad(DType, int64_t /*N*/, int64_t /*C*/, int64_t /*S*/, const void* /*g*/,
                               const void* /*x*/, const double* /*a*/, const double* /*m*/, const double* /*b*/,
                               const double* /*k*/, void* /*gx*/) {
    missing("norm_input_grad");
  }
  /// batch_norm's batch statistics (mean, biased variance) of x, the per-channel rstd, scale
  /// and shift, and the running-average updates, in one call (see BatchNormStats).
  virtual void batch_norm_stats(const BatchNormStats&) { missing("batch_norm_stats"); }
  /// batch_norm's first-order backward from the forward's batch statistics (mean, rstd: C
  /// doubles in the device's memory; weight: C values of the dtype, or null for 1). With
  /// xhat = (x - mean) * rstd: gb = sum(g), gw = sum(g * xhat) (C values of the dtype each,
  /// either may be null), and, when gx is not null, gx = rstd * w * (g - gb / M - xhat * gw / M),
  /// M = N * S. Sums are in f64; parameters in the dtype spare a cast kernel each way per layer.
  /// For a 16-bit dtype the weight, gw and gb are f32 (opmath: autocast keeps parameters f32).
  virtual void batch_norm_backward(DType, int64_t /*N*/, int64_t /*C*/, int64_t /*S*/, const void* /*x*/,
                                   const void* /*gout*/, const double* /*mean*/, const double* /*rstd*/,
                                   const void* /*weight*/, void* /*gx*/, void* /*gw*/, void* /*gb*/) {
    missing("batch_norm_backward");
  }
  /// Layer norm over rows (see cpu::layer_norm_forward); for a 16-bit dtype the weight, bias and
  /// the per-row mean and rstd it writes are f32.
  virtual void layer_norm_forward(DType, int64_t, int64_t, const void*, const void*, const void*, double, void*,
                                  void*, void*) {
    missing("layer_norm_forward");
  }

  // ---- optimizer updates (optim_kernels.h); the slot/pointer arrays are host arrays ----------------
  virtual void optim_update(OptimAlgo, DType, const OptimSlot*, int64_t, const OptimHyper&) {
    missing("optim_update");
  }
  virtual double multi_abs_pow_sum(DType, const void* const*, const int64_t*, int64_t, double) {
    return missing("multi_abs_pow_sum"), 0.0;
  }
  virtual void multi_scale(DType, void* const*, const int64_t*, int64_t, double) { missing("multi_scale"); }
  virtual void multi_clamp(DType, void* const*, const int64_t*, int64_t, double, double) { missing("multi_clamp"); }
  /// One fused Adafactor step (adafactor_kernel.h); only the CPU backend has it.
  virtual void adafactor_update(DType, const AdafactorSlot&, const AdafactorHyper&) { missing("adafactor_update"); }

  // ---- transfers: pinned host memory, asynchronous uploads, options (include/nabla/device.h) ----
  // The defaults suit a device without streams (and the fake device of the tests): plain
  // 64-byte aligned host memory and blocking copies.
  /// Page-locked host memory, for uploads that the host does not wait for (any thread may call).
  virtual void* allocate_pinned(size_t nbytes) {
    void* p = std::aligned_alloc(64, (nbytes + 64) & ~size_t(63));  // a size multiple of 64, never 0
    if (!p) fail("[pin_memory] out of host memory: could not allocate ", nbytes, " bytes");
    return p;
  }
  virtual void free_pinned(void* ptr, size_t /*nbytes*/) { std::free(ptr); }
  /// Whether `host_ptr` lies in a live buffer from allocate_pinned.
  virtual bool is_pinned(const void* /*host_ptr*/) const { return false; }
  virtual MemoryStats pinned_memory_stats() const { return {}; }
  /// New device memory (freed with deallocate) holding a copy of `nbytes` of host memory, without
  /// blocking the host when `host_src` is pinned: the copy runs on the device's copy stream and
  /// kernels queued afterwards wait for it (an event orders them), while the pinned source, once
  /// freed, is reused only after the copy has completed. The destination comes from the copy
  /// stream's pool, so the copy never races kernels still reading a recycled block.
  virtual void* upload_async(const void* host_src, size_t nbytes, int index) {
    void* dst = allocate(nbytes, index);
    copy_from_host(dst, host_src, nbytes, index);
    return dst;
  }
  /// TF32 tensor-core math for f32 GEMM/convolution (off by default: full f32 precision).
  virtual void set_allow_tf32(bool /*on*/) {}
  /// Convolution algorithm choice: time the candidates (benchmark) and/or deterministic ones only.
  virtual void set_conv_algorithm_search(bool /*benchmark*/, bool /*deterministic*/) {}
  /// Starts (true) or stops collection of an attached profiler (nabla::cuda::profiler_start).
  virtual void set_profiler_collecting(bool /*on*/) {}

 protected:
  [[noreturn]] void missing(const char* kernel) const;
};

/// The CPU backend (always present).
Backend& cpu_backend();

/// Installs `b` as the backend of its device type and returns the previous one (nullptr when
/// none). The CUDA backend installs itself at start-up when a GPU is present; tests install a
/// fake device this way.
Backend* register_device_backend(Backend* b, DeviceType type);
/// The backend for `type`, or nullptr when this build or machine has none.
Backend* find_device_backend(DeviceType type);

/// The backend that runs kernels for tensors on `d`; a clear error when there is none.
[[noreturn]] void no_device_backend(Device d);
inline Backend& get(Device d) {
  if (d.is_cpu()) return cpu_backend();
  Backend* b = find_device_backend(d.type);
  if (!b || d.index < 0 || d.index >= b->device_count()) no_device_backend(d);
  return *b;
}

}  // namespace nabla::backend
