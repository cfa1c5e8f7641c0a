// 16-bit GEMM on the CPU (src/backend/cpu/gemm.cpp): f16 and bf16 operands, float accumulation,
// one rounding of C. Checked against f32 GEMM of the same rounded inputs on a larger shape than
// the op table's, on every transpose, batched, with alpha and beta != 0 (in float, C read in
// 16 bits), through each implementation forced, and, on the widened path, bit for bit against
// the f32 result rounded once.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "../../src/backend/cpu/gemm_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nabla::backend::cpu::GemmImpl;
using nb::DType;
using nb::Tensor;

struct ImplGuard {
  GemmImpl saved = nb::backend::cpu::get_gemm_impl();
  explicit ImplGuard(GemmImpl i) { nb::backend::cpu::set_gemm_impl(i); }
  ~ImplGuard() { nb::backend::cpu::set_gemm_impl(saved); }
};

double unit_roundoff(DType dt) { return dt == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11); }

/// got (16-bit) against want (f32 from the same rounded inputs): one rounding of C (u |want|)
/// plus float accumulation over k terms (k 2^-23 of the magnitudes |A|·|B|, scaled by |alpha|
/// and with |beta C| added); far inside the k 2^-8 relative bound a 16-bit accumulator would need.
/// Returns the largest |got - want| / (|A|·|B|) seen.
double expect_gemm_close(const Tensor& got, const Tensor& want, const Tensor& magnitude, int64_t k, DType dt,
                       const std::string& what) {
  EXPECT_EQ(got.dtype(), dt) << what;
  if (got.shape() != want.shape()) {
    ADD_FAILURE() << what << ": shape " << nb::shape_str(got.shape()) << ", want " << nb::shape_str(want.shape());
    return 0;
  }
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>(),
                            m = magnitude.to_vector<double>();
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(g[i] - w[i]), bound = unit_roundoff(dt) * std::abs(w[i]) + double(k) * 0x1p-23 * m[i];
    worst = std::max(worst, err / std::max(m[i], 1e-30));
    if (!(err <= bound) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << " in " << dt << ", " << w[i] << " in f32";
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_LT(worst, double(k) * std::ldexp(1.0, -8)) << what;  // the brief's k 2^-8 bound, relative to |A|·|B|
  return worst;
}

/// A [rows, cols] matrix rounded to dt, stored transposed when `transposed` (then viewed back).
Tensor operand(int64_t rows, int64_t cols, bool transposed, DType dt, uint64_t seed) {
  nb::manual_seed(seed);
  Tensor t = transposed ? nb::randn({cols, rows}).to(dt).t() : nb::randn({rows, cols}).to(dt);
  return t;
}

class HalfGemm : public ::testing::TestWithParam<DType> {};

TEST_P(HalfGemm, LargeProductOnEveryTransposeMatchesF32) {
  const DType dt = GetParam();
  const int64_t m = 256, k = 512, n = 384;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE(std::string("trans_a ") + (ta ? "1" : "0") + " trans_b " + (tb ? "1" : "0"));
      const Tensor a = operand(m, k, ta, dt, 11), b = operand(k, n, tb, dt, 12);
      const Tensor af = a.to(DType::f32), bf = b.to(DType::f32);
      const double worst =
          expect_gemm_close(nb::matmul(a, b), nb::matmul(af, bf), nb::matmul(nb::abs(af), nb::abs(bf)), k, dt, "matmul");
      std::printf("[half_gemm] %s 256x512x384 trans_a %d trans_b %d: largest |C - C_f32| / (|A|.|B|) %.3g\n",
                  nb::dtype_name(dt), int(ta), int(tb), worst);
    }
}

TEST_P(HalfGemm, BatchedAndSmallShapesMatchF32) {
  const DType dt = GetParam();
  nb::manual_seed(3);
  const Tensor a = nb::randn({3, 7, 33}).to(dt), b = nb::randn({3, 33, 5}).to(dt);
  const Tensor af = a.to(DType::f32), bf = b.to(DType::f32);
  expect_gemm_close(nb::matmul(a, b), nb::matmul(af, bf), nb::matmul(nb::abs(af), nb::abs(bf)), 33, dt, "batched");
  const Tensor v = nb::randn({33}).to(dt);
  expect_gemm_close(nb::matmul(a, v), nb::matmul(af, v.to(DType::f32)),
                    nb::matmul(nb::abs(af), nb::abs(v.to(DType::f32))), 33, dt, "matrix-vector");
}

