// Distances (cosine_similarity, pairwise_distance) and the margin, embedding and likelihood
// losses built on them, with PyTorch's formulas and defaults. All are compositions of
// differentiable ops, so they run on every device and their gradients are differentiable again.
#include <cmath>
#include <numbers>

#include "autocast.h"
#include "loss_util.h"

namespace nabla {

namespace {

using ops::check_not_batchmean;
using ops::reduce_loss;

/// max(x, lo) whose gradient is the identity, as PyTorch's in-place clamp under no_grad of a
/// clone (cosine_similarity's squared norms, gaussian_nll_loss's var): the floor changes the
/// value, not the path the gradient takes. x - detach(x) is exactly 0, so the floor is exact.
Tensor floor_value_only(const Tensor& x, double lo) {
  const Tensor below = lt(x, ops::scalar_like(lo, x));
  return where(below, (x - x.detach()) + lo, x);
}

/// Targets documented as 1 or -1 must be; a 0/1 target (the usual mistake) would train silently
/// wrong.
void check_sign_targets(const Tensor& target, const char* op) {
  if (target.numel() == 0) return;
  NoGradGuard ng;
  const Tensor t = target.to(DType::f64);
  ops::check_mask_clear(ne(abs(t), ops::scalar_like(1, t)), target,
                   [op = std::string(op), shape = target.shape()](const std::string& got, int64_t at) {
                     return detail::concat("[", op, "] target must hold 1 or -1, got ", got, " at position ", at,
                                           " (target shape ", shape, ")");
                   });
}

/// The floating dtype two operands compute in (PyTorch's result type), or an error.
DType common_floating(const Tensor& a, const Tensor& b, const char* op) {
  const DType dt = promote(a.dtype(), b.dtype());
  NB_CHECK(is_floating(dt), "[", op, "] expected floating inputs, got ", a.dtype(), " and ", b.dtype());
  return dt;
}

/// Floating target in the input's dtype (targets of ±1 may come as integers).
Tensor as_float_target(const Tensor& target, const Tensor& input) { return target.to(input.dtype()); }

/// softplus computed exactly for every x (no linear cut-off): log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).
Tensor softplus_exact(const Tensor& x) { return softplus(x, 1.0, INFINITY); }

}  // namespace

Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim, double eps) {
  if (ops::AutocastRegion ac(ops::autocast_op::cosine_similarity, {&x1, &x2}); ac.active())
    return cosine_similarity(ac.cast(x1), ac.cast(x2), dim, eps);
  const char* op = "cosine_similarity";
  ops::check_same_device(x1, x2, op);
  const DType dt = common_floating(x1, x2, op);
  const Shape s = ops::broadcast_shapes(x1.shape(), x2.shape(), op);
  const int64_t nd = int64_t(s.size());
  NB_CHECK(nd >= 1, "[", op, "] inputs must have at least one dimension, got shapes ", x1.shape(), " and ", x2.shape());
  NB_CHECK(dim >= -nd && dim < nd, "[", op, "] dim ", dim, " is out of range for the broadcast shape ", s,
           " (expected a dim in [", -nd, ", ", nd - 1, "])");
  NB_CHECK(eps >= 0, "[", op, "] eps must be non-negative, got ", eps);
  const int64_t d = dim < 0 ? dim + nd : dim;
  const Tensor a = x1.to(dt).expand(s), b = x2.to(dt).expand(s);
  // Each input divided by its floored norm before the dot product (PyTorch 1.13 floors the squared
  // norms at eps², which is the same value and gradient): the dot product of unit vectors stays in
  // range where x1·x2 or ‖x1‖²‖x2‖² would overflow.
  const Tensor r1 = rsqrt(floor_value_only(sum(a * a, {d}, true), eps * eps));
  const Tensor r2 = rsqrt(floor_value_only(sum(b * b, {d}, true), eps * eps));
  return sum((a * r1) * (b * r2), {d});
}

Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p, double eps, bool keepdim) {
  if (ops::AutocastRegion ac(ops::autocast_op::pairwise_distance, {&x1, &x2}); ac.active())
    return pairwise_distance(ac.cast(x1), ac.cast(x2), p, eps, keepdim);
  const char* op = "pairwise_distance";
  ops::check_same_device(x1, x2, op);
  common_floating(x1, x2, op);
  NB_CHECK(!std::isnan(p), "[", op, "] p must be a number, got NaN");
  ops::broadcast_shapes(x1.shape(), x2.shape(), op);  // names the op and shapes when they do not broadcast
  const Tensor diff = x1 - x2 + eps;
  // The last dim of the broadcast shape; a 0-d difference is its own norm.
  const Shape dims = diff.dim() == 0 ? Shape{} : Shape{diff.dim() - 1};
  if (p >= 0) return norm(diff, p, dims, keepdim);
  if (p == -INFINITY) return min(abs(diff), dims, keepdim);
  return pow(sum(pow(abs(diff), p), dims, keepdim), 1.0 / p);
}

