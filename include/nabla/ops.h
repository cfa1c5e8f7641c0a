// Every differentiable op. Broadcasting follows NumPy; binary ops promote dtypes
// (bool < u8 < i64 < f16, bf16 < f32 < f64) as `result_type` says. Each op's VJP is written with
// these same ops, so gradients are differentiable again (grad-of-grad). Errors name the op and the shapes involved.
//
// Integer tensors behave as PyTorch's. C++ cannot tell `x + 2` from `x + 2.0`, so a whole
// scalar keeps the integer dtype (it must fit: u8 + 300 is an error; u8 takes -255..-1 by
// wrapping) and a fraction, inf or NaN gives f32. i64 arithmetic (+, -, *, pow, sum, matmul)
// wraps modulo 2^64; integer matmul runs on the CPU only (cuBLAS has none, PyTorch refuses too). Comparisons and clamp with a scalar are exact whatever the scalar. Division and
// math functions give f32 (f64 when the other operand is f64). An in-place op whose result is
// floating is refused for an integer tensor. Floating -> integer conversion truncates, and NaN
// or out-of-range values become the x86 "integer indefinite" (INT64_MIN; 0 for u8).
//
// bool (kBool) is PyTorch's torch.bool: comparisons, isnan/isinf/isfinite/isclose, logical_*,
// all and any return it, and masks take it (u8 masks are still accepted: the legacy form, as in
// PyTorch 1.x). Converting to bool gives x != 0 (NaN is true); bool converts to numbers as 0/1.
// bool + bool is a logical or, bool * bool a logical and (as PyTorch); bool - bool and -bool are
// errors (use logical_xor / logical_not). sum, cumsum and prod of bool give i64; mean is an error.
// With a scalar, a whole number makes a bool tensor i64 and a fraction f32 (PyTorch's int and
// float scalars).
#pragma once
#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "nabla/reduction.h"
#include "nabla/tensor.h"

namespace nabla {

// ---- dtype promotion (ops/op_util.cpp) ------------------------------------------------------
/// The dtype a binary op computes `a` with `b` in: PyTorch's `torch.result_type`. Tensors with
/// dimensions promote among themselves; a 0-d tensor counts only when its category (bool <
/// integer < floating) is higher than theirs (so `bool mask * i64 0-d` is i64, `u8 * bool 0-d` u8). So `bf16 tensor * f32 0-d tensor` stays bf16 and `f32 tensor
/// + f64 0-d tensor` stays f32 (a 0-d tensor acts as a number would), while `i64 tensor * f32 0-d`
/// gives f32. Between two 0-d (or two dimensioned) tensors it is `promote`.
DType result_type(const Tensor& a, const Tensor& b);

// ---- creation (ops/creation.cpp) --------------------------------------------------------
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
/// Values start, start+step, ... below end (default dtype i64 when all are integers, else f32).
Tensor arange(double start, double end, double step = 1.0, std::optional<DType> dtype = std::nullopt);
Tensor arange(double end);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
/// Uniform in [0, 1).
Tensor rand(const Shape& shape, TensorOptions opts = {});
/// Standard normal.
Tensor randn(const Shape& shape, TensorOptions opts = {});
/// Integers in [low, high), dtype i64.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device = Device::cpu());
/// A random permutation of 0..n-1 (i64).
Tensor randperm(int64_t n);
/// Copies `values` (row-major) into a new tensor of `shape` (dtype from T unless given).
/// T is float, double, int64_t, uint8_t or bool (std::vector<bool> too; with `dtype` kBool any
/// non-zero value becomes true).
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, std::optional<DType> dtype = std::nullopt);
/// A bool tensor from a braced list: from_vector({true, false, true}, {3}).
Tensor from_vector(std::initializer_list<bool> values, const Shape& shape);
Tensor scalar_tensor(double value, DType dtype = DType::f32);
/// In-place random fills (for initializers); no autograd.
void uniform_(Tensor& t, double low, double high);
void normal_(Tensor& t, double mean, double std);

// ---- element-wise arithmetic (ops/elementwise.cpp) ----------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
/// True division: integer inputs give f32.
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);
// Trigonometric, hyperbolic, log/exp in base 2 and 10 (integers compute in f32, as PyTorch).
// Outside the domain (asin(2), acosh(0.5), log2(-1)) the result is NaN; at the poles +-inf.
Tensor tan(const Tensor& x);
Tensor asin(const Tensor& x);
Tensor acos(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor asinh(const Tensor& x);
Tensor acosh(const Tensor& x);
Tensor atanh(const Tensor& x);
Tensor log2(const Tensor& x);
Tensor log10(const Tensor& x);
Tensor exp2(const Tensor& x);
/// The angle of the point (x, y) in (-pi, pi], as std::atan2 (atan2(+-0, -0) = +-pi).
/// Gradients x / (x^2 + y^2) for y and -y / (x^2 + y^2) for x (NaN at the origin, as PyTorch).
Tensor atan2(const Tensor& y, const Tensor& x);
// Rounding: integer tensors come back unchanged (a copy). Gradient 0 everywhere, as PyTorch.
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
/// Rounds half to even (2.5 -> 2, -0.5 -> -0), at `decimals` places (negative: tens, hundreds...)
/// as PyTorch's round(x, decimals=0).
Tensor round(const Tensor& x, int64_t decimals = 0);
Tensor trunc(const Tensor& x);
/// x - trunc(x), the fractional part with x's sign (floating tensors only, as PyTorch); gradient 1.
Tensor frac(const Tensor& x);
/// The remainder of a / b rounded toward zero: the sign of the dividend a (C's fmod; Python's
/// math.fmod). Integer tensors stay integers; an integer division by zero is an error.
/// Gradients 1 for a and -trunc(a / b) for b, as PyTorch.
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, double b);
/// The remainder of a / b rounded toward -inf: the sign of the divisor b (Python's %).
/// Gradients 1 for a and -floor(a / b) for b, as PyTorch.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, double b);
/// Element-wise clamp to [min, max] (either bound may be absent). Gradient passes where not clamped.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
/// cond ? a : b, with `cond` a bool tensor (or a u8 one, the legacy form: non-zero is true); broadcast.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Three-operand element-wise ops (ops/blend.cpp), broadcast over all three, PyTorch's formulas.
/// start + weight (end - start), evaluated as end - (end - start)(1 - weight) where |weight| >= 0.5
/// (PyTorch's form: exact at weight 1). start, end and a tensor weight must share one floating
/// dtype, as in PyTorch. Gradients (1 - weight) g, weight g and (end - start) g.
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor lerp(const Tensor& start, const Tensor& end, double weight);
/// input + value t1 t2. Dtypes promote as mul and add do (a fractional value with integer
/// tensors gives f32, nabla's scalar rule; PyTorch 1.13 truncates the value instead).
Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, double value = 1);
/// input + value t1 / t2 (true division). Two integer tensors t1, t2 are refused, as PyTorch does.
Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, double value = 1);
/// Comparisons return bool and are not differentiable.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
/// Element-wise tests, bool results (integer and bool tensors: finite, never NaN or infinite).
Tensor isfinite(const Tensor& x);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
/// Element-wise a == b or |a - b| <= atol + rtol * |b| (bool), as torch.isclose; NaN equals NaN
/// only with `equal_nan`. a and b must share a dtype, as in PyTorch.
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
/// Element-wise |a - b| <= atol + rtol * |b| for all elements.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
/// Logical ops of any dtypes (non-zero, NaN included, is true), broadcast; bool results.
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator>(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
/// On bool tensors: logical and / or / xor / not (PyTorch's &, |, ^, ~ on bool); other dtypes
/// are refused (nabla has no bitwise integer ops).
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& x);

