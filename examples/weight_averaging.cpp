// Does averaging the weights along the SGD trajectory help? An MLP with batch norm
// (784 -> 256 -> BatchNorm1d -> ReLU -> 10) trains on Fashion-MNIST with SGD at a constant,
// deliberately high lr, so the last iterate keeps bouncing around. Alongside, from epoch
// --avg-start on:
//   EMA  optim::AveragedModel with get_ema_avg_fn(--ema-decay), updated after every step,
//        BatchNorm statistics averaged too (use_buffers);
//   SWA  optim::AveragedModel with the running mean, updated once per epoch (the snapshots of
//        Izmailov et al., 2018), its BatchNorm statistics recomputed by optim::update_bn.
// Prints per epoch the test accuracy of the last iterate, the EMA and the SWA model, and a final
// JSON line.
//
//   weight_averaging [--epochs N] [--lr X] [--avg-start E] [--ema-decay D] [--batch-size B]
//                    [--threads T] [--seed S] [--data DIR] [--smoke]
//
// --smoke: 2 epochs on 1024 images, tested on 512 (seconds), to check that it runs.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "example_args.h"
#include "nabla/data/idx.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;

namespace {

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(nn::Flatten(), nn::Linear(784, 256), nn::BatchNorm1d(nn::BatchNormOptions(256)),
                                          nn::ReLU(), nn::Linear(256, 10));
}

double accuracy(nn::Module& m, const Tensor& x, const Tensor& y) {
  NoGradGuard ng;
  const bool was_training = m.is_training();
  m.eval();
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    const int64_t e = std::min(x.size(0), i + 1000);
    correct += sum(eq(argmax(m(x.slice(0, i, e)), 1), y.slice(0, i, e))).item<int64_t>();
  }
  m.train(was_training);
  return double(correct) / double(x.size(0));
}

/// The training images in batches, for update_bn (one pass, in order).
std::vector<Tensor> batches_of(const Tensor& x, int64_t batch) {
  std::vector<Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += batch) out.push_back(x.slice(0, i, std::min(x.size(0), i + batch)));
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  struct Args {
    int epochs = 12, avg_start = 4, threads = 2;
    double lr = 0.1, ema_decay = 0.999;
    int64_t batch = 128;
    uint64_t seed = 0;
    bool smoke = false;
    std::string data = data::kFashionMnistDir;
  } a;
  examples::ArgParser p("weight_averaging",
                        "SGD at a constant lr on Fashion-MNIST: last iterate vs EMA vs SWA test accuracy.");
  p.option("--epochs", &a.epochs, "training epochs")
      .option("--lr", &a.lr, "SGD learning rate (momentum 0.9, constant)")
      .option("--avg-start", &a.avg_start, "first epoch of averaging")
      .option("--ema-decay", &a.ema_decay, "EMA decay per step")
      .option("--batch-size", &a.batch, "images per step")
      .option("--threads", &a.threads, "CPU threads")
      .option("--seed", &a.seed, "seed of the init and shuffling")
      .option("--data", &a.data, "Fashion-MNIST directory")
      .flag("--smoke", &a.smoke, "2 epochs on 1024 images, tested on 512 (seconds)");
  p.parse(argc, argv);
  if (a.smoke) a.epochs = 2, a.avg_start = 1;
  if (a.epochs < 1 || a.batch < 1 || a.avg_start < 1 || a.avg_start > a.epochs)
    throw Error("--epochs and --batch-size must be positive and --avg-start in [1, --epochs]");
  set_num_threads(a.threads);
  manual_seed(a.seed);

  auto train = data::load_mnist(a.data, true);
  auto test = data::load_mnist(a.data, false);
  Tensor xtr = train.images.to(DType::f32).reshape({-1, 1, 28, 28}) / 255.0, ytr = train.labels;
  Tensor xte = test.images.to(DType::f32).reshape({-1, 1, 28, 28}) / 255.0, yte = test.labels;
  if (a.smoke) {
    xtr = xtr.slice(0, 0, 1024), ytr = ytr.slice(0, 0, 1024);
    xte = xte.slice(0, 0, 512), yte = yte.slice(0, 0, 512);
  }
  const double mu = mean(xtr).item(), sd = std::sqrt(var(xtr).item());
  xtr = ((xtr - mu) / sd).contiguous(), xte = ((xte - mu) / sd).contiguous();

  auto model = make_mlp();
  optim::SGD opt(model->parameters(), optim::SGDOptions(a.lr).momentum(0.9));
  optim::AveragedModel ema(make_mlp(), optim::get_ema_avg_fn(a.ema_decay), /*use_buffers=*/true);
  optim::AveragedModel swa(make_mlp());
  const std::vector<Tensor> bn_batches = batches_of(xtr, 500);
  std::printf("data: %lld train, %lld test images; SGD lr %g momentum 0.9 (constant); averaging from epoch %d\n",
              (long long)xtr.size(0), (long long)xte.size(0), a.lr, a.avg_start);
  std::printf("epoch  train loss   last iterate   EMA(%g)   SWA (mean of %s)   s/epoch\n", a.ema_decay, "epoch ends");

  const int64_t n = xtr.size(0);
  double last_acc = 0, ema_acc = 0, swa_acc = 0, secs = 0;
  for (int epoch = 1; epoch <= a.epochs; ++epoch) {
    auto e0 = std::chrono::steady_clock::now();
    model->train();
    Tensor perm = randperm(n);
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t i = 0; i + a.batch <= n; i += a.batch) {
      Tensor idx = perm.slice(0, i, i + a.batch);
      Tensor loss = cross_entropy((*model)(index_select(xtr, 0, idx)), index_select(ytr, 0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (epoch >= a.avg_start) ema.update_parameters(*model);
      loss_sum += loss.item();
      ++steps;
    }
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    last_acc = accuracy(*model, xte, yte);
    std::string ema_col = "-", swa_col = "-";
    if (epoch >= a.avg_start) {
      swa.update_parameters(*model);
      optim::update_bn(bn_batches, *swa.module);  // statistics that fit the averaged weights
      ema_acc = accuracy(ema, xte, yte), swa_acc = accuracy(swa, xte, yte);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", ema_acc), ema_col = buf;
      std::snprintf(buf, sizeof buf, "%.4f (%lld)", swa_acc, (long long)swa.num_averaged()), swa_col = buf;
    }
    std::printf("%5d  %10.4f   %12.4f   %9s   %20s   %7.1f\n", epoch, loss_sum / double(std::max<int64_t>(steps, 1)),
                last_acc, ema_col.c_str(), swa_col.c_str(), secs);
    std::fflush(stdout);
  }
  std::printf("{\"last_iterate_accuracy\": %.4f, \"ema_accuracy\": %.4f, \"swa_accuracy\": %.4f, \"epochs\": %d, "
              "\"seconds_per_epoch\": %.1f}\n",
              last_acc, ema_acc, swa_acc, a.epochs, secs);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "weight_averaging: %s\n", e.what());
  return 1;
}
