// Reductions and the softmax family. sum/max/min/argmax are kernels; mean, var, std, prod,
// any, all, logsumexp, softmax and log_softmax are compositions (their gradients come for free),
// as are sort and norm (which has its own VJP for the zero vector). Scans are in scan.cpp.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

using backend::ReduceOp;

namespace {

struct ReducePlan {
  std::vector<bool> reduced;  // per input dim
  Shape keep_shape;           // output shape with keepdim
  Shape out_shape;            // output shape as requested
  int64_t count = 1;          // elements reduced into each output
};

ReducePlan plan_reduce(const Tensor& x, const Shape& dims, bool keepdim, const char* op) {
  ReducePlan p;
  int64_t nd = x.dim();
  p.reduced.assign(size_t(nd), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, nd, op);
    if (nd == 0) continue;
    NB_CHECK(!p.reduced[size_t(w)], "[", op, "] dimension ", w, " appears twice in ", dims);
    p.reduced[size_t(w)] = true;
  }
  for (int64_t d = 0; d < nd; ++d) {
    bool r = p.reduced[size_t(d)];
    p.keep_shape.push_back(r ? 1 : x.size(d));
    if (r) p.count *= x.size(d);
    if (!r || keepdim) p.out_shape.push_back(r ? 1 : x.size(d));
  }
  return p;
}

/// Runs a reduction kernel (no autograd) and returns the keepdim-shaped result.
Tensor reduce_kernel(ReduceOp op, const Tensor& x, const ReducePlan& p, const char* name) {
  ops::check_tensor(x, name);
  int64_t nd = x.dim();
  // Reduced dims adjacent in a contiguous tensor: run on [outer, r, inner] directly.
  int64_t first = nd, last = -1;
  for (int64_t d = 0; d < nd; ++d)
    if (p.reduced[size_t(d)]) first = std::min(first, d), last = std::max(last, d);
  bool block = true;
  for (int64_t d = first; d <= last; ++d) block = block && p.reduced[size_t(d)];
  Tensor src;
  int64_t outer = 1, r = 1, inner = 1;
  if (last < 0) {  // nothing to reduce (0-d input or no reduced dims)
    return ops::copy_kernel(x, x.dtype()).reshape(p.keep_shape);
  }
  if (block && x.is_contiguous()) {
    src = x;
    for (int64_t d = 0; d < nd; ++d) (d < first ? outer : d <= last ? r : inner) *= x.size(d);
  } else {
    Shape perm;
    for (int64_t d = 0; d < nd; ++d)
      if (!p.reduced[size_t(d)]) perm.push_back(d), outer *= x.size(d);
    for (int64_t d = 0; d < nd; ++d)
      if (p.reduced[size_t(d)]) perm.push_back(d), r *= x.size(d);
    NoGradGuard ng;
    src = ops::copy_kernel(x.permute(perm), x.dtype());
  }
  Tensor out = empty(p.keep_shape, {.dtype = x.dtype(), .device = x.device()});
  if (r == 0) {
    NB_CHECK(op == ReduceOp::Sum, "[", name, "] cannot reduce over a zero-size dimension (shape ", x.shape(),
             "): the result has no identity");
    backend::get(x.device()).fill(x.dtype(), out.raw_data(), out.numel(), 0.0);
    return out;
  }
  backend::get(x.device()).reduce(op, x.dtype(), src.raw_data(), out.raw_data(), outer, r, inner);
  return out;
}

/// max/min: gradient to the extreme elements, split evenly among ties.
Tensor extreme(ReduceOp op, const char* name, const Tensor& x, const Shape& dims, bool keepdim) {
  ReducePlan p = plan_reduce(x, dims, keepdim, name);
  Tensor keep = reduce_kernel(op, x, p, name);
  Tensor out = make_view(keep, p.out_shape, contiguous_strides(p.out_shape), 0);
  out.impl().is_view = false;
  if (auto node = autograd::record(name, {x}, {out})) {
    node->backward_fn = [sx = node->save(x), keep, ks = p.keep_shape](const TensorList& g) {
      Tensor xv = sx.get();
      Tensor mask = eq(xv, keep).to(xv.dtype());
      Shape dims;
      for (size_t d = 0; d < ks.size(); ++d)
        if (ks[d] == 1 && xv.size(int64_t(d)) != 1) dims.push_back(int64_t(d));
      Tensor count = dims.empty() ? ones_like(mask) : sum(mask, dims, true);
      return TensorList{g[0].reshape(ks) * mask / count};
    };
  }
  return out;
}

