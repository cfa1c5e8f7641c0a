// Direct (no im2col) f32 convolution kernels for shapes where a GEMM has too little to chew on,
// written with AVX2/FMA intrinsics in functions compiled for that target and used only when the
// CPU has both (conv.cpp asks conv_direct_available()).
//
// Weight gradient with one input channel per group (the first layer of an image network, or a
// depthwise convolution) and unit width stride:
//   gw[o, i, j] = sum over n, y, x of gout[n, o, y, x] * xpad[n, c(o), y*sh + i*dh, x + j*dw]
// where xpad is the zero-padded input plane. im2col + GEMM copies the input kh*kw times and
// runs a GEMM with K = kh*kw (9); here one pass over each gradient plane feeds kh*kw vector
// accumulators from a padded copy of the input plane that stays in L1, and the same pass sums the
// bias gradient (the plane is read once for both; measured in bench/README.md, issue 4).
// Work is split over output channels, each computed by one thread in a fixed order, so the result
// does not depend on the thread count.
#include "conv_impl.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "nabla/allocator.h"
#include "parallel.h"
#include "scratch.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define NB_CONV_DIRECT_AVX2 1
#include <immintrin.h>
#endif

namespace nabla::backend::cpu {

#ifdef NB_CONV_DIRECT_AVX2
namespace {

#define NB_AVX2 __attribute__((target("avx2,fma")))

// Lanes [0, rem) set: the tail of a row shorter than a vector.
NB_AVX2 inline __m256i tail_mask(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Each plane kernel adds to accbuf[8*(i*kw + j) ...] (8 lanes per tap) the gradient plane gp
// (Ho x Wo) times the padded input plane xp (row pitch Wp) shifted by tap (i, j); TAIL: rows end
// in a partial vector (masked loads, so nothing outside the row is read).
// 3x3 taps: nine accumulators in registers for the whole plane, each gradient vector loaded once.
// (Named variables: GCC keeps an array of vectors in memory across the loops.)
template <bool TAIL>
NB_AVX2 void plane3x3(const float* gp, int64_t Ho, int64_t Wo, const float* xp, int64_t Wp, int64_t sh, int64_t dh,
                      int64_t dw, float* accbuf) {
  __m256 a0 = _mm256_loadu_ps(accbuf), a1 = _mm256_loadu_ps(accbuf + 8), a2 = _mm256_loadu_ps(accbuf + 16);
  __m256 a3 = _mm256_loadu_ps(accbuf + 24), a4 = _mm256_loadu_ps(accbuf + 32), a5 = _mm256_loadu_ps(accbuf + 40);
  __m256 a6 = _mm256_loadu_ps(accbuf + 48), a7 = _mm256_loadu_ps(accbuf + 56), a8 = _mm256_loadu_ps(accbuf + 64);
  const int64_t full = Wo & ~int64_t(7), r1 = dh * Wp, r2 = 2 * dh * Wp, c1 = dw, c2 = 2 * dw;
  const __m256i m = tail_mask(Wo - full);
  for (int64_t y = 0; y < Ho; ++y) {
    const float* g = gp + y * Wo;
    const float* x = xp + y * sh * Wp;
    int64_t k = 0;
    for (; k < full; k += 8) {
      const __m256 v = _mm256_loadu_ps(g + k);
      const float* p = x + k;
      a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p), a0);
      a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + c1), a1);
      a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + c2), a2);
      a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r1), a3);
      a4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r1 + c1), a4);
      a5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r1 + c2), a5);
      a6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r2), a6);
      a7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r2 + c1), a7);
      a8 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + r2 + c2), a8);
    }
    if constexpr (TAIL) {
      const __m256 v = _mm256_maskload_ps(g + k, m);
      const float* p = x + k;
      a0 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p, m), a0);
      a1 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + c1, m), a1);
      a2 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + c2, m), a2);
      a3 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r1, m), a3);
      a4 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r1 + c1, m), a4);
      a5 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r1 + c2, m), a5);
      a6 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r2, m), a6);
      a7 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r2 + c1, m), a7);
      a8 = _mm256_fmadd_ps(v, _mm256_maskload_ps(p + r2 + c2, m), a8);
    }
  }
  _mm256_storeu_ps(accbuf, a0), _mm256_storeu_ps(accbuf + 8, a1), _mm256_storeu_ps(accbuf + 16, a2);
  _mm256_storeu_ps(accbuf + 24, a3), _mm256_storeu_ps(accbuf + 32, a4), _mm256_storeu_ps(accbuf + 40, a5);
  _mm256_storeu_ps(accbuf + 48, a6), _mm256_storeu_ps(accbuf + 56, a7), _mm256_storeu_ps(accbuf + 64, a8);
}

