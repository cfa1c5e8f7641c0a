// Shared plumbing for op definitions: broadcasting, dtype/device checks, and the calls
// that turn tensors into backend kernel arguments.
#pragma once
#include "../backend/device_backend.h"
#include "nabla/autograd.h"
#include "nabla/ops.h"

namespace nabla::ops {

inline constexpr int kMaxDims = 16;

/// NumPy broadcast of two shapes; errors name `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Strides of `t` viewed with `out_shape` (0 on broadcast dims); t's shape must broadcast to it.
Shape broadcast_strides(const Tensor& t, const Shape& out_shape);
/// Checks that `t` is defined and within the rank limit; `op` names the caller.
void check_tensor(const Tensor& t, const char* op);
/// check_tensor for both, and both on one device (errors name the op, devices and shapes).
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
/// `t` moved to `d` when it is a 0-d CPU tensor (a scalar operand); else `t` unchanged.
Tensor scalar_to_device(const Tensor& t, Device d);
void check_floating(const Tensor& t, const char* op);
/// layer_norm's and rms_norm's checks: x floating, ending with `normalized_shape` (at least one
/// dim), and weight / bias (each optional) of that shape.
void check_normalized_shape(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                            const char* op);
/// Checks that a fill value lands in an integer dtype without overflow (fractions truncate, as
/// in PyTorch; NaN, infinities and out-of-range values are errors, not wrapped bits).
/// Whether converting `v` to `dt` is defined (fractions truncate): always for floating dtypes.
bool converts_without_overflow(DType dt, double v);
void check_fill_value(DType dt, double v, const char* op);

/// Kernel launchers (no autograd): allocate a contiguous output and run the kernel.
Tensor unary_kernel(backend::UnaryOp op, const Tensor& x, double a = 0, double b = 0);
Tensor binary_kernel(backend::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
Tensor compare_kernel(backend::CompareOp op, const Tensor& a, const Tensor& b, const char* name);
/// Contiguous copy of `x` converted to `dtype` (no autograd).
Tensor copy_kernel(const Tensor& x, DType dtype);
/// Writes `src` (broadcast) into `dst` in place, converting dtype (no autograd, no version bump).
void copy_into(const Tensor& dst, const Tensor& src);
/// `x` itself when already contiguous, else a contiguous copy (no autograd).
Tensor contiguous_data(const Tensor& x);

/// Device pointer to the elements of a contiguous i64 index tensor (for kernels).
inline const int64_t* index_ptr(const Tensor& idx) { return static_cast<const int64_t*>(idx.raw_data()); }

/// Checks a contiguous i64 index tensor against `range` where it lives (Backend::check_indices: on
/// a GPU without waiting for the queued work; a bad index is then reported at the next
/// synchronization, with `message`).
inline void check_indices(const Tensor& idx, const backend::IndexRange& range, const backend::IndexErrorMessage& message) {
  backend::get(idx.device()).check_indices(index_ptr(idx), idx.numel(), range, message, idx.device().index);
}

/// While alive, index ops skip the range check of their index (they still make it contiguous):
/// for an index that was checked already, as a VJP reapplying its forward's index (gather and
/// scatter_add, index_select and index_add are each other's VJPs) or a loss gathering targets it
/// checked. On a GPU each check costs a kernel and one of the pending-check slots.
class ReusingCheckedIndex {
 public:
  ReusingCheckedIndex() : saved_(flag()) { flag() = true; }
  ~ReusingCheckedIndex() { flag() = saved_; }
  ReusingCheckedIndex(const ReusingCheckedIndex&) = delete;
  ReusingCheckedIndex& operator=(const ReusingCheckedIndex&) = delete;
  static bool active() { return flag(); }

 private:
  static bool& flag() {
    thread_local bool on = false;
    return on;
  }
  bool saved_;
};

/// sqrt(v) for v >= 0 whose gradient at v == 0 is 0 rather than sqrt's 0 * inf = NaN (PyTorch's
/// choice for std and distances: one zero would otherwise put NaN into every gradient upstream).
Tensor sqrt_zero_grad_at_zero(const Tensor& v);
/// A 0-d tensor of `like`'s dtype holding `v` (for scalar operands).
Tensor scalar_like(double v, const Tensor& like);
/// A 0-d tensor of `dtype` on `device` holding `v`, written by a fill kernel (no upload).
Tensor scalar_on(double v, DType dtype, Device device);

/// Refuses an in-place write into a tensor whose elements share memory (an expanded view:
/// a stride of 0 over more than one element), where the result would depend on the write order;
/// PyTorch refuses it too. Call before writing.
void check_no_internal_overlap(const Tensor& t, const char* op);

/// After `t` got a new grad_fn (an in-place op, a view's remade history): retain_grad() moves to
/// it, as in PyTorch. The old hook skips from now on: it sees a grad_fn that is no longer t's.
void move_retained_grad(const Tensor& t);

/// `base` (a contiguous root) with the region that `origin`'s view picks replaced by `src`, as a
/// new tensor, differentiable in both (PyTorch's CopySlices): base's gradient is the incoming one
/// with that region zeroed, src's is that region of it.
Tensor view_scatter(const Tensor& base, const Tensor& src, const std::shared_ptr<const ViewOrigin>& origin);

/// Marks an in-place write: bumps the version counter and remembers the op's name.
inline void bump_version(const Tensor& t, const char* op) {
  t.storage()->version++;
  t.storage()->last_writer = op;
}

}  // namespace nabla::ops
