// Correctly rounded f32/f64 arithmetic that nvcc never contracts into fused multiply-adds.
// The CPU kernels are built without FMA, so a CUDA kernel that must give the CPU's bits
// (optimizer updates, affine maps) spells each operation with these instead of a*b + c,
// which nvcc would turn into one fma (one rounding instead of two).
#pragma once
#include <cuda_runtime.h>

namespace nabla::backend::cuda::strict {

__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float div(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt(double a) { return __dsqrt_rn(a); }

/// A scalar whose + - * / are the strict operations above, so formulas copied from the CPU
/// kernels read the same and round the same. The operators are hidden friends, so a plain T
/// on either side converts implicitly.
template <typename T>
struct R {
  T v;
  __device__ __forceinline__ R(T x) : v(x) {}
  friend __device__ __forceinline__ R operator+(R a, R b) { return R(strict::add(a.v, b.v)); }
  friend __device__ __forceinline__ R operator-(R a, R b) { return R(strict::sub(a.v, b.v)); }
  friend __device__ __forceinline__ R operator*(R a, R b) { return R(strict::mul(a.v, b.v)); }
  friend __device__ __forceinline__ R operator/(R a, R b) { return R(strict::div(a.v, b.v)); }
  friend __device__ __forceinline__ R vsqrt(R a) { return R(strict::sqrt(a.v)); }
  /// (a > b ? a : b), as the CPU's vmax.
  friend __device__ __forceinline__ R vmax(R a, R b) { return a.v > b.v ? a : b; }
};

}  // namespace nabla::backend::cuda::strict
