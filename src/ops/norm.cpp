// batch_norm, layer_norm and group_norm (which runs on batch_norm's kernels over regrouped
// channels; instance_norm is group_norm with a group per channel): fused forward kernels, VJPs
// written with nabla ops or fused backward kernels. In a
// first-order backward the VJP reuses the saved statistics; when the backward is itself
// recorded (create_graph) it recomputes them from x so second derivatives are exact.
#include <cmath>

#include "../backend/conv_kernels.h"
#include "autocast.h"
#include "op_util.h"

namespace nabla {

namespace {

/// A tensor's data for a kernel argument that may be absent.
void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

/// The dtype the norm kernels take x's weights in and give its parameter gradients and saved
/// statistics in: f32 for a 16-bit x (PyTorch's opmath; autocast keeps the parameters f32, and
/// a 16-bit weight widens exactly), x's own otherwise.
DType opmath_dtype(DType x) { return is_half(x) ? DType::f32 : x; }

/// t in dtype d (undefined stays undefined).
Tensor cast_or_null(const Tensor& t, DType d) { return t.defined() ? t.to(d) : t; }

/// A 16-bit x's composed steps (the evaluation-mode formula, the VJPs) run in f32: inputs widened
/// exactly, each result rounded once to its own dtype at the end, as the kernels do; with `on`
/// false (any other dtype) both are the identity.
struct HalfInF32 {
  bool on;
  Tensor widen(const Tensor& t) const { return on ? cast_or_null(t, DType::f32) : t; }
  Tensor narrow(const Tensor& t, DType d) const { return on ? cast_or_null(t, d) : t; }
};

/// Normalized input and the VJP of y = xhat * w + b through the normalization, for
/// statistics taken over `dims` (each of `count` elements).
TensorList norm_vjp(const Tensor& g, const Tensor& x, const Tensor& mean_saved, const Tensor& rstd_saved,
                    const Tensor& w_bcast, const Shape& dims, double eps, bool need_x) {
  Tensor mu = mean_saved, rstd = rstd_saved;
  if (is_grad_enabled()) {
    mu = mean(x, dims, true);
    Tensor c = x - mu;
    rstd = rsqrt(mean(c * c, dims, true) + eps);
  }
  Tensor xhat = (x - mu) * rstd;
  Tensor gxhat = w_bcast.defined() ? g * w_bcast : g;
  Tensor gx;
  if (need_x) gx = rstd * (gxhat - mean(gxhat, dims, true) - xhat * mean(gxhat * xhat, dims, true));
  return {gx, xhat};
}

/// First-order batch_norm backward in one backend kernel (two passes over x and g instead of
/// the dozen element-wise ops and reductions of norm_vjp), from the forward's f64 statistics.
TensorList batch_norm_backward_fused(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mean_d,
                                     const Tensor& rstd_d, bool nx, bool nw, bool nb, DType bias_dtype) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(N * C, 1);
  const TensorOptions like_x{.dtype = x.dtype(), .device = x.device()};
  const TensorOptions like_params{.dtype = opmath_dtype(x.dtype()), .device = x.device()};
  Tensor xc = ops::contiguous_data(x), gc = ops::contiguous_data(g.to(x.dtype()));
  // The weight and the parameter gradients in x's dtype (f32 for a 16-bit x), as norm_vjp's sums
  // give them (a weight of a wider dtype than that is rounded to it for the input gradient).
  Tensor wx = w.defined() ? ops::contiguous_data(w.to(like_params.dtype)) : Tensor();
  Tensor gx = nx ? empty(x.shape(), like_x) : Tensor();
  Tensor gw = nw ? empty({C}, like_params) : Tensor(), gb = nb ? empty({C}, like_params) : Tensor();
  backend::get(x.device())
      .batch_norm_backward(x.dtype(), N, C, S, xc.raw_data(), gc.raw_data(), static_cast<const double*>(mean_d.raw_data()),
                           static_cast<const double*>(rstd_d.raw_data()), data_or_null(wx), data_or_null(gx),
                           data_or_null(gw), data_or_null(gb));
  // A 16-bit x's parameter gradients go to the parameters' own dtypes (f32 ones under autocast).
  const HalfInF32 half{is_half(x.dtype())};
  return {gx, nw ? half.narrow(gw, w.dtype()) : gw, half.narrow(gb, bias_dtype)};
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  NB_CHECK(x.dim() >= 2, "[batch_norm] expected input [N, C, ...], got shape ", x.shape());
  ops::check_floating(x, "batch_norm");
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(N * C, 1);
  auto check_vec = [&](const Tensor& t, const char* what) {
    if (t.defined())
      NB_CHECK(t.dim() == 1 && t.size(0) == C, "[batch_norm] ", what, " must have shape [", C, "] for input ", x.shape(),
               ", got ", t.shape());
  };
  check_vec(running_mean, "running_mean");
  check_vec(running_var, "running_var");
  check_vec(weight, "weight");
  check_vec(bias, "bias");
  NB_CHECK(eps > 0, "[batch_norm] eps must be positive, got ", eps);
  Shape bshape(size_t(x.dim()), 1);
  bshape[1] = C;
  Shape dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);

