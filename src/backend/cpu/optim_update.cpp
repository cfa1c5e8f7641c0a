// Fused optimizer updates: one pass over (param, grad, state) per parameter, every parameter
// of a group in one parallel region. The element math is in optim_update_impl.h; this file
// instantiates it with std::experimental::simd at the baseline ISA, threads it, and on x86
// CPUs with AVX2 hands each range to the 8-wide build in optim_update_avx2.cpp.
// 16-bit parameters (pure f16/bf16 training) run the f32 math on blocks widened to float and
// narrow each written array once at the end of the block: PyTorch's opmath rule, and bit for bit
// the f32 update of the widened inputs, rounded once.
#include <cmath>
#include <experimental/simd>

#include <cstdlib>

#include "../optim_kernels.h"
#include "half_buffer.h"
#include "parallel.h"

namespace nabla::backend::cpu {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_OPTIM_HAVE_AVX2 1
// Defined in optim_update_avx2.cpp.
void optim_update_range_avx2(OptimAlgo algo, DType dt, const OptimSlot& s, const OptimHyper& h, int64_t b,
                             int64_t e);
double sum_range_avx2(DType dt, const void* x, int64_t lo, int64_t hi, bool abs);
#endif

namespace {

/// True when the AVX2 build runs: the CPU has AVX2 and NABLA_CPU_BASELINE is not set (it
/// forces the baseline build, e.g. to check that both give the same bits).
bool use_avx2() {
#ifdef NB_OPTIM_HAVE_AVX2
  static const bool yes = __builtin_cpu_supports("avx2") && std::getenv("NABLA_CPU_BASELINE") == nullptr;
  return yes;
#else
  return false;
#endif
}

namespace stdx = std::experimental;

// Splits the concatenation of all arrays into equal contiguous ranges, one per thread, and
// calls f(slot, begin, end) on the pieces (no allocation, tiny totals stay on one thread).
template <typename SizeOf, typename F>
void multi_for(int64_t count, SizeOf size_of, F&& f) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += size_of(i);
  parallel_for(total, kGrain, [&](int64_t b, int64_t e) {
    int64_t off = 0;
    for (int64_t i = 0; i < count && off < e; ++i) {
      const int64_t n = size_of(i);
      const int64_t lo = std::max(b, off), hi = std::min(e, off + n);
      if (lo < hi) f(i, lo - off, hi - off);
      off += n;
    }
  });
}

// Runs body.template operator()<V>(i) over [b, e): native SIMD vectors, then a scalar tail.
// Explicit SIMD because GCC will not vectorize std::sqrt while -fmath-errno is on (default),
// and the same body written once serves both widths, so vector and tail round alike.
template <typename T, typename Body>
inline void simd_loop(int64_t b, int64_t e, Body&& body) {
  using V = stdx::native_simd<T>;
  constexpr int64_t W = int64_t(V::size());
  int64_t i = b;
  for (; i + W <= e; i += W) body.template operator()<V>(i);
  for (; i < e; ++i) body.template operator()<stdx::simd<T, stdx::simd_abi::scalar>>(i);
}

template <typename V, typename T>
inline V ld(const T* p) {
  return V(p, stdx::element_aligned);
}
template <typename V, typename T>
inline void st(const V& v, T* p) {
  v.copy_to(p, stdx::element_aligned);
}

template <typename T, typename A>
inline stdx::simd<T, A> vsqrt(const stdx::simd<T, A>& v) {
  return stdx::sqrt(v);
}
// (a > b ? a : b) lane-wise, the same in every ABI (std::max differs on NaN for the scalar one).
template <typename T, typename A>
inline stdx::simd<T, A> vmax(const stdx::simd<T, A>& a, const stdx::simd<T, A>& b) {
  stdx::simd<T, A> r = b;
  stdx::where(a > b, r) = a;
  return r;
}

// Lane-wise (a > b ? x : y) and (a < b ? x : y); b, x and y may be scalars (broadcast).
template <typename T, typename A, typename B, typename X, typename Y>
inline stdx::simd<T, A> select_gt(const stdx::simd<T, A>& a, const B& b, const X& x, const Y& y) {
  using V = stdx::simd<T, A>;
  V r = V(y);
  stdx::where(a > V(b), r) = V(x);
  return r;
}
template <typename T, typename A, typename B, typename X, typename Y>
inline stdx::simd<T, A> select_lt(const stdx::simd<T, A>& a, const B& b, const X& x, const Y& y) {
  using V = stdx::simd<T, A>;
  V r = V(y);
  stdx::where(a < V(b), r) = V(x);
  return r;
}

#include "optim_update_impl.h"

// Σ x² (or Σ |x| when Abs) over x[lo, hi), in double: SIMD loads widened to double, two
// independent accumulators, so the sum is not bound by the latency of one add chain.
template <typename T, bool Abs>
double simd_sum(const T* __restrict x, int64_t lo, int64_t hi) {
  using V = stdx::native_simd<T>;
  using D = stdx::rebind_simd_t<double, V>;
  constexpr int64_t W = int64_t(V::size());
  D a0 = 0.0, a1 = 0.0;
  int64_t j = lo;
  for (; j + 2 * W <= hi; j += 2 * W) {
    const D x0 = stdx::static_simd_cast<D>(ld<V>(x + j)), x1 = stdx::static_simd_cast<D>(ld<V>(x + j + W));
    if constexpr (Abs) {
      a0 += stdx::abs(x0);
      a1 += stdx::abs(x1);
    } else {
      a0 += x0 * x0;
      a1 += x1 * x1;
    }
  }
  double sum = stdx::reduce(D(a0 + a1));
  for (; j < hi; ++j) sum += Abs ? std::abs(double(x[j])) : double(x[j]) * double(x[j]);
  return sum;
}

/// The part of x[lo, hi) (float or double) in the sum of |x|^p (p = inf: the max |x|).
template <typename F>
double abs_pow_part(const F* x, int64_t lo, int64_t hi, double p) {
  const bool is_inf = std::isinf(p), is_one = p == 1.0;
  double part = 0;
  if (is_inf) {
    for (int64_t j = lo; j < hi; ++j) {
      const double a = std::abs(double(x[j]));
      part = (a > part || a != a) ? a : part;
    }
  } else if (p == 2.0 || is_one) {
#ifdef NB_OPTIM_HAVE_AVX2
    if (use_avx2()) return sum_range_avx2(dtype_of<F>::value, x, lo, hi, is_one);
#endif
    part = is_one ? simd_sum<F, true>(x, lo, hi) : simd_sum<F, false>(x, lo, hi);
  } else {
    for (int64_t j = lo; j < hi; ++j) part += std::pow(std::abs(double(x[j])), p);
  }
  return part;
}

/// T is float, double or a 16-bit type; 16-bit arrays are widened to float in stack blocks
/// (exact), so their sums equal those of the same values held in f32.
template <typename T>
double abs_pow_sum_typed(const void* const* data, const int64_t* n, int64_t count, double p) {
  const bool is_inf = std::isinf(p);
  auto combine = [is_inf](double acc, double x) { return is_inf ? ((x > acc || x != x) ? x : acc) : acc + x; };
  auto range_sum = [&](int64_t b, int64_t e) {
    double acc = 0;
    int64_t off = 0;
    for (int64_t i = 0; i < count && off < e; ++i) {
      const int64_t lo = std::max(b, off) - off, hi = std::min(e, off + n[i]) - off;
      off += n[i];
      if (lo >= hi) continue;
      const T* x = static_cast<const T*>(data[i]);
      if constexpr (is_half_v<T>) {
        constexpr int64_t kBlock = 1024;
        alignas(64) float buf[kBlock];
        for (int64_t j = lo; j < hi; j += kBlock) {
          const int64_t m = std::min(kBlock, hi - j);
          widen_to_f32_serial(dtype_of<T>::value, x + j, buf, m);
          acc = combine(acc, abs_pow_part(buf, 0, m, p));
        }
      } else {
        acc = combine(acc, abs_pow_part(x, lo, hi, p));
      }
    }
    return acc;
  };
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += n[i];
  // Per-thread partials combined in a fixed order, so the result does not depend on timing.
  constexpr int kMaxThreads = 256;
  double partial[kMaxThreads] = {};
  const int nt = std::min(kMaxThreads, omp_in_parallel() ? 1 : omp_get_max_threads());
  const int64_t chunks = std::min<int64_t>(nt, (total + kGrain - 1) / kGrain);
  if (chunks <= 1) return range_sum(0, total);
#pragma omp parallel num_threads(int(chunks))
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    const int64_t per = (total + k - 1) / k, b = t * per, e = std::min(total, b + per);
    if (b < e) partial[t] = range_sum(b, e);
  }
  double acc = 0;
  for (int64_t t = 0; t < chunks; ++t) acc = combine(acc, partial[t]);
  return acc;
}

