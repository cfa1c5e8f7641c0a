// Index walkers for grid-stride loops over NCHW data: they keep the channel and position of a
// flat offset up to date with additions only. A 64-bit division costs dozens of instructions
// on a GPU, and the plain `(e / S) % C` per element made the batch-norm kernels pay two of them
// per value. Host-compilable (no CUDA types), so the CPU tests check them against the division.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define NB_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NB_HOST_DEVICE inline
#endif

namespace nabla::backend::cuda {

/// Offsets e = start, start + step, ... of a [N, C, S] tensor: c == (e / S) % C, i == e % S.
struct ChannelWalk {
  int64_t S, C, di, dc, i, c;
  NB_HOST_DEVICE ChannelWalk(int64_t start, int64_t step, int64_t S_, int64_t C_)
      : S(S_), C(C_), di(step % S_), dc((step / S_) % C_), i(start % S_), c((start / S_) % C_) {}
  NB_HOST_DEVICE void advance() {
    i += di;
    c += dc;
    if (i >= S) {
      i -= S;
      ++c;
    }
    if (c >= C) c -= C;  // c + dc + 1 < 2C, so once is enough
  }
};

/// Positions j = start, start + step, ... of one channel's N * S values (j = n * S + i):
/// offset() is that value's flat offset in a [N, C, S] tensor, for channel c.
struct SliceWalk {
  int64_t S, CS, dn, di, n, i, base;
  NB_HOST_DEVICE SliceWalk(int64_t start, int64_t step, int64_t S_, int64_t C, int64_t c)
      : S(S_), CS(C * S_), dn(step / S_), di(step % S_), n(start / S_), i(start % S_), base(c * S_) {}
  NB_HOST_DEVICE int64_t offset() const { return n * CS + base + i; }
  NB_HOST_DEVICE void advance() {
    i += di;
    n += dn;
    if (i >= S) {
      i -= S;
      ++n;
    }
  }
};

}  // namespace nabla::backend::cuda
