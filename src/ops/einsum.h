// Einstein summation on subscripts already parsed into integer labels: the engine behind
// einsum's equations and tensordot's dim lists.
#pragma once
#include <string>
#include <vector>

#include "nabla/tensor.h"

namespace nabla::ops {

/// labels[i][d] names dim d of operands[i]: 0-25 and 26-51 are einsum's letters A-Z and a-z (so
/// errors can name them), higher labels the dims covered by an ellipsis. `out` lists the output's
/// labels in order (each once, each used by some operand). A label repeated within an operand takes
/// that operand's diagonal; labels of size 1 broadcast; labels not in `out` are summed. Errors
/// start with `context` (the op and its equation).
Tensor einsum_labeled(const TensorList& operands, const std::vector<std::vector<int>>& labels,
                      const std::vector<int>& out, const std::string& context);

}  // namespace nabla::ops
