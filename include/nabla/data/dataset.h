// Datasets: indexable collections of examples (an input tensor and a class label), and the
// collate step that stacks examples into a batch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nabla/tensor.h"

namespace nabla::data {

/// One example: an input tensor (an image [C, H, W], a feature vector [F], ...) and its class.
struct Example {
  Tensor input;
  int64_t target = 0;
};

/// A minibatch: inputs [B, ...] (the examples' inputs stacked) and i64 targets [B].
struct Batch {
  Tensor inputs;
  Tensor targets;
  int64_t size() const { return targets.defined() ? targets.size(0) : 0; }
};

/// An indexable data set. `get` must be safe to call from several threads at once (the
/// DataLoader's workers do), and must not change the data set; it may throw on bad data.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Example `index`, 0 <= index < size().
  virtual Example get(int64_t index) const = 0;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

/// In-memory data set: row i of `inputs` [N, ...] with label `targets[i]` (i64 [N]).
/// Rows are returned as views (no copy) unless the options ask for a conversion.
class TensorDataset : public Dataset {
 public:
  struct Options {
    /// u8 inputs come back as f32 x / 255 (in [0, 1]); other dtypes are returned as stored.
    bool u8_to_float = false;
    /// Inserts a channel dim: a row [H, W] comes back as [1, H, W].
    bool add_channel_dim = false;
  };
  TensorDataset(Tensor inputs, Tensor targets) : TensorDataset(std::move(inputs), std::move(targets), Options{}) {}
  TensorDataset(Tensor inputs, Tensor targets, Options opts);
  /// Images u8 or f32 [N, H, W] or [N, C, H, W] with labels i64 [N]: examples are f32 [C, H, W]
  /// (u8 scaled to [0, 1]), what the transforms and conv layers take. The Fashion-MNIST case.
  static std::shared_ptr<TensorDataset> images(Tensor images, Tensor labels);

  int64_t size() const override { return n_; }
  Example get(int64_t index) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_, targets_;
  Options opts_;
  int64_t n_ = 0;
};

/// The examples of `base` at `indices` (in that order), e.g. one side of a train/validation split.
class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Example get(int64_t index) const override;
  const std::vector<int64_t>& indices() const { return indices_; }
  const DatasetPtr& base() const { return base_; }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

/// The examples of several data sets one after the other (torch.utils.data.ConcatDataset): index
/// i of the whole is index i - (sizes before) of the data set it falls in.
class ConcatDataset : public Dataset {
 public:
  explicit ConcatDataset(std::vector<DatasetPtr> datasets);
  int64_t size() const override { return ends_.empty() ? 0 : ends_.back(); }
  Example get(int64_t index) const override;
  const std::vector<DatasetPtr>& datasets() const { return datasets_; }

 private:
  std::vector<DatasetPtr> datasets_;
  std::vector<int64_t> ends_;  ///< cumulative sizes
};

/// Stacks examples into a batch. Every input must have the same shape and dtype; the error names
/// the first example that differs. `where` prefixes error messages (e.g. "[DataLoader] epoch 2").
Batch collate(const std::vector<Example>& examples, const std::string& where = "[collate]");

}  // namespace nabla::data
