// Reference values for tests/nn/loss_reference_test.cpp, computed by LibTorch 1.13 (Debian
// libtorch-dev) in float64. It prints tests/nn/loss_reference.inc: for each case an op of
// torch::nn::functional (cosine_similarity, pairwise_distance and the margin, embedding and
// likelihood losses) with its options and reduction, its inputs (deterministic patterns, printed
// in full), its output, and the gradient of sum(output * W) with respect to every input that
// requires grad, W_k = cos(0.7 k + 0.3) over the output's elements.
// gaussian_nll_loss has no C++ functional in LibTorch 1.13; it is PyTorch's Python function
// (torch/nn/functional.py) written out with the same torch ops.
//
// Build and run (LibTorch is only needed here, never by the tests):
//   g++ -std=c++17 -O1 scripts/dev/loss_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/loss_reference
//   /tmp/loss_reference > tests/nn/loss_reference.inc
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace F = torch::nn::functional;

namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);

// v_k = amp * sin(freq * k + phase) + offset over the tensor's row-major elements.
torch::Tensor pattern(std::vector<int64_t> shape, double freq, double phase, double amp = 1.0, double offset = 0.0) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return (amp * torch::sin(freq * torch::arange(n, kF64) + phase) + offset).reshape(shape);
}

torch::Tensor values(std::vector<double> v, std::vector<int64_t> shape) { return torch::tensor(v, kF64).reshape(shape); }

struct Case {
  std::string name, op, reduction = "mean";
  double margin = 0, p = 2, eps = 0;
  int64_t dim = 1;
  bool flag = false, flag2 = false;
  std::vector<torch::Tensor> inputs;  // floating inputs that require grad are differentiated
};

// A double as C++ source: %.17g, or INFINITY / -INFINITY.
void print_num(double v) {
  if (std::isinf(v)) {
    std::printf("%sINFINITY", v < 0 ? "-" : "");
  } else {
    std::printf("%.17g", v);
  }
}

void print_doubles(const torch::Tensor& t) {
  std::printf("{");
  if (t.defined()) {
    auto c = t.contiguous().to(torch::kDouble);
    const double* d = c.data_ptr<double>();
    for (int64_t k = 0; k < c.numel(); ++k) {
      std::printf(k ? ", " : "");
      print_num(d[k]);
    }
  }
  std::printf("}");
}

void print_shape(const torch::Tensor& t) {
  std::printf("{");
  for (int64_t k = 0; k < t.dim(); ++k) std::printf("%s%lld", k ? ", " : "", (long long)t.size(k));
  std::printf("}");
}

// PyTorch 1.13's F.gaussian_nll_loss (Python), in C++.
torch::Tensor gaussian_nll_loss(const torch::Tensor& input, const torch::Tensor& target, torch::Tensor var, bool full,
                                double eps, const std::string& reduction) {
  if (var.sizes() != input.sizes()) {
    auto in_lead = input.sizes().slice(0, input.dim() - 1);
    if (in_lead == var.sizes()) {
      var = var.unsqueeze(-1);
    } else if (in_lead == var.sizes().slice(0, var.dim() - 1) && var.size(-1) == 1) {
    } else {
      throw std::runtime_error("var is of incorrect size");
    }
  }
  if (torch::any(var < 0).item<bool>()) throw std::runtime_error("var has negative entry/entries");
  var = var.clone();
  {
    torch::NoGradGuard ng;
    var.clamp_(eps);
  }
  auto loss = 0.5 * (torch::log(var) + (input - target).pow(2) / var);
  if (full) loss = loss + 0.5 * std::log(2 * M_PI);
  if (reduction == "mean") return loss.mean();
  if (reduction == "sum") return loss.sum();
  return loss;
}

