// conv2d, conv_transpose2d and conv2d_weight_grad: three kernel-backed ops whose VJPs are
// each other, so convolutions are differentiable to any order. conv1d and conv_transpose1d run
// on them over [N, C, 1, L].
#include <optional>

#include "../backend/conv_kernels.h"
#include "autocast.h"
#include "op_util.h"

namespace nabla {

using backend::ConvGeom;

namespace {

struct ConvParams {
  Size2 stride, padding, dilation;
  int64_t groups;
};

// Geometry of the convolution with input [N, C, H, W] and weight [O, C/g, kh, kw].
ConvGeom make_geom(const Shape& x, const Shape& w, const ConvParams& p, const char* op) {
  NB_CHECK(p.groups >= 1, "[", op, "] groups must be positive, got ", p.groups);
  for (int i = 0; i < 2; ++i) {
    NB_CHECK(p.stride[i] >= 1 && p.dilation[i] >= 1 && p.padding[i] >= 0, "[", op,
             "] stride and dilation must be >= 1 and padding >= 0, got stride (", p.stride[0], ", ", p.stride[1],
             "), padding (", p.padding[0], ", ", p.padding[1], "), dilation (", p.dilation[0], ", ", p.dilation[1], ")");
  }
  ConvGeom g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.O = w[0], g.kh = w[2], g.kw = w[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;
  NB_CHECK(g.C % g.groups == 0 && g.O % g.groups == 0, "[", op, "] groups = ", g.groups,
           " must divide both input channels (", g.C, ") and output channels (", g.O, "); input ", x, ", weight ", w);
  NB_CHECK(w[1] * g.groups == g.C, "[", op, "] input ", x, " has ", g.C, " channels but weight ", w, " expects ",
           w[1] * g.groups, " (weight.size(1) * groups = ", w[1], " * ", g.groups, ")");
  int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  NB_CHECK(g.H + 2 * g.ph >= eh && g.W + 2 * g.pw >= ew, "[", op, "] kernel ", Shape{g.kh, g.kw},
           " (dilated extent ", Shape{eh, ew}, ") is larger than the padded input ", Shape{g.H + 2 * g.ph, g.W + 2 * g.pw},
           "; input ", x, ", weight ", w);
  g.Ho = (g.H + 2 * g.ph - eh) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - ew) / g.sw + 1;
  return g;
}

void check_conv_tensors(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t out_channels, const char* op) {
  ops::check_same_device(x, w, op);
  NB_CHECK(x.dim() == 4, "[", op, "] expected input [N, C, H, W], got shape ", x.shape());
  NB_CHECK(w.dim() == 4, "[", op, "] expected a 4-D weight, got shape ", w.shape());
  NB_CHECK(x.is_floating_point() && x.dtype() == w.dtype(), "[", op, "] input and weight must share a floating dtype, got ",
           x.dtype(), " and ", w.dtype());
  if (bias.defined())
    NB_CHECK(bias.dim() == 1 && bias.size(0) == out_channels && bias.dtype() == x.dtype(), "[", op,
             "] bias must have shape [", out_channels, "] and dtype ", x.dtype(), ", got ", bias.shape(), " ",
             bias.dtype());
}

Conv2dOptions to_conv_options(const ConvParams& p) {
  return {.stride = p.stride, .padding = p.padding, .padding_same = false, .dilation = p.dilation, .groups = p.groups};
}

// The output_padding that makes conv_transpose2d produce exactly `size` (the conv's input size).
Size2 output_padding_for(const ConvGeom& g) {
  return {g.H - ((g.Ho - 1) * g.sh - 2 * g.ph + g.dh * (g.kh - 1) + 1),
          g.W - ((g.Wo - 1) * g.sw - 2 * g.pw + g.dw * (g.kw - 1) + 1)};
}

ConvTranspose2dOptions to_transpose_options(const ConvParams& p, Size2 output_padding) {
  return {.stride = p.stride, .padding = p.padding, .output_padding = output_padding, .dilation = p.dilation,
          .groups = p.groups};
}

Tensor bias_grad(const Tensor& g) {
  // First-order backward (no graph being built): one kernel pass over the NCHW gradient, where
  // sum(g, {0, 2, 3}) would first copy g into reduction order. With create_graph, the sum records.
  if (!is_grad_enabled() && g.dim() == 4) {
    Tensor gc = ops::contiguous_data(g);
    ConvGeom geo{};
    geo.N = g.size(0), geo.O = g.size(1), geo.Ho = g.size(2), geo.Wo = g.size(3);
    Tensor gb = empty({g.size(1)}, {.dtype = g.dtype(), .device = g.device()});
    backend::get(g.device()).conv2d_bias_grad(g.dtype(), geo, gc.raw_data(), gb.raw_data());
    return gb;
  }
  return sum(g, {0, 2, 3});
}

/// conv2d, or relu(conv2d) in one kernel when `fuse_relu` (the activation rides along with the
/// convolution instead of costing another pass over the output; its VJP masks the gradient with
/// the saved output, as relu's does, before conv2d's own VJP).
Tensor conv2d_impl(const Tensor& x0, const Tensor& w0, const Tensor& bias, const ConvParams& p,
                   bool fuse_relu = false) {
  check_conv_tensors(x0, w0, bias, w0.dim() == 4 ? w0.size(0) : 0, "conv2d");
  ConvGeom g = make_geom(x0.shape(), w0.shape(), p, "conv2d");
  Tensor x = ops::contiguous_data(x0), w = ops::contiguous_data(w0);
  Tensor b = bias.defined() ? ops::contiguous_data(bias) : Tensor();
  Tensor out = empty({g.N, g.O, g.Ho, g.Wo}, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) {
    backend::Backend& be = backend::get(x.device());
    const void* bp = b.defined() ? b.raw_data() : nullptr;
    if (fuse_relu) be.conv2d_forward_relu(x.dtype(), g, x.raw_data(), w.raw_data(), bp, out.raw_data());
    else be.conv2d_forward(x.dtype(), g, x.raw_data(), w.raw_data(), bp, out.raw_data());
  }
  if (auto node = autograd::record(fuse_relu ? "conv2d_relu" : "conv2d", {x0, w0, bias}, {out})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nb = node->needs_input_grad(2);
    node->backward_fn = [sx = nw ? node->save(x0) : autograd::SavedTensor(),
                         sw = nx ? node->save(w0) : autograd::SavedTensor(),
                         so = fuse_relu ? node->save(out) : autograd::SavedTensor(), p, g, nx, nw,
                         nb](const TensorList& gr) {
      // First order: one backend call for two or three gradients, which shares work between them
      // (what conv_transpose2d, conv2d_weight_grad and bias_grad below compute, in one go); behind
      // the fused ReLU, first a call that applies the ReLU's mask on the way, where the backend
      // has one (conv2d_relu_backward), for any of them.
      const bool first_order = !is_grad_enabled() && g.N * g.Ho * g.Wo > 0 && g.C * g.H * g.W > 0;
      const int wanted = int(nx) + int(nw) + int(nb);
      // The gradients' buffers, allocated by the first backend call and reused by the second when
      // the fused one declines (it does for f32 and on CUDA): a training step's hot path, so no
      // second set of allocations.
      Tensor gx_buf, gw_buf, gb_buf;
      auto backend_call = [&](const Tensor& gout, const Tensor& relu_out) -> std::optional<TensorList> {
        Tensor gc = ops::contiguous_data(gout);
        Tensor xc = nw ? ops::contiguous_data(sx.get()) : Tensor(), wc = nx ? ops::contiguous_data(sw.get()) : Tensor();
        const TensorOptions to{.dtype = gc.dtype(), .device = gc.device()};
        if (nx && !gx_buf.defined()) gx_buf = empty({g.N, g.C, g.H, g.W}, to);
        if (nw && !gw_buf.defined()) gw_buf = empty({g.O, g.C / g.groups, g.kh, g.kw}, to);
        if (nb && !gb_buf.defined()) gb_buf = empty({g.O}, to);
        auto ptr = [](Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
        backend::Backend& be = backend::get(gc.device());
        const void* xp = nw ? xc.raw_data() : nullptr;
        const void* wp = nx ? wc.raw_data() : nullptr;
        if (relu_out.defined()) {
          Tensor oc = ops::contiguous_data(relu_out);
          if (!be.conv2d_relu_backward(gc.dtype(), g, xp, wp, oc.raw_data(), gc.raw_data(), ptr(gx_buf),
                                       ptr(gw_buf), ptr(gb_buf)))
            return std::nullopt;
        } else {
          be.conv2d_backward(gc.dtype(), g, xp, wp, gc.raw_data(), ptr(gx_buf), ptr(gw_buf), ptr(gb_buf));
        }
        return TensorList{gx_buf, gw_buf, gb_buf};
      };
      if (first_order && so.defined() && (nx || nw))
        if (auto r = backend_call(gr[0], so.get())) return *r;  // else nothing was computed
      Tensor go = so.defined() ? threshold_backward(gr[0], so.get()) : gr[0];
      if (first_order && wanted >= 2) return *backend_call(go, Tensor());
      Tensor gx = nx ? conv_transpose2d(go, sw.get(), Tensor(), to_transpose_options(p, output_padding_for(g)))
                     : Tensor();
      Tensor gw = nw ? conv2d_weight_grad(sx.get(), go, {g.kh, g.kw}, to_conv_options(p)) : Tensor();
      return TensorList{gx, gw, nb ? bias_grad(go) : Tensor()};
    };
  }
  return out;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::conv, {&x, &weight, &bias}); ac.active())
    return conv2d(ac.cast(x), ac.cast(weight), ac.cast(bias), o);
  NB_CHECK(x.dim() == 3 || x.dim() == 4, "[conv2d] expected input [N, C, H, W] or [C, H, W], got shape ", x.shape());
  if (x.dim() == 3) return conv2d(x.unsqueeze(0), weight, bias, o).squeeze(0);
  ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  if (!o.padding_same) return conv2d_impl(x, weight, bias, p, o.fuse_relu);
  NB_CHECK(o.stride[0] == 1 && o.stride[1] == 1, "[conv2d] padding='same' needs stride 1, got stride (", o.stride[0],
           ", ", o.stride[1], ")");
  NB_CHECK(weight.dim() == 4, "[conv2d] expected a 4-D weight, got shape ", weight.shape());
  // Total padding d(k-1) per dim; an odd total puts the extra row/column at the end, as PyTorch.
  int64_t th = o.dilation[0] * (weight.size(2) - 1), tw = o.dilation[1] * (weight.size(3) - 1);
  if (th % 2 == 0 && tw % 2 == 0) {
    p.padding = {th / 2, tw / 2};
    return conv2d_impl(x, weight, bias, p, o.fuse_relu);
  }
  p.padding = {0, 0};
  Tensor xp = pad(x, {tw / 2, tw - tw / 2, th / 2, th - th / 2});
  return conv2d_impl(xp, weight, bias, p, o.fuse_relu);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::conv, {&x, &weight, &bias}); ac.active())
    return conv1d(ac.cast(x), ac.cast(weight), ac.cast(bias), o);
  NB_CHECK(x.dim() == 2 || x.dim() == 3, "[conv1d] expected input [N, C, L] or [C, L], got shape ", x.shape());
  NB_CHECK(weight.dim() == 3, "[conv1d] expected weight [C_out, C_in/groups, K], got shape ", weight.shape());
  if (x.dim() == 2) return conv1d(x.unsqueeze(0), weight, bias, o).squeeze(0);
  // Checked here (not left to conv2d) so errors name conv1d and the 3-D shapes the caller passed.
  NB_CHECK(o.stride > 0 && o.dilation > 0 && o.padding >= 0, "[conv1d] stride ", o.stride, " and dilation ",
           o.dilation, " must be positive and padding ", o.padding, " non-negative");
  NB_CHECK(!o.padding_same || o.stride == 1, "[conv1d] padding='same' needs stride 1, got stride ", o.stride);
  NB_CHECK(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()), "[conv1d] input dtype ",
           x.dtype(), ", weight dtype ", weight.dtype(), bias.defined() ? ", bias dtype " : "",
           bias.defined() ? dtype_name(bias.dtype()) : "", " must match");
  const int64_t C = x.size(1), O = weight.size(0), K = weight.size(2);
  NB_CHECK(o.groups >= 1 && C % o.groups == 0 && O % o.groups == 0, "[conv1d] groups = ", o.groups,
           " must divide the input channels of input ", x.shape(), " and the output channels of weight ", weight.shape());
  NB_CHECK(C == weight.size(1) * o.groups, "[conv1d] input ", x.shape(), " has ", C, " channels but weight ",
           weight.shape(), " with groups = ", o.groups, " expects ", weight.size(1) * o.groups);
  NB_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == O), "[conv1d] bias shape ",
           bias.defined() ? bias.shape() : Shape{}, " must be [", O, "] for weight ", weight.shape());
  NB_CHECK(o.padding_same || x.size(2) + 2 * o.padding >= o.dilation * (K - 1) + 1, "[conv1d] input ", x.shape(),
           " padded by ", o.padding, " on each side is shorter than the kernel's span ", o.dilation * (K - 1) + 1,
           " (weight ", weight.shape(), ", dilation ", o.dilation, ")");
  Conv2dOptions o2;
  o2.stride = {1, o.stride};
  o2.padding = {0, o.padding};
  o2.padding_same = o.padding_same;
  o2.dilation = {1, o.dilation};
  o2.groups = o.groups;
  return conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, o2).squeeze(2);
}

