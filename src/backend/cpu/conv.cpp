// Convolution by im2col + GEMM. Work is split over the batch: each thread unfolds one
// sample and calls a single-threaded GEMM (OpenBLAS's OpenMP build runs single-threaded
// inside a parallel region), which beats threading each small GEMM.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include <atomic>

#include "conv_impl.h"
#include "nabla/allocator.h"
#include "nabla/error.h"
#include "lane_sum.h"
#include "../kernels/elementwise_ops.h"
#include "half_buffer.h"
#include "parallel.h"
#include "scratch.h"

namespace nabla::backend::cpu {
namespace {

// 16-bit (bf16, f16) convolutions, when switched on (g_half_native below), run oneDNN's native
// 16-bit kernels where it has a JIT one for the case (onednn::forward etc. decline the others, see
// conv_onednn.cpp); otherwise the entry points below widen their operands to f32, run the f32
// kernels (oneDNN, im2col + GEMM or direct, as measured for f32) and narrow each result once. Both
// are float accumulation and one rounding, as PyTorch's CPU convolutions for 16-bit types. The
// widened path pays a conversion of every operand and result; it converts a chunk of the batch at
// a time into small f32 buffers that stay in cache (below), which took the bf16 cnn step from
// 1.24-1.70x f32's time to 0.85-1.01x on the CPU it was measured on (bench/README.md).
//
// Element counts of a convolution's input, weight and output, for the widened path.
struct ConvSizes {
  int64_t x, w, out;
};
ConvSizes conv_sizes(const ConvGeom& g) {
  return {g.N * g.C * g.H * g.W, g.O * (g.C / g.groups) * g.kh * g.kw, g.N * g.O * g.Ho * g.Wo};
}

template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  }
}

// Samples per thread: a small convolution stays on the calling thread (see parallel.h).
int64_t sample_grain(const ConvGeom& g) {
  const int64_t macs = g.O * (g.C / g.groups) * g.kh * g.kw * g.Ho * g.Wo;
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(macs, 1));
}

bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Output columns [lo, hi) whose input column ow*sw + w0 lies inside [0, W): outside them the
// unfolded row is padding (zero), so the hot middle needs no bounds checks.
inline void valid_range(int64_t w0, int64_t sw, int64_t W, int64_t Wo, int64_t& lo, int64_t& hi) {
  lo = w0 >= 0 ? 0 : (-w0 + sw - 1) / sw;
  hi = W - w0 <= 0 ? 0 : std::min<int64_t>(Wo, (W - 1 - w0) / sw + 1);
  if (hi < lo) hi = lo;
}

// col[(c*kh + i)*kw + j][oh*Wo + ow] = x[c][oh*sh - ph + i*dh][ow*sw - pw + j*dw] (0 outside).
template <typename T>
void im2col(const ConvGeom& g, int64_t Cg, const T* x, T* col) {
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * g.Ho * g.Wo;
        const T* plane = x + c * g.H * g.W;
        const int64_t w0 = -g.pw + j * g.dw;
        int64_t lo, hi;
        valid_range(w0, g.sw, g.W, g.Wo, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          int64_t h = oh * g.sh - g.ph + i * g.dh;
          T* out = row + oh * g.Wo;
          if (h < 0 || h >= g.H) {
            std::memset(out, 0, size_t(g.Wo) * sizeof(T));
            continue;
          }
          const T* src = plane + h * g.W + w0;
          for (int64_t ow = 0; ow < lo; ++ow) out[ow] = T(0);
          if (g.sw == 1) {
            std::memcpy(out + lo, src + lo, size_t(hi - lo) * sizeof(T));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * g.sw];
          }
          for (int64_t ow = hi; ow < g.Wo; ++ow) out[ow] = T(0);
        }
      }
}

