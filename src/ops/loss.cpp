// Losses, composed from log_softmax / gather / where so they are stable (log-sum-exp)
// and twice differentiable.
#include "op_util.h"

namespace nabla {

namespace {

Tensor reduce_loss(const Tensor& per_elem, Reduction r) {
  switch (r) {
    case Reduction::None: return per_elem;
    case Reduction::Sum: return sum(per_elem);
    case Reduction::Mean: return mean(per_elem);
  }
  return per_elem;
}

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

/// Validates class targets; returns whether any equals ignore_index.
bool check_class_range(const Tensor& t, int64_t C, int64_t ignore_index, const char* op, const Shape& input_shape) {
  Tensor c = ops::contiguous_data(t.to(Device::cpu()));  // validated on the host
  const int64_t* p = c.data_ptr<int64_t>();
  bool ignored = false;
  for (int64_t i = 0; i < c.numel(); ++i) {
    NB_CHECK((p[i] >= 0 && p[i] < C) || p[i] == ignore_index, "[", op, "] target ", p[i], " at position ", i,
             " is out of range for input of shape ", input_shape, ": expected a class index in [0, ", C,
             ") or ignore_index ", ignore_index);
    ignored = ignored || p[i] == ignore_index;
  }
  return ignored;
}

/// The common classifier case on the CPU, -mean_i log_softmax(x)[i, t_i] for logits [N, C] and
/// targets that are all valid classes, as one graph node: the sum is read straight from the
/// log-probabilities, and the VJP (softmax(x) - one_hot(t)) * g / N is written with nabla ops,
/// so it is differentiable again. Saves the dozen mask/weight ops of the general path.
Tensor mean_class_nll(const Tensor& logits, const Tensor& t) {
  Tensor lp;
  {
    NoGradGuard ng;
    lp = ops::contiguous_data(log_softmax(logits, 1));
  }
  const int64_t N = lp.size(0), C = lp.size(1);
  Tensor tc = ops::contiguous_data(t);
  const int64_t* ti = tc.data_ptr<int64_t>();
  double acc = 0;
  NB_DISPATCH_FLOAT(lp.dtype(), "cross_entropy", [&] {
    const scalar_t* p = static_cast<const scalar_t*>(lp.raw_data());
    for (int64_t i = 0; i < N; ++i) acc += double(p[i * C + ti[i]]);
  });
  Tensor loss = full({}, N > 0 ? -acc / double(N) : std::nan(""), {.dtype = logits.dtype()});
  if (auto node = autograd::record("cross_entropy", {logits}, {loss})) {
    node->backward_fn = [sx = node->save(logits), tc, N, C](const TensorList& g) {
      Tensor x = sx.get();
      return TensorList{(softmax(x, 1) - one_hot(tc, C, x.dtype())) * (g[0] / double(N))};
    };
  }
  return loss;
}

struct PickedLoss {
  Tensor nll;      // per sample: -w[t] * logp[t] (0 where ignored)
  Tensor weights;  // per sample: w[t] (0 where ignored)
};

/// Shared by nll_loss and cross_entropy: logp [M, C], target [M].
PickedLoss pick(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  Tensor valid = ne(target, scalar_tensor(double(ignore_index), DType::i64));
  Tensor safe_t = where(valid, target, zeros_like(target));
  Tensor picked = gather(logp, 1, safe_t.unsqueeze(1)).squeeze(1);
  Tensor w = weight.defined() ? index_select(weight.to(logp.dtype()), 0, safe_t) : ones(picked.shape(), {.dtype = logp.dtype(), .device = logp.device()});
  w = where(valid, w, zeros_like(w));
  return {-picked * w, w};
}

void check_weight(const Tensor& weight, int64_t C, const char* op) {
  if (!weight.defined()) return;
  NB_CHECK(weight.dim() == 1 && weight.size(0) == C, "[", op, "] class weight must have shape [", C, "], got ",
           weight.shape());
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& o) {
  ops::check_floating(log_probs, "nll_loss");
  NB_CHECK(target.dtype() == DType::i64, "[nll_loss] target must hold i64 class indices, got ", target.dtype());
  check_targets(log_probs, target, "nll_loss");
  Tensor lp = log_probs.dim() == 1 ? log_probs.unsqueeze(0) : classes_last(log_probs);
  Tensor t = target.reshape({-1});
  int64_t C = lp.size(1);
  check_weight(o.weight, C, "nll_loss");
  check_class_range(t, C, o.ignore_index, "nll_loss", log_probs.shape());
  PickedLoss p = pick(lp, t, o.weight, o.ignore_index);
  switch (o.reduction) {
    case Reduction::None: return p.nll.reshape(target.shape());
    case Reduction::Sum: return sum(p.nll);
    case Reduction::Mean: return sum(p.nll) / sum(p.weights);  // weighted mean, as PyTorch
  }
  return p.nll;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  ops::check_floating(logits, "cross_entropy");
  NB_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, "[cross_entropy] label_smoothing must be in [0, 1], got ",
           o.label_smoothing);
  if (logits.dim() == 2 && logits.device().is_cpu() && target.dtype() == DType::i64 && !o.weight.defined() &&
      o.label_smoothing == 0 && o.reduction == Reduction::Mean) {
    check_targets(logits, target, "cross_entropy");
    if (!check_class_range(target, logits.size(1), o.ignore_index, "cross_entropy", logits.shape()))
      return mean_class_nll(logits, target);
  }
  int64_t cdim = logits.dim() == 1 ? 0 : 1;
  Tensor logp = log_softmax(logits, cdim);
  int64_t C = logits.size(cdim);
  check_weight(o.weight, C, "cross_entropy");
  Tensor lp = logits.dim() == 1 ? logp.unsqueeze(0) : classes_last(logp);
  Tensor w_row = o.weight.defined() ? o.weight.to(logits.dtype()) : Tensor();

