// Element-wise arithmetic and math: kernel call + VJP, one entry per op.
#include <cmath>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

using autograd::SavedTensor;
using backend::BinaryOp;
using backend::CompareOp;
using backend::UnaryOp;
using ops::scalar_like;

namespace {
Tensor integer_scalar_operand(const Tensor& a, double b, const char* op);  // below, with the scalar ops

// Math functions of integer tensors compute in f32, like PyTorch.
Tensor as_float(const Tensor& x) { return x.is_floating_point() ? x : x.to(DType::f32); }

/// The operands of an op whose result is floating (div, pow): an integer operand takes the other
/// operand's floating dtype (i64 / f64 is exact in f64, not rounded to f32 first), f32 when
/// both are integers.
std::pair<Tensor, Tensor> as_float_pair(const Tensor& a, const Tensor& b) {
  const DType dt = a.is_floating_point() ? a.dtype() : b.is_floating_point() ? b.dtype() : DType::f32;
  return {a.is_floating_point() ? a : a.to(dt), b.is_floating_point() ? b : b.to(dt)};
}

/// Runs a unary kernel and records `vjp(grad, x, out)`; saves only what the VJP reads.
template <typename Vjp>
Tensor unary_op(UnaryOp k, const char* name, const Tensor& x, bool save_x, bool save_out, Vjp vjp, double a = 0,
                double b = 0) {
  Tensor out = ops::unary_kernel(k, x, a, b);
  if (auto node = autograd::record(name, {x}, {out})) {
    node->backward_fn = [sx = save_x ? node->save(x) : SavedTensor(), so = save_out ? node->save(out) : SavedTensor(),
                         vjp](const TensorList& g) { return TensorList{vjp(g[0], sx.get(), so.get())}; };
  }
  return out;
}

/// Promotes both operands to one dtype (differentiably) before a binary kernel.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, const char* name) {
  NB_CHECK(a.defined() && b.defined(), "[", name, "] got an undefined tensor");
  DType dt = result_type(a, b);
  return {a.dtype() == dt ? a : a.to(dt), b.dtype() == dt ? b : b.to(dt)};
}

/// Runs a binary kernel and records `vjp(grad, a, b, out, need_a, need_b) -> {ga, gb}`
/// (before reduction to the input shapes, which happens here). `cross`: the VJP reads a only
/// for b's gradient and b only for a's (mul), so an operand is saved only when the other
/// needs grad; an unread saved tensor would hold memory and fail the in-place version check.
template <typename Vjp>
Tensor binary_op(BinaryOp k, const char* name, const Tensor& a0, const Tensor& b0, bool save_inputs, bool save_out,
                 Vjp vjp, bool cross = false) {
  auto [a, b] = promoted(a0, b0, name);
  Tensor out = ops::binary_kernel(k, a, b, name);
  if (auto node = autograd::record(name, {a, b}, {out})) {
    bool need_a = node->needs_input_grad(0), need_b = node->needs_input_grad(1);
    node->backward_fn = [sa = save_inputs && (!cross || need_b) ? node->save(a) : SavedTensor(),
                         sb = save_inputs && (!cross || need_a) ? node->save(b) : SavedTensor(),
                         so = save_out ? node->save(out) : SavedTensor(), sha = a.shape(), shb = b.shape(), need_a,
                         need_b, vjp](const TensorList& g) {
      auto [ga, gb] = vjp(g[0], sa.get(), sb.get(), so.get(), need_a, need_b);
      return TensorList{need_a ? sum_to(ga, sha) : Tensor(), need_b ? sum_to(gb, shb) : Tensor()};
    };
  }
  return out;
}

using Grads2 = std::pair<Tensor, Tensor>;

}  // namespace

namespace {
/// The dtype two operands of `op` compute in (checked defined first).
DType checked_result_type(const Tensor& a, const Tensor& b, const char* op) {
  NB_CHECK(a.defined() && b.defined(), "[", op, "] got an undefined tensor");
  return result_type(a, b);
}
}  // namespace

