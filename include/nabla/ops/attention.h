// Scaled dot-product attention, PyTorch's torch.nn.functional.scaled_dot_product_attention,
// composed from matmul, where, softmax and dropout (no kernel of its own, so it runs on every
// device and its gradient is the composition's, differentiable again).
//
//   out = softmax(Q Kᵀ · scale + bias) V
//
// Q [..., L, E], K [..., S, E], V [..., S, Ev] -> [..., L, Ev]; the leading (batch) dims of Q, K,
// V and the mask broadcast (NumPy rules). bias is 0 where attention is allowed and -inf where it
// is not (causal, or a bool mask's false), plus a float mask's values.
#pragma once
#include <optional>
#include <utility>

#include "nabla/tensor.h"

namespace nabla {

struct SdpaOptions {
  /// Optional, broadcastable to [..., L, S]: bool (or legacy u8) keeps the positions where it is true
  /// (PyTorch's convention; nn::MultiheadAttention's bool masks are the opposite), a float mask of
  /// the query's dtype is added to the scores. Not together with is_causal (PyTorch refuses too).
  Tensor attn_mask = {};
  /// Drops attention probabilities with this probability (and scales the rest by 1/(1-p)) on every
  /// call, as PyTorch's functional form does: pass 0 at evaluation.
  double dropout_p = 0.0;
  /// Query i attends to keys j <= i (a top-left aligned lower-triangular [L, S] mask, as PyTorch).
  bool is_causal = false;
  /// Default 1/sqrt(E).
  std::optional<double> scale = std::nullopt;
};

/// softmax(Q Kᵀ · scale + bias) V, see above. A query row whose every key is masked out gives 0
/// (output and gradient), as PyTorch >= 2.5 does (its _safe_softmax; older versions gave NaN).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const SdpaOptions& opts = {});

/// The same, also returning the attention probabilities [..., L, S] as applied to V (after dropout,
/// as nn::MultiheadAttention's need_weights reports them).
std::pair<Tensor, Tensor> scaled_dot_product_attention_with_weights(const Tensor& query, const Tensor& key,
                                                                    const Tensor& value, const SdpaOptions& opts = {});

}  // namespace nabla
