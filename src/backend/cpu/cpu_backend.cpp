// The CPU backend object: forwards each virtual to the free kernel functions in this folder,
// and memory to the caching allocator in core.
#include <cstring>

#include "../device_backend.h"
#include "conv_impl.h"

namespace nabla::backend {
namespace {

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::cpu; }

  void* allocate(size_t nbytes, int) override { return detail::cpu_alloc(nbytes); }
  void deallocate(void* p, size_t nbytes, int) override { detail::cpu_free(p, nbytes); }
  MemoryStats memory_stats(int) const override { return nabla::memory_stats(); }
  void empty_cache(int) override { nabla::empty_cache(); }
  void reset_peak_memory_stats(int) override { nabla::reset_peak_memory_stats(); }
  void copy_from_host(void* dst, const void* src, size_t n, int) override {
    if (n) std::memcpy(dst, src, n);
  }
  void copy_to_host(void* dst, const void* src, size_t n, int) override {
    if (n) std::memcpy(dst, src, n);
  }

  void unary(UnaryOp op, DType dt, Geometry g, Operand out, Operand in, double a, double b) override {
    cpu::unary(op, dt, g, out, in, a, b);
  }
  void binary(BinaryOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) override {
    cpu::binary(op, dt, g, out, x, y);
  }
  void compare(CompareOp op, DType dt, Geometry g, Operand out, Operand x, Operand y) override {
    cpu::compare(op, dt, g, out, x, y);
  }
  void where(DType dt, Geometry g, Operand out, Operand c, Operand x, Operand y) override {
    cpu::where(dt, g, out, c, x, y);
  }
  void copy(DType odt, DType idt, Geometry g, Operand out, Operand in) override { cpu::copy(odt, idt, g, out, in); }
  void fill(DType dt, void* out, int64_t n, double v) override { cpu::fill(dt, out, n, v); }
  void axpy(DType dt, int64_t n, double alpha, const void* x, void* y) override { cpu::axpy(dt, n, alpha, x, y); }

  void reduce(ReduceOp op, DType dt, const void* in, void* out, int64_t o, int64_t r, int64_t i) override {
    cpu::reduce(op, dt, in, out, o, r, i);
  }
  void arg_reduce(bool mx, DType dt, const void* in, int64_t* out, int64_t o, int64_t r, int64_t i) override {
    cpu::arg_reduce(mx, dt, in, out, o, r, i);
  }
  bool all_finite(DType dt, const void* in, int64_t n) override { return cpu::all_finite(dt, in, n); }
  void class_nll(const ClassNll& a, void* out, void* kept) override { cpu::class_nll(a, out, kept); }
  void class_nll_backward(const ClassNll& a, const void* g, const void* kept, void* gx) override {
    cpu::class_nll_backward(a, g, kept, gx);
  }
  bool has_softmax_rows() const override { return true; }
  void softmax_rows(bool log, DType dt, const void* in, void* out, int64_t rows, int64_t n) override {
    cpu::softmax_rows(log, dt, in, out, rows, n);
  }

  void gemm(DType dt, const GemmArgs& a) override { cpu::gemm(dt, a); }
  void gemm_bias_relu(DType dt, const GemmArgs& a, const void* bias, bool relu) override {
    if (!cpu::gemm_bias_relu_fused(dt, a, bias, relu)) Backend::gemm_bias_relu(dt, a, bias, relu);
  }
  void rand_uniform(DType dt, void* out, int64_t n, uint64_t seed, uint64_t off, double lo, double hi) override {
    cpu::rand_uniform(dt, out, n, seed, off, lo, hi);
  }
  void rand_normal(DType dt, void* out, int64_t n, uint64_t seed, uint64_t off, double m, double s) override {
    cpu::rand_normal(dt, out, n, seed, off, m, s);
  }
  void rand_int(int64_t* out, int64_t n, uint64_t seed, uint64_t off, int64_t lo, int64_t hi) override {
    cpu::rand_int(out, n, seed, off, lo, hi);
  }
  void index_select(DType dt, const void* in, void* out, const int64_t* idx, int64_t ni, int64_t o, int64_t n,
                    int64_t i) override {
    cpu::index_select(dt, in, out, idx, ni, o, n, i);
  }
  void index_add(DType dt, void* out, const void* src, const int64_t* idx, int64_t ni, int64_t o, int64_t n,
                 int64_t i) override {
    cpu::index_add(dt, out, src, idx, ni, o, n, i);
  }
  void gather(DType dt, const void* in, void* out, const int64_t* idx, int64_t o, int64_t n, int64_t ni,
              int64_t i) override {
    cpu::gather(dt, in, out, idx, o, n, ni, i);
  }
  void scatter_add(DType dt, void* out, const void* src, const int64_t* idx, int64_t o, int64_t n, int64_t ni,
                   int64_t i) override {
    cpu::scatter_add(dt, out, src, idx, o, n, ni, i);
  }

