// Per-sample random streams for shuffling, splitting and augmentation. A stream is a
// Philox4x32-10 counter sequence under a key: the numbers drawn for a sample depend only on
// (seed, epoch, sample index), never on which worker thread handles it or in what order.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

#include "nabla/random.h"

namespace nabla::data {

/// Domains keep the streams of different uses of one seed apart.
/// `sampled_augment`: the augmentation of the examples a Sampler picks, keyed by position.
enum class RngDomain : uint64_t { augment = 1, shuffle = 2, split = 3, user = 4, mix = 5, sampled_augment = 6 };

/// SplitMix64 finalizer: spreads a seed over all 64 bits.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A small counter-based generator: block i of the stream is philox(key, i, stream).
class Rng {
 public:
  Rng(uint64_t key, uint64_t stream) : key_(key), stream_(stream) {}
  /// The stream for sample `index` in `epoch` under `seed` (what each transform receives).
  static Rng for_sample(uint64_t seed, int64_t epoch, int64_t index, RngDomain domain = RngDomain::augment) {
    return Rng(mix64(seed ^ mix64(uint64_t(domain))), (uint64_t(epoch) << 40) ^ uint64_t(index));
  }
  /// A stream for a whole-data-set draw (a shuffle of one epoch, a split).
  static Rng for_domain(uint64_t seed, RngDomain domain, uint64_t stream = 0) {
    return Rng(mix64(seed ^ mix64(uint64_t(domain))), stream);
  }

  uint32_t next_u32() {
    if (pos_ == 4) {
      block_ = detail::philox(key_, counter_++, stream_);
      pos_ = 0;
    }
    return block_[pos_++];
  }
  uint64_t next_u64() {
    uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  /// Uniform in [0, 1) (24 random bits).
  float uniform() { return detail::u32_to_float(next_u32()); }
  /// Uniform in [lo, hi) (53 random bits); exactly lo when lo == hi.
  double uniform(double lo, double hi) {
    double u = double(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return lo + (hi - lo) * u;
  }
  /// Integer uniform in [lo, hi] (inclusive; Lemire's multiply-shift, bias below 2^-32).
  int64_t randint(int64_t lo, int64_t hi) {
    uint64_t range = uint64_t(hi - lo) + 1;
    if (range == 0) return int64_t(next_u64());
    unsigned __int128 m = (unsigned __int128)next_u64() * range;
    return lo + int64_t(uint64_t(m >> 64));
  }
  /// True with probability p.
  bool bernoulli(double p) { return p >= 1.0 || (p > 0.0 && uniform(0.0, 1.0) < p); }
  /// Standard normal (Box-Muller).
  double normal() {
    double u1 = uniform(0.0, 1.0), u2 = uniform(0.0, 1.0);
    return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t key_, stream_;
  uint64_t counter_ = 0;
  std::array<uint32_t, 4> block_{};
  int pos_ = 4;
};

}  // namespace nabla::data
