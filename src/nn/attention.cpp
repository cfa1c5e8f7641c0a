// MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, composed from nn layers and
// scaled_dot_product_attention.
#include "nabla/nn/attention.h"

#include <cmath>

#include "call_recorder.h"
#include "transformer_blocks.h"
#include "nabla/autograd.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "nabla/ops/attention.h"
#include "repr.h"

namespace nabla::nn {

namespace {

using detail::tagged_call;

Tensor scalar_as(double v, const Tensor& like) { return full({}, v, {.dtype = like.dtype(), .device = like.device()}); }

/// A bool (or legacy u8) mask, true = masked out.
bool is_bool_mask(const Tensor& m) { return m.dtype() == DType::boolean || m.dtype() == DType::u8; }

/// A bool mask (true = masked out) as an additive one: -inf where true, 0 elsewhere.
Tensor additive(const Tensor& mask, const Tensor& like) {
  if (!is_bool_mask(mask)) return mask;
  return where(mask, scalar_as(-INFINITY, like), scalar_as(0.0, like));
}

}  // namespace

// ---- MultiheadAttention ---------------------------------------------------------------------

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& o) : Module("MultiheadAttention"), options(o) {
  const int64_t E = o.embed_dim(), H = o.num_heads();
  if (E <= 0 || H <= 0) fail("embed_dim and num_heads must be positive, got ", E, " and ", H);
  if (E % H != 0) fail("embed_dim ", E, " must be divisible by num_heads ", H, " (each head gets embed_dim / num_heads features)");
  if (!(o.dropout() >= 0 && o.dropout() < 1)) fail("dropout must be in [0, 1), got ", o.dropout());
  if (o.add_bias_kv()) fail("add_bias_kv=true is not implemented");
  if (o.add_zero_attn()) fail("add_zero_attn=true is not implemented");
  const int64_t kdim = o.kdim().value_or(E), vdim = o.vdim().value_or(E);
  if (kdim <= 0 || vdim <= 0) fail("kdim and vdim must be positive, got ", kdim, " and ", vdim);
  options.kdim(kdim).vdim(vdim);
  // PyTorch's registration order, so that parameters() and state_dict() list the same keys in the same order.
  if (kdim == E && vdim == E) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, kdim}));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, vdim}));
  }
  if (o.bias()) in_proj_bias = register_parameter("in_proj_bias", empty({3 * E}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(LinearOptions(E, E).bias(o.bias())));
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  if (in_proj_weight.defined()) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  out_proj->reset_parameters();
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

std::pair<Tensor, Tensor> MultiheadAttention::operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                                         const MultiheadAttentionForwardOptions& opts) {
  return tagged_call(*this, [&] { return forward(query, key, value, opts); });
}

Tensor MultiheadAttention::forward(const Tensor& x) {
  return forward(x, x, x, {.need_weights = false}).first;
}

