// Train/validation splits with a seed, and normalization statistics from the training split.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "nabla/data/dataset.h"
#include "nabla/data/rng.h"
#include "nabla/data/transforms.h"

namespace nabla::data {

/// A uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from `rng`.
std::vector<int64_t> random_permutation(int64_t n, Rng& rng);

struct SplitIndices {
  std::vector<int64_t> train, val;  ///< each sorted ascending; together 0..n-1
};
/// Puts round(n * val_fraction) randomly chosen indices (a function of `seed` only) in `val`.
/// val_fraction must be in [0, 1).
SplitIndices split_indices(int64_t n, double val_fraction, uint64_t seed);

struct TrainValSplit {
  std::shared_ptr<Subset> train, val;
};
/// Splits `ds` into training and validation subsets (see split_indices).
TrainValSplit train_val_split(DatasetPtr ds, double val_fraction, uint64_t seed);

/// Per-channel mean and standard deviation (population, 1/N) of a data set's inputs.
/// torch.utils.data.random_split: Subsets of `ds` over one random permutation (keyed by `seed`).
/// `lengths` are counts summing to ds's size, or fractions summing to 1; fractions are rounded
/// down and the examples left over go one each to the first subsets, as PyTorch.
std::vector<DatasetPtr> random_split(DatasetPtr ds, const std::vector<double>& lengths, uint64_t seed);

struct ChannelStats {
  std::vector<double> mean, std;
};
/// Statistics over every example of `ds` (channels as in normalize(): dim 0 of [C, H, W], each
/// feature of [F], one for [H, W]). Compute them on the training split only, so nothing about the
/// validation data leaks into training. A constant channel gets std 1 (it is only centred).
ChannelStats channel_stats(const Dataset& ds);
/// normalize(stats.mean, stats.std) as a transform.
Transform normalize(const ChannelStats& stats);

}  // namespace nabla::data