// ---- binary ----------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  // bool + bool stays bool: a logical or, as PyTorch (a u8 sum would give 2).
  if (checked_result_type(a, b, "add") == DType::boolean) return logical_or(a, b);
  return binary_op(BinaryOp::Add, "add", a, b, false, false,
                   [](const Tensor& g, const auto&, const auto&, const auto&, bool, bool) { return Grads2{g, g}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  NB_CHECK(checked_result_type(a, b, "sub") != DType::boolean, "[sub] subtraction, the `-` operator, with two bool tensors "
           "(shapes ", a.shape(), " and ", b.shape(), ") is not supported; use the `^` operator or logical_xor() instead");
  return binary_op(BinaryOp::Sub, "sub", a, b, false, false,
                   [](const Tensor& g, const auto&, const auto&, const auto&, bool, bool nb) { return Grads2{g, nb ? -g : Tensor()}; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  // bool * bool stays bool: a logical and, as PyTorch.
  if (checked_result_type(a, b, "mul") == DType::boolean) return logical_and(a, b);
  return binary_op(BinaryOp::Mul, "mul", a, b, true, false,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const auto&, bool na, bool nb) {
                     return Grads2{na ? g * y : Tensor(), nb ? g * x : Tensor()};
                   },
                   /*cross=*/true);
}

Tensor div(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = as_float_pair(a0, b0);
  return binary_op(BinaryOp::Div, "div", a, b, true, true,
                   [](const Tensor& g, const Tensor&, const Tensor& y, const Tensor& out, bool na, bool nb) {
                     Tensor ga = na || nb ? g / y : Tensor();
                     return Grads2{ga, nb ? -ga * out : Tensor()};
                   });
}

Tensor pow(const Tensor& a0, const Tensor& b0) {
  if (ops::AutocastRegion ac(ops::autocast_op::pow, {&a0, &b0}); ac.active())
    return pow(ac.cast(a0), ac.cast(b0));
  if (!a0.is_floating_point() && !b0.is_floating_point()) {
    // Integers stay integers (exact, wrapping like their products), as in PyTorch, which also
    // refuses negative exponents: their results are not integers.
    NB_CHECK(result_type(a0, b0) != DType::boolean, "[pow] is not implemented for two bool tensors (shapes ", a0.shape(),
             " and ", b0.shape(), "), as in PyTorch; convert one with .to(kI64)");
    NB_CHECK(b0.dtype() == DType::u8 || b0.dtype() == DType::boolean || sum(b0 < 0.0).item<int64_t>() == 0, "[pow] integers to negative integer powers are not allowed "
             "(exponent dtype ", b0.dtype(), "); use a floating base or exponent");
    return binary_op(BinaryOp::Pow, "pow", a0, b0, false, false,
                     [](const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, bool) { return Grads2{}; });
  }
  auto [a, b] = as_float_pair(a0, b0);
  return binary_op(BinaryOp::Pow, "pow", a, b, true, true,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor& out, bool na, bool nb) {
                     // Zero where y == 0 (PyTorch's mask): y * x^(y-1) is 0 * inf there at x = 0.
                     Tensor ga = na ? where(eq(y, scalar_like(0, y)), zeros_like(out), g * y * pow(x, y - 1.0)) : Tensor();
                     // d/dy x^y = x^y log x; taken as 0 where x == 0 and y >= 0 (the limit), as PyTorch;
                     // for y < 0 it is infinite there.
                     Tensor gb = nb ? where(mul(eq(x, scalar_like(0, x)), ge(y, scalar_like(0, y))), zeros_like(out),
                                            g * out * log(x))
                                    : Tensor();
                     return Grads2{ga, gb};
                   });
}

namespace {
// Gradient of max/min-like selection: all to the winner, split evenly on ties. As PyTorch, a
// side gets nothing only when it lost, so a NaN operand (neither wins) passes g to both sides.
Grads2 select_grads(const Tensor& g, const Tensor& x, const Tensor& y, bool x_wins_gt) {
  Tensor x_lost = x_wins_gt ? lt(x, y) : gt(x, y);
  Tensor y_lost = x_wins_gt ? gt(x, y) : lt(x, y);
  Tensor tie = eq(x, y);
  Tensor zero = zeros_like(g), half = g * 0.5;
  Tensor ga = where(tie, half, where(x_lost, zero, g));
  Tensor gb = where(tie, half, where(y_lost, zero, g));
  return {ga, gb};
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::Maximum, "maximum", a, b, true, false,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const auto&, bool, bool) {
                     return select_grads(g, x, y, true);
                   });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::Minimum, "minimum", a, b, true, false,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const auto&, bool, bool) {
                     return select_grads(g, x, y, false);
                   });
}

Tensor threshold_backward(const Tensor& grad, const Tensor& x) {
  // Differentiable in `grad` only (the mask is piecewise constant in x).
  return binary_op(BinaryOp::ThresholdGrad, "threshold_backward", grad, x.detach(), false, false,
                   [x = x.detach()](const Tensor& g, const auto&, const auto&, const auto&, bool, bool) {
                     return Grads2{threshold_backward(g, x), Tensor()};
                   });
}

Tensor atan2(const Tensor& y0, const Tensor& x0) {
  auto [y, x] = as_float_pair(y0, x0);
  // PyTorch's atan2_backward: r = 1 / (y^2 + x^2); y gets g x r, x gets -g y r.
  return binary_op(BinaryOp::Atan2, "atan2", y, x, true, false,
                   [](const Tensor& g, const Tensor& a, const Tensor& b, const auto&, bool na, bool nb) {
                     const Tensor r = reciprocal(a * a + b * b);
                     return Grads2{na ? g * b * r : Tensor(), nb ? -g * a * r : Tensor()};
                   });
}

namespace {
/// An integer division by zero has no integer result; PyTorch raises ZeroDivisionError.
/// The divisor is checked in the dtype the op computes in: a 0-d i64 divisor of a u8 tensor is
/// converted to u8 first (result_type), so 256 becomes 0 there.
void check_integer_divisor(const Tensor& a, const Tensor& b, const char* op) {
  NB_CHECK(a.defined() && b.defined(), "[", op, "] got an undefined tensor");
  const DType dt = result_type(a, b);
  if (is_floating(dt)) return;
  const Tensor divisor = b.dtype() == dt ? b : b.detach().to(dt);
  NB_CHECK(sum(eq(divisor, scalar_like(0, divisor)).to(DType::i64)).item<int64_t>() == 0, "[", op,
           "] integer division by zero: the divisor (shape ", b.shape(), ", dtype ", b.dtype(),
           ", computed in ", dt, ") has a zero element; use floating tensors for NaN/inf results");
}
Tensor scalar_operand(const Tensor& a, double b, const char* op) {
  NB_CHECK(a.defined(), "[", op, "] got an undefined tensor");
  return a.is_floating_point() ? scalar_like(b, a) : integer_scalar_operand(a, b, op);
}
}  // namespace

Tensor fmod(const Tensor& a, const Tensor& b) {
  check_integer_divisor(a, b, "fmod");
  // PyTorch's: a gets g, b gets -g trunc(a / b). The quotient's derivative is 0 (almost everywhere).
  return binary_op(BinaryOp::Fmod, "fmod", a, b, true, false,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const auto&, bool na, bool nb) {
                     return Grads2{na ? g : Tensor(), nb ? -g * trunc(x / y) : Tensor()};
                   });
}
Tensor fmod(const Tensor& a, double b) { return fmod(a, scalar_operand(a, b, "fmod")); }

Tensor remainder(const Tensor& a, const Tensor& b) {
  check_integer_divisor(a, b, "remainder");
  // PyTorch's: b gets -g floor(a / b), with the floor division that agrees with the remainder
  // (a - remainder(a, b)) / b: floor(1 / 0.1) is 10, but remainder(1, 0.1) is 0.0999..., quotient 9.
  return binary_op(BinaryOp::Remainder, "remainder", a, b, true, false,
                   [](const Tensor& g, const Tensor& x, const Tensor& y, const auto&, bool na, bool nb) {
                     Tensor gb;
                     if (nb) gb = -g * ops::binary_kernel(BinaryOp::DivFloor, x, y, "remainder_backward");
                     return Grads2{na ? g : Tensor(), gb};
                   });
}
Tensor remainder(const Tensor& a, double b) { return remainder(a, scalar_operand(a, b, "remainder")); }