// ---- activations (ops/activation.cpp; composed unless noted) ------------------------------
Tensor relu(const Tensor& x);  ///< kernel-backed, VJP uses threshold_backward
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);
/// GELU; exact (erf) by default, or the tanh approximation.
Tensor gelu(const Tensor& x, bool tanh_approximation = false);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
/// log(1 + exp(beta x)) / beta, linear above `threshold` for stability.
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
/// x sigmoid(x) (SiLU, also called swish).
Tensor silu(const Tensor& x);
/// x tanh(softplus(x)).
Tensor mish(const Tensor& x);
/// clamp(x/6 + 1/2, 0, 1); gradient 1/6 strictly inside (-3, 3), 0 outside, as PyTorch.
Tensor hardsigmoid(const Tensor& x);
/// x hardsigmoid(x), with PyTorch's gradient (x/3 + 1/2 on [-3, 3]); 0 at -inf (PyTorch: NaN).
Tensor hardswish(const Tensor& x);
/// x for x > 0, weight x otherwise; `weight` holds 1 value or one per channel (dim 1 of x).
Tensor prelu(const Tensor& x, const Tensor& weight);
/// grad where `x` > 0, else 0 (relu's VJP; differentiable in grad).
Tensor threshold_backward(const Tensor& grad, const Tensor& x);
/// clamp(x, min_val, max_val); the gradient passes strictly inside (min_val, max_val), 0 at the
/// bounds (PyTorch's). min_val > max_val is an error. Integer tensors stay integers.
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);
/// min(max(x, 0), 6): hardtanh(x, 0, 6).
Tensor relu6(const Tensor& x);
/// scale (max(0, x) + min(0, alpha (e^x - 1))) with PyTorch's alpha = 1.6732632423543772848 and
/// scale = 1.0507009873554804934 (self-normalizing networks). Gradient at 0: scale alpha.
Tensor selu(const Tensor& x);
/// max(0, x) + min(0, alpha (e^{x/alpha} - 1)); alpha must not be 0.
Tensor celu(const Tensor& x, double alpha = 1.0);
/// x / (1 + |x|) (+-1 at +-inf, where PyTorch gives NaN).
Tensor softsign(const Tensor& x);
/// log(sigmoid(x)) = -softplus(-x), stable for any x (no overflow, no early rounding to 0 or x).
Tensor logsigmoid(const Tensor& x);
/// x - tanh(x).
Tensor tanhshrink(const Tensor& x);
/// x - lambd above lambd, x + lambd below -lambd, 0 between (lambd >= 0). Gradient 0 on the
/// closed [-lambd, lambd].
Tensor softshrink(const Tensor& x, double lambd = 0.5);
/// x outside [-lambd, lambd], 0 inside (gradient likewise, 0 at +-lambd).
Tensor hardshrink(const Tensor& x, double lambd = 0.5);
/// x where x > threshold, else `value` (PyTorch's F.threshold); gradient 0 where x <= threshold.
/// Integer tensors stay integers (value must fit the dtype).
Tensor threshold(const Tensor& x, double threshold, double value);
/// Gated linear unit: a sigmoid(b), with a and b the first and second halves of x along `dim`
/// (whose size must be even).
Tensor glu(const Tensor& x, int64_t dim = -1);
/// softmax(-x) along dim.
Tensor softmin(const Tensor& x, int64_t dim);

