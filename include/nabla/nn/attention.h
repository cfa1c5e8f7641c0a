// Attention layers with PyTorch's semantics, parameter names and init: MultiheadAttention,
// TransformerEncoderLayer and TransformerEncoder (state dicts map 1:1 onto PyTorch's).
//
// Shapes (E = embed_dim, L = target length, S = source length, N = batch, H = num_heads):
// query [L, N, E], key [S, N, kdim], value [S, N, vdim] ([N, L, E] ... with batch_first, or
// unbatched [L, E], [S, kdim], [S, vdim]); output as the query.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "nabla/nn/container.h"
#include "nabla/nn/dropout.h"
#include "nabla/nn/linear.h"
#include "nabla/nn/module.h"
#include "nabla/nn/norm.h"

namespace nabla::nn {

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  NB_ARG(int64_t, embed_dim);
  NB_ARG(int64_t, num_heads);  ///< must divide embed_dim
  /// Dropout on the attention probabilities, in training mode only.
  NB_ARG(double, dropout) = 0.0;
  /// in_proj_bias [3E] and out_proj.bias.
  NB_ARG(bool, bias) = true;
  /// Not implemented: refused with an error (PyTorch appends learned bias_k / bias_v rows).
  NB_ARG(bool, add_bias_kv) = false;
  /// Not implemented: refused with an error (PyTorch appends a zero key/value row).
  NB_ARG(bool, add_zero_attn) = false;
  /// Key / value feature sizes (default embed_dim). When either differs from embed_dim the input
  /// projections are separate parameters q_proj_weight [E, E], k_proj_weight [E, kdim],
  /// v_proj_weight [E, vdim] instead of one in_proj_weight [3E, E].
  NB_ARG(std::optional<int64_t>, kdim);
  NB_ARG(std::optional<int64_t>, vdim);
  /// Inputs and outputs are [N, L, E] instead of [L, N, E].
  NB_ARG(bool, batch_first) = false;
};

/// Arguments of MultiheadAttention::forward besides query, key and value (PyTorch's names).
struct MultiheadAttentionForwardOptions {
  /// [N, S] ([S] unbatched): bool true = that key is padding and is ignored (u8 is accepted as
  /// the legacy form); or float, added.
  Tensor key_padding_mask = {};
  /// Also return the attention weights (averaged over heads when average_attn_weights).
  bool need_weights = true;
  /// [L, S] or [N * H, L, S] ([H, L, S] unbatched): bool (or legacy u8) true = NOT allowed to attend (the opposite
  /// of scaled_dot_product_attention's bool mask, as in PyTorch); or float, added to the scores.
  Tensor attn_mask = {};
  /// Weights [N, L, S] averaged over heads; else per head [N, H, L, S].
  bool average_attn_weights = true;
  /// A hint that attn_mask is the causal mask, as in PyTorch: attn_mask must be given too.
  bool is_causal = false;
};

/// Multi-head attention (Vaswani et al.): each of H heads attends with
/// softmax(Q_h K_hᵀ / sqrt(E/H) + mask) V_h on its slice of the projected inputs; the heads are
/// concatenated and projected by out_proj. Parameters (PyTorch's names and order): in_proj_weight
/// [3E, E] (or q/k/v_proj_weight, see kdim), in_proj_bias [3E], out_proj.weight [E, E],
/// out_proj.bias [E]. Init (PyTorch's): xavier_uniform_ on the input projections, zero biases,
/// out_proj.weight as a Linear's default.
///
/// A query whose keys are all masked gets 0 output and 0 weights (PyTorch gives 0 output in its
/// scaled-dot-product path, need_weights=false, and NaN with need_weights=true).
class MultiheadAttention : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit MultiheadAttention(const MultiheadAttentionOptions& options);
  MultiheadAttention(int64_t embed_dim, int64_t num_heads)
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads)) {}

  /// (output, weights); weights is undefined when !need_weights.
  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const MultiheadAttentionForwardOptions& opts = {});
  /// Self-attention without masks, the output only (lets the layer sit in a Sequential).
  Tensor forward(const Tensor& x) override;
  /// forward(query, key, value, opts) with errors naming this module, as Module::operator().
  std::pair<Tensor, Tensor> operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                       const MultiheadAttentionForwardOptions& opts = {});
  using Module::operator();

  /// Re-draws the parameters with the default init.
  void reset_parameters();
  std::string extra_repr() const override;
  int64_t head_dim() const { return options.embed_dim() / options.num_heads(); }
  /// Whether the input projections are one in_proj_weight (kdim == vdim == embed_dim).
  bool qkv_same_embed_dim() const { return in_proj_weight.defined(); }

  MultiheadAttentionOptions options;
  Tensor in_proj_weight;                              ///< [3E, E], or undefined (see kdim)
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  ///< defined only when kdim or vdim != E
  Tensor in_proj_bias;                                 ///< [3E], undefined without bias
  std::shared_ptr<Linear> out_proj;
};

