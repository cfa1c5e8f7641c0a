// Micro-benchmarks of nabla alone (Google Benchmark; `--benchmark_format=json` for JSON):
//   - per-op overhead: a 1-element add, with inputs that need no grad, with inputs that require
//     grad (a graph node is recorded and freed every iteration), and inside NoGradGuard;
//   - f32 matmul at 256/512/1024 against raw cblas_sgemm on the same buffers, in GFLOP/s, plus an
//     interleaved pair that reports the ratio directly;
//   - element-wise add/mul/exp on 1M floats and sum over 1M/10M floats;
//   - the SGD update of the vs-LibTorch MLP's parameters, fused add_(g, alpha) vs two passes;
//   - batch_norm forward + backward, fused kernel vs composed VJP;
//   - conv2d forward + backward (3x3, pad 1) with oneDNN's Winograd kernels on and off.
// The second argument of the sized benchmarks is the thread count (nabla::set_num_threads).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "../src/backend/cpu/conv_impl.h"
#include "../src/backend/cpu/gemm_impl.h"
#include "nabla/nabla.h"

namespace {

using nabla::Tensor;

// ---- per-op overhead ------------------------------------------------------------------------

void BM_AddOverhead_NoGradInputs(benchmark::State& state) {
  nabla::set_num_threads(1);
  Tensor a = nabla::ones({1}), b = nabla::ones({1});
  for (auto _ : state) {
    Tensor c = nabla::add(a, b);
    benchmark::DoNotOptimize(c.impl_ptr().get());
  }
}
BENCHMARK(BM_AddOverhead_NoGradInputs);

// Inputs require grad: each add makes a FunctionNode with two AccumulateGrad edges; the node
// dies with `c` at the end of the iteration, so this is record + free.
void BM_AddOverhead_Recording(benchmark::State& state) {
  nabla::set_num_threads(1);
  Tensor a = nabla::ones({1}, {.requires_grad = true}), b = nabla::ones({1}, {.requires_grad = true});
  for (auto _ : state) {
    Tensor c = nabla::add(a, b);
    benchmark::DoNotOptimize(c.impl_ptr().get());
  }
}
BENCHMARK(BM_AddOverhead_Recording);

void BM_AddOverhead_NoGradGuard(benchmark::State& state) {
  nabla::set_num_threads(1);
  Tensor a = nabla::ones({1}, {.requires_grad = true}), b = nabla::ones({1}, {.requires_grad = true});
  nabla::NoGradGuard ng;
  for (auto _ : state) {
    Tensor c = nabla::add(a, b);
    benchmark::DoNotOptimize(c.impl_ptr().get());
  }
}
BENCHMARK(BM_AddOverhead_NoGradGuard);

// A recorded add followed by its backward (engine walk + two AccumulateGrad), grads reset.
void BM_AddOverhead_RecordAndBackward(benchmark::State& state) {
  nabla::set_num_threads(1);
  Tensor a = nabla::ones({1}, {.requires_grad = true}), b = nabla::ones({1}, {.requires_grad = true});
  for (auto _ : state) {
    Tensor c = nabla::add(a, b);
    c.backward();
    a.set_grad(Tensor());
    b.set_grad(Tensor());
  }
}
BENCHMARK(BM_AddOverhead_RecordAndBackward);

// ---- matmul vs raw BLAS -----------------------------------------------------------------------

struct MatmulData {
  Tensor a, b, c;  // c: output buffer for the raw sgemm
  explicit MatmulData(int64_t n) {
    nabla::manual_seed(0);
    a = nabla::randn({n, n});
    b = nabla::randn({n, n});
    c = nabla::zeros({n, n});
  }
  void sgemm(int n) const {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data_ptr<float>(), n,
                b.data_ptr<float>(), n, 0.0f, c.data_ptr<float>(), n);
  }
};

