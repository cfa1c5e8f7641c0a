// Products and distances composed of existing ops (their gradients come from autograd on every
// device): tensordot (through einsum's engine), outer, kron, cross, cdist, trace.
#include <cmath>

#include "autocast.h"
#include "einsum.h"
#include "op_util.h"

namespace nabla {

Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims) {
  ops::check_same_device(a, b, "tensordot");
  NB_CHECK(dims >= 0 && dims <= a.dim() && dims <= b.dim(), "[tensordot] cannot contract the last ", dims,
           " dim(s) of shape ", a.shape(), " with the first ", dims, " of shape ", b.shape());
  Shape dims_a, dims_b;
  for (int64_t i = 0; i < dims; ++i) dims_a.push_back(a.dim() - dims + i), dims_b.push_back(i);
  return tensordot(a, b, dims_a, dims_b);
}

Tensor tensordot(const Tensor& a, const Tensor& b, const Shape& dims_a, const Shape& dims_b) {
  if (ops::AutocastRegion ac(ops::autocast_op::tensordot, {&a, &b}); ac.active())
    return tensordot(ac.cast(a), ac.cast(b), dims_a, dims_b);
  ops::check_same_device(a, b, "tensordot");
  NB_CHECK(dims_a.size() == dims_b.size(), "[tensordot] dims_a ", dims_a, " and dims_b ", dims_b,
           " must have the same length");
  // a's dims are labels 0..; b's contracted dims take their partner's label, its others new ones.
  std::vector<int> la(size_t(a.dim())), lb(size_t(b.dim()), -1), out;
  for (int64_t d = 0; d < a.dim(); ++d) la[size_t(d)] = int(d);
  std::vector<bool> contracted_a(size_t(a.dim()), false);
  for (size_t i = 0; i < dims_a.size(); ++i) {
    NB_CHECK(a.dim() > 0 && b.dim() > 0, "[tensordot] cannot contract dims of a 0-d tensor (shapes ", a.shape(),
             " and ", b.shape(), ")");
    const int64_t da = wrap_dim(dims_a[i], a.dim(), "tensordot"), db = wrap_dim(dims_b[i], b.dim(), "tensordot");
    NB_CHECK(!contracted_a[size_t(da)], "[tensordot] dim ", da, " of a appears more than once in dims_a ", dims_a);
    NB_CHECK(lb[size_t(db)] < 0, "[tensordot] dim ", db, " of b appears more than once in dims_b ", dims_b);
    const int64_t sa = a.size(da), sb = b.size(db);
    // A pair of sizes 1 and n sums the n first (einsum's broadcasting), as PyTorch's tensordot.
    NB_CHECK(sa == sb || sa == 1 || sb == 1, "[tensordot] contracted dims differ in size: dim ", da, " of a (shape ",
             a.shape(), ") has ", sa, " and dim ", db, " of b (shape ", b.shape(), ") has ", sb);
    contracted_a[size_t(da)] = true;
    lb[size_t(db)] = int(da);
  }
  int next = int(a.dim());
  for (int64_t d = 0; d < a.dim(); ++d)
    if (!contracted_a[size_t(d)]) out.push_back(int(d));
  for (int& l : lb)
    if (l < 0) l = next++, out.push_back(l);
  return ops::einsum_labeled({a, b}, {la, lb}, out, "[tensordot] ");
}

Tensor outer(const Tensor& a, const Tensor& b) {
  ops::check_same_device(a, b, "outer");
  NB_CHECK(a.dim() == 1 && b.dim() == 1, "[outer] expected two 1-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  return a.unsqueeze(1) * b.unsqueeze(0);
}

Tensor kron(const Tensor& a, const Tensor& b) {
  ops::check_same_device(a, b, "kron");
  // a as [a0, 1, a1, 1, ...] times b as [1, b0, 1, b1, ...] (ranks padded with leading 1s), then
  // each (a_d, b_d) pair merged into one dim of a_d b_d.
  const int64_t nd = std::max(a.dim(), b.dim());
  Shape sa, sb, out;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t da = d - (nd - a.dim()), db = d - (nd - b.dim());
    const int64_t na = da < 0 ? 1 : a.size(da), nb = db < 0 ? 1 : b.size(db);
    sa.insert(sa.end(), {na, 1});
    sb.insert(sb.end(), {1, nb});
    out.push_back(na * nb);
  }
  return (a.reshape(sa) * b.reshape(sb)).reshape(out);
}

