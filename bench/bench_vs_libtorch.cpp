// nabla and LibTorch side by side, in one process and one run (DESIGN §8):
//   (a) per-op overhead of a 1-element add whose inputs require grad (a graph node is recorded),
//       plus the same add with inputs that need no grad, for context;
//   (b) an MLP 784-512-256-10 (ReLU), cross-entropy, batch 128: forward + backward + SGD step
//       (lr 0.01), at 1 and 2 threads, with the same initial weights and data in both libraries,
//       and, interleaved with them, nabla's floor: the step's 8 GEMMs alone through nabla's GEMM
//       kernel, and the same followed by the SGD update of the weights (ratios against LibTorch's
//       step: how far below LibTorch nabla could go with zero other work);
//   (c) that step split into forward / backward / update, next to the time of its 8 GEMMs issued
//       straight to cblas_sgemm (the floor LibTorch has, on OpenBLAS) and through nabla's GEMM
//       kernel (oneDNN matmul primitives where built: nabla's floor);
//   (d) square matmuls (256, 512, 1024) in f32, bf16 and f16 in both libraries (a LibTorch
//       that refuses a dtype on the CPU says so), at the first thread count (--skip-half: off).
// nabla's MLP runs each Linear->ReLU pair as linear_relu (what nn::Sequential does for a Linear
// directly followed by a ReLU); --unfused runs linear then relu instead. --gemm blas|onednn forces
// the implementation of nabla's f32 GEMM (default: the measured choice, src/backend/cpu/gemm.cpp);
// --also-blas adds, interleaved in the same run, nabla's step with its f32 GEMM on OpenBLAS.
// Rounds of the two libraries are interleaved (ABBA order) so drift and noisy neighbours hit both
// alike. Every number is a per-op or per-step time: median, IQR and min/max over all samples, and
// the ratio of medians nabla/LibTorch (< 1 means nabla is faster).
//
// Both libraries resolve to the same libgomp and (on Debian) the same OpenMP OpenBLAS through
// libblas.so.3, so one process is safe; the header printed first says what was loaded.
//
// Usage: bench_vs_libtorch [--rounds R] [--block K] [--warmup W] [--ops N] [--threads 1,2]
//                          [--skip-overhead] [--skip-phases] [--unfused] [--gemm auto|blas|onednn]
//                          [--also-blas]
//        bench_vs_libtorch --profile nabla|torch [--steps N] [--threads T]
//          runs only that library's MLP steps (at the first thread count), for perf or callgrind.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../src/backend/cpu/gemm_impl.h"
#include "../src/backend/device_backend.h"
#include "bench_common.h"
#include "nabla/nabla.h"

