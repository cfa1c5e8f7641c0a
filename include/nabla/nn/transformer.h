// The Transformer's decoder side and the whole encoder-decoder model, with PyTorch's semantics,
// parameter names and init: TransformerDecoderLayer, TransformerDecoder and Transformer (state
// dicts map 1:1 onto PyTorch's nn.TransformerDecoderLayer / nn.TransformerDecoder / nn.Transformer).
//
// Shapes (E = d_model, T = target length, S = source/memory length, N = batch, H = nhead):
// tgt [T, N, E], memory and src [S, N, E] ([N, T, E], [N, S, E] with batch_first, or unbatched
// [T, E], [S, E]); output as tgt. Masks as MultiheadAttention's: bool, or legacy u8 (true = not allowed / padding)
// or float of the input's dtype (added to the attention scores):
//   tgt_mask [T, T] or [N * H, T, T]         memory_mask [T, S] or [N * H, T, S]
//   src_mask [S, S] or [N * H, S, S]         *_key_padding_mask [N, T or S] ([T or S] unbatched)
#pragma once
#include <memory>
#include <string>

#include "nabla/nn/attention.h"

namespace nabla::nn {

// TransformerDecoderLayerOptions: TransformerLayerOptions, in nabla/nn/attention.h.

/// Masks of TransformerDecoderLayer::forward and TransformerDecoder::forward (PyTorch's names).
struct TransformerDecoderLayerForwardOptions {
  Tensor tgt_mask = {};                 ///< self-attention's attn_mask, [T, T] or [N * H, T, T]
  Tensor memory_mask = {};              ///< cross-attention's attn_mask, [T, S] or [N * H, T, S]
  Tensor tgt_key_padding_mask = {};     ///< [N, T]: true = that target position is padding
  Tensor memory_key_padding_mask = {};  ///< [N, S]: true = that memory position is padding
  /// Hint that tgt_mask is the causal mask (as in PyTorch, tgt_mask must be given too: see
  /// Transformer::generate_square_subsequent_mask).
  bool tgt_is_causal = false;
  /// Hint that memory_mask is causal (memory_mask required).
  bool memory_is_causal = false;
};
using TransformerDecoderForwardOptions = TransformerDecoderLayerForwardOptions;

/// One Transformer decoder block, PyTorch's nn.TransformerDecoderLayer:
///   post-norm: x = norm1(x + sa(x)); x = norm2(x + ca(x, mem)); x = norm3(x + ff(x))
///   pre-norm:  x = x + sa(norm1(x)); x = x + ca(norm2(x), mem); x = x + ff(norm3(x))
/// with sa(x) = dropout1(self_attn(x, x, x)), ca(x, mem) = dropout2(multihead_attn(x, mem, mem))
/// and ff(x) = dropout3(linear2(dropout(act(linear1(x))))). Submodules (and so state-dict keys, in
/// PyTorch's order): self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3,
/// dropout1, dropout2, dropout3. Init: each submodule's default (as PyTorch).
class TransformerDecoderLayer : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit TransformerDecoderLayer(const TransformerDecoderLayerOptions& options);
  TransformerDecoderLayer(int64_t d_model, int64_t nhead)
      : TransformerDecoderLayer(TransformerDecoderLayerOptions(d_model, nhead)) {}

  Tensor forward(const Tensor& tgt, const Tensor& memory, const TransformerDecoderLayerForwardOptions& opts = {});
  /// forward(tgt, memory, opts) with errors naming this module.
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const TransformerDecoderLayerForwardOptions& opts = {});
  /// Refused: a decoder layer needs the memory too.
  Tensor forward(const Tensor& tgt) override;
  using Module::operator();
  std::string extra_repr() const override;

  TransformerDecoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Dropout> dropout1, dropout2, dropout3;
};

struct TransformerDecoderOptions {
  TransformerDecoderOptions(TransformerDecoderLayerOptions decoder_layer, int64_t num_layers)
      : decoder_layer_(std::move(decoder_layer)), num_layers_(num_layers) {}
  NB_ARG(TransformerDecoderLayerOptions, decoder_layer);
  NB_ARG(int64_t, num_layers);
  /// Applied after the last layer (e.g. a LayerNorm, usual with norm_first layers); may be null.
  NB_ARG(std::shared_ptr<Module>, norm);
};

