// Fused optimizer updates and multi-tensor helpers: every parameter of a call in one launch.
// The host uploads a table of the call's tensors (OptimSlot or pointer/size pairs) followed by
// each tensor's first chunk number; block b finds its tensor by binary search in that prefix
// and updates chunk b - begin of it, so tensors of any size mix in one grid.
//
// The element math copies ../cpu/optim_update_impl.h operation by operation (same order of
// operations, constants formed in double and converted to the parameter dtype as there). That
// header's functions are host-only templates driven by a SIMD loop, so they cannot be called
// here; the strict R<T> arithmetic (strict_math.cuh) keeps nvcc from fusing a*b + c into one
// FMA, so the CUDA results equal the CPU's bit for bit. Keep the two in step. Every kernel takes
// f16 and bf16 too: the fused updates read each 16-bit element into float, run the f32 math and
// round each written value once (the CPU widens blocks to f32 and narrows them back, which gives
// the same bits); the multi-tensor helpers (norm, scale, clamp: gradient clipping and unscaling)
// compute in float (the norm's sum in f64, as for f32) and round once.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "memory.h"
#include "runtime.h"
#include "scratch.h"
#include "strict_math.cuh"

namespace nabla::backend::cuda {
namespace {

using strict::R;

constexpr int64_t kChunk = int64_t(kThreads) * 16;  // elements per block

// The tensor whose chunks contain block b: the last i with begin[i] <= b (empty tensors have
// begin[i] == begin[i + 1], so the search skips them). Computed by thread 0, shared.
__device__ int64_t locate(const int64_t* __restrict begin, int64_t count) {
  __shared__ int64_t found;
  if (threadIdx.x == 0) {
    const int64_t b = blockIdx.x;
    int64_t lo = 0, hi = count - 1;
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (begin[mid] <= b) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    found = lo;
  }
  __syncthreads();
  return found;
}

// Host-side table: the entries, then count + 1 chunk prefixes, uploaded in one copy.
template <typename Entry>
struct Table {
  const Entry* entries;
  const int64_t* begin;
  int64_t blocks;
};

template <typename Entry, typename SizeOf>
Table<Entry> upload_table(const Entry* host_entries, int64_t count, SizeOf size_of) {
  thread_local std::vector<unsigned char> staged;
  thread_local GrowBuffer table;
  const size_t entry_bytes = size_t(count) * sizeof(Entry);
  staged.resize(entry_bytes + size_t(count + 1) * sizeof(int64_t));
  std::memcpy(staged.data(), host_entries, entry_bytes);
  int64_t chunks = 0;
  for (int64_t i = 0; i <= count; ++i) {
    std::memcpy(staged.data() + entry_bytes + size_t(i) * sizeof(int64_t), &chunks, sizeof(int64_t));
    if (i < count) chunks += (size_of(i) + kChunk - 1) / kChunk;
  }
  Table<Entry> t{nullptr, nullptr, chunks};
  if (chunks == 0) return t;
  auto* d = static_cast<unsigned char*>(table.upload(staged.data(), staged.size()));
  t.entries = reinterpret_cast<const Entry*>(d);
  t.begin = reinterpret_cast<const int64_t*>(d + entry_bytes);
  return t;
}

// Per-call constants in the parameter dtype, formed exactly as the CPU forms them.
template <typename T>
struct Consts {
  T sign, wd, lr, mu, damp, alpha, one_m_alpha, eps, decay, w1, b2, w2, eta_up, eta_down, ss_lo, ss_hi;
  bool momentum_nz, momentum_pos, nesterov, plain, centered, amsgrad;
};

template <typename T>
Consts<T> make_consts(const OptimHyper& h) {
  Consts<T> k;
  k.sign = h.maximize ? T(-1) : T(1);
  k.wd = T(h.weight_decay);
  k.lr = T(h.lr);
  k.mu = T(h.momentum);
  k.damp = T(1 - h.dampening);
  k.alpha = T(h.alpha);
  k.one_m_alpha = T(1 - h.alpha);
  k.eps = T(h.eps);
  k.decay = T(h.decay);
  k.w1 = T(1 - h.beta1);
  k.b2 = T(h.beta2);
  k.w2 = T(1 - h.beta2);
  k.eta_up = T(h.etaplus);
  k.eta_down = T(h.etaminus);
  k.ss_lo = T(h.step_size_min);
  k.ss_hi = T(h.step_size_max);
  k.momentum_nz = h.momentum != 0;  // SGD tests momentum != 0, RMSprop momentum > 0
  k.momentum_pos = h.momentum > 0;
  k.nesterov = h.nesterov;
  k.plain = h.weight_decay == 0 && !h.maximize;
  k.centered = h.centered;
  k.amsgrad = h.amsgrad;
  return k;
}

// One element of one parameter; P, G, S0..S2 are the slot's arrays.
// T is the storage type, C = opmath_t<T> the compute type: a 16-bit element is widened to float
// when read (L) and rounded once when written (W), as the CPU's blocks widened to f32.
template <typename T, OptimAlgo A>
__device__ __forceinline__ void update_one(const OptimSlot& s, const Consts<opmath_t<T>>& k, int64_t i) {
  using C = opmath_t<T>;
  T* __restrict P = static_cast<T*>(s.param);
  const T* __restrict G = static_cast<const T*>(s.grad);
  T* __restrict S0 = static_cast<T*>(s.state[0]);
  T* __restrict S1 = static_cast<T*>(s.state[1]);
  T* __restrict S2 = static_cast<T*>(s.state[2]);
  using V = R<C>;
  auto L = [](const T* a, int64_t j) { return V(C(a[j])); };
  auto W = [](T* a, int64_t j, C x) { a[j] = T(x); };
  if constexpr (A == OptimAlgo::SGD) {
    // sgd_range<Momentum, First, Nesterov, Plain>: Plain only where the CPU dispatch uses it.
    const bool first = k.momentum_nz && s.c[0] != 0;
    const bool plain = k.plain && !(k.momentum_nz && (first || k.nesterov));
    const V p = L(P, i);
    V g = L(G, i);
    if (!plain) g = V(k.sign) * g + V(k.wd) * p;
    if (k.momentum_nz) {
      V buf = g;
      if (!first) buf = V(k.mu) * L(S0, i) + V(k.damp) * g;
      W(S0, i, buf.v);
      g = k.nesterov ? g + V(k.mu) * buf : buf;
    }
    W(P, i, (p - V(k.lr) * g).v);
  } else if constexpr (A == OptimAlgo::Adagrad) {
    const V clr = C(s.c[0]);
    const V p = L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V sum = L(S0, i) + g * g;
    W(S0, i, sum.v);
    W(P, i, (p - clr * (g / (vsqrt(sum) + V(k.eps)))).v);
  } else if constexpr (A == OptimAlgo::RMSprop) {
    const V p = L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V sq = V(k.alpha) * L(S0, i) + V(k.one_m_alpha) * (g * g);
    W(S0, i, sq.v);
    V avg = C(0);
    if (k.centered) {
      const V ga0 = L(S2, i);
      const V ga = ga0 + V(k.one_m_alpha) * (g - ga0);  // lerp(grad_avg, g, 1 - alpha)
      W(S2, i, ga.v);
      avg = vsqrt(sq - ga * ga) + V(k.eps);
    } else {
      avg = vsqrt(sq) + V(k.eps);
    }
    if (k.momentum_pos) {
      const V buf = V(k.mu) * L(S1, i) + g / avg;
      W(S1, i, buf.v);
      W(P, i, (p - V(k.lr) * buf).v);
    } else {
      W(P, i, (p - V(k.lr) * (g / avg)).v);
    }
  } else if constexpr (A == OptimAlgo::Adadelta) {
    const V rho = k.alpha, one_m_rho = k.one_m_alpha;
    const V p = L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V sq = rho * L(S0, i) + one_m_rho * (g * g);
    W(S0, i, sq.v);
    const V acc = L(S1, i);
    const V delta = vsqrt(acc + V(k.eps)) / vsqrt(sq + V(k.eps)) * g;
    W(S1, i, (rho * acc + one_m_rho * (delta * delta)).v);
    W(P, i, (p - V(k.lr) * delta).v);
  } else if constexpr (A == OptimAlgo::Adam) {
    const V step_size = C(s.c[0]), bc2_sqrt = C(s.c[1]);
    const V p = V(k.decay) * L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V m0 = L(S0, i);
    const V m = m0 + V(k.w1) * (g - m0);  // lerp(exp_avg, g, 1 - beta1)
    V v = V(k.b2) * L(S1, i) + V(k.w2) * (g * g);
    W(S0, i, m.v);
    W(S1, i, v.v);
    if (k.amsgrad) {
      v = vmax(L(S2, i), v);
      W(S2, i, v.v);
    }
    const V denom = vsqrt(v) / bc2_sqrt + V(k.eps);
    W(P, i, (p - step_size * (m / denom)).v);
  } else if constexpr (A == OptimAlgo::NAdam) {
    const V cg = C(s.c[0]), cm = C(s.c[1]), bc2 = C(s.c[2]);
    const V p = V(k.decay) * L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V m0 = L(S0, i);
    const V m = m0 + V(k.w1) * (g - m0);
    const V v = V(k.b2) * L(S1, i) + V(k.w2) * (g * g);
    W(S0, i, m.v);
    W(S1, i, v.v);
    const V denom = vsqrt(v / bc2) + V(k.eps);
    W(P, i, ((p - cg * (g / denom)) - cm * (m / denom)).v);
  } else if constexpr (A == OptimAlgo::Adamax) {
    const V clr = C(s.c[0]);
    const V p = L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V m0 = L(S0, i);
    const V m = m0 + V(k.w1) * (g - m0);  // lerp(exp_avg, g, 1 - beta1)
    const V abs_g = g.v < C(0) ? V(-g.v) : g;
    const V u = vmax(V(k.b2) * L(S1, i), abs_g + V(k.eps));
    W(S0, i, m.v);
    W(S1, i, u.v);
    W(P, i, (p - clr * (m / u)).v);
  } else if constexpr (A == OptimAlgo::Rprop) {
    // rprop_range: factor from the sign of g·prev, clamp, zero the gradient on a flip, move by sign.
    const C g0 = (V(k.sign) * L(G, i)).v;
    const C prod = (V(g0) * L(S0, i)).v;
    const C f = prod > C(0) ? k.eta_up : (prod < C(0) ? k.eta_down : C(1));
    C ss = (L(S1, i) * V(f)).v;
    ss = ss < k.ss_lo ? k.ss_lo : (ss > k.ss_hi ? k.ss_hi : ss);  // NaN stays NaN
    const C g = prod < C(0) ? C(0) : g0;
    const C dir = g > C(0) ? C(1) : (g < C(0) ? C(-1) : C(0));
    W(S1, i, ss);
    W(S0, i, g);
    W(P, i, (L(P, i) - V(dir) * V(ss)).v);
  } else if constexpr (A == OptimAlgo::ASGD) {
    const V eta = C(s.c[0]), mu = C(s.c[1]), decay = C(s.c[2]);
    const V p0 = L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p0;
    const V p = decay * p0 - eta * g;
    W(P, i, p.v);
    if (s.c[1] != 1) {
      const V ax = L(S0, i);
      W(S0, i, (ax + (p - ax) * mu).v);
    } else {
      W(S0, i, p.v);
    }
  } else {  // RAdam
    const V c = C(s.c[0]);
    const bool rectified = s.c[1] != 0;
    const V p = V(k.decay) * L(P, i);
    const V g = V(k.sign) * L(G, i) + V(k.wd) * p;
    const V m0 = L(S0, i);
    const V m = m0 + V(k.w1) * (g - m0);
    const V v = V(k.b2) * L(S1, i) + V(k.w2) * (g * g);
    W(S0, i, m.v);
    W(S1, i, v.v);
    W(P, i, rectified ? (p - c * (m / (vsqrt(v) + V(k.eps)))).v : (p - c * m).v);
  }
}

template <typename T, OptimAlgo A>
__global__ void optim_kernel(const OptimSlot* __restrict slots, const int64_t* __restrict begin, int64_t count,
                             Consts<opmath_t<T>> k) {
  const int64_t idx = locate(begin, count);
  const OptimSlot s = slots[idx];
  const int64_t lo = (int64_t(blockIdx.x) - begin[idx]) * kChunk, hi = lo + kChunk < s.n ? lo + kChunk : s.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) update_one<T, A>(s, k, i);
}

template <typename T, OptimAlgo A>
void launch_update(const Table<OptimSlot>& t, int64_t count, const OptimHyper& h) {
  optim_kernel<T, A><<<unsigned(t.blocks), kThreads, 0, compute_stream()>>>(t.entries, t.begin, count,
                                                                            make_consts<opmath_t<T>>(h));
  check_launch("optim_update");
}

struct Span {
  void* data;
  int64_t n;
};

// Modes of multi_abs_pow_sum, fixed per call.
enum PowMode : int { kInf = 0, kAbs = 1, kSquare = 2, kPow = 3 };

__device__ __forceinline__ double combine(int mode, double acc, double x) {
  return mode == kInf ? ((x > acc || x != x) ? x : acc) : acc + x;
}

// Combines v over the block in a fixed pattern; the result is valid in thread 0.
__device__ double block_combine(int mode, double v) {
  __shared__ double warp_part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int off = 16; off > 0; off >>= 1) v = combine(mode, v, __shfl_down_sync(0xffffffffu, v, off));
  if (lane == 0) warp_part[warp] = v;
  __syncthreads();
  double r = 0;
  if (warp == 0) {
    r = lane < int(blockDim.x / 32) ? warp_part[lane] : 0.0;
    for (int off = 16; off > 0; off >>= 1) r = combine(mode, r, __shfl_down_sync(0xffffffffu, r, off));
  }
  __syncthreads();
  return r;
}