// ---- unary ---------------------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  NB_CHECK(!x.defined() || x.dtype() != DType::boolean, "[neg] negation, the `-` operator, on a bool tensor (shape ",
           x.shape(), ") is not supported; to invert a mask use the `~` operator or logical_not() instead");
  return unary_op(UnaryOp::Neg, "neg", x, false, false, [](const Tensor& g, const auto&, const auto&) { return -g; });
}
Tensor exp(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return exp(ac.cast(x));
  return unary_op(UnaryOp::Exp, "exp", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * out; });
}
Tensor log(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return log(ac.cast(x));
  return unary_op(UnaryOp::Log, "log", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / x; });
}
Tensor log1p(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return log1p(ac.cast(x));
  return unary_op(UnaryOp::Log1p, "log1p", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / (x + 1.0); });
}
Tensor expm1(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return expm1(ac.cast(x));
  return unary_op(UnaryOp::Expm1, "expm1", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * (out + 1.0); });
}
Tensor sqrt(const Tensor& x) {
  return unary_op(UnaryOp::Sqrt, "sqrt", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * 0.5 / out; });
}
Tensor rsqrt(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return rsqrt(ac.cast(x));
  return unary_op(UnaryOp::Rsqrt, "rsqrt", as_float(x), true, true,
                  [](const Tensor& g, const Tensor& x, const Tensor& out) { return g * -0.5 * out / x; });
}
Tensor abs(const Tensor& x) {
  NB_CHECK(!x.defined() || x.dtype() != DType::boolean, "[abs] is not implemented for bool (shape ", x.shape(),
           "), as in PyTorch");
  return unary_op(UnaryOp::Abs, "abs", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * sign(x); });
}
Tensor sign(const Tensor& x) {
  return unary_op(UnaryOp::Sign, "sign", x, false, false, [](const Tensor& g, const auto&, const auto&) { return zeros_like(g); });
}
Tensor sin(const Tensor& x) {
  return unary_op(UnaryOp::Sin, "sin", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * cos(x); });
}
Tensor cos(const Tensor& x) {
  return unary_op(UnaryOp::Cos, "cos", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return -g * sin(x); });
}
Tensor erf(const Tensor& x) {
  return unary_op(UnaryOp::Erf, "erf", as_float(x), true, false, [](const Tensor& g, const Tensor& x, const auto&) {
    return g * (2.0 / std::sqrt(M_PI)) * exp(-(x * x));
  });
}
Tensor reciprocal(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return reciprocal(ac.cast(x));
  return unary_op(UnaryOp::Reciprocal, "reciprocal", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return -g * out * out; });
}
Tensor square(const Tensor& x) {
  // PyTorch's square is pow(x, 2), so CUDA's autocast runs it in f32 as pow.
  if (ops::AutocastRegion ac(ops::autocast_op::pow, {&x}); ac.active()) return square(ac.cast(x));
  if (x.defined() && x.dtype() == DType::boolean) return square(x.to(DType::i64));  // PyTorch's pow(bool, 2) is i64
  return mul(x, x);
}

// PyTorch's derivatives.yaml formulas, term for term.
Tensor tan(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return tan(ac.cast(x));
  return unary_op(UnaryOp::Tan, "tan", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * (out * out + 1.0); });
}
Tensor asin(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return asin(ac.cast(x));
  return unary_op(UnaryOp::Asin, "asin", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * rsqrt(1.0 - x * x); });
}
Tensor acos(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return acos(ac.cast(x));
  return unary_op(UnaryOp::Acos, "acos", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * -rsqrt(1.0 - x * x); });
}
Tensor atan(const Tensor& x) {
  return unary_op(UnaryOp::Atan, "atan", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / (x * x + 1.0); });
}
Tensor sinh(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return sinh(ac.cast(x));
  return unary_op(UnaryOp::Sinh, "sinh", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * cosh(x); });
}
Tensor cosh(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return cosh(ac.cast(x));
  return unary_op(UnaryOp::Cosh, "cosh", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * sinh(x); });
}
Tensor asinh(const Tensor& x) {
  return unary_op(UnaryOp::Asinh, "asinh", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * rsqrt(x * x + 1.0); });
}
Tensor acosh(const Tensor& x) {
  return unary_op(UnaryOp::Acosh, "acosh", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * rsqrt(x * x - 1.0); });
}
Tensor atanh(const Tensor& x) {
  return unary_op(UnaryOp::Atanh, "atanh", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / (1.0 - x * x); });
}
Tensor log2(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return log2(ac.cast(x));
  return unary_op(UnaryOp::Log2, "log2", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / (x * M_LN2); });
}
Tensor log10(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::unary_fp32, {&x}); ac.active())
    return log10(ac.cast(x));
  return unary_op(UnaryOp::Log10, "log10", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g / (x * M_LN10); });
}
Tensor exp2(const Tensor& x) {
  return unary_op(UnaryOp::Exp2, "exp2", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * out * M_LN2; });
}
namespace {
/// floor, ceil, round, trunc: piecewise constant, so the gradient is 0 (PyTorch's choice, also
/// at the jumps); an integer tensor is already whole and comes back as a copy.
Tensor rounding_op(UnaryOp k, const char* name, const Tensor& x, double decimals = 0) {
  NB_CHECK(x.defined(), "[", name, "] got an undefined tensor");
  if (!x.is_floating_point()) {
    NB_CHECK(decimals == 0, "[", name, "] decimals=", decimals, " needs a floating tensor, got dtype ", x.dtype(),
             " with shape ", x.shape());
    return x.clone();
  }
  return unary_op(
      k, name, x, false, false, [](const Tensor& g, const auto&, const auto&) { return zeros_like(g); }, decimals);
}
}  // namespace
Tensor floor(const Tensor& x) { return rounding_op(UnaryOp::Floor, "floor", x); }
Tensor ceil(const Tensor& x) { return rounding_op(UnaryOp::Ceil, "ceil", x); }
Tensor round(const Tensor& x, int64_t decimals) { return rounding_op(UnaryOp::Round, "round", x, double(decimals)); }
Tensor trunc(const Tensor& x) { return rounding_op(UnaryOp::Trunc, "trunc", x); }
Tensor frac(const Tensor& x) {
  ops::check_floating(x, "frac");
  return unary_op(UnaryOp::Frac, "frac", x, false, false, [](const Tensor& g, const auto&, const auto&) { return g; });
}

