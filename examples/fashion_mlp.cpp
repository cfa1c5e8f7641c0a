// Trains an MLP (784-512-256-10, ReLU) on Fashion-MNIST with the raw tensor API:
// leaf parameters, linear/relu/cross_entropy, backward, and an SGD-with-momentum update
// written by hand. Prints per-epoch loss/accuracy, writes metrics.csv, prints test accuracy.
//
//   fashion_mlp [--epochs N] [--lr X] [--batch-size B] [--threads T] [--seed S]
//               [--data DIR] [--out DIR]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "example_args.h"
#include "nabla/data/idx.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

struct Args {
  int epochs = 10;
  double lr = 0.05;
  double momentum = 0.9;
  int64_t batch = 128;
  int threads = 2;
  uint64_t seed = 0;
  std::string data = data::kFashionMnistDir;
  std::string out = "runs/fashion_mlp";
};

Args parse(int argc, char** argv) {
  Args a;
  examples::ArgParser p("fashion_mlp", "Trains an MLP on Fashion-MNIST with the raw tensor API (no nn, no optim).");
  p.option("--epochs", &a.epochs, "training epochs")
      .option("--lr", &a.lr, "SGD learning rate")
      .option("--batch-size", &a.batch, "images per step")
      .option("--threads", &a.threads, "CPU threads")
      .option("--seed", &a.seed, "seed of the init and shuffling")
      .option("--data", &a.data, "Fashion-MNIST directory")
      .option("--out", &a.out, "where the metrics go");
  p.parse(argc, argv);
  return a;
}

// PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
Tensor init_uniform(const Shape& shape, int64_t fan_in) {
  Tensor t = empty(shape);
  double b = 1.0 / std::sqrt(double(fan_in));
  uniform_(t, -b, b);
  return t.requires_grad_(true);
}

struct Mlp {
  TensorList params;
  Mlp() {
    const int64_t sizes[] = {784, 512, 256, 10};
    for (int l = 0; l < 3; ++l) {
      params.push_back(init_uniform({sizes[l + 1], sizes[l]}, sizes[l]));
      params.push_back(init_uniform({sizes[l + 1]}, sizes[l]));
    }
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = relu(linear(x, params[0], params[1]));
    h = relu(linear(h, params[2], params[3]));
    return linear(h, params[4], params[5]);
  }
};

double accuracy(const Mlp& m, const Tensor& x, const Tensor& y) {
  NoGradGuard ng;
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    int64_t e = std::min(x.size(0), i + 1000);
    Tensor pred = argmax(m.forward(x.slice(0, i, e)), 1);
    correct += sum(eq(pred, y.slice(0, i, e))).item<int64_t>();
  }
  return double(correct) / double(x.size(0));
}

}  // namespace

int main(int argc, char** argv) try {
  Args args = parse(argc, argv);
  set_num_threads(args.threads);
  manual_seed(args.seed);
  auto t0 = std::chrono::steady_clock::now();
  auto train = data::load_mnist(args.data, true);
  auto test = data::load_mnist(args.data, false);
  // Scale to [0, 1], then standardize with the training split's statistics.
  Tensor xtr = train.images.to(kF32).reshape({-1, 784}) / 255.0;
  double mu = mean(xtr).item(), sd = std::sqrt(var(xtr).item());
  xtr = (xtr - mu) / sd;
  Tensor xte = (test.images.to(kF32).reshape({-1, 784}) / 255.0 - mu) / sd;
  std::printf("data: %lld train, %lld test images (mean %.4f, std %.4f)\n", (long long)xtr.size(0),
              (long long)xte.size(0), mu, sd);

  Mlp model;
  TensorList velocity;
  for (auto& p : model.params) velocity.push_back(zeros_like(p));
  std::filesystem::create_directories(args.out);
  std::ofstream csv(args.out + "/metrics.csv");
  csv << "epoch,train_loss,test_accuracy,seconds\n";

  const int64_t n = xtr.size(0);
  double test_acc = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto e0 = std::chrono::steady_clock::now();
    Tensor perm = randperm(n);
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i + args.batch <= n; i += args.batch) {
      Tensor idx = perm.slice(0, i, i + args.batch);
      Tensor loss = cross_entropy(model.forward(index_select(xtr, 0, idx)), index_select(train.labels, 0, idx));
      loss.backward();
      NoGradGuard ng;
      for (size_t k = 0; k < model.params.size(); ++k) {
        // Heavy-ball momentum: v = mu v + g; p -= lr v.
        velocity[k].mul_(args.momentum).add_(model.params[k].grad());
        model.params[k].add_(velocity[k], -args.lr);
        model.params[k].set_grad(Tensor());
      }
      loss_sum += loss.item();
      ++batches;
    }
    test_acc = accuracy(model, xte, test.labels);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    std::printf("epoch %2d  train loss %.4f  test accuracy %.4f  (%.1f s)\n", epoch, loss_sum / double(batches),
                test_acc, secs);
    csv << epoch << ',' << loss_sum / double(batches) << ',' << test_acc << ',' << secs << '\n';
    csv.flush();
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"test_accuracy\": %.4f, \"epochs\": %d, \"seconds\": %.1f, \"metrics\": \"%s/metrics.csv\"}\n",
              test_acc, args.epochs, total, args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fashion_mlp: %s\n", e.what());
  return 1;
}