template <typename T>
__global__ void abs_pow_partial_kernel(const Span* __restrict spans, const int64_t* __restrict begin, int64_t count,
                                       int mode, double p, double* __restrict partial) {
  const int64_t idx = locate(begin, count);
  const Span s = spans[idx];
  const T* __restrict x = static_cast<const T*>(s.data);
  const int64_t lo = (int64_t(blockIdx.x) - begin[idx]) * kChunk, hi = lo + kChunk < s.n ? lo + kChunk : s.n;
  double acc = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const double a = fabs(double(x[i]));
    const double term = mode == kSquare ? double(x[i]) * double(x[i]) : mode == kPow ? pow(a, p) : a;
    acc = combine(mode, acc, term);
  }
  acc = block_combine(mode, acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void combine_partials_kernel(const double* __restrict partial, int64_t n, int mode, double* __restrict out) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc = combine(mode, acc, partial[i]);
  acc = block_combine(mode, acc);
  if (threadIdx.x == 0) *out = acc;
}

template <typename T>
__global__ void scale_kernel(const Span* __restrict spans, const int64_t* __restrict begin, int64_t count,
                             opmath_t<T> f) {
  const int64_t idx = locate(begin, count);
  const Span s = spans[idx];
  T* __restrict x = static_cast<T*>(s.data);
  const int64_t lo = (int64_t(blockIdx.x) - begin[idx]) * kChunk, hi = lo + kChunk < s.n ? lo + kChunk : s.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) x[i] = T(opmath_t<T>(x[i]) * f);
}

