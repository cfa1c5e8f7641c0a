// Element types and devices.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nabla/error.h"
#include "nabla/half.h"

namespace nabla {

/// Element type. Ordered by promotion rank: boolean < u8 < i64 < f16 < bf16 < f32 < f64 (f16
/// with bf16 promotes to f32, as in PyTorch: neither holds the other).
/// `boolean` is PyTorch's torch.bool: one byte holding 0 or 1 (comparisons, masks, all/any).
/// Kernels see it as uint8_t (the bytes are the same); the op layer keeps the 0/1 invariant
/// (conversion to bool is x != 0, fills store 0 or 1, bool + bool is a logical or).
enum class DType : uint8_t { boolean, u8, i64, f16, bf16, f32, f64 };

inline constexpr DType kBool = DType::boolean;
inline constexpr DType kU8 = DType::u8;
inline constexpr DType kI64 = DType::i64;
inline constexpr DType kF16 = DType::f16;
inline constexpr DType kBF16 = DType::bf16;
inline constexpr DType kF32 = DType::f32;
inline constexpr DType kF64 = DType::f64;

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::boolean: return 1;
    case DType::u8: return 1;
    case DType::i64: return 8;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::f32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::boolean: return "bool";
    case DType::u8: return "u8";
    case DType::i64: return "i64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::f32: return "f32";
    case DType::f64: return "f64";
  }
  return "?";
}
/// The dtype named by dtype_name ("bool", "u8", "i64", "f16", "bf16", "f32", "f64"); nullopt otherwise.
inline std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType d : {DType::boolean, DType::u8, DType::i64, DType::f16, DType::bf16, DType::f32, DType::f64})
    if (name == dtype_name(d)) return d;
  return std::nullopt;
}
inline bool is_floating(DType d) { return d >= DType::f16; }
/// Integral dtypes (u8, i64); bool is its own category, as in PyTorch (isIntegralType(..., false)).
inline bool is_integral(DType d) { return d == DType::u8 || d == DType::i64; }
/// PyTorch's promotion categories: 0 bool, 1 integral, 2 floating.
inline int dtype_category(DType d) { return d == DType::boolean ? 0 : is_floating(d) ? 2 : 1; }
/// The 16-bit floating dtypes (f16, bf16): stored in 16 bits, computed in float.
inline bool is_half(DType d) { return d == DType::f16 || d == DType::bf16; }
/// The dtype both operands of a binary op are converted to (NumPy-like, by rank; f16 with bf16
/// gives f32, as in PyTorch).
inline DType promote(DType a, DType b) {
  if ((a == DType::f16 && b == DType::bf16) || (a == DType::bf16 && b == DType::f16)) return DType::f32;
  return a > b ? a : b;
}

template <typename T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };

enum class DeviceType : uint8_t { cpu, cuda };

/// Where a tensor lives: `cpu` or `cuda:N`.
struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  /// "cpu", "cuda" (= cuda:0) or "cuda:N"; anything else is a nabla::Error.
  static Device parse(const std::string& s);
};

std::ostream& operator<<(std::ostream& os, DType d);
std::ostream& operator<<(std::ostream& os, const Device& d);

}  // namespace nabla

/// Calls a generic lambda body with `scalar_t` bound to the C++ type of `dt`.
#define NB_DISPATCH_CASE(DT, T, ...) \
  case DT: {                         \
    using scalar_t = T;              \
    return __VA_ARGS__();            \
  }
#define NB_DISPATCH_FLOAT(dt, opname, ...)                                                  \
  [&] {                                                                                     \
    switch (dt) {                                                                           \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)                             \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)                            \
      default:                                                                              \
        ::nabla::fail("[", opname, "] expected a floating dtype (f32 or f64), got ", dt,    \
                      ::nabla::is_half(dt) ? " (this kernel has no 16-bit version)" : "");  \
    }                                                                                       \
  }()
/// NB_DISPATCH_FLOAT plus the 16-bit types (scalar_t = Half or BFloat16; compute in
/// opmath_t<scalar_t>).
#define NB_DISPATCH_FLOAT_AND_HALF(dt, opname, ...)                                               \
  [&] {                                                                                           \
    switch (dt) {                                                                                 \
      NB_DISPATCH_CASE(::nabla::DType::f16, ::nabla::Half, __VA_ARGS__)                           \
      NB_DISPATCH_CASE(::nabla::DType::bf16, ::nabla::BFloat16, __VA_ARGS__)                      \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)                                   \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)                                  \
      default:                                                                                    \
        ::nabla::fail("[", opname, "] expected a floating dtype (f16, bf16, f32 or f64), got ", dt); \
    }                                                                                             \
  }()
#define NB_DISPATCH_ALL(dt, opname, ...)                                                       \
  [&] {                                                                                        \
    switch (dt) {                                                                              \
      NB_DISPATCH_CASE(::nabla::DType::boolean, uint8_t, __VA_ARGS__)                          \
      NB_DISPATCH_CASE(::nabla::DType::u8, uint8_t, __VA_ARGS__)                               \
      NB_DISPATCH_CASE(::nabla::DType::i64, int64_t, __VA_ARGS__)                              \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)                                \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)                               \
      default: break;                                                                          \
    }                                                                                          \
    ::nabla::fail("[", opname, "] has no kernel for dtype ", dt,                               \
                  ::nabla::is_half(dt) ? " (this kernel has no 16-bit version)" : "");         \
  }()
/// NB_DISPATCH_ALL plus the 16-bit floating types. Both bind bool to uint8_t (its bytes are 0 or
/// 1): every data-moving, comparing or max/min kernel is right for it as it is, and the op layer
/// never hands a bool tensor to an arithmetic kernel whose u8 result could leave {0, 1}.
#define NB_DISPATCH_ALL_AND_HALF(dt, opname, ...)                          \
  [&] {                                                                    \
    switch (dt) {                                                          \
      NB_DISPATCH_CASE(::nabla::DType::boolean, uint8_t, __VA_ARGS__)      \
      NB_DISPATCH_CASE(::nabla::DType::u8, uint8_t, __VA_ARGS__)           \
      NB_DISPATCH_CASE(::nabla::DType::i64, int64_t, __VA_ARGS__)          \
      NB_DISPATCH_CASE(::nabla::DType::f16, ::nabla::Half, __VA_ARGS__)     \
      NB_DISPATCH_CASE(::nabla::DType::bf16, ::nabla::BFloat16, __VA_ARGS__) \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)            \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)           \
    }                                                                      \
    ::nabla::fail("[", opname, "] unknown dtype");                         \
  }()
