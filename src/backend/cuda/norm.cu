// Normalization kernels: batch norm's statistics and coefficients, the per-channel affine map
// that applies them and the backward; row-wise layer norm. Statistics accumulate in f64. The
// element-wise maps compute in V = opmath_t<T> (T itself for f32 and f64, float for f16 and
// bf16, PyTorch's opmath) and round once on the store; batch norm's 16-bit input may come with
// f32 weight, bias and running statistics (PyTorch's mixed case: ops/norm.cpp passes them as f32,
// and the output keeps the input's dtype).
//
// Per-channel sums run as slices of each channel in separate blocks (to fill the GPU), and the
// block of a channel that finishes last adds the slices' partials, in slice order (so results do
// not depend on timing), and writes the channel's results: one launch where a second "finish"
// kernel used to follow every reduction. Batch norm's forward is this kernel plus the affine
// map, its backward this kernel plus the input gradient, as in PyTorch (Nsight Compute counted
// 8 launches per layer, forward and backward, against PyTorch's 2 before; 20 layers per
// ResNet-18 step).
#include <vector>

#include "index_walk.h"
#include "kernels.h"
#include "memory.h"
#include "runtime.h"
#include "scratch.h"
#include "strict_math.cuh"

namespace nabla::backend::cuda {
namespace {

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

// Channel c's total of per-slice partials (part[c * splits + k]), valid in thread 0; called by
// every thread of the block. Each thread adds a fixed set of slices and block_sum adds those in a
// fixed tree, so the result does not depend on which block finished last. The partials come
// from other blocks of the same launch: __ldcg reads them from L2, past this SM's L1.
__device__ double slice_total(const double* part, int64_t c, int64_t splits) {
  double s = 0;
  for (int64_t k = threadIdx.x; k < splits; k += blockDim.x) s += __ldcg(part + c * splits + k);
  return block_sum(s);
}

// Called by every thread of a block after its thread 0 wrote the block's partials: true in the
// block of channel c's `splits` slice blocks that arrives last, which then finishes the channel
// with all its threads (so callers test this before anything lets a thread leave: the finish's
// block_sum calls would otherwise wait forever). arrivals[c] counts the blocks that are done;
// atomicInc wraps it back to 0 on the last arrival, ready for the next launch (the caller
// allocates it zeroed: GrowBuffer::get_zeroed).
__device__ bool last_slice_of_channel(unsigned* arrivals, int64_t c, int64_t splits) {
  if (splits == 1) return true;
  __shared__ bool last;
  if (threadIdx.x == 0) {
    __threadfence();  // this block's partials are visible device-wide before it counts itself
    last = atomicInc(arrivals + c, unsigned(splits - 1)) == unsigned(splits - 1);
    if (last) __threadfence();  // the others' partials are read after their counts
  }
  __syncthreads();
  return last;
}

// Thread 0 stores the block's partials (block_sum results, valid in thread 0): a at
// part[blockIdx.x] and, when `two`, b at part[gridDim.x + blockIdx.x]. Then, in every thread,
// whether this block is its channel's last (last_slice_of_channel).
__device__ bool store_partials_and_arrive(double* part, double a, double b, bool two, unsigned* arrivals, int64_t c,
                                          int64_t splits) {
  if (threadIdx.x == 0) {
    part[blockIdx.x] = a;
    if (two) part[gridDim.x + blockIdx.x] = b;
  }
  return last_slice_of_channel(arrivals, c, splits);
}

// Batch norm's statistics in one launch: block (c, k) sums its slice (less the channel's first
// value), then the squared deviations from the slice's own mean (a second read of the slice:
// from L2 when x fits there, as the two kernels this replaced read it); the channel's last block
// merges the slices (slice_merge_term, whose formula the CPU tests check) and writes the mean,
// variance, coefficients and running averages (batch_norm_coef_channel, the CPU's).
template <typename T, typename P, typename R>
__global__ void batch_norm_stats_kernel(MomentsGeom g, BatchNormStats a, double* __restrict part,
                                        unsigned* __restrict arrivals) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  const int64_t lo = g.begin(k), hi = g.end(k);
  const T* __restrict x = static_cast<const T*>(a.x);
  // The channel's first value (see slice_merge_term), unless it is inf or NaN: x - inf would turn
  // a mean the CPU reports as +-inf into NaN. Every block of the channel makes the same choice.
  const double first = double(x[c * g.S]);
  const double shift = isfinite(first) ? first : 0.0;
  double s = 0;
  {
    SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) s += double(x[w.offset()]) - shift;
  }
  s = block_sum(s);
  __shared__ double slice_mean;
  if (threadIdx.x == 0) slice_mean = hi > lo ? s / double(hi - lo) : 0.0;
  __syncthreads();
  const double m = slice_mean;
  double q = 0;
  {
    SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) {
      const double d = (double(x[w.offset()]) - shift) - m;
      q = strict::add(q, strict::mul(d, d));
    }
  }
  q = block_sum(q);
  if (!store_partials_and_arrive(part, s, q, true, arrivals, c, g.splits)) return;
  const double* sum_part = part;
  const double* sq_part = part + gridDim.x;
  const double count = double(g.M);
  __shared__ double channel_mean;  // of x - shift
  const double total = slice_total(sum_part, c, g.splits);
  if (threadIdx.x == 0) channel_mean = total / count;
  __syncthreads();
  double terms = 0;
  for (int64_t kk = threadIdx.x; kk < g.splits; kk += blockDim.x) {
    const int64_t l = g.begin(kk), h = g.end(kk);
    const int64_t i = c * g.splits + kk;
    terms += slice_merge_term(double(h - l), __ldcg(sum_part + i), __ldcg(sq_part + i), channel_mean);
  }
  terms = block_sum(terms);
  if (threadIdx.x != 0) return;
  a.mean[c] = shift + channel_mean;
  a.var[c] = terms / count;
  batch_norm_coef_channel<P, R>(a, c);
}

