// Samplers in the DataLoader, ConcatDataset and random_split (torch.utils.data's).
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;

namespace {

// n examples whose input is [i] and label i % classes.
DatasetPtr numbered(int64_t n, int64_t classes = 1000) {
  std::vector<float> x(static_cast<size_t>(n));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(i), y[size_t(i)] = i % classes;
  return std::make_shared<TensorDataset>(from_vector(x, {n, 1}), from_vector(y, {n}));
}

std::vector<int64_t> epoch_inputs(DataLoader& loader, int64_t epoch) {
  std::vector<int64_t> out;
  loader.start_epoch(epoch);
  while (auto b = loader.next())
    for (double v : b->inputs.to_vector()) out.push_back(int64_t(v));
  return out;
}

}  // namespace

// Drawing with replacement follows the weights: over 60000 draws each example's share is its
// weight's within a few standard errors, and a zero weight is never drawn.
TEST(WeightedRandomSampler, DrawsInProportionToTheWeights) {
  const std::vector<double> w = {1, 0, 2, 5, 2};
  WeightedRandomSampler s(w, 60000);
  const auto idx = s.indices(5, 3, 0);
  ASSERT_EQ(idx.size(), 60000u);
  std::vector<int64_t> count(5, 0);
  for (int64_t i : idx) ++count[size_t(i)];
  EXPECT_EQ(count[1], 0);
  for (size_t i = 0; i < 5; ++i) {
    const double p = w[i] / 10.0, se = std::sqrt(p * (1 - p) / 60000);
    EXPECT_NEAR(double(count[i]) / 60000, p, 5 * se + 1e-12) << i;
  }
  EXPECT_EQ(s.indices(5, 3, 0), idx);     // a pure function of (seed, epoch)
  EXPECT_NE(s.indices(5, 3, 1), idx);     // another epoch, other draws
}

// Without replacement: distinct indices, only positive weights, and heavy examples come first
// more often (the first draw is example i with probability w_i / Σw).
TEST(WeightedRandomSampler, WithoutReplacementDrawsDistinctExamplesHeavyFirst) {
  const std::vector<double> w = {1, 0, 8, 1};
  WeightedRandomSampler s(w, 3, false);
  int heavy_first = 0;
  for (int64_t e = 0; e < 2000; ++e) {
    const auto idx = s.indices(4, 9, e);
    ASSERT_EQ(std::set<int64_t>(idx.begin(), idx.end()), (std::set<int64_t>{0, 2, 3}));
    heavy_first += idx[0] == 2;
  }
  EXPECT_NEAR(heavy_first / 2000.0, 0.8, 0.05);
  EXPECT_ERROR(WeightedRandomSampler(w, 4, false), "[WeightedRandomSampler] cannot draw 4 examples without replacement from 3");
  EXPECT_ERROR(WeightedRandomSampler({1, -1}, 2), "[WeightedRandomSampler] weight 1 is -1");
  EXPECT_ERROR(WeightedRandomSampler({0, 0}, 2), "[WeightedRandomSampler] every weight is 0");
}

// class_balanced_weights makes a 9:1 data set come out near 1:1, through the DataLoader.
TEST(WeightedRandomSampler, ClassBalancedWeightsEvenOutTheClassesInTheLoader) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 1000; ++i) labels.push_back(i < 900 ? 0 : 1);
  const auto w = class_balanced_weights(labels);
  EXPECT_DOUBLE_EQ(w[0], 1.0 / 900);
  EXPECT_DOUBLE_EQ(w[950], 1.0 / 100);
  std::vector<float> x(1000, 0.f);
  auto ds = std::make_shared<TensorDataset>(from_vector(x, {1000, 1}), from_vector(labels, {1000}));
  DataLoader loader(ds, {.batch_size = 100, .seed = 5, .sampler = std::make_shared<WeightedRandomSampler>(w, 4000)});
  EXPECT_EQ(loader.num_batches(), 40);
  int64_t ones = 0, total = 0;
  loader.start_epoch(0);
  while (auto b = loader.next()) {
    for (double t : b->targets.to_vector()) ones += t == 1, ++total;
  }
  EXPECT_EQ(total, 4000);
  EXPECT_NEAR(double(ones) / double(total), 0.5, 0.04);
  EXPECT_ERROR(DataLoader(numbered(10), {.sampler = std::make_shared<WeightedRandomSampler>(w, 5)}).start_epoch(0),
               "[WeightedRandomSampler] has 1000 weights but the data set has 10 examples");
}

