// 16-bit convolutions on the CPU: the cnn preset's two layers (conv1 1->32 on 28x28, conv2 32->64
// on 14x14, 3x3, padding 1, batch 64) as a training step calls them (forward with the fused ReLU,
// then the backward: input gradient for conv2 only, as in the network, weight and bias
// gradients), through the CPU kernels directly, in
//   f32             the f32 kernels (conv.cpp's measured choice);
//   bf16 / f16 native   oneDNN's own 16-bit primitives where it has a JIT one (conv_onednn.cpp);
//                   where it has none (f16 in oneDNN 2.x) the call widens, as the next row;
//   bf16 / f16 widened  operands widened to f32, the f32 kernels, results narrowed once.
// Calls are interleaved: each round runs every configuration for --block calls, starting with a
// different one each round. Prints medians with IQR and min-max, in ms, and the ratio to f32's
// median of the same run, plus the implementation oneDNN picked for each 16-bit pass, and (on a
// CPU with AVX512_BF16) the rate of VDPBF16PS against VFMADD231PS in MACs per ns: the ceiling of
// what bf16 arithmetic can gain over f32 on this CPU.
// Usage: bench_half_conv [--rounds R] [--block B] [--warmup W] [--threads T] [--batch N] [--k 3|5]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../src/backend/cpu/conv_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
namespace cpu = nabla::backend::cpu;
using clk = std::chrono::steady_clock;

struct Stats {
  double median, q1, q3, min, max;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * double(v.size() - 1);
    const size_t i = size_t(pos);
    const double f = pos - double(i);
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  return {at(0.5), at(0.25), at(0.75), v.front(), v.back()};
}

struct Config {
  const char* name;
  nb::DType dt;
  bool native;
};

struct Layer {
  const char* name;
  nb::backend::ConvGeom g;
  bool input_grad;  // conv1's input (the image) needs no gradient in the network
};

template <typename T>
inline void escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
}

// Ten independent accumulators in registers (more than the latency times the issue rate), n
// iterations: seconds per instruction.
#define NB_TEN(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7) OP(a8) OP(a9)
__attribute__((target("avx512f,avx512bf16"))) double bf16_dot_seconds(long n) {
  // Distinct starting values: equal ones let the compiler merge the ten chains into one.
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
         a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
         a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0
  const auto t0 = clk::now();
#define NB_DOT(v) v = _mm512_dpbf16_ps(v, x, x);
  for (long i = 0; i < n; ++i) {
    NB_TEN(NB_DOT)
  }
  const double s = std::chrono::duration<double>(clk::now() - t0).count();
#define NB_SUM(v) sum = _mm512_add_ps(sum, v);
  __m512 sum = _mm512_setzero_ps();
  NB_TEN(NB_SUM)
  volatile float keep = _mm512_cvtss_f32(sum);  // sum depends on every accumulator
  (void)keep;
  return s / double(n * 10);
}

__attribute__((target("avx512f,fma"))) double f32_fma_seconds(long n) {
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
         a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
         a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9);
  const __m512 x = _mm512_set1_ps(1e-9f);
  const auto t0 = clk::now();
