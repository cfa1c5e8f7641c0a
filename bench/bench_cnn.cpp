// The project's CNN, nabla and LibTorch side by side in one process and one run (issue 4):
//   conv 1->32 3x3 pad 1, ReLU, maxpool 2, conv 32->64 3x3 pad 1, ReLU, maxpool 2, flatten,
//   linear 3136->128, ReLU, dropout 0.5, linear 128->10, cross-entropy; batch 64, 28x28 inputs.
// Measured at each thread count (default 1 and 2):
//   (a) every layer alone: forward, then backward from a fixed output gradient (autograd engine
//       included, as in training; conv1's input needs no gradient, every other input does);
//   (b) the whole training step: forward, loss, backward, SGD update (lr 0.01) of all 8
//       parameters, and the same step split into forward / backward / update.
// Both libraries start from the same weights (LibTorch's default init, seeded) and the same batch;
// the first losses are compared with dropout off. Rounds alternate which library goes first
// (ABBA), so drift and noisy neighbours hit both alike. Times are medians over all samples with
// the IQR; ratio = nabla / LibTorch (< 1: nabla faster).
//
//   (c) with --kernels: the two convolutions' kernels alone (forward, input gradient, weight
//       gradient) under each of nabla's implementations (im2col + GEMM; oneDNN primitives when
//       built with NABLA_CONV_ONEDNN) next to LibTorch's at::convolution / convolution_backward:
//       the measurement behind the per-case choice in src/backend/cpu/conv.cpp.
// Usage: bench_cnn [--rounds R] [--block K] [--warmup W] [--threads 1,2] [--skip-layers] [--skip-step]
//                  [--kernels] [--only-kernels]
//        bench_cnn --profile nabla|torch [--steps N] [--threads T]   (one library's steps, for perf)
#include <ATen/Version.h>
#include <cblas.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <thread>

#include "../src/backend/cpu/conv_impl.h"
#include "bench_common.h"

namespace {

using bench::clk;
using bench::seconds_since;
using bench::summarize;
using bench::Summary;

constexpr int64_t kBatch = 64;
constexpr double kLr = 0.01;
constexpr double kDropout = 0.5;

struct Options : bench::TimingOptions {
  Options() { rounds = 15, block = 5, warmup = 10; }
  bool layers = true;
  bool step = true;
  bool kernels = false;
  std::string profile;
  int profile_steps = 200;
};

Options parse(int argc, char** argv) {
  Options o;
  bench::ArgWalker args(argc, argv);
  while (args.next()) {
    const std::string& a = args.flag();
    auto next = [&] { return args.value(); };
    if (args.timing(o)) {
      continue;
    } else if (a == "--skip-layers") {
      o.layers = false;
    } else if (a == "--skip-step") {
      o.step = false;
    } else if (a == "--kernels") {
      o.kernels = true;
    } else if (a == "--only-kernels") {
      o.kernels = true;
      o.layers = o.step = false;
    } else if (a == "--profile") {
      o.profile = next();
      if (o.profile != "nabla" && o.profile != "torch") {
        std::fprintf(stderr, "--profile takes nabla or torch\n");
        std::exit(2);
      }
    } else if (a == "--steps") {
      o.profile_steps = std::atoi(next());
    } else {
      std::fprintf(stderr,
                   "usage: %s [--rounds R] [--block K] [--warmup W] [--threads 1,2] [--skip-layers] [--skip-step]\n"
                   "          [--kernels] [--only-kernels]\n"
                   "       %s --profile nabla|torch [--steps N] [--threads T]\n",
                   argv[0], argv[0]);
      std::exit(args.usage_status());
    }
  }
  bool bad = o.rounds < 1 || o.block < 1 || o.warmup < 0 || o.profile_steps < 1 || o.threads.empty();
  for (int t : o.threads) bad = bad || t < 1;
  if (bad) {
    std::fprintf(stderr, "--rounds, --block, --steps and --threads must be >= 1, --warmup >= 0\n");
    std::exit(2);
  }
  return o;
}

nabla::Tensor to_nabla(const torch::Tensor& t, bool requires_grad) {
  torch::Tensor c = t.detach().contiguous();
  nabla::Shape shape(c.sizes().begin(), c.sizes().end());
  nabla::Tensor out;
  if (c.scalar_type() == torch::kLong) {
    out = nabla::from_vector(std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()), shape);
  } else {
    out = nabla::from_vector(std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), shape);
  }
  if (requires_grad) out.requires_grad_(true);
  return out;
}

