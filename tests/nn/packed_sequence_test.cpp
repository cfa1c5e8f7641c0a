// Packed sequences (nn::utils::rnn) and the recurrent layers on them. The reference for a layer
// on a packed batch is the same layer run on each sequence alone (unbatched, its own length):
// outputs, final states and parameter gradients must agree.
#include <gtest/gtest.h>

#include "nn/helpers.h"

namespace nn_test {
namespace {

namespace rnn = nn::utils::rnn;

std::vector<double> values(const Tensor& t) { return t.to(DType::f64).contiguous().to_vector<double>(); }
std::vector<int64_t> ints(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }

void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> va = values(a), vb = values(b);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], tol) << what << " element " << i;
}

TEST(PackedSequence, PackAndPadRoundTripInEitherOrder) {
  manual_seed(1);
  Tensor x = randn({4, 3, 2}, {.dtype = DType::f64});  // [L, N, F]
  auto p = rnn::pack_padded_sequence(x, std::vector<int64_t>{4, 2, 3}, {.enforce_sorted = false});
  // Sorted longest first: sequences 0 (4), 2 (3), 1 (2).
  EXPECT_EQ(ints(p.batch_sizes), (std::vector<int64_t>{3, 3, 2, 1}));
  EXPECT_EQ(ints(p.sorted_indices), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(ints(p.unsorted_indices), (std::vector<int64_t>{0, 2, 1}));
  ASSERT_EQ(p.data.shape(), (Shape{9, 2}));
  // Step 0: x[0, 0], x[0, 2], x[0, 1]; ...; step 3: x[3, 0].
  const std::vector<std::pair<int64_t, int64_t>> order{{0, 0}, {0, 2}, {0, 1}, {1, 0}, {1, 2},
                                                       {1, 1}, {2, 0}, {2, 2}, {3, 0}};
  for (size_t r = 0; r < order.size(); ++r)
    EXPECT_EQ(values(p.data.select(0, int64_t(r))), values(x.select(0, order[r].first).select(0, order[r].second)))
        << "row " << r;
  auto [padded, lengths] = rnn::pad_packed_sequence(p, {.padding_value = -7, .total_length = 5});
  EXPECT_EQ(ints(lengths), (std::vector<int64_t>{4, 2, 3}));
  ASSERT_EQ(padded.shape(), (Shape{5, 3, 2}));
  const int64_t len[] = {4, 2, 3};
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t b = 0; b < 3; ++b) {
      std::vector<double> got = values(padded.select(0, t).select(0, b));
      if (t < len[b]) {
        EXPECT_EQ(got, values(x.select(0, t).select(0, b)));
      } else {
        EXPECT_EQ(got, (std::vector<double>{-7, -7}));
      }
    }
  // batch_first both ways, and a sorted batch needs no indices.
  auto pb = rnn::pack_padded_sequence(x.transpose(0, 1), std::vector<int64_t>{4, 3, 1}, {.batch_first = true});
  EXPECT_FALSE(pb.sorted_indices.defined());
  EXPECT_EQ(ints(pb.batch_sizes), (std::vector<int64_t>{3, 2, 2, 1}));
  auto [pbf, lb] = rnn::pad_packed_sequence(pb, {.batch_first = true});
  EXPECT_EQ(pbf.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(values(pbf.select(0, 1).narrow(0, 0, 3)), values(x.select(1, 1).narrow(0, 0, 3)));
}

TEST(PackedSequence, GradientsReachOnlyTheRealSteps) {
  Tensor x = ones({3, 2, 1}, {.dtype = DType::f64}).requires_grad_(true);
  auto p = rnn::pack_padded_sequence(x, std::vector<int64_t>{3, 1});
  (p.data * 2.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 2, 2, 0, 2, 0}));
}

