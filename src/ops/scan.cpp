// Scans along one dim: cumsum, cumprod, logcumsumexp. Each is a Hillis-Steele scan of existing
// ops, so its VJP (and the VJP's VJP) comes from autograd on every device, with log2(n)-deep
// chains instead of n-long ones. cumprod this way multiplies only, never divides, which is what
// makes its gradient right at zeros (the textbook VJP, a reversed cumsum of g y / x, is 0/0 there).
#include <cmath>

#include "op_util.h"

namespace nabla {

namespace {

/// After the round of offset k each position holds the combination of the 2k values ending there:
/// y = combine(y, y shifted k along dim with `identity` filling the k vacated places).
template <typename Combine>
Tensor hillis_steele(Tensor y, int64_t dim, double identity, Combine combine) {
  const int64_t n = y.size(dim);
  for (int64_t k = 1; k < n; k *= 2) {
    Shape head = y.shape();
    head[size_t(dim)] = k;
    y = combine(y, cat({full(head, identity, {.dtype = y.dtype(), .device = y.device()}), y.narrow(dim, 0, n - k)}, dim));
  }
  return y;
}

/// `y` (x, or x converted) as a new tensor when there is nothing to combine (0-d, or at most one
/// element along dim); else undefined: the caller scans.
Tensor trivial_scan(const Tensor& x, const Tensor& y, int64_t dim) {
  if (x.dim() != 0 && y.size(dim) > 1) return Tensor();
  return y.shares_storage(x) ? y.clone() : y;  // always a new tensor, as PyTorch's
}

/// Integers (u8 too) accumulate in i64, as PyTorch's cumsum and cumprod.
Tensor integers_as_i64(const Tensor& x) { return x.is_floating_point() ? x : x.to(DType::i64); }

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim) {
  ops::check_tensor(x, "cumsum");
  dim = wrap_dim(dim, x.dim(), "cumsum");
  const Tensor y = integers_as_i64(x);
  if (Tensor t = trivial_scan(x, y, dim); t.defined()) return t;
  return hillis_steele(y, dim, 0.0, [](const Tensor& a, const Tensor& b) { return a + b; });
}

Tensor cumprod(const Tensor& x, int64_t dim) {
  ops::check_tensor(x, "cumprod");
  dim = wrap_dim(dim, x.dim(), "cumprod");
  const Tensor y = integers_as_i64(x);
  if (Tensor t = trivial_scan(x, y, dim); t.defined()) return t;
  return hillis_steele(y, dim, 1.0, [](const Tensor& a, const Tensor& b) { return a * b; });
}

Tensor logcumsumexp(const Tensor& x, int64_t dim) {
  ops::check_floating(x, "logcumsumexp");
  dim = wrap_dim(dim, x.dim(), "logcumsumexp");
  if (Tensor t = trivial_scan(x, x, dim); t.defined()) return t;
  // logsumexp of each pair shifts by their (detached) max, so no exp overflows or underflows to
  // a wrong -inf, and it is smooth at ties, where a max-based formula loses its second derivative.
  return hillis_steele(x, dim, -INFINITY, [](const Tensor& a, const Tensor& b) {
    return logsumexp(stack({a, b}), {0});
  });
}

}  // namespace nabla
