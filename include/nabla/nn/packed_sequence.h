// Variable-length sequences in one batch, as torch.nn.utils.rnn: a PackedSequence holds only the
// real time steps, and RNN, LSTM and GRU run on it without touching the padding (their final
// states are each sequence's state after its own last step).
//
//   auto packed = nn::utils::rnn::pack_padded_sequence(x, lengths, {.batch_first = true,
//                                                                    .enforce_sorted = false});
//   auto [out, state] = lstm(packed);
//   auto [padded, out_lengths] = nn::utils::rnn::pad_packed_sequence(out, {.batch_first = true});
//
// Layout (PyTorch's): `data` [sum of lengths, *] holds step 0 of every sequence, then step 1 of
// every sequence that is that long, and so on, the sequences ordered longest first;
// `batch_sizes` (i64, on the CPU) counts the sequences at each step; `sorted_indices` maps that
// order to the batch's (undefined when the batch was sorted already) and `unsorted_indices` back.
// Everything is composed of differentiable ops: gradients flow from `data` to the padded input.
#pragma once
#include <optional>

#include "nabla/tensor.h"

namespace nabla::nn::utils::rnn {

struct PackedSequence {
  Tensor data;
  Tensor batch_sizes;
  Tensor sorted_indices;    ///< undefined: the batch order is the sorted order
  Tensor unsorted_indices;  ///< undefined likewise
  /// The same sequences with `data` (and the index tensors) on `device`; batch_sizes stays on the CPU.
  PackedSequence to(Device device) const;
  bool is_cuda() const { return data.defined() && data.device().is_cuda(); }
};

struct PackOptions {
  bool batch_first = false;    ///< input [N, L, *] instead of [L, N, *]
  bool enforce_sorted = true;  ///< true: lengths must already be in decreasing order
};
/// Packs a padded batch [L, N, *] ([N, L, *] with batch_first) of sequences of `lengths` (N
/// values, each in [1, L]; a 1-D CPU i64 tensor, or a list).
PackedSequence pack_padded_sequence(const Tensor& input, const Tensor& lengths, const PackOptions& opts = {});
PackedSequence pack_padded_sequence(const Tensor& input, const std::vector<int64_t>& lengths,
                                    const PackOptions& opts = {});

struct PadOptions {
  bool batch_first = false;
  double padding_value = 0.0;
  /// Pad to this many steps (at least the longest sequence); by default to the longest.
  std::optional<int64_t> total_length = std::nullopt;
};
/// The inverse of pack_padded_sequence: the padded batch in the original order, and the lengths
/// (i64, CPU).
std::pair<Tensor, Tensor> pad_packed_sequence(const PackedSequence& sequence, const PadOptions& opts = {});

/// Stacks sequences [L_i, *] into [max L, N, *] ([N, max L, *] with batch_first), padding with
/// padding_value; total_length is ignored here (as PyTorch's pad_sequence has none).
Tensor pad_sequence(const TensorList& sequences, const PadOptions& opts = {});
/// Packs a list of sequences [L_i, *] (longest first unless enforce_sorted is false).
PackedSequence pack_sequence(const TensorList& sequences, bool enforce_sorted = true);
/// The sequences of a padded batch as a list, each cut to its length.
TensorList unpad_sequence(const Tensor& padded, const Tensor& lengths, bool batch_first = false);
/// The sequences of a PackedSequence as a list, in the original order.
TensorList unpack_sequence(const PackedSequence& sequence);

}  // namespace nabla::nn::utils::rnn
