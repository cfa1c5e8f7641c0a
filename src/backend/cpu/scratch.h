// Kernel-local scratch buffers from nabla's caching CPU allocator, so a steady training step asks
// the OS for nothing, and released on every path out of the kernel (exceptions included).
#pragma once
#include <omp.h>

#include <cstddef>

#include "nabla/allocator.h"

namespace nabla::backend::cpu {

template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t n) : n_(n), p_(static_cast<T*>(nabla::detail::cpu_alloc(n * sizeof(T)))) {}
  ~Scratch() { nabla::detail::cpu_free(p_, n_ * sizeof(T)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() { return p_; }

 private:
  size_t n_;
  T* p_;
};

/// One block of n values per thread of an OpenMP region, all taken on the calling thread before the
/// region. Allocating inside the region instead makes the number of blocks alive at once depend
/// on how the threads' lifetimes happen to overlap, so a warm training step could still ask the
/// OS for memory when the machine is busy (OptimMemory.CnnTrainingStepAllocatesNothingAfterWarmUp
/// under load). Construct before the region, call get() inside it.
template <typename T>
class PerThreadScratch {
 public:
  explicit PerThreadScratch(size_t n)
      : nested_(omp_in_parallel()), n_(n), all_(n * size_t(nested_ ? 1 : omp_get_max_threads())) {}
  /// The calling thread's block. Inside someone else's parallel region the kernels run on one
  /// thread (parallel_for runs inline), and that thread gets the only block.
  T* get() { return all_.get() + n_ * size_t(nested_ ? 0 : omp_get_thread_num()); }

 private:
  bool nested_;
  size_t n_;
  Scratch<T> all_;
};

}  // namespace nabla::backend::cpu
