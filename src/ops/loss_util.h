// Checks and reductions shared by the loss families (loss.cpp, loss_margin.cpp).
#pragma once
#include "op_util.h"

namespace nabla::ops {

inline void check_not_batchmean(Reduction r, const char* op) {
  NB_CHECK(r != Reduction::BatchMean, "[", op,
           "] reduction BatchMean is only defined for kl_div; use None, Mean or Sum");
}

inline Tensor reduce_loss(const Tensor& per_elem, Reduction r, const char* op) {
  check_not_batchmean(r, op);
  if (r == Reduction::Sum) return sum(per_elem);
  if (r == Reduction::Mean) return mean(per_elem);
  return per_elem;
}

/// Whether `s` broadcasts to `to` without widening it (NumPy rules, trailing dims aligned).
inline bool broadcasts_to(const Shape& s, const Shape& to) {
  if (s.size() > to.size()) return false;
  const size_t off = to.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != 1 && s[i] != to[off + i]) return false;
  return true;
}

/// An element weight must broadcast to the input's shape, not widen the loss beyond it.
inline void check_loss_weight(const Tensor& weight, const Tensor& input, const char* op) {
  if (!weight.defined()) return;
  NB_CHECK(broadcasts_to(weight.shape(), input.shape()), "[", op, "] weight shape ", weight.shape(),
           " does not broadcast to the input shape ", input.shape());
}

/// The element-wise losses compare tensors of one shape (broadcasting here is usually a bug).
inline void check_pair(const Tensor& input, const Tensor& target, const char* op) {
  ops::check_floating(input, op);
  ops::check_same_device(input, target, op);
  NB_CHECK(input.shape() == target.shape(), "[", op, "] input shape ", input.shape(), " and target shape ",
           target.shape(), " differ; they must match (broadcasting here is usually a bug)");
}

}  // namespace nabla::ops