// 3x3 taps, unit stride and dilation: four output rows per pass share the six input rows they
// read (22 loads for 36 FMAs instead of 40), nine accumulators in registers for the whole plane.
// With BIAS, bsum (8 floats) += the plane's sum of gout per lane (the gradient vectors are
// loaded anyway; the adds run beside the FMAs).
template <bool TAIL, bool BIAS>
NB_AVX2 void plane3x3_rows4(const float* gp, int64_t Ho, int64_t Wo, const float* xp, int64_t Wp, float* accbuf,
                            float* bsum) {
  __m256 bs = _mm256_setzero_ps();
  __m256 a0 = _mm256_loadu_ps(accbuf), a1 = _mm256_loadu_ps(accbuf + 8), a2 = _mm256_loadu_ps(accbuf + 16);
  __m256 a3 = _mm256_loadu_ps(accbuf + 24), a4 = _mm256_loadu_ps(accbuf + 32), a5 = _mm256_loadu_ps(accbuf + 40);
  __m256 a6 = _mm256_loadu_ps(accbuf + 48), a7 = _mm256_loadu_ps(accbuf + 56), a8 = _mm256_loadu_ps(accbuf + 64);
  const int64_t full = Wo & ~int64_t(7);
  const __m256i m = tail_mask(Wo - full);
  const int64_t Hb = Ho & ~int64_t(3);
  // Input row r of the block (0..5) feeds output row r - i through tap row i = 0..2.
#define NB_ROW(r, LOAD)                                                   \
  {                                                                       \
    const float* q = p + (r) * Wp;                                        \
    const __m256 x0 = LOAD(q), x1 = LOAD(q + 1), x2 = LOAD(q + 2);        \
    if constexpr ((r) <= 3) {                                             \
      a0 = _mm256_fmadd_ps(G[r], x0, a0);                                 \
      a1 = _mm256_fmadd_ps(G[r], x1, a1);                                 \
      a2 = _mm256_fmadd_ps(G[r], x2, a2);                                 \
    }                                                                     \
    if constexpr ((r) >= 1 && (r) <= 4) {                                 \
      a3 = _mm256_fmadd_ps(G[(r) - 1], x0, a3);                           \
      a4 = _mm256_fmadd_ps(G[(r) - 1], x1, a4);                           \
      a5 = _mm256_fmadd_ps(G[(r) - 1], x2, a5);                           \
    }                                                                     \
    if constexpr ((r) >= 2) {                                             \
      a6 = _mm256_fmadd_ps(G[(r) - 2], x0, a6);                           \
      a7 = _mm256_fmadd_ps(G[(r) - 2], x1, a7);                           \
      a8 = _mm256_fmadd_ps(G[(r) - 2], x2, a8);                           \
    }                                                                     \
  }
#define NB_BLOCK(LOAD)                                                                   \
  {                                                                                      \
    const __m256 G[4] = {LOAD(g), LOAD(g + Wo), LOAD(g + 2 * Wo), LOAD(g + 3 * Wo)};     \
    if constexpr (BIAS) bs = _mm256_add_ps(bs, _mm256_add_ps(_mm256_add_ps(G[0], G[1]), _mm256_add_ps(G[2], G[3]))); \
    NB_ROW(0, LOAD) NB_ROW(1, LOAD) NB_ROW(2, LOAD) NB_ROW(3, LOAD) NB_ROW(4, LOAD) NB_ROW(5, LOAD) \
  }
#define NB_LOADU(ptr) _mm256_loadu_ps(ptr)
#define NB_LOADM(ptr) _mm256_maskload_ps(ptr, m)
  for (int64_t y = 0; y < Hb; y += 4) {
    for (int64_t k = 0; k < full; k += 8) {
      const float* g = gp + y * Wo + k;
      const float* p = xp + y * Wp + k;
      NB_BLOCK(NB_LOADU)
    }
    if constexpr (TAIL) {
      const float* g = gp + y * Wo + full;
      const float* p = xp + y * Wp + full;
      NB_BLOCK(NB_LOADM)
    }
  }
#undef NB_BLOCK
#undef NB_ROW
  for (int64_t y = Hb; y < Ho; ++y) {  // the last Ho % 4 rows one at a time
    const float* g = gp + y * Wo;
    const float* x = xp + y * Wp;
    int64_t k = 0;
#define NB_ONE(LOAD)                                                                                      \
  {                                                                                                       \
    const __m256 v = LOAD(g + k);                                                                         \
    if constexpr (BIAS) bs = _mm256_add_ps(bs, v);                                                        \
    const float* p = x + k;                                                                               \
    a0 = _mm256_fmadd_ps(v, LOAD(p), a0), a1 = _mm256_fmadd_ps(v, LOAD(p + 1), a1);                       \
    a2 = _mm256_fmadd_ps(v, LOAD(p + 2), a2), a3 = _mm256_fmadd_ps(v, LOAD(p + Wp), a3);                  \
    a4 = _mm256_fmadd_ps(v, LOAD(p + Wp + 1), a4), a5 = _mm256_fmadd_ps(v, LOAD(p + Wp + 2), a5);         \
    a6 = _mm256_fmadd_ps(v, LOAD(p + 2 * Wp), a6), a7 = _mm256_fmadd_ps(v, LOAD(p + 2 * Wp + 1), a7);     \
    a8 = _mm256_fmadd_ps(v, LOAD(p + 2 * Wp + 2), a8);                                                    \
  }
    for (; k < full; k += 8) NB_ONE(NB_LOADU)
    if constexpr (TAIL) NB_ONE(NB_LOADM)
#undef NB_ONE
  }
#undef NB_LOADU
#undef NB_LOADM
  if constexpr (BIAS) _mm256_storeu_ps(bsum, _mm256_add_ps(_mm256_loadu_ps(bsum), bs));
  _mm256_storeu_ps(accbuf, a0), _mm256_storeu_ps(accbuf + 8, a1), _mm256_storeu_ps(accbuf + 16, a2);
  _mm256_storeu_ps(accbuf + 24, a3), _mm256_storeu_ps(accbuf + 32, a4), _mm256_storeu_ps(accbuf + 40, a5);
  _mm256_storeu_ps(accbuf + 48, a6), _mm256_storeu_ps(accbuf + 56, a7), _mm256_storeu_ps(accbuf + 64, a8);
}

