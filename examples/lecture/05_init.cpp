// Experiment 5 — initialization.
//
//  a. Vanishing / exploding signals: a 20-layer network (Linear 256→256 + nonlinearity, 20 times)
//     on a batch of N(0, 1) inputs (in f64), under four initializations of the weights (biases zero):
//       N(0,1)         σ = 1
//       small (0.01)   σ = 0.01, a "small constant scale"
//       Xavier         σ² = 2 / (n_in + n_out)            (nn::init::xavier_normal_)
//       He             σ² = 2 / n_in                      (nn::init::kaiming_normal_, ReLU gain)
//     for tanh and ReLU. The loss is L = Σ(h_20 · v) / batch for a fixed random v, so the gradient
//     reaching the top is the same in every case and what happens below it is the backward pass
//     alone. Per layer: std of the activations h_l, of the gradient dL/dz_l and of dL/dW_l
//     (layers.csv, <act>_activations.svg, <act>_gradients.svg; spread = max/min over layers of the
//     weight-gradient std in summary.csv).
//  b. Symmetry breaking: a 784-32-32-10 tanh MLP whose every weight in a layer starts equal
//     (biases zero) trains with SGD, and stays a network of identical hidden units: we count the
//     distinct rows of each hidden layer's weight matrix after training, next to the same net
//     started from Xavier weights (symmetry.csv).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

struct LayerStats {
  double act_std, grad_z_std, grad_w_std;
};

void init_weight(Tensor& w, const std::string& init) {
  if (init == "N(0,1)") nn::init::normal_(w, 0.0, 1.0);
  else if (init == "small (0.01)") nn::init::normal_(w, 0.0, 0.01);
  else if (init == "Xavier") nn::init::xavier_normal_(w);
  else if (init == "He") nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU);
  else throw Error("unknown init " + init);
}

std::vector<LayerStats> deep_stats(const std::string& act, const std::string& init, int depth, int64_t width,
                                   int64_t batch, uint64_t seed) {
  manual_seed(seed);
  std::vector<std::shared_ptr<nn::Linear>> layers;
  for (int l = 0; l < depth; ++l) {
    auto lin = std::make_shared<nn::Linear>(width, width);
    // f64: with small weights the signal shrinks to ~1e-20 by layer 20, and its square (inside
    // std) would underflow f32 and read as exactly 0.
    lin->to(kF64);
    init_weight(lin->weight, init);
    nn::init::zeros_(lin->bias);
    layers.push_back(lin);
  }
  Tensor x = randn({batch, width}, {.dtype = kF64});
  Tensor v = randn({batch, width}, {.dtype = kF64});
  TensorList z, h;
  Tensor cur = x;
  for (auto& lin : layers) {
    Tensor zl = (*lin)(cur);
    zl.retain_grad();
    cur = act == "tanh" ? tanh(zl) : relu(zl);
    z.push_back(zl), h.push_back(cur);
  }
  (sum(cur * v) / double(batch)).backward();
  std::vector<LayerStats> out;
  for (int l = 0; l < depth; ++l)
    out.push_back({nabla::std(h[size_t(l)]).item(), nabla::std(z[size_t(l)].grad()).item(),
                   nabla::std(layers[size_t(l)]->weight.grad()).item()});
  return out;
}

// Distinct rows of w (two rows are the same when they differ by at most tol × the largest |w|).
int64_t distinct_rows(const Tensor& w, double tol, double* max_spread) {
  auto v = w.to(kF64).contiguous().to_vector<double>();
  const int64_t rows = w.size(0), cols = w.size(1);
  double scale = 0;
  for (double a : v) scale = std::max(scale, std::abs(a));
  std::vector<int64_t> reps;
  *max_spread = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double d0 = 0;
    for (int64_t c = 0; c < cols; ++c) d0 = std::max(d0, std::abs(v[size_t(r * cols + c)] - v[size_t(c)]));
    *max_spread = std::max(*max_spread, d0 / scale);
    bool found = false;
    for (int64_t q : reps) {
      double d = 0;
      for (int64_t c = 0; c < cols; ++c) d = std::max(d, std::abs(v[size_t(r * cols + c)] - v[size_t(q * cols + c)]));
      if (d <= tol * scale) found = true;
    }
    if (!found) reps.push_back(r);
  }
  return int64_t(reps.size());
}

