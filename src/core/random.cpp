#include "nabla/random.h"

#include <mutex>

namespace nabla {
namespace {
std::mutex g_mu;
GeneratorState g_state{0x5eed, 0};
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_state = {seed, 0};
}

GeneratorState get_rng_state() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_state;
}

void set_rng_state(const GeneratorState& s) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_state = s;
}

namespace detail {
GeneratorState reserve_blocks(uint64_t nblocks) {
  std::lock_guard<std::mutex> lock(g_mu);
  GeneratorState s = g_state;
  g_state.offset += nblocks;
  return s;
}
}  // namespace detail
}  // namespace nabla
