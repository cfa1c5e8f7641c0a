// cross_entropy / nll_loss over class targets as two kernels (Backend::class_nll and
// class_nll_backward): the arguments, and the per-row formulas that the CPU and CUDA kernels
// share so both compute the same thing in the same order.
//
// Row i, with log-probabilities lp = log_softmax(x), target t_i and label smoothing s:
//   l_i = -(1 - s) lp[i, t_i] - (s / C) sum_c lp[i, c]
//   dl_i / dx[i, c] = exp(lp[i, c]) - (1 - s) [c == t_i] - s / C
// Rows whose target is ignore_index are left out (loss 0, gradient 0, not counted in the mean).
#pragma once
#include <cmath>
#include <cstdint>

#include "nabla/dtype.h"
#include "nabla/reduction.h"

#if defined(__CUDACC__)
#define NB_NLL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NB_NLL_HOST_DEVICE inline
#endif

namespace nabla::backend {

struct ClassNll {
  DType dtype;
  const void* lp;         ///< [rows, classes], contiguous, in the device's memory
  const int64_t* target;  ///< [rows]; checked by ops/ (Backend::check_indices) before the call
  int64_t rows, classes;
  int64_t ignore_index;
  double smoothing;       ///< label smoothing s in [0, 1]
  Reduction reduction;    ///< None: one loss per row; Sum; Mean: the sum over kept rows / kept
};

/// Whether row's target counts: not ignore_index, and (defensively, for a device that reports a
/// bad target only later) a class index.
NB_NLL_HOST_DEVICE bool class_nll_kept(int64_t t, int64_t classes, int64_t ignore_index) {
  return t != ignore_index && t >= 0 && t < classes;
}

/// l_i for a kept row (accumulated in f64).
template <typename T>
NB_NLL_HOST_DEVICE double class_nll_row(const T* lp_row, int64_t t, int64_t classes, double s) {
  double l = -double(lp_row[t]);
  if (s != 0) {  // skipped at s = 0: a -inf log-probability would make 0 * sum a NaN
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += double(lp_row[c]);
    l = (1.0 - s) * l - s / double(classes) * sum;
  }
  return l;
}

/// dl_i / dx[i, c] times `scale` (g_i, divided by kept for the mean), rounded once to T.
template <typename T>
NB_NLL_HOST_DEVICE T class_nll_grad(T lp, bool is_target, int64_t classes, double s, double scale) {
  const double d = exp(double(lp)) - (is_target ? 1.0 - s : 0.0) - s / double(classes);
  return T(d * scale);
}

}  // namespace nabla::backend