template <typename T>
__global__ void channel_affine_kernel(int64_t C, int64_t S, int64_t total, const T* __restrict x,
                                      const double* __restrict scale, const double* __restrict shift,
                                      T* __restrict y) {
  const int64_t start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  ChannelWalk w(start, step, S, C);
  for (int64_t e = start; e < total; e += step, w.advance()) {
    const int64_t c = w.c;
    using V = opmath_t<T>;
    // y = x * a + s in V, rounded twice as on the CPU (no fused multiply-add).
    y[e] = T(strict::add(strict::mul(V(x[e]), V(scale[c])), V(shift[c])));
  }
}

template <typename T>
__global__ void norm_input_grad_kernel(int64_t C, int64_t S, int64_t total, const T* __restrict g,
                                       const T* __restrict x, const double* __restrict a, const double* __restrict m,
                                       const double* __restrict b, const double* __restrict k, T* __restrict y) {
  const int64_t start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  ChannelWalk w(start, step, S, C);
  for (int64_t e = start; e < total; e += step, w.advance()) {
    const int64_t c = w.c;
    using V = opmath_t<T>;
    // a * g + b * (x - m) + k in V, each operation rounded as on the CPU (no fused multiply-add).
    const V t1 = strict::mul(V(a[c]), V(g[e])), t2 = strict::mul(V(b[c]), strict::sub(V(x[e]), V(m[c])));
    y[e] = T(strict::add(strict::add(t1, t2), V(k[c])));
  }
}

// The per-channel sum of x [N, C, S], rounded to T: the slices' partials, totalled by the
// channel's last block.
template <typename T>
__global__ void channel_total_kernel(MomentsGeom g, const T* __restrict x, double* __restrict part,
                                     unsigned* __restrict arrivals, T* __restrict out) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  const int64_t lo = g.begin(k), hi = g.end(k);
  double s = 0;
  SliceWalk w(lo + threadIdx.x, blockDim.x, g.S, g.C, c);
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x, w.advance()) s += double(x[w.offset()]);
  s = block_sum(s);
  if (!store_partials_and_arrive(part, s, 0.0, false, arrivals, c, g.splits)) return;
  const double total = slice_total(part, c, g.splits);
  if (threadIdx.x == 0) out[c] = T(total);
}