template <typename T>
__global__ void clamp_kernel(const Span* __restrict spans, const int64_t* __restrict begin, int64_t count, T l, T u) {
  const int64_t idx = locate(begin, count);
  const Span s = spans[idx];
  T* __restrict x = static_cast<T*>(s.data);
  const int64_t lo = (int64_t(blockIdx.x) - begin[idx]) * kChunk, hi = lo + kChunk < s.n ? lo + kChunk : s.n;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const T v = x[i];
    x[i] = v < l ? l : (v > u ? u : v);  // NaN stays NaN (as clamp does)
  }
}

// Pointer/size pairs of a multi-tensor call, gathered on the host.
template <typename Ptr>
Table<Span> span_table(Ptr const* data, const int64_t* n, int64_t count) {
  thread_local std::vector<Span> spans;
  spans.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) spans[size_t(i)] = {const_cast<void*>(static_cast<const void*>(data[i])), n[i]};
  return upload_table<Span>(spans.data(), count, [&](int64_t i) { return n[i]; });
}

}  // namespace

void optim_update(OptimAlgo algo, DType dt, const OptimSlot* slots, int64_t count, const OptimHyper& h) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "optim_update", [&] {
    using T = scalar_t;
    if (count <= 0) return;
    const auto tt = upload_table<OptimSlot>(slots, count, [&](int64_t i) { return slots[i].n; });
    if (tt.blocks == 0) return;
    switch (algo) {
      case OptimAlgo::SGD: return launch_update<T, OptimAlgo::SGD>(tt, count, h);
      case OptimAlgo::Adagrad: return launch_update<T, OptimAlgo::Adagrad>(tt, count, h);
      case OptimAlgo::RMSprop: return launch_update<T, OptimAlgo::RMSprop>(tt, count, h);
      case OptimAlgo::Adadelta: return launch_update<T, OptimAlgo::Adadelta>(tt, count, h);
      case OptimAlgo::Adam: return launch_update<T, OptimAlgo::Adam>(tt, count, h);
      case OptimAlgo::NAdam: return launch_update<T, OptimAlgo::NAdam>(tt, count, h);
      case OptimAlgo::RAdam: return launch_update<T, OptimAlgo::RAdam>(tt, count, h);
      case OptimAlgo::Adamax: return launch_update<T, OptimAlgo::Adamax>(tt, count, h);
      case OptimAlgo::Rprop: return launch_update<T, OptimAlgo::Rprop>(tt, count, h);
      case OptimAlgo::ASGD: return launch_update<T, OptimAlgo::ASGD>(tt, count, h);
    }
    fail("[optim_update] unknown algorithm ", int(algo));
  });
}

