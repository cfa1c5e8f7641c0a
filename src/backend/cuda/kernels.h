// CUDA kernels: the same free-function interface as the CPU backend (../backend.h,
// ../conv_kernels.h, ../optim_kernels.h), over device pointers. Every launch goes on the
// current compute stream (runtime.h); nothing here synchronizes unless it returns a value
// to the host. Compiled only when the CUDA toolkit is present (NABLA_HAS_CUDA).
#pragma once
#include "../backend.h"
#include "../conv_kernels.h"
#include "../index_checks.h"
#include "../optim_kernels.h"

namespace nabla::backend::cuda {

// elementwise.cu
void unary(UnaryOp op, DType dt, Geometry g, Operand out, Operand in, double a, double b);
void binary(BinaryOp op, DType dt, Geometry g, Operand out, Operand x, Operand y);
void compare(CompareOp op, DType dt, Geometry g, Operand out, Operand x, Operand y);
void where(DType dt, Geometry g, Operand out, Operand cond, Operand x, Operand y);
void copy(DType out_dt, DType in_dt, Geometry g, Operand out, Operand in);
void fill(DType dt, void* out, int64_t n, double value);
void axpy(DType dt, int64_t n, double alpha, const void* x, void* y);

// reduce.cu
void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t outer, int64_t r, int64_t inner);
void arg_reduce(bool is_max, DType dt, const void* in, int64_t* out, int64_t outer, int64_t r, int64_t inner);
bool all_finite(DType dt, const void* in, int64_t n);

// softmax.cu
void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n);

// loss.cu (../class_nll.h)
void class_nll(const ClassNll& a, void* out, void* kept);
void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx);

// index_check.cu: index ranges checked on the device, reported by settle_index_checks (memory.h).
void check_indices(const int64_t* index, int64_t n, const IndexRange& range, const IndexErrorMessage& message,
                   int device);

// random.cu: the same Philox4x32-10 numbers as the CPU kernels for a (seed, offset).
void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);
void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, int64_t hi);

// index.cu (an index out of range, reported by check_indices, is skipped: gathers write 0)
void index_select(DType dt, const void* in, void* out, const int64_t* index, int64_t n_index, int64_t outer,
                  int64_t n_in, int64_t inner);
void index_add(DType dt, void* out, const void* src, const int64_t* index, int64_t n_index, int64_t outer,
               int64_t n_out, int64_t inner);
void gather(DType dt, const void* in, void* out, const int64_t* index, int64_t outer, int64_t n_in, int64_t n_idx,
            int64_t inner);
void scatter_add(DType dt, void* out, const void* src, const int64_t* index, int64_t outer, int64_t n_out,
                 int64_t n_idx, int64_t inner);

// gemm.cpp (cuBLAS; TF32 only when enabled, see runtime.h)
void gemm(DType dt, const GemmArgs& args);

// conv.cpp (cuDNN)
void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out);
void conv2d_input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx);
void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw);
// pool.cu (with the pooling kernels: one pass over NCHW planes)
void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* gout, void* gb);

// pool.cu
void max_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out, int64_t* indices);
void max_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, const int64_t* indices, void* gx);
void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out);
void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, void* gx);
void adaptive_avg_pool2d_forward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                 const void* x, void* out);
void adaptive_avg_pool2d_backward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                  const void* gout, void* gx);

// norm.cu (mean/var, scale/shift: f64 device arrays of C values)
void batch_norm_stats(const BatchNormStats& a);
void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* gout,
                         const double* mean, const double* rstd, const void* weight, void* gx, void* gw,
                         void* gb);
void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* scale,
                    const double* shift, void* y);
void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* g, const void* x, const double* a,
                     const double* m, const double* b, const double* k, void* gx);
void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* x, const void* w, const void* b, double eps,
                        void* y, void* mean, void* rstd);

// optim.cu: one multi-tensor launch per call (slot and pointer arrays are host arrays).
void optim_update(OptimAlgo algo, DType dt, const OptimSlot* slots, int64_t count, const OptimHyper& h);
double multi_abs_pow_sum(DType dt, const void* const* data, const int64_t* n, int64_t count, double p);
void multi_scale(DType dt, void* const* data, const int64_t* n, int64_t count, double factor);
void multi_clamp(DType dt, void* const* data, const int64_t* n, int64_t count, double lo, double hi);

}  // namespace nabla::backend::cuda