#define NB_FMA(v) v = _mm512_fmadd_ps(x, x, v);
  for (long i = 0; i < n; ++i) {
    NB_TEN(NB_FMA)
  }
  const double s = std::chrono::duration<double>(clk::now() - t0).count();
  __m512 sum = _mm512_setzero_ps();
  NB_TEN(NB_SUM)
  volatile float keep = _mm512_cvtss_f32(sum);  // sum depends on every accumulator
  (void)keep;
  return s / double(n * 10);
}
#undef NB_DOT
#undef NB_FMA
#undef NB_SUM
#undef NB_TEN

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, block = 4, warmup = 3, threads = 1;
  int64_t batch = 64, k = 3;
  for (int i = 1; i < argc; ++i) {
    auto val = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", argv[i]);
        std::exit(2);
      }
      return std::atoll(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--rounds")) rounds = int(val());
    else if (!std::strcmp(argv[i], "--block")) block = int(val());
    else if (!std::strcmp(argv[i], "--warmup")) warmup = int(val());
    else if (!std::strcmp(argv[i], "--threads")) threads = int(val());
    else if (!std::strcmp(argv[i], "--batch")) batch = val();
    else if (!std::strcmp(argv[i], "--k")) k = val();
    else {
      std::fprintf(stderr, "usage: %s [--rounds R] [--block B] [--warmup W] [--threads T] [--batch N] [--k 3|5]\n",
                   argv[0]);
      return std::strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  nb::set_num_threads(threads);
  if (__builtin_cpu_supports("avx512bf16")) {
    for (int r = 0; r < 3; ++r) {
      const double b = bf16_dot_seconds(20000000), f = f32_fma_seconds(20000000);
      std::printf("vdpbf16ps %.3f ns (%.1f MAC/ns), vfmadd231ps %.3f ns (%.1f MAC/ns)\n", b * 1e9, 32 / (b * 1e9),
                  f * 1e9, 16 / (f * 1e9));
    }
  }
  const Config configs[] = {{"f32", nb::DType::f32, false},
                            {"bf16 native", nb::DType::bf16, true},
                            {"bf16 widened", nb::DType::bf16, false},
                            {"f16 native", nb::DType::f16, true},
                            {"f16 widened", nb::DType::f16, false}};
  constexpr size_t kConfigs = sizeof(configs) / sizeof(configs[0]);
  auto geom = [&](int64_t C, int64_t O, int64_t H) {
    nb::backend::ConvGeom g{};
    g.N = batch, g.C = C, g.H = g.W = H, g.O = O, g.kh = g.kw = k, g.Ho = g.Wo = H;
    g.sh = g.sw = 1, g.ph = g.pw = k / 2, g.dh = g.dw = 1, g.groups = 1;
    return g;
  };
  const Layer layers[] = {{"conv1 1->32 28x28", geom(1, 32, 28), false},
                          {"conv2 32->64 14x14", geom(32, 64, 14), true}};
  std::printf("cnn preset conv layers, batch %lld, %lldx%lld, %d thread(s), %d rounds x %d calls per configuration\n",
              (long long)batch, (long long)k, (long long)k, threads, rounds, block);
  for (const Layer& L : layers) {
    const nb::backend::ConvGeom& g = L.g;
    for (const Config& c : configs)
      if (c.native) {
        namespace od = cpu::onednn;
        std::printf("  %s %s oneDNN: forward '%s', input grad '%s', weight grad '%s'\n", L.name, c.name,
                    od::impl_name(c.dt, g, od::OneDnnPass::ForwardBias).c_str(),
                    od::impl_name(c.dt, g, od::OneDnnPass::InputGrad).c_str(),
                    od::impl_name(c.dt, g, od::OneDnnPass::WeightGrad).c_str());
      }
  }
  std::printf("\n| layer | pass | config | median ms (IQR; min-max) | vs f32 |\n|---|---|---|---|---|\n");
  for (const Layer& L : layers) {
    const nb::backend::ConvGeom& g = L.g;
    nb::manual_seed(1);
    // One set of operands per dtype, from the same f32 values.
    const nb::Tensor x32 = nb::randn({g.N, g.C, g.H, g.W}), w32 = nb::randn({g.O, g.C, g.kh, g.kw}) * 0.1,
                     b32 = nb::randn({g.O}), go32 = nb::randn({g.N, g.O, g.Ho, g.Wo});
    struct Buffers {
      nb::Tensor x, w, b, go, y, gx, gw, gb;
    };
    std::vector<Buffers> buf;
    for (const Config& c : configs) {
      const nb::TensorOptions to{.dtype = c.dt};
      buf.push_back({x32.to(c.dt), w32.to(c.dt), b32.to(c.dt), go32.to(c.dt), nb::empty({g.N, g.O, g.Ho, g.Wo}, to),
                     nb::empty({g.N, g.C, g.H, g.W}, to), nb::empty({g.O, g.C, g.kh, g.kw}, to), nb::empty({g.O}, to)});
    }
    auto call = [&](size_t i, int pass) {
      cpu::set_half_conv_native(configs[i].native);
      Buffers& B = buf[i];
      if (pass == 0) {
        cpu::conv2d_forward_relu(configs[i].dt, g, B.x.raw_data(), B.w.raw_data(), B.b.raw_data(), B.y.raw_data());
        escape(B.y.raw_data());
      } else {
        cpu::conv2d_backward(configs[i].dt, g, B.x.raw_data(), B.w.raw_data(), B.go.raw_data(),
                             L.input_grad ? B.gx.raw_data() : nullptr, B.gw.raw_data(), B.gb.raw_data());
        escape(B.gw.raw_data());
      }
    };
    std::vector<double> t[2][kConfigs];
    for (int w = 0; w < warmup; ++w)
      for (size_t i = 0; i < kConfigs; ++i) call(i, 0), call(i, 1);
    for (int r = 0; r < rounds; ++r)
      for (size_t j = 0; j < kConfigs; ++j) {
        const size_t i = (j + size_t(r)) % kConfigs;  // rotate the order: no config always follows the same one
        for (int b = 0; b < block; ++b)
          for (int pass = 0; pass < 2; ++pass) {
            const auto t0 = clk::now();
            call(i, pass);
            t[pass][i].push_back(std::chrono::duration<double>(clk::now() - t0).count() * 1e3);
          }
      }
    cpu::set_half_conv_native(true);
    const char* pass_names[] = {"forward+relu", L.input_grad ? "backward (gx, gw, gb)" : "backward (gw, gb)"};
    for (int pass = 0; pass < 3; ++pass) {
      std::vector<double> f32_total;
      double f32_median = 0;
      for (size_t i = 0; i < kConfigs; ++i) {
        std::vector<double> v;
        if (pass < 2) {
          v = t[pass][i];
        } else {  // forward + backward of the same call pair
          for (size_t s = 0; s < t[0][i].size(); ++s) v.push_back(t[0][i][s] + t[1][i][s]);
        }
        const Stats s = stats(v);
        if (i == 0) f32_median = s.median;
        std::printf("| %s | %s | %s | %.3f (%.3f-%.3f; %.3f-%.3f) | %.2f |\n", L.name,
                    pass < 2 ? pass_names[pass] : "forward+backward", configs[i].name, s.median, s.q1, s.q3, s.min,
                    s.max, s.median / f32_median);
      }
    }
    std::fflush(stdout);
  }
  return 0;
}
