// 16-bit buffers widened to f32 and narrowed back, for the kernels that run their 16-bit dtypes
// through the f32 code (GEMM, convolution): the f32 kernel accumulates in float and the one
// narrowing at the end is the result's only rounding, as PyTorch's opmath rule asks. The
// conversions are half.h's integer round-to-nearest-even, so every backend rounds alike.
#pragma once
#include <cstdint>

#include "nabla/dtype.h"
#include "nabla/error.h"
#include "nabla/half.h"
#include "parallel.h"
#include "scratch.h"

namespace nabla::backend::cpu {

/// dst[i] = float(src[i]) for n values of the 16-bit dtype dt.
inline void widen_to_f32(DType dt, const void* src, float* dst, int64_t n) {
  NB_CHECK(is_half(dt), "[widen_to_f32] expected f16 or bf16, got ", dt);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (dt == DType::bf16) {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = b; i < e; ++i) dst[i] = half_bits::bf16_to_float(s[i]);
    } else {
      const Half* s = static_cast<const Half*>(src);
      for (int64_t i = b; i < e; ++i) dst[i] = float(s[i]);
    }
  });
}

/// dst[i] = dt(src[i]), rounded to nearest even, for n values.
inline void narrow_from_f32(DType dt, const float* src, void* dst, int64_t n) {
  NB_CHECK(is_half(dt), "[narrow_from_f32] expected f16 or bf16, got ", dt);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (dt == DType::bf16) {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = b; i < e; ++i) d[i] = half_bits::bf16_from_float(src[i]);
    } else {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = b; i < e; ++i) d[i] = half_bits::f16_from_float(src[i]);
    }
  });
}

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