std::pair<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                      const MultiheadAttentionForwardOptions& o) {
  const int64_t E = options.embed_dim(), H = options.num_heads(), hd = head_dim();
  const int64_t kdim = *options.kdim(), vdim = *options.vdim();
  const bool bf = options.batch_first();
  if (!query.defined() || !key.defined() || !value.defined()) fail("query, key and value must be defined tensors");
  const bool batched = query.dim() == 3;
  const char* layout = !batched ? "unbatched [L, E], [S, kdim], [S, vdim]"
                       : bf     ? "batch_first [N, L, E], [N, S, kdim], [N, S, vdim]"
                                : "[L, N, E], [S, N, kdim], [S, N, vdim]";
  auto shape_error = [&](const auto&... why) {
    fail("expected query, key, value as ", layout, " with E = ", E, ", kdim = ", kdim, ", vdim = ", vdim, "; got ",
         query.shape(), ", ", key.shape(), " and ", value.shape(), why...);
  };
  if (query.dim() != 2 && query.dim() != 3) shape_error(" (query must have 2 or 3 dims)");
  if (key.dim() != query.dim() || value.dim() != query.dim()) shape_error(" (key and value need the query's rank)");
  if (query.size(-1) != E || key.size(-1) != kdim || value.size(-1) != vdim) shape_error(" (feature sizes differ)");
  const int64_t L = query.size(bf && batched ? 1 : 0), S = key.size(bf && batched ? 1 : 0);
  if (value.size(bf && batched ? 1 : 0) != S) shape_error(" (key and value lengths differ)");
  const int64_t N = batched ? query.size(bf ? 0 : 1) : 1;
  if (batched && (key.size(bf ? 0 : 1) != N || value.size(bf ? 0 : 1) != N)) shape_error(" (batch sizes differ)");
  const Tensor& wref = in_proj_weight.defined() ? in_proj_weight : q_proj_weight;
  check_input_dtype(query, wref);
  check_input_dtype(key, wref);
  check_input_dtype(value, wref);

  // Masks: checked, then brought to [N, H or 1, L or 1, S] so they broadcast over the heads.
  auto check_mask = [&](const Tensor& m, const char* name, const Shape& want, const Shape& alt) {
    if (!is_bool_mask(m) && m.dtype() != query.dtype())
      fail(name, " must be bool (true = masked out; u8 is accepted as the legacy form) or ", query.dtype(),
           " (added) like the query, got ", m.dtype());
    if (m.shape() != want && (alt.empty() || m.shape() != alt))
      fail(name, " of shape ", m.shape(), " does not fit query ", query.shape(), " and key ", key.shape(), ": expected ",
           want, alt.empty() ? "" : " or ", alt.empty() ? Shape{} : alt);
  };
  if (o.is_causal && !o.attn_mask.defined())
    fail("is_causal=true is a hint that attn_mask is the causal mask (as in PyTorch): pass attn_mask too");
  Tensor kpm, am;
  if (o.key_padding_mask.defined()) {
    check_mask(o.key_padding_mask, "key_padding_mask", batched ? Shape{N, S} : Shape{S}, {});
    kpm = o.key_padding_mask.reshape({N, 1, 1, S});
  }
  if (o.attn_mask.defined()) {
    check_mask(o.attn_mask, "attn_mask", {L, S}, {batched ? N * H : H, L, S});
    am = o.attn_mask.dim() == 2 ? o.attn_mask : o.attn_mask.reshape({N, H, L, S});
  }
  Tensor mask;  // for scaled_dot_product_attention: bool true = attend, or float added
  if (kpm.defined() && am.defined()) {
    if (is_bool_mask(kpm) && is_bool_mask(am))
      mask = logical_and(logical_not(kpm), logical_not(am));
    else
      mask = additive(kpm, query) + additive(am, query);
  } else if (kpm.defined() || am.defined()) {
    const Tensor& m = kpm.defined() ? kpm : am;
    mask = is_bool_mask(m) ? logical_not(m) : m;
  }

  // [N, len, features] internally.
  auto to_nlf = [&](const Tensor& t) { return !batched ? t.unsqueeze(0) : bf ? t : t.transpose(0, 1); };
  Tensor q = to_nlf(query), k = to_nlf(key), v = to_nlf(value);
  Tensor qp, kp, vp;
  const Tensor& b = in_proj_bias;
  auto bias_part = [&](int64_t i) { return b.defined() ? b.slice(0, i * E, (i + 1) * E) : Tensor(); };
  if (in_proj_weight.defined() && query.impl_ptr() == key.impl_ptr() && key.impl_ptr() == value.impl_ptr()) {
    // Self-attention: one GEMM for the three projections.
    Tensor qkv = linear(q, in_proj_weight, b);
    qp = qkv.slice(-1, 0, E);
    kp = qkv.slice(-1, E, 2 * E);
    vp = qkv.slice(-1, 2 * E, 3 * E);
  } else {
    auto w = [&](int64_t i) { return in_proj_weight.slice(0, i * E, (i + 1) * E); };
    qp = linear(q, in_proj_weight.defined() ? w(0) : q_proj_weight, bias_part(0));
    kp = linear(k, in_proj_weight.defined() ? w(1) : k_proj_weight, bias_part(1));
    vp = linear(v, in_proj_weight.defined() ? w(2) : v_proj_weight, bias_part(2));
  }
  auto heads = [&](const Tensor& t, int64_t len) { return t.reshape({N, len, H, hd}).permute({0, 2, 1, 3}); };
  const double p = is_training() ? options.dropout() : 0.0;
  auto [att, weights] = scaled_dot_product_attention_with_weights(heads(qp, L), heads(kp, S), heads(vp, S),
                                                                  {.attn_mask = mask, .dropout_p = p});
  Tensor out = (*out_proj)(att.permute({0, 2, 1, 3}).reshape({N, L, E}));
  out = !batched ? out.squeeze(0) : bf ? out : out.transpose(0, 1);
  if (!o.need_weights) return {out, Tensor()};
  if (o.average_attn_weights) weights = mean(weights, {1});
  return {out, batched ? weights : weights.squeeze(0)};
}

