// Experiment 6 — generalization with little data: 2,000 Fashion-MNIST training images, the
// MLP 784-512-256-10 (ReLU), SGD with momentum 0.9 at lr 0.05, batch 64, 60 epochs, under
//   none             final weights, nothing else
//   weight decay     L2 penalty 5e-3 (SGD's weight_decay)
//   dropout          Dropout(0.5) after each hidden layer
//   augmentation     random shifts of up to 2 pixels (crop with padding) and mirror images,
//                    the trainer's "standard" augmentation
//   early stopping   stop when validation accuracy has not improved for 10 epochs, restore the best
//   all              the four together
// Validation: 1,000 other training images (only early stopping looks at them). Test: the 10,000
// test images. Reports train and test accuracy and their gap (results.csv, accuracy.svg,
// curves.csv, val_curves.svg).
// Then the lecture's bottleneck: a narrow *linear* layer (no activation) between two 512-wide
// layers, 784-512-[k]-512-10 for k = 8, 32, 128, against the same net without it, all trained as
// "none": parameter count and accuracy (bottleneck.csv, bottleneck.svg).
// Last, the strengths: each regularizer alone at several strengths (weight decay 5e-4 to 5e-3,
// dropout 0.1 to 0.5, shifts with and without mirror images), 3 seeds each and 3 of "none", final
// weights: does some strength raise test accuracy, not only narrow the gap? (sweep.csv,
// sweep_summary.csv, sweep.svg).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

struct Config {
  std::string name;
  double weight_decay = 0, dropout = 0;
  bool augment = false, early_stop = false;
  bool mirror = true;  ///< with augment: mirror images too (where the data allows them)
};

struct Outcome {
  double train_acc = 0, test_acc = 0, val_acc = 0;
  int64_t epochs_run = 0, best_epoch = 0, params = 0;
  std::vector<double> train_loss, val_acc_curve;
};

struct Setup {
  int epochs;
  int64_t batch;
  double lr;
  int64_t patience;
  bool flips;
};

Outcome fit(std::shared_ptr<nn::Sequential> model, const Config& c, const lecture::Data& d, const Setup& s) {
  optim::SGD opt(model->parameters(), optim::SGDOptions(s.lr).momentum(0.9).weight_decay(c.weight_decay));
  // Padding fills with the background (pixel 0), which standardized is -mean/std. Mirror
  // images only where a class survives them: not on the smoke set, whose classes are positions.
  const float bg = float(-d.mean / d.std);
  data::Transform aug;
  if (c.augment && s.flips && c.mirror)
    aug = data::compose({data::random_crop(28, 28, 2, bg), data::random_horizontal_flip(0.5)});
  else if (c.augment) aug = data::random_crop(28, 28, 2, bg);
  Outcome o;
  o.params = model->num_parameters();
  double best = -1;
  TensorList best_weights;
  int64_t step = 0, wait = 0;
  for (int e = 1; e <= s.epochs; ++e) {
    o.train_loss.push_back(lecture::train_epoch(*model, opt, d.train, s.batch, &step, {}, &aug, uint64_t(e)));
    const double va = lecture::evaluate(*model, d.val).accuracy;
    o.val_acc_curve.push_back(va);
    o.epochs_run = e;
    if (va > best) {
      best = va, o.best_epoch = e, wait = 0;
      if (c.early_stop) {
        best_weights.clear();
        for (const auto& p : model->parameters()) best_weights.push_back(p.detach().clone());
      }
    } else if (c.early_stop && ++wait >= s.patience) {
      break;
    }
  }
  if (c.early_stop) {  // restore the best epoch's weights
    NoGradGuard ng;
    auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
  }
  o.train_acc = lecture::evaluate(*model, d.train).accuracy;
  o.val_acc = lecture::evaluate(*model, d.val).accuracy;
  o.test_acc = lecture::evaluate(*model, d.test).accuracy;
  return o;
}

