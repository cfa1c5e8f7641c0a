// The element-wise math, written once. Each X-macro row generates the op enum value, its
// name, and (here for the CPU, later with NB_HD for CUDA) the kernel functor.
// In unary rows `x` is the input, `a`/`b` are op parameters (slope, bounds, exponent).
// In binary rows `x`, `y` are the operands; in the *Grad rows `x` is the incoming gradient and
// `y` the forward input.
#pragma once
#include <cmath>
#include <type_traits>

#include "../host_device.h"
#include "wrapping.h"

#ifndef NB_HD
#define NB_HD
#endif

namespace nabla::backend {
/// max(x, 0) that keeps NaN (as PyTorch's relu does); shared by the ReLU row and the fused
/// epilogues, so every path agrees.
template <typename T>
NB_HOST_DEVICE T relu_of(T x) {
  return (x > T(0) || x != x) ? x : T(0);
}
// The activation rows below are instantiated for every dtype with the others, but the ops
// reach them with floating tensors only (they check); for integers they return 0 rather than
// compute with wrapped constants (u8's T(-3) is 253) or overflow.
/// x sigmoid(x).
template <typename T>
NB_HOST_DEVICE T silu_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x / (T(1) + std::exp(-x));
}
/// x tanh(softplus(x)), PyTorch's formula.
template <typename T>
NB_HOST_DEVICE T mish_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x * std::tanh(std::log1p(std::exp(x)));
}
/// d/dx of x sigmoid(x): s (1 + x (1 - s)), PyTorch's silu_backward formula.
template <typename T>
NB_HOST_DEVICE T silu_grad_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
}
/// d/dx of x tanh(softplus(x)): t + x s (1 - t^2), PyTorch's mish_backward formula.
template <typename T>
NB_HOST_DEVICE T mish_grad_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T t = std::tanh(std::log1p(std::exp(x))), s = T(1) / (T(1) + std::exp(-x));
    return t + x * s * (T(1) - t * t);
  }
}
// The hard activations compute their middle piece first and then select, with no control flow
// a vectorizer must keep (PyTorch's formulas; NaN takes the middle piece and stays NaN).
template <typename T>
NB_HOST_DEVICE T hardsigmoid_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T mid = x / T(6) + T(0.5);
    return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : mid);
  }
}
/// 0 at -inf (PyTorch's x * clamp(...) gives -inf * 0 = NaN there).
template <typename T>
NB_HOST_DEVICE T hardswish_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T mid = x * (x + T(3)) / T(6);
    return x <= T(-3) ? T(0) : (x >= T(3) ? x : mid);
  }
}
/// g/6 strictly inside (-3, 3), else 0.
template <typename T>
NB_HOST_DEVICE T hardsigmoid_grad_of(T g, T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T mid = g / T(6);
    return ((x > T(-3)) & (x < T(3))) ? mid : T(0);
  }
}
/// 0 below -3, g (x/3 + 1/2) on [-3, 3], g above.
template <typename T>
NB_HOST_DEVICE T hardswish_grad_of(T g, T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T mid = g * (x / T(3) + T(0.5));
    return x < T(-3) ? T(0) : (x <= T(3) ? mid : g);
  }
}
constexpr double kSqrtHalf = 0.7071067811865476;  // 1 / sqrt(2)
/// x Phi(x) with Phi the standard normal CDF: PyTorch's x (1 + erf(x / sqrt 2)) / 2, written
/// with erfc(-x / sqrt 2) = 1 + erf(x / sqrt 2) so the left tail keeps its digits (1 + erf
/// cancels there: off by 1.8% at x = -8 in f64, and 0 below).
template <typename T>
NB_HOST_DEVICE T gelu_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x * T(0.5) * std::erfc(-x * T(kSqrtHalf));
}
/// d/dx of x Phi(x): Phi(x) + x phi(x), PyTorch's gelu_backward formula (Phi through erfc).
template <typename T>
NB_HOST_DEVICE T gelu_grad_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T cdf = T(0.5) * std::erfc(-x * T(kSqrtHalf));
    const T pdf = std::exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1 / sqrt(2 pi)
    return cdf + x * pdf;
  }
}
// The tanh approximation x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3) (PyTorch's
// approximate="tanh"); u' = sqrt(2/pi) (1 + 3 0.044715 x^2).
constexpr double kGeluTanhBeta = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluTanhKappa = 0.044715;
template <typename T>
NB_HOST_DEVICE T gelu_tanh_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T u = T(kGeluTanhBeta) * (x + T(kGeluTanhKappa) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(u));
  }
}
/// (1 + t) / 2 + x (1 - t^2) u' / 2, PyTorch's gelu_backward formula for approximate="tanh".
template <typename T>
NB_HOST_DEVICE T gelu_tanh_grad_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T t = std::tanh(T(kGeluTanhBeta) * (x + T(kGeluTanhKappa) * x * x * x));
    const T du = T(kGeluTanhBeta) * (T(1) + T(3 * kGeluTanhKappa) * x * x);
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
  }
}
/// log(1 + e^{beta x}) / beta, or x where beta x > threshold (PyTorch's softplus). Written as
/// max(bx, 0) + log1p(e^{-|bx|}) so no threshold is needed to avoid overflow; NaN stays NaN.
template <typename T>
NB_HOST_DEVICE T softplus_of(T x, double beta, double threshold) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T bx = x * T(beta);
    const T soft = ((bx > T(0) ? bx : T(0)) + std::log1p(std::exp(-(bx < T(0) ? -bx : bx)))) / T(beta);
    return bx > T(threshold) ? x : soft;
  }
}
/// d/dx softplus: sigmoid(beta x), exactly 1 where beta x > threshold (the identity piece).
template <typename T>
NB_HOST_DEVICE T softplus_deriv_of(T x, double beta, double threshold) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T bx = x * T(beta);
    return bx > T(threshold) ? T(1) : T(1) / (T(1) + std::exp(-bx));
  }
}

