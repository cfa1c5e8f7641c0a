// parallel_for with a grain size: tiny tensors stay on the calling thread, because
// waking an OpenMP team costs more than the work.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace nabla::backend::cpu {

inline constexpr int64_t kGrain = 32768;  // elements per thread, at least

/// Calls f(begin, end) over [0, n) split into contiguous chunks, one per thread.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  int64_t chunks = std::min<int64_t>(max_threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
  if (chunks <= 1) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(int(chunks))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t per = (n + nt - 1) / nt;
    int64_t b = t * per, e = std::min(n, b + per);
    if (b < e) f(b, e);
  }
}

}  // namespace nabla::backend::cpu