namespace {

using bench::clk;
using bench::escape;
using bench::set_threads;
using bench::summarize;
using bench::Summary;

struct Options : bench::TimingOptions {
  Options() { rounds = 20, block = 10, warmup = 20; }  // block: MLP steps per library per round
  int overhead_ops = 20000;  // adds per round in (a)
  bool overhead = true;
  bool phases = true;     // also print the forward/backward/update split of the MLP step
  std::string profile;    // "nabla" or "torch": only run that library's MLP steps (for perf/callgrind)
  int profile_steps = 200;
  bool fuse = true;  // nabla: linear_relu for each Linear->ReLU pair
  bool also_blas = false;  // MLP table: also nabla with its f32 GEMM forced to OpenBLAS, same run
  bool half = true;        // (d): 16-bit matmuls
  nabla::backend::cpu::GemmImpl gemm = nabla::backend::cpu::GemmImpl::Auto;
};

Options parse(int argc, char** argv) {
  Options o;
  bench::ArgWalker args(argc, argv);
  while (args.next()) {
    const std::string& a = args.flag();
    auto next = [&] { return args.value(); };
    if (args.timing(o)) {
      continue;
    } else if (a == "--ops") {
      o.overhead_ops = std::atoi(next());
    } else if (a == "--skip-overhead") {
      o.overhead = false;
    } else if (a == "--skip-phases") {
      o.phases = false;
    } else if (a == "--skip-half") {
      o.half = false;
    } else if (a == "--profile") {
      o.profile = next();
      if (o.profile != "nabla" && o.profile != "torch") {
        std::fprintf(stderr, "--profile takes nabla or torch\n");
        std::exit(2);
      }
    } else if (a == "--steps") {
      o.profile_steps = std::atoi(next());
    } else if (a == "--unfused") {
      o.fuse = false;
    } else if (a == "--also-blas") {
      o.also_blas = true;
    } else if (a == "--gemm") {
      const std::string v = next();
      using nabla::backend::cpu::GemmImpl;
      if (v == "auto") {
        o.gemm = GemmImpl::Auto;
      } else if (v == "blas") {
        o.gemm = GemmImpl::Blas;
      } else if (v == "onednn") {
        o.gemm = GemmImpl::OneDnn;
      } else {
        std::fprintf(stderr, "--gemm takes auto, blas or onednn\n");
        std::exit(2);
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--rounds R] [--block K] [--warmup W] [--ops N] [--threads 1,2] [--skip-overhead]\n"
                   "          [--skip-phases] [--unfused] [--gemm auto|blas|onednn] [--also-blas]\n"
                   "          [--profile nabla|torch [--steps N]]\n",
                   argv[0]);
      std::exit(args.usage_status());
    }
  }
  if (o.rounds < 1 || o.block < 1 || o.warmup < 0 || o.overhead_ops < 1 || o.profile_steps < 1 || o.threads.empty()) {
    std::fprintf(stderr, "--rounds, --block, --ops and --steps must be >= 1, --warmup >= 0, --threads non-empty\n");
    std::exit(2);
  }
  for (int t : o.threads) {
    if (t < 1) {
      std::fprintf(stderr, "--threads takes positive counts, got %d\n", t);
      std::exit(2);
    }
  }
  return o;
}

void print_row(const char* what, const char* unit, double scale, const Summary& n, const Summary& t) {
  std::printf("| %-36s | %9.2f %-2s | %7.2f-%-7.2f | %7.2f-%-8.2f | %9.2f %-2s | %7.2f-%-7.2f | %7.2f-%-8.2f | %5.2f |\n",
              what, n.median * scale, unit, n.q1 * scale, n.q3 * scale, n.min * scale, n.max * scale,
              t.median * scale, unit, t.q1 * scale, t.q3 * scale, t.min * scale, t.max * scale, n.median / t.median);
  std::fflush(stdout);
}

void print_table_header() {
  std::printf(
      "| %-36s | %12s | %15s | %16s | %12s | %15s | %16s | %5s |\n"
      "|%s|%s|%s|%s|%s|%s|%s|%s|\n",
      "benchmark", "nabla median", "nabla IQR", "nabla min-max", "torch median", "torch IQR", "torch min-max",
      "ratio", std::string(38, '-').c_str(), std::string(14, '-').c_str(), std::string(17, '-').c_str(),
      std::string(18, '-').c_str(), std::string(14, '-').c_str(), std::string(17, '-').c_str(),
      std::string(18, '-').c_str(), std::string(7, '-').c_str());
}

// ---- (a) per-op overhead -----------------------------------------------------------------

// Seconds per op over `ops` adds of 1-element tensors; each result (and its graph node, when
// recorded) is freed before the next add.
double nabla_add_round(const nabla::Tensor& a, const nabla::Tensor& b, int ops) {
  auto t0 = clk::now();
  for (int i = 0; i < ops; ++i) {
    nabla::Tensor c = nabla::add(a, b);
    escape(c.impl_ptr().get());
  }
  return std::chrono::duration<double>(clk::now() - t0).count() / ops;
}

