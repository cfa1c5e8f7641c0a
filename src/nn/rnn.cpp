// Recurrent cells and layers (RNN, LSTM, GRU), composed from ops: autograd differentiates the
// unrolled graph, so there is no hand-written backward here.
#include "nabla/nn/rnn.h"

#include <cmath>
#include <utility>

#include "call_recorder.h"
#include "nabla/autograd.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {

using detail::tagged_call;

// Both activations are kernel-backed ops; relu vs tanh is a per-call choice, not per element.
Tensor activate(const Tensor& x, bool relu_act) { return relu_act ? relu(x) : tanh(x); }

// One time step of each cell, on batched x-projection `xp` = W_ih x + b_ih [N, G*H] and state h [N, H_out].
Tensor rnn_step(const Tensor& xp, const Tensor& h, const Tensor& w_hh, const Tensor& b_hh, bool relu_act) {
  return activate(xp + linear(h, w_hh, b_hh), relu_act);
}

// x split into `n` equal parts along `dim` (views). Its backward is one cat of the parts'
// gradients: split with narrow()/select(), each part would send back a zero-padded full-size
// gradient and autograd would sum them, O(n) full-size passes (O(L^2) over a sequence).
TensorList split_equal(const Tensor& x, int64_t n, int64_t dim) {
  return FunctionBridge::apply(
      "split_equal", {x},
      [n, dim](AutogradContext*, const TensorList& in) {
        const int64_t len = in[0].size(dim) / n;
        TensorList parts;
        for (int64_t k = 0; k < n; ++k) parts.push_back(in[0].narrow(dim, k * len, len));
        return parts;
      },
      [dim](AutogradContext*, const TensorList& g) { return TensorList{cat(g, dim)}; });
}

// x [L, ...] as L steps x[t] [...] (views), with one stack as the backward (see split_equal).
TensorList unbind0(const Tensor& x) {
  return FunctionBridge::apply(
      "unbind", {x},
      [](AutogradContext*, const TensorList& in) {
        TensorList steps;
        for (int64_t t = 0; t < in[0].size(0); ++t) steps.push_back(in[0].select(0, t));
        return steps;
      },
      [](AutogradContext*, const TensorList& g) { return TensorList{stack(g, 0)}; });
}

// x [sum(sizes), ...] as consecutive row blocks of `sizes` (views), with one cat as the
// backward (see split_equal): a packed sequence's steps.
TensorList split_rows(const Tensor& x, const std::vector<int64_t>& sizes) {
  return FunctionBridge::apply(
      "split_rows", {x},
      [&sizes](AutogradContext*, const TensorList& in) {
        TensorList parts;
        int64_t start = 0;
        for (int64_t n : sizes) {
          parts.push_back(in[0].narrow(0, start, n));
          start += n;
        }
        return parts;
      },
      [](AutogradContext*, const TensorList& g) { return TensorList{cat(g, 0)}; });
}

// Returns h'; updates the handle c to c'. Gate order i, f, g, o (PyTorch's).
Tensor lstm_step(const Tensor& xp, const Tensor& h, Tensor& c, const Tensor& w_hh, const Tensor& b_hh,
                 const Tensor& w_hr) {
  TensorList g = split_equal(xp + linear(h, w_hh, b_hh), 4, 1);
  c = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  Tensor h_new = sigmoid(g[3]) * tanh(c);
  return w_hr.defined() ? linear(h_new, w_hr) : h_new;
}

// Gate order r, z, n; b_hn stays inside r * (...) as in PyTorch (and cuDNN), so the hidden
// projection is kept whole rather than summed with the input's before the gates.
Tensor gru_step(const Tensor& xp, const Tensor& h, const Tensor& w_hh, const Tensor& b_hh) {
  TensorList xg = split_equal(xp, 3, 1), hg = split_equal(linear(h, w_hh, b_hh), 3, 1);
  Tensor r = sigmoid(xg[0] + hg[0]), z = sigmoid(xg[1] + hg[1]);
  Tensor n = tanh(xg[2] + r * hg[2]);
  return n + z * (h - n);  // (1 - z) n + z h
}

/// `input`'s packing with new data (a layer's output has its input's steps).
PackedSequence with_data(const PackedSequence& input, const Tensor& data) {
  return {data, input.batch_sizes, input.sorted_indices, input.unsorted_indices};
}

