// Reductions over the middle axis of a contiguous [outer, r, inner] array, with the semantics
// of ../cpu/reduce.cpp: f32 accumulates in f64 and u8 in i64 (for every op, as on the CPU), f16
// and bf16 in float (PyTorch's opmath: loaded to float, rounded once on the final store), and
// Max/Min propagate NaN. Two kernel shapes:
//  - rows (inner == 1, long rows): one block per row, threads stride along it (coalesced), then a
//    shared-memory tree;
//  - columns (inner > 1, or short rows): one thread per output, walking j sequentially (coalesced
//    across i); for r > 1 the sum order is then the CPU's own.
// When there are too few rows/columns to fill the GPU, r is split into chunks whose partials (in
// the accumulation type) go to a scratch buffer that is reduced the same way, so a 10^7-element
// sum uses the whole GPU. The split depends on the shape alone: results are deterministic.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../kernels/wrapping.h"
#include "kernels.h"
#include "memory.h"
#include "runtime.h"
#include "scratch.h"

namespace nabla::backend::cuda {
namespace {

template <typename T> struct Acc { using type = T; };
template <> struct Acc<float> { using type = double; };
template <> struct Acc<uint8_t> { using type = int64_t; };
template <> struct Acc<Half> { using type = float; };
template <> struct Acc<BFloat16> { using type = float; };

// Integer `v != v` is always false; nvcc's front end says so, the CPU compiler does not.
#pragma nv_diag_suppress 186
template <ReduceOp OP, typename A>
__device__ __forceinline__ A combine(A acc, A v) {
  if constexpr (OP == ReduceOp::Sum) return wrap_add(acc, v);  // i64 wraps as on the CPU
  else if constexpr (OP == ReduceOp::Prod) return wrap_mul(acc, v);
  else if constexpr (OP == ReduceOp::Max) return (v > acc || v != v) ? v : acc;  // NaN propagates
  else return (v < acc || v != v) ? v : acc;
}

// Blocks of rows x chunks: block (row, c) reduces in[row * len + [c * chunk_len, ...)) into
// out[row * chunks + c].
template <ReduceOp OP, typename In, typename A, typename Out>
__global__ void __launch_bounds__(kThreads) reduce_rows_kernel(const In* in, Out* out, int64_t rows, int64_t len,
                                                               int64_t chunks, int64_t chunk_len, A init) {
  __shared__ A buf[kThreads];
  for (int64_t blk = blockIdx.x; blk < rows * chunks; blk += gridDim.x) {
    const int64_t row = blk / chunks, c = blk % chunks;
    const int64_t b = c * chunk_len, e = b + chunk_len < len ? b + chunk_len : len;
    const In* p = in + row * len;
    A acc = init;
    for (int64_t j = b + threadIdx.x; j < e; j += blockDim.x) acc = combine<OP>(acc, A(p[j]));
    buf[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) buf[threadIdx.x] = combine<OP>(buf[threadIdx.x], buf[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[blk] = Out(buf[0]);
    __syncthreads();  // buf is reused by the next row
  }
}

// One thread per (o, c, i): reduces in[o, [c * chunk_len, ...), i] into out[(o * chunks + c) * inner + i].
template <ReduceOp OP, typename In, typename A, typename Out>
__global__ void __launch_bounds__(kThreads) reduce_cols_kernel(const In* in, Out* out, int64_t outer, int64_t r,
                                                               int64_t inner, int64_t chunks, int64_t chunk_len,
                                                               A init) {
  const int64_t total = outer * chunks * inner;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(blockDim.x) * gridDim.x) {
    const int64_t i = k % inner, t = k / inner;
    const int64_t c = t % chunks, o = t / chunks;
    const int64_t b = c * chunk_len, e = b + chunk_len < r ? b + chunk_len : r;
    const In* p = in + o * r * inner + i;
    A acc = init;
    for (int64_t j = b; j < e; ++j) acc = combine<OP>(acc, A(p[j * inner]));
    out[k] = Out(acc);
  }
}

// Sizing: enough blocks / threads to fill an H100-class GPU (132 SMs), and chunks long enough
// that a partial is worth its scratch traffic.
constexpr int64_t kLongRow = 1024;          // rows at least this long use the block-per-row kernel
constexpr int64_t kTargetBlocks = 1024;     // row kernel: blocks wanted in flight
constexpr int64_t kMinRowChunk = 4096;      // row kernel: elements per chunk, at least
constexpr int64_t kFewColumns = 16384;      // column kernel: split r below this many outputs
constexpr int64_t kTargetColumns = 65536;   // column kernel: threads wanted
constexpr int64_t kMinColChunk = 128;       // column kernel: elements per thread, at least

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Partials ping-pong between two buffers: level k writes buffer k % 2 and the next level
// reads it, so no two live uses share one buffer.
thread_local GrowBuffer t_partials[2];

// Reduces [outer, len, inner] of In into out (Out), accumulating in A; recursive when r is split.
template <ReduceOp OP, typename In, typename A, typename Out>
void reduce_level(const In* in, Out* out, int64_t outer, int64_t len, int64_t inner, A init, int level) {
  const bool rows = inner == 1 && len >= kLongRow;
  int64_t chunks = 1;
  if (rows && outer < kTargetBlocks)
    chunks = std::max<int64_t>(1, std::min(ceil_div(kTargetBlocks, outer), len / kMinRowChunk));
  else if (!rows && outer * inner < kFewColumns)
    chunks = std::max<int64_t>(1, std::min(ceil_div(kTargetColumns, outer * inner), len / kMinColChunk));
  const int64_t chunk_len = chunks > 1 ? ceil_div(len, chunks) : len;
  if (chunks > 1) chunks = ceil_div(len, chunk_len);  // no empty chunk

  auto launch = [&](auto* dst) {
    using D = std::remove_pointer_t<decltype(dst)>;
    if (rows) {
      const int64_t blocks = outer * chunks;
      const unsigned grid = unsigned(std::min<int64_t>(blocks, 65535 * 8));
      reduce_rows_kernel<OP, In, A, D><<<grid, kThreads, 0, compute_stream()>>>(in, dst, outer, len, chunks,
                                                                                chunk_len, init);
    } else {
      reduce_cols_kernel<OP, In, A, D><<<grid_for(outer * chunks * inner), kThreads, 0, compute_stream()>>>(
          in, dst, outer, len, inner, chunks, chunk_len, init);
    }
    check_launch("reduce");
  };
  if (chunks == 1) {
    launch(out);
    return;
  }
  A* partial = static_cast<A*>(t_partials[level % 2].get(size_t(outer * chunks * inner) * sizeof(A)));
  launch(partial);
  reduce_level<OP, A, A, Out>(partial, out, outer, chunks, inner, init, level + 1);
}

template <ReduceOp OP, typename T>
void reduce_run(const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  using A = typename Acc<T>::type;
  using L = opmath_t<T>;  // numeric_limits has no entry for the 16-bit types; their float has inf
  A init;
  if constexpr (OP == ReduceOp::Sum) init = A(0);
  else if constexpr (OP == ReduceOp::Prod) init = A(1);
  else if constexpr (OP == ReduceOp::Max)
    init = std::numeric_limits<L>::has_infinity ? A(-std::numeric_limits<L>::infinity()) : A(std::numeric_limits<L>::lowest());
  else
    init = std::numeric_limits<L>::has_infinity ? A(std::numeric_limits<L>::infinity()) : A(std::numeric_limits<L>::max());
  reduce_level<OP, T, A, T>(in, out, outer, r, inner, init, 0);
}

// --- arg_reduce -------------------------------------------------------------------------

// Whether (v, j) beats the best so far (bv, bj) with the CPU's sequential rule: the first NaN
// wins, else the first index of the largest (smallest) value. This order is total, so a
// parallel tree gives the same index as the CPU loop.
template <bool IS_MAX, typename T>
__device__ __forceinline__ bool arg_better(T v, int64_t j, T bv, int64_t bj) {
  const bool vn = v != v, bn = bv != bv;
  if (vn || bn) return vn && (!bn || j < bj);
  if (IS_MAX ? v > bv : v < bv) return true;
  return v == bv && j < bj;
}

// One thread per output (o, i): the CPU loop itself. Values are compared as V (float for the
// 16-bit types, whose conversion is exact, so the order and the NaN rule are the same).
template <bool IS_MAX, typename T>
__global__ void __launch_bounds__(kThreads) arg_cols_kernel(const T* in, int64_t* out, int64_t outer, int64_t r,
                                                            int64_t inner) {
  using V = opmath_t<T>;
  const int64_t total = outer * inner;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(blockDim.x) * gridDim.x) {
    const int64_t o = k / inner, i = k % inner;
    const T* p = in + o * r * inner + i;
    int64_t best = 0;
    V bv = V(p[0]);
    for (int64_t j = 1; j < r; ++j) {
      const V v = V(p[j * inner]);
      if (bv != bv) break;  // NaN wins, like max()
      if (IS_MAX ? (v > bv || v != v) : (v < bv || v != v)) {
        bv = v;
        best = j;
      }
    }
    out[k] = best;
  }
}

// One block per contiguous row (inner == 1, long rows).
template <bool IS_MAX, typename T>
__global__ void __launch_bounds__(kThreads) arg_rows_kernel(const T* in, int64_t* out, int64_t rows, int64_t r) {
  using V = opmath_t<T>;  // as in arg_cols_kernel (and shared memory cannot hold Half: it has a constructor)
  __shared__ V sv[kThreads];
  __shared__ int64_t sj[kThreads];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = in + row * r;
    V bv{};
    int64_t bj = -1;  // -1: this thread saw no element
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
      const V v = V(p[j]);
      if (bj < 0 || arg_better<IS_MAX>(v, j, bv, bj)) {
        bv = v;
        bj = j;
      }
    }
    sv[threadIdx.x] = bv;
    sj[threadIdx.x] = bj;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        const V ov = sv[threadIdx.x + s];
        const int64_t oj = sj[threadIdx.x + s];
        if (oj >= 0 && (sj[threadIdx.x] < 0 || arg_better<IS_MAX>(ov, oj, sv[threadIdx.x], sj[threadIdx.x]))) {
          sv[threadIdx.x] = ov;
          sj[threadIdx.x] = oj;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) out[row] = sj[0];
    __syncthreads();
  }
}