double torch_add_round(const torch::Tensor& a, const torch::Tensor& b, int ops) {
  auto t0 = clk::now();
  for (int i = 0; i < ops; ++i) {
    torch::Tensor c = torch::add(a, b);
    escape(c.unsafeGetTensorImpl());
  }
  return std::chrono::duration<double>(clk::now() - t0).count() / ops;
}

void run_overhead(const Options& o) {
  set_threads(1);
  for (bool rg : {true, false}) {
    nabla::Tensor na = nabla::ones({1}, {.requires_grad = rg}), nb = nabla::ones({1}, {.requires_grad = rg});
    torch::Tensor ta = torch::ones({1}, torch::requires_grad(rg)), tb = torch::ones({1}, torch::requires_grad(rg));
    for (int w = 0; w < 3; ++w) {
      nabla_add_round(na, nb, o.overhead_ops);
      torch_add_round(ta, tb, o.overhead_ops);
    }
    std::vector<double> tn, tt;
    for (int r = 0; r < 2 * o.rounds; ++r) {
      if (r % 2 == 0) {
        tn.push_back(nabla_add_round(na, nb, o.overhead_ops));
        tt.push_back(torch_add_round(ta, tb, o.overhead_ops));
      } else {
        tt.push_back(torch_add_round(ta, tb, o.overhead_ops));
        tn.push_back(nabla_add_round(na, nb, o.overhead_ops));
      }
    }
    print_row(rg ? "add 1 elem, recording (per op)" : "add 1 elem, no grad needed (per op)", "us", 1e6,
              summarize(tn), summarize(tt));
  }
}

// ---- (b) MLP training step ------------------------------------------------------------------

constexpr int64_t kBatch = 128;
constexpr double kLr = 0.01;
const std::vector<int64_t> kSizes{784, 512, 256, 10};