// SubsetRandomSampler: exactly its indices, reshuffled every epoch, the same for any number of
// workers; an example drawn twice by a sampler gets two augmentation streams.
TEST(SubsetRandomSampler, VisitsItsIndicesInANewOrderEachEpoch) {
  auto sampler = std::make_shared<SubsetRandomSampler>(std::vector<int64_t>{3, 7, 8, 12, 19});
  DataLoader a(numbered(20), {.batch_size = 2, .seed = 1, .sampler = sampler});
  DataLoader b(numbered(20), {.batch_size = 2, .seed = 1, .num_workers = 2, .sampler = sampler});
  const auto e0 = epoch_inputs(a, 0), e1 = epoch_inputs(a, 1);
  EXPECT_EQ(std::multiset<int64_t>(e0.begin(), e0.end()), (std::multiset<int64_t>{3, 7, 8, 12, 19}));
  EXPECT_EQ(std::multiset<int64_t>(e1.begin(), e1.end()), (std::multiset<int64_t>{3, 7, 8, 12, 19}));
  EXPECT_NE(e0, e1);
  EXPECT_EQ(epoch_inputs(b, 0), e0);
  EXPECT_EQ(epoch_inputs(b, 1), e1);
  EXPECT_ERROR(DataLoader(numbered(10), {.sampler = sampler}).start_epoch(0),
               "[SubsetRandomSampler] has indices up to 19 but the data set has 10 examples");

  auto twice = std::make_shared<SubsetRandomSampler>(std::vector<int64_t>{4, 4});
  Transform noise("noise", [](const Tensor& x, Rng& rng) { return x + double(rng.uniform()); });
  DataLoader c(numbered(5), {.batch_size = 2, .seed = 2, .transform = noise, .sampler = twice});
  c.start_epoch(0);
  const auto v = c.next()->inputs.to_vector();
  EXPECT_NE(v[0], v[1]);
}

TEST(ConcatDataset, IndexesThePartsOneAfterTheOther) {
  ConcatDataset cat({numbered(3), numbered(0), numbered(2)});
  EXPECT_EQ(cat.size(), 5);
  std::vector<double> got;
  for (int64_t i = 0; i < 5; ++i) got.push_back(cat.get(i).input.to_vector()[0]);
  EXPECT_EQ(got, (std::vector<double>{0, 1, 2, 0, 1}));
  EXPECT_ERROR(cat.get(5), "[ConcatDataset] index 5 is out of range for 5 examples");
  EXPECT_ERROR(ConcatDataset({numbered(2), nullptr}), "[ConcatDataset] data set 1 is null");
}

// random_split: disjoint subsets covering the data set; fractions rounded down with the rest
// handed out from the first subset, as PyTorch (10 × {0.34, 0.33, 0.33} → 4, 3, 3).
TEST(RandomSplit, CountsOrFractionsPartitionTheDataSet) {
  auto parts = random_split(numbered(10), {0.34, 0.33, 0.33}, 4);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0]->size(), 4);
  EXPECT_EQ(parts[1]->size(), 3);
  EXPECT_EQ(parts[2]->size(), 3);
  std::set<int64_t> seen;
  for (const auto& p : parts)
    for (int64_t i = 0; i < p->size(); ++i) seen.insert(int64_t(p->get(i).input.to_vector()[0]));
  EXPECT_EQ(seen.size(), 10u);
  auto counts = random_split(numbered(10), {7, 3}, 4);
  EXPECT_EQ(counts[0]->size(), 7);
  EXPECT_EQ(counts[1]->size(), 3);
  auto again = random_split(numbered(10), {7, 3}, 4);
  EXPECT_EQ(std::static_pointer_cast<const Subset>(again[0])->indices(),
            std::static_pointer_cast<const Subset>(counts[0])->indices());
  EXPECT_ERROR(random_split(numbered(10), {7, 4}, 0), "[random_split] the lengths sum to 11 but the data set has 10");
  EXPECT_ERROR(random_split(numbered(10), {2.5, 7.5}, 0), "[random_split] length 0 is 2.5");
  // Fractions must not sum past 1 (PyTorch: isclose(sum, 1) and sum <= 1).
  EXPECT_ERROR(random_split(numbered(10), {0.5, 0.5 + 1e-12}, 0), "[random_split] length 0 is 0.5", "whole counts");
}