torch::Tensor run_op(const Case& c, const std::vector<torch::Tensor>& x) {
  const std::string& r = c.reduction;
  auto red = [&](auto opts) {
    if (r == "none") return opts.reduction(torch::kNone);
    if (r == "sum") return opts.reduction(torch::kSum);
    return opts.reduction(torch::kMean);
  };
  if (c.op == "cosine_similarity")
    return F::cosine_similarity(x[0], x[1], F::CosineSimilarityFuncOptions().dim(c.dim).eps(c.eps));
  if (c.op == "pairwise_distance")
    return F::pairwise_distance(x[0], x[1], F::PairwiseDistanceFuncOptions().p(c.p).eps(c.eps).keepdim(c.flag));
  if (c.op == "cosine_embedding_loss")
    return F::cosine_embedding_loss(x[0], x[1], x[2], red(F::CosineEmbeddingLossFuncOptions().margin(c.margin)));
  if (c.op == "margin_ranking_loss")
    return F::margin_ranking_loss(x[0], x[1], x[2], red(F::MarginRankingLossFuncOptions().margin(c.margin)));
  if (c.op == "hinge_embedding_loss")
    return F::hinge_embedding_loss(x[0], x[1], red(F::HingeEmbeddingLossFuncOptions().margin(c.margin)));
  if (c.op == "soft_margin_loss") return F::soft_margin_loss(x[0], x[1], red(F::SoftMarginLossFuncOptions()));
  if (c.op == "multilabel_soft_margin_loss") {
    auto o = red(F::MultilabelSoftMarginLossFuncOptions());
    if (x.size() > 2) o.weight(x[2]);
    return F::multilabel_soft_margin_loss(x[0], x[1], o);
  }
  if (c.op == "multi_margin_loss") {
    auto o = red(F::MultiMarginLossFuncOptions().p(int64_t(c.p)).margin(c.margin));
    if (x.size() > 2) o.weight(x[2]);
    return F::multi_margin_loss(x[0], x[1], o);
  }
  if (c.op == "triplet_margin_loss")
    return F::triplet_margin_loss(
        x[0], x[1], x[2], red(F::TripletMarginLossFuncOptions().margin(c.margin).p(c.p).eps(c.eps).swap(c.flag)));
  if (c.op == "poisson_nll_loss")
    return F::poisson_nll_loss(x[0], x[1], red(F::PoissonNLLLossFuncOptions().log_input(c.flag).full(c.flag2).eps(c.eps)));
  if (c.op == "gaussian_nll_loss") return gaussian_nll_loss(x[0], x[1], x[2], c.flag, c.eps, r);
  throw std::runtime_error("unknown op " + c.op);
}

void run(const Case& c) {
  std::vector<torch::Tensor> x;
  for (const auto& t : c.inputs) x.push_back(t.detach().clone().requires_grad_(t.requires_grad()));
  torch::Tensor out = run_op(c, x);
  auto w = torch::cos(0.7 * torch::arange(out.numel(), kF64) + 0.3).reshape(out.sizes());
  (out * w).sum().backward();

  std::printf("  {.name = \"%s\", .op = \"%s\", .reduction = \"%s\", .margin = %.17g, .p = ", c.name.c_str(),
              c.op.c_str(), c.reduction.c_str(), c.margin);
  print_num(c.p);
  std::printf(", .eps = %.17g,\n", c.eps);
  std::printf("   .dim = %lld, .flag = %s, .flag2 = %s,\n", (long long)c.dim, c.flag ? "true" : "false",
              c.flag2 ? "true" : "false");
  std::printf("   .inputs = {\n");
  for (size_t i = 0; i < x.size(); ++i) {
    std::printf("       {");
    print_shape(x[i]);
    std::printf(", ");
    print_doubles(x[i]);
    std::printf(", %s, %s},\n", x[i].is_floating_point() ? "false" : "true", x[i].requires_grad() ? "true" : "false");
  }
  std::printf("   },\n   .out_shape = ");
  print_shape(out);
  std::printf(",\n   .out = ");
  print_doubles(out);
  std::printf(",\n   .grads = {");
  for (size_t i = 0; i < x.size(); ++i) {
    std::printf(i ? ", " : "");
    // A differentiated input that got no gradient (p = 0) has a zero one.
    print_doubles(x[i].requires_grad() ? (x[i].grad().defined() ? x[i].grad() : torch::zeros_like(x[i])) : torch::Tensor());
  }
  std::printf("}},\n");
}

