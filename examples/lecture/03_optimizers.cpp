// Experiment 3 — preconditioning and adaptivity: SGD, SGD with momentum, Adagrad, RMSProp,
// Adadelta, Adam and AdamW training the same MLP (784-512-256-10, ReLU: the `mlp` preset
// without dropout) on Fashion-MNIST from the same initial weights and batch order.
//
// The lecture offers preconditioning as a way "to deal with poor landscapes", so every
// optimizer runs on two versions of the inputs:
//  - "standardized": the pixels as every other experiment sees them (one mean and standard
//    deviation for all pixels);
//  - "badly scaled": the same, with each of the 784 inputs multiplied by its own fixed factor,
//    log-spaced over [1/kScaleRange, kScaleRange] and assigned to pixels by a seeded shuffle. The
//    first layer's curvature along a pixel's weights grows with the factor squared, so one
//    learning rate cannot suit them all: a poorly conditioned landscape. A per-weight step size
//    (the adaptive methods) can undo part of it; nothing else about the task changes (a
//    network could undo the factors exactly in its first layer).
//
// Each optimizer's learning rate comes from a sweep per condition (1 epoch on 10,000 training
// images, scored by accuracy on 5,000 held-out training images), starting from 4 values around
// its usual default and extended by half-decades while the best is at an end of the grid (at most
// kMaxExtensions times per end). Then it trains 5 epochs on the other 55,000 images from 3 seeds
// (initial weights and batch order), so the differences can be read against the seeds' spread.
//
// Writes sweep.csv, sweep_<condition>.svg, curves.csv and loss_curves_<condition>.svg (seed 0),
// results.csv (one row per condition, optimizer and seed), summary.csv (over the seeds) and
// accuracy.svg.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

constexpr double kScaleRange = 100;  ///< badly scaled inputs: factors in [1/100, 100]
constexpr int kMaxExtensions = 3;    ///< half-decades a sweep may add past each end of its grid

/// A learning rate on the 1-3-10 ladder, kept as mantissa and exponent so extending the grid
/// gives the same round values as writing them down (0.3 → 1 → 3, not 0.30000000000000004).
struct LadderLr {
  int mantissa;  ///< 1 or 3
  int exponent;
  double value() const { return mantissa * std::pow(10.0, exponent); }
  LadderLr up() const { return mantissa == 1 ? LadderLr{3, exponent} : LadderLr{1, exponent + 1}; }
  LadderLr down() const { return mantissa == 3 ? LadderLr{1, exponent} : LadderLr{3, exponent - 1}; }
};

struct Candidate {
  std::string name;
  LadderLr lowest;  ///< the starting grid: 4 values up from here, around the usual default
};

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, const TensorList& params, double lr) {
  if (name == "SGD") return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr));
  if (name == "SGD+momentum") return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr).momentum(0.9));
  if (name == "Adagrad") return std::make_unique<optim::Adagrad>(params, optim::AdagradOptions(lr));
  if (name == "RMSProp") return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions(lr));
  if (name == "Adadelta") return std::make_unique<optim::Adadelta>(params, optim::AdadeltaOptions(lr));
  if (name == "Adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(lr));
  if (name == "AdamW") return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(lr).weight_decay(1e-2));
  throw Error("unknown optimizer " + name);
}

struct Trained {
  std::vector<double> step_loss;
  lecture::Eval val, test;
  double seconds = 0;
};

struct Setup {
  const lecture::Data& d;
  std::vector<int64_t> widths;
  int64_t batch;
};

Trained train(const Setup& s, const std::string& name, double lr, const lecture::Split& tr, int epochs, uint64_t seed,
              bool eval_test) {
  manual_seed(seed);  // same initial weights and batch order for every optimizer and lr
  auto model = lecture::make_mlp(s.widths);
  auto opt = make_optimizer(name, model->parameters(), lr);
  Trained t;
  lecture::Timer timer;
  int64_t step = 0;
  for (int e = 0; e < epochs; ++e)
    lecture::train_epoch(*model, *opt, tr, s.batch, &step, [&](int64_t, double l) { t.step_loss.push_back(l); });
  t.seconds = timer.seconds();
  t.val = lecture::evaluate(*model, s.d.val);
  if (eval_test) t.test = lecture::evaluate(*model, s.d.test);
  return t;
}

struct SweepPoint {
  double lr, score, val_loss;
};
struct SweepResult {
  std::vector<SweepPoint> points;  ///< sorted by lr
  double best_lr = 0;
  bool at_edge = false;  ///< still best at an end after kMaxExtensions half-decades
};

