// Image rearrangements: pixel_shuffle, pixel_unshuffle and channel_shuffle built from views
// (their VJPs come from the ops they are made of), and unfold / fold (im2col / col2im), two ops
// recorded as each other's VJP (as conv2d and conv_transpose2d are), so both are differentiable to
// any order.
//
// unfold copies each kernel tap's strided view of the padded input (kh kw copies, one output's
// worth in all); fold adds each tap's columns into the same views of a zero plane. unfold could
// instead be a grouped conv2d with a one-hot weight [C kh kw, 1, kh, kw] (fold its
// conv_transpose2d); it is not, because that is not exact: 0 * inf = NaN spreads a non-finite input
// into every column whose window touches it (12 NaNs from one inf pixel of a 3 x 3 image, 2 x 2
// kernel), and TF32, when enabled, would round the copies. Nor is it faster. Measured on the CPU
// (f32, one thread, best of 3, on a loaded 2-core machine), forward / forward + backward:
// [16, 64, 28, 28], 3 x 3 kernel, padding 1: taps 8.1 / 42 ms, one-hot conv 13 / 54 ms;
// [8, 3, 224, 224] in 16 x 16 patches: taps 5.0 / 16 ms, one-hot conv 17 / 35 ms. (index_select
// over the flattened plane, the first version, took 33 ms for the first forward: its kernel copies
// one element per index.)
#include "op_util.h"