TEST(PackedSequence, SequenceListHelpers) {
  Tensor a = from_vector(std::vector<double>{1, 2, 3}, {3, 1}, DType::f64);
  Tensor b = from_vector(std::vector<double>{4}, {1, 1}, DType::f64);
  Tensor c = from_vector(std::vector<double>{5, 6}, {2, 1}, DType::f64);
  Tensor padded = rnn::pad_sequence({a, b, c}, {.batch_first = true, .padding_value = 9});
  EXPECT_EQ(padded.shape(), (Shape{3, 3, 1}));
  EXPECT_EQ(values(padded), (std::vector<double>{1, 2, 3, 4, 9, 9, 5, 6, 9}));
  EXPECT_EQ(rnn::pad_sequence({a, b, c}).shape(), (Shape{3, 3, 1}));  // time-major
  auto packed = rnn::pack_sequence({a, b, c}, false);
  EXPECT_EQ(ints(packed.batch_sizes), (std::vector<int64_t>{3, 2, 1}));
  TensorList back = rnn::unpack_sequence(packed);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(values(back[0]), values(a));
  EXPECT_EQ(values(back[1]), values(b));
  EXPECT_EQ(values(back[2]), values(c));
  TensorList cut = rnn::unpad_sequence(padded, from_vector(std::vector<int64_t>{3, 1, 2}, {3}), true);
  EXPECT_EQ(values(cut[2]), values(c));
}

TEST(PackedSequence, BadInputIsRefusedWithTheReason) {
  Tensor x = zeros({4, 3, 2});
  EXPECT_ERROR(rnn::pack_padded_sequence(x, std::vector<int64_t>{2, 3, 1}), "pack_padded_sequence", "decreasing order",
               "enforce_sorted = false");
  EXPECT_ERROR(rnn::pack_padded_sequence(x, std::vector<int64_t>{4, 0, 0}), "length 0", "[1, 4]");
  EXPECT_ERROR(rnn::pack_padded_sequence(x, std::vector<int64_t>{5, 1, 1}), "length 5", "4 steps");
  EXPECT_ERROR(rnn::pack_padded_sequence(x, std::vector<int64_t>{4, 1}), "expected 3 lengths");
  auto p = rnn::pack_padded_sequence(x, std::vector<int64_t>{4, 3, 1});
  EXPECT_ERROR(rnn::pad_packed_sequence(p, {.total_length = 3}), "total_length 3", "4 steps");
  EXPECT_ERROR(rnn::pad_sequence({zeros({2, 3}), zeros({2, 4})}), "pad_sequence", "sequence 1");
  nn::LSTM lstm(3, 4);
  EXPECT_ERROR(lstm(p), "LSTM", "data [steps, 3]");
}

TEST(PackedSequence, AnEmptyBatchIsRefusedNotRead) {
  // A batch of no sequences has no longest length to size batch_sizes by (this read lengths[0] of
  // an empty list and crashed); LibTorch 1.13 refuses it: "Cannot pack empty tensors."
  for (bool sorted : {true, false}) {
    EXPECT_ERROR(rnn::pack_padded_sequence(zeros({3, 0, 2}), std::vector<int64_t>{}, {.enforce_sorted = sorted}),
                 "pack_padded_sequence", "no sequences", "[3, 0, 2]");
  }
  EXPECT_ERROR(rnn::pack_padded_sequence(zeros({0, 3, 2}), zeros({3}, {.dtype = DType::i64}), {.batch_first = true}),
               "pack_padded_sequence", "no sequences");
}

TEST(PackedSequence, PadRefusesMalformedBatchSizes) {
  // batch_sizes {1, 2, 1} made pad_packed_sequence count a length for a second sequence of a
  // one-sequence batch (a heap write past the lengths); {2, 0, 1} silently dropped a step. The
  // recurrent layers already refuse both; padding must as well.
  for (const std::vector<int64_t>& bs : {std::vector<int64_t>{1, 2, 1}, std::vector<int64_t>{2, 0, 1}}) {
    int64_t rows = 0;
    for (int64_t b : bs) rows += b;
    rnn::PackedSequence p{zeros({rows, 2}), from_vector(bs, {int64_t(bs.size())}), Tensor(), Tensor()};
    EXPECT_ERROR(rnn::pad_packed_sequence(p), "pad_packed_sequence", "positive and non-increasing", "at step");
    EXPECT_ERROR(rnn::unpack_sequence(p), "pad_packed_sequence", "positive and non-increasing");
  }
}