/// The f32 update of elements [b, e) of `s` (whose arrays are f32), AVX2 build where it runs.
void update_range_f32(OptimAlgo algo, const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
#ifdef NB_OPTIM_HAVE_AVX2
  if (use_avx2()) return optim_update_range_avx2(algo, DType::f32, s, h, b, e);
#endif
  update_range<float>(algo, s, h, b, e);
}

/// Elements [b, e) of a slot whose arrays are 16-bit (dt): blocks of param, grad and the
/// used states are widened to f32 on the stack, updated by the f32 kernel, and the param and
/// states narrowed back (round to nearest even), so each written value is rounded once. A state
/// the algorithm reads but leaves unchanged narrows back to its own bits (widening is exact).
void update_range_half(OptimAlgo algo, DType dt, const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  constexpr int64_t kBlock = 512;  // 5 arrays x 2 KiB: stays in L1
  alignas(64) float buf[5][kBlock];
  auto at = [](const void* base, int64_t i) { return static_cast<const char*>(base) + 2 * i; };
  for (int64_t lo = b; lo < e; lo += kBlock) {
    const int64_t n = std::min(kBlock, e - lo);
    OptimSlot f = s;
    f.n = n;
    f.param = buf[0];
    f.grad = buf[1];
    widen_to_f32_serial(dt, at(s.param, lo), buf[0], n);
    widen_to_f32_serial(dt, at(s.grad, lo), buf[1], n);
    for (int j = 0; j < 3; ++j) {
      if (!s.state[j]) continue;
      f.state[j] = buf[2 + j];
      widen_to_f32_serial(dt, at(s.state[j], lo), buf[2 + j], n);
    }
    update_range_f32(algo, f, h, 0, n);
    narrow_from_f32_serial(dt, buf[0], const_cast<char*>(at(s.param, lo)), n);
    for (int j = 0; j < 3; ++j)
      if (s.state[j]) narrow_from_f32_serial(dt, buf[2 + j], const_cast<char*>(at(s.state[j], lo)), n);
  }
}

}  // namespace

