// Three-operand element-wise ops: lerp, addcmul, addcdiv, composed of the arithmetic kernels.
// lerp has its own VJP: PyTorch's forward takes one of two formulas by |weight|, and autograd
// through a where() of both would multiply the discarded one's zero gradient by end - start,
// NaN when that is infinite.
#include <cmath>
#include <optional>

#include "op_util.h"

namespace nabla {

namespace {

void check_lerp_operand(const Tensor& start, const Tensor& t, const char* what) {
  ops::check_same_device(start, t, "lerp");
  NB_CHECK(t.is_floating_point() && t.dtype() == start.dtype(), "[lerp] start, end and weight must have one floating ",
           "dtype (as in PyTorch), got start ", start.dtype(), " and ", what, " ", t.dtype());
}

void check_addc(const Tensor& input, const Tensor& t1, const Tensor& t2, const char* op) {
  ops::check_same_device(input, t1, op);
  ops::check_same_device(input, t2, op);
  ops::broadcast_shapes(ops::broadcast_shapes(input.shape(), t1.shape(), op), t2.shape(), op);
}

/// The dtype PyTorch's addcmul/addcdiv compute in: one result type over the three operands
/// (c10's ResultTypeState: the dimensioned ones promote among themselves, the 0-d ones among
/// themselves, and the 0-d result counts only when its category is higher). Composing pairwise
/// products would round t1 * t2 in the factors' dtype first (f16 * f16 overflowing before an
/// f32 input is added).
DType addc_dtype(const Tensor& input, const Tensor& t1, const Tensor& t2) {
  std::optional<DType> dims, zero;
  for (const Tensor* t : {&input, &t1, &t2}) {
    std::optional<DType>& r = t->dim() == 0 ? zero : dims;
    r = r ? promote(*r, t->dtype()) : t->dtype();
  }
  if (!dims) return *zero;
  if (!zero || is_floating(*dims) || !is_floating(*zero)) return *dims;
  return promote(*dims, *zero);
}

Tensor as_dtype(const Tensor& t, DType dt) { return t.dtype() == dt ? t : t.to(dt); }

/// lerp with the weight as a tensor (`w`) or, when `w` is undefined, the scalar `ws`.
Tensor lerp_impl(const Tensor& start, const Tensor& end, const Tensor& w, double ws) {
  ops::check_floating(start, "lerp");
  check_lerp_operand(start, end, "end");
  if (w.defined()) check_lerp_operand(start, w, "weight");
  const Shape shape = ops::broadcast_shapes(start.shape(), end.shape(), "lerp");
  if (w.defined()) ops::broadcast_shapes(shape, w.shape(), "lerp");
  Tensor out;
  {
    NoGradGuard ng;
    // start + w (end - start) for |w| < 0.5, end - (end - start)(1 - w) otherwise: each is exact at
    // its end of [0, 1] (PyTorch's lerp kernel).
    const Tensor diff = end - start;
    if (!w.defined()) {
      out = std::abs(ws) < 0.5 ? start + diff * ws : end - diff * (1.0 - ws);
    } else {
      out = where(lt(abs(w), ops::scalar_like(0.5, w)), start + w * diff, end - diff * (1.0 - w));
    }
  }
  if (auto node = autograd::record("lerp", {start, end, w}, {out})) {
    const bool ns = node->needs_input_grad(0), ne = node->needs_input_grad(1), nw = node->needs_input_grad(2);
    node->backward_fn = [sw = w.defined() && (ns || ne) ? node->save(w) : autograd::SavedTensor(),
                         ss = nw ? node->save(start) : autograd::SavedTensor(),
                         se = nw ? node->save(end) : autograd::SavedTensor(), ws, ns, ne, nw, sh_s = start.shape(),
                         sh_e = end.shape(), sh_w = w.defined() ? w.shape() : Shape()](const TensorList& g) {
      const Tensor& gy = g[0];
      Tensor gs, ge, gw;
      if (ns || ne) {
        const Tensor wv = sw.defined() ? sw.get() : Tensor();
        if (ns) gs = sum_to(wv.defined() ? gy * (1.0 - wv) : gy * (1.0 - ws), sh_s);
        if (ne) ge = sum_to(wv.defined() ? gy * wv : gy * ws, sh_e);
      }
      if (nw) gw = sum_to(gy * (se.get() - ss.get()), sh_w);
      return TensorList{gs, ge, gw};
    };
  }
  return out;
}

}  // namespace

Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  NB_CHECK(weight.defined(), "[lerp] got an undefined weight tensor");
  return lerp_impl(start, end, weight, 0.0);
}

Tensor lerp(const Tensor& start, const Tensor& end, double weight) { return lerp_impl(start, end, Tensor(), weight); }

Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, double value) {
  check_addc(input, t1, t2, "addcmul");
  const DType dt = addc_dtype(input, t1, t2);
  const Tensor product = as_dtype(t1, dt) * as_dtype(t2, dt);
  return as_dtype(input, dt) + (value == 1.0 ? product : product * value);
}

Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, double value) {
  check_addc(input, t1, t2, "addcdiv");
  NB_CHECK(t1.is_floating_point() || t2.is_floating_point(), "[addcdiv] t1 and t2 are both integer tensors (",
           t1.dtype(), " and ", t2.dtype(), "): integer division is not supported, as in PyTorch; convert one to a "
           "floating dtype");
  // Integer operands with a floating input divide in the input's dtype (as PyTorch's common dtype).
  const DType dt = addc_dtype(input, t1, t2);
  const Tensor quotient = is_floating(dt) ? as_dtype(t1, dt) / as_dtype(t2, dt) : t1 / t2;
  return (is_floating(dt) ? as_dtype(input, dt) : input) + (value == 1.0 ? quotient : quotient * value);
}

}  // namespace nabla