void check_nonlinearity(const Module& m, const std::string& nonlinearity) {
  if (nonlinearity != "tanh" && nonlinearity != "relu")
    m.fail("nonlinearity must be \"tanh\" or \"relu\", got \"", nonlinearity, "\"");
}

}  // namespace

// ---- cells ---------------------------------------------------------------------------------------

RNNCellBase::RNNCellBase(const char* type, int64_t input_size, int64_t hidden_size, bool bias, int64_t gates,
                         const std::string& nonlinearity)
    : Module(type), input_size_(input_size), hidden_size_(hidden_size), bias_(bias), nonlinearity_(nonlinearity) {
  if (input_size < 0) fail("input_size must be non-negative, got ", input_size);
  if (hidden_size <= 0) fail("hidden_size must be positive, got ", hidden_size);
  weight_ih = register_parameter("weight_ih", empty({gates * hidden_size, input_size}));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden_size, hidden_size}));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({gates * hidden_size}));
    bias_hh = register_parameter("bias_hh", empty({gates * hidden_size}));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  const double bound = 1.0 / std::sqrt(double(hidden_size_));
  for (Tensor& p : parameters(false)) init::uniform_(p, -bound, bound);
}

Tensor RNNCellBase::check_input(const Tensor& input) const {
  if ((input.dim() != 1 && input.dim() != 2) || input.size(-1) != input_size_)
    fail("expected input [batch, ", input_size_, "] or unbatched [", input_size_, "] (input_size ", input_size_,
         "), got shape ", input.shape());
  check_input_dtype(input, weight_ih);
  return input.dim() == 1 ? input.unsqueeze(0) : input;
}

Tensor RNNCellBase::state_or_zeros(const Tensor& input, const Tensor& state, const char* what) const {
  // `input` is the caller's (unbatched inputs are 1-D); the returned state is batched.
  const bool batched = input.dim() == 2;
  const Shape expected = batched ? Shape{input.size(0), hidden_size_} : Shape{hidden_size_};
  if (!state.defined()) return zeros({batched ? input.size(0) : 1, hidden_size_}, {input.dtype(), input.device()});
  if (state.shape() != expected)
    fail("expected ", what, " of shape ", expected, batched ? " ([batch, hidden_size]) for input of shape "
                                                             : " ([hidden_size]) for unbatched input of shape ",
         input.shape(), ", got ", state.shape());
  if (state.dtype() != input.dtype())
    fail("expected ", what, " of dtype ", input.dtype(), " (the input's), got ", state.dtype());
  return batched ? state : state.unsqueeze(0);
}

std::string RNNCellBase::extra_repr() const {
  std::string s = std::to_string(input_size_) + ", " + std::to_string(hidden_size_);
  if (!bias_) s += ", bias=false";
  if (!nonlinearity_.empty() && nonlinearity_ != "tanh") s += ", nonlinearity=" + nonlinearity_;
  return s;
}

RNNCell::RNNCell(const RNNCellOptions& o)
    : RNNCellBase("RNNCell", o.input_size(), o.hidden_size(), o.bias(), 1, o.nonlinearity()), options(o) {
  check_nonlinearity(*this, o.nonlinearity());
}

Tensor RNNCell::forward(const Tensor& input, const Tensor& hx) {
  Tensor x = check_input(input);
  Tensor h = state_or_zeros(input, hx, "hx");
  Tensor out = rnn_step(linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh, options.nonlinearity() == "relu");
  return input.dim() == 1 ? out.squeeze(0) : out;
}

Tensor RNNCell::operator()(const Tensor& input, const Tensor& hx) {
  return tagged_call(*this, [&] { return forward(input, hx); });
}

LSTMCell::LSTMCell(const LSTMCellOptions& o)
    : RNNCellBase("LSTMCell", o.input_size(), o.hidden_size(), o.bias(), 4, ""), options(o) {}

std::tuple<Tensor, Tensor> LSTMCell::forward(const Tensor& input, const std::tuple<Tensor, Tensor>& hx) {
  const auto& [h0, c0] = hx;
  if (h0.defined() != c0.defined())
    fail("expected both h0 and c0, or neither (zeros); got only ", h0.defined() ? "h0" : "c0");
  Tensor x = check_input(input);
  Tensor h = state_or_zeros(input, h0, "h0");
  Tensor c = state_or_zeros(input, c0, "c0");
  Tensor h1 = lstm_step(linear(x, weight_ih, bias_ih), h, c, weight_hh, bias_hh, Tensor());
  if (input.dim() == 1) return {h1.squeeze(0), c.squeeze(0)};
  return {h1, c};
}