  if (!training) {
    NB_CHECK(running_mean.defined() && running_var.defined(),
             "[batch_norm] evaluation mode needs running_mean and running_var");
    // A 16-bit x is normalized in f32 (with its parameters as they are: f32 under autocast) and
    // rounded once at the end.
    const HalfInF32 half{is_half(x.dtype())};
    const DType cdt = opmath_dtype(x.dtype());
    Tensor y =
        (half.widen(x) - running_mean.reshape(bshape).to(cdt)) * rsqrt(running_var.reshape(bshape).to(cdt) + eps);
    if (weight.defined()) y = y * weight.reshape(bshape);
    if (bias.defined()) y = y + bias.reshape(bshape);
    return half.narrow(y, x.dtype());
  }

  NB_CHECK(N * S > 1, "[batch_norm] training needs more than one value per channel, got input ", x.shape());
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) ops::check_same_device(x, *t, "batch_norm");
  Tensor xc = ops::contiguous_data(x);
  backend::Backend& be = backend::get(x.device());
  // Per-channel statistics stay on x's device (f64, C values), so a GPU never waits for the host.
  // One backend call forms them, then y = x * scale + shift with scale = w / sqrt(var + eps) and
  // shift = b - mean * scale (f64, the textbook formula), and updates the running averages; the
  // VJP below is written with nabla ops. The five per-channel rows share one allocation.
  const TensorOptions f64_here{.dtype = DType::f64, .device = x.device()};
  Tensor stats = empty({5, C}, f64_here);
  Tensor mean_d = stats.select(0, 0), rstd_d = stats.select(0, 2);
  auto row = [&](int64_t i) { return static_cast<double*>(stats.raw_data()) + i * C; };
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  {
    NoGradGuard ng;
    // Parameters and running averages contiguous and f32 or f64 (each pair in one dtype), as
    // the kernel reads them; running averages that are not get updated through a copy, written
    // back below. Their own dtype is kept where it is floating, so f64 running averages of an
    // f32 model accumulate in f64.
    // 16-bit ones (or a 16-bit x's missing ones) as f32, the kernel's narrowest.
    auto pair_dtype = [&](const Tensor& a, const Tensor& b) {
      const Tensor& t = a.defined() ? a : b;
      return opmath_dtype(t.defined() && t.is_floating_point() ? t.dtype() : x.dtype());
    };
    const DType pdt = pair_dtype(weight, bias), rdt = pair_dtype(running_mean, running_var);
    auto as = [](const Tensor& t, DType d) { return t.defined() ? ops::contiguous_data(t.detach().to(d)) : Tensor(); };
    Tensor w = as(weight, pdt), b = as(bias, pdt), rm = as(running_mean, rdt), rv = as(running_var, rdt);
    backend::BatchNormStats coef;
    coef.dtype = x.dtype();
    coef.N = N;
    coef.C = C;
    coef.S = S;
    coef.x = xc.raw_data();
    coef.param_dtype = pdt;
    coef.running_dtype = rdt;
    coef.weight = data_or_null(w);
    coef.bias = data_or_null(b);
    coef.running_mean = data_or_null(rm);
    coef.running_var = data_or_null(rv);
    coef.eps = eps;
    coef.momentum = momentum;
    coef.mean = row(0);
    coef.var = row(1);
    coef.rstd = row(2);
    coef.scale = row(3);
    coef.shift = row(4);
    be.batch_norm_stats(coef);
    for (auto [work, running] : {std::pair{rm, running_mean}, std::pair{rv, running_var}}) {
      if (!running.defined()) continue;
      if (work.raw_data() != running.raw_data()) running.copy_(work);
      else ops::bump_version(running, "batch_norm");  // updated in place, as by add_
    }
    be.channel_affine(x.dtype(), N, C, S, xc.raw_data(), coef.scale, coef.shift, y.raw_data());
  }
  if (auto node = autograd::record("batch_norm", {x, weight, bias}, {y})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nb = node->needs_input_grad(2);
    const DType bdt = bias.defined() ? bias.dtype() : x.dtype();
    node->backward_fn = [sx = node->save(x), sw = node->save(weight), mean_d, rstd_d, bshape, dims, eps, nx, nw, nb,
                         bdt](const TensorList& g) {
      Tensor w = sw.get(), xs = sx.get();
      if (!is_grad_enabled()) return batch_norm_backward_fused(g[0], xs, w, mean_d, rstd_d, nx, nw, nb, bdt);
      // Recorded backward (double backward): the composed VJP, which recomputes the statistics
      // from x so that they are differentiated too.
      const HalfInF32 half{is_half(xs.dtype())};
      const Tensor gy = half.widen(g[0]);
      Tensor wb = w.defined() ? half.widen(w).reshape(bshape) : Tensor();
      TensorList r = norm_vjp(gy, half.widen(xs), Tensor(), Tensor(), wb, dims, eps, nx);
      return TensorList{half.narrow(r[0], xs.dtype()), nw ? half.narrow(sum(gy * r[1], dims), w.dtype()) : Tensor(),
                        nb ? half.narrow(sum(gy, dims), bdt) : Tensor()};
    };
  }
  return y;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  if (ops::AutocastRegion ac(ops::autocast_op::layer_norm, {&x, &weight, &bias}); ac.active())
    return layer_norm(ac.cast(x), normalized_shape, ac.cast(weight), ac.cast(bias), eps);
  ops::check_normalized_shape(x, normalized_shape, weight, bias, "layer_norm");
  const int64_t k = int64_t(normalized_shape.size());
  NB_CHECK(eps > 0, "[layer_norm] eps must be positive, got ", eps);
  const int64_t D = shape_numel(normalized_shape), rows = D > 0 ? x.numel() / D : 0;
  Shape stat_shape(x.shape().begin(), x.shape().end() - k);
  stat_shape.insert(stat_shape.end(), size_t(k), 1);
  Tensor xc = ops::contiguous_data(x);
  // Weight, bias and the saved statistics in x's dtype, or f32 for a 16-bit x (an f32 weight
  // under autocast is used as it is, not rounded to x's dtype).
  const TensorOptions like_params{.dtype = opmath_dtype(x.dtype()), .device = x.device()};
  Tensor wc = weight.defined() ? ops::contiguous_data(weight.to(like_params.dtype)) : Tensor();
  Tensor bc = bias.defined() ? ops::contiguous_data(bias.to(like_params.dtype)) : Tensor();
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  Tensor mean_t = empty(stat_shape, like_params), rstd_t = empty(stat_shape, like_params);
  if (rows > 0)
    backend::get(x.device()).layer_norm_forward(x.dtype(), rows, D, xc.raw_data(), wc.defined() ? wc.raw_data() : nullptr,
                                     bc.defined() ? bc.raw_data() : nullptr, eps, y.raw_data(), mean_t.raw_data(),
                                     rstd_t.raw_data());
  Shape dims, lead;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  for (int64_t d = 0; d < x.dim() - k; ++d) lead.push_back(d);
  if (auto node = autograd::record("layer_norm", {x, weight, bias}, {y})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nb = node->needs_input_grad(2);
    const DType bdt = bias.defined() ? bias.dtype() : x.dtype();
    node->backward_fn = [sx = node->save(x), sw = node->save(weight), mean_t, rstd_t, dims, lead, eps, nx, nw, nb,
                         bdt](const TensorList& g) {
      const Tensor xs = sx.get(), w = sw.get();
      const HalfInF32 half{is_half(xs.dtype())};
      const Tensor gy = half.widen(g[0]);
      TensorList r = norm_vjp(gy, half.widen(xs), mean_t, rstd_t, half.widen(w), dims, eps, nx);
      auto lead_sum = [&](const Tensor& t) { return lead.empty() ? t : sum(t, lead); };
      return TensorList{half.narrow(r[0], xs.dtype()), nw ? half.narrow(lead_sum(gy * r[1]), w.dtype()) : Tensor(),
                        nb ? half.narrow(lead_sum(gy), bdt) : Tensor()};
    };
  }
  return y;
}

