// Bulk 16-bit <-> f32 conversion for half_buffer.h. bf16 is a shift (and an integer rounding
// step) that the compiler vectorizes; f16's exponent rebias and subnormals are branchy in
// integer code (about 4 ns a value: the widened f16 GEMM ran at a third of f32's speed,
// bench_half_gemm), so on CPUs with F16C they go through vcvtph2ps / vcvtps2ph, eight at a time,
// with the immediate rounding mode "nearest even". F16C gives the same bits as half.h's
// f16_from_float / f16_to_float for every non-NaN value, subnormals included, under the default
// MXCSR (nabla never sets flush-to-zero or denormals-are-zero); a NaN stays a NaN of its sign
// (F16C keeps the top payload bits where half.h writes the canonical quiet NaN).
// tests/ops/half_buffer_test.cpp checks every 16-bit value and every rounding boundary.
#include "half_buffer.h"

#include <cstdlib>

#include "nabla/error.h"
#include "nabla/half.h"
#include "parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NB_HAVE_F16C_PATH 1
#endif

namespace nabla::backend::cpu {
namespace {

void widen_bf16(const uint16_t* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::bf16_to_float(s[i]);
}
void narrow_bf16(const float* s, uint16_t* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::bf16_from_float(s[i]);
}
void widen_f16_scalar(const uint16_t* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::f16_to_float(s[i]);
}
void narrow_f16_scalar(const float* s, uint16_t* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::f16_from_float(s[i]);
}

#ifdef NB_HAVE_F16C_PATH
bool f16c_available() {
  static const bool yes =
      __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c") && std::getenv("NABLA_CPU_BASELINE") == nullptr;
  return yes;
}

__attribute__((target("avx,f16c"))) void widen_f16_f16c(const uint16_t* s, float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  widen_f16_scalar(s + i, d + i, n - i);
}

__attribute__((target("avx,f16c"))) void narrow_f16_f16c(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
  narrow_f16_scalar(s + i, d + i, n - i);
}
#endif

#ifdef NB_HAVE_F16C_PATH
// The same bf16 loops compiled for AVX2 (8 lanes instead of SSE2's 4, integer ops only, so the
// same bits): the fused optimizer updates of bf16 parameters convert every array twice per step,
// and at SSE2 width the conversions took most of the step.
bool avx2_available() {
  static const bool yes = __builtin_cpu_supports("avx2") && std::getenv("NABLA_CPU_BASELINE") == nullptr;
  return yes;
}
__attribute__((target("avx2"))) void widen_bf16_avx2(const uint16_t* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::bf16_to_float(s[i]);
}
__attribute__((target("avx2"))) void narrow_bf16_avx2(const float* s, uint16_t* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = half_bits::bf16_from_float(s[i]);
}
#endif

void widen_bf16_any(const uint16_t* s, float* d, int64_t n) {
#ifdef NB_HAVE_F16C_PATH
  if (avx2_available()) return widen_bf16_avx2(s, d, n);
#endif
  widen_bf16(s, d, n);
}
void narrow_bf16_any(const float* s, uint16_t* d, int64_t n) {
#ifdef NB_HAVE_F16C_PATH
  if (avx2_available()) return narrow_bf16_avx2(s, d, n);
#endif
  narrow_bf16(s, d, n);
}

void widen_f16(const uint16_t* s, float* d, int64_t n) {
#ifdef NB_HAVE_F16C_PATH
  if (f16c_available()) return widen_f16_f16c(s, d, n);
#endif
  widen_f16_scalar(s, d, n);
}
void narrow_f16(const float* s, uint16_t* d, int64_t n) {
#ifdef NB_HAVE_F16C_PATH
  if (f16c_available()) return narrow_f16_f16c(s, d, n);
#endif
  narrow_f16_scalar(s, d, n);
}

}  // namespace

void widen_to_f32_serial(DType dt, const void* src, float* dst, int64_t n) {
  (dt == DType::bf16 ? widen_bf16_any : widen_f16)(static_cast<const uint16_t*>(src), dst, n);
}

void narrow_from_f32_serial(DType dt, const float* src, void* dst, int64_t n) {
  (dt == DType::bf16 ? narrow_bf16_any : narrow_f16)(src, static_cast<uint16_t*>(dst), n);
}

void widen_to_f32(DType dt, const void* src, float* dst, int64_t n) {
  NB_CHECK(is_half(dt), "[widen_to_f32] expected f16 or bf16, got ", dt);
  const uint16_t* s = static_cast<const uint16_t*>(src);
  parallel_for(n, kGrain,
               [&](int64_t b, int64_t e) { (dt == DType::bf16 ? widen_bf16_any : widen_f16)(s + b, dst + b, e - b); });
}

void narrow_from_f32(DType dt, const float* src, void* dst, int64_t n) {
  NB_CHECK(is_half(dt), "[narrow_from_f32] expected f16 or bf16, got ", dt);
  uint16_t* d = static_cast<uint16_t*>(dst);
  parallel_for(n, kGrain,
               [&](int64_t b, int64_t e) { (dt == DType::bf16 ? narrow_bf16_any : narrow_f16)(src + b, d + b, e - b); });
}

}  // namespace nabla::backend::cpu
