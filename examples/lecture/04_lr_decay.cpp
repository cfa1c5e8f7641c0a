// Experiment 4 — learning-rate decay. SGD with momentum 0.9 at base lr 0.05 (the trainer's
// default) trains the MLP (784-512-256-10) on Fashion-MNIST for 5 epochs under four schedules,
// stepped every iteration t = 0..T-1:
//   constant   lr = base
//   1/sqrt(t)  lr = base / sqrt(1 + t/tau), tau = a tenth of an epoch (optim::InverseSqrtLR)
//   step       lr × 0.1 at 50% and 75% of training (optim::MultiStepLR)
//   cosine     lr = base (1 + cos(pi t/T)) / 2 (optim::CosineAnnealingLR)
// Same initial weights and batch order for all. The lecture: with stochastic gradients a
// decaying lr lets the iterates settle (lower final loss) where a constant one keeps bouncing.
// Writes curves.csv (lr and smoothed loss per step), loss_curves.svg, lr_curves.svg, results.csv;
// then the four schedules again for two more seeds (initial weights and batch order), so the
// differences can be read against the seeds' spread: seeds.csv, seeds_summary.csv.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "04_lr_decay", "constant vs 1/sqrt(t) vs step vs cosine learning rates");
  const bool smoke = args.smoke;
  const int64_t n_train = smoke ? 1200 : 55000, n_val = smoke ? 300 : 5000, batch = smoke ? 32 : 128;
  const std::vector<int64_t> widths = smoke ? std::vector<int64_t>{784, 64, 10} : std::vector<int64_t>{784, 512, 256, 10};
  const int epochs = smoke ? 4 : 5;
  const double base_lr = 0.05;
  lecture::Data d = lecture::load_data(args, n_train, n_val, smoke ? 300 : 0);
  // The final training loss is measured on a fixed 10,000-image slice of the training set.
  lecture::Split train_probe{d.train.x.slice(0, 0, std::min<int64_t>(10000, n_train)),
                             d.train.y.slice(0, 0, std::min<int64_t>(10000, n_train))};
  const int64_t steps_per_epoch = n_train / batch, total = steps_per_epoch * epochs, smooth = smoke ? 10 : 50;

  lecture::Csv curves_csv(lecture::join(args.out, "curves.csv"), {"schedule", "step", "epoch", "lr", "train_loss_smoothed"});
  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"schedule", "final_lr", "last_epoch_train_loss", "train_loss_full_pass", "train_accuracy",
                        "val_accuracy", "test_accuracy", "test_loss"});
  std::vector<lecture::Series> loss_plot, lr_plot;
  struct Final {
    double train_loss, test_accuracy;
  };
  // Trains one schedule from seed `seed`; the curves and results of the first seed are recorded.
  auto run = [&](const std::string& schedule, uint64_t seed, bool record) -> Final {
    manual_seed(seed);
    auto model = lecture::make_mlp(widths);
    optim::SGD opt(model->parameters(), optim::SGDOptions(base_lr).momentum(0.9));
    std::unique_ptr<optim::LRScheduler> sched;
    if (schedule == "1/sqrt(t)")
      sched = std::make_unique<optim::InverseSqrtLR>(opt, std::max(1.0, double(steps_per_epoch) / 10));
    else if (schedule == "step")
      sched = std::make_unique<optim::MultiStepLR>(opt, std::vector<int64_t>{total / 2, total * 3 / 4}, 0.1);
    else if (schedule == "cosine")
      sched = std::make_unique<optim::CosineAnnealingLR>(opt, total);
    std::vector<double> losses, lrs;
    int64_t step = 0;
    for (int e = 0; e < epochs; ++e)
      lecture::train_epoch(*model, opt, d.train, batch, &step, [&](int64_t, double l) {
        losses.push_back(l);
        lrs.push_back(opt.param_groups()[0].options().get_lr());  // the lr this step used
        if (sched) sched->step();
      });
    const auto tr = lecture::evaluate(*model, train_probe), te = lecture::evaluate(*model, d.test);
    if (!record) return Final{tr.loss, te.accuracy};
    lecture::Series ls{schedule}, lr{schedule};
    for (size_t s = size_t(smooth); s <= losses.size(); s += size_t(smooth)) {
      double m = 0;
      for (size_t k = s - size_t(smooth); k < s; ++k) m += losses[k];
      m /= double(smooth);
      const double ep = double(s) / double(steps_per_epoch);
      curves_csv.row({schedule, int64_t(s), ep, lrs[s - 1], m});
      ls.x.push_back(ep), ls.y.push_back(m), lr.x.push_back(ep), lr.y.push_back(lrs[s - 1]);
    }
    loss_plot.push_back(ls), lr_plot.push_back(lr);
    const auto val = lecture::evaluate(*model, d.val);
    const double last_epoch = lecture::tail_mean(losses, size_t(steps_per_epoch));
    results.row({schedule, lrs.back(), last_epoch, tr.loss, tr.accuracy, val.accuracy, te.accuracy, te.loss});
    std::printf("%-10s final lr %.2e  last-epoch loss %.4f  train loss %.4f (acc %.4f)  val acc %.4f  test acc %.4f\n",
                schedule.c_str(), lrs.back(), last_epoch, tr.loss, tr.accuracy, val.accuracy, te.accuracy);
    return Final{tr.loss, te.accuracy};
  };
  const std::vector<std::string> schedules = {"constant", "1/sqrt(t)", "step", "cosine"};
  const int seeds = smoke ? 1 : 3;
  lecture::Csv seeds_csv(lecture::join(args.out, "seeds.csv"), {"schedule", "seed", "train_loss_full_pass", "test_accuracy"});
  std::map<std::string, std::vector<double>> acc, loss;
  for (int k = 0; k < seeds; ++k)
    for (const std::string& schedule : schedules) {
      const uint64_t seed = args.seed + uint64_t(k);
      const Final f = run(schedule, seed, k == 0);
      seeds_csv.row({schedule, int64_t(seed), f.train_loss, f.test_accuracy});
      acc[schedule].push_back(f.test_accuracy), loss[schedule].push_back(f.train_loss);
    }
  lecture::Csv summary(lecture::join(args.out, "seeds_summary.csv"),
                       {"schedule", "runs", "mean_test_accuracy", "min", "max", "mean_minus_constant",
                        "mean_train_loss_full_pass", "test_ahead_of_constant_in_seeds"});
  const double constant_mean = lecture::spread(acc["constant"]).mean;
  for (const std::string& schedule : schedules) {
    const std::vector<double>& a = acc[schedule];
    int64_t ahead = 0;
    for (size_t k = 0; k < a.size(); ++k) ahead += a[k] > acc["constant"][k];
    const lecture::Spread s = lecture::spread(a);
    const double train_loss = lecture::spread(loss[schedule]).mean;
    summary.row({schedule, int64_t(a.size()), s.mean, s.min, s.max, s.mean - constant_mean, train_loss, ahead});
    std::printf("%-10s over %d seeds: test acc mean %.4f (min %.4f, max %.4f)  train loss %.4f\n", schedule.c_str(),
                seeds, s.mean, s.min, s.max, train_loss);
  }
  lecture::write_line_plot(lecture::join(args.out, "loss_curves.svg"), loss_plot,
                           {"SGD+momentum, base lr 0.05: training loss (mean of " + std::to_string(smooth) + " steps)",
                            "epoch", "cross-entropy", false, true});
  lecture::write_line_plot(lecture::join(args.out, "lr_curves.svg"), lr_plot,
                           {"The four schedules", "epoch", "learning rate", false, true});
  std::printf("wrote %s/{curves.csv,loss_curves.svg,lr_curves.svg,results.csv,seeds.csv,seeds_summary.csv}\n",
              args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "04_lr_decay: %s\n", e.what());
  return 1;
}
