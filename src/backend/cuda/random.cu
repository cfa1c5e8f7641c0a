// Random fills on the GPU giving the numbers of ../cpu/random.cpp for the same (seed, offset):
// Philox4x32-10 block `offset + b` feeds elements 4b..4b+3 (2b..2b+1 for integers), one thread
// per block, with the CPU's conversions. The arithmetic uses the explicitly rounded intrinsics
// (__dadd_rn, __dmul_rn) because nvcc would otherwise fuse a*b + c into one fma, which rounds
// once where the CPU (built without FMA) rounds twice. f16 and bf16 draw the f32 numbers and
// round each once (../kernels/half_draws.h): a 16-bit tensor holds the f32 tensor of its seed,
// rounded.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../kernels/half_draws.h"
#include "kernels.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

struct Block4 {
  uint32_t v[4];
};

// A copy of nabla::detail::philox (include/nabla/random.h), which is host-only. Any change
// there must be made here too; the GPU parity test compares the two streams element by element.
__host__ __device__ __forceinline__ Block4 philox(uint64_t key, uint64_t ctr_lo, uint64_t ctr_hi = 0) {
  uint32_t c0 = uint32_t(ctr_lo), c1 = uint32_t(ctr_lo >> 32), c2 = uint32_t(ctr_hi), c3 = uint32_t(ctr_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Copies of nabla::detail::u32_to_float / u64_to_double: exact (a 24- or 53-bit integer times a
// power of two), so no rounding question arises.
__device__ __forceinline__ float u32_to_float(uint32_t x) { return __fmul_rn(float(x >> 8), 1.0f / 16777216.0f); }
__device__ __forceinline__ double u64_to_double(uint32_t a, uint32_t b) {
  return __dmul_rn(double(((uint64_t(a) << 32) | b) >> 11), 1.0 / 9007199254740992.0);
}

// D, the dtype drawn in: T itself, or f32 for the 16-bit types (half_draws.h).
template <typename T>
__global__ void __launch_bounds__(kThreads) uniform_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double lo,
                                                           double hi) {
  using D = opmath_t<T>;
  const int64_t blocks = (n + 3) / 4;
  const double span = __dsub_rn(hi, lo);
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks;
       blk += int64_t(blockDim.x) * gridDim.x) {
    const Block4 r = philox(seed, offset + uint64_t(blk));
    for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
      const double u = std::is_same_v<D, float> ? double(u32_to_float(r.v[j])) : u64_to_double(r.v[j], r.v[(j + 1) % 4]);
      const D v = D(__dadd_rn(lo, __dmul_rn(span, u)));
      o[blk * 4 + j] = uniform_draw<T>(v < D(hi) ? v : D(lo), lo, hi);  // keep [lo, hi) after rounding
    }
  }
}

// Box-Muller on two pairs of 32-bit uniforms -> four normals, in double for both dtypes.
template <typename T>
__global__ void __launch_bounds__(kThreads) normal_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset,
                                                          double mean, double std) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks;
       blk += int64_t(blockDim.x) * gridDim.x) {
    const Block4 r = philox(seed, offset + uint64_t(blk));
    for (int pair = 0; pair < 2; ++pair) {
      const double u1 = __ddiv_rn(__dadd_rn(double(r.v[2 * pair]), 1.0), 4294967297.0);  // (0, 1]
      const double u2 = __ddiv_rn(double(r.v[2 * pair + 1]), 4294967296.0);
      const double rad = __dsqrt_rn(__dmul_rn(-2.0, log(u1)));
      const double theta = __dmul_rn(2 * M_PI, u2);
      const double z0 = __dmul_rn(rad, cos(theta)), z1 = __dmul_rn(rad, sin(theta));
      const int64_t i = blk * 4 + 2 * pair;
      if (i < n) o[i] = T(opmath_t<T>(__dadd_rn(mean, __dmul_rn(std, z0))));
      if (i + 1 < n) o[i + 1] = T(opmath_t<T>(__dadd_rn(mean, __dmul_rn(std, z1))));
    }
  }
}

// 64 random bits per value, two values per block; lo + v % range in unsigned arithmetic, as on
// the CPU (src/backend/cpu/random.cpp).
__global__ void __launch_bounds__(kThreads) int_kernel(int64_t* o, int64_t n, uint64_t seed, uint64_t offset,
                                                       int64_t lo, uint64_t range) {
  const int64_t blocks = (n + 1) / 2;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks;
       blk += int64_t(blockDim.x) * gridDim.x) {
    const Block4 r = philox(seed, offset + uint64_t(blk));
    for (int j = 0; j < 2 && blk * 2 + j < n; ++j) {
      const uint64_t v = (uint64_t(r.v[2 * j]) << 32) | r.v[2 * j + 1];
      o[blk * 2 + j] = int64_t(uint64_t(lo) + v % range);
    }
  }
}

}  // namespace

void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "rand", [&] {
    if (n <= 0) return;
    uniform_kernel<scalar_t><<<grid_for((n + 3) / 4), kThreads, 0, compute_stream()>>>(static_cast<scalar_t*>(out), n,
                                                                                        seed, offset, lo, hi);
    check_launch("rand");
  });
}

void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  NB_DISPATCH_FLOAT_AND_HALF(dt, "randn", [&] {
    if (n <= 0) return;
    normal_kernel<scalar_t><<<grid_for((n + 3) / 4), kThreads, 0, compute_stream()>>>(static_cast<scalar_t*>(out), n,
                                                                                       seed, offset, mean, std);
    check_launch("randn");
  });
}

void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi) {
  if (n <= 0) return;
  // The CPU kernel would divide by zero (ops/ checks the range first); here that is an error.
  if (hi == lo) ::nabla::fail("[randint] empty range [", lo, ", ", hi, ")");
  int_kernel<<<grid_for((n + 1) / 2), kThreads, 0, compute_stream()>>>(out, n, seed, offset, lo,
                                                                       uint64_t(hi) - uint64_t(lo));
  check_launch("randint");
}

}  // namespace nabla::backend::cuda