// Rounding: integers are already whole (PyTorch returns them unchanged).
template <typename T>
NB_HOST_DEVICE T floor_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return x;
  else return std::floor(x);
}
template <typename T>
NB_HOST_DEVICE T ceil_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return x;
  else return std::ceil(x);
}
template <typename T>
NB_HOST_DEVICE T trunc_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return x;
  else return std::trunc(x);
}
/// Half to even (nearbyint in the default rounding mode), at `decimals` places as PyTorch's
/// round(x, decimals): nearbyint(x 10^d) / 10^d, or nearbyint(x / 10^-d) 10^-d for d < 0.
template <typename T>
NB_HOST_DEVICE T round_of(T x, double decimals) {
  if constexpr (!std::is_floating_point_v<T>) {
    return x;
  } else {
    if (decimals == 0) return std::nearbyint(x);
    const bool neg = decimals < 0;
    const T p = T(std::pow(10.0, neg ? -decimals : decimals));
    return neg ? std::nearbyint(x / p) * p : std::nearbyint(x * p) / p;
  }
}
/// x - trunc(x) (NaN at +-inf, as PyTorch).
template <typename T>
NB_HOST_DEVICE T frac_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x - std::trunc(x);
}
/// C's fmod: the remainder of x / y truncated, with the dividend's sign. Integers: the ops check
/// y != 0 first; y == -1 is 0 without dividing (INT64_MIN % -1 traps).
template <typename T>
NB_HOST_DEVICE T fmod_of(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::fmod(x, y);
  } else {
    if (y == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (y == T(-1)) return T(0);
    }
    return T(x % y);
  }
}
/// Python's modulo: the remainder of x / y floored, with the divisor's sign (PyTorch's formula:
/// fmod, plus y where the signs differ; remainder(-1, inf) is inf, as there).
template <typename T>
NB_HOST_DEVICE T remainder_of(T x, T y) {
  const T r = fmod_of(x, y);
  if constexpr (std::is_unsigned_v<T>) {
    return r;
  } else {
    return (r != T(0) && ((y < T(0)) != (r < T(0)))) ? T(r + y) : r;
  }
}
/// floor(x / y) consistent with remainder (PyTorch's div_floor: (x - fmod(x, y)) / y, corrected;
/// floor(x / y) alone is off by one where x / y rounds up to a whole number: 1 / 0.1).
/// Floating operands only (the gradient of remainder).
template <typename T>
NB_HOST_DEVICE T div_floor_of(T x, T y) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    if (y == T(0)) return x / y;
    const T mod = std::fmod(x, y);
    T div = (x - mod) / y;
    if (mod != T(0) && ((y < T(0)) != (mod < T(0)))) div -= T(1);
    if (div == T(0)) return std::copysign(T(0), x / y);
    T floordiv = std::floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
    return floordiv;
  }
}
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
/// scale x for x > 0, scale alpha (e^x - 1) otherwise (expm1: PyTorch's e^x - 1 loses the
/// digits of small |x|; the + 0 turns expm1(-0) = -0 into PyTorch's e^-0 - 1 = +0).
template <typename T>
NB_HOST_DEVICE T selu_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x > T(0) ? T(kSeluScale) * x : T(kSeluScale * kSeluAlpha) * (std::expm1(x) + T(0));
}
/// x for x > 0, alpha (e^{x/alpha} - 1) otherwise (zeros signed as PyTorch's, as selu_of).
template <typename T>
NB_HOST_DEVICE T celu_of(T x, double alpha) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x > T(0) ? x : T(alpha) * (std::expm1(x / T(alpha)) + T(0));
}
/// x / (1 + |x|); +-1 at +-inf (the limit; PyTorch's composition gives inf / inf = NaN).
template <typename T>
NB_HOST_DEVICE T softsign_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T ax = std::abs(x);
    return ax == T(INFINITY) ? (x > T(0) ? T(1) : T(-1)) : x / (T(1) + ax);
  }
}
/// log(sigmoid(x)) = min(x, 0) - log1p(e^{-|x|}): no overflow, and exact digits in both tails.
template <typename T>
NB_HOST_DEVICE T log_sigmoid_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return (x < T(0) ? x : T(0)) - std::log1p(std::exp(-std::abs(x)));
}
template <typename T>
NB_HOST_DEVICE T tanhshrink_of(T x) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return x - std::tanh(x);
}
/// x - lambd above lambd, x + lambd below -lambd, 0 between; NaN stays NaN (PyTorch 1.13 gave 0).
template <typename T>
NB_HOST_DEVICE T softshrink_of(T x, double lambd) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T l = T(lambd);
    return x > l ? x - l : (x < -l ? x + l : (x != x ? x : T(0)));
  }
}
/// 0 on [-lambd, lambd], x elsewhere (and at NaN).
template <typename T>
NB_HOST_DEVICE T hardshrink_of(T x, double lambd) {
  if constexpr (!std::is_floating_point_v<T>) {
    return T(0);
  } else {
    const T l = T(lambd);
    return (x >= -l && x <= l) ? T(0) : x;
  }
}
// Gradient masks of the piecewise-linear activations (1 where the gradient passes, else 0), with
// PyTorch's conventions at the kinks and at NaN (LibTorch 1.13's vectorized kernels):
// hardtanh passes strictly inside (a, b), hardshrink strictly outside [a, b], both not at NaN;
// softshrink and threshold pass everywhere but on [a, b], NaN included.
template <typename T>
NB_HOST_DEVICE T pass_inside_of(T x, double a, double b) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return (x > T(a) && x < T(b)) ? T(1) : T(0);
}
template <typename T>
NB_HOST_DEVICE T pass_outside_of(T x, double a, double b) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return (x < T(a) || x > T(b)) ? T(1) : T(0);
}
template <typename T>
NB_HOST_DEVICE T pass_unless_within_of(T x, double a, double b) {
  if constexpr (!std::is_floating_point_v<T>) return T(0);
  else return (x >= T(a) && x <= T(b)) ? T(0) : T(1);
}
}  // namespace nabla::backend

