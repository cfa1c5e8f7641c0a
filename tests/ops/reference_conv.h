// Plain nested-loop f64 references for the convolution, pooling, normalization and
// resampling tests (conv_test.cpp, pool_test.cpp, norm_test.cpp, resample_test.cpp), written
// from the textbook / PyTorch definitions and never calling nabla ops; plus the few helpers
// those tests share (seeded f64 inputs, comparison against a reference, error-message checks).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace convref {

using Shape = std::vector<int64_t>;
using I2 = std::array<int64_t, 2>;

// ---- a plain row-major f64 array ------------------------------------------------------------

struct Ref {
  Shape shape;
  std::vector<double> v;

  Ref() = default;
  explicit Ref(Shape s, double fill = 0.0) : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    v.assign(size_t(n), fill);
  }
  Ref(Shape s, std::vector<double> values) : shape(std::move(s)), v(std::move(values)) {}

  int64_t size(size_t d) const { return shape[d]; }
  int64_t numel() const { return int64_t(v.size()); }
  template <typename... I>
  size_t offset(I... idx) const {
    const int64_t ix[] = {int64_t(idx)...};
    int64_t off = 0;
    for (size_t d = 0; d < sizeof...(I); ++d) off = off * shape[d] + ix[d];
    return size_t(off);
  }
  template <typename... I>
  double& operator()(I... idx) {
    return v[offset(idx...)];
  }
  template <typename... I>
  double operator()(I... idx) const {
    return v[offset(idx...)];
  }
};

/// Deterministic uniform values in [lo, hi) for a given seed.
inline std::vector<double> random_values(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(std::max<int64_t>(n, 0)));
  for (double& x : v) x = u(rng);
  return v;
}

inline Ref random_ref(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Ref r(shape);
  r.v = random_values(r.numel(), seed, lo, hi);
  return r;
}

// ---- convolution ----------------------------------------------------------------------------

/// conv2d (cross-correlation) of x [N, C, H, W] with w [O, C/groups, kh, kw], bias [O] or
/// empty; padding may be asymmetric: pad = {top, bottom, left, right}.
inline Ref conv2d(const Ref& x, const Ref& w, const std::vector<double>& bias, I2 stride, std::array<int64_t, 4> pad,
                  I2 dil, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), Cg = w.size(1), kh = w.size(2), kw = w.size(3), Og = O / groups;
  const int64_t Ho = (H + pad[0] + pad[1] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
  const int64_t Wo = (W + pad[2] + pad[3] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
  (void)C;
  Ref out({N, O, Ho, Wo});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      const int64_t grp = o / Og;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double s = bias.empty() ? 0.0 : bias[size_t(o)];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t h = oh * stride[0] - pad[0] + i * dil[0];
                const int64_t ww = ow * stride[1] - pad[2] + j * dil[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += x(n, grp * Cg + c, h, ww) * w(o, c, i, j);
              }
          out(n, o, oh, ow) = s;
        }
    }
  return out;
}

/// PyTorch's padding='same' split of the total padding d(k-1): {top, bottom, left, right},
/// the odd extra row/column going to the bottom/right.
inline std::array<int64_t, 4> same_padding(int64_t kh, int64_t kw, I2 dil) {
  const int64_t th = dil[0] * (kh - 1), tw = dil[1] * (kw - 1);
  return {th / 2, th - th / 2, tw / 2, tw - tw / 2};
}

