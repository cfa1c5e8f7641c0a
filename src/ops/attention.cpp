// scaled_dot_product_attention by composition (see nabla/ops/attention.h for the math).
#include "nabla/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

/// Whether `a` and `b` broadcast together (NumPy rules), without throwing.
bool broadcastable(const Shape& a, const Shape& b) {
  for (size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    int64_t x = a[a.size() - i], y = b[b.size() - i];
    if (x != y && x != 1 && y != 1) return false;
  }
  return true;
}

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& o) {
  for (const Tensor* t : {&q, &k, &v}) ops::check_tensor(*t, kOp);
  for (const Tensor* t : {&q, &k, &v}) {
    NB_CHECK(t->dim() >= 2, "[", kOp, "] query, key and value need at least 2 dims ([..., L, E], [..., S, E], [..., S, Ev]), got ",
             q.shape(), ", ", k.shape(), " and ", v.shape());
    NB_CHECK(is_floating(t->dtype()), "[", kOp, "] expects floating query, key and value, got ", q.dtype(), ", ",
             k.dtype(), " and ", v.dtype());
  }
  NB_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "[", kOp,
           "] query, key and value must have one dtype, got ", q.dtype(), ", ", k.dtype(), " and ", v.dtype());
  ops::check_same_device(q, k, kOp);
  ops::check_same_device(q, v, kOp);
  NB_CHECK(q.size(-1) == k.size(-1), "[", kOp, "] query ", q.shape(), " and key ", k.shape(),
           " must have the same embedding size E (last dim): ", q.size(-1), " vs ", k.size(-1));
  NB_CHECK(k.size(-2) == v.size(-2), "[", kOp, "] key ", k.shape(), " and value ", v.shape(),
           " must have the same sequence length S (dim -2): ", k.size(-2), " vs ", v.size(-2));
  NB_CHECK(broadcastable(batch_of(q), batch_of(k)) && broadcastable(batch_of(q), batch_of(v)) &&
               broadcastable(batch_of(k), batch_of(v)),
           "[", kOp, "] the batch dims (all but the last two) of query ", q.shape(), ", key ", k.shape(), " and value ",
           v.shape(), " do not broadcast");
  NB_CHECK(o.dropout_p >= 0.0 && o.dropout_p < 1.0, "[", kOp, "] dropout_p must be in [0, 1), got ", o.dropout_p);
  const Tensor& m = o.attn_mask;
  if (!m.defined()) return;
  NB_CHECK(!o.is_causal, "[", kOp, "] pass either attn_mask or is_causal=true, not both (as PyTorch)");
  ops::check_same_device(q, m, kOp);
  NB_CHECK(m.dtype() == DType::boolean || m.dtype() == DType::u8 || m.dtype() == q.dtype(), "[", kOp,
           "] attn_mask must be bool (true = attend; u8 is accepted as the legacy form) or ", q.dtype(),
           " (added to the scores) like the query, got ", m.dtype(), " mask of shape ", m.shape());
  // The scores' shape: Q's and K's batch dims broadcast, then [L, S]; the mask may add leading dims.
  Shape scores = batch_of(q).size() >= batch_of(k).size() ? batch_of(q) : batch_of(k);
  for (size_t i = 1; i <= std::min(batch_of(q).size(), batch_of(k).size()); ++i)
    scores[scores.size() - i] = std::max(batch_of(q)[batch_of(q).size() - i], batch_of(k)[batch_of(k).size() - i]);
  scores.push_back(q.size(-2));
  scores.push_back(k.size(-2));
  NB_CHECK(broadcastable(m.shape(), scores), "[", kOp, "] attn_mask of shape ", m.shape(),
           " does not broadcast to the attention scores [..., L, S] = ", scores, " (query ", q.shape(), ", key ",
           k.shape(), ")");
}

}  // namespace

std::pair<Tensor, Tensor> scaled_dot_product_attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                                                    const SdpaOptions& o) {
  if (ops::AutocastRegion ac(ops::autocast_op::attention, {&q, &k, &v}); ac.active())
    return scaled_dot_product_attention_with_weights(ac.cast(q), ac.cast(k), ac.cast(v), cast_options(ac, o));
  check_inputs(q, k, v, o);
  const int64_t L = q.size(-2), S = k.size(-2);
  const double scale = o.scale.value_or(1.0 / std::sqrt(double(q.size(-1))));
  // Scaling Q ([L, E]) rather than the scores ([L, S]): the same product, usually fewer elements.
  Tensor scores = matmul(q * scale, k.transpose(-2, -1));
  const Tensor& m = o.attn_mask;
  Tensor neg_inf = ops::scalar_like(-INFINITY, scores);
  if (o.is_causal) {
    // keep[i, j] = j <= i: the lower triangle, top-left aligned as PyTorch's.
    scores = where(tril(ones({L, S}, {.dtype = DType::boolean, .device = q.device()})), scores, neg_inf);
  } else if (m.defined()) {
    // where (not adding -inf) for bool masks: the masked positions then pass no gradient at all.
    scores = !is_floating(m.dtype()) ? where(m, scores, neg_inf) : scores + m;
  }
  Tensor p;
  if (o.is_causal || m.defined()) {
    // A row with every score -inf has no softmax (0/0); PyTorch's _safe_softmax gives it zeros.
    // Softmax runs on 0s there instead so that no NaN reaches the gradient either.
    Tensor zero = ops::scalar_like(0.0, scores);
    Tensor dead = eq(max(scores.detach(), {-1}, true), neg_inf);
    p = where(dead, zero, softmax(where(dead, zero, scores), -1));
  } else {
    p = softmax(scores, -1);
  }
  if (o.dropout_p > 0) p = dropout(p, o.dropout_p, true);
  return {matmul(p, v), p};
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& o) {
  return scaled_dot_product_attention_with_weights(q, k, v, o).first;
}

}  // namespace nabla
