// f16 and bf16 on CUDA: every op-table row (forward and input gradients) against f32 from the
// same rounded inputs (the check is ops/half_rows.h, shared with test_ops' HalfRows), and the
// kernels with their own 16-bit paths checked more tightly: tensor-core GEMM and cuDNN
// convolution (float accumulation, one rounding), batch norm with f32 parameters and running
// statistics (PyTorch's mixed case), random draws (the f32 draws rounded) and the multi-tensor
// helpers of gradient clipping.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"
#include "nabla/nabla.h"
#include "nabla/ops/optim_update.h"  // foreach_*
#include "ops/half_rows.h"

namespace {

namespace nb = nabla;
using gputest::expect_same;
using gputest::gpu;
using nb::DType;
using nb::Tensor;
using nb::TensorList;

constexpr DType kHalfTypes[] = {DType::bf16, DType::f16};

// One unit in the last place of a 16-bit value, relative: 2^-7 (bf16), 2^-10 (f16).
double ulp16(DType dt) { return dt == DType::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10); }

// ---- every op-table row ----------------------------------------------------------------------

class CudaHalfRows : public ::testing::TestWithParam<optest::GpuRow> {};

TEST_P(CudaHalfRows, MatchesF32) {
  NB_REQUIRE_CUDA();
  if (!GetParam().row.f32) GTEST_SKIP() << "row checks f64 only";
  // Every CUDA kernel has its 16-bit version: no row may refuse the dtype here.
  optest::expect_half_matches_f32(GetParam(), gpu(), /*may_refuse=*/false);
}

INSTANTIATE_TEST_SUITE_P(OpTable, CudaHalfRows, ::testing::ValuesIn(optest::all_rows()), optest::gpu_row_name);

// ---- GEMM and convolution ---------------------------------------------------------------------

// x rounded to dt, on the GPU, and the same values in f32 on the CPU.
struct Rounded {
  Tensor gpu16, cpu32;
};
Rounded rounded_pair(const Tensor& x, DType dt) { return {x.to(dt).cuda(), x.to(dt).to(DType::f32)}; }

// Products of 16-bit values are exact in float and k terms add with ~k 2^-24 relative error, so
// a float-accumulated result is the exact one rounded once: within one 16-bit ulp, plus the
// sum's own error where terms cancel (atol).
void expect_rounded_once(const Tensor& got, const Tensor& want, DType dt, double atol, const std::string& what) {
  EXPECT_EQ(got.dtype(), dt) << what;
  expect_same(got.to(DType::f32), want, atol, ulp16(dt), what);
}

TEST(CudaHalf, GemmOnTensorCoresRoundsOnce) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(21);
  for (DType dt : kHalfTypes) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Rounded a = rounded_pair(nb::randn({3, 96, 256}), dt), b = rounded_pair(nb::randn({256, 80}), dt);
    expect_rounded_once(nb::matmul(a.gpu16, b.gpu16), nb::matmul(a.cpu32, b.cpu32), dt, 1e-3, "batched x broadcast");
    const Rounded bt = rounded_pair(nb::randn({80, 256}), dt);  // a transposed operand
    expect_rounded_once(nb::matmul(a.gpu16, bt.gpu16.t()), nb::matmul(a.cpu32, bt.cpu32.t()), dt, 1e-3,
                        "transposed right operand");
    // linear's bias rides in C (beta = 1) and is rounded with the product, then ReLU.
    const Rounded x = rounded_pair(nb::randn({64, 256}), dt), w = rounded_pair(nb::randn({48, 256}), dt),
                  bias = rounded_pair(nb::randn({48}), dt);
    expect_rounded_once(nb::linear_relu(x.gpu16, w.gpu16, bias.gpu16), nb::linear_relu(x.cpu32, w.cpu32, bias.cpu32),
                        dt, 1e-3, "linear_relu");
  }
}

TEST(CudaHalf, ConvolutionForwardAndBackward) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(22);
  for (DType dt : kHalfTypes) {
    SCOPED_TRACE(nb::dtype_name(dt));
    Rounded x = rounded_pair(nb::randn({4, 16, 20, 20}), dt), w = rounded_pair(nb::randn({32, 16, 3, 3}), dt);
    const Rounded b = rounded_pair(nb::randn({32}), dt);
    const nb::Conv2dOptions opts{.padding = {1, 1}};
    for (Tensor* t : {&x.gpu16, &w.gpu16, &x.cpu32, &w.cpu32}) t->requires_grad_(true);
    Tensor yg = nb::conv2d(x.gpu16, w.gpu16, b.gpu16, opts), yc = nb::conv2d(x.cpu32, w.cpu32, b.cpu32, opts);
    EXPECT_EQ(yg.dtype(), dt);
    // Rounded after the convolution and again after the bias: a few 16-bit units of the scale.
    optest::expect_half_close(yg, yc, dt, "forward");
    const Tensor go = nb::randn(yc.shape()).to(dt);
    TensorList gg = nb::grad({yg}, {x.gpu16, w.gpu16}, {go.cuda()});
    TensorList gc = nb::grad({yc}, {x.cpu32, w.cpu32}, {go.to(DType::f32)});
    EXPECT_EQ(gg[0].dtype(), dt);
    EXPECT_EQ(gg[1].dtype(), dt);
    optest::expect_half_close(gg[0], gc[0], dt, "input gradient");
    optest::expect_half_close(gg[1], gc[1], dt, "weight gradient");  // 1600-term float sums, rounded once
  }
}

