// Element types and devices.
#pragma once
#include <cstdint>
#include <string>

#include "nabla/error.h"

namespace nabla {

/// Element type. Ordered by promotion rank: u8 < i64 < f32 < f64.
enum class DType : uint8_t { u8, i64, f32, f64 };

inline constexpr DType kU8 = DType::u8;
inline constexpr DType kI64 = DType::i64;
inline constexpr DType kF32 = DType::f32;
inline constexpr DType kF64 = DType::f64;

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::u8: return 1;
    case DType::i64: return 8;
    case DType::f32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::u8: return "u8";
    case DType::i64: return "i64";
    case DType::f32: return "f32";
    case DType::f64: return "f64";
  }
  return "?";
}
inline bool is_floating(DType d) { return d == DType::f32 || d == DType::f64; }
/// The dtype both operands of a binary op are converted to (NumPy-like, by rank).
inline DType promote(DType a, DType b) { return a > b ? a : b; }

template <typename T> struct dtype_of;
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
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
#define NB_DISPATCH_FLOAT(dt, opname, ...)                                              \
  [&] {                                                                                 \
    switch (dt) {                                                                       \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)                         \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)                        \
      default:                                                                          \
        ::nabla::fail("[", opname, "] expected a floating dtype (f32 or f64), got ", dt); \
    }                                                                                   \
  }()
#define NB_DISPATCH_ALL(dt, opname, ...)                          \
  [&] {                                                           \
    switch (dt) {                                                 \
      NB_DISPATCH_CASE(::nabla::DType::u8, uint8_t, __VA_ARGS__)  \
      NB_DISPATCH_CASE(::nabla::DType::i64, int64_t, __VA_ARGS__) \
      NB_DISPATCH_CASE(::nabla::DType::f32, float, __VA_ARGS__)   \
      NB_DISPATCH_CASE(::nabla::DType::f64, double, __VA_ARGS__)  \
    }                                                             \
    ::nabla::fail("[", opname, "] unknown dtype");                \
  }()
