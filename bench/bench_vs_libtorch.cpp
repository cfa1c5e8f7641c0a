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
//       that refuses a dtype on the CPU says so), at the first thread count (--skip-half: off);
//   (e) one training step of `nabla train`'s cnn preset (forward, cross-entropy, backward,
//       SGD momentum 0.9, zero_grad) at batch 64 and 256 (--amp-batches), in f32, bf16 autocast
//       (both libraries) and f16 autocast (nabla only: LibTorch 1.13's CPU autocast is bf16
//       only), with each mode's peak memory of one step; LibTorch's CPU tensors are counted by a
//       wrapping c10 CPU allocator that (e) installs (--skip-amp: off). --skip-mlp leaves
//       out (b) and (c).
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
//                          [--skip-overhead] [--skip-phases] [--skip-half] [--skip-mlp] [--skip-amp]
//                          [--amp-batches 64,256] [--no-torch-memory] [--unfused]
//                          [--gemm auto|blas|onednn] [--also-blas]
//        bench_vs_libtorch --profile nabla|torch [--steps N] [--threads T]
//          runs only that library's MLP steps (at the first thread count), for perf or callgrind.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../src/backend/cpu/gemm_impl.h"
#include "../src/backend/device_backend.h"
#include "bench_common.h"
#include "nabla/nabla.h"
#include "nabla/optim.h"

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
  bool mlp = true;         // (b) and its loss check
  bool amp = true;         // (e): the cnn preset's training step in f32, bf16 and f16 autocast
  std::vector<int64_t> amp_batches{64, 256};
  bool count_torch = true;  // (e): count LibTorch's CPU allocations (--no-torch-memory: its default allocator)
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
    } else if (a == "--skip-mlp") {
      o.mlp = false;
    } else if (a == "--skip-amp") {
      o.amp = false;
    } else if (a == "--no-torch-memory") {
      o.count_torch = false;
    } else if (a == "--amp-batches") {
      o.amp_batches.clear();
      std::stringstream ss(next());
      for (std::string n; std::getline(ss, n, ',');) o.amp_batches.push_back(std::atoll(n.c_str()));
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
                   "          [--skip-phases] [--skip-half] [--skip-mlp] [--skip-amp] [--amp-batches 64,256]\n"
                   "          [--no-torch-memory]\n"
                   "          [--unfused] [--gemm auto|blas|onednn] [--also-blas]\n"
                   "          [--profile nabla|torch [--steps N]]\n",
                   argv[0]);
      std::exit(args.usage_status());
    }
  }
  if (o.rounds < 1 || o.block < 1 || o.warmup < 0 || o.overhead_ops < 1 || o.profile_steps < 1 || o.threads.empty()) {
    std::fprintf(stderr, "--rounds, --block, --ops and --steps must be >= 1, --warmup >= 0, --threads non-empty\n");
    std::exit(2);
  }
  for (int64_t n : o.amp_batches) {
    if (n < 1) {
      std::fprintf(stderr, "--amp-batches takes positive batch sizes, got %lld\n", (long long)n);
      std::exit(2);
    }
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

// ---- (e) mixed-precision training step of the cnn preset -------------------------------------
//
// `nabla train`'s default CNN (src/train/model_spec.cpp, preset "cnn"): conv 1->32 3x3 pad 1,
// ReLU, maxpool 2, conv 32->64 3x3 pad 1, ReLU, maxpool 2, flatten, linear 3136->128, ReLU,
// dropout 0.5, linear 128->10; cross-entropy; SGD(lr 0.01, momentum 0.9). One step = forward and
// loss (inside the autocast region in the 16-bit modes, as PyTorch's recipe has it), backward,
// optimizer step, zero_grad. Dropout stays in (training mode) in the timed steps of both
// libraries; the loss comparison runs with it off, so both compute the same function.
// zero_grad drops the gradients in both (nabla's default set_to_none; LibTorch 1.13's C++
// Optimizer::zero_grad() can only fill them with zeros, so its step resets them the way
// PyTorch's set_to_none does), so neither step pays for a memset the other skips.

// LibTorch's CPU allocator, counted: c10's DefaultCPUAllocator keeps no statistic it exposes
// (ProfiledCPUMemoryReporter's byte count is private and only reaches a profiler callback), so
// every torch CPU tensor is allocated through this wrapper once it is installed (SetCPUAllocator
// with a priority above the default's), with c10's own alloc_cpu/free_cpu underneath. The size
// lives in a 64-byte header in front of the block, so the data pointer is also the context, as
// raw_allocate requires (ideep's allocator hook in LibTorch allocates that way). It counts
// requested bytes and, for comparison with nabla's allocator (which counts its size classes),
// the same blocks rounded up to nabla's size classes.
struct CountingCpuAllocator final : c10::Allocator {
  static constexpr size_t kHeader = 64;  // keeps alloc_cpu's 64-byte alignment
  static std::atomic<int64_t> current, peak, current_cls, peak_cls;

  static size_t nabla_size_class(size_t n) {  // src/core/allocator.cpp's size_class
    if (n <= 4096) return (n + 63) & ~size_t(63);
    size_t p = 4096;
    while (p < n) p <<= 1;
    size_t step = p >> 3, c = p >> 1;
    while (c < n) c += step;
    return c;
  }
  static void raise(std::atomic<int64_t>& pk, int64_t v) {
    int64_t old = pk.load(std::memory_order_relaxed);
    while (v > old && !pk.compare_exchange_weak(old, v, std::memory_order_relaxed)) {
    }
  }
  static void del(void* p) {
    if (!p) return;
    char* base = static_cast<char*>(p) - kHeader;
    const size_t n = *reinterpret_cast<size_t*>(base);
    current -= int64_t(n);
    current_cls -= int64_t(nabla_size_class(n == 0 ? 1 : n));
    c10::free_cpu(base);
  }
  c10::DataPtr allocate(size_t n) const override {
    char* base = static_cast<char*>(c10::alloc_cpu(n + kHeader));
    *reinterpret_cast<size_t*>(base) = n;
    raise(peak, current += int64_t(n));
    raise(peak_cls, current_cls += int64_t(nabla_size_class(n == 0 ? 1 : n)));
    void* data = base + kHeader;
    return {data, data, &del, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &del; }
  static void reset_peak() {
    peak = current.load();
    peak_cls = current_cls.load();
  }
};
std::atomic<int64_t> CountingCpuAllocator::current{0}, CountingCpuAllocator::peak{0},
    CountingCpuAllocator::current_cls{0}, CountingCpuAllocator::peak_cls{0};
bool g_torch_counted = false;

// Installed when (e) begins; its absolute figures count the LibTorch tensors allocated since.
void install_counting_allocator() {
  static CountingCpuAllocator alloc;
  c10::SetCPUAllocator(&alloc, /*priority=*/100);
  g_torch_counted = c10::GetCPUAllocator() == &alloc;
  // Sanity: a 1000-float tensor must count 4000 bytes while alive.
  const int64_t before = CountingCpuAllocator::current;
  int64_t during = 0;
  {
    torch::Tensor t = torch::empty({1000});
    during = CountingCpuAllocator::current - before;
  }
  if (!g_torch_counted || during != 4000 || CountingCpuAllocator::current != before) {
    std::printf("  note: LibTorch's CPU allocator could not be counted (installed %d, 1000 floats counted %lld bytes)\n",
                int(g_torch_counted), (long long)during);
    g_torch_counted = false;
  }
}

struct AmpMode {
  const char* name;
  bool autocast;
  nabla::DType dtype;  // autocast's 16-bit dtype (ignored for f32)
  bool torch_has;      // LibTorch 1.13's CPU autocast runs it (bf16 only)
};
const AmpMode kAmpModes[] = {{"f32", false, nabla::DType::f32, true},
                             {"bf16 autocast", true, nabla::DType::bf16, true},
                             {"f16 autocast", true, nabla::DType::f16, false}};

constexpr double kAmpLr = 0.01, kAmpMomentum = 0.9, kAmpDropout = 0.5;

// LibTorch's CPU autocast region, as Python's torch.autocast("cpu", torch.bfloat16) enters and
// leaves it: enable + dtype + nesting on entry; on leaving the outermost region, drop the cache
// of casted weights (a weight changes at every step) and restore the previous state.
class TorchCpuAutocast {
 public:
  TorchCpuAutocast(bool on, at::ScalarType dtype) : on_(on) {
    if (!on_) return;
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    // The dtype first: LibTorch 1.13's setter throws for anything but bf16, and a constructor
    // that throws runs no destructor, so nothing may be enabled yet (enabled first, a refused
    // f16 left CPU autocast on for the rest of the process).
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
    at::autocast::increment_nesting();
  }
  ~TorchCpuAutocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
  TorchCpuAutocast(const TorchCpuAutocast&) = delete;
  TorchCpuAutocast& operator=(const TorchCpuAutocast&) = delete;

 private:
  bool on_, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// conv + bias + ReLU as one op: what nn::Sequential(Conv2d, ReLU, ...) runs, so `nabla train`.
const nabla::Conv2dOptions kAmpConvRelu{.padding = {1, 1}, .fuse_relu = true};
const nabla::Pool2dOptions kAmpPool{.kernel = {2, 2}};

struct NablaCnn {
  std::vector<nabla::Tensor> p;  // conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, fc2.w, fc2.b
  std::unique_ptr<nabla::optim::SGD> opt;
  nabla::Tensor x, y;
  AmpMode mode{};

  double step(bool training = true) {
    nabla::Tensor loss;
    {
      std::optional<nabla::AutocastGuard> ac;
      if (mode.autocast) ac.emplace(nabla::AutocastOptions{.device_type = nabla::DeviceType::cpu, .dtype = mode.dtype});
      nabla::Tensor h = nabla::max_pool2d(nabla::conv2d(x, p[0], p[1], kAmpConvRelu), kAmpPool);
      h = nabla::max_pool2d(nabla::conv2d(h, p[2], p[3], kAmpConvRelu), kAmpPool);
      h = nabla::linear_relu(h.flatten(1), p[4], p[5]);  // Linear->ReLU, as nn::Sequential fuses it
      h = nabla::dropout(h, kAmpDropout, training);
      loss = nabla::cross_entropy(nabla::linear(h, p[6], p[7]), y);
    }
    loss.backward();
    opt->step();
    opt->zero_grad();
    return loss.item<double>();
  }
};

struct TorchCnn {
  std::vector<torch::Tensor> p;
  std::unique_ptr<torch::optim::SGD> opt;
  torch::Tensor x, y;
  AmpMode mode{};

  double step(bool training = true) {
    torch::Tensor loss;
    {
      TorchCpuAutocast ac(mode.autocast, mode.dtype == nabla::DType::f16 ? at::kHalf : at::kBFloat16);
      torch::Tensor h = torch::max_pool2d(torch::relu(torch::conv2d(x, p[0], p[1], 1, 1)), 2);
      h = torch::max_pool2d(torch::relu(torch::conv2d(h, p[2], p[3], 1, 1)), 2);
      h = torch::relu(torch::linear(h.flatten(1), p[4], p[5]));
      h = torch::dropout(h, kAmpDropout, training);
      loss = torch::nn::functional::cross_entropy(torch::linear(h, p[6], p[7]), y);
    }
    loss.backward();
    opt->step();
    for (auto& t : p) t.mutable_grad().reset();  // zero_grad(set_to_none), see above
    return loss.item<double>();
  }
};

// LibTorch's default initialisation (seeded), copied into nabla; the same random batch in both.
void make_cnns(int64_t batch, const AmpMode& mode, TorchCnn& tc, NablaCnn& nc) {
  torch::manual_seed(0);
  torch::nn::Conv2d c1(torch::nn::Conv2dOptions(1, 32, 3).padding(1));
  torch::nn::Conv2d c2(torch::nn::Conv2dOptions(32, 64, 3).padding(1));
  torch::nn::Linear f1(3136, 128), f2(128, 10);
  tc.p.clear();
  nc.p.clear();
  for (const torch::Tensor& w : {c1->weight, c1->bias, c2->weight, c2->bias, f1->weight, f1->bias, f2->weight, f2->bias}) {
    tc.p.push_back(w.detach().clone().set_requires_grad(true));
    nc.p.push_back(to_nabla(w, true));
  }
  torch::manual_seed(1);
  tc.x = torch::randn({batch, 1, 28, 28});
  tc.y = torch::randint(0, 10, {batch}, torch::kLong);
  nc.x = to_nabla(tc.x, false);
  nc.y = to_nabla(tc.y, false);
  tc.opt = std::make_unique<torch::optim::SGD>(tc.p, torch::optim::SGDOptions(kAmpLr).momentum(kAmpMomentum));
  nc.opt = std::make_unique<nabla::optim::SGD>(nc.p, nabla::optim::SGDOptions(kAmpLr).momentum(kAmpMomentum));
  tc.mode = nc.mode = mode;
}

// Sanity: the same weights and batch give the same first loss (dropout off). f32 must agree to
// float rounding; the 16-bit modes only to bf16/f16 precision, printed for context.
void check_amp_agreement(int64_t batch) {
  bench::set_threads(1);
  double l64 = 0;
  {  // the reference: LibTorch's forward in f64 on the same weights and batch
    TorchCnn tc;
    NablaCnn nc;
    make_cnns(batch, kAmpModes[0], tc, nc);
    std::vector<torch::Tensor> p;
    for (const auto& t : tc.p) p.push_back(t.detach().to(torch::kDouble));
    torch::NoGradGuard ng;
    torch::Tensor h = torch::max_pool2d(torch::relu(torch::conv2d(tc.x.to(torch::kDouble), p[0], p[1], 1, 1)), 2);
    h = torch::max_pool2d(torch::relu(torch::conv2d(h, p[2], p[3], 1, 1)), 2);
    h = torch::relu(torch::linear(h.flatten(1), p[4], p[5]));
    l64 = torch::nn::functional::cross_entropy(torch::linear(h, p[6], p[7]), tc.y).item<double>();
  }
  std::printf("  first-step loss, batch %lld, dropout off, 1 thread (f64 reference, LibTorch: %.9f):\n",
              (long long)batch, l64);
  for (const AmpMode& m : kAmpModes) {
    TorchCnn tc;
    NablaCnn nc;
    make_cnns(batch, m, tc, nc);
    const double ln = nc.step(false);
    auto rel = [](double a, double b) { return std::abs(a - b) / std::max(1e-12, std::abs(b)); };
    if (!m.torch_has) {
      std::printf("    %-14s nabla %.7f (vs f64 %.1e)\n", m.name, ln, rel(ln, l64));
      continue;
    }
    const double lt = tc.step(false);
    const bool f32 = !m.autocast;
    std::printf("    %-14s nabla %.7f (vs f64 %.1e)  libtorch %.7f (vs f64 %.1e)  nabla vs libtorch %.2e%s\n", m.name,
                ln, rel(ln, l64), lt, rel(lt, l64), rel(ln, lt),
                !f32 ? " (16-bit rounding)" : rel(ln, lt) < 1e-5 ? " (agree)" : "  <-- WARNING: over 1e-5");
  }
}

// What LibTorch 1.13 does when its C++ CPU autocast is asked for f16 (Python's torch.autocast
// warns "CPU Autocast only supports dtype of torch.bfloat16" and disables itself): enter the
// region with kHalf and run a convolution and a linear layer in it, reporting their output
// dtypes or the error (1.13's set_autocast_cpu_dtype refuses kHalf), then check that the
// refused region left CPU autocast off.
void probe_torch_f16_autocast() {
  torch::manual_seed(0);
  torch::Tensor w = torch::randn({32, 1, 3, 3}), b = torch::randn({32}), x = torch::randn({2, 1, 28, 28});
  torch::Tensor wl = torch::randn({10, 6272}), bl = torch::randn({10});
  std::string what;
  try {
    TorchCpuAutocast ac(true, at::kHalf);
    torch::Tensor h = torch::conv2d(x, w, b, 1, 1);
    what = std::string("conv2d ran, output ") + c10::toString(h.scalar_type());
    torch::Tensor o = torch::linear(h.flatten(1), wl, bl);
    what += std::string(", linear output ") + c10::toString(o.scalar_type());
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    what += (what.empty() ? "" : "; then ") + std::string("error: ") + msg;
  }
  std::printf("  LibTorch %s CPU autocast with dtype Half (C++ set_autocast_cpu_dtype(kHalf)): %s\n", TORCH_VERSION,
              what.c_str());
  if (at::autocast::is_cpu_enabled() || at::autocast::get_autocast_cpu_dtype() != at::kBFloat16) {
    std::fprintf(stderr, "LibTorch's CPU autocast state changed after the f16 probe; its f32 numbers would be wrong\n");
    std::exit(1);
  }
}

void run_amp(const Options& o) {
  std::printf("\n(e) cnn preset training step (forward + cross-entropy + backward + SGD momentum 0.9 + zero_grad),\n"
              "    dropout 0.5 on in the timed steps; %d rounds x %d steps per library and mode, ABBA; ms\n",
              o.rounds, o.block);
  // Here, not at start-up: sections (a)-(d) keep LibTorch's own allocator (the count would add to
  // (a)'s per-op time), and every tensor (e) measures is allocated from here on (tensors of the
  // default allocator carry their own deleter, so the two coexist). --no-torch-memory keeps the
  // default allocator, to check that counting costs LibTorch no time.
  if (o.count_torch) install_counting_allocator();
  probe_torch_f16_autocast();
  for (int64_t batch : o.amp_batches) check_amp_agreement(batch);
  for (int threads : o.threads) {
    bench::set_threads(threads);
    for (int64_t batch : o.amp_batches) {
      std::printf("\nthreads %d, batch %lld: step time, ms, median (IQR) [min-max]; peak memory of one step, MiB\n",
                  threads, (long long)batch);
      std::printf("| mode | nabla | LibTorch | nabla/LibTorch | nabla peak (step's own) | LibTorch peak (step's own; "
                  "in nabla size classes) |\n|---|---|---|---|---|---|\n");
      double f32_med[2] = {0, 0};
      for (const AmpMode& m : kAmpModes) {
        TorchCnn tc;
        NablaCnn nc;
        make_cnns(batch, m, tc, nc);
        for (int w = 0; w < o.warmup; ++w) {
          nc.step();
          if (m.torch_has) tc.step();
        }
        // Peak memory of one steady-state step (momentum buffers exist): absolute (every live
        // tensor of that library: weights, momentum, batch, activations, gradients) and the
        // step's own (above what was allocated when it began).
        nabla::reset_peak_memory_stats();
        const int64_t n0 = nabla::memory_stats().allocated;
        nc.step();
        const int64_t npk = nabla::memory_stats().peak_allocated;
        int64_t t0 = 0, tpk = 0, t0c = 0, tpkc = 0;
        if (m.torch_has && g_torch_counted) {
          CountingCpuAllocator::reset_peak();
          t0 = CountingCpuAllocator::current, t0c = CountingCpuAllocator::current_cls;
          tc.step();
          tpk = CountingCpuAllocator::peak, tpkc = CountingCpuAllocator::peak_cls;
        }
        std::vector<double> tn, tt;
        for (int r = 0; r < o.rounds; ++r) {
          auto nb = [&] {
            for (int s = 0; s < o.block; ++s) {
              auto s0 = clk::now();
              double l = nc.step();
              escape(&l);
              tn.push_back(bench::seconds_since(s0));
            }
          };
          auto tb = [&] {
            if (!m.torch_has) return;
            for (int s = 0; s < o.block; ++s) {
              auto s0 = clk::now();
              double l = tc.step();
              escape(&l);
              tt.push_back(bench::seconds_since(s0));
            }
          };
          if (r % 2 == 0) {
            nb();
            tb();
          } else {
            tb();
            nb();
          }
        }
        const Summary sn = summarize(tn);
        constexpr double MiB = 1.0 / (1024.0 * 1024.0);
        char nmem[96], tmem[96] = "not measured";
        std::snprintf(nmem, sizeof nmem, "%.2f (%.2f)", double(npk) * MiB, double(npk - n0) * MiB);
        if (m.torch_has && g_torch_counted)
          std::snprintf(tmem, sizeof tmem, "%.2f (%.2f; %.2f)", double(tpk) * MiB, double(tpk - t0) * MiB,
                        double(tpkc - t0c) * MiB);
        if (!m.autocast) f32_med[0] = sn.median;
        if (!m.torch_has) {
          std::printf("| %s | %.2f (%.2f-%.2f) [%.2f-%.2f] | not supported by LibTorch 1.13's CPU autocast | | %s | |\n",
                      m.name, sn.median * 1e3, sn.q1 * 1e3, sn.q3 * 1e3, sn.min * 1e3, sn.max * 1e3, nmem);
          std::printf("|   %s / f32 | %.2f | | | | |\n", m.name, sn.median / f32_med[0]);
          continue;
        }
        const Summary st = summarize(tt);
        if (!m.autocast) f32_med[1] = st.median;
        std::printf("| %s | %.2f (%.2f-%.2f) [%.2f-%.2f] | %.2f (%.2f-%.2f) [%.2f-%.2f] | %.2f | %s | %s |\n", m.name,
                    sn.median * 1e3, sn.q1 * 1e3, sn.q3 * 1e3, sn.min * 1e3, sn.max * 1e3, st.median * 1e3,
                    st.q1 * 1e3, st.q3 * 1e3, st.min * 1e3, st.max * 1e3, sn.median / st.median, nmem, tmem);
        if (m.autocast)
          std::printf("|   %s / f32 | %.2f | %.2f | | | |\n", m.name, sn.median / f32_med[0], st.median / f32_med[1]);
        std::fflush(stdout);
      }
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

  if (o.mlp) {
    std::printf("Agreement check (same weights and batch, 1 thread):\n");
    check_agreement();
  }

  if (o.overhead || o.mlp) print_table_header();
  if (o.overhead) run_overhead(o);
  if (o.mlp) run_mlp(o);
  if (o.phases && o.mlp) run_phases(o);
  if (o.half) run_half(o);
  if (o.amp) run_amp(o);
  std::printf("\nratio = nabla median / LibTorch median (< 1: nabla faster). IQR = 25th-75th percentile.\n");
  std::printf("Thread state after run: nabla %d, torch %d; %s", nabla::get_num_threads(), torch::get_num_threads(),
              at::get_parallel_info().c_str());
  return 0;
}
