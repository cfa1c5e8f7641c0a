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

/// Throws where `bad` (a 0/1 mask over `values`) has a 1, with message(got, position): an index
/// check of the mask (0 good), so it runs where the values live: on the CPU at once, on a GPU
/// without waiting for the queued work (reported at the next synchronization, as bad class
/// indices are). `got` is the bad value for values on the CPU, "another value" on a device.
template <typename Message>
inline void check_mask_clear(const Tensor& bad, const Tensor& values, Message message) {
  const Tensor host = values.device().is_cpu() ? values : Tensor();
  ops::check_indices(ops::contiguous_data(bad.to(DType::i64)), {.limit = 1, .also = std::nullopt},
                     [host, message](int64_t at, int64_t) {
                       const std::string got =
                           host.defined() ? detail::concat(host.reshape({-1}).to(DType::f64).to_vector<double>()[size_t(at)])
                                          : std::string("another value");
                       return message(got, at);
                     });
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
