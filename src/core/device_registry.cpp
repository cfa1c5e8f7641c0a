// Which backend serves each device type. CPU is built in; CUDA (or a test's fake device)
// registers itself here, so core and ops never name a GPU library.
#include <array>
#include <atomic>

#include "../backend/device_backend.h"
#include "nabla/error.h"

namespace nabla::backend {
namespace {
std::array<std::atomic<Backend*>, 2> g_backends{};
}  // namespace

Backend* register_device_backend(Backend* b, DeviceType type) { return g_backends[size_t(type)].exchange(b); }

Backend* find_device_backend(DeviceType type) { return g_backends[size_t(type)].load(std::memory_order_acquire); }

void no_device_backend(Device d) {
  Backend* b = find_device_backend(d.type);
  if (!b) {
#ifdef NABLA_HAS_CUDA
    fail("[device] ", d, " is not available: no CUDA device was found at run time");
#else
    fail("[device] ", d, " is not available: this build has no CUDA backend (configure with the CUDA toolkit "
         "installed, or -DNABLA_CUDA=ON)");
#endif
  }
  fail("[device] ", d, " is not available: there are ", b->device_count(), " device(s) of that type");
}

void Backend::missing(const char* kernel) const {
  fail("[", kernel, "] has no ", type() == DeviceType::cuda ? "CUDA" : "CPU", " kernel");
}

}  // namespace nabla::backend