/// Best validation accuracy after a short run on `subset`; a diverged run (non-finite loss)
/// scores 0. Ties go to the lower validation loss.
SweepResult sweep(const Setup& s, const Candidate& c, const lecture::Split& subset, int epochs, uint64_t seed) {
  std::vector<std::pair<LadderLr, SweepPoint>> grid;
  auto run = [&](LadderLr lr) {
    Trained t = train(s, c.name, lr.value(), subset, epochs, seed, false);
    const double score = std::isfinite(t.val.loss) ? t.val.accuracy : 0.0;
    return SweepPoint{lr.value(), score, t.val.loss};
  };
  auto better = [](const SweepPoint& a, const SweepPoint& b) {
    return a.score > b.score || (a.score == b.score && a.val_loss < b.val_loss);
  };
  auto best_index = [&] {
    size_t b = 0;
    for (size_t i = 1; i < grid.size(); ++i)
      if (better(grid[i].second, grid[b].second)) b = i;
    return b;
  };
  LadderLr lr = c.lowest;
  for (int i = 0; i < 4; ++i, lr = lr.up()) grid.emplace_back(lr, run(lr));
  for (int up = 0, down = 0;;) {
    const size_t b = best_index();
    if (b + 1 == grid.size() && up < kMaxExtensions) {
      const LadderLr next = grid.back().first.up();
      grid.emplace_back(next, run(next)), ++up;
    } else if (b == 0 && down < kMaxExtensions) {
      const LadderLr next = grid.front().first.down();
      grid.insert(grid.begin(), {next, run(next)}), ++down;
    } else {
      break;
    }
  }
  SweepResult r;
  const size_t b = best_index();
  for (const auto& [l, p] : grid) r.points.push_back(p);
  r.best_lr = grid[b].second.lr;
  r.at_edge = b == 0 || b + 1 == grid.size();
  return r;
}

