// Pooling kernels over independent [H, W] planes: one thread per output element (forward) or
// per input element (backward, gathering from the windows that cover it, in the CPU's
// window order, so no atomics are needed and the sums round exactly as the CPU's scatter).
// Window rules, tie and NaN handling copy ../cpu/pool.cpp line for line. Values are compared and
// summed as V = opmath_t<T> (T itself for f32 and f64, float for f16 and bf16) and rounded once
// on the store.
#include <cmath>

#include "atomics.cuh"
#include "kernels.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

__device__ __forceinline__ int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
// floor(a / b) for b > 0 and any sign of a.
__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Number of cells of window (h0, w0) that avg_pool2d divides by (as the CPU's avg_divisor).
__device__ __forceinline__ int64_t avg_divisor(const PoolGeom& g, int64_t h0, int64_t w0) {
  int64_t h1 = imin(h0 + g.kh, g.H + g.ph), w1 = imin(w0 + g.kw, g.W + g.pw);
  if (g.count_include_pad) return (h1 - h0) * (w1 - w0);
  int64_t hs = imax(h0, 0), ws = imax(w0, 0);
  return (imin(h1, g.H) - hs) * (imin(w1, g.W) - ws);
}

template <typename T>
__global__ void max_pool_kernel(PoolGeom g, bool two_by_two, const T* __restrict x, T* __restrict out,
                                int64_t* __restrict indices, int64_t total) {
  using V = opmath_t<T>;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.Wo, oh = (o / g.Wo) % g.Ho, p = o / (g.Wo * g.Ho);
    const T* plane = x + p * g.H * g.W;
    if (two_by_two) {
      // First maximum in row-major window order wins ties; the first NaN wins over numbers.
      const int64_t base = 2 * oh * g.W + 2 * ow;
      V best = V(plane[base]);
      int64_t arg = base;
      const int64_t at[3] = {base + 1, base + g.W, base + g.W + 1};
      for (int k = 0; k < 3; ++k) {
        const V v = V(plane[at[k]]);
        if (best == best && (v > best || v != v)) best = v, arg = at[k];
      }
      out[o] = T(best);
      indices[o] = arg;
      continue;
    }
    // General windows, clipped to the plane. As on the CPU, a NaN ends the scan of its row
    // only, so a NaN in a later row of the window takes over (the CPU's `break` is inner).
    const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    V best = -INFINITY;
    int64_t arg = -1;
    for (int64_t h = imax(h0, 0); h < imin(h0 + g.kh, g.H); ++h)
      for (int64_t w = imax(w0, 0); w < imin(w0 + g.kw, g.W); ++w) {
        const V v = V(plane[h * g.W + w]);
        if (v > best || arg < 0 || v != v) {
          best = v;
          arg = h * g.W + w;
          if (v != v) break;
        }
      }
    out[o] = T(best);
    indices[o] = arg < 0 ? 0 : arg;
  }
}

template <typename T>
__global__ void avg_pool_kernel(PoolGeom g, const T* __restrict x, T* __restrict out, int64_t total) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.Wo, oh = (o / g.Wo) % g.Ho, p = o / (g.Wo * g.Ho);
    const T* plane = x + p * g.H * g.W;
    const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    double s = 0;
    for (int64_t h = imax(h0, 0); h < imin(h0 + g.kh, g.H); ++h)
      for (int64_t w = imax(w0, 0); w < imin(w0 + g.kw, g.W); ++w) s += double(plane[h * g.W + w]);
    const int64_t div = avg_divisor(g, h0, w0);
    out[o] = T(div > 0 ? s / double(div) : 0.0);
  }
}

// gx[h, w] = sum over the windows (oh, ow) that contain (h, w) of gout / divisor, added in
// ascending (oh, ow) order from 0 as the CPU's scatter does.
template <typename T>
__global__ void avg_pool_backward_kernel(PoolGeom g, const T* __restrict gout, T* __restrict gx, int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    const T* go = gout + p * g.Ho * g.Wo;
    // Window oh covers h when oh*sh - ph <= h < oh*sh - ph + kh.
    const int64_t oh_lo = imax(0, floor_div(h + g.ph - g.kh, g.sh) + 1), oh_hi = imin(g.Ho - 1, floor_div(h + g.ph, g.sh));
    const int64_t ow_lo = imax(0, floor_div(w + g.pw - g.kw, g.sw) + 1), ow_hi = imin(g.Wo - 1, floor_div(w + g.pw, g.sw));
    using V = opmath_t<T>;
    V acc = V(0);
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const int64_t div = avg_divisor(g, oh * g.sh - g.ph, ow * g.sw - g.pw);
        if (div <= 0) continue;
        acc += V(go[oh * g.Wo + ow]) / V(div);
      }
    gx[i] = T(acc);
  }
}

__device__ __forceinline__ int64_t win_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ __forceinline__ int64_t win_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

