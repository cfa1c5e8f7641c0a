// cross_entropy / nll_loss over class targets (../class_nll.h): the loss summed in f64 in row
// order, the gradient one row per iteration.
#include "../backend.h"
#include "parallel.h"

namespace nabla::backend::cpu {

void class_nll(const ClassNll& a, void* out, void* kept) {
  NB_DISPATCH_FLOAT_AND_HALF(a.dtype, "cross_entropy", [&] {
    const scalar_t* lp = static_cast<const scalar_t*>(a.lp);
    scalar_t* o = static_cast<scalar_t*>(out);
    double total = 0;
    int64_t n_kept = 0;
    for (int64_t i = 0; i < a.rows; ++i) {
      const int64_t t = a.target[i];
      const bool keep = class_nll_kept(t, a.classes, a.ignore_index);
      const double l = keep ? class_nll_row(lp + i * a.classes, t, a.classes, a.smoothing) : 0.0;
      if (a.reduction == Reduction::None) o[i] = scalar_t(l);
      total += l;
      n_kept += keep;
    }
    if (a.reduction == Reduction::Sum) o[0] = scalar_t(total);
    if (a.reduction == Reduction::Mean) o[0] = scalar_t(total / double(n_kept));  // 0 / 0: NaN, as PyTorch
    if (kept) *static_cast<scalar_t*>(kept) = scalar_t(n_kept);
  });
}

void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx) {
  NB_DISPATCH_FLOAT_AND_HALF(a.dtype, "cross_entropy", [&] {
    const scalar_t* lp = static_cast<const scalar_t*>(a.lp);
    const scalar_t* gp = static_cast<const scalar_t*>(g);
    scalar_t* out = static_cast<scalar_t*>(gx);
    const double denom = a.reduction == Reduction::Mean ? double(*static_cast<const scalar_t*>(kept)) : 1.0;
    const int64_t C = a.classes;
    parallel_for(a.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t t = a.target[i];
        scalar_t* row = out + i * C;
        if (!class_nll_kept(t, C, a.ignore_index)) {
          for (int64_t c = 0; c < C; ++c) row[c] = scalar_t(0);
          continue;
        }
        const double scale = double(gp[a.reduction == Reduction::None ? i : 0]) / denom;
        for (int64_t c = 0; c < C; ++c) row[c] = class_nll_grad(lp[i * C + c], c == t, C, a.smoothing, scale);
      }
    });
  });
}

}  // namespace nabla::backend::cpu