// 784-512-[k linear]-512-10 (k = 0: no bottleneck), ReLU after the 512-wide layers only.
std::shared_ptr<nn::Sequential> bottleneck_mlp(int64_t in, int64_t wide, int64_t k) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(nn::Linear(in, wide));
  net->push_back(nn::ReLU());
  if (k > 0) {
    net->push_back(nn::Linear(wide, k));  // no activation: a rank-k linear map between the wide layers
    net->push_back(nn::Linear(k, wide));
  } else {
    net->push_back(nn::Linear(wide, wide));
  }
  net->push_back(nn::ReLU());
  net->push_back(nn::Linear(wide, 10));
  return net;
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "06_generalization", "regularizers and a bottleneck on 2,000 training images");
  const bool smoke = args.smoke;
  const int64_t n_train = smoke ? 300 : 2000, n_val = smoke ? 200 : 1000;
  const std::vector<int64_t> widths = smoke ? std::vector<int64_t>{784, 128, 64, 10} : std::vector<int64_t>{784, 512, 256, 10};
  // Smoke: a lower lr, as the synthetic images' bright squares make 0.05 unstable at batch 30.
  const Setup setup{smoke ? 30 : 60, smoke ? 30 : 64, smoke ? 0.01 : 0.05, smoke ? 5 : 10, !smoke};
  lecture::Data d = lecture::load_data(args, n_train, n_val, smoke ? 500 : 0);
  std::printf("data: %lld train, %lld validation, %lld test images%s\n", (long long)d.train.size(),
              (long long)d.val.size(), (long long)d.test.size(), smoke ? " (synthetic)" : "");

  const double wd = 5e-3, p = 0.5;
  const std::vector<Config> configs = {{"none"},
                                       {"weight decay", wd},
                                       {"dropout", 0, p},
                                       {"augmentation", 0, 0, true},
                                       {"early stopping", 0, 0, false, true},
                                       {"all", wd, p, true, true}};
  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"config", "train_accuracy", "test_accuracy", "gap", "val_accuracy", "epochs_run", "best_epoch"});
  lecture::Csv curves(lecture::join(args.out, "curves.csv"), {"config", "epoch", "train_loss", "val_accuracy"});
  lecture::Series train_bar{"train accuracy"}, test_bar{"test accuracy"}, gap_bar{"gap (train - test)"};
  std::vector<std::string> names;
  std::vector<lecture::Series> val_plot;
  for (const auto& c : configs) {
    manual_seed(args.seed);  // same initial weights and batch order for every configuration
    Outcome o = fit(lecture::make_mlp(widths, c.dropout), c, d, setup);
    results.row({c.name, o.train_acc, o.test_acc, o.train_acc - o.test_acc, o.val_acc, o.epochs_run, o.best_epoch});
    lecture::Series vs{c.name};
    for (size_t e = 0; e < o.train_loss.size(); ++e) {
      curves.row({c.name, int64_t(e + 1), o.train_loss[e], o.val_acc_curve[e]});
      vs.x.push_back(double(e + 1)), vs.y.push_back(o.val_acc_curve[e]);
    }
    val_plot.push_back(vs);
    std::printf("%-15s train acc %.4f  test acc %.4f  gap %.4f  (%lld epochs, best %lld)\n", c.name.c_str(), o.train_acc,
                o.test_acc, o.train_acc - o.test_acc, (long long)o.epochs_run, (long long)o.best_epoch);
    names.push_back(c.name);
    train_bar.y.push_back(o.train_acc), test_bar.y.push_back(o.test_acc), gap_bar.y.push_back(o.train_acc - o.test_acc);
  }
  lecture::write_bar_plot(lecture::join(args.out, "accuracy.svg"), names, {train_bar, test_bar, gap_bar},
                          {"2,000 training images: train vs test accuracy", "", "accuracy", false, false});
  lecture::write_line_plot(lecture::join(args.out, "val_curves.svg"), val_plot,
                           {"Validation accuracy per epoch", "epoch", "validation accuracy", false, false});

  lecture::Csv bn(lecture::join(args.out, "bottleneck.csv"),
                  {"model", "bottleneck_width", "parameters", "train_accuracy", "test_accuracy", "gap"});
  const int64_t wide = smoke ? 128 : 512;
  std::vector<std::string> bn_names;
  lecture::Series bn_test{"test accuracy"}, bn_params{"parameters / 1e6"};
  for (int64_t k : smoke ? std::vector<int64_t>{0, 8} : std::vector<int64_t>{0, 128, 32, 8}) {
    manual_seed(args.seed);
    const std::string name = k == 0 ? "784-" + std::to_string(wide) + "-" + std::to_string(wide) + "-10"
                                    : "784-" + std::to_string(wide) + "-[" + std::to_string(k) + "]-" + std::to_string(wide) + "-10";
    Outcome o = fit(bottleneck_mlp(784, wide, k), configs[0], d, setup);
    bn.row({name, k, o.params, o.train_acc, o.test_acc, o.train_acc - o.test_acc});
    std::printf("%-22s %8lld parameters  train acc %.4f  test acc %.4f\n", name.c_str(), (long long)o.params,
                o.train_acc, o.test_acc);
    bn_names.push_back(k == 0 ? "no bottleneck" : "bottleneck " + std::to_string(k));
    bn_test.y.push_back(o.test_acc), bn_params.y.push_back(double(o.params) / 1e6);
  }
  lecture::write_bar_plot(lecture::join(args.out, "bottleneck.svg"), bn_names, {bn_test, bn_params},
                          {"Linear bottleneck between two " + std::to_string(wide) + "-wide layers (2,000 images)", "",
                           "test accuracy  |  millions of parameters", false, false});

  // Strengths: each regularizer alone, several strengths, 3 seeds (the seed sets the initial
  // weights, the batch order and the dropout and augmentation draws; the images are the same).
  struct Strength {
    std::string regularizer, strength;
    Config config;
  };
  std::vector<Strength> sweep = {{"none", "-", {"none"}}};
  for (double w : smoke ? std::vector<double>{5e-3} : std::vector<double>{5e-4, 1e-3, 2e-3, 5e-3}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", w);
    sweep.push_back({"weight decay", buf, {"weight decay", w}});
  }
  for (double q : smoke ? std::vector<double>{0.5} : std::vector<double>{0.1, 0.2, 0.3, 0.5}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", q);
    sweep.push_back({"dropout", buf, {"dropout", 0, q}});
  }
  sweep.push_back({"augmentation", "shifts", {"augmentation", 0, 0, true, false, false}});
  if (!smoke) sweep.push_back({"augmentation", "shifts + mirror", {"augmentation", 0, 0, true, false, true}});
  const int seeds = smoke ? 1 : 3;
  lecture::Csv sw(lecture::join(args.out, "sweep.csv"),
                  {"regularizer", "strength", "seed", "train_accuracy", "test_accuracy", "gap"});
  lecture::Csv sws(lecture::join(args.out, "sweep_summary.csv"),
                   {"regularizer", "strength", "runs", "mean_test_accuracy", "min", "max", "mean_gap",
                    "mean_minus_none"});
  double none_mean = 0;
  std::vector<std::string> sw_names;
  lecture::Series sw_test{"mean test accuracy"};
  for (const Strength& st : sweep) {
    std::vector<double> test, gap;
    for (int k = 0; k < seeds; ++k) {
      const uint64_t seed = args.seed + uint64_t(k);
      manual_seed(seed);
      Outcome o = fit(lecture::make_mlp(widths, st.config.dropout), st.config, d, setup);
      sw.row({st.regularizer, st.strength, int64_t(seed), o.train_acc, o.test_acc, o.train_acc - o.test_acc});
      test.push_back(o.test_acc), gap.push_back(o.train_acc - o.test_acc);
    }
    const lecture::Spread t = lecture::spread(test);
    const double mean_gap = lecture::spread(gap).mean;
    if (st.regularizer == "none") none_mean = t.mean;
    sws.row({st.regularizer, st.strength, int64_t(seeds), t.mean, t.min, t.max, mean_gap, t.mean - none_mean});
    std::printf("sweep %-13s %-16s test acc mean %.4f (min %.4f, max %.4f)  gap %.4f\n", st.regularizer.c_str(),
                st.strength.c_str(), t.mean, t.min, t.max, mean_gap);
    sw_names.push_back(st.regularizer == "none" ? "none" : st.regularizer + " " + st.strength);
    sw_test.y.push_back(t.mean);
  }
  lecture::write_bar_plot(lecture::join(args.out, "sweep.svg"), sw_names, {sw_test},
                          {"Each regularizer alone, mean test accuracy over " + std::to_string(seeds) + " seeds", "",
                           "test accuracy", false, false});
  std::printf("wrote %s/{results.csv,curves.csv,accuracy.svg,val_curves.svg,bottleneck.csv,bottleneck.svg,"
              "sweep.csv,sweep_summary.csv,sweep.svg}\n",
              args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "06_generalization: %s\n", e.what());
  return 1;
}
