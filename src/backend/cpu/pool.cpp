// Pooling kernels over independent [H, W] planes, parallel over planes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "conv_impl.h"
#include "nabla/error.h"
#include "nabla/half.h"
#include "half_buffer.h"
#include "parallel.h"
#include "scratch.h"

namespace nabla::backend::cpu {
namespace {

int64_t plane_grain(int64_t work_per_plane) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(work_per_plane, 1)); }

// Number of cells of window (oh, ow) that avg_pool2d divides by.
int64_t avg_divisor(const PoolGeom& g, int64_t h0, int64_t w0) {
  int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
  if (g.count_include_pad) return (h1 - h0) * (w1 - w0);
  int64_t hs = std::max<int64_t>(h0, 0), ws = std::max<int64_t>(w0, 0);
  return (std::min(h1, g.H) - hs) * (std::min(w1, g.W) - ws);
}

// A gradient plane's sums in opmath_t: overlapping windows add several terms to one cell, so a
// 16-bit plane is summed in a per-thread float buffer and narrowed once when it is done; f32
// and f64 planes are summed in place. Construct before the parallel region.
template <typename T>
class PlaneSums {
 public:
  explicit PlaneSums(int64_t size) : size_(size) {
    if constexpr (is_half_v<T>) scratch_.emplace(size_t(size));  // f32/f64 allocate nothing
  }
  /// Zeroed sums for `plane`: the plane itself unless T is 16-bit. Call inside the region.
  opmath_t<T>* start(T* plane) {
    opmath_t<T>* s;
    if constexpr (is_half_v<T>) s = scratch_->get();
    else s = plane;
    std::memset(s, 0, size_t(size_) * sizeof(*s));
    return s;
  }
  /// Stores the sums into the plane (rounding each once) when T is 16-bit.
  void finish(const opmath_t<T>* s, T* plane) {
    if constexpr (is_half_v<T>)
      for (int64_t i = 0; i < size_; ++i) plane[i] = T(s[i]);
  }

 private:
  int64_t size_;
  std::optional<PerThreadScratch<float>> scratch_;
};

}  // namespace