// ---- the model, in both libraries ---------------------------------------------------------------

struct Weights {
  std::vector<torch::Tensor> t;  // conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, fc2.w, fc2.b
  std::vector<nabla::Tensor> n;
};

// LibTorch's default initialisation (seeded), copied into nabla.
Weights make_weights() {
  torch::manual_seed(0);
  Weights w;
  torch::nn::Conv2d c1(torch::nn::Conv2dOptions(1, 32, 3).padding(1));
  torch::nn::Conv2d c2(torch::nn::Conv2dOptions(32, 64, 3).padding(1));
  torch::nn::Linear f1(3136, 128), f2(128, 10);
  for (const torch::Tensor& p : {c1->weight, c1->bias, c2->weight, c2->bias, f1->weight, f1->bias, f2->weight, f2->bias}) {
    w.t.push_back(p.detach().clone().set_requires_grad(true));
    w.n.push_back(to_nabla(p, true));
  }
  return w;
}

const nabla::Conv2dOptions kConvN{.padding = {1, 1}};
// conv + bias + ReLU as one op: what nn::Sequential(Conv2d, ReLU, ...) runs (and so `nabla train`).
const nabla::Conv2dOptions kConvReluN{.padding = {1, 1}, .fuse_relu = true};
const nabla::Pool2dOptions kPoolN{.kernel = {2, 2}};

nabla::Tensor nabla_forward(const std::vector<nabla::Tensor>& p, const nabla::Tensor& x, bool training) {
  nabla::Tensor h = nabla::max_pool2d(nabla::conv2d(x, p[0], p[1], kConvReluN), kPoolN);
  h = nabla::max_pool2d(nabla::conv2d(h, p[2], p[3], kConvReluN), kPoolN);
  h = nabla::relu(nabla::linear(h.flatten(1), p[4], p[5]));
  h = nabla::dropout(h, kDropout, training);
  return nabla::linear(h, p[6], p[7]);
}

torch::Tensor torch_forward(const std::vector<torch::Tensor>& p, const torch::Tensor& x, bool training) {
  namespace F = torch::nn::functional;
  torch::Tensor h = torch::max_pool2d(torch::relu(torch::conv2d(x, p[0], p[1], 1, 1)), 2);
  h = torch::max_pool2d(torch::relu(torch::conv2d(h, p[2], p[3], 1, 1)), 2);
  h = torch::relu(torch::linear(h.flatten(1), p[4], p[5]));
  h = torch::dropout(h, kDropout, training);
  return torch::linear(h, p[6], p[7]);
}

using Phases = std::array<double, 3>;  // forward, backward, update (seconds)

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

struct TorchNet {
  std::vector<torch::Tensor> p;
  torch::Tensor x, y;
  double step(bool training = true, Phases* phases = nullptr) {
    PhaseClock pc(phases);
    torch::Tensor loss = torch::nn::functional::cross_entropy(torch_forward(p, x, training), y);
    pc.lap(0);
    loss.backward();
    pc.lap(1);
    {
      torch::NoGradGuard ng;
      for (auto& t : p) {
        t.add_(t.grad(), -kLr);
        t.mutable_grad().reset();
      }
    }
    pc.lap(2);
    return loss.item<double>();
  }
};

struct NablaNet {
  std::vector<nabla::Tensor> p;
  nabla::Tensor x, y;
  double step(bool training = true, Phases* phases = nullptr) {
    PhaseClock pc(phases);
    nabla::Tensor loss = nabla::cross_entropy(nabla_forward(p, x, training), y);
    pc.lap(0);
    loss.backward();
    pc.lap(1);
    {
      nabla::NoGradGuard ng;
      for (auto& t : p) {
        t.add_(t.grad(), -kLr);
        t.set_grad(nabla::Tensor());
      }
    }
    pc.lap(2);
    return loss.item<double>();
  }
};

void make_nets(TorchNet& tn, NablaNet& nn) {
  Weights w = make_weights();
  tn.p = w.t;
  nn.p = w.n;
  torch::manual_seed(1);
  tn.x = torch::randn({kBatch, 1, 28, 28});
  tn.y = torch::randint(0, 10, {kBatch}, torch::kLong);
  nn.x = to_nabla(tn.x, false);
  nn.y = to_nabla(tn.y, false);
}

