// The fused optimizer updates compiled for AVX2 (8 floats / 4 doubles per vector), used at run
// time when the CPU has AVX2 (optim_update.cpp decides). The whole file is compiled for AVX2 by
// the pragma, which must precede every include; so it uses no library code that could be
// emitted out of line (no std algorithms, no error paths), only GCC vector types and builtins.
// FMA is deliberately not enabled: without contraction the results equal the baseline build's.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2")
#define NB_OPTIM_AVX2_TU 1
#endif

#include <cstdint>

#include "../optim_kernels.h"

#ifdef NB_OPTIM_AVX2_TU
namespace nabla::backend::cpu {
namespace {

typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x4u __attribute__((vector_size(32), aligned(8)));

template <typename T> struct Vec;
template <> struct Vec<float> { using type = f32x8; };
template <> struct Vec<double> { using type = f64x4; };

template <typename T, typename Body>
inline void simd_loop(int64_t b, int64_t e, Body&& body) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = int64_t(sizeof(V) / sizeof(T));
  int64_t i = b;
  for (; i + W <= e; i += W) body.template operator()<V>(i);
  for (; i < e; ++i) body.template operator()<T>(i);
}

template <typename V, typename T>
inline V ld(const T* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename T>
inline void st(const V& v, T* p) {
  __builtin_memcpy(p, &v, sizeof(V));
}
inline f32x8 vsqrt(f32x8 v) { return __builtin_ia32_sqrtps256(v); }
inline f64x4 vsqrt(f64x4 v) { return __builtin_ia32_sqrtpd256(v); }
inline float vsqrt(float v) { return __builtin_sqrtf(v); }
inline double vsqrt(double v) { return __builtin_sqrt(v); }
template <typename V>
inline V vmax(V a, V b) {
  return a > b ? a : b;
}

// x as a V: a vector or a scalar broadcast (x - 0 keeps every value, -0 and NaN included).
template <typename V, typename X>
inline V as_vec(X x) {
  if constexpr (__is_same(V, X)) {
    return x;
  } else {
    return x - V{};
  }
}
// Lane-wise (a > b ? x : y) and (a < b ? x : y); b, x and y may be scalars (broadcast).
template <typename V, typename B, typename X, typename Y>
inline V select_gt(V a, B b, X x, Y y) {
  return a > as_vec<V>(b) ? as_vec<V>(x) : as_vec<V>(y);
}
template <typename V, typename B, typename X, typename Y>
inline V select_lt(V a, B b, X x, Y y) {
  return a < as_vec<V>(b) ? as_vec<V>(x) : as_vec<V>(y);
}

#include "optim_update_impl.h"

// Σ x² or Σ |x| over x[lo, hi) in double: 4 lanes widened to double, two accumulators.
template <typename T, bool Abs>
double sum_range(const T* __restrict x, int64_t lo, int64_t hi) {
  f64x4 a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  int64_t j = lo;
  for (; j + 8 <= hi; j += 8) {
    f64x4 x0, x1;
    if constexpr (sizeof(T) == 4) {
      typedef float f32x4 __attribute__((vector_size(16)));
      x0 = __builtin_convertvector(ld<f32x4>(x + j), f64x4);
      x1 = __builtin_convertvector(ld<f32x4>(x + j + 4), f64x4);
    } else {
      x0 = ld<f64x4>(x + j);
      x1 = ld<f64x4>(x + j + 4);
    }
    if constexpr (Abs) {
      a0 += x0 < 0 ? -x0 : x0;
      a1 += x1 < 0 ? -x1 : x1;
    } else {
      a0 += x0 * x0;
      a1 += x1 * x1;
    }
  }
  const f64x4 a = a0 + a1;
  double sum = (a[0] + a[1]) + (a[2] + a[3]);
  for (; j < hi; ++j) {
    const double v = double(x[j]);
    sum += Abs ? (v < 0 ? -v : v) : v * v;
  }
  return sum;
}

}  // namespace

void optim_update_range_avx2(OptimAlgo algo, DType dt, const OptimSlot& s, const OptimHyper& h, int64_t b,
                             int64_t e) {
  if (dt == DType::f32) {
    update_range<float>(algo, s, h, b, e);
  } else {
    update_range<double>(algo, s, h, b, e);
  }
}

double sum_range_avx2(DType dt, const void* x, int64_t lo, int64_t hi, bool abs) {
  if (dt == DType::f32) {
    return abs ? sum_range<float, true>(static_cast<const float*>(x), lo, hi)
               : sum_range<float, false>(static_cast<const float*>(x), lo, hi);
  }
  return abs ? sum_range<double, true>(static_cast<const double*>(x), lo, hi)
             : sum_range<double, false>(static_cast<const double*>(x), lo, hi);
}

}  // namespace nabla::backend::cpu
#endif