std::tuple<Tensor, Tensor> LSTMCell::operator()(const Tensor& input, const std::tuple<Tensor, Tensor>& hx) {
  return tagged_call(*this, [&] { return forward(input, hx); });
}

GRUCell::GRUCell(const GRUCellOptions& o)
    : RNNCellBase("GRUCell", o.input_size(), o.hidden_size(), o.bias(), 3, ""), options(o) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& hx) {
  Tensor x = check_input(input);
  Tensor h = state_or_zeros(input, hx, "hx");
  Tensor out = gru_step(linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh);
  return input.dim() == 1 ? out.squeeze(0) : out;
}

Tensor GRUCell::operator()(const Tensor& input, const Tensor& hx) {
  return tagged_call(*this, [&] { return forward(input, hx); });
}

// ---- sequence layers -----------------------------------------------------------------------------

RNNBase::RNNBase(const char* type, const Config& c) : Module(type), config_(c) {
  if (c.input_size < 0) fail("input_size must be non-negative, got ", c.input_size);
  if (c.hidden_size <= 0) fail("hidden_size must be positive, got ", c.hidden_size);
  if (c.num_layers <= 0) fail("num_layers must be positive, got ", c.num_layers);
  if (!(c.dropout >= 0.0 && c.dropout <= 1.0))
    fail("dropout must be a probability in [0, 1], got ", c.dropout);
  if (c.proj_size < 0) fail("proj_size must be non-negative (0 disables the projection), got ", c.proj_size);
  if (c.proj_size >= c.hidden_size && c.proj_size > 0)
    fail("proj_size must be smaller than hidden_size, got proj_size ", c.proj_size, " and hidden_size ",
         c.hidden_size);

  // Registration order is PyTorch's (layer, then direction; w_ih, w_hh, b_ih, b_hh, w_hr), so
  // named_parameters() and state_dict() list the same names in the same order.
  const int64_t G = gates(), H = c.hidden_size, D = directions();
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const int64_t in = layer == 0 ? c.input_size : D * out_size();
    for (int64_t dir = 0; dir < D; ++dir) {
      const std::string sfx = "_l" + std::to_string(layer) + (dir == 1 ? "_reverse" : "");
      RNNLayerWeights w;
      w.weight_ih = register_parameter("weight_ih" + sfx, empty({G * H, in}));
      w.weight_hh = register_parameter("weight_hh" + sfx, empty({G * H, out_size()}));
      if (c.bias) {
        w.bias_ih = register_parameter("bias_ih" + sfx, empty({G * H}));
        w.bias_hh = register_parameter("bias_hh" + sfx, empty({G * H}));
      }
      if (c.proj_size > 0) w.weight_hr = register_parameter("weight_hr" + sfx, empty({c.proj_size, H}));
      weights_.push_back(w);
    }
  }
  reset_parameters();
}

int64_t RNNBase::gates() const {
  switch (config_.mode) {
    case Mode::LSTM: return 4;
    case Mode::GRU: return 3;
    default: return 1;
  }
}

void RNNBase::reset_parameters() {
  const double bound = 1.0 / std::sqrt(double(config_.hidden_size));
  for (Tensor& p : parameters(false)) init::uniform_(p, -bound, bound);
}

Tensor RNNBase::state_or_zeros(const Tensor& state, const char* what, int64_t size, int64_t batch, bool batched,
                               const Tensor& like) const {
  const int64_t layers = directions() * config_.num_layers;
  if (!state.defined()) return zeros({layers, batch, size}, {like.dtype(), like.device()});
  const Shape expected = batched ? Shape{layers, batch, size} : Shape{layers, size};
  const char* size_name = size == config_.hidden_size ? "hidden_size" : "proj_size";
  if (state.shape() != expected)
    fail("expected ", what, " of shape ", expected,
         batched ? " ([num_layers * num_directions, batch, " : " ([num_layers * num_directions, ", size_name, "]",
         batched ? "" : " for unbatched input", "), got ", state.shape());
  if (state.dtype() != like.dtype())
    fail("expected ", what, " of dtype ", like.dtype(), " (the input's), got ", state.dtype());
  return batched ? state : state.unsqueeze(1);
}