// The adjoint of im2col: x[c][h][w] += col[...] (x must be zeroed by the caller).
template <typename T>
void col2im(const ConvGeom& g, int64_t Cg, const T* col, T* x) {
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * g.Ho * g.Wo;
        T* plane = x + c * g.H * g.W;
        const int64_t w0 = -g.pw + j * g.dw;
        int64_t lo, hi;
        valid_range(w0, g.sw, g.W, g.Wo, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          int64_t h = oh * g.sh - g.ph + i * g.dh;
          if (h < 0 || h >= g.H) continue;
          T* dst = plane + h * g.W + w0;
          const T* in = row + oh * g.Wo;
          if (g.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += in[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += in[ow];
          }
        }
      }
}

template <typename T>
void forward_typed(const ConvGeom& g, const T* x, const T* w, const T* bias, T* out) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.kh * g.kw, S = g.Ho * g.Wo;
  const bool pointwise = is_pointwise(g);
  PerThreadScratch<T> cols_per_thread(pointwise ? 1 : size_t(K * S));
  parallel_for(g.N, sample_grain(g), [&](int64_t b, int64_t e) {
    T* col = cols_per_thread.get();
    for (int64_t n = b; n < e; ++n) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* xin = x + (n * g.C + grp * Cg) * g.H * g.W;
        T* o = out + (n * g.O + grp * Og) * S;
        const T* cols = xin;
        if (!pointwise) {
          im2col(g, Cg, xin, col);
          cols = col;
        }
        T beta = T(0);
        if (bias) {
          for (int64_t oc = 0; oc < Og; ++oc) std::fill(o + oc * S, o + (oc + 1) * S, bias[grp * Og + oc]);
          beta = T(1);
        }
        gemm<T>(false, false, Og, S, K, T(1), w + grp * Og * K, K, cols, S, beta, o, S);
      }
    }
  });
}

template <typename T>
void input_grad_typed(const ConvGeom& g, const T* gout, const T* w, T* gx) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.kh * g.kw, S = g.Ho * g.Wo;
  const bool pointwise = is_pointwise(g);
  PerThreadScratch<T> cols_per_thread(pointwise ? 1 : size_t(K * S));
  parallel_for(g.N, sample_grain(g), [&](int64_t b, int64_t e) {
    T* col = cols_per_thread.get();
    for (int64_t n = b; n < e; ++n) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        T* xg = gx + (n * g.C + grp * Cg) * g.H * g.W;
        const T* go = gout + (n * g.O + grp * Og) * S;
        if (pointwise) {  // gx = Wᵀ gout directly
          gemm<T>(true, false, K, S, Og, T(1), w + grp * Og * K, K, go, S, T(0), xg, S);
          continue;
        }
        gemm<T>(true, false, K, S, Og, T(1), w + grp * Og * K, K, go, S, T(0), col, S);
        std::memset(xg, 0, size_t(Cg * g.H * g.W) * sizeof(T));
        col2im(g, Cg, col, xg);
      }
    }
  });
}

// The weight gradient's batch chunks: at most this many (enough to balance 2, 4 or 8 threads),
// and their partial sums together at most this many bytes.
constexpr int64_t kMaxWeightGradChunks = 8;
constexpr int64_t kWeightGradPartialBytes = int64_t(64) << 20;