void symmetry(const lecture::Args& args) {
  const int64_t n = args.smoke ? 1000 : 10000, hidden = 32, batch = 64;
  const int epochs = args.smoke ? 3 : 5;
  lecture::Data d = lecture::load_data(args, n, 0, args.smoke ? 300 : 0);
  lecture::Csv csv(lecture::join(args.out, "symmetry.csv"),
                   {"init", "layer", "units", "distinct_units", "max_row_spread", "train_accuracy", "test_accuracy"});
  for (std::string init : {"all equal", "Xavier"}) {
    manual_seed(args.seed);
    auto l1 = std::make_shared<nn::Linear>(784, hidden), l2 = std::make_shared<nn::Linear>(hidden, hidden),
         l3 = std::make_shared<nn::Linear>(hidden, 10);
    nn::Sequential net(l1, nn::Tanh(), l2, nn::Tanh(), l3);
    for (auto* lin : {l1.get(), l2.get(), l3.get()}) {
      if (init == "all equal") nn::init::constant_(lin->weight, 0.05);  // every weight of the layer the same
      else nn::init::xavier_normal_(lin->weight);
      nn::init::zeros_(lin->bias);
    }
    optim::SGD opt(net.parameters(), optim::SGDOptions(0.05).momentum(0.9));
    int64_t step = 0;
    for (int e = 0; e < epochs; ++e) lecture::train_epoch(net, opt, d.train, batch, &step);
    const double tr = lecture::evaluate(net, d.train).accuracy, te = lecture::evaluate(net, d.test).accuracy;
    int layer = 1;
    for (auto* lin : {l1.get(), l2.get()}) {
      double spread = 0;
      const int64_t k = distinct_rows(lin->weight, 1e-6, &spread);
      csv.row({init, "hidden " + std::to_string(layer), hidden, k, spread, tr, te});
      std::printf("%-9s hidden layer %d: %2lld distinct of %lld units (max row spread %.2e); train acc %.4f test acc %.4f\n",
                  init.c_str(), layer, (long long)k, (long long)hidden, spread, tr, te);
      ++layer;
    }
  }
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "05_init", "per-layer statistics under four initializations; symmetry breaking");
  const int depth = 20;
  const int64_t width = args.smoke ? 64 : 256, batch = args.smoke ? 64 : 256;
  const std::vector<std::string> inits = {"N(0,1)", "small (0.01)", "Xavier", "He"};
  lecture::Csv layers_csv(lecture::join(args.out, "layers.csv"),
                          {"activation", "init", "layer", "activation_std", "grad_z_std", "grad_weight_std"});
  lecture::Csv summary(lecture::join(args.out, "summary.csv"),
                       {"activation", "init", "activation_std_layer1", "activation_std_layer20", "grad_z_std_layer1",
                        "grad_z_std_layer20", "grad_weight_std_layer1", "grad_weight_std_layer20", "grad_weight_spread"});
  for (std::string act : {"tanh", "relu"}) {
    std::vector<lecture::Series> acts, grads;
    for (const auto& init : inits) {
      auto st = deep_stats(act, init, depth, width, batch, args.seed);
      lecture::Series a{init}, g{init};
      double gmin = INFINITY, gmax = 0;
      for (int l = 0; l < depth; ++l) {
        const auto& s = st[size_t(l)];
        layers_csv.row({act, init, l + 1, s.act_std, s.grad_z_std, s.grad_w_std});
        a.x.push_back(l + 1), a.y.push_back(s.act_std), g.x.push_back(l + 1), g.y.push_back(s.grad_w_std);
        gmin = std::min(gmin, s.grad_w_std), gmax = std::max(gmax, s.grad_w_std);
      }
      const double spread = gmax / gmin;
      summary.row({act, init, st.front().act_std, st.back().act_std, st.front().grad_z_std, st.back().grad_z_std,
                   st.front().grad_w_std, st.back().grad_w_std, spread});
      std::printf("%-4s %-13s activation std %.3g -> %.3g   weight-grad std %.3g (layer 1) .. %.3g (layer 20), spread %.3g\n",
                  act.c_str(), init.c_str(), st.front().act_std, st.back().act_std, st.front().grad_w_std,
                  st.back().grad_w_std, spread);
      acts.push_back(a), grads.push_back(g);
    }
    lecture::write_line_plot(lecture::join(args.out, act + "_activations.svg"), acts,
                             {"20-layer " + act + " net: std of each layer's activations", "layer", "std(h_l)", false, true});
    lecture::write_line_plot(lecture::join(args.out, act + "_gradients.svg"), grads,
                             {"20-layer " + act + " net: std of dL/dW_l", "layer", "std(dL/dW_l)", false, true});
  }
  symmetry(args);
  std::printf("wrote %s/{layers.csv,summary.csv,symmetry.csv,{tanh,relu}_{activations,gradients}.svg}\n", args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "05_init: %s\n", e.what());
  return 1;
}