Tensor cross(const Tensor& a, const Tensor& b, std::optional<int64_t> dim) {
  if (ops::AutocastRegion ac(ops::autocast_op::cross, {&a, &b}); ac.active()) return cross(ac.cast(a), ac.cast(b), dim);
  ops::check_same_device(a, b, "cross");
  NB_CHECK(a.dim() == b.dim() && a.dim() > 0, "[cross] expected two tensors of one rank (at least 1-D), got shapes ",
           a.shape(), " and ", b.shape());
  int64_t d = -1;
  if (dim) {
    d = wrap_dim(*dim, a.dim(), "cross");
  } else {
    for (int64_t k = 0; k < a.dim() && d < 0; ++k)
      if (a.size(k) == 3) d = k;
    NB_CHECK(d >= 0, "[cross] no dim was given and a (shape ", a.shape(), ") has no dim of size 3");
  }
  NB_CHECK(a.size(d) == 3 && b.size(d) == 3, "[cross] dim ", d, " must have size 3 in both tensors, got shapes ",
           a.shape(), " and ", b.shape());
  ops::broadcast_shapes(a.shape(), b.shape(), "cross");
  // (a x b)_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}, indices mod 3.
  const Tensor next = from_vector<int64_t>({1, 2, 0}, {3}).to(a.device());
  const Tensor prev = from_vector<int64_t>({2, 0, 1}, {3}).to(a.device());
  return index_select(a, d, next) * index_select(b, d, prev) - index_select(a, d, prev) * index_select(b, d, next);
}

Tensor cdist(const Tensor& x1, const Tensor& x2, double p, CdistMode mode) {
  if (ops::AutocastRegion ac(ops::autocast_op::cdist, {&x1, &x2}); ac.active())
    return cdist(ac.cast(x1), ac.cast(x2), p, mode);
  ops::check_same_device(x1, x2, "cdist");
  NB_CHECK(x1.is_floating_point() && x2.is_floating_point(), "[cdist] expected floating tensors, got dtypes ",
           x1.dtype(), " and ", x2.dtype());
  NB_CHECK(x1.dim() >= 2 && x2.dim() >= 2, "[cdist] expected x1 [..., P, M] and x2 [..., R, M] (at least 2-D), got shapes ",
           x1.shape(), " and ", x2.shape());
  NB_CHECK(x1.size(-1) == x2.size(-1), "[cdist] x1 (shape ", x1.shape(), ") and x2 (shape ", x2.shape(),
           ") must have the same number of columns M");
  NB_CHECK(p >= 0, "[cdist] p must be non-negative (or inf), got ", p);
  const Shape b1(x1.shape().begin(), x1.shape().end() - 2), b2(x2.shape().begin(), x2.shape().end() - 2);
  ops::broadcast_shapes(b1, b2, "cdist");
  const int64_t P = x1.size(-2), R = x2.size(-2);
  const bool use_mm = p == 2 && (mode == CdistMode::UseMmForEuclidDist ||
                                 (mode == CdistMode::UseMmForEuclidDistIfNecessary && (P > 25 || R > 25)));
  if (use_mm) {
    // ‖x‖² + ‖y‖² - 2 x·y, PyTorch's fast path; rounding can leave it slightly negative: 0 then.
    const Tensor sq = sum(x1 * x1, {-1}, true) + sum(x2 * x2, {-1}, true).transpose(-1, -2) -
                      2.0 * matmul(x1, x2.transpose(-1, -2));
    return ops::sqrt_zero_grad_at_zero(clamp(sq, 0.0, std::nullopt));
  }
  // From the differences [..., P, R, M]; norm's gradient is 0 at a zero vector for every p.
  const Tensor diff = x1.unsqueeze(-2) - x2.unsqueeze(-3);
  // The max over no columns has no value; the distance of empty vectors is 0 for every p.
  if (std::isinf(p) && x1.size(-1) == 0) return sum(abs(diff), {-1});
  return norm(diff, p, {-1});
}

Tensor trace(const Tensor& x) {
  if (ops::AutocastRegion ac(ops::autocast_op::trace, {&x}); ac.active()) return trace(ac.cast(x));
  ops::check_tensor(x, "trace");
  NB_CHECK(x.dim() == 2, "[trace] expected a matrix (2-D tensor), got shape ", x.shape());
  return sum(diagonal(x));
}

}  // namespace nabla