/// f(x) for a 16-bit x, computed in f32 and rounded once to x's dtype: the composed statistics
/// below would otherwise round every intermediate (var's mean, each centered value, each square)
/// to 16 bits, where PyTorch's kernels keep them in float. Autograd runs through the two casts,
/// so the gradient is computed in f32 and rounded once as well.
template <typename F>
Tensor in_f32(const Tensor& x, F&& f) {
  return f(x.to(DType::f32)).to(x.dtype());
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  if (ops::AutocastRegion ac(ops::autocast_op::sum, {&x}); ac.active()) return sum(ac.cast(x), dims, keepdim);
  ReducePlan p = plan_reduce(x, dims, keepdim, "sum");
  // Sums of integers accumulate in i64, like PyTorch.
  Tensor in = x.is_floating_point() ? x : x.to(DType::i64);
  Tensor keep = reduce_kernel(ReduceOp::Sum, in, p, "sum");
  Tensor out = make_view(keep, p.out_shape, contiguous_strides(p.out_shape), 0);
  out.impl().is_view = false;
  if (auto node = autograd::record("sum", {x}, {out})) {
    node->backward_fn = [ks = p.keep_shape, xs = x.shape()](const TensorList& g) {
      return TensorList{g[0].reshape(ks).expand(xs)};
    };
  }
  return out;
}

Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return nabla::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return nabla::mean(*this, dims, keepdim); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  ops::check_floating(x, "mean");
  if (is_half(x.dtype())) return in_f32(x, [&](const Tensor& xf) { return mean(xf, dims, keepdim); });
  ReducePlan p = plan_reduce(x, dims, keepdim, "mean");
  return sum(x, dims, keepdim) / double(p.count);
}

Tensor var(const Tensor& x, const Shape& dims, bool keepdim, int64_t correction) {
  ops::check_floating(x, "var");
  if (is_half(x.dtype())) return in_f32(x, [&](const Tensor& xf) { return var(xf, dims, keepdim, correction); });
  ReducePlan p = plan_reduce(x, dims, keepdim, "var");
  Tensor centered = x - mean(x, dims, true);
  double denom = double(std::max<int64_t>(p.count - correction, 0));
  return sum(centered * centered, dims, keepdim) / denom;
}

Tensor std(const Tensor& x, const Shape& dims, bool keepdim, int64_t correction) {
  // Where the deviation is 0 its gradient is 0, as PyTorch's std_backward: one constant feature
  // would otherwise put NaN into every gradient upstream.
  return ops::sqrt_zero_grad_at_zero(var(x, dims, keepdim, correction));
}

Tensor max(const Tensor& x, const Shape& dims, bool keepdim) { return extreme(ReduceOp::Max, "max", x, dims, keepdim); }
Tensor min(const Tensor& x, const Shape& dims, bool keepdim) { return extreme(ReduceOp::Min, "min", x, dims, keepdim); }

namespace {
/// The product over the last dim (kept, size 1) as a tree of pairwise products: log2(n) rounds
/// of multiplying the two halves (an odd length gets a 1 appended). Autograd through it gives
/// each element the product of all the others, zeros included, with no division, and its
/// second derivatives too; the work is n multiplications, as a loop's.
Tensor product_tree(Tensor y) {
  // The empty product is 1: 1 + the empty sum keeps it on x's graph (cat would drop a [0] input).
  if (y.size(-1) == 0) return sum(y, {-1}, true) + 1.0;
  Shape one = y.shape();
  one.back() = 1;
  const Tensor pad = ones(one, {.dtype = y.dtype(), .device = y.device()});
  for (int64_t n = y.size(-1); n > 1; n = y.size(-1)) {
    if (n % 2 == 1) y = cat({y, pad}, -1), ++n;
    y = y.narrow(-1, 0, n / 2) * y.narrow(-1, n / 2, n / 2);
  }
  return y;
}
}  // namespace

