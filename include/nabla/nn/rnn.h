// Recurrent layers with PyTorch's semantics: the cells RNNCell, LSTMCell and GRUCell (one time
// step) and the sequence layers RNN, LSTM and GRU (stacked layers, optionally bidirectional),
// composed from nabla ops, so autograd differentiates them like any other graph.
//
// Equations (PyTorch's; W_i* act on the input, W_h* on the previous hidden state h):
//   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu
//   LSTM: i, f, g, o = chunks of (W_ih x + b_ih + W_hh h + b_hh) in that order
//         i, f, o = sigmoid(.), g = tanh(.);  c' = f * c + i * g;  h' = o * tanh(c')
//         with proj_size > 0: h' = W_hr (o * tanh(c'))
//   GRU:  r, z, n chunks: r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
//         n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
//
// Parameters have PyTorch's names and shapes, so a state_dict maps 1:1 onto PyTorch's:
// weight_ih_l{k}[_reverse] [G*H, in_k], weight_hh_l{k} [G*H, H_out], bias_ih_l{k} [G*H],
// bias_hh_l{k} [G*H], weight_hr_l{k} [proj_size, H] (LSTM with proj_size only), with G = 1 (RNN),
// 4 (LSTM), 3 (GRU), in_0 = input_size, in_k = D * H_out for k > 0, D = 2 when bidirectional,
// H_out = proj_size or hidden_size. Cells name theirs weight_ih, weight_hh, bias_ih, bias_hh.
// Default init (PyTorch's): every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
//
// Shapes of the sequence layers (L = seq_len, N = batch, D as above):
//   input  [L, N, input_size], [N, L, input_size] with batch_first, or unbatched [L, input_size]
//   h0, h_n [D * num_layers, N, H_out] (never batch-first), unbatched [D * num_layers, H_out]
//   c0, c_n (LSTM) [D * num_layers, N, hidden_size], unbatched [D * num_layers, hidden_size]
//   output [L, N, D * H_out] ([N, L, D * H_out] with batch_first; [L, D * H_out] unbatched);
//          for bidirectional layers the forward direction's features come first.
// An undefined h0 (c0) means zeros. Between stacked layers dropout(p = dropout) is applied to
// each layer's output but the last, in training mode only.
//
//   nn::LSTM lstm(nn::LSTMOptions(28, 128).batch_first(true));
//   auto [out, state] = lstm(x);          // x [N, 28, 28]: out [N, 28, 128]
//   auto [h_n, c_n] = state;              // [1, N, 128] each
#pragma once
#include <string>
#include <tuple>
#include <vector>

#include "nabla/nn/module.h"
#include "nabla/nn/packed_sequence.h"

namespace nabla::nn {

using utils::rnn::PackedSequence;

// ---- options -------------------------------------------------------------------------------------

struct RNNOptions {
  RNNOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(int64_t, num_layers) = 1;
  NB_ARG(std::string, nonlinearity) = "tanh";  ///< "tanh" or "relu"
  NB_ARG(bool, bias) = true;
  NB_ARG(bool, batch_first) = false;
  NB_ARG(double, dropout) = 0.0;  ///< between layers, in training mode
  NB_ARG(bool, bidirectional) = false;
};

struct LSTMOptions {
  LSTMOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(int64_t, num_layers) = 1;
  NB_ARG(bool, bias) = true;
  NB_ARG(bool, batch_first) = false;
  NB_ARG(double, dropout) = 0.0;
  NB_ARG(bool, bidirectional) = false;
  /// When > 0 (and < hidden_size), h is projected to this size by weight_hr after each step.
  NB_ARG(int64_t, proj_size) = 0;
};

struct GRUOptions {
  GRUOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(int64_t, num_layers) = 1;
  NB_ARG(bool, bias) = true;
  NB_ARG(bool, batch_first) = false;
  NB_ARG(double, dropout) = 0.0;
  NB_ARG(bool, bidirectional) = false;
};

struct RNNCellOptions {
  RNNCellOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(bool, bias) = true;
  NB_ARG(std::string, nonlinearity) = "tanh";  ///< "tanh" or "relu"
};

struct LSTMCellOptions {
  LSTMCellOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(bool, bias) = true;
};

struct GRUCellOptions {
  GRUCellOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  NB_ARG(int64_t, input_size);
  NB_ARG(int64_t, hidden_size);
  NB_ARG(bool, bias) = true;
};

// ---- cells ---------------------------------------------------------------------------------------

/// What the three cells share: the four parameters, their init, input checks and printing.
class RNNCellBase : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  /// Re-draws the parameters with the default init, U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
  void reset_parameters();
  std::string extra_repr() const override;
  /// Through Module& (Sequential): RNNCell and GRUCell return h'; LSTMCell, which returns
  /// (h', c'), fails here naming the call to make instead.
  Tensor forward(const Tensor& input) override;