// ---- reductions (ops/reduce.cpp). `dims` empty = all dims ------------------------------------
Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
/// Variance with Bessel's correction by default (correction = 1), as PyTorch.
Tensor var(const Tensor& x, const Shape& dims = {}, bool keepdim = false, int64_t correction = 1);
Tensor std(const Tensor& x, const Shape& dims = {}, bool keepdim = false, int64_t correction = 1);
/// Max/min values over `dims`, gradient split evenly among ties: PyTorch's torch.amax / amin
/// (and torch.max(x) / min(x) without a dim), not torch.max(x, dim), whose values come with indices
/// and whose gradient goes to one index only (topk(x, 1, dim) gives values and indices that way).
Tensor max(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
/// Product over `dims` (all when empty; PyTorch's prod takes one dim, several here multiply over
/// each); integers (u8 and bool too) multiply in i64, wrapping, as PyTorch. 1 over an empty dim. Computed as
/// a tree of pairwise products, so the gradient is the product of the other elements with zeros
/// among the inputs as well (one zero: only it gets a gradient; two or more: none), and it is
/// differentiable again (PyTorch 1.13's second derivative with two or more zeros in one product
/// is 0, which is wrong; this one is the true one).
Tensor prod(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
/// Whether any / all elements over `dims` (all when empty) are non-zero (NaN counts as non-zero):
/// bool (PyTorch 1.13 gives u8 for u8 input; nabla gives bool for every input). any of nothing
/// is false, all is true.
Tensor any(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
/// Index of the max along `dim` (i64), or of the flattened tensor when dim is absent.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
/// The k largest (or smallest) values along `dim` and their indices, sorted.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true);
/// Reduces a broadcast gradient back to `shape` (sums over broadcast dims).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Scans along `dim` (ops/scan.cpp): log2(n) rounds of a Hillis-Steele scan, each composed of
// existing ops, so the gradients and their gradients come from autograd on every device.
/// Running sum along `dim` (u8 and bool input count as i64).
Tensor cumsum(const Tensor& x, int64_t dim);
/// Running product along `dim`; integers (u8 too) multiply in i64, as PyTorch. Built of products
/// only (no division), so the gradient is right where x has zeros, and differentiable again.
Tensor cumprod(const Tensor& x, int64_t dim);
/// log(cumsum(exp(x))) along `dim` without overflow or underflow (each step a logsumexp of two
/// values), floating tensors only, as PyTorch. Where every value so far is -inf the output is -inf
/// and, as in PyTorch, the gradient there is NaN.
Tensor logcumsumexp(const Tensor& x, int64_t dim);
/// Values sorted along `dim` and the indices they came from; stable (ties keep their order), NaN
/// sorts as the largest value, as in PyTorch. Sorted on the host, as topk.
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);

// ---- order statistics (ops/order_stats.cpp) ------------------------------------------------
// As topk: the chosen positions are found on the host and the values gathered from x, so the
// gradient goes to the chosen elements (as PyTorch's), on every device. NaN counts as larger
// than every number; ties resolve in a stable order (the lower index first).
/// The k-th smallest value along `dim` (k counts from 1) and its index: torch.kthvalue.
std::pair<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim = -1, bool keepdim = false);
/// The lower median of all elements (the ((n-1)/2)-th smallest, not the mean of the middle two, as
/// torch.median); NaN if any element is NaN, and for an empty tensor. The gradient is split
/// evenly among the elements equal to it (the NaNs when it is NaN), as PyTorch's.
Tensor median(const Tensor& x);
/// The lower median along `dim` and its index (the first NaN's where the row has one).
std::pair<Tensor, Tensor> median(const Tensor& x, int64_t dim, bool keepdim = false);
/// median ignoring NaN: NaN only where every element is (index: the first NaN).
Tensor nanmedian(const Tensor& x);
std::pair<Tensor, Tensor> nanmedian(const Tensor& x, int64_t dim, bool keepdim = false);
/// The most frequent value along `dim` (the smallest of equally frequent ones) and the index of
/// its last occurrence: torch.mode.
std::pair<Tensor, Tensor> mode(const Tensor& x, int64_t dim = -1, bool keepdim = false);
/// Running max / min along `dim` and the index where it was reached (the latest of equal values;
/// a NaN stays the running value from where it appears), as torch.cummax / cummin.
std::pair<Tensor, Tensor> cummax(const Tensor& x, int64_t dim);
std::pair<Tensor, Tensor> cummin(const Tensor& x, int64_t dim);
/// How quantile picks a value between the two sorted neighbours of rank q * (n - 1).
enum class QuantileInterpolation { linear, lower, higher, midpoint, nearest };
struct QuantileOptions {
  std::optional<int64_t> dim = std::nullopt;  ///< none: over all elements
  bool keepdim = false;
  QuantileInterpolation interpolation = QuantileInterpolation::linear;
};
/// The q-th quantile (q in [0, 1]) of a floating tensor: torch.quantile. A 1-D q gives one result
/// per q along a new first dimension. NaN where the row has a NaN; differentiable (through sort).
Tensor quantile(const Tensor& x, double q, const QuantileOptions& opts = {});
Tensor quantile(const Tensor& x, const Tensor& q, const QuantileOptions& opts = {});
/// quantile ignoring NaN (the rank counts the other elements only; NaN where all are NaN).
Tensor nanquantile(const Tensor& x, double q, const QuantileOptions& opts = {});
Tensor nanquantile(const Tensor& x, const Tensor& q, const QuantileOptions& opts = {});

// ---- counting and searching (ops/counting.cpp): integer results, no gradient ----------------
/// Indices of the non-zero elements (NaN counts), one row each in row-major order: [n, x.dim()]
/// i64, torch.nonzero (and torch.argwhere). Waits for a GPU tensor's values, as PyTorch's does.
Tensor nonzero(const Tensor& x);
Tensor argwhere(const Tensor& x);
/// nonzero(x, as_tuple=True): one 1-D index tensor per dimension (x[nonzero_tuple(x)] selects).
TensorList nonzero_tuple(const Tensor& x);
/// The number of non-zero elements over `dims` (all when empty), i64.
Tensor count_nonzero(const Tensor& x, const Shape& dims = {});
struct BincountOptions {
  Tensor weights = {};  ///< optional, same length as the input; summed instead of counting 1s
  int64_t minlength = 0;
};
/// Counts of each value 0..max(x) of a 1-D non-negative integer tensor (at least `minlength`
/// bins): i64, or with weights their sums in f32 for f32 weights and f64 otherwise (PyTorch's
/// rule). Unlike PyTorch's, differentiable with respect to floating weights.
Tensor bincount(const Tensor& x, const BincountOptions& opts = {});
/// Histogram of `bins` equal bins over [min, max] (the data's own range when min == max, widened
/// by 1 each way if that is one value); values outside are ignored, max falls in the last bin.
/// Same dtype as x (floating), as torch.histc.
Tensor histc(const Tensor& x, int64_t bins = 100, double min = 0, double max = 0);
struct SearchSortedOptions {
  bool right = false;  ///< false: first index i with sorted[i] >= v; true: with sorted[i] > v
  Tensor sorter = {};  ///< optional: indices that sort an unsorted sequence (argsort's result)
};
/// Where `values` would go in `sorted_sequence` to keep it sorted: torch.searchsorted. The
/// sequence is 1-D, or has the values' leading dimensions (one sequence per row). i64.
Tensor searchsorted(const Tensor& sorted_sequence, const Tensor& values, const SearchSortedOptions& opts = {});
/// The bucket of each element among 1-D sorted `boundaries`: searchsorted(boundaries, x).
Tensor bucketize(const Tensor& x, const Tensor& boundaries, bool right = false);
/// Coordinates [2, n] (i64, row-major) of the lower / upper triangle of a row x col matrix,
/// `offset` diagonals above (below when negative) the main one, as torch.tril_indices / triu_indices.
Tensor tril_indices(int64_t row, int64_t col, int64_t offset = 0, Device device = Device::cpu());
Tensor triu_indices(int64_t row, int64_t col, int64_t offset = 0, Device device = Device::cpu());

// ---- sampling (ops/sampling.cpp) -------------------------------------------------------------
/// `num_samples` category indices per row of non-negative weights `probs` ([C] or [R, C]; need
/// not sum to 1), i64: torch.multinomial. Without replacement each row needs that many non-zero
/// weights. Drawn from nabla's generator (manual_seed), on the host.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);
/// Vector p-norm over `dims` (all when empty), torch.linalg.vector_norm: (sum |x|^p)^(1/p);
/// p = inf is the max of |x|, p = 0 the count of non-zeros. The gradient at a zero vector is 0.
Tensor norm(const Tensor& x, double p = 2, const Shape& dims = {}, bool keepdim = false);

// ---- linear algebra (ops/linalg.cpp) ------------------------------------------------------
/// NumPy matmul: 1-D·1-D dot, 2-D·2-D, batched with broadcast batch dims. Integer operands: CPU.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x · weightᵀ + bias; x [..., in], weight [out, in], bias [out] (optional).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
/// x1ᵀ A_o x2 + bias_o for each output o: x1 [..., in1], x2 [..., in2] with the same leading dims,
/// weight [out, in1, in2], bias [out] (optional); gives [..., out].
Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias = Tensor());
/// relu(linear(x, weight, bias)) as one op: on the CPU (f32) the bias and the ReLU ride along with
/// the GEMM, saving two passes over the output. Same values and gradients as the composition.
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// Products and distances composed of matmul, sum, mul and the views (ops/contract.cpp,
// ops/einsum.cpp). Mixed dtypes promote as matmul does (PyTorch 1.13 refuses them in einsum,
// tensordot and cross: its bmm needs one dtype).
/// Einstein summation, torch.einsum: "ij,jk->ik" with subscripts in [a-zA-Z], spaces ignored.
/// Implicit output (no "->"): the subscripts that appear once, in alphabetical order (upper case
/// first), after the "..." dims. A subscript repeated in one operand takes its diagonal ("ii->i",
/// "ii" the trace); subscripts of size 1 and "..." dims broadcast; subscripts missing from an
/// explicit output are summed. Operands contract left to right, each pair as one batched matmul
/// (PyTorch without opt_einsum); integer operands that contract need the CPU, as matmul. Errors
/// name the equation and the operand or subscript at fault.
Tensor einsum(const std::string& equation, const TensorList& operands);
/// An einsum sublist (torch.einsum's sublist form): one integer per dim, 0-25 for the subscripts
/// A-Z and 26-51 for a-z, and Ellipsis where "..." would stand.
using EinsumSublist = std::vector<int64_t>;
/// Python's Ellipsis (`...`) in an einsum sublist: einsum(x, {Ellipsis, 0, 1}, {Ellipsis, 1, 0}).
inline constexpr int64_t Ellipsis = INT64_MIN;
/// torch.einsum(op1, sublist1, op2, sublist2, ..., [sublist_out]): operands[i] with sublists[i],
/// and the output's sublist when given (else implicit, as for an equation without "->"). Turned
/// into the equation (0 -> 'A', 26 -> 'a', Ellipsis -> "...") and computed by einsum above.
/// Errors name einsum, the sublist and the subscript outside [0, 52).
Tensor einsum(const TensorList& operands, const std::vector<EinsumSublist>& sublists,
              const std::optional<EinsumSublist>& output = std::nullopt);
