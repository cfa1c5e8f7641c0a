// Tensor: a cheap shared handle to a strided view of reference-counted storage, with the
// autograd fields (requires_grad, grad, grad_fn, version counter) that ops read and write.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/dtype.h"
#include "nabla/error.h"
#include "nabla/hook_handle.h"

namespace nabla {

using Shape = std::vector<int64_t>;

namespace autograd {
class Node;
}

/// Reference-counted buffer. Views share it, and with it the version counter that
/// in-place ops bump so autograd can detect a saved tensor modified after it was saved.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  uint64_t version = 0;
  /// Bumped when an in-place op gives a tensor on this storage a new history (grad_fn): views
  /// made before then re-derive theirs from their base on next use (ViewOrigin).
  uint64_t history = 0;
  const char* last_writer = "";  ///< name of the last in-place op, for error messages
  std::function<void(void*)> deleter;  ///< set for external memory; else the caching allocator

  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  ~Storage();
};

class Tensor;
using TensorList = std::vector<Tensor>;
using GradHook = std::function<Tensor(const Tensor&)>;
/// fn(leaf) after a backward has accumulated into leaf.grad() (Tensor::register_post_accumulate_grad_hook).
using PostAccumulateGradHook = std::function<void(const Tensor&)>;
struct TensorImpl;

/// How a differentiable view was made, so that its history can be made again when its base
/// gets a new one in place (y = f(x); v = y.narrow(..); y.mul_(3): v's gradient must flow through
/// the mul_, as in PyTorch). Set by the view ops while grad mode is on.
struct ViewOrigin {
  /// The first ancestor that is not such a view, kept alive as PyTorch's view._base: an
  /// in-place write through the view rebases its history, and a view of a temporary
  /// ((x * w).reshape(..)) can be written into or outlive the base changing in place.
  std::shared_ptr<TensorImpl> root;
  uint64_t history = 0;            ///< the storage's history when this history was made
  /// The view this one was made from (null: the root). Mutable only for the destructor.
  mutable std::shared_ptr<const ViewOrigin> parent;
  /// The view op, recorded, applied to (a fresh copy of) the parent.
  std::function<Tensor(const Tensor& parent)> remake;
  /// Gives `view` the history of `fresh` (the remade view): set by the view ops, which can reach
  /// autograd (retain_grad must follow), where this struct's layer cannot.
  void (*adopt)(const Tensor& view, const Tensor& fresh) = nullptr;

  ViewOrigin() = default;
  ViewOrigin(const ViewOrigin&) = delete;
  ViewOrigin& operator=(const ViewOrigin&) = delete;
  /// Unlinks the parent chain iteratively: a chain of 100k views must not recurse 100k deep.
  ~ViewOrigin();
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  ///< in elements
  Shape shape;
  Shape strides;  ///< in elements
  DType dtype = DType::f32;
  bool requires_grad = false;  ///< meaningful for leaves; non-leaves require grad via grad_fn
  bool retains_grad = false;
  bool is_view = false;  ///< shares storage with another tensor (differentiable view)
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  std::weak_ptr<autograd::Node> grad_accumulator;
  std::shared_ptr<TensorImpl> grad;
  std::vector<GradHook> hooks;
  std::vector<PostAccumulateGradHook> post_accumulate_grad_hooks;
  std::shared_ptr<const ViewOrigin> view_origin;
  /// view_origin->history (kNoViewOrigin: none), read without a lock by every autograd accessor;
  /// view_origin and grad_fn change only under the remake lock, before this is stored.
  std::atomic<uint64_t> view_history{kNoViewOrigin};
  static constexpr uint64_t kNoViewOrigin = ~uint64_t(0);
};

