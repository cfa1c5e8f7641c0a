// A tiny Vision Transformer on Fashion-MNIST, built from nn::TransformerEncoder: each 28x28 image
// is cut into 16 patches of 7x7 pixels, embedded by a Linear layer (49 -> 64) plus a learned
// position embedding, passed through 2 pre-norm encoder layers (d_model 64, 4 heads,
// feed-forward 128, GELU) and a final LayerNorm, mean-pooled over the 16 tokens and classified by
// a Linear head. Trained with AdamW; prints per-epoch loss, test accuracy and time.
//
//   vit_fashion [--epochs N] [--lr X] [--batch-size B] [--threads T] [--seed S] [--data DIR] [--smoke]
//
// --smoke trains one epoch on 512 images and tests on 256 (seconds), to check that it runs.
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

struct Args {
  int epochs = 5;
  double lr = 2e-3;
  int64_t batch = 128;
  int threads = 2;
  uint64_t seed = 0;
  bool smoke = false;
  std::string data = data::kFashionMnistDir;
};

Args parse(int argc, char** argv) {
  Args a;
  examples::ArgParser p("vit_fashion", "Trains a tiny Vision Transformer on Fashion-MNIST.");
  p.option("--epochs", &a.epochs, "training epochs")
      .option("--lr", &a.lr, "AdamW learning rate")
      .option("--batch-size", &a.batch, "images per step")
      .option("--threads", &a.threads, "CPU threads")
      .option("--seed", &a.seed, "seed of the init, dropout and shuffling")
      .option("--data", &a.data, "Fashion-MNIST directory")
      .flag("--smoke", &a.smoke, "one epoch on 512 images, tested on 256 (seconds)");
  p.parse(argc, argv);
  return a;
}

constexpr int64_t kPatch = 7, kGrid = 28 / kPatch, kTokens = kGrid * kGrid, kDim = 64;

/// [N, 28, 28] pixels -> [N, 16, 49] patches, row-major over the 4x4 grid.
Tensor patchify(const Tensor& images) {
  const int64_t n = images.size(0);
  return images.reshape({n, kGrid, kPatch, kGrid, kPatch}).permute({0, 1, 3, 2, 4}).reshape({n, kTokens, kPatch * kPatch});
}

struct Vit : nn::Module {
  std::shared_ptr<nn::Linear> patch_embed;
  Tensor pos_embed;
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<nn::Linear> head;

  Vit() : Module("Vit") {
    patch_embed = register_module("patch_embed", std::make_shared<nn::Linear>(kPatch * kPatch, kDim));
    Tensor pe = empty({1, kTokens, kDim});
    nn::init::trunc_normal_(pe, 0.0, 0.02);  // as timm's ViT
    pos_embed = register_parameter("pos_embed", pe);
    auto layer = nn::TransformerEncoderLayerOptions(kDim, 4)
                     .dim_feedforward(2 * kDim)
                     .dropout(0.1)
                     .activation("gelu")
                     .batch_first(true)
                     .norm_first(true);
    encoder = register_module(
        "encoder", std::make_shared<nn::TransformerEncoder>(
                       nn::TransformerEncoderOptions(layer, 2).norm(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({kDim})))));
    head = register_module("head", std::make_shared<nn::Linear>(kDim, 10));
  }

  /// patches [B, 16, 49] -> logits [B, 10]
  Tensor forward(const Tensor& patches) override {
    Tensor tokens = (*patch_embed)(patches) + pos_embed;
    return (*head)(mean((*encoder)(tokens), {1}));
  }
};

double accuracy(Vit& m, const Tensor& x, const Tensor& y) {
  NoGradGuard ng;
  m.eval();
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    int64_t e = std::min(x.size(0), i + 1000);
    correct += sum(eq(argmax(m(x.slice(0, i, e)), 1), y.slice(0, i, e))).item<int64_t>();
  }
  m.train();
  return double(correct) / double(x.size(0));
}

}  // namespace

int main(int argc, char** argv) try {
  Args args = parse(argc, argv);
  if (args.smoke) args.epochs = 1;
  set_num_threads(args.threads);
  manual_seed(args.seed);
  auto train = data::load_mnist(args.data, true);
  auto test = data::load_mnist(args.data, false);
  Tensor ytr = train.labels, yte = test.labels;
  Tensor itr = train.images, ite = test.images;
  if (args.smoke) {
    itr = itr.slice(0, 0, 512), ytr = ytr.slice(0, 0, 512);
    ite = ite.slice(0, 0, 256), yte = yte.slice(0, 0, 256);
  }
  // Scale to [0, 1], standardize with the training split's statistics, cut into patches once.
  Tensor xtr = itr.to(DType::f32).reshape({-1, 28, 28}) / 255.0;
  double mu = mean(xtr).item(), sd = std::sqrt(var(xtr).item());
  xtr = patchify((xtr - mu) / sd).contiguous();
  Tensor xte = patchify((ite.to(DType::f32).reshape({-1, 28, 28}) / 255.0 - mu) / sd).contiguous();

  Vit model;
  std::printf("data: %lld train, %lld test images; model: %lld parameters\n", (long long)xtr.size(0),
              (long long)xte.size(0), (long long)model.num_parameters());
  optim::AdamW opt(model.parameters(), optim::AdamWOptions(args.lr).weight_decay(0.05));

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
    std::printf("epoch %d  train loss %.4f  test accuracy %.4f  (%.1f s training)\n", epoch,
                loss_sum / double(std::max<int64_t>(batches, 1)), test_acc, epoch_secs);
    std::fflush(stdout);
  }
  std::printf("{\"test_accuracy\": %.4f, \"epochs\": %d, \"seconds_per_epoch\": %.1f, \"threads\": %d}\n", test_acc,
              args.epochs, epoch_secs, args.threads);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "vit_fashion: %s\n", e.what());
  return 1;
}