template <typename T>
void weight_grad_typed(const ConvGeom& g, const T* x, const T* gout, T* gw) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.kh * g.kw, S = g.Ho * g.Wo;
  const int64_t wsize = g.O * K;
  const bool pointwise = is_pointwise(g);
  if (g.N == 0) {
    std::memset(gw, 0, size_t(wsize) * sizeof(T));
    return;
  }
  // The batch is cut into chunks that depend on the shape alone; each chunk sums its samples in
  // order into its own buffer (chunk 0 into gw), whichever thread runs it, and the buffers are
  // added in chunk order: the sums, hence the f32 results, are the same for any thread count.
  const int64_t grain = sample_grain(g);
  const int64_t max_chunks =
      std::clamp<int64_t>(kWeightGradPartialBytes / std::max<int64_t>(1, wsize * int64_t(sizeof(T))), 1,
                          kMaxWeightGradChunks);
  const int64_t wanted = std::min(max_chunks, (g.N + grain - 1) / grain);
  const int64_t per = (g.N + wanted - 1) / wanted;
  const int64_t chunks = (g.N + per - 1) / per;  // none empty
  Scratch<T> partial_buf(size_t(std::max<int64_t>(chunks - 1, 1)) * size_t(wsize));
  T* partial = partial_buf.get();
  const int nt = omp_in_parallel() ? 1 : int(std::min<int64_t>(omp_get_max_threads(), chunks));
  PerThreadScratch<T> cols_per_thread(pointwise ? 1 : size_t(K * S));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t k = 0; k < chunks; ++k) {
    T* col = cols_per_thread.get();
    T* acc = k == 0 ? gw : partial + size_t(k - 1) * size_t(wsize);
    const int64_t b = k * per, e = std::min(g.N, b + per);
    for (int64_t n = b; n < e; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* xin = x + (n * g.C + grp * Cg) * g.H * g.W;
        const T* cols = xin;
        if (!pointwise) {
          im2col(g, Cg, xin, col);
          cols = col;
        }
        // The chunk's first sample overwrites (beta 0): no buffer needs zeroing first.
        gemm<T>(false, true, Og, K, S, T(1), gout + (n * g.O + grp * Og) * S, S, cols, S, n == b ? T(0) : T(1),
                acc + grp * Og * K, K);
      }
  }
  if (chunks == 1) return;
  // Each element's chunk sums in chunk order. A few chunks of a small weight are a few
  // microseconds' adds: threads (a second parallel region) only for large weights.
  parallel_for(wsize, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t k = 1; k < chunks; ++k) {
      const T* p = partial + size_t(k - 1) * size_t(wsize);
      for (int64_t i = b; i < e; ++i) gw[i] += p[i];
    }
  });
}

std::atomic<ConvImpl> g_conv_impl{ConvImpl::Auto};
// Off unless NABLA_CONV_HALF_NATIVE=1 (or set_half_conv_native): on the CPU this was measured on
// (Intel model 207, AVX512_BF16 and AVX512_FP16, no AMX), VDPBF16PS does 32 MACs per instruction
// at a quarter of the rate of VFMADD231PS's 16, so bf16 arithmetic runs at half f32's rate, and
// oneDNN 2.6's bf16 convolutions (direct JIT kernels, no Winograd) took 1.1-1.6x the widened
// path's time, conversions included, for the cnn preset's layers' forward + backward (3x3 and 5x5;
// bench_half_conv, bench/README.md); oneDNN 2.6 has no f16 convolution on CPUs at all. The native
// path is kept, tested, for CPUs where 16-bit arithmetic outruns f32 (to be measured there before
// it becomes a default).
std::atomic<bool> g_half_native{[] {
  const char* v = std::getenv("NABLA_CONV_HALF_NATIVE");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};

// Whether a 16-bit convolution tries oneDNN's native kernels first.
bool try_native(DType dt) {
  return is_half(dt) && conv_onednn_built() && g_half_native.load(std::memory_order_relaxed);
}

// relu in place on n 16-bit values, on their bits: a set sign bit with a magnitude up to the
// infinity's (negative numbers, -0, -inf) becomes +0, as relu_of gives; NaNs (magnitude above it)
// and positive values are kept. Exact, so it commutes with the rounding of the conv's output.
void relu_half_bits(DType dt, void* out, int64_t n) {
  uint16_t* o = static_cast<uint16_t*>(out);
  const uint16_t inf = dt == DType::bf16 ? 0x7f80 : 0x7c00;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint16_t v = o[i];
      o[i] = ((v & 0x8000) && (v & 0x7fff) <= inf) ? uint16_t(0) : v;
    }
  });
}

enum class ConvPass { Forward, InputGrad, WeightGrad };

