// Element-wise CUDA kernels generated from the functor lists in ../kernels/elementwise_ops.h,
// with the semantics of ../cpu/elementwise.cpp. Operands are strided N-d views over the output
// shape (strides in elements, 0 on broadcast dimensions). The host drops size-1 dimensions and
// merges dimensions that are contiguous for every operand (as the CPU's strided_loop does), then
// launches either a contiguous kernel (one flat index) or a strided one that turns the flat index
// into per-operand offsets. One launch per call, on the compute stream, no synchronization.
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../kernels/wrapping.h"
#include "kernels.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

constexpr int kMaxDims = 16;

// --- functors from the X-macro lists ----------------------------------------------------

// The shared rows compare with zero (Sign, Relu, ...), which is always false for u8; the CPU
// compiler stays quiet about that inside templates, nvcc's front end does not.
#pragma nv_diag_suppress 186

template <typename T, UnaryOp OP> struct UnaryF;
#define NB_UNARY_FUNCTOR(name, expr)                                  \
  template <typename T> struct UnaryF<T, UnaryOp::name> {             \
    __device__ static __forceinline__ T f(T x, double a, double b) {  \
      (void)a;                                                        \
      (void)b;                                                        \
      return x86_cast<T>(expr);                                       \
    }                                                                 \
  };
NB_UNARY_OPS(NB_UNARY_FUNCTOR)
#undef NB_UNARY_FUNCTOR

template <typename T, BinaryOp OP> struct BinaryF;
#define NB_BINARY_FUNCTOR(name, expr)                                                    \
  template <typename T> struct BinaryF<T, BinaryOp::name> {                              \
    __device__ static __forceinline__ T f(T x, T y) { return x86_cast<T>(expr); }        \
  };
NB_BINARY_OPS(NB_BINARY_FUNCTOR)
#undef NB_BINARY_FUNCTOR

template <typename T, CompareOp OP> struct CompareF;
#define NB_COMPARE_FUNCTOR(name, expr)                                                           \
  template <typename T> struct CompareF<T, CompareOp::name> {                                    \
    __device__ static __forceinline__ uint8_t f(T x, T y) { return static_cast<uint8_t>(expr); } \
  };
NB_COMPARE_OPS(NB_COMPARE_FUNCTOR)
#undef NB_COMPARE_FUNCTOR

// The 16-bit types compute in float and round the result once, as PyTorch's kernels do.
template <typename T, typename F> struct UnaryViaFloat {
  __device__ static __forceinline__ T f(T x, double a, double b) { return T(F::f(float(x), a, b)); }
};
template <typename T, typename F> struct BinaryViaFloat {
  __device__ static __forceinline__ T f(T x, T y) { return T(F::f(float(x), float(y))); }
};
template <typename T, typename F> struct CompareViaFloat {
  __device__ static __forceinline__ uint8_t f(T x, T y) { return F::f(float(x), float(y)); }
};
/// The functor a kernel of dtype T runs for the float-typed functor F<float> / own F<T>.
template <typename T, typename Own, typename ViaFloat>
using Functor = std::conditional_t<is_half_v<T>, ViaFloat, Own>;

// Per-element bodies: `off[k]` is operand k's element offset (operand 0 is the output).
template <typename T, typename F> struct UnaryBody {
  T* out;
  const T* in;
  double a, b;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = F::f(in[off[1]], a, b); }
};
template <typename T, typename R, typename F> struct BinaryBody {
  R* out;
  const T* x;
  const T* y;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = F::f(x[off[1]], y[off[2]]); }
};
template <typename T> struct WhereBody {
  T* out;
  const uint8_t* cond;
  const T* x;
  const T* y;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = cond[off[1]] ? x[off[2]] : y[off[3]]; }
};
template <typename D, typename S> struct CopyBody {
  D* out;
  const S* in;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = x86_cast<D>(in[off[1]]); }
};

// --- launch machinery -------------------------------------------------------------------

// Coalesced shape and per-operand strides (elements), passed to the strided kernel by value.
template <int N> struct Layout {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];
};

