// TransformerDecoderLayer, TransformerDecoder and Transformer, composed from MultiheadAttention,
// Linear, LayerNorm and Dropout (their gradients are the compositions').
#include "nabla/nn/transformer.h"

#include <cmath>
#include <optional>
#include <string>

#include "call_recorder.h"
#include "transformer_blocks.h"
#include "nabla/autograd.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {

using detail::tagged_call;

/// Sizes of a (tgt or src, memory) pair after its layout checks.
struct SeqDims {
  bool batched = true;
  int64_t N = 1, T = 0, S = 0;
};

/// "[T, N, E]", "[N, T, E]" (batch_first) or "[T, E]" (unbatched) for the length letter `len`.
std::string seq_layout(bool batch_first, bool batched, char len) {
  const std::string l(1, len);
  if (!batched) return "[" + l + ", E]";
  return batch_first ? "[N, " + l + ", E]" : "[" + l + ", N, E]";
}

/// Checks that `x` (named `name`, length letter `len`) is [len, N, E] / [N, len, E] / [len, E] with
/// E = d_model, and `other` (named `other_name`) has its rank, E and batch size.
SeqDims check_pair(const Module& m, int64_t E, bool bf, const Tensor& x, const char* name, char len,
                   const Tensor& other, const char* other_name, char other_len) {
  if (!x.defined() || !other.defined()) m.fail(name, " and ", other_name, " must be defined tensors");
  if ((x.dim() != 2 && x.dim() != 3) || x.size(-1) != E)
    m.fail("expected ", name, " ", seq_layout(bf, true, len), " or unbatched ", seq_layout(bf, false, len),
           " with E = d_model = ", E, ", got shape ", x.shape());
  if (other.dim() != x.dim() || other.size(-1) != E)
    m.fail("expected ", other_name, " ", seq_layout(bf, x.dim() == 3, other_len), " (the rank of ", name, " ",
           x.shape(), ") with E = d_model = ", E, ", got shape ", other.shape());
  SeqDims d;
  d.batched = x.dim() == 3;
  const int64_t len_dim = bf && d.batched ? 1 : 0, batch_dim = bf ? 0 : 1;
  d.T = x.size(len_dim);
  d.S = other.size(len_dim);
  if (d.batched) {
    d.N = x.size(batch_dim);
    if (other.size(batch_dim) != d.N)
      m.fail("batch sizes of ", name, " ", x.shape(), " and ", other_name, " ", other.shape(), " differ: ", d.N, " and ",
             other.size(batch_dim), " (batch is dim ", batch_dim, bf ? ", batch_first=true)" : ", batch_first=false)");
  }
  return d;
}

/// A mask's dtype (bool, true = masked out, or legacy u8; or the inputs' floating dtype, added)
/// and shape (`want` or `alt`).
void check_mask(const Module& m, const char* name, const Tensor& mask, DType dtype, const Shape& want,
                const std::optional<Shape>& alt, const char* what) {
  if (!mask.defined()) return;
  if (mask.dtype() != DType::boolean && mask.dtype() != DType::u8 && mask.dtype() != dtype)
    m.fail(name, " must be bool (true = masked out; u8 is accepted as the legacy form) or ", dtype,
           " (added to the scores) like the inputs, got ", mask.dtype());
  if (mask.shape() == want || (alt && mask.shape() == *alt)) return;
  if (alt)
    m.fail(name, " of shape ", mask.shape(), " does not fit ", what, ": expected ", want, " or ", *alt);
  m.fail(name, " of shape ", mask.shape(), " does not fit ", what, ": expected ", want);
}

/// The key-padding mask shape for batch size N and key length len: [N, len], or [len] unbatched.
Shape kpm_shape(const SeqDims& d, int64_t len) { return d.batched ? Shape{d.N, len} : Shape{len}; }
/// The per-head attention mask shape [N * H, L, S] ([H, L, S] unbatched).
Shape per_head(const SeqDims& d, int64_t H, int64_t L, int64_t S) { return {d.batched ? d.N * H : H, L, S}; }

