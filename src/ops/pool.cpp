// Pooling. max_pool2d's VJP scatters into the saved argmax positions (scatter_add, so it is
// differentiable again); avg pooling's VJP is its own linear adjoint op.
#include <cmath>

#include "../backend/conv_kernels.h"
#include "op_util.h"

namespace nabla {

using backend::PoolGeom;

namespace {

PoolGeom pool_geom(const Tensor& x, const Pool2dOptions& o, const char* op) {
  NB_CHECK(x.dim() == 4, "[", op, "] expected input [N, C, H, W], got shape ", x.shape());
  ops::check_floating(x, op);
  PoolGeom g{};
  g.planes = x.size(0) * x.size(1);
  g.H = x.size(2), g.W = x.size(3);
  g.kh = o.kernel[0], g.kw = o.kernel[1];
  g.sh = o.stride[0] == 0 ? g.kh : o.stride[0];
  g.sw = o.stride[1] == 0 ? g.kw : o.stride[1];
  g.ph = o.padding[0], g.pw = o.padding[1];
  g.count_include_pad = o.count_include_pad;
  NB_CHECK(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1, "[", op, "] kernel and stride must be positive, got kernel (",
           g.kh, ", ", g.kw, "), stride (", g.sh, ", ", g.sw, ")");
  NB_CHECK(g.ph >= 0 && g.pw >= 0 && 2 * g.ph <= g.kh && 2 * g.pw <= g.kw, "[", op, "] padding (", g.ph, ", ", g.pw,
           ") must be non-negative and at most half the kernel (", g.kh, ", ", g.kw, ")");
  NB_CHECK(g.H + 2 * g.ph >= g.kh && g.W + 2 * g.pw >= g.kw, "[", op, "] kernel (", g.kh, ", ", g.kw,
           ") is larger than the padded input ", Shape{g.H + 2 * g.ph, g.W + 2 * g.pw}, " (input ", x.shape(), ")");
  auto out_size = [&](int64_t in, int64_t k, int64_t s, int64_t p) {
    int64_t span = in + 2 * p - k;
    int64_t n = (o.ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // With ceil_mode the last window must start inside the input or left padding (PyTorch's rule).
    if (o.ceil_mode && (n - 1) * s >= in + p) --n;
    return n;
  };
  g.Ho = out_size(g.H, g.kh, g.sh, g.ph);
  g.Wo = out_size(g.W, g.kw, g.sw, g.pw);
  return g;
}

Shape out_shape(const Tensor& x, const PoolGeom& g) { return {x.size(0), x.size(1), g.Ho, g.Wo}; }

// The adjoint of avg_pool2d (a linear map), recorded as an op so it can be differentiated.
Tensor avg_pool2d_backward(const Tensor& gout0, const Shape& in_shape, const Pool2dOptions& o, const PoolGeom& g) {
  Tensor gout = ops::contiguous_data(gout0);
  Tensor gx = empty(in_shape, {.dtype = gout.dtype(), .device = gout.device()});
  backend::get(gout.device()).avg_pool2d_backward(gout.dtype(), g, gout.raw_data(), gx.raw_data());
  if (auto node = autograd::record("avg_pool2d_backward", {gout0}, {gx})) {
    node->backward_fn = [o](const TensorList& gr) { return TensorList{avg_pool2d(gr[0], o)}; };
  }
  return gx;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x0, const Pool2dOptions& o) {
  PoolGeom g = pool_geom(x0, o, "max_pool2d");
  Tensor x = ops::contiguous_data(x0);
  Tensor out = empty(out_shape(x, g), {.dtype = x.dtype(), .device = x.device()});
  Tensor idx = empty(out_shape(x, g), {.dtype = DType::i64, .device = x.device()});
  if (out.numel() > 0) backend::get(x.device()).max_pool2d_forward(x.dtype(), g, x.raw_data(), out.raw_data(), static_cast<int64_t*>(idx.raw_data()));
  if (auto node = autograd::record("max_pool2d", {x0}, {out})) {
    node->backward_fn = [idx, in_shape = x0.shape(), g](const TensorList& gr) {
      if (!is_grad_enabled()) {  // first-order backward: one kernel, no zeros + copy + scatter_add
        Tensor go = ops::contiguous_data(gr[0]);
        Tensor gx = empty(in_shape, {.dtype = go.dtype(), .device = go.device()});
        backend::get(go.device()).max_pool2d_backward(go.dtype(), g, go.raw_data(), ops::index_ptr(idx),
                                                     gx.raw_data());
        return TensorList{gx};
      }
      // Differentiable form (create_graph): route each output gradient to its argmax with a
      // scatter_add over flattened planes.
      Shape flat{in_shape[0], in_shape[1], g.H * g.W};
      Shape oflat{in_shape[0], in_shape[1], g.Ho * g.Wo};
      Tensor z = zeros(flat, {.dtype = gr[0].dtype(), .device = gr[0].device()});
      return TensorList{scatter_add(z, 2, idx.reshape(oflat), gr[0].reshape(oflat)).reshape(in_shape)};
    };
  }
  return {out, idx};
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) { return max_pool2d_with_indices(x, o).first; }

Tensor avg_pool2d(const Tensor& x0, const Pool2dOptions& o) {
  PoolGeom g = pool_geom(x0, o, "avg_pool2d");
  Tensor x = ops::contiguous_data(x0);
  Tensor out = empty(out_shape(x, g), {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) backend::get(x.device()).avg_pool2d_forward(x.dtype(), g, x.raw_data(), out.raw_data());
  if (auto node = autograd::record("avg_pool2d", {x0}, {out})) {
    node->backward_fn = [in_shape = x0.shape(), o, g](const TensorList& gr) {
      return TensorList{avg_pool2d_backward(gr[0], in_shape, o, g)};
    };
  }
  return out;
}

namespace {
Tensor adaptive_backward(const Tensor& gout0, const Shape& in_shape);

Tensor adaptive_forward(const Tensor& x0, Size2 size) {
  Tensor x = ops::contiguous_data(x0);
  int64_t H = x.size(2), W = x.size(3);
  Tensor out = empty({x.size(0), x.size(1), size[0], size[1]}, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0)
    backend::get(x.device()).adaptive_avg_pool2d_forward(x.dtype(), x.size(0) * x.size(1), H, W, size[0], size[1], x.raw_data(),
                                              out.raw_data());
  if (auto node = autograd::record("adaptive_avg_pool2d", {x0}, {out})) {
    node->backward_fn = [in_shape = x0.shape()](const TensorList& gr) {
      return TensorList{adaptive_backward(gr[0], in_shape)};
    };
  }
  return out;
}

Tensor adaptive_backward(const Tensor& gout0, const Shape& in_shape) {
  Tensor gout = ops::contiguous_data(gout0);
  Tensor gx = empty(in_shape, {.dtype = gout.dtype(), .device = gout.device()});
  backend::get(gout.device()).adaptive_avg_pool2d_backward(gout.dtype(), in_shape[0] * in_shape[1], in_shape[2], in_shape[3],
                                             gout.size(2), gout.size(3), gout.raw_data(), gx.raw_data());
  if (auto node = autograd::record("adaptive_avg_pool2d_backward", {gout0}, {gx})) {
    node->backward_fn = [size = Size2{gout.size(2), gout.size(3)}](const TensorList& gr) {
      return TensorList{adaptive_forward(gr[0], size)};
    };
  }
  return gx;
}

/// The input and output size checks of adaptive pooling, naming `op`.
void check_adaptive(const Tensor& x, Size2 size, const char* op) {
  NB_CHECK(x.dim() == 4, "[", op, "] expected input [N, C, H, W], got shape ", x.shape());
  ops::check_floating(x, op);
  NB_CHECK(size[0] >= 1 && size[1] >= 1, "[", op, "] output size (", size[0], ", ", size[1], ") must be positive");
  NB_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "[", op, "] input ", x.shape(), " has an empty spatial dim");
}
}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 size) {
  check_adaptive(x, size, "adaptive_avg_pool2d");
  return adaptive_forward(x, size);
}

namespace {
/// Max over the adaptive windows [floor(i L / out), ceil((i + 1) L / out)) of `dim`, one narrow
/// per output position (the windows of adaptive pooling overlap and differ in size). argmax and
/// gather, not max: the gradient goes to the first maximum only, as max pooling's does.
Tensor adaptive_max_along(const Tensor& x, int64_t dim, int64_t out) {
  const int64_t L = x.size(dim);
  TensorList parts;
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = i * L / out, end = ((i + 1) * L + out - 1) / out;
    const Tensor window = x.narrow(dim, start, end - start);
    parts.push_back(gather(window, dim, argmax(window, dim, true)));
  }
  return out == 1 ? parts[0] : cat(parts, dim);
}
}  // namespace

Tensor adaptive_max_pool2d(const Tensor& x, Size2 size) {
  check_adaptive(x, size, "adaptive_max_pool2d");
  const int64_t H = x.size(2), W = x.size(3);
  // Equal windows that tile the input are plain max pooling (one kernel each way).
  if (H % size[0] == 0 && W % size[1] == 0)
    return max_pool2d(x, {.kernel = {H / size[0], W / size[1]}, .stride = {H / size[0], W / size[1]}});
  // A max over a rectangle is the max over its rows of each row's max: along W first, then H, so
  // the element picked is the first maximum in row-major order (first row holding the maximum,
  // first column in it), the one max_pool2d picks.
  return adaptive_max_along(adaptive_max_along(x, 3, size[1]), 2, size[0]);
}

Tensor global_avg_pool2d(const Tensor& x) {
  NB_CHECK(x.dim() == 4, "[global_avg_pool2d] expected input [N, C, H, W], got shape ", x.shape());
  return mean(x, {2, 3});
}

// ---- 1-D pooling: the 2-D ops over [N, C, 1, L] ------------------------------------------------

namespace {

/// Checks a 1-D pooling call in its own words (the 2-D op would report (1, k) pairs and 4-D
/// shapes the caller never passed), then runs `op2d` on x viewed as [N, C, 1, L].
template <typename Op>
Tensor pool1d(const Tensor& x, const Pool1dOptions& o, const char* op, Op&& op2d) {
  NB_CHECK(x.dim() == 2 || x.dim() == 3, "[", op, "] expected input [N, C, L] or [C, L], got shape ", x.shape());
  if (x.dim() == 2) return pool1d(x.unsqueeze(0), o, op, op2d).squeeze(0);
  ops::check_floating(x, op);
  const int64_t k = o.kernel, s = o.stride == 0 ? o.kernel : o.stride, L = x.size(2);
  NB_CHECK(k >= 1 && s >= 1, "[", op, "] kernel and stride must be positive, got kernel ", k, ", stride ", s);
  NB_CHECK(o.padding >= 0 && 2 * o.padding <= k, "[", op, "] padding ", o.padding,
           " must be non-negative and at most half the kernel ", k);
  NB_CHECK(L + 2 * o.padding >= k, "[", op, "] kernel ", k, " is longer than the padded input length ",
           L + 2 * o.padding, " (input ", x.shape(), ")");
  Pool2dOptions o2;
  o2.kernel = {1, k};
  o2.stride = {1, s};
  o2.padding = {0, o.padding};
  o2.ceil_mode = o.ceil_mode;
  o2.count_include_pad = o.count_include_pad;
  return op2d(x.unsqueeze(2), o2).squeeze(2);
}

template <typename Op>
Tensor adaptive_pool1d(const Tensor& x, int64_t size, const char* op, Op&& op2d) {
  NB_CHECK(x.dim() == 2 || x.dim() == 3, "[", op, "] expected input [N, C, L] or [C, L], got shape ", x.shape());
  if (x.dim() == 2) return adaptive_pool1d(x.unsqueeze(0), size, op, op2d).squeeze(0);
  ops::check_floating(x, op);
  NB_CHECK(size >= 1, "[", op, "] output size ", size, " must be positive");
  NB_CHECK(x.size(2) >= 1, "[", op, "] input ", x.shape(), " has an empty length");
  return op2d(x.unsqueeze(2), Size2{1, size}).squeeze(2);
}

}  // namespace

Tensor max_pool1d(const Tensor& x, const Pool1dOptions& o) {
  return pool1d(x, o, "max_pool1d", [](const Tensor& t, const Pool2dOptions& p) { return max_pool2d(t, p); });
}

Tensor avg_pool1d(const Tensor& x, const Pool1dOptions& o) {
  return pool1d(x, o, "avg_pool1d", [](const Tensor& t, const Pool2dOptions& p) { return avg_pool2d(t, p); });
}

Tensor adaptive_avg_pool1d(const Tensor& x, int64_t size) {
  return adaptive_pool1d(x, size, "adaptive_avg_pool1d", [](const Tensor& t, Size2 s) { return adaptive_avg_pool2d(t, s); });
}

Tensor adaptive_max_pool1d(const Tensor& x, int64_t size) {
  return adaptive_pool1d(x, size, "adaptive_max_pool1d", [](const Tensor& t, Size2 s) { return adaptive_max_pool2d(t, s); });
}

}  // namespace nabla