Tensor prod(const Tensor& x, const Shape& dims, bool keepdim) {
  if (ops::AutocastRegion ac(ops::autocast_op::prod, {&x}); ac.active()) return prod(ac.cast(x), dims, keepdim);
  ops::check_tensor(x, "prod");
  const ReducePlan p = plan_reduce(x, dims, keepdim, "prod");
  // The reduced dims go last, flattened into one, which the tree then reduces.
  Shape perm, rows;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!p.reduced[size_t(d)]) perm.push_back(d), rows.push_back(x.size(d));
  for (int64_t d = 0; d < x.dim(); ++d)
    if (p.reduced[size_t(d)]) perm.push_back(d);
  rows.push_back(p.count);
  const Tensor in = x.is_floating_point() ? x : x.to(DType::i64);  // PyTorch's: integers multiply in i64
  const Tensor out = product_tree(in.permute(perm).reshape(rows)).reshape(p.out_shape);
  return out.shares_storage(x) ? out.clone() : out;  // nothing multiplied (one element each): a copy
}

namespace {
/// The number of non-zero (or zero) elements over `dims`, compared with 0: any and all.
Tensor count_truth(const Tensor& x, const Shape& dims, bool keepdim, bool is_any) {
  const char* name = is_any ? "any" : "all";
  ops::check_tensor(x, name);
  plan_reduce(x, dims, keepdim, name);  // checks the dims
  NoGradGuard ng;
  const Tensor zero = ops::scalar_like(0, x);
  // NaN != 0, so NaN counts as true, as in PyTorch. The counts are i64 (sum of u8).
  const Tensor count = sum(is_any ? ne(x, zero) : eq(x, zero), dims, keepdim);
  const Tensor none = ops::scalar_like(0, count);
  return is_any ? ne(count, none) : eq(count, none);
}
}  // namespace

Tensor any(const Tensor& x, const Shape& dims, bool keepdim) { return count_truth(x, dims, keepdim, true); }
Tensor all(const Tensor& x, const Shape& dims, bool keepdim) { return count_truth(x, dims, keepdim, false); }

namespace {
/// What exp() is shifted by to stay in range: the max over `dims` (kept), as a constant; 0 for a
/// row that is all -inf, and for an empty tensor, where max has no value (PyTorch gives an empty
/// softmax and a logsumexp of -inf over an empty dim; max used to refuse them).
Tensor exp_shift(const Tensor& x, const Shape& dims) {
  if (x.numel() == 0) return zeros_like(sum(x.detach(), dims, true));
  Tensor m = max(x.detach(), dims, true);
  return where(isfinite(m), m, zeros_like(m));
}
}  // namespace

Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim) {
  if (ops::AutocastRegion ac(ops::autocast_op::logsumexp, {&x}); ac.active())
    return logsumexp(ac.cast(x), dims, keepdim);
  ops::check_floating(x, "logsumexp");
  if (is_half(x.dtype())) return in_f32(x, [&](const Tensor& xf) { return logsumexp(xf, dims, keepdim); });
  Tensor m = exp_shift(x, dims);
  Tensor out = log(sum(exp(x - m), dims, true)) + m;
  if (keepdim) return out;
  ReducePlan p = plan_reduce(x, dims, keepdim, "logsumexp");
  return out.reshape(p.out_shape);
}

namespace {
/// softmax / log_softmax over the last dim of a contiguous tensor as one kernel, when the
/// backend has it (else an undefined tensor: the caller composes). The VJPs use the saved
/// output, so they are themselves differentiable (grad-of-grad):
///   log_softmax: g - softmax * sum(g);  softmax: y * (g - sum(g * y)).
Tensor softmax_kernel(bool log, const Tensor& x, int64_t dim) {
  backend::Backend& be = backend::get(x.device());
  if (dim != x.dim() - 1 || !x.is_contiguous() || x.numel() == 0 || !be.has_softmax_rows()) return Tensor();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  be.softmax_rows(log, x.dtype(), x.raw_data(), out.raw_data(), x.numel() / x.size(-1), x.size(-1));
  if (auto node = autograd::record(log ? "log_softmax" : "softmax", {x}, {out})) {
    node->backward_fn = [so = node->save(out), dim, log](const TensorList& g) {
      const Tensor y = so.get();
      if (log) return TensorList{g[0] - exp(y) * sum(g[0], {dim}, true)};
      return TensorList{y * (g[0] - sum(g[0] * y, {dim}, true))};
    };
  }
  return out;
}
}  // namespace

Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (ops::AutocastRegion ac(ops::autocast_op::softmax, {&x}); ac.active())
    return log_softmax(ac.cast(x), dim);
  ops::check_floating(x, "log_softmax");
  dim = wrap_dim(dim, x.dim(), "log_softmax");
  if (x.dim() == 0) return x - x;
  if (Tensor out = softmax_kernel(true, x, dim); out.defined()) return out;
  if (is_half(x.dtype())) return in_f32(x, [&](const Tensor& xf) { return log_softmax(xf, dim); });
  return x - logsumexp(x, {dim}, true);
}

