// What activation checkpointing saves and what it costs. A deep MLP of --depth blocks
// Linear(W, W) -> ReLU -> Dropout(0.1) trains with SGD on random data for --steps steps, once as
// is and once through nn::utils::checkpoint_sequential(model, --segments, x), from the same seed.
// Prints, for each, the peak memory of a training step and the median step time, and their
// ratios; and checks that both runs end with the same weights (the checkpointed backward
// recomputes each segment with the forward's dropout masks). The two runs alternate step by step.
//
//   checkpointing [--depth N] [--width W] [--batch-size B] [--segments S] [--steps K]
//                 [--threads T] [--device D] [--seed S] [--smoke]
//
// Peak memory: the caching allocator's peak_allocated during one step (forward, backward,
// optimizer step) less what was allocated when it began (weights, optimizer state, the data),
// the largest over the steps. The saved activations are what differ: without checkpointing all
// 3 * depth outputs are kept for backward; with S segments only the S - 1 segment inputs and the
// last segment's outputs, plus one segment's again while backward recomputes it.
// --smoke: a tiny model for two steps (seconds), to check that it runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "example_args.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;

namespace {

struct Args {
  int depth = 32, steps = 4, threads = 2;
  int64_t width = 512, batch = 1024, segments = 8;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool smoke = false;
};

std::shared_ptr<nn::Sequential> make_mlp(const Args& a) {
  auto m = std::make_shared<nn::Sequential>();
  for (int i = 0; i < a.depth; ++i) {
    m->push_back(nn::Linear(a.width, a.width));
    m->push_back(nn::ReLU());
    m->push_back(nn::Dropout(0.1));
  }
  return m;
}

/// One model and its optimizer; segments == 0: no checkpointing. Both runs start from the same
/// seed: the same weights, data and (with the generator put back after each step) dropout masks.
struct Run {
  Run(const Args& a, int64_t segments, Device dev) : segments(segments), dev(dev), model(make_mlp(a)) {
    model->to(dev);
    opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions(0.01).momentum(0.9));
  }

  /// One training step; returns its time and updates the peak memory (unless warming up).
  void step(const Tensor& x, const Tensor& target, bool warm_up) {
    opt->zero_grad();
    synchronize(dev);
    const int64_t base = memory_stats(dev).allocated;
    reset_peak_memory_stats(dev);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor y = segments > 0 ? nn::utils::checkpoint_sequential(*model, segments, x) : (*model)(x);
    Tensor loss = mse_loss(y, target);
    loss.backward();
    opt->step();
    synchronize(dev);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last_loss = loss.item<double>();
    if (warm_up) return;
    seconds.push_back(s);
    peak_bytes = std::max(peak_bytes, memory_stats(dev).peak_allocated - base);
  }

  double median_seconds() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }

  int64_t segments;
  Device dev;
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::SGD> opt;
  int64_t peak_bytes = 0;
  double last_loss = 0;
  std::vector<double> seconds;
};

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) try {
  Args a;
  examples::ArgParser p("checkpointing",
                        "Peak memory and step time of a deep MLP with and without activation checkpointing.");
  p.option("--depth", &a.depth, "Linear -> ReLU -> Dropout blocks")
      .option("--width", &a.width, "units per layer")
      .option("--batch-size", &a.batch, "rows per step")
      .option("--segments", &a.segments, "checkpoint_sequential segments")
      .option("--steps", &a.steps, "timed steps (after one warm-up step)")
      .option("--threads", &a.threads, "CPU threads")
      .option("--device", &a.device, "cpu or cuda")
      .option("--seed", &a.seed, "seed of the weights, data and dropout")
      .flag("--smoke", &a.smoke, "a tiny model for two steps (seconds)");
  p.parse(argc, argv);
  if (a.smoke) a.depth = 8, a.width = 64, a.batch = 128, a.segments = 4, a.steps = 2;
  if (a.depth < 1 || a.width < 1 || a.batch < 1 || a.steps < 1)
    throw Error("--depth, --width, --batch-size and --steps must be positive");
  if (a.segments < 1 || a.segments > 3 * int64_t(a.depth))
    throw Error("--segments must be between 1 and 3 * --depth (the number of modules)");
  set_num_threads(a.threads);
  const Device dev = Device::parse(a.device);

  std::printf("model: %d x (Linear(%lld, %lld) -> ReLU -> Dropout(0.1)), batch %lld, f32 on %s, %d threads\n",
              a.depth, (long long)a.width, (long long)a.width, (long long)a.batch, a.device.c_str(), a.threads);
  manual_seed(a.seed);
  Run plain(a, 0, dev);
  manual_seed(a.seed);
  Run ck(a, a.segments, dev);
  const Tensor x = randn({a.batch, a.width}).to(dev), target = randn({a.batch, a.width}).to(dev);
  // The two alternate step by step (each goes first every other step), so a change in the load of
  // the machine hits both alike. Each step of the pair starts from the same generator state, so
  // both draw the same dropout masks; checkpointing must leave the generator where the plain step did.
  for (int step = 0; step <= a.steps; ++step) {  // step 0 warms up (allocator cache, momentum buffers)
    Run& first = step % 2 == 0 ? plain : ck;
    Run& second = step % 2 == 0 ? ck : plain;
    const GeneratorState start = get_rng_state();
    first.step(x, target, step == 0);
    const GeneratorState after = get_rng_state();
    set_rng_state(start);
    second.step(x, target, step == 0);
    if (get_rng_state().offset != after.offset) throw Error("the two runs drew different amounts of random numbers");
  }
  double max_diff = 0;
  const TensorList pw = plain.model->parameters(), cw = ck.model->parameters();
  for (size_t i = 0; i < pw.size(); ++i) max_diff = std::max(max_diff, max(abs(pw[i] - cw[i])).item<double>());

  const std::string label = "checkpoint_sequential(" + std::to_string(a.segments) + ")";
  std::printf("%-28s %22s %20s\n", "", "peak memory per step", "median step time");
  std::printf("%-28s %18.1f MiB %18.3f s\n", "no checkpointing", mib(plain.peak_bytes), plain.median_seconds());
  std::printf("%-28s %18.1f MiB %18.3f s\n", label.c_str(), mib(ck.peak_bytes), ck.median_seconds());
  const double memory_ratio = double(ck.peak_bytes) / double(plain.peak_bytes);
  const double time_ratio = ck.median_seconds() / plain.median_seconds();
  std::printf("checkpointed / plain: memory %.2f, time %.2f\n", memory_ratio, time_ratio);
  std::printf("final weights: largest difference %g (last loss %.6f vs %.6f)\n", max_diff, plain.last_loss,
              ck.last_loss);
  std::printf("{\"peak_bytes_plain\": %lld, \"peak_bytes_checkpointed\": %lld, \"memory_ratio\": %.4f, "
              "\"step_seconds_plain\": %.4f, \"step_seconds_checkpointed\": %.4f, \"time_ratio\": %.4f, "
              "\"same_weights\": %s}\n",
              (long long)plain.peak_bytes, (long long)ck.peak_bytes, memory_ratio, plain.median_seconds(),
              ck.median_seconds(), time_ratio, max_diff == 0.0 ? "true" : "false");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "checkpointing: %s\n", e.what());
  return 1;
}
