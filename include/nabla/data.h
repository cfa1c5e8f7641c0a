// Umbrella header for the data layer: datasets, the DataLoader, readers, splits, transforms.
//
//   using namespace nabla::data;
//   ImageSet train = load_mnist(kFashionMnistDir, /*train=*/true);            // u8 [N, 28, 28]
//   auto all = TensorDataset::images(train.images, train.labels);           // f32 [1, 28, 28]
//   TrainValSplit split = train_val_split(all, 0.1, seed);
//   ChannelStats stats = channel_stats(*split.train);                        // training split only
//   DataLoader train_loader(split.train, {.batch_size = 128, .seed = seed, .num_workers = 2,
//       .transform = compose({random_crop(28, 28, 2), random_horizontal_flip(), normalize(stats)})});
//   DataLoader val_loader(split.val, {.batch_size = 512, .shuffle = false, .transform = normalize(stats)});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     train_loader.start_epoch(epoch);
//     while (auto batch = train_loader.next()) { /* batch->inputs [B, 1, 28, 28], batch->targets [B] */ }
//   }
#pragma once
#include "nabla/data/auto_augment.h"
#include "nabla/data/csv.h"
#include "nabla/data/dataloader.h"
#include "nabla/data/dataset.h"
#include "nabla/data/idx.h"
#include "nabla/data/image_folder.h"
#include "nabla/data/mix.h"
#include "nabla/data/rng.h"
#include "nabla/data/sampler.h"
#include "nabla/data/split.h"
#include "nabla/data/transforms.h"
