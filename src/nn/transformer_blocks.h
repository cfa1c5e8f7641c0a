// The blocks TransformerEncoderLayer and TransformerDecoderLayer share, written once: the
// residual wrapper (pre- or post-norm), the attention block dropout(attn(q, kv, kv)) without
// weights, and the position-wise feed-forward block out_dropout(linear2(dropout(act(linear1(x))))),
// act relu or gelu.
#pragma once
#include "nabla/nn/attention.h"
#include "nabla/nn/dropout.h"
#include "nabla/nn/linear.h"
#include "nabla/nn/norm.h"
#include "nabla/ops.h"

namespace nabla::nn::detail {

/// One sublayer f with its residual connection: x + f(norm(x)) (norm_first) or norm(x + f(x)).
template <typename F>
Tensor residual(LayerNorm& norm, bool norm_first, const Tensor& x, F&& f) {
  return norm_first ? x + f(norm(x)) : norm(x + f(x));
}

/// dropout(attn(q, kv, kv)) with the given masks; the weights are not computed.
inline Tensor attention_block(MultiheadAttention& attn, Dropout& dropout, const Tensor& q, const Tensor& kv,
                              const Tensor& key_padding_mask, const Tensor& attn_mask, bool is_causal) {
  return dropout(attn(q, kv, kv,
                      {.key_padding_mask = key_padding_mask, .need_weights = false, .attn_mask = attn_mask,
                       .is_causal = is_causal})
                     .first);
}

inline Tensor feed_forward_block(Linear& linear1, Dropout& dropout, Linear& linear2, Dropout& out_dropout, bool relu,
                                 const Tensor& x) {
  // relu rides along with linear1's GEMM (forward_relu); gelu is applied after it.
  Tensor h = relu ? linear1.forward_relu(x) : gelu(linear1(x));
  return out_dropout(linear2(dropout(h)));
}

}  // namespace nabla::nn::detail
