// One seed for all randomness (init, dropout, shuffling, augmentation). Numbers come from a
// counter-based Philox4x32-10 stream: element i of a draw depends only on (seed, offset + i),
// so results do not change with the thread count.
#pragma once
#include <array>
#include <cstdint>

namespace nabla {

/// Seeds the global generator and restarts its stream.
void manual_seed(uint64_t seed);

/// The global generator's state, to save and restore (checkpoints, resume).
struct GeneratorState {
  uint64_t seed = 0;
  uint64_t offset = 0;  ///< Philox blocks consumed so far
};
GeneratorState get_rng_state();
void set_rng_state(const GeneratorState& s);

namespace detail {
/// Reserves `nblocks` Philox blocks (4 x 32 bits each) and returns (seed, first block).
GeneratorState reserve_blocks(uint64_t nblocks);

/// Philox4x32-10 block for a 128-bit counter (ctr_lo, ctr_hi) under a 64-bit key.
inline std::array<uint32_t, 4> philox(uint64_t key, uint64_t ctr_lo, uint64_t ctr_hi = 0) {
  uint32_t c0 = uint32_t(ctr_lo), c1 = uint32_t(ctr_lo >> 32), c2 = uint32_t(ctr_hi), c3 = uint32_t(ctr_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}
/// Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
inline float u32_to_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
inline double u64_to_double(uint32_t a, uint32_t b) {
  return double(((uint64_t(a) << 32) | b) >> 11) * (1.0 / 9007199254740992.0);
}
}  // namespace detail

}  // namespace nabla
