#include "nabla/data/dataset.h"

#include <algorithm>
#include <cstring>

namespace nabla::data {

namespace {
// Copies any strided tensor into contiguous memory at dst (plain loops: runs on worker threads,
// so it stays off the op dispatcher).
void copy_strided(const Tensor& t, uint8_t* dst) {
  size_t es = dtype_size(t.dtype());
  const uint8_t* base = static_cast<const uint8_t*>(t.storage()->data) + t.offset() * int64_t(es);
  int64_t n = t.numel(), nd = t.dim();
  if (t.is_contiguous()) {
    std::memcpy(dst, base, size_t(n) * es);
    return;
  }
  std::vector<int64_t> idx(size_t(nd), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[size_t(d)] * t.strides()[size_t(d)];
    std::memcpy(dst + size_t(i) * es, base + off * int64_t(es), es);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < t.shape()[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
}
}  // namespace

TensorDataset::TensorDataset(Tensor inputs, Tensor targets, Options opts)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), opts_(opts) {
  NB_CHECK(inputs_.defined() && targets_.defined(), "[TensorDataset] inputs and targets must be defined tensors");
  NB_CHECK(inputs_.device().is_cpu() && targets_.device().is_cpu(), "[TensorDataset] expected CPU tensors, got ",
           inputs_.device(), " and ", targets_.device());
  NB_CHECK(inputs_.dim() >= 1, "[TensorDataset] inputs need a leading example dim, got shape ", inputs_.shape());
  NB_CHECK(targets_.dim() == 1 && targets_.dtype() == DType::i64, "[TensorDataset] targets must be i64 [N], got ",
           targets_.dtype(), " ", targets_.shape());
  NB_CHECK(inputs_.size(0) == targets_.size(0), "[TensorDataset] ", inputs_.size(0), " inputs but ",
           targets_.size(0), " targets");
  n_ = inputs_.size(0);
}

std::shared_ptr<TensorDataset> TensorDataset::images(Tensor images, Tensor labels) {
  NB_CHECK(images.defined() && (images.dim() == 3 || images.dim() == 4) &&
               (images.dtype() == DType::u8 || images.dtype() == DType::f32),
           "[TensorDataset::images] expected u8 or f32 images [N, H, W] or [N, C, H, W], got ",
           images.defined() ? dtype_name(images.dtype()) : "undefined", " ",
           images.defined() ? images.shape() : Shape{});
  Options opts{.u8_to_float = true, .add_channel_dim = images.dim() == 3};
  return std::make_shared<TensorDataset>(std::move(images), std::move(labels), opts);
}

Example TensorDataset::get(int64_t index) const {
  NB_CHECK(index >= 0 && index < n_, "[TensorDataset] index ", index, " is out of range for ", n_, " examples");
  Shape shape(inputs_.shape().begin() + 1, inputs_.shape().end());
  Shape strides(inputs_.strides().begin() + 1, inputs_.strides().end());
  if (opts_.add_channel_dim) {
    shape.insert(shape.begin(), 1);
    strides.insert(strides.begin(), shape_numel(shape));
  }
  Tensor row = make_view(inputs_, shape, strides, inputs_.offset() + index * inputs_.stride(0));
  const Tensor& t = targets_;
  int64_t target = static_cast<const int64_t*>(t.storage()->data)[t.offset() + index * t.stride(0)];
  if (opts_.u8_to_float && row.dtype() == DType::u8) {
    Tensor f = empty(shape, {.dtype = DType::f32});
    std::vector<uint8_t> bytes(size_t(row.numel()));
    copy_strided(row, bytes.data());
    float* dst = f.data_ptr<float>();
    for (size_t i = 0; i < bytes.size(); ++i) dst[i] = float(bytes[i]) * (1.0f / 255.0f);
    return {f, target};
  }
  return {row, target};
}

Subset::Subset(DatasetPtr base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {
  NB_CHECK(base_ != nullptr, "[Subset] base data set is null");
  int64_t n = base_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    NB_CHECK(indices_[i] >= 0 && indices_[i] < n, "[Subset] index ", indices_[i], " (position ", i,
             ") is out of range for a data set of ", n, " examples");
}

Example Subset::get(int64_t index) const {
  NB_CHECK(index >= 0 && index < size(), "[Subset] index ", index, " is out of range for ", size(), " examples");
  return base_->get(indices_[size_t(index)]);
}

ConcatDataset::ConcatDataset(std::vector<DatasetPtr> datasets) : datasets_(std::move(datasets)) {
  int64_t total = 0;
  for (size_t i = 0; i < datasets_.size(); ++i) {
    NB_CHECK(datasets_[i] != nullptr, "[ConcatDataset] data set ", i, " is null");
    const int64_t n = datasets_[i]->size();
    NB_CHECK(n >= 0, "[ConcatDataset] data set ", i, " reports a negative size ", n);
    total += n;
    ends_.push_back(total);
  }
}

Example ConcatDataset::get(int64_t index) const {
  NB_CHECK(index >= 0 && index < size(), "[ConcatDataset] index ", index, " is out of range for ", size(), " examples");
  const size_t which = size_t(std::upper_bound(ends_.begin(), ends_.end(), index) - ends_.begin());
  return datasets_[which]->get(index - (which == 0 ? 0 : ends_[which - 1]));
}

Batch collate(const std::vector<Example>& examples, const std::string& where) {
  NB_CHECK(!examples.empty(), where, ": cannot collate an empty batch");
  const Tensor& first = examples[0].input;
  NB_CHECK(first.defined(), where, ": example 0 of the batch has an undefined input");
  NB_CHECK(first.device().is_cpu(), where, ": example inputs must be CPU tensors, got ", first.device());
  int64_t b = int64_t(examples.size());
  for (int64_t i = 1; i < b; ++i) {
    const Tensor& x = examples[size_t(i)].input;
    NB_CHECK(x.defined(), where, ": example ", i, " of the batch has an undefined input");
    NB_CHECK(x.shape() == first.shape() && x.dtype() == first.dtype(), where, ": example ", i,
             " of the batch has input ", x.dtype(), " ", x.shape(), " but example 0 has ", first.dtype(), " ",
             first.shape(), " (all inputs of a batch must match: resize images to one size)");
  }
  Shape shape = first.shape();
  shape.insert(shape.begin(), b);
  Batch out;
  out.inputs = empty(shape, {.dtype = first.dtype()});
  out.targets = empty({b}, {.dtype = DType::i64});
  size_t row_bytes = size_t(first.numel()) * dtype_size(first.dtype());
  auto* dst = static_cast<uint8_t*>(out.inputs.raw_data());
  int64_t* tgt = out.targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    copy_strided(examples[size_t(i)].input, dst + size_t(i) * row_bytes);
    tgt[i] = examples[size_t(i)].target;
  }
  return out;
}

}  // namespace nabla::data
