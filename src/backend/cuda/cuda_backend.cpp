// The CUDA backend object: forwards each kernel to cuda::* (kernels.h) and memory to the
// device caching allocator (memory.h). Installed at start-up by install() when a GPU is present.
#include "../device_backend.h"
#include "kernels.h"
#include "memory.h"
#include "options.h"
#include "runtime.h"

namespace nabla::backend {
namespace {

class CudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::cuda; }
  int device_count() const override { return cuda::device_count(); }

  void* allocate(size_t nbytes, int index) override { return cuda::device_alloc(nbytes, index); }
  void deallocate(void* p, size_t nbytes, int index) override { cuda::device_free(p, nbytes, index); }
  MemoryStats memory_stats(int index) const override { return cuda::device_memory_stats(index); }
  void empty_cache(int index) override { cuda::device_empty_cache(index); }
  void reset_peak_memory_stats(int index) override { cuda::device_reset_peak(index); }
  void copy_from_host(void* dst, const void* src, size_t n, int index) override {
    cuda::copy_from_host(dst, src, n, index);
  }
  void copy_to_host(void* dst, const void* src, size_t n, int index) override { cuda::copy_to_host(dst, src, n, index); }
  void synchronize(int index) override { cuda::synchronize(index); }
  void set_profiler_collecting(bool on) override { cuda::set_profiler_collecting(on); }

  void* allocate_pinned(size_t nbytes) override { return cuda::pinned_alloc(nbytes); }
  void free_pinned(void* p, size_t) override { cuda::pinned_free(p); }
  bool is_pinned(const void* p) const override { return cuda::is_pinned(p); }
  MemoryStats pinned_memory_stats() const override { return cuda::pinned_memory_stats(); }
  void* upload_async(const void* src, size_t n, int index) override { return cuda::upload_async(src, n, index); }
  void set_allow_tf32(bool on) override { cuda::set_allow_tf32(on); }
  void set_conv_algorithm_search(bool benchmark, bool deterministic) override {
    cuda::set_conv_algorithm_search(benchmark, deterministic);
  }

  void unary(UnaryOp op, DType dt, Geometry g, Operand out, Operand in, double a, double b) override {
    cuda::unary(op, dt, g, out, in, a, b);
  }
  void binary(BinaryOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) override {
    cuda::binary(op, dt, g, out, x, y);
  }
  void compare(CompareOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) override {
    cuda::compare(op, dt, g, out, x, y);
  }
  void where(DType dt, Geometry g, Operand out, Operand c, Operand x, Operand y) override {
    cuda::where(dt, g, out, c, x, y);
  }
  void copy(DType odt, DType idt, Geometry g, Operand out, Operand in) override { cuda::copy(odt, idt, g, out, in); }
  void fill(DType dt, void* out, int64_t n, double v) override { cuda::fill(dt, out, n, v); }
  void axpy(DType dt, int64_t n, double alpha, const void* x, void* y) override { cuda::axpy(dt, n, alpha, x, y); }