void optim_update(OptimAlgo algo, DType dt, const OptimSlot* slots, int64_t count, const OptimHyper& h) {
  auto size_of = [&](int64_t i) { return slots[i].n; };
  if (is_half(dt)) {
    multi_for(count, size_of, [&](int64_t i, int64_t b, int64_t e) { update_range_half(algo, dt, slots[i], h, b, e); });
    return;
  }
  NB_DISPATCH_FLOAT(dt, "optim_update", [&] {
    multi_for(count, size_of, [&](int64_t i, int64_t b, int64_t e) {
#ifdef NB_OPTIM_HAVE_AVX2
      if (use_avx2()) return optim_update_range_avx2(algo, dt, slots[i], h, b, e);
#endif
      update_range<scalar_t>(algo, slots[i], h, b, e);
    });
  });
}

double multi_abs_pow_sum(DType dt, const void* const* data, const int64_t* n, int64_t count, double p) {
  return NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_norm", [&] { return abs_pow_sum_typed<scalar_t>(data, n, count, p); });
}

// 16-bit values are scaled in float and rounded once (as the CUDA kernel: opmath).
void multi_scale(DType dt, void* const* data, const int64_t* n, int64_t count, double factor) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_mul_", [&] {
    using C = opmath_t<scalar_t>;
    const C f = C(factor);
    multi_for(
        count, [&](int64_t i) { return n[i]; },
        [&](int64_t i, int64_t b, int64_t e) {
          scalar_t* __restrict x = static_cast<scalar_t*>(data[i]);
          for (int64_t j = b; j < e; ++j) x[j] = scalar_t(C(x[j]) * f);
        });
  });
}

// The bounds are rounded to the dtype first (as the CUDA kernel), so a clamped value is a bound.
void multi_clamp(DType dt, void* const* data, const int64_t* n, int64_t count, double lo, double hi) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "foreach_clamp_", [&] {
    using C = opmath_t<scalar_t>;
    const scalar_t l = scalar_t(lo), u = scalar_t(hi);
    const C lc = C(l), uc = C(u);
    multi_for(
        count, [&](int64_t i) { return n[i]; },
        [&](int64_t i, int64_t b, int64_t e) {
          scalar_t* __restrict x = static_cast<scalar_t*>(data[i]);
          // NaN stays NaN (as clamp does).
          for (int64_t j = b; j < e; ++j) {
            const C v = C(x[j]);
            x[j] = v < lc ? l : (v > uc ? u : x[j]);
          }
        });
  });
}

}  // namespace nabla::backend::cpu
