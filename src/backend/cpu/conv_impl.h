// Internal to the CPU backend (and bench_cnn): which convolution implementation runs.
// conv.cpp picks per case from measurements (bench/README.md); benchmarks may force one.
#pragma once
#include <cstdint>
#include <string>

#include "../conv_kernels.h"

namespace nabla::backend::cpu {

enum class ConvImpl {
  Auto,    ///< the measured choice per case (default)
  Im2col,  ///< im2col/col2im + BLAS GEMM, parallel over the batch
  OneDnn,  ///< oneDNN primitives, blocked layouts with cached reorders (NABLA_CONV_ONEDNN builds only)
};

/// Forces an implementation for f32 convolutions (benchmarks only; not thread-safe). A forced
/// OneDnn that oneDNN cannot run (or a build without it) falls back to Im2col. 16-bit
/// convolutions that widen to f32 follow it too.
void set_conv_impl(ConvImpl impl);
ConvImpl get_conv_impl();
/// Whether bf16 / f16 convolutions may run oneDNN's native 16-bit kernels (where oneDNN has none
/// for the case, or the build has no oneDNN, they widen to f32 either way). Off by default, on
/// with NABLA_CONV_HALF_NATIVE=1 in the environment: measured slower than the widened path on
/// this project's CPU (conv.cpp says why). Benchmarks and tests switch it; not thread-safe.
void set_half_conv_native(bool on);
bool half_conv_native();
/// The widened 16-bit path (the default) converts a chunk of the batch at a time: the f32 copies
/// of one chunk's operands and results stay within this many bytes (at least one sample per
/// chunk; the weight's and bias's f32 copies and the weight gradient's f32 total come on top).
/// Default 1 MiB; a value <= 0 restores it. Tests and benchmarks switch it; not thread-safe.
void set_half_conv_widen_bytes(int64_t bytes);
int64_t half_conv_widen_bytes();
/// Whether this build has the oneDNN path.
bool conv_onednn_built();

// ---- fused kernels the op layer calls (see bench/README.md) ----------------------------------------

/// out = relu(conv(x, w) + bias): conv2d_forward, then one in-place ReLU pass. (oneDNN's ReLU
/// post-op would save the pass, but its zero-slope form maps NaN to 0, which PyTorch's relu does
/// not; a NaN must reach the loss.)
void conv2d_forward_relu(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out);
/// gb[o] = sum of gout[n][o][..] over n and the Ho*Wo positions: conv2d's bias gradient straight
/// from the NCHW gradient (sum(g, {0, 2, 3}) first copies g into [O, N*Ho*Wo] order). f64
/// accumulation in 8 lanes, as `sum`; the order depends on the shape only, not the threads.
void conv2d_bias_grad(DType dt, const ConvGeom& g, const void* gout, void* gb);
/// conv2d's first-order backward (Backend::conv2d_backward): gx, gw, gb, each skipped when null.
/// Weight and bias in one pass over gout where the direct kernel takes the case (one input
/// channel per group); input and weight gradients through oneDNN share one reorder of gout.
void conv2d_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx, void* gw,
                     void* gb);
/// Backend::conv2d_relu_backward: conv2d_backward for gout masked where the fused ReLU's output
/// `out` is <= 0. Taken (true) for 16-bit dtypes on the widened path, which masks each f32 chunk
/// as it widens it (the same values as masking the 16-bit gout first); false otherwise.
bool conv2d_relu_backward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* out, const void* gout,
                          void* gx, void* gw, void* gb);
/// gx = max_pool2d's input gradient from gout and the forward's `indices` (gx is overwritten).
/// Zero + scatter per plane, in cache: replaces the op's zeros + copy + bounds check + scatter_add.
void max_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, const int64_t* indices, void* gx);

/// Direct AVX2/FMA kernels (conv_direct.cpp). Available when the CPU has AVX2 and FMA (and
/// NABLA_CPU_BASELINE is not set).
bool conv_direct_available();
/// Whether the direct weight-gradient kernel takes this geometry: one input channel per group,
/// unit width stride, a padded input plane of at most 16384 floats.
bool conv_direct_weight_grad_fits(const ConvGeom& g);
/// gw = conv2d's weight gradient by the direct kernel (f32; the caller checked the two above),
/// and gb = the bias gradient in the same pass when gb is not null (f32 sums per plane and lane,
/// f64 over the batch). Parallel over output channels, each summed in a fixed order: the result
/// does not depend on the thread count.
void conv_direct_weight_grad(const ConvGeom& g, const float* x, const float* gout, float* gw, float* gb = nullptr);

/// conv2d_bias_grad's inner loop for one f32 plane of S values (lane[k] += p[i + k] per group of 8,
/// *tail += the rest), in AVX2: the same additions in the same order as the portable loop.
void bias_lanes_avx2(const float* p, int64_t S, double* lane, double* tail);

namespace onednn {
/// NCHW buffers of dtype dt: f32, or bf16 / f16 (every operand and result in that dtype, sums in
/// f32, each result rounded once). Each returns false (and does nothing) when oneDNN cannot take
/// the case (for 16-bit: also when its only kernel for it is a reference one), so the caller falls
/// back to im2col (f32) or the widened path (16-bit). Primitives, reorders and intermediate
/// buffers are cached per geometry, dtype and thread count (per calling thread), so a steady
/// training step allocates nothing.
bool forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out);
bool input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx);
bool weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw);
/// input_grad and weight_grad together, converting gout to the primitives' layout once.
bool input_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx,
                       void* gw);
enum class OneDnnPass { Forward, ForwardBias, InputGrad, WeightGrad };
/// The implementation oneDNN picks for this case (its impl_info_str(), e.g. "jit_bf16:avx512_core_bf16";
/// a 16-bit name containing "ref" is declined), or "" when it has none or the build has no
/// oneDNN convolutions. Builds (and caches) the primitive as a call would. For tests and benchmarks.
std::string impl_name(DType dt, const ConvGeom& g, OneDnnPass pass);
/// How many 16-bit oneDNN primitives the calling thread has executed (tests: that the native
/// path was taken).
int64_t half_native_runs();
/// Whether 3x3 stride-1 convolutions with channels in multiples of 16 may run oneDNN's Winograd
/// kernels (measured faster there; on by default, off with NABLA_CONV_WINOGRAD=0 in the
/// environment). Benchmarks and tests switch it to compare; not thread-safe.
void set_winograd(bool on);
bool winograd();
/// How many of the calling thread's cached primitives run Winograd (tests: that it was taken).
int winograd_primitives();
}  // namespace onednn

}  // namespace nabla::backend::cpu