#define NB_UNARY_OPS(X)                                         \
  X(Neg, wrap_neg(x))                                           \
  X(Exp, std::exp(x))                                           \
  X(Log, std::log(x))                                           \
  X(Log1p, std::log1p(x))                                       \
  X(Expm1, std::expm1(x))                                       \
  X(Sqrt, std::sqrt(x))                                         \
  X(Rsqrt, T(1) / std::sqrt(x))                                 \
  X(Abs, abs_of(x))                                             \
  X(Sign, T((x > T(0)) - (x < T(0))))                           \
  X(Tanh, std::tanh(x))                                         \
  X(Sigmoid, T(1) / (T(1) + std::exp(-x)))                      \
  X(Relu, relu_of(x))                                           \
  X(Silu, silu_of(x))                                           \
  X(Mish, mish_of(x))                                           \
  X(Hardsigmoid, hardsigmoid_of(x))                             \
  X(Hardswish, hardswish_of(x))                                 \
  X(Gelu, gelu_of(x))                                           \
  X(GeluTanh, gelu_tanh_of(x))                                  \
  X(Softplus, softplus_of(x, a, b))                             \
  X(SoftplusDeriv, softplus_deriv_of(x, a, b))                  \
  X(Erf, std::erf(x))                                           \
  X(Sin, std::sin(x))                                           \
  X(Cos, std::cos(x))                                           \
  X(Reciprocal, T(1) / x)                                       \
  X(PowScalar, std::pow(x, T(a)))                               \
  X(Clamp, x < T(a) ? T(a) : (x > T(b) ? T(b) : x))             \
  X(LeakyRelu, x > T(0) ? x : T(a) * x)                         \
  X(Elu, x > T(0) ? x : T(a) * std::expm1(x))                   \
  X(AddScalar, wrap_add(x, T(a)))                               \
  X(MulScalar, wrap_mul(x, T(a)))                               \
  X(DivScalar, x / T(a))                                        \
  X(IsFinite, T(std::isfinite(double(x)) ? 1 : 0))             \
  X(Tan, std::tan(x))                                           \
  X(Asin, std::asin(x))                                         \
  X(Acos, std::acos(x))                                         \
  X(Atan, std::atan(x))                                         \
  X(Sinh, std::sinh(x))                                         \
  X(Cosh, std::cosh(x))                                         \
  X(Asinh, std::asinh(x))                                       \
  X(Acosh, std::acosh(x))                                       \
  X(Atanh, std::atanh(x))                                       \
  X(Log2, std::log2(x))                                         \
  X(Log10, std::log10(x))                                       \
  X(Exp2, std::exp2(x))                                         \
  X(Floor, floor_of(x))                                         \
  X(Ceil, ceil_of(x))                                           \
  X(Round, round_of(x, a))                                      \
  X(Trunc, trunc_of(x))                                         \
  X(Frac, frac_of(x))                                           \
  X(Selu, selu_of(x))                                           \
  X(Celu, celu_of(x, a))                                        \
  X(Softsign, softsign_of(x))                                   \
  X(LogSigmoid, log_sigmoid_of(x))                              \
  X(Tanhshrink, tanhshrink_of(x))                               \
  X(Softshrink, softshrink_of(x, a))                            \
  X(Hardshrink, hardshrink_of(x, a))                            \
  X(Threshold, x <= T(a) ? T(b) : x)                            \
  X(PassInside, pass_inside_of(x, a, b))                        \
  X(PassOutside, pass_outside_of(x, a, b))                      \
  X(PassUnlessWithin, pass_unless_within_of(x, a, b))

