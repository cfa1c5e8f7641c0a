// Optimizer step time, nabla vs LibTorch, in one process and one run (see bench/OPTIM.md).
// Parameter sets:
//   MLP  784-512-256-10 (weights + biases, 535,818 parameters; bench_vs_libtorch's model)
//   CNN  conv 1->32 3x3, conv 32->64 3x3, fc 3136->128, fc 128->10 (421,642 parameters; the
//        usual Fashion-MNIST CNN with two 2x2 poolings)
// For every optimizer LibTorch 1.13's C++ frontend has (SGD, SGD momentum/Nesterov, Adagrad,
// RMSprop, Adam, AMSGrad, AdamW) both libraries step the same parameters with the same fixed
// gradients; rounds are interleaved (ABBA) and the table shows per-step medians and the ratio
// nabla/LibTorch (< 1: nabla faster). Adadelta, NAdam, RAdam and Adafactor (not in LibTorch's C++
// API) are timed for nabla alone; Adafactor both fused and composed. clip_grad_norm_ is compared too. Before timing, 5 steps from identical
// values check that both libraries follow the same trajectory (max |difference| / max |value|).
//
// --dtype bf16|f16 steps parameters, gradients and state of that dtype in both libraries (pure
// 16-bit training: nabla computes each update in float and rounds once), from the same values
// rounded; a LibTorch optimizer that refuses the dtype shows "-".
//
// Usage: bench_optim [--rounds R] [--block K] [--threads 1,2] [--only NAME] [--dtype f32|bf16|f16]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "nabla/nabla.h"
#include "nabla/optim.h"

