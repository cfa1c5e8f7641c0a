// Image rearrangements built from views and the index primitives (no kernels of their own; the
// VJPs come from the ops they are made of, to any order): pixel_shuffle, pixel_unshuffle,
// channel_shuffle, and unfold / fold (im2col / col2im) as an index_select / index_add pair.
//
// unfold could also be a grouped conv2d with a one-hot weight [C kh kw, 1, kh, kw] (and fold the
// matching conv_transpose2d). It is not: 0 * inf = NaN spreads a non-finite input into every block
// column it shares a window with, TF32 (when enabled) would round the copies, and the convolution
// does kh kw multiply-adds per output element where the gather does one copy (measured in the
// commit that added this file).
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

/// The blocks of an input plane of `size` (H, W), checked; `op` and `what` name it in errors.
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

/// idx[k L + l] = the flat position in the padded plane of kernel tap k = (i, j) of block l =
/// (bh, bw): (bh sh + i dh) Wp + bw sw + j dw. Tap-major, so [C, K L] reshapes to unfold's
/// [C K, L] rows c K + k.
Tensor block_indices(const BlockGeom& g, const FoldOptions& o, Device device) {
  std::vector<int64_t> idx(size_t(g.taps() * g.blocks()));
  size_t n = 0;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j)
      for (int64_t bh = 0; bh < g.Lh; ++bh)
        for (int64_t bw = 0; bw < g.Lw; ++bw)
          idx[n++] = (bh * o.stride[0] + i * o.dilation[0]) * g.Wp + bw * o.stride[1] + j * o.dilation[1];
  return from_vector(idx, {int64_t(idx.size())}).to(device);
}

}  // namespace

Tensor unfold(const Tensor& x, Size2 kernel, const FoldOptions& o) {
  ops::check_tensor(x, "unfold");
  NB_CHECK(x.dim() == 3 || x.dim() == 4, "[unfold] expected input [N, C, H, W] or [C, H, W], got shape ", x.shape());
  if (x.dim() == 3) return unfold(x.unsqueeze(0), kernel, o).squeeze(0);
  const BlockGeom g = block_geom({x.size(2), x.size(3)}, kernel, o, "unfold", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  Tensor xp = o.padding == Size2{0, 0} ? x : pad(x, {o.padding[1], o.padding[1], o.padding[0], o.padding[0]});
  Tensor cols = index_select(xp.reshape({N, C, g.Hp * g.Wp}), 2, block_indices(g, o, x.device()));
  return cols.reshape({N, C * g.taps(), g.blocks()});
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
  Tensor plane = zeros({N, C, g.Hp * g.Wp}, {.dtype = x.dtype(), .device = x.device()});
  Tensor img = index_add(plane, 2, block_indices(g, o, x.device()), x.reshape({N, C, g.taps() * g.blocks()}));
  img = img.reshape({N, C, g.Hp, g.Wp});
  if (o.padding == Size2{0, 0}) return img;
  return img.slice(2, o.padding[0], o.padding[0] + output_size[0]).slice(3, o.padding[1], o.padding[1] + output_size[1]);
}

}  // namespace nabla
