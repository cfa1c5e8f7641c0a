// Samplers: which examples an epoch visits, in what order (torch.utils.data's samplers). A
// DataLoader with a sampler takes its indices from it instead of shuffling the whole data set.
// The indices of an epoch are a pure function of (seed, epoch), like the loader's own shuffle, so
// a batch holds the same examples whatever the number of workers and after a resume.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace nabla::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  /// The data-set indices of epoch `epoch` for a data set of `dataset_size` examples.
  virtual std::vector<int64_t> indices(int64_t dataset_size, uint64_t seed, int64_t epoch) const = 0;
  /// How many indices an epoch has (what `indices` returns the size of).
  virtual int64_t num_samples(int64_t dataset_size) const = 0;
};
using SamplerPtr = std::shared_ptr<const Sampler>;

/// torch.utils.data.WeightedRandomSampler: num_samples indices drawn with probability
/// proportional to `weights` (one per example; >= 0, finite, not all 0), with replacement or
/// without (then num_samples <= the number of positive weights; Efraimidis-Spirakis keys, the
/// distribution of successive draws without replacement). For class balance, weight each example
/// by 1 / (its class's count) — see `class_balanced_weights`.
class WeightedRandomSampler : public Sampler {
 public:
  WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement = true);
  std::vector<int64_t> indices(int64_t dataset_size, uint64_t seed, int64_t epoch) const override;
  int64_t num_samples(int64_t dataset_size) const override;
  const std::vector<double>& weights() const { return weights_; }

 private:
  std::vector<double> weights_, cumulative_;
  int64_t num_samples_;
  bool replacement_;
};

/// torch.utils.data.SubsetRandomSampler: the given indices, in a new random order every epoch.
class SubsetRandomSampler : public Sampler {
 public:
  explicit SubsetRandomSampler(std::vector<int64_t> indices);
  std::vector<int64_t> indices(int64_t dataset_size, uint64_t seed, int64_t epoch) const override;
  int64_t num_samples(int64_t dataset_size) const override;

 private:
  std::vector<int64_t> indices_;
};

/// 1 / (number of examples of the same label) for each of `labels` (i64 class indices >= 0): the
/// weights under which WeightedRandomSampler draws every class equally often.
std::vector<double> class_balanced_weights(const std::vector<int64_t>& labels);

}  // namespace nabla::data