void check_agreement() {
  TorchNet tn;
  NablaNet nn;
  make_nets(tn, nn);
  bench::set_threads(1);
  double worst = 0;
  for (int s = 0; s < 5; ++s) {
    double lt = tn.step(false), ln = nn.step(false);
    worst = std::max(worst, std::abs(lt - ln) / std::max(1e-12, std::abs(lt)));
    if (s == 0 || s == 4) std::printf("  step %d loss: nabla %.6f  libtorch %.6f\n", s, ln, lt);
  }
  std::printf("  max relative loss difference over 5 SGD steps (dropout off): %.2e%s\n\n", worst,
              worst < 1e-4 ? " (same computation)" : "  <-- WARNING: the two libraries disagree");
}

// ---- (a) layers one at a time ---------------------------------------------------------------------

// One layer in both libraries: its input, an output gradient, and the parameters it uses.
struct Layer {
  std::string name;
  std::function<nabla::Tensor(const nabla::Tensor&)> nf;
  std::function<torch::Tensor(const torch::Tensor&)> tf;
  std::vector<int64_t> in_shape;
  bool input_grad = true;  // does the network need this layer's input gradient?
  bool loss = false;       // cross-entropy: backward from the scalar
  std::vector<int> params;  // indices into Weights
};

struct LayerState {
  nabla::Tensor nx, ng;
  torch::Tensor tx, tg;
};

std::vector<Layer> layers(const Weights& w, const NablaNet& nn, const TorchNet& tn) {
  std::vector<Layer> L;
  auto nconv = [&w](int i) {
    return [&w, i](const nabla::Tensor& x) { return nabla::conv2d(x, w.n[size_t(i)], w.n[size_t(i) + 1], kConvN); };
  };
  auto tconv = [&w](int i) {
    return [&w, i](const torch::Tensor& x) { return torch::conv2d(x, w.t[size_t(i)], w.t[size_t(i) + 1], 1, 1); };
  };
  auto nrelu = [](const nabla::Tensor& x) { return nabla::relu(x); };
  auto trelu = [](const torch::Tensor& x) { return torch::relu(x); };
  auto npool = [](const nabla::Tensor& x) { return nabla::max_pool2d(x, kPoolN); };
  auto tpool = [](const torch::Tensor& x) { return torch::max_pool2d(x, 2); };
  L.push_back({"conv1 1->32 3x3", nconv(0), tconv(0), {kBatch, 1, 28, 28}, false, false, {0, 1}});
  L.push_back({"relu1", nrelu, trelu, {kBatch, 32, 28, 28}, true, false, {}});
  L.push_back({"maxpool1", npool, tpool, {kBatch, 32, 28, 28}, true, false, {}});
  L.push_back({"conv2 32->64 3x3", nconv(2), tconv(2), {kBatch, 32, 14, 14}, true, false, {2, 3}});
  L.push_back({"relu2", nrelu, trelu, {kBatch, 64, 14, 14}, true, false, {}});
  L.push_back({"maxpool2", npool, tpool, {kBatch, 64, 14, 14}, true, false, {}});
  L.push_back({"flatten+fc1 3136->128",
               [&w](const nabla::Tensor& x) { return nabla::linear(x.flatten(1), w.n[4], w.n[5]); },
               [&w](const torch::Tensor& x) { return torch::linear(x.flatten(1), w.t[4], w.t[5]); },
               {kBatch, 64, 7, 7}, true, false, {4, 5}});
  L.push_back({"relu3", nrelu, trelu, {kBatch, 128}, true, false, {}});
  L.push_back({"dropout 0.5", [](const nabla::Tensor& x) { return nabla::dropout(x, kDropout, true); },
               [](const torch::Tensor& x) { return torch::dropout(x, kDropout, true); }, {kBatch, 128}, true, false, {}});
  L.push_back({"fc2 128->10", [&w](const nabla::Tensor& x) { return nabla::linear(x, w.n[6], w.n[7]); },
               [&w](const torch::Tensor& x) { return torch::linear(x, w.t[6], w.t[7]); }, {kBatch, 128}, true, false,
               {6, 7}});
  L.push_back({"cross-entropy", [&nn](const nabla::Tensor& x) { return nabla::cross_entropy(x, nn.y); },
               [&tn](const torch::Tensor& x) { return torch::nn::functional::cross_entropy(x, tn.y); },
               {kBatch, 10}, true, true, {}});
  return L;
}

