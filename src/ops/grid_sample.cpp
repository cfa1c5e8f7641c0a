// affine_grid and grid_sample (PyTorch's spatial-transformer ops), composed of existing ops.
//
// grid_sample turns each grid coordinate into source positions per spatial axis, gathers the
// neighbouring input values (gather's VJP scatters the gradient back into the input) and blends
// them with weights computed from the coordinates by differentiable element-wise ops (so the
// gradient reaches the grid too). The integer corner positions are computed from detached
// coordinates, as PyTorch's kernels treat them as constants. The formulas follow
// aten/src/ATen/native/GridSampler.h: unnormalize, then clip or reflect for the padding modes.
#include <array>
#include <cmath>

#include "op_util.h"

namespace nabla {
namespace {

constexpr double kCubicA = -0.75;  // PyTorch's (and OpenCV's) cubic convolution coefficient

/// Grid coordinate in [-1, 1] to a source position in [0, size - 1] (align_corners) or
/// [-0.5, size - 0.5].
Tensor unnormalize(const Tensor& g, int64_t size, bool align_corners) {
  if (align_corners) return (g + 1.0) * (double(size - 1) / 2);
  return ((g + 1.0) * double(size) - 1.0) / 2;
}

/// Reflects c into [lo2 / 2, hi2 / 2] (bounds given doubled, as PyTorch's reflect_coordinates).
Tensor reflect(const Tensor& c, int64_t lo2, int64_t hi2) {
  if (lo2 == hi2) return zeros_like(c);
  const double lo = double(lo2) / 2, span = double(hi2 - lo2) / 2;
  Tensor in = abs(c - lo);
  Tensor extra = fmod(in, span);
  // An even number of flips keeps the direction; an odd one mirrors it.
  Tensor flips = floor(in / span).detach();
  Tensor even = eq(fmod(flips, 2.0), zeros({}, {.dtype = c.dtype(), .device = c.device()}));
  return where(even, extra + lo, (span - extra) + lo);
}

/// c clipped to [0, hi] with PyTorch's clip_coordinates_set_grad gradient: 1 strictly inside,
/// 0 on and beyond the bounds (clamp's would be 1 on them, and align_corners puts grid +-1 there).
/// A NaN position (a NaN grid, or reflect's fmod of an infinite one) goes to 0, as in PyTorch's
/// CPU and CUDA 2-D kernels, so it samples a pixel instead of reaching gather as an index.
Tensor clip(const Tensor& c, double hi) {
  Tensor inside = (c > 0.0) * (c < hi);
  Tensor d = c.detach();
  return where(inside, c, where(d > 0.0, clamp(d, 0.0, hi), zeros_like(d)));
}

/// PyTorch's compute_coordinates: the padding mode applied to a source position.
Tensor apply_padding(const Tensor& c, int64_t size, const GridSampleOptions& o) {
  const double hi = double(size - 1);
  switch (o.padding_mode) {
    case GridSamplePadding::zeros:
      return c;
    case GridSamplePadding::border:
      return clip(c, hi);
    case GridSamplePadding::reflection: {
      Tensor r = o.align_corners ? reflect(c, 0, 2 * (size - 1)) : reflect(c, -1, 2 * size - 1);
      return clip(r, hi);
    }
  }
  return c;
}

/// The shared layout of one sampling call: x viewed as [N, C, P_in], and per spatial axis
/// (x, y[, z] = last, second-to-last[, third-to-last] dim of the input) its size and flat stride.
struct Frame {
  Tensor flat;                  ///< x as [N, C, P_in]
  std::vector<int64_t> size;    ///< per grid axis
  std::vector<int64_t> stride;  ///< per grid axis, in the flattened spatial index
  Shape out_shape;              ///< [N, C, *grid spatial]
  int64_t P = 0;                ///< output positions per image
};

/// Input values at integer positions `pos` (one [N, *out] f64 tensor per axis), 0 where any
/// axis is outside [0, size): [N, C, *out].
Tensor gather_at(const Frame& f, const std::vector<Tensor>& pos) {
  const int64_t N = f.flat.size(0), C = f.flat.size(1);
  Tensor flat_index, valid;
  for (size_t a = 0; a < pos.size(); ++a) {
    Tensor inside = (pos[a] > -0.5) * (pos[a] < double(f.size[a]) - 0.5);
    valid = valid.defined() ? valid * inside : inside;
    // Outside positions (NaN included: zeros padding keeps a NaN grid's NaN) read element 0 and
    // are masked; clamp would keep NaN, whose i64 conversion is no index.
    Tensor term = where(inside, pos[a], zeros_like(pos[a])) * double(f.stride[a]);
    flat_index = flat_index.defined() ? flat_index + term : term;
  }
  Tensor index = flat_index.to(DType::i64).reshape({N, 1, f.P}).expand({N, C, f.P});
  Tensor v = gather(f.flat, 2, index).reshape(f.out_shape);
  Shape mask_shape = f.out_shape;
  mask_shape[1] = 1;
  return v * valid.to(f.flat.dtype()).reshape(mask_shape);
}

/// [N, *out] per-position weights broadcast over the channels.
Tensor per_channel(const Tensor& w, const Frame& f) {
  Shape s = f.out_shape;
  s[1] = 1;
  return w.reshape(s);
}

Tensor sample_linear(const Frame& f, const std::vector<Tensor>& coord) {
  const size_t S = coord.size();
  std::vector<Tensor> base(S), frac(S);
  for (size_t a = 0; a < S; ++a) {
    const Tensor lower = floor(coord[a].detach());
    base[a] = lower.to(DType::f64);
    frac[a] = coord[a] - lower;  // differentiable in the grid
  }
  Tensor out;
  for (int corner = 0; corner < (1 << S); ++corner) {
    std::vector<Tensor> pos(S);
    Tensor w;
    for (size_t a = 0; a < S; ++a) {
      const bool upper = (corner >> a) & 1;
      pos[a] = upper ? base[a] + 1.0 : base[a];
      Tensor wa = upper ? frac[a] : 1.0 - frac[a];
      w = w.defined() ? w * wa : wa;
    }
    Tensor term = gather_at(f, pos) * per_channel(w, f);
    out = out.defined() ? out + term : term;
  }
  return out;
}

Tensor sample_nearest(const Frame& f, const std::vector<Tensor>& coord) {
  std::vector<Tensor> pos;
  for (const Tensor& c : coord) pos.push_back(round(c.detach()).to(DType::f64));  // half to even
  Tensor out = gather_at(f, pos);
  // PyTorch's grid gets a zero gradient here, not none: keep the grid in the graph through a
  // term that is exactly 0 with a 0 derivative (non-finite coordinates masked first, as 0 * inf
  // would be NaN).
  for (const Tensor& c : coord) {
    if (!c.requires_grad()) continue;
    Tensor zero = where(isfinite(c), c, zeros({}, {.dtype = c.dtype(), .device = c.device()})) * 0.0;
    out = out + per_channel(zero, f);
  }
  return out;
}

/// The four cubic-convolution weights of taps -1, 0, 1, 2 at fraction t.
std::array<Tensor, 4> cubic_weights(const Tensor& t) {
  const double A = kCubicA;
  auto near = [&](const Tensor& x) { return ((A + 2) * x - (A + 3)) * x * x + 1.0; };     // |x| <= 1
  auto far = [&](const Tensor& x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
  return {far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)};
}

Tensor sample_bicubic(const Frame& f, const std::vector<Tensor>& coord, const GridSampleOptions& o) {
  // Each tap's position gets the padding (PyTorch's get_value_bounded), then the bounds check.
  const Tensor x0 = floor(coord[0].detach()), y0 = floor(coord[1].detach());
  std::array<Tensor, 4> wx = cubic_weights(coord[0] - x0);
  std::array<Tensor, 4> wy = cubic_weights(coord[1] - y0);
  auto tap = [&](const Tensor& base, int64_t k, size_t axis) {
    // PyTorch truncates the padded position to an integer.
    Tensor p = apply_padding(base + double(k - 1), f.size[axis], o);
    return trunc(p).to(DType::f64);
  };
  Tensor out;
  for (int64_t j = 0; j < 4; ++j) {
    Tensor row;
    Tensor py = tap(y0, j, 1);
    for (int64_t i = 0; i < 4; ++i) {
      Tensor term = gather_at(f, {tap(x0, i, 0), py}) * per_channel(wx[size_t(i)], f);
      row = row.defined() ? row + term : term;
    }
    Tensor term = row * per_channel(wy[size_t(j)], f);
    out = out.defined() ? out + term : term;
  }
  return out;
}

/// PyTorch's linspace_from_neg_one: the base grid's coordinates along one axis.
Tensor base_coordinates(int64_t steps, bool align_corners) {
  std::vector<double> v(size_t(steps), 0.0);
  if (steps > 1) {
    for (int64_t i = 0; i < steps; ++i) {
      double c = -1.0 + 2.0 * double(i) / double(steps - 1);
      v[size_t(i)] = align_corners ? c : c * double(steps - 1) / double(steps);
    }
  }
  return from_vector(v, {steps}, DType::f64);
}

}  // namespace

Tensor affine_grid(const Tensor& theta, const Shape& size, bool align_corners) {
  ops::check_tensor(theta, "affine_grid");
  ops::check_floating(theta, "affine_grid");
  NB_CHECK(size.size() == 4 || size.size() == 5, "[affine_grid] size must be [N, C, H, W] or [N, C, D, H, W], got ",
           size);
  const int64_t S = int64_t(size.size()) - 2;
  NB_CHECK(theta.dim() == 3 && theta.size(0) == size[0] && theta.size(1) == S && theta.size(2) == S + 1,
           "[affine_grid] theta must be [N, ", S, ", ", S + 1, "] with N = ", size[0], " for size ", size, ", got ",
           theta.shape());
  for (int64_t d : size) NB_CHECK(d > 0, "[affine_grid] size must be positive, got ", size);
  // Base grid [*spatial, S + 1] of (x, y[, z], 1), x running along the last spatial dim.
  Shape spatial(size.begin() + 2, size.end());
  TensorList cols;
  for (int64_t a = 0; a < S; ++a) {
    const int64_t dim = S - 1 - a;  // x along the last spatial dim, y the one before, ...
    Shape view(size_t(S), 1);
    view[size_t(dim)] = spatial[size_t(dim)];
    cols.push_back(base_coordinates(spatial[size_t(dim)], align_corners).reshape(view).expand(spatial));
  }
  cols.push_back(ones(spatial, {.dtype = DType::f64}));
  Tensor base = stack(cols, -1).reshape({shape_numel(spatial), S + 1}).to(theta.dtype()).to(theta.device());
  // [P, S + 1] x [N, S + 1, S] -> [N, P, S]
  Tensor grid = matmul(base, theta.transpose(1, 2));
  Shape out{size[0]};
  out.insert(out.end(), spatial.begin(), spatial.end());
  out.push_back(S);
  return grid.reshape(out);
}

Tensor grid_sample(const Tensor& x, const Tensor& grid, const GridSampleOptions& opts) {
  const char* op = "grid_sample";
  ops::check_same_device(x, grid, op);
  NB_CHECK(x.dim() == 4 || x.dim() == 5, "[grid_sample] expected x [N, C, H, W] or [N, C, D, H, W], got ", x.shape());
  const int64_t S = x.dim() - 2;
  NB_CHECK(grid.dim() == x.dim() && grid.size(0) == x.size(0) && grid.size(-1) == S, "[grid_sample] grid must be [N, ",
           S == 2 ? "Ho, Wo, 2" : "Do, Ho, Wo, 3", "] with N = ", x.size(0), " for x ", x.shape(), ", got ",
           grid.shape());
  NB_CHECK(x.is_floating_point() && grid.dtype() == x.dtype(),
           "[grid_sample] x and grid must share one floating dtype, got ", x.dtype(), " and ", grid.dtype());
  // 16-bit inputs are sampled in f32 and rounded once, as PyTorch's kernels compute in float: in
  // 16 bits the unnormalized positions and the cubic weights would lose most of their digits.
  if (is_half(x.dtype())) return grid_sample(x.to(DType::f32), grid.to(DType::f32), opts).to(x.dtype());
  NB_CHECK(!(opts.mode == GridSampleMode::bicubic && S == 3), "[grid_sample] bicubic sampling needs a 4-D input, got ",
           x.shape(), " (PyTorch has no tricubic mode either)");
  for (int64_t d = 2; d < x.dim(); ++d)
    NB_CHECK(x.size(d) > 0, "[grid_sample] the input's spatial size must be positive, got ", x.shape());
  Frame f;
  const int64_t N = x.size(0), C = x.size(1);
  // The spatial size spelled out, not -1: reshape cannot infer it when N or C is 0.
  f.flat = x.reshape({N, C, shape_numel(Shape(x.shape().begin() + 2, x.shape().end()))});
  f.out_shape = {N, C};
  for (int64_t d = 1; d + 1 < grid.dim(); ++d) f.out_shape.push_back(grid.size(d));
  f.P = shape_numel(Shape(f.out_shape.begin() + 2, f.out_shape.end()));
  int64_t stride = 1;
  for (int64_t a = 0; a < S; ++a) {
    const int64_t size = x.size(x.dim() - 1 - a);
    f.size.push_back(size);
    f.stride.push_back(stride);
    stride *= size;
  }
  std::vector<Tensor> coord;
  for (int64_t a = 0; a < S; ++a) {
    Tensor c = unnormalize(grid.select(-1, a), f.size[size_t(a)], opts.align_corners);
    // Bicubic pads each tap instead of the position itself.
    coord.push_back(opts.mode == GridSampleMode::bicubic ? c : apply_padding(c, f.size[size_t(a)], opts));
  }
  switch (opts.mode) {
    case GridSampleMode::bilinear:
      return sample_linear(f, coord);
    case GridSampleMode::nearest:
      return sample_nearest(f, coord);
    case GridSampleMode::bicubic:
      return sample_bicubic(f, coord, opts);
  }
  return Tensor();
}

}  // namespace nabla
