// The public device API (include/nabla/device.h), reached through the registered backends: core
// never calls a GPU library itself.
#include "nabla/device.h"

#include <atomic>
#include <cstring>

#include "../backend/device_backend.h"

namespace nabla {
namespace {

backend::Backend* gpu_backend() { return backend::find_device_backend(DeviceType::cuda); }

std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_cudnn_benchmark{true};
std::atomic<bool> g_deterministic{true};

void push_conv_options() {
  if (backend::Backend* b = gpu_backend()) b->set_conv_algorithm_search(g_cudnn_benchmark.load(), g_deterministic.load());
}

// The TensorImpl of a fresh contiguous tensor over `storage`.
Tensor wrap(std::shared_ptr<Storage> storage, const Tensor& like) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = like.shape();
  impl->strides = contiguous_strides(like.shape());
  impl->dtype = like.dtype();
  return Tensor(std::move(impl));
}

}  // namespace

namespace cuda {
bool is_available() { return device_count() > 0; }
int device_count() {
  backend::Backend* b = gpu_backend();
  return b ? b->device_count() : 0;
}
void profiler_start() {
  if (is_available()) gpu_backend()->set_profiler_collecting(true);
}
void profiler_stop() {
  if (is_available()) gpu_backend()->set_profiler_collecting(false);
}
}  // namespace cuda

MemoryStats memory_stats(Device device) {
  if (device.is_cpu()) return memory_stats();
  return backend::get(device).memory_stats(device.index);
}

void empty_cache(Device device) {
  if (device.is_cpu()) return empty_cache();
  backend::get(device).empty_cache(device.index);
}

void reset_peak_memory_stats(Device device) {
  if (device.is_cpu()) return reset_peak_memory_stats();
  backend::get(device).reset_peak_memory_stats(device.index);
}

void synchronize(Device device) {
  if (device.is_cpu()) return;
  backend::get(device).synchronize(device.index);
}

MemoryStats pinned_memory_stats() {
  backend::Backend* b = gpu_backend();
  return b ? b->pinned_memory_stats() : MemoryStats{};
}

bool is_pinned(const Tensor& t) {
  if (!t.defined() || !t.device().is_cpu()) return false;
  backend::Backend* b = gpu_backend();
  return b && t.storage()->data && b->is_pinned(t.storage()->data);
}

Tensor pin_memory(const Tensor& t) {
  NB_CHECK(t.defined(), "[pin_memory] got an undefined tensor");
  NB_CHECK(t.device().is_cpu(), "[pin_memory] expected a CPU tensor, got one on ", t.device(), " (shape ",
           t.shape(), ")");
  backend::Backend* b = gpu_backend();
  if (!b || is_pinned(t)) return t;  // nothing to pin for, or already pinned
  size_t nbytes = size_t(t.numel()) * dtype_size(t.dtype());
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->data = b->allocate_pinned(nbytes);
  s->deleter = [b, nbytes](void* p) { b->free_pinned(p, nbytes); };
  Tensor out = wrap(std::move(s), t);
  if (nbytes == 0) return out;
  if (t.is_contiguous()) {
    std::memcpy(out.raw_data(), t.raw_data(), nbytes);
  } else {  // gather the strided view with the CPU copy kernel
    backend::cpu_backend().copy(t.dtype(), t.dtype(), {int(t.dim()), t.shape().data()},
                                {out.raw_data(), out.strides().data()}, {t.raw_data(), t.strides().data()});
  }
  return out;
}

Tensor to_device_async(const Tensor& t, Device device) {
  NB_CHECK(t.defined(), "[to_device_async] got an undefined tensor");
  if (t.device() == device) return t;
  // Only an upload from pinned memory can skip waiting; gradients need the recorded t.to().
  if (!t.device().is_cpu() || device.is_cpu() || t.requires_grad() || !t.is_contiguous() || !is_pinned(t))
    return t.to(device);
  backend::Backend& b = backend::get(device);
  size_t nbytes = size_t(t.numel()) * dtype_size(t.dtype());
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  s->data = b.upload_async(t.raw_data(), nbytes, device.index);  // freed by ~Storage (deallocate)
  return wrap(std::move(s), t);
}

void set_allow_tf32(bool on) {
  g_allow_tf32.store(on);
  if (backend::Backend* b = gpu_backend()) b->set_allow_tf32(on);
}

bool allow_tf32() { return g_allow_tf32.load(); }

void set_cudnn_benchmark(bool on) {
  g_cudnn_benchmark.store(on);
  push_conv_options();
}

bool cudnn_benchmark() { return g_cudnn_benchmark.load(); }

void use_deterministic_algorithms(bool on) {
  g_deterministic.store(on);
  push_conv_options();
}

bool are_deterministic_algorithms_enabled() { return g_deterministic.load(); }

}  // namespace nabla