/// Transposed convolution of x [N, Cin, H, W] with w [Cin, Cout/groups, kh, kw], written as
/// the scatter that defines it: every input pixel adds w * x into the output window.
inline Ref conv_transpose2d(const Ref& x, const Ref& w, const std::vector<double>& bias, I2 stride, I2 pad,
                            I2 out_pad, I2 dil, int64_t groups) {
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cog = w.size(1), kh = w.size(2), kw = w.size(3), Cig = Cin / groups, Cout = Cog * groups;
  const int64_t Ho = (H - 1) * stride[0] - 2 * pad[0] + dil[0] * (kh - 1) + out_pad[0] + 1;
  const int64_t Wo = (W - 1) * stride[1] - 2 * pad[1] + dil[1] * (kw - 1) + out_pad[1] + 1;
  Ref out({N, Cout, Ho, Wo});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < Cin; ++ci) {
      const int64_t grp = ci / Cig;
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t co = 0; co < Cog; ++co)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t oh = ih * stride[0] - pad[0] + i * dil[0];
                const int64_t ow = iw * stride[1] - pad[1] + j * dil[1];
                if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                out(n, grp * Cog + co, oh, ow) += x(n, ci, ih, iw) * w(ci, co, i, j);
              }
    }
  if (!bias.empty())
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < Cout; ++c)
        for (int64_t h = 0; h < Ho; ++h)
          for (int64_t ww = 0; ww < Wo; ++ww) out(n, c, h, ww) += bias[size_t(c)];
  return out;
}

/// d(sum(gout * conv2d(x, w))) / dw for x [N, C, H, W] and gout [N, O, Ho, Wo]:
/// gw[o, c, i, j] = sum over n, oh, ow of gout[n, o, oh, ow] * x[n, g*Cg + c, oh*s - p + i*d, ...].
inline Ref conv2d_weight_grad(const Ref& x, const Ref& gout, I2 kernel, I2 stride, I2 pad, I2 dil, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = gout.size(1), Ho = gout.size(2), Wo = gout.size(3), Cg = C / groups, Og = O / groups;
  Ref gw({O, Cg, kernel[0], kernel[1]});
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t i = 0; i < kernel[0]; ++i)
        for (int64_t j = 0; j < kernel[1]; ++j) {
          double s = 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t oh = 0; oh < Ho; ++oh)
              for (int64_t ow = 0; ow < Wo; ++ow) {
                const int64_t h = oh * stride[0] - pad[0] + i * dil[0];
                const int64_t ww = ow * stride[1] - pad[1] + j * dil[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += gout(n, o, oh, ow) * x(n, (o / Og) * Cg + c, h, ww);
              }
          gw(o, c, i, j) = s;
        }
  return gw;
}

// ---- pooling --------------------------------------------------------------------------------

/// PyTorch's pooling_output_shape: floor or ceil of (in + 2p - k) / s + 1, and with ceil_mode
/// the last window must start inside the input or its left padding.
inline int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
  int64_t out = num / s + 1;  // num >= 0 in every tested case
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct PoolRef {
  Ref out;
  std::vector<int64_t> indices;  ///< flat h*W + w of the first maximum (max pooling)
};

/// max_pool2d with padding by -inf; ties keep the first maximum in row-major window order.
inline PoolRef max_pool2d(const Ref& x, I2 k, I2 s, I2 p, bool ceil_mode) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = pool_out_size(H, k[0], s[0], p[0], ceil_mode), Wo = pool_out_size(W, k[1], s[1], p[1], ceil_mode);
  PoolRef r{Ref({N, C, Ho, Wo}), {}};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double best = -std::numeric_limits<double>::infinity();
          int64_t arg = -1;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              const int64_t h = oh * s[0] - p[0] + i, w = ow * s[1] - p[1] + j;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              if (arg < 0 || x(n, c, h, w) > best) best = x(n, c, h, w), arg = h * W + w;
            }
          r.out(n, c, oh, ow) = best;
          r.indices.push_back(arg);
        }
  return r;
}