template <bool IS_MAX, typename T>
void arg_run(const T* in, int64_t* out, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = outer * inner;
  if (inner == 1 && r >= kLongRow) {
    const unsigned grid = unsigned(std::min<int64_t>(outer, 65535 * 8));
    arg_rows_kernel<IS_MAX, T><<<grid, kThreads, 0, compute_stream()>>>(in, out, outer, r);
  } else {
    arg_cols_kernel<IS_MAX, T><<<grid_for(n), kThreads, 0, compute_stream()>>>(in, out, outer, r, inner);
  }
  check_launch(IS_MAX ? "argmax" : "argmin");
}

// --- all_finite -------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kThreads) nonfinite_kernel(const T* in, int64_t n, int* flag) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    if (!isfinite(opmath_t<T>(in[i]))) *flag = 1;  // any writer suffices; racing stores all write 1
}

thread_local GrowBuffer t_flag;

}  // namespace

void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t outer, int64_t r, int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, "reduce", [&] {
    if (outer <= 0 || inner <= 0) return;  // empty output (r == 0 writes the identity, as the CPU does)
    const scalar_t* x = static_cast<const scalar_t*>(in);
    scalar_t* y = static_cast<scalar_t*>(out);
    switch (op) {
      case ReduceOp::Sum: return reduce_run<ReduceOp::Sum>(x, y, outer, r, inner);
      case ReduceOp::Max: return reduce_run<ReduceOp::Max>(x, y, outer, r, inner);
      case ReduceOp::Min: return reduce_run<ReduceOp::Min>(x, y, outer, r, inner);
      case ReduceOp::Prod: return reduce_run<ReduceOp::Prod>(x, y, outer, r, inner);
    }
  });
}

