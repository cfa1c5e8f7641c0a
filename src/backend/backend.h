// The kernel interface: plain functions over raw pointers, sizes and strides. No autograd,
// no shape policy (ops/ has checked everything before calling). Strides are in elements.
#pragma once
#include <cstdint>

#include "class_nll.h"
#include "kernels/elementwise_ops.h"
#include "nabla/dtype.h"

namespace nabla::backend {

/// One operand of an element-wise kernel: data pointer and strides over the output shape
/// (stride 0 on broadcast dimensions).
struct Operand {
  void* data;
  const int64_t* strides;
};

struct Geometry {
  int ndim;
  const int64_t* shape;  // output shape
};

enum class ReduceOp { Sum, Max, Min, Prod };

/// C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] for `batch` matrices; row-major, leading
/// dimensions lda/ldb/ldc, batch strides in elements.
struct GemmArgs {
  bool trans_a, trans_b;
  int64_t m, n, k;
  double alpha, beta;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  void* c;
  int64_t ldc, stride_c;
  int64_t batch;
};

namespace cpu {

void unary(UnaryOp op, DType dt, Geometry g, Operand out, Operand in, double a = 0, double b = 0);
void binary(BinaryOp op, DType dt, Geometry g, Operand out, Operand x, Operand y);
/// Writes 1/0 as u8.
void compare(CompareOp op, DType dt, Geometry g, Operand out, Operand x, Operand y);
/// out = cond ? x : y, with cond u8.
void where(DType dt, Geometry g, Operand out, Operand cond, Operand x, Operand y);
/// Strided copy with dtype conversion.
void copy(DType out_dt, DType in_dt, Geometry g, Operand out, Operand in);
void fill(DType dt, void* out, int64_t n, double value);
/// y[i] += alpha * x[i] over n contiguous elements of a floating dtype (fused add_(x, alpha),
/// the SGD update): one pass, no temporary.
void axpy(DType dt, int64_t n, double alpha, const void* x, void* y);

/// Reduces a contiguous [outer, r, inner] array over its middle axis into [outer, inner].
/// Sums of f32 accumulate in f64.
void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t outer, int64_t r, int64_t inner);
/// Index (i64) of the max/min along the middle axis of [outer, r, inner]; first on ties.
void arg_reduce(bool is_max, DType dt, const void* in, int64_t* out, int64_t outer, int64_t r, int64_t inner);
/// out[r, :] = softmax(in[r, :]) (log_softmax when `log`) for `rows` contiguous rows of `n` elements.
void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n);
/// cross_entropy / nll_loss over class targets (class_nll.h; Backend::class_nll).
void class_nll(const ClassNll& a, void* out, void* kept);
void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx);
/// True when every element is finite (float types).
bool all_finite(DType dt, const void* in, int64_t n);

void gemm(DType dt, const GemmArgs& args);
/// linear's forward as one oneDNN matmul with bias, then ReLU: C = relu?(op(A)·op(B) + bias).
/// Runs only for f32, batch 1, beta 0 and sizes where oneDNN is picked; returns false (C untouched)
/// otherwise, and the caller composes it (Backend::gemm_bias_relu's default).
bool gemm_bias_relu_fused(DType dt, const GemmArgs& args, const void* bias, bool relu);

/// Uniform [lo, hi) / normal(mean, std) from Philox blocks starting at `offset` under `seed`.
void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);
/// Integers in [lo, hi) (i64).
void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi);

/// out[o, j, i] = in[o, index[j], i] for contiguous [outer, n_in, inner] input.
void index_select(DType dt, const void* in, void* out, const int64_t* index, int64_t n_index, int64_t outer,
                  int64_t n_in, int64_t inner);
/// out[o, index[j], i] += src[o, j, i] (sequential, so duplicates accumulate).
void index_add(DType dt, void* out, const void* src, const int64_t* index, int64_t n_index, int64_t outer,
               int64_t n_out, int64_t inner);
/// Gather/scatter-add along the middle axis with a full index tensor shaped [outer, n_idx, inner].
void gather(DType dt, const void* in, void* out, const int64_t* index, int64_t outer, int64_t n_in, int64_t n_idx,
            int64_t inner);
void scatter_add(DType dt, void* out, const void* src, const int64_t* index, int64_t outer, int64_t n_out,
                 int64_t n_idx, int64_t inner);

}  // namespace cpu
}  // namespace nabla::backend