void set_gflops(benchmark::State& state, int64_t n) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(n) * double(n) * double(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Matmul_nabla(benchmark::State& state) {
  const int64_t n = state.range(0);
  nabla::set_num_threads(int(state.range(1)));
  MatmulData d(n);
  for (auto _ : state) {
    Tensor c = nabla::matmul(d.a, d.b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_gflops(state, n);
}

void BM_Matmul_cblas(benchmark::State& state) {
  const int64_t n = state.range(0);
  nabla::set_num_threads(int(state.range(1)));
  MatmulData d(n);
  for (auto _ : state) {
    d.sgemm(int(n));
    benchmark::ClobberMemory();
  }
  set_gflops(state, n);
}

// Alternates one nabla matmul and one raw sgemm per iteration (so drifting clock speed and
// neighbours hit both alike) and reports each one's median GFLOP/s and their ratio.
void BM_Matmul_interleaved(benchmark::State& state) {
  using clock = std::chrono::steady_clock;
  const int64_t n = state.range(0);
  nabla::set_num_threads(int(state.range(1)));
  MatmulData d(n);
  std::vector<double> tn, tb;
  for (auto _ : state) {
    auto t0 = clock::now();
    Tensor c = nabla::matmul(d.a, d.b);
    benchmark::DoNotOptimize(c.raw_data());
    auto t1 = clock::now();
    d.sgemm(int(n));
    benchmark::ClobberMemory();
    auto t2 = clock::now();
    tn.push_back(std::chrono::duration<double>(t1 - t0).count());
    tb.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double flop = 2.0 * double(n) * double(n) * double(n);
  const double mn = median(tn), mb = median(tb);
  state.counters["nabla_GFLOP/s"] = flop / mn * 1e-9;
  state.counters["cblas_GFLOP/s"] = flop / mb * 1e-9;
  state.counters["nabla/cblas_speed"] = mb / mn;  // 1.0 = as fast as raw BLAS
}

void MatmulArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int n : {256, 512, 1024}) b->Args({n, threads});
  b->ArgNames({"n", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}
BENCHMARK(BM_Matmul_nabla)->Apply(MatmulArgs);
BENCHMARK(BM_Matmul_cblas)->Apply(MatmulArgs);
BENCHMARK(BM_Matmul_interleaved)->Apply(MatmulArgs);

// ---- element-wise and reductions ------------------------------------------------------------

enum class Elementwise { Add, Mul, Exp };

template <Elementwise K>
void BM_Elementwise(benchmark::State& state) {
  const int64_t n = state.range(0);
  nabla::set_num_threads(int(state.range(1)));
  nabla::manual_seed(0);
  Tensor a = nabla::randn({n}), b = nabla::randn({n});
  for (auto _ : state) {
    Tensor c = K == Elementwise::Add ? nabla::add(a, b) : K == Elementwise::Mul ? nabla::mul(a, b) : nabla::exp(a);
    benchmark::DoNotOptimize(c.raw_data());
  }
  const int64_t operands = K == Elementwise::Exp ? 2 : 3;
  state.SetBytesProcessed(state.iterations() * n * operands * int64_t(sizeof(float)));
  state.SetItemsProcessed(state.iterations() * n);
}

void ElementwiseArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) b->Args({1 << 20, threads});
  b->ArgNames({"n", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}
BENCHMARK(BM_Elementwise<Elementwise::Add>)->Name("BM_Add_f32")->Apply(ElementwiseArgs);
BENCHMARK(BM_Elementwise<Elementwise::Mul>)->Name("BM_Mul_f32")->Apply(ElementwiseArgs);
BENCHMARK(BM_Elementwise<Elementwise::Exp>)->Name("BM_Exp_f32")->Apply(ElementwiseArgs);

void BM_Sum_f32(benchmark::State& state) {
  const int64_t n = state.range(0);
  nabla::set_num_threads(int(state.range(1)));
  nabla::manual_seed(0);
  Tensor a = nabla::randn({n});
  for (auto _ : state) {
    Tensor s = nabla::sum(a);
    benchmark::DoNotOptimize(s.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * int64_t(sizeof(float)));
}
BENCHMARK(BM_Sum_f32)
    ->ArgNames({"n", "threads"})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 2})
    ->Args({10 << 20, 1})
    ->Args({10 << 20, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The SGD update of the bench MLP's parameters (784-512-256-10: 535,818 floats in six tensors):
// `p.add_(g, -lr)`, one fused pass, against the two-pass form `p.add_(g * -lr)` (a temporary,
// then an add), which is what add_(g, alpha) ran before the fused kernel.
void BM_SgdUpdate(benchmark::State& state) {
  const bool fused = state.range(0) != 0;
  nabla::set_num_threads(int(state.range(1)));
  nabla::manual_seed(0);
  std::vector<Tensor> params, grads;
  int64_t total = 0;
  for (nabla::Shape s : {nabla::Shape{512, 784}, {512}, {256, 512}, {256}, {10, 256}, {10}}) {
    params.push_back(nabla::randn(s));
    grads.push_back(nabla::randn(s));
    total += params.back().numel();
  }
  nabla::NoGradGuard ng;
  for (auto _ : state) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (fused) {
        params[i].add_(grads[i], -0.01);
      } else {
        params[i].add_(grads[i] * -0.01);
      }
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * total * 3 * int64_t(sizeof(float)));
}
BENCHMARK(BM_SgdUpdate)
    ->ArgNames({"fused", "threads"})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Args({1, 2})
    ->Args({0, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// batch_norm forward + backward on a CNN-sized activation [64, 64, 14, 14] (f32, affine): the fused
// backend kernel a plain backward runs (fused = 1) against the VJP composed of nabla ops, which
// runs when the backward is itself recorded (fused = 0: nabla::grad with create_graph, so it
// also pays for recording; read it as an upper bound of the composed form).
void BM_BatchNormBackward(benchmark::State& state) {
  const bool fused = state.range(0) != 0;
  nabla::set_num_threads(int(state.range(1)));
  nabla::manual_seed(0);
  Tensor x = nabla::randn({64, 64, 14, 14}).requires_grad_();
  Tensor w = nabla::rand({64}).requires_grad_(), b = nabla::randn({64}).requires_grad_();
  Tensor go = nabla::randn({64, 64, 14, 14});
  for (auto _ : state) {
    Tensor y = nabla::batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5);
    nabla::TensorList g = nabla::grad({y}, {x, w, b}, {go}, false, /*create_graph=*/!fused);
    benchmark::DoNotOptimize(g[0].raw_data());
  }
  state.SetItemsProcessed(state.iterations() * x.numel());
}
BENCHMARK(BM_BatchNormBackward)
    ->ArgNames({"fused", "threads"})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Args({1, 2})
    ->Args({0, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// conv2d forward + backward (input, weight and bias gradients), 3x3, stride 1, padding 1, f32,
// with oneDNN's Winograd kernels allowed (wino = 1, the default where they apply) or not (0): the
// per-geometry choice in src/backend/cpu/conv_onednn.cpp. Shapes: the bench CNN's conv2 and
// ResNet-style layers (batch, in, out channels, spatial size).
void BM_Conv3x3Train(benchmark::State& state) {
  const int64_t n = state.range(0), c = state.range(1), o = state.range(2), hw = state.range(3);
  nabla::backend::cpu::onednn::set_winograd(state.range(4) != 0);
  nabla::set_num_threads(int(state.range(5)));
  nabla::manual_seed(0);
  Tensor x = nabla::randn({n, c, hw, hw}).requires_grad_();
  Tensor w = (nabla::randn({o, c, 3, 3}) * 0.05).requires_grad_(), b = nabla::randn({o}).requires_grad_();
  Tensor go = nabla::randn({n, o, hw, hw});
  nabla::Conv2dOptions opts;
  opts.padding = {1, 1};
  auto step = [&] {
    Tensor y = nabla::conv2d(x, w, b, opts);
    nabla::TensorList g = nabla::grad({y}, {x, w, b}, {go});
    benchmark::DoNotOptimize(g[0].raw_data());
  };
  for (int i = 0; i < 2; ++i) step();  // primitive creation (Winograd's takes long) is not timed
  for (auto _ : state) step();
  nabla::backend::cpu::onednn::set_winograd(true);
  state.SetItemsProcessed(state.iterations() * 3 * n * o * c * 9 * hw * hw);  // multiply-adds
}
void Conv3x3Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "o", "hw", "wino", "threads"});
  for (int threads : {1, 2})
    for (auto shape : std::vector<std::vector<int64_t>>{{64, 32, 64, 14}, {64, 64, 64, 32}, {64, 128, 128, 16},
                                                        {64, 256, 256, 8}, {64, 512, 512, 4}, {64, 16, 16, 28}})
      for (int wino : {1, 0}) b->Args({shape[0], shape[1], shape[2], shape[3], wino, threads});
}
BENCHMARK(BM_Conv3x3Train)->Apply(Conv3x3Args)->Unit(benchmark::kMillisecond)->UseRealTime();

// conv2d's f32 weight gradient alone through im2col + GEMM (forced, as a build without oneDNN
// runs it), 3x3 pad 1: the batch is split into chunks of a fixed size, summed chunk by chunk and
// reduced in a fixed order, so the result does not depend on the thread count. Shapes as
// BM_Conv3x3Train's (batch, in, out channels, spatial size).
void BM_Conv2dWeightGradIm2col(benchmark::State& state) {
  namespace cpu = nabla::backend::cpu;
  const int64_t n = state.range(0), c = state.range(1), o = state.range(2), hw = state.range(3);
  nabla::set_num_threads(int(state.range(4)));
  const cpu::ConvImpl saved = cpu::get_conv_impl();
  cpu::set_conv_impl(cpu::ConvImpl::Im2col);
  nabla::manual_seed(0);
  Tensor x = nabla::randn({n, c, hw, hw}), go = nabla::randn({n, o, hw, hw}), gw = nabla::zeros({o, c, 3, 3});
  const nabla::backend::ConvGeom g{n, c, hw, hw, o, 3, 3, hw, hw, 1, 1, 1, 1, 1, 1, 1};
  for (auto _ : state) {
    cpu::conv2d_weight_grad(nabla::DType::f32, g, x.raw_data(), go.raw_data(), gw.raw_data());
    benchmark::ClobberMemory();
  }
  cpu::set_conv_impl(saved);
  state.SetItemsProcessed(state.iterations() * n * o * c * 9 * hw * hw);  // multiply-adds
}
BENCHMARK(BM_Conv2dWeightGradIm2col)
    ->ArgNames({"n", "c", "o", "hw", "threads"})
    ->Args({64, 32, 64, 14, 1})
    ->Args({64, 32, 64, 14, 2})
    ->Args({64, 64, 64, 32, 2})
    ->Args({64, 128, 128, 16, 2})
    ->Args({64, 256, 256, 8, 2})
    ->Args({8, 32, 64, 14, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// conv2d forward alone, without and with the ReLU (relu = 0 / 1), on the bench CNN's two layers
// (batch 64): what the in-place ReLU pass after the convolution costs. (oneDNN's ReLU post-op
// would be free but maps NaN to 0; see conv2d_forward_relu.)
void BM_Conv2dForwardRelu(benchmark::State& state) {
  const int64_t n = 64, c = state.range(0), o = state.range(1), hw = state.range(2);
  nabla::set_num_threads(int(state.range(4)));
  nabla::manual_seed(0);
  Tensor x = nabla::randn({n, c, hw, hw}), w = nabla::randn({o, c, 3, 3}) * 0.05, b = nabla::randn({o});
  nabla::Conv2dOptions opts;
  opts.padding = {1, 1};
  opts.fuse_relu = state.range(3) != 0;
  nabla::NoGradGuard no_grad;
  for (int i = 0; i < 2; ++i) nabla::conv2d(x, w, b, opts);  // primitive creation is not timed
  for (auto _ : state) benchmark::DoNotOptimize(nabla::conv2d(x, w, b, opts).raw_data());
}
BENCHMARK(BM_Conv2dForwardRelu)
    ->ArgNames({"c", "o", "hw", "relu", "threads"})
    ->ArgsProduct({{1}, {32}, {28}, {0, 1}, {1, 2}})
    ->ArgsProduct({{32}, {64}, {14}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A long k into a small output (a weight gradient over a large batch: matmul(g.t(), x) with g
// [k, m], x [k, n]): the default, fixed k-chunks summed in order (thread-count independent), against
// the oneDNN matmul primitive forced (impl = 1), which splits k by thread count.
void BM_MatmulLongK(benchmark::State& state) {
  namespace cpu = nabla::backend::cpu;
  const int64_t k = state.range(0), m = state.range(1), n = state.range(2);
  cpu::set_gemm_impl(state.range(3) ? cpu::GemmImpl::OneDnn : cpu::GemmImpl::Auto);
  nabla::set_num_threads(int(state.range(4)));
  nabla::manual_seed(0);
  Tensor g = nabla::randn({k, m}), x = nabla::randn({k, n});
  for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(nabla::matmul(g.t(), x).raw_data());
  for (auto _ : state) benchmark::DoNotOptimize(nabla::matmul(g.t(), x).raw_data());
  cpu::set_gemm_impl(cpu::GemmImpl::Auto);
  state.SetItemsProcessed(state.iterations() * k * m * n);  // multiply-adds
}
void MatmulLongKArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"k", "m", "n", "onednn", "threads"});
  for (int threads : {1, 2})
    for (auto shape : std::vector<std::vector<int64_t>>{{8192, 10, 64}, {4096, 128, 128}, {60000, 10, 128}})
      for (int impl : {0, 1}) b->Args({shape[0], shape[1], shape[2], impl, threads});
}
BENCHMARK(BM_MatmulLongK)->Apply(MatmulLongKArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // Which BLAS kernel ran (DESIGN §5): the environment may pin it with OPENBLAS_CORETYPE.
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype ? coretype : "(unset)");
  benchmark::AddCustomContext("nabla_default_threads", std::to_string(nabla::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