/// Multiplies column j of every split's x by its factor: log-spaced over [1/range, range],
/// assigned to the 784 pixels by a shuffle seeded independently of the run's seed.
lecture::Data badly_scaled(const lecture::Data& d, double range) {
  const int64_t n = d.train.x.size(1);
  std::vector<float> factors(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j)
    factors[size_t(j)] = float(std::pow(range, -1.0 + 2.0 * double(j) / double(n - 1)));
  std::shuffle(factors.begin(), factors.end(), std::mt19937_64(31));
  const Tensor f = from_vector(factors, {1, n});
  lecture::Data out = d;
  for (lecture::Split* sp : {&out.train, &out.val, &out.test})
    if (sp->x.defined()) sp->x = (sp->x * f).contiguous();
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "03_optimizers",
                                  "SGD, momentum, Adagrad, RMSProp, Adadelta, Adam, AdamW on one MLP, with standardized "
                                  "and with badly scaled inputs");
  const bool smoke = args.smoke;
  const int64_t n_train = smoke ? 1200 : 55000, n_val = smoke ? 300 : 5000, n_sweep = smoke ? 1200 : 10000;
  const int epochs = smoke ? 3 : 5, sweep_epochs = 1, seeds = smoke ? 2 : 3;
  const int64_t smooth = smoke ? 10 : 50;
  const std::vector<Candidate> cands = {{"SGD", {1, -2}},     {"SGD+momentum", {3, -3}}, {"Adagrad", {3, -3}},
                                        {"RMSProp", {1, -4}}, {"Adadelta", {1, -1}},     {"Adam", {1, -4}},
                                        {"AdamW", {1, -4}}};
  const lecture::Data standardized = lecture::load_data(args, n_train, n_val, smoke ? 300 : 0);
  const std::vector<std::pair<std::string, lecture::Data>> conditions = {
      {"standardized", standardized}, {"badly scaled", badly_scaled(standardized, kScaleRange)}};
  std::printf("data: %lld train, %lld validation, %lld test images%s; badly scaled: inputs times factors in [%g, %g]\n",
              (long long)standardized.train.size(), (long long)standardized.val.size(),
              (long long)standardized.test.size(), smoke ? " (synthetic)" : "", 1 / kScaleRange, kScaleRange);

  lecture::Csv sweep_csv(lecture::join(args.out, "sweep.csv"),
                         {"condition", "optimizer", "lr", "val_accuracy", "val_loss"});
  lecture::Csv curves_csv(lecture::join(args.out, "curves.csv"),
                          {"condition", "optimizer", "step", "epoch", "train_loss_smoothed"});
  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"condition", "optimizer", "lr", "lr_at_grid_edge", "seed", "first_epoch_train_loss",
                        "final_train_loss", "val_accuracy", "test_accuracy", "test_loss", "seconds"});
  lecture::Csv summary(lecture::join(args.out, "summary.csv"),
                       {"condition", "optimizer", "lr", "seeds", "mean_test_accuracy", "min_test_accuracy",
                        "max_test_accuracy", "mean_first_epoch_train_loss", "mean_final_train_loss"});
  std::vector<std::string> names;
  for (const auto& c : cands) names.push_back(c.name);
  std::vector<lecture::Series> mean_acc;

  for (const auto& [condition, d] : conditions) {
    const Setup setup{d, smoke ? std::vector<int64_t>{784, 64, 10} : std::vector<int64_t>{784, 512, 256, 10},
                      smoke ? 32 : 128};
    const lecture::Split sweep_set{d.train.x.slice(0, 0, n_sweep), d.train.y.slice(0, 0, n_sweep)};
    const int64_t steps_per_epoch = n_train / setup.batch;
    const std::string file_tag = condition == "standardized" ? "standardized" : "badly_scaled";
    std::vector<lecture::Series> sweep_plot, curves;
    lecture::Series acc_bars{"test accuracy, " + condition + " (mean of " + std::to_string(seeds) + " seeds)"};
    for (const auto& c : cands) {
      // 1. The sweep (seed args.seed): best validation accuracy after one epoch on the subset.
      const SweepResult sw = sweep(setup, c, sweep_set, sweep_epochs, args.seed);
      lecture::Series sp(c.name, false, true);
      for (const SweepPoint& p : sw.points) {
        sweep_csv.row({condition, c.name, p.lr, p.score, p.val_loss});
        sp.x.push_back(p.lr), sp.y.push_back(p.score);
      }
      sweep_plot.push_back(sp);
      // 2. The full runs at the chosen lr, one per seed.
      std::vector<double> test_acc, first_loss, final_loss;
      for (int k = 0; k < seeds; ++k) {
        const uint64_t seed = args.seed + uint64_t(k);
        const Trained t = train(setup, c.name, sw.best_lr, d.train, epochs, seed, true);
        const std::vector<double> first(t.step_loss.begin(), t.step_loss.begin() + steps_per_epoch);
        first_loss.push_back(lecture::tail_mean(first, first.size()));
        final_loss.push_back(lecture::tail_mean(t.step_loss, size_t(steps_per_epoch)));
        test_acc.push_back(t.test.accuracy);
        results.row({condition, c.name, sw.best_lr, sw.at_edge ? "yes" : "no", int64_t(seed), first_loss.back(),
                     final_loss.back(), t.val.accuracy, t.test.accuracy, t.test.loss, t.seconds});
        std::printf("%-12s %-13s lr %-7g seed %llu  first-epoch loss %.4f  final loss %.4f  test acc %.4f  (%.1f s)\n",
                    condition.c_str(), c.name.c_str(), sw.best_lr, (unsigned long long)seed, first_loss.back(),
                    final_loss.back(), t.test.accuracy, t.seconds);
        if (k > 0) continue;
        lecture::Series curve{c.name};  // seed 0's smoothed training loss
        for (size_t s = size_t(smooth); s <= t.step_loss.size(); s += size_t(smooth)) {
          const std::vector<double> window(t.step_loss.begin() + long(s) - smooth, t.step_loss.begin() + long(s));
          const double m = lecture::tail_mean(window, window.size());
          curves_csv.row({condition, c.name, int64_t(s), double(s) / double(steps_per_epoch), m});
          curve.x.push_back(double(s) / double(steps_per_epoch)), curve.y.push_back(m);
        }
        curves.push_back(curve);
      }
      const lecture::Spread acc = lecture::spread(test_acc);
      summary.row({condition, c.name, sw.best_lr, int64_t(seeds), acc.mean, acc.min, acc.max,
                   lecture::spread(first_loss).mean, lecture::spread(final_loss).mean});
      acc_bars.y.push_back(acc.mean);
    }
    mean_acc.push_back(acc_bars);
    lecture::write_line_plot(lecture::join(args.out, "sweep_" + file_tag + ".svg"), sweep_plot,
                             {"Learning-rate sweep, " + condition + " inputs: validation accuracy after 1 epoch",
                              "learning rate", "validation accuracy", true, false});
    lecture::write_line_plot(lecture::join(args.out, "loss_curves_" + file_tag + ".svg"), curves,
                             {"Training loss (mean of " + std::to_string(smooth) + " steps), " + condition +
                                  " inputs, each at its tuned lr",
                              "epoch", "cross-entropy", false, true});
  }
  lecture::write_bar_plot(lecture::join(args.out, "accuracy.svg"), names, mean_acc,
                          {"Test accuracy after " + std::to_string(epochs) + " epochs", "", "accuracy", false, false});
  std::printf("wrote %s/{sweep.csv,sweep_*.svg,curves.csv,loss_curves_*.svg,results.csv,summary.csv,accuracy.svg}\n",
              args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "03_optimizers: %s\n", e.what());
  return 1;
}