void arg_reduce(bool is_max, DType dt, const void* in, int64_t* out, int64_t outer, int64_t r, int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, is_max ? "argmax" : "argmin", [&] {
    if (outer <= 0 || inner <= 0) return;
    if (r <= 0) {  // nothing to read (ops/ rejects this): index 0, without touching the input
      NB_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(outer * inner) * sizeof(int64_t), compute_stream()));
      return;
    }
    const scalar_t* x = static_cast<const scalar_t*>(in);
    if (is_max)
      arg_run<true>(x, out, outer, r, inner);
    else
      arg_run<false>(x, out, outer, r, inner);
  });
}

bool all_finite(DType dt, const void* in, int64_t n) {
  if (!is_floating(dt)) return true;
  return NB_DISPATCH_FLOAT_AND_HALF(dt, "isfinite", [&] {
    if (n <= 0) return true;
    int* flag = static_cast<int*>(t_flag.get(sizeof(int)));
    NB_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), compute_stream()));
    nonfinite_kernel<scalar_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(static_cast<const scalar_t*>(in), n,
                                                                                flag);
    check_launch("isfinite");
    int host = 0;
    copy_to_host(&host, flag, sizeof(int), current_device());  // waits for the kernel
    return host == 0;
  });
}

}  // namespace nabla::backend::cuda
