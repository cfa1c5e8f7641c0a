// DataLoader: minibatches of a Dataset, shuffled per epoch with a seed, optionally augmented,
// prepared ahead of time by worker threads.
//
// Batch k of epoch e holds the same samples, augmented the same way, whatever the number of
// workers: the order is a permutation drawn from (seed, epoch), and each sample's transform
// draws from the stream (seed, epoch, sample index). Workers fill a bounded window of at most
// `prefetch` batches ahead of the consumer, delivered in order. An exception thrown while
// building a batch (a bad file, a failing transform) is rethrown by next() with the sample
// index added to its message; it never hangs the loop.
#pragma once
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>

#include "nabla/data/dataset.h"
#include "nabla/data/sampler.h"
#include "nabla/data/transforms.h"

namespace nabla::data {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  /// Drops the last batch when it is smaller than batch_size.
  bool drop_last = false;
  /// Seed for shuffling and augmentation; absent = drawn from the global generator
  /// (nabla::manual_seed) when the loader is made.
  std::optional<uint64_t> seed = std::nullopt;
  /// Background threads; 0 = batches are built on the calling thread in next().
  int num_workers = 0;
  /// Batches prepared ahead of the consumer (at least 1); 0 = 2 * num_workers.
  int prefetch = 0;
  /// Applied to every example's input (augmentation, normalization); may be empty.
  Transform transform = {};
  /// Which examples an epoch visits (WeightedRandomSampler, SubsetRandomSampler); null: every
  /// example once, shuffled or in order as `shuffle` says. A sampler replaces the shuffle, and its
  /// num_samples sets the epoch's length. With a sampler, each position of the epoch gets its own
  /// augmentation stream (an example drawn twice is augmented twice, differently).
  SamplerPtr sampler = nullptr;
  /// Delivers batches in pinned (page-locked) host memory, copied there by the workers, so a
  /// GPU upload from them can overlap computation (see nabla/device.h). No effect without a GPU.
  bool pin_memory = false;
};

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, DataLoaderOptions opts = {});
  ~DataLoader();  ///< stops and joins the workers (an unfinished epoch is abandoned)
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Batches per epoch.
  int64_t num_batches() const;
  int64_t dataset_size() const;
  uint64_t seed() const;
  const DataLoaderOptions& options() const;

  /// Starts epoch `epoch` (any unfinished epoch is abandoned); workers begin at once.
  void start_epoch(int64_t epoch);
  /// The next batch of the current epoch, or nullopt once the epoch is over (or before any
  /// start_epoch). Rethrows an error from building the batch; after that, every call rethrows
  /// it until the next start_epoch.
  std::optional<Batch> next();
  /// The epoch started last (-1 before the first).
  int64_t epoch() const;

  /// Range-for over one epoch: `for (Batch& b : loader)` starts the next epoch (0, 1, ...), or
  /// runs the one just started by start_epoch if none of its batches was taken yet.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;
    iterator() = default;
    Batch& operator*() { return *cur_; }
    Batch* operator->() { return &*cur_; }
    iterator& operator++();
    bool operator==(const iterator& o) const { return cur_.has_value() == o.cur_.has_value(); }

   private:
    friend class DataLoader;
    explicit iterator(DataLoader* l);
    DataLoader* loader_ = nullptr;
    std::optional<Batch> cur_;
  };
  iterator begin();
  iterator end() { return iterator(); }

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace nabla::data
