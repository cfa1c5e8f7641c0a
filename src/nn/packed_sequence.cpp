// Packing and padding of variable-length sequences (torch.nn.utils.rnn). Packing is one
// index_select of the time-major rows that hold real steps, unpacking one index_add back, so
// the backward of each is one pass (not one zero-padded gradient per step).
#include "nabla/nn/packed_sequence.h"

#include <algorithm>
#include <numeric>

#include "nabla/error.h"
#include "nabla/ops.h"

namespace nabla::nn::utils::rnn {
namespace {

std::vector<int64_t> lengths_vector(const Tensor& lengths, const char* op) {
  NB_CHECK(lengths.defined() && lengths.dim() == 1 && !lengths.is_floating_point(), "[", op,
           "] lengths must be a 1-D integer tensor, got ",
           lengths.defined() ? std::string(dtype_name(lengths.dtype())) : std::string("an undefined tensor"),
           lengths.defined() ? " of shape " : "", lengths.defined() ? lengths.shape() : Shape{});
  return lengths.to(Device::cpu()).to(DType::i64).contiguous().to_vector<int64_t>();
}

/// Row (t * N + b) of the time-major [L * N, *] view for every real step, in packed order.
std::vector<int64_t> packed_rows(const std::vector<int64_t>& batch_sizes, int64_t N) {
  std::vector<int64_t> rows;
  for (size_t t = 0; t < batch_sizes.size(); ++t)
    for (int64_t b = 0; b < batch_sizes[t]; ++b) rows.push_back(int64_t(t) * N + b);
  return rows;
}

/// [L, N, *] -> [L * N, *]
Tensor flatten_steps(const Tensor& x) {
  Shape s{x.size(0) * x.size(1)};
  s.insert(s.end(), x.shape().begin() + 2, x.shape().end());
  return x.reshape(s);
}

/// The inverse permutation: out[perm[i]] = i.
Tensor invert_permutation(const std::vector<int64_t>& perm, Device device) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
  return from_vector(inv, {int64_t(inv.size())}).to(device);
}

}  // namespace

PackedSequence PackedSequence::to(Device device) const {
  auto move = [&](const Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(data), batch_sizes, move(sorted_indices), move(unsorted_indices)};
}

PackedSequence pack_padded_sequence(const Tensor& input, const std::vector<int64_t>& lengths, const PackOptions& opts) {
  const char* op = "pack_padded_sequence";
  NB_CHECK(input.defined() && input.dim() >= 2, "[", op, "] expected a padded batch ",
           opts.batch_first ? "[N, L, *]" : "[L, N, *]", ", got ", input.defined() ? input.shape() : Shape{});
  Tensor x = opts.batch_first ? input.transpose(0, 1) : input;  // time-major
  const int64_t L = x.size(0), N = x.size(1);
  // batch_sizes is sized by the longest length, which an empty batch does not have.
  NB_CHECK(N > 0, "[", op, "] the batch has no sequences (input ", input.shape(), "); there is nothing to pack");
  NB_CHECK(int64_t(lengths.size()) == N, "[", op, "] expected ", N, " lengths (one per sequence of the batch ",
           input.shape(), "), got ", lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) {
    NB_CHECK(lengths[i] >= 1 && lengths[i] <= L, "[", op, "] length ", lengths[i], " of sequence ", i,
             " is outside [1, ", L, "] (the padded batch has ", L, " steps)");
    NB_CHECK(!opts.enforce_sorted || i == 0 || lengths[i] <= lengths[i - 1], "[", op,
             "] lengths must be in decreasing order when enforce_sorted is true, but sequence ", i, " (", lengths[i],
             ") is longer than sequence ", i - 1, " (", lengths[i - 1],
             "); pass enforce_sorted = false to have them sorted");
  }
  PackedSequence out;
  std::vector<int64_t> sorted = lengths;
  if (!opts.enforce_sorted) {
    std::vector<int64_t> perm(static_cast<size_t>(N));
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return lengths[size_t(a)] > lengths[size_t(b)]; });
    for (size_t i = 0; i < perm.size(); ++i) sorted[i] = lengths[size_t(perm[i])];
    out.sorted_indices = from_vector(perm, {N}).to(input.device());
    out.unsorted_indices = invert_permutation(perm, input.device());
    x = index_select(x, 1, out.sorted_indices);
  }
  std::vector<int64_t> batch_sizes(static_cast<size_t>(sorted[0]));
  for (size_t t = 0; t < batch_sizes.size(); ++t)
    batch_sizes[t] = int64_t(std::count_if(sorted.begin(), sorted.end(), [&](int64_t l) { return l > int64_t(t); }));
  std::vector<int64_t> rows = packed_rows(batch_sizes, N);
  out.data = index_select(flatten_steps(x), 0, from_vector(rows, {int64_t(rows.size())}).to(input.device()));
  out.batch_sizes = from_vector(batch_sizes, {int64_t(batch_sizes.size())});
  return out;
}

PackedSequence pack_padded_sequence(const Tensor& input, const Tensor& lengths, const PackOptions& opts) {
  return pack_padded_sequence(input, lengths_vector(lengths, "pack_padded_sequence"), opts);
}