#define NB_BINARY_OPS(X)                        \
  X(Add, wrap_add(x, y))                        \
  X(Sub, wrap_sub(x, y))                        \
  X(Mul, wrap_mul(x, y))                        \
  X(Div, x / y)                                 \
  X(Pow, pow_of(x, y))                          \
  X(Maximum, (x > y || x != x) ? x : y)         \
  X(Minimum, (x < y || x != x) ? x : y)         \
  X(ThresholdGrad, y <= T(0) ? T(0) : x)        \
  X(SiluGrad, x * silu_grad_of(y))              \
  X(MishGrad, x * mish_grad_of(y))              \
  X(HardsigmoidGrad, hardsigmoid_grad_of(x, y)) \
  X(HardswishGrad, hardswish_grad_of(x, y))     \
  X(GeluGrad, x * gelu_grad_of(y))              \
  X(GeluTanhGrad, x * gelu_tanh_grad_of(y))     \
  X(Atan2, std::atan2(x, y))                    \
  X(Fmod, fmod_of(x, y))                        \
  X(Remainder, remainder_of(x, y))              \
  X(DivFloor, div_floor_of(x, y))

#define NB_COMPARE_OPS(X) \
  X(Gt, x > y)            \
  X(Lt, x < y)            \
  X(Ge, x >= y)           \
  X(Le, x <= y)           \
  X(Eq, x == y)           \
  X(Ne, x != y)

namespace nabla::backend {

#define NB_ENUM_ROW(name, expr) name,
enum class UnaryOp { NB_UNARY_OPS(NB_ENUM_ROW) };
enum class BinaryOp { NB_BINARY_OPS(NB_ENUM_ROW) };
enum class CompareOp { NB_COMPARE_OPS(NB_ENUM_ROW) };
#undef NB_ENUM_ROW

#define NB_NAME_ROW(name, expr) #name,
inline const char* op_name(UnaryOp op) {
  static const char* names[] = {NB_UNARY_OPS(NB_NAME_ROW)};
  return names[int(op)];
}
inline const char* op_name(BinaryOp op) {
  static const char* names[] = {NB_BINARY_OPS(NB_NAME_ROW)};
  return names[int(op)];
}
inline const char* op_name(CompareOp op) {
  static const char* names[] = {NB_COMPARE_OPS(NB_NAME_ROW)};
  return names[int(op)];
}
#undef NB_NAME_ROW

}  // namespace nabla::backend
