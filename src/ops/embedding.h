// Shared by embedding (embedding.cpp) and embedding_bag (embedding_bag.cpp).
#pragma once
#include "nabla/tensor.h"

namespace nabla::ops {

/// `rows` [T, D], the lookups of i64 indices `flat` [T] into a table of `num` rows, with each
/// lookup's gradient divided by how many times `flat` holds its index (PyTorch's
/// scale_grad_by_freq). The forward value is `rows` unchanged.
Tensor scale_grad_by_frequency(const Tensor& rows, const Tensor& flat, int64_t num);

}  // namespace nabla::ops
