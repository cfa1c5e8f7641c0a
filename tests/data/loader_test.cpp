// DataLoader: batching, seeded shuffling, determinism across worker counts, error propagation.
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <set>
#include <thread>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;
using namespace std::chrono_literals;
using data_test::raw;
using data_test::within;

namespace {

// n images u8 [n, 10, 10] with a pattern that differs per image, labels i % 5.
std::shared_ptr<TensorDataset> pattern_images(int64_t n) {
  Tensor img = empty({n, 10, 10}, {.dtype = kU8});
  Tensor lab = empty({n}, {.dtype = kI64});
  uint8_t* p = img.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n * 100; ++i) p[i] = uint8_t((i * 37 + i / 100 * 11) % 251);
  for (int64_t i = 0; i < n; ++i) lab.data_ptr<int64_t>()[i] = i % 5;
  return TensorDataset::images(img, lab);
}

Transform heavy_augmentation() {
  return compose({random_shift(2, 2), random_rotation(-15, 15), random_horizontal_flip(0.5),
                  random_apply(elastic_distortion(3.0, 1.5), 0.5), random_erasing({.p = 0.5}),
                  normalize({0.5}, {0.25})});
}

std::vector<Batch> epoch_batches(DataLoader& l, int64_t epoch) {
  l.start_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

// Each example is f32 [2] = {index, index}; get() throws at `bad` (or sleeps, counts calls).
class ProbeDataset : public Dataset {
 public:
  ProbeDataset(int64_t n, int64_t bad = -1, bool std_error = false) : n_(n), bad_(bad), std_error_(std_error) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    calls.fetch_add(1);
    if (sleep_us) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    if (i == bad_ || bad_ == -2) {
      if (std_error_) throw std::runtime_error("disk on fire");
      fail("[ProbeDataset] sample ", i, " is corrupt");
    }
    Tensor t = empty({2}, {.dtype = kF32});
    t.data_ptr<float>()[0] = t.data_ptr<float>()[1] = float(i);
    return {t, i % 3};
  }
  mutable std::atomic<int64_t> calls{0};
  int sleep_us = 0;

 private:
  int64_t n_, bad_;
  bool std_error_;
};

}  // namespace

TEST(DataLoader, BatchCountsAndDropLast) {
  auto ds = pattern_images(37);
  DataLoader a(ds, {.batch_size = 8, .shuffle = false, .seed = 1});
  EXPECT_EQ(a.num_batches(), 5);
  auto batches = epoch_batches(a, 0);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[0].inputs.shape(), (Shape{8, 1, 10, 10}));
  EXPECT_EQ(batches[0].inputs.dtype(), kF32);
  EXPECT_EQ(batches[4].inputs.shape(), (Shape{5, 1, 10, 10}));
  EXPECT_EQ(batches[4].targets.shape(), (Shape{5}));
  // Unshuffled: batch 1 holds samples 8..15 in order; values are u8 / 255.
  EXPECT_EQ(batches[1].targets.to_vector<int64_t>(), (std::vector<int64_t>{3, 4, 0, 1, 2, 3, 4, 0}));
  EXPECT_FLOAT_EQ(batches[1].inputs.data_ptr<float>()[0], float(ds->inputs().data_ptr<uint8_t>()[800]) / 255.f);

  DataLoader b(ds, {.batch_size = 8, .drop_last = true, .seed = 1});
  EXPECT_EQ(b.num_batches(), 4);
  EXPECT_EQ(epoch_batches(b, 0).size(), 4u);
  EXPECT_FALSE(b.next().has_value());

  // A batch larger than the data set is one batch (the ceil-divide used to overflow to 0
  // batches for a batch size near INT64_MAX); dropping it leaves none.
  for (int64_t huge : {int64_t(1000), std::numeric_limits<int64_t>::max() - 1, std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(huge);
    DataLoader c(ds, {.batch_size = huge, .shuffle = true, .seed = 1});
    EXPECT_EQ(c.num_batches(), 1);
    auto one = epoch_batches(c, 0);
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].inputs.shape(), (Shape{37, 1, 10, 10}));
    DataLoader d(ds, {.batch_size = huge, .drop_last = true, .seed = 1});
    EXPECT_EQ(d.num_batches(), 0);
  }
}