/// Runs `layer` on a packed, unsorted, batch-first batch and on each sequence alone; outputs,
/// final states and parameter gradients must agree.
template <typename Layer, typename Call>
void check_against_single_sequences(Layer& layer, Call call, int64_t features, bool has_c) {
  manual_seed(3);
  const std::vector<int64_t> lengths{5, 2, 4};
  const int64_t N = 3, L = 5;
  Tensor x = randn({N, L, features}, {.dtype = DType::f64});
  auto [h0, c0] = call.initial_state(N);
  auto packed = rnn::pack_padded_sequence(x, lengths, {.batch_first = true, .enforce_sorted = false});
  auto [out, hn, cn] = call.run(layer, packed, h0, c0);
  auto [padded, out_len] = rnn::pad_packed_sequence(out, {.batch_first = true});
  EXPECT_EQ(ints(out_len), lengths);
  Tensor weights = randn(padded.shape(), {.dtype = DType::f64});
  layer.zero_grad();
  (padded * weights).sum().backward();
  std::vector<Tensor> packed_grads;
  for (const Tensor& p : layer.parameters()) packed_grads.push_back(p.grad().clone());

  layer.zero_grad();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t li = lengths[size_t(i)];
    Tensor xi = x.select(0, i).narrow(0, 0, li);
    Tensor h0i = h0.select(1, i), c0i = has_c ? c0.select(1, i) : Tensor();
    auto [oi, hi, ci] = call.run_tensor(layer, xi, h0i, c0i);
    expect_close(padded.select(0, i).narrow(0, 0, li), oi, 1e-12, "output of sequence " + std::to_string(i));
    EXPECT_EQ(values(padded.select(0, i).narrow(0, li, L - li)),
              std::vector<double>(size_t((L - li) * oi.size(1)), 0.0));
    expect_close(hn.select(1, i), hi, 1e-12, "h_n of sequence " + std::to_string(i));
    if (has_c) expect_close(cn.select(1, i), ci, 1e-12, "c_n of sequence " + std::to_string(i));
    (oi * weights.select(0, i).narrow(0, 0, li)).sum().backward();
  }
  TensorList params = layer.parameters();
  for (size_t k = 0; k < params.size(); ++k)
    expect_close(packed_grads[k], params[k].grad(), 1e-10, "gradient of parameter " + std::to_string(k));
}

struct LstmCall {
  int64_t states;
  int64_t h_size, c_size;  // proj_size (or hidden_size) and hidden_size
  std::pair<Tensor, Tensor> initial_state(int64_t N) const {
    return {randn({states, N, h_size}, {.dtype = DType::f64}), randn({states, N, c_size}, {.dtype = DType::f64})};
  }
  std::tuple<rnn::PackedSequence, Tensor, Tensor> run(nn::LSTM& l, const rnn::PackedSequence& p, const Tensor& h0,
                                                      const Tensor& c0) const {
    auto [o, s] = l(p, {h0, c0});
    return {o, std::get<0>(s), std::get<1>(s)};
  }
  std::tuple<Tensor, Tensor, Tensor> run_tensor(nn::LSTM& l, const Tensor& x, const Tensor& h0,
                                                const Tensor& c0) const {
    auto [o, s] = l(x, {h0, c0});
    return {o, std::get<0>(s), std::get<1>(s)};
  }
};

template <typename Layer>
struct SingleStateCall {
  int64_t states;
  int64_t hidden;
  std::pair<Tensor, Tensor> initial_state(int64_t N) const {
    return {randn({states, N, hidden}, {.dtype = DType::f64}), Tensor()};
  }
  std::tuple<rnn::PackedSequence, Tensor, Tensor> run(Layer& l, const rnn::PackedSequence& p, const Tensor& h0,
                                                      const Tensor&) const {
    auto [o, h] = l(p, h0);
    return {o, h, Tensor()};
  }
  std::tuple<Tensor, Tensor, Tensor> run_tensor(Layer& l, const Tensor& x, const Tensor& h0, const Tensor&) const {
    auto [o, h] = l(x, h0);
    return {o, h, Tensor()};
  }
};

TEST(PackedSequence, StackedBidirectionalLstmMatchesEachSequenceAlone) {
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true).batch_first(true).proj_size(2));
  lstm.to(DType::f64);
  check_against_single_sequences(lstm, LstmCall{4, 2, 4}, 3, true);
}

TEST(PackedSequence, GruAndRnnMatchEachSequenceAlone) {
  nn::GRU gru(nn::GRUOptions(3, 4).bidirectional(true).batch_first(true));
  gru.to(DType::f64);
  check_against_single_sequences(gru, SingleStateCall<nn::GRU>{2, 4}, 3, false);
  nn::RNN rnn_layer(nn::RNNOptions(3, 5).num_layers(2).batch_first(true).nonlinearity("relu"));
  rnn_layer.to(DType::f64);
  check_against_single_sequences(rnn_layer, SingleStateCall<nn::RNN>{2, 5}, 3, false);
}

}  // namespace
}  // namespace nn_test