namespace {

/// First-order group_norm backward through batch_norm's fused backward kernel. The per-(sample,
/// channel) sums sum(g) and sum(g * xhat) come from one call with each (sample, channel) as a
/// "channel" of S values; they give the weight and bias gradients (summed over the batch) and,
/// with an affine weight, the input gradient's per-(sample, channel) constants
///   gx = r w g - r^2 B (x - mean) - r A,  A = sum_{c in group} w_c sum(g) / M,
///                                         B = sum_{c in group} w_c sum(g * xhat) / M,
/// applied by norm_input_grad in one more pass (two passes over x and g in all). Without a
/// weight, or on a backend without norm_input_grad, the input gradient is batch_norm_backward
/// over each (sample, group) as a channel of M values (of g * w: the weight varies inside a group).
TensorList group_norm_backward_fused(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mean_d,
                                     const Tensor& rstd_d, int64_t G, bool nx, bool nw, bool nb, DType bias_dtype) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C), M = C / G * S;
  const TensorOptions like_x{.dtype = x.dtype(), .device = x.device()};
  const TensorOptions like_params{.dtype = opmath_dtype(x.dtype()), .device = x.device()};
  backend::Backend& be = backend::get(x.device());
  Tensor xc = ops::contiguous_data(x), gc = ops::contiguous_data(g.to(x.dtype()));
  const bool one_pass_gx = nx && w.defined() && be.has_norm_input_grad();
  Tensor gx, gw, gb, sw, sb;
  // [N, G] statistics spread to [N, G, C/G]: each channel's share of its group's.
  auto per_channel = [&](const Tensor& t) { return t.reshape({N, G, 1}).expand({N, G, C / G}); };
  auto f64_data = [](const Tensor& t) { return static_cast<const double*>(t.raw_data()); };
  if (nw || nb || one_pass_gx) {
    Tensor mean_nc = ops::contiguous_data(per_channel(mean_d).reshape({N * C}));
    Tensor rstd_nc = ops::contiguous_data(per_channel(rstd_d).reshape({N * C}));
    sw = empty({N, C}, like_params), sb = empty({N, C}, like_params);
    be.batch_norm_backward(x.dtype(), 1, N * C, S, xc.raw_data(), gc.raw_data(), f64_data(mean_nc), f64_data(rstd_nc),
                           nullptr, nullptr, sw.raw_data(), sb.raw_data());
    if (nw) gw = sum(sw, {0});
    if (nb) gb = sum(sb, {0});
  }
  if (one_pass_gx) {
    NoGradGuard ng;
    Tensor w64 = w.detach().to(DType::f64).reshape({1, G, C / G});
    Tensor r = rstd_d.reshape({N, G, 1});
    Tensor A = sum(w64 * sb.to(DType::f64).reshape({N, G, C / G}), {2}, true) / double(M);
    Tensor B = sum(w64 * sw.to(DType::f64).reshape({N, G, C / G}), {2}, true) / double(M);
    auto flat = [&](const Tensor& t) { return ops::contiguous_data(t.expand({N, G, C / G}).reshape({N * C})); };
    Tensor a = flat(r * w64), m = flat(mean_d.reshape({N, G, 1})), b = flat(-(r * r * B)), k = flat(-(r * A));
    gx = empty(x.shape(), like_x);
    be.norm_input_grad(x.dtype(), 1, N * C, S, gc.raw_data(), xc.raw_data(), f64_data(a), f64_data(m), f64_data(b),
                       f64_data(k), gx.raw_data());
  } else if (nx) {
    Tensor gwc = gc;  // g * w[c]: the gradient of the normalized input
    if (w.defined()) {
      gwc = empty(x.shape(), like_x);
      Tensor w64 = ops::contiguous_data(w.detach().to(DType::f64));
      be.channel_affine(x.dtype(), N, C, S, gc.raw_data(), f64_data(w64),
                        f64_data(zeros({C}, {.dtype = DType::f64, .device = x.device()})), gwc.raw_data());
    }
    gx = empty(x.shape(), like_x);
    be.batch_norm_backward(x.dtype(), 1, N * G, M, xc.raw_data(), gwc.raw_data(), f64_data(mean_d), f64_data(rstd_d),
                           nullptr, gx.raw_data(), nullptr, nullptr);
  }
  const HalfInF32 half{is_half(x.dtype())};
  return {gx, nw ? half.narrow(gw, w.dtype()) : gw, half.narrow(gb, bias_dtype)};
}

}  // namespace