/// avg_pool2d as PyTorch: the window is clipped to the padded input [-p, in + p) for the
/// count_include_pad divisor and to the input for the sum and the other divisor.
inline Ref avg_pool2d(const Ref& x, I2 k, I2 s, I2 p, bool ceil_mode, bool count_include_pad) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = pool_out_size(H, k[0], s[0], p[0], ceil_mode), Wo = pool_out_size(W, k[1], s[1], p[1], ceil_mode);
  Ref out({N, C, Ho, Wo});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double sum = 0;
          int64_t in_input = 0, in_padded = 0;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              const int64_t h = oh * s[0] - p[0] + i, w = ow * s[1] - p[1] + j;
              if (h < H + p[0] && w < W + p[1]) ++in_padded;  // h, w >= -p always
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              sum += x(n, c, h, w);
              ++in_input;
            }
          out(n, c, oh, ow) = sum / double(count_include_pad ? in_padded : in_input);
        }
  return out;
}

/// adaptive_avg_pool2d: output cell i averages rows floor(i*H/Ho) .. ceil((i+1)*H/Ho) - 1.
/// Adaptive pooling over windows floor(i in / out) .. ceil((i+1) in / out): the average or the max.
inline Ref adaptive_pool2d(const Ref& x, I2 size, bool take_max) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Ref out({N, C, size[0], size[1]});
  auto lo = [](int64_t i, int64_t in, int64_t o) { return int64_t(std::floor(double(i * in) / double(o))); };
  auto hi = [](int64_t i, int64_t in, int64_t o) { return int64_t(std::ceil(double((i + 1) * in) / double(o))); };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < size[0]; ++i)
        for (int64_t j = 0; j < size[1]; ++j) {
          double s = 0, m = -INFINITY;
          int64_t cnt = 0;
          for (int64_t h = lo(i, H, size[0]); h < hi(i, H, size[0]); ++h)
            for (int64_t w = lo(j, W, size[1]); w < hi(j, W, size[1]); ++w)
              s += x(n, c, h, w), m = std::max(m, x(n, c, h, w)), ++cnt;
          out(n, c, i, j) = take_max ? m : s / double(cnt);
        }
  return out;
}
inline Ref adaptive_avg_pool2d(const Ref& x, I2 size) { return adaptive_pool2d(x, size, false); }
inline Ref adaptive_max_pool2d(const Ref& x, I2 size) { return adaptive_pool2d(x, size, true); }

// ---- normalization --------------------------------------------------------------------------

struct BatchNormRef {
  Ref out;
  std::vector<double> mean, var_biased, var_unbiased;  ///< batch statistics per channel
};

/// Training-mode batch norm of x [N, C, *] with batch statistics over all dims but 1.
inline BatchNormRef batch_norm_train(const Ref& x, const std::vector<double>& weight, const std::vector<double>& bias,
                                     double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  BatchNormRef r{Ref(x.shape), std::vector<double>(size_t(C)), std::vector<double>(size_t(C)),
                 std::vector<double>(size_t(C))};
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += x.v[size_t((n * C + c) * S + i)];
    const double m = s / double(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) ss += std::pow(x.v[size_t((n * C + c) * S + i)] - m, 2);
    r.mean[size_t(c)] = m;
    r.var_biased[size_t(c)] = ss / double(N * S);
    r.var_unbiased[size_t(c)] = ss / double(N * S - 1);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const size_t k = size_t((n * C + c) * S + i);
        double y = (x.v[k] - m) / std::sqrt(r.var_biased[size_t(c)] + eps);
        if (!weight.empty()) y *= weight[size_t(c)];
        if (!bias.empty()) y += bias[size_t(c)];
        r.out.v[k] = y;
      }
  }
  return r;
}

/// Eval-mode batch norm: (x - running_mean) / sqrt(running_var + eps) * w + b per channel.
inline Ref batch_norm_eval(const Ref& x, const std::vector<double>& rmean, const std::vector<double>& rvar,
                           const std::vector<double>& weight, const std::vector<double>& bias, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  Ref out(x.shape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        const size_t k = size_t((n * C + c) * S + i);
        double y = (x.v[k] - rmean[size_t(c)]) / std::sqrt(rvar[size_t(c)] + eps);
        if (!weight.empty()) y *= weight[size_t(c)];
        if (!bias.empty()) y += bias[size_t(c)];
        out.v[k] = y;
      }
  return out;
}

