// AVX2+FMA builds of the vec_math.h kernels. Every include comes before the target region, and
// nothing inside it calls library code: an inline library function instantiated in the region
// would be compiled for AVX2 and could be the copy the linker keeps for callers on any CPU.
//
// The functions are written from their standard reductions:
// - exp: e^x = 2^n e^r with n = round(x / ln 2), |r| <= ln2 / 2, ln 2 split in two parts (Cody
//   and Waite) so r is exact; e^r by the degree-7 minimax polynomial of Cephes' expf; 2^n applied
//   in two halves so results down to the smallest subnormal and up to overflow come out right.
// - log1p on [0, 1] (softplus): 2 atanh(s), s = u / (2 + u) <= 1/3, by its odd series (8 terms,
//   truncation < 2e-9 relative).
// - tanh: x + x^3 P(x^2) for |x| < 0.625 (Cephes' tanhf polynomial), else 1 - 2 / (e^{2|x|} + 1).
// - erf: x + x P(x^2) for |x| < 0.875, else 1 - e^{-r(|x|)} with r = -log erfc a polynomial
//   (the split of Arm's optimized-routines erff; our own coefficients from
//   scripts/dev/fit_erf_polys.py), +-1 from |x| >= 4.
// - gelu (erf form) and its derivative: vec_gelu_impl.h (one exp for Phi and phi), also built
//   for AVX-512 (vec_math_avx512.cpp), which runs them where the CPU has it.
#include <immintrin.h>

#include <bit>
#include <cmath>
#include <cstdlib>

#include "vec_math.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_VEC_MATH_AVX2 1
#endif

namespace nabla::backend::cpu::vec {

// The rows with a vector kernel, listed once: each entry is the row and the function object
// (defined in the AVX2 region below) that computes it. has_*_f32 and the dispatch switches are
// both generated from these lists, so they cannot disagree.
#define NB_VEC_UNARY_ROWS(X)                          \
  X(Exp, Fn<vexp>{})                                  \
  X(Tanh, Fn<vtanh>{})                                \
  X(Sigmoid, Fn<vsigmoid>{})                          \
  X(Erf, Fn<verf>{})                                  \
  X(Silu, Fn<silu>{})                                 \
  X(Mish, Fn<mish>{})                                 \
  X(Gelu, Fn<gelu>{})                                 \
  X(GeluTanh, Fn<gelu_tanh>{})                        \
  X(Softplus, (Softplus{float(a), float(b)}))         \
  X(SoftplusDeriv, (SoftplusDeriv{float(a), float(b)}))
#define NB_VEC_GRAD_ROWS(X)           \
  X(SiluGrad, Fn<silu_grad>{})        \
  X(MishGrad, Fn<mish_grad>{})        \
  X(GeluGrad, Fn<gelu_grad>{})        \
  X(GeluTanhGrad, Fn<gelu_tanh_grad>{})

bool has_unary_f32(UnaryOp op) {
  switch (op) {
#define NB_ROW(name, f) case UnaryOp::name:
    NB_VEC_UNARY_ROWS(NB_ROW)
#undef NB_ROW
    return true;
    default:
      return false;
  }
}

bool has_binary_f32(BinaryOp op) {
  switch (op) {
#define NB_ROW(name, f) case BinaryOp::name:
    NB_VEC_GRAD_ROWS(NB_ROW)
#undef NB_ROW
    return true;
    default:
      return false;
  }
}

#ifdef NB_VEC_MATH_AVX2

bool available() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          std::getenv("NABLA_CPU_BASELINE") == nullptr;
  return yes;
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace {

using V = __m256;
inline V k(float v) { return _mm256_set1_ps(v); }
inline V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vabs(V x) { return _mm256_andnot_ps(k(-0.0f), x); }
/// mask ? yes : no, lane by lane (mask lanes all ones or all zeros).
inline V pick(V mask, V yes, V no) { return _mm256_blendv_ps(no, yes, mask); }
inline V lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline V gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline V is_nan(V x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
/// |mag| with the sign of sgn.
inline V with_sign(V mag, V sgn) { return _mm256_or_ps(vabs(mag), _mm256_and_ps(k(-0.0f), sgn)); }
/// max(x, 0); NaN gives 0 (callers add a term that carries the NaN).
inline V max0(V x) { return _mm256_max_ps(x, k(0.0f)); }

inline V pow2i(__m256i n) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23)); }