/// Each (sample, group) is one "channel" of batch_norm's statistics kernel ([1, N*G, C/G * S]),
/// and y = x * scale + shift with per-(sample, channel) coefficients in one pass (scale =
/// w * rstd, shift = b - mean * scale, in f64): three passes over x where layer_norm followed by
/// the affine ops took five, and a backward of two fused kernels instead of a dozen ops.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  if (ops::AutocastRegion ac(ops::autocast_op::layer_norm, {&x, &weight, &bias}); ac.active())
    return group_norm(ac.cast(x), num_groups, ac.cast(weight), ac.cast(bias), eps);
  ops::check_floating(x, "group_norm");
  NB_CHECK(x.dim() >= 2, "[group_norm] input must be [N, C, ...], got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  NB_CHECK(num_groups > 0 && C % num_groups == 0, "[group_norm] num_groups ", num_groups,
           " must be positive and divide the ", C, " channels of input ", x.shape());
  NB_CHECK(eps > 0, "[group_norm] eps must be positive, got ", eps);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined()) {
      NB_CHECK(p->dim() == 1 && p->size(0) == C, "[group_norm] ", p == &weight ? "weight" : "bias", " shape ",
               p->shape(), " must be [", C, "] for input ", x.shape());
      ops::check_same_device(x, *p, "group_norm");
    }
  const int64_t G = num_groups;
  Shape per_channel(size_t(x.dim()), 1);
  per_channel[1] = C;
  if (x.numel() == 0) {  // nothing to normalize; the affine ops keep the graph and the shapes
    Tensor y = x * 1.0;
    if (weight.defined()) y = y * weight.to(x.dtype()).reshape(per_channel);
    if (bias.defined()) y = y + bias.to(x.dtype()).reshape(per_channel);
    return y;
  }
  const int64_t S = x.numel() / (N * C), M = C / G * S;
  Tensor xc = ops::contiguous_data(x);
  backend::Backend& be = backend::get(x.device());
  const TensorOptions f64_here{.dtype = DType::f64, .device = x.device()};
  Tensor stats = empty({5, N * G}, f64_here);  // mean, var, rstd, scale, shift of each group
  Tensor mean_d = stats.select(0, 0), rstd_d = stats.select(0, 2);
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  {
    NoGradGuard ng;
    backend::BatchNormStats st;
    st.dtype = x.dtype();
    st.N = 1;
    st.C = N * G;
    st.S = M;
    st.x = xc.raw_data();
    st.eps = eps;
    auto row = [&](int64_t i) { return static_cast<double*>(stats.raw_data()) + i * N * G; };
    st.mean = row(0), st.var = row(1), st.rstd = row(2), st.scale = row(3), st.shift = row(4);
    be.batch_norm_stats(st);
    // Per (sample, channel): scale = rstd[n, g] * w[c], shift = b[c] - mean[n, g] * scale.
    Tensor scale = rstd_d.reshape({N, G, 1});
    if (weight.defined()) scale = scale * weight.detach().to(DType::f64).reshape({1, G, C / G});
    scale = scale.expand({N, G, C / G});
    Tensor shift = -(mean_d.reshape({N, G, 1}) * scale);
    if (bias.defined()) shift = shift + bias.detach().to(DType::f64).reshape({1, G, C / G});
    scale = ops::contiguous_data(scale.reshape({N * C}));
    shift = ops::contiguous_data(shift.reshape({N * C}));
    be.channel_affine(x.dtype(), 1, N * C, S, xc.raw_data(), static_cast<const double*>(scale.raw_data()),
                      static_cast<const double*>(shift.raw_data()), y.raw_data());
  }
  if (auto node = autograd::record("group_norm", {x, weight, bias}, {y})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nb = node->needs_input_grad(2);
    Shape not_channel{0};
    for (int64_t d = 2; d < x.dim(); ++d) not_channel.push_back(d);
    const DType bdt = bias.defined() ? bias.dtype() : x.dtype();
    node->backward_fn = [sx = node->save(x), sw = node->save(weight), mean_d, rstd_d, G, M, per_channel, not_channel,
                         eps, nx, nw, nb, bdt](const TensorList& g) {
      Tensor w = sw.get(), xs = sx.get();
      if (!is_grad_enabled()) return group_norm_backward_fused(g[0], xs, w, mean_d, rstd_d, G, nx, nw, nb, bdt);
      // Recorded backward (double backward): the composed VJP over [N, G, M] rows, which
      // recomputes the statistics from x so that they are differentiated too.
      const int64_t N = xs.size(0);
      const HalfInF32 half{is_half(xs.dtype())};
      const Tensor gy = half.widen(g[0]), xw = half.widen(xs);
      Tensor gw_in = w.defined() ? gy * w.to(xw.dtype()).reshape(per_channel) : gy;
      TensorList r =
          norm_vjp(gw_in.reshape({N, G, M}), xw.reshape({N, G, M}), Tensor(), Tensor(), Tensor(), {2}, eps, nx);
      Tensor xhat = r[1].reshape(xs.shape());
      return TensorList{nx ? half.narrow(r[0].reshape(xs.shape()), xs.dtype()) : Tensor(),
                        nw ? half.narrow(sum(gy * xhat, not_channel), w.dtype()) : Tensor(),
                        nb ? half.narrow(sum(gy, not_channel), bdt) : Tensor()};
    };
  }
  return y;
}

