// TrainConfig <-> JSON (config.json), strict: unknown keys and wrong types are errors.
#include <cmath>
#include <limits>
#include <set>

#include "nabla/train/trainer.h"

namespace nabla::train {

using io::Json;

Json TrainConfig::to_json() const {
  Json cls = Json::array();
  for (int64_t c : classes) cls.push_back(c);
  return Json::object({{"model", model},
                       {"data", data},
                       {"out", out},
                       {"epochs", epochs},
                       {"batch_size", batch_size},
                       {"accumulate", accumulate},
                       {"balance_classes", balance_classes},
                       {"optimizer", optimizer},
                       {"lr", lr},
                       {"momentum", momentum},
                       {"weight_decay", weight_decay},
                       {"schedule", schedule},
                       {"warmup_epochs", warmup_epochs},
                       {"augment", augment},
                       {"dropout", dropout},
                       {"label_smoothing", label_smoothing},
                       {"mixup", mixup},
                       {"cutmix", cutmix},
                       {"clip_grad_norm", clip_grad_norm},
                       {"amp", amp},
                       {"ema_decay", ema_decay},
                       {"patience", patience},
                       {"val_fraction", val_fraction},
                       {"train_limit", train_limit},
                       {"per_class_limit", per_class_limit},
                       {"seed", int64_t(seed)},
                       {"threads", int64_t(threads)},
                       {"workers", int64_t(workers)},
                       {"device", device},
                       {"init_from", init_from},
                       {"freeze_backbone", freeze_backbone},
                       {"classes", cls}});
}

TrainConfig TrainConfig::from_json(const Json& j) {
  NB_CHECK(j.is_object(), "[config] expected a JSON object");
  TrainConfig c;
  for (const auto& [k, v] : j.as_object()) {
    auto str = [&](std::string& dst) {
      NB_CHECK(v.is_string(), "[config] '", k, "' must be a string, got ", v.dump());
      dst = v.as_string();
    };
    auto num = [&](double& dst) {
      NB_CHECK(v.is_number(), "[config] '", k, "' must be a number, got ", v.dump());
      dst = v.as_double();
    };
    auto integer = [&](int64_t& dst) {
      NB_CHECK(v.is_int(), "[config] '", k, "' must be an integer, got ", v.dump());
      dst = v.as_int();
    };
    auto int32 = [&](int& dst) {  // kept in an int: out of range is an error, not a truncation
      int64_t w = 0;
      integer(w);
      NB_CHECK(w >= std::numeric_limits<int>::min() && w <= std::numeric_limits<int>::max(), "[config] '", k,
               "' is out of range, got ", w);
      dst = int(w);
    };
    int64_t tmp = 0;
    if (k == "model") str(c.model);
    else if (k == "data") str(c.data);
    else if (k == "out") str(c.out);
    else if (k == "epochs") integer(c.epochs);
    else if (k == "batch_size") integer(c.batch_size);
    else if (k == "accumulate") integer(c.accumulate);
    else if (k == "optimizer") str(c.optimizer);
    else if (k == "lr") num(c.lr);
    else if (k == "momentum") num(c.momentum);
    else if (k == "weight_decay") num(c.weight_decay);
    else if (k == "schedule") str(c.schedule);
    else if (k == "warmup_epochs") integer(c.warmup_epochs);
    else if (k == "augment") str(c.augment);
    else if (k == "dropout") num(c.dropout);
    else if (k == "label_smoothing") num(c.label_smoothing);
    else if (k == "mixup") num(c.mixup);
    else if (k == "cutmix") num(c.cutmix);
    else if (k == "clip_grad_norm") num(c.clip_grad_norm);
    else if (k == "amp") str(c.amp);
    else if (k == "ema_decay") num(c.ema_decay);
    else if (k == "patience") integer(c.patience);
    else if (k == "val_fraction") num(c.val_fraction);
    else if (k == "train_limit") integer(c.train_limit);
    else if (k == "per_class_limit") integer(c.per_class_limit);
    else if (k == "seed") integer(tmp), c.seed = uint64_t(tmp);
    else if (k == "threads") int32(c.threads);
    else if (k == "workers") int32(c.workers);
    else if (k == "device") str(c.device), Device::parse(c.device);
    else if (k == "init_from") str(c.init_from);
    else if (k == "balance_classes") {
      NB_CHECK(v.is_bool(), "[config] 'balance_classes' must be true or false");
      c.balance_classes = v.as_bool();
    } else if (k == "freeze_backbone") {
      NB_CHECK(v.is_bool(), "[config] 'freeze_backbone' must be true or false");
      c.freeze_backbone = v.as_bool();
    } else if (k == "classes") {
      NB_CHECK(v.is_array(), "[config] 'classes' must be a list of integers");
      c.classes.clear();
      for (const Json& e : v.as_array()) {
        NB_CHECK(e.is_int(), "[config] 'classes' must be a list of integers");
        c.classes.push_back(e.as_int());
      }
    } else {
      fail("[config] unknown key '", k, "'");
    }
  }
  return c;
}

Json RunResult::to_json() const {
  Json per_class = Json::array();
  // A class absent from the test split has no accuracy (NaN), written as null: JSON has no NaN.
  for (double a : test.per_class_accuracy) per_class.push_back(std::isnan(a) ? Json() : Json(a));
  return Json::object({{"run_dir", run_dir},
                       {"epochs", epochs_run},
                       {"best_epoch", best_epoch},
                       {"best_val_accuracy", best_val_accuracy},
                       {"test_accuracy", test.accuracy},
                       {"test_top5_accuracy", test.topk_accuracy},
                       {"test_loss", test.loss},
                       {"per_class_accuracy", per_class},
                       {"seconds", seconds},
                       {"seconds_per_epoch", seconds_per_epoch},
                       {"data_wait_seconds", data_wait_seconds},
                       {"peak_memory_mb", peak_memory_mb},
                       {"checkpoint", run_dir + "/best.safetensors"},
                       {"report", run_dir + "/report.html"}});
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace nabla::train