/// The sublist form spelled as PyTorch's: einsum(a, {0, 1}, b, {1, 2}, {0, 2}).
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa) { return einsum(TensorList{a}, {sa}); }
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa, const EinsumSublist& out) {
  return einsum(TensorList{a}, {sa}, out);
}
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa, const Tensor& b, const EinsumSublist& sb) {
  return einsum(TensorList{a, b}, {sa, sb});
}
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa, const Tensor& b, const EinsumSublist& sb,
                     const EinsumSublist& out) {
  return einsum(TensorList{a, b}, {sa, sb}, out);
}
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa, const Tensor& b, const EinsumSublist& sb,
                     const Tensor& c, const EinsumSublist& sc) {
  return einsum(TensorList{a, b, c}, {sa, sb, sc});
}
inline Tensor einsum(const Tensor& a, const EinsumSublist& sa, const Tensor& b, const EinsumSublist& sb,
                     const Tensor& c, const EinsumSublist& sc, const EinsumSublist& out) {
  return einsum(TensorList{a, b, c}, {sa, sb, sc}, out);
}
/// Sums the products over the last `dims` dims of a and the first `dims` of b (torch.tensordot).
Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims = 2);
/// Sums the products over dims_a of a paired with dims_b of b; a pair of sizes 1 and n is summed
/// over n first, as PyTorch. Result: a's other dims then b's, in order.
Tensor tensordot(const Tensor& a, const Tensor& b, const Shape& dims_a, const Shape& dims_b);
/// a_i b_j of two 1-D tensors: [n, m].
Tensor outer(const Tensor& a, const Tensor& b);
/// Kronecker product: ranks padded with leading 1s, out[i * b.shape + j] = a[i] b[j] per dim.
Tensor kron(const Tensor& a, const Tensor& b);
/// The 3-vector cross product along `dim` of a and b (same rank, other dims broadcast). As
/// torch.cross, an absent dim means the first dim of size 3 in a (PyTorch deprecates that default;
/// torch.linalg.cross uses dim -1: pass it to be explicit).
Tensor cross(const Tensor& a, const Tensor& b, std::optional<int64_t> dim = std::nullopt);
/// How cdist computes p = 2 distances (PyTorch's compute_mode).
enum class CdistMode {
  /// ‖x‖² + ‖y‖² - 2 x·y through matmul when P > 25 or R > 25 (PyTorch's default)
  UseMmForEuclidDistIfNecessary,
  UseMmForEuclidDist,       ///< always through matmul: fast, but cancellation costs digits
  DonotUseMmForEuclidDist,  ///< always from the differences (exact zeros for equal points)
};
/// p-norm distances between the rows of x1 [..., P, M] and x2 [..., R, M] (batch dims broadcast):
/// [..., P, R], torch.cdist, p >= 0 (inf: max |d|; 0: count of non-zeros, without gradient).
/// Floating tensors only. The gradient at zero distance is 0 for every p, as PyTorch's. On the
/// matmul path (see CdistMode) equal points come out, as in PyTorch, at the rounding error of
/// ‖x‖² + ‖y‖² - 2 x·y: 0 where that rounds to <= 0, else ~1e-8 (f64) with a gradient of rounding
/// noise. The direct path materializes the [..., P, R, M] differences (PyTorch's kernel does not).
Tensor cdist(const Tensor& x1, const Tensor& x2, double p = 2,
             CdistMode mode = CdistMode::UseMmForEuclidDistIfNecessary);