namespace {
/// What the losses of three tensors check first: a floating first input, the other two on its
/// device, and a reduction other than BatchMean.
void check_three_inputs(const Tensor& a, const Tensor& b, const Tensor& c, Reduction r, const char* op) {
  ops::check_floating(a, op);
  ops::check_same_device(a, b, op);
  ops::check_same_device(a, c, op);
  check_not_batchmean(r, op);
}
}  // namespace

Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& target, const CosineEmbeddingOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&x1, &x2, &target}); ac.active())
    return cosine_embedding_loss(ac.cast(x1), ac.cast(x2), ac.cast(target), o);
  const char* op = "cosine_embedding_loss";
  check_three_inputs(x1, x2, target, o.reduction, op);
  NB_CHECK(target.dim() <= 1, "[", op, "] target must be 0-d or 1-D (one label per pair), got shape ", target.shape());
  NB_CHECK(x1.shape() == x2.shape(), "[", op, "] input1 shape ", x1.shape(), " and input2 shape ", x2.shape(),
           " differ; they must match");
  if (target.dim() == 1) {
    NB_CHECK(x1.dim() == 2 && x1.size(0) == target.size(0), "[", op, "] a 1-D target ", target.shape(),
             " expects inputs [", target.size(0), ", D], got ", x1.shape());
  } else {
    NB_CHECK(x1.dim() == 1, "[", op, "] a 0-d target expects 1-D inputs [D], got ", x1.shape());
  }
  check_sign_targets(target, op);
  const Tensor y = as_float_target(target, x1);
  const int64_t d = x1.dim() - 1;
  constexpr double kEps = 1e-12;  // PyTorch's EPSILON, added to each squared norm
  const Tensor dot = sum(x1 * x2, {d});
  const Tensor cos = dot / (sqrt(sum(x1 * x1, {d}) + kEps) * sqrt(sum(x2 * x2, {d}) + kEps));
  const Tensor per = where(eq(y, ops::scalar_like(1, y)), 1.0 - cos, clamp(cos - o.margin, 0.0, std::nullopt));
  return reduce_loss(per, o.reduction, op);
}

Tensor margin_ranking_loss(const Tensor& x1, const Tensor& x2, const Tensor& target, const MarginRankingOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&x1, &x2, &target}); ac.active())
    return margin_ranking_loss(ac.cast(x1), ac.cast(x2), ac.cast(target), o);
  const char* op = "margin_ranking_loss";
  check_three_inputs(x1, x2, target, o.reduction, op);
  NB_CHECK(x1.dim() == x2.dim() && x1.dim() == target.dim(), "[", op,
           "] input1, input2 and target must have the same number of dimensions, got shapes ", x1.shape(), ", ",
           x2.shape(), " and ", target.shape());
  ops::broadcast_shapes(ops::broadcast_shapes(x1.shape(), x2.shape(), op), target.shape(), op);
  check_sign_targets(target, op);
  const Tensor y = as_float_target(target, x1);
  return reduce_loss(clamp(-y * (x1 - x2) + o.margin, 0.0, std::nullopt), o.reduction, op);
}

Tensor hinge_embedding_loss(const Tensor& input, const Tensor& target, const HingeEmbeddingOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return hinge_embedding_loss(ac.cast(input), ac.cast(target), o);
  const char* op = "hinge_embedding_loss";
  ops::check_pair(input, target, op);
  check_not_batchmean(o.reduction, op);
  check_sign_targets(target, op);
  const Tensor y = as_float_target(target, input);
  const Tensor per = where(eq(y, ops::scalar_like(1, y)), input, clamp(o.margin - input, 0.0, std::nullopt));
  return reduce_loss(per, o.reduction, op);
}

Tensor soft_margin_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return soft_margin_loss(ac.cast(input), ac.cast(target), reduction);
  const char* op = "soft_margin_loss";
  ops::check_pair(input, target, op);
  check_not_batchmean(reduction, op);
  check_sign_targets(target, op);
  return reduce_loss(softplus_exact(-as_float_target(target, input) * input), reduction, op);
}