/// Every check of a decoder call: tgt and memory layouts, batch sizes, the four masks and the hints.
void check_decoder_call(const Module& m, const TransformerDecoderLayerOptions& lo, const Tensor& tgt,
                        const Tensor& memory, const TransformerDecoderLayerForwardOptions& o) {
  const SeqDims d = check_pair(m, lo.d_model(), lo.batch_first(), tgt, "tgt", 'T', memory, "memory", 'S');
  const int64_t H = lo.nhead();
  const std::string what = ::nabla::detail::concat("tgt ", tgt.shape(), " and memory ", memory.shape(), " (T = ", d.T,
                                          ", S = ", d.S, ", N = ", d.N, ", nhead = ", H, ")");
  const DType dt = tgt.dtype();
  check_mask(m, "tgt_mask", o.tgt_mask, dt, {d.T, d.T}, per_head(d, H, d.T, d.T), what.c_str());
  check_mask(m, "memory_mask", o.memory_mask, dt, {d.T, d.S}, per_head(d, H, d.T, d.S), what.c_str());
  check_mask(m, "tgt_key_padding_mask", o.tgt_key_padding_mask, dt, kpm_shape(d, d.T), std::nullopt, what.c_str());
  check_mask(m, "memory_key_padding_mask", o.memory_key_padding_mask, dt, kpm_shape(d, d.S), std::nullopt,
             what.c_str());
  if (o.tgt_is_causal && !o.tgt_mask.defined())
    m.fail("tgt_is_causal=true is a hint that tgt_mask is the causal mask (as in PyTorch): pass tgt_mask too, e.g. "
           "Transformer::generate_square_subsequent_mask(",
           d.T, ")");
  if (o.memory_is_causal && !o.memory_mask.defined())
    m.fail("memory_is_causal=true is a hint that memory_mask is causal (as in PyTorch): pass memory_mask too");
}

void check_activation(const Module& m, const std::string& act) {
  if (act != "relu" && act != "gelu") m.fail("activation must be \"relu\" or \"gelu\", got \"", act, "\"");
}

}  // namespace

// ---- TransformerDecoderLayer -------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerDecoderLayerOptions& o)
    : Module("TransformerDecoderLayer"), options(o) {
  check_activation(*this, o.activation());
  if (o.d_model() <= 0 || o.nhead() <= 0)
    fail("d_model and nhead must be positive, got ", o.d_model(), " and ", o.nhead());
  if (o.dim_feedforward() <= 0) fail("dim_feedforward must be positive, got ", o.dim_feedforward());
  if (!(o.dropout() >= 0 && o.dropout() < 1)) fail("dropout must be in [0, 1), got ", o.dropout());
  const int64_t E = o.d_model();
  auto mha = [&] {
    return std::make_shared<MultiheadAttention>(
        MultiheadAttentionOptions(E, o.nhead()).dropout(o.dropout()).bias(o.bias()).batch_first(o.batch_first()));
  };
  // PyTorch's registration order (its state_dict's key order).
  self_attn = register_module("self_attn", mha());
  multihead_attn = register_module("multihead_attn", mha());
  linear1 = register_module("linear1", std::make_shared<Linear>(LinearOptions(E, o.dim_feedforward()).bias(o.bias())));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(LinearOptions(o.dim_feedforward(), E).bias(o.bias())));
  auto ln = [&] { return std::make_shared<LayerNorm>(LayerNormOptions({E}).eps(o.layer_norm_eps()).bias(o.bias())); };
  norm1 = register_module("norm1", ln());
  norm2 = register_module("norm2", ln());
  norm3 = register_module("norm3", ln());
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt) {
  fail("forward(tgt) alone: a decoder layer needs the encoder's memory too, call (*layer)(tgt, memory, opts); got tgt ",
       tgt.defined() ? tgt.shape() : Shape{});
}

