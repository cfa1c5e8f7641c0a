// Row-wise log-softmax over contiguous rows: one pass for the max, one for the sum of exp
// (accumulated in double), one to write x - max - log(sum). Replaces the ten element-wise and
// reduction ops of the composed form (max, isfinite, where, sub, exp, sum, log, add, sub) where
// per-op overhead dominates (classifier heads: [64, 10]).
#include <cmath>
#include <limits>

#include "../backend.h"
#include "parallel.h"

namespace nabla::backend::cpu {

void log_softmax(DType dt, const void* in, void* out, int64_t rows, int64_t n) {
  NB_DISPATCH_FLOAT(dt, "log_softmax", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(in);
    scalar_t* y = static_cast<scalar_t*>(out);
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const scalar_t* xr = x + r * n;
        scalar_t* yr = y + r * n;
        scalar_t m = -std::numeric_limits<scalar_t>::infinity();
        for (int64_t i = 0; i < n; ++i) m = xr[i] > m || xr[i] != xr[i] ? xr[i] : m;
        if (!std::isfinite(double(m))) m = scalar_t(0);  // all -inf (or inf / NaN) rows: no shift, as logsumexp
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += std::exp(double(xr[i] - m));
        const scalar_t lse = scalar_t(std::log(s)) + m;
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - lse;
      }
    });
  });
}

}  // namespace nabla::backend::cpu