Tensor tanh(const Tensor& x) {
  return unary_op(UnaryOp::Tanh, "tanh", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * (1.0 - out * out); });
}
Tensor sigmoid(const Tensor& x) {
  return unary_op(UnaryOp::Sigmoid, "sigmoid", as_float(x), false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return g * out * (1.0 - out); });
}
Tensor relu(const Tensor& x) {
  return unary_op(UnaryOp::Relu, "relu", x, false, true,
                  [](const Tensor& g, const auto&, const Tensor& out) { return threshold_backward(g, out); });
}
namespace {
// Backward kernels of the smooth activations: grad * f'(x) in one pass. Each is differentiable in
// both operands (its VJP is written with nabla ops), so grad-of-grad works through them.
Tensor silu_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::SiluGrad, "silu_backward", grad, x, true, false,
                   [](const Tensor& gg, const Tensor& g, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     Tensor d2;
                     if (need_x) {
                       const Tensor s = sigmoid(x);
                       d2 = gg * g * s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s));
                     }
                     return Grads2{need_g ? silu_backward(gg, x) : Tensor(), d2};
                   });
}
Tensor mish_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::MishGrad, "mish_backward", grad, x, true, false,
                   [](const Tensor& gg, const Tensor& g, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     Tensor d2;
                     if (need_x) {  // (1 - t^2) s (2 + x (1 - s) - 2 x s t), t = tanh(softplus(x)), s = sigmoid(x)
                       const Tensor s = sigmoid(x), t = tanh(softplus(x));
                       d2 = gg * g * (1.0 - t * t) * s * (2.0 + x * (1.0 - s) - 2.0 * x * s * t);
                     }
                     return Grads2{need_g ? mish_backward(gg, x) : Tensor(), d2};
                   });
}
Tensor hardsigmoid_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::HardsigmoidGrad, "hardsigmoid_backward", grad, x, true, false,
                   [](const Tensor& gg, const auto&, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     return Grads2{need_g ? hardsigmoid_backward(gg, x) : Tensor(),
                                   need_x ? zeros_like(x) : Tensor()};  // piecewise linear
                   });
}
Tensor hardswish_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::HardswishGrad, "hardswish_backward", grad, x, true, false,
                   [](const Tensor& gg, const Tensor& g, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     // f'' is 1/3 on the closed [-3, 3], where the first derivative is x/3 + 1/2
                     // (PyTorch's double backward uses the open interval: 0 at exactly +-3).
                     Tensor d2 = need_x ? where(le(abs(x), ops::scalar_like(3.0, x)), gg * g / 3.0, zeros_like(x)) : Tensor();
                     return Grads2{need_g ? hardswish_backward(gg, x) : Tensor(), d2};
                   });
}
Tensor gelu_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::GeluGrad, "gelu_backward", grad, x, true, false,
                   [](const Tensor& gg, const Tensor& g, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     // d/dx (Phi + x phi) = phi (2 - x^2)
                     Tensor d2 = need_x ? gg * g * exp(x * x * -0.5) * (0.3989422804014327 * (2.0 - x * x)) : Tensor();
                     return Grads2{need_g ? gelu_backward(gg, x) : Tensor(), d2};
                   });
}
Tensor gelu_tanh_backward(const Tensor& grad, const Tensor& x) {
  return binary_op(BinaryOp::GeluTanhGrad, "gelu_backward", grad, x, true, false,
                   [](const Tensor& gg, const Tensor& g, const Tensor& x, const auto&, bool need_g, bool need_x) {
                     Tensor d2;
                     if (need_x) {  // q (u' - x t u'^2 + x u'' / 2), q = 1 - t^2, u'' = 6 beta kappa x
                       const double beta = backend::kGeluTanhBeta, kappa = backend::kGeluTanhKappa;
                       const Tensor x2 = x * x, u = (x + x2 * x * kappa) * beta;
                       const Tensor t = tanh(u), du = (x2 * (3.0 * kappa) + 1.0) * beta;
                       // 1 - t^2 = 4 s(2u) s(-2u) keeps its digits where t is near +-1, and q
                       // multiplies in before the factors that grow with |x| (0, not 0 * inf).
                       const Tensor q = sigmoid(u * 2.0) * sigmoid(u * -2.0) * 4.0, qdu = q * du;
                       d2 = gg * g * (qdu - qdu * (x * t * du) + q * x2 * (3.0 * beta * kappa));
                     }
                     return Grads2{need_g ? gelu_tanh_backward(gg, x) : Tensor(), d2};
                   });
}
}  // namespace

// PyTorch's forward and backward formulas, one kernel each way (composed, SiLU cost two passes
// forward and about five backward).
Tensor silu(const Tensor& x) {
  ops::check_floating(x, "silu");
  return unary_op(UnaryOp::Silu, "silu", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return silu_backward(g, x); });
}
Tensor mish(const Tensor& x) {
  ops::check_floating(x, "mish");
  return unary_op(UnaryOp::Mish, "mish", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return mish_backward(g, x); });
}
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  ops::check_floating(x, "gelu");
  if (tanh_approximation) {
    return unary_op(UnaryOp::GeluTanh, "gelu", x, true, false,
                    [](const Tensor& g, const Tensor& x, const auto&) { return gelu_tanh_backward(g, x); });
  }
  return unary_op(UnaryOp::Gelu, "gelu", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return gelu_backward(g, x); });
}
namespace {
/// softplus'(x) = sigmoid(beta x), 1 above the threshold (PyTorch's softplus_backward factor),
/// in one kernel; differentiable again for grad-of-grad.
Tensor softplus_deriv(const Tensor& x, double beta, double threshold) {
  return unary_op(
      UnaryOp::SoftplusDeriv, "softplus_backward", x, true, true,
      [beta, threshold](const Tensor& g, const Tensor& x, const Tensor& s) {
        return where(x * beta > threshold, zeros_like(g), g * s * (1.0 - s) * beta);
      },
      beta, threshold);
}
}  // namespace