using I = __m256i;
inline V vmin(V a, V b) { return _mm256_min_ps(a, b); }
inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
inline V round_nearest(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline I to_int(V x) { return _mm256_cvtps_epi32(x); }
inline I half(I n) { return _mm256_srai_epi32(n, 1); }
inline I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
#include "vec_exp_impl.h"

/// log(1 + u) for u in [0, 1] (or NaN).
V vlog1p_unit(V u) {
  const V s = u / (k(2.0f) + u), s2 = s * s;
  V p = k(1.0f / 15);
  p = fma(p, s2, k(1.0f / 13));
  p = fma(p, s2, k(1.0f / 11));
  p = fma(p, s2, k(1.0f / 9));
  p = fma(p, s2, k(1.0f / 7));
  p = fma(p, s2, k(1.0f / 5));
  p = fma(p, s2, k(1.0f / 3));
  p = fma(p, s2, k(1.0f));
  return k(2.0f) * s * p;
}

V vtanh(V x) {
  const V a = vabs(x), x2 = x * x;
  V p = k(-5.70498872745e-3f);
  p = fma(p, x2, k(2.06390887954e-2f));
  p = fma(p, x2, k(-5.37397155531e-2f));
  p = fma(p, x2, k(1.33314422036e-1f));
  p = fma(p, x2, k(-3.33332819422e-1f));
  const V small = fma(p * x2, x, x);
  const V large = with_sign(k(1.0f) - k(2.0f) / (vexp(a + a) + k(1.0f)), x);
  return pick(lt(a, k(0.625f)), small, large);  // NaN takes `large`, which is NaN
}

/// sigmoid(x) and 1 - sigmoid(x), both to full relative accuracy: with e = e^{-|x|} <= 1 they
/// are 1 / (1 + e) and e / (1 + e), swapped for x < 0 (1 / (1 + e^{-x}) would overflow e^{-x}
/// below x = -88 and lose 1 - s to cancellation above x = 9).
struct SigmoidPair {
  V s, one_minus_s;
};
SigmoidPair sigmoid_pair(V x) {
  const V e = vexp(-vabs(x));
  const V big = k(1.0f) / (k(1.0f) + e), small = e * big;
  const V neg = lt(x, k(0.0f));
  return {pick(neg, small, big), pick(neg, big, small)};
}
V vsigmoid(V x) { return sigmoid_pair(x).s; }

/// (erf(x) - x) / x = P(x^2) for |x| <= 0.875 (fit by scripts/dev/fit_erf_polys.py).
V erf_small_poly(V x2) {
  V p = k(-0x1.47d55ep-11f);
  p = fma(p, x2, k(0x1.4a72d6p-8f));
  p = fma(p, x2, k(-0x1.b7123cp-6f));
  p = fma(p, x2, k(0x1.ce2382p-4f));
  p = fma(p, x2, k(-0x1.81271ep-2f));
  return fma(p, x2, k(0x1.06eba8p-3f));
}
/// erfc(a) = e^{-r(a)} for a in [0.875, 4]: r(a) = -log erfc(a) as a degree-9 polynomial in
/// a - 2.4375 (fit by scripts/dev/fit_erf_polys.py: near-minimax, each coefficient rounded to
/// f32 in turn and the rest refitted; max error of r 2.1e-7).
V erfc_mid(V a) {
  const V t = a - k(2.4375f);
  V q = k(-0x1.ad5406p-25f);
  q = fma(q, t, k(-0x1.34bf10p-19f));
  q = fma(q, t, k(0x1.e41356p-17f));
  q = fma(q, t, k(-0x1.4f7a16p-14f));
  q = fma(q, t, k(0x1.d77378p-12f));
  q = fma(q, t, k(-0x1.2e4f32p-9f));
  q = fma(q, t, k(0x1.761e36p-7f));
  q = fma(q, t, k(0x1.e234bcp-1f));
  q = fma(q, t, k(0x1.4f0758p+2f));
  q = fma(q, t, k(0x1.de7614p+2f));
  return vexp(-q);
}

V verf(V x) {
  const V a = vabs(x);
  const V small = fma(erf_small_poly(x * x), x, x);
  V big = k(1.0f) - erfc_mid(_mm256_min_ps(a, k(4.0f)));
  big = with_sign(pick(lt(a, k(4.0f)), big, k(1.0f)), x);
  return pick(is_nan(x), x, pick(lt(a, k(0.875f)), small, big));
}

constexpr float kBeta = float(kGeluTanhBeta), kKappa = float(kGeluTanhKappa);

#include "vec_gelu_impl.h"

/// sigmoid(2u) = (1 + tanh(u)) / 2 for the tanh form's u.
SigmoidPair gelu_tanh_sigmoid(V x) {
  const V u = k(kBeta) * x * fma(k(kKappa) * x, x, k(1.0f));
  return sigmoid_pair(u + u);
}
V gelu_tanh(V x) { return x * gelu_tanh_sigmoid(x).s; }
/// s + 2 x s (1 - s) u', since (1 + t) / 2 = s and 1 - t^2 = 4 s (1 - s).
V gelu_tanh_grad(V x) {
  const auto [s, one_minus_s] = gelu_tanh_sigmoid(x);
  const V du = k(kBeta) * fma(k(3 * kKappa) * x, x, k(1.0f));
  return fma(k(2.0f) * x * s * one_minus_s, du, s);
}

V silu(V x) { return x * vsigmoid(x); }
V silu_grad(V x) {
  const auto [s, one_minus_s] = sigmoid_pair(x);
  return s * fma(x, one_minus_s, k(1.0f));
}

// tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2); above x = 20 it is 1 in f32 (and n
// would overflow from x = 44).
struct MishParts {
  V t, e, n;
};
MishParts mish_parts(V x) {
  const V e = vexp(x), n = e * (e + k(2.0f));
  return {pick(gt(x, k(20.0f)), k(1.0f), n / (n + k(2.0f))), e, n};
}
V mish(V x) { return x * mish_parts(x).t; }
/// t + x s (1 - t^2), with 1 - t^2 = 4 (n + 1) / (n + 2)^2 and s = e / (1 + e).
V mish_grad(V x) {
  const auto [t, e, n] = mish_parts(x);
  const V big = gt(x, k(20.0f));
  const V s = pick(big, k(1.0f), e / (k(1.0f) + e));
  const V n2 = n + k(2.0f);
  const V one_minus_t2 = pick(big, k(0.0f), k(4.0f) * (n + k(1.0f)) / (n2 * n2));
  return fma(x * s, one_minus_t2, t);
}

V softplus(V x, float beta, float threshold) {
  const V bx = x * k(beta);
  const V soft = (max0(bx) + vlog1p_unit(vexp(-vabs(bx)))) / k(beta);
  return pick(gt(bx, k(threshold)), x, soft);
}

// Function objects for the loops below (a lambda's pointer conversion would be compiled
// without the target and warn about the AVX ABI).
template <V (*F)(V)>
struct Fn {
  V operator()(V x) const { return F(x); }
};
struct Softplus {
  float beta, threshold;
  V operator()(V x) const { return softplus(x, beta, threshold); }
};

struct SoftplusDeriv {
  float beta, threshold;
  V operator()(V x) const {
    const V bx = x * k(beta);
    return pick(gt(bx, k(threshold)), k(1.0f), vsigmoid(bx));
  }
};

/// Lanes [0, rem) set, for the masked tail of a row.
inline __m256i tail_mask(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <typename F>
void map1(const float* x, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(out + i, m, f(_mm256_maskload_ps(x + i, m)));
  }
}
/// out = g * f'(x): the backward rows multiply the incoming gradient x by the derivative at y.
/// `g_step` 0 broadcasts g[0] (a sum()'s or mean()'s gradient), 1 reads g[i].
template <typename F>
void map_grad(const float* g, int64_t g_step, const float* x, float* out, int64_t n, F df) {
  const V g0 = k(g[0]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, (g_step ? _mm256_loadu_ps(g + i) : g0) * df(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(out + i, m, (g_step ? _mm256_maskload_ps(g + i, m) : g0) * df(_mm256_maskload_ps(x + i, m)));
  }
}

}  // namespace

void unary_f32(UnaryOp op, const float* x, float* out, int64_t n, double a, double b) {
  if (op == UnaryOp::Gelu && avx512_available()) return gelu_f32_avx512(x, out, n);
  switch (op) {
#define NB_ROW(name, f) \
  case UnaryOp::name: return map1(x, out, n, f);
    NB_VEC_UNARY_ROWS(NB_ROW)
#undef NB_ROW
    default: return;  // has_unary_f32 is false: callers never get here
  }
}

namespace {
void grad_rows(BinaryOp op, const float* g, int64_t g_step, const float* x, float* out, int64_t n) {
  if (op == BinaryOp::GeluGrad && avx512_available()) return gelu_grad_f32_avx512(g, g_step, x, out, n);
  switch (op) {
#define NB_ROW(name, f) \
  case BinaryOp::name: return map_grad(g, g_step, x, out, n, f);
    NB_VEC_GRAD_ROWS(NB_ROW)
#undef NB_ROW
    default: return;
  }
}
}  // namespace

void binary_f32(BinaryOp op, const float* x, const float* y, float* out, int64_t n) { grad_rows(op, x, 1, y, out, n); }
void binary_f32_scalar_x(BinaryOp op, float x, const float* y, float* out, int64_t n) {
  grad_rows(op, &x, 0, y, out, n);
}
#pragma GCC pop_options

#else  // no AVX2 build: the scalar rows run everywhere

bool available() { return false; }
void unary_f32(UnaryOp, const float*, float*, int64_t, double, double) {}
void binary_f32(BinaryOp, const float*, const float*, float*, int64_t) {}
void binary_f32_scalar_x(BinaryOp, float, const float*, float*, int64_t) {}

#endif

float exp_f32_twin(float x) {
  if (x != x) return x;
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  const float n = std::nearbyint(xc * 1.44269504088896341f);  // ties to even, as _mm256_round_ps
  float r = std::fma(n, -0.693359375f, xc);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  const auto pow2 = [](int32_t e) { return std::bit_cast<float>(uint32_t(e + 127) << 23); };
  const int32_t ni = int32_t(n), n1 = ni >> 1;
  return p * pow2(n1) * pow2(ni - n1);
}

void exp_f32_portable(const float* x, float* out, int64_t n) {
  if (available()) return unary_f32(UnaryOp::Exp, x, out, n, 0.0, 0.0);
  for (int64_t i = 0; i < n; ++i) out[i] = exp_f32_twin(x[i]);
}

}  // namespace nabla::backend::cpu::vec
