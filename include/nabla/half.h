// The two 16-bit floating element types, as storage: IEEE binary16 (`Half`, dtype f16) and
// bfloat16 (`BFloat16`, dtype bf16: float32's exponent with 7 mantissa bits). Arithmetic
// happens in float, as in PyTorch's kernels (its "opmath" type): a value converts to float
// implicitly, and a float converts back with round-to-nearest-even. The conversions use only
// integer operations, so the host and the GPU (the same header compiles under nvcc) round
// identically, whatever the floating-point environment (flush-to-zero, rounding mode).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#ifdef __CUDACC__
#define NABLA_HD __host__ __device__ __forceinline__
#else
#define NABLA_HD inline
#endif

namespace nabla {
namespace half_bits {

NABLA_HD uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
NABLA_HD float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/// float -> bfloat16, round to nearest even; NaN stays a (quiet) NaN with its sign.
NABLA_HD uint16_t bf16_from_float(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
NABLA_HD float bf16_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }

/// float -> binary16, round to nearest even: |f| >= 65520 becomes inf, values below 2^-14
/// become subnormals (or zero), NaN a quiet NaN.
NABLA_HD uint16_t f16_from_float(float f) {
  uint32_t x = float_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return uint16_t(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (x >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // 65520 and up round to inf
  if (x < 0x38800000u) {                                   // below 2^-14: subnormal or zero
    if (x < 0x33000000u) return sign;                      // below 2^-25 (half the smallest subnormal)
    const uint32_t mant = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - (x >> 23);  // value = mant 2^(e-150); units of 2^-24
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = (x - 0x38000000u) >> 13;  // rebias the exponent from 127 to 15
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;  // a carry rounds up into the exponent
  return uint16_t(sign | r);
}
NABLA_HD float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    if (m == 0) return bits_float(sign);
    e = 113;  // normalize the subnormal: value = m 2^-24
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    return bits_float(sign | (e << 23) | ((m & 0x3ffu) << 13));
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace half_bits

/// A 16-bit float: its bits, converted from float by From and to float by To.
template <uint16_t (*From)(float), float (*To)(uint16_t)>
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  NABLA_HD explicit Float16(float f) : bits(From(f)) {}
  NABLA_HD explicit Float16(double d) : Float16(float(d)) {}  // through float, as c10::Half
  template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
  NABLA_HD explicit Float16(I i) : Float16(float(i)) {}
  NABLA_HD operator float() const { return To(bits); }
  static NABLA_HD Float16 from_bits(uint16_t b) {
    Float16 h;
    h.bits = b;
    return h;
  }
};

/// IEEE 754 binary16 (PyTorch's torch.float16): 5 exponent bits, 10 mantissa bits; largest
/// finite value 65504, smallest normal 2^-14.
using Half = Float16<half_bits::f16_from_float, half_bits::f16_to_float>;
/// bfloat16 (PyTorch's torch.bfloat16): float32's 8 exponent bits and range, 7 mantissa bits.
using BFloat16 = Float16<half_bits::bf16_from_float, half_bits::bf16_to_float>;

/// Whether T is one of the 16-bit storage types (computed in float).
template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
/// The type a kernel computes T in: float for the 16-bit types, T itself otherwise.
template <typename T>
using opmath_t = std::conditional_t<is_half_v<T>, float, T>;

}  // namespace nabla