nabla::Tensor to_nabla(const torch::Tensor& t, bool requires_grad) {
  torch::Tensor c = t.detach().contiguous();
  nabla::Shape shape(c.sizes().begin(), c.sizes().end());
  nabla::Tensor out;
  if (c.scalar_type() == torch::kLong) {
    std::vector<int64_t> v(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
    out = nabla::from_vector(v, shape);
  } else {
    std::vector<float> v(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out = nabla::from_vector(v, shape);
  }
  if (requires_grad) out.requires_grad_(true);
  return out;
}

using Phases = std::array<double, 3>;  // forward, backward, update (seconds)

// Laps of one step; a no-op when no Phases is given (the timed runs).
struct PhaseClock {
  Phases* out;
  clk::time_point last = clk::now();
  explicit PhaseClock(Phases* p) : out(p) {}
  void lap(int i) {
    if (!out) return;
    auto now = clk::now();
    (*out)[size_t(i)] = std::chrono::duration<double>(now - last).count();
    last = now;
  }
};

struct TorchMLP {
  std::vector<torch::Tensor> params;  // W1, b1, W2, b2, W3, b3
  torch::Tensor x, y;

  // One SGD step; `phases`, when given, receives forward / backward / update seconds.
  double step(Phases* phases = nullptr) {
    PhaseClock pc(phases);
    torch::Tensor h = x;
    for (size_t l = 0; l < 3; ++l) {
      h = torch::linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 2) h = torch::relu(h);
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(h, y);
    pc.lap(0);
    loss.backward();
    pc.lap(1);
    {
      torch::NoGradGuard ng;
      for (auto& p : params) {
        p.add_(p.grad(), -kLr);
        p.mutable_grad().reset();
      }
    }
    pc.lap(2);
    return loss.item<double>();
  }
};

bool g_fuse = true;  // --unfused clears it

struct NablaMLP {
  std::vector<nabla::Tensor> params;
  nabla::Tensor x, y;
  bool fuse = g_fuse;

  double step(Phases* phases = nullptr) {
    PhaseClock pc(phases);
    nabla::Tensor h = x;
    for (size_t l = 0; l < 3; ++l) {
      if (l < 2 && fuse) {
        h = nabla::linear_relu(h, params[2 * l], params[2 * l + 1]);  // = nn::Sequential(Linear, ReLU)
        continue;
      }
      h = nabla::linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 2) h = nabla::relu(h);
    }
    nabla::Tensor loss = nabla::cross_entropy(h, y);
    pc.lap(0);
    loss.backward();
    pc.lap(1);
    {
      nabla::NoGradGuard ng;
      for (auto& p : params) {
        p.add_(p.grad(), -kLr);
        p.set_grad(nabla::Tensor());
      }
    }
    pc.lap(2);
    return loss.item<double>();
  }
};

// The eight GEMMs of one step, issued straight to cblas_sgemm with the shapes and transposes
// nabla's linear uses (forward: x·Wᵀ with bias pre-filled, beta 1; backward: dW = gᵀ·h for each
// layer and dx = g·W for layers 2 and 3). Its time is the floor both libraries share.
struct GemmFloor {
  std::vector<std::vector<float>> w, bias, act, out, g, dw, dx;
  GemmFloor() {
    for (size_t l = 0; l + 1 < kSizes.size(); ++l) {
      int64_t in = kSizes[l], of = kSizes[l + 1];
      w.emplace_back(size_t(of * in), 0.01f);
      bias.emplace_back(size_t(of), 0.01f);
      act.emplace_back(size_t(kBatch * in), 0.5f);
      out.emplace_back(size_t(kBatch * of), 0.0f);
      g.emplace_back(size_t(kBatch * of), 0.1f);
      dw.emplace_back(size_t(of * in), 0.0f);
      dx.emplace_back(size_t(kBatch * in), 0.0f);
    }
  }
  // The same 8 GEMMs through nabla's CPU GEMM kernel (whatever implementation it picks), issued
  // as nabla's step issues them: the forward as linear's GEMM with bias (and ReLU for the first
  // two layers, as linear_relu) and beta 0.
  void step_nabla() {
    namespace cpu = nabla::backend::cpu;
    const int64_t n = kBatch;
    auto gemm = [](bool ta, bool tb, int64_t m, int64_t nn, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
      cpu::gemm(nabla::DType::f32, {.trans_a = ta, .trans_b = tb, .m = m, .n = nn, .k = k, .alpha = 1, .beta = beta,
                                    .a = a, .lda = lda, .stride_a = 0, .b = b, .ldb = ldb, .stride_b = 0, .c = c,
                                    .ldc = ldc, .stride_c = 0, .batch = 1});
    };
    for (size_t l = 0; l < w.size(); ++l) {
      int64_t in = kSizes[l], of = kSizes[l + 1];
      nabla::backend::cpu_backend().gemm_bias_relu(nabla::DType::f32,
                          {.trans_a = false, .trans_b = true, .m = n, .n = of, .k = in, .alpha = 1, .beta = 0,
                           .a = act[l].data(), .lda = in, .stride_a = 0, .b = w[l].data(), .ldb = in, .stride_b = 0,
                           .c = out[l].data(), .ldc = of, .stride_c = 0, .batch = 1},
                          bias[l].data(), g_fuse && l + 1 < w.size());
    }
    for (size_t l = w.size(); l-- > 0;) {
      int64_t in = kSizes[l], of = kSizes[l + 1];
      gemm(true, false, of, in, n, g[l].data(), of, act[l].data(), in, 0.f, dw[l].data(), in);
      if (l > 0) gemm(false, false, n, in, of, g[l].data(), of, w[l].data(), in, 0.f, dx[l].data(), in);
    }
    escape(dx[1].data());
  }
  // w += alpha * dw for the three weight matrices (the biases are 0.2% of the parameters).
  void update(double alpha) {
    for (size_t l = 0; l < w.size(); ++l)
      nabla::backend::cpu::axpy(nabla::DType::f32, int64_t(w[l].size()), alpha, dw[l].data(), w[l].data());
  }
  void step() {
    const int n = int(kBatch);
    for (size_t l = 0; l < w.size(); ++l) {
      int in = int(kSizes[l]), of = int(kSizes[l + 1]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, of, in, 1.f, act[l].data(), in, w[l].data(), in, 1.f,
                  out[l].data(), of);
    }
    for (size_t l = w.size(); l-- > 0;) {
      int in = int(kSizes[l]), of = int(kSizes[l + 1]);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, of, in, n, 1.f, g[l].data(), of, act[l].data(), in, 0.f,
                  dw[l].data(), in);
      if (l > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, of, 1.f, g[l].data(), of, w[l].data(), in, 0.f,
                    dx[l].data(), in);
    }
    escape(dx[1].data());
  }
};

