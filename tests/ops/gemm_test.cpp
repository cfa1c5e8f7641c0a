// f32 GEMM as the CPU backend runs it (src/backend/cpu/gemm.cpp): oneDNN matmul primitives for
// large calls in builds that have them, BLAS otherwise. Checked against f64 matmul on every
// transpose, batched, the MLP's shapes, linear's fused bias/ReLU, beta = 0 over NaN, each
// implementation forced, and results that do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../../src/backend/cpu/gemm_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::Shape;
using nb::Tensor;
using nabla::backend::cpu::GemmImpl;

void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - b[i]) <= tol * (1 + std::abs(b[i]))) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << b[i];
  EXPECT_EQ(bad, 0) << what;
}

struct ImplGuard {
  GemmImpl saved = nabla::backend::cpu::get_gemm_impl();
  explicit ImplGuard(GemmImpl i) { nabla::backend::cpu::set_gemm_impl(i); }
  ~ImplGuard() { nabla::backend::cpu::set_gemm_impl(saved); }
};

struct ThreadGuard {
  int saved = nb::get_num_threads();
  ~ThreadGuard() { nb::set_num_threads(saved); }
};

// [m, k] (or its transpose's view) times [k, n] (or a transpose's view) in f32, against f64.
void check_matmul(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const std::string& what) {
  Tensor a = ta ? nb::randn({k, m}).t() : nb::randn({m, k});
  Tensor b = tb ? nb::randn({n, k}).t() : nb::randn({k, n});
  Tensor got = nb::matmul(a, b);
  Tensor want = nb::matmul(a.to(nb::DType::f64), b.to(nb::DType::f64));
  expect_close(got, want, 2e-5 * std::sqrt(double(k)), what);
}

TEST(Gemm, AllTransposesEachImplementation) {
  nb::manual_seed(3);
  for (GemmImpl impl : {GemmImpl::Auto, GemmImpl::Blas, GemmImpl::OneDnn}) {
    ImplGuard g(impl);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const std::string tag = "impl " + std::to_string(int(impl)) + " ta " + std::to_string(ta) + " tb " +
                                std::to_string(tb);
        check_matmul(70, 90, 100, ta, tb, tag + " 70x90x100");
        check_matmul(1, 300, 1000, ta, tb, tag + " 1x300x1000");
        check_matmul(3, 5, 7, ta, tb, tag + " 3x5x7");
        check_matmul(128, 10, 256, ta, tb, tag + " 128x10x256");
      }
  }
}

TEST(Gemm, MlpShapes) {
  nb::manual_seed(4);
  // Forward x·Wᵀ, weight gradient gᵀ·x, input gradient g·W of 784-512-256-10 at batch 128.
  const int64_t sizes[] = {784, 512, 256, 10};
  for (int l = 0; l < 3; ++l) {
    const int64_t in = sizes[l], out = sizes[l + 1];
    check_matmul(128, out, in, false, true, "forward layer " + std::to_string(l));
    check_matmul(out, in, 128, true, false, "weight grad layer " + std::to_string(l));
    check_matmul(128, in, out, false, false, "input grad layer " + std::to_string(l));
  }
}

TEST(Gemm, Batched) {
  nb::manual_seed(5);
  Tensor a = nb::randn({3, 64, 80}), b = nb::randn({3, 80, 96});
  expect_close(nb::matmul(a, b), nb::matmul(a.to(nb::DType::f64), b.to(nb::DType::f64)), 2e-4, "batched");
  Tensor bt = nb::randn({3, 96, 80}).transpose(1, 2);
  expect_close(nb::matmul(a, bt), nb::matmul(a.to(nb::DType::f64), bt.to(nb::DType::f64)), 2e-4, "batched, B^T");
}

TEST(Gemm, LinearFusedBiasAndReluF32) {
  nb::manual_seed(6);
  for (GemmImpl impl : {GemmImpl::Auto, GemmImpl::Blas, GemmImpl::OneDnn}) {
    ImplGuard g(impl);
    Tensor x = nb::randn({128, 784}), w = nb::randn({512, 784}) * 0.05, b = nb::randn({512});
    Tensor x64 = x.to(nb::DType::f64), w64 = w.to(nb::DType::f64), b64 = b.to(nb::DType::f64);
    expect_close(nb::linear(x, w, b), nb::linear(x64, w64, b64), 1e-4, "linear + bias");
    expect_close(nb::linear_relu(x, w, b), nb::relu(nb::linear(x64, w64, b64)), 1e-4, "linear_relu + bias");
    expect_close(nb::linear_relu(x, w), nb::relu(nb::linear(x64, w64)), 1e-4, "linear_relu, no bias");
    // A transposed (non-contiguous) weight view goes to the GEMM as a transpose.
    Tensor wt = nb::randn({784, 512}).t() * 0.05;
    expect_close(nb::linear_relu(x, wt, b), nb::relu(nb::linear(x64, wt.to(nb::DType::f64), b64)), 1e-4,
                 "linear_relu, transposed weight");
  }
}

