// Index kernels over contiguous [outer, n, inner] layouts. ops/ has checked the indices
// (Backend::check_indices); an index out of range is still skipped (gathers write 0 there), as on
// a device that reports bad indices only later, so these never touch memory out of bounds.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../backend.h"
#include "parallel.h"

namespace nabla::backend::cpu {

void index_select(DType dt, const void* in, void* out, const int64_t* index, int64_t n_index, int64_t outer,
                  int64_t n_in, int64_t inner) {
  const size_t es = dtype_size(dt);
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  parallel_for(outer * n_index, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t o = k / n_index, j = k % n_index;
      if (index[j] < 0 || index[j] >= n_in) std::memset(dst + size_t(k * inner) * es, 0, size_t(inner) * es);
      else std::memcpy(dst + size_t(k * inner) * es, src + size_t((o * n_in + index[j]) * inner) * es, size_t(inner) * es);
    }
  });
}

namespace {

/// index_add for the 16-bit types, which accumulate in float and round once per output row
/// (rounding after each add, as PyTorch's CPU kernel does, lets a row hit by many indices
/// stall: an embedding row's gradient over a long batch). The j that hit the same row are
/// grouped (a stable sort, so each row adds its sources in j order, as the other dtypes do) and
/// summed in a float row; the scratch is one row and the order of the indices.
template <typename H>
void index_add_half(H* o, const H* s, const int64_t* index, int64_t n_index, int64_t outer, int64_t n_out,
                    int64_t inner) {
  std::vector<int64_t> order;
  for (int64_t j = 0; j < n_index; ++j)
    if (index[j] >= 0 && index[j] < n_out) order.push_back(j);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return index[a] < index[b]; });
  parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_index * inner, 1)), [&](int64_t b, int64_t e) {
    std::vector<float> acc(static_cast<size_t>(inner));
    for (int64_t oi = b; oi < e; ++oi)
      for (size_t g = 0; g < order.size();) {
        H* d = o + (oi * n_out + index[order[g]]) * inner;
        for (int64_t i = 0; i < inner; ++i) acc[size_t(i)] = float(d[i]);
        const int64_t row = index[order[g]];
        for (; g < order.size() && index[order[g]] == row; ++g) {
          const H* x = s + (oi * n_index + order[g]) * inner;
          for (int64_t i = 0; i < inner; ++i) acc[size_t(i)] += float(x[i]);
        }
        for (int64_t i = 0; i < inner; ++i) d[i] = H(acc[size_t(i)]);
      }
  });
}

/// scatter_add for the 16-bit types: each outer slice of `out` is added to in a float copy and
/// rounded once (see index_add_half); the scratch is one slice, [n_out, inner].
template <typename H>
void scatter_add_half(H* o, const H* s, const int64_t* index, int64_t outer, int64_t n_out, int64_t n_idx,
                      int64_t inner) {
  parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_idx * inner, 1)), [&](int64_t b, int64_t e) {
    std::vector<float> acc(static_cast<size_t>(n_out * inner));
    for (int64_t oi = b; oi < e; ++oi) {
      H* d = o + oi * n_out * inner;
      for (int64_t k = 0; k < n_out * inner; ++k) acc[size_t(k)] = float(d[k]);
      for (int64_t j = 0; j < n_idx; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t k = (oi * n_idx + j) * inner + i;
          if (index[k] >= 0 && index[k] < n_out) acc[size_t(index[k] * inner + i)] += float(s[k]);
        }
      for (int64_t k = 0; k < n_out * inner; ++k) d[k] = H(acc[size_t(k)]);  // an untouched value round-trips exactly
    }
  });
}

/// Calls f(H()) with H the 16-bit type of dt (f16 or bf16).
template <typename F>
void with_half_type(DType dt, F&& f) {
  if (dt == DType::f16) f(Half());
  else f(BFloat16());
}

}  // namespace

void index_add(DType dt, void* out, const void* src, const int64_t* index, int64_t n_index, int64_t outer,
               int64_t n_out, int64_t inner) {
  if (is_half(dt))
    return with_half_type(dt, [&](auto h) {
      using H = decltype(h);
      index_add_half(static_cast<H*>(out), static_cast<const H*>(src), index, n_index, outer, n_out, inner);
    });
  NB_DISPATCH_ALL(dt, "index_add", [&] {
    scalar_t* o = static_cast<scalar_t*>(out);
    const scalar_t* s = static_cast<const scalar_t*>(src);
    // Parallel over `outer` only: two j with the same index must not race. The grain keeps
    // small tensors on one thread: an OpenMP team per call (cross_entropy's backward) made
    // a tiny training step ~100x slower on a busy machine.
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_index * inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t oi = b; oi < e; ++oi)
        for (int64_t j = 0; j < n_index; ++j) {
          if (index[j] < 0 || index[j] >= n_out) continue;
          scalar_t* d = o + (oi * n_out + index[j]) * inner;
          const scalar_t* x = s + (oi * n_index + j) * inner;
          for (int64_t i = 0; i < inner; ++i) d[i] += x[i];
        }
    });
  });
}

void gather(DType dt, const void* in, void* out, const int64_t* index, int64_t outer, int64_t n_in, int64_t n_idx,
            int64_t inner) {
  NB_DISPATCH_ALL_AND_HALF(dt, "gather", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(in);
    scalar_t* o = static_cast<scalar_t*>(out);
    parallel_for(outer * n_idx * inner, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t i = k % inner, oi = k / (n_idx * inner);
        o[k] = index[k] < 0 || index[k] >= n_in ? scalar_t(0) : x[(oi * n_in + index[k]) * inner + i];
      }
    });
  });
}

void scatter_add(DType dt, void* out, const void* src, const int64_t* index, int64_t outer, int64_t n_out,
                 int64_t n_idx, int64_t inner) {
  if (is_half(dt))
    return with_half_type(dt, [&](auto h) {
      using H = decltype(h);
      scatter_add_half(static_cast<H*>(out), static_cast<const H*>(src), index, outer, n_out, n_idx, inner);
    });
  NB_DISPATCH_ALL(dt, "scatter_add", [&] {
    scalar_t* o = static_cast<scalar_t*>(out);
    const scalar_t* s = static_cast<const scalar_t*>(src);
    // Parallel over `outer` only (indices may repeat within a row), with a grain as in index_add.
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_idx * inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t oi = b; oi < e; ++oi)
        for (int64_t j = 0; j < n_idx; ++j)
          for (int64_t i = 0; i < inner; ++i) {
            int64_t k = (oi * n_idx + j) * inner + i;
            if (index[k] < 0 || index[k] >= n_out) continue;
            o[(oi * n_out + index[k]) * inner + i] += s[k];
          }
    });
  });
}

}  // namespace nabla::backend::cpu