// Whether an f32 convolution goes to oneDNN (which may still decline the geometry).
bool want_onednn(const ConvGeom& g, ConvPass pass) {
  if (!conv_onednn_built()) return false;
  switch (g_conv_impl.load(std::memory_order_relaxed)) {
    case ConvImpl::Im2col:
      return false;
    case ConvImpl::OneDnn:
      return true;
    case ConvImpl::Auto:
      break;
  }
  // Measured (bench_cnn --kernels, bench/README.md): oneDNN's blocked kernels are 1.3-1.5x faster
  // than im2col + OpenBLAS on the CNN's conv2 (32->64) in every pass, and faster on conv1's
  // forward (1->32); on conv1's weight gradient (one input channel: a 9-row im2col) im2col wins
  // (and the direct kernel, where the CPU has AVX2/FMA, takes that case first: conv2d_weight_grad).
  return !(pass == ConvPass::WeightGrad && g.C / g.groups == 1);
}

// ---- the widened 16-bit path, a chunk of the batch at a time ----------------------------------
//
// Widening whole operands held f32 copies of the input, the output gradient and the results at
// once: in the bf16 cnn step at batch 256 (bench_vs_libtorch (e)), conv2's backward widened its
// output gradient (12.25 MiB), its input (6.1 MiB) and its input gradient (6.1 MiB), 24.5 of the
// step's 75.6 MiB peak (requested bytes); conv1's forward and backward held 24.5 MiB of f32 output
// or gradient. Chunks of samples widened into scratch buffers reused chunk after chunk hold at most
// g_widen_bytes of f32 copies (the weight and bias copies and the f32 weight-gradient sum aside).
// The forward and the input gradient are per sample: a chunk's results are the same f32 sums as
// the whole batch's, rounded once (tests/ops/half_conv_chunk_test.cpp checks the bits). The weight
// gradient sums over the batch: each chunk's f32 sum is added into an f32 total, which the f32
// kernels' own summation order could already reorder (within the same bound, half_conv_native_test).
// Chunk sizes depend on the geometry only, never the thread count.
// 1 MiB: the chunk's f32 copies stay in the core's L2 between the widening, the kernel and the
// narrowing (one thread, the bf16 cnn step at batch 256, two interleaved runs at load average 8.5:
// 244-263 ms a step with 1 MiB chunks, 275-279 with 4 MiB, 313-325 with 16 MiB; 0.5 and 2 MiB
// were within the noise of 1 MiB there).
constexpr int64_t kDefaultWidenBytes = int64_t(1) << 20;
std::atomic<int64_t> g_widen_bytes{kDefaultWidenBytes};

/// The batch split into `count` chunks of `per` samples (the last one may be smaller), each
/// chunk's f32 copies (floats_per_sample floats a sample) within g_widen_bytes where one sample
/// fits. Chunks of equal size but the last keep to two geometries (two cached oneDNN primitives).
struct BatchChunks {
  int64_t n = 0, per = 1, count = 0;
  int64_t begin(int64_t i) const { return i * per; }
  int64_t size(int64_t i) const { return std::min(per, n - i * per); }
};
BatchChunks batch_chunks(int64_t n, int64_t floats_per_sample) {
  BatchChunks c;
  c.n = n;
  if (n <= 0) return c;
  const int64_t bytes = std::max<int64_t>(1, floats_per_sample) * int64_t(sizeof(float));
  const int64_t most = std::clamp<int64_t>(g_widen_bytes.load(std::memory_order_relaxed) / bytes, 1, n);
  const int64_t count = (n + most - 1) / most;
  c.per = (n + count - 1) / count;
  c.count = (n + c.per - 1) / c.per;
  return c;
}

inline const uint16_t* half_at(const void* p, int64_t offset) { return static_cast<const uint16_t*>(p) + offset; }
inline uint16_t* half_at(void* p, int64_t offset) { return static_cast<uint16_t*>(p) + offset; }