template <int N>
Layout<N> coalesce(const char* name, Geometry g, const Operand (&ops)[N]) {
  Layout<N> r;
  for (int d = 0; d < g.ndim; ++d) {
    if (g.shape[d] == 1) continue;
    const int k = r.nd;
    if (k > 0) {
      bool merge = true;
      for (int i = 0; i < N; ++i) merge = merge && r.stride[i][k - 1] == ops[i].strides[d] * g.shape[d];
      if (merge) {
        r.shape[k - 1] *= g.shape[d];
        for (int i = 0; i < N; ++i) r.stride[i][k - 1] = ops[i].strides[d];
        continue;
      }
    }
    if (k == kMaxDims) ::nabla::fail("[", name, "] at most ", kMaxDims, " non-mergeable dimensions on CUDA, got more");
    r.shape[k] = g.shape[d];
    for (int i = 0; i < N; ++i) r.stride[i][k] = ops[i].strides[d];
    r.nd++;
  }
  return r;
}

template <int N, typename Body>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(int64_t n, Body body) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i;
    body(off);
  }
}

// I is the index type of the flat-index decomposition: 32-bit division is several times
// cheaper than 64-bit, so it is used whenever the element count fits.
template <int N, typename I, typename Body>
__global__ void __launch_bounds__(kThreads) strided_kernel(int64_t n, Layout<N> L, Body body) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    I rem = I(i);
    for (int d = L.nd - 1; d >= 0; --d) {
      const I extent = I(L.shape[d]);
      const I idx = rem % extent;
      rem /= extent;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += int64_t(idx) * L.stride[k][d];
    }
    body(off);
  }
}

template <int N, typename Body>
void launch(const char* name, Geometry g, const Operand (&ops)[N], Body body) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; ++d) n *= g.shape[d];
  if (n == 0) return;
  const Layout<N> L = coalesce<N>(name, g, ops);
  bool contiguous = L.nd <= 1;
  for (int k = 0; k < N && L.nd == 1; ++k) contiguous = contiguous && L.stride[k][0] == 1;
  if (contiguous) {
    contiguous_kernel<N><<<grid_for(n), kThreads, 0, compute_stream()>>>(n, body);
  } else if (n <= int64_t(std::numeric_limits<uint32_t>::max())) {
    strided_kernel<N, uint32_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(n, L, body);
  } else {
    strided_kernel<N, int64_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(n, L, body);
  }
  check_launch(name);
}

template <typename T>
void unary_typed(UnaryOp op, Geometry g, Operand out, Operand in, double a, double b) {
  const Operand ops[2] = {out, in};
  T* o = static_cast<T*>(out.data);
  const T* x = static_cast<const T*>(in.data);
  switch (op) {
#define NB_CASE(name, expr)                                                                   \
  case UnaryOp::name:                                                                         \
    return launch<2>(op_name(op), g, ops,                                                     \
                     UnaryBody<T, Functor<T, UnaryF<T, UnaryOp::name>,                        \
                                          UnaryViaFloat<T, UnaryF<float, UnaryOp::name>>>>{o, x, a, b});
    NB_UNARY_OPS(NB_CASE)
#undef NB_CASE
  }
}

template <typename T>
void binary_typed(BinaryOp op, Geometry g, Operand out, Operand x, Operand y) {
  const Operand ops[3] = {out, x, y};
  T* o = static_cast<T*>(out.data);
  const T* xp = static_cast<const T*>(x.data);
  const T* yp = static_cast<const T*>(y.data);
  switch (op) {
#define NB_CASE(name, expr)                                                                        \
  case BinaryOp::name:                                                                             \
    return launch<3>(op_name(op), g, ops,                                                          \
                     BinaryBody<T, T, Functor<T, BinaryF<T, BinaryOp::name>,                       \
                                              BinaryViaFloat<T, BinaryF<float, BinaryOp::name>>>>{o, xp, yp});
    NB_BINARY_OPS(NB_CASE)
#undef NB_CASE
  }
}

template <typename T>
void compare_typed(CompareOp op, Geometry g, Operand out, Operand x, Operand y) {
  const Operand ops[3] = {out, x, y};
  uint8_t* o = static_cast<uint8_t*>(out.data);
  const T* xp = static_cast<const T*>(x.data);
  const T* yp = static_cast<const T*>(y.data);
  switch (op) {
#define NB_CASE(name, expr)                                                                               \
  case CompareOp::name:                                                                                   \
    return launch<3>(op_name(op), g, ops,                                                                 \
                     BinaryBody<T, uint8_t, Functor<T, CompareF<T, CompareOp::name>,                      \
                                                    CompareViaFloat<T, CompareF<float, CompareOp::name>>>>{o, xp, yp});
    NB_COMPARE_OPS(NB_CASE)
#undef NB_CASE
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) fill_kernel(T* out, int64_t n, T v) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    out[i] = v;
}

