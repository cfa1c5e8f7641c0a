// Experiment 1 — automatic differentiation (the lecture's Node: value, function, parents).
//
//  a. Builds the lecture's single neuron with a squared error, L = ½(tanh(w1·x1 + w2·x2 + b) - y)²,
//     and prints the graph autograd recorded, node by node: the tensor, its value, the function
//     that made it and its parents (graph.csv, graph.txt). Gradients of every node come from one
//     backward pass.
//  b. Checks those gradients, and those of every parameter of a small f64 MLP, against central
//     finite differences (gradcheck.csv).
//  c. Times forward (recording the graph) and backward for a 10-layer MLP at several widths:
//     reverse mode costs a small constant times one forward pass, where finite differences
//     would need 2 forward passes per parameter (timing.csv, timing.svg).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common.h"
#include "plot.h"

using namespace nabla;
using lecture::Cell;

namespace {

using NodePtr = std::shared_ptr<autograd::Node>;

// Nodes reachable from `root`, parents after children (the order backward visits them).
std::vector<autograd::Node*> reverse_topological(const NodePtr& root) {
  std::vector<autograd::Node*> post;
  std::set<autograd::Node*> seen;
  // Iterative DFS (post-order), then reversed: each node before the nodes it sends gradients to.
  std::vector<std::pair<autograd::Node*, size_t>> stack{{root.get(), 0}};
  seen.insert(root.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->next_edges.size()) {
      autograd::Node* child = node->next_edges[next++].fn.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

void print_graph(const std::string& out_dir) {
  auto leaf = [](double v) { return from_vector(std::vector<double>{v}, {1}, kF64).requires_grad_(); };
  auto constant = [](double v) { return from_vector(std::vector<double>{v}, {1}, kF64); };
  Tensor w1 = leaf(0.5), w2 = leaf(-0.3), b = leaf(0.1);
  Tensor x1 = constant(1.5), x2 = constant(2.0), y = constant(0.8);
  Tensor a = w1 * x1, c = w2 * x2, s = a + c, z = s + b, h = tanh(z), d = h - y, e = square(d), L = 0.5 * e;
  std::vector<std::pair<std::string, Tensor>> named = {{"w1", w1}, {"w2", w2}, {"b", b}, {"a = w1*x1", a},
                                                       {"c = w2*x2", c}, {"s = a+c", s}, {"z = s+b", z},
                                                       {"h = tanh(z)", h}, {"d = h-y", d}, {"e = d^2", e},
                                                       {"L = e/2", L}};
  std::map<autograd::Node*, std::pair<std::string, Tensor>> by_node;
  for (auto& [name, t] : named) {
    if (!t.is_leaf()) t.retain_grad();
    by_node[autograd::gradient_edge(t).fn.get()] = {name, t};
  }
  L.backward();

  lecture::Csv csv(lecture::join(out_dir, "graph.csv"), {"node", "tensor", "function", "value", "dL_dtensor", "parents"});
  std::ostringstream txt;
  txt << "Graph of L = 0.5*(tanh(w1*x1 + w2*x2 + b) - y)^2 at w1=0.5, w2=-0.3, b=0.1, x1=1.5, x2=2, y=0.8\n"
      << "(x1, x2, y do not require grad, so autograd records no edge to them: shown as 'const')\n\n";
  // A node made inside a composite op has no name of ours: shown as "(internal)".
  auto name_of = [&](autograd::Node* n) { return by_node.count(n) ? by_node[n].first : std::string("(internal)"); };
  int id = 0;
  for (autograd::Node* node : reverse_topological(L.grad_fn())) {
    std::string parents;
    for (const auto& edge : node->next_edges) {
      if (!parents.empty()) parents += ' ';
      parents += edge.fn ? name_of(edge.fn.get()) : std::string("const");
    }
    const std::string name = name_of(node);
    const Tensor t = by_node.count(node) ? by_node[node].second : Tensor();
    const double value = t.defined() ? t.item() : std::nan(""), g = t.defined() ? t.grad().item() : std::nan("");
    csv.row({id, name, node->name(), value, g, parents});
    char line[256];
    std::snprintf(line, sizeof line, "node %2d  %-12s value % .6f  function %-15s dL/d % .6f  parents [%s]\n", id,
                  name.c_str(), value, node->name().c_str(), g, parents.c_str());
    txt << line;
    ++id;
  }
  std::ofstream(lecture::join(out_dir, "graph.txt")) << txt.str();
  std::fputs(txt.str().c_str(), stdout);
}

// Central differences of a scalar function of f64 tensors, coordinate by coordinate.
std::vector<double> numerical_grad(const std::function<double()>& f, Tensor& p, double eps) {
  NoGradGuard ng;
  std::vector<double> g;
  Tensor flat = p.reshape({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double v0 = flat.slice(0, i, i + 1).item();
    flat.slice(0, i, i + 1).fill_(v0 + eps);
    const double up = f();
    flat.slice(0, i, i + 1).fill_(v0 - eps);
    const double down = f();
    flat.slice(0, i, i + 1).fill_(v0);
    g.push_back((up - down) / (2 * eps));
  }
  return g;
}

// Max |autodiff - finite difference| over all parameters, per case; plus nabla::gradcheck.
void check_gradients(const std::string& out_dir, bool smoke) {
  lecture::Csv csv(lecture::join(out_dir, "gradcheck.csv"),
                   {"case", "parameters", "max_abs_error", "max_abs_gradient", "nabla_gradcheck"});
  // The neuron of part (a).
  {
    Tensor w = from_vector(std::vector<double>{0.5, -0.3}, {2}, kF64).requires_grad_();
    Tensor b = from_vector(std::vector<double>{0.1}, {1}, kF64).requires_grad_();
    Tensor x = from_vector(std::vector<double>{1.5, 2.0}, {2}, kF64);
    auto loss = [&](const Tensor& w_, const Tensor& b_) { return 0.5 * square(tanh(sum(w_ * x) + b_) - 0.8); };
    Tensor L = sum(loss(w, b));
    L.backward();
    double err = 0, gmax = 0;
    for (Tensor* p : {&w, &b}) {
      auto num = numerical_grad([&] { return sum(loss(w, b)).item(); }, *p, 1e-6);
      auto ad = p->grad().to_vector<double>();
      for (size_t i = 0; i < num.size(); ++i) err = std::max(err, std::abs(ad[i] - num[i])), gmax = std::max(gmax, std::abs(ad[i]));
    }
    bool ok = gradcheck([&](const TensorList& in) { return sum(loss(in[0], in[1])); }, {w.detach().requires_grad_(), b.detach().requires_grad_()});
    csv.row({"neuron", int64_t(3), err, gmax, ok ? "pass" : "fail"});
    std::printf("neuron: max |autodiff - finite difference| = %.2e (gradients up to %.3f), gradcheck %s\n", err, gmax,
                ok ? "pass" : "fail");
  }
  // A 5-layer tanh MLP in f64: every weight and bias against finite differences.
  {
    const int64_t width = smoke ? 4 : 8, layers = 5;
    manual_seed(1);
    Tensor x = randn({6, width}, {.dtype = kF64});
    Tensor target = randint(0, width, {6});
    TensorList params;
    for (int l = 0; l < layers; ++l) {
      params.push_back((randn({width, width}, {.dtype = kF64}) / std::sqrt(double(width))).requires_grad_());
      params.push_back((0.1 * randn({width}, {.dtype = kF64})).requires_grad_());
    }
    auto forward = [&](const TensorList& p) {
      Tensor h = x;
      for (int l = 0; l < layers; ++l) h = linear(h, p[size_t(2 * l)], p[size_t(2 * l + 1)]), h = l + 1 < layers ? tanh(h) : h;
      return cross_entropy(h, target);
    };
    forward(params).backward();
    double err = 0, gmax = 0;
    int64_t count = 0;
    for (Tensor& p : params) {
      auto num = numerical_grad([&] { return forward(params).item(); }, p, 1e-6);
      auto ad = p.grad().to_vector<double>();
      for (size_t i = 0; i < num.size(); ++i) err = std::max(err, std::abs(ad[i] - num[i])), gmax = std::max(gmax, std::abs(ad[i]));
      count += p.numel();
    }
    TensorList fresh;
    for (auto& p : params) fresh.push_back(p.detach().requires_grad_());
    bool ok = gradcheck([&](const TensorList& in) { return forward(in); }, fresh);
    csv.row({"mlp-5-layer-tanh-f64", count, err, gmax, ok ? "pass" : "fail"});
    std::printf("5-layer MLP (%lld parameters): max |autodiff - finite difference| = %.2e, gradcheck %s\n",
                (long long)count, err, ok ? "pass" : "fail");
  }
}

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Forward (with graph recording) and backward time of a 10-layer ReLU MLP, batch 128; the
// finite-difference estimate is 2 forward passes (no grad) per parameter.
void time_mlp(const std::string& out_dir, bool smoke) {
  const std::vector<int64_t> widths = smoke ? std::vector<int64_t>{32, 64} : std::vector<int64_t>{128, 256, 512, 1024};
  const int reps = smoke ? 5 : 30, layers = 10, batch = 128;
  lecture::Csv csv(lecture::join(out_dir, "timing.csv"),
                   {"width", "layers", "batch", "parameters", "forward_ms", "forward_nograd_ms", "backward_ms",
                    "backward_over_forward", "forward_ms_median", "backward_ms_median", "backward_over_forward_median",
                    "finite_difference_ms_estimate"});
  lecture::Series fwd("forward (recording)"), bwd("backward");
  std::vector<std::string> cats;
  for (int64_t w : widths) {
    auto net = lecture::make_mlp(std::vector<int64_t>(size_t(layers + 1), w));
    Tensor x = randn({batch, w}), y = randint(0, w, {batch});
    std::vector<double> tf, tb, tn;
    for (int r = 0; r < reps + 3; ++r) {  // 3 warm-up runs fill the allocator's cache
      lecture::Timer t0;
      Tensor loss = cross_entropy((*net)(x), y);
      const double f = t0.seconds();
      lecture::Timer t1;
      loss.backward();
      const double bk = t1.seconds();
      lecture::Timer t2;
      {
        NoGradGuard ng;
        (void)cross_entropy((*net)(x), y).item();
      }
      const double n = t2.seconds();
      for (auto& p : net->parameters()) p.set_grad(Tensor());
      if (r >= 3) tf.push_back(f), tb.push_back(bk), tn.push_back(n);
    }
    // Best of the runs: the machine is shared, and the minimum is the least disturbed by other
    // processes; medians are kept in the CSV too.
    const double f = min_of(tf) * 1e3, bk = min_of(tb) * 1e3, n = min_of(tn) * 1e3;
    const int64_t params = net->num_parameters();
    csv.row({w, int64_t(layers), int64_t(batch), params, f, n, bk, bk / f, median(tf) * 1e3, median(tb) * 1e3,
             median(tb) / median(tf), 2.0 * double(params) * n});
    std::printf("width %4lld: forward %.3f ms (no grad %.3f ms), backward %.3f ms, backward/forward %.2f\n",
                (long long)w, f, n, bk, bk / f);
    cats.push_back("width " + std::to_string(w));
    fwd.y.push_back(f), bwd.y.push_back(bk);
  }
  lecture::write_bar_plot(lecture::join(out_dir, "timing.svg"), cats, {fwd, bwd},
                          {"10-layer ReLU MLP, batch 128, 1 thread: forward vs backward", "", "milliseconds (best of " + std::to_string(reps) + ")",
                           false, true});
}

}  // namespace

int main(int argc, char** argv) try {
  auto args = lecture::parse_args(argc, argv, "01_autodiff", "autodiff graph, finite-difference check, backward/forward cost");
  print_graph(args.out);
  check_gradients(args.out, args.smoke);
  time_mlp(args.out, args.smoke);
  std::printf("wrote %s/{graph.csv,graph.txt,gradcheck.csv,timing.csv,timing.svg}\n", args.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "01_autodiff: %s\n", e.what());
  return 1;
}
