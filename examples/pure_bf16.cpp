// Pure 16-bit training vs f32 on Fashion-MNIST: the same MLP (784-256-128-10, ReLU), the same
// initial weights and the same batch order, trained once per dtype with every parameter,
// gradient, optimizer state and activation in that dtype (model->to(DType::bf16), as PyTorch's
// model.to(torch.bfloat16)); no f32 master weights, unlike autocast. Prints per epoch the train
// loss, the test accuracy and the share of parameter elements that a step left unchanged although
// their gradient was not zero (updates lost to 16-bit rounding, sampled every 20th step), then one
// JSON line per dtype.
//
//   pure_bf16 [--dtypes f32,bf16] [--optimizer adam|sgd] [--lr X] [--eps E] [--epochs N]
//             [--batch-size B] [--threads T] [--seed S] [--data DIR] [--smoke]
//
// f16 with Adam's default eps (1e-8) diverges: the first exp_avg_sq = (1-β2)·g² rounds to 0 in
// f16 for |g| below about 5e-3 (2^-25 / 0.001 = g²), so the step becomes lr·m̂/eps, ~1e5 times
// too large; --eps 1e-4 keeps it finite. bf16 has f32's range and needs no change.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "example_args.h"
#include "nabla/data/idx.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;

namespace {

double accuracy(nn::Module& m, const Tensor& x, const Tensor& y, DType dt) {
  NoGradGuard ng;
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    const int64_t e = std::min(x.size(0), i + 1000);
    correct += sum(eq(argmax(m(x.slice(0, i, e).to(dt)), 1), y.slice(0, i, e))).item<int64_t>();
  }
  return double(correct) / double(x.size(0));
}

DType parse_dtype(const std::string& s) {
  if (s == "f32") return DType::f32;
  if (s == "bf16") return DType::bf16;
  if (s == "f16") return DType::f16;
  throw Error("--dtypes: unknown dtype \"" + s + "\" (expected f32, bf16 or f16)");
}

}  // namespace