void max_pool2d_forward(DType dt, const PoolGeom& g, const void* xv, void* outv, int64_t* indices) {
  // 16 bits: the f32 kernel on a widened copy gives the same maxima and indices (a maximum is one
  // of the loaded values, so narrowing it back is exact), at the f32 kernel's speed; loading each
  // value through the per-element conversion made pooling 37% of an f16 CNN step. Planes are
  // independent, so each thread widens a few of its planes at a time into its own cache-sized
  // buffer: a copy of the whole input and output held 30.6 MiB of f32 in the bf16 cnn step at
  // batch 256 (pool1 on conv1's output), its peak once the convolutions no longer widened whole
  // tensors (conv.cpp), and went through memory twice more.
  if (is_half(dt)) {
    const int64_t in_plane = g.H * g.W, out_plane = g.Ho * g.Wo;
    constexpr int64_t kChunkFloats = int64_t(64) << 10;  // 256 KiB of f32 per thread
    const int64_t per = std::clamp<int64_t>(kChunkFloats / std::max<int64_t>(in_plane + out_plane, 1), 1,
                                            std::max<int64_t>(g.planes, 1));
    PerThreadScratch<float> buf(size_t(per * (in_plane + out_plane)));
    const uint16_t* x = static_cast<const uint16_t*>(xv);
    uint16_t* out = static_cast<uint16_t*>(outv);
    parallel_for(g.planes, plane_grain(out_plane * g.kh * g.kw), [&](int64_t b, int64_t e) {
      float* x32 = buf.get();
      float* out32 = x32 + per * in_plane;
      for (int64_t p = b; p < e; p += per) {
        PoolGeom gc = g;
        gc.planes = std::min(per, e - p);
        widen_to_f32_serial(dt, x + p * in_plane, x32, gc.planes * in_plane);
        max_pool2d_forward(DType::f32, gc, x32, out32, indices + p * out_plane);
        narrow_from_f32_serial(dt, out32, out + p * out_plane, gc.planes * out_plane);
      }
    });
    return;
  }
  NB_DISPATCH_FLOAT_AND_HALF(dt, "max_pool2d", [&] {
    using acc_t = opmath_t<scalar_t>;  // values compare in float (exact: each is a loaded value)
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* out = static_cast<scalar_t*>(outv);
    // The common 2x2 / stride 2 / no padding window: four loads, no bounds checks.
    const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                            2 * g.Ho <= g.H && 2 * g.Wo <= g.W;
    parallel_for(g.planes, plane_grain(g.Ho * g.Wo * g.kh * g.kw), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const scalar_t* plane = x + p * g.H * g.W;
        if (two_by_two) {
          for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const scalar_t* r0 = plane + 2 * oh * g.W;
            const scalar_t* r1 = r0 + g.W;
            scalar_t* o = out + (p * g.Ho + oh) * g.Wo;
            int64_t* ix = indices + (p * g.Ho + oh) * g.Wo;
            // First maximum in row-major window order wins ties; NaN wins over numbers (the
            // first NaN). Rows without NaN (checked first) take a select-only loop: on real
            // activations the comparisons are coin flips, and branches on them made this loop
            // ~10x slower than the memory traffic.
            bool nan = false;
            for (int64_t w = 0; w < 2 * g.Wo; ++w) {
              const acc_t a = r0[w], c = r1[w];
              nan |= (a != a) | (c != c);
            }
            const int64_t base = 2 * oh * g.W;
            if (!nan) {
              for (int64_t ow = 0; ow < g.Wo; ++ow) {
                // Pairwise: the first maximum of each row pair, then the bottom pair only if
                // strictly larger. Comparisons feed arithmetic (setcc), never a branch.
                const acc_t v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
                const int64_t p01 = v1 > v0, p23 = v3 > v2;
                const acc_t m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
                const int64_t q = m23 > m01;
                const int64_t off = p01 + q * (g.W + p23 - p01);
                o[ow] = scalar_t(m23 > m01 ? m23 : m01);
                ix[ow] = base + 2 * ow + off;
              }
              continue;
            }
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
              const int64_t w = 2 * ow;
              acc_t best = r0[w];
              int64_t arg = base + w;
              auto take = [&](acc_t v, int64_t at) {
                if (best == best && (v > best || v != v)) best = v, arg = at;
              };
              take(r0[w + 1], base + w + 1);
              take(r1[w], base + g.W + w);
              take(r1[w + 1], base + g.W + w + 1);
              o[ow] = scalar_t(best);
              ix[ow] = arg;
            }
          }
          continue;
        }
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
            acc_t best = -std::numeric_limits<acc_t>::infinity();
            int64_t arg = -1;
            for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + g.kh, g.H); ++h)
              for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(w0 + g.kw, g.W); ++w) {
                const acc_t v = plane[h * g.W + w];
                if (v > best || arg < 0 || v != v) {
                  best = v;
                  arg = h * g.W + w;
                  if (v != v) break;
                }
              }
            int64_t o = (p * g.Ho + oh) * g.Wo + ow;
            out[o] = scalar_t(best);
            indices[o] = arg < 0 ? 0 : arg;
          }
      }
    });
  });
}

void max_pool2d_backward(DType dt, const PoolGeom& g, const void* gv, const int64_t* indices, void* gxv) {
  if (is_half(dt)) {
    // 16 bits: each plane's gout widened and its sums narrowed in bulk (F16C for f16) around the
    // same f32 scatter, instead of a conversion per element (f16's in software: this kernel was
    // 43% of the f16 cnn step in perf). The same values added in the same order, rounded once.
    const int64_t in_plane = g.H * g.W, out_plane = g.Ho * g.Wo;
    PerThreadScratch<float> buf(size_t(in_plane + out_plane));
    const uint16_t* gout = static_cast<const uint16_t*>(gv);
    uint16_t* gx = static_cast<uint16_t*>(gxv);
    parallel_for(g.planes, plane_grain(in_plane), [&](int64_t b, int64_t e) {
      float* s = buf.get();
      float* go = s + in_plane;
      for (int64_t p = b; p < e; ++p) {
        widen_to_f32_serial(dt, gout + p * out_plane, go, out_plane);
        std::memset(s, 0, size_t(in_plane) * sizeof(float));
        const int64_t* ix = indices + p * out_plane;
        for (int64_t k = 0; k < out_plane; ++k) s[ix[k]] += go[k];
        narrow_from_f32_serial(dt, s, gx + p * in_plane, in_plane);
      }
    });
    return;
  }
  NB_DISPATCH_FLOAT_AND_HALF(dt, "max_pool2d", [&] {
    const scalar_t* gout = static_cast<const scalar_t*>(gv);
    scalar_t* gx = static_cast<scalar_t*>(gxv);
    // Per plane: zero it (a vectorized pass over a cache-resident plane), then add each output
    // gradient at its argmax. Per-cell selects over each window were slower (mispredicted).
    PlaneSums<scalar_t> sums(g.H * g.W);
    parallel_for(g.planes, plane_grain(g.H * g.W), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        scalar_t* plane = gx + p * g.H * g.W;
        const scalar_t* go = gout + p * g.Ho * g.Wo;
        const int64_t* ix = indices + p * g.Ho * g.Wo;
        auto* s = sums.start(plane);
        for (int64_t k = 0; k < g.Ho * g.Wo; ++k) s[ix[k]] += go[k];
        sums.finish(s, plane);
      }
    });
  });
}