TEST(DataLoader, ShuffleIsAPermutationPerEpochAndFixedBySeed) {
  auto ds = std::make_shared<ProbeDataset>(50);
  DataLoader l(ds, {.batch_size = 7, .seed = 42});
  auto order = [&](int64_t epoch) {
    std::vector<int64_t> idx;
    for (const Batch& b : epoch_batches(l, epoch))
      for (int64_t i = 0; i < b.size(); ++i) idx.push_back(int64_t(b.inputs.data_ptr<float>()[2 * i]));
    return idx;
  };
  std::vector<int64_t> e0 = order(0), e1 = order(1), e0_again = order(0);
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 50u);
  EXPECT_EQ(e0, e0_again);
  EXPECT_NE(e0, e1);
  std::vector<int64_t> identity(50);
  for (int64_t i = 0; i < 50; ++i) identity[size_t(i)] = i;
  EXPECT_NE(e0, identity);
  DataLoader other(ds, {.batch_size = 7, .seed = 43});
  std::vector<int64_t> o0;
  for (const Batch& b : epoch_batches(other, 0))
    for (int64_t i = 0; i < b.size(); ++i) o0.push_back(int64_t(b.inputs.data_ptr<float>()[2 * i]));
  EXPECT_NE(e0, o0);
}

TEST(DataLoader, SameBatchesWhateverTheWorkerCount) {
  auto ds = pattern_images(37);
  auto run = [&](int workers, int prefetch) {
    DataLoader l(ds, {.batch_size = 8, .seed = 7, .num_workers = workers, .prefetch = prefetch,
                      .transform = heavy_augmentation()});
    std::vector<std::vector<uint8_t>> out;
    for (int64_t epoch : {0, 1}) {
      for (const Batch& b : epoch_batches(l, epoch)) {
        out.push_back(raw(b.inputs));
        out.push_back(raw(b.targets));
      }
    }
    return out;
  };
  std::vector<std::vector<uint8_t>> ref;
  within(60s, [&] { ref = run(0, 0); });
  ASSERT_EQ(ref.size(), 2u * 2u * 5u);
  for (auto [workers, prefetch] : std::vector<std::pair<int, int>>{{1, 0}, {3, 0}, {3, 1}, {3, 8}}) {
    std::vector<std::vector<uint8_t>> got;
    within(60s, [&] { got = run(workers, prefetch); });
    EXPECT_EQ(got, ref) << workers << " workers, prefetch " << prefetch;
  }
  // Augmentation is actually on (epochs differ for the same samples), and the seed matters.
  DataLoader plain(ds, {.batch_size = 8, .seed = 7});
  EXPECT_NE(raw(epoch_batches(plain, 0)[0].inputs), ref[0]);
}

TEST(DataLoader, AugmentationDependsOnSampleAndEpochNotPosition) {
  auto ds = pattern_images(16);
  Transform aug = heavy_augmentation();
  DataLoader l(ds, {.batch_size = 4, .shuffle = false, .seed = 9, .transform = aug});
  auto batches = epoch_batches(l, 3);
  // Sample 5 (batch 1, row 1) is exactly aug(x5) with the stream (seed 9, epoch 3, index 5).
  Rng rng = Rng::for_sample(9, 3, 5);
  Tensor expect = aug(ds->get(5).input, rng);
  Tensor got = batches[1].inputs.select(0, 1);
  EXPECT_EQ(raw(got), raw(expect));
}

TEST(DataLoader, RangeForRunsSuccessiveEpochs) {
  auto ds = std::make_shared<ProbeDataset>(10);
  DataLoader l(ds, {.batch_size = 4, .seed = 3, .num_workers = 2});
  within(30s, [&] {
    int64_t seen = 0;
    for (Batch& b : l) seen += b.size();
    EXPECT_EQ(seen, 10);
    EXPECT_EQ(l.epoch(), 0);
    for (Batch& b : l) (void)b;
    EXPECT_EQ(l.epoch(), 1);
    l.start_epoch(7);
    int n = 0;
    for (Batch& b : l) n += int(b.size() > 0);
    EXPECT_EQ(l.epoch(), 7);  // the freshly started epoch is the one iterated
    EXPECT_EQ(n, 3);
  });
}

TEST(DataLoader, SeedFromGlobalGeneratorFollowsManualSeed) {
  auto ds = std::make_shared<ProbeDataset>(8);
  manual_seed(123);
  DataLoader a(ds, {});
  manual_seed(123);
  DataLoader b(ds, {});
  EXPECT_EQ(a.seed(), b.seed());
  DataLoader c(ds, {});
  EXPECT_NE(a.seed(), c.seed());
}

TEST(DataLoader, WorkerErrorReachesTheConsumer) {
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(workers);
    auto ds = std::make_shared<ProbeDataset>(100, /*bad=*/42);
    DataLoader l(ds, {.batch_size = 10, .shuffle = false, .seed = 1, .num_workers = workers});
    within(30s, [&] {
      l.start_epoch(0);
      for (int k = 0; k < 4; ++k) ASSERT_TRUE(l.next().has_value()) << k;
      std::string msg = data_test::error_of([&] { l.next(); });
      data_test::expect_contains(msg, {"[ProbeDataset] sample 42 is corrupt", "sample 42", "batch 4", "epoch 0"});
      // The error sticks until a new epoch starts; it does not silently end the epoch.
      EXPECT_ERROR(l.next(), "sample 42 is corrupt");
      l.start_epoch(1);
      for (int k = 0; k < 4; ++k) ASSERT_TRUE(l.next().has_value()) << k;
      EXPECT_ERROR(l.next(), "sample 42 is corrupt");
    });
  }
}

