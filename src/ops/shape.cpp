// Views (share storage) and shape changes. A view's VJP maps the gradient back to the
// input's geometry: reshape back, transpose back, sum over expanded dims, pad a slice.
#include <algorithm>
#include <numeric>

#include "op_util.h"

namespace nabla {

namespace {

/// ViewOrigin::adopt: `view` takes the remade view's history, and retain_grad() follows it.
void adopt_view_history(const Tensor& view, const Tensor& fresh) {
  TensorImpl& i = view.impl();
  const TensorImpl& f = fresh.impl();
  i.grad_fn = f.grad_fn;
  i.output_nr = f.output_nr;
  i.view_origin = f.view_origin;
  ops::move_retained_grad(view);
  // Last: another thread that sees the new history skips the lock, so everything above (the
  // retain_grad hook on the new node included) must be written by then.
  i.view_history.store(f.view_history.load(std::memory_order_acquire), std::memory_order_release);
}

/// Records a view of `x` with the given geometry; `vjp(g)` returns the input's gradient.
/// Under grad mode the view also remembers how it was made (ViewOrigin), so its history can be
/// made again if its base gets a new one in place.
template <typename Vjp>
Tensor view_op(const Tensor& x, const char* name, const Shape& shape, const Shape& strides, int64_t offset,
               Vjp vjp) {
  Tensor out = make_view(x, shape, strides, offset);
  if (auto node = autograd::record(name, {x}, {out})) {
    node->backward_fn = [vjp](const TensorList& g) { return TensorList{vjp(g[0])}; };
  }
  if (is_grad_enabled()) {
    auto origin = std::make_shared<ViewOrigin>();
    const auto& parent = x.impl().view_origin;
    origin->root = parent ? parent->root : x.impl_ptr();
    origin->history = x.storage()->history;
    origin->parent = parent;
    // The geometry is in storage elements, so it holds for a fresh copy of the parent too.
    origin->remake = [name, shape, strides, offset, vjp](const Tensor& p) {
      EnableGradGuard with_grad;
      return view_op(p, name, shape, strides, offset, vjp);
    };
    origin->adopt = adopt_view_history;
    out.impl().view_history.store(origin->history, std::memory_order_release);
    out.impl().view_origin = std::move(origin);
  }
  return out;
}

/// `t` itself when laid out as a root (contiguous from offset 0), else a fresh copy that is.
Tensor as_root_layout(const Tensor& t) { return t.is_contiguous() && t.offset() == 0 ? t : t.clone(); }

}  // namespace

namespace ops {
namespace {
/// The view ops of a ViewOrigin chain, root first, without the root itself: a node of the root's
/// own history that held the chain (and so the root) would keep the root alive forever.
using ViewSteps = std::vector<std::function<Tensor(const Tensor&)>>;
ViewSteps steps_of(const ViewOrigin& origin) {
  ViewSteps steps;
  for (const ViewOrigin* v = &origin; v != nullptr; v = v->parent.get()) steps.push_back(v->remake);
  std::reverse(steps.begin(), steps.end());
  return steps;
}
Tensor replay(const ViewSteps& steps, const Tensor& root) {
  Tensor t = root;
  for (const auto& step : steps) t = step(t);
  return t;
}
Tensor scatter_into_view(const Tensor& base, const Tensor& src, std::shared_ptr<const ViewSteps> steps) {
  Tensor out;
  {
    NoGradGuard ng;
    out = base.clone();
    copy_into(replay(*steps, out), src);
  }
  if (auto node = autograd::record("view_scatter", {base, src}, {out})) {
    node->backward_fn = [steps](const TensorList& g) {
      const Tensor gc = as_root_layout(g[0]);
      return TensorList{scatter_into_view(gc, zeros_like(replay(*steps, gc)), steps), replay(*steps, gc)};
    };
  }
  return out;
}
}  // namespace

Tensor view_scatter(const Tensor& base, const Tensor& src, const std::shared_ptr<const ViewOrigin>& origin) {
  return scatter_into_view(base, src, std::make_shared<const ViewSteps>(steps_of(*origin)));
}
}  // namespace ops

namespace {

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      NB_CHECK(infer < 0, "[", op, "] only one dimension can be -1, got ", shape);
      infer = int64_t(i);
    } else {
      NB_CHECK(out[i] >= 0, "[", op, "] invalid size ", out[i], " in shape ", shape);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    NB_CHECK(known != 0 && numel % known == 0, "[", op, "] cannot infer the -1 in ", shape, " for ", numel,
             " elements");
    out[size_t(infer)] = numel / known;
  }
  NB_CHECK(shape_numel(out) == numel, "[", op, "] shape ", shape, " is invalid for a tensor of ", numel,
           " elements");
  return out;
}

