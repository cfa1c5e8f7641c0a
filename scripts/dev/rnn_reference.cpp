// Reference values for tests/nn/rnn_test.cpp, computed by LibTorch 1.13 (Debian libtorch-dev).
// It prints tests/nn/rnn_reference.inc: for each case, a recurrent layer (or cell) with
// deterministic weights (the k-th element of the i-th parameter, in PyTorch's named_parameters
// order, is 0.5 sin(0.37 k + 1 + 0.7 i)), a deterministic input and initial state, the outputs,
// and the gradients of a weighted sum of the outputs. The test rebuilds the same layer in nabla
// from the same formulas, so no weight arrays are stored. Everything runs in float64.
//
// Build and run (LibTorch is only needed here, never by the tests):
//   g++ -std=c++17 -O1 scripts/dev/rnn_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/rnn_reference
//   /tmp/rnn_reference > tests/nn/rnn_reference.inc
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// v_k = amp * sin(freq * k + phase) over the tensor's row-major elements.
torch::Tensor pattern(torch::IntArrayRef shape, double freq, double phase, double amp) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  auto k = torch::arange(n, torch::kDouble);
  return (amp * torch::sin(freq * k + phase)).reshape(shape);
}

void fill_params(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  int i = 0;
  for (auto& p : m.named_parameters()) {
    p.value().copy_(pattern(p.value().sizes(), 0.37, 1.0 + 0.7 * i, 0.5));
    ++i;
  }
}

void print_vec(const char* field, const torch::Tensor& t) {
  std::printf("   .%s = {", field);
  if (t.defined()) {
    auto c = t.contiguous().to(torch::kDouble);
    const double* d = c.data_ptr<double>();
    for (int64_t k = 0; k < c.numel(); ++k) std::printf("%s%.17g", k ? ", " : "", d[k]);
  }
  std::printf("},\n");
}

// The loss whose gradients are compared: sum(out * P1) + sum(h_n * P2) + sum(c_n * P3).
torch::Tensor loss_of(const torch::Tensor& out, const torch::Tensor& h, const torch::Tensor& c) {
  auto l = (out * pattern(out.sizes(), 0.29, 0.5, 1.0)).sum();
  if (h.defined()) l = l + (h * pattern(h.sizes(), 0.29, 1.5, 1.0)).sum();
  if (c.defined()) l = l + (c * pattern(c.sizes(), 0.29, 2.5, 1.0)).sum();
  return l;
}

// Two projections of a gradient (so a permuted or misplaced element changes them).
std::pair<double, double> projections(const torch::Tensor& g) {
  auto a = (g * pattern(g.sizes(), 0.61, 0.2, 1.0)).sum().item<double>();
  auto b = (g * pattern(g.sizes(), 1.13, 0.0, 1.0).cos()).sum().item<double>();
  return {a, b};
}

struct Case {
  std::string name, kind, nonlinearity = "tanh";
  int64_t input_size = 3, hidden_size = 4, num_layers = 1;
  bool bias = true, batch_first = false, bidirectional = false;
  int64_t proj_size = 0;
  int64_t seq_len = 5, batch = 2;  // batch 0: unbatched input
  bool with_h0 = false;
};

