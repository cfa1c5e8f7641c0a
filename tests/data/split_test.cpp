// Train/validation splits and normalization statistics from the training split.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;

TEST(Split, DisjointCoveringAndSeeded) {
  SplitIndices a = split_indices(103, 0.2, 42);
  EXPECT_EQ(a.val.size(), 21u);  // round(20.6)
  EXPECT_EQ(a.train.size(), 82u);
  std::vector<int64_t> all = a.train;
  all.insert(all.end(), a.val.begin(), a.val.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(103);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(all, want);
  EXPECT_TRUE(std::is_sorted(a.val.begin(), a.val.end()));
  SplitIndices b = split_indices(103, 0.2, 42), c = split_indices(103, 0.2, 43);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  // Not simply the last 20 percent.
  EXPECT_NE(a.val.front(), 82);
  EXPECT_TRUE(split_indices(10, 0.0, 1).val.empty());
  EXPECT_ERROR(split_indices(10, 1.0, 1), "validation fraction must be in [0, 1)");
  EXPECT_ERROR(split_indices(10, -0.1, 1), "validation fraction");
}

TEST(Split, SubsetsViewTheBaseDataset) {
  Tensor x = arange(0, 10).to(kF32).reshape({10, 1});
  Tensor y = arange(0, 10);
  auto ds = std::make_shared<TensorDataset>(x, y);
  TrainValSplit s = train_val_split(ds, 0.3, 7);
  ASSERT_EQ(s.train->size(), 7);
  ASSERT_EQ(s.val->size(), 3);
  for (int64_t i = 0; i < s.val->size(); ++i) {
    Example e = s.val->get(i);
    EXPECT_EQ(e.target, s.val->indices()[size_t(i)]);
    EXPECT_EQ(e.input.to_vector<float>()[0], float(e.target));
  }
  EXPECT_ERROR(s.val->get(3), "[Subset] index 3 is out of range for 3");
  EXPECT_ERROR(Subset(ds, {0, 10}), "[Subset] index 10", "out of range for a data set of 10");
}

TEST(Split, ChannelStatsFromTheTrainingSplitOnly) {
  // 2 channels of 2x2; channel 0 of sample i is all i, channel 1 is all 5 (constant).
  int64_t n = 20;
  Tensor x = empty({n, 2, 2, 2});
  float* p = x.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 8; ++k) p[i * 8 + k] = k < 4 ? float(i) : 5.f;
  auto ds = std::make_shared<TensorDataset>(x, zeros({n}, {.dtype = kI64}));
  TrainValSplit s = train_val_split(ds, 0.25, 3);
  ChannelStats st = channel_stats(*s.train);
  // Expected from the training indices by hand (population std).
  double m = 0, v = 0;
  for (int64_t i : s.train->indices()) m += double(i);
  m /= double(s.train->size());
  for (int64_t i : s.train->indices()) v += (double(i) - m) * (double(i) - m);
  v /= double(s.train->size());
  ASSERT_EQ(st.mean.size(), 2u);
  EXPECT_NEAR(st.mean[0], m, 1e-9);
  EXPECT_NEAR(st.std[0], std::sqrt(v), 1e-9);
  EXPECT_NEAR(st.mean[1], 5.0, 1e-12);
  EXPECT_EQ(st.std[1], 1.0);  // constant channel: only centred
  ChannelStats full = channel_stats(*ds);
  EXPECT_NE(full.mean[0], st.mean[0]);  // validation samples changed nothing above
  // Normalizing the training split with its own statistics gives mean 0, std 1.
  Transform norm = normalize(st);
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < s.train->size(); ++i) {
    Tensor z = norm(s.train->get(i).input, uint64_t(0));
    for (int64_t k = 0; k < 4; ++k) {
      sum += z.data_ptr<float>()[k];
      sq += double(z.data_ptr<float>()[k]) * z.data_ptr<float>()[k];
    }
  }
  double cnt = 4.0 * double(s.train->size());
  EXPECT_NEAR(sum / cnt, 0.0, 1e-6);
  EXPECT_NEAR(sq / cnt, 1.0, 1e-5);
}

TEST(Split, FeatureStatsForTabularData) {
  // Feature vectors [F]: one statistic per feature; large offsets do not lose precision.
  Tensor x = from_vector<float>({1e6f + 1, 10, 1e6f + 3, 20, 1e6f + 5, 30}, {3, 2});
  TensorDataset ds(x, zeros({3}, {.dtype = kI64}));
  ChannelStats st = channel_stats(ds);
  ASSERT_EQ(st.mean.size(), 2u);
  EXPECT_NEAR(st.mean[0], 1e6 + 3, 1e-6);
  EXPECT_NEAR(st.std[0], std::sqrt(8.0 / 3.0), 1e-6);
  EXPECT_NEAR(st.mean[1], 20, 1e-9);
  EXPECT_NEAR(st.std[1], std::sqrt(200.0 / 3.0), 1e-9);
}

TEST(Split, TensorDatasetChecks) {
  EXPECT_ERROR(TensorDataset(zeros({3, 2}), zeros({4}, {.dtype = kI64})), "3 inputs but 4 targets");
  EXPECT_ERROR(TensorDataset(zeros({3, 2}), zeros({3})), "targets must be i64");
  EXPECT_ERROR(TensorDataset::images(zeros({3, 2}), zeros({3}, {.dtype = kI64})), "expected u8 or f32 images");
  auto ds = TensorDataset::images(zeros({2, 3, 3}, {.dtype = kU8}), zeros({2}, {.dtype = kI64}));
  EXPECT_EQ(ds->get(1).input.shape(), (Shape{1, 3, 3}));
  EXPECT_EQ(ds->get(1).input.dtype(), kF32);
  EXPECT_ERROR(ds->get(2), "[TensorDataset] index 2 is out of range for 2 examples");
}