torch::Tensor g(torch::Tensor t) { return t.requires_grad_(true); }

}  // namespace

int main() {
  std::vector<Case> cases;
  auto add = [&](Case c, bool reductions = true) {
    if (!reductions) {
      cases.push_back(c);
      return;
    }
    const std::string base = c.name;
    for (const char* r : {"none", "mean", "sum"}) {
      c.reduction = r;
      c.name = base + "_" + r;
      cases.push_back(c);
    }
  };
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  Case c;

  // cosine_similarity (no reduction)
  c = Case{.name = "cosine_similarity", .op = "cosine_similarity", .reduction = "none", .eps = 1e-8, .dim = 1};
  c.inputs = {g(pattern({4, 5}, 0.31, 0.2)), g(pattern({4, 5}, 0.57, 1.1))};
  add(c, false);
  c = Case{.name = "cosine_similarity_broadcast_dim0", .op = "cosine_similarity", .reduction = "none", .eps = 1e-8, .dim = 0};
  c.inputs = {g(pattern({3, 1}, 0.43, 0.9)), g(pattern({3, 4}, 0.61, 2.0))};
  add(c, false);
  c = Case{.name = "cosine_similarity_broadcast_3d", .op = "cosine_similarity", .reduction = "none", .eps = 1e-8, .dim = -2};
  c.inputs = {g(pattern({2, 3, 4}, 0.29, 0.4)), g(pattern({3, 1}, 0.83, 1.7))};
  add(c, false);
  // Norms below eps (rows 0 and 2 of x1, row 1 of x2), one of them zero: the floor and its gradient.
  c = Case{.name = "cosine_similarity_eps_floor", .op = "cosine_similarity", .reduction = "none", .eps = 0.5, .dim = 1};
  c.inputs = {g(values({0.1, -0.2, 0.05, 0.9, 0.4, -0.7, 0, 0, 0}, {3, 3})),
              g(values({0.3, 0.8, -0.5, 0.01, 0.02, -0.03, 1.5, -0.2, 0.6}, {3, 3}))};
  add(c, false);

  // pairwise_distance (no reduction)
  struct Pd {
    const char* name;
    double p, eps;
    bool keepdim;
    std::vector<int64_t> s1, s2;
  };
  for (const Pd& d : {Pd{"pairwise_distance", 2, 1e-6, false, {4, 5}, {4, 5}}, Pd{"pairwise_distance_p1_keepdim", 1, 1e-6, true, {4, 5}, {4, 5}},
                      Pd{"pairwise_distance_p3_broadcast", 3, 1e-6, false, {2, 3, 5}, {5}},
                      Pd{"pairwise_distance_p_inf", INFINITY, 1e-6, false, {4, 5}, {4, 5}},
                      Pd{"pairwise_distance_p_negative", -1.5, 1e-6, false, {4, 5}, {4, 5}},
                      Pd{"pairwise_distance_p0_eps_0_25", 0, 0.25, false, {4, 5}, {4, 5}},
                      Pd{"pairwise_distance_1d_eps_0_1", 2, 0.1, false, {5}, {5}}}) {
    c = Case{.name = d.name, .op = "pairwise_distance", .reduction = "none", .p = d.p, .eps = d.eps, .flag = d.keepdim};
    c.inputs = {g(pattern(d.s1, 0.37, 0.5)), g(pattern(d.s2, 0.71, 1.3))};
    add(c, false);
  }

  // cosine_embedding_loss
  for (double margin : {0.0, 0.3}) {
    c = Case{.name = margin > 0 ? "cosine_embedding_loss_margin_0_3" : "cosine_embedding_loss", .op = "cosine_embedding_loss",
             .margin = margin};
    c.inputs = {g(pattern({6, 4}, 0.31, 0.2)), g(pattern({6, 4}, 0.53, 0.8)), values({1, -1, -1, 1, -1, 1}, {6})};
    add(c);
  }
  c = Case{.name = "cosine_embedding_loss_1d", .op = "cosine_embedding_loss", .margin = -0.2};
  c.inputs = {g(pattern({5}, 0.31, 0.2)), g(pattern({5}, 0.53, 0.8)), torch::tensor(-1.0, kF64)};
  add(c);

  // margin_ranking_loss
  for (double margin : {0.0, 0.5}) {
    c = Case{.name = margin > 0 ? "margin_ranking_loss_margin_0_5" : "margin_ranking_loss", .op = "margin_ranking_loss",
             .margin = margin};
    c.inputs = {g(pattern({6}, 0.9, 0.1)), g(pattern({6}, 1.3, 0.7)), torch::tensor({1, -1, 1, 1, -1, -1}, i64)};
    add(c);
  }
  c = Case{.name = "margin_ranking_loss_broadcast", .op = "margin_ranking_loss", .margin = 0.2};
  c.inputs = {g(pattern({6}, 0.9, 0.1)), g(pattern({1}, 1.3, 0.7)), values({1, -1, 1, 1, -1, -1}, {6})};
  add(c);

  // hinge_embedding_loss
  const std::vector<double> y12{1, -1, -1, 1, -1, 1, 1, 1, -1, -1, 1, -1};
  for (double margin : {1.0, 2.0}) {
    c = Case{.name = margin != 1 ? "hinge_embedding_loss_margin_2" : "hinge_embedding_loss", .op = "hinge_embedding_loss",
             .margin = margin};
    c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 1.5, 1.2)), values(y12, {4, 3})};
    add(c);
  }

  // soft_margin_loss, with logits up to 40
  c = Case{.name = "soft_margin_loss", .op = "soft_margin_loss"};
  c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 3.0)), values(y12, {4, 3})};
  add(c);
  c = Case{.name = "soft_margin_loss_large", .op = "soft_margin_loss"};
  c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 40.0)), values(y12, {4, 3})};
  add(c);

  // multilabel_soft_margin_loss: 0/1 targets with class weights; soft targets (differentiated); one sample
  c = Case{.name = "multilabel_soft_margin_loss_weight", .op = "multilabel_soft_margin_loss"};
  c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 3.0)), values({1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1}, {4, 3}),
              values({0.5, 2.0, 1.25}, {3})};
  add(c);
  c = Case{.name = "multilabel_soft_margin_loss_soft_targets", .op = "multilabel_soft_margin_loss"};
  c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 3.0)), g(pattern({4, 3}, 0.9, 0.5, 0.5, 0.5))};
  add(c);
  c = Case{.name = "multilabel_soft_margin_loss_1d", .op = "multilabel_soft_margin_loss"};
  c.inputs = {g(pattern({5}, 0.47, 0.3, 3.0)), values({1, 0, 1, 1, 0}, {5})};
  add(c);

  // multi_margin_loss
  for (int p : {1, 2}) {
    c = Case{.name = std::string("multi_margin_loss_p") + std::to_string(p), .op = "multi_margin_loss", .margin = 1.0,
             .p = double(p)};
    c.inputs = {g(pattern({5, 4}, 0.47, 0.3, 1.0)), torch::tensor({3, 0, 2, 0, 1}, i64)};
    add(c);
    c = Case{.name = std::string("multi_margin_loss_p") + std::to_string(p) + "_margin_0_7_weight", .op = "multi_margin_loss",
             .margin = 0.7, .p = double(p)};
    c.inputs = {g(pattern({5, 4}, 0.47, 0.3, 1.0)), torch::tensor({3, 0, 2, 0, 1}, i64), values({0.5, 2.0, 1.25, 0.8}, {4})};
    add(c);
  }
  c = Case{.name = "multi_margin_loss_1d_0d_target", .op = "multi_margin_loss", .margin = 1.0, .p = 2};
  c.inputs = {g(pattern({5}, 0.47, 0.3, 1.0)), torch::tensor(3, i64)};
  add(c);

  // triplet_margin_loss
  struct Tr {
    const char* name;
    double margin, p, eps;
    bool swap;
    std::vector<int64_t> shape;
  };
  for (const Tr& t : {Tr{"triplet_margin_loss", 1.0, 2.0, 1e-6, false, {5, 4}}, Tr{"triplet_margin_loss_p1_margin_0_5_swap", 0.5, 1.0, 1e-6, true, {5, 4}},
                      Tr{"triplet_margin_loss_swap_eps_0_1", 1.0, 2.0, 0.1, true, {5, 4}},
                      Tr{"triplet_margin_loss_1d_margin_3", 3.0, 2.0, 1e-6, false, {4}}}) {
    c = Case{.name = t.name, .op = "triplet_margin_loss", .margin = t.margin, .p = t.p, .eps = t.eps, .flag = t.swap};
    c.inputs = {g(pattern(t.shape, 0.37, 0.5)), g(pattern(t.shape, 0.71, 1.3)), g(pattern(t.shape, 1.13, 2.1))};
    add(c);
  }

  // poisson_nll_loss: log-rate / rate inputs, with and without Stirling's term (counts 0..4)
  const auto counts = values({0, 1, 2, 3, 4, 1, 0, 2, 3, 1, 4, 2}, {4, 3});
  for (bool log_input : {true, false}) {
    for (bool full : {false, true}) {
      c = Case{.name = std::string("poisson_nll_loss") + (log_input ? "" : "_rate") + (full ? "_full" : ""),
               .op = "poisson_nll_loss", .eps = 1e-8, .flag = log_input, .flag2 = full};
      c.inputs = {g(log_input ? pattern({4, 3}, 0.47, 0.3, 1.5) : pattern({4, 3}, 0.47, 0.3, 1.0, 1.5)),
                  full ? counts : g(counts.clone())};
      add(c);
    }
  }
  c = Case{.name = "poisson_nll_loss_rate_eps_0_5", .op = "poisson_nll_loss", .eps = 0.5, .flag = false};
  c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 1.0, 1.1)), counts};
  add(c);

  // gaussian_nll_loss: var per element, per sample ([N] and [N, 1]), full, and var floored at eps
  struct Ga {
    const char* name;
    std::vector<int64_t> target, var;
    bool full;
    double eps;
  };
  for (const Ga& a : {Ga{"gaussian_nll_loss", {4, 3}, {4, 3}, false, 1e-6}, Ga{"gaussian_nll_loss_full", {4, 3}, {4, 3}, true, 1e-6},
                      Ga{"gaussian_nll_loss_homoscedastic", {4, 3}, {4}, false, 1e-6},
                      Ga{"gaussian_nll_loss_homoscedastic_last_dim_1_target_broadcast", {1, 3}, {4, 1}, false, 1e-6}}) {
    c = Case{.name = a.name, .op = "gaussian_nll_loss", .eps = a.eps, .flag = a.full};
    c.inputs = {g(pattern({4, 3}, 0.47, 0.3, 1.5)), g(pattern(a.target, 0.9, 1.0)), g(pattern(a.var, 0.61, 0.2, 0.8, 1.0))};
    add(c);
  }
  c = Case{.name = "gaussian_nll_loss_var_floor", .op = "gaussian_nll_loss", .eps = 0.02, .flag = false};
  c.inputs = {g(pattern({2, 3}, 0.47, 0.3, 1.5)), g(pattern({2, 3}, 0.9, 1.0)), g(values({0, 1e-9, 0.05, 0.5, 0.01, 2}, {2, 3}))};
  add(c);

  std::printf("// Generated by scripts/dev/loss_reference.cpp with LibTorch %d.%d (float64); do not edit.\n",
              TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR);
  for (const Case& k : cases) run(k);
  return 0;
}
