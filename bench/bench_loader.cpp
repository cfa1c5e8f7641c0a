// Does data loading stall the training step? (issue 7: "with prefetch, the time per epoch is
// within 5% of the pure compute time".) The same CNN steps run over
//   pure:     batches collated beforehand and held in memory (compute only), and
//   prefetch: batches from a DataLoader with background workers, as `nabla train` uses it
//             (normalization, and optionally the cnn-bn-aug augmentation, applied per sample),
// interleaved round by round in one process; prints the median per-round time of each and
// the ratio. Usage: bench_loader [--steps N] [--rounds R] [--threads T] [--workers W] [--augment] [--data DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nabla/data.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/train/model_spec.h"

using namespace nabla;
using clk = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Stepper {
  std::shared_ptr<nn::Sequential> model = train::build_model(train::preset_spec("cnn"));
  std::unique_ptr<optim::SGD> opt;
  Stepper() { opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions(0.05).momentum(0.9)); }
  void step(const data::Batch& b) {
    Tensor loss = cross_entropy((*model)(b.inputs), b.targets);
    opt->zero_grad();
    loss.backward();
    opt->step();
  }
};

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 200, rounds = 5;
  int threads = 2, workers = 1;
  bool augment = false;
  std::string dir = data::kFashionMnistDir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoll(argv[++i]) : 0; };
    if (a == "--steps") steps = next();
    else if (a == "--rounds") rounds = next();
    else if (a == "--threads") threads = int(next());
    else if (a == "--workers") workers = int(next());
    else if (a == "--augment") augment = true;
    else if (a == "--data" && i + 1 < argc) dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_loader [--steps N] [--rounds R] [--threads T] [--workers W] [--augment] [--data DIR]\n");
      return 2;
    }
  }
  set_num_threads(threads);
  manual_seed(0);
  auto mn = data::load_mnist(dir, true);
  auto ds = data::TensorDataset::images(mn.images, mn.labels);
  data::Transform norm = data::normalize(data::channel_stats(*ds));
  data::Transform tf = norm;
  if (augment) tf = data::compose({data::random_crop(28, 28, 2), data::random_horizontal_flip(0.5), norm});
  auto loader_opts = data::DataLoaderOptions{.batch_size = 64, .shuffle = true, .drop_last = true, .seed = 0,
                                             .num_workers = workers, .transform = tf};
  // Pure compute: the same kind of batches, made before the clock starts.
  std::vector<data::Batch> held;
  {
    data::DataLoader pre(ds, loader_opts);
    pre.start_epoch(0);
    while (held.size() < size_t(steps))
      if (auto b = pre.next()) held.push_back(*b);
  }
  Stepper s;
  for (int64_t i = 0; i < 10; ++i) s.step(held[size_t(i)]);  // warm-up (allocator, caches)
  data::DataLoader loader(ds, loader_opts);
  std::vector<double> pure, fed;
  for (int64_t r = 0; r < rounds; ++r) {
    auto t0 = clk::now();
    for (const data::Batch& b : held) s.step(b);
    pure.push_back(std::chrono::duration<double>(clk::now() - t0).count());
    loader.start_epoch(r + 1);
    t0 = clk::now();
    for (int64_t i = 0; i < steps; ++i) s.step(*loader.next());
    fed.push_back(std::chrono::duration<double>(clk::now() - t0).count());
  }
  double mp = median(pure), mf = median(fed);
  auto [pmin, pmax] = std::minmax_element(pure.begin(), pure.end());
  auto [fmin, fmax] = std::minmax_element(fed.begin(), fed.end());
  std::printf("steps/round %lld, rounds %lld, threads %d, workers %d, augment %s\n", (long long)steps,
              (long long)rounds, threads, workers, augment ? "yes" : "no");
  std::printf("pure compute : median %.3f s (min %.3f, max %.3f)\n", mp, *pmin, *pmax);
  std::printf("with loader  : median %.3f s (min %.3f, max %.3f)\n", mf, *fmin, *fmax);
  std::printf("ratio loader/pure = %.3f  (target <= 1.05)\n", mf / mp);
  return 0;
}