// Any kh x kw: one tap at a time (one accumulator in a register per row and tap).
NB_AVX2 void plane_any(const float* gp, int64_t Ho, int64_t Wo, const float* xp, int64_t Wp, int64_t sh, int64_t dh,
                       int64_t dw, int64_t kh, int64_t kw, float* accbuf) {
  const int64_t full = Wo & ~int64_t(7), rem = Wo - full;
  const __m256i m = tail_mask(rem);
  for (int64_t y = 0; y < Ho; ++y) {
    const float* grow = gp + y * Wo;
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        const float* xr = xp + (y * sh + i * dh) * Wp + j * dw;
        float* ab = accbuf + 8 * (i * kw + j);
        __m256 a = _mm256_loadu_ps(ab);
        for (int64_t x = 0; x < full; x += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(grow + x), _mm256_loadu_ps(xr + x), a);
        if (rem) a = _mm256_fmadd_ps(_mm256_maskload_ps(grow + full, m), _mm256_maskload_ps(xr + full, m), a);
        _mm256_storeu_ps(ab, a);
      }
  }
}

// bsum (8 floats) += the plane's sum per lane (for the kernels without the sum built in).
NB_AVX2 void plane_bias(const float* gp, int64_t Ho, int64_t Wo, float* bsum) {
  const int64_t full = Wo & ~int64_t(7), rem = Wo - full;
  const __m256i m = tail_mask(rem);
  __m256 bs = _mm256_loadu_ps(bsum);
  for (int64_t y = 0; y < Ho; ++y) {
    const float* g = gp + y * Wo;
    for (int64_t k = 0; k < full; k += 8) bs = _mm256_add_ps(bs, _mm256_loadu_ps(g + k));
    if (rem) bs = _mm256_add_ps(bs, _mm256_maskload_ps(g + full, m));
  }
  _mm256_storeu_ps(bsum, bs);
}

// lane[k] += p[i + k] for each full group of 8, tail += the rest: conv2d_bias_grad's loop (same
// additions in the same order, so the same bits), two f64x4 lanes at a time.
NB_AVX2 void bias_lanes_impl(const float* p, int64_t S, double* lane, double* tail) {
  __m256d lo = _mm256_loadu_pd(lane), hi = _mm256_loadu_pd(lane + 4);
  int64_t i = 0;
  for (; i + 8 <= S; i += 8) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(p + i)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(p + i + 4)));
  }
  _mm256_storeu_pd(lane, lo);
  _mm256_storeu_pd(lane + 4, hi);
  for (; i < S; ++i) *tail += double(p[i]);
}

// The sum of 8 lanes in a fixed order.
template <typename T>
inline T hsum8(const T* v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

}  // namespace

void bias_lanes_avx2(const float* p, int64_t S, double* lane, double* tail) {
  bias_lanes_impl(p, S, lane, tail);
}

bool conv_direct_available() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          std::getenv("NABLA_CPU_BASELINE") == nullptr;
  return yes;
}

