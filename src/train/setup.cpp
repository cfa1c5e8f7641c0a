// Building the pieces of a run from its config: optimizer, schedule, augmentation, data.
#include "setup.h"

#include <algorithm>
#include <cmath>

#include "nabla/data/auto_augment.h"
#include "nabla/data/split.h"
#include "nabla/ops.h"
#include "nabla/optim.h"

namespace nabla::train::detail {

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, const TensorList& params) {
  const std::string& n = c.optimizer;
  auto lr = [&](double def) { return c.lr > 0 ? c.lr : def; };
  if (n == "sgd")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr(0.05)).momentum(c.momentum).weight_decay(c.weight_decay));
  if (n == "adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(lr(1e-3)).weight_decay(c.weight_decay));
  if (n == "adamw")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(lr(1e-3)).weight_decay(c.weight_decay));
  if (n == "rmsprop")
    return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions(lr(1e-3)).weight_decay(c.weight_decay));
  if (n == "adagrad")
    return std::make_unique<optim::Adagrad>(params, optim::AdagradOptions(lr(1e-2)).weight_decay(c.weight_decay));
  if (n == "adadelta")
    return std::make_unique<optim::Adadelta>(params, optim::AdadeltaOptions(lr(1.0)).weight_decay(c.weight_decay));
  if (n == "nadam") return std::make_unique<optim::NAdam>(params, optim::NAdamOptions(lr(2e-3)).weight_decay(c.weight_decay));
  if (n == "radam") return std::make_unique<optim::RAdam>(params, optim::RAdamOptions(lr(1e-3)).weight_decay(c.weight_decay));
  if (n == "adamax")
    return std::make_unique<optim::Adamax>(params, optim::AdamaxOptions(lr(2e-3)).weight_decay(c.weight_decay));
  if (n == "rprop") {
    NB_CHECK(c.weight_decay == 0,
             "[train] optimizer 'rprop' has no weight decay (as PyTorch's Rprop); drop --weight-decay");
    return std::make_unique<optim::Rprop>(params, optim::RpropOptions(lr(1e-2)));
  }
  if (n == "asgd")
    return std::make_unique<optim::ASGD>(params, optim::ASGDOptions(lr(1e-2)).weight_decay(c.weight_decay));
  if (n == "adafactor")
    return std::make_unique<optim::Adafactor>(params, optim::AdafactorOptions(lr(1e-2)).weight_decay(c.weight_decay));
  // LBFGS re-evaluates the loss several times per step, through a closure; the minibatch loop
  // makes one forward and backward per step.
  NB_CHECK(n != "lbfgs", "[train] optimizer 'lbfgs' is not available in the trainer: it needs a closure that ",
           "re-evaluates the loss (use optim::LBFGS with step(closure) in C++)");
  fail("[train] unknown optimizer '", n,
       "' (known: sgd, adam, adamw, rmsprop, adagrad, adadelta, nadam, radam, adamax, rprop, asgd, adafactor)");
}

std::unique_ptr<optim::Scheduler> make_scheduler(const TrainConfig& c, optim::Optimizer& opt, int64_t epochs) {
  const std::string& s = c.schedule;
  const int64_t after_warmup = std::max<int64_t>(1, epochs - c.warmup_epochs);
  std::unique_ptr<optim::LRScheduler> base;
  if (s == "constant") base = std::make_unique<optim::LambdaLR>(opt, [](int64_t) { return 1.0; });
  else if (s == "step") base = std::make_unique<optim::StepLR>(opt, std::max<int64_t>(1, epochs / 3), 0.1);
  else if (s == "exponential") base = std::make_unique<optim::ExponentialLR>(opt, 0.9);
  else if (s == "cosine") base = std::make_unique<optim::CosineAnnealingLR>(opt, after_warmup);
  else if (s == "invsqrt") base = std::make_unique<optim::InverseSqrtLR>(opt);
  else if (s == "polynomial") base = std::make_unique<optim::PolynomialLR>(opt, after_warmup, 1.0);
  else if (s == "plateau") {
    NB_CHECK(c.warmup_epochs == 0, "[train] schedule 'plateau' cannot be combined with warm-up");
    return std::make_unique<optim::ReduceLROnPlateau>(opt, optim::ReduceLROnPlateauOptions{.patience = 2});
  } else if (s == "onecycle") {
    NB_CHECK(c.warmup_epochs == 0, "[train] schedule 'onecycle' has its own warm-up; drop --warmup-epochs");
    optim::OneCycleLROptions o;
    o.total_steps = std::max<int64_t>(epochs, 2);
    return std::make_unique<optim::OneCycleLR>(opt, opt.param_groups()[0].options().get_lr(), o);
  } else if (s == "cyclic") {
    // Triangle waves between lr/10 and lr, two cycles over the run, the amplitude halved each
    // cycle; momentum is left as configured.
    NB_CHECK(c.warmup_epochs == 0, "[train] schedule 'cyclic' starts low and rises by itself; drop --warmup-epochs");
    const double top = opt.param_groups()[0].options().get_lr();
    optim::CyclicLROptions o;
    o.step_size_up = double(std::max<int64_t>(1, epochs / 4));
    o.mode = optim::CyclicMode::Triangular2;
    o.cycle_momentum = false;
    return std::make_unique<optim::CyclicLR>(opt, top / 10, top, o);
  } else {
    fail("[train] unknown schedule '", s,
         "' (known: constant, step, exponential, cosine, invsqrt, polynomial, cyclic, onecycle, plateau)");
  }
  if (c.warmup_epochs <= 0) return base;
  return std::make_unique<optim::LinearWarmup>(opt, c.warmup_epochs, 0.1, std::move(base), optim::WarmupMode::Sequential);
}

