// GEMM through CBLAS (OpenBLAS, OpenMP build: shares our thread pool). With NABLA_GEMM_ONEDNN,
// f32 GEMM goes to oneDNN's dnnl_sgemm instead (row-major, same argument meaning; its OpenMP
// runtime is the same pool).
#include <cblas.h>
#ifdef NABLA_GEMM_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include "../backend.h"

namespace nabla::backend::cpu {

void gemm(DType dt, const GemmArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < g.batch; ++i) {
    if (dt == DType::f32) {
#ifdef NABLA_GEMM_ONEDNN
      const dnnl_status_t st =
          dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.m, g.n, g.k, float(g.alpha),
                     static_cast<const float*>(g.a) + i * g.stride_a, g.lda,
                     static_cast<const float*>(g.b) + i * g.stride_b, g.ldb, float(g.beta),
                     static_cast<float*>(g.c) + i * g.stride_c, g.ldc);
      if (st != dnnl_success)
        fail("[matmul] oneDNN sgemm failed (status ", int(st), ") for m=", g.m, " n=", g.n, " k=", g.k, " lda=", g.lda,
             " ldb=", g.ldb, " ldc=", g.ldc);
#else
      cblas_sgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), float(g.alpha),
                  static_cast<const float*>(g.a) + i * g.stride_a, int(g.lda),
                  static_cast<const float*>(g.b) + i * g.stride_b, int(g.ldb), float(g.beta),
                  static_cast<float*>(g.c) + i * g.stride_c, int(g.ldc));
#endif
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