Tensor multilabel_soft_margin_loss(const Tensor& input, const Tensor& target, const MultiLabelSoftMarginOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::multilabel_soft_margin_loss, {&input, &target}); ac.active())
    return multilabel_soft_margin_loss(ac.cast(input), ac.cast(target), cast_options(ac, o));
  const char* op = "multilabel_soft_margin_loss";
  ops::check_pair(input, target, op);
  check_not_batchmean(o.reduction, op);
  NB_CHECK(input.dim() >= 1, "[", op, "] input must have a class dimension ([N, C] or [C]), got a 0-d tensor");
  ops::check_loss_weight(o.weight, input, op);
  const Tensor t = as_float_target(target, input);
  // -(t log σ(x) + (1 - t) log σ(-x)) = t softplus(-x) + (1 - t) softplus(x), exact for any x.
  Tensor per = t * softplus_exact(-input) + (1.0 - t) * softplus_exact(input);
  if (o.weight.defined()) per = per * o.weight.to(input.dtype());
  const int64_t cdim = input.dim() - 1;
  per = sum(per, {cdim}) / double(input.size(cdim));
  return reduce_loss(per, o.reduction, op);
}

Tensor multi_margin_loss(const Tensor& input, const Tensor& target, const MultiMarginOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return multi_margin_loss(ac.cast(input), ac.cast(target), cast_options(ac, o));
  const char* op = "multi_margin_loss";
  ops::check_floating(input, op);
  ops::check_same_device(input, target, op);
  check_not_batchmean(o.reduction, op);
  NB_CHECK(o.p == 1 || o.p == 2, "[", op, "] p must be 1 or 2, got ", o.p);
  NB_CHECK(input.dim() <= 2, "[", op, "] input must be [N, C], [C] or 0-d, got shape ", input.shape());
  const int64_t N = input.dim() == 2 ? input.size(0) : 1;
  const int64_t C = input.dim() == 0 ? 1 : input.size(input.dim() - 1);
  NB_CHECK(C > 0, "[", op, "] input must have at least one class, got shape ", input.shape());
  NB_CHECK(target.dtype() == DType::i64, "[", op, "] target must hold i64 class indices, got ", target.dtype());
  NB_CHECK(target.dim() <= 1 && target.numel() == N, "[", op, "] target shape ", target.shape(),
           " does not match input shape ", input.shape(), ": expected ", N, " class ",
           N == 1 ? "index ([1] or 0-d)" : "indices [N]");
  if (o.weight.defined()) {
    NB_CHECK(o.weight.dim() == 1 && o.weight.size(0) == C, "[", op, "] class weight must have shape [", C, "], got ",
             o.weight.shape());
    ops::check_same_device(input, o.weight, op);
  }
  const Tensor t = ops::contiguous_data(target.reshape({N}));
  ops::check_indices(t, {.limit = C, .also = std::nullopt}, [op = std::string(op), C, shape = input.shape()](int64_t at, int64_t v) {
    return detail::concat("[", op, "] target ", v, " at position ", at, " is out of range for input of shape ", shape,
                          ": expected a class index in [0, ", C, ")");
  });
  const Tensor x = input.reshape({N, C});
  ops::ReusingCheckedIndex checked;  // checked just above
  const Tensor x_y = gather(x, 1, t.unsqueeze(1));                    // [N, 1]
  Tensor h = relu(o.margin - x_y + x);                                // [N, C]
  if (o.p == 2) h = h * h;
  const Tensor is_target = eq(arange(0, double(C), 1, DType::i64).to(x.device()).unsqueeze(0), t.unsqueeze(1));
  h = where(is_target, zeros_like(h), h);                             // i = y does not count
  if (o.weight.defined()) h = h * index_select(o.weight.to(x.dtype()), 0, t).unsqueeze(1);
  Tensor per = sum(h, {1}) / double(C);                               // [N]
  // None keeps the target's shape ([N], [1] or 0-d), as PyTorch.
  if (o.reduction == Reduction::None) return per.reshape(target.shape());
  return reduce_loss(per, o.reduction, op);
}

Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           const TripletMarginOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&anchor, &positive, &negative}); ac.active())
    return triplet_margin_loss(ac.cast(anchor), ac.cast(positive), ac.cast(negative), o);
  const char* op = "triplet_margin_loss";
  check_three_inputs(anchor, positive, negative, o.reduction, op);
  NB_CHECK(anchor.dim() == positive.dim() && anchor.dim() == negative.dim(), "[", op,
           "] anchor, positive and negative must have the same number of dimensions, got shapes ", anchor.shape(), ", ",
           positive.shape(), " and ", negative.shape());
  ops::broadcast_shapes(ops::broadcast_shapes(anchor.shape(), positive.shape(), op), negative.shape(), op);
  const Tensor d_pos = pairwise_distance(anchor, positive, o.p, o.eps);
  Tensor d_neg = pairwise_distance(anchor, negative, o.p, o.eps);
  if (o.swap) d_neg = minimum(d_neg, pairwise_distance(positive, negative, o.p, o.eps));
  return reduce_loss(clamp(d_pos - d_neg + o.margin, 0.0, std::nullopt), o.reduction, op);
}

