// Random draws in f16 and bf16, shared by the CPU and CUDA random kernels: a 16-bit tensor gets
// the f32 tensor's numbers for the same (seed, offset), each rounded once, so CPU and GPU, and
// f32 and 16-bit runs of one seed, agree. A uniform draw that rounds up to `hi` becomes the
// largest 16-bit value below `hi` (or `lo`, if that is below `lo`), keeping [lo, hi): 2^-9 of
// bf16's draws in [0, 1) round up to 1 (2^-12 of f16's), and sending them to `lo`, as an f32
// draw that reaches `hi` is, would move the mean to 0.498.
#pragma once
#include "../host_device.h"
#include "nabla/half.h"

namespace nabla::backend {

/// The largest T below `hi`, or `lo` when that is below `lo` (T a 16-bit type).
template <typename T>
NB_HOST_DEVICE T largest_below(double lo, double hi) {
  const T h(hi), l(lo);
  const float f = float(h);
  // One step down in the bit pattern, which orders the magnitudes within each sign.
  const T below = T::from_bits(uint16_t(f > 0 ? h.bits - 1 : f == 0 ? 0x8001 : h.bits + 1));
  return float(below) >= float(l) ? below : l;
}

/// Stores a uniform draw v in [lo, hi) of opmath_t<T> (the f32 draw for a 16-bit T) as T.
template <typename T>
NB_HOST_DEVICE T uniform_draw(opmath_t<T> v, double lo, double hi) {
  if constexpr (is_half_v<T>) {
    const T h(v);
    return float(h) < float(T(hi)) ? h : largest_below<T>(lo, hi);
  } else {
    (void)lo;
    (void)hi;
    return v;
  }
}

}  // namespace nabla::backend