Tensor TransformerDecoderLayer::operator()(const Tensor& tgt, const Tensor& memory,
                                           const TransformerDecoderLayerForwardOptions& opts) {
  return tagged_call(*this, [&] { return forward(tgt, memory, opts); });
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory,
                                        const TransformerDecoderLayerForwardOptions& o) {
  check_decoder_call(*this, options, tgt, memory, o);
  auto sa = [&](const Tensor& x) {
    return detail::attention_block(*self_attn, *dropout1, x, x, o.tgt_key_padding_mask, o.tgt_mask, o.tgt_is_causal);
  };
  auto ca = [&](const Tensor& x) {
    return detail::attention_block(*multihead_attn, *dropout2, x, memory, o.memory_key_padding_mask, o.memory_mask,
                                   o.memory_is_causal);
  };
  const bool relu_act = options.activation() == "relu";
  auto ff = [&](const Tensor& x) {
    return detail::feed_forward_block(*linear1, *dropout, *linear2, *dropout3, relu_act, x);
  };
  const bool pre = options.norm_first();
  Tensor x = detail::residual(*norm1, pre, tgt, sa);
  x = detail::residual(*norm2, pre, x, ca);
  return detail::residual(*norm3, pre, x, ff);
}

// ---- TransformerDecoder --------------------------------------------------------------------

TransformerDecoder::TransformerDecoder(const TransformerDecoderOptions& o) : Module("TransformerDecoder"), options(o) {
  if (o.num_layers() < 1) fail("num_layers must be at least 1, got ", o.num_layers());
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    auto l = std::make_shared<TransformerDecoderLayer>(o.decoder_layer());
    // PyTorch deep-copies one layer: the same starting values, independent tensors.
    if (i > 0) l->load_state_dict(layer(0)->state_dict());
    layers->push_back(l);
  }
  if (o.norm()) norm = register_module("norm", o.norm());
}

std::shared_ptr<TransformerDecoderLayer> TransformerDecoder::layer(int64_t i) const {
  return std::static_pointer_cast<TransformerDecoderLayer>((*layers)[i]);
}

Tensor TransformerDecoder::forward(const Tensor& tgt) {
  fail("forward(tgt) alone: a decoder needs the encoder's memory too, call (*decoder)(tgt, memory, opts); got tgt ",
       tgt.defined() ? tgt.shape() : Shape{});
}

Tensor TransformerDecoder::operator()(const Tensor& tgt, const Tensor& memory,
                                      const TransformerDecoderForwardOptions& opts) {
  return tagged_call(*this, [&] { return forward(tgt, memory, opts); });
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const TransformerDecoderForwardOptions& o) {
  check_decoder_call(*this, options.decoder_layer(), tgt, memory, o);  // errors name the decoder, not layers.0
  Tensor x = tgt;
  for (const auto& m : *layers) x = (*std::static_pointer_cast<TransformerDecoderLayer>(m))(x, memory, o);
  return norm ? (*norm)(x) : x;
}

// ---- Transformer ---------------------------------------------------------------------------

Transformer::Transformer(const TransformerOptions& o) : Module("Transformer"), options(o) {
  check_activation(*this, o.activation());
  if (o.num_encoder_layers() < 1 || o.num_decoder_layers() < 1)
    fail("num_encoder_layers and num_decoder_layers must be at least 1, got ", o.num_encoder_layers(), " and ",
         o.num_decoder_layers());
  const int64_t E = o.d_model();
  auto final_norm = [&] {
    return std::make_shared<LayerNorm>(LayerNormOptions({E}).eps(o.layer_norm_eps()).bias(o.bias()));
  };
  auto enc_layer = TransformerEncoderLayerOptions(E, o.nhead())
                       .dim_feedforward(o.dim_feedforward())
                       .dropout(o.dropout())
                       .activation(o.activation())
                       .layer_norm_eps(o.layer_norm_eps())
                       .batch_first(o.batch_first())
                       .norm_first(o.norm_first())
                       .bias(o.bias());
  auto dec_layer = TransformerDecoderLayerOptions(E, o.nhead())
                       .dim_feedforward(o.dim_feedforward())
                       .dropout(o.dropout())
                       .activation(o.activation())
                       .layer_norm_eps(o.layer_norm_eps())
                       .batch_first(o.batch_first())
                       .norm_first(o.norm_first())
                       .bias(o.bias());
  encoder = register_module(
      "encoder", std::make_shared<TransformerEncoder>(
                     TransformerEncoderOptions(enc_layer, o.num_encoder_layers()).norm(final_norm())));
  decoder = register_module(
      "decoder", std::make_shared<TransformerDecoder>(
                     TransformerDecoderOptions(dec_layer, o.num_decoder_layers()).norm(final_norm())));
  reset_parameters();
}