void widened_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out,
                     bool relu) {
  const int64_t xs = g.C * g.H * g.W, os = g.O * g.Ho * g.Wo;
  const BatchChunks ch = batch_chunks(g.N, xs + os);
  WidenedF32 w32(dt, w, conv_sizes(g).w), b32(dt, bias, g.O);
  Scratch<float> x32(size_t(ch.per * xs)), o32(size_t(ch.per * os));
  for (int64_t i = 0; i < ch.count; ++i) {
    ConvGeom gc = g;
    gc.N = ch.size(i);
    widen_to_f32(dt, half_at(x, ch.begin(i) * xs), x32.get(), gc.N * xs);
    // With relu, the ReLU on the f32 result: it commutes with the rounding.
    (relu ? conv2d_forward_relu : conv2d_forward)(DType::f32, gc, x32.get(), w32.get(), b32.get(), o32.get());
    narrow_from_f32(dt, o32.get(), half_at(out, ch.begin(i) * os), gc.N * os);
  }
}

/// conv2d_bias_grad's sums fed a chunk of samples at a time, from the widened f32 gout chunks that
/// the backward already holds (in cache), instead of another pass over the whole 16-bit gout: the
/// same f64 lanes, each adding its values in the same order (sample, then position), so the same
/// bits as conv2d_bias_grad on the whole gout.
class ChunkedBiasGrad {
 public:
  explicit ChunkedBiasGrad(int64_t channels) : channels_(channels), sums_(size_t(channels) * 9) {
    std::memset(sums_.get(), 0, size_t(channels) * 9 * sizeof(double));
  }
  void add(const ConvGeom& gc, const float* gout) {
    const int64_t S = gc.Ho * gc.Wo;
    const bool avx2 = conv_direct_available();
    parallel_for(gc.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(gc.N * S, 1)), [&](int64_t b, int64_t e) {
      for (int64_t n = 0; n < gc.N; ++n)
        for (int64_t o = b; o < e; ++o) {
          const float* p = gout + (n * gc.O + o) * S;
          double* l = sums_.get() + o * 9;  // 8 lanes and the tail
          double* t = l + 8;
          if (avx2) {
            bias_lanes_avx2(p, S, l, t);
            continue;
          }
          int64_t i = 0;
          for (; i + 8 <= S; i += 8)
            for (int k = 0; k < 8; ++k) l[k] += double(p[i + k]);
          for (; i < S; ++i) *t += double(p[i]);
        }
    });
  }
  void finish(DType dt, void* gbv) {
    NB_DISPATCH_FLOAT_AND_HALF(dt, "conv2d", [&] {
      scalar_t* gb = static_cast<scalar_t*>(gbv);
      for (int64_t o = 0; o < channels_; ++o) {
        const double* l = sums_.get() + o * 9;
        gb[o] = scalar_t(lanes_total(l, l[8]));
      }
    });
  }

 private:
  int64_t channels_;
  Scratch<double> sums_;
};

void add_into(float* acc, const float* v, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) acc[i] += v[i];
  });
}

// gout32[i] = +0 where the 16-bit relu_out[i] <= 0 (+-0, negatives, -inf; not NaN), on its bits:
// threshold_backward's rule on the same values. Branch-free integer masking, so it vectorizes (a
// branch per element, on signs that are coin flips, took a quarter of the bf16 cnn step).
void mask_relu_grad_range(uint32_t inf, const uint16_t* relu_out, float* gout32, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t v = relu_out[i], m = v & 0x7fffu;
    const uint32_t non_positive = uint32_t(m == 0) | (uint32_t(v >> 15) & uint32_t(m <= inf));
    uint32_t bits;
    std::memcpy(&bits, &gout32[i], sizeof bits);
    bits &= non_positive - 1u;  // all ones to keep, zero to clear
    std::memcpy(&gout32[i], &bits, sizeof bits);
  }
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) void mask_relu_grad_range_avx2(uint32_t inf, const uint16_t* relu_out, float* gout32,
                                                               int64_t n) {
  mask_relu_grad_range(inf, relu_out, gout32, n);
}
#endif
void mask_relu_grad(DType dt, const uint16_t* relu_out, float* gout32, int64_t n) {
  const uint32_t inf = dt == DType::bf16 ? 0x7f80u : 0x7c00u;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#if defined(__x86_64__)
    if (conv_direct_available()) return mask_relu_grad_range_avx2(inf, relu_out + b, gout32 + b, e - b);
#endif
    mask_relu_grad_range(inf, relu_out + b, gout32 + b, e - b);
  });
}

