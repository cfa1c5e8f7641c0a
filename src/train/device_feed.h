// Feeds the training loop batches on its device. On a GPU the next batch's host-to-device copy
// is issued before the current step runs, so the copy (from pinned memory, on the copy stream)
// overlaps the step's kernels instead of stalling them (the lecture's parameter-management point:
// parameters stay on the device, only minibatches cross the bus). On the CPU it is a pass-through.
#pragma once
#include <optional>

#include "nabla/data/dataloader.h"

namespace nabla::train::detail {

class DeviceFeed {
 public:
  /// `wait_seconds` accumulates the time spent waiting for the loader.
  DeviceFeed(data::DataLoader& loader, Device device, double* wait_seconds);
  /// The next batch, on the device; nullopt at the end of the epoch.
  std::optional<data::Batch> next();

 private:
  std::optional<data::Batch> fetch();

  data::DataLoader& loader_;
  Device device_;
  double* wait_;
  std::optional<data::Batch> ready_;
  bool primed_ = false;
};

}  // namespace nabla::train::detail
