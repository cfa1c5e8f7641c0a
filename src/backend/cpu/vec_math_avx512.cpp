// AVX-512 (16 lanes) builds of gelu's erf form and its derivative (vec_gelu_impl.h, the same
// source as the 8-lane AVX2 rows), used at run time where the CPU has AVX-512F: these two rows
// are bound by arithmetic (one exp, one division and a degree-9 polynomial per element), so
// twice the lanes is close to twice the speed; LibTorch 1.13 runs its gelu with AVX-512 there too.
// As in vec_math_avx2.cpp every include precedes the target region and nothing inside it calls
// library code (an inline library function instantiated there could be the copy the linker keeps
// for every CPU).
#include <immintrin.h>

#include <atomic>
#include <cstdlib>

#include "vec_math.h"

namespace nabla::backend::cpu::vec {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)

namespace {
std::atomic<bool> g_avx512_allowed{true};
}  // namespace

bool avx512_available() {
  static const bool cpu = available() && __builtin_cpu_supports("avx512f");
  return cpu && g_avx512_allowed.load(std::memory_order_relaxed);
}

bool allow_avx512(bool on) { return g_avx512_allowed.exchange(on); }

#pragma GCC push_options
#pragma GCC target("avx512f")
// GCC 12's avx512fintrin.h builds set1/blend/cmp from _mm512_undefined_* values and then warns
// about them (GCC bug 105593, fixed in 13): nothing here reads an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {

using V = __m512;
inline V k(float v) { return _mm512_set1_ps(v); }
inline V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vabs(V x) { return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(k(-0.0f)), _mm512_castps_si512(x))); }
inline V vmin(V a, V b) { return _mm512_min_ps(a, b); }
inline __mmask16 lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline V pick(__mmask16 m, V yes, V no) { return _mm512_mask_blend_ps(m, no, yes); }
inline V pow2i(__m512i n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23));
}

using I = __m512i;
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
inline V round_nearest(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline I to_int(V x) { return _mm512_cvtps_epi32(x); }
inline I half(I n) { return _mm512_srai_epi32(n, 1); }
inline I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
inline __mmask16 is_nan(V x) { return _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q); }
#include "vec_exp_impl.h"

#include "vec_gelu_impl.h"

inline __mmask16 tail_mask(int64_t rem) { return __mmask16((1u << rem) - 1u); }

}  // namespace

void gelu_f32_avx512(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, gelu(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, gelu(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void gelu_grad_f32_avx512(const float* g, int64_t g_step, const float* x, float* out, int64_t n) {
  const V g0 = k(g[0]);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, (g_step ? _mm512_loadu_ps(g + i) : g0) * gelu_grad(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const V gv = g_step ? _mm512_maskz_loadu_ps(m, g + i) : g0;
    _mm512_mask_storeu_ps(out + i, m, gv * gelu_grad(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
#pragma GCC diagnostic pop
#pragma GCC pop_options

#else  // no AVX-512 build

bool avx512_available() { return false; }
bool allow_avx512(bool) { return false; }
void gelu_f32_avx512(const float*, float*, int64_t) {}
void gelu_grad_f32_avx512(const float*, int64_t, const float*, float*, int64_t) {}

#endif

}  // namespace nabla::backend::cpu::vec
