// Internal to the CPU backend (and bench_vs_libtorch): which library runs f32 GEMM.
// gemm.cpp picks per call from measurements (bench/README.md, issue-3 MLP); benchmarks may force one.
#pragma once
#include "../backend.h"

namespace nabla::backend::cpu {

enum class GemmImpl {
  Auto,    ///< the measured choice (default): oneDNN matmul primitives for f32 GEMMs of >= 2^18 FMAs,
           ///< long-k GEMMs into small outputs in fixed k-chunks (thread-count independent)
  Blas,    ///< CBLAS (OpenBLAS) for every call
  OneDnn,  ///< oneDNN matmul primitives for every f32 call they can take (NABLA_GEMM_ONEDNN builds only)
};

/// Forces an implementation for f32 GEMM (benchmarks only; not thread-safe).
void set_gemm_impl(GemmImpl impl);
GemmImpl get_gemm_impl();
/// Whether this build has the oneDNN GEMM path.
bool gemm_onednn_built();

namespace onednn {
/// C = op(A)·op(B) (+ C when beta == 1) (+ bias[j] on every row) for one f32 matrix
/// (batch element `i` of `g`, pointers already offset). Returns false and does nothing when the
/// primitive cannot take the case (alpha != 1, beta not 0/1, inside an OpenMP parallel region,
/// build without oneDNN); the caller then uses BLAS. Primitives are cached per shape, transposes,
/// leading dimensions, epilogue and thread count (per calling thread): a steady training step
/// only sets data pointers and executes.
bool sgemm(const GemmArgs& g, const float* a, const float* b, float* c, const float* bias);
/// The same for one 16-bit matrix (dt f16 or bf16; A, B and C all of dt, no bias): oneDNN
/// accumulates in f32 and rounds C once. False where the primitive is unavailable (oneDNN 2.6
/// has f16 matmul only on AVX512_FP16 CPUs, bf16 from AVX512_CORE).
bool gemm16(DType dt, const GemmArgs& g, const void* a, const void* b, void* c);
}  // namespace onednn

}  // namespace nabla::backend::cpu
