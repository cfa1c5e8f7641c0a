// Index walkers for grid-stride loops over NCHW data: they keep the channel and position of a
// flat offset up to date with additions only. A 64-bit division costs dozens of instructions
// on a GPU, and the plain `(e / S) % C` per element made the batch-norm kernels pay two of them
// per value. Host-compilable (no CUDA types), so the CPU tests check them against the division.
#pragma once
#include <cstdint>

#include "../host_device.h"

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

/// Per-channel reductions (norm.cu) run as `splits` blocks per channel: block b = c * splits + k
/// owns slice k of channel c's M = N * S values, positions [begin(k), end(k)) (walked with
/// SliceWalk), and the channel's last block to finish adds the slices' partials.
struct MomentsGeom {
  int64_t C, S, M, splits, chunk;  // chunk: slice length (the last slice may be shorter)
  NB_HOST_DEVICE int64_t begin(int64_t k) const { return k * chunk; }
  NB_HOST_DEVICE int64_t end(int64_t k) const { return (k + 1) * chunk < M ? (k + 1) * chunk : M; }
};

/// Enough blocks to fill the GPU (about 1024 in all), with slices of at least 1024 values (or M):
/// about 2048 or more where M allows (M = 2049 gives 1025 and 1024). No slice is empty, since (splits - 1) * chunk < M. M > 0.
inline MomentsGeom moments_geom(int64_t N, int64_t C, int64_t S) {
  const int64_t M = N * S;
  MomentsGeom g{C, S, M, 1, M};
  const int64_t by_size = (M + 2047) / 2048, by_grid = 1024 / C > 1 ? 1024 / C : 1;
  g.splits = by_size < by_grid ? by_size : by_grid;
  g.chunk = (M + g.splits - 1) / g.splits;
  return g;
}

}  // namespace nabla::backend::cuda