namespace nabla {

namespace {

/// x's leading dims (all but the last `n`) followed by `tail`.
Shape lead_then(const Tensor& x, int64_t n, std::initializer_list<int64_t> tail) {
  Shape s(x.shape().begin(), x.shape().end() - n);
  s.insert(s.end(), tail);
  return s;
}

/// 0..k-1 then `tail` shifted by k: the permutation of a tensor with k leading dims before `tail`.
Shape lead_perm(int64_t k, std::initializer_list<int64_t> tail) {
  Shape p;
  for (int64_t d = 0; d < k; ++d) p.push_back(d);
  for (int64_t d : tail) p.push_back(k + d);
  return p;
}

void check_image_like(const Tensor& x, const char* op, const char* layout) {
  ops::check_tensor(x, op);
  NB_CHECK(x.dim() >= 3, "[", op, "] expected input ", layout, " (at least 3 dims), got shape ", x.shape());
}

}  // namespace

Tensor pixel_shuffle(const Tensor& x, int64_t r) {
  check_image_like(x, "pixel_shuffle", "[*, C * upscale_factor^2, H, W]");
  NB_CHECK(r > 0, "[pixel_shuffle] upscale_factor must be positive, got ", r);
  const int64_t C = x.size(-3), H = x.size(-2), W = x.size(-1);
  NB_CHECK(C % (r * r) == 0, "[pixel_shuffle] the channels of input ", x.shape(), " (", C,
           ") are not divisible by upscale_factor^2 = ", r * r);
  const int64_t k = x.dim() - 3, oc = C / (r * r);
  // [*, oc, r, r, H, W] -> [*, oc, H, r, W, r]: row h r + i, column w r + j.
  Tensor t = x.reshape(lead_then(x, 3, {oc, r, r, H, W})).permute(lead_perm(k, {0, 3, 1, 4, 2}));
  return t.reshape(lead_then(x, 3, {oc, H * r, W * r}));
}

Tensor pixel_unshuffle(const Tensor& x, int64_t r) {
  check_image_like(x, "pixel_unshuffle", "[*, C, H * downscale_factor, W * downscale_factor]");
  NB_CHECK(r > 0, "[pixel_unshuffle] downscale_factor must be positive, got ", r);
  const int64_t C = x.size(-3), H = x.size(-2), W = x.size(-1);
  NB_CHECK(H % r == 0 && W % r == 0, "[pixel_unshuffle] the height and width of input ", x.shape(), " (", H, ", ", W,
           ") must be divisible by downscale_factor ", r);
  const int64_t k = x.dim() - 3, oh = H / r, ow = W / r;
  // [*, C, oh, r, ow, r] -> [*, C, r, r, oh, ow]: the inverse of pixel_shuffle's permutation.
  Tensor t = x.reshape(lead_then(x, 3, {C, oh, r, ow, r})).permute(lead_perm(k, {0, 2, 4, 1, 3}));
  return t.reshape(lead_then(x, 3, {C * r * r, oh, ow}));
}

Tensor channel_shuffle(const Tensor& x, int64_t groups) {
  check_image_like(x, "channel_shuffle", "[N, C, *]");
  NB_CHECK(groups > 0, "[channel_shuffle] groups must be positive, got ", groups);
  const int64_t C = x.size(1);
  NB_CHECK(C % groups == 0, "[channel_shuffle] the channels of input ", x.shape(), " (", C,
           ") are not divisible by groups ", groups);
  Shape s = x.shape();
  s[1] = C / groups;
  s.insert(s.begin() + 1, groups);
  return x.reshape(s).transpose(1, 2).reshape(x.shape());
}

namespace {

/// Where unfold's blocks lie in the zero-padded input plane [Hp, Wp].
struct BlockGeom {
  int64_t kh, kw, Hp, Wp, Lh, Lw;
  int64_t taps() const { return kh * kw; }
  int64_t blocks() const { return Lh * Lw; }
};

/// The blocks of an input plane of `size` (H, W), checked; `op` and `shape` name it in errors.
BlockGeom block_geom(Size2 size, Size2 kernel, const FoldOptions& o, const char* op, const Shape& shape) {
  for (int i = 0; i < 2; ++i)
    NB_CHECK(kernel[i] > 0 && o.dilation[i] > 0 && o.stride[i] > 0 && o.padding[i] >= 0, "[", op,
             "] kernel_size, dilation and stride must be positive and padding non-negative, got kernel_size ",
             Shape{kernel[0], kernel[1]}, ", dilation ", Shape{o.dilation[0], o.dilation[1]}, ", padding ",
             Shape{o.padding[0], o.padding[1]}, ", stride ", Shape{o.stride[0], o.stride[1]});
  BlockGeom g{kernel[0], kernel[1], size[0] + 2 * o.padding[0], size[1] + 2 * o.padding[1], 0, 0};
  const int64_t eh = o.dilation[0] * (g.kh - 1) + 1, ew = o.dilation[1] * (g.kw - 1) + 1;
  NB_CHECK(g.Hp >= eh && g.Wp >= ew, "[", op, "] the dilated kernel ", Shape{eh, ew}, " does not fit the padded ",
           "spatial size ", Shape{g.Hp, g.Wp}, " (input ", shape, ")");
  g.Lh = (g.Hp - eh) / o.stride[0] + 1;
  g.Lw = (g.Wp - ew) / o.stride[1] + 1;
  return g;
}

/// What kernel tap `t` = (i, j) sees of every block in the padded plane p [N, C, Hp, Wp]: rows
/// i dh + bh sh, columns j dw + bw sw, a strided view [N, C, Lh, Lw].
Tensor tap_view(const Tensor& p, const BlockGeom& g, const FoldOptions& o, int64_t t) {
  const int64_t y = (t / g.kw) * o.dilation[0], x = (t % g.kw) * o.dilation[1];
  return p.slice(2, y, y + (g.Lh - 1) * o.stride[0] + 1, o.stride[0])
      .slice(3, x, x + (g.Lw - 1) * o.stride[1] + 1, o.stride[1]);
}

}  // namespace

Tensor unfold(const Tensor& x, Size2 kernel, const FoldOptions& o) {
  ops::check_tensor(x, "unfold");
  NB_CHECK(x.dim() == 3 || x.dim() == 4, "[unfold] expected input [N, C, H, W] or [C, H, W], got shape ", x.shape());
  if (x.dim() == 3) return unfold(x.unsqueeze(0), kernel, o).squeeze(0);
  const Size2 size{x.size(2), x.size(3)};
  const BlockGeom g = block_geom(size, kernel, o, "unfold", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  Tensor out;
  {
    NoGradGuard ng;
    Tensor xp = o.padding == Size2{0, 0} ? x : pad(x, {o.padding[1], o.padding[1], o.padding[0], o.padding[0]});
    TensorList taps;
    for (int64_t t = 0; t < g.taps(); ++t) taps.push_back(tap_view(xp, g, o, t));
    // [N, C, K, Lh, Lw]: row c K + t of the result is tap t of channel c, as PyTorch's.
    out = stack(taps, 2).reshape({N, C * g.taps(), g.blocks()});
  }
  if (auto node = autograd::record("unfold", {x}, {out})) {
    node->backward_fn = [size, kernel, o](const TensorList& gr) { return TensorList{fold(gr[0], size, kernel, o)}; };
  }
  return out;
}

Tensor fold(const Tensor& x, Size2 output_size, Size2 kernel, const FoldOptions& o) {
  ops::check_tensor(x, "fold");
  NB_CHECK(x.dim() == 2 || x.dim() == 3, "[fold] expected input [N, C * kh * kw, L] or [C * kh * kw, L], got shape ",
           x.shape());
  if (x.dim() == 2) return fold(x.unsqueeze(0), output_size, kernel, o).squeeze(0);
  NB_CHECK(output_size[0] > 0 && output_size[1] > 0, "[fold] output_size must be positive, got ",
           Shape{output_size[0], output_size[1]});
  const BlockGeom g = block_geom(output_size, kernel, o, "fold", x.shape());
  const int64_t N = x.size(0), CK = x.size(1);
  NB_CHECK(CK % g.taps() == 0, "[fold] size(1) of input ", x.shape(), " (", CK,
           ") must be divisible by the kernel's kh * kw = ", g.taps());
  NB_CHECK(x.size(2) == g.blocks(), "[fold] input ", x.shape(), " has ", x.size(2), " blocks but output_size ",
           Shape{output_size[0], output_size[1]}, " with this kernel, dilation, padding and stride gives ", g.Lh,
           " x ", g.Lw, " = ", g.blocks());
  const int64_t C = CK / g.taps();
  Tensor out;
  {
    NoGradGuard ng;
    Tensor plane = zeros({N, C, g.Hp, g.Wp}, {.dtype = x.dtype(), .device = x.device()});
    const Tensor cols = x.reshape({N, C, g.taps(), g.Lh, g.Lw});
    // Tap by tap, so overlapping blocks add up in a fixed order (deterministic on every device).
    for (int64_t t = 0; t < g.taps(); ++t) tap_view(plane, g, o, t).add_(cols.select(2, t));
    out = o.padding == Size2{0, 0} ? plane
                                   : plane.slice(2, o.padding[0], o.padding[0] + output_size[0])
                                         .slice(3, o.padding[1], o.padding[1] + output_size[1])
                                         .contiguous();
  }
  if (auto node = autograd::record("fold", {x}, {out})) {
    node->backward_fn = [shape = x.shape(), kernel, o](const TensorList& gr) {
      return TensorList{unfold(gr[0], kernel, o).reshape(shape)};
    };
  }
  return out;
}

}  // namespace nabla
