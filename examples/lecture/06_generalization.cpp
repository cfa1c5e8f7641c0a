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
// Then the strengths: each regularizer alone at several strengths (weight decay 5e-4 to 5e-3,
// dropout 0.1 to 0.5, shifts with and without mirror images), 3 seeds each and 3 of "none", final
// weights: does some strength raise test accuracy, not only narrow the gap? (sweep.csv,
// sweep_summary.csv, sweep.svg).
// Last, the long schedules: the same net for 150 and 300 epochs with the lr decayed to 0 along a
// cosine (stepped every iteration), against 60 epochs with and without that decay, for none,
// weight decay 5e-4 and 5e-3, dropout 0.2 and 0.5, shifts, and weight decay 5e-4 + dropout 0.2 +
// shifts together; 3 seeds each. Do the regularizers that slowed learning at 60 constant-lr
// epochs raise test accuracy once they have time to converge? Final weights, and the weights of
// the best validation epoch (long.csv, long_summary.csv, long_curves.csv, long.svg, long_gap.svg,
// long_val_curves.svg).
// `--only S[,S...]` runs only some of the four sections (regularizers, bottleneck, sweep, long);
// by default all run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

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
  double train_acc = 0, train_loss = 0, test_acc = 0, val_acc = 0;
  double best_val_acc = 0, best_test_acc = std::nan("");  ///< best_test_acc: only with Setup::keep_best
  int64_t epochs_run = 0, best_epoch = 0, params = 0;
  std::vector<double> epoch_loss, val_acc_curve;
};

struct Setup {
  int epochs;
  int64_t batch;
  double lr;
  int64_t patience;
  bool flips;
  bool cosine = false;     ///< lr decays from `lr` to 0 along a cosine, stepped every iteration
  bool keep_best = false;  ///< also test the best validation epoch's weights (without stopping)
};

TensorList snapshot(nn::Module& model) {
  TensorList w;
  for (const auto& p : model.parameters()) w.push_back(p.detach().clone());
  return w;
}

void restore(nn::Module& model, const TensorList& w) {
  NoGradGuard ng;
  auto params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(w[i]);
}

