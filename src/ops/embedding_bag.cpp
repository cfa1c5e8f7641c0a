// embedding_bag: sums, means or maxima of embedding rows per bag, composed from index_select,
// index_add (sum, mean) and a padded [bags, longest bag] gather with max (max); the VJPs come from
// those ops. The bag layout is worked out on the host, where the indices are checked too.
#include <cmath>

#include "embedding.h"
#include "op_util.h"

namespace nabla {

namespace {

const char* mode_name(EmbeddingBagMode m) {
  return m == EmbeddingBagMode::Sum ? "sum" : m == EmbeddingBagMode::Mean ? "mean" : "max";
}

/// Bag b holds the flattened input's entries start[b] .. start[b + 1] - 1.
std::vector<int64_t> bag_starts(const Tensor& input, const EmbeddingBagOptions& o) {
  const int64_t T = input.numel();
  std::vector<int64_t> start;
  if (input.dim() == 2) {
    NB_CHECK(!o.offsets.defined(), "[embedding_bag] a 2-D input ", input.shape(),
             " is one bag per row and takes no offsets, got offsets of shape ", o.offsets.shape());
    for (int64_t b = 0; b <= input.size(0); ++b) start.push_back(b * input.size(1));
    return start;
  }
  NB_CHECK(input.dim() == 1, "[embedding_bag] expected input [B, n] (bags of n) or 1-D with offsets, got shape ",
           input.shape());
  NB_CHECK(o.offsets.defined() && o.offsets.dim() == 1 && o.offsets.dtype() == DType::i64,
           "[embedding_bag] a 1-D input needs 1-D i64 offsets (the start of each bag), got ",
           o.offsets.defined() ? shape_str(o.offsets.shape()) + " " + dtype_name(o.offsets.dtype()) : "none");
  const std::vector<int64_t> offsets = o.offsets.to(Device::cpu()).to_vector<int64_t>();
  NB_CHECK(!offsets.empty() || !o.include_last_offset,
           "[embedding_bag] include_last_offset needs at least one offset (the input's length)");
  start = offsets;
  if (!o.include_last_offset) start.push_back(T);
  NB_CHECK(offsets.empty() || offsets[0] == 0, "[embedding_bag] offsets[0] must be 0 (the first bag starts at the ",
           "input's start), got offsets ", Shape(offsets));
  for (size_t b = 1; b < start.size(); ++b)
    NB_CHECK(start[b - 1] <= start[b] && start[b] <= T, "[embedding_bag] offsets must be non-decreasing and at most ",
             "the input's length ", T, ", got offsets ", Shape(offsets));
  NB_CHECK(!o.include_last_offset || start.back() == T, "[embedding_bag] with include_last_offset the last offset ",
           "must be the input's length ", T, ", got offsets ", Shape(offsets));
  return start;
}

}  // namespace

Tensor embedding_bag(const Tensor& weight, const Tensor& input, const EmbeddingBagOptions& o) {
  ops::check_floating(weight, "embedding_bag");
  NB_CHECK(weight.dim() == 2, "[embedding_bag] weight must be [num_embeddings, dim], got ", weight.shape());
  NB_CHECK(input.dtype() == DType::i64, "[embedding_bag] input must hold i64 indices, got ", input.dtype());
  ops::check_same_device(weight, input, "embedding_bag");
  const std::vector<int64_t> start = bag_starts(input, o);
  const int64_t num = weight.size(0), D = weight.size(1), B = int64_t(start.size()) - 1, T = input.numel();
  const Tensor& psw = o.per_sample_weights;
  if (psw.defined()) {
    NB_CHECK(o.mode == EmbeddingBagMode::Sum, "[embedding_bag] per_sample_weights is only supported for mode sum, ",
             "got mode ", mode_name(o.mode));
    NB_CHECK(psw.shape() == input.shape() && psw.dtype() == weight.dtype(), "[embedding_bag] per_sample_weights ",
             psw.shape(), " ", psw.dtype(), " must have the input's shape ", input.shape(), " and the weight's dtype ",
             weight.dtype());
    ops::check_same_device(weight, psw, "embedding_bag");
  }
  std::optional<int64_t> pad;
  if (o.padding_idx) {
    NB_CHECK(*o.padding_idx >= -num && *o.padding_idx < num, "[embedding_bag] padding_idx ", *o.padding_idx,
             " is out of range for weight ", weight.shape());
    pad = *o.padding_idx < 0 ? *o.padding_idx + num : *o.padding_idx;
  }
  const std::vector<int64_t> idx = input.to(Device::cpu()).reshape({-1}).to_vector<int64_t>();
  for (int64_t i : idx)
    NB_CHECK(i >= 0 && i < num, "[embedding_bag] index ", i, " is out of range for weight ", weight.shape());
  NB_CHECK(!o.scale_grad_by_freq || o.mode != EmbeddingBagMode::Max,
           "[embedding_bag] scale_grad_by_freq is not supported with mode max (PyTorch documents it as "
           "unsupported and ignores it); use sum or mean");
  if (o.max_norm) {
    Tensor w = weight;  // the same tensor: F.embedding_bag renormalizes the caller's weight too
    embedding_renorm_(w, input, *o.max_norm, o.norm_type);
  }
  const TensorOptions like_w{.dtype = weight.dtype(), .device = weight.device()};
  if (B == 0 || D == 0) return zeros({B, D}, like_w);

  std::vector<uint8_t> drop(size_t(T), 0);  // padding_idx entries, which take no part
  std::vector<int64_t> count(size_t(B), 0);
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    longest = std::max(longest, start[size_t(b) + 1] - start[size_t(b)]);
    for (int64_t t = start[size_t(b)]; t < start[size_t(b) + 1]; ++t) {
      drop[size_t(t)] = pad && idx[size_t(t)] == *pad;
      count[size_t(b)] += !drop[size_t(t)];
    }
  }
  const Device dev = weight.device();