// Same initial weights (LibTorch's nn.Linear default init, seeded) and the same batch for both.
void make_models(TorchMLP& tm, NablaMLP& nm) {
  torch::manual_seed(0);
  tm.params.clear();
  nm.params.clear();
  for (size_t l = 0; l + 1 < kSizes.size(); ++l) {
    torch::nn::Linear lin(kSizes[l], kSizes[l + 1]);
    for (const torch::Tensor& p : {lin->weight, lin->bias}) {
      tm.params.push_back(p.detach().clone().set_requires_grad(true));
      nm.params.push_back(to_nabla(p, true));
    }
  }
  tm.x = torch::randn({kBatch, kSizes.front()});
  tm.y = torch::randint(0, kSizes.back(), {kBatch}, torch::kLong);
  nm.x = to_nabla(tm.x, false);
  nm.y = to_nabla(tm.y, false);
}

template <typename M>
double timed_step(M& m) {
  auto t0 = clk::now();
  double loss = m.step();
  double dt = std::chrono::duration<double>(clk::now() - t0).count();
  escape(&loss);
  return dt;
}

void check_agreement() {
  TorchMLP tm;
  NablaMLP nm;
  make_models(tm, nm);
  set_threads(1);
  double worst = 0;
  for (int s = 0; s < 5; ++s) {
    double lt = tm.step(), ln = nm.step();
    worst = std::max(worst, std::abs(lt - ln) / std::max(1e-12, std::abs(lt)));
    if (s == 0 || s == 4) std::printf("  step %d loss: nabla %.6f  libtorch %.6f\n", s, ln, lt);
  }
  std::printf("  max relative loss difference over 5 SGD steps: %.2e%s\n\n", worst,
              worst < 1e-4 ? " (same computation)" : "  <-- WARNING: the two libraries disagree");
}

