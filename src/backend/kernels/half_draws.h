// Random draws in f16 and bf16, shared by the CPU and CUDA random kernels: a 16-bit tensor gets
// the f32 tensor's numbers for the same (seed, offset), each rounded once, so CPU and GPU, and
// f32 and 16-bit runs of one seed, agree. A uniform draw that rounds up to `hi` becomes `lo`,
// keeping [lo, hi) as the f32 draw does (PyTorch: `value == to ? from : value`).
#pragma once
#include <type_traits>

#include "../host_device.h"
#include "nabla/half.h"

namespace nabla::backend {

/// The dtype a kernel of T draws in: f32 for the 16-bit types, T itself otherwise.
template <typename T>
using DrawType = std::conditional_t<is_half_v<T>, float, T>;

/// Stores a uniform draw v in [lo, hi) of DrawType<T> as T.
template <typename T>
NB_HOST_DEVICE T uniform_draw(DrawType<T> v, double lo, double hi) {
  if constexpr (is_half_v<T>) {
    const T h(v);
    return float(h) < float(T(hi)) ? h : T(lo);
  } else {
    (void)lo;
    (void)hi;
    return v;
  }
}

}  // namespace nabla::backend