void run(const Case& c) {
  const bool cell = c.kind.find("Cell") != std::string::npos;
  const int64_t D = c.bidirectional ? 2 : 1;
  const int64_t h_out = c.proj_size > 0 ? c.proj_size : c.hidden_size;
  std::shared_ptr<torch::nn::Module> mod;
  torch::nn::RNN rnn{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::GRU gru{nullptr};
  torch::nn::RNNCell rnn_cell{nullptr};
  torch::nn::LSTMCell lstm_cell{nullptr};
  torch::nn::GRUCell gru_cell{nullptr};
  if (c.kind == "RNN") {
    auto o = torch::nn::RNNOptions(c.input_size, c.hidden_size).num_layers(c.num_layers).bias(c.bias)
                 .batch_first(c.batch_first).bidirectional(c.bidirectional);
    if (c.nonlinearity == "relu") o.nonlinearity(torch::kReLU);
    rnn = torch::nn::RNN(o);
    mod = rnn.ptr();
  } else if (c.kind == "LSTM") {
    lstm = torch::nn::LSTM(torch::nn::LSTMOptions(c.input_size, c.hidden_size).num_layers(c.num_layers).bias(c.bias)
                               .batch_first(c.batch_first).bidirectional(c.bidirectional).proj_size(c.proj_size));
    mod = lstm.ptr();
  } else if (c.kind == "GRU") {
    gru = torch::nn::GRU(torch::nn::GRUOptions(c.input_size, c.hidden_size).num_layers(c.num_layers).bias(c.bias)
                             .batch_first(c.batch_first).bidirectional(c.bidirectional));
    mod = gru.ptr();
  } else if (c.kind == "RNNCell") {
    auto o = torch::nn::RNNCellOptions(c.input_size, c.hidden_size).bias(c.bias);
    if (c.nonlinearity == "relu") o.nonlinearity(torch::kReLU);
    rnn_cell = torch::nn::RNNCell(o);
    mod = rnn_cell.ptr();
  } else if (c.kind == "LSTMCell") {
    lstm_cell = torch::nn::LSTMCell(torch::nn::LSTMCellOptions(c.input_size, c.hidden_size).bias(c.bias));
    mod = lstm_cell.ptr();
  } else {
    gru_cell = torch::nn::GRUCell(torch::nn::GRUCellOptions(c.input_size, c.hidden_size).bias(c.bias));
    mod = gru_cell.ptr();
  }
  mod->to(torch::kDouble);
  fill_params(*mod);

  // Input and initial state shapes, as PyTorch documents them.
  std::vector<int64_t> xs;
  if (cell) {
    xs = c.batch ? std::vector<int64_t>{c.batch, c.input_size} : std::vector<int64_t>{c.input_size};
  } else if (c.batch == 0) {
    xs = {c.seq_len, c.input_size};
  } else if (c.batch_first) {
    xs = {c.batch, c.seq_len, c.input_size};
  } else {
    xs = {c.seq_len, c.batch, c.input_size};
  }
  std::vector<int64_t> hs, cs;
  if (cell) {
    hs = c.batch ? std::vector<int64_t>{c.batch, c.hidden_size} : std::vector<int64_t>{c.hidden_size};
    cs = hs;
  } else {
    hs = c.batch ? std::vector<int64_t>{D * c.num_layers, c.batch, h_out} : std::vector<int64_t>{D * c.num_layers, h_out};
    cs = c.batch ? std::vector<int64_t>{D * c.num_layers, c.batch, c.hidden_size}
                 : std::vector<int64_t>{D * c.num_layers, c.hidden_size};
  }
  auto x = pattern(xs, 0.23, 11.0, 1.0).requires_grad_(true);
  torch::Tensor h0, c0;
  if (c.with_h0) {
    h0 = pattern(hs, 0.41, 17.0, 0.8).requires_grad_(true);
    if (c.kind.rfind("LSTM", 0) == 0) c0 = pattern(cs, 0.53, 23.0, 0.8).requires_grad_(true);
  }

  // LibTorch 1.13's C++ modules take batched input only; PyTorch (Python) defines unbatched input
  // as a batch of one with that dimension removed, so the reference adds it and removes it.
  const bool unbatched = c.batch == 0;
  const int64_t bdim = cell ? 0 : 1;  // the batch dim of a (time-major) input and of h0
  auto batch_of = [&](const torch::Tensor& t, int64_t d) { return unbatched && t.defined() ? t.unsqueeze(d) : t; };
  auto unbatch = [&](const torch::Tensor& t, int64_t d) { return unbatched && t.defined() ? t.squeeze(d) : t; };
  const torch::Tensor x_leaf = x, h0_leaf = h0, c0_leaf = c0;
  x = batch_of(x, cell ? 0 : 1);
  h0 = batch_of(h0, bdim);
  c0 = batch_of(c0, bdim);

  torch::Tensor out, hn, cn;
  if (c.kind == "RNN") {
    std::tie(out, hn) = rnn->forward(x, h0);
  } else if (c.kind == "GRU") {
    std::tie(out, hn) = gru->forward(x, h0);
  } else if (c.kind == "LSTM") {
    std::tuple<torch::Tensor, std::tuple<torch::Tensor, torch::Tensor>> r;
    if (c.with_h0) {
      r = lstm->forward(x, std::make_tuple(h0, c0));
    } else {
      r = lstm->forward(x);
    }
    out = std::get<0>(r);
    std::tie(hn, cn) = std::get<1>(r);
  } else if (c.kind == "RNNCell") {
    out = rnn_cell->forward(x, h0);
  } else if (c.kind == "GRUCell") {
    out = gru_cell->forward(x, h0);
  } else {
    std::tuple<torch::Tensor, torch::Tensor> r =
        c.with_h0 ? lstm_cell->forward(x, std::make_tuple(h0, c0)) : lstm_cell->forward(x);
    std::tie(out, cn) = r;  // a cell's outputs are h' and c'
  }
  out = unbatch(out, cell ? 0 : 1);
  hn = unbatch(hn, bdim);
  cn = unbatch(cn, bdim);
  x = x_leaf, h0 = h0_leaf, c0 = c0_leaf;
  loss_of(out, hn, cn).backward();

  std::printf("  {.name = \"%s\", .kind = \"%s\", .nonlinearity = \"%s\",\n", c.name.c_str(), c.kind.c_str(),
              c.nonlinearity.c_str());
  std::printf("   .input_size = %lld, .hidden_size = %lld, .num_layers = %lld, .bias = %s, .batch_first = %s,\n",
              (long long)c.input_size, (long long)c.hidden_size, (long long)c.num_layers, c.bias ? "true" : "false",
              c.batch_first ? "true" : "false");
  std::printf("   .bidirectional = %s, .proj_size = %lld, .seq_len = %lld, .batch = %lld, .with_h0 = %s,\n",
              c.bidirectional ? "true" : "false", (long long)c.proj_size, (long long)c.seq_len, (long long)c.batch,
              c.with_h0 ? "true" : "false");
  print_vec("out", out);
  print_vec("h_n", hn);
  print_vec("c_n", cn);
  print_vec("grad_x", x.grad());
  print_vec("grad_h0", h0.defined() ? h0.grad() : torch::Tensor());
  print_vec("grad_c0", c0.defined() ? c0.grad() : torch::Tensor());
  std::printf("   .params = {\n");
  for (auto& p : mod->named_parameters()) {
    auto [a, b] = projections(p.value().grad());
    std::printf("       {\"%s\", {", p.key().c_str());
    for (size_t k = 0; k < size_t(p.value().dim()); ++k) std::printf("%s%lld", k ? ", " : "", (long long)p.value().size(k));
    std::printf("}, %.17g, %.17g},\n", a, b);
  }
  std::printf("   }},\n");
}

}  // namespace