  void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t o, int64_t r, int64_t i) override {
    cuda::reduce(op, dt, in, out, o, r, i);
  }
  void arg_reduce(bool mx, DType dt, const void* in, int64_t* out, int64_t o, int64_t r, int64_t i) override {
    cuda::arg_reduce(mx, dt, in, out, o, r, i);
  }
  bool all_finite(DType dt, const void* in, int64_t n) override { return cuda::all_finite(dt, in, n); }
  bool has_softmax_rows() const override { return true; }
  void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n) override {
    cuda::softmax_rows(log, dt, in, out, rows, n);
  }

  void gemm(DType dt, const GemmArgs& a) override { cuda::gemm(dt, a); }
  void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t off, double lo, double hi) override {
    cuda::rand_uniform(dt, out, n, seed, off, lo, hi);
  }
  void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t off, double m, double s) override {
    cuda::rand_normal(dt, out, n, seed, off, m, s);
  }
  void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t off, int64_t lo, int64_t hi) override {
    cuda::rand_int(out, n, seed, off, lo, hi);
  }
  void check_indices(const int64_t* idx, int64_t n, const IndexRange& r, const IndexErrorMessage& m,
                     int device) override {
    cuda::check_indices(idx, n, r, m, device);
  }
  void class_nll(const ClassNll& a, void* out, void* kept) override { cuda::class_nll(a, out, kept); }
  void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx) override {
    cuda::class_nll_backward(a, g, kept, gx);
  }
  void index_select(DType dt, const void* in, void* out, const int64_t* idx, int64_t ni, int64_t o, int64_t n,
                    int64_t i) override {
    cuda::index_select(dt, in, out, idx, ni, o, n, i);
  }
  void index_add(DType dt, void* out, const void* src, const int64_t* idx, int64_t ni, int64_t o, int64_t n,
                 int64_t i) override {
    cuda::index_add(dt, out, src, idx, ni, o, n, i);
  }
  void gather(DType dt, const void* in, void* out, const int64_t* idx, int64_t o, int64_t n, int64_t ni,
              int64_t i) override {
    cuda::gather(dt, in, out, idx, o, n, ni, i);
  }
  void scatter_add(DType dt, void* out, const void* src, const int64_t* idx, int64_t o, int64_t n, int64_t ni,
                   int64_t i) override {
    cuda::scatter_add(dt, out, src, idx, o, n, ni, i);
  }

  void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* b, void* out) override {
    cuda::conv2d_forward(dt, g, x, w, b, out);
  }
  void conv2d_input_grad(DType dt, const ConvGeom& g, const void* go, const void* w, void* gx) override {
    cuda::conv2d_input_grad(dt, g, go, w, gx);
  }
  void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* go, void* gw) override {
    cuda::conv2d_weight_grad(dt, g, x, go, gw);
  }
  void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* go, void* gb) override {
    cuda::conv2d_bias_grad(dt, g, go, gb);
  }
  void max_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out, int64_t* idx) override {
    cuda::max_pool2d_forward(dt, g, x, out, idx);
  }
  void max_pool2d_backward(DType dt, const PoolGeom& g, const void* go, const int64_t* idx, void* gx) override {
    cuda::max_pool2d_backward(dt, g, go, idx, gx);
  }
  void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out) override {
    cuda::avg_pool2d_forward(dt, g, x, out);
  }
  void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* go, void* gx) override {
    cuda::avg_pool2d_backward(dt, g, go, gx);
  }
  void adaptive_avg_pool2d_forward(DType dt, int64_t p, int64_t H, int64_t W, int64_t Ho, int64_t Wo, const void* x,
                                   void* out) override {
    cuda::adaptive_avg_pool2d_forward(dt, p, H, W, Ho, Wo, x, out);
  }
  void adaptive_avg_pool2d_backward(DType dt, int64_t p, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                    const void* go, void* gx) override {
    cuda::adaptive_avg_pool2d_backward(dt, p, H, W, Ho, Wo, go, gx);
  }
  void batch_norm_stats(const BatchNormStats& a) override { cuda::batch_norm_stats(a); }
  void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* go, const double* m,
                           const double* rs, const void* w, void* gx, void* gw, void* gb) override {
    cuda::batch_norm_backward(dt, N, C, S, x, go, m, rs, w, gx, gw, gb);
  }
  void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* sc, const double* sh,
                      void* y) override {
    cuda::channel_affine(dt, N, C, S, x, sc, sh, y);
  }  bool has_norm_input_grad() const override { return true; }
  void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* g, const void* x, const double* a,
                       const double* m, const double* b, const double* k, void* gx) override {
    cuda::norm_input_grad(dt, N, C, S, g, x, a, m, b, k, gx);
  }

  void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* x, const void* w, const void* b, double eps,
                          void* y, void* mean, void* rstd) override {
    cuda::layer_norm_forward(dt, rows, D, x, w, b, eps, y, mean, rstd);
  }

  void optim_update(OptimAlgo algo, DType dt, const OptimSlot* s, int64_t n, const OptimHyper& h) override {
    cuda::optim_update(algo, dt, s, n, h);
  }
  double multi_abs_pow_sum(DType dt, const void* const* d, const int64_t* n, int64_t c, double p) override {
    return cuda::multi_abs_pow_sum(dt, d, n, c, p);
  }
  void multi_scale(DType dt, void* const* d, const int64_t* n, int64_t c, double f) override {
    cuda::multi_scale(dt, d, n, c, f);
  }
  void multi_clamp(DType dt, void* const* d, const int64_t* n, int64_t c, double lo, double hi) override {
    cuda::multi_clamp(dt, d, n, c, lo, hi);
  }
};

}  // namespace

namespace cuda {
bool install() {
  static CudaBackend b;
  if (device_count() <= 0) return false;
  register_device_backend(&b, DeviceType::cuda);
  return true;
}
}  // namespace cuda

}  // namespace nabla::backend