TEST(Gemm, BetaZeroIgnoresNanInOutput) {
  const int64_t m = 64, n = 64, k = 128;  // 2^19 FMAs: the oneDNN path where built
  std::vector<float> a(size_t(m * k), 0.5f), b(size_t(k * n), 0.25f);
  for (GemmImpl impl : {GemmImpl::Auto, GemmImpl::Blas, GemmImpl::OneDnn}) {
    ImplGuard g(impl);
    std::vector<float> c(size_t(m * n), std::numeric_limits<float>::quiet_NaN());
    nabla::backend::cpu::gemm(nb::DType::f32, {.trans_a = false, .trans_b = false, .m = m, .n = n, .k = k, .alpha = 1,
                                               .beta = 0, .a = a.data(), .lda = k, .stride_a = 0, .b = b.data(),
                                               .ldb = n, .stride_b = 0, .c = c.data(), .ldc = n, .stride_c = 0,
                                               .batch = 1});
    for (float v : c) ASSERT_EQ(v, 0.5f * 0.25f * float(k)) << int(impl);
    // beta = 1 accumulates (a sum post-op for oneDNN).
    std::vector<float> c1(size_t(m * n), 1.0f);
    nabla::backend::cpu::gemm(nb::DType::f32, {.trans_a = false, .trans_b = false, .m = m, .n = n, .k = k, .alpha = 1,
                                               .beta = 1, .a = a.data(), .lda = k, .stride_a = 0, .b = b.data(),
                                               .ldb = n, .stride_b = 0, .c = c1.data(), .ldc = n, .stride_c = 0,
                                               .batch = 1});
    for (float v : c1) ASSERT_EQ(v, 1.0f + 0.5f * 0.25f * float(k)) << int(impl);
  }
}

// The MLP's GEMMs (and its fused forward) give the same bits at 1 and 2 threads under the default
// choice. (OpenBLAS alone does not promise this: its 128x512x784 x·Wᵀ differs between 1 and 2
// threads, so the check runs only where the oneDNN path is built.)
TEST(Gemm, MlpResultsIndependentOfThreadCount) {
  if (!nabla::backend::cpu::gemm_onednn_built()) GTEST_SKIP() << "built without the oneDNN GEMM";
  ThreadGuard tg;
  nb::manual_seed(7);
  Tensor x = nb::randn({128, 784}), w1 = nb::randn({512, 784}) * 0.05, b1 = nb::randn({512});
  Tensor g = nb::randn({128, 512});
  std::vector<std::vector<float>> runs[2];
  for (int t = 1; t <= 2; ++t) {
    nb::set_num_threads(t);
    auto& r = runs[t - 1];
    r.push_back(nb::linear_relu(x, w1, b1).to_vector<float>());
    r.push_back(nb::matmul(g.t(), x).to_vector<float>());
    r.push_back(nb::matmul(g, w1).to_vector<float>());
  }
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_EQ(runs[0][i], runs[1][i]) << "result " << i;
}

// Long-k GEMMs with A read transposed into few columns run as fixed k-chunks (gemm.cpp): values
// against f64 with B plain and transposed, and through linear with a transposed input view (bias
// in the composed form: GEMM with beta = 1) and a fused ReLU.
TEST(Gemm, LongKChunksMatchF64) {
  nb::manual_seed(9);
  const auto f64 = nb::DType::f64;
  Tensor g = nb::randn({5000, 10}), x = nb::randn({5000, 33});
  expect_close(nb::matmul(g.t(), x), nb::matmul(g.to(f64).t(), x.to(f64)), 2e-4, "A^T B, k 5000");
  Tensor ct = nb::randn({9, 5000});
  expect_close(nb::matmul(g.t(), ct.t()), nb::matmul(g.to(f64).t(), ct.to(f64).t()), 2e-4, "A^T B^T");
  Tensor at = nb::randn({4100, 7}), w = nb::randn({12, 4100}) * 0.02, b = nb::randn({12});
  Tensor a = at.t();  // [7, 4100], read transposed by the GEMM
  expect_close(nb::linear(a, w, b), nb::linear(a.to(f64), w.to(f64), b.to(f64)), 2e-4, "linear + bias");
  expect_close(nb::linear_relu(a, w, b), nb::relu(nb::linear(a.to(f64), w.to(f64), b.to(f64))), 2e-4,
               "linear_relu + bias");
}

// Shapes where oneDNN splits the k sum across threads (A read transposed, long k, few columns: a
// weight gradient over a large batch, up to a wide m), next to ones it does not: same bits at 1 and
// 2 threads.
TEST(Gemm, LongKResultsIndependentOfThreadCount) {
  if (!nabla::backend::cpu::gemm_onednn_built()) GTEST_SKIP() << "built without the oneDNN GEMM";
  ThreadGuard tg;
  nb::manual_seed(8);
  Tensor g = nb::randn({8192, 10}), x = nb::randn({8192, 64}), a = nb::randn({64, 4096}), b = nb::randn({4096, 96});
  Tensor wide = nb::randn({2048, 1024});
  Tensor sq = nb::randn({256, 256}), p = nb::randn({3000, 300}), q = nb::randn({300, 3000});
  std::vector<std::vector<float>> runs[2];
  for (int t = 1; t <= 2; ++t) {
    nb::set_num_threads(t);
    auto& r = runs[t - 1];
    r.push_back(nb::matmul(g.t(), x).to_vector<float>());
    r.push_back(nb::matmul(a, b).to_vector<float>());
    r.push_back(nb::matmul(sq, sq).to_vector<float>());
    r.push_back(nb::matmul(p.t(), q.t()).to_vector<float>());  // both transposed, k 3000, 300x300 output
    r.push_back(nb::matmul(g.t(), x.narrow(1, 0, 63)).to_vector<float>());  // k 8192, odd n
    r.push_back(nb::matmul(wide.t(), x.narrow(0, 0, 2048)).to_vector<float>());  // m 1024: m·n 65536
  }
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_EQ(runs[0][i], runs[1][i]) << "result " << i;
}

}  // namespace