// C = alpha op(A) op(B) + beta C straight through the backend: alpha and beta apply in float to
// C's 16-bit values, read once, and the sum is rounded once. alpha = 1, beta = 1 is the case
// oneDNN takes (a sum post-op); alpha = 2, beta = -0.5 only the widened path does.
TEST_P(HalfGemm, AlphaAndBetaApplyInFloat) {
  const DType dt = GetParam();
  const int64_t m = 64, k = 96, n = 80;
  for (auto [alpha, beta] : {std::pair{1.0, 1.0}, std::pair{2.0, -0.5}})
    for (GemmImpl impl : {GemmImpl::Auto, GemmImpl::Blas, GemmImpl::OneDnn}) {
      SCOPED_TRACE("alpha " + std::to_string(alpha) + " beta " + std::to_string(beta) + " impl " +
                   std::to_string(int(impl)));
      ImplGuard guard(impl);
      const Tensor a = operand(m, k, false, dt, 21), b = operand(k, n, true, dt, 22);
      nb::manual_seed(23);
      const Tensor c0 = nb::randn({m, n}).to(dt);
      Tensor c = c0.clone();
      const Tensor bt = b.t().contiguous();  // B stored [n, k]: trans_b
      nb::backend::cpu::gemm(dt, {.trans_a = false,
                                  .trans_b = true,
                                  .m = m,
                                  .n = n,
                                  .k = k,
                                  .alpha = alpha,
                                  .beta = beta,
                                  .a = a.raw_data(),
                                  .lda = k,
                                  .stride_a = 0,
                                  .b = bt.raw_data(),
                                  .ldb = k,
                                  .stride_b = 0,
                                  .c = c.raw_data(),
                                  .ldc = n,
                                  .stride_c = 0,
                                  .batch = 1});
      const Tensor af = a.to(DType::f32), bf = b.to(DType::f32), cf = c0.to(DType::f32);
      const Tensor want = nb::matmul(af, bf) * alpha + cf * beta;
      const Tensor mag = nb::matmul(nb::abs(af), nb::abs(bf)) * std::abs(alpha) + nb::abs(cf) * std::abs(beta);
      expect_gemm_close(c, want, mag, k, dt, "gemm");
    }
}

// The widened path is the f32 GEMM on exactly widened operands, so its result is the f32
// result rounded once: equal bits, not merely close.
TEST_P(HalfGemm, WidenedPathIsF32RoundedOnce) {
  const DType dt = GetParam();
  ImplGuard guard(GemmImpl::Blas);
  const Tensor a = operand(40, 300, true, dt, 31), b = operand(300, 50, false, dt, 32);
  const Tensor got = nb::matmul(a, b), want = nb::matmul(a.to(DType::f32), b.to(DType::f32)).to(dt);
  EXPECT_EQ(got.to_vector<double>(), want.to_vector<double>());
}

// As f32's (tests/ops/gemm_test.cpp): the bits do not depend on the thread count, on the MLP's
// forward and weight-gradient shapes (gᵀ·x over a batch: transposed A, long k, few columns).
TEST_P(HalfGemm, ThreadCountDoesNotChangeBits) {
  const DType dt = GetParam();
  struct Shape3 {
    int64_t m, k, n;
    bool ta;
  };
  const int saved = nb::get_num_threads();
  for (const Shape3& s : {Shape3{128, 784, 512, false}, Shape3{512, 4096, 10, true}, Shape3{10, 6000, 256, true},
                          Shape3{256, 1536, 64, true}, Shape3{64, 3000, 100, false}}) {
    SCOPED_TRACE("m " + std::to_string(s.m) + " k " + std::to_string(s.k) + " n " + std::to_string(s.n));
    const Tensor a = operand(s.m, s.k, s.ta, dt, 51), b = operand(s.k, s.n, false, dt, 52);
    nb::set_num_threads(1);
    const std::vector<double> one = nb::matmul(a, b).to_vector<double>();
    nb::set_num_threads(2);
    const std::vector<double> two = nb::matmul(a, b).to_vector<double>();
    nb::set_num_threads(4);
    const std::vector<double> four = nb::matmul(a, b).to_vector<double>();
    EXPECT_EQ(one, two);
    EXPECT_EQ(one, four);
  }
  nb::set_num_threads(saved);
}

TEST_P(HalfGemm, LinearAndItsGradientsStayInTheDtype) {
  const DType dt = GetParam();
  nb::manual_seed(41);
  Tensor x = nb::randn({32, 200}).to(dt).requires_grad_(true), w = nb::randn({64, 200}).to(dt).requires_grad_(true);
  // (The bias's gradient is a sum, another kernel family's; it is left out here.)
  const Tensor bias = nb::randn({64}).to(dt);
  Tensor y = nb::linear_relu(x, w, bias);
  EXPECT_EQ(y.dtype(), dt);
  const Tensor want =
      nb::relu(nb::linear(x.detach().to(DType::f32), w.detach().to(DType::f32), bias.detach().to(DType::f32)));
  const Tensor mag = nb::matmul(nb::abs(x.detach().to(DType::f32)), nb::abs(w.detach().to(DType::f32)).t()) +
                     nb::abs(bias.detach().to(DType::f32));
  // The bias is added to the rounded product (two roundings): one more unit of |want|.
  expect_gemm_close(y, want, mag * 2.0, 200, dt, "linear_relu");
  nb::TensorList g = nb::grad({y}, {x, w}, {nb::ones_like(y)});
  EXPECT_EQ(g[0].dtype(), dt);
  EXPECT_EQ(g[1].dtype(), dt);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfGemm, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(nb::dtype_name(info.param)); });

}  // namespace
