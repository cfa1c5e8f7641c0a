// Indexing: gather / scatter_add and index_select / index_add are each other's VJPs.
#include "autocast.h"
#include "op_util.h"

namespace nabla {

namespace {

/// `index` contiguous, once its values are known to address dimension `dim` (size `limit`) of
/// `shape` (checked where the index lives; see ops::check_indices).
Tensor checked_index(const Tensor& index, int64_t limit, const char* op, int64_t dim, const Shape& shape) {
  NB_CHECK(index.dtype() == DType::i64, "[", op, "] index must be i64, got ", index.dtype());
  Tensor c = ops::contiguous_data(index);
  if (ops::ReusingCheckedIndex::active()) return c;
  ops::check_indices(c, {.limit = limit, .also = std::nullopt}, [op = std::string(op), limit, dim, shape](int64_t, int64_t v) {
    return detail::concat("[", op, "] index ", v, " is out of range for dimension ", dim, " of size ", limit,
                          " (shape ", shape, ")");
  });
  return c;
}

struct Split {
  int64_t outer = 1, inner = 1;
};
Split split_at(const Shape& s, int64_t dim) {
  Split r;
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    if (i < dim) r.outer *= s[size_t(i)];
    if (i > dim) r.inner *= s[size_t(i)];
  }
  return r;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  ops::check_same_device(x, index, "gather");
  dim = wrap_dim(dim, x.dim(), "gather");
  NB_CHECK(index.dim() == x.dim(), "[gather] index rank ", index.dim(), " (shape ", index.shape(),
           ") must equal input rank ", x.dim(), " (shape ", x.shape(), ")");
  if (x.dim() == 0) return gather(x.reshape({1}), 0, index.reshape({1})).reshape({});
  for (int64_t d = 0; d < x.dim(); ++d)
    NB_CHECK(d == dim || index.size(d) <= x.size(d), "[gather] index shape ", index.shape(),
             " must not be larger than input shape ", x.shape(), " except in dimension ", dim);
  for (int64_t d = 0; d < x.dim(); ++d)  // as PyTorch, a smaller index reads the leading part of x
    if (d != dim && index.size(d) < x.size(d)) return gather(x.narrow(d, 0, index.size(d)), dim, index);
  Tensor idx = checked_index(index, x.size(dim), "gather", dim, x.shape());
  Tensor src = ops::contiguous_data(x);
  Tensor out = empty(index.shape(), {.dtype = x.dtype(), .device = x.device()});
  Split s = split_at(x.shape(), dim);
  backend::get(x.device()).gather(x.dtype(), src.raw_data(), out.raw_data(), ops::index_ptr(idx), s.outer, x.size(dim),
                       index.size(dim), s.inner);
  if (auto node = autograd::record("gather", {x}, {out})) {
    node->backward_fn = [idx, dim, xs = x.shape()](const TensorList& g) {
      ops::ReusingCheckedIndex checked;
      return TensorList{scatter_add(zeros(xs, {.dtype = g[0].dtype(), .device = g[0].device()}), dim, idx, g[0])};
    };
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src0) {
  if (ops::AutocastRegion ac(ops::autocast_op::scatter_add, {&x, &src0}); ac.active())
    return scatter_add(ac.cast(x), dim, index, ac.cast(src0));
  // bool accumulates as a logical or (bool + bool), counted in i64 so no sum wraps to 0.
  if (x.defined() && x.dtype() == DType::boolean)
    return scatter_add(x.to(DType::i64), dim, index, src0.to(DType::i64)).to(DType::boolean);
  ops::check_same_device(x, index, "scatter_add");
  dim = wrap_dim(dim, x.dim(), "scatter_add");
  NB_CHECK(index.dim() == x.dim() && src0.dim() == x.dim(), "[scatter_add] index rank ", index.dim(), " and src rank ",
           src0.dim(), " must equal input rank ", x.dim());
  for (int64_t d = 0; d < x.dim(); ++d)
    NB_CHECK(index.size(d) <= src0.size(d), "[scatter_add] index shape ", index.shape(),
             " must not be larger than src shape ", src0.shape());
  for (int64_t d = 0; d < x.dim(); ++d)  // as PyTorch, only src's leading part of the index's shape is added
    if (index.size(d) < src0.size(d)) return scatter_add(x, dim, index, src0.narrow(d, 0, index.size(d)));
  for (int64_t d = 0; d < x.dim(); ++d)
    NB_CHECK(d == dim || index.size(d) <= x.size(d), "[scatter_add] index shape ", index.shape(),
             " must not be larger than input shape ", x.shape(), " except in dimension ", dim);
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim || index.size(d) == x.size(d)) continue;
    // An index smaller than x outside dim (allowed by PyTorch): extend index and src to x's size
    // there with index 0 and src 0, which add nothing; src's gradient is cut back by the cat.
    Shape extra = index.shape();
    extra[size_t(d)] = x.size(d) - index.size(d);
    const Tensor more_index = zeros(extra, {.dtype = DType::i64, .device = index.device()});
    const Tensor more_src = zeros(extra, {.dtype = src0.dtype(), .device = src0.device()});
    return scatter_add(x, dim, cat({index, more_index}, d), cat({src0, more_src}, d));
  }
  Tensor idx = checked_index(index, x.size(dim), "scatter_add", dim, x.shape());
  Tensor src = src0.to(x.dtype());
  Tensor out = ops::copy_kernel(x, x.dtype());
  Tensor s = ops::contiguous_data(src);
  Split sp = split_at(x.shape(), dim);
  backend::get(x.device()).scatter_add(x.dtype(), out.raw_data(), s.raw_data(), ops::index_ptr(idx), sp.outer, x.size(dim),
                            index.size(dim), sp.inner);
  if (auto node = autograd::record("scatter_add", {x, src}, {out})) {
    node->backward_fn = [idx, dim](const TensorList& g) {
      ops::ReusingCheckedIndex checked;
      return TensorList{g[0], gather(g[0], dim, idx)};
    };
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  ops::check_same_device(x, index, "index_select");
  NB_CHECK(index.dim() <= 1, "[index_select] index must be 1-D, got shape ", index.shape());
  dim = wrap_dim(dim, x.dim(), "index_select");
  int64_t n_in = x.dim() == 0 ? 1 : x.size(dim);
  Tensor idx = checked_index(index.reshape({-1}), n_in, "index_select", dim, x.shape());
  Tensor src = ops::contiguous_data(x);
  Shape sh = x.shape();
  if (!sh.empty()) sh[size_t(dim)] = idx.numel();
  Tensor out = empty(sh, {.dtype = x.dtype(), .device = x.device()});
  Split s = split_at(x.shape(), dim);
  backend::get(x.device()).index_select(x.dtype(), src.raw_data(), out.raw_data(), ops::index_ptr(idx), idx.numel(), s.outer,
                             n_in, s.inner);
  if (auto node = autograd::record("index_select", {x}, {out})) {
    node->backward_fn = [idx, dim, xs = x.shape()](const TensorList& g) {
      ops::ReusingCheckedIndex checked;
      return TensorList{index_add(zeros(xs, {.dtype = g[0].dtype(), .device = g[0].device()}), dim, idx, g[0])};
    };
  }
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src0) {
  if (x.defined() && x.dtype() == DType::boolean && src0.defined())  // a logical or, as scatter_add's
    return index_add(x.to(DType::i64), dim, index, src0.to(DType::i64)).to(DType::boolean);
  ops::check_same_device(x, index, "index_add");
  NB_CHECK(index.dim() <= 1, "[index_add] index must be 1-D, got shape ", index.shape());
  dim = wrap_dim(dim, x.dim(), "index_add");
  Tensor idx = ops::contiguous_data(index.reshape({-1}));
  Shape want = x.shape();
  if (!want.empty()) want[size_t(dim)] = idx.numel();
  NB_CHECK(src0.shape() == want, "[index_add] src shape ", src0.shape(), " must be ", want, " for input ",
           x.shape(), " and ", idx.numel(), " indices");
  int64_t n_out = x.dim() == 0 ? 1 : x.size(dim);
  idx = checked_index(idx, n_out, "index_add", dim, x.shape());
  Tensor src = src0.to(x.dtype());
  Tensor out = ops::copy_kernel(x, x.dtype());
  Tensor s = ops::contiguous_data(src);
  Split sp = split_at(x.shape(), dim);
  backend::get(x.device()).index_add(x.dtype(), out.raw_data(), s.raw_data(), ops::index_ptr(idx), idx.numel(), sp.outer,
                          n_out, sp.inner);
  if (auto node = autograd::record("index_add", {x, src}, {out})) {
    node->backward_fn = [idx, dim](const TensorList& g) {
      ops::ReusingCheckedIndex checked;
      return TensorList{g[0], index_select(g[0], dim, idx)};
    };
  }
  return out;
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  NB_CHECK(labels.dtype() == DType::i64, "[one_hot] labels must be i64, got ", labels.dtype());
  NB_CHECK(num_classes > 0, "[one_hot] num_classes must be positive, got ", num_classes);
  // Built on the host: the labels come back to it anyway, so they are checked there at once.
  Tensor l = checked_index(labels.to(Device::cpu()), num_classes, "one_hot", -1, {num_classes});
  Shape sh = labels.shape();
  sh.push_back(num_classes);
  Tensor out = zeros(sh, {.dtype = dtype});
  const int64_t* p = l.data_ptr<int64_t>();
  NB_DISPATCH_ALL_AND_HALF(dtype, "one_hot", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < l.numel(); ++i) o[i * num_classes + p[i]] = scalar_t(1);
  });
  return out.to(labels.device());
}

}  // namespace nabla