TEST(DataLoader, ErrorWithShufflingAndEveryWorkerFailing) {
  auto ds = std::make_shared<ProbeDataset>(64, /*bad=*/-2);  // every get() throws
  DataLoader l(ds, {.batch_size = 4, .seed = 5, .num_workers = 3, .prefetch = 6});
  within(30s, [&] {
    l.start_epoch(0);
    EXPECT_ERROR(l.next(), "is corrupt", "batch 0");
  });
  auto ds2 = std::make_shared<ProbeDataset>(64, /*bad=*/17, /*std_error=*/true);
  DataLoader l2(ds2, {.batch_size = 4, .seed = 5, .num_workers = 3});
  within(30s, [&] {
    std::string msg;
    try {
      for (Batch& b : l2) (void)b;
    } catch (const std::exception& e) {
      msg = e.what();
    }
    data_test::expect_contains(msg, {"disk on fire", "sample 17"});
  });
}

TEST(DataLoader, DestroyingMidEpochDoesNotHang) {
  auto ds = std::make_shared<ProbeDataset>(200);
  ds->sleep_us = 500;
  within(30s, [&] {
    for (int workers : {1, 4}) {
      DataLoader l(ds, {.batch_size = 5, .seed = 1, .num_workers = workers});
      l.start_epoch(0);
      ASSERT_TRUE(l.next().has_value());
      l.start_epoch(1);  // abandon epoch 0 mid-way, then abandon epoch 1 by destruction
      ASSERT_TRUE(l.next().has_value());
    }
    DataLoader never_started(ds, {.num_workers = 2});
  });
}

TEST(DataLoader, PrefetchIsBounded) {
  auto ds = std::make_shared<ProbeDataset>(400);
  DataLoader l(ds, {.batch_size = 4, .seed = 1, .num_workers = 3, .prefetch = 2});
  within(30s, [&] {
    l.start_epoch(0);
    std::this_thread::sleep_for(100ms);  // give workers every chance to overrun
    EXPECT_LE(ds->calls.load(), 2 * 4);
    ASSERT_TRUE(l.next().has_value());
    std::this_thread::sleep_for(100ms);
    EXPECT_LE(ds->calls.load(), 3 * 4);
  });
}

TEST(DataLoader, CollateAndOptionErrors) {
  auto ds = std::make_shared<ProbeDataset>(4);
  EXPECT_ERROR(DataLoader(ds, {.batch_size = 0}), "batch_size must be positive");
  EXPECT_ERROR(DataLoader(ds, {.num_workers = -1}), "num_workers");
  EXPECT_ERROR(DataLoader(nullptr, {}), "null");
  std::vector<Example> ex = {{zeros({1, 4, 4}), 0}, {zeros({1, 4, 5}), 1}};
  EXPECT_ERROR(collate(ex), "example 1", "[1, 4, 5]", "[1, 4, 4]");
  // Mismatched shapes inside the loader name the batch.
  struct Varying : Dataset {
    int64_t size() const override { return 3; }
    Example get(int64_t i) const override { return {zeros({1, 4, 4 + i}), 0}; }
  };
  DataLoader l(std::make_shared<Varying>(), {.batch_size = 3, .shuffle = false, .seed = 2});
  EXPECT_ERROR(epoch_batches(l, 0), "[DataLoader] epoch 0, batch 0", "all inputs of a batch must match");
}

TEST(DataLoader, FashionMnistEpochIfInstalled) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  ImageSet test = load_mnist(kFashionMnistDir, /*train=*/false);
  ASSERT_EQ(test.images.shape(), (Shape{10000, 28, 28}));
  auto ds = TensorDataset::images(test.images, test.labels);
  auto split = train_val_split(ds, 0.2, 11);
  ChannelStats st = channel_stats(*split.train);
  ASSERT_EQ(st.mean.size(), 1u);
  EXPECT_NEAR(st.mean[0], 0.286, 0.01);  // Fashion-MNIST's well-known statistics
  EXPECT_NEAR(st.std[0], 0.353, 0.01);
  DataLoader l(split.train, {.batch_size = 128, .seed = 1, .num_workers = 2,
                             .transform = compose({random_crop(28, 28, 2), random_horizontal_flip(),
                                                   normalize(st)})});
  within(60s, [&] {
    int64_t n = 0;
    for (Batch& b : l) {
      EXPECT_EQ(b.inputs.size(1), 1);
      n += b.size();
    }
    EXPECT_EQ(n, 8000);
  });
}