template <typename T>
__global__ void adaptive_avg_kernel(int64_t H, int64_t W, int64_t Ho, int64_t Wo, const T* __restrict x,
                                    T* __restrict out, int64_t total) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = o % Wo, i = (o / Wo) % Ho, p = o / (Wo * Ho);
    const int64_t h0 = win_start(i, H, Ho), h1 = win_end(i, H, Ho), w0 = win_start(j, W, Wo), w1 = win_end(j, W, Wo);
    double s = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += double(x[(p * H + h) * W + w]);
    out[o] = T(s / double((h1 - h0) * (w1 - w0)));
  }
}

// Adaptive windows covering row h: i with win_start(i) <= h < win_end(i), i.e.
// floor(h*Ho/H) <= i <= ((h+1)*Ho - 1)/H; ascending (i, j) order as on the CPU.
template <typename T>
__global__ void adaptive_avg_backward_kernel(int64_t H, int64_t W, int64_t Ho, int64_t Wo, const T* __restrict gout,
                                             T* __restrict gx, int64_t total) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = e % W, h = (e / W) % H, p = e / (W * H);
    const T* go = gout + p * Ho * Wo;
    const int64_t i_lo = (h * Ho) / H, i_hi = imin(Ho - 1, ((h + 1) * Ho - 1) / H);
    const int64_t j_lo = (w * Wo) / W, j_hi = imin(Wo - 1, ((w + 1) * Wo - 1) / W);
    using V = opmath_t<T>;
    V acc = V(0);
    for (int64_t i = i_lo; i <= i_hi; ++i) {
      const int64_t h0 = win_start(i, H, Ho), h1 = win_end(i, H, Ho);
      if (h < h0 || h >= h1) continue;  // the bounds above are exact; this only guards them
      for (int64_t j = j_lo; j <= j_hi; ++j) {
        const int64_t w0 = win_start(j, W, Wo), w1 = win_end(j, W, Wo);
        if (w < w0 || w >= w1) continue;
        acc += V(go[i * Wo + j]) / V((h1 - h0) * (w1 - w0));
      }
    }
    gx[e] = T(acc);
  }
}

/// One thread per output cell adds its gradient at the input position the forward chose.
/// Overlapping windows can send two cells to one input: atomics keep that correct.
template <typename T>
__global__ void max_pool_backward_kernel(PoolGeom g, const T* __restrict gout, const int64_t* __restrict idx,
                                         T* __restrict gx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = i / (g.Ho * g.Wo);
    atomic_add(gx + plane * g.H * g.W + idx[i], gout[i]);
  }
}

}  // namespace

void max_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out, int64_t* indices) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "max_pool2d", [&] {
    using T = scalar_t;
    const int64_t total = g.planes * g.Ho * g.Wo;
    if (total == 0) return;
    // The CPU's 2x2 / stride 2 / no padding fast path has its own NaN rule; use it for the
    // same geometries.
    const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                            2 * g.Ho <= g.H && 2 * g.Wo <= g.W;
    max_pool_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        g, two_by_two, static_cast<const T*>(x), static_cast<T*>(out), indices, total);
    check_launch("max_pool2d");
  });
}

void max_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, const int64_t* indices, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "max_pool2d_backward", [&] {
    using T = scalar_t;
    if (g.planes * g.H * g.W == 0) return;
    NB_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(g.planes * g.H * g.W) * sizeof(T), compute_stream()));
    const int64_t total = g.planes * g.Ho * g.Wo;
    if (total == 0) return;
    max_pool_backward_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        g, static_cast<const T*>(gout), indices, static_cast<T*>(gx), total);
    check_launch("max_pool2d_backward");
  });
}

void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "avg_pool2d", [&] {
    using T = scalar_t;
    const int64_t total = g.planes * g.Ho * g.Wo;
    if (total == 0) return;
    avg_pool_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(g, static_cast<const T*>(x),
                                                                             static_cast<T*>(out), total);
    check_launch("avg_pool2d");
  });
}

void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "avg_pool2d", [&] {
    using T = scalar_t;
    const int64_t total = g.planes * g.H * g.W;
    if (total == 0) return;
    avg_pool_backward_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        g, static_cast<const T*>(gout), static_cast<T*>(gx), total);
    check_launch("avg_pool2d_backward");
  });
}

void adaptive_avg_pool2d_forward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                 const void* x, void* out) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "adaptive_avg_pool2d", [&] {
    using T = scalar_t;
    const int64_t total = planes * Ho * Wo;
    if (total == 0) return;
    adaptive_avg_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        H, W, Ho, Wo, static_cast<const T*>(x), static_cast<T*>(out), total);
    check_launch("adaptive_avg_pool2d");
  });
}

void adaptive_avg_pool2d_backward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                  const void* gout, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "adaptive_avg_pool2d", [&] {
    using T = scalar_t;
    const int64_t total = planes * H * W;
    if (total == 0) return;
    adaptive_avg_backward_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        H, W, Ho, Wo, static_cast<const T*>(gout), static_cast<T*>(gx), total);
    check_launch("adaptive_avg_pool2d_backward");
  });
}

}  // namespace nabla::backend::cuda