int main() {
  torch::manual_seed(0);
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(c); };
  Case c;
  // RNN
  c = Case{};
  c.name = "rnn_tanh", c.kind = "RNN";
  add(c);
  c = Case{};
  c.name = "rnn_relu_2layer_bidirectional_h0", c.kind = "RNN", c.nonlinearity = "relu", c.num_layers = 2,
  c.bidirectional = true, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "rnn_tanh_batch_first_no_bias", c.kind = "RNN", c.batch_first = true, c.bias = false, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "rnn_relu_unbatched_h0", c.kind = "RNN", c.nonlinearity = "relu", c.batch = 0, c.num_layers = 2,
  c.with_h0 = true;
  add(c);
  // LSTM
  c = Case{};
  c.name = "lstm", c.kind = "LSTM";
  add(c);
  c = Case{};
  c.name = "lstm_2layer_bidirectional_batch_first_h0c0", c.kind = "LSTM", c.num_layers = 2, c.bidirectional = true,
  c.batch_first = true, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "lstm_unbatched_2layer_h0c0", c.kind = "LSTM", c.num_layers = 2, c.batch = 0, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "lstm_unbatched_bidirectional", c.kind = "LSTM", c.bidirectional = true, c.batch = 0, c.seq_len = 4;
  add(c);
  c = Case{};
  c.name = "lstm_proj_2layer_bidirectional_h0c0", c.kind = "LSTM", c.hidden_size = 5, c.proj_size = 2,
  c.num_layers = 2, c.bidirectional = true, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "lstm_no_bias_3layer", c.kind = "LSTM", c.bias = false, c.num_layers = 3, c.seq_len = 3;
  add(c);
  // GRU
  c = Case{};
  c.name = "gru", c.kind = "GRU";
  add(c);
  c = Case{};
  c.name = "gru_2layer_bidirectional_batch_first_h0", c.kind = "GRU", c.num_layers = 2, c.bidirectional = true,
  c.batch_first = true, c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "gru_unbatched_no_bias", c.kind = "GRU", c.batch = 0, c.bias = false;
  add(c);
  // Cells
  c = Case{};
  c.name = "rnn_cell_tanh_h0", c.kind = "RNNCell", c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "rnn_cell_relu", c.kind = "RNNCell", c.nonlinearity = "relu";
  add(c);
  c = Case{};
  c.name = "lstm_cell_h0c0", c.kind = "LSTMCell", c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "lstm_cell_unbatched", c.kind = "LSTMCell", c.batch = 0;
  add(c);
  c = Case{};
  c.name = "gru_cell_h0", c.kind = "GRUCell", c.with_h0 = true;
  add(c);
  c = Case{};
  c.name = "gru_cell_unbatched_no_bias_h0", c.kind = "GRUCell", c.batch = 0, c.bias = false, c.with_h0 = true;
  add(c);

  std::printf("// Generated by scripts/dev/rnn_reference.cpp with LibTorch %d.%d (float64); do not edit.\n",
              TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR);
  for (const Case& k : cases) run(k);
  return 0;
}
