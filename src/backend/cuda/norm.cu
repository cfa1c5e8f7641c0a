// Normalization kernels: per-channel moments (batch norm), the per-channel affine map that
// applies them, and row-wise layer norm. Statistics accumulate in f64 with the CPU's two-pass
// formulas (../cpu/norm.cpp); only the order of the parallel sums differs from the CPU.
#include <vector>

#include "index_walk.h"
#include "kernels.h"
#include "memory.h"
#include "runtime.h"
#include "scratch.h"
#include "strict_math.cuh"

namespace nabla::backend::cuda {
namespace {

template <typename F>
void dispatch_float(DType dt, const char* op, F&& f) {
  if (dt == DType::f32) {
    f(float{});
  } else if (dt == DType::f64) {
    f(double{});
  } else {
    fail("[", op, "] expected a floating dtype (f32 or f64), got ", dt);
  }
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double warp_part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) warp_part[warp] = v;
  __syncthreads();
  double s = 0;
  if (warp == 0) {
    s = lane < int(blockDim.x / 32) ? warp_part[lane] : 0.0;
    s = warp_sum(s);
  }
  __syncthreads();  // warp_part may be reused by a following call
  return s;
}

// Channel moments run as `splits` blocks per channel, block b = c * splits + k owning the
// k-th slice of the channel's N*S elements (element j is x[(j / S * C + c) * S + j % S]).
struct MomentsGeom {
  int64_t C, S, M, splits, chunk;  // M = N*S elements per channel, chunk = slice length
};

// Enough blocks to fill the GPU (about 1024 in all) but no slice shorter than 2048 elements.
MomentsGeom moments_geom(int64_t N, int64_t C, int64_t S) {
  const int64_t M = N * S;
  MomentsGeom g{C, S, M, 1, M};
  const int64_t by_size = (M + 2047) / 2048, by_grid = 1024 / C > 1 ? 1024 / C : 1;
  g.splits = by_size < by_grid ? by_size : by_grid;
  g.chunk = (M + g.splits - 1) / g.splits;
  return g;
}

// Channel c's total of per-slice partials (part[c * splits + k]), added in slice order: every
// finishing kernel below forms its sums this one way, so the mean that channel_sq_dev_kernel
// uses is bit for bit the one channel_finish_kernel writes.
__device__ __forceinline__ double slice_total(const double* __restrict part, int64_t c, int64_t splits) {
  double s = 0;
  for (int64_t k = 0; k < splits; ++k) s += part[c * splits + k];
  return s;
}

template <typename T>
__global__ void channel_sum_kernel(MomentsGeom g, const T* __restrict x, double* __restrict part) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  const int64_t lo = k * g.chunk, hi = lo + g.chunk < g.M ? lo + g.chunk : g.M;
  double s = 0;
  SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) s += double(x[w.offset()]);
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// Second pass: sum of (x - mean)^2, with the mean formed from the first pass's partials in a
// fixed order (the host forms the same mean from the same partials).
template <typename T>
__global__ void channel_sq_dev_kernel(MomentsGeom g, const T* __restrict x, const double* __restrict sum_part,
                                      double* __restrict sq_part, double count) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  __shared__ double mean_s;
  if (threadIdx.x == 0) mean_s = slice_total(sum_part, c, g.splits) / count;
  __syncthreads();
  const double m = mean_s;
  const int64_t lo = k * g.chunk, hi = lo + g.chunk < g.M ? lo + g.chunk : g.M;
  double ss = 0;
  SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) {
    const double d = double(x[w.offset()]) - m;
    ss = strict::add(ss, strict::mul(d, d));
  }
  ss = block_sum(ss);
  if (threadIdx.x == 0) sq_part[blockIdx.x] = ss;
}

template <typename T>
__global__ void channel_affine_kernel(int64_t C, int64_t S, int64_t total, const T* __restrict x,
                                      const double* __restrict scale, const double* __restrict shift,
                                      T* __restrict y) {
  const int64_t start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  ChannelWalk w(start, step, S, C);
  for (int64_t e = start; e < total; e += step, w.advance()) {
    const int64_t c = w.c;
    // y = x * a + s in T, rounded twice as on the CPU (no fused multiply-add).
    y[e] = strict::add(strict::mul(x[e], T(scale[c])), T(shift[c]));
  }
}

// One thread per channel adds its slices' partial sums (slice_total) into the f64 device outputs.
__global__ void channel_finish_kernel(int64_t C, int64_t splits, const double* __restrict sum_part,
                                      const double* __restrict sq_part, double count, double* __restrict mean,
                                      double* __restrict var) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    mean[c] = slice_total(sum_part, c, splits) / count;
    var[c] = slice_total(sq_part, c, splits) / count;
  }
}

template <typename P, typename R>
__global__ void batch_norm_coef_kernel(BatchNormCoef a) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < a.C; c += int64_t(gridDim.x) * blockDim.x)
    batch_norm_coef_channel<P, R>(a, c);
}

