// GEMM through cuBLAS. GemmArgs are row-major; cuBLAS is column-major, and a row-major matrix
// is the column-major view of its transpose, so C = op(A) op(B) is computed as
// Cᵀ = op(B)ᵀ op(A)ᵀ: the operands swap places and m, n swap, the flags and leading
// dimensions carry over unchanged. One strided-batched call covers every batch (stride 0
// broadcasts an operand). f32 uses TF32 tensor cores only when allow_tf32() (options.h). f16
// and bf16 go through cublasGemmStridedBatchedEx with float accumulation (CUBLAS_COMPUTE_32F,
// float alpha and beta) on the tensor cores, C rounded once to 16 bits, as PyTorch's matmul;
// reduced-precision split-K reductions are disallowed, so no partial sum is kept in 16 bits.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "cublas_api.h"
#include "kernels.h"
#include "options.h"
#include "runtime.h"

namespace nabla::backend::cuda {
namespace {

void check(cublasStatus_t st, const char* call, const GemmArgs& g) {
  if (st != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    fail("[matmul] cuBLAS ", call, " failed: ", cublas().status_string(st), " (m=", g.m, " n=", g.n, " k=", g.k,
         " lda=", g.lda, " ldb=", g.ldb, " ldc=", g.ldc, " batch=", g.batch, ")");
}

// One handle per (thread, device), since a cuBLAS handle must not be used by two threads at
// once; each is bound to the device's compute stream. The stream and math mode are re-set
// only when they change.
struct HandleState {
  cublasHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

cublasHandle_t handle_for(DType dt, const GemmArgs& g) {
  thread_local std::vector<HandleState> states;  // never destroyed: see scratch.h
  int dev = 0;
  NB_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev >= int(states.size())) states.resize(size_t(dev) + 1);
  HandleState& s = states[size_t(dev)];
  if (s.handle == nullptr) {
    check(cublas().create(&s.handle), "cublasCreate", g);
    check(cublas().set_math_mode(s.handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode", g);
  }
  cudaStream_t stream = compute_stream();
  if (s.stream != stream) {
    check(cublas().set_stream(s.handle, stream), "cublasSetStream", g);
    s.stream = stream;
  }
  // CUBLAS_DEFAULT_MATH keeps f32 in f32 (no TF32); f64 is unaffected by the mode; the 16-bit
  // types use tensor cores under it, and the flag keeps their reductions in float.
  const cublasMath_t math = dt == DType::f32 && allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH
                            : is_half(dt) ? cublasMath_t(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)
                                          : CUBLAS_DEFAULT_MATH;
  if (s.math != math) {
    check(cublas().set_math_mode(s.handle, math), "cublasSetMathMode", g);
    s.math = math;
  }
  return s.handle;
}

// cuBLAS insists on ld >= max(1, rows of the column-major view) even where the leading
// dimension is never used (a single row-major row); CBLAS callers may pass less there.
int64_t fix_ld(int64_t ld, int64_t rm_rows, int64_t rm_cols) {
  return rm_rows <= 1 ? std::max<int64_t>({ld, rm_cols, 1}) : ld;
}

template <typename T>
void gemm_typed(cublasHandle_t h, const GemmArgs& g, int64_t batch, int64_t off_a, int64_t off_b, int64_t off_c) {
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // first operand: B
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // second operand: A
  // Row-major shapes as stored: A is [m, k] (or [k, m] transposed), B is [k, n] (or [n, k]).
  const int64_t lda = g.trans_a ? fix_ld(g.lda, g.k, g.m) : fix_ld(g.lda, g.m, g.k);
  const int64_t ldb = g.trans_b ? fix_ld(g.ldb, g.n, g.k) : fix_ld(g.ldb, g.k, g.n);
  const int64_t ldc = fix_ld(g.ldc, g.m, g.n);
  const T* a = static_cast<const T*>(g.a) + off_a;
  const T* b = static_cast<const T*>(g.b) + off_b;
  T* c = static_cast<T*>(g.c) + off_c;
  if constexpr (is_half_v<T>) {
    const float alpha = float(g.alpha), beta = float(g.beta);  // CUBLAS_COMPUTE_32F takes float scalars
    const cudaDataType_t t = std::is_same_v<T, Half> ? CUDA_R_16F : CUDA_R_16BF;
    check(cublas().gemm_strided_batched_ex(h, op_b, op_a, g.n, g.m, g.k, &alpha, b, t, ldb, g.stride_b, a, t, lda,
                                         g.stride_a, &beta, c, t, ldc, g.stride_c, batch, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx_64", g);
  } else if constexpr (std::is_same_v<T, float>) {
    const T alpha = T(g.alpha), beta = T(g.beta);
    check(cublas().sgemm_strided_batched(h, op_b, op_a, g.n, g.m, g.k, &alpha, b, ldb, g.stride_b, a, lda, g.stride_a,
                                       &beta, c, ldc, g.stride_c, batch),
          "cublasSgemmStridedBatched_64", g);
  } else {
    const T alpha = T(g.alpha), beta = T(g.beta);
    check(cublas().dgemm_strided_batched(h, op_b, op_a, g.n, g.m, g.k, &alpha, b, ldb, g.stride_b, a, lda, g.stride_a,
                                       &beta, c, ldc, g.stride_c, batch),
          "cublasDgemmStridedBatched_64", g);
  }
}

template <typename T>
void run(cublasHandle_t h, const GemmArgs& g) {
  if (g.stride_c != 0 || g.batch == 1) return gemm_typed<T>(h, g, g.batch, 0, 0, 0);
  // Every batch writes the same C (the CPU loop accumulates batch after batch): one call per
  // batch on the stream keeps that order instead of racing inside one batched call.
  for (int64_t i = 0; i < g.batch; ++i) gemm_typed<T>(h, g, 1, i * g.stride_a, i * g.stride_b, 0);
}

}  // namespace

void gemm(DType dt, const GemmArgs& g) {
  if (!is_floating(dt)) fail("[matmul] expected f16, bf16, f32 or f64 operands, got ", dt);
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;  // empty C: nothing to write
  cublasHandle_t h = handle_for(dt, g);
  // k == 0 is left to cuBLAS, which (as BLAS) then computes C = beta * C.
  NB_DISPATCH_FLOAT_AND_HALF(dt, "matmul", [&] { run<scalar_t>(h, g); });
}

}  // namespace nabla::backend::cuda