// ---- TransformerEncoderLayer -------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o)
    : Module("TransformerEncoderLayer"), options(o) {
  if (o.activation() != "relu" && o.activation() != "gelu")
    fail("activation must be \"relu\" or \"gelu\", got \"", o.activation(), "\"");
  if (o.dim_feedforward() <= 0) fail("dim_feedforward must be positive, got ", o.dim_feedforward());
  const int64_t E = o.d_model();
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(MultiheadAttentionOptions(E, o.nhead())
                                                                                    .dropout(o.dropout())
                                                                                    .bias(o.bias())
                                                                                    .batch_first(o.batch_first())));
  linear1 = register_module("linear1", std::make_shared<Linear>(LinearOptions(E, o.dim_feedforward()).bias(o.bias())));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(LinearOptions(o.dim_feedforward(), E).bias(o.bias())));
  auto ln = [&] { return std::make_shared<LayerNorm>(LayerNormOptions({E}).eps(o.layer_norm_eps()).bias(o.bias())); };
  norm1 = register_module("norm1", ln());
  norm2 = register_module("norm2", ln());
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, {}); }

Tensor TransformerEncoderLayer::operator()(const Tensor& src, const TransformerEncoderLayerForwardOptions& opts) {
  return call_forward(src, [&](const Tensor& s) { return forward(s, opts); });  // one tensor in and out: hooks run
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const TransformerEncoderLayerForwardOptions& o) {
  const int64_t E = options.d_model();
  if (!src.defined() || (src.dim() != 2 && src.dim() != 3) || src.size(-1) != E)
    fail("expected src ", options.batch_first() ? "[N, L, " : "[L, N, ", E, "] or unbatched [L, ", E,
         "] (d_model = ", E, "), got shape ", src.defined() ? src.shape() : Shape{});
  auto sa = [&](const Tensor& x) {
    return detail::attention_block(*self_attn, *dropout1, x, x, o.src_key_padding_mask, o.src_mask, o.is_causal);
  };
  const bool relu_act = options.activation() == "relu";
  auto ff = [&](const Tensor& x) {
    return detail::feed_forward_block(*linear1, *dropout, *linear2, *dropout2, relu_act, x);
  };
  const bool pre = options.norm_first();
  Tensor x = detail::residual(*norm1, pre, src, sa);
  return detail::residual(*norm2, pre, x, ff);
}

// ---- TransformerEncoder --------------------------------------------------------------------

TransformerEncoder::TransformerEncoder(const TransformerEncoderOptions& o) : Module("TransformerEncoder"), options(o) {
  if (o.num_layers() < 1) fail("num_layers must be at least 1, got ", o.num_layers());
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    auto l = std::make_shared<TransformerEncoderLayer>(o.encoder_layer());
    // PyTorch deep-copies one layer: the same starting values, independent tensors.
    if (i > 0) l->load_state_dict(layers->at<TransformerEncoderLayer>(0)->state_dict());
    layers->push_back(l);
  }
  if (o.norm()) norm = register_module("norm", o.norm());
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, {}); }

Tensor TransformerEncoder::operator()(const Tensor& src, const TransformerEncoderForwardOptions& opts) {
  return call_forward(src, [&](const Tensor& s) { return forward(s, opts); });  // one tensor in and out: hooks run
}

Tensor TransformerEncoder::forward(const Tensor& src, const TransformerEncoderForwardOptions& o) {
  Tensor x = src;
  for (const auto& m : *layers)
    x = (*std::static_pointer_cast<TransformerEncoderLayer>(m))(
        x, {.src_mask = o.mask, .src_key_padding_mask = o.src_key_padding_mask, .is_causal = o.is_causal});
  return norm ? (*norm)(x) : x;
}

// ---- printing ------------------------------------------------------------------------------------

std::string MultiheadAttention::extra_repr() const {
  std::string s = "embed_dim=" + std::to_string(options.embed_dim()) + ", num_heads=" +
                  std::to_string(options.num_heads());
  if (!qkv_same_embed_dim())
    s += ", kdim=" + std::to_string(*options.kdim()) + ", vdim=" + std::to_string(*options.vdim());
  s += ", dropout=" + detail::num_str(options.dropout()) + ", bias=" + detail::bool_str(options.bias()) +
       ", batch_first=" + detail::bool_str(options.batch_first());
  return s;
}

std::string TransformerEncoderLayer::extra_repr() const {
  return "d_model=" + std::to_string(options.d_model()) + ", nhead=" + std::to_string(options.nhead()) +
         ", dim_feedforward=" + std::to_string(options.dim_feedforward()) + ", activation=" + options.activation() +
         ", norm_first=" + detail::bool_str(options.norm_first()) + ", batch_first=" +
         detail::bool_str(options.batch_first());
}

std::string TransformerEncoder::extra_repr() const { return "num_layers=" + std::to_string(options.num_layers()); }

}  // namespace nabla::nn
