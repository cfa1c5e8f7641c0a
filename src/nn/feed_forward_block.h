// The position-wise feed-forward block of TransformerEncoderLayer and TransformerDecoderLayer:
// out_dropout(linear2(dropout(act(linear1(x))))), act relu or gelu, written once for both.
#pragma once
#include "nabla/nn/dropout.h"
#include "nabla/nn/linear.h"
#include "nabla/ops.h"

namespace nabla::nn::detail {

inline Tensor feed_forward_block(Linear& linear1, Dropout& dropout, Linear& linear2, Dropout& out_dropout, bool relu,
                                 const Tensor& x) {
  // relu rides along with linear1's GEMM (forward_relu); gelu is applied after it.
  Tensor h = relu ? linear1.forward_relu(x) : gelu(linear1(x));
  return out_dropout(linear2(dropout(h)));
}

}  // namespace nabla::nn::detail