void Transformer::reset_parameters() {
  for (Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor Transformer::forward(const Tensor& src) {
  fail("forward(src) alone: a Transformer needs src and tgt, call (*model)(src, tgt, opts); got src ",
       src.defined() ? src.shape() : Shape{});
}

Tensor Transformer::operator()(const Tensor& src, const Tensor& tgt, const TransformerForwardOptions& opts) {
  return tagged_call(*this, [&] { return forward(src, tgt, opts); });
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const TransformerForwardOptions& o) {
  // Every check before any work, naming PyTorch's arguments (src is the memory's shape).
  const SeqDims d = check_pair(*this, options.d_model(), options.batch_first(), tgt, "tgt", 'T', src, "src", 'S');
  const std::string what = ::nabla::detail::concat("src ", src.shape(), " and tgt ", tgt.shape(), " (S = ", d.S, ", T = ", d.T,
                                          ", N = ", d.N, ", nhead = ", options.nhead(), ")");
  check_mask(*this, "src_mask", o.src_mask, src.dtype(), {d.S, d.S}, per_head(d, options.nhead(), d.S, d.S),
             what.c_str());
  check_mask(*this, "src_key_padding_mask", o.src_key_padding_mask, src.dtype(), kpm_shape(d, d.S), std::nullopt,
             what.c_str());
  if (o.src_is_causal && !o.src_mask.defined())
    fail("src_is_causal=true is a hint that src_mask is the causal mask (as in PyTorch): pass src_mask too");
  const TransformerDecoderForwardOptions dec{.tgt_mask = o.tgt_mask,
                                             .memory_mask = o.memory_mask,
                                             .tgt_key_padding_mask = o.tgt_key_padding_mask,
                                             .memory_key_padding_mask = o.memory_key_padding_mask,
                                             .tgt_is_causal = o.tgt_is_causal,
                                             .memory_is_causal = o.memory_is_causal};
  check_decoder_call(*this, decoder->options.decoder_layer(), tgt, src, dec);
  Tensor memory = (*encoder)(
      src, {.mask = o.src_mask, .src_key_padding_mask = o.src_key_padding_mask, .is_causal = o.src_is_causal});
  return (*decoder)(tgt, memory, dec);
}

Tensor Transformer::encode(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask) {
  return (*encoder)(src, {.mask = src_mask, .src_key_padding_mask = src_key_padding_mask});
}

Tensor Transformer::decode(const Tensor& tgt, const Tensor& memory, const TransformerDecoderForwardOptions& opts) {
  return (*decoder)(tgt, memory, opts);
}

Tensor Transformer::generate_square_subsequent_mask(int64_t sz, const TensorOptions& opts) {
  NB_CHECK(sz >= 0, "[Transformer::generate_square_subsequent_mask] size must be non-negative, got ", sz);
  NB_CHECK(is_floating(opts.dtype), "[Transformer::generate_square_subsequent_mask] the mask holds -inf and 0: dtype "
           "must be floating, got ", opts.dtype);
  return triu(full({sz, sz}, -INFINITY, {.dtype = opts.dtype, .device = opts.device}), 1);
}

// ---- printing ------------------------------------------------------------------------------------

std::string TransformerDecoderLayer::extra_repr() const {
  return "d_model=" + std::to_string(options.d_model()) + ", nhead=" + std::to_string(options.nhead()) +
         ", dim_feedforward=" + std::to_string(options.dim_feedforward()) + ", activation=" + options.activation() +
         ", norm_first=" + detail::bool_str(options.norm_first()) + ", batch_first=" +
         detail::bool_str(options.batch_first());
}

std::string TransformerDecoder::extra_repr() const { return "num_layers=" + std::to_string(options.num_layers()); }

std::string Transformer::extra_repr() const {
  return "d_model=" + std::to_string(options.d_model()) + ", nhead=" + std::to_string(options.nhead()) +
         ", num_encoder_layers=" + std::to_string(options.num_encoder_layers()) + ", num_decoder_layers=" +
         std::to_string(options.num_decoder_layers()) + ", batch_first=" + detail::bool_str(options.batch_first());
}

}  // namespace nabla::nn