  if (o.mode == EmbeddingBagMode::Max) {
    // A [B, longest] gather, the slots past a bag's end and padding entries filled with -inf
    // before the max; bags with nothing left give 0, as PyTorch's.
    std::vector<int64_t> dense(size_t(B * longest), 0);
    std::vector<uint8_t> drop_slot(size_t(B * longest), 1), empty_bag(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      empty_bag[size_t(b)] = count[size_t(b)] == 0;
      for (int64_t t = start[size_t(b)]; t < start[size_t(b) + 1]; ++t) {
        const size_t slot = size_t(b * longest + t - start[size_t(b)]);
        dense[slot] = idx[size_t(t)];
        drop_slot[slot] = drop[size_t(t)];
      }
    }
    if (longest == 0) return zeros({B, D}, like_w);
    Tensor rows = index_select(weight, 0, from_vector(dense, {B * longest}).to(dev)).reshape({B, longest, D});
    rows = masked_fill(rows, from_vector(drop_slot, {B, longest, 1}, DType::boolean).to(dev), -INFINITY);
    return masked_fill(max(rows, {1}), from_vector(empty_bag, {B, 1}, DType::boolean).to(dev), 0.0);
  }

  std::vector<int64_t> bag_of(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = start[size_t(b)]; t < start[size_t(b) + 1]; ++t) bag_of[size_t(t)] = b;
  const Tensor flat = input.reshape({-1});
  Tensor rows = index_select(weight, 0, flat);
  if (o.scale_grad_by_freq) rows = ops::scale_grad_by_frequency(rows, flat, num);
  if (pad) rows = masked_fill(rows, from_vector(drop, {T, 1}, DType::boolean).to(dev), 0.0);
  if (psw.defined()) rows = rows * psw.reshape({T, 1});
  Tensor out = index_add(zeros({B, D}, like_w), 0, from_vector(bag_of, {T}).to(dev), rows);
  if (o.mode == EmbeddingBagMode::Sum) return out;
  std::vector<double> inv(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) inv[size_t(b)] = 1.0 / double(std::max<int64_t>(count[size_t(b)], 1));
  return out * from_vector(inv, {B, 1}, weight.dtype()).to(dev);
}

}  // namespace nabla
