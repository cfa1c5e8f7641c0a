// Integer arithmetic that wraps modulo 2^64, as PyTorch's integer tensors do (INT64_MAX + 1 is
// INT64_MIN). Signed overflow is undefined behaviour in C++, so i64 goes through uint64 (whose
// conversion back is modular since C++20); every other type is left to its own operators (u8
// promotes to int, and the kernel's cast back to u8 wraps). Shared by the CPU and CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../host_device.h"
#include "nabla/half.h"

namespace nabla::backend {

template <typename T>
NB_HOST_DEVICE T wrap_add(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return T(uint64_t(x) + uint64_t(y));
  } else {
    return T(x + y);
  }
}
template <typename T>
NB_HOST_DEVICE T wrap_sub(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return T(uint64_t(x) - uint64_t(y));
  } else {
    return T(x - y);
  }
}
template <typename T>
NB_HOST_DEVICE T wrap_mul(T x, T y) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return T(uint64_t(x) * uint64_t(y));
  } else {
    return T(x * y);
  }
}
template <typename T>
NB_HOST_DEVICE T wrap_neg(T x) {
  return wrap_sub(T(0), x);
}
/// x^y: by squaring for integers, wrapping as their products do (a negative exponent gives 0;
/// ops/ refuses one before the kernel, as PyTorch does); std::pow otherwise.
template <typename T>
NB_HOST_DEVICE T pow_of(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) {
      if (y < T(0)) return T(0);
    }
    T r = T(1);
    for (; y != T(0); y = T(y >> 1)) {
      if (y & T(1)) r = wrap_mul(r, x);
      x = wrap_mul(x, x);
    }
    return r;
  } else {
    return std::pow(x, y);
  }
}

/// |x|; |INT64_MIN| wraps to INT64_MIN, as in PyTorch.
template <typename T>
NB_HOST_DEVICE T abs_of(T x) {
  if constexpr (std::is_unsigned_v<T>) {
    return x;
  } else if constexpr (std::is_integral_v<T>) {
    return x < T(0) ? wrap_neg(x) : x;
  } else {
    return std::abs(x);
  }
}

/// A conversion between dtypes, defined for every input: floating -> integer as x86-64's
/// cvtts*2si does it (what the CPU build computed when C++ left it undefined): truncation, and
/// values out of range or NaN become the "integer indefinite" 0x80..0; an 8-bit result is the
/// low byte of a 32-bit conversion. The GPU's own conversion saturates instead (-1.0 to u8
/// would give 0 there and 255 on the CPU), so both backends use this (named for the semantics,
/// not the device).
template <typename D, typename S>
NB_HOST_DEVICE D x86_cast(S v) {
  if constexpr (is_half_v<S>) {  // a 16-bit value converts as its float does
    return x86_cast<D>(float(v));
  } else if constexpr (is_half_v<D>) {  // through float (double rounding, as c10::Half)
    return D(float(v));
  } else if constexpr (std::is_floating_point_v<S> && std::is_same_v<D, uint8_t>) {
    const double d = double(v);
    const int32_t i = (d > -2147483649.0 && d < 2147483648.0) ? int32_t(d) : std::numeric_limits<int32_t>::min();
    return uint8_t(i);
  } else if constexpr (std::is_floating_point_v<S> && std::is_same_v<D, int64_t>) {
    const double d = double(v);
    return (d >= -9223372036854775808.0 && d < 9223372036854775808.0) ? int64_t(d)
                                                                        : std::numeric_limits<int64_t>::min();
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace nabla::backend