// The per-channel total of channel_sum_kernel's partials, rounded to T.
template <typename T>
__global__ void channel_total_kernel(int64_t C, int64_t splits, const double* __restrict part, T* __restrict out) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x)
    out[c] = T(slice_total(part, c, splits));
}

// batch_norm backward, pass 1: per block, the slice's sum(g) and sum(g * (x - mean)).
template <typename T>
__global__ void bn_backward_sum_kernel(MomentsGeom g, const T* __restrict x, const T* __restrict gout,
                                       const double* __restrict mean, double* __restrict sg_part,
                                       double* __restrict sgc_part) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  const int64_t lo = k * g.chunk, hi = lo + g.chunk < g.M ? lo + g.chunk : g.M;
  const double m = mean[c];
  double sg = 0, sgc = 0;
  SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) {
    const int64_t o = w.offset();
    const double gv = double(gout[o]);
    sg += gv;
    sgc = strict::add(sgc, strict::mul(gv, double(x[o]) - m));
  }
  sg = block_sum(sg);
  sgc = block_sum(sgc);
  if (threadIdx.x == 0) {
    sg_part[blockIdx.x] = sg;
    sgc_part[blockIdx.x] = sgc;
  }
}

// Pass 2, one thread per channel: the slices' partials in slice order, the parameter gradients
// and the per-channel constants of gx = a * g + b * (x - mean) + k (the CPU's formula).
template <typename T>
__global__ void bn_backward_finish_kernel(int64_t C, int64_t splits, const double* __restrict sg_part,
                                          const double* __restrict sgc_part, const double* __restrict rstd,
                                          const T* __restrict weight, double count, T* __restrict gw,
                                          T* __restrict gb, double* __restrict coef) {
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    const double sg = slice_total(sg_part, c, splits), sgc = slice_total(sgc_part, c, splits);
    const double rs = rstd[c], sgx = strict::mul(sgc, rs);
    if (gb) gb[c] = T(sg);
    if (gw) gw[c] = T(sgx);
    const double a = strict::mul(rs, weight ? double(weight[c]) : 1.0);
    coef[c] = a;
    coef[C + c] = strict::div(strict::mul(strict::mul(-a, rs), sgx), count);
    coef[2 * C + c] = strict::div(strict::mul(-a, sg), count);
  }
}

// Pass 3: the input gradient, element-wise.
template <typename T>
__global__ void bn_backward_input_kernel(int64_t C, int64_t S, int64_t total, const T* __restrict x,
                                         const T* __restrict gout, const double* __restrict mean,
                                         const double* __restrict coef, T* __restrict gx) {
  const int64_t start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  ChannelWalk w(start, step, S, C);
  for (int64_t e = start; e < total; e += step, w.advance()) {
    const int64_t c = w.c;
    const T a = T(coef[c]), b = T(coef[C + c]), k = T(coef[2 * C + c]), m = T(mean[c]);
    gx[e] = strict::add(strict::add(strict::mul(a, gout[e]), strict::mul(b, strict::sub(x[e], m))), k);
  }
}

// One warp per row: mean, then the sum of squared deviations (both in f64), then y.
template <typename T>
__global__ void layer_norm_kernel(int64_t rows, int64_t D, const T* __restrict x, const T* __restrict w,
                                  const T* __restrict b, double eps, T* __restrict y, T* __restrict mean,
                                  T* __restrict rstd) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const T* p = x + r * D;
    double s = 0;
    for (int64_t i = lane; i < D; i += 32) s += double(p[i]);
    s = __shfl_sync(0xffffffffu, warp_sum(s), 0);
    const double m = D > 0 ? s / double(D) : 0.0;
    double ss = 0;
    for (int64_t i = lane; i < D; i += 32) {
      const double d = double(p[i]) - m;
      ss = strict::add(ss, strict::mul(d, d));
    }
    ss = __shfl_sync(0xffffffffu, warp_sum(ss), 0);
    const double rs = strict::div(1.0, strict::sqrt(strict::add(D > 0 ? ss / double(D) : 0.0, eps)));
    if (lane == 0) {
      mean[r] = T(m);
      rstd[r] = T(rs);
    }
    T* q = y + r * D;
    for (int64_t i = lane; i < D; i += 32) {
      T v = T((double(p[i]) - m) * rs);
      if (w) v = strict::mul(v, w[i]);
      if (b) v = strict::add(v, b[i]);
      q[i] = v;
    }
  }
}

}  // namespace

