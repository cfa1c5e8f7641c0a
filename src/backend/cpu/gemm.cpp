// GEMM through CBLAS (OpenBLAS, OpenMP build: shares our thread pool).
#include <cblas.h>

#include "../backend.h"

namespace nabla::backend::cpu {

void gemm(DType dt, const GemmArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < g.batch; ++i) {
    if (dt == DType::f32) {
      cblas_sgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), float(g.alpha),
                  static_cast<const float*>(g.a) + i * g.stride_a, int(g.lda),
                  static_cast<const float*>(g.b) + i * g.stride_b, int(g.ldb), float(g.beta),
                  static_cast<float*>(g.c) + i * g.stride_c, int(g.ldc));
    } else if (dt == DType::f64) {
      cblas_dgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), g.alpha,
                  static_cast<const double*>(g.a) + i * g.stride_a, int(g.lda),
                  static_cast<const double*>(g.b) + i * g.stride_b, int(g.ldb), g.beta,
                  static_cast<double*>(g.c) + i * g.stride_c, int(g.ldc));
    } else {
      fail("[matmul] expected f32 or f64 operands, got ", dt);
    }
  }
}

}  // namespace nabla::backend::cpu