// Input, weight and bias gradients (each may be null), one widening of each gout chunk for all;
// with relu_out, gout masked by the fused ReLU's output first.
void widened_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx, void* gw,
                      void* gb, const void* relu_out = nullptr) {
  const int64_t xs = g.C * g.H * g.W, os = g.O * g.Ho * g.Wo, ws = conv_sizes(g).w;
  const BatchChunks ch = batch_chunks(g.N, os + (gx ? xs : 0) + (gw ? xs : 0));
  WidenedF32 w32(dt, gx ? w : nullptr, ws);
  Scratch<float> go32(size_t(ch.per * os)), x32(gw ? size_t(ch.per * xs) : 0), gx32(gx ? size_t(ch.per * xs) : 0);
  // The weight gradient's f32 total (the first chunk writes it) and each later chunk's sum.
  Scratch<float> gw32(gw ? size_t(ws) : 0), part(gw && ch.count > 1 ? size_t(ws) : 0);
  std::optional<ChunkedBiasGrad> bias;
  if (gb) bias.emplace(g.O);
  for (int64_t i = 0; i < ch.count; ++i) {
    ConvGeom gc = g;
    gc.N = ch.size(i);
    widen_to_f32(dt, half_at(gout, ch.begin(i) * os), go32.get(), gc.N * os);
    if (relu_out) mask_relu_grad(dt, half_at(relu_out, ch.begin(i) * os), go32.get(), gc.N * os);
    if (gw) widen_to_f32(dt, half_at(x, ch.begin(i) * xs), x32.get(), gc.N * xs);
    float* gwi = i == 0 ? gw32.get() : part.get();
    conv2d_backward(DType::f32, gc, gw ? x32.get() : nullptr, gx ? w32.get() : nullptr, go32.get(),
                    gx ? gx32.get() : nullptr, gw ? gwi : nullptr, nullptr);
    if (gx) narrow_from_f32(dt, gx32.get(), half_at(gx, ch.begin(i) * xs), gc.N * xs);
    if (gw && i > 0) add_into(gw32.get(), part.get(), ws);
    if (gb) bias->add(gc, go32.get());
  }
  if (gb) bias->finish(dt, gb);
  if (!gw) return;
  if (ch.count == 0) std::memset(gw32.get(), 0, size_t(ws) * sizeof(float));  // an empty batch
  narrow_from_f32(dt, gw32.get(), gw, ws);
}

}  // namespace

void set_conv_impl(ConvImpl impl) { g_conv_impl.store(impl, std::memory_order_relaxed); }
ConvImpl get_conv_impl() { return g_conv_impl.load(std::memory_order_relaxed); }
void set_half_conv_widen_bytes(int64_t bytes) {
  g_widen_bytes.store(bytes > 0 ? bytes : kDefaultWidenBytes, std::memory_order_relaxed);
}
int64_t half_conv_widen_bytes() { return g_widen_bytes.load(std::memory_order_relaxed); }
void set_half_conv_native(bool on) { g_half_native.store(on, std::memory_order_relaxed); }
bool half_conv_native() { return g_half_native.load(std::memory_order_relaxed); }
bool conv_onednn_built() {
#ifdef NABLA_CONV_ONEDNN
  return true;
#else
  return false;
#endif
}

