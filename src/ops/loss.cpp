// Losses, stable (log-sum-exp) and twice differentiable. cross_entropy with class targets and no
// class weights, the classifier's loss, runs as kernels (class_nll.h); the other forms are
// composed from log_softmax / gather / where.
#include "autocast.h"
#include "loss_util.h"

namespace nabla {

namespace {

using ops::check_loss_weight;
using ops::check_not_batchmean;
using ops::check_pair;
using ops::reduce_loss;

/// Moves the class dim last and flattens: [N, C, d...] -> [N*d..., C]; targets [N, d...] -> [N*d...].
Tensor classes_last(const Tensor& x) {
  if (x.dim() <= 2) return x;
  Shape perm{0};
  for (int64_t d = 2; d < x.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return x.permute(perm).reshape({-1, x.size(1)});
}

void check_targets(const Tensor& logits, const Tensor& target, const char* op) {
  NB_CHECK(logits.dim() >= 1, "[", op, "] input must have a class dimension, got a 0-d tensor");
  int64_t cdim = logits.dim() == 1 ? 0 : 1;
  Shape want = logits.shape();
  want.erase(want.begin() + cdim);
  NB_CHECK(target.shape() == want, "[", op, "] target shape ", target.shape(), " does not match input shape ",
           logits.shape(), ": expected target ", want, " (class indices) for ", logits.size(cdim), " classes");
}

/// Class targets flattened to one contiguous [rows] tensor, once known to be class indices in
/// [0, C) or ignore_index (checked where they live: on a GPU without waiting, see ops::check_indices).
Tensor checked_targets(const Tensor& target, int64_t C, int64_t ignore_index, const char* op, const Shape& input_shape) {
  Tensor t = ops::contiguous_data(target.reshape({-1}));
  ops::check_indices(t, {.limit = C, .also = ignore_index},
                     [op = std::string(op), C, ignore_index, input_shape](int64_t at, int64_t v) {
                       return detail::concat("[", op, "] target ", v, " at position ", at,
                                             " is out of range for input of shape ", input_shape,
                                             ": expected a class index in [0, ", C, ") or ignore_index ", ignore_index);
                     });
  return t;
}

/// cross_entropy with class targets and no class weights, for logits x [rows, C] and checked
/// targets t [rows], as two kernels (class_nll.h): log_softmax, then the loss picked and reduced
/// with the kept-row count it divides by; the VJP is one kernel, softmax(x) - target. When a
/// graph is being recorded (create_graph) the VJP is written with nabla ops instead, so it is
/// differentiable again. Replaces about fifteen ops each way (mask, where, gather, sums), and on
/// a GPU the host never waits for the targets.
Tensor class_cross_entropy(const Tensor& x, const Tensor& t, const CrossEntropyOptions& o) {
  Tensor lp;
  {
    NoGradGuard ng;
    lp = ops::contiguous_data(log_softmax(x, 1));
  }
  backend::ClassNll a{.dtype = x.dtype(), .lp = lp.raw_data(), .target = ops::index_ptr(t), .rows = lp.size(0),
                      .classes = lp.size(1), .ignore_index = o.ignore_index, .smoothing = o.label_smoothing,
                      .reduction = o.reduction};
  const TensorOptions like{.dtype = x.dtype(), .device = x.device()};
  Tensor loss = empty(o.reduction == Reduction::None ? Shape{a.rows} : Shape{}, like);
  Tensor kept = empty({}, like);
  backend::get(x.device()).class_nll(a, loss.raw_data(), kept.raw_data());
  if (auto node = autograd::record("cross_entropy", {x}, {loss})) {
    node->backward_fn = [sx = node->save(x), lp, t, kept, a](const TensorList& g) {
      if (is_grad_enabled()) {
        const double s = a.smoothing, C = double(a.classes);
        Tensor scale = a.reduction == Reduction::None ? g[0].unsqueeze(1) : g[0];
        // Every row ignored (kept 0): every row is masked below, so divide by 1, not 0 (NaN).
        if (a.reduction == Reduction::Mean) scale = scale / where(kept > 0.0, kept, ones_like(kept));
        Tensor xs = sx.get();
        Tensor valid = ne(t, scalar_tensor(double(a.ignore_index), DType::i64));
        Tensor safe_t = where(valid, t, zeros_like(t));
        Tensor d = softmax(xs, 1) - one_hot(safe_t, a.classes, xs.dtype()) * (1.0 - s) - s / C;
        return TensorList{d * valid.unsqueeze(1).to(xs.dtype()) * scale};
      }
      Tensor gc = ops::contiguous_data(g[0]);
      Tensor gx = empty({a.rows, a.classes}, {.dtype = a.dtype, .device = lp.device()});
      backend::ClassNll b = a;
      b.lp = lp.raw_data(), b.target = ops::index_ptr(t);
      backend::get(lp.device()).class_nll_backward(b, gc.raw_data(), kept.raw_data(), gx.raw_data());
      return TensorList{gx};
    };
  }
  return loss;
}

struct PickedLoss {
  Tensor nll;      // per sample: -w[t] * logp[t] (0 where ignored)
  Tensor weights;  // per sample: w[t] (0 where ignored)
};

/// Shared by nll_loss and cross_entropy: logp [M, C], target [M], already through checked_targets.
PickedLoss pick(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  Tensor valid = ne(target, scalar_tensor(double(ignore_index), DType::i64));
  Tensor safe_t = where(valid, target, zeros_like(target));
  ops::ReusingCheckedIndex checked;  // the caller checked the targets (checked_targets)
  Tensor picked = gather(logp, 1, safe_t.unsqueeze(1)).squeeze(1);
  Tensor w = weight.defined() ? index_select(weight.to(logp.dtype()), 0, safe_t) : ones(picked.shape(), {.dtype = logp.dtype(), .device = logp.device()});
  w = where(valid, w, zeros_like(w));
  return {-picked * w, w};
}

/// total / sum(weights), PyTorch's weighted mean. When every target is ignored the loss is NaN,
/// as in PyTorch, but its gradient is zero (x / 0 would pass 0 * inf = NaN into every weight at
/// the next step).
Tensor weighted_mean(const Tensor& total, const Tensor& weights) {
  const Tensor w = sum(weights);
  const Tensor none = eq(w, ops::scalar_like(0, w));
  const Tensor nan_if_none = where(none, ops::scalar_like(NAN, w), ops::scalar_like(0, w));  // a constant
  return total / where(none, ones_like(w), w) + nan_if_none;
}

void check_weight(const Tensor& weight, int64_t C, const char* op) {
  if (!weight.defined()) return;
  NB_CHECK(weight.dim() == 1 && weight.size(0) == C, "[", op, "] class weight must have shape [", C, "], got ",
           weight.shape());
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&log_probs, &target}); ac.active())
    return nll_loss(ac.cast(log_probs), ac.cast(target), cast_options(ac, o));
  ops::check_floating(log_probs, "nll_loss");
  check_not_batchmean(o.reduction, "nll_loss");
  ops::check_same_device(log_probs, target, "nll_loss");
  NB_CHECK(target.dtype() == DType::i64, "[nll_loss] target must hold i64 class indices, got ", target.dtype());
  check_targets(log_probs, target, "nll_loss");
  Tensor lp = log_probs.dim() == 1 ? log_probs.unsqueeze(0) : classes_last(log_probs);
  int64_t C = lp.size(1);
  check_weight(o.weight, C, "nll_loss");
  Tensor t = checked_targets(target, C, o.ignore_index, "nll_loss", log_probs.shape());
  PickedLoss p = pick(lp, t, o.weight, o.ignore_index);
  if (o.reduction == Reduction::Sum) return sum(p.nll);
  if (o.reduction == Reduction::Mean) return weighted_mean(sum(p.nll), p.weights);
  return p.nll.reshape(target.shape());
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&logits, &target}); ac.active())
    return cross_entropy(ac.cast(logits), ac.cast(target), cast_options(ac, o));
  ops::check_floating(logits, "cross_entropy");
  check_not_batchmean(o.reduction, "cross_entropy");
  ops::check_same_device(logits, target, "cross_entropy");  // the kernels read both
  NB_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, "[cross_entropy] label_smoothing must be in [0, 1], got ",
           o.label_smoothing);
  int64_t cdim = logits.dim() == 1 ? 0 : 1;
  int64_t C = logits.size(cdim);
  check_weight(o.weight, C, "cross_entropy");
  Tensor x = logits.dim() == 1 ? logits.unsqueeze(0) : classes_last(logits);  // [rows, C]
  Tensor w_row = o.weight.defined() ? o.weight.to(logits.dtype()) : Tensor();

  if (target.is_floating_point()) {
    // Probability targets (soft labels) of the logits' shape.
    NB_CHECK(target.shape() == logits.shape(), "[cross_entropy] probability targets must have the logits' shape ",
             logits.shape(), ", got ", target.shape());
    Tensor lp = log_softmax(x, 1);
    Tensor t = logits.dim() == 1 ? target.unsqueeze(0) : classes_last(target.to(logits.dtype()));
    if (o.label_smoothing > 0) t = t * (1.0 - o.label_smoothing) + o.label_smoothing / double(C);
    Tensor per = w_row.defined() ? -sum(t * lp * w_row, {1}) : -sum(t * lp, {1});
    Shape out_shape = target.shape();
    out_shape.erase(out_shape.begin() + cdim);
    if (o.reduction == Reduction::None) return per.reshape(out_shape);
    return o.reduction == Reduction::Sum ? sum(per) : sum(per) / double(per.numel());
  }

  NB_CHECK(target.dtype() == DType::i64, "[cross_entropy] targets must be i64 class indices or floating probabilities, got ",
           target.dtype());
  check_targets(logits, target, "cross_entropy");
  Tensor t = checked_targets(target, C, o.ignore_index, "cross_entropy", logits.shape());
  if (!o.weight.defined()) {
    Tensor loss = class_cross_entropy(x, t, o);
    return o.reduction == Reduction::None ? loss.reshape(target.shape()) : loss;
  }
  // Class weights: composed from log_softmax, gather and where.
  Tensor lp = log_softmax(x, 1);
  PickedLoss p = pick(lp, t, o.weight, o.ignore_index);
  Tensor loss = p.nll;
  if (o.label_smoothing > 0) {
    // Uniform part of the smoothed target: -sum_c w_c logp_c / C, zero where ignored.
    Tensor valid = ne(t, scalar_tensor(double(o.ignore_index), DType::i64));
    Tensor s = -sum(lp * w_row, {1});
    loss = loss * (1.0 - o.label_smoothing) + where(valid, s, zeros_like(s)) * (o.label_smoothing / double(C));
  }
  if (o.reduction == Reduction::Sum) return sum(loss);
  if (o.reduction == Reduction::Mean) return weighted_mean(sum(loss), p.weights);
  return loss.reshape(target.shape());
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return mse_loss(ac.cast(input), ac.cast(target), reduction);
  check_pair(input, target, "mse_loss");
  Tensor d = input - target;
  return reduce_loss(d * d, reduction, "mse_loss");
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return l1_loss(ac.cast(input), ac.cast(target), reduction);
  check_pair(input, target, "l1_loss");
  return reduce_loss(abs(input - target), reduction, "l1_loss");
}