LayerState make_state(const Layer& l) {
  LayerState s;
  s.tx = torch::randn(l.in_shape);
  if (l.input_grad) s.tx.set_requires_grad(true);
  s.nx = to_nabla(s.tx, l.input_grad);
  if (!l.loss) {
    torch::NoGradGuard ng;
    torch::Tensor y = l.tf(s.tx);
    s.tg = torch::randn(y.sizes());
    s.ng = to_nabla(s.tg, false);
  }
  return s;
}

struct Sample {
  std::vector<double> fwd, bwd;
};

void nabla_layer(const Layer& l, LayerState& s, Weights& w, Sample& out) {
  auto t0 = clk::now();
  nabla::Tensor y = l.nf(s.nx);
  auto t1 = clk::now();
  if (l.loss) {
    y.backward();
  } else {
    y.backward(s.ng);
  }
  auto t2 = clk::now();
  out.fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
  out.bwd.push_back(std::chrono::duration<double>(t2 - t1).count());
  for (int i : l.params) w.n[size_t(i)].set_grad(nabla::Tensor());
  if (l.input_grad) s.nx.set_grad(nabla::Tensor());
}

void torch_layer(const Layer& l, LayerState& s, Weights& w, Sample& out) {
  auto t0 = clk::now();
  torch::Tensor y = l.tf(s.tx);
  auto t1 = clk::now();
  if (l.loss) {
    y.backward();
  } else {
    y.backward(s.tg);
  }
  auto t2 = clk::now();
  out.fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
  out.bwd.push_back(std::chrono::duration<double>(t2 - t1).count());
  for (int i : l.params) w.t[size_t(i)].mutable_grad().reset();
  if (l.input_grad) s.tx.mutable_grad().reset();
}

std::string cell(const Summary& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f (%.3f-%.3f)", s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3);
  return buf;
}

void run_layers(const Options& o, int threads) {
  Weights w = make_weights();
  TorchNet tn;
  NablaNet nn;
  make_nets(tn, nn);
  std::vector<Layer> L = layers(w, nn, tn);
  std::vector<LayerState> S;
  for (const Layer& l : L) S.push_back(make_state(l));
  std::vector<Sample> sn(L.size()), st(L.size());
  Sample scratch;
  for (int it = 0; it < o.warmup; ++it)
    for (size_t i = 0; i < L.size(); ++i) {
      nabla_layer(L[i], S[i], w, scratch);
      torch_layer(L[i], S[i], w, scratch);
    }
  for (int r = 0; r < o.rounds; ++r)
    for (size_t i = 0; i < L.size(); ++i) {
      auto nb = [&] {
        for (int k = 0; k < o.block; ++k) nabla_layer(L[i], S[i], w, sn[i]);
      };
      auto tb = [&] {
        for (int k = 0; k < o.block; ++k) torch_layer(L[i], S[i], w, st[i]);
      };
      if (r % 2 == 0) {
        nb();
        tb();
      } else {
        tb();
        nb();
      }
    }
  std::printf("\nLayers, %d thread(s): median (IQR) ms over %d samples each, ratio = nabla / LibTorch\n", threads,
              o.rounds * o.block);
  std::printf("| layer | nabla fwd | LibTorch fwd | fwd ratio | nabla bwd | LibTorch bwd | bwd ratio |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  double sum[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < L.size(); ++i) {
    Summary nf = summarize(sn[i].fwd), tf = summarize(st[i].fwd), nb = summarize(sn[i].bwd), tb = summarize(st[i].bwd);
    sum[0] += nf.median, sum[1] += tf.median, sum[2] += nb.median, sum[3] += tb.median;
    std::printf("| %s | %s | %s | %.2f | %s | %s | %.2f |\n", L[i].name.c_str(), cell(nf).c_str(), cell(tf).c_str(),
                nf.median / tf.median, cell(nb).c_str(), cell(tb).c_str(), nb.median / tb.median);
  }
  std::printf("| sum of medians | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f |\n", sum[0] * 1e3, sum[1] * 1e3,
              sum[0] / sum[1], sum[2] * 1e3, sum[3] * 1e3, sum[2] / sum[3]);
  std::fflush(stdout);
}

// ---- (b) the training step --------------------------------------------------------------------------