Tensor conv_transpose2d(const Tensor& x0, const Tensor& w0, const Tensor& bias, const ConvTranspose2dOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::conv, {&x0, &w0, &bias}); ac.active())
    return conv_transpose2d(ac.cast(x0), ac.cast(w0), ac.cast(bias), o);
  NB_CHECK(x0.dim() == 3 || x0.dim() == 4, "[conv_transpose2d] expected input [N, C, H, W] or [C, H, W], got shape ",
           x0.shape());
  if (x0.dim() == 3) return conv_transpose2d(x0.unsqueeze(0), w0, bias, o).squeeze(0);
  NB_CHECK(w0.dim() == 4, "[conv_transpose2d] expected weight [C_in, C_out/groups, kH, kW], got shape ", w0.shape());
  check_conv_tensors(x0, w0, bias, w0.size(1) * o.groups, "conv_transpose2d");
  NB_CHECK(x0.size(1) == w0.size(0), "[conv_transpose2d] input ", x0.shape(), " has ", x0.size(1),
           " channels but weight ", w0.shape(), " expects ", w0.size(0));
  NB_CHECK(o.groups >= 1 && x0.size(1) % o.groups == 0, "[conv_transpose2d] groups = ", o.groups,
           " must divide the input channels of input ", x0.shape(), "; weight ", w0.shape());
  ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  for (int i = 0; i < 2; ++i)
    NB_CHECK(o.output_padding[i] >= 0 && o.output_padding[i] < std::max(o.stride[i], o.dilation[i]),
             "[conv_transpose2d] output_padding (", o.output_padding[0], ", ", o.output_padding[1],
             ") must be smaller than stride or dilation");
  int64_t Ho = (x0.size(2) - 1) * o.stride[0] - 2 * o.padding[0] + o.dilation[0] * (w0.size(2) - 1) + o.output_padding[0] + 1;
  int64_t Wo = (x0.size(3) - 1) * o.stride[1] - 2 * o.padding[1] + o.dilation[1] * (w0.size(3) - 1) + o.output_padding[1] + 1;
  NB_CHECK(Ho > 0 && Wo > 0, "[conv_transpose2d] output size ", Shape{Ho, Wo}, " is not positive for input ", x0.shape(),
           " and weight ", w0.shape());
  int64_t cout = w0.size(1) * o.groups;
  // The conv whose input gradient this is: input [N, cout, Ho, Wo] -> output x.
  ConvGeom g = make_geom({x0.size(0), cout, Ho, Wo}, w0.shape(), p, "conv_transpose2d");
  if (g.Ho != x0.size(2) || g.Wo != x0.size(3)) {
    // output_padding >= stride (allowed when below dilation): the conv with this output size has
    // floor(output_padding / stride) more rows/columns than x; the missing ones are zeros.
    const int64_t eh = g.Ho - x0.size(2), ew = g.Wo - x0.size(3);
    NB_CHECK(eh >= 0 && ew >= 0, "[conv_transpose2d] inconsistent geometry for input ", x0.shape());
    ConvTranspose2dOptions o2 = o;
    o2.output_padding = {o.output_padding[0] - eh * o.stride[0], o.output_padding[1] - ew * o.stride[1]};
    return conv_transpose2d(pad(x0, {0, ew, 0, eh}), w0, bias, o2);
  }
  Tensor x = ops::contiguous_data(x0), w = ops::contiguous_data(w0);
  Tensor out = empty({g.N, cout, Ho, Wo}, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) backend::get(x.device()).conv2d_input_grad(x.dtype(), g, x.raw_data(), w.raw_data(), out.raw_data());
  Tensor result = out;
  if (bias.defined()) {
    NoGradGuard ng;
    result = out + bias.reshape({1, cout, 1, 1});
  }
  if (auto node = autograd::record("conv_transpose2d", {x0, w0, bias}, {result})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nb = node->needs_input_grad(2);
    node->backward_fn = [sx = nw ? node->save(x0) : autograd::SavedTensor(),
                         sw = nx ? node->save(w0) : autograd::SavedTensor(), p, g, nx, nw, nb](const TensorList& gr) {
      Tensor gx = nx ? conv2d(gr[0], sw.get(), Tensor(), to_conv_options(p)) : Tensor();
      // As the adjoint of conv(., w): its weight gradient swaps the roles of input and output.
      Tensor gw = nw ? conv2d_weight_grad(gr[0], sx.get(), {g.kh, g.kw}, to_conv_options(p)) : Tensor();
      return TensorList{gx, gw, nb ? bias_grad(gr[0]) : Tensor()};
    };
  }
  return result;
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvTranspose1dOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::conv, {&x, &weight, &bias}); ac.active())
    return conv_transpose1d(ac.cast(x), ac.cast(weight), ac.cast(bias), o);
  NB_CHECK(x.dim() == 2 || x.dim() == 3, "[conv_transpose1d] expected input [N, C_in, L] or [C_in, L], got shape ",
           x.shape());
  NB_CHECK(weight.dim() == 3, "[conv_transpose1d] expected weight [C_in, C_out/groups, K], got shape ", weight.shape());
  if (x.dim() == 2) return conv_transpose1d(x.unsqueeze(0), weight, bias, o).squeeze(0);
  // Checked here (not left to conv_transpose2d) so errors name this op and the 3-D shapes passed.
  NB_CHECK(x.size(1) == weight.size(0), "[conv_transpose1d] input ", x.shape(), " has ", x.size(1),
           " channels but weight ", weight.shape(), " expects ", weight.size(0));
  NB_CHECK(o.stride > 0 && o.dilation > 0 && o.padding >= 0, "[conv_transpose1d] stride ", o.stride, " and dilation ",
           o.dilation, " must be positive and padding ", o.padding, " non-negative");
  NB_CHECK(o.output_padding >= 0 && o.output_padding < std::max(o.stride, o.dilation), "[conv_transpose1d] output_padding ",
           o.output_padding, " must be non-negative and smaller than stride ", o.stride, " or dilation ", o.dilation);
  NB_CHECK(o.groups >= 1 && x.size(1) % o.groups == 0, "[conv_transpose1d] groups = ", o.groups,
           " must divide the input channels of input ", x.shape());
  const int64_t L = (x.size(2) - 1) * o.stride - 2 * o.padding + o.dilation * (weight.size(2) - 1) + o.output_padding + 1;
  NB_CHECK(L > 0, "[conv_transpose1d] output length ", L, " is not positive for input ", x.shape(), ", weight ",
           weight.shape(), ", stride ", o.stride, ", padding ", o.padding);
  ConvTranspose2dOptions o2;
  o2.stride = {1, o.stride};
  o2.padding = {0, o.padding};
  o2.output_padding = {0, o.output_padding};
  o2.dilation = {1, o.dilation};
  o2.groups = o.groups;
  return conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, o2).squeeze(2);
}