/// Strides for viewing `x` as `shape` without a copy, or empty when impossible.
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x.is_contiguous()) return contiguous_strides(shape);
  // General case (as PyTorch's computeStride): match chunks of old dims that are
  // contiguous among themselves to groups of new dims with the same element count.
  const Shape &os = x.shape(), &ost = x.strides();
  Shape st(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}

}  // namespace

Tensor Tensor::view(const Shape& shape0) const {
  Shape shape = infer_shape(shape0, numel(), "view");
  auto st = view_strides(*this, shape);
  NB_CHECK(st.has_value(), "[view] cannot view a tensor of shape ", this->shape(), " and strides ", strides(),
           " as ", shape, " without a copy; use reshape()");
  Shape in_shape = this->shape();
  return view_op(*this, "view", shape, *st, offset(), [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Tensor Tensor::reshape(const Shape& shape0) const {
  Shape shape = infer_shape(shape0, numel(), "reshape");
  if (view_strides(*this, shape)) return view(shape);
  return contiguous().view(shape);
}
Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape sh = shape(), st = strides();
  if (dim() == 0) return view_op(*this, "transpose", sh, st, offset(), [](const Tensor& g) { return g; });
  std::swap(sh[d0], sh[d1]);
  std::swap(st[d0], st[d1]);
  return view_op(*this, "transpose", sh, st, offset(), [d0, d1](const Tensor& g) { return g.transpose(d0, d1); });
}
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) { return x.transpose(d0, d1); }

Tensor Tensor::permute(const Shape& dims) const {
  NB_CHECK(int64_t(dims.size()) == dim(), "[permute] got ", dims.size(), " dims ", dims, " for a tensor of rank ",
           dim());
  Shape sh(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    NB_CHECK(!seen[size_t(d)], "[permute] dimension ", d, " repeated in ", dims);
    seen[size_t(d)] = true;
    sh[i] = shape()[size_t(d)];
    st[i] = strides()[size_t(d)];
    inverse[size_t(d)] = int64_t(i);
  }
  return view_op(*this, "permute", sh, st, offset(), [inverse](const Tensor& g) { return g.permute(inverse); });
}
Tensor permute(const Tensor& x, const Shape& dims) { return x.permute(dims); }

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  NB_CHECK(dim() > 0, "[slice] cannot slice a 0-d tensor");
  d = wrap_dim(d, dim(), "slice");
  NB_CHECK(step > 0, "[slice] step must be positive, got ", step);
  int64_t n = shape()[size_t(d)];
  // Python semantics: negative indices count from the end; out-of-range bounds clamp.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = shape(), st = strides();
  sh[size_t(d)] = (end - start + step - 1) / step;
  st[size_t(d)] *= step;
  Shape in_shape = shape();
  return view_op(*this, "slice", sh, st, offset() + start * strides()[size_t(d)],
                 [in_shape, d, start, end, step](const Tensor& g) {
                   return slice_backward(g, in_shape, d, start, end, step);
                 });
}
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return x.slice(dim, start, end, step);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  NB_CHECK(dim() > 0, "[narrow] cannot narrow a 0-d tensor");
  d = wrap_dim(d, dim(), "narrow");
  int64_t n = size(d);
  if (start < 0) start += n;
  NB_CHECK(start >= 0 && length >= 0 && start + length <= n, "[narrow] range [", start, ", ", start + length,
           ") is outside dimension ", d, " of size ", n, " (shape ", shape(), ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  NB_CHECK(dim() > 0, "[select] cannot select from a 0-d tensor");
  d = wrap_dim(d, dim(), "select");
  int64_t n = size(d);
  NB_CHECK(index >= -n && index < n, "[select] index ", index, " is out of range for dimension ", d, " of size ",
           n, " (shape ", shape(), ")");
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start, int64_t end,
                      int64_t step) {
  Tensor out = zeros(input_shape, {.dtype = grad.dtype(), .device = grad.device()});
  {
    NoGradGuard ng;
    ops::copy_into(out.slice(dim, start, end, step), grad);
  }
  if (auto node = autograd::record("slice_backward", {grad}, {out})) {
    node->backward_fn = [dim, start, end, step](const TensorList& g) {
      return TensorList{g[0].slice(dim, start, end, step)};
    };
  }
  return out;
}

