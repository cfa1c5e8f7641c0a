// Element-wise CPU kernels generated from the functor lists in kernels/elementwise_ops.h.
#include <algorithm>
#include <cstring>

#include "../backend.h"
#include "../kernels/wrapping.h"
#include "half_buffer.h"
#include "strided_loop.h"
#include "vec_math.h"

namespace nabla::backend::cpu {
namespace {

template <typename T, UnaryOp OP> struct UnaryF;
#define NB_UNARY_FUNCTOR(name, expr)                      \
  template <typename T> struct UnaryF<T, UnaryOp::name> { \
    static inline T f(T x, double a, double b) {          \
      (void)a;                                            \
      (void)b;                                            \
      return static_cast<T>(expr);                        \
    }                                                     \
  };
NB_UNARY_OPS(NB_UNARY_FUNCTOR)
#undef NB_UNARY_FUNCTOR

template <typename T, BinaryOp OP> struct BinaryF;
#define NB_BINARY_FUNCTOR(name, expr)                                               \
  template <typename T> struct BinaryF<T, BinaryOp::name> {                         \
    static inline T f(T x, T y) { return static_cast<T>(expr); }                    \
  };
NB_BINARY_OPS(NB_BINARY_FUNCTOR)
#undef NB_BINARY_FUNCTOR

template <typename T, CompareOp OP> struct CompareF;
#define NB_COMPARE_FUNCTOR(name, expr)                                             \
  template <typename T> struct CompareF<T, CompareOp::name> {                      \
    static inline uint8_t f(T x, T y) { return static_cast<uint8_t>(expr); }       \
  };
NB_COMPARE_OPS(NB_COMPARE_FUNCTOR)
#undef NB_COMPARE_FUNCTOR

// The 16-bit types compute in float and round the result once, as PyTorch's kernels do.
template <typename T, typename F> struct UnaryViaFloat {
  using Float = F;
  static inline T f(T x, double a, double b) { return T(F::f(float(x), a, b)); }
};
template <typename T, typename F> struct BinaryViaFloat {
  using Float = F;
  static inline T f(T x, T y) { return T(F::f(float(x), float(y))); }
};
template <typename T, typename F> struct CompareViaFloat {
  using Float = F;
  static inline uint8_t f(T x, T y) { return F::f(float(x), float(y)); }
};

// Contiguous 16-bit runs convert in blocks with the bulk conversions (F16C for f16), which
// give the same bits as the per-element ones: converting element by element made f16's
// element-wise kernels a fifth of an autocast CNN step.
constexpr int64_t kHalfBlock = 256;
template <typename T, typename F>
void unary_half_contiguous(T* o, const T* x, int64_t n, double a, double b) {
  float buf[kHalfBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kHalfBlock) {
    const int64_t m = std::min(kHalfBlock, n - i0);
    widen_to_f32_serial(dtype_of<T>::value, x + i0, buf, m);
    for (int64_t i = 0; i < m; ++i) buf[i] = F::Float::f(buf[i], a, b);
    narrow_from_f32_serial(dtype_of<T>::value, buf, o + i0, m);
  }
}
template <typename T, typename R, typename F>
void binary_half_contiguous(R* o, const T* x, const T* y, int64_t n) {
  float bx[kHalfBlock], by[kHalfBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kHalfBlock) {
    const int64_t m = std::min(kHalfBlock, n - i0);
    widen_to_f32_serial(dtype_of<T>::value, x + i0, bx, m);
    widen_to_f32_serial(dtype_of<T>::value, y + i0, by, m);
    if constexpr (is_half_v<R>) {
      for (int64_t i = 0; i < m; ++i) bx[i] = F::Float::f(bx[i], by[i]);
      narrow_from_f32_serial(dtype_of<R>::value, bx, o + i0, m);
    } else {
      for (int64_t i = 0; i < m; ++i) o[i0 + i] = F::Float::f(bx[i], by[i]);
    }
  }
}

/// Whether contiguous f32 runs of `op` go to the AVX2 kernels of vec_math.h.
template <typename T, typename Op>
bool use_vector(Op op) {
  if constexpr (std::is_same_v<T, float>) {
    if constexpr (std::is_same_v<Op, UnaryOp>) return vec::has_unary_f32(op) && vec::available();
    else return vec::has_binary_f32(op) && vec::available();
  }
  return false;
}

template <typename T, typename F>
void unary_run(UnaryOp op, Geometry g, Operand out, Operand in, double a, double b) {
  constexpr int64_t E = sizeof(T);
  const bool vector = use_vector<T>(op);
  strided_loop<2>(g, {out, in}, {E, E}, [=](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    if (s[0] == E && s[1] == E) {
      if constexpr (std::is_same_v<T, float>) {
        if (vector) return vec::unary_f32(op, x, o, n, a, b);
      }
      if constexpr (is_half_v<T>) return unary_half_contiguous<T, F>(o, x, n, a, b);
      for (int64_t i = 0; i < n; ++i) o[i] = F::f(x[i], a, b);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0] / E] = F::f(x[i * s[1] / E], a, b);
    }
  });
}

