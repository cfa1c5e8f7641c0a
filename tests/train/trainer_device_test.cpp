// The trainer on a device, without a GPU: the fake "cuda" device of tests/common/fake_device.h
// runs `nabla train --device cuda`'s loop. Its training steps must not wait for the device: the
// host reads the accumulated loss and hit count back once every 25 steps and at the end of the
// epoch (trainer.cpp), and nothing else in a step downloads, uploads synchronously or
// synchronizes. Counted by comparing two one-epoch runs that differ only in their number of
// steps (batch size): evaluation and checkpoints are the same in both, so the difference in
// downloads is the training loop's alone.
#include <gtest/gtest.h>

#include "common/fake_device.h"
#include "nabla/train/trainer.h"
#include "train/train_test_util.h"

using namespace nabla;
using namespace train_test;

namespace {

struct Counts {
  int downloads = 0, uploads = 0, async_uploads = 0, syncs = 0;
  double test_accuracy = 0;
};

Counts run_one_epoch(fake_device::FakeDevice& dev, int64_t batch_size) {
  TempDir out("device");
  train::TrainConfig c;
  c.model = "cnn-bn-aug";  // convolutions, BatchNorm, dropout, augmentation
  c.data = synthetic_data_dir();
  c.out = out.str();
  c.epochs = 1;
  c.batch_size = batch_size;
  c.train_limit = 800;  // 720 training images, 80 for validation, in both runs
  c.threads = 1;
  c.workers = 1;
  c.progress = false;
  c.device = "cuda";
  const Counts before{dev.downloads, dev.uploads, dev.async_uploads, dev.syncs};
  train::Trainer t(c);
  train::RunResult r = t.fit();
  return {dev.downloads - before.downloads, dev.uploads - before.uploads, dev.async_uploads - before.async_uploads,
          dev.syncs - before.syncs, r.test.accuracy};
}

TEST(TrainerOnDevice, TrainingStepsDoNotWaitForTheDevice) {
  static auto* dev = new fake_device::FakeDevice(256);  // outlives its tensors; CUDA's 256 check slots
  dev->defer_index_checks = true;                                      // as on CUDA
  backend::Backend* previous = backend::register_device_backend(dev, DeviceType::cuda);
  Counts many, few;
  try {
    many = run_one_epoch(*dev, 16);  // 45 steps
    few = run_one_epoch(*dev, 48);   // 15 steps
  } catch (...) {
    backend::register_device_backend(previous, DeviceType::cuda);
    throw;
  }
  backend::register_device_backend(previous, DeviceType::cuda);
  // Reads of the loss and hit count: ceil(45 / 25) = 2 against ceil(15 / 25) = 1, two values
  // each. A download per step would add 30 or more.
  EXPECT_EQ(many.downloads - few.downloads, 2) << "downloads: " << many.downloads << " vs " << few.downloads;
  EXPECT_EQ(many.syncs, few.syncs) << "synchronizations";
  // Batches go up through upload_async (two tensors per step, and one batch is prefetched),
  // never through a blocking upload; the fake counts both, the async ones also apart.
  EXPECT_EQ(many.async_uploads - few.async_uploads, 2 * (45 - 15));
  EXPECT_EQ(many.uploads - many.async_uploads, few.uploads - few.async_uploads) << "blocking uploads";
  EXPECT_GT(many.test_accuracy, 0.2) << "and it learns (10 classes)";
}

}  // namespace