void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out) {
  if (try_native(dt) && onednn::forward(dt, g, x, w, bias, out)) return;
  if (is_half(dt)) return widened_forward(dt, g, x, w, bias, out, /*relu=*/false);
  if (dt == DType::f32 && want_onednn(g, ConvPass::Forward) && onednn::forward(dt, g, x, w, bias, out)) return;
  NB_DISPATCH_FLOAT(dt, "conv2d", [&] {
    forward_typed<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                            static_cast<const scalar_t*>(bias), static_cast<scalar_t*>(out));
  });
}

void conv2d_forward_relu(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out) {
  if (try_native(dt) && onednn::forward(dt, g, x, w, bias, out)) {
    relu_half_bits(dt, out, g.N * g.O * g.Ho * g.Wo);
    return;
  }
  if (is_half(dt)) return widened_forward(dt, g, x, w, bias, out, /*relu=*/true);
  conv2d_forward(dt, g, x, w, bias, out);
  NB_DISPATCH_FLOAT(dt, "conv2d", [&] {
    scalar_t* o = static_cast<scalar_t*>(out);
    parallel_for(g.N * g.O * g.Ho * g.Wo, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = relu_of(o[i]);
    });
  });
}

void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* gv, void* gbv) {
  // 16-bit gradients are read as they are: the sums run in f64 lanes for every dtype.
  NB_DISPATCH_FLOAT_AND_HALF(dt, "conv2d", [&] {
    const scalar_t* gout = static_cast<const scalar_t*>(gv);
    scalar_t* gb = static_cast<scalar_t*>(gbv);
    const int64_t S = g.Ho * g.Wo;
    const bool avx2 = conv_direct_available();
    parallel_for(g.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(g.N * S, 1)), [&](int64_t b, int64_t e) {
      // Each channel's 8 lanes + tail persist across the batch, and the planes are read in memory
      // order (batch outer, up to 64 channels inner): a channel-outer walk jumps O*S values from
      // plane to plane and waits on memory at every jump (3% of conv2's forward + backward in
      // perf). Each lane still adds its values in the same order.
      constexpr int64_t kBlock = 64;
      double lane[kBlock][8], tail[kBlock];
      for (int64_t ob = b; ob < e; ob += kBlock) {
        const int64_t oe = std::min(e, ob + kBlock);
        for (int64_t o = ob; o < oe; ++o) {
          std::fill(lane[o - ob], lane[o - ob] + 8, 0.0);
          tail[o - ob] = 0;
        }
        for (int64_t n = 0; n < g.N; ++n)
          for (int64_t o = ob; o < oe; ++o) {
            const scalar_t* p = gout + (n * g.O + o) * S;
            double* l = lane[o - ob];
            if constexpr (std::is_same_v<scalar_t, float>) {
              if (avx2) {
                bias_lanes_avx2(reinterpret_cast<const float*>(p), S, l, &tail[o - ob]);  // (scalar_t is float here)
                continue;
              }
            }
            int64_t i = 0;
            for (; i + 8 <= S; i += 8)
              for (int k = 0; k < 8; ++k) l[k] += double(p[i + k]);
            for (; i < S; ++i) tail[o - ob] += double(p[i]);
          }
        for (int64_t o = ob; o < oe; ++o) {
          const double* l = lane[o - ob];
          gb[o] = scalar_t(lanes_total(l, tail[o - ob]));
        }
      }
    });
  });
}

void conv2d_input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx) {
  if (try_native(dt) && onednn::input_grad(dt, g, gout, w, gx)) return;
  if (is_half(dt)) return widened_backward(dt, g, nullptr, w, gout, gx, nullptr, nullptr);
  if (dt == DType::f32 && want_onednn(g, ConvPass::InputGrad) && onednn::input_grad(dt, g, gout, w, gx)) return;
  NB_DISPATCH_FLOAT(dt, "conv2d", [&] {
    input_grad_typed<scalar_t>(g, static_cast<const scalar_t*>(gout), static_cast<const scalar_t*>(w),
                               static_cast<scalar_t*>(gx));
  });
}