Tensor poisson_nll_loss(const Tensor& input, const Tensor& target, const PoissonNLLOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::loss, {&input, &target}); ac.active())
    return poisson_nll_loss(ac.cast(input), ac.cast(target), o);
  const char* op = "poisson_nll_loss";
  ops::check_pair(input, target, op);
  check_not_batchmean(o.reduction, op);
  const Tensor t = as_float_target(target, input);
  Tensor per = o.log_input ? exp(input) - t * input : input - t * log(input + o.eps);
  if (o.full) {
    // Stirling's approximation of log(t!), only where t > 1 (PyTorch's masked_fill); the other
    // entries read t = 2 so no log of 0 or of a negative reaches the gradient.
    const Tensor big = gt(t, ops::scalar_like(1, t));
    const Tensor ts = where(big, t, full_like(t, 2.0));
    const Tensor stirling = ts * log(ts) - ts + 0.5 * log(2.0 * std::numbers::pi * ts);
    per = per + where(big, stirling, zeros_like(stirling));
  }
  return reduce_loss(per, o.reduction, op);
}

Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var, const GaussianNLLOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::gaussian_nll_loss, {&input, &target, &var}); ac.active())
    return gaussian_nll_loss(ac.cast(input), ac.cast(target), ac.cast(var), o);
  const char* op = "gaussian_nll_loss";
  check_three_inputs(input, target, var, o.reduction, op);
  NB_CHECK(o.eps >= 0, "[", op, "] eps must be non-negative, got ", o.eps);
  NB_CHECK(ops::broadcasts_to(target.shape(), input.shape()), "[", op, "] target shape ",
           target.shape(), " does not broadcast to the input shape ", input.shape());
  // var: input's shape (heteroscedastic), or one variance per sample: input's shape without its
  // last dim, or with last dim 1 (homoscedastic).
  Tensor v = var;
  if (var.shape() != input.shape()) {
    const Shape in_lead(input.shape().begin(), input.shape().end() - (input.dim() > 0 ? 1 : 0));
    const Shape var_lead(var.shape().begin(), var.shape().end() - (var.dim() > 0 ? 1 : 0));
    Shape in_lead_1 = in_lead;
    in_lead_1.push_back(1);
    if (input.dim() > 0 && var.shape() == in_lead) {
      v = var.unsqueeze(-1);
    } else {
      NB_CHECK(input.dim() > 0 && var.dim() > 0 && var_lead == in_lead && var.size(-1) == 1, "[", op, "] var shape ",
               var.shape(), " does not fit the input shape ", input.shape(), ": expected ", input.shape(),
               " (one variance per element), or ", in_lead, " or ", in_lead_1, " (one per sample)");
    }
  }
  if (var.numel() > 0) {
    NoGradGuard ng;  // NaN passes, as PyTorch's any(var < 0)
    ops::check_mask_clear(lt(var, ops::scalar_like(0, var)), var,
                     [op = std::string(op), shape = var.shape()](const std::string& got, int64_t at) {
                       return detail::concat("[", op, "] var must be non-negative, got ", got, " at position ", at,
                                             " (var shape ", shape, ")");
                     });
  }
  v = floor_value_only(v.to(input.dtype()), o.eps);
  const Tensor d = input - target.to(input.dtype());
  Tensor per = 0.5 * (log(v) + d * d / v);
  if (o.full) per = per + 0.5 * std::log(2.0 * std::numbers::pi);
  return reduce_loss(per, o.reduction, op);
}

}  // namespace nabla