namespace {

using bench::median;
using bench::set_threads;
using bench::time_block;
namespace no = nabla::optim;

struct Options : bench::TimingOptions {
  Options() { rounds = 15, block = 20; }
  std::string only;  // run only optimizers whose name contains this
  std::string dtype = "f32";  // parameter dtype: f32, bf16 or f16
};

Options parse(int argc, char** argv) {
  Options o;
  bench::ArgWalker args(argc, argv);
  while (args.next()) {
    const std::string& a = args.flag();
    auto next = [&] { return args.value(); };
    if (args.timing(o)) {
      continue;
    } else if (a == "--only") {
      o.only = next();
    } else if (a == "--dtype") {
      o.dtype = next();
      if (o.dtype != "f32" && o.dtype != "bf16" && o.dtype != "f16") {
        std::fprintf(stderr, "%s: --dtype must be f32, bf16 or f16\n", argv[0]);
        std::exit(2);
      }
    } else {
      std::fprintf(stderr, "usage: %s [--rounds R] [--block K] [--threads 1,2] [--only NAME] [--dtype f32|bf16|f16]\n",
                   argv[0]);
      std::exit(args.usage_status());
    }
  }
  return o;
}

// ---- parameter sets: shapes, and identical values/gradients in both libraries --------------------
using Shapes = std::vector<std::vector<int64_t>>;
const Shapes kMlp = {{512, 784}, {512}, {256, 512}, {256}, {10, 256}, {10}};
const Shapes kCnn = {{32, 1, 3, 3}, {32}, {64, 32, 3, 3}, {64}, {128, 3136}, {128}, {10, 128}, {10}};

struct Params {
  std::vector<nabla::Tensor> n;
  std::vector<torch::Tensor> t;
};

// The parameter dtype of this run (--dtype), in both libraries.
nabla::DType g_dtype = nabla::DType::f32;
torch::ScalarType torch_dtype() {
  return g_dtype == nabla::DType::bf16 ? torch::kBFloat16 : g_dtype == nabla::DType::f16 ? torch::kHalf : torch::kFloat;
}

// Values and gradients from LibTorch's generator, copied into nabla (so both start equal), then
// rounded to the run's dtype in both (the same round-to-nearest-even).
Params make_params(const Shapes& shapes, uint64_t seed) {
  torch::manual_seed(seed);
  Params p;
  for (const auto& s : shapes) {
    torch::Tensor v = torch::randn(s) * 0.05, g = torch::randn(s) * 0.01;
    torch::Tensor tv = v.to(torch_dtype()).clone().requires_grad_();
    tv.mutable_grad() = g.to(torch_dtype()).clone();
    p.t.push_back(tv);
    nabla::Shape ns(s.begin(), s.end());
    std::vector<float> vv(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    std::vector<float> gv(g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
    nabla::Tensor nv = nabla::from_vector(vv, ns).to(g_dtype).requires_grad_();
    nv.set_grad(nabla::from_vector(gv, ns).to(g_dtype));
    p.n.push_back(nv);
  }
  return p;
}

int64_t count(const Shapes& shapes) {
  int64_t n = 0;
  for (const auto& s : shapes) {
    int64_t k = 1;
    for (int64_t d : s) k *= d;
    n += k;
  }
  return n;
}

// ---- the optimizers, as pairs --------------------------------------------------------------------
struct Pair {
  std::string name;
  std::function<std::unique_ptr<no::Optimizer>(std::vector<nabla::Tensor>)> nabla;
  std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)> torch;  // may be empty
};

std::vector<Pair> pairs() {
  using namespace torch::optim;
  std::vector<Pair> v;
  auto add = [&](std::string name, auto n, auto t) { v.push_back({std::move(name), n, t}); };
  add("SGD", [](auto p) { return std::make_unique<no::SGD>(p, no::SGDOptions(0.01)); },
      [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.01)); });
  add("SGD momentum 0.9 + wd",
      [](auto p) { return std::make_unique<no::SGD>(p, no::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4)); },
      [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.01).momentum(0.9).weight_decay(1e-4)); });
  add("SGD nesterov",
      [](auto p) { return std::make_unique<no::SGD>(p, no::SGDOptions(0.01).momentum(0.9).nesterov(true)); },
      [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.01).momentum(0.9).nesterov(true)); });
  add("Adagrad", [](auto p) { return std::make_unique<no::Adagrad>(p, no::AdagradOptions(0.01)); },
      [](auto p) { return std::make_unique<Adagrad>(p, AdagradOptions(0.01)); });
  add("RMSprop", [](auto p) { return std::make_unique<no::RMSprop>(p, no::RMSpropOptions(0.001)); },
      [](auto p) { return std::make_unique<RMSprop>(p, RMSpropOptions(0.001)); });
  add("RMSprop centered + momentum",
      [](auto p) { return std::make_unique<no::RMSprop>(p, no::RMSpropOptions(0.001).centered(true).momentum(0.9)); },
      [](auto p) { return std::make_unique<RMSprop>(p, RMSpropOptions(0.001).centered(true).momentum(0.9)); });
  add("Adam", [](auto p) { return std::make_unique<no::Adam>(p, no::AdamOptions(0.001)); },
      [](auto p) { return std::make_unique<Adam>(p, AdamOptions(0.001)); });
  add("Adam amsgrad + wd",
      [](auto p) { return std::make_unique<no::Adam>(p, no::AdamOptions(0.001).amsgrad(true).weight_decay(1e-4)); },
      [](auto p) { return std::make_unique<Adam>(p, AdamOptions(0.001).amsgrad(true).weight_decay(1e-4)); });
  add("AdamW", [](auto p) { return std::make_unique<no::AdamW>(p, no::AdamWOptions(0.001)); },
      [](auto p) { return std::make_unique<AdamW>(p, AdamWOptions(0.001)); });
  v.push_back({"Adadelta (nabla only)", [](auto p) { return std::make_unique<no::Adadelta>(p); }, nullptr});
  v.push_back({"NAdam (nabla only)", [](auto p) { return std::make_unique<no::NAdam>(p); }, nullptr});
  v.push_back({"RAdam (nabla only)", [](auto p) { return std::make_unique<no::RAdam>(p); }, nullptr});
  // LibTorch 1.13 has no Adafactor (PyTorch added it in 2.5): its step is compared with nabla's
  // and LibTorch's Adam rows above on the same parameters, and the fused CPU kernel with the
  // composed tensor-op path (fused(false), what other devices run).
  v.push_back({"Adafactor composed (nabla only)",
               [](auto p) { return std::make_unique<no::Adafactor>(p, no::AdafactorOptions().fused(false)); }, nullptr});
  v.push_back({"Adafactor fused (nabla only)", [](auto p) { return std::make_unique<no::Adafactor>(p); }, nullptr});
  v.push_back({"Adafactor + wd composed (nabla only)",
               [](auto p) {
                 return std::make_unique<no::Adafactor>(p, no::AdafactorOptions().weight_decay(0.01).fused(false));
               },
               nullptr});
  v.push_back({"Adafactor + wd fused (nabla only)",
               [](auto p) { return std::make_unique<no::Adafactor>(p, no::AdafactorOptions().weight_decay(0.01)); },
               nullptr});
  return v;
}

// A LibTorch optimizer that runs on this dtype (one step on a scratch copy), or null.
std::unique_ptr<torch::optim::Optimizer> torch_if_supported(const Pair& pr, const std::vector<torch::Tensor>& params) {
  if (!pr.torch) return nullptr;
  try {
    std::vector<torch::Tensor> scratch;
    for (const torch::Tensor& q : params) {
      torch::Tensor c = q.detach().clone().requires_grad_();
      c.mutable_grad() = q.grad().clone();
      scratch.push_back(c);
    }
    pr.torch(scratch)->step();
  } catch (const std::exception&) {
    return nullptr;
  }
  return pr.torch(params);
}