Tensor RNNBase::run_layers(Tensor x, Tensor& h_all, Tensor& c_all, TensorList& h_n, TensorList& c_n,
                          const std::vector<int64_t>* batch_sizes) {
  const Config& cf = config_;
  const bool lstm = cf.mode == Mode::LSTM;
  const int64_t D = directions();
  for (int64_t layer = 0; layer < cf.num_layers; ++layer) {
    TensorList dir_out;
    for (int64_t dir = 0; dir < D; ++dir) {
      const int64_t k = layer * D + dir;
      Tensor h = h_all.select(0, k);
      Tensor c = lstm ? c_all.select(0, k) : Tensor();
      dir_out.push_back(run_direction(x, weights_[size_t(k)], dir == 1, h, c, batch_sizes));
      h_n.push_back(h);
      if (lstm) c_n.push_back(c);
    }
    x = D == 2 ? cat(dir_out, -1) : dir_out[0];  // features last in both layouts
    if (layer + 1 < cf.num_layers && cf.dropout > 0 && is_training()) x = dropout(x, cf.dropout, true);
  }
  return x;
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run_packed(const utils::rnn::PackedSequence& input, const Tensor& h0,
                                                      const Tensor& c0) {
  const Config& cf = config_;
  const bool lstm = cf.mode == Mode::LSTM;
  const Tensor& data = input.data;
  if (!data.defined() || data.dim() != 2 || data.size(1) != cf.input_size || !input.batch_sizes.defined() ||
      input.batch_sizes.dim() != 1 || input.batch_sizes.numel() == 0)
    fail("expected a PackedSequence with data [steps, ", cf.input_size, "] (input_size ", cf.input_size,
         ") and batch_sizes, got data ", data.defined() ? data.shape() : Shape{});
  check_input_dtype(data, weights_[0].weight_ih);
  if (lstm && h0.defined() != c0.defined())
    fail("expected both h0 and c0, or neither (zeros); got only ", h0.defined() ? "h0" : "c0");
  const std::vector<int64_t> bs = input.batch_sizes.to(Device::cpu()).to(DType::i64).contiguous().to_vector<int64_t>();
  int64_t rows = 0;
  for (size_t t = 0; t < bs.size(); ++t) {
    if (bs[t] < 1 || (t > 0 && bs[t] > bs[t - 1]))
      fail("PackedSequence batch_sizes must be positive and non-increasing, got ", input.batch_sizes.shape(),
           " with ", bs[t], " at step ", t);
    rows += bs[t];
  }
  if (rows != data.size(0)) fail("PackedSequence data has ", data.size(0), " rows but batch_sizes add up to ", rows);
  const int64_t N = bs[0];
  // States come in the batch's order; the recurrence runs in the packed (longest first) order.
  auto to_sorted = [&](const Tensor& s) {
    return s.defined() && input.sorted_indices.defined() ? index_select(s, 1, input.sorted_indices) : s;
  };
  auto to_batch = [&](const Tensor& s) {
    return s.defined() && input.unsorted_indices.defined() ? index_select(s, 1, input.unsorted_indices) : s;
  };
  Tensor h_all = to_sorted(state_or_zeros(h0, "h0", out_size(), N, true, data));
  Tensor c_all = lstm ? to_sorted(state_or_zeros(c0, "c0", cf.hidden_size, N, true, data)) : Tensor();
  TensorList h_n, c_n;
  Tensor out = run_layers(data, h_all, c_all, h_n, c_n, &bs);
  return {out, to_batch(stack(h_n, 0)), lstm ? to_batch(stack(c_n, 0)) : Tensor()};
}

Tensor RNNBase::run_direction(const Tensor& x, const RNNLayerWeights& w, bool reverse, Tensor& h, Tensor& c,
                              const std::vector<int64_t>* batch_sizes) const {
  // The input projection of every step in one GEMM; only the recurrent part runs per step.
  const Tensor proj = linear(x, w.weight_ih, w.bias_ih);
  const TensorList xp = batch_sizes ? split_rows(proj, *batch_sizes) : unbind0(proj);
  const int64_t L = int64_t(xp.size()), N = h.size(0);
  const bool lstm = config_.mode == Mode::LSTM;
  TensorList outs(static_cast<size_t>(L));
  for (int64_t s = 0; s < L; ++s) {
    const size_t t = size_t(reverse ? L - 1 - s : s);
    // Packed: only the first `active` sequences have a step t; the others keep their state (the
    // finished ones their last, the ones a reverse pass has not reached yet their initial one).
    const int64_t active = batch_sizes ? (*batch_sizes)[t] : N;
    Tensor h_in = active == N ? h : h.narrow(0, 0, active);
    Tensor c_io = lstm ? (active == N ? c : c.narrow(0, 0, active)) : Tensor();
    Tensor h_new;
    switch (config_.mode) {
      case Mode::RNN_TANH: h_new = rnn_step(xp[t], h_in, w.weight_hh, w.bias_hh, false); break;
      case Mode::RNN_RELU: h_new = rnn_step(xp[t], h_in, w.weight_hh, w.bias_hh, true); break;
      case Mode::LSTM: h_new = lstm_step(xp[t], h_in, c_io, w.weight_hh, w.bias_hh, w.weight_hr); break;
      case Mode::GRU: h_new = gru_step(xp[t], h_in, w.weight_hh, w.bias_hh); break;
    }
    outs[t] = h_new;  // outputs in time order for both directions
    h = active == N ? h_new : cat({h_new, h.narrow(0, active, N - active)}, 0);
    if (lstm) c = active == N ? c_io : cat({c_io, c.narrow(0, active, N - active)}, 0);
  }
  return batch_sizes ? cat(outs, 0) : stack(outs, 0);
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run(const Tensor& input, const Tensor& h0, const Tensor& c0) {
  const Config& cf = config_;
  const bool lstm = cf.mode == Mode::LSTM;
  if ((input.dim() != 2 && input.dim() != 3) || input.size(-1) != cf.input_size)
    fail("expected input ", cf.batch_first ? "[batch, seq_len, " : "[seq_len, batch, ", cf.input_size,
         "] or unbatched [seq_len, ", cf.input_size, "] (input_size ", cf.input_size, "), got shape ", input.shape());
  check_input_dtype(input, weights_[0].weight_ih);
  if (lstm && h0.defined() != c0.defined())
    fail("expected both h0 and c0, or neither (zeros); got only ", h0.defined() ? "h0" : "c0");
  const bool batched = input.dim() == 3;
  // Time-major [L, N, in] inside; unbatched input is a batch of one, as PyTorch defines it.
  Tensor x = !batched ? input.unsqueeze(1) : cf.batch_first ? input.transpose(0, 1) : input;
  if (x.size(0) == 0) fail("expected a sequence of at least one step, got input of shape ", input.shape());
  const int64_t N = x.size(1);
  Tensor h_all = state_or_zeros(h0, "h0", out_size(), N, batched, input);
  Tensor c_all = lstm ? state_or_zeros(c0, "c0", cf.hidden_size, N, batched, input) : Tensor();

  TensorList h_n, c_n;
  Tensor out = run_layers(x, h_all, c_all, h_n, c_n, nullptr);
  Tensor hn = stack(h_n, 0), cn = lstm ? stack(c_n, 0) : Tensor();
  if (!batched) return {out.squeeze(1), hn.squeeze(1), lstm ? cn.squeeze(1) : cn};
  // contiguous: PyTorch's batch-first output is, and users .view() it.
  if (cf.batch_first) out = out.transpose(0, 1).contiguous();
  return {out, hn, cn};
}

Tensor RNNCellBase::forward(const Tensor&) {
  fail("returns (h', c'), not one tensor, so it cannot run where a module maps one tensor to one (Sequential, a "
       "call through Module&); call it directly, as in std::get<0>(cell(x, {h, c})), or wrap it in a module whose "
       "forward picks what it needs");
}

Tensor RNNBase::forward(const Tensor&) {
  const char* state = config_.mode == Mode::LSTM ? "(h_n, c_n)" : "h_n";
  fail("returns (output, ", state, "), not one tensor, so it cannot run where a module maps one tensor to one "
       "(Sequential, a call through Module&); call it directly, as in std::get<0>(layer(x)) for the output, or "
       "wrap it in a module whose forward picks what it needs");
}

std::string RNNBase::extra_repr() const {
  const Config& c = config_;
  std::string s = std::to_string(c.input_size) + ", " + std::to_string(c.hidden_size);
  if (c.proj_size != 0) s += ", proj_size=" + std::to_string(c.proj_size);
  if (c.num_layers != 1) s += ", num_layers=" + std::to_string(c.num_layers);
  if (!c.bias) s += ", bias=false";
  if (c.batch_first) s += ", batch_first=true";
  if (c.dropout != 0) s += ", dropout=" + detail::num_str(c.dropout);
  if (c.bidirectional) s += ", bidirectional=true";
  if (c.mode == Mode::RNN_RELU) s += ", nonlinearity=relu";
  return s;
}

namespace {
// The mode is checked before RNNBase's constructor uses it (a bad nonlinearity names the layer).
RNNBase::Mode rnn_mode(const RNNOptions& o) {
  if (o.nonlinearity() == "tanh") return RNNBase::Mode::RNN_TANH;
  if (o.nonlinearity() == "relu") return RNNBase::Mode::RNN_RELU;
  throw ModuleError("[RNN] nonlinearity must be \"tanh\" or \"relu\", got \"" + o.nonlinearity() + "\"");
}
}  // namespace

RNN::RNN(const RNNOptions& o)
    : RNNBase("RNN", {rnn_mode(o), o.input_size(), o.hidden_size(), o.num_layers(), o.bias(), o.batch_first(),
                      o.dropout(), o.bidirectional(), 0}),
      options(o) {}

std::tuple<Tensor, Tensor> RNN::forward(const Tensor& input, const Tensor& h0) {
  auto [out, hn, cn] = run(input, h0, Tensor());
  return {out, hn};
}

std::tuple<Tensor, Tensor> RNN::operator()(const Tensor& input, const Tensor& h0) {
  return tagged_call(*this, [&] { return forward(input, h0); });
}

std::tuple<PackedSequence, Tensor> RNN::forward(const PackedSequence& input, const Tensor& h0) {
  auto [out, hn, cn] = run_packed(input, h0, Tensor());
  return {with_data(input, out), hn};
}

std::tuple<PackedSequence, Tensor> RNN::operator()(const PackedSequence& input, const Tensor& h0) {
  return tagged_call(*this, [&] { return forward(input, h0); });
}

LSTM::LSTM(const LSTMOptions& o)
    : RNNBase("LSTM", {Mode::LSTM, o.input_size(), o.hidden_size(), o.num_layers(), o.bias(), o.batch_first(),
                       o.dropout(), o.bidirectional(), o.proj_size()}),
      options(o) {}

std::tuple<Tensor, std::tuple<Tensor, Tensor>> LSTM::forward(const Tensor& input,
                                                             const std::tuple<Tensor, Tensor>& hx) {
  auto [out, hn, cn] = run(input, std::get<0>(hx), std::get<1>(hx));
  return {out, {hn, cn}};
}

std::tuple<Tensor, std::tuple<Tensor, Tensor>> LSTM::operator()(const Tensor& input,
                                                                const std::tuple<Tensor, Tensor>& hx) {
  return tagged_call(*this, [&] { return forward(input, hx); });
}

std::tuple<PackedSequence, std::tuple<Tensor, Tensor>> LSTM::forward(const PackedSequence& input,
                                                                     const std::tuple<Tensor, Tensor>& hx) {
  auto [out, hn, cn] = run_packed(input, std::get<0>(hx), std::get<1>(hx));
  return {with_data(input, out), {hn, cn}};
}

std::tuple<PackedSequence, std::tuple<Tensor, Tensor>> LSTM::operator()(const PackedSequence& input,
                                                                        const std::tuple<Tensor, Tensor>& hx) {
  return tagged_call(*this, [&] { return forward(input, hx); });
}

GRU::GRU(const GRUOptions& o)
    : RNNBase("GRU", {Mode::GRU, o.input_size(), o.hidden_size(), o.num_layers(), o.bias(), o.batch_first(),
                      o.dropout(), o.bidirectional(), 0}),
      options(o) {}

std::tuple<Tensor, Tensor> GRU::forward(const Tensor& input, const Tensor& h0) {
  auto [out, hn, cn] = run(input, h0, Tensor());
  return {out, hn};
}

std::tuple<Tensor, Tensor> GRU::operator()(const Tensor& input, const Tensor& h0) {
  return tagged_call(*this, [&] { return forward(input, h0); });
}

std::tuple<PackedSequence, Tensor> GRU::forward(const PackedSequence& input, const Tensor& h0) {
  auto [out, hn, cn] = run_packed(input, h0, Tensor());
  return {with_data(input, out), hn};
}

std::tuple<PackedSequence, Tensor> GRU::operator()(const PackedSequence& input, const Tensor& h0) {
  return tagged_call(*this, [&] { return forward(input, h0); });
}

}  // namespace nabla::nn