// Batch norm backward, pass 1: per block, the slice's sum(g) and sum(g * (x - mean)); the
// channel's last block forms the parameter gradients and the per-channel constants of
// gx = a * g + b * (x - mean) + k (the CPU's formula) for pass 2.
// P, the parameters' type, is opmath_t<T>: a 16-bit input's weight and gradients are f32
// (Backend::batch_norm_backward).
template <typename T, typename P = opmath_t<T>>
__global__ void bn_backward_sum_kernel(MomentsGeom g, const T* __restrict x, const T* __restrict gout,
                                       const double* __restrict mean, const double* __restrict rstd,
                                       const P* __restrict weight, double* __restrict part,
                                       unsigned* __restrict arrivals, P* __restrict gw, P* __restrict gb,
                                       double* __restrict coef) {
  const int64_t c = blockIdx.x / g.splits, k = blockIdx.x % g.splits;
  const int64_t lo = g.begin(k), hi = g.end(k);
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
  if (!store_partials_and_arrive(part, sg, sgc, true, arrivals, c, g.splits)) return;
  const double* sg_part = part;
  const double* sgc_part = part + gridDim.x;
  const double tg = slice_total(sg_part, c, g.splits), tgc = slice_total(sgc_part, c, g.splits);
  if (threadIdx.x != 0) return;
  const int64_t C = g.C;
  const double count = double(g.M);
  const double rs = rstd[c], sgx = strict::mul(tgc, rs);
  if (gb) gb[c] = P(tg);
  if (gw) gw[c] = P(sgx);
  const double a = strict::mul(rs, weight ? double(weight[c]) : 1.0);
  coef[c] = a;
  coef[C + c] = strict::div(strict::mul(strict::mul(-a, rs), sgx), count);
  coef[2 * C + c] = strict::div(strict::mul(-a, tg), count);
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
    using V = opmath_t<T>;
    const V a = V(coef[c]), b = V(coef[C + c]), k = V(coef[2 * C + c]), m = V(mean[c]);
    gx[e] = T(strict::add(strict::add(strict::mul(a, V(gout[e])), strict::mul(b, strict::sub(V(x[e]), m))), k));
  }
}

// One warp per row: mean, then the sum of squared deviations (both in f64), then y.
// P is opmath_t<T>: a 16-bit input's weight, bias, mean and rstd are f32
// (Backend::layer_norm_forward).
template <typename T, typename P = opmath_t<T>>
__global__ void layer_norm_kernel(int64_t rows, int64_t D, const T* __restrict x, const P* __restrict w,
                                  const P* __restrict b, double eps, T* __restrict y, P* __restrict mean,
                                  P* __restrict rstd) {
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
      mean[r] = P(m);
      rstd[r] = P(rs);
    }
    T* q = y + r * D;
    using V = opmath_t<T>;
    for (int64_t i = lane; i < D; i += 32) {
      V v = V((double(p[i]) - m) * rs);
      if (w) v = strict::mul(v, V(w[i]));
      if (b) v = strict::add(v, V(b[i]));
      q[i] = T(v);
    }
  }
}

// Partials (per_block doubles per block) and zeroed arrival counters (one per channel) for the
// reductions above; one pair of buffers per purpose, as GrowBuffer asks.
struct SliceScratch {
  double* part;
  unsigned* arrivals;
};
SliceScratch slice_scratch(GrowBuffer& part, GrowBuffer& arrivals, int64_t blocks, int64_t per_block, int64_t C) {
  return {static_cast<double*>(part.get(size_t(per_block * blocks) * sizeof(double))),
          static_cast<unsigned*>(arrivals.get_zeroed(size_t(C) * sizeof(unsigned)))};
}

}  // namespace

void batch_norm_stats(const BatchNormStats& a) {
  // ops/norm.cpp checks N * S > 1 before it calls (training batch norm needs two values).
  if (a.C <= 0 || a.N * a.S <= 0) return;
  thread_local GrowBuffer part, arrivals;
  NB_DISPATCH_FLOAT_AND_HALF(a.dtype, "batch_norm", [&] {
    dispatch_coef_types(a, [&](auto p, auto r) {
      using T = scalar_t;
      const MomentsGeom g = moments_geom(a.N, a.C, a.S);
      const int64_t blocks = a.C * g.splits;
      const SliceScratch sc = slice_scratch(part, arrivals, blocks, 2, a.C);
      // Finished on the device: no host round trip, so batch norm never stalls the stream.
      batch_norm_stats_kernel<T, decltype(p), decltype(r)>
          <<<unsigned(blocks), kThreads, 0, compute_stream()>>>(g, a, sc.part, sc.arrivals);
      check_launch("batch_norm");
    });
  });
}

