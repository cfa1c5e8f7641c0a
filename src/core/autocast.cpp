// Autocast's per-thread state (nabla/autocast.h): whether it is on per device type, its
// dtype, the suspension depth, and the cache of parameter casts. The casting itself is an op
// concern (src/ops/autocast.h); core only keeps the state, so every layer can consult it.
#include "nabla/autocast.h"

#include <unordered_map>
#include <vector>

namespace nabla {
namespace {

struct DeviceState {
  bool enabled = false;
  bool cache = true;
  DType dtype;
};

struct CacheEntry {
  std::weak_ptr<TensorImpl> source;  // the parameter (a dead one drops the entry's meaning)
  uint64_t version;                   // its version when cast: an in-place update makes it stale
  DType dtype;
  Tensor cast;
};

using Cache = std::unordered_map<const TensorImpl*, CacheEntry>;

struct State {
  DeviceState cpu{false, true, DType::bf16};
  DeviceState cuda{false, true, DType::f16};
  int suspended = 0;
  int depth = 0;  // enabled guards alive on this thread
  Cache cache;
  std::vector<Cache> replayed;  // the caches set aside by the Replay scopes alive, innermost last
  DeviceState& of(DeviceType t) { return t == DeviceType::cpu ? cpu : cuda; }
};

State& state() {
  thread_local State s;
  return s;
}

}  // namespace

AutocastGuard::AutocastGuard(const AutocastOptions& opts) : device_(opts.device_type) {
  DeviceState& d = state().of(device_);
  const DType dt = opts.dtype.value_or(device_ == DeviceType::cpu ? DType::bf16 : DType::f16);
  NB_CHECK(is_half(dt), "[autocast] dtype must be f16 or bf16, got ", dt);
  prev_enabled_ = d.enabled;
  prev_cache_ = d.cache;
  prev_dtype_ = d.dtype;
  d.enabled = opts.enabled;
  d.cache = opts.cache_enabled;
  d.dtype = dt;
  ++state().depth;
}

AutocastGuard::~AutocastGuard() {
  DeviceState& d = state().of(device_);
  d.enabled = prev_enabled_;
  d.cache = prev_cache_;
  d.dtype = prev_dtype_;
  if (--state().depth == 0) state().cache.clear();
}

bool is_autocast_enabled(DeviceType device_type) { return state().of(device_type).enabled; }
DType autocast_dtype(DeviceType device_type) { return state().of(device_type).dtype; }
void clear_autocast_cache() { state().cache.clear(); }

namespace autocast_detail {

bool applies(DeviceType device_type) { return state().suspended == 0 && state().of(device_type).enabled; }
bool cache_enabled(DeviceType device_type) { return state().of(device_type).cache; }

Suspend::Suspend() { ++state().suspended; }
Suspend::~Suspend() { --state().suspended; }

Snapshot snapshot() {
  return {applies(DeviceType::cpu), applies(DeviceType::cuda), state().cpu.dtype, state().cuda.dtype};
}

Replay::Replay(const Snapshot& s) : prev_{state().cpu.enabled, state().cuda.enabled, state().cpu.dtype,
                                          state().cuda.dtype}, prev_suspended_(state().suspended) {
  state().cpu.enabled = s.cpu_enabled;
  state().cuda.enabled = s.cuda_enabled;
  state().cpu.dtype = s.cpu_dtype;
  state().cuda.dtype = s.cuda_dtype;
  state().suspended = 0;
  // The recomputation casts into a cache of its own, dropped when it ends: it runs inside a
  // backward pass, often outside every region (its casts would stay in the thread's cache), and
  // its own backward frees the graphs of the casts it uses (reusing the forward's would free
  // them under the backward that is still running).
  state().replayed.push_back(std::move(state().cache));
  state().cache.clear();
}

Replay::~Replay() {
  state().cache = std::move(state().replayed.back());
  state().replayed.pop_back();
  state().cpu.enabled = prev_.cpu_enabled;
  state().cuda.enabled = prev_.cuda_enabled;
  state().cpu.dtype = prev_.cpu_dtype;
  state().cuda.dtype = prev_.cuda_dtype;
  state().suspended = prev_suspended_;
}

Tensor cached_cast(const Tensor& t, DType dtype) {
  auto& cache = state().cache;
  auto it = cache.find(t.impl_ptr().get());
  if (it == cache.end()) return Tensor();
  const CacheEntry& e = it->second;
  if (e.source.lock() != t.impl_ptr() || e.version != t.version() || e.dtype != dtype) {
    cache.erase(it);
    return Tensor();
  }
  return e.cast;
}

void store_cast(const Tensor& t, DType dtype, const Tensor& cast) {
  state().cache[t.impl_ptr().get()] = CacheEntry{t.impl_ptr(), t.version(), dtype, cast};
}

}  // namespace autocast_detail
}  // namespace nabla