void run_step(const Options& o, int threads) {
  TorchNet tn;
  NablaNet nn;
  make_nets(tn, nn);
  for (int i = 0; i < o.warmup; ++i) {
    nn.step();
    tn.step();
  }
  std::vector<double> an, at;
  std::vector<double> pn[3], pt[3];
  for (int r = 0; r < o.rounds; ++r) {
    // Whole steps in blocks (ABBA), then one phase-split step of each.
    auto nb = [&] {
      for (int k = 0; k < o.block; ++k) {
        auto t0 = clk::now();
        nn.step();
        an.push_back(seconds_since(t0));
      }
    };
    auto tb = [&] {
      for (int k = 0; k < o.block; ++k) {
        auto t0 = clk::now();
        tn.step();
        at.push_back(seconds_since(t0));
      }
    };
    if (r % 2 == 0) {
      nb();
      tb();
    } else {
      tb();
      nb();
    }
    for (int k = 0; k < o.block; ++k) {
      Phases p;
      nn.step(true, &p);
      for (int i = 0; i < 3; ++i) pn[i].push_back(p[size_t(i)]);
      tn.step(true, &p);
      for (int i = 0; i < 3; ++i) pt[i].push_back(p[size_t(i)]);
    }
  }
  Summary n = summarize(an), t = summarize(at);
  std::printf("\nTraining step, %d thread(s), %zu steps each (ms):\n", threads, an.size());
  std::printf("| library | median | IQR | min-max | forward | backward | update |\n|---|---|---|---|---|---|---|\n");
  for (int lib = 0; lib < 2; ++lib) {
    const Summary& s = lib == 0 ? n : t;
    auto* p = lib == 0 ? pn : pt;
    std::printf("| %s | %.3f | %.3f-%.3f | %.3f-%.3f | %.3f | %.3f | %.3f |\n", lib == 0 ? "nabla" : "LibTorch",
                s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3, s.min * 1e3, s.max * 1e3, bench::median(p[0]) * 1e3,
                bench::median(p[1]) * 1e3, bench::median(p[2]) * 1e3);
  }
  std::printf("| **ratio nabla/LibTorch** | **%.2f** | | | %.2f | %.2f | %.2f |\n", n.median / t.median,
              bench::median(pn[0]) / bench::median(pt[0]), bench::median(pn[1]) / bench::median(pt[1]),
              bench::median(pn[2]) / bench::median(pt[2]));
  std::fflush(stdout);
}

// ---- (c) convolution kernels, implementation by implementation -----------------------------------------

namespace cpu = nabla::backend::cpu;

struct ConvCase {
  const char* name;
  int64_t C, O, H;
};