Tensor softmax(const Tensor& x, int64_t dim) {
  if (ops::AutocastRegion ac(ops::autocast_op::softmax, {&x}); ac.active())
    return softmax(ac.cast(x), dim);
  ops::check_floating(x, "softmax");
  dim = wrap_dim(dim, x.dim(), "softmax");
  if (x.dim() == 0) return ones_like(x) + x * 0.0;
  if (Tensor out = softmax_kernel(false, x, dim); out.defined()) return out;
  if (is_half(x.dtype())) return in_f32(x, [&](const Tensor& xf) { return softmax(xf, dim); });
  Tensor e = exp(x - exp_shift(x, {dim}));
  return e / sum(e, {dim}, true);
}

namespace {
Tensor arg_extreme(bool is_max, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  ops::check_tensor(x, name);
  NB_CHECK(x.numel() > 0 || (dim && x.size(wrap_dim(*dim, x.dim(), name)) > 0), "[", name, "] cannot take the ",
           name, " of an empty tensor (shape ", x.shape(), ")", dim ? " over an empty dimension" : "");
  Tensor src = ops::contiguous_data(x);
  if (!dim) {
    Tensor out = empty({}, {.dtype = DType::i64, .device = x.device()});
    backend::get(x.device()).arg_reduce(is_max, x.dtype(), src.raw_data(), static_cast<int64_t*>(out.raw_data()), 1,
                                        x.numel(), 1);
    return keepdim ? out.reshape(Shape(size_t(x.dim()), 1)) : out;
  }
  int64_t d = wrap_dim(*dim, x.dim(), name);
  if (x.dim() == 0) return zeros({}, {.dtype = DType::i64, .device = x.device()});
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  Shape ks = x.shape();
  ks[size_t(d)] = 1;
  Tensor out = empty(ks, {.dtype = DType::i64, .device = x.device()});
  if (out.numel() == 0) return keepdim ? out : out.squeeze(d);  // [0, 3] over dim 1: an empty result, as PyTorch
  backend::get(x.device()).arg_reduce(is_max, x.dtype(), src.raw_data(), static_cast<int64_t*>(out.raw_data()), outer,
                                      x.size(d), inner);
  return keepdim ? out : out.squeeze(d);
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(false, x, dim, keepdim); }

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  ops::check_tensor(x, "topk");
  NB_CHECK(x.dim() > 0, "[topk] expected a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "topk");
  int64_t n = x.size(dim);
  NB_CHECK(k >= 0 && k <= n, "[topk] k = ", k, " is out of range for dimension ", dim, " of size ", n, " (shape ",
           x.shape(), ")");
  // Rows along `dim` last, then a partial sort of indices per row (on the host: topk serves
  // metrics, so a GPU tensor's values make one round trip). Integers are sorted as i64: as
  // f64, values beyond 2^53 would tie.
  const DType row_dtype = x.is_floating_point() ? DType::f64 : DType::i64;
  Tensor rows = ops::copy_kernel(x.detach().to(Device::cpu()).transpose(dim, -1), row_dtype);
  int64_t nrows = n == 0 ? 0 : rows.numel() / n;
  Shape idx_shape = rows.shape();
  idx_shape.back() = k;
  Tensor idx = empty(idx_shape, {.dtype = DType::i64});
  int64_t* out = idx.data_ptr<int64_t>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  auto sort_rows = [&](const auto* v) {
    for (int64_t r = 0; r < nrows; ++r) {
      const auto* row = v + r * n;
      std::iota(order.begin(), order.end(), 0);
      // NaN sorts as the largest, as in PyTorch; ties keep the lower index first.
      auto before = [&](int64_t a, int64_t b) {
        const auto x1 = row[a], x2 = row[b];
        bool n1 = false, n2 = false;
        if constexpr (std::is_floating_point_v<std::remove_cvref_t<decltype(x1)>>) n1 = x1 != x1, n2 = x2 != x2;
        if (n1 || n2) return largest ? (n1 && !n2) : (!n1 && n2);
        if (x1 != x2) return largest ? x1 > x2 : x1 < x2;
        return a < b;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      std::copy(order.begin(), order.begin() + k, out + r * k);
    }
  };
  if (row_dtype == DType::f64) {
    sort_rows(rows.data_ptr<double>());
  } else {
    sort_rows(rows.data_ptr<int64_t>());
  }
  Tensor indices = idx.transpose(dim, -1).contiguous().to(x.device());
  return {gather(x, dim, indices), indices};
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  NB_CHECK(shape.size() <= x.shape().size(), "[sum_to] cannot reduce shape ", x.shape(), " to ", shape);
  size_t lead = x.shape().size() - shape.size();
  Shape dims;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead) {
      dims.push_back(int64_t(i));
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      dims.push_back(int64_t(i));
    } else {
      NB_CHECK(shape[i - lead] == x.shape()[i], "[sum_to] cannot reduce shape ", x.shape(), " to ", shape);
    }
  }
  Tensor s = dims.empty() ? x : sum(x, dims, true);
  return s.reshape(shape);
}

