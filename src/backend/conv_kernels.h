// Kernel interface for convolution, pooling and normalization (CPU). Contiguous NCHW
// buffers; geometry was validated by ops/.
#pragma once
#include <cstdint>

#include "batch_norm_stats.h"
#include "nabla/dtype.h"

namespace nabla::backend {

/// Convolution geometry: input [N, C, H, W], weight [O, C/groups, kh, kw], output [N, O, Ho, Wo].
struct ConvGeom {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo;
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

/// Pooling over `planes` = N*C independent [H, W] planes.
struct PoolGeom {
  int64_t planes, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};

namespace cpu {

/// out = conv(x, w) + bias (bias may be null).
void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out);
/// gx = conv2d's input gradient for output-gradient gout (gx is overwritten).
void conv2d_input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx);
/// gw = conv2d's weight gradient for input x and output-gradient gout (gw is overwritten).
void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw);

/// Max pooling; `indices` receives the flat index (h*W + w) of each maximum in its plane.
void max_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out, int64_t* indices);
void avg_pool2d_forward(DType dt, const PoolGeom& g, const void* x, void* out);
/// gx = avg_pool2d's input gradient (overwritten).
void avg_pool2d_backward(DType dt, const PoolGeom& g, const void* gout, void* gx);
/// Adaptive average pooling: output cell (i, j) averages rows floor(i*H/Ho)..ceil((i+1)*H/Ho).
void adaptive_avg_pool2d_forward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                 const void* x, void* out);
void adaptive_avg_pool2d_backward(DType dt, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                  const void* gout, void* gx);

/// y = x * scale[c] + shift[c] over x [N, C, S] (batch norm folds the mean and the affine part into them).
void channel_affine(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const double* scale,
                    const double* shift, void* y);
/// gx = g * a[c] + (x - m[c]) * b[c] + k[c] over [N, C, S] (group_norm's input gradient).
void norm_input_grad(DType dt, int64_t N, int64_t C, int64_t S, const void* g, const void* x, const double* a,
                     const double* m, const double* b, const double* k, void* gx);
/// batch_norm's training statistics and coefficients (see Backend::batch_norm_stats).
void batch_norm_stats(const BatchNormStats& a);
/// batch_norm's first-order backward (see Backend::batch_norm_backward). For a 16-bit dt the
/// weight, gw and gb are f32 (the float they are computed in; ops/norm.cpp converts).
void batch_norm_backward(DType dt, int64_t N, int64_t C, int64_t S, const void* x, const void* gout,
                         const double* mean, const double* rstd, const void* weight, void* gx, void* gw,
                         void* gb);
/// Layer norm over rows of length D: y = (x - mean) * rstd * w + b (w, b may be null);
/// writes per-row mean and rstd. For a 16-bit dt, w, b, mean and rstd are f32.
void layer_norm_forward(DType dt, int64_t rows, int64_t D, const void* x, const void* w, const void* b, double eps,
                        void* y, void* mean, void* rstd);

}  // namespace cpu
}  // namespace nabla::backend