double multi_abs_pow_sum(DType dt, const void* const* data, const int64_t* n, int64_t count, double p) {
  if (!is_floating(dt)) fail("[foreach_norm] expected a floating dtype (f16, bf16, f32 or f64), got ", dt);
  if (count <= 0) return 0.0;
  const int mode = std::isinf(p) ? kInf : p == 2.0 ? kSquare : p == 1.0 ? kAbs : kPow;
  const auto t = span_table(data, n, count);
  if (t.blocks == 0) return 0.0;
  // Partials (one per block) and the final value share one buffer: [result, partials...].
  thread_local GrowBuffer scratch;
  double* result = static_cast<double*>(scratch.get(size_t(t.blocks + 1) * sizeof(double)));
  double* partial = result + 1;
  cudaStream_t stream = compute_stream();
  NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_norm", [&] {
    abs_pow_partial_kernel<scalar_t><<<unsigned(t.blocks), kThreads, 0, stream>>>(t.entries, t.begin, count, mode, p,
                                                                                  partial);
  });
  check_launch("foreach_norm");
  combine_partials_kernel<<<1, 1024, 0, stream>>>(partial, t.blocks, mode, result);
  check_launch("foreach_norm");
  double out = 0;
  copy_to_host(&out, result, sizeof(double), current_device());
  return out;
}

void multi_scale(DType dt, void* const* data, const int64_t* n, int64_t count, double factor) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_mul_", [&] {
    using T = scalar_t;
    if (count <= 0) return;
    const auto t = span_table(data, n, count);
    if (t.blocks == 0) return;
    scale_kernel<T><<<unsigned(t.blocks), kThreads, 0, compute_stream()>>>(t.entries, t.begin, count,
                                                                           opmath_t<T>(factor));
    check_launch("foreach_mul_");
  });
}

void multi_clamp(DType dt, void* const* data, const int64_t* n, int64_t count, double lo, double hi) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_clamp_", [&] {
    using T = scalar_t;
    if (count <= 0) return;
    const auto t = span_table(data, n, count);
    if (t.blocks == 0) return;
    clamp_kernel<T><<<unsigned(t.blocks), kThreads, 0, compute_stream()>>>(t.entries, t.begin, count, T(lo), T(hi));
    check_launch("foreach_clamp_");
  });
}

}  // namespace nabla::backend::cuda