/// The options of TransformerEncoderLayer and TransformerDecoderLayer (the same set, PyTorch's
/// names and defaults), under both names.
struct TransformerLayerOptions {
  TransformerLayerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  NB_ARG(int64_t, d_model);
  NB_ARG(int64_t, nhead);
  NB_ARG(int64_t, dim_feedforward) = 2048;
  /// Dropout after each attention, inside the feed-forward block and after it (training mode only).
  NB_ARG(double, dropout) = 0.1;
  /// "relu" or "gelu" (exact, erf form).
  NB_ARG(std::string, activation) = "relu";
  NB_ARG(double, layer_norm_eps) = 1e-5;
  NB_ARG(bool, batch_first) = false;
  /// Pre-norm (x + f(norm(x))) instead of post-norm (norm(x + f(x))).
  NB_ARG(bool, norm_first) = false;
  /// Biases of the linear layers, attention projections and layer norms.
  NB_ARG(bool, bias) = true;
};

using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

/// Masks of TransformerEncoderLayer::forward (PyTorch's names), as MultiheadAttention's.
struct TransformerEncoderLayerForwardOptions {
  Tensor src_mask = {};              ///< MultiheadAttention's attn_mask
  Tensor src_key_padding_mask = {};  ///< MultiheadAttention's key_padding_mask
  bool is_causal = false;            ///< hint that src_mask is causal (src_mask required)
};

/// One Transformer encoder block, PyTorch's nn.TransformerEncoderLayer:
///   post-norm: x = norm1(x + sa(x)); x = norm2(x + ff(x))
///   pre-norm:  x = x + sa(norm1(x)); x = x + ff(norm2(x))
/// with sa(x) = dropout1(self_attn(x, x, x)) and ff(x) = dropout2(linear2(dropout(act(linear1(x))))).
/// Submodules (and so state-dict keys): self_attn, linear1, dropout, linear2, norm1, norm2,
/// dropout1, dropout2.
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& options);
  TransformerEncoderLayer(int64_t d_model, int64_t nhead)
      : TransformerEncoderLayer(TransformerEncoderLayerOptions(d_model, nhead)) {}

  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const TransformerEncoderLayerForwardOptions& opts);
  /// forward(src, opts) as Module::operator() runs forward(src): errors name this module, and its
  /// hooks run (they see src and the output; the options are not hook arguments).
  Tensor operator()(const Tensor& src, const TransformerEncoderLayerForwardOptions& opts);
  using Module::operator();
  std::string extra_repr() const override;

  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;
};

struct TransformerEncoderOptions {
  TransformerEncoderOptions(TransformerEncoderLayerOptions encoder_layer, int64_t num_layers)
      : encoder_layer_(std::move(encoder_layer)), num_layers_(num_layers) {}
  NB_ARG(TransformerEncoderLayerOptions, encoder_layer);
  NB_ARG(int64_t, num_layers);
  /// Applied after the last layer (e.g. a LayerNorm, usual with norm_first layers); may be null.
  NB_ARG(std::shared_ptr<Module>, norm);
};

/// Masks of TransformerEncoder::forward (PyTorch's names), passed to every layer.
struct TransformerEncoderForwardOptions {
  Tensor mask = {};
  Tensor src_key_padding_mask = {};
  bool is_causal = false;
};

/// A stack of num_layers TransformerEncoderLayers (submodule `layers`, a ModuleList: keys
/// layers.0.self_attn.in_proj_weight, ...) and an optional final `norm`. As PyTorch, which
/// deep-copies one layer, every layer starts with the same weights (in tensors of its own).
class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerEncoderOptions& options);
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const TransformerEncoderForwardOptions& opts);
  /// forward(src, opts) as Module::operator() runs forward(src): errors name this module, and its
  /// hooks run (they see src and the output; the options are not hook arguments).
  Tensor operator()(const Tensor& src, const TransformerEncoderForwardOptions& opts);
  using Module::operator();
  std::string extra_repr() const override;

  TransformerEncoderOptions options;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<Module> norm;  ///< null when options.norm() is null
};

}  // namespace nabla::nn
