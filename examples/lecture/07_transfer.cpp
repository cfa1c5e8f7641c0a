// Experiment 7 — transfer learning: does a CNN pretrained on other classes help when the target
// task has few labelled images? Through the train::Trainer API (what `nabla train` and
// `nabla finetune` run; examples/transfer_learning.sh is the command-line version of one cell).
//
// Two source -> target pairs of Fashion-MNIST classes, five classes each:
//   "0-4 -> 5-9":             garments (T-shirt, trouser, pullover, dress, coat) -> sandal, shirt,
//                             sneaker, bag, ankle boot: mostly footwear and bags, unlike the source;
//   "0,1,2,5,7 -> 3,4,6,8,9": T-shirt, trouser, pullover, sandal, sneaker -> dress, coat, shirt,
//                             bag, ankle boot: each target class has a relative in the source.
// For each pair the `cnn` preset is pretrained on the source classes (all their training images,
// 4 epochs). Then, for 10, 20, 50 and 100 labelled images per target class (20% of them held out
// for validation) and seeds 0, 1, 2, three runs on the target classes:
//   - fine-tuned: all layers start from the pretrained weights (a fresh 5-way head);
//   - frozen backbone: only the fresh head trains;
//   - from scratch: the same model from a random start.
// Every run uses SGD with momentum 0.9, lr 0.05 with a cosine schedule, batch 64 and the same
// budget of about 300 steps (epochs = ceil(300 / steps per epoch), at least 30), and is tested on
// the 5,000 test images of the target classes with the weights of its best validation epoch.
// The seed changes the initialization, the validation split and the batch order; the labelled
// images are the first N of each class in every run.
//
// Outputs: results.csv (every run), summary.csv (mean, min and max over the seeds, and the
// fine-tuned mean minus the from-scratch mean), pretrain.csv, accuracy_<pair>.svg, runs/ (the
// trainer's run folders).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "common.h"
#include "nabla/train/trainer.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

struct Pair {
  std::string name, tag;  ///< tag: file-name form of the name
  std::vector<int64_t> source, target;
};

struct Mode {
  std::string name, tag;
  bool from_pretrained, freeze;
};

constexpr int64_t kStepBudget = 300;
constexpr double kValFraction = 0.2;