// The convolution bias gradient is the per-channel sum of gout over the batch and positions:
// slices of each channel keep the whole GPU busy (the former one-block-per-channel kernel left
// most SMs idle and took 1.1 of the 2.6 ms of a batch-512 CNN step on an H100).
void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* gout, void* gb) {
  thread_local GrowBuffer part, arrivals;
  NB_DISPATCH_FLOAT_AND_HALF(dt, "conv2d_bias_grad", [&] {
    using T = scalar_t;
    const int64_t C = g.O, S = g.Ho * g.Wo;
    if (C <= 0) return;
    if (g.N * S <= 0) {
      NB_CUDA_CHECK(cudaMemsetAsync(gb, 0, size_t(C) * sizeof(T), compute_stream()));
      return;
    }
    const MomentsGeom mg = moments_geom(g.N, C, S);
    const int64_t blocks = C * mg.splits;
    const SliceScratch sc = slice_scratch(part, arrivals, blocks, 1, C);
    channel_total_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(
        mg, static_cast<const T*>(gout), sc.part, sc.arrivals, static_cast<T*>(gb));
    check_launch("conv2d_bias_grad");
  });
}

void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* scale,
                    const double* shift, void* y) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "batch_norm", [&] {
    using T = scalar_t;
    const int64_t total = N * C * S;
    if (total <= 0) return;
    channel_affine_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        C, S, total, static_cast<const T*>(x), scale, shift, static_cast<T*>(y));
    check_launch("batch_norm");
  });
}

void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* g, const void* x, const double* a,
                     const double* m, const double* b, const double* k, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "group_norm", [&] {
    using T = scalar_t;
    const int64_t total = N * C * S;
    if (total <= 0) return;
    norm_input_grad_kernel<T><<<grid_for(total), kThreads, 0, compute_stream()>>>(
        C, S, total, static_cast<const T*>(g), static_cast<const T*>(x), a, m, b, k, static_cast<T*>(gx));
    check_launch("group_norm");
  });
}

void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* gout,
                         const double* mean, const double* rstd, const void* weight, void* gx, void* gw,
                         void* gb) {
  thread_local GrowBuffer part, arrivals, coef_buf;
  NB_DISPATCH_FLOAT_AND_HALF(dt, "batch_norm", [&] {
    using T = scalar_t;
    const int64_t M = N * S;
    if (C <= 0 || M <= 0) return;  // training batch norm rejects these before the forward
    const MomentsGeom g = moments_geom(N, C, S);
    const int64_t blocks = C * g.splits;
    const SliceScratch sc = slice_scratch(part, arrivals, blocks, 2, C);
    double* coef = static_cast<double*>(coef_buf.get(size_t(3 * C) * sizeof(double)));
    const T* xt = static_cast<const T*>(x);
    const T* gt = static_cast<const T*>(gout);
    bn_backward_sum_kernel<T><<<unsigned(blocks), kThreads, 0, compute_stream()>>>(
        g, xt, gt, mean, rstd, static_cast<const opmath_t<T>*>(weight), sc.part, sc.arrivals,
        static_cast<opmath_t<T>*>(gw), static_cast<opmath_t<T>*>(gb), coef);
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
  NB_DISPATCH_FLOAT_AND_HALF(dt, "layer_norm", [&] {
    using T = scalar_t;
    if (rows <= 0) return;
    constexpr int64_t kWarpsPerBlock = kThreads / 32;
    const int64_t want = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    const unsigned blocks = unsigned(want < 65535 * 8 ? want : 65535 * 8);
    layer_norm_kernel<T><<<blocks, kThreads, 0, compute_stream()>>>(
        rows, D, static_cast<const T*>(x), static_cast<const opmath_t<T>*>(w), static_cast<const opmath_t<T>*>(b), eps,
        static_cast<T*>(y), static_cast<opmath_t<T>*>(mean), static_cast<opmath_t<T>*>(rstd));
    check_launch("layer_norm");
  });
}

}  // namespace nabla::backend::cuda
