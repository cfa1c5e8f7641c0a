// Sums over 8 independent partial sums. A single running sum is bound by the add latency (about
// one element per 2-4 cycles, and f64 accumulation of f32 data cannot be reordered by the
// compiler); eight lanes keep the adds independent and let them vectorize. The order depends on
// n alone, so a result never depends on the thread count.
#pragma once
#include <cstdint>
#include <type_traits>

namespace nabla::backend::cpu {

/// The lanes' total, in the fixed pairwise order every lane sum here ends with.
template <typename A>
inline A lanes_total(const A* lane, A tail) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail;
}

/// Sum of f(0) .. f(n - 1) in precision A, f inlined. i64 sums add in uint64, so an overflow
/// wraps (as PyTorch's) instead of being undefined.
template <typename A, typename F>
inline A lane_sum(int64_t n, F&& f) {
  using L = std::conditional_t<std::is_same_v<A, int64_t>, uint64_t, A>;
  L lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += L(f(i + k));
  L tail = L(0);
  for (; i < n; ++i) tail += L(f(i));
  return A(lanes_total(lane, tail));
}

/// Sum of n contiguous values in precision A.
template <typename A, typename T>
inline A sum_contiguous(const T* p, int64_t n) {
  return lane_sum<A>(n, [p](int64_t i) { return A(p[i]); });
}

}  // namespace nabla::backend::cpu