/// Sum of the main diagonal of a matrix (not necessarily square); integers sum in i64.
Tensor trace(const Tensor& x);

// ---- shape and indexing (ops/shape.cpp, ops/index.cpp, ops/rearrange.cpp) ----------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor cat(const TensorList& tensors, int64_t dim = 0);
Tensor stack(const TensorList& tensors, int64_t dim = 0);
/// out[i][j] = x[i][index[i][j]] along `dim` (index i64, same rank as x).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// Adds `src` into a copy of `x` at `index` along `dim` (the VJP of gather).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
/// Picks entries `index` (1-D i64) along `dim`.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// Adds `src` slices into a copy of `x` at `index` along `dim` (the VJP of index_select).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Compositions of the above (ops/rearrange.cpp):
/// Views of x along `dim` of `split_size` each (the last one shorter when it does not divide).
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
/// Views of x along `dim` of the given lengths, which must add up to x.size(dim).
TensorList split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
/// `chunks` views of ceil(size / chunks) along `dim` (fewer when that leaves nothing to the last).
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
/// x with the order of elements reversed along each of `dims`.
Tensor flip(const Tensor& x, const Shape& dims);
/// out[i] = x[(i - shift) mod n] along `dim`: elements shifted with wrap-around.
Tensor roll(const Tensor& x, int64_t shift, int64_t dim);
/// x tiled repeats[d] times along each dim (torch's Tensor.repeat); a longer `repeats` adds
/// leading dims.
Tensor repeat(const Tensor& x, const Shape& repeats);
/// The lower (j - i <= diagonal) / upper (j - i >= diagonal) triangle of the last two dims, zero
/// elsewhere (a causal attention mask is tril of ones).
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
/// x with `value` where the bool `mask` (broadcast to x's shape) is true; a u8 mask (the legacy
/// form) counts non-zero as true.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
/// The elements of x where `mask` (bool, or legacy u8; both broadcast together) is true, as a
/// 1-D tensor in row-major order: PyTorch's masked_select and x[mask]. Differentiable in x.
Tensor masked_select(const Tensor& x, const Tensor& mask);
/// One-hot encoding of i64 labels in [0, num_classes) as f32 (`dtype` to change).
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);
/// The diagonal of x over dims dim1, dim2 (offset > 0 above the main diagonal, < 0 below), as a
/// view that shares x's storage (torch.diagonal): those two dims removed, the diagonal appended
/// last; empty when the offset is beyond the matrix.
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
/// x's last dim placed on the `offset` diagonal of dims dim1, dim2 (of the output, which has one
/// more dim and size n + |offset| there), zero elsewhere (torch.diag_embed).
Tensor diag_embed(const Tensor& x, int64_t offset = 0, int64_t dim1 = -2, int64_t dim2 = -1);
/// torch.diag: a 1-D x becomes the square matrix with x on diagonal `diagonal`; a 2-D x gives a
/// copy of that diagonal (empty beyond the matrix, where PyTorch 1.13 fails on an overflow).
Tensor diag(const Tensor& x, int64_t diagonal = 0);
/// Zeros of `input_shape` with `grad` written into the slice (the VJP of slice).
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start, int64_t end,
                      int64_t step);

// ---- convolution, pooling, normalization, resampling (ops/conv.cpp, pool.cpp, norm.cpp, norm_composed.cpp,
// resample.cpp, shuffle_fold.cpp) ----
using Size2 = std::array<int64_t, 2>;

struct Conv2dOptions {
  Size2 stride{1, 1};
  Size2 padding{0, 0};
  bool padding_same = false;  ///< pad so the output has the input's size (stride 1 only), like padding='same'
  Size2 dilation{1, 1};
  int64_t groups = 1;
  /// relu(conv2d(...)) in the same kernel: the activation costs no extra pass over the output.
  bool fuse_relu = false;
};
/// 2-D convolution (cross-correlation) of x [N, C, H, W] with weight [O, C/groups, kH, kW] and
/// optional bias [O]. Output [N, O, (H + 2p - d(k-1) - 1)/s + 1, ...].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& opts = {});

struct Conv1dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  bool padding_same = false;  ///< pad so the output has the input's length (stride 1 only)
  int64_t dilation = 1;
  int64_t groups = 1;
};
/// 1-D convolution (cross-correlation) of x [N, C, L] (or [C, L]) with weight [O, C/groups, K]
/// and optional bias [O]: conv2d over [N, C, 1, L]. Output [N, O, (L + 2p - d(K-1) - 1)/s + 1].
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv1dOptions& opts = {});

struct ConvTranspose2dOptions {
  Size2 stride{1, 1};
  Size2 padding{0, 0};
  Size2 output_padding{0, 0};
  Size2 dilation{1, 1};
  int64_t groups = 1;
};
/// Transposed convolution (the input-gradient of conv2d) of x [N, C_in, H, W] with weight
/// [C_in, C_out/groups, kH, kW]. Output size (H-1)s - 2p + d(k-1) + output_padding + 1.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvTranspose2dOptions& opts = {});
struct ConvTranspose1dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t output_padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
};
/// Transposed 1-D convolution of x [N, C_in, L] (or [C_in, L]) with weight [C_in, C_out/groups, K]
/// and optional bias [C_out]: conv_transpose2d over [N, C, 1, L]. Output length
/// (L - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1.
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvTranspose1dOptions& opts = {});
/// Gradient of conv2d with respect to its weight, for input x and output-gradient grad
/// (differentiable; used by conv2d's VJP). Returns [O, C/groups, kernel[0], kernel[1]].
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& grad, Size2 kernel, const Conv2dOptions& opts);

