// Experiment 3 — preconditioning and adaptivity: SGD, SGD with momentum, Adagrad, RMSProp,
// Adadelta, Adam and AdamW training the same MLP (784-512-256-10, ReLU: the `mlp` preset
// without dropout) on Fashion-MNIST from the same initial weights and batch order.
//
// Each optimizer's learning rate comes from a small sweep (4 values, 1 epoch on 10,000
// training images, scored by accuracy on 5,000 held-out training images); then it trains
// 5 epochs on the other 55,000 images. Writes sweep.csv, sweep.svg, curves.csv, loss_curves.svg,
// results.csv (final training loss, validation and test accuracy) and accuracy.svg.
#include <cmath>
#include <cstdio>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

struct Candidate {
  std::string name;
  std::vector<double> lrs;  ///< the sweep, centred on the usual default
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

Trained train(const std::string& name, double lr, const lecture::Split& tr, const lecture::Data& d,
              const std::vector<int64_t>& widths, int epochs, int64_t batch, uint64_t seed, bool eval_test) {
  manual_seed(seed);  // same initial weights and batch order for every optimizer and lr
  auto model = lecture::make_mlp(widths);
  auto opt = make_optimizer(name, model->parameters(), lr);
  Trained t;
  lecture::Timer timer;
  int64_t step = 0;
  for (int e = 0; e < epochs; ++e)
    lecture::train_epoch(*model, *opt, tr, batch, &step, [&](int64_t, double l) { t.step_loss.push_back(l); });
  t.seconds = timer.seconds();
  t.val = lecture::evaluate(*model, d.val);
  if (eval_test) t.test = lecture::evaluate(*model, d.test);
  return t;
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "03_optimizers", "SGD, momentum, Adagrad, RMSProp, Adadelta, Adam, AdamW on one MLP");
  const bool smoke = args.smoke;
  const int64_t n_train = smoke ? 1200 : 55000, n_val = smoke ? 300 : 5000, n_sweep = smoke ? 1200 : 10000;
  const std::vector<int64_t> widths = smoke ? std::vector<int64_t>{784, 64, 10} : std::vector<int64_t>{784, 512, 256, 10};
  const int epochs = smoke ? 3 : 5, sweep_epochs = 1;
  const int64_t batch = smoke ? 32 : 128, smooth = smoke ? 10 : 50;
  const std::vector<Candidate> cands = {{"SGD", {0.01, 0.03, 0.1, 0.3}},
                                        {"SGD+momentum", {0.003, 0.01, 0.03, 0.1}},
                                        {"Adagrad", {0.003, 0.01, 0.03, 0.1}},
                                        {"RMSProp", {1e-4, 3e-4, 1e-3, 3e-3}},
                                        {"Adadelta", {0.1, 0.3, 1.0, 3.0}},
                                        {"Adam", {1e-4, 3e-4, 1e-3, 3e-3}},
                                        {"AdamW", {1e-4, 3e-4, 1e-3, 3e-3}}};
  lecture::Data d = lecture::load_data(args, n_train, n_val, smoke ? 300 : 0);
  lecture::Split sweep_set{d.train.x.slice(0, 0, n_sweep), d.train.y.slice(0, 0, n_sweep)};
  std::printf("data: %lld train, %lld validation, %lld test images%s\n", (long long)d.train.size(),
              (long long)d.val.size(), (long long)d.test.size(), smoke ? " (synthetic)" : "");

  lecture::Csv sweep_csv(lecture::join(args.out, "sweep.csv"), {"optimizer", "lr", "val_accuracy", "val_loss"});
  lecture::Csv curves_csv(lecture::join(args.out, "curves.csv"), {"optimizer", "step", "epoch", "train_loss_smoothed"});
  lecture::Csv results(lecture::join(args.out, "results.csv"),
                       {"optimizer", "lr", "lr_at_grid_edge", "final_train_loss", "val_accuracy", "test_accuracy",
                        "test_loss", "seconds"});
  std::vector<lecture::Series> sweep_plot, curves;
  lecture::Series test_acc{"test accuracy"}, val_acc{"validation accuracy"};
  std::vector<std::string> names;
  const double steps_per_epoch = double(n_train / batch);

  for (const auto& c : cands) {
    // 1. The sweep: best validation accuracy after one epoch on the sweep subset.
    double best_lr = c.lrs[0], best_acc = -1, best_loss = 0;
    size_t best_i = 0;
    lecture::Series sp(c.name, false, true);
    for (size_t i = 0; i < c.lrs.size(); ++i) {
      Trained t = train(c.name, c.lrs[i], sweep_set, d, widths, sweep_epochs, batch, args.seed, false);
      const double acc = std::isfinite(t.val.loss) ? t.val.accuracy : 0.0;  // a diverged run scores 0
      sweep_csv.row({c.name, c.lrs[i], acc, t.val.loss});
      sp.x.push_back(c.lrs[i]), sp.y.push_back(acc);
      if (acc > best_acc || (acc == best_acc && t.val.loss < best_loss))
        best_acc = acc, best_loss = t.val.loss, best_lr = c.lrs[i], best_i = i;
    }
    sweep_plot.push_back(sp);
    // 2. The full run at the chosen lr.
    Trained t = train(c.name, best_lr, d.train, d, widths, epochs, batch, args.seed, true);
    lecture::Series curve{c.name};
    for (size_t s = smooth; s <= t.step_loss.size(); s += size_t(smooth)) {
      double m = 0;
      for (size_t k = s - size_t(smooth); k < s; ++k) m += t.step_loss[k];
      m /= double(smooth);
      curves_csv.row({c.name, int64_t(s), double(s) / steps_per_epoch, m});
      curve.x.push_back(double(s) / steps_per_epoch), curve.y.push_back(m);
    }
    curves.push_back(curve);
    const bool edge = best_i == 0 || best_i + 1 == c.lrs.size();
    const double final_loss = lecture::tail_mean(t.step_loss, size_t(steps_per_epoch));
    results.row({c.name, best_lr, edge ? "yes" : "no", final_loss, t.val.accuracy, t.test.accuracy, t.test.loss,
                 t.seconds});
    std::printf("%-13s lr %-7g final train loss %.4f  val acc %.4f  test acc %.4f  (%.1f s)\n", c.name.c_str(), best_lr,
                final_loss, t.val.accuracy, t.test.accuracy, t.seconds);
    names.push_back(c.name);
    test_acc.y.push_back(t.test.accuracy), val_acc.y.push_back(t.val.accuracy);
  }
  lecture::write_line_plot(lecture::join(args.out, "sweep.svg"), sweep_plot,
                           {"Learning-rate sweep: validation accuracy after 1 epoch on a subset", "learning rate",
                            "validation accuracy", true, false});
  lecture::write_line_plot(lecture::join(args.out, "loss_curves.svg"), curves,
                           {"Training loss (mean of " + std::to_string(smooth) + " steps), each at its tuned lr",
                            "epoch", "cross-entropy", false, true});
  lecture::write_bar_plot(lecture::join(args.out, "accuracy.svg"), names, {val_acc, test_acc},
                          {"Accuracy after " + std::to_string(epochs) + " epochs", "", "accuracy", false, false});
  std::printf("wrote %s/{sweep.csv,sweep.svg,curves.csv,loss_curves.svg,results.csv,accuracy.svg}\n", args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "03_optimizers: %s\n", e.what());
  return 1;
}