/// Options for creation functions: `zeros({2, 3}, {.dtype = kF64, .requires_grad = true})`.
struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata -------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  /// Size of dimension `d` (negative counts from the end).
  int64_t size(int64_t d) const;
  const Shape& strides() const { return impl().strides; }
  int64_t stride(int64_t d) const;
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t numel() const;
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  int64_t offset() const { return impl().offset; }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  /// True when both tensors are views of the same buffer.
  bool shares_storage(const Tensor& other) const { return storage() == other.storage(); }

  // ---- data access -----------------------------------------------------------------
  /// Pointer to element 0 of this view, in the memory of the tensor's device.
  void* raw_data() const;
  /// Typed host pointer; errors for tensors on a GPU (copy them with `to(Device::cpu())`).
  template <typename T>
  T* data_ptr() const {
    // A bool tensor's bytes (0 or 1) may also be read as uint8_t: code from before kBool, when
    // comparisons gave u8, keeps working.
    NB_CHECK(dtype_of<T>::value == dtype() || (std::is_same_v<T, uint8_t> && dtype() == DType::boolean),
             "[data_ptr] tensor has dtype ", dtype(), ", asked for ", dtype_of<T>::value);
    NB_CHECK(device().is_cpu(), "[data_ptr] tensor is on ", device(),
             "; host code can read it after .to(Device::cpu())");
    return static_cast<T*>(raw_data());
  }
  /// Value of a one-element tensor, converted to T. An integer T reads i64 and u8 tensors
  /// exactly (not through a double, which holds integers only up to 2^53); a floating value
  /// read as an integer truncates and must fit int64.
  template <typename T = double>
  T item() const {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      return static_cast<T>(item_int64());
    } else {
      return static_cast<T>(item_double());
    }
  }
  double item_double() const;
  int64_t item_int64() const;
  /// All elements in row-major order, converted to T (works for any strides), exactly for an
  /// integer T as item().
  template <typename T = double>
  std::vector<T> to_vector() const {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      std::vector<int64_t> v = to_int64_vector();
      return std::vector<T>(v.begin(), v.end());
    } else {
      std::vector<double> v = to_double_vector();
      return std::vector<T>(v.begin(), v.end());
    }
  }
  std::vector<double> to_double_vector() const;
  std::vector<int64_t> to_int64_vector() const;

  // ---- autograd -----------------------------------------------------------------------
  bool requires_grad() const;
  /// Marks a leaf as a parameter (true) or freezes it (false). Errors on non-leaves.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return grad_fn() == nullptr; }
  const std::shared_ptr<autograd::Node>& grad_fn() const {
    refresh_view_history();
    return impl().grad_fn;
  }
  uint32_t output_nr() const {
    refresh_view_history();
    return impl().output_nr;
  }
  /// For a view whose base got a new history in place since the view's was made: remakes the
  /// view's history from the base (ViewOrigin, which keeps the base alive). The autograd
  /// accessors call it.
  void refresh_view_history() const {
    const TensorImpl& i = impl();
    const uint64_t h = i.view_history.load(std::memory_order_acquire);
    if (h != TensorImpl::kNoViewOrigin && h != i.storage->history) remake_view_history();
  }
  /// Accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  uint64_t version() const { return impl().storage->version; }
  /// Same storage, no history: the result never requires grad.
  Tensor detach() const;
  /// Runs backprop from this tensor (a scalar unless `grad` is given). Defined in autograd.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  /// Calls `hook(grad)` when this tensor's gradient is computed; a defined result replaces it.
  /// Hooks run in registration order; the handle's remove() unregisters this one.
  RemovableHandle register_hook(GradHook hook) const;
  /// On a leaf that requires grad: calls `hook(*this)` each time a backward() has accumulated
  /// into grad() (after the register_hook hooks), as PyTorch 2.1's: an optimizer can step
  /// a parameter there, while the backward goes on, and free its gradient. Not run by grad(),
  /// which accumulates nothing.
  RemovableHandle register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;
  /// Keeps `.grad()` for a non-leaf tensor after backward.
  void retain_grad() const;

  // ---- views and conversions (defined in ops/shape.cpp; differentiable) ------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;  ///< like reshape but never copies
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const Shape& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  /// Copy on `device` (this tensor itself when already there); differentiable.
  Tensor to(Device device) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  /// Reductions as methods, for PyTorch-style chains (`loss.sum()`); see ops.h.
  Tensor sum(const Shape& dims = {}, bool keepdim = false) const;
  Tensor mean(const Shape& dims = {}, bool keepdim = false) const;

  // ---- in-place (ops/inplace.cpp); bump the version counter ------------------------------
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other);
  Tensor& mul_(const Tensor& other);
  Tensor& div_(const Tensor& other);
  Tensor& add_(double v);
  Tensor& mul_(double v);
  Tensor& zero_();
  Tensor& fill_(double v);
  Tensor& copy_(const Tensor& src);

  TensorImpl& impl() const {
    NB_CHECK(impl_ != nullptr, "[tensor] use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  std::string to_string() const;

 private:
  void remake_view_history() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::string shape_str(const Shape& s);

/// Uninitialized contiguous tensor.
Tensor empty(const Shape& shape, TensorOptions opts = {});
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
/// Wraps `dim` (negative counts from the end) into [0, ndim); `op` names the caller in errors.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
/// A view of `base`'s storage with the given geometry (no autograd bookkeeping).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
/// The view ops recorded in `origin` (from its root down), applied to `root` or to a fresh
/// tensor laid out as the root (contiguous, offset 0).
Tensor replay_view(const ViewOrigin& origin, const Tensor& root);

}  // namespace nabla