// ---- diagonals: diagonal is a view; its VJP writes the gradient into the diagonal of zeros
// (diagonal_scatter_zeros, which is also diag_embed), whose VJP is diagonal again.

namespace {

/// The geometry of the `offset` diagonal of dims d1, d2 (wrapped, distinct) of a tensor with
/// the given shape, strides and storage offset: d1 and d2 removed, the diagonal appended, with
/// stride s1 + s2 (one step down and one right).
struct DiagonalView {
  Shape shape, strides;
  int64_t offset;
};
DiagonalView diagonal_view(const Tensor& x, int64_t offset, int64_t d1, int64_t d2) {
  const int64_t n1 = x.size(d1), n2 = x.size(d2);
  const int64_t len = std::max<int64_t>(offset >= 0 ? std::min(n1, n2 - offset) : std::min(n1 + offset, n2), 0);
  DiagonalView v{{}, {}, x.offset()};
  if (len > 0) v.offset += offset >= 0 ? offset * x.stride(d2) : -offset * x.stride(d1);
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != d1 && d != d2) v.shape.push_back(x.size(d)), v.strides.push_back(x.stride(d));
  v.shape.push_back(len);
  v.strides.push_back(x.stride(d1) + x.stride(d2));
  return v;
}

/// dim1 and dim2 wrapped for a tensor of rank `nd`, checked to differ.
std::pair<int64_t, int64_t> diagonal_dims(int64_t dim1, int64_t dim2, int64_t nd, const char* op) {
  const int64_t d1 = wrap_dim(dim1, nd, op), d2 = wrap_dim(dim2, nd, op);
  NB_CHECK(d1 != d2, "[", op, "] dim1 and dim2 must be different dimensions, got ", dim1, " and ", dim2,
           " (both dimension ", d1, " of a tensor with ", nd, " dimension(s))");
  return {d1, d2};
}

/// Zeros of `shape` with `src` written into its `offset` diagonal of dims d1, d2 (wrapped).
Tensor diagonal_scatter_zeros(const Tensor& src, const Shape& shape, int64_t offset, int64_t d1, int64_t d2) {
  Tensor out = zeros(shape, {.dtype = src.dtype(), .device = src.device()});
  {
    NoGradGuard ng;
    const DiagonalView v = diagonal_view(out, offset, d1, d2);
    NB_CHECK(v.shape == src.shape(), "[diag_embed] internal: diagonal of shape ", v.shape, " for values of shape ",
             src.shape());
    ops::copy_into(make_view(out, v.shape, v.strides, v.offset), src);
  }
  if (auto node = autograd::record("diagonal_backward", {src}, {out})) {
    node->backward_fn = [offset, d1, d2](const TensorList& g) { return TensorList{diagonal(g[0], offset, d1, d2)}; };
  }
  return out;
}

}  // namespace

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  ops::check_tensor(x, "diagonal");
  NB_CHECK(x.dim() >= 2, "[diagonal] expected a tensor with at least 2 dimensions, got shape ", x.shape());
  const auto [d1, d2] = diagonal_dims(dim1, dim2, x.dim(), "diagonal");
  const DiagonalView v = diagonal_view(x, offset, d1, d2);
  return view_op(x, "diagonal", v.shape, v.strides, v.offset,
                 [in_shape = x.shape(), offset, d1, d2](const Tensor& g) {
                   return diagonal_scatter_zeros(g, in_shape, offset, d1, d2);
                 });
}

