// Random fills from Philox blocks: element i uses block offset + i/4, so the numbers are the
// same whatever the thread count or chunking. f16 and bf16 values are drawn as f32 values are
// (normals in double) and rounded once.
#include <cmath>

#include "../backend.h"
#include "../kernels/half_draws.h"
#include "nabla/random.h"
#include "parallel.h"

namespace nabla::backend::cpu {

using nabla::detail::philox;


void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "rand", [&] {
    using D = opmath_t<scalar_t>;
    scalar_t* o = static_cast<scalar_t*>(out);
    const int64_t blocks = (n + 3) / 4;
    parallel_for(blocks, kGrain / 4, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        auto r = philox(seed, offset + uint64_t(blk));
        for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
          // The 16-bit types draw as f32 does and round once.
          double u = std::is_same_v<scalar_t, double> ? nabla::detail::u64_to_double(r[j], r[(j + 1) % 4])
                                                      : double(nabla::detail::u32_to_float(r[j]));
          const D v = D(lo + (hi - lo) * u);
          o[blk * 4 + j] = uniform_draw<scalar_t>(v < D(hi) ? v : D(lo), lo, hi);  // keep [lo, hi) after rounding
        }
      }
    });
  });
}

void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "randn", [&] {
    scalar_t* o = static_cast<scalar_t*>(out);
    const int64_t blocks = (n + 3) / 4;
    parallel_for(blocks, kGrain / 4, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        auto r = philox(seed, offset + uint64_t(blk));
        // Box-Muller on two pairs of 32-bit uniforms -> four normals.
        for (int pair = 0; pair < 2; ++pair) {
          double u1 = (double(r[2 * pair]) + 1.0) / 4294967297.0;  // (0, 1]
          double u2 = double(r[2 * pair + 1]) / 4294967296.0;
          double rad = std::sqrt(-2.0 * std::log(u1));
          double z0 = rad * std::cos(2 * M_PI * u2), z1 = rad * std::sin(2 * M_PI * u2);
          int64_t i = blk * 4 + 2 * pair;
          if (i < n) o[i] = scalar_t(opmath_t<scalar_t>(mean + std * z0));
          if (i + 1 < n) o[i + 1] = scalar_t(opmath_t<scalar_t>(mean + std * z1));
        }
      }
    });
  });
}

void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  const uint64_t range = uint64_t(hi) - uint64_t(lo);  // unsigned: hi - lo may exceed INT64_MAX
  parallel_for((n + 1) / 2, kGrain / 2, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      auto r = philox(seed, offset + uint64_t(blk));
      // 64 random bits per value; modulo bias is below 2^-40 for ranges under 2^24.
      for (int j = 0; j < 2 && blk * 2 + j < n; ++j) {
        uint64_t v = (uint64_t(r[2 * j]) << 32) | r[2 * j + 1];
        out[blk * 2 + j] = int64_t(uint64_t(lo) + v % range);
      }
    }
  });
}

}  // namespace nabla::backend::cpu
