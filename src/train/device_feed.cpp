#include "device_feed.h"

#include <chrono>

#include "nabla/device.h"

namespace nabla::train::detail {

DeviceFeed::DeviceFeed(data::DataLoader& loader, Device device, double* wait_seconds)
    : loader_(loader), device_(device), wait_(wait_seconds) {}

std::optional<data::Batch> DeviceFeed::fetch() {
  auto t0 = std::chrono::steady_clock::now();
  std::optional<data::Batch> b = loader_.next();
  if (wait_) *wait_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (b && !device_.is_cpu()) {  // non-blocking from pinned batches: the copy stream does it
    b->inputs = to_device_async(b->inputs, device_);
    b->targets = to_device_async(b->targets, device_);
  }
  return b;
}

std::optional<data::Batch> DeviceFeed::next() {
  if (device_.is_cpu()) return fetch();  // the loader's workers already prefetch on the host
  if (!primed_) {
    ready_ = fetch();
    primed_ = true;
  }
  std::optional<data::Batch> out = std::move(ready_);
  ready_ = out ? fetch() : std::nullopt;  // issue the next copy before the caller's step
  return out;
}

}  // namespace nabla::train::detail