Tensor diag_embed(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  ops::check_tensor(x, "diag_embed");
  NB_CHECK(x.dim() >= 1, "[diag_embed] expected a tensor with at least 1 dimension, got a 0-d tensor");
  const auto [d1, d2] = diagonal_dims(dim1, dim2, x.dim() + 1, "diag_embed");
  const int64_t n = x.size(-1) + std::abs(offset);
  Shape shape(x.shape().begin(), x.shape().end() - 1);
  shape.insert(shape.begin() + std::min(d1, d2), n);
  shape.insert(shape.begin() + std::max(d1, d2), n);
  return diagonal_scatter_zeros(x, shape, offset, d1, d2);
}

Tensor diag(const Tensor& x, int64_t diagonal_offset) {
  ops::check_tensor(x, "diag");
  NB_CHECK(x.dim() == 1 || x.dim() == 2, "[diag] expected a 1-D (vector) or 2-D (matrix) tensor, got shape ",
           x.shape());
  if (x.dim() == 1) return diag_embed(x, diagonal_offset, 0, 1);
  return diagonal(x, diagonal_offset, 0, 1).clone();  // a copy, as PyTorch's
}

Tensor Tensor::expand(const Shape& shape0) const {
  NB_CHECK(shape0.size() >= shape().size(), "[expand] cannot expand shape ", shape(), " to fewer dimensions ",
           shape0);
  size_t off = shape0.size() - shape().size();
  Shape sh(shape0.size()), st(shape0.size(), 0);
  for (size_t i = 0; i < shape0.size(); ++i) {
    int64_t want = shape0[i];
    if (i < off) {
      NB_CHECK(want >= 0, "[expand] size -1 is not allowed for new leading dimension ", i, " in ", shape0);
      sh[i] = want;
      continue;
    }
    int64_t have = shape()[i - off];
    if (want == -1) want = have;
    NB_CHECK(want >= 0, "[expand] negative size ", want, " for dimension ", i, " in ", shape0);
    NB_CHECK(have == want || have == 1, "[expand] cannot expand shape ", shape(), " to ", shape0, ": dimension ", i,
             " has size ", have, " (only size-1 dimensions can grow)");
    sh[i] = want;
    st[i] = have == want ? strides()[i - off] : 0;
  }
  shape_numel(sh);  // rejects a size whose element count overflows
  Shape in_shape = shape();
  return view_op(*this, "expand", sh, st, offset(), [in_shape](const Tensor& g) { return sum_to(g, in_shape); });
}
Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }

Tensor Tensor::squeeze() const {
  Shape sh, st;
  for (size_t i = 0; i < shape().size(); ++i)
    if (shape()[i] != 1) {
      sh.push_back(shape()[i]);
      st.push_back(strides()[i]);
    }
  Shape in_shape = shape();
  return view_op(*this, "squeeze", sh, st, offset(), [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return squeeze();
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[size_t(d)] != 1) return view_op(*this, "squeeze", shape(), strides(), offset(), [](const Tensor& g) { return g; });
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return view_op(*this, "squeeze", sh, st, offset(), [d](const Tensor& g) { return g.unsqueeze(d); });
}
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) { return dim ? x.squeeze(*dim) : x.squeeze(); }

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape(), st = strides();
  int64_t s = d < dim() ? strides()[size_t(d)] * shape()[size_t(d)] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, s);
  return view_op(*this, "unsqueeze", sh, st, offset(), [d](const Tensor& g) { return g.squeeze(d); });
}
Tensor unsqueeze(const Tensor& x, int64_t dim) { return x.unsqueeze(dim); }

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  NB_CHECK(start <= end, "[flatten] start_dim ", start, " comes after end_dim ", end);
  Shape sh(shape().begin(), shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= shape()[size_t(i)];
  sh.push_back(n);
  sh.insert(sh.end(), shape().begin() + end + 1, shape().end());
  return reshape(sh);
}
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) { return x.flatten(start_dim, end_dim); }

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = ops::copy_kernel(*this, dtype());
  if (auto node = autograd::record("clone", {*this}, {out})) {
    node->backward_fn = [](const TensorList& g) { return TensorList{g[0]}; };
  }
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = ops::copy_kernel(*this, dt);
  // Only float -> float casts carry a gradient.
  if (is_floating(dt) && is_floating_point()) {
    if (auto node = autograd::record("to", {*this}, {out})) {
      node->backward_fn = [src = dtype()](const TensorList& g) { return TensorList{g[0].to(src)}; };
    }
  }
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device});
  ops::copy_into(out, *this);
  if (auto node = autograd::record("to", {*this}, {out})) {
    node->backward_fn = [src = this->device()](const TensorList& g) { return TensorList{g[0].to(src)}; };
  }
  return out;
}

