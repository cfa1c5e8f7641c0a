// Range checks of index tensors (gather, scatter_add, index_select, index_add, class targets).
// On the CPU an index is checked where it lies. On a device that queues kernels, reading the
// indices back would wait for everything queued before them: one stall of the whole pipeline
// per op (cross-entropy's targets, every training step). Such a device checks them with a kernel
// instead and reports a bad index at its next synchronizing call (synchronize, a copy to the
// host: item(), to(cpu), printing), as CUDA itself reports asynchronous faults, but as an
// ordinary nabla::Error that names the op, the position and the value. Meanwhile its index
// kernels skip indices out of range, so nothing is read or written out of bounds.
//
// DeferredIndexChecks is that device-side bookkeeping, free of any GPU library so that it is
// unit-tested on the CPU with a fake device (tests/core/fake_device_test.cpp); the CUDA backend
// keeps one per device (src/backend/cuda/index_check.cu).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace nabla::backend {

/// The valid index values: [0, limit), and `also` when set (cross_entropy's ignore_index).
struct IndexRange {
  int64_t limit = 0;
  std::optional<int64_t> also;
  bool contains(int64_t v) const { return (v >= 0 && v < limit) || (also && v == *also); }
};

/// The error text for `value` at flat position `position` of the index tensor; built by the op
/// that asked for the check, so a deferred report reads like an immediate one.
using IndexErrorMessage = std::function<std::string(int64_t position, int64_t value)>;

/// Position of the first of n host indices outside `range`, or -1 when all are inside.
int64_t first_bad_index(const int64_t* index, int64_t n, const IndexRange& range);

/// What a device-side check writes when it finds a bad index: the first bad position and its
/// value. A slot whose position is -1 found nothing.
struct IndexCheckSlot {
  int64_t position;
  int64_t value;
};

class DeferredIndexChecks {
 public:
  /// `slots`: `capacity` slots in memory that the host reads and the device's check kernels write
  /// (mapped pinned memory for CUDA).
  DeferredIndexChecks(IndexCheckSlot* slots, int capacity);

  /// Registers a check and queues its kernel: marks a free slot "nothing found" and calls
  /// launch(slot), which queues the kernel that writes that slot. Both happen under the lock, so
  /// a mark() taken on another thread comes before both or after both. Returns false, queuing
  /// nothing, when every slot holds a pending check: the caller then synchronizes the device
  /// (which settles them) and tries again.
  template <typename Launch>
  bool enqueue(IndexErrorMessage message, Launch&& launch) {
    std::lock_guard<std::mutex> lock(mu_);
    if (int(pending_.size()) == capacity_) return false;
    const int slot = int((first_slot_ + pending_.size()) % size_t(capacity_));
    slots_[slot] = {-1, 0};  // before the launch: the kernel writes only when it finds a bad index
    launch(slot);
    pending_.push_back({next_seq_++, slot, std::move(message)});
    return true;
  }
  /// The checks queued so far. Take it before synchronizing the device; settle(mark) afterwards.
  uint64_t mark() const;
  /// With every check queued before `mark` complete (the device synchronized after mark() was
  /// taken): forgets those and, when any found a bad index, throws the error of the first one
  /// queued. Checks queued after `mark` stay pending: their kernels may not have run yet.
  void settle(uint64_t mark);
  int pending() const;
  int capacity() const { return capacity_; }

 private:
  struct Pending {
    uint64_t seq;
    int slot;
    IndexErrorMessage message;
  };
  mutable std::mutex mu_;
  IndexCheckSlot* slots_;
  int capacity_;
  size_t first_slot_ = 0;  // the slot of pending_.front(); slots are handed out as a ring
  uint64_t next_seq_ = 0;
  std::deque<Pending> pending_;
};

}  // namespace nabla::backend
