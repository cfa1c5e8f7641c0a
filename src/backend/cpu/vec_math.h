// Vectorized f32 kernels of the transcendental element-wise rows (exp, tanh, sigmoid, erf and
// the activations built on them), compiled for AVX2+FMA in vec_math_avx2.cpp and used at run
// time when the CPU has both. glibc's expf/tanhf/erff are scalar calls, so these rows ran one
// element at a time (silu 4x, gelu 8-9x LibTorch's time); with 8 lanes and our own exp they
// vectorize. Accuracy (vec_math_test.cpp sweeps every op against double-precision references):
// within 5 ulp of the correctly rounded value (derivatives: of their terms' size), except the
// left tails of gelu, gelu-tanh and their derivatives, where e^{-r} with r up to 18 and the f32
// rounding of x / sqrt 2 or of u (amplified by 2 z^2 or |2u|) cost 12-25 ulp in the sampled
// sweep and up to ~40 in a denser one (the textbook 1 + erf(z) or 1 + tanh(u) there, PyTorch's,
// has few or no correct digits). gelu (erf form) and its derivative: see vec_gelu_impl.h (one
// exp shared by Phi and phi, relative accuracy kept into the left tail).
// NaN, +-inf, +-0 and overflow/underflow give what the scalar rows give.
#pragma once
#include <cstdint>

#include "../kernels/elementwise_ops.h"

namespace nabla::backend::cpu::vec {

/// True when this CPU runs the AVX2+FMA kernels and NABLA_CPU_BASELINE is unset.
bool available();

/// Whether `op` has a vector kernel (callers test this before taking the contiguous path).
bool has_unary_f32(UnaryOp op);
bool has_binary_f32(BinaryOp op);

/// out[i] = op(x[i]; a, b) for i < n, for an op with has_unary_f32; `out` may equal `x`.
/// Only call when available().
void unary_f32(UnaryOp op, const float* x, float* out, int64_t n, double a, double b);
/// out[i] = op(x[i], y[i]) for i < n, for an op with has_binary_f32.
void binary_f32(BinaryOp op, const float* x, const float* y, float* out, int64_t n);
/// out[i] = op(x, y[i]): the same with x broadcast (the gradient of a sum() or mean()).
void binary_f32_scalar_x(BinaryOp op, float x, const float* y, float* out, int64_t n);

/// True when this CPU also runs the AVX-512 builds (gelu's erf form and its derivative, 16
/// lanes; vec_math_avx512.cpp): available(), AVX-512F, and not switched off by allow_avx512.
bool avx512_available();
/// Test hook: allow_avx512(false) makes the rows above take their 8-lane AVX2 builds, so a test
/// can check both widths on one CPU. Returns the previous setting.
bool allow_avx512(bool on);
/// The AVX-512 rows (only call when avx512_available()); unary_f32 and binary_f32 pick them.
void gelu_f32_avx512(const float* x, float* out, int64_t n);
void gelu_grad_f32_avx512(const float* g, int64_t g_step, const float* x, float* out, int64_t n);

/// out[i] = e^x[i] with the vector exp's bits on every CPU: the AVX2 kernel when available(),
/// else its scalar twin (the same reduction and polynomial, with std::fma). For results that
/// must not depend on the CPU or NABLA_CPU_BASELINE (log_softmax, so a checkpoint resumes
/// bit-exactly elsewhere). Any CPU; `out` may equal `x`.
void exp_f32_portable(const float* x, float* out, int64_t n);
/// The vector exp's scalar twin: the same clamp, reduction, polynomial (std::fma where the
/// vector code fuses) and two-step scaling, so it returns the vector exp's bits on any CPU.
float exp_f32_twin(float x);

}  // namespace nabla::backend::cpu::vec