// ---- sorting and norms (compositions) -----------------------------------------------------------

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  ops::check_tensor(x, "sort");
  if (x.dim() == 0) {
    wrap_dim(dim, 0, "sort");
    return {x.clone(), zeros({}, {.dtype = DType::i64, .device = x.device()})};
  }
  dim = wrap_dim(dim, x.dim(), "sort");
  return topk(x, x.size(dim), dim, descending);
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) { return sort(x, dim, descending).second; }

Tensor norm(const Tensor& x, double p, const Shape& dims, bool keepdim) {
  if (ops::AutocastRegion ac(ops::autocast_op::norm, {&x}); ac.active())
    return norm(ac.cast(x), p, dims, keepdim);
  ops::check_floating(x, "norm");
  NB_CHECK(!std::isnan(p) && p >= 0, "[norm] p must be non-negative (or inf), got ", p);
  if (p == INFINITY) return max(abs(x), dims, keepdim);
  if (p == 1) return sum(abs(x), dims, keepdim);
  const ReducePlan plan = plan_reduce(x, dims, keepdim, "norm");
  if (p == 0) {  // the number of non-zero entries: piecewise constant, so no gradient flows
    NoGradGuard ng;
    return sum(ne(x, ops::scalar_like(0.0, x)).to(x.dtype()), dims, keepdim);
  }
  Tensor y;
  {
    NoGradGuard ng;
    y = p == 2 ? sqrt(sum(x * x, dims, keepdim)) : pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
  }
  // d||x||/dx = sign(x) |x|^(p-1) / ||x||^(p-1). The composition's chain rule gives 0 * inf =
  // NaN at a zero vector (and at zero entries for p < 1); PyTorch, like the subgradient, gives 0.
  if (auto node = autograd::record("norm", {x}, {y})) {
    const Shape keep = plan.keep_shape;
    node->backward_fn = [sx = node->save(x), sy = node->save(y), p, keep](const TensorList& g) {
      Tensor xs = sx.get(), yk = sy.get().reshape(keep), gk = g[0].reshape(keep);
      const Tensor zero = ops::scalar_like(0.0, xs), one = ops::scalar_like(1.0, xs);
      // Zeros are swapped for ones before dividing or raising to p - 1 < 0, so no inf or NaN
      // appears even in the branch where() discards (its gradient would carry them into a
      // double backward); sign(0) = 0 then zeroes those entries' slopes.
      const Tensor y_zero = eq(yk, zero), y_safe = where(y_zero, one, yk);
      Tensor slope = p == 2 ? xs : sign(xs) * pow(where(eq(xs, zero), one, abs(xs)), p - 1);
      Tensor scale = where(y_zero, zero, gk / (p == 2 ? y_safe : pow(y_safe, p - 1)));
      return TensorList{slope * scale};
    };
  }
  return y;
}

}  // namespace nabla