/// scale d^2 where |d| < limit, else `linear`: the quadratic piece of smooth_l1 and huber. The
/// mask is made once, and the quadratic branch reads d zeroed outside it, so the zero gradient
/// `where` sends into the branch it did not pick never meets an infinite d (0 * inf = NaN).
Tensor quadratic_below(const Tensor& d, const Tensor& ad, double limit, double scale, const Tensor& linear) {
  const Tensor inside = ad < limit;
  const Tensor q = where(inside, d, zeros_like(d));
  return where(inside, q * q * scale, linear);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return smooth_l1_loss(ac.cast(input), ac.cast(target), reduction, beta);
  check_pair(input, target, "smooth_l1_loss");
  NB_CHECK(beta >= 0, "[smooth_l1_loss] beta must be non-negative, got ", beta);
  Tensor d = input - target, ad = abs(d);
  if (beta == 0) return reduce_loss(ad, reduction, "smooth_l1_loss");
  return reduce_loss(quadratic_below(d, ad, beta, 0.5 / beta, ad - 0.5 * beta), reduction, "smooth_l1_loss");
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return huber_loss(ac.cast(input), ac.cast(target), reduction, delta);
  check_pair(input, target, "huber_loss");
  NB_CHECK(delta > 0, "[huber_loss] delta must be positive, got ", delta);
  Tensor d = input - target, ad = abs(d);
  if (std::isinf(delta)) return reduce_loss(d * d * 0.5, reduction, "huber_loss");  // no linear part (inf * 0)
  return reduce_loss(quadratic_below(d, ad, delta, 0.5, (ad - 0.5 * delta) * delta), reduction, "huber_loss");
}