struct Pool2dOptions {
  Size2 kernel{2, 2};
  Size2 stride{0, 0};  ///< 0 = the kernel size
  Size2 padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;  ///< avg_pool2d: padded zeros count in the average
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opts = {});
/// max_pool2d and the flat index (into H*W of each input plane) of every maximum.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const Pool2dOptions& opts = {});
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opts = {});
/// Average pooling to a fixed output size (windows floor(i*H/out) .. ceil((i+1)*H/out)).
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
/// Max pooling to a fixed output size, over the windows of adaptive_avg_pool2d. The gradient goes
/// to the first maximum of each window in row-major order (PyTorch's choice among ties).
Tensor adaptive_max_pool2d(const Tensor& x, Size2 output_size);
/// Mean over the spatial dims: [N, C, H, W] -> [N, C].
Tensor global_avg_pool2d(const Tensor& x);

struct Pool1dOptions {
  int64_t kernel = 2;
  int64_t stride = 0;  ///< 0 = the kernel size
  int64_t padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  ///< avg_pool1d: padded zeros count in the average
};
/// 1-D pooling of x [N, C, L] (or unbatched [C, L]): the 2-D ops over [N, C, 1, L], with their
/// rules (padding at most half the kernel; ceil_mode's last window starts inside the input).
Tensor max_pool1d(const Tensor& x, const Pool1dOptions& opts = {});
Tensor avg_pool1d(const Tensor& x, const Pool1dOptions& opts = {});
/// Average / max over the windows floor(i*L/out) .. ceil((i+1)*L/out) of x [N, C, L] or [C, L].
Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size);
Tensor adaptive_max_pool1d(const Tensor& x, int64_t output_size);

/// Batch normalization over every dim but 1 of x [N, C, ...]. Training: batch statistics, and
/// running_mean/var (if given) updated in place as (1-momentum)*running + momentum*batch (var
/// unbiased). Eval: running statistics. weight/bias [C] optional.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
/// Layer normalization over the trailing `normalized_shape` dims, with optional weight/bias of that shape.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

/// Group normalization of x [N, C, ...]: the C channels split into `num_groups` groups, each
/// group of each sample normalized over its channels and spatial positions (biased variance),
/// then weight/bias [C] (optional) per channel.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

struct InstanceNormOptions {
  Tensor running_mean, running_var;  ///< [C], optional (both or neither)
  Tensor weight, bias;               ///< [C], optional
  /// Normalize with each sample's own statistics (and update the running ones, if given);
  /// false: with running_mean/var (an InstanceNorm with track_running_stats in eval mode).
  bool use_input_stats = true;
  double momentum = 0.1;
  double eps = 1e-5;
};
/// Instance normalization of x [N, C, *] (at least one spatial dim): each channel of each sample
/// normalized over its positions (biased variance), then weight/bias per channel; running
/// averages, when given, take the mean over the batch of the per-sample statistics (variance
/// unbiased), as PyTorch's F.instance_norm.
Tensor instance_norm(const Tensor& x, const InstanceNormOptions& opts = {});

/// Root-mean-square normalization over the trailing `normalized_shape` dims (PyTorch 2.4's
/// F.rms_norm): x / sqrt(mean(x^2) + eps) * weight, weight of normalized_shape optional; eps
/// absent means the machine epsilon of x's dtype (2^-23 for f32, 2^-52 for f64), as PyTorch.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                std::optional<double> eps = std::nullopt);
/// Local response normalization across channels (AlexNet's; PyTorch's formula) of x [N, C, *]:
/// x / (k + alpha * avg(x^2))^beta, the average over the `size` channels c - size/2 ..
/// c + (size-1)/2 (zeros beyond the edges count in the average).
Tensor local_response_norm(const Tensor& x, int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0);

enum class PadMode { Constant, Reflect, Replicate, Circular };
/// Pads trailing dims; `pads` = {left, right, top, bottom, ...} starting from the last dim, as PyTorch.
/// Negative pads crop. Reflect needs pad < size of the dim, circular (wrap around) pad <= size.
Tensor pad(const Tensor& x, const Shape& pads, PadMode mode = PadMode::Constant, double value = 0.0);

enum class InterpolateMode { Nearest, Bilinear };
struct InterpolateOptions {
  std::optional<Size2> size;                          ///< the output size, or
  std::optional<std::array<double, 2>> scale_factor;  ///< output = floor(input * scale_factor)
  InterpolateMode mode = InterpolateMode::Nearest;
  /// Bilinear only: map the corner pixels' centres onto each other (PyTorch's align_corners=True)
  /// instead of the corners of the images.
  bool align_corners = false;
};
/// Resizes x [N, C, H, W], with PyTorch's source-pixel formulas; a given scale_factor is used in
/// them as PyTorch does (1 / scale_factor, not input / output size).
Tensor interpolate(const Tensor& x, const InterpolateOptions& opts);
/// Resizes x [N, C, H, W] to `size` (align_corners=false semantics, as PyTorch's default).
Tensor interpolate(const Tensor& x, Size2 size, InterpolateMode mode = InterpolateMode::Nearest);

// Spatial transformers (ops/grid_sample.cpp), PyTorch's F.affine_grid and F.grid_sample:
// compositions of gather and element-wise ops, so the gradients reach both the input and the
// grid (the sampling positions) on every device, and are differentiable again.
/// Sampling grid of affine maps theta [N, 2, 3] (or [N, 3, 4]) over an output of `size` [N, C,
/// H, W] (or [N, C, D, H, W]): [N, H, W, 2] (or [N, D, H, W, 3]) of (x, y[, z]) in [-1, 1].
Tensor affine_grid(const Tensor& theta, const Shape& size, bool align_corners = false);
enum class GridSampleMode { bilinear, nearest, bicubic };
enum class GridSamplePadding { zeros, border, reflection };
struct GridSampleOptions {
  GridSampleMode mode = GridSampleMode::bilinear;
  GridSamplePadding padding_mode = GridSamplePadding::zeros;
  /// -1 and 1 name the centres of the corner pixels (true) or the outer edges of the corner
  /// pixels (false, PyTorch's default).
  bool align_corners = false;
};
/// Samples x [N, C, H, W] at grid [N, Ho, Wo, 2] (x, y in [-1, 1]) giving [N, C, Ho, Wo]; or
/// x [N, C, D, H, W] at grid [N, Do, Ho, Wo, 3] (bilinear means trilinear there; no bicubic).
/// nearest rounds half to even, as PyTorch; bicubic uses PyTorch's A = -0.75 and pads each tap.
Tensor grid_sample(const Tensor& x, const Tensor& grid, const GridSampleOptions& opts = {});