Outcome fit(std::shared_ptr<nn::Sequential> model, const Config& c, const lecture::Data& d, const Setup& s) {
  optim::SGD opt(model->parameters(), optim::SGDOptions(s.lr).momentum(0.9).weight_decay(c.weight_decay));
  std::unique_ptr<optim::LRScheduler> sched;
  lecture::StepHook hook;
  if (s.cosine) {
    sched = std::make_unique<optim::CosineAnnealingLR>(opt, int64_t(s.epochs) * (d.train.size() / s.batch));
    hook = [&](int64_t, double) { sched->step(); };
  }
  // Padding fills with the background (pixel 0), which standardized is -mean/std. Mirror
  // images only where a class survives them: not on the smoke set, whose classes are positions.
  const float bg = float(-d.mean / d.std);
  data::Transform aug;
  if (c.augment && s.flips && c.mirror)
    aug = data::compose({data::random_crop(28, 28, 2, bg), data::random_horizontal_flip(0.5)});
  else if (c.augment) aug = data::random_crop(28, 28, 2, bg);
  Outcome o;
  o.params = model->num_parameters();
  o.best_val_acc = -1;
  const bool keep = c.early_stop || s.keep_best;
  TensorList best_weights;
  int64_t step = 0, wait = 0;
  for (int e = 1; e <= s.epochs; ++e) {
    o.epoch_loss.push_back(lecture::train_epoch(*model, opt, d.train, s.batch, &step, hook, &aug, uint64_t(e)));
    const double va = lecture::evaluate(*model, d.val).accuracy;
    o.val_acc_curve.push_back(va);
    o.epochs_run = e;
    if (va > o.best_val_acc) {
      o.best_val_acc = va, o.best_epoch = e, wait = 0;
      if (keep) best_weights = snapshot(*model);
    } else if (c.early_stop && ++wait >= s.patience) {
      break;
    }
  }
  if (c.early_stop) restore(*model, best_weights);
  const lecture::Eval train = lecture::evaluate(*model, d.train);
  o.train_acc = train.accuracy, o.train_loss = train.loss;
  o.val_acc = lecture::evaluate(*model, d.val).accuracy;
  o.test_acc = lecture::evaluate(*model, d.test).accuracy;
  if (s.keep_best && !c.early_stop) {  // the final weights are measured; now the best epoch's
    restore(*model, best_weights);
    o.best_test_acc = lecture::evaluate(*model, d.test).accuracy;
  } else if (c.early_stop) {
    o.best_test_acc = o.test_acc;
  }
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

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// What every section shares: the flags, the data, the MLP's widths and the 60-epoch setup.
struct Experiment {
  const lecture::Args& args;
  const lecture::Data& d;
  std::vector<int64_t> widths;
  Setup setup;
  bool smoke;
};

// One regularizer at one strength, as the sweep and the long schedule list them.
struct Strength {
  std::string regularizer, strength;
  Config config;
};

// The six configurations of the header, seed 0: results.csv, curves.csv and their plots.
void run_regularizers(const Experiment& x) {
  const double wd = 5e-3, p = 0.5;
  const std::vector<Config> configs = {{"none"},
                                       {"weight decay", wd},
                                       {"dropout", 0, p},
                                       {"augmentation", 0, 0, true},
                                       {"early stopping", 0, 0, false, true},
                                       {"all", wd, p, true, true}};
  lecture::Csv results(lecture::join(x.args.out, "results.csv"),
                       {"config", "train_accuracy", "test_accuracy", "gap", "val_accuracy", "epochs_run", "best_epoch"});
  lecture::Csv curves(lecture::join(x.args.out, "curves.csv"), {"config", "epoch", "train_loss", "val_accuracy"});
  lecture::Series train_bar{"train accuracy"}, test_bar{"test accuracy"}, gap_bar{"gap (train - test)"};
  std::vector<std::string> names;
  std::vector<lecture::Series> val_plot;
  for (const auto& c : configs) {
    manual_seed(x.args.seed);  // same initial weights and batch order for every configuration
    Outcome o = fit(lecture::make_mlp(x.widths, c.dropout), c, x.d, x.setup);
    results.row({c.name, o.train_acc, o.test_acc, o.train_acc - o.test_acc, o.val_acc, o.epochs_run, o.best_epoch});
    lecture::Series vs{c.name};
    for (size_t e = 0; e < o.epoch_loss.size(); ++e) {
      curves.row({c.name, int64_t(e + 1), o.epoch_loss[e], o.val_acc_curve[e]});
      vs.x.push_back(double(e + 1)), vs.y.push_back(o.val_acc_curve[e]);
    }
    val_plot.push_back(vs);
    std::printf("%-15s train acc %.4f  test acc %.4f  gap %.4f  (%lld epochs, best %lld)\n", c.name.c_str(), o.train_acc,
                o.test_acc, o.train_acc - o.test_acc, (long long)o.epochs_run, (long long)o.best_epoch);
    names.push_back(c.name);
    train_bar.y.push_back(o.train_acc), test_bar.y.push_back(o.test_acc), gap_bar.y.push_back(o.train_acc - o.test_acc);
  }
  lecture::write_bar_plot(lecture::join(x.args.out, "accuracy.svg"), names, {train_bar, test_bar, gap_bar},
                          {"2,000 training images: train vs test accuracy", "", "accuracy", false, false});
  lecture::write_line_plot(lecture::join(x.args.out, "val_curves.svg"), val_plot,
                           {"Validation accuracy per epoch", "epoch", "validation accuracy", false, false});
  std::printf("wrote %s/{results.csv,curves.csv,accuracy.svg,val_curves.svg}\n", x.args.out.c_str());
}

void run_bottleneck(const Experiment& x) {
  lecture::Csv bn(lecture::join(x.args.out, "bottleneck.csv"),
                  {"model", "bottleneck_width", "parameters", "train_accuracy", "test_accuracy", "gap"});
  const int64_t wide = x.smoke ? 128 : 512;
  std::vector<std::string> bn_names;
  lecture::Series bn_test{"test accuracy"}, bn_params{"parameters / 1e6"};
  for (int64_t k : x.smoke ? std::vector<int64_t>{0, 8} : std::vector<int64_t>{0, 128, 32, 8}) {
    manual_seed(x.args.seed);
    const std::string name = k == 0 ? "784-" + std::to_string(wide) + "-" + std::to_string(wide) + "-10"
                                    : "784-" + std::to_string(wide) + "-[" + std::to_string(k) + "]-" + std::to_string(wide) + "-10";
    Outcome o = fit(bottleneck_mlp(784, wide, k), Config{"none"}, x.d, x.setup);
    bn.row({name, k, o.params, o.train_acc, o.test_acc, o.train_acc - o.test_acc});
    std::printf("%-22s %8lld parameters  train acc %.4f  test acc %.4f\n", name.c_str(), (long long)o.params,
                o.train_acc, o.test_acc);
    bn_names.push_back(k == 0 ? "no bottleneck" : "bottleneck " + std::to_string(k));
    bn_test.y.push_back(o.test_acc), bn_params.y.push_back(double(o.params) / 1e6);
  }
  lecture::write_bar_plot(lecture::join(x.args.out, "bottleneck.svg"), bn_names, {bn_test, bn_params},
                          {"Linear bottleneck between two " + std::to_string(wide) + "-wide layers (2,000 images)", "",
                           "test accuracy  |  millions of parameters", false, false});
  std::printf("wrote %s/{bottleneck.csv,bottleneck.svg}\n", x.args.out.c_str());
}

// Strengths: each regularizer alone, several strengths, 3 seeds (the seed sets the initial
// weights, the batch order and the dropout and augmentation draws; the images are the same).
void run_sweep(const Experiment& x) {
  std::vector<Strength> sweep = {{"none", "-", {"none"}}};
  for (double w : x.smoke ? std::vector<double>{5e-3} : std::vector<double>{5e-4, 1e-3, 2e-3, 5e-3})
    sweep.push_back({"weight decay", fmt_g(w), {"weight decay", w}});
  for (double q : x.smoke ? std::vector<double>{0.5} : std::vector<double>{0.1, 0.2, 0.3, 0.5})
    sweep.push_back({"dropout", fmt_g(q), {"dropout", 0, q}});
  sweep.push_back({"augmentation", "shifts", {"augmentation", 0, 0, true, false, false}});
  if (!x.smoke) sweep.push_back({"augmentation", "shifts + mirror", {"augmentation", 0, 0, true, false, true}});
  const int seeds = x.smoke ? 1 : 3;
  lecture::Csv sw(lecture::join(x.args.out, "sweep.csv"),
                  {"regularizer", "strength", "seed", "train_accuracy", "test_accuracy", "gap"});
  lecture::Csv sws(lecture::join(x.args.out, "sweep_summary.csv"),
                   {"regularizer", "strength", "runs", "mean_test_accuracy", "min", "max", "mean_gap",
                    "mean_minus_none"});
  double none_mean = 0;
  std::vector<std::string> sw_names;
  lecture::Series sw_test{"mean test accuracy"};
  for (const Strength& st : sweep) {
    std::vector<double> test, gap;
    for (int k = 0; k < seeds; ++k) {
      const uint64_t seed = x.args.seed + uint64_t(k);
      manual_seed(seed);
      Outcome o = fit(lecture::make_mlp(x.widths, st.config.dropout), st.config, x.d, x.setup);
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
  lecture::write_bar_plot(lecture::join(x.args.out, "sweep.svg"), sw_names, {sw_test},
                          {"Each regularizer alone, mean test accuracy over " + std::to_string(seeds) + " seeds", "",
                           "test accuracy", false, false});
  std::printf("wrote %s/{sweep.csv,sweep_summary.csv,sweep.svg}\n", x.args.out.c_str());
}

// How long and how the lr moves: `epochs` epochs at a constant lr, or decayed to 0 along a cosine.
struct Schedule {
  int epochs;
  bool cosine;
  std::string name() const { return (cosine ? "cosine " : "constant ") + std::to_string(epochs); }
};

// One schedule's runs, averaged over the seeds: a long_summary.csv row per configuration.
// Returns, for the plots, each configuration's mean test accuracy minus none's (points; none
// itself left out) and its mean gap.
std::pair<lecture::Series, lecture::Series> summarize(const Schedule& sc, const std::vector<Strength>& runs,
                                                      const std::vector<std::vector<Outcome>>& out,
                                                      lecture::Csv& summary) {
  double none_mean = 0;
  lecture::Series gain_bar{sc.name() + " epochs"}, gap_bar{sc.name() + " epochs"};
  for (size_t r = 0; r < runs.size(); ++r) {
    std::vector<double> test, gap, train, loss, best, epoch;
    for (const Outcome& o : out[r]) {
      test.push_back(o.test_acc), gap.push_back(o.train_acc - o.test_acc), train.push_back(o.train_acc);
      loss.push_back(o.train_loss), best.push_back(o.best_test_acc), epoch.push_back(double(o.best_epoch));
    }
    const lecture::Spread t = lecture::spread(test), b = lecture::spread(best);
    const double mean_gap = lecture::spread(gap).mean;
    if (r == 0) none_mean = t.mean;
    summary.row({sc.name(), runs[r].regularizer, runs[r].strength, int64_t(out[r].size()), t.mean, t.min, t.max,
                 t.mean - none_mean, mean_gap, lecture::spread(train).mean, lecture::spread(loss).mean, b.mean, b.min,
                 b.max, lecture::spread(epoch).mean});
    std::printf("long %-12s %-13s %-30s test acc mean %.4f (min %.4f, max %.4f)  gap %.4f  at best val %.4f\n",
                sc.name().c_str(), runs[r].regularizer.c_str(), runs[r].strength.c_str(), t.mean, t.min, t.max,
                mean_gap, b.mean);
    if (r > 0) gain_bar.y.push_back(100 * (t.mean - none_mean));
    gap_bar.y.push_back(mean_gap);
  }
  return {gain_bar, gap_bar};
}

// The long schedules. At 60 epochs and a constant lr, dropout's and augmentation's training loss
// was still falling and every model's validation accuracy moved over 2-5 points in the last 10
// epochs, so the final weights were a noisy sample of a run that had not finished. A cosine decay
// to 0 lets every run settle, and 150 epochs (2.5 times as long) give the slow learners time;
// 300 checks whether still more time changes the ranking, cosine 60 separates the decay from the
// length, and constant 60 is the sweep's setup again (it reproduces its numbers, and adds the
// combination). "none" gets every schedule too, so each comparison is at equal training.
void run_long(const Experiment& x) {
  const std::vector<Schedule> schedules =
      x.smoke ? std::vector<Schedule>{{10, false}, {10, true}}
              : std::vector<Schedule>{{60, false}, {60, true}, {150, true}, {300, true}};
  const std::vector<Strength> runs = {
      {"none", "-", {"none"}},
      {"weight decay", "0.0005", {"weight decay", 5e-4}},
      {"weight decay", "0.005", {"weight decay", 5e-3}},
      {"dropout", "0.2", {"dropout", 0, 0.2}},
      {"dropout", "0.5", {"dropout", 0, 0.5}},
      {"augmentation", "shifts", {"augmentation", 0, 0, true, false, false}},
      // The three kinds together at mild settings (all four at full strength underfit), without
      // early stopping (the best-validation columns show what it would have added).
      {"combined", "wd 5e-4 + dropout 0.2 + shifts", {"combined", 5e-4, 0.2, true, false, false}}};
  const int seeds = x.smoke ? 1 : 3;
  lecture::Csv runs_csv(lecture::join(x.args.out, "long.csv"),
                        {"schedule", "regularizer", "strength", "seed", "epochs", "train_accuracy", "train_loss",
                         "test_accuracy", "gap", "best_epoch", "best_val_accuracy", "test_accuracy_at_best_val",
                         "seconds"});
  // Per-epoch curves of the first seed only: all seeds would be half a megabyte.
  lecture::Csv curves(lecture::join(x.args.out, "long_curves.csv"),
                      {"schedule", "regularizer", "strength", "seed", "epoch", "train_loss", "val_accuracy"});
  lecture::Csv summary(lecture::join(x.args.out, "long_summary.csv"),
                       {"schedule", "regularizer", "strength", "runs", "mean_test_accuracy", "min", "max",
                        "mean_minus_none", "mean_gap", "mean_train_accuracy", "mean_train_loss",
                        "mean_test_at_best_val", "min_at_best_val", "max_at_best_val", "mean_best_epoch"});
  std::vector<std::string> names;
  for (const Strength& st : runs)
    names.push_back(st.regularizer == "none" || st.regularizer == "combined" ? st.regularizer
                                                                               : st.regularizer + " " + st.strength);
  std::vector<lecture::Series> gain_bars, gap_bars, val_plot;
  for (const Schedule& sc : schedules) {
    Setup s = x.setup;
    s.epochs = sc.epochs, s.cosine = sc.cosine, s.keep_best = true;
    std::vector<std::vector<Outcome>> out(runs.size());
    for (int k = 0; k < seeds; ++k) {  // seeds outside, so that a partial log holds whole seeds
      const uint64_t seed = x.args.seed + uint64_t(k);
      for (size_t r = 0; r < runs.size(); ++r) {
        const Strength& st = runs[r];
        manual_seed(seed);
        lecture::Timer timer;
        Outcome o = fit(lecture::make_mlp(x.widths, st.config.dropout), st.config, x.d, s);
        const double secs = timer.seconds();
        runs_csv.row({sc.name(), st.regularizer, st.strength, int64_t(seed), o.epochs_run, o.train_acc, o.train_loss,
                      o.test_acc, o.train_acc - o.test_acc, o.best_epoch, o.best_val_acc, o.best_test_acc, secs});
        if (k == 0) {
          lecture::Series vs{names[r]};
          for (size_t e = 0; e < o.epoch_loss.size(); ++e) {
            curves.row({sc.name(), st.regularizer, st.strength, int64_t(seed), int64_t(e + 1), o.epoch_loss[e],
                        o.val_acc_curve[e]});
            vs.x.push_back(double(e + 1)), vs.y.push_back(o.val_acc_curve[e]);
          }
          if (&sc == &schedules.back()) val_plot.push_back(vs);
        }
        std::printf("long %-12s seed %llu %-13s %-30s train acc %.4f loss %.4f  test acc %.4f  gap %.4f  best val "
                    "%.4f (epoch %lld, test %.4f)  %.0f s\n",
                    sc.name().c_str(), (unsigned long long)seed, st.regularizer.c_str(), st.strength.c_str(),
                    o.train_acc, o.train_loss, o.test_acc, o.train_acc - o.test_acc, o.best_val_acc,
                    (long long)o.best_epoch, o.best_test_acc, secs);
        std::fflush(stdout);
        out[r].push_back(std::move(o));
      }
    }
    auto [gain_bar, gap_bar] = summarize(sc, runs, out, summary);
    gain_bars.push_back(gain_bar), gap_bars.push_back(gap_bar);
  }
  const std::string over = "means over " + std::to_string(seeds) + " seeds";
  // Differences from "none" under the same schedule, in points: on an axis from 0 to 0.84 a
  // one-point gain would not show.
  lecture::write_bar_plot(lecture::join(x.args.out, "long.svg"), std::vector<std::string>(names.begin() + 1, names.end()),
                          gain_bars,
                          {"Test accuracy minus none's under the same schedule (final weights), " + over, "",
                           "points of test accuracy", false, false});
  lecture::write_bar_plot(lecture::join(x.args.out, "long_gap.svg"), names, gap_bars,
                          {"Train - test accuracy by schedule, " + over, "", "gap", false, false});
  lecture::write_line_plot(lecture::join(x.args.out, "long_val_curves.svg"), val_plot,
                           {"Validation accuracy per epoch, " + schedules.back().name() + " epochs (seed " +
                                std::to_string(x.args.seed) + ")",
                            "epoch", "validation accuracy", false, false});
  std::printf("wrote %s/{long.csv,long_curves.csv,long_summary.csv,long.svg,long_gap.svg,long_val_curves.svg}\n",
              x.args.out.c_str());
}

// Which sections to run: `--only` (this program's own flag) is taken out of argv before the
// shared flags are parsed, which would reject it.
struct Sections {
  bool regularizers = true, bottleneck = true, sweep = true, longer = true;
};

Sections take_only(int& argc, char** argv) {
  Sections s;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0)
      std::cout << "  --only S   run only these sections, comma-separated: regularizers, bottleneck, sweep, long"
                   " (default: all)\n";
    if (std::strcmp(argv[i], "--only") != 0) {
      argv[kept++] = argv[i];
      continue;
    }
    if (i + 1 >= argc) throw Error("option --only needs a value");
    s = {false, false, false, false};
    std::stringstream list(argv[++i]);
    for (std::string name; std::getline(list, name, ',');) {
      if (name == "regularizers") s.regularizers = true;
      else if (name == "bottleneck") s.bottleneck = true;
      else if (name == "sweep") s.sweep = true;
      else if (name == "long") s.longer = true;
      else throw Error("--only: unknown section '" + name + "' (regularizers, bottleneck, sweep, long)");
    }
  }
  argc = kept;
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const Sections only = take_only(argc, argv);
  auto args = lecture::parse_args(argc, argv, "06_generalization", "regularizers and a bottleneck on 2,000 training images");
  const bool smoke = args.smoke;
  const int64_t n_train = smoke ? 300 : 2000, n_val = smoke ? 200 : 1000;
  lecture::Data d = lecture::load_data(args, n_train, n_val, smoke ? 500 : 0);
  std::printf("data: %lld train, %lld validation, %lld test images%s\n", (long long)d.train.size(),
              (long long)d.val.size(), (long long)d.test.size(), smoke ? " (synthetic)" : "");
  // Smoke: a lower lr, as the synthetic images' bright squares make 0.05 unstable at batch 30.
  const Experiment x{args,
                     d,
                     smoke ? std::vector<int64_t>{784, 128, 64, 10} : std::vector<int64_t>{784, 512, 256, 10},
                     {smoke ? 30 : 60, smoke ? 30 : 64, smoke ? 0.01 : 0.05, smoke ? 5 : 10, !smoke},
                     smoke};
  if (only.regularizers) run_regularizers(x);
  if (only.bottleneck) run_bottleneck(x);
  if (only.sweep) run_sweep(x);
  if (only.longer) run_long(x);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "06_generalization: %s\n", e.what());
  return 1;
}