namespace {
// One input channel per group (conv1 of the CNN): the direct kernel, at par with im2col + GEMM (a
// GEMM with K = kh*kw) and ahead of oneDNN on the weight gradient alone, also sums the bias
// gradient on the way (bench_cnn, bench/README.md).
bool want_direct_weight_grad(DType dt, const ConvGeom& g) {
  return dt == DType::f32 && g_conv_impl.load(std::memory_order_relaxed) == ConvImpl::Auto && conv_direct_available() &&
         conv_direct_weight_grad_fits(g);
}
}  // namespace

void conv2d_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx, void* gw,
                     void* gb) {
  if (is_half(dt)) {
    // Native where oneDNN takes the pass; the bias gradient is conv2d_bias_grad's either way (it
    // reads the 16-bit gout as it is, sums in f64 lanes in a thread-independent order).
    bool done_x = false, done_w = false;
    if (try_native(dt)) {
      if (gx && gw) done_x = done_w = onednn::input_weight_grad(dt, g, x, w, gout, gx, gw);
      if (gx && !done_x) done_x = onednn::input_grad(dt, g, gout, w, gx);
      if (gw && !done_w) done_w = onednn::weight_grad(dt, g, x, gout, gw);
    }
    if (done_x || done_w) {  // the rest one by one (widened where oneDNN declined it)
      if (gx && !done_x) conv2d_input_grad(dt, g, gout, w, gx);
      if (gw && !done_w) conv2d_weight_grad(dt, g, x, gout, gw);
      if (gb) conv2d_bias_grad(dt, g, gout, gb);
      return;
    }
    // Widened, chunk by chunk: one widening of each gout chunk for every gradient, and f32's fused
    // choices; the bias gradient as conv2d_bias_grad sums the 16-bit gout (as on the native path).
    if (gx || gw) return widened_backward(dt, g, x, w, gout, gx, gw, gb);
    if (gb) conv2d_bias_grad(dt, g, gout, gb);
    return;
  }
  if (gw && want_direct_weight_grad(dt, g)) {
    if (gx) conv2d_input_grad(dt, g, gout, w, gx);
    conv_direct_weight_grad(g, static_cast<const float*>(x), static_cast<const float*>(gout), static_cast<float*>(gw),
                            static_cast<float*>(gb));
    return;
  }
  if (gx && gw && dt == DType::f32 && want_onednn(g, ConvPass::InputGrad) && want_onednn(g, ConvPass::WeightGrad) &&
      onednn::input_weight_grad(dt, g, x, w, gout, gx, gw)) {
    if (gb) conv2d_bias_grad(dt, g, gout, gb);
    return;
  }
  if (gx) conv2d_input_grad(dt, g, gout, w, gx);
  if (gw) conv2d_weight_grad(dt, g, x, gout, gw);
  if (gb) conv2d_bias_grad(dt, g, gout, gb);
}

bool conv2d_relu_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* out, const void* gout,
                          void* gx, void* gw, void* gb) {
  // The native 16-bit kernels read the 16-bit gout as it is: they take the masked tensor.
  if (!is_half(dt) || try_native(dt) || !(gx || gw)) return false;
  widened_backward(dt, g, x, w, gout, gx, gw, gb, out);
  return true;
}

void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw) {
  if (try_native(dt) && onednn::weight_grad(dt, g, x, gout, gw)) return;
  if (is_half(dt)) return widened_backward(dt, g, x, nullptr, gout, nullptr, gw, nullptr);
  if (want_direct_weight_grad(dt, g)) {
    conv_direct_weight_grad(g, static_cast<const float*>(x), static_cast<const float*>(gout), static_cast<float*>(gw));
    return;
  }
  if (dt == DType::f32 && want_onednn(g, ConvPass::WeightGrad) && onednn::weight_grad(dt, g, x, gout, gw)) return;
  NB_DISPATCH_FLOAT(dt, "conv2d", [&] {
    weight_grad_typed<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(gout),
                                static_cast<scalar_t*>(gw));
  });
}

}  // namespace nabla::backend::cpu