int main(int argc, char** argv) try {
  struct Args {
    std::string dtypes = "f32,bf16", optimizer = "adam", data = data::kFashionMnistDir;
    double lr = -1, eps = 1e-8;
    int epochs = 5, threads = 2;
    int64_t batch = 128;
    uint64_t seed = 0;
    bool smoke = false;
  } a;
  examples::ArgParser p("pure_bf16", "Trains one MLP on Fashion-MNIST in f32 and with bf16/f16 parameters.");
  p.option("--dtypes", &a.dtypes, "comma-separated parameter dtypes to train (f32, bf16, f16)")
      .option("--optimizer", &a.optimizer, "adam or sgd (momentum 0.9)")
      .option("--lr", &a.lr, "learning rate (default: 1e-3 for adam, 0.01 for sgd)")
      .option("--eps", &a.eps, "Adam's eps")
      .option("--epochs", &a.epochs, "training epochs")
      .option("--batch-size", &a.batch, "images per step")
      .option("--threads", &a.threads, "CPU threads")
      .option("--seed", &a.seed, "seed of the init and shuffling")
      .option("--data", &a.data, "Fashion-MNIST directory")
      .flag("--smoke", &a.smoke, "1 epoch on 2048 images, tested on 1000 (seconds)");
  p.parse(argc, argv);
  if (a.optimizer != "adam" && a.optimizer != "sgd") throw Error("--optimizer must be adam or sgd");
  if (a.lr < 0) a.lr = a.optimizer == "adam" ? 1e-3 : 0.01;
  if (a.smoke) a.epochs = 1;
  if (a.epochs < 1 || a.batch < 1) throw Error("--epochs and --batch-size must be positive");
  set_num_threads(a.threads);

  auto train = data::load_mnist(a.data, true);
  auto test = data::load_mnist(a.data, false);
  Tensor xtr = train.images.to(DType::f32).reshape({-1, 784}) / 255.0, ytr = train.labels;
  Tensor xte = test.images.to(DType::f32).reshape({-1, 784}) / 255.0, yte = test.labels;
  if (a.smoke) {
    xtr = xtr.slice(0, 0, 2048), ytr = ytr.slice(0, 0, 2048);
    xte = xte.slice(0, 0, 1000), yte = yte.slice(0, 0, 1000);
  }
  const double mu = mean(xtr).item(), sd = std::sqrt(var(xtr).item());
  xtr = ((xtr - mu) / sd).contiguous(), xte = ((xte - mu) / sd).contiguous();
  std::printf("data: %lld train, %lld test images; %s lr %g, batch %lld, %d epochs\n", (long long)xtr.size(0),
              (long long)xte.size(0), a.optimizer.c_str(), a.lr, (long long)a.batch, a.epochs);

  std::stringstream list(a.dtypes);
  std::string name;
  while (std::getline(list, name, ',')) {
    const DType dt = parse_dtype(name);
    manual_seed(a.seed);  // the same initial weights and batch order for every dtype
    auto model = std::make_shared<nn::Sequential>(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128), nn::ReLU(),
                                                  nn::Linear(128, 10));
    model->to(dt);
    std::unique_ptr<optim::Optimizer> opt;
    if (a.optimizer == "adam") {
      opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions(a.lr).eps(a.eps));
    } else {
      opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions(a.lr).momentum(0.9));
    }
    const Tensor xtr_d = xtr.to(dt);
    const int64_t n = xtr.size(0);
    double loss_avg = 0, acc = 0, secs = 0, lost = 0;
    for (int epoch = 1; epoch <= a.epochs; ++epoch) {
      const auto e0 = std::chrono::steady_clock::now();
      const Tensor perm = randperm(n);
      double loss_sum = 0;
      int64_t steps = 0, moved_nonzero = 0, kept_nonzero = 0;
      for (int64_t i = 0; i + a.batch <= n; i += a.batch) {
        const Tensor idx = perm.slice(0, i, i + a.batch);
        Tensor loss = cross_entropy((*model)(index_select(xtr_d, 0, idx)), index_select(ytr, 0, idx));
        opt->zero_grad();
        loss.backward();
        const bool sample = steps % 20 == 0;
        std::vector<Tensor> before;
        if (sample) {
          NoGradGuard ng;
          for (const Tensor& q : model->parameters()) before.push_back(q.clone());
        }
        opt->step();
        if (sample) {
          NoGradGuard ng;
          const auto params = model->parameters();
          for (size_t k = 0; k < params.size(); ++k) {
            const Tensor nonzero = ne(params[k].grad(), zeros_like(params[k].grad())).to(DType::f32);
            const Tensor same = eq(params[k], before[k]).to(DType::f32) * nonzero;
            kept_nonzero += int64_t(sum(same).item());
            moved_nonzero += int64_t(sum(nonzero).item());
          }
        }
        loss_sum += loss.item();
        ++steps;
      }
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
      loss_avg = loss_sum / double(std::max<int64_t>(steps, 1));
      lost = moved_nonzero ? double(kept_nonzero) / double(moved_nonzero) : 0.0;
      acc = accuracy(*model, xte, yte, dt);
      std::printf("%-4s epoch %2d  train loss %.4f  test accuracy %.4f  updates lost %.1f%%  (%.1f s)\n", name.c_str(),
                  epoch, loss_avg, acc, 100.0 * lost, secs);
      std::fflush(stdout);
    }
    std::printf("{\"dtype\": \"%s\", \"optimizer\": \"%s\", \"lr\": %g, \"epochs\": %d, \"train_loss\": %.4f, "
                "\"test_accuracy\": %.4f, \"updates_lost_last_epoch\": %.4f, \"seconds_per_epoch\": %.1f}\n",
                name.c_str(), a.optimizer.c_str(), a.lr, a.epochs, loss_avg, acc, lost, secs);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pure_bf16: %s\n", e.what());
  return 1;
}