/// Layer norm over the trailing D elements of each row (weight/bias of D elements or empty).
inline Ref layer_norm(const Ref& x, int64_t D, const std::vector<double>& weight, const std::vector<double>& bias,
                      double eps) {
  Ref out(x.shape);
  for (int64_t r = 0; r < x.numel() / D; ++r) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < D; ++i) s += x.v[size_t(r * D + i)];
    const double m = s / double(D);
    for (int64_t i = 0; i < D; ++i) ss += std::pow(x.v[size_t(r * D + i)] - m, 2);
    const double sd = std::sqrt(ss / double(D) + eps);
    for (int64_t i = 0; i < D; ++i) {
      double y = (x.v[size_t(r * D + i)] - m) / sd;
      if (!weight.empty()) y *= weight[size_t(i)];
      if (!bias.empty()) y += bias[size_t(i)];
      out.v[size_t(r * D + i)] = y;
    }
  }
  return out;
}

// ---- resampling -----------------------------------------------------------------------------

enum class PadKind { Constant, Reflect, Replicate, Circular };

/// Pads (or, for negative constant pads, crops) the trailing dims of x; pads = {last_lo,
/// last_hi, prev_lo, prev_hi, ...} as torch.nn.functional.pad.
inline Ref pad(const Ref& x, const std::vector<int64_t>& pads, PadKind mode, double value) {
  const size_t nd = x.shape.size(), k = pads.size() / 2;
  Shape os = x.shape;
  std::vector<int64_t> lo(nd, 0);
  for (size_t i = 0; i < k; ++i) {
    const size_t d = nd - 1 - i;
    lo[d] = pads[2 * i];
    os[d] = x.shape[d] + pads[2 * i] + pads[2 * i + 1];
  }
  Ref out(os);
  Shape idx(nd);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t rem = flat;
    for (size_t d = nd; d-- > 0;) idx[d] = rem % os[d], rem /= os[d];
    int64_t src = 0;
    bool inside = true;
    for (size_t d = 0; d < nd; ++d) {
      const int64_t n = x.shape[d];
      int64_t j = idx[d] - lo[d];
      if (mode == PadKind::Reflect) {
        if (j < 0) j = -j;
        if (j > n - 1) j = 2 * (n - 1) - j;
      } else if (mode == PadKind::Replicate) {
        j = std::min(std::max<int64_t>(j, 0), n - 1);
      } else if (mode == PadKind::Circular) {
        j = j < 0 ? j + n : j >= n ? j - n : j;  // at most one wrap (pad <= size)
      } else if (j < 0 || j >= n) {
        inside = false;
      }
      src = src * n + j;
    }
    out.v[size_t(flat)] = inside ? x.v[size_t(src)] : value;
  }
  return out;
}

/// PyTorch's legacy 'nearest' (upsample_nearest2d): src = min(floor(dst * (float)(in/out)), in - 1),
/// the scale computed in float as ATen does.
/// With a scale_factor `sf` PyTorch uses 1/sf (as a float) for the scale, not in/out.
inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out, double sf = 0) {
  if (in == out) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = sf > 0 ? float(1.0 / sf) : float(in) / float(out);
  return std::min<int64_t>(int64_t(std::floor(float(dst) * scale)), in - 1);
}

/// Optional scale factors (0 = none) of interpolate's reference.
struct Scales {
  double h = 0, w = 0;
};

inline Ref interpolate_nearest(const Ref& x, I2 size, Scales sf = {}) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Ref out({N, C, size[0], size[1]});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < size[0]; ++i)
        for (int64_t j = 0; j < size[1]; ++j)
          out(n, c, i, j) = x(n, c, nearest_source(i, H, size[0], sf.h), nearest_source(j, W, size[1], sf.w));
  return out;
}

