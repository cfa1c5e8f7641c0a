// Installs the ops the autograd engine needs (see src/autograd/engine_ops.h). Linked into
// every program through the `nabla` target as an object file, so it always runs.
#include "../autograd/engine_ops.h"
#include "op_util.h"
#ifdef NABLA_HAS_CUDA
#include "../backend/cuda/memory.h"
#endif

namespace nabla::ops {
namespace {

const bool installed = [] {
  autograd::EngineOps e;
  e.add = [](const Tensor& a, const Tensor& b) { return nabla::add(a, b); };
  e.full = [](const Shape& s, DType d, Device dev, double v) { return nabla::full(s, v, {.dtype = d, .device = dev}); };
  e.all_finite = [](const Tensor& t) {
    Tensor c = contiguous_data(t);
    return backend::get(c.device()).all_finite(c.dtype(), c.raw_data(), c.numel());
  };
  e.contiguous_clone = [](const Tensor& t) { return copy_kernel(t, t.dtype()); };
  e.clone = [](const Tensor& t) { return t.clone(); };
  e.add_inplace = [](Tensor& acc, const Tensor& g) {
    NoGradGuard ng;
    acc.add_(g);
  };
  e.to_device = [](const Tensor& t, Device dev) { return t.to(dev); };
  e.to_dtype = [](const Tensor& t, DType dt) { return t.to(dt); };
  autograd::install_engine_ops(e);
#ifdef NABLA_HAS_CUDA
  backend::cuda::install();  // only when a GPU is visible; else cuda:N stays unavailable
#endif
  return true;
}();

}  // namespace
}  // namespace nabla::ops
