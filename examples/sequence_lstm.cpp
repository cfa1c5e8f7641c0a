// Reads each Fashion-MNIST image as a sequence of 28 rows of 28 pixels and classifies it with an
// LSTM (28 -> 128, batch_first) whose final hidden state feeds a Linear(128 -> 10), trained with
// Adam. Prints per-epoch train loss, test accuracy and seconds, then one JSON line.
//
//   sequence_lstm [--epochs N] [--lr X] [--batch-size B] [--hidden H] [--threads T] [--seed S]
//                 [--data DIR] [--smoke]
// --smoke trains one epoch on 512 images in batches of 32 and tests on 512 (seconds), for the test suite.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "example_args.h"
#include "nabla/data/idx.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;

namespace {

struct Args {
  int epochs = 2;
  double lr = 2e-3;
  int64_t batch = 128;
  int64_t hidden = 128;
  // One thread by default: each step's work is small ([128, 128] x [128, 512] GEMMs and [128, 128]
  // element-wise ops), so a second thread buys little, and on a busy 2-core machine the OpenMP
  // threads wait for each other (measured: 12.3 s per epoch at 1 thread, 94-125 s at 2).
  int threads = 1;
  uint64_t seed = 0;
  std::string data = data::kFashionMnistDir;
  bool smoke = false;
};

Args parse(int argc, char** argv) {
  Args a;
  examples::ArgParser p("sequence_lstm", "Classifies Fashion-MNIST images read row by row with an LSTM.");
  p.option("--epochs", &a.epochs, "training epochs")
      .option("--lr", &a.lr, "Adam learning rate")
      .option("--batch-size", &a.batch, "images per step")
      .option("--hidden", &a.hidden, "LSTM hidden size")
      .option("--threads", &a.threads, "CPU threads")
      .option("--seed", &a.seed, "seed of the init and shuffling")
      .option("--data", &a.data, "Fashion-MNIST directory")
      .flag("--smoke", &a.smoke, "one epoch on 512 images in batches of 32, tested on 512 (seconds)");
  p.parse(argc, argv);
  if (a.epochs < 1 || a.batch < 1 || a.hidden < 1) throw Error("--epochs, --batch-size and --hidden must be positive");
  return a;
}

// Rows are time steps: x [N, 28, 28] -> LSTM -> h_n [1, N, H] -> logits [N, 10].
struct SequenceClassifier : nn::Module {
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
  explicit SequenceClassifier(int64_t hidden) : Module("SequenceClassifier") {
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(nn::LSTMOptions(28, hidden).batch_first(true)));
    head = register_module("head", std::make_shared<nn::Linear>(hidden, 10));
  }
  Tensor forward(const Tensor& x) override {
    auto [out, state] = (*lstm)(x);
    return (*head)(std::get<0>(state).select(0, 0));  // the last step's hidden state
  }
};

double accuracy(SequenceClassifier& m, const Tensor& x, const Tensor& y) {
  NoGradGuard ng;
  m.eval();
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    int64_t e = std::min(x.size(0), i + 1000);
    Tensor pred = argmax(m(x.slice(0, i, e)), 1);
    correct += sum(eq(pred, y.slice(0, i, e))).item<int64_t>();
  }
  m.train();
  return double(correct) / double(x.size(0));
}

}  // namespace

int main(int argc, char** argv) try {
  Args args = parse(argc, argv);
  if (args.smoke) args.epochs = 1, args.batch = 32;
  set_num_threads(args.threads);
  manual_seed(args.seed);
  auto t0 = std::chrono::steady_clock::now();
  auto train = data::load_mnist(args.data, true);
  auto test = data::load_mnist(args.data, false);
  // [N, 28, 28] in [0, 1], standardized with the training split's statistics.
  Tensor xtr = train.images.to(kF32).reshape({-1, 28, 28}) / 255.0;
  Tensor ytr = train.labels;
  double mu = mean(xtr).item(), sd = std::sqrt(var(xtr).item());
  xtr = (xtr - mu) / sd;
  Tensor xte = (test.images.to(kF32).reshape({-1, 28, 28}) / 255.0 - mu) / sd;
  Tensor yte = test.labels;
  if (args.smoke) {
    xtr = xtr.slice(0, 0, 512), ytr = ytr.slice(0, 0, 512);
    xte = xte.slice(0, 0, 512), yte = yte.slice(0, 0, 512);
  }
  std::printf("data: %lld train, %lld test sequences of 28 rows x 28 pixels\n", (long long)xtr.size(0),
              (long long)xte.size(0));

  SequenceClassifier model(args.hidden);
  std::cout << model << "\n";
  optim::Adam opt(model.parameters(), optim::AdamOptions(args.lr));
  const int64_t n = xtr.size(0);
  double test_acc = 0, epoch_secs = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto e0 = std::chrono::steady_clock::now();
    Tensor perm = randperm(n);
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i + args.batch <= n; i += args.batch) {
      Tensor idx = perm.slice(0, i, i + args.batch);
      Tensor loss = cross_entropy(model(index_select(xtr, 0, idx)), index_select(ytr, 0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item();
      ++batches;
    }
    epoch_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    test_acc = accuracy(model, xte, yte);
    std::printf("epoch %d  train loss %.4f  test accuracy %.4f  (train %.1f s)\n", epoch,
                loss_sum / double(std::max<int64_t>(batches, 1)), test_acc, epoch_secs);
    std::fflush(stdout);
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"test_accuracy\": %.4f, \"epochs\": %d, \"last_epoch_seconds\": %.1f, \"seconds\": %.1f}\n", test_acc,
              args.epochs, epoch_secs, total);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sequence_lstm: %s\n", e.what());
  return 1;
}