// ---- batch norm: 16-bit input, f32 parameters and running statistics -------------------------

TEST(CudaHalf, BatchNormMixedPrecision) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(23);
  for (DType dt : kHalfTypes) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Rounded x = rounded_pair(nb::randn({8, 4, 6, 6}) * 3 + 1, dt);
    const Tensor w = nb::rand({4}) + 0.5, b = nb::randn({4});
    Tensor rm_g = nb::zeros({4}).cuda(), rv_g = nb::ones({4}).cuda(), rm_c = nb::zeros({4}), rv_c = nb::ones({4});
    Tensor yg = nb::batch_norm(x.gpu16, rm_g, rv_g, w.cuda(), b.cuda(), /*training=*/true);
    Tensor yc = nb::batch_norm(x.cpu32, rm_c, rv_c, w, b, /*training=*/true);
    EXPECT_EQ(yg.dtype(), dt) << "output in the input's dtype";
    optest::expect_half_close(yg, yc, dt, "output");
    // The statistics are f64 sums of the same values: the f32 running averages agree to f32.
    EXPECT_EQ(rm_g.dtype(), DType::f32);
    expect_same(rm_g, rm_c, 1e-6, 1e-6, "running_mean");
    expect_same(rv_g, rv_c, 1e-6, 1e-6, "running_var");
    // All-16-bit parameters and buffers work too (read as f32, written back rounded).
    Tensor rm16 = nb::zeros({4}).to(dt).cuda(), rv16 = nb::ones({4}).to(dt).cuda();
    Tensor y16 = nb::batch_norm(x.gpu16, rm16, rv16, w.to(dt).cuda(), b.to(dt).cuda(), true);
    EXPECT_EQ(y16.dtype(), dt);
    expect_same(rm16.to(DType::f32), rm_c.to(dt).to(DType::f32), 0, 0, "16-bit running_mean");
  }
}

// ---- random draws: the f32 draws, rounded ------------------------------------------------------

TEST(CudaHalf, RandomDrawsAreTheF32DrawsRounded) {
  NB_REQUIRE_CUDA();
  for (DType dt : kHalfTypes) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const int64_t n = 4099;  // not a multiple of the four numbers per Philox block
    nb::manual_seed(24);
    const Tensor u32 = nb::rand({n}, {.device = gpu()});
    nb::manual_seed(24);
    const Tensor u16 = nb::rand({n}, {.dtype = dt, .device = gpu()});
    EXPECT_EQ(u16.dtype(), dt);
    // A draw that rounds up to 1 becomes the largest value below 1, keeping [0, 1).
    const double below_one = dt == DType::bf16 ? 1.0 - std::ldexp(1.0, -8) : 1.0 - std::ldexp(1.0, -11);
    std::vector<double> want = u32.cpu().to(dt).to_vector<double>(), got = u16.to_vector<double>();
    int wrapped = 0;
    for (double& v : want) {
      if (v == 1.0) {
        v = below_one;
        ++wrapped;
      }
    }
    EXPECT_EQ(got, want);
    if (dt == DType::bf16) {  // about 8 of 4099 f32 draws lie within 2^-9 of 1
      EXPECT_GT(wrapped, 0) << "no bf16 draw rounded to 1: the wrap above went untested";
    }
    nb::manual_seed(24);
    EXPECT_EQ(nb::rand({n}, {.dtype = dt}).to_vector<double>(), got) << "the CPU draws the same 16-bit numbers";
    nb::manual_seed(25);
    const Tensor z32 = nb::randn({n}, {.device = gpu()});
    nb::manual_seed(25);
    const Tensor z16 = nb::randn({n}, {.dtype = dt, .device = gpu()});
    EXPECT_EQ(z16.to_vector<double>(), z32.cpu().to(dt).to_vector<double>());
  }
}

// ---- multi-tensor helpers ---------------------------------------------------------------------

TEST(CudaHalf, ForeachNormScaleClamp) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(26);
  for (DType dt : kHalfTypes) {
    SCOPED_TRACE(nb::dtype_name(dt));
    TensorList f32 = {nb::randn({3, 4}).to(dt).to(DType::f32), nb::randn({5000}).to(dt).to(DType::f32)};
    TensorList h;
    for (const Tensor& t : f32) h.push_back(t.to(dt).cuda());
    for (double p : {1.0, 2.0, double(INFINITY)})  // sums in f64 of the same values
      EXPECT_NEAR(nb::foreach_norm(h, p), nb::foreach_norm(f32, p), 1e-9 * nb::foreach_norm(f32, p)) << "p=" << p;
    nb::foreach_mul_(h, 0.37);
    nb::foreach_clamp_(h, -0.5, 0.25);
    for (size_t i = 0; i < f32.size(); ++i) {
      // Each element: x * 0.37 in float, rounded once to dt, then clamped (the bounds are exact
      // in both dtypes, so clamping in f32 and rounding after changes nothing).
      const Tensor want = nb::clamp((f32[i] * 0.37).to(dt).to(DType::f32), -0.5, 0.25).to(dt);
      expect_same(h[i], want, 0, 0, "foreach_mul_/clamp_");
    }
  }
}

}  // namespace