// y += x * alpha with the product and the sum rounded separately, as on the CPU (which is
// built without FMA); nvcc would otherwise fuse them into one fma.
template <typename T>
__global__ void __launch_bounds__(kThreads) axpy_kernel(int64_t n, T alpha, const T* x, T* y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    if constexpr (is_half_v<T>)
      y[i] = T(__fadd_rn(float(y[i]), __fmul_rn(float(x[i]), float(alpha))));
    else if constexpr (std::is_same_v<T, float>)
      y[i] = __fadd_rn(y[i], __fmul_rn(x[i], alpha));
    else
      y[i] = __dadd_rn(y[i], __dmul_rn(x[i], alpha));
  }
}

}  // namespace

void unary(UnaryOp op, DType dt, Geometry g, Operand out, Operand in, double a, double b) {
  NB_DISPATCH_ALL_AND_HALF(dt, op_name(op), [&] { unary_typed<scalar_t>(op, g, out, in, a, b); });
}

void binary(BinaryOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) {
  NB_DISPATCH_ALL_AND_HALF(dt, op_name(op), [&] { binary_typed<scalar_t>(op, g, out, x, y); });
}

void compare(CompareOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) {
  NB_DISPATCH_ALL_AND_HALF(dt, op_name(op), [&] { compare_typed<scalar_t>(op, g, out, x, y); });
}

void where(DType dt, Geometry g, Operand out, Operand cond, Operand x, Operand y) {
  NB_DISPATCH_ALL_AND_HALF(dt, "where", [&] {
    using T = scalar_t;
    const Operand ops[4] = {out, cond, x, y};
    launch<4>("where", g, ops,
              WhereBody<T>{static_cast<T*>(out.data), static_cast<const uint8_t*>(cond.data),
                           static_cast<const T*>(x.data), static_cast<const T*>(y.data)});
  });
}

void copy(DType out_dt, DType in_dt, Geometry g, Operand out, Operand in) {
  NB_DISPATCH_ALL_AND_HALF(out_dt, "copy", [&] {
    using D = scalar_t;
    NB_DISPATCH_ALL_AND_HALF(in_dt, "copy", [&] {
      using S = scalar_t;
      const Operand ops[2] = {out, in};
      if constexpr (std::is_same_v<D, S>) {
        // Same dtype, both dense over the whole shape: a device-to-device memcpy.
        int64_t n = 1;
        for (int d = 0; d < g.ndim; ++d) n *= g.shape[d];
        if (n == 0) return;
        const Layout<2> L = coalesce<2>("copy", g, ops);
        if (L.nd == 0 || (L.nd == 1 && L.stride[0][0] == 1 && L.stride[1][0] == 1)) {
          NB_CUDA_CHECK(cudaMemcpyAsync(out.data, in.data, size_t(n) * sizeof(D), cudaMemcpyDeviceToDevice,
                                        compute_stream()));
          return;
        }
      }
      launch<2>("copy", g, ops, CopyBody<D, S>{static_cast<D*>(out.data), static_cast<const S*>(in.data)});
    });
  });
}

void fill(DType dt, void* out, int64_t n, double value) {
  if (dt == DType::boolean) value = value != 0 ? 1.0 : 0.0;  // bool holds 0 or 1 (NaN is true)
  NB_DISPATCH_ALL_AND_HALF(dt, "fill", [&] {
    if (n <= 0) return;
    const scalar_t v = static_cast<scalar_t>(value);  // converted on the host, exactly as the CPU does
    scalar_t zero{};
    if (std::memcmp(&v, &zero, sizeof(v)) == 0) {  // all-zero bits (not -0.0): a memset
      NB_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(n) * sizeof(scalar_t), compute_stream()));
      return;
    }
    fill_kernel<scalar_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(static_cast<scalar_t*>(out), n, v);
    check_launch("fill");
  });
}

void axpy(DType dt, int64_t n, double alpha, const void* x, void* y) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "add_", [&] {
    if (n <= 0) return;
    axpy_kernel<scalar_t><<<grid_for(n), kThreads, 0, compute_stream()>>>(
        n, static_cast<scalar_t>(alpha), static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y));
    check_launch("add_");
  });
}

}  // namespace nabla::backend::cuda