  if (target.is_floating_point()) {
    // Probability targets (soft labels) of the logits' shape.
    NB_CHECK(target.shape() == logits.shape(), "[cross_entropy] probability targets must have the logits' shape ",
             logits.shape(), ", got ", target.shape());
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
  Tensor t = target.reshape({-1});
  check_class_range(t, C, o.ignore_index, "cross_entropy", logits.shape());
  PickedLoss p = pick(lp, t, o.weight, o.ignore_index);
  Tensor loss = p.nll;
  Tensor smooth;
  if (o.label_smoothing > 0) {
    // Uniform part of the smoothed target: -sum_c w_c logp_c / C, zero where ignored.
    Tensor valid = ne(t, scalar_tensor(double(o.ignore_index), DType::i64));
    Tensor s = w_row.defined() ? -sum(lp * w_row, {1}) : -sum(lp, {1});
    smooth = where(valid, s, zeros_like(s));
    loss = loss * (1.0 - o.label_smoothing) + smooth * (o.label_smoothing / double(C));
  }
  switch (o.reduction) {
    case Reduction::None: return loss.reshape(target.shape());
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: return sum(loss) / sum(p.weights);
  }
  return loss;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  ops::check_floating(input, "mse_loss");
  NB_CHECK(input.shape() == target.shape(), "[mse_loss] input shape ", input.shape(), " and target shape ",
           target.shape(), " differ; they must match (broadcasting here is usually a bug)");
  Tensor d = input - target;
  return reduce_loss(d * d, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& target, const BCEWithLogitsOptions& o) {
  ops::check_floating(x, "binary_cross_entropy_with_logits");
  NB_CHECK(x.shape() == target.shape(), "[binary_cross_entropy_with_logits] input shape ", x.shape(),
           " and target shape ", target.shape(), " differ");
  Tensor t = target.to(x.dtype());
  // loss = (1 - t) x + (1 + (pw - 1) t) softplus(-x), with softplus stable for any x.
  Tensor sp = softplus(-x);
  Tensor loss = o.pos_weight.defined() ? (1.0 - t) * x + ((o.pos_weight.to(x.dtype()) - 1.0) * t + 1.0) * sp
                                       : (1.0 - t) * x + sp;
  if (o.weight.defined()) loss = loss * o.weight.to(x.dtype());
  return reduce_loss(loss, o.reduction);
}

}  // namespace nabla
