// The CUDA kernels' division-free index walkers (src/backend/cuda/index_walk.h) are plain
// arithmetic, so they are checked here on the CPU against the divisions they replace, over
// shapes where the step is smaller than, equal to and larger than a row or a whole channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../../src/backend/cuda/index_walk.h"

namespace {

using nabla::backend::cuda::ChannelWalk;
using nabla::backend::cuda::moments_geom;
using nabla::backend::cuda::MomentsGeom;
using nabla::backend::cuda::SliceWalk;

struct Case {
  int64_t N, C, S, step;
};

const Case kCases[] = {{2, 3, 5, 1},   {2, 3, 5, 4},   {2, 3, 5, 5},     {2, 3, 5, 7},    {4, 3, 5, 16},
                       {4, 3, 5, 31},  {3, 64, 16, 256}, {2, 512, 1, 256}, {1, 1, 1, 3},    {5, 7, 1, 6},
                       {3, 2, 1024, 2048 + 3}, {2, 5, 3, 100}};

TEST(IndexWalk, ChannelWalkTracksChannelAndPositionOfEveryOffset) {
  for (const Case& k : kCases) {
    const int64_t total = k.N * k.C * k.S;
    for (int64_t start = 0; start < std::min<int64_t>(k.step, total); ++start) {
      ChannelWalk w(start, k.step, k.S, k.C);
      for (int64_t e = start; e < total; e += k.step, w.advance()) {
        ASSERT_EQ(w.c, (e / k.S) % k.C) << "N " << k.N << " C " << k.C << " S " << k.S << " step " << k.step
                                        << " start " << start << " e " << e;
        ASSERT_EQ(w.i, e % k.S) << "e " << e;
      }
    }
  }
}

TEST(IndexWalk, SliceWalkVisitsOneChannelsValuesInOrder) {
  for (const Case& k : kCases) {
    const int64_t M = k.N * k.S;
    for (int64_t c = 0; c < k.C; ++c) {
      for (int64_t start = 0; start < std::min<int64_t>(k.step, M); ++start) {
        SliceWalk w(start, k.step, k.S, k.C, c);
        for (int64_t j = start; j < M; j += k.step, w.advance())
          ASSERT_EQ(w.offset(), (j / k.S * k.C + c) * k.S + j % k.S)
              << "N " << k.N << " C " << k.C << " S " << k.S << " step " << k.step << " c " << c << " j " << j;
      }
    }
  }
}

// The slicing of norm.cu's per-channel reductions: at most max(C, 1024) blocks, slices that
// partition each channel's N * S values in order with none empty (the kernels' finishing block
// reads one partial per slice), and slices of at least min(M, 1024) values.
TEST(IndexWalk, MomentsGeometrySlicesEveryChannelExactly) {
  for (int64_t N : {1, 2, 3, 64, 100, 512, 2048})
    for (int64_t C : {1, 3, 7, 64, 512, 1500})
      for (int64_t S : {1, 9, 1024, 1089}) {
        const MomentsGeom g = moments_geom(N, C, S);
        const std::string at = "N " + std::to_string(N) + " C " + std::to_string(C) + " S " + std::to_string(S);
        ASSERT_EQ(g.M, N * S) << at;
        ASSERT_GE(g.splits, 1) << at;
        ASSERT_LE(C * g.splits, std::max<int64_t>(C, 1024)) << at;
        ASSERT_GE(g.chunk, std::min<int64_t>(g.M, 1024)) << at;
        ASSERT_EQ(g.begin(0), 0) << at;
        for (int64_t k = 0; k < g.splits; ++k) {
          ASSERT_LT(g.begin(k), g.end(k)) << at << " slice " << k << " is empty";
          if (k + 1 < g.splits) {
            ASSERT_EQ(g.end(k), g.begin(k + 1)) << at;
          }
        }
        ASSERT_EQ(g.end(g.splits - 1), g.M) << at;
      }
}

// The kernels' walk, block (c, k) with 256 threads: thread t visits positions begin(k) + t,
// + 256, ... of its slice through SliceWalk. Over all slices and threads every value of channel
// c is read exactly once, and nothing of another channel (the cases' step is not used here).
TEST(IndexWalk, SlicedWalksReadEachChannelOnce) {
  constexpr int64_t kThreads = 256;
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({64, 3, 1089, 0});  // 35 slices per channel, the last one shorter
  cases.push_back({9, 2, 1000, 0});   // 5 slices
  for (const Case& k : cases) {
    const MomentsGeom g = moments_geom(k.N, k.C, k.S);
    for (int64_t c = 0; c < k.C; ++c) {
      std::vector<int> seen(size_t(k.N * k.C * k.S), 0);
      for (int64_t s = 0; s < g.splits; ++s)
        for (int64_t t = 0; t < kThreads; ++t) {
          SliceWalk w(g.begin(s) + t, kThreads, g.S, g.C, c);
          for (int64_t j = g.begin(s) + t; j < g.end(s); j += kThreads, w.advance()) ++seen[size_t(w.offset())];
        }
      for (int64_t e = 0; e < int64_t(seen.size()); ++e)
        ASSERT_EQ(seen[size_t(e)], (e / k.S) % k.C == c ? 1 : 0)
            << "N " << k.N << " C " << k.C << " S " << k.S << " channel " << c << " offset " << e;
    }
  }
}

}  // namespace