Tensor kl_div(const Tensor& input, const Tensor& target, const KLDivOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return kl_div(ac.cast(input), ac.cast(target), o);
  check_pair(input, target, "kl_div");
  Tensor t = target.to(input.dtype());
  Tensor per;
  if (o.log_target) {
    per = exp(t) * (t - input);
  } else {
    // t log t is 0 at t = 0 (PyTorch's xlogy; NaN for a negative t, as there); log of 1 at 0
    // keeps the unused branch finite. d/dt at t = 0 is -inf; this gives -input there.
    Tensor zero = eq(t, ops::scalar_like(0, t));
    per = where(zero, zeros_like(t), t * log(where(zero, ones_like(t), t))) - t * input;
  }
  if (o.reduction != Reduction::BatchMean) return reduce_loss(per, o.reduction, "kl_div");
  return sum(per) / double(input.dim() == 0 ? 1 : input.size(0));
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCEOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::binary_cross_entropy, {&input, &target}); ac.active())
    return binary_cross_entropy(ac.cast(input), ac.cast(target), cast_options(ac, o));
  check_pair(input, target, "binary_cross_entropy");
  check_not_batchmean(o.reduction, "binary_cross_entropy");
  check_loss_weight(o.weight, input, "binary_cross_entropy");
  Tensor t = target.to(input.dtype());
  Tensor per;
  {
    NoGradGuard ng;
    if (input.numel() > 0) {  // clamp keeps NaN, and NaN != NaN: NaN is refused too
      ops::check_mask_clear(ne(clamp(input, 0.0, 1.0), input), input, [shape = input.shape()](const std::string& got, int64_t at) {
        return detail::concat("[binary_cross_entropy] every input must be a probability in [0, 1], got ", got,
                              " at position ", at, " (input shape ", shape,
                              "; for logits use binary_cross_entropy_with_logits)");
      });
    }
    per = -(t * clamp(log(input), -100.0, std::nullopt) + (1.0 - t) * clamp(log1p(-input), -100.0, std::nullopt));
  }
  if (auto node = autograd::record("binary_cross_entropy", {input, t}, {per})) {
    const bool need_t = node->needs_input_grad(1);
    node->backward_fn = [sx = node->save(input), st = node->save(t), need_t](const TensorList& g) {
      Tensor x = sx.get(), tv = st.get();
      // PyTorch's gradients: (x - t) / max(x (1 - x), 1e-12) and the clamped log-odds.
      Tensor gx = g[0] * (x - tv) / clamp(x * (1.0 - x), 1e-12, std::nullopt);
      if (!need_t) return TensorList{gx, Tensor()};
      return TensorList{gx, g[0] * (clamp(log1p(-x), -100.0, std::nullopt) - clamp(log(x), -100.0, std::nullopt))};
    };
  }
  if (o.weight.defined()) per = per * o.weight.to(input.dtype());
  return reduce_loss(per, o.reduction, "binary_cross_entropy");
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& target, const BCEWithLogitsOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&x, &target}); ac.active())
    return binary_cross_entropy_with_logits(ac.cast(x), ac.cast(target), cast_options(ac, o));
  ops::check_floating(x, "binary_cross_entropy_with_logits");
  NB_CHECK(x.shape() == target.shape(), "[binary_cross_entropy_with_logits] input shape ", x.shape(),
           " and target shape ", target.shape(), " differ");
  check_loss_weight(o.weight, x, "binary_cross_entropy_with_logits");
  Tensor t = target.to(x.dtype());
  // loss = (1 - t) x + (1 + (pw - 1) t) softplus(-x), with softplus stable for any x.
  Tensor sp = softplus(-x);
  Tensor loss = o.pos_weight.defined() ? (1.0 - t) * x + ((o.pos_weight.to(x.dtype()) - 1.0) * t + 1.0) * sp
                                       : (1.0 - t) * x + sp;
  if (o.weight.defined()) loss = loss * o.weight.to(x.dtype());
  return reduce_loss(loss, o.reduction, "binary_cross_entropy_with_logits");
}

}  // namespace nabla