  Tensor weight_ih;  ///< [G * hidden_size, input_size]
  Tensor weight_hh;  ///< [G * hidden_size, hidden_size]
  Tensor bias_ih;    ///< [G * hidden_size]; undefined without bias
  Tensor bias_hh;    ///< [G * hidden_size]; undefined without bias

 protected:
  RNNCellBase(const char* type, int64_t input_size, int64_t hidden_size, bool bias, int64_t gates,
              const std::string& nonlinearity);
  /// Checks input [N, input_size] or unbatched [input_size]; returns it batched ([1, input_size]).
  Tensor check_input(const Tensor& input) const;
  /// Checks a state (`what`: "hx", "h0", "c0") against the caller's input: [N, hidden_size], or
  /// [hidden_size] for unbatched input; undefined means zeros. Returns it batched.
  Tensor state_or_zeros(const Tensor& input, const Tensor& state, const char* what) const;

  int64_t input_size_, hidden_size_;
  bool bias_;
  std::string nonlinearity_;  ///< "" for LSTM/GRU (not printed)
};

/// Elman cell: h' = act(W_ih x + b_ih + W_hh h + b_hh). Input [N, input_size] or [input_size];
/// hx [N, hidden_size] / [hidden_size], zeros when undefined. Returns h', shaped like hx.
class RNNCell : public RNNCellBase {
 public:
  explicit RNNCell(const RNNCellOptions& options);
  RNNCell(int64_t input_size, int64_t hidden_size) : RNNCell(RNNCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
  Tensor forward(const Tensor& input, const Tensor& hx);
  using Module::operator();
  /// forward(input, hx), naming this cell in errors.
  Tensor operator()(const Tensor& input, const Tensor& hx);
  RNNCellOptions options;
};

/// LSTM cell. Input as RNNCell; hx = (h, c), both undefined for zeros. Returns (h', c').
class LSTMCell : public RNNCellBase {
 public:
  explicit LSTMCell(const LSTMCellOptions& options);
  LSTMCell(int64_t input_size, int64_t hidden_size) : LSTMCell(LSTMCellOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const std::tuple<Tensor, Tensor>& hx = {});
  /// forward(input, hx), naming this cell in errors.
  std::tuple<Tensor, Tensor> operator()(const Tensor& input, const std::tuple<Tensor, Tensor>& hx = {});
  LSTMCellOptions options;
};

/// GRU cell. Input and hx as RNNCell. Returns h'.
class GRUCell : public RNNCellBase {
 public:
  explicit GRUCell(const GRUCellOptions& options);
  GRUCell(int64_t input_size, int64_t hidden_size) : GRUCell(GRUCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
  Tensor forward(const Tensor& input, const Tensor& hx);
  using Module::operator();
  /// forward(input, hx), naming this cell in errors.
  Tensor operator()(const Tensor& input, const Tensor& hx);
  GRUCellOptions options;
};

// ---- sequence layers -----------------------------------------------------------------------------

/// The parameters of one layer and direction (index layer * D + direction).
struct RNNLayerWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  ///< biases undefined without bias
  Tensor weight_hr;                               ///< LSTM with proj_size only
};

/// What RNN, LSTM and GRU share: PyTorch's RNNBase. Holds the parameters of every layer and
/// direction, runs the stacked (bidirectional) recurrence and checks inputs and states.
class RNNBase : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  enum class Mode { RNN_TANH, RNN_RELU, LSTM, GRU };

  /// Re-draws every parameter with U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
  void reset_parameters();
  std::string extra_repr() const override;
  /// Reached only through Module& (Sequential, a generic caller): a sequence layer returns the
  /// output and its final state, not one tensor, so this fails naming the layer and the call to
  /// make instead. RNN, LSTM and GRU declare their own forward(input, state) for direct calls.
  Tensor forward(const Tensor& input) override;
  /// The parameters by layer and direction: all_weights()[layer * D + direction].
  const std::vector<RNNLayerWeights>& all_weights() const { return weights_; }

 protected:
  struct Config {
    Mode mode;
    int64_t input_size, hidden_size, num_layers;
    bool bias, batch_first;
    double dropout;
    bool bidirectional;
    int64_t proj_size;
  };
  RNNBase(const char* type, const Config& config);
  /// The whole forward pass: output, h_n and (LSTM) c_n, for an input of any accepted layout.
  std::tuple<Tensor, Tensor, Tensor> run(const Tensor& input, const Tensor& h0, const Tensor& c0);
  /// The same over a PackedSequence: the output's data, h_n and (LSTM) c_n, the states in the
  /// batch's own order (h0 / c0 are given in it too).
  std::tuple<Tensor, Tensor, Tensor> run_packed(const utils::rnn::PackedSequence& input, const Tensor& h0,
                                                const Tensor& c0);