void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* xv, void* outv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "avg_pool2d", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* out = static_cast<scalar_t*>(outv);
    parallel_for(g.planes, plane_grain(g.Ho * g.Wo * g.kh * g.kw), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const scalar_t* plane = x + p * g.H * g.W;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
            double s = 0;
            for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + g.kh, g.H); ++h)
              for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(w0 + g.kw, g.W); ++w) s += plane[h * g.W + w];
            int64_t div = avg_divisor(g, h0, w0);
            out[(p * g.Ho + oh) * g.Wo + ow] = scalar_t(div > 0 ? s / double(div) : 0.0);
          }
      }
    });
  });
}

void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* gv, void* gxv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "avg_pool2d", [&] {
    const scalar_t* gout = static_cast<const scalar_t*>(gv);
    scalar_t* gx = static_cast<scalar_t*>(gxv);
    using acc_t = opmath_t<scalar_t>;
    PlaneSums<scalar_t> sums(g.H * g.W);
    parallel_for(g.planes, plane_grain(g.Ho * g.Wo * g.kh * g.kw), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        scalar_t* plane = gx + p * g.H * g.W;
        acc_t* s = sums.start(plane);
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
            int64_t div = avg_divisor(g, h0, w0);
            if (div <= 0) continue;
            const acc_t v = acc_t(gout[(p * g.Ho + oh) * g.Wo + ow]) / acc_t(div);
            for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + g.kh, g.H); ++h)
              for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(w0 + g.kw, g.W); ++w) s[h * g.W + w] += v;
          }
        sums.finish(s, plane);
      }
    });
  });
}

namespace {
inline int64_t win_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t win_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
}  // namespace

void adaptive_avg_pool2d_forward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                 const void* xv, void* outv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "adaptive_avg_pool2d", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(xv);
    scalar_t* out = static_cast<scalar_t*>(outv);
    parallel_for(planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        for (int64_t i = 0; i < Ho; ++i)
          for (int64_t j = 0; j < Wo; ++j) {
            int64_t h0 = win_start(i, H, Ho), h1 = win_end(i, H, Ho), w0 = win_start(j, W, Wo), w1 = win_end(j, W, Wo);
            double s = 0;
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) s += x[(p * H + h) * W + w];
            out[(p * Ho + i) * Wo + j] = scalar_t(s / double((h1 - h0) * (w1 - w0)));
          }
    });
  });
}

void adaptive_avg_pool2d_backward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                  const void* gv, void* gxv) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "adaptive_avg_pool2d", [&] {
    const scalar_t* gout = static_cast<const scalar_t*>(gv);
    scalar_t* gx = static_cast<scalar_t*>(gxv);
    using acc_t = opmath_t<scalar_t>;
    PlaneSums<scalar_t> sums(H * W);
    parallel_for(planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        acc_t* s = sums.start(gx + p * H * W);
        for (int64_t i = 0; i < Ho; ++i)
          for (int64_t j = 0; j < Wo; ++j) {
            int64_t h0 = win_start(i, H, Ho), h1 = win_end(i, H, Ho), w0 = win_start(j, W, Wo), w1 = win_end(j, W, Wo);
            const acc_t v = acc_t(gout[(p * Ho + i) * Wo + j]) / acc_t((h1 - h0) * (w1 - w0));
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) s[h * W + w] += v;
          }
        sums.finish(s, gx + p * H * W);
      }
    });
  });
}

}  // namespace nabla::backend::cpu
