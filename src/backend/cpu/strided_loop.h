// Drives an element-wise kernel over N strided operands: coalesces dimensions that are
// contiguous for every operand, then calls `inner(ptrs, strides_in_bytes, count)` on rows.
// Work is split across threads by rows, or within a row when there is only one.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "../backend.h"
#include "parallel.h"

namespace nabla::backend::cpu {

template <int N>
struct Rows {
  int nd = 0;
  std::array<int64_t, 16> shape{};
  std::array<std::array<int64_t, 16>, N> stride{};  // bytes
};

template <int N>
Rows<N> coalesce(Geometry g, const std::array<Operand, N>& ops, const std::array<int64_t, N>& elem) {
  Rows<N> r;
  for (int d = 0; d < g.ndim; ++d) {
    if (g.shape[d] == 1) continue;
    int k = r.nd;
    if (k > 0) {
      bool merge = true;
      for (int i = 0; i < N; ++i) merge = merge && r.stride[i][k - 1] == ops[i].strides[d] * elem[i] * g.shape[d];
      if (merge) {
        r.shape[k - 1] *= g.shape[d];
        for (int i = 0; i < N; ++i) r.stride[i][k - 1] = ops[i].strides[d] * elem[i];
        continue;
      }
    }
    r.shape[k] = g.shape[d];
    for (int i = 0; i < N; ++i) r.stride[i][k] = ops[i].strides[d] * elem[i];
    r.nd++;
  }
  return r;
}

template <int N, typename Inner>
void strided_loop(Geometry g, const std::array<Operand, N>& ops, const std::array<int64_t, N>& elem, Inner&& inner) {
  int64_t total = 1;
  for (int d = 0; d < g.ndim; ++d) total *= g.shape[d];
  if (total == 0) return;
  Rows<N> r = coalesce<N>(g, ops, elem);
  std::array<char*, N> base;
  for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(ops[i].data);
  if (r.nd == 0) {  // a single element
    std::array<int64_t, N> st{};
    inner(base, st, int64_t(1));
    return;
  }
  const int64_t row = r.shape[r.nd - 1];
  std::array<int64_t, N> inner_stride;
  for (int i = 0; i < N; ++i) inner_stride[i] = r.stride[i][r.nd - 1];
  const int64_t rows = total / row;
  if (rows == 1) {
    parallel_for(row, kGrain, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (int i = 0; i < N; ++i) p[i] = base[i] + b * inner_stride[i];
      inner(p, inner_stride, e - b);
    });
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrain / row), [&](int64_t b, int64_t e) {
    // Row index -> multi-index over the outer dims, then walk with carries.
    std::array<int64_t, 16> idx{};
    int64_t rem = b;
    for (int d = r.nd - 2; d >= 0; --d) {
      idx[d] = rem % r.shape[d];
      rem /= r.shape[d];
    }
    std::array<char*, N> p;
    for (int i = 0; i < N; ++i) {
      p[i] = base[i];
      for (int d = 0; d < r.nd - 1; ++d) p[i] += idx[d] * r.stride[i][d];
    }
    for (int64_t row_i = b; row_i < e; ++row_i) {
      inner(p, inner_stride, row);
      for (int d = r.nd - 2; d >= 0; --d) {
        if (++idx[d] < r.shape[d]) {
          for (int i = 0; i < N; ++i) p[i] += r.stride[i][d];
          break;
        }
        for (int i = 0; i < N; ++i) p[i] -= r.stride[i][d] * (r.shape[d] - 1);
        idx[d] = 0;
      }
    }
  });
}

}  // namespace nabla::backend::cpu