void run_mlp(const Options& o) {
  TorchMLP tm;
  NablaMLP nm;
  make_models(tm, nm);
  GemmFloor floor;
  for (int threads : o.threads) {
    set_threads(threads);
    for (int w = 0; w < o.warmup; ++w) {
      timed_step(nm);
      timed_step(tm);
      floor.step_nabla();
      if (o.also_blas) {
        nabla::backend::cpu::set_gemm_impl(nabla::backend::cpu::GemmImpl::Blas);
        timed_step(nm);
        nabla::backend::cpu::set_gemm_impl(o.gemm);
      }
    }
    std::vector<double> tn, tt, tf, tfu, tb;
    double sign = 1;
    for (int r = 0; r < o.rounds; ++r) {
      auto nabla_block = [&] {
        for (int s = 0; s < o.block; ++s) tn.push_back(timed_step(nm));
      };
      auto torch_block = [&] {
        for (int s = 0; s < o.block; ++s) tt.push_back(timed_step(tm));
      };
      // nabla's floor: the step's 8 GEMMs through its GEMM kernel, alone and followed by the SGD
      // update of the weights with the gradients they just produced (nabla's axpy kernel, what
      // p.add_(g, -lr) runs; the sign alternates so the weights do not drift).
      auto floor_block = [&] {
        for (int s = 0; s < o.block; ++s) {
          auto t0 = clk::now();
          floor.step_nabla();
          auto t1 = clk::now();
          floor.update(sign * kLr);
          sign = -sign;
          auto t2 = clk::now();
          tf.push_back(std::chrono::duration<double>(t1 - t0).count());
          tfu.push_back(std::chrono::duration<double>(t2 - t0).count());
        }
      };
      auto blas_block = [&] {
        if (!o.also_blas) return;
        nabla::backend::cpu::set_gemm_impl(nabla::backend::cpu::GemmImpl::Blas);
        for (int s = 0; s < o.block; ++s) tb.push_back(timed_step(nm));
        nabla::backend::cpu::set_gemm_impl(o.gemm);
      };
      if (r % 2 == 0) {
        nabla_block();
        torch_block();
        floor_block();
        blas_block();
      } else {
        blas_block();
        floor_block();
        torch_block();
        nabla_block();
      }
    }
    const std::string th = std::to_string(threads) + " thread" + (threads > 1 ? "s" : "");
    print_row(("MLP step, " + th + " (ms)").c_str(), "ms", 1e3, summarize(tn), summarize(tt));
    print_row(("  floor: 8 GEMMs, " + th).c_str(), "ms", 1e3, summarize(tf), summarize(tt));
    print_row(("  floor: 8 GEMMs + SGD update, " + th).c_str(), "ms", 1e3, summarize(tfu), summarize(tt));
    if (o.also_blas) print_row(("  nabla on OpenBLAS GEMM, " + th).c_str(), "ms", 1e3, summarize(tb), summarize(tt));
  }
}

// Where a step's time goes: medians of the forward (to the loss), backward and update phases.
void run_phases(const Options& o) {
  TorchMLP tm;
  NablaMLP nm;
  GemmFloor floor;
  make_models(tm, nm);
  std::printf("\nMLP step split (medians over %d steps per library, interleaved; ms):\n", o.rounds * o.block);
  std::printf("| threads | library  | forward | backward | update | total |\n|---|---|---|---|---|---|\n");
  for (int threads : o.threads) {
    std::vector<double> n[3], t[3], fl, fn;
    set_threads(threads);
    for (int w = 0; w < o.warmup / 2; ++w) {
      nm.step();
      floor.step();
      floor.step_nabla();
      tm.step();
    }
    for (int r = 0; r < o.rounds; ++r) {
      for (int s = 0; s < o.block; ++s) {
        Phases p;
        nm.step(&p);
        for (int i = 0; i < 3; ++i) n[i].push_back(p[size_t(i)]);
        auto t0 = clk::now();
        floor.step();
        fl.push_back(std::chrono::duration<double>(clk::now() - t0).count());
        t0 = clk::now();
        floor.step_nabla();
        fn.push_back(std::chrono::duration<double>(clk::now() - t0).count());
        tm.step(&p);
        for (int i = 0; i < 3; ++i) t[i].push_back(p[size_t(i)]);
      }
    }
    double total[2];
    for (int lib = 0; lib < 2; ++lib) {
      auto* v = lib == 0 ? n : t;
      double f = summarize(v[0]).median * 1e3, b = summarize(v[1]).median * 1e3, u = summarize(v[2]).median * 1e3;
      total[lib] = f + b + u;
      std::printf("| %d | %s | %.2f | %.2f | %.3f | %.2f |\n", threads, lib == 0 ? "nabla" : "LibTorch", f, b, u,
                  total[lib]);
    }
    double gf = summarize(fl).median * 1e3;
    std::printf("| %d | raw cblas_sgemm, the step's 8 GEMMs only | | | | %.2f (%.0f%% of LibTorch's step) |\n",
                threads, gf, 100.0 * gf / total[1]);
    double gn = summarize(fn).median * 1e3;
    std::printf("| %d | nabla's GEMM kernel, the step's 8 GEMMs only | | | | %.2f (%.0f%% of LibTorch's step) |\n",
                threads, gn, 100.0 * gn / total[1]);
  }
}

