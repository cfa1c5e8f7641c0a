// Experiment 7 — transfer learning, the numbers of examples/transfer_learning.sh through the
// train::Trainer API (the same configurations as that script's `nabla` commands, 1 thread):
//   1. pretrain the `cnn` preset on Fashion-MNIST classes 0-4 (all their training images, 4 epochs);
//   2. fine-tune on classes 5-9 with only 100 labelled images per class (30 epochs, cosine):
//        all layers (lr 0.01), or with the backbone frozen (only the new head trains, lr 0.05);
//   3. train the same model from scratch on the same 500 images, as the baseline.
// Test accuracy is on the 5,000 test images of classes 5-9 (results.csv, accuracy.svg), with
// per-epoch validation accuracy (curves.csv, val_curves.svg). The run folders (checkpoints,
// report.html) go to <out>/runs.
#include <cstdio>
#include <filesystem>

#include "common.h"
#include "nabla/train/trainer.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

// Keeps each epoch's record (the trainer also writes them to metrics.csv).
struct History : train::Callback {
  std::vector<train::EpochRecord> epochs;
  void on_epoch_end(train::Trainer&, const train::EpochRecord& r) override { epochs.push_back(r); }
};

struct Mode {
  std::string name;
  bool from_pretrained, freeze;
  double lr;  ///< 0: the trainer's default for SGD (0.05)
};

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "07_transfer", "fine-tuning a pretrained CNN on 500 images, with and without freezing");
  const bool smoke = args.smoke;
  std::string data_dir = args.data;
  if (smoke) {  // the trainer reads MNIST files: write the synthetic set as IDX files
    data_dir = lecture::join(args.out, "synthetic-data");
    lecture::write_mnist_dir(data_dir, lecture::synthetic_images(1500, 1234), lecture::synthetic_images(500, 5678));
  }
  const std::string runs = lecture::join(args.out, "runs");
  auto base_config = [&](const std::string& run) {
    train::TrainConfig c;
    c.model = "cnn";
    c.data = data_dir;
    c.out = lecture::join(runs, run);
    c.seed = args.seed;
    c.threads = args.threads;
    c.progress = false;
    return c;
  };

  train::TrainConfig pre = base_config("pretrain-0-4");
  pre.classes = {0, 1, 2, 3, 4};
  pre.epochs = smoke ? 1 : 4;
  if (smoke) pre.train_limit = 800;
  lecture::Timer t0;
  train::Trainer pre_trainer(pre);
  train::RunResult pre_result = pre_trainer.fit();
  std::printf("pretrain on classes 0-4: test accuracy %.4f (%.0f s)\n", pre_result.test.accuracy, t0.seconds());

  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"run", "classes", "train_images", "epochs", "lr", "trainable_parameters", "frozen_parameters",
                        "best_epoch", "test_accuracy", "seconds"});
  results.row({"pretrain", "0-4", "all", pre.epochs, 0.05, pre_trainer.model().num_parameters(true), int64_t(0),
               pre_result.best_epoch, pre_result.test.accuracy, pre_result.seconds});
  lecture::Csv curves(lecture::join(args.out, "curves.csv"), {"run", "epoch", "train_loss", "val_accuracy"});
  const int64_t per_class = smoke ? 20 : 100;
  const std::vector<Mode> modes = {{"fine-tuned, all layers", true, false, 0.01},
                                   {"fine-tuned, frozen backbone", true, true, 0.0},
                                   {"from scratch", false, false, 0.0}};
  std::vector<std::string> names = {"pretrain (0-4)"};
  lecture::Series acc{"test accuracy"};
  acc.y.push_back(pre_result.test.accuracy);
  std::vector<lecture::Series> val_plot;
  for (const auto& m : modes) {
    train::TrainConfig c = base_config(m.freeze ? "finetune-frozen" : m.from_pretrained ? "finetune" : "scratch");
    c.classes = {5, 6, 7, 8, 9};
    c.per_class_limit = per_class;
    c.epochs = smoke ? 3 : 30;
    c.schedule = "cosine";
    c.lr = m.lr;
    if (m.from_pretrained) c.init_from = lecture::join(lecture::join(runs, "pretrain-0-4"), "best.safetensors");
    c.freeze_backbone = m.freeze;
    train::Trainer trainer(c);
    auto history = std::make_shared<History>();
    trainer.add_callback(history);
    train::RunResult r = trainer.fit();
    const int64_t trainable = trainer.model().num_parameters(true), total = trainer.model().num_parameters();
    results.row({m.name, "5-9", 5 * per_class, c.epochs, m.lr > 0 ? m.lr : 0.05, trainable, total - trainable,
                 r.best_epoch, r.test.accuracy, r.seconds});
    lecture::Series vs{m.name};
    for (const auto& e : history->epochs) {
      curves.row({m.name, e.epoch, e.train_loss, e.val_accuracy});
      vs.x.push_back(double(e.epoch)), vs.y.push_back(e.val_accuracy);
    }
    val_plot.push_back(vs);
    names.push_back(m.name);
    acc.y.push_back(r.test.accuracy);
    std::printf("%-28s test accuracy %.4f  (%lld trainable, %lld frozen parameters; %.0f s)\n", m.name.c_str(),
                r.test.accuracy, (long long)trainable, (long long)(total - trainable), r.seconds);
  }
  lecture::write_bar_plot(lecture::join(args.out, "accuracy.svg"), names, {acc},
                          {"Transfer: classes 0-4 -> 5-9 with " + std::to_string(5 * per_class) + " images", "",
                           "test accuracy", false, false});
  lecture::write_line_plot(lecture::join(args.out, "val_curves.svg"), val_plot,
                           {"Validation accuracy while training on classes 5-9", "epoch", "validation accuracy", false, false});
  std::printf("wrote %s/{results.csv,curves.csv,accuracy.svg,val_curves.svg} and runs/\n", args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "07_transfer: %s\n", e.what());
  return 1;
}
