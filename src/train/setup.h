// Internal: construction of a run's optimizer, schedule, augmentation and data.
#pragma once
#include <memory>

#include "nabla/data/transforms.h"
#include "nabla/train/trainer.h"

namespace nabla::train::detail {

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, const TensorList& params);
std::unique_ptr<optim::Scheduler> make_scheduler(const TrainConfig& c, optim::Optimizer& opt, int64_t epochs);
data::Transform make_augmentation(const std::string& name);

struct RunData {
  Tensor train_images, train_labels;  ///< u8 [N, 28, 28], i64 [N]
  Tensor test_images, test_labels;
};
/// Loads the MNIST-format data named by the config, restricted to `classes` and `train_limit`;
/// updates num_classes when classes are selected.
RunData load_data(const TrainConfig& c, int64_t* num_classes);

}  // namespace nabla::train::detail