// Forward and backward one kernel each; the derivative is exactly 1 above the threshold, as
// PyTorch's (the smooth formula would differ there by e^{-threshold}).
Tensor softplus(const Tensor& x, double beta, double threshold) {
  if (ops::AutocastRegion ac(ops::autocast_op::softplus, {&x}); ac.active())
    return softplus(ac.cast(x), beta, threshold);
  ops::check_floating(x, "softplus");
  NB_CHECK(beta > 0, "[softplus] beta must be positive, got ", beta);
  return unary_op(
      UnaryOp::Softplus, "softplus", x, true, false,
      [beta, threshold](const Tensor& g, const Tensor& x, const auto&) { return g * softplus_deriv(x, beta, threshold); },
      beta, threshold);
}
Tensor hardsigmoid(const Tensor& x) {
  ops::check_floating(x, "hardsigmoid");
  return unary_op(UnaryOp::Hardsigmoid, "hardsigmoid", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return hardsigmoid_backward(g, x); });
}
Tensor hardswish(const Tensor& x) {
  ops::check_floating(x, "hardswish");
  return unary_op(UnaryOp::Hardswish, "hardswish", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return hardswish_backward(g, x); });
}

// ---- piecewise and ELU-family activations (PyTorch's forward and backward formulas) -----------
namespace {
/// grad where the row's pass mask (PassInside, PassOutside, PassUnlessWithin) is 1: the VJP of
/// the piecewise linear activations, differentiable in grad (the mask is constant in x).
Tensor masked_grad(const Tensor& g, const Tensor& x, UnaryOp mask, double a, double b) {
  return threshold_backward(g, ops::unary_kernel(mask, x.detach(), a, b));
}
Tensor hardtanh_impl(const Tensor& x, double lo, double hi, const char* name) {
  NB_CHECK(x.defined(), "[", name, "] got an undefined tensor");
  NB_CHECK(!std::isnan(lo) && !std::isnan(hi) && lo <= hi, "[", name, "] min_val ", lo,
           " must not be greater than max_val ", hi, " (input shape ", x.shape(), ")");
  if (!x.is_floating_point()) return clamp(x, lo, hi);  // exact in the integer dtype
  return unary_op(
      UnaryOp::Clamp, name, x, true, false,
      [lo, hi](const Tensor& g, const Tensor& x, const auto&) {
        return masked_grad(g, x, UnaryOp::PassInside, lo, hi);
      },
      lo, hi);
}
}  // namespace

Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  return hardtanh_impl(x, min_val, max_val, "hardtanh");
}
Tensor relu6(const Tensor& x) { return hardtanh_impl(x, 0.0, 6.0, "relu6"); }

Tensor selu(const Tensor& x) {
  ops::check_floating(x, "selu");
  return unary_op(UnaryOp::Selu, "selu", x, true, true, [](const Tensor& g, const Tensor& x, const Tensor& out) {
    // PyTorch's elu_backward and its double backward: scale alpha e^x = out + scale alpha on the
    // left and at NaN (so NaN), the constant scale alpha at 0 (second derivative 0 there), scale
    // on the right.
    constexpr double sa = backend::kSeluScale * backend::kSeluAlpha;
    const Tensor zero = scalar_like(0, x);
    return where(gt(x, zero), g * backend::kSeluScale, where(eq(x, zero), g * sa, g * (out + sa)));
  });
}
Tensor celu(const Tensor& x, double alpha) {
  ops::check_floating(x, "celu");
  NB_CHECK(alpha != 0, "[celu] alpha cannot be 0 (x / alpha is the exponent), input shape ", x.shape());
  return unary_op(
      UnaryOp::Celu, "celu", x, true, true,
      [alpha](const Tensor& g, const Tensor& x, const Tensor& out) {
        // e^{x/alpha} = out / alpha + 1 on the left and at NaN; 1 from 0 on (PyTorch's second
        // derivative is 0 at 0).
        return where(ge(x, scalar_like(0, x)), g, g * (out / alpha + 1.0));
      },
      alpha);
}
Tensor softsign(const Tensor& x) {
  return unary_op(UnaryOp::Softsign, "softsign", as_float(x), true, false,
                  // 1 / (1 + |x|)^2 as the square of a reciprocal: 0, and 0 again after, at +-inf.
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * square(reciprocal(abs(x) + 1.0)); });
}
Tensor logsigmoid(const Tensor& x) {
  ops::check_floating(x, "logsigmoid");
  return unary_op(UnaryOp::LogSigmoid, "logsigmoid", x, true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * sigmoid(-x); });
}
Tensor tanhshrink(const Tensor& x) {
  // d/dx (x - tanh x) = tanh^2 x, kept whole where 1 - (1 - tanh^2) would cancel.
  return unary_op(UnaryOp::Tanhshrink, "tanhshrink", as_float(x), true, false,
                  [](const Tensor& g, const Tensor& x, const auto&) { return g * square(tanh(x)); });
}
Tensor softshrink(const Tensor& x, double lambd) {
  ops::check_floating(x, "softshrink");
  NB_CHECK(lambd >= 0, "[softshrink] lambd must be greater or equal to 0, got ", lambd, " (input shape ", x.shape(),
           ")");
  return unary_op(
      UnaryOp::Softshrink, "softshrink", x, true, false,
      [lambd](const Tensor& g, const Tensor& x, const auto&) {
        return masked_grad(g, x, UnaryOp::PassUnlessWithin, -lambd, lambd);
      },
      lambd);
}
Tensor hardshrink(const Tensor& x, double lambd) {
  ops::check_floating(x, "hardshrink");
  return unary_op(
      UnaryOp::Hardshrink, "hardshrink", x, true, false,
      [lambd](const Tensor& g, const Tensor& x, const auto&) {
        return masked_grad(g, x, UnaryOp::PassOutside, -lambd, lambd);
      },
      lambd);
}
Tensor threshold(const Tensor& x, double th, double value) {
  NB_CHECK(x.defined(), "[threshold] got an undefined tensor");
  if (!x.is_floating_point()) {
    // Exact in the integer dtype: x <= th is x <= floor(th); a threshold beyond the dtype's range
    // replaces every element or none.
    ops::check_fill_value(x.dtype(), value, "threshold");
    if (std::isnan(th)) return x.clone();
    const double whole = std::floor(th);
    if (!ops::converts_without_overflow(x.dtype(), whole)) return whole < 0 ? x.clone() : full_like(x, value);
    return ops::unary_kernel(UnaryOp::Threshold, x, whole, value);
  }
  return unary_op(
      UnaryOp::Threshold, "threshold", x, true, false,
      [th](const Tensor& g, const Tensor& x, const auto&) {
        return masked_grad(g, x, UnaryOp::PassUnlessWithin, -INFINITY, th);
      },
      th, value);
}