void run_kernels(const Options& o, int threads) {
  const ConvCase cases[] = {{"conv1 1->32 28x28", 1, 32, 28}, {"conv2 32->64 14x14", 32, 64, 14}};
  std::vector<std::pair<cpu::ConvImpl, const char*>> impls{{cpu::ConvImpl::Im2col, "im2col+GEMM"}};
  if (cpu::conv_onednn_built()) impls.push_back({cpu::ConvImpl::OneDnn, "oneDNN"});
  std::printf("\nConvolution kernels alone, %d thread(s): median (IQR) ms over %d samples, f32, batch %lld\n", threads,
              o.rounds * o.block, (long long)kBatch);
  std::printf("| case | pass | LibTorch |");
  for (auto& im : impls) std::printf(" nabla %s | ratio |", im.second);
  std::printf("\n|---|---|---|");
  for (size_t i = 0; i < impls.size(); ++i) std::printf("---|---|");
  std::printf("\n");
  for (const ConvCase& cc : cases) {
    // ConvGeom lives in nabla::backend (nabla::backend::cpu before the device-dispatch refactor).
    using namespace nabla::backend;       // NOLINT
    using namespace nabla::backend::cpu;  // NOLINT
    ConvGeom g{};
    g.N = kBatch, g.C = cc.C, g.H = g.W = cc.H, g.O = cc.O, g.kh = g.kw = 3, g.Ho = g.Wo = cc.H;
    g.sh = g.sw = 1, g.ph = g.pw = 1, g.dh = g.dw = 1, g.groups = 1;
    torch::manual_seed(3);
    torch::Tensor x = torch::randn({g.N, g.C, g.H, g.W}), w = torch::randn({g.O, g.C, 3, 3}) * 0.1,
                  b = torch::randn({g.O}), go = torch::randn({g.N, g.O, g.Ho, g.Wo});
    torch::Tensor y = torch::empty({g.N, g.O, g.Ho, g.Wo}), gx = torch::empty_like(x), gw = torch::empty_like(w);
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = b.data_ptr<float>(),
                *gop = go.data_ptr<float>();
    float *yp = y.data_ptr<float>(), *gxp = gx.data_ptr<float>(), *gwp = gw.data_ptr<float>();
    torch::NoGradGuard ng;
    const char* passes[] = {"forward (+bias)", "input grad", "weight grad"};
    for (int pass = 0; pass < 3; ++pass) {
      auto torch_run = [&] {
        if (pass == 0) {
          torch::Tensor r = at::convolution(x, w, b, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
          bench::escape(r.data_ptr());
        } else {
          auto r = at::convolution_backward(go, x, w, c10::nullopt, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1,
                                            {pass == 1, pass == 2, false});
          bench::escape(&r);
        }
      };
      auto nabla_run = [&] {
        if (pass == 0) {
          cpu::conv2d_forward(nabla::DType::f32, g, xp, wp, bp, yp);
        } else if (pass == 1) {
          cpu::conv2d_input_grad(nabla::DType::f32, g, gop, wp, gxp);
        } else {
          cpu::conv2d_weight_grad(nabla::DType::f32, g, xp, gop, gwp);
        }
        bench::escape(yp);
      };
      std::vector<double> tt;
      std::vector<std::vector<double>> tn(impls.size());
      for (int wu = 0; wu < 3; ++wu) {
        torch_run();
        for (auto& im : impls) {
          cpu::set_conv_impl(im.first);
          nabla_run();
        }
      }
      for (int r = 0; r < o.rounds; ++r) {
        // Rotate the order every round so no implementation always follows the same one.
        for (size_t k = 0; k <= impls.size(); ++k) {
          size_t which = (k + size_t(r)) % (impls.size() + 1);
          for (int i = 0; i < o.block; ++i) {
            auto t0 = clk::now();
            if (which == impls.size()) {
              torch_run();
              tt.push_back(seconds_since(t0));
            } else {
              cpu::set_conv_impl(impls[which].first);
              t0 = clk::now();
              nabla_run();
              tn[which].push_back(seconds_since(t0));
            }
          }
        }
      }
      cpu::set_conv_impl(cpu::ConvImpl::Auto);
      if (cc.C == 1 && pass == 1) continue;  // conv1's input needs no gradient in the network
      Summary st = summarize(tt);
      std::printf("| %s | %s | %s |", cc.name, passes[pass], cell(st).c_str());
      for (size_t i = 0; i < impls.size(); ++i) {
        Summary sn = summarize(tn[i]);
        std::printf(" %s | %.2f |", cell(sn).c_str(), sn.median / st.median);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
}

int run_profile(const Options& o) {
  TorchNet tn;
  NablaNet nn;
  make_nets(tn, nn);
  const int threads = o.threads.front();
  bench::set_threads(threads);
  std::vector<double> times;
  for (int s = 0; s < o.profile_steps; ++s) {
    auto t0 = clk::now();
    if (o.profile == "nabla") {
      nn.step();
    } else {
      tn.step();
    }
    times.push_back(seconds_since(t0));
  }
  Summary s = summarize(times);
  std::printf("%s CNN step, %d thread(s), %d steps: median %.3f ms, IQR %.3f-%.3f ms\n", o.profile.c_str(), threads,
              o.profile_steps, s.median * 1e3, s.q1 * 1e3, s.q3 * 1e3);
  return 0;
}

std::string load_average() {
  double l[3] = {0, 0, 0};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = -1;
    std::fclose(f);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  bench::set_interop_threads();
  std::printf("nabla vs LibTorch %s: CNN, batch %lld, 28x28 (one process)\n", TORCH_VERSION, (long long)kBatch);
  std::printf("  OpenBLAS core: %s; hardware threads: %u; rounds %d x block %d, warm-up %d; load average at start %s\n",
              openblas_get_corename(), std::thread::hardware_concurrency(), o.rounds, o.block, o.warmup,
              load_average().c_str());
  if (!o.profile.empty()) return run_profile(o);
  if (o.layers || o.step) {
    std::printf("\nAgreement check (same weights and batch, 1 thread):\n");
    check_agreement();
  }
  for (int threads : o.threads) {
    bench::set_threads(threads);
    if (o.kernels) run_kernels(o, threads);
    if (o.layers) run_layers(o, threads);
    if (o.step) run_step(o, threads);
  }
  std::printf("\nload average at end: %s\n", load_average().c_str());
  return 0;
}