// Epochs that give about kStepBudget steps of batch `batch` over n_train images (a split
// smaller than one batch is one short batch per epoch), at least 30.
int64_t epochs_for(int64_t n_train, int64_t batch) {
  const int64_t steps_per_epoch = std::max<int64_t>(1, n_train / batch);
  return std::max<int64_t>(30, (kStepBudget + steps_per_epoch - 1) / steps_per_epoch);
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "07_transfer",
                                  "fine-tuning a pretrained CNN on 10-100 images per class, frozen or not, vs from scratch");
  const bool smoke = args.smoke;
  std::string data_dir = args.data;
  if (smoke) {  // the trainer reads MNIST files: write the synthetic set as IDX files
    data_dir = lecture::join(args.out, "synthetic-data");
    lecture::write_mnist_dir(data_dir, lecture::synthetic_images(1500, 1234), lecture::synthetic_images(500, 5678));
  }
  const std::string runs = lecture::join(args.out, "runs");
  auto base_config = [&](const std::string& run, uint64_t seed) {
    train::TrainConfig c;
    c.model = "cnn";
    c.data = data_dir;
    c.out = lecture::join(runs, run);
    c.seed = seed;
    c.threads = args.threads;
    c.progress = false;
    return c;
  };

  const std::vector<Pair> pairs = {{"0-4 -> 5-9", "0-4_to_5-9", {0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}},
                                   {"0,1,2,5,7 -> 3,4,6,8,9", "01257_to_34689", {0, 1, 2, 5, 7}, {3, 4, 6, 8, 9}}};
  const std::vector<Mode> modes = {{"fine-tuned", "finetune", true, false},
                                   {"frozen backbone", "frozen", true, true},
                                   {"from scratch", "scratch", false, false}};
  const std::vector<int64_t> sizes = smoke ? std::vector<int64_t>{20} : std::vector<int64_t>{10, 20, 50, 100};
  const std::vector<uint64_t> seeds = smoke ? std::vector<uint64_t>{args.seed}
                                            : std::vector<uint64_t>{args.seed, args.seed + 1, args.seed + 2};

  lecture::Csv pre_csv(lecture::join(args.out, "pretrain.csv"),
                       {"pair", "classes", "epochs", "test_accuracy", "seconds"});
  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"pair", "mode", "per_class", "seed", "train_images", "val_images", "epochs", "lr",
                        "trainable_parameters", "frozen_parameters", "best_epoch", "test_accuracy", "seconds"});
  lecture::Csv summary(lecture::join(args.out, "summary.csv"),
                       {"pair", "per_class", "mode", "runs", "mean_test_accuracy", "min", "max",
                        "mean_minus_from_scratch"});
  lecture::Timer total;
  for (const Pair& pair : pairs) {
    train::TrainConfig pre = base_config("pretrain_" + pair.tag, args.seed);
    pre.classes = pair.source;
    pre.epochs = smoke ? 1 : 4;
    if (smoke) pre.train_limit = 800;
    train::Trainer pre_trainer(pre);
    train::RunResult pre_result = pre_trainer.fit();
    const std::string checkpoint = lecture::join(pre.out, "best.safetensors");
    pre_csv.row({pair.name, "source", pre.epochs, pre_result.test.accuracy, pre_result.seconds});
    std::printf("[%s] pretrain on the source classes: test accuracy %.4f (%.0f s)\n", pair.name.c_str(),
                pre_result.test.accuracy, pre_result.seconds);

    std::map<std::string, lecture::Series> curve;  // mode -> mean test accuracy vs images per class
    for (const Mode& m : modes) curve[m.tag] = lecture::Series(m.name, false, true);
    for (int64_t per_class : sizes) {
      std::map<std::string, std::vector<double>> acc;
      for (uint64_t seed : seeds)
        for (const Mode& m : modes) {
          train::TrainConfig c = base_config(pair.tag + "_" + m.tag + "_n" + std::to_string(per_class) + "_seed" +
                                                 std::to_string(seed),
                                             seed);
          c.classes = pair.target;
          c.per_class_limit = per_class;
          c.val_fraction = kValFraction;
          const int64_t n = per_class * int64_t(pair.target.size());
          const int64_t n_val = int64_t(std::llround(double(n) * kValFraction));  // as data::split_indices
          c.epochs = smoke ? 3 : epochs_for(n - n_val, c.batch_size);
          c.schedule = "cosine";
          if (m.from_pretrained) c.init_from = checkpoint;
          c.freeze_backbone = m.freeze;
          train::Trainer trainer(c);
          train::RunResult r = trainer.fit();
          const int64_t trainable = trainer.model().num_parameters(true), all = trainer.model().num_parameters();
          results.row({pair.name, m.name, per_class, int64_t(seed), n - n_val, n_val, c.epochs, 0.05, trainable,
                       all - trainable, r.best_epoch, r.test.accuracy, r.seconds});
          acc[m.tag].push_back(r.test.accuracy);
        }
      const lecture::Spread scratch = lecture::spread(acc["scratch"]);
      for (const Mode& m : modes) {
        const lecture::Spread s = lecture::spread(acc[m.tag]);
        summary.row({pair.name, per_class, m.name, int64_t(acc[m.tag].size()), s.mean, s.min, s.max,
                     s.mean - scratch.mean});
        curve[m.tag].x.push_back(double(per_class));
        curve[m.tag].y.push_back(s.mean);
        std::printf("[%s] %3lld images per class  %-16s test accuracy mean %.4f (min %.4f, max %.4f)\n",
                    pair.name.c_str(), (long long)per_class, m.name.c_str(), s.mean, s.min, s.max);
      }
    }
    std::vector<lecture::Series> plot;
    for (const Mode& m : modes) plot.push_back(curve[m.tag]);
    lecture::write_line_plot(lecture::join(args.out, "accuracy_" + pair.tag + ".svg"), plot,
                             {"Transfer " + pair.name + ": mean test accuracy over " + std::to_string(seeds.size()) +
                                  " seeds",
                              "labelled images per target class", "test accuracy", true, false});
  }
  std::printf("wrote %s/{results.csv,summary.csv,pretrain.csv,accuracy_*.svg} and runs/ (%.0f s)\n",
              args.out.c_str(), total.seconds());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "07_transfer: %s\n", e.what());
  return 1;
}