Tensor pow(const Tensor& x, double p) {
  if (ops::AutocastRegion ac(ops::autocast_op::pow, {&x}); ac.active())
    return pow(ac.cast(x), p);
  // A bool base with a whole exponent is i64 in PyTorch (the exponent is an int scalar).
  if (x.defined() && x.dtype() == DType::boolean && std::isfinite(p) && std::floor(p) == p) return pow(x.to(DType::i64), p);
  if (p == 1.0) return x * 1.0;
  if (p == 2.0) return mul(x, x);
  if (!x.is_floating_point() && std::isfinite(p) && std::floor(p) == p) {  // a whole exponent keeps the dtype
    NB_CHECK(p >= 0, "[pow] integers to negative integer powers are not allowed (exponent ", p, ", dtype ", x.dtype(),
             "); use a floating tensor");
    return pow(x, integer_scalar_operand(x, p, "pow"));
  }
  return unary_op(
      UnaryOp::PowScalar, "pow", as_float(x), true, false,
      [p](const Tensor& g, const Tensor& x, const auto&) {
        // x^0 is constant: its gradient is 0, not 0 * x^-1 (NaN at x = 0), as in PyTorch.
        return p == 0 ? zeros_like(g) : g * p * pow(x, p - 1.0);
      },
      p);
}
namespace {
// An integer tensor's clamp, exact in its dtype (the float kernel would convert the bounds:
// an absent bound, +-inf, became INT64_MIN, and u8 clamped to [-5, 300] gave 251). A bound
// beyond the dtype's range limits nothing on its side; one every element would have to take
// (u8 clamped to at least 300) cannot be held and is an error.
Tensor clamp_integer(const Tensor& x, double a, double b) {
  Tensor out = x;
  bool limited = false;
  if (ops::converts_without_overflow(x.dtype(), a)) {
    out = where(out < a, ops::scalar_on(a, x.dtype(), x.device()), out);
    limited = true;
  } else {
    NB_CHECK(a < 0, "[clamp] min ", a, " is beyond what dtype ", x.dtype(), " holds");
  }
  if (ops::converts_without_overflow(x.dtype(), b)) {
    out = where(out > b, ops::scalar_on(b, x.dtype(), x.device()), out);
    limited = true;
  } else {
    NB_CHECK(b > 0, "[clamp] max ", b, " is beyond what dtype ", x.dtype(), " holds");
  }
  return limited ? out : x.clone();  // a new tensor either way, as in PyTorch
}
}  // namespace

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  double a = lo.value_or(-INFINITY), b = hi.value_or(INFINITY);
  // As PyTorch (min first, then max): min > max gives max everywhere.
  const double kernel_lo = a > b ? b : a;
  if (!x.is_floating_point()) {
    NB_CHECK(!std::isnan(a) && !std::isnan(b), "[clamp] a NaN bound for an integer tensor (dtype ", x.dtype(), ")");
    // As for add and mul: whole bounds keep the dtype, a fraction makes the result f32.
    auto whole = [](double v) { return std::isinf(v) || std::floor(v) == v; };
    if (!whole(a) || !whole(b)) return clamp(x.to(DType::f32), lo, hi);
    return clamp_integer(x, kernel_lo, b);
  }
  if (std::isnan(a) || std::isnan(b)) return x * 0.0 + NAN;  // a NaN bound makes every element NaN, as PyTorch
  return unary_op(
      UnaryOp::Clamp, "clamp", x, true, false,
      [a, b](const Tensor& g, const Tensor& x, const auto&) {
        // Gradient flows where min <= x <= max (PyTorch's mask): none at a NaN input, none when min > max.
        return where(mul(ge(x, scalar_like(a, x)), le(x, scalar_like(b, x))), g, zeros_like(g));
      },
      kernel_lo, b);
}
Tensor leaky_relu(const Tensor& x, double slope) {
  return unary_op(
      UnaryOp::LeakyRelu, "leaky_relu", as_float(x), true, false,
      [slope](const Tensor& g, const Tensor& x, const auto&) { return where(x > 0.0, g, g * slope); }, slope);
}
Tensor elu(const Tensor& x, double alpha) {
  return unary_op(
      UnaryOp::Elu, "elu", as_float(x), true, true,
      [alpha](const Tensor& g, const Tensor& x, const Tensor& out) {
        // x <= 0 picks the exponential side, so a NaN input passes g on (as PyTorch) rather than NaN.
        return where(le(x, scalar_like(0, x)), g * (out + alpha), g);
      },
      alpha);
}