// (d) Matmuls in 16 bits: nabla's (bf16 on oneDNN's bf16 matmul where the CPU has AVX512_BF16,
// f16 widened to f32) against LibTorch's (bf16 through mkldnn), same values, interleaved rounds.
void run_half(const Options& o) {
  const int threads = o.threads.empty() ? 1 : o.threads.front();
  set_threads(threads);
  std::printf("\nSquare matmul C = A B, %d thread(s), median (IQR) of %d calls per library and dtype, ms:\n",
              threads, o.rounds * o.block);
  std::printf("| n | dtype | nabla | LibTorch | ratio |\n|---|---|---|---|---|\n");
  for (int64_t n : {256, 512, 1024}) {
    torch::manual_seed(7);
    const torch::Tensor ta = torch::randn({n, n}), tb = torch::randn({n, n});
    const nabla::Tensor na = nabla::from_vector(std::vector<float>(ta.data_ptr<float>(), ta.data_ptr<float>() + n * n), {n, n});
    const nabla::Tensor nb = nabla::from_vector(std::vector<float>(tb.data_ptr<float>(), tb.data_ptr<float>() + n * n), {n, n});
    for (const char* name : {"f32", "bf16", "f16"}) {
      const std::string dt = name;
      const nabla::DType ndt = dt == "f32" ? nabla::DType::f32 : dt == "bf16" ? nabla::DType::bf16 : nabla::DType::f16;
      const auto tdt = dt == "f32" ? torch::kFloat : dt == "bf16" ? torch::kBFloat16 : torch::kHalf;
      const torch::Tensor a = ta.to(tdt), b = tb.to(tdt);
      bool torch_has = true;
      try {
        (void)torch::matmul(a, b);
      } catch (const std::exception&) {
        torch_has = false;  // LibTorch 1.13 has no f16 GEMM on the CPU ("not implemented for 'Half'")
      }
      const nabla::Tensor x = na.to(ndt), y = nb.to(ndt);
      nabla::NoGradGuard ng;
      torch::NoGradGuard tng;
      std::vector<double> tn, tt;
      for (int w = 0; w < 3; ++w) {
        (void)nabla::matmul(x, y);
        if (torch_has) (void)torch::matmul(a, b);
      }
      for (int r = 0; r < o.rounds * o.block; ++r) {  // ABBA: alternate which library goes first
        for (int k = 0; k < 2; ++k) {
          if ((r + k) % 2 == 0) {
            auto t0 = clk::now();
            (void)nabla::matmul(x, y);
            tn.push_back(std::chrono::duration<double>(clk::now() - t0).count());
          } else if (torch_has) {
            auto t0 = clk::now();
            (void)torch::matmul(a, b);
            tt.push_back(std::chrono::duration<double>(clk::now() - t0).count());
          }
        }
      }
      const Summary sn = summarize(tn);
      if (!torch_has) {
        std::printf("| %lld | %s | %.3f (%.3f-%.3f) | refused on the CPU | |\n", (long long)n, name, sn.median * 1e3,
                    sn.q1 * 1e3, sn.q3 * 1e3);
        continue;
      }
      const Summary st = summarize(tt);
      std::printf("| %lld | %s | %.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) | %.2f |\n", (long long)n, name, sn.median * 1e3,
                  sn.q1 * 1e3, sn.q3 * 1e3, st.median * 1e3, st.q1 * 1e3, st.q3 * 1e3, sn.median / st.median);
    }
  }
}