/// A stack of num_layers TransformerDecoderLayers (submodule `layers`, a ModuleList: keys
/// layers.0.self_attn.in_proj_weight, ...) and an optional final `norm`. As PyTorch's deep copies
/// of one layer, every layer starts with the same values in its own, independent tensors.
class TransformerDecoder : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit TransformerDecoder(const TransformerDecoderOptions& options);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const TransformerDecoderForwardOptions& opts = {});
  /// forward(tgt, memory, opts) with errors naming this module.
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const TransformerDecoderForwardOptions& opts = {});
  /// Refused: a decoder needs the memory too.
  Tensor forward(const Tensor& tgt) override;
  using Module::operator();
  std::string extra_repr() const override;
  /// The i-th layer.
  std::shared_ptr<TransformerDecoderLayer> layer(int64_t i) const;

  TransformerDecoderOptions options;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<Module> norm;  ///< null when options.norm() is null
};

/// nn::Transformer's settings, PyTorch's defaults (the base model of "Attention Is All You Need").
struct TransformerOptions {
  TransformerOptions() = default;
  TransformerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  NB_ARG(int64_t, d_model) = 512;
  NB_ARG(int64_t, nhead) = 8;
  NB_ARG(int64_t, num_encoder_layers) = 6;
  NB_ARG(int64_t, num_decoder_layers) = 6;
  NB_ARG(int64_t, dim_feedforward) = 2048;
  NB_ARG(double, dropout) = 0.1;
  /// "relu" or "gelu".
  NB_ARG(std::string, activation) = "relu";
  NB_ARG(double, layer_norm_eps) = 1e-5;
  NB_ARG(bool, batch_first) = false;
  NB_ARG(bool, norm_first) = false;
  NB_ARG(bool, bias) = true;
};

/// Masks of Transformer::forward (PyTorch's names; the *_is_causal flags are hints that the
/// matching mask is causal, which must then be given).
struct TransformerForwardOptions {
  Tensor src_mask = {};                 ///< encoder self-attention, [S, S] or [N * H, S, S]
  Tensor tgt_mask = {};                 ///< decoder self-attention, [T, T] or [N * H, T, T]
  Tensor memory_mask = {};              ///< decoder cross-attention, [T, S] or [N * H, T, S]
  Tensor src_key_padding_mask = {};     ///< [N, S]
  Tensor tgt_key_padding_mask = {};     ///< [N, T]
  Tensor memory_key_padding_mask = {};  ///< [N, S]: usually src_key_padding_mask
  bool src_is_causal = false;
  bool tgt_is_causal = false;
  bool memory_is_causal = false;
};

/// The encoder-decoder Transformer, PyTorch's nn.Transformer: `encoder` (a TransformerEncoder of
/// num_encoder_layers layers and a final LayerNorm) reads src into memory, `decoder` (a
/// TransformerDecoder of num_decoder_layers layers and a final LayerNorm) reads tgt and attends
/// over memory. Keys: encoder.layers.0.self_attn.in_proj_weight, ..., encoder.norm.weight,
/// decoder.layers.0.multihead_attn.in_proj_weight, ..., decoder.norm.bias. Init (PyTorch's):
/// xavier_uniform_ on every parameter with more than one dimension; biases and norms as the layers'
/// defaults. It has no embedding or output projection: the caller adds those.
class Transformer : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit Transformer(const TransformerOptions& options = {});

  /// src [S, N, E], tgt [T, N, E] (or batch_first / unbatched) -> [T, N, E].
  Tensor forward(const Tensor& src, const Tensor& tgt, const TransformerForwardOptions& opts = {});
  /// forward(src, tgt, opts) with errors naming this module.
  Tensor operator()(const Tensor& src, const Tensor& tgt, const TransformerForwardOptions& opts = {});
  /// Refused: a Transformer needs src and tgt.
  Tensor forward(const Tensor& src) override;
  using Module::operator();

  /// encoder(src) alone (the memory to decode from, e.g. once per sequence in greedy decoding).
  Tensor encode(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {});
  /// decoder(tgt, memory) alone.
  Tensor decode(const Tensor& tgt, const Tensor& memory, const TransformerDecoderForwardOptions& opts = {});

  /// PyTorch's: [sz, sz] with -inf above the diagonal and 0 on and below it (position i may attend
  /// to positions <= i), f32 on the CPU unless `opts` says otherwise.
  static Tensor generate_square_subsequent_mask(int64_t sz, const TensorOptions& opts = {});

  /// Re-draws the parameters: xavier_uniform_ on those with more than one dimension.
  void reset_parameters();
  std::string extra_repr() const override;

  TransformerOptions options;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace nabla::nn