/// Sub-pixel rearrangements (PyTorch's, for any leading dims): pixel_shuffle moves
/// [*, C r^2, H, W] to [*, C, H r, W r], with out[c, h r + i, w r + j] = in[c r^2 + i r + j, h, w];
/// pixel_unshuffle is its inverse ([*, C, H r, W r] -> [*, C r^2, H, W]).
Tensor pixel_shuffle(const Tensor& x, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& x, int64_t downscale_factor);
/// ShuffleNet's channel shuffle of x [N, C, *]: the C channels seen as [groups, C/groups] are
/// transposed, so channel g (C/groups) + j goes to j groups + g.
Tensor channel_shuffle(const Tensor& x, int64_t groups);

struct FoldOptions {
  Size2 dilation{1, 1};
  Size2 padding{0, 0};  ///< zeros added on both sides of each spatial dim
  Size2 stride{1, 1};
};
/// im2col (PyTorch's F.unfold): the kernel_size blocks of x [N, C, H, W] (or [C, H, W]) as columns,
/// [N, C kh kw, L] with row c kh kw + i kw + j holding kernel tap (i, j) of channel c and L the
/// blocks in row-major order. Copies of strided views: exact, one pass over the output.
Tensor unfold(const Tensor& x, Size2 kernel_size, const FoldOptions& opts = {});
/// col2im (F.fold), the adjoint of unfold: sums the columns of x [N, C kh kw, L] (or [C kh kw, L])
/// into an image [N, C, output_size]; overlapping blocks add up (in a fixed order). unfold and fold
/// are each other's VJP, so both are differentiable to any order.
Tensor fold(const Tensor& x, Size2 output_size, Size2 kernel_size, const FoldOptions& opts = {});

// ---- embedding (ops/embedding.cpp, embedding_bag.cpp) -----------------------------------------
struct EmbeddingOptions {
  /// Lookups of this row (negative counts from the end) pass it no gradient, as PyTorch's.
  std::optional<int64_t> padding_idx = std::nullopt;
  /// Before the lookup, each looked-up row whose norm_type-norm exceeds max_norm is rescaled in
  /// place to that norm (embedding_renorm_): the caller's `weight` changes, as in PyTorch.
  std::optional<double> max_norm = std::nullopt;
  double norm_type = 2.0;
  /// Each row's gradient is divided by the number of times `indices` looks it up (every time a
  /// gradient crosses the lookup, so a second derivative is divided twice).
  bool scale_grad_by_freq = false;
};
/// Rows of `weight` [num, dim] picked by i64 `indices` of any shape: [..., dim] (F.embedding).
Tensor embedding(const Tensor& weight, const Tensor& indices, const EmbeddingOptions& opts);
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);
/// torch.embedding_renorm_: each row of `weight` that `indices` picks and whose norm_type-norm
/// exceeds max_norm is multiplied by max_norm / (norm + 1e-7), in place and outside autograd (as
/// an optimizer step changes a parameter); every call counts as a write, so a backward that saved
/// `weight` before fails its version check, naming this op. Rows not picked are left bit for bit.
Tensor& embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm, double norm_type = 2.0);

enum class EmbeddingBagMode { Sum, Mean, Max };
struct EmbeddingBagOptions {
  /// With a 1-D input: the start of each bag in it (i64, non-decreasing, first 0). A 2-D input
  /// [B, n] is B bags of n and takes no offsets.
  Tensor offsets = {};
  EmbeddingBagMode mode = EmbeddingBagMode::Mean;
  /// One weight per input entry (input's shape), Sum mode only: each row is scaled before summing.
  Tensor per_sample_weights = {};
  /// offsets has B + 1 entries, the last one the input's length (the CSR layout).
  bool include_last_offset = false;
  /// Entries equal to this index (negative counts from the end) are left out of their bag: not
  /// summed, counted in no mean, never the max, and no gradient to that row.
  std::optional<int64_t> padding_idx = std::nullopt;
  /// As EmbeddingOptions': the looked-up rows renormalized in place first.
  std::optional<double> max_norm = std::nullopt;
  double norm_type = 2.0;
  /// Each row's gradient divided by how often `input` holds it; sum and mean modes only, as in
  /// PyTorch.
  bool scale_grad_by_freq = false;
};
/// The sum, mean or max of the rows of `weight` [num, dim] that each bag of i64 `input` picks:
/// [B, dim] (PyTorch's F.embedding_bag, weight first as in embedding()). An empty bag gives zeros.
/// Max's gradient is split evenly among the entries of a bag that attain the maximum (PyTorch's goes
/// to one of them; the totals agree when the tied entries are one row picked twice).
Tensor embedding_bag(const Tensor& weight, const Tensor& input, const EmbeddingBagOptions& opts = {});

// ---- regularization (ops/dropout.cpp) ------------------------------------------------------
/// Zeroes each element with probability p (mask from the global RNG) and scales the rest by
/// 1/(1-p); identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
/// Channel dropout ("feature dropout", PyTorch's dropout1d / dropout2d): zeroes each whole channel
/// of each sample with probability p and scales the rest by 1/(1-p), for x [N, C, L] or [C, L]
/// (dropout1d) and [N, C, H, W] or [C, H, W] (dropout2d). Neighbouring activations of a feature
/// map are correlated, so dropping single elements barely regularizes a convolution's output.
Tensor dropout1d(const Tensor& x, double p = 0.5, bool training = true);
Tensor dropout2d(const Tensor& x, double p = 0.5, bool training = true);

// ---- losses (ops/loss.cpp). Numerically stable (log-sum-exp). --------------------------------
struct CrossEntropyOptions {
  Tensor weight = {};           ///< per-class weights [C] (optional)
  int64_t ignore_index = -100;  ///< targets equal to this contribute nothing
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
};
/// Cross-entropy from logits [N, C] (or [N, C, d...]) with i64 class targets [N] (or
/// [N, d...]), or with probability targets of the logits' shape.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opts = {});