void channel_moments(DType dt, int64_t N, int64_t C, int64_t S, const void* x, double* mean, double* var) {
  dispatch_float(dt, "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    if (C <= 0) return;
    const int64_t M = N * S;
    if (M <= 0) {  // as the CPU: an empty channel has mean 0 and variance 0
      NB_CUDA_CHECK(cudaMemsetAsync(mean, 0, size_t(C) * sizeof(double), compute_stream()));
      NB_CUDA_CHECK(cudaMemsetAsync(var, 0, size_t(C) * sizeof(double), compute_stream()));
      return;
    }
    const MomentsGeom g = moments_geom(N, C, S);
    const int64_t blocks = C * g.splits;
    thread_local GrowBuffer partials;
    double* sum_part = static_cast<double*>(partials.get(size_t(2 * blocks) * sizeof(double)));
    double* sq_part = sum_part + blocks;
    const T* xt = static_cast<const T*>(x);
    const double count = double(M);
    channel_sum_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(g, xt, sum_part);
    check_launch("batch_norm");
    channel_sq_dev_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(g, xt, sum_part, sq_part, count);
    check_launch("batch_norm");
    // Finished on the device: no host round trip, so batch norm never stalls the stream.
    channel_finish_kernel<<<grid_for(C), kThreads, 0, compute_stream()>>>(C, g.splits, sum_part, sq_part, count,
                                                                           mean, var);
    check_launch("batch_norm");
  });
}

void batch_norm_coefficients(const BatchNormCoef& a) {
  if (a.C <= 0) return;
  dispatch_coef_types(a, [&](auto p, auto r) {
    batch_norm_coef_kernel<decltype(p), decltype(r)><<<grid_for(a.C), kThreads, 0, compute_stream()>>>(a);
    check_launch("batch_norm");
  });
}

// The convolution bias gradient is the per-channel sum of gout over the batch and positions:
// channel_sum_kernel's slices keep the whole GPU busy (the former one-block-per-channel kernel
// left most SMs idle and took 1.1 of the 2.6 ms of a batch-512 CNN step on an H100).
void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* gout, void* gb) {
  dispatch_float(dt, "conv2d_bias_grad", [&](auto zero) {
    using T = decltype(zero);
    const int64_t C = g.O, S = g.Ho * g.Wo;
    if (C <= 0) return;
    if (g.N * S <= 0) {
      NB_CUDA_CHECK(cudaMemsetAsync(gb, 0, size_t(C) * sizeof(T), compute_stream()));
      return;
    }
    const MomentsGeom mg = moments_geom(g.N, C, S);
    const int64_t blocks = C * mg.splits;
    thread_local GrowBuffer partials;
    double* part = static_cast<double*>(partials.get(size_t(blocks) * sizeof(double)));
    channel_sum_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(mg, static_cast<const T*>(gout), part);
    check_launch("conv2d_bias_grad");
    channel_total_kernel<T><<<grid_for(C), kThreads, 0, compute_stream()>>>(C, mg.splits, part, static_cast<T*>(gb));
    check_launch("conv2d_bias_grad");
  });
}

void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* scale,
                    const double* shift, void* y) {
  dispatch_float(dt, "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const int64_t total = N * C * S;
    if (total <= 0) return;
    channel_affine_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        C, S, total, static_cast<const T*>(x), scale, shift, static_cast<T*>(y));
    check_launch("batch_norm");
  });
}

void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* gout,
                         const double* mean, const double* rstd, const void* weight, void* gx, void* gw,
                         void* gb) {
  dispatch_float(dt, "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const int64_t M = N * S;
    if (C <= 0 || M <= 0) return;  // training batch norm rejects these before the forward
    const MomentsGeom g = moments_geom(N, C, S);
    const int64_t blocks = C * g.splits;
    thread_local GrowBuffer scratch;
    double* sg_part = static_cast<double*>(scratch.get(size_t(2 * blocks + 3 * C) * sizeof(double)));
    double* sgc_part = sg_part + blocks;
    double* coef = sgc_part + blocks;
    const T* xt = static_cast<const T*>(x);
    const T* gt = static_cast<const T*>(gout);
    bn_backward_sum_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(g, xt, gt, mean, sg_part, sgc_part);
    check_launch("batch_norm backward");
    bn_backward_finish_kernel<T><<<grid_for(C), kThreads, 0, compute_stream()>>>(
        C, g.splits, sg_part, sgc_part, rstd, static_cast<const T*>(weight), double(M), static_cast<T*>(gw),
        static_cast<T*>(gb), coef);
    check_launch("batch_norm backward");
    if (gx == nullptr) return;
    const int64_t total = N * C * S;
    bn_backward_input_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(C, S, total, xt, gt, mean, coef,
                                                                                     static_cast<T*>(gx));
    check_launch("batch_norm backward");
  });
}

void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* x, const void* w, const void* b, double eps,
                        void* y, void* mean, void* rstd) {
  dispatch_float(dt, "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    if (rows <= 0) return;
    constexpr int64_t kWarpsPerBlock = kThreads / 32;
    const int64_t want = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    const unsigned blocks = unsigned(want < 65535 * 8 ? want : 65535 * 8);
    layer_norm_kernel<T><<<blocks, kThreads, 0, compute_stream()>>>(
        rows, D, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(b), eps,
        static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(rstd));
    check_launch("layer_norm");
  });
}

}  // namespace nabla::backend::cuda
