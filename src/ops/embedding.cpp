// embedding with PyTorch's options: padding_idx (lookups of that row pass it no gradient),
// max_norm (the looked-up rows renormalized in place first: embedding_renorm_) and
// scale_grad_by_freq (a row's gradient divided by how often the batch looks it up). The lookup is
// index_select, so gradients and their gradients come from it.
#include "embedding.h"

#include <algorithm>
#include <cmath>

#include "op_util.h"

namespace nabla {

namespace ops {

Tensor scale_grad_by_frequency(const Tensor& rows, const Tensor& flat, int64_t num) {
  if (!rows.requires_grad() || !is_grad_enabled()) return rows;
  // Counted on the indices' device (no host round trip on a GPU), exactly, in i64.
  const Device dev = flat.device();
  const Tensor ones_t = ones({flat.numel()}, {.dtype = DType::i64, .device = dev});
  const Tensor count = index_add(zeros({num}, {.dtype = DType::i64, .device = dev}), 0, flat, ones_t);
  // 1 / count in the weight's compute type (float for the 16-bit dtypes, whose gradient is
  // rounded once, after the product, as PyTorch's float opmath does).
  const DType op = is_half(rows.dtype()) ? DType::f32 : rows.dtype();
  const Tensor factor = reciprocal(index_select(count, 0, flat).to(op)).unsqueeze(1);
  Tensor out = copy_kernel(rows, rows.dtype());
  if (auto node = autograd::record("embedding", {rows}, {out})) {
    node->backward_fn = [factor](const TensorList& g) {
      return TensorList{(g[0].to(factor.dtype()) * factor).to(g[0].dtype())};
    };
  }
  return out;
}

}  // namespace ops

Tensor& embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm, double norm_type) {
  ops::check_floating(weight, "embedding_renorm_");
  NB_CHECK(weight.dim() == 2, "[embedding_renorm_] weight must be [num_embeddings, dim], got ", weight.shape());
  NB_CHECK(indices.dtype() == DType::i64, "[embedding_renorm_] indices must be i64, got ", indices.dtype());
  ops::check_same_device(weight, indices, "embedding_renorm_");
  NB_CHECK(max_norm >= 0 && !std::isnan(max_norm), "[embedding_renorm_] max_norm must be >= 0, got ", max_norm);
  NB_CHECK(norm_type > 0, "[embedding_renorm_] norm_type must be positive (a p-norm, inf allowed), got ", norm_type);
  ops::check_no_internal_overlap(weight, "embedding_renorm_");
  const int64_t num = weight.size(0), D = weight.size(1);
  // Each looked-up row once: the rows are read on the host anyway to decide which to rescale.
  std::vector<int64_t> rows = indices.to(Device::cpu()).reshape({-1}).to_vector<int64_t>();
  for (int64_t i : rows)
    NB_CHECK(i >= 0 && i < num, "[embedding_renorm_] index ", i, " is out of range for weight ", weight.shape());
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  // Every call is an in-place write, as PyTorch's (its version goes up even when no row is over
  // max_norm): a backward that saved the weight then fails from the first step on, not from the
  // first step where some row happens to grow past max_norm.
  ops::bump_version(weight, "embedding_renorm_");
  if (rows.empty() || D == 0) return weight;

  NoGradGuard ng;  // PyTorch renormalizes the weight's data, outside autograd
  const Device dev = weight.device();
  const Tensor w = weight.detach();
  const std::vector<double> norms =
      norm(index_select(w, 0, from_vector(rows, {int64_t(rows.size())}).to(dev)), norm_type, {1}).to_double_vector();
  std::vector<int64_t> over;
  std::vector<double> scale;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (norms[i] > max_norm) {
      over.push_back(rows[i]);
      scale.push_back(max_norm / (norms[i] + 1e-7));  // PyTorch's formula
    }
  }
  if (over.empty()) return weight;
  const int64_t E = int64_t(over.size());
  const Tensor sel = ops::contiguous_data(from_vector(over, {E}).to(dev));
  const Tensor old_rows = ops::contiguous_data(index_select(w, 0, sel));
  // As PyTorch's row *= scale: the factor is converted to the weight's dtype first (through
  // float: c10::Scalar -> Half on the CPU, static_cast<scalar_t> in the CUDA kernel), then each
  // element times it is rounded once. For the 16-bit dtypes the f32 product of two 16-bit
  // values is exact, so rounding it gives PyTorch's 16-bit product.
  const DType op = is_half(weight.dtype()) ? DType::f32 : weight.dtype();
  const Tensor factor = from_vector(scale, {E, 1}).to(op).to(weight.dtype()).to(op).to(dev);
  const Tensor new_rows = ops::contiguous_data((old_rows.to(op) * factor).to(weight.dtype()));
  const Tensor minus_old = ops::contiguous_data(-old_rows);
  // Written with two index_adds on the distinct rows: row + (-row) is exactly 0, and 0 + new is
  // exactly new, so the rows end up holding new_rows bit for bit. A strided table (from_pretrained
  // of a transposed matrix) is rewritten through a contiguous copy, copied back element for
  // element, so its other rows keep their bits too.
  const Tensor table = weight.is_contiguous() ? weight : ops::copy_kernel(w, w.dtype());
  backend::Backend& be = backend::get(dev);
  be.index_add(weight.dtype(), table.raw_data(), minus_old.raw_data(), ops::index_ptr(sel), E, 1, num, D);
  be.index_add(weight.dtype(), table.raw_data(), new_rows.raw_data(), ops::index_ptr(sel), E, 1, num, D);
  if (!weight.is_contiguous()) ops::copy_into(weight, table);
  return weight;
}

Tensor embedding(const Tensor& weight, const Tensor& indices, const EmbeddingOptions& o) {
  NB_CHECK(weight.defined() && weight.dim() == 2, "[embedding] weight must be [num_embeddings, dim], got ",
           weight.defined() ? shape_str(weight.shape()) : "an undefined tensor");
  NB_CHECK(indices.defined() && indices.dtype() == DType::i64, "[embedding] indices must be i64, got ",
           indices.defined() ? dtype_name(indices.dtype()) : "an undefined tensor");
  const int64_t n = weight.size(0);
  if (o.padding_idx)
    NB_CHECK(*o.padding_idx >= -n && *o.padding_idx < n, "[embedding] padding_idx ", *o.padding_idx,
             " is out of range for weight ", weight.shape());
  if (o.max_norm) {
    Tensor w = weight;  // the same tensor: F.embedding renormalizes the caller's weight too
    embedding_renorm_(w, indices, *o.max_norm, o.norm_type);
  }
  Shape out = indices.shape();
  out.push_back(weight.size(1));
  const Tensor flat = indices.reshape({-1});
  Tensor rows = index_select(weight, 0, flat);
  if (o.padding_idx && rows.requires_grad()) {
    // Lookups of the padding row pass no gradient back (PyTorch's padding_idx); the row's other
    // uses (a tied output layer, a penalty on the weight) still reach it.
    const int64_t p = *o.padding_idx;
    const Tensor pad = full({}, double(p < 0 ? p + n : p), {.dtype = DType::i64, .device = indices.device()});
    rows = where(ne(flat, pad).unsqueeze(1), rows, rows.detach());
  }
  if (o.scale_grad_by_freq) rows = ops::scale_grad_by_frequency(rows, flat, n);
  return rows.reshape(out);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  return embedding(weight, indices, EmbeddingOptions{.padding_idx = padding_idx});
}

}  // namespace nabla