/// PyTorch's upsample_bilinear2d: source coordinate max(0, (dst + 0.5) * scale - 0.5) with scale
/// in/out (1/scale_factor when given), or dst * (in-1)/(out-1) with align_corners; lower index
/// its floor, the upper one clamped to in-1.
inline Ref interpolate_bilinear(const Ref& x, I2 size, bool align_corners = false, Scales sf = {}) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Ref out({N, C, size[0], size[1]});
  auto source = [&](int64_t dst, int64_t in, int64_t o, double f, int64_t& i0, int64_t& step, double& lambda) {
    double scale = f > 0 ? 1.0 / f : double(in) / double(o);
    if (align_corners) scale = o > 1 ? double(in - 1) / double(o - 1) : 0.0;
    const double r = align_corners ? scale * double(dst) : std::max(scale * (double(dst) + 0.5) - 0.5, 0.0);
    i0 = int64_t(r);
    step = i0 < in - 1 ? 1 : 0;
    lambda = r - double(i0);
  };
  for (int64_t i = 0; i < size[0]; ++i) {
    int64_t h0, hp;
    double hl;
    source(i, H, size[0], sf.h, h0, hp, hl);
    for (int64_t j = 0; j < size[1]; ++j) {
      int64_t w0, wp;
      double wl;
      source(j, W, size[1], sf.w, w0, wp, wl);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          out(n, c, i, j) = (1 - hl) * ((1 - wl) * x(n, c, h0, w0) + wl * x(n, c, h0, w0 + wp)) +
                            hl * ((1 - wl) * x(n, c, h0 + hp, w0) + wl * x(n, c, h0 + hp, w0 + wp));
    }
  }
  return out;
}

// ---- helpers shared by the tests (these do call nabla) ------------------------------------------

/// An f64 leaf tensor holding the reference's values, requiring grad when asked.
inline nabla::Tensor tensor_of(const Ref& r, bool requires_grad = true, nabla::DType dt = nabla::DType::f64) {
  nabla::Tensor t = nabla::from_vector(r.v, r.shape, dt);
  if (requires_grad) t.requires_grad_(true);
  return t;
}

inline nabla::Tensor tensor_of(const std::vector<double>& v, bool requires_grad = true,
                               nabla::DType dt = nabla::DType::f64) {
  return tensor_of(Ref({int64_t(v.size())}, v), requires_grad, dt);
}

/// A leaf with the values of r but non-contiguous strides: built transposed in dims (a, b)
/// and viewed back, so the logical values equal r's.
inline nabla::Tensor noncontiguous_of(const Ref& r, int64_t a, int64_t b) {
  nabla::Tensor t = nabla::from_vector(r.v, r.shape, nabla::DType::f64).transpose(a, b).contiguous();
  nabla::Tensor v = t.transpose(a, b).detach();  // same values as r, transposed strides
  v.requires_grad_(true);
  return v;
}

/// EXPECTs t (any dtype) to equal the reference within atol + rtol * |ref|.
inline void expect_close(const nabla::Tensor& t, const Ref& ref, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(t.shape(), ref.shape) << what << ": shape " << nabla::shape_str(t.shape()) << " vs reference "
                                  << nabla::shape_str(ref.shape);
  std::vector<double> got = t.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - ref.v[i]) <= atol + rtol * std::abs(ref.v[i])) continue;
    if (++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", reference " << ref.v[i] << " (diff "
                    << got[i] - ref.v[i] << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements differ";
}

inline const nabla::GradcheckOptions kGradOpts{.eps = 1e-6, .atol = 1e-6, .rtol = 1e-4};

/// Expects `stmt` to throw nabla::Error whose message contains each of the strings.
template <typename F>
void expect_error(F&& stmt, const std::vector<std::string>& parts, const std::string& what) {
  try {
    stmt();
  } catch (const nabla::Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << what << ": message \"" << msg << "\" lacks \"" << p << "\"";
    return;
  }
  ADD_FAILURE() << what << ": did not throw nabla::Error";
}

}  // namespace convref
