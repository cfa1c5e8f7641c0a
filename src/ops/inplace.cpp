// In-place ops. They bump the version counter (so autograd catches a saved tensor that
// was overwritten) and, when recording, rebase the tensor's history onto a new node.
#include "op_util.h"

#include <cmath>

namespace nabla {

namespace {

void check_inplace_allowed(const Tensor& self, const char* op) {
  ops::check_no_internal_overlap(self, op);
  if (!is_grad_enabled()) return;
  NB_CHECK(!(self.is_leaf() && self.requires_grad()), "[", op,
           "] a leaf tensor that requires grad is used in an in-place operation; wrap the update in NoGradGuard "
           "(as optimizers do) or clone() it first");
}

/// Whether an in-place write into `self` must be recorded as a write into its root's region.
bool records_into_a_view(const Tensor& self, bool value_requires_grad) {
  return is_grad_enabled() && self.impl().is_view && (value_requires_grad || self.requires_grad());
}

/// As PyTorch: a floating result is not truncated into an integer tensor (i64.mul_(1.5),
/// i64.div_(x)); the out-of-place op gives the floating result.
void check_result_dtype(const Tensor& self, DType result, const char* op) {
  // As PyTorch's can_cast: no floating result into an integer tensor, and only bool into bool
  // (mask.add_(1) is i64).
  NB_CHECK((self.is_floating_point() || !is_floating(result)) &&
               (self.dtype() != DType::boolean || result == DType::boolean),
           "[", op, "] the result has dtype ", result, ", which cannot be written in place into a tensor of dtype ",
           self.dtype(), "; use the out-of-place op");
}

/// Gives `self` a new history after an in-place write: views made earlier re-derive theirs on
/// next use (storage history), and retain_grad() follows the new value, as in PyTorch.
void set_history(Tensor& self, std::shared_ptr<autograd::Node> fn, uint32_t output_nr) {
  // `fn` is a fresh result's node, so it saved nothing of self's storage after this write.
  TensorImpl& i = self.impl();
  i.grad_fn = std::move(fn);
  i.output_nr = output_nr;
  self.storage()->history++;
  ops::move_retained_grad(self);
}

/// A recorded in-place write of `value` into the view `self` (y.select(1, 2).fill_(0),
/// buf.select(0, i).copy_(x)): the view's root takes the history of "root with the view's region
/// replaced by value" (ops::view_scatter, PyTorch's CopySlices), and the view and the root's
/// other views remake theirs from it on next use (ViewOrigin).
Tensor& commit_to_view(Tensor& self, const Tensor& value, const char* op) {
  const std::shared_ptr<const ViewOrigin> origin = self.impl().view_origin;
  NB_CHECK(origin != nullptr, "[", op, "] in-place on a view made without grad mode, of a tensor that requires grad ",
           "(or with a value that does): take the view under grad mode, or use the out-of-place op");
  Tensor root(origin->root);
  NB_CHECK(root.storage() == self.storage(), "[", op, "] in-place on a view of a tensor that was moved to other ",
           "memory (Module::to): take the view again");
  NB_CHECK(!(root.is_leaf() && root.requires_grad()), "[", op, "] a view of a leaf tensor that requires grad (shape ",
           root.shape(), ") is used in an in-place operation; wrap it in NoGradGuard or clone() the leaf first");
  NB_CHECK(root.is_contiguous() && root.offset() == 0, "[", op, "] in-place on a view of a tensor of shape ",
           root.shape(), " laid out with strides ", root.strides(), ": use the out-of-place op");
  const Tensor replaced = ops::view_scatter(root, value.to(self.dtype()), origin);
  ops::copy_into(self, value);
  ops::bump_version(self, op);
  set_history(root, replaced.grad_fn(), replaced.output_nr());
  return self;
}

/// Writes `result` into `self` and, when recording, makes `self`'s history the
/// out-of-place op that produced `result`.
Tensor& commit(Tensor& self, const Tensor& result, const char* op) {
  bool track = is_grad_enabled() && result.requires_grad();
  NB_CHECK(result.shape() == self.shape(), "[", op, "] result of shape ", result.shape(),
           " cannot be written in place into a tensor of shape ", self.shape());
  check_result_dtype(self, result.dtype(), op);
  if (track && self.impl().is_view) return commit_to_view(self, result, op);
  ops::copy_into(self, result);
  ops::bump_version(self, op);
  if (track) set_history(self, result.grad_fn(), result.output_nr());
  return self;
}

/// Whether v converts to the integer dtype exactly (the fast path below converts it on the
/// device, where an out-of-range conversion need not match the host's).
bool exact_in(DType dt, double v) {
  if (std::floor(v) != v) return false;  // the general path promotes, then truncates
  if (dt == DType::boolean) return false;  // bool + 1 is i64: the general path refuses it
  if (dt == DType::u8) return v >= 0 && v <= 255;
  return std::abs(v) <= 9007199254740992.0;  // i64: doubles are exact up to 2^53
}

/// self = op(self, v) as one kernel straight into a contiguous self when nothing is recorded
/// and the result keeps self's dtype: the counters of optimizers and BatchNorm
/// (`num_batches_tracked.add_(1)`), where the general path costs a fill, a kernel and a copy
/// (three launches on a GPU). The kernel is the one `self + v` / `self * v` runs, so the bits
/// are the same. Views (an expanded one may alias elements) take the general path.
bool scalar_inplace(Tensor& self, backend::UnaryOp op, double v, const char* name) {
  if (is_grad_enabled() && self.requires_grad()) return false;
  if (!self.is_contiguous()) return false;
  if (!self.is_floating_point() && !exact_in(self.dtype(), v)) return false;
  ops::check_tensor(self, name);
  const Shape& shape = self.shape();
  const Shape& strides = self.strides();
  backend::get(self.device()).unary(op, self.dtype(), {int(shape.size()), shape.data()},
                                    {self.raw_data(), strides.data()}, {self.raw_data(), strides.data()}, v, 0);
  ops::bump_version(self, name);
  return true;
}

/// mul and div keep their operands for the VJP, and writing the result into self would then
/// overwrite a kept operand (backward failed with "modified by an in-place operation" for
/// y.mul_(w) with w requiring grad, and for y.mul_(y)). When recording, an operand that lives in
/// self's memory is replaced by a clone (differentiable, so the gradient still reaches self's
/// history), as PyTorch keeps the original self.
std::pair<Tensor, Tensor> operands_kept_for_backward(const Tensor& self, const Tensor& o) {
  if (!is_grad_enabled() || !(self.requires_grad() || o.requires_grad())) return {self, o};
  Tensor a = o.requires_grad() ? self.clone() : self;
  if (o.impl_ptr() == self.impl_ptr()) return {a, a};  // y.mul_(y): a is a clone here (o requires grad)
  return {a, self.requires_grad() && o.shares_storage(self) ? o.clone() : o};
}

/// Overwriting a tensor with history by a constant (fill_, zero_, copy_ from a tensor without
/// grad) keeps it differentiable, as PyTorch's FillBackward: the result still requires grad, and
/// the old history gets a zero gradient, so its leaves end with a zero .grad rather than none.
/// Returns the node to adopt after the write (undefined when nothing is recorded). sign() is
/// used for its VJP, which is exactly zeros.
Tensor constant_history(const Tensor& self) {
  if (!is_grad_enabled() || !self.requires_grad()) return Tensor();
  return sign(self);
}

/// Adopts `history` (from constant_history) after the write; without one, a tensor that had
/// history becomes a constant.
void adopt_constant_history(Tensor& self, const Tensor& history) {
  if (history.defined()) set_history(self, history.grad_fn(), history.output_nr());
  else if (is_grad_enabled() && !self.is_leaf()) set_history(self, nullptr, 0);
}

template <typename F>
Tensor& inplace(Tensor& self, const char* op, F compute) {
  check_inplace_allowed(self, op);
  Tensor r = compute();
  return commit(self, r, op);
}

}  // namespace

Tensor& Tensor::add_(const Tensor& o0, double alpha) {
  if (!is_grad_enabled() || !(requires_grad() || o0.requires_grad())) {
    // Fast path (optimizers, gradient accumulation): one kernel straight into self. Not recorded,
    // so the operand is reported to an observing nn::utils::checkpoint here.
    autograd::observe_inputs({o0});
    ops::check_no_internal_overlap(*this, "add_");
    NoGradGuard ng;
    const Tensor o = ops::scalar_to_device(o0, device());
    ops::check_same_device(*this, o, "add_");
    if (dtype() == DType::boolean) {
      // bool += bool is a logical or (the u8 kernel would store 2); sub_ is refused by sub.
      const Tensor r = alpha == 1.0 ? add(*this, o) : alpha == -1.0 ? sub(*this, o) : add(*this, o * alpha);
      check_result_dtype(*this, r.dtype(), "add_");
      ops::copy_into(*this, r);
      ops::bump_version(*this, "add_");
      return *this;
    }
    if (alpha != 1.0 && o.dtype() == dtype() && is_floating_point() && o.shape() == shape() && is_contiguous() &&
        o.is_contiguous() && (!shares_storage(o) || o.raw_data() == raw_data())) {
      // SGD-style p += alpha * g: fused, without the temporary `o * alpha` (a second pass
      // over the parameters and an allocation). Partly overlapping views take the general path.
      backend::get(device()).axpy(dtype(), numel(), alpha, o.raw_data(), raw_data());
      ops::bump_version(*this, "add_");
      return *this;
    }
    check_result_dtype(*this, result_type(*this, o), "add_");
    NB_CHECK(is_floating_point() || std::floor(alpha) == alpha, "[add_] alpha ", alpha,
             " is not a whole number, for a tensor of integer dtype ", dtype());
    // An integer operand is converted first, then scaled: f32 - u8 and i64 - u8 must negate in
    // self's dtype, not wrap in u8. A floating one is scaled in its own dtype, then converted.
    Tensor src = o.is_floating_point() || o.dtype() == dtype() ? o : o.to(dtype());
    // An operand in self's memory laid out differently (y[1:].add_(y[:-1]), or a broadcast row of
    // self: y.add_(y.narrow(0, 0, 1))) would be read after
    // parts of it were overwritten: read it from a copy, so the result is the out-of-place sum.
    if (src.shares_storage(*this) &&
        !(src.shape() == shape() && src.offset() == offset() && src.strides() == strides()))
      src = ops::copy_kernel(src, src.dtype());
    if (alpha != 1.0) src = src * alpha;
    if (src.dtype() != dtype()) src = src.to(dtype());
    NB_CHECK(ops::broadcast_shapes(shape(), src.shape(), "add_") == shape(), "[add_] cannot add shape ", src.shape(),
             " in place into shape ", shape());
    Shape sa = ops::broadcast_strides(src, shape());
    backend::get(device()).binary(backend::BinaryOp::Add, dtype(), {int(dim()), shape().data()}, {raw_data(), strides().data()},
                         {raw_data(), strides().data()}, {src.raw_data(), sa.data()});
    ops::bump_version(*this, "add_");
    return *this;
  }
  return inplace(*this, "add_", [&] {
    if (alpha == 1.0) return add(*this, o0);
    // An integer operand is scaled in self's floating dtype (x.sub_(u8) must not wrap).
    return add(*this, (is_floating_point() && !o0.is_floating_point() ? o0.to(dtype()) : o0) * alpha);
  });
}
Tensor& Tensor::sub_(const Tensor& o) { return add_(o, -1.0); }
// The results are cast to self's dtype by commit() (f64 into f32 as PyTorch does), which refuses
// a floating result for an integer tensor.
Tensor& Tensor::mul_(const Tensor& o) {
  return inplace(*this, "mul_", [&] {
    auto [a, b] = operands_kept_for_backward(*this, o);
    return mul(a, b);
  });
}
Tensor& Tensor::div_(const Tensor& o) {
  return inplace(*this, "div_", [&] {
    auto [a, b] = operands_kept_for_backward(*this, o);
    return div(a, b);
  });
}
Tensor& Tensor::add_(double v) {
  if (scalar_inplace(*this, backend::UnaryOp::AddScalar, v, "add_")) return *this;
  return inplace(*this, "add_", [&] { return *this + v; });
}
Tensor& Tensor::mul_(double v) {
  if (scalar_inplace(*this, backend::UnaryOp::MulScalar, v, "mul_")) return *this;
  return inplace(*this, "mul_", [&] { return *this * v; });
}
Tensor& Tensor::zero_() { return fill_(0.0); }
Tensor& Tensor::fill_(double v) {
  check_inplace_allowed(*this, "fill_");
  ops::check_fill_value(dtype(), v, "fill_");
  if (records_into_a_view(*this, false)) return commit_to_view(*this, full(shape(), v, {.dtype = dtype(), .device = device()}), "fill_");
  const Tensor history = constant_history(*this);
  if (is_contiguous()) {
    backend::get(device()).fill(dtype(), raw_data(), numel(), v);
  } else {
    ops::copy_into(*this, ops::scalar_like(v, *this));
  }
  ops::bump_version(*this, "fill_");
  adopt_constant_history(*this, history);
  return *this;
}
Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace_allowed(*this, "copy_");
  if (!is_grad_enabled() || !src.requires_grad()) {
    autograd::observe_inputs({src});  // not recorded: an observing checkpoint still sees the read
    if (records_into_a_view(*this, false)) return commit_to_view(*this, src.expand(shape()).to(dtype()), "copy_");
    const Tensor history = constant_history(*this);
    ops::copy_into(*this, src);
    ops::bump_version(*this, "copy_");
    adopt_constant_history(*this, history);
    return *this;
  }
  return commit(*this, src.expand(shape()).to(dtype()) * 1.0, "copy_");
}

}  // namespace nabla