// ---- scalar operands: one fused kernel, no broadcast tensor ------------------------------------
namespace {
// An integer tensor's scalar operand. C++ cannot tell `x + 2` from `x + 2.0`, so a whole number
// keeps the tensor's dtype (and must fit it: u8 + 300 is an error, as in PyTorch) and any other
// value (a fraction, inf, NaN) makes the result f32, as PyTorch's float scalars do. For u8, as
// there, -255..-1 wrap (x - 1 is x + 255 modulo 256; x * -1 is the negation modulo 256).
Tensor integer_scalar_operand(const Tensor& a, double b, const char* op) {
  if (!std::isfinite(b) || std::floor(b) != b) return scalar_tensor(b, DType::f32);
  // A whole number is PyTorch's int scalar, of a higher category than bool: the result is i64.
  if (a.dtype() == DType::boolean) {
    ops::check_fill_value(DType::i64, b, op);
    return scalar_tensor(b, DType::i64);
  }
  if (a.dtype() == DType::u8 && b < 0 && b >= -255) b += 256;
  ops::check_fill_value(a.dtype(), b, op);
  return scalar_tensor(b, a.dtype());
}
// A comparison with a scalar runs in the tensor's dtype. Converting the scalar would be wrong for
// an integer tensor ([2] < 2.5 false, 2.5 having become 2) or undefined (1e30, NaN), so a
// fraction is replaced by the whole number with the same answers (x < 2.5 is x < 3, x > 2.5 is
// x > 2), and a scalar beyond the dtype's range, or NaN, answers alike for every element.
Tensor compare_scalar(CompareOp op, const Tensor& a0, double b, const char* name) {
  if (a0.is_floating_point()) return ops::compare_kernel(op, a0, scalar_like(b, a0), name);
  // A bool tensor compares as its 0/1 values (a bool 300 would be true, i.e. 1).
  const Tensor a = a0.dtype() == DType::boolean ? a0.to(DType::u8) : a0;
  const bool less = op == CompareOp::Lt || op == CompareOp::Le;
  auto everywhere = [&](bool v) { return full(a.shape(), v ? 1.0 : 0.0, {.dtype = DType::boolean, .device = a.device()}); };
  if (std::isnan(b)) return everywhere(op == CompareOp::Ne);
  // x > 2.5 is x > 2 and x <= 2.5 is x <= 2 (floor); x < 2.5 is x < 3 and x >= 2.5 is x >= 3 (ceil).
  const double whole = op == CompareOp::Gt || op == CompareOp::Le ? std::floor(b) : std::ceil(b);
  if (!ops::converts_without_overflow(a.dtype(), whole)) return everywhere(less == (whole > 0));
  return ops::compare_kernel(op, a, scalar_like(whole, a), name);
}
}  // namespace

Tensor operator+(const Tensor& a, double b) {
  if (!a.is_floating_point()) return add(a, integer_scalar_operand(a, b, "add"));
  return unary_op(
      UnaryOp::AddScalar, "add", a, false, false, [](const Tensor& g, const auto&, const auto&) { return g; }, b);
}
Tensor operator*(const Tensor& a, double b) {
  if (!a.is_floating_point()) return mul(a, integer_scalar_operand(a, b, "mul"));
  return unary_op(
      UnaryOp::MulScalar, "mul", a, false, false, [b](const Tensor& g, const auto&, const auto&) { return g * b; }, b);
}
Tensor operator-(const Tensor& a, double b) {
  if (!a.is_floating_point()) return sub(a, integer_scalar_operand(a, b, "sub"));
  return a + (-b);
}
// A true division, as PyTorch: multiplying by 1/b is off by an ulp for most b (mean of 49 ones
// was 0.99999999999999989).
Tensor operator/(const Tensor& a, double b) {
  return unary_op(
      UnaryOp::DivScalar, "div", as_float(a), false, false,
      [b](const Tensor& g, const auto&, const auto&) { return g / b; }, b);
}
Tensor operator+(double a, const Tensor& b) { return b + a; }
Tensor operator-(double a, const Tensor& b) {
  // A fraction makes the result floating: promote before negating, or -u8 wraps (2.5 - u8(3)
  // was 255.5). A whole a keeps the integer dtype, wrapping as PyTorch does; 1 - mask is i64
  // (PyTorch's int scalar with bool).
  if (!b.is_floating_point() && std::floor(a) != a) return neg(b.to(DType::f32)) + a;
  if (b.dtype() == DType::boolean) return neg(b.to(DType::i64)) + a;
  return neg(b) + a;
}
Tensor operator*(double a, const Tensor& b) { return b * a; }
Tensor operator/(double a, const Tensor& b) {
  if (a == 1.0) return reciprocal(as_float(b));
  const Tensor x = as_float(b);  // a true division, as tensor / scalar: (1 / b) * a can be an ulp off
  return div(ops::scalar_on(a, x.dtype(), x.device()), x);
}
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }

// ---- comparisons and selection ---------------------------------------------------------------
Tensor gt(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Gt, a, b, "gt"); }
Tensor lt(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Lt, a, b, "lt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Ge, a, b, "ge"); }
Tensor le(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Le, a, b, "le"); }
Tensor eq(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return ops::compare_kernel(CompareOp::Ne, a, b, "ne"); }
Tensor operator>(const Tensor& a, double b) { return compare_scalar(CompareOp::Gt, a, b, "gt"); }
Tensor operator<(const Tensor& a, double b) { return compare_scalar(CompareOp::Lt, a, b, "lt"); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator>=(const Tensor& a, double b) { return compare_scalar(CompareOp::Ge, a, b, "ge"); }
Tensor operator<=(const Tensor& a, double b) { return compare_scalar(CompareOp::Le, a, b, "le"); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor isfinite(const Tensor& x) {
  ops::check_tensor(x, "isfinite");
  if (!x.is_floating_point()) return ones(x.shape(), {.dtype = DType::boolean, .device = x.device()});
  return ops::unary_kernel(UnaryOp::IsFinite, x).to(DType::boolean);
}
Tensor isnan(const Tensor& x) {
  ops::check_tensor(x, "isnan");
  if (!x.is_floating_point()) return zeros(x.shape(), {.dtype = DType::boolean, .device = x.device()});
  return ops::compare_kernel(CompareOp::Ne, x, x, "isnan");  // only NaN differs from itself
}
Tensor isinf(const Tensor& x) {
  ops::check_tensor(x, "isinf");
  if (!x.is_floating_point()) return zeros(x.shape(), {.dtype = DType::boolean, .device = x.device()});
  return ops::compare_kernel(CompareOp::Eq, ops::unary_kernel(UnaryOp::Abs, x), scalar_like(INFINITY, x), "isinf");
}

// ---- logical ops: every operand counts as x != 0; computed on bool (0/1) bytes -------------------
namespace {
Tensor as_bool(const Tensor& x, const char* op) {
  ops::check_tensor(x, op);
  return x.dtype() == DType::boolean ? x : x.to(DType::boolean);
}
}  // namespace
Tensor logical_and(const Tensor& a, const Tensor& b) {
  // min of two 0/1 bytes is their and; the kernel broadcasts and moves a 0-d CPU operand.
  return ops::binary_kernel(BinaryOp::Minimum, as_bool(a, "logical_and"), as_bool(b, "logical_and"), "logical_and");
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return ops::binary_kernel(BinaryOp::Maximum, as_bool(a, "logical_or"), as_bool(b, "logical_or"), "logical_or");
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return ops::compare_kernel(CompareOp::Ne, as_bool(a, "logical_xor"), as_bool(b, "logical_xor"), "logical_xor");
}
Tensor logical_not(const Tensor& x) {
  const Tensor b = as_bool(x, "logical_not");
  return ops::compare_kernel(CompareOp::Eq, b, ops::scalar_on(0, DType::boolean, b.device()), "logical_not");
}
namespace {
void check_bool_operands(const Tensor& a, const Tensor& b, const char* op) {
  NB_CHECK(a.defined() && b.defined(), "[", op, "] got an undefined tensor");
  NB_CHECK(a.dtype() == DType::boolean && b.dtype() == DType::boolean, "[", op,
           "] is defined for bool tensors only (a logical op), got ", a.dtype(), " ", a.shape(), " and ", b.dtype(), " ",
           b.shape(), "; nabla has no bitwise integer ops: compare first, or use logical_and/or/xor");
}
}  // namespace
Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "and");
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "or");
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "xor");
  return logical_xor(a, b);
}
Tensor operator~(const Tensor& x) {
  check_bool_operands(x, x, "not");
  return logical_not(x);
}

namespace {
/// a == b or |a - b| <= atol + rtol |b| element-wise (bool), computed in f64 (exact in i64 for
/// two integer tensors): allclose's and isclose's test.
Tensor close_mask(const Tensor& a, const Tensor& b, double rtol, double atol) {
  NoGradGuard ng;
  Tensor x = a.to(DType::f64), y = b.to(DType::f64);
  ops::broadcast_shapes(x.shape(), y.shape(), "allclose");
  // Equal values first, as PyTorch's isclose: exact for integers beyond 2^53 (which f64 rounds
  // together) and true for equal infinities (whose difference is NaN).
  // Two integer tensors subtract in i64, so a difference of 1 beyond 2^53 is not rounded away.
  const bool integers = !a.is_floating_point() && !b.is_floating_point();
  Tensor diff = integers ? abs(a.to(DType::i64) - b.to(DType::i64)) : abs(x - y);
  // An infinite difference is never close, though the tolerance of an infinite y is infinite too.
  return logical_or(eq(a, b), logical_and(le(diff, abs(y) * rtol + atol), isfinite(diff)));
}
}  // namespace

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  NB_CHECK(a.defined() && b.defined(), "[allclose] got an undefined tensor");
  const Tensor ok = close_mask(a, b, rtol, atol);
  return sum(ok).item<int64_t>() == shape_numel(ok.shape());
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  NB_CHECK(a.defined() && b.defined(), "[isclose] got an undefined tensor");
  NB_CHECK(a.dtype() == b.dtype(), "[isclose] a and b must have one dtype, as in PyTorch; got ", a.dtype(), " ",
           a.shape(), " and ", b.dtype(), " ", b.shape());
  NB_CHECK(rtol >= 0 && atol >= 0, "[isclose] rtol and atol must be non-negative, got rtol=", rtol, " atol=", atol);
  if (a.dtype() == DType::boolean) return eq(a, b);  // as PyTorch: bool values are close when equal
  Tensor ok = close_mask(a, b, rtol, atol);
  if (equal_nan) ok = logical_or(ok, logical_and(isnan(a), isnan(b)));
  return ok;
}

Tensor where(const Tensor& cond, const Tensor& a0, const Tensor& b0) {
  NB_CHECK(cond.defined(), "[where] got an undefined condition");
  // bool, or u8 (the legacy mask form, as PyTorch 1.x): the kernel takes any non-zero byte as true.
  NB_CHECK(cond.dtype() == DType::boolean || cond.dtype() == DType::u8,
           "[where] condition must be a bool tensor (or a legacy u8 mask), got ", cond.dtype(), " with shape ",
           cond.shape());
  auto [a, b] = promoted(a0, b0, "where");
  ops::check_same_device(a, b, "where");
  ops::check_same_device(cond, a, "where");
  Shape shape = ops::broadcast_shapes(ops::broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, {.dtype = a.dtype(), .device = a.device()});
  Shape sc = ops::broadcast_strides(cond, shape), sa = ops::broadcast_strides(a, shape),
        sb = ops::broadcast_strides(b, shape);
  backend::get(a.device()).where(a.dtype(), {int(shape.size()), shape.data()}, {out.raw_data(), out.strides().data()},
                      {cond.raw_data(), sc.data()}, {a.raw_data(), sa.data()}, {b.raw_data(), sb.data()});
  if (auto node = autograd::record("where", {a, b}, {out})) {
    node->backward_fn = [c = cond.detach(), sha = a.shape(), shb = b.shape(), na = node->needs_input_grad(0),
                         nb = node->needs_input_grad(1)](const TensorList& g) {
      Tensor z = zeros_like(g[0]);
      return TensorList{na ? sum_to(where(c, g[0], z), sha) : Tensor(), nb ? sum_to(where(c, z, g[0]), shb) : Tensor()};
    };
  }
  return out;
}

}  // namespace nabla
