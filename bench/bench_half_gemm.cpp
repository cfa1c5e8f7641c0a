// 16-bit GEMM on the CPU (Google Benchmark): C = A·B in f32, bf16 and f16 side by side in one
// run, through each path the CPU backend has for the 16-bit types:
//   widened  A and B widened to f32, the f32 path (oneDNN or OpenBLAS sgemm), C narrowed once;
//   onednn   oneDNN's own 16-bit matmul (bf16 on AVX512_BF16 CPUs; f16 only with AVX512_FP16,
//            elsewhere the primitive is unavailable and the call falls back to widened).
// Debian's OpenBLAS 0.3.21 has no cblas_sbgemm symbol, so it is not a candidate.
// Arguments: m, n, k, threads. Use --benchmark_repetitions=N --benchmark_report_aggregates_only
// for medians; the figures behind gemm.cpp's choice are in bench/README.md.
#include <benchmark/benchmark.h>

#include <string>

#include "../src/backend/cpu/gemm_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::backend::cpu::GemmImpl;

void run(benchmark::State& state, nb::DType dt, GemmImpl impl) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  nb::set_num_threads(int(state.range(3)));
  nb::manual_seed(1);
  nb::Tensor a = nb::randn({m, k}).to(dt), b = nb::randn({k, n}).to(dt);
  nb::Tensor c = nb::empty({m, n}, {.dtype = dt});
  const GemmImpl saved = nb::backend::cpu::get_gemm_impl();
  nb::backend::cpu::set_gemm_impl(impl);
  const nb::backend::GemmArgs g{.trans_a = false,
                                .trans_b = false,
                                .m = m,
                                .n = n,
                                .k = k,
                                .alpha = 1,
                                .beta = 0,
                                .a = a.raw_data(),
                                .lda = k,
                                .stride_a = 0,
                                .b = b.raw_data(),
                                .ldb = n,
                                .stride_b = 0,
                                .c = c.raw_data(),
                                .ldc = n,
                                .stride_c = 0,
                                .batch = 1};
  for (auto _ : state) {
    nb::backend::cpu::gemm(dt, g);
    benchmark::ClobberMemory();
  }
  nb::backend::cpu::set_gemm_impl(saved);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(m * n * k), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void BM_F32(benchmark::State& s) { run(s, nb::DType::f32, GemmImpl::Auto); }
void BM_BF16_Widened(benchmark::State& s) { run(s, nb::DType::bf16, GemmImpl::Blas); }
void BM_BF16_OneDnn(benchmark::State& s) { run(s, nb::DType::bf16, GemmImpl::OneDnn); }
void BM_BF16_Auto(benchmark::State& s) { run(s, nb::DType::bf16, GemmImpl::Auto); }
void BM_F16_Widened(benchmark::State& s) { run(s, nb::DType::f16, GemmImpl::Blas); }
void BM_F16_OneDnn(benchmark::State& s) { run(s, nb::DType::f16, GemmImpl::OneDnn); }

// Square sizes and the vs-LibTorch MLP's first layer (batch 128, 784 -> 512), 1 and 2 threads.
void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t t : {1, 2}) {
    for (int64_t s : {16, 32, 64, 256, 512, 1024}) b->Args({s, s, s, t});
    b->Args({128, 512, 784, t});
  }
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_F32)->Apply(shapes);
BENCHMARK(BM_BF16_Widened)->Apply(shapes);
BENCHMARK(BM_BF16_OneDnn)->Apply(shapes);
BENCHMARK(BM_BF16_Auto)->Apply(shapes);
BENCHMARK(BM_F16_Widened)->Apply(shapes);
BENCHMARK(BM_F16_OneDnn)->Apply(shapes);

}  // namespace

BENCHMARK_MAIN();
