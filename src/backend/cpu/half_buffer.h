// 16-bit buffers widened to f32 and narrowed back, for the kernels that run their 16-bit dtypes
// through the f32 code (GEMM, convolution): the f32 kernel accumulates in float and the one
// narrowing at the end is the result's only rounding, as PyTorch's opmath rule asks. The
// conversions round to nearest even as half.h's do (f16 through the CPU's F16C instructions
// where it has them: half_buffer.cpp), so every path and backend rounds alike.
#pragma once
#include <cstdint>

#include "nabla/dtype.h"
#include "scratch.h"

namespace nabla::backend::cpu {

/// dst[i] = float(src[i]) for n values of the 16-bit dtype dt (threaded over n).
void widen_to_f32(DType dt, const void* src, float* dst, int64_t n);
/// dst[i] = dt(src[i]), rounded to nearest even, for n values (threaded over n).
void narrow_from_f32(DType dt, const float* src, void* dst, int64_t n);

/// widen_to_f32 / narrow_from_f32 on the calling thread only (for kernels already split into
/// per-thread runs: the casts of the element-wise copy).
void widen_to_f32_serial(DType dt, const void* src, float* dst, int64_t n);
void narrow_from_f32_serial(DType dt, const float* src, void* dst, int64_t n);

/// An f32 copy of n 16-bit values from the caching allocator; a null src (an absent operand,
/// such as a missing bias) gives a null copy.
class WidenedF32 {
 public:
  WidenedF32(DType dt, const void* src, int64_t n) : buf_(src ? size_t(n) : 0), present_(src != nullptr) {
    if (src) widen_to_f32(dt, src, buf_.get(), n);
  }
  float* get() { return present_ ? buf_.get() : nullptr; }

 private:
  Scratch<float> buf_;
  bool present_;
};

}  // namespace nabla::backend::cpu
