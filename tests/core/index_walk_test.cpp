// The CUDA kernels' division-free index walkers (src/backend/cuda/index_walk.h) are plain
// arithmetic, so they are checked here on the CPU against the divisions they replace, over
// shapes where the step is smaller than, equal to and larger than a row or a whole channel.
#include <gtest/gtest.h>

#include "../../src/backend/cuda/index_walk.h"

namespace {

using nabla::backend::cuda::ChannelWalk;
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

}  // namespace