Tensor instance_norm(const Tensor& x, const InstanceNormOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::instance_norm, {&x}); ac.active()) return instance_norm(x, o);
  ops::check_floating(x, "instance_norm");
  NB_CHECK(x.dim() >= 3, "[instance_norm] input must be [N, C, L] or [N, C, H, W] (batch, channels and at least one",
           " spatial dim), got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  int64_t positions = 1;
  for (int64_t d = 2; d < x.dim(); ++d) positions *= x.size(d);
  // Checked here so the errors name instance_norm, not the ops it runs on.
  NB_CHECK(o.eps > 0, "[instance_norm] eps must be positive, got ", o.eps);
  NB_CHECK(o.running_mean.defined() == o.running_var.defined(),
           "[instance_norm] give both running_mean and running_var or neither");
  for (const auto& [t, name] : {std::pair{&o.running_mean, "running_mean"}, std::pair{&o.running_var, "running_var"},
                                std::pair{&o.weight, "weight"}, std::pair{&o.bias, "bias"}}) {
    if (!t->defined()) continue;
    NB_CHECK(t->dim() == 1 && t->size(0) == C, "[instance_norm] ", name, " shape ", t->shape(), " must be [", C,
             "] for input ", x.shape());
    NB_CHECK(t->is_floating_point(), "[instance_norm] ", name, " must be floating, got ", t->dtype());
  }
  if (!o.use_input_stats) {
    NB_CHECK(o.running_mean.defined(), "[instance_norm] use_input_stats = false needs running_mean and running_var");
    // Normalizing with fixed per-channel statistics is batch norm's evaluation path.
    return batch_norm(x, o.running_mean, o.running_var, o.weight, o.bias, false, o.momentum, o.eps);
  }
  NB_CHECK(positions > 1, "[instance_norm] expected more than 1 spatial element per channel when using the input's",
           " statistics, got input ", x.shape());
  Tensor y = group_norm(x, C, o.weight, o.bias, o.eps);  // one group per channel
  if (o.running_mean.defined() && N > 0 && C > 0) {  // an empty batch leaves them as they are
    NoGradGuard no_grad;
    const Tensor flat = x.detach().reshape({N, C, positions});
    const double m = o.momentum;
    for (auto [running, batch] : {std::pair{o.running_mean, mean(flat, {2})}, std::pair{o.running_var, var(flat, {2})}}) {
      Tensor r = running;  // a handle: copy_ writes the caller's buffer
      r.copy_(r * (1.0 - m) + mean(batch, {0}).to(r.dtype()) * m);
    }
  }
  return y;
}

}  // namespace nabla