// max |a - b| / max |b| over all elements, after `steps` steps from identical values (a
// per-element relative difference would be dominated by parameters that pass near zero).
double agreement(const Pair& pr, const Shapes& shapes, int steps) {
  Params p = make_params(shapes, 7);
  auto n = pr.nabla(p.n);
  auto t = torch_if_supported(pr, p.t);
  if (!t) return std::nan("");
  for (int i = 0; i < steps; ++i) {
    n->step();
    t->step();
  }
  double diff = 0, scale = 0;
  for (size_t k = 0; k < p.n.size(); ++k) {
    std::vector<float> a = p.n[k].to_vector<float>();
    const torch::Tensor tf = p.t[k].detach().to(torch::kFloat).contiguous();
    const float* b = tf.data_ptr<float>();
    for (size_t i = 0; i < a.size(); ++i) {
      diff = std::max(diff, double(std::abs(a[i] - b[i])));
      scale = std::max(scale, double(std::abs(b[i])));
    }
  }
  return diff / scale;
}

/// One table row: per-step median and interquartile range of each library, ratio of medians.
void row(const std::string& what, const std::vector<double>& n, const std::vector<double>& t) {
  const bench::Summary ns = bench::summarize(n);
  char nb[64];
  std::snprintf(nb, sizeof nb, "%.1f (%.1f-%.1f) us", ns.median * 1e6, ns.q1 * 1e6, ns.q3 * 1e6);
  if (!t.empty()) {
    const bench::Summary ts = bench::summarize(t);
    char tb[64];
    std::snprintf(tb, sizeof tb, "%.1f (%.1f-%.1f) us", ts.median * 1e6, ts.q1 * 1e6, ts.q3 * 1e6);
    std::printf("| %-40s | %28s | %28s | %5.2f |\n", what.c_str(), nb, tb, ns.median / ts.median);
  } else {
    std::printf("| %-40s | %28s | %28s | %5s |\n", what.c_str(), nb, "-", "-");
  }
  std::fflush(stdout);
}

void bench_set(const char* set_name, const Shapes& shapes, const Options& o) {
  for (const Pair& pr : pairs()) {
    if (!o.only.empty() && pr.name.find(o.only) == std::string::npos) continue;
    Params p = make_params(shapes, 1);
    auto n = pr.nabla(p.n);
    std::unique_ptr<torch::optim::Optimizer> t = torch_if_supported(pr, p.t);
    for (int i = 0; i < 3; ++i) {  // warm-up: state allocation, caches
      n->step();
      if (t) t->step();
    }
    std::vector<double> tn, tt;
    for (int r = 0; r < o.rounds; ++r) {  // ABBA interleaving
      const bool nabla_first = r % 2 == 0;
      if (nabla_first) tn.push_back(time_block([&] { n->step(); }, o.block));
      if (t) tt.push_back(time_block([&] { t->step(); }, o.block));
      if (!nabla_first) tn.push_back(time_block([&] { n->step(); }, o.block));
    }
    row(std::string(set_name) + " " + pr.name, tn, tt);
  }
  if (o.only.empty() || std::string("clip_grad_norm_").find(o.only) != std::string::npos) {
    Params p = make_params(shapes, 2);
    std::vector<double> tn, tt;
    for (int r = 0; r < o.rounds; ++r) {
      tn.push_back(time_block([&] { no::clip_grad_norm_(p.n, 1e9); }, o.block));
      tt.push_back(time_block([&] { torch::nn::utils::clip_grad_norm_(p.t, 1e9); }, o.block));
    }
    row(std::string(set_name) + " clip_grad_norm_", tn, tt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  g_dtype = o.dtype == "bf16" ? nabla::DType::bf16 : o.dtype == "f16" ? nabla::DType::f16 : nabla::DType::f32;
  bench::set_interop_threads();
  std::printf("nabla optimizer step vs LibTorch %s (MLP %lld params, CNN %lld params), %s, per-step medians\n",
              TORCH_VERSION, (long long)count(kMlp), (long long)count(kCnn), o.dtype.c_str());
  set_threads(o.threads.empty() ? 1 : o.threads[0]);
  std::printf("\nTrajectory agreement after 5 steps from identical values (max |nabla - torch| / max |torch|):\n");
  for (const Pair& pr : pairs()) {
    if (!pr.torch) continue;
    if (!o.only.empty() && pr.name.find(o.only) == std::string::npos) continue;
    std::printf("  %-32s MLP %.2e  CNN %.2e\n", pr.name.c_str(), agreement(pr, kMlp, 5), agreement(pr, kCnn, 5));
  }
  for (int nt : o.threads) {
    set_threads(nt);
    std::printf("\n%d thread(s): %d rounds x %d steps\n", nt, o.rounds, o.block);
    std::printf("| %-40s | %28s | %28s | %5s |\n|%s|%s|%s|%s|\n", "step", "nabla median (IQR)",
                "LibTorch median (IQR)", "ratio", std::string(42, '-').c_str(), std::string(30, '-').c_str(),
                std::string(30, '-').c_str(),
                std::string(7, '-').c_str());
    bench_set("MLP", kMlp, o);
    bench_set("CNN", kCnn, o);
  }
  return 0;
}
