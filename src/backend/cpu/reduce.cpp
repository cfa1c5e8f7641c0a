// Reductions over the middle axis of a contiguous [outer, r, inner] array.
#include <cmath>
#include <limits>
#include <vector>

#include "../backend.h"
#include "../kernels/wrapping.h"
#include "lane_sum.h"
#include "parallel.h"

namespace nabla::backend::cpu {
namespace {

// f32 sums accumulate in f64: a 10^7-element sum then stays within 1e-7 of the exact value.
template <typename T> struct Acc { using type = T; };
template <> struct Acc<float> { using type = double; };
template <> struct Acc<uint8_t> { using type = int64_t; };

template <typename T>
void reduce_typed(ReduceOp op, const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  using A = typename Acc<T>::type;
  auto init = [op]() -> A {
    switch (op) {
      case ReduceOp::Sum: return A(0);
      case ReduceOp::Prod: return A(1);
      case ReduceOp::Max: return std::numeric_limits<T>::has_infinity ? A(-std::numeric_limits<T>::infinity()) : A(std::numeric_limits<T>::lowest());
      case ReduceOp::Min: return std::numeric_limits<T>::has_infinity ? A(std::numeric_limits<T>::infinity()) : A(std::numeric_limits<T>::max());
    }
    return A(0);
  };
  auto combine = [op](A acc, A v) -> A {
    switch (op) {
      case ReduceOp::Sum: return wrap_add(acc, v);  // i64 sums and products wrap as in PyTorch
      case ReduceOp::Prod: return wrap_mul(acc, v);
      case ReduceOp::Max: return (v > acc || v != v) ? v : acc;  // NaN propagates
      case ReduceOp::Min: return (v < acc || v != v) ? v : acc;
    }
    return acc;
  };
  if (inner == 1) {
    // Reduce contiguous rows; parallel over rows, or within one long row.
    if (outer == 1 && r >= 2 * kGrain && op == ReduceOp::Sum) {
      // Fixed-size chunks summed in a fixed order: the result does not depend on the thread count.
      const int64_t nchunks = (r + kGrain - 1) / kGrain;
      std::vector<A> partial(size_t(nchunks), A(0));
      parallel_for(nchunks, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          const int64_t begin = c * kGrain, end = std::min(r, (c + 1) * kGrain);
          partial[size_t(c)] = sum_contiguous<A>(in + begin, end - begin);
        }
      });
      A s = 0;
      for (A p : partial) s = wrap_add(s, p);
      out[0] = T(s);
      return;
    }
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = in + o * r;
        A acc = init();
        if (op == ReduceOp::Sum) {
          acc = sum_contiguous<A>(row, r);
        } else {
          for (int64_t i = 0; i < r; ++i) acc = combine(acc, A(row[i]));
        }
        out[o] = T(acc);
      }
    });
    return;
  }
  // Strided case: accumulate whole inner rows at once so the loop vectorizes.
  parallel_for(outer * inner, kGrain, [&](int64_t b, int64_t e) {
    std::vector<A> acc;
    for (int64_t o = b / inner; o * inner < e; ++o) {
      int64_t i0 = std::max(b, o * inner) - o * inner, i1 = std::min(e, (o + 1) * inner) - o * inner;
      acc.assign(size_t(i1 - i0), init());
      for (int64_t j = 0; j < r; ++j) {
        const T* row = in + (o * r + j) * inner;
        if (op == ReduceOp::Sum) {
          for (int64_t i = i0; i < i1; ++i) acc[size_t(i - i0)] = wrap_add(acc[size_t(i - i0)], A(row[i]));
        } else {
          for (int64_t i = i0; i < i1; ++i) acc[size_t(i - i0)] = combine(acc[size_t(i - i0)], A(row[i]));
        }
      }
      for (int64_t i = i0; i < i1; ++i) out[o * inner + i] = T(acc[size_t(i - i0)]);
    }
  });
}

}  // namespace

void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t outer, int64_t r, int64_t inner) {
  NB_DISPATCH_ALL(dt, "reduce", [&] {
    reduce_typed<scalar_t>(op, static_cast<const scalar_t*>(in), static_cast<scalar_t*>(out), outer, r, inner);
  });
}

void arg_reduce(bool is_max, DType dt, const void* in_v, int64_t* out, int64_t outer, int64_t r, int64_t inner) {
  NB_DISPATCH_ALL(dt, is_max ? "argmax" : "argmin", [&] {
    const scalar_t* in = static_cast<const scalar_t*>(in_v);
    parallel_for(outer * inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t o = k / inner, i = k % inner;
        const scalar_t* p = in + o * r * inner + i;
        int64_t best = 0;
        scalar_t bv = p[0];
        for (int64_t j = 1; j < r; ++j) {
          scalar_t v = p[j * inner];
          if (bv != bv) break;  // NaN wins, like max()
          if (is_max ? (v > bv || v != v) : (v < bv || v != v)) {
            bv = v;
            best = j;
          }
        }
        out[k] = best;
      }
    });
  });
}

bool all_finite(DType dt, const void* in, int64_t n) {
  if (!is_floating(dt)) return true;
  return NB_DISPATCH_FLOAT(dt, "isfinite", [&] {
    const scalar_t* p = static_cast<const scalar_t*>(in);
    scalar_t acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += p[i] * scalar_t(0);  // NaN/Inf * 0 = NaN
    return acc == acc;
  });
}

}  // namespace nabla::backend::cpu