Tensor cat(const TensorList& tensors, int64_t dim) {
  NB_CHECK(!tensors.empty(), "[cat] expected at least one tensor");
  // PyTorch's legacy rule: a 1-D empty tensor (shape [0], an "empty" accumulator) is skipped
  // whatever the others' shapes (cat({empty, x}) as a loop's start).
  const auto legacy_empty = [](const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; };
  if (std::any_of(tensors.begin(), tensors.end(), legacy_empty) &&
      !std::all_of(tensors.begin(), tensors.end(), legacy_empty)) {
    TensorList kept;
    for (const Tensor& t : tensors)
      if (!legacy_empty(t)) kept.push_back(t);
    return cat(kept, dim);
  }
  const Tensor& first = tensors[0];
  NB_CHECK(first.dim() > 0, "[cat] cannot concatenate 0-d tensors; use stack");
  dim = wrap_dim(dim, first.dim(), "cat");
  DType dt = first.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    ops::check_same_device(first, t, "cat");
    NB_CHECK(t.dim() == first.dim(), "[cat] tensor ", i, " has shape ", t.shape(), " but tensor 0 has shape ",
             first.shape(), ": ranks differ");
    for (int64_t d = 0; d < t.dim(); ++d)
      NB_CHECK(d == dim || t.size(d) == first.size(d), "[cat] tensor ", i, " has shape ", t.shape(),
               " but tensor 0 has shape ", first.shape(), ": sizes must match except in dimension ", dim);
    dt = promote(dt, t.dtype());
    total += t.size(dim);
  }
  Shape sh = first.shape();
  sh[size_t(dim)] = total;
  Tensor out = empty(sh, {.dtype = dt, .device = first.device()});
  std::vector<int64_t> offsets;
  {
    NoGradGuard ng;
    int64_t off = 0;
    for (const Tensor& t : tensors) {
      offsets.push_back(off);
      ops::copy_into(out.slice(dim, off, off + t.size(dim)), t);
      off += t.size(dim);
    }
  }
  TensorList inputs(tensors.begin(), tensors.end());
  if (auto node = autograd::record("cat", inputs, {out})) {
    std::vector<int64_t> sizes;
    std::vector<DType> dtypes;
    for (const Tensor& t : tensors) {
      sizes.push_back(t.size(dim));
      dtypes.push_back(t.dtype());
    }
    node->backward_fn = [dim, offsets, sizes, dtypes](const TensorList& g) {
      TensorList r;
      for (size_t i = 0; i < sizes.size(); ++i)
        r.push_back(g[0].slice(dim, offsets[i], offsets[i] + sizes[i]).to(dtypes[i]));
      return r;
    };
  }
  return out;
}

Tensor stack(const TensorList& tensors, int64_t dim) {
  NB_CHECK(!tensors.empty(), "[stack] expected at least one tensor");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  TensorList parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    NB_CHECK(tensors[i].shape() == tensors[0].shape(), "[stack] tensor ", i, " has shape ", tensors[i].shape(),
             " but tensor 0 has shape ", tensors[0].shape(), "; stack needs equal shapes");
    parts.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

}  // namespace nabla
