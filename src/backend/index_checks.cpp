#include "index_checks.h"

#include <utility>
#include <vector>

#include "device_backend.h"

#include "nabla/error.h"

namespace nabla::backend {

void Backend::check_indices(const int64_t* index, int64_t n, const IndexRange& range,
                            const IndexErrorMessage& message, int device) {
  if (n <= 0) return;
  const int64_t* host = index;
  std::vector<int64_t> copy;
  if (type() != DeviceType::cpu) {
    copy.resize(size_t(n));
    copy_to_host(copy.data(), index, size_t(n) * sizeof(int64_t), device);
    host = copy.data();
  }
  if (int64_t at = first_bad_index(host, n, range); at >= 0) fail(message(at, host[at]));
}

int64_t first_bad_index(const int64_t* index, int64_t n, const IndexRange& range) {
  for (int64_t i = 0; i < n; ++i)
    if (!range.contains(index[i])) return i;
  return -1;
}

DeferredIndexChecks::DeferredIndexChecks(IndexCheckSlot* slots, int capacity) : slots_(slots), capacity_(capacity) {
  NB_CHECK(slots != nullptr && capacity > 0, "[index check] needs at least one slot, got ", capacity);
  pending_.reserve(size_t(capacity));
}

int DeferredIndexChecks::begin(IndexErrorMessage message) {
  std::lock_guard<std::mutex> lock(mu_);
  const int slot = int(pending_.size());
  if (slot == capacity_) return -1;
  slots_[slot] = {-1, 0};  // before the launch: the kernel writes only when it finds a bad index
  pending_.push_back(std::move(message));
  return slot;
}

void DeferredIndexChecks::settle() {
  std::vector<IndexErrorMessage> done;
  std::optional<IndexCheckSlot> bad;
  size_t bad_at = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < pending_.size() && !bad; ++i)
      if (slots_[i].position >= 0) bad = slots_[i], bad_at = i;
    done.swap(pending_);
    pending_.reserve(size_t(capacity_));
  }
  // Thrown outside the lock, and after forgetting every check: the device stays usable.
  if (bad)
    fail(done[bad_at](bad->position, bad->value),
         " (checked on the device; reported at the next synchronization after the op was queued)");
}

int DeferredIndexChecks::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(pending_.size());
}

}  // namespace nabla::backend