 private:
  int64_t gates() const;
  int64_t directions() const { return config_.bidirectional ? 2 : 1; }
  int64_t out_size() const { return config_.proj_size > 0 ? config_.proj_size : config_.hidden_size; }
  /// Checks h0 (or c0) against the expected shape; zeros when undefined. Returns it batched.
  Tensor state_or_zeros(const Tensor& state, const char* what, int64_t size, int64_t batch, bool batched,
                        const Tensor& like) const;
  /// One direction of one layer over the sequence x [L, N, in]: returns outputs [L, N, H_out] and
  /// updates h (and c) to the final state. With `batch_sizes`, x is packed data [sum, in] whose
  /// step t holds the first batch_sizes[t] sequences; only those rows step, the output is packed
  /// likewise, and each row of h (c) ends at its sequence's own last step.
  Tensor run_direction(const Tensor& x, const RNNLayerWeights& w, bool reverse, Tensor& h, Tensor& c,
                       const std::vector<int64_t>* batch_sizes = nullptr) const;
  /// The layers and directions over x (time-major or packed), returning the last layer's output.
  Tensor run_layers(Tensor x, Tensor& h_all, Tensor& c_all, TensorList& h_n, TensorList& c_n,
                    const std::vector<int64_t>* batch_sizes);

  Config config_;
  std::vector<RNNLayerWeights> weights_;
};

/// Elman RNN over a sequence: forward(input, h0) returns (output, h_n); see the top of this file.
class RNN : public RNNBase {
 public:
  explicit RNN(const RNNOptions& options);
  RNN(int64_t input_size, int64_t hidden_size) : RNN(RNNOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& h0 = Tensor());
  /// forward(input, h0), naming this layer in errors (and seen by summary()).
  std::tuple<Tensor, Tensor> operator()(const Tensor& input, const Tensor& h0 = Tensor());
  /// Over variable-length sequences: the output packed the same way, and each sequence's final
  /// state after its own last step (see nabla/nn/packed_sequence.h).
  std::tuple<PackedSequence, Tensor> forward(const PackedSequence& input, const Tensor& h0 = Tensor());
  std::tuple<PackedSequence, Tensor> operator()(const PackedSequence& input, const Tensor& h0 = Tensor());
  RNNOptions options;
};

/// LSTM over a sequence: forward(input, (h0, c0)) returns (output, (h_n, c_n)).
class LSTM : public RNNBase {
 public:
  explicit LSTM(const LSTMOptions& options);
  LSTM(int64_t input_size, int64_t hidden_size) : LSTM(LSTMOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, std::tuple<Tensor, Tensor>> forward(const Tensor& input,
                                                         const std::tuple<Tensor, Tensor>& hx = {});
  /// forward(input, hx), naming this layer in errors (and seen by summary()).
  std::tuple<Tensor, std::tuple<Tensor, Tensor>> operator()(const Tensor& input,
                                                            const std::tuple<Tensor, Tensor>& hx = {});
  /// Over variable-length sequences: the output packed the same way, and each sequence's final
  /// state after its own last step (see nabla/nn/packed_sequence.h).
  std::tuple<PackedSequence, std::tuple<Tensor, Tensor>> forward(const PackedSequence& input,
                                                                 const std::tuple<Tensor, Tensor>& hx = {});
  std::tuple<PackedSequence, std::tuple<Tensor, Tensor>> operator()(const PackedSequence& input,
                                                                    const std::tuple<Tensor, Tensor>& hx = {});
  LSTMOptions options;
};

/// GRU over a sequence: forward(input, h0) returns (output, h_n).
class GRU : public RNNBase {
 public:
  explicit GRU(const GRUOptions& options);
  GRU(int64_t input_size, int64_t hidden_size) : GRU(GRUOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& h0 = Tensor());
  /// forward(input, h0), naming this layer in errors (and seen by summary()).
  std::tuple<Tensor, Tensor> operator()(const Tensor& input, const Tensor& h0 = Tensor());
  /// Over variable-length sequences: the output packed the same way, and each sequence's final
  /// state after its own last step (see nabla/nn/packed_sequence.h).
  std::tuple<PackedSequence, Tensor> forward(const PackedSequence& input, const Tensor& h0 = Tensor());
  std::tuple<PackedSequence, Tensor> operator()(const PackedSequence& input, const Tensor& h0 = Tensor());
  GRUOptions options;
};

}  // namespace nabla::nn