// Contiguous, scalar-broadcast and generic inner loops; the first two vectorize.
// `vector_op`: the op's AVX2 kernel takes contiguous f32 rows (see use_vector).
template <typename T, typename R, typename F>
void binary_run(Geometry g, Operand out, Operand x, Operand y, const BinaryOp* vector_op = nullptr) {
  constexpr int64_t E = sizeof(T), ER = sizeof(R);
  strided_loop<3>(g, {out, x, y}, {ER, E, E}, [=](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
    R* o = reinterpret_cast<R*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    const T* b = reinterpret_cast<const T*>(p[2]);
    if (s[0] == ER && s[1] == E && s[2] == E) {
      if constexpr (std::is_same_v<T, float> && std::is_same_v<R, float>) {
        if (vector_op) return vec::binary_f32(*vector_op, a, b, o, n);
      }
      if constexpr (is_half_v<T>) return binary_half_contiguous<T, R, F>(o, a, b, n);
      for (int64_t i = 0; i < n; ++i) o[i] = F::f(a[i], b[i]);
    } else if (s[0] == ER && s[1] == E && s[2] == 0) {
      const T bv = b[0];
      for (int64_t i = 0; i < n; ++i) o[i] = F::f(a[i], bv);
    } else if (s[0] == ER && s[1] == 0 && s[2] == E) {
      if constexpr (std::is_same_v<T, float> && std::is_same_v<R, float>) {
        if (vector_op) return vec::binary_f32_scalar_x(*vector_op, a[0], b, o, n);
      }
      const T av = a[0];
      for (int64_t i = 0; i < n; ++i) o[i] = F::f(av, b[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0] / ER] = F::f(a[i * s[1] / E], b[i * s[2] / E]);
    }
  });
}

template <typename D, typename S>
void copy_run(Geometry g, Operand out, Operand in) {
  constexpr int64_t ED = sizeof(D), ES = sizeof(S);
  strided_loop<2>(g, {out, in}, {ED, ES}, [](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    D* o = reinterpret_cast<D*>(p[0]);
    const S* x = reinterpret_cast<const S*>(p[1]);
    if constexpr (std::is_same_v<D, S>) {
      if (s[0] == ED && s[1] == ES) {
        std::memcpy(o, x, size_t(n) * sizeof(D));
        return;
      }
    }
    // Autocast's casts between f32 and 16 bits: the bulk conversions (F16C for f16, a
    // vectorized shift for bf16; the same bits as half.h's per-element ones).
    if constexpr (is_half_v<S> && std::is_same_v<D, float>) {
      if (s[0] == ED && s[1] == ES) return widen_to_f32_serial(dtype_of<S>::value, x, o, n);
    }
    if constexpr (is_half_v<D> && std::is_same_v<S, float>) {
      if (s[0] == ED && s[1] == ES) return narrow_from_f32_serial(dtype_of<D>::value, x, o, n);
    }
    if (s[0] == ED && s[1] == ES) {
      for (int64_t i = 0; i < n; ++i) o[i] = x86_cast<D>(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0] / ED] = x86_cast<D>(x[i * s[1] / ES]);
    }
  });
}