data::Transform make_augmentation(const std::string& name) {
  if (name == "none" || name.empty()) return {};
  if (name == "standard")  // shifts of up to 2 pixels (crop with padding) and mirror images
    return data::compose({data::random_crop(28, 28, 2), data::random_horizontal_flip(0.5)});
  if (name == "strong")
    return data::compose({data::random_crop(28, 28, 2), data::random_horizontal_flip(0.5),
                          data::random_apply(data::random_rotation(-10, 10), 0.5),
                          data::random_erasing(data::RandomErasingOptions{})});
  // The automatic policies on top of the standard crop and mirror (torchvision's recipes pair
  // them the same way).
  if (name == "trivial")
    return data::compose({data::random_crop(28, 28, 2), data::random_horizontal_flip(0.5), data::trivial_augment_wide()});
  if (name == "randaugment")
    return data::compose({data::random_crop(28, 28, 2), data::random_horizontal_flip(0.5), data::rand_augment()});
  fail("[train] unknown augmentation '", name, "' (known: none, standard, strong, trivial, randaugment)");
}

RunData load_data(const TrainConfig& c, int64_t* num_classes) {
  auto train = data::load_mnist(c.data, true);
  auto test = data::load_mnist(c.data, false);
  RunData d;
  d.train_images = train.images;
  d.train_labels = train.labels;
  d.test_images = test.images;
  d.test_labels = test.labels;
  if (!c.classes.empty()) {
    // Keep only the chosen classes, relabelled 0..k-1 in the order given.
    auto keep = [&](Tensor& images, Tensor& labels, const char* which) {
      std::vector<int64_t> rows, relabel;
      std::vector<double> l = labels.to_double_vector();
      for (size_t i = 0; i < l.size(); ++i) {
        auto it = std::find(c.classes.begin(), c.classes.end(), int64_t(l[i]));
        if (it != c.classes.end()) rows.push_back(int64_t(i)), relabel.push_back(int64_t(it - c.classes.begin()));
      }
      NB_CHECK(!rows.empty(), "[train] no ", which, " images of the requested classes in ", c.data);
      Tensor idx = from_vector(rows, {int64_t(rows.size())});
      images = index_select(images, 0, idx);
      labels = from_vector(relabel, {int64_t(relabel.size())});
    };
    keep(d.train_images, d.train_labels, "training");
    keep(d.test_images, d.test_labels, "test");
    *num_classes = int64_t(c.classes.size());
  }
  // Labels past the model's classes would fail at the first step, inside cross_entropy, without
  // naming the mismatch (and --per-class counted them past the end of its table).
  for (const auto& [labels, which] : {std::pair{d.train_labels, "training"}, std::pair{d.test_labels, "test"}}) {
    const int64_t top = labels.numel() ? max(labels).item<int64_t>() : -1;
    NB_CHECK(top < *num_classes, "[train] the ", which, " labels in ", c.data, " go up to ", top, ", but the model has ",
             *num_classes, " classes (num_classes of '", c.model, "'); pick ", *num_classes,
             " classes with --classes, or use a model with num_classes ", top + 1);
  }
  if (c.per_class_limit > 0) {
    // The first N images of each class (the few-labels setting of transfer learning).
    std::vector<int64_t> rows, seen(size_t(*num_classes), 0);
    std::vector<double> l = d.train_labels.to_double_vector();
    for (size_t i = 0; i < l.size(); ++i)
      if (seen[size_t(l[i])]++ < c.per_class_limit) rows.push_back(int64_t(i));
    Tensor idx = from_vector(rows, {int64_t(rows.size())});
    d.train_images = index_select(d.train_images, 0, idx);
    d.train_labels = index_select(d.train_labels, 0, idx);
  }
  if (c.train_limit > 0 && c.train_limit < d.train_images.size(0)) {
    d.train_images = d.train_images.slice(0, 0, c.train_limit).contiguous();
    d.train_labels = d.train_labels.slice(0, 0, c.train_limit).contiguous();
  }
  return d;
}

}  // namespace nabla::train::detail