int run_profile(const Options& o) {
  TorchMLP tm;
  NablaMLP nm;
  make_models(tm, nm);
  const int threads = o.threads.empty() ? 1 : o.threads.front();
  std::vector<double> times;
  set_threads(threads);
  if (o.profile == "nabla") {
    for (int s = 0; s < o.profile_steps; ++s) times.push_back(timed_step(nm));
  } else {
    for (int s = 0; s < o.profile_steps; ++s) times.push_back(timed_step(tm));
  }
  Summary sm = summarize(times);
  std::printf("%s MLP step, %d thread(s), %d steps: median %.3f ms, IQR %.3f-%.3f ms\n", o.profile.c_str(), threads,
              o.profile_steps, sm.median * 1e3, sm.q1 * 1e3, sm.q3 * 1e3);
  return 0;
}

std::string torch_blas_line() {
  std::stringstream ss(at::show_config());
  std::string line, out;
  while (std::getline(ss, line)) {
    size_t b = line.find_first_not_of(" -");
    line = line.substr(b == std::string::npos ? 0 : b);
    if (line.rfind("OpenMP", 0) == 0 || line.rfind("CPU capability", 0) == 0) {
      out += "    " + line + "\n";
    } else if (line.rfind("Build settings:", 0) == 0) {
      // Keep the settings that say which BLAS and thread pool LibTorch was built with.
      std::stringstream kv(line.substr(std::strlen("Build settings:")));
      std::string item;
      std::string keep;
      while (std::getline(kv, item, ',')) {
        size_t s = item.find_first_not_of(' ');
        item = item.substr(s == std::string::npos ? 0 : s);
        for (const char* key : {"BLAS_INFO", "LAPACK_INFO", "USE_OPENMP", "USE_MKLDNN", "BUILD_TYPE"})
          if (item.rfind(key, 0) == 0) keep += (keep.empty() ? "" : ", ") + item;
      }
      out += "    Build settings: " + keep + "\n";
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  bench::set_interop_threads();  // this benchmark runs no inter-op parallel work at all
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("nabla vs LibTorch %s (one process)\n", TORCH_VERSION);
  std::printf("  OpenBLAS core: %s   config: %s   OPENBLAS_CORETYPE=%s\n", openblas_get_corename(),
              openblas_get_config(), coretype ? coretype : "(unset)");
  std::printf("  LibTorch build config (BLAS/OpenMP lines):\n%s", torch_blas_line().c_str());
  std::printf("  hardware threads: %u; rounds %d x block %d MLP steps per library, warm-up %d\n",
              std::thread::hardware_concurrency(), o.rounds, o.block, o.warmup);

  g_fuse = o.fuse;
  nabla::backend::cpu::set_gemm_impl(o.gemm);
  {
    using nabla::backend::cpu::GemmImpl;
    const bool dnn = nabla::backend::cpu::gemm_onednn_built();
    std::printf("  nabla f32 GEMM: %s%s; MLP: %s\n\n",
                o.gemm == GemmImpl::Blas || !dnn ? "OpenBLAS (cblas_sgemm)"
                : o.gemm == GemmImpl::OneDnn   ? "oneDNN matmul primitives (forced for every call)"
                                               : "auto (oneDNN matmul primitives for >= 2^18 FMAs, else OpenBLAS)",
                dnn ? "" : " (built without NABLA_GEMM_ONEDNN)",
                o.fuse ? "linear_relu for Linear->ReLU (as nn::Sequential)" : "linear, then relu (--unfused)");
  }

  if (!o.profile.empty()) return run_profile(o);

  std::printf("Agreement check (same weights and batch, 1 thread):\n");
  check_agreement();

  print_table_header();
  if (o.overhead) run_overhead(o);
  run_mlp(o);
  if (o.phases) run_phases(o);
  if (o.half) run_half(o);
  std::printf("\nratio = nabla median / LibTorch median (< 1: nabla faster). IQR = 25th-75th percentile.\n");
  std::printf("Thread state after run: nabla %d, torch %d; %s", nabla::get_num_threads(), torch::get_num_threads(),
              at::get_parallel_info().c_str());
  return 0;
}
