// Rearranging and masking ops built from the view, indexing and where primitives (no kernels of
// their own, and their VJPs come from the ops they are made of): split, chunk, flip, roll,
// repeat, tril, triu, masked_fill, masked_select.
#include <algorithm>

#include "op_util.h"

namespace nabla {

namespace {

/// Consecutive views of x along `dim` with the given lengths (their sum is x.size(dim)).
TensorList pieces(const Tensor& x, int64_t dim, const std::vector<int64_t>& sizes) {
  TensorList out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return out;
}

/// i64 indices 0..n-1 on the CPU, transformed by f.
template <typename F>
Tensor index_map(int64_t n, F&& f) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = f(i);
  return from_vector(v, {n});
}

/// tril (lower = true) or triu: where the mask over the last two dims keeps x, else 0.
Tensor triangle(const Tensor& x, int64_t diagonal, bool lower, const char* op) {
  ops::check_tensor(x, op);
  NB_CHECK(x.dim() >= 2, "[", op, "] expected a tensor with at least 2 dims (a matrix or a batch of them), got shape ",
           x.shape());
  const int64_t R = x.size(-2), C = x.size(-1);
  // keep[i][j]: j - i <= diagonal (tril) or >= diagonal (triu); built on the host (R x C bytes).
  std::vector<uint8_t> keep(static_cast<size_t>(R * C));
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) keep[size_t(i * C + j)] = lower ? j - i <= diagonal : j - i >= diagonal;
  Tensor mask = from_vector(keep, {R, C}, DType::boolean).to(x.device());
  // where, not a product: NaN and inf outside the triangle become 0, as in PyTorch.
  return where(mask, x, ops::scalar_like(0.0, x));
}

/// A mask is bool, or u8 (the legacy form PyTorch 1.x accepted; non-zero is true).
void check_mask(const Tensor& mask, const char* op) {
  ops::check_tensor(mask, op);
  NB_CHECK(mask.dtype() == DType::boolean || mask.dtype() == DType::u8, "[", op,
           "] mask must be bool (e.g. from a comparison; u8 is accepted as the legacy form), got ", mask.dtype(),
           " with shape ", mask.shape());
}

}  // namespace

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  ops::check_tensor(x, "split");
  NB_CHECK(x.dim() > 0, "[split] expected a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(dim);
  NB_CHECK(split_size > 0 || (split_size == 0 && n == 0), "[split] split_size must be positive, got ", split_size,
           " (dimension ", dim, " of shape ", x.shape(), ")");
  if (n == 0) return {x};
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
  return pieces(x, dim, sizes);
}

TensorList split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  ops::check_tensor(x, "split_with_sizes");
  NB_CHECK(x.dim() > 0, "[split_with_sizes] expected a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : sizes) {
    NB_CHECK(s >= 0, "[split_with_sizes] sizes must be non-negative, got ", Shape(sizes.begin(), sizes.end()));
    total += s;
  }
  NB_CHECK(total == x.size(dim), "[split_with_sizes] sizes ", Shape(sizes.begin(), sizes.end()), " sum to ", total,
           " but dimension ", dim, " of shape ", x.shape(), " has ", x.size(dim));
  return pieces(x, dim, sizes);
}

TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  ops::check_tensor(x, "chunk");
  NB_CHECK(chunks > 0, "[chunk] chunks must be positive, got ", chunks);
  NB_CHECK(x.dim() > 0, "[chunk] expected a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  // PyTorch's rule: pieces of ceil(n / chunks), so fewer than `chunks` when they do not divide n.
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), dim);
}

Tensor flip(const Tensor& x, const Shape& dims) {
  ops::check_tensor(x, "flip");
  std::vector<bool> seen(size_t(std::max<int64_t>(x.dim(), 1)), false);
  Tensor y = x;
  for (int64_t d0 : dims) {
    const int64_t d = wrap_dim(d0, x.dim(), "flip");
    NB_CHECK(!seen[size_t(d)], "[flip] dim ", d, " appears more than once in dims ", dims);
    seen[size_t(d)] = true;
    if (x.dim() == 0) continue;
    const int64_t n = x.size(d);
    y = index_select(y, d, index_map(n, [n](int64_t i) { return n - 1 - i; }).to(x.device()));
  }
  return y.shares_storage(x) ? y.clone() : y;  // always a new tensor, as PyTorch's
}

Tensor roll(const Tensor& x, int64_t shift, int64_t dim) {
  ops::check_tensor(x, "roll");
  NB_CHECK(x.dim() > 0, "[roll] expected a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "roll");
  const int64_t n = x.size(dim);
  if (n == 0) return x.clone();
  const int64_t s = ((shift % n) + n) % n;
  // out[i] = x[(i - shift) mod n]
  return index_select(x, dim, index_map(n, [n, s](int64_t i) { return (i - s + n) % n; }).to(x.device()));
}

Tensor repeat(const Tensor& x, const Shape& repeats) {
  ops::check_tensor(x, "repeat");
  const int64_t nd = int64_t(repeats.size());
  NB_CHECK(nd >= x.dim(), "[repeat] needs at least one repeat count per dim: ", nd, " for shape ", x.shape());
  for (int64_t r : repeats) NB_CHECK(r >= 0, "[repeat] repeat counts must be non-negative, got ", repeats);
  // x as [1, s0, 1, s1, ...] (leading dims of size 1 when repeats is longer), expanded to
  // [r0, s0, r1, s1, ...], then merged pairwise: each dim is r copies of the whole of it.
  Shape padded(size_t(nd - x.dim()), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  Shape interleaved, expanded, out;
  for (int64_t d = 0; d < nd; ++d) {
    interleaved.insert(interleaved.end(), {1, padded[size_t(d)]});
    expanded.insert(expanded.end(), {repeats[size_t(d)], padded[size_t(d)]});
    out.push_back(repeats[size_t(d)] * padded[size_t(d)]);
  }
  return x.reshape(interleaved).expand(expanded).clone().reshape(out);  // always a copy, as PyTorch's
}

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, true, "tril"); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, false, "triu"); }

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ops::check_tensor(x, "masked_fill");
  check_mask(mask, "masked_fill");
  NB_CHECK(ops::broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(), "[masked_fill] mask shape ",
           mask.shape(), " does not broadcast to the input's shape ", x.shape());
  ops::check_same_device(x, mask, "masked_fill");
  ops::check_fill_value(x.dtype(), value, "masked_fill");
  return where(mask, ops::scalar_like(value, x), x);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  ops::check_tensor(x, "masked_select");
  check_mask(mask, "masked_select");
  ops::check_same_device(x, mask, "masked_select");
  const Shape shape = ops::broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  // The output's length depends on the mask's values, so they are read on the host (PyTorch
  // waits for them too); the selection is then an index_select, whose VJP is index_add.
  std::vector<int64_t> picked;
  {
    NoGradGuard ng;
    const std::vector<int64_t> m = mask.expand(shape).to(Device::cpu()).to_int64_vector();
    for (size_t i = 0; i < m.size(); ++i)
      if (m[i] != 0) picked.push_back(int64_t(i));
  }
  const int64_t n = int64_t(picked.size());
  const Tensor flat = x.expand(shape).reshape({shape_numel(shape)});
  return index_select(flat, 0, from_vector(picked, {n}).to(x.device()));
}

}  // namespace nabla