Tensor conv2d_weight_grad(const Tensor& x0, const Tensor& gout0, Size2 kernel, const Conv2dOptions& o) {
  ops::check_same_device(x0, gout0, "conv2d_weight_grad");
  NB_CHECK(x0.dim() == 4 && gout0.dim() == 4, "[conv2d_weight_grad] expected 4-D input and gradient, got ", x0.shape(),
           " and ", gout0.shape());
  NB_CHECK(x0.dtype() == gout0.dtype(), "[conv2d_weight_grad] dtypes differ: ", x0.dtype(), " and ", gout0.dtype());
  NB_CHECK(!o.padding_same, "[conv2d_weight_grad] padding_same is not supported; pass the explicit padding");
  ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  Shape wshape{gout0.size(1), x0.size(1) / std::max<int64_t>(o.groups, 1), kernel[0], kernel[1]};
  ConvGeom g = make_geom(x0.shape(), wshape, p, "conv2d_weight_grad");
  NB_CHECK(g.Ho == gout0.size(2) && g.Wo == gout0.size(3) && g.N == gout0.size(0), "[conv2d_weight_grad] gradient shape ",
           gout0.shape(), " does not match the conv output ", Shape{g.N, g.O, g.Ho, g.Wo});
  Tensor x = ops::contiguous_data(x0), gout = ops::contiguous_data(gout0);
  Tensor gw = empty(wshape, {.dtype = x.dtype(), .device = x.device()});
  if (g.N == 0 || g.Ho * g.Wo == 0) {
    backend::get(x.device()).fill(x.dtype(), gw.raw_data(), gw.numel(), 0.0);
  } else {
    backend::get(x.device()).conv2d_weight_grad(x.dtype(), g, x.raw_data(), gout.raw_data(), gw.raw_data());
  }
  if (auto node = autograd::record("conv2d_weight_grad", {x0, gout0}, {gw})) {
    bool nx = node->needs_input_grad(0), ng = node->needs_input_grad(1);
    node->backward_fn = [sx = ng ? node->save(x0) : autograd::SavedTensor(),
                         sg = nx ? node->save(gout0) : autograd::SavedTensor(), p, g, nx, ng](const TensorList& gr) {
      // gw is bilinear in (x, gout): <G, gw> = <conv(x, G), gout>.
      Tensor gx = nx ? conv_transpose2d(sg.get(), gr[0], Tensor(), to_transpose_options(p, output_padding_for(g))) : Tensor();
      Tensor gg = ng ? conv2d(sx.get(), gr[0], Tensor(), to_conv_options(p)) : Tensor();
      return TensorList{gx, gg};
    };
  }
  return gw;
}

}  // namespace nabla