template <typename T>
void unary_typed(UnaryOp op, Geometry g, Operand out, Operand in, double a, double b) {
  switch (op) {
#define NB_CASE(name, expr)                                                                          \
  case UnaryOp::name:                                                                                \
    if constexpr (is_half_v<T>) return unary_run<T, UnaryViaFloat<T, UnaryF<float, UnaryOp::name>>>(op, g, out, in, a, b); \
    else return unary_run<T, UnaryF<T, UnaryOp::name>>(op, g, out, in, a, b);
    NB_UNARY_OPS(NB_CASE)
#undef NB_CASE
  }
}

template <typename T>
void binary_typed(BinaryOp op, Geometry g, Operand out, Operand x, Operand y) {
  const BinaryOp* vector_op = use_vector<T>(op) ? &op : nullptr;
  switch (op) {
#define NB_CASE(name, expr)                                                                            \
  case BinaryOp::name:                                                                                 \
    if constexpr (is_half_v<T>) return binary_run<T, T, BinaryViaFloat<T, BinaryF<float, BinaryOp::name>>>(g, out, x, y); \
    else return binary_run<T, T, BinaryF<T, BinaryOp::name>>(g, out, x, y, vector_op);
    NB_BINARY_OPS(NB_CASE)
#undef NB_CASE
  }
}

template <typename T>
void compare_typed(CompareOp op, Geometry g, Operand out, Operand x, Operand y) {
  switch (op) {
#define NB_CASE(name, expr)                                                                              \
  case CompareOp::name:                                                                                  \
    if constexpr (is_half_v<T>) return binary_run<T, uint8_t, CompareViaFloat<T, CompareF<float, CompareOp::name>>>(g, out, x, y); \
    else return binary_run<T, uint8_t, CompareF<T, CompareOp::name>>(g, out, x, y);
    NB_COMPARE_OPS(NB_CASE)
#undef NB_CASE
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
    constexpr int64_t E = sizeof(T);
    strided_loop<4>(g, {out, cond, x, y}, {E, 1, E, E}, [](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t c = *reinterpret_cast<const uint8_t*>(p[1] + i * s[1]);
        *reinterpret_cast<T*>(p[0] + i * s[0]) =
            c ? *reinterpret_cast<const T*>(p[2] + i * s[2]) : *reinterpret_cast<const T*>(p[3] + i * s[3]);
      }
    });
  });
}

void copy(DType out_dt, DType in_dt, Geometry g, Operand out, Operand in) {
  NB_DISPATCH_ALL_AND_HALF(out_dt, "copy", [&] {
    using D = scalar_t;
    NB_DISPATCH_ALL_AND_HALF(in_dt, "copy", [&] { copy_run<D, scalar_t>(g, out, in); });
  });
}

void fill(DType dt, void* out, int64_t n, double value) {
  if (dt == DType::boolean) value = value != 0 ? 1.0 : 0.0;  // bool holds 0 or 1 (NaN is true)
  NB_DISPATCH_ALL_AND_HALF(dt, "fill", [&] {
    scalar_t v = static_cast<scalar_t>(value);
    scalar_t* o = static_cast<scalar_t*>(out);
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = v;
    });
  });
}

void axpy(DType dt, int64_t n, double alpha, const void* x, void* y) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "add_", [&] {
    using C = opmath_t<scalar_t>;
    const C a = static_cast<C>(alpha);
    const scalar_t* xp = static_cast<const scalar_t*>(x);
    scalar_t* yp = static_cast<scalar_t*>(y);
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) yp[i] = scalar_t(C(yp[i]) + C(xp[i]) * a);
    });
  });
}

}  // namespace nabla::backend::cpu