std::pair<Tensor, Tensor> pad_packed_sequence(const PackedSequence& sequence, const PadOptions& opts) {
  const char* op = "pad_packed_sequence";
  NB_CHECK(sequence.data.defined() && sequence.data.dim() >= 1 && sequence.batch_sizes.defined(), "[", op,
           "] expected a PackedSequence with data and batch_sizes");
  const std::vector<int64_t> bs = lengths_vector(sequence.batch_sizes, op);
  NB_CHECK(!bs.empty(), "[", op, "] the PackedSequence has no steps");
  // Step t fills the first bs[t] of bs[0] columns: a size above bs[0] would write past the lengths
  // (and into the next step's rows), a 0 would leave a gap no sequence can have.
  for (size_t t = 0; t < bs.size(); ++t)
    NB_CHECK(bs[t] >= 1 && (t == 0 || bs[t] <= bs[t - 1]), "[", op,
             "] batch_sizes must be positive and non-increasing, got ", bs[t], " at step ", t,
             (t > 0 ? " after " : ""), (t > 0 ? std::to_string(bs[t - 1]) : std::string()));
  const int64_t N = bs[0], steps = int64_t(bs.size());
  const int64_t total = std::accumulate(bs.begin(), bs.end(), int64_t(0));
  NB_CHECK(sequence.data.size(0) == total, "[", op, "] data has ", sequence.data.size(0),
           " rows but batch_sizes add up to ", total);
  const int64_t T = opts.total_length.value_or(steps);
  NB_CHECK(T >= steps, "[", op, "] total_length ", T, " is shorter than the longest sequence (", steps, " steps)");
  const Tensor& data = sequence.data;
  Shape flat{T * N};
  flat.insert(flat.end(), data.shape().begin() + 1, data.shape().end());
  std::vector<int64_t> rows = packed_rows(bs, N);
  Tensor idx = from_vector(rows, {int64_t(rows.size())}).to(data.device());
  Tensor filled = index_add(zeros(flat, {.dtype = data.dtype(), .device = data.device()}), 0, idx, data);
  if (opts.padding_value != 0.0) {
    Shape mask_shape(flat.size(), 1);
    mask_shape[0] = T * N;
    std::vector<uint8_t> real(size_t(T * N), 0);
    for (int64_t r : rows) real[size_t(r)] = 1;
    Tensor mask = from_vector(real, mask_shape).to(data.device());
    filled = where(mask, filled, full({}, opts.padding_value, {.dtype = data.dtype(), .device = data.device()}));
  }
  Shape padded_shape{T, N};
  padded_shape.insert(padded_shape.end(), data.shape().begin() + 1, data.shape().end());
  Tensor padded = filled.reshape(padded_shape);
  std::vector<int64_t> lengths(size_t(N), 0);
  for (int64_t b : bs)
    for (int64_t i = 0; i < b; ++i) ++lengths[size_t(i)];
  Tensor len = from_vector(lengths, {N});
  if (sequence.unsorted_indices.defined()) {
    padded = index_select(padded, 1, sequence.unsorted_indices);
    len = index_select(len, 0, sequence.unsorted_indices.to(Device::cpu()));
  }
  return {opts.batch_first ? padded.transpose(0, 1) : padded, len};
}

Tensor pad_sequence(const TensorList& sequences, const PadOptions& opts) {
  const char* op = "pad_sequence";
  NB_CHECK(!sequences.empty(), "[", op, "] expected at least one sequence");
  const Tensor& first = sequences[0];
  int64_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Tensor& s = sequences[i];
    NB_CHECK(s.defined() && s.dim() >= 1, "[", op, "] sequence ", i, " must have a time dimension, got ",
             s.defined() ? s.shape() : Shape{});
    const bool same_trailing =
        Shape(s.shape().begin() + 1, s.shape().end()) == Shape(first.shape().begin() + 1, first.shape().end());
    NB_CHECK(same_trailing && s.dtype() == first.dtype() && s.device() == first.device(), "[", op,
             "] every sequence needs sequence 0's trailing shape, dtype and device (", first.shape(), " ",
             first.dtype(), " ", first.device(), "); sequence ", i, " is ", s.shape(), " ", s.dtype(), " ", s.device());
    longest = std::max(longest, s.size(0));
  }
  TensorList padded;
  for (const Tensor& s : sequences) {
    if (s.size(0) == longest) {
      padded.push_back(s);
      continue;
    }
    Shape pad_shape = s.shape();
    pad_shape[0] = longest - s.size(0);
    padded.push_back(cat({s, full(pad_shape, opts.padding_value, {.dtype = s.dtype(), .device = s.device()})}, 0));
  }
  return stack(padded, opts.batch_first ? 0 : 1);
}

PackedSequence pack_sequence(const TensorList& sequences, bool enforce_sorted) {
  std::vector<int64_t> lengths;
  for (const Tensor& s : sequences) lengths.push_back(s.defined() && s.dim() >= 1 ? s.size(0) : 0);
  return pack_padded_sequence(pad_sequence(sequences), lengths,
                              {.batch_first = false, .enforce_sorted = enforce_sorted});
}

TensorList unpad_sequence(const Tensor& padded, const Tensor& lengths, bool batch_first) {
  const char* op = "unpad_sequence";
  NB_CHECK(padded.defined() && padded.dim() >= 2, "[", op, "] expected a padded batch, got ",
           padded.defined() ? padded.shape() : Shape{});
  const std::vector<int64_t> len = lengths_vector(lengths, op);
  Tensor x = batch_first ? padded : padded.transpose(0, 1);  // [N, L, *]
  NB_CHECK(int64_t(len.size()) == x.size(0), "[", op, "] expected ", x.size(0), " lengths, got ", len.size());
  TensorList out;
  for (size_t i = 0; i < len.size(); ++i) {
    NB_CHECK(len[i] >= 0 && len[i] <= x.size(1), "[", op, "] length ", len[i], " of sequence ", i, " is outside [0, ",
             x.size(1), "]");
    out.push_back(x.select(0, int64_t(i)).narrow(0, 0, len[i]));
  }
  return out;
}

TensorList unpack_sequence(const PackedSequence& sequence) {
  auto [padded, lengths] = pad_packed_sequence(sequence, {.batch_first = true});
  return unpad_sequence(padded, lengths, true);
}

}  // namespace nabla::nn::utils::rnn