bool conv_direct_weight_grad_fits(const ConvGeom& g) {
  if (g.C != g.groups || g.sw != 1) return false;  // one input channel per group, unit width stride
  // The padded input plane (row pitch Wp) should stay in L1/L2 while every tap streams over it.
  const int64_t Hp = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1, Wp = g.Wo + (g.kw - 1) * g.dw;
  return Hp * Wp <= 16384;
}

void conv_direct_weight_grad(const ConvGeom& g, const float* x, const float* gout, float* gw, float* gb) {
  const int64_t Og = g.O / g.groups, taps = g.kh * g.kw, S = g.Ho * g.Wo;
  const int64_t Hp = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1, Wp = g.Wo + (g.kw - 1) * g.dw;
  const int64_t macs_per_o = g.N * S * taps;
  const bool rows4 = g.kh == 3 && g.kw == 3 && g.sh == 1 && g.dh == 1 && g.dw == 1, tail = g.Wo % 8 != 0;
  // Per output channel: taps x 8 float accumulators plus 8 float lanes of the plane's bias sum, and
  // 8 double lanes that sum those over the batch; per thread, the zero-padded input plane. All taken
  // here, before the threads start (scratch.h says why).
  const size_t xn = size_t(Hp * Wp), an = size_t(taps + 1) * 8;
  PerThreadScratch<float> planes(xn);
  Scratch<float> acc_all(size_t(g.O) * an);
  Scratch<double> bacc_all(size_t(g.O) * 8);
  parallel_for(g.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(macs_per_o, 1)), [&](int64_t ob, int64_t oe) {
    float* xp = planes.get();
    float* acc = acc_all.get() + size_t(ob) * an;
    double* bacc = bacc_all.get() + size_t(ob) * 8;
    const size_t xbytes = xn * sizeof(float);
    std::memset(acc, 0, size_t(oe - ob) * an * sizeof(float));
    std::memset(bacc, 0, size_t(oe - ob) * 8 * sizeof(double));
    int64_t have = -1;  // which (n, c) plane xp holds
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t o = ob; o < oe; ++o) {
        const int64_t c = o / Og;
        if (have != n * g.C + c) {
          have = n * g.C + c;
          std::memset(xp, 0, xbytes);
          const float* src = x + have * g.H * g.W;
          const int64_t q0 = g.pw, q1 = std::min(Wp, g.pw + g.W);  // padded columns that hold input
          for (int64_t r = 0; r < Hp; ++r) {
            const int64_t h = r - g.ph;
            if (h < 0 || h >= g.H || q1 <= q0) continue;
            std::memcpy(xp + r * Wp + q0, src + h * g.W, size_t(q1 - q0) * sizeof(float));
          }
        }
        const float* gp = gout + (n * g.O + o) * S;
        float* ab = acc + (o - ob) * (taps + 1) * 8;
        float* bs = ab + taps * 8;
        if (rows4) {
          if (tail) {
            gb ? plane3x3_rows4<true, true>(gp, g.Ho, g.Wo, xp, Wp, ab, bs)
               : plane3x3_rows4<true, false>(gp, g.Ho, g.Wo, xp, Wp, ab, bs);
          } else {
            gb ? plane3x3_rows4<false, true>(gp, g.Ho, g.Wo, xp, Wp, ab, bs)
               : plane3x3_rows4<false, false>(gp, g.Ho, g.Wo, xp, Wp, ab, bs);
          }
        } else {
          if (g.kh == 3 && g.kw == 3) {
            if (tail) plane3x3<true>(gp, g.Ho, g.Wo, xp, Wp, g.sh, g.dh, g.dw, ab);
            else plane3x3<false>(gp, g.Ho, g.Wo, xp, Wp, g.sh, g.dh, g.dw, ab);
          } else {
            plane_any(gp, g.Ho, g.Wo, xp, Wp, g.sh, g.dh, g.dw, g.kh, g.kw, ab);
          }
          if (gb) plane_bias(gp, g.Ho, g.Wo, bs);
        }
        if (gb) {  // the plane's lanes into the batch's double lanes
          double* d = bacc + (o - ob) * 8;
          for (int k = 0; k < 8; ++k) d[k] += double(bs[k]);
          std::memset(bs, 0, 8 * sizeof(float));
        }
      }
    for (int64_t o = ob; o < oe; ++o) {
      for (int64_t t = 0; t < taps; ++t) gw[o * taps + t] = hsum8(acc + ((o - ob) * (taps + 1) + t) * 8);
      if (gb) gb[o] = float(hsum8(bacc + (o - ob) * 8));
    }
  });
}

#else

void bias_lanes_avx2(const float*, int64_t, double*, double*) {}
bool conv_direct_available() { return false; }
bool conv_direct_weight_grad_fits(const ConvGeom&) { return false; }
void conv_direct_weight_grad(const ConvGeom&, const float*, const float*, float*, float*) {}

#endif

}  // namespace nabla::backend::cpu