struct NllLossOptions {
  Tensor weight;
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
/// Negative log-likelihood from log-probabilities [N, C] and i64 targets [N].
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& opts = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
struct BCEWithLogitsOptions {
  Tensor weight;      ///< broadcast to the input
  Tensor pos_weight;  ///< per-class weight of positive examples
  Reduction reduction = Reduction::Mean;
};
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const BCEWithLogitsOptions& opts = {});
/// Binary cross-entropy of probabilities `input` (each in [0, 1]) against `target` of its shape;
/// each log is clamped at -100 as in PyTorch, so input 0 or 1 gives a finite loss.
struct BCEOptions {
  Tensor weight;  ///< broadcast to the input
  Reduction reduction = Reduction::Mean;
};
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCEOptions& opts = {});
/// mean |input - target| (or sum / none); the gradient at a zero difference is 0.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta 0 is l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double beta = 1.0);
/// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): smooth_l1_loss times delta.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                  double delta = 1.0);
struct KLDivOptions {
  /// Reduction::BatchMean (the sum over the batch size) is the true KL divergence per sample;
  /// Mean divides by every element, as PyTorch's default.
  Reduction reduction = Reduction::Mean;
  bool log_target = false;  ///< target given as log-probabilities
};
/// KL(target || exp(input)) pointwise: target (log target - input), 0 where target is 0;
/// `input` holds log-probabilities.
Tensor kl_div(const Tensor& input, const Tensor& target, const KLDivOptions& opts = {});

// ---- distances, margin and likelihood losses (ops/loss_margin.cpp), PyTorch's names, defaults
// and formulas; composed from the ops above (every device, grad-of-grad). Targets documented as
// 1 or -1 are checked to be (PyTorch does not check, and a 0/1 target silently trains wrong).
/// Cosine of the angle between x1 and x2 along `dim`, after broadcasting them to one shape:
/// x1·x2 / (max(‖x1‖, eps) max(‖x2‖, eps)). As in PyTorch the eps floor is applied to the norms
/// without a gradient of its own (the gradient flows as if they were not clamped).
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim = 1, double eps = 1e-8);
/// ‖x1 - x2 + eps‖_p over the last dim of the broadcast shape (eps is added to the difference, as
/// PyTorch does); p may be any value but NaN (negative: (Σ|d|^p)^(1/p); inf / -inf: max / min |d|;
/// 0: the count of non-zeros, without gradient).
Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p = 2, double eps = 1e-6, bool keepdim = false);

struct CosineEmbeddingOptions {
  double margin = 0.0;  ///< in [-1, 1]; PyTorch suggests 0 to 0.5
  Reduction reduction = Reduction::Mean;
};
/// 1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1, with
/// cos = x1·x2 / sqrt((‖x1‖² + 1e-12)(‖x2‖² + 1e-12)) along the last dim. x1, x2: [N, D] with
/// target [N], or [D] with a 0-d target.
Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& target,
                             const CosineEmbeddingOptions& opts = {});

struct MarginRankingOptions {
  double margin = 0.0;
  Reduction reduction = Reduction::Mean;
};
/// max(0, -target (x1 - x2) + margin): target 1 means x1 should rank higher. The three tensors
/// have one rank and broadcast (PyTorch's rule).
Tensor margin_ranking_loss(const Tensor& x1, const Tensor& x2, const Tensor& target, const MarginRankingOptions& opts = {});

struct HingeEmbeddingOptions {
  double margin = 1.0;
  Reduction reduction = Reduction::Mean;
};
/// x where target is 1, max(0, margin - x) where it is -1 (x is usually a distance).
Tensor hinge_embedding_loss(const Tensor& input, const Tensor& target, const HingeEmbeddingOptions& opts = {});

/// log(1 + exp(-target · input)) for targets 1 or -1 (two-class logistic loss), computed stably.
Tensor soft_margin_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

struct MultiLabelSoftMarginOptions {
  Tensor weight = {};  ///< per class [C] (anything that broadcasts to the input), optional
  Reduction reduction = Reduction::Mean;
};
/// Multi-label one-versus-all logistic loss of logits [N, C] (or [C]) and 0/1 targets of the same
/// shape: per sample -(1/C) Σ_c w_c (y_c log σ(x_c) + (1 - y_c) log σ(-x_c)); None gives [N].
Tensor multilabel_soft_margin_loss(const Tensor& input, const Tensor& target,
                                   const MultiLabelSoftMarginOptions& opts = {});

struct MultiMarginOptions {
  int64_t p = 1;        ///< 1 or 2
  double margin = 1.0;
  Tensor weight = {};   ///< per class [C], optional
  Reduction reduction = Reduction::Mean;
};
/// Multi-class hinge loss of scores [N, C] (or [C]) and i64 class targets [N] (or 0-d / [1]):
/// per sample (1/C) Σ_{i≠y} w_y max(0, margin - x_y + x_i)^p. Mean divides by N (not by the weights).
Tensor multi_margin_loss(const Tensor& input, const Tensor& target, const MultiMarginOptions& opts = {});

struct TripletMarginOptions {
  double margin = 1.0;
  double p = 2.0;
  double eps = 1e-6;
  bool swap = false;  ///< use min(d(a, n), d(p, n)) as the negative distance (Balntas et al. 2016)
  Reduction reduction = Reduction::Mean;
};
/// max(0, margin + d(anchor, positive) - d(anchor, negative)) with d = pairwise_distance(., ., p,
/// eps); anchor, positive and negative [N, D] or [D], of one rank, broadcast.
Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           const TripletMarginOptions& opts = {});

struct PoissonNLLOptions {
  bool log_input = true;  ///< input is log(rate): exp(input) - target input; else input - target log(input + eps)
  bool full = false;      ///< add Stirling's term target log target - target + log(2π target)/2 where target > 1
  double eps = 1e-8;
  Reduction reduction = Reduction::Mean;
};
/// Negative log-likelihood of `target` counts under Poisson(rate = input or exp(input)), without
/// the log(target!) constant unless `full`. input and target have one shape.
Tensor poisson_nll_loss(const Tensor& input, const Tensor& target, const PoissonNLLOptions& opts = {});

struct GaussianNLLOptions {
  bool full = false;  ///< add the constant log(2π)/2
  double eps = 1e-6;  ///< floor of var (applied without a gradient of its own, as PyTorch)
  Reduction reduction = Reduction::Mean;
};
/// Negative log-likelihood of `target` under N(input, var): (log max(var, eps) + (input -
/// target)² / max(var, eps)) / 2. var has input's shape, or input's shape without its last dim
/// or with last dim 1 (one variance per sample: homoscedastic); target broadcasts to input's
/// shape. A negative var is an error.
Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var, const GaussianNLLOptions& opts = {});

}  // namespace nabla
