// GEMM on the CPU. f64, and f32 calls that oneDNN does not take, go through CBLAS (OpenBLAS,
// OpenMP build: shares our thread pool). With NABLA_GEMM_ONEDNN (the default where libdnnl-dev is
// found), f32 GEMMs of at least 2^18 multiply-adds run as cached oneDNN matmul primitives
// (gemm_onednn.cpp), measured faster on the MLP's shapes and on square matmul (bench/README.md);
// smaller ones stay on BLAS, whose call overhead is lower (crossover between 96^3 and 128^3).
#include <cblas.h>

#include "../backend.h"
#include "gemm_impl.h"

namespace nabla::backend::cpu {

namespace {

GemmImpl g_impl = GemmImpl::Auto;

constexpr int64_t kOneDnnMinFma = int64_t(1) << 18;

bool want_onednn(const GemmArgs& g) {
  switch (g_impl) {
    case GemmImpl::Blas: return false;
    case GemmImpl::OneDnn: return true;
    case GemmImpl::Auto: break;
  }
  return g.m * g.n * g.k >= kOneDnnMinFma;
}

void blas_sgemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, int(g.m),
              int(g.n), int(g.k), float(g.alpha), a, int(g.lda), b, int(g.ldb), float(g.beta), c, int(g.ldc));
}

}  // namespace

void set_gemm_impl(GemmImpl impl) { g_impl = impl; }
GemmImpl get_gemm_impl() { return g_impl; }
bool gemm_onednn_built() {
#ifdef NABLA_GEMM_ONEDNN
  return true;
#else
  return false;
#endif
}

void gemm(DType dt, const GemmArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  if (dt == DType::f32) {
    const bool dnn = want_onednn(g);
    for (int64_t i = 0; i < g.batch; ++i) {
      const float* a = static_cast<const float*>(g.a) + i * g.stride_a;
      const float* b = static_cast<const float*>(g.b) + i * g.stride_b;
      float* c = static_cast<float*>(g.c) + i * g.stride_c;
      if (!dnn || !onednn::sgemm(g, a, b, c, nullptr, false)) blas_sgemm(g, a, b, c);
    }
  } else if (dt == DType::f64) {
    for (int64_t i = 0; i < g.batch; ++i)
      cblas_dgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), g.alpha,
                  static_cast<const double*>(g.a) + i * g.stride_a, int(g.lda),
                  static_cast<const double*>(g.b) + i * g.stride_b, int(g.ldb), g.beta,
                  static_cast<double*>(g.c) + i * g.stride_c, int(g.ldc));
  } else {
    fail("[matmul] expected f32 or f64 operands, got ", dt);
  }
}

bool gemm_bias_relu_fused(DType dt, const GemmArgs& g, const void* bias, bool relu) {
  return dt == DType::f32 && g.batch == 1 && g.beta == 0 && want_onednn(g) &&
         onednn::sgemm(g, static_cast<const float*>(g.a), static_cast<const float*>(g.b), static_cast<float*>(g.c),
                       static_cast<const float*>(bias), relu);
}

}  // namespace nabla::backend::cpu
