// Atomic adds for every dtype the CUDA scatter kernels accumulate into (index_add,
// scatter_add, max_pool2d's backward): one overload per element type, so a kernel template calls
// atomic_add(p, v) whatever its T.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "nabla/half.h"

namespace nabla::backend::cuda {

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
// Two's-complement addition is the same operation signed or unsigned.
__device__ __forceinline__ void atomic_add(int64_t* p, int64_t v) {
  static_assert(sizeof(int64_t) == sizeof(unsigned long long));
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}
// No byte-wide atomics: compare-and-swap the aligned 32-bit word holding the byte (allocations
// are at least 4-byte aligned, so the word lies inside the allocation). Wraps modulo 256 as the
// CPU's u8 `+=` does.
__device__ __forceinline__ void atomic_add(uint8_t* p, uint8_t v) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t(3));
  const unsigned shift = unsigned(addr & 3) * 8;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    const unsigned int sum = ((assumed >> shift) + v) & 0xffu;
    old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (sum << shift));
  } while (assumed != old);
}
// The 16-bit types: the hardware's atomics on CUDA's own types (sm_70+ for __half, sm_80+ for
// __nv_bfloat16; the backend builds for sm_90), which share nabla's bit layout. Each add rounds
// to 16 bits, as PyTorch's CUDA scatter-adds of half tensors do; a float scratch copy would
// round once but cost an extra pass and buffer per call.
__device__ __forceinline__ void atomic_add(Half* p, Half v) {
  atomicAdd(reinterpret_cast<__half*>(p), __ushort_as_half(v.bits));
}
__device__ __forceinline__ void atomic_add(BFloat16* p, BFloat16 v) {
  atomicAdd(reinterpret_cast<__nv_bfloat16*>(p), __ushort_as_bfloat16(v.bits));
}

}  // namespace nabla::backend::cuda