  void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* b, void* out) override {
    cpu::conv2d_forward(dt, g, x, w, b, out);
  }
  void conv2d_forward_relu(DType dt, const ConvGeom& g, const void* x, const void* w, const void* b,
                           void* out) override {
    cpu::conv2d_forward_relu(dt, g, x, w, b, out);
  }
  void conv2d_input_grad(DType dt, const ConvGeom& g, const void* go, const void* w, void* gx) override {
    cpu::conv2d_input_grad(dt, g, go, w, gx);
  }
  void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* go, void* gw) override {
    cpu::conv2d_weight_grad(dt, g, x, go, gw);
  }
  void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* go, void* gb) override {
    cpu::conv2d_bias_grad(dt, g, go, gb);
  }
  void conv2d_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* go, void* gx, void* gw,
                       void* gb) override {
    cpu::conv2d_backward(dt, g, x, w, go, gx, gw, gb);
  }
  bool conv2d_relu_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* out, const void* go,
                            void* gx, void* gw, void* gb) override {
    return cpu::conv2d_relu_backward(dt, g, x, w, out, go, gx, gw, gb);
  }
  void max_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out, int64_t* idx) override {
    cpu::max_pool2d_forward(dt, g, x, out, idx);
  }
  void max_pool2d_backward(DType dt, const PoolGeom& g, const void* go, const int64_t* idx, void* gx) override {
    cpu::max_pool2d_backward(dt, g, go, idx, gx);
  }
  void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out) override {
    cpu::avg_pool2d_forward(dt, g, x, out);
  }
  void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* go, void* gx) override {
    cpu::avg_pool2d_backward(dt, g, go, gx);
  }
  void adaptive_avg_pool2d_forward(DType dt, int64_t p, int64_t H, int64_t W, int64_t Ho, int64_t Wo, const void* x,
                                   void* out) override {
    cpu::adaptive_avg_pool2d_forward(dt, p, H, W, Ho, Wo, x, out);
  }
  void adaptive_avg_pool2d_backward(DType dt, int64_t p, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                    const void* go, void* gx) override {
    cpu::adaptive_avg_pool2d_backward(dt, p, H, W, Ho, Wo, go, gx);
  }
  void batch_norm_stats(const BatchNormStats& a) override { cpu::batch_norm_stats(a); }
  void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* go, const double* m,
                           const double* rs, const void* w, void* gx, void* gw, void* gb) override {
    cpu::batch_norm_backward(dt, N, C, S, x, go, m, rs, w, gx, gw, gb);
  }
  void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* sc, const double* sh,
                      void* y) override {
    cpu::channel_affine(dt, N, C, S, x, sc, sh, y);
  }  bool has_norm_input_grad() const override { return true; }
  void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* g, const void* x, const double* a,
                       const double* m, const double* b, const double* k, void* gx) override {
    cpu::norm_input_grad(dt, N, C, S, g, x, a, m, b, k, gx);
  }

  void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* x, const void* w, const void* b, double eps,
                          void* y, void* mean, void* rstd) override {
    cpu::layer_norm_forward(dt, rows, D, x, w, b, eps, y, mean, rstd);
  }

  void optim_update(OptimAlgo algo, DType dt, const OptimSlot* s, int64_t n, const OptimHyper& h) override {
    cpu::optim_update(algo, dt, s, n, h);
  }
  double multi_abs_pow_sum(DType dt, const void* const* d, const int64_t* n, int64_t c, double p) override {
    return cpu::multi_abs_pow_sum(dt, d, n, c, p);
  }
  void multi_scale(DType dt, void* const* d, const int64_t* n, int64_t c, double f) override {
    cpu::multi_scale(dt, d, n, c, f);
  }
  void multi_clamp(DType dt, void* const* d, const int64_t* n, int64_t c, double lo, double hi) override {
    cpu::multi_clamp(dt, d, n, c, lo, hi);
  }
  void adafactor_update(DType dt, const AdafactorSlot& s, const AdafactorHyper& h) override {
    cpu::adafactor_update(dt, s, h);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace nabla::backend
