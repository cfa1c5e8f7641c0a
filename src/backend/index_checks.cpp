#include "index_checks.h"

#include <optional>
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
}

uint64_t DeferredIndexChecks::mark() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_;
}

void DeferredIndexChecks::settle(uint64_t mark) {
  std::optional<IndexCheckSlot> bad;
  IndexErrorMessage message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!pending_.empty() && pending_.front().seq < mark) {
      Pending& p = pending_.front();
      if (!bad && slots_[p.slot].position >= 0) bad = slots_[p.slot], message = std::move(p.message);
      pending_.pop_front();
      first_slot_ = (first_slot_ + 1) % size_t(capacity_);
    }
  }
  // Thrown outside the lock, and after forgetting the settled checks: the device stays usable.
  if (bad)
    fail(message(bad->position, bad->value),
         " (checked on the device; reported at the next synchronization after the op was queued)");
}

int DeferredIndexChecks::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(pending_.size());
}

}  // namespace nabla::backend
