// Reference values for tests/ops/tensor_ops_reference_test.cpp, computed by LibTorch 1.13 (Debian
// libtorch-dev) in float64. It prints tests/ops/tensor_ops_reference.inc: for each case one of
// prod, any, all, cumprod, logcumsumexp, amax/amin (what nabla's max/min over dims are), einsum,
// tensordot, outer, kron, cross, cdist, trace, diagonal, diag, diag_embed, lerp, addcmul, addcdiv,
// with its arguments, its inputs (deterministic patterns or values chosen for the case: zeros in
// products, ties, -inf, equal points), the output with its dtype, the gradient of sum(out * W)
// for every input that requires grad (W_k = cos(0.7 k + 0.3) over the output's elements) and,
// where LibTorch has a (right) second derivative, the gradient of sum_i sum(grad_i * V_i) with
// V_i,k = sin(0.4 k + 0.2 + i) for the i-th differentiated input (PyTorch's double backward).
// Several dims for prod, any and all (LibTorch 1.13 takes one) are reduced one dim at a time.
//
// Build and run (LibTorch is only needed here, never by the tests):
//   g++ -std=c++17 -O1 scripts/dev/tensor_ops_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/tensor_ops_reference
//   /tmp/tensor_ops_reference > tests/ops/tensor_ops_reference.inc
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);

// v_k = sin(freq * k + phase) over the tensor's row-major elements.
torch::Tensor pattern(std::vector<int64_t> shape, double freq, double phase) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return torch::sin(freq * torch::arange(n, kF64) + phase).reshape(shape);
}

torch::Tensor values(std::vector<double> v, std::vector<int64_t> shape, torch::ScalarType dt = torch::kDouble) {
  return torch::tensor(v, kF64).reshape(shape).to(dt);
}

torch::Tensor g(torch::Tensor t) { return t.requires_grad_(true); }

struct Case {
  std::string name, op, equation;
  std::vector<int64_t> ints;  // dims, dim, offset/dim1/dim2, tensordot's [n, dims_a..., dims_b...]
  double scalar = 0;          // cdist's p, lerp's scalar weight, addcmul/addcdiv's value
  bool flag = false;          // keepdim; cross: dim given (ints[0]); lerp: scalar weight
  bool gradgrad = true;       // LibTorch has (a right) second derivative for it
  double tol = 1e-12;         // relative tolerance of the comparison
  std::vector<torch::Tensor> inputs;
};

std::string num(double v) {
  if (std::isnan(v)) return "NAN";
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void print_doubles(const torch::Tensor& t) {
  std::printf("{");
  if (t.defined()) {
    auto c = t.detach().contiguous().to(torch::kDouble);
    const double* d = c.data_ptr<double>();
    for (int64_t k = 0; k < c.numel(); ++k) std::printf("%s%s", k ? ", " : "", num(d[k]).c_str());
  }
  std::printf("}");
}

void print_ints(const std::vector<int64_t>& v) {
  std::printf("{");
  for (size_t k = 0; k < v.size(); ++k) std::printf("%s%lld", k ? ", " : "", (long long)v[k]);
  std::printf("}");
}

const char* dtype_name(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kDouble: return "f64";
    case torch::kLong: return "i64";
    case torch::kByte: return "u8";
    case torch::kBool: return "bool";
    default: throw std::runtime_error("unexpected dtype");
  }
}

// Reduces over `dims` one dim at a time (largest first, so the others keep their index).
template <typename F>
torch::Tensor over_dims(torch::Tensor x, std::vector<int64_t> dims, bool keepdim, F one_dim) {
  for (int64_t& d : dims) d = d < 0 ? d + x.dim() : d;
  std::sort(dims.rbegin(), dims.rend());
  for (int64_t d : dims) x = one_dim(x, d, keepdim);
  return x;
}

torch::Tensor run_op(const Case& c, const std::vector<torch::Tensor>& x) {
  const auto& i = c.ints;
  if (c.op == "prod")
    return i.empty() ? (c.flag ? x[0].prod().reshape(std::vector<int64_t>(size_t(x[0].dim()), 1)) : x[0].prod())
                     : over_dims(x[0], i, c.flag, [](torch::Tensor t, int64_t d, bool k) { return t.prod(d, k); });
  if (c.op == "any" || c.op == "all") {
    const bool any = c.op == "any";
    if (i.empty()) return any ? x[0].any() : x[0].all();
    return over_dims(x[0], i, c.flag, [any](torch::Tensor t, int64_t d, bool k) { return any ? t.any(d, k) : t.all(d, k); });
  }
  if (c.op == "cumprod") return torch::cumprod(x[0], i[0]);
  if (c.op == "logcumsumexp") return torch::logcumsumexp(x[0], i[0]);
  if (c.op == "amax") return torch::amax(x[0], i, c.flag);
  if (c.op == "amin") return torch::amin(x[0], i, c.flag);
  if (c.op == "einsum") return torch::einsum(c.equation, x);
  if (c.op == "tensordot") {
    const int64_t n = i[0];
    return torch::tensordot(x[0], x[1], std::vector<int64_t>(i.begin() + 1, i.begin() + 1 + n),
                            std::vector<int64_t>(i.begin() + 1 + n, i.end()));
  }
  if (c.op == "outer") return torch::outer(x[0], x[1]);
  if (c.op == "kron") return torch::kron(x[0], x[1]);
  if (c.op == "cross") return c.flag ? torch::cross(x[0], x[1], i[0]) : torch::cross(x[0], x[1]);
  if (c.op == "cdist") {
    // compute_mode: 0 use_mm_for_euclid_dist_if_necessary, 1 use_mm_for_euclid_dist, 2 donot_use_mm...
    return torch::cdist(x[0], x[1], c.scalar, i.empty() ? c10::nullopt : c10::optional<int64_t>(i[0]));
  }
  if (c.op == "trace") return torch::trace(x[0]);
  if (c.op == "diagonal") return torch::diagonal(x[0], i[0], i[1], i[2]);
  if (c.op == "diag") return torch::diag(x[0], i[0]);
  if (c.op == "diag_embed") return torch::diag_embed(x[0], i[0], i[1], i[2]);
  if (c.op == "lerp") return c.flag ? torch::lerp(x[0], x[1], c.scalar) : torch::lerp(x[0], x[1], x[2]);
  if (c.op == "addcmul") return torch::addcmul(x[0], x[1], x[2], c.scalar);
  if (c.op == "addcdiv") return torch::addcdiv(x[0], x[1], x[2], c.scalar);
  throw std::runtime_error("unknown op " + c.op);
}

void run(const Case& c) {
  std::vector<torch::Tensor> x, diff;
  for (const auto& t : c.inputs) {
    x.push_back(t.detach().clone().requires_grad_(t.requires_grad()));
    if (t.requires_grad()) diff.push_back(x.back());
  }
  torch::Tensor out = run_op(c, x);
  std::vector<torch::Tensor> grads(x.size()), gradgrads(x.size());
  const bool differentiable = out.requires_grad();
  if (differentiable) {
    auto w = torch::cos(0.7 * torch::arange(out.numel(), kF64) + 0.3).reshape(out.sizes());
    auto gs = torch::autograd::grad({(out * w).sum()}, diff, {}, true, c.gradgrad, true);
    torch::Tensor second = torch::zeros({}, kF64);
    for (size_t k = 0; k < gs.size(); ++k) {
      if (!gs[k].defined()) gs[k] = torch::zeros_like(diff[k]);
      const double shift = double(k);
      second = second + (gs[k] * torch::sin(0.4 * torch::arange(gs[k].numel(), kF64) + 0.2 + shift).reshape(gs[k].sizes())).sum();
    }
    std::vector<torch::Tensor> ggs;
    if (c.gradgrad) {
      ggs = second.requires_grad() ? torch::autograd::grad({second}, diff, {}, true, false, true)
                                   : std::vector<torch::Tensor>(diff.size());
      for (size_t k = 0; k < ggs.size(); ++k)
        if (!ggs[k].defined()) ggs[k] = torch::zeros_like(diff[k]);
    }
    for (size_t k = 0, j = 0; k < x.size(); ++k) {
      if (!x[k].requires_grad()) continue;
      grads[k] = gs[j];
      if (c.gradgrad) gradgrads[k] = ggs[j];
      ++j;
    }
  }

  std::printf("  {.name = \"%s\", .op = \"%s\", .equation = \"%s\", .ints = ", c.name.c_str(), c.op.c_str(),
              c.equation.c_str());
  print_ints(c.ints);
  std::printf(", .scalar = %s, .flag = %s, .tol = %g,\n", num(c.scalar).c_str(), c.flag ? "true" : "false", c.tol);
  std::printf("   .inputs = {\n");
  for (const auto& t : x) {
    std::printf("       {");
    print_ints(t.sizes().vec());
    std::printf(", \"%s\", ", dtype_name(t));
    print_doubles(t);
    std::printf(", %s},\n", t.requires_grad() ? "true" : "false");
  }
  std::printf("   },\n   .out_shape = ");
  print_ints(out.sizes().vec());
  std::printf(", .out_dtype = \"%s\",\n   .out = ", dtype_name(out));
  print_doubles(out);
  std::printf(",\n   .grads = {");
  for (size_t k = 0; k < x.size(); ++k) {
    std::printf(k ? ", " : "");
    print_doubles(grads[k]);
  }
  std::printf("},\n   .has_gradgrad = %s, .gradgrads = {", differentiable && c.gradgrad ? "true" : "false");
  for (size_t k = 0; k < x.size(); ++k) {
    std::printf(k ? ", " : "");
    print_doubles(gradgrads[k]);
  }
  std::printf("}},\n");
}

}  // namespace

int main() {
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(std::move(c)); };
  const auto u8 = torch::kByte, i64 = torch::kLong;

  // prod: no zeros; one zero; two zeros (LibTorch 1.13's second derivative there is 0 for the
  // whole product, the true one is not: no gradgrad); one zero per row over a dim; integers.
  add({.name = "prod_all", .op = "prod", .inputs = {g(pattern({2, 3}, 0.9, 0.4) + 0.2)}});
  add({.name = "prod_all_keepdim_one_zero", .op = "prod", .flag = true,
       .inputs = {g(values({1.5, -2, 0, 0.5, 3, -1}, {2, 3}))}});
  add({.name = "prod_all_two_zeros", .op = "prod", .gradgrad = false,
       .inputs = {g(values({1.5, 0, 2, 0.5, 0, -1}, {2, 3}))}});
  add({.name = "prod_dim1_zeros", .op = "prod", .ints = {1},
       .inputs = {g(values({1.5, 0, -2, 0.5, 0, 3, 0, -1, 0, 0, 2, 0, 1.5, -2, 0.5, 3}, {4, 4}))}});
  add({.name = "prod_dim0_keepdim", .op = "prod", .ints = {0}, .flag = true, .inputs = {g(pattern({3, 4}, 0.7, 0.1))}});
  add({.name = "prod_dims_0_2", .op = "prod", .ints = {0, 2}, .inputs = {g(pattern({2, 3, 2}, 1.3, 0.5))}});
  add({.name = "prod_empty_dim", .op = "prod", .ints = {1}, .inputs = {g(torch::zeros({2, 0}, kF64))}});
  add({.name = "prod_u8", .op = "prod", .ints = {1}, .inputs = {values({200, 2, 3, 0, 7, 5}, {2, 3}, u8)}});
  add({.name = "prod_i64_wraps", .op = "prod", .inputs = {values({2147483648.0, 2147483648.0, 5}, {3}, i64)}});

  // any / all: NaN counts as true; integers; empty dims.
  for (const char* op : {"any", "all"}) {
    const std::string s = op;
    const auto x = values({0, 0, 0, 1, 1, 1, 0, NAN, 0, -2, 0, 1}, {4, 3});
    add({.name = s + "_all", .op = op, .inputs = {x}});
    add({.name = s + "_dim1", .op = op, .ints = {1}, .inputs = {x}});
    add({.name = s + "_dim0_keepdim", .op = op, .ints = {0}, .flag = true, .inputs = {x}});
    add({.name = s + "_u8", .op = op, .ints = {1}, .inputs = {values({0, 2, 3, 0, 0, 0}, {2, 3}, u8)}});
    add({.name = s + "_i64_empty", .op = op, .inputs = {torch::zeros({0}, torch::kLong)}});
  }

  // cumprod with zeros (one, two, adjacent, first, last); logcumsumexp over a wide range, ties,
  // and -inf (LibTorch's gradient is NaN where everything so far is -inf).
  add({.name = "cumprod_dim1_zeros", .op = "cumprod", .ints = {1},
       .inputs = {g(values({2, 0, 3, -1, 0.5, 0, 1.5, 0, 2, -1, 1.5, 2, -0.5, 1, 3}, {3, 5}))}});
  add({.name = "cumprod_dim0", .op = "cumprod", .ints = {0}, .inputs = {g(pattern({5, 2}, 0.8, 0.3) + 0.3)}});
  add({.name = "cumprod_u8", .op = "cumprod", .ints = {0}, .inputs = {values({200, 2, 3}, {3}, u8)}});
  add({.name = "logcumsumexp_dim1", .op = "logcumsumexp", .ints = {1}, .inputs = {g(3 * pattern({2, 7}, 0.9, 0.1))}});
  add({.name = "logcumsumexp_wide_range_ties", .op = "logcumsumexp", .ints = {-1},
       .inputs = {g(values({-800, 0, -800, 5, 0, 0, 0, -1}, {2, 4}))}});
  add({.name = "logcumsumexp_neg_inf", .op = "logcumsumexp", .ints = {0}, .gradgrad = false,
       .inputs = {g(values({-INFINITY, -INFINITY, 1, -INFINITY, 2}, {5}))}});

  // amax / amin with ties: the gradient splits evenly (nabla's max / min over dims).
  add({.name = "amax_dim1_ties", .op = "amax", .ints = {1}, .gradgrad = false,
       .inputs = {g(values({1, 3, 3, 2, 2, 0, -1, 4, 0.5}, {3, 3}))}});
  add({.name = "amin_all_ties", .op = "amin", .ints = {0, 1}, .gradgrad = false,
       .inputs = {g(values({1, -3, 3, 2, -3, 0}, {2, 3}))}});
  add({.name = "amax_dims_0_2_keepdim", .op = "amax", .ints = {0, 2}, .flag = true, .gradgrad = false,
       .inputs = {g(values({1, 5, 5, 2, 0, 5, -1, 4}, {2, 2, 2}))}});

  // einsum
  auto ein = [&](std::string name, std::string eq, std::vector<torch::Tensor> in) {
    add({.name = std::move(name), .op = "einsum", .equation = std::move(eq), .inputs = std::move(in)});
  };
  ein("einsum_matmul", "ij,jk->ik", {g(pattern({2, 3}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))});
  ein("einsum_implicit_order", "ba,Ac", {g(pattern({2, 3}, 0.3, 0.1)), g(pattern({4, 2}, 0.5, 0.7))});
  ein("einsum_trace", "ii", {g(pattern({3, 3}, 0.6, 0.2))});
  ein("einsum_diagonal_batch", "bii->bi", {g(pattern({2, 3, 3}, 0.6, 0.2))});
  ein("einsum_iij_ji", "iij->ji", {g(pattern({2, 2, 3}, 0.45, 0.9))});
  ein("einsum_bilinear", "bn,anm,bm->ba", {g(pattern({2, 3}, 0.3, 0.1)), g(pattern({4, 3, 2}, 0.2, 0.4)),
                                           g(pattern({2, 2}, 0.8, 1.3))});
  ein("einsum_ellipsis_batch", "...ij,...jk->...ik", {g(pattern({2, 3, 2, 3}, 0.3, 0.1)), g(pattern({3, 3, 2}, 0.5, 0.7))});
  ein("einsum_ellipsis_broadcast", "...i,...i->...", {g(pattern({2, 1, 3}, 0.3, 0.1)), g(pattern({4, 3}, 0.5, 0.7))});
  ein("einsum_ellipsis_middle_implicit", "i...j,j...k", {g(pattern({2, 3, 1, 4}, 0.3, 0.1)), g(pattern({4, 3, 2, 2}, 0.5, 0.7))});
  ein("einsum_ellipsis_summed", "...ij->ij", {g(pattern({2, 3, 2, 2}, 0.3, 0.1))});
  ein("einsum_size1_broadcast", "ij,jk->ik", {g(pattern({2, 1}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))});
  ein("einsum_outer_product_sum", "i,j->", {g(pattern({3}, 0.3, 0.1)), g(pattern({4}, 0.5, 0.7))});
  ein("einsum_zero_size", "ij,jk->ik", {g(torch::zeros({2, 0}, kF64)), g(torch::zeros({0, 3}, kF64))});
  ein("einsum_i64", "ij,jk->ik", {values({1, -2, 3, 4, 0, -1}, {2, 3}, i64), values({2, 1, -3, 0, 1, 5}, {3, 2}, i64)});
  ein("einsum_u8", "ij,ij->", {values({200, 100, 3, 4}, {2, 2}, u8), values({2, 1, 1, 1}, {2, 2}, u8)});

  add({.name = "tensordot_pairs", .op = "tensordot", .ints = {2, 1, 2, 1, 0},
       .inputs = {g(pattern({2, 3, 4}, 0.3, 0.1)), g(pattern({4, 3, 5}, 0.5, 0.7))}});
  add({.name = "tensordot_size1_pair", .op = "tensordot", .ints = {1, 1, 0},
       .inputs = {g(pattern({2, 1}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))}});
  add({.name = "outer", .op = "outer", .inputs = {g(pattern({3}, 0.3, 0.1)), g(pattern({4}, 0.5, 0.7))}});
  add({.name = "kron_ranks", .op = "kron", .inputs = {g(pattern({2, 3}, 0.3, 0.1)), g(pattern({2}, 0.5, 0.7))}});
  add({.name = "kron_3d", .op = "kron", .inputs = {g(pattern({2, 1, 2}, 0.3, 0.1)), g(pattern({3, 2}, 0.5, 0.7))}});
  add({.name = "cross_dim1", .op = "cross", .ints = {1}, .flag = true,
       .inputs = {g(pattern({2, 3, 2}, 0.3, 0.1)), g(pattern({2, 3, 2}, 0.5, 0.7))}});
  add({.name = "cross_default_dim", .op = "cross", .inputs = {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({4, 3}, 0.5, 0.7))}});
  add({.name = "cross_default_dim_broadcast", .op = "cross",
       .inputs = {g(pattern({3, 1}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))}});

  // cdist: LibTorch has no double backward on its direct path (_cdist_backward); the matmul path's
  // formula differs from nabla's, so its rounding does: a looser tolerance there.
  auto cd = [&](std::string name, double p, std::vector<int64_t> mode, std::vector<torch::Tensor> in, bool gradgrad,
                double tol = 1e-12) {
    add({.name = std::move(name), .op = "cdist", .ints = std::move(mode), .scalar = p, .gradgrad = gradgrad,
         .tol = tol, .inputs = std::move(in)});
  };
  cd("cdist_p2", 2, {}, {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({5, 3}, 0.5, 0.7))}, false);
  cd("cdist_p2_batched", 2, {}, {g(pattern({2, 1, 3, 2}, 0.3, 0.1)), g(pattern({3, 4, 2}, 0.5, 0.7))}, false);
  cd("cdist_p2_mm_path", 2, {}, {g(pattern({27, 3}, 0.3, 0.1)), g(pattern({4, 3}, 0.5, 0.7))}, true, 1e-9);
  cd("cdist_p1", 1, {}, {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({5, 3}, 0.5, 0.7))}, false);
  cd("cdist_p3", 3, {}, {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({5, 3}, 0.5, 0.7))}, false);
  cd("cdist_p_half", 0.5, {}, {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({5, 3}, 0.5, 0.7))}, false);
  cd("cdist_p_inf", INFINITY, {}, {g(pattern({4, 3}, 0.3, 0.1)), g(pattern({5, 3}, 0.5, 0.7))}, false);
  cd("cdist_p0", 0, {}, {g(values({0, 1, 2, 1, 1, 0}, {2, 3})), g(values({0, 1, 3, 1, 1, 0}, {2, 3}))}, false);
  // Equal points (x1[0] = x2[1], x1[2] = x2[0]) on the direct path: distance 0, gradient 0.
  const auto e1 = values({0.5, -1, 2, 1.5, 0.25, -0.5, -2, 1, 0.75}, {3, 3}), e2 = values({-2, 1, 0.75, 0.5, -1, 2}, {2, 3});
  cd("cdist_p2_zero_distance", 2, {}, {g(e1), g(e2)}, false);
  cd("cdist_p1_zero_distance", 1, {}, {g(e1), g(e2)}, false);

  add({.name = "trace", .op = "trace", .inputs = {g(pattern({3, 4}, 0.3, 0.1))}});
  add({.name = "trace_i64", .op = "trace", .inputs = {values({1, 2, 3, 4}, {2, 2}, i64)}});
  add({.name = "diagonal_offset_dims", .op = "diagonal", .ints = {1, 2, 0}, .inputs = {g(pattern({3, 2, 4}, 0.3, 0.1))}});
  add({.name = "diagonal_below", .op = "diagonal", .ints = {-1, 0, 1}, .inputs = {g(pattern({4, 3}, 0.3, 0.1))}});
  add({.name = "diag_vector_above", .op = "diag", .ints = {1}, .inputs = {g(pattern({3}, 0.3, 0.1))}});
  add({.name = "diag_matrix_below", .op = "diag", .ints = {-1}, .inputs = {g(pattern({3, 4}, 0.3, 0.1))}});
  add({.name = "diag_embed_dims_2_0", .op = "diag_embed", .ints = {1, 2, 0}, .inputs = {g(pattern({2, 3}, 0.3, 0.1))}});
  add({.name = "diag_embed_default", .op = "diag_embed", .ints = {0, -2, -1}, .inputs = {g(pattern({2, 3}, 0.3, 0.1))}});

  add({.name = "lerp_tensor_weight", .op = "lerp",
       .inputs = {g(pattern({3, 4}, 0.3, 0.1)), g(pattern({4}, 0.5, 0.7)), g(pattern({3, 1}, 0.9, 0.2) + 0.5)}});
  add({.name = "lerp_scalar_low", .op = "lerp", .scalar = 0.25, .flag = true,
       .inputs = {g(pattern({3, 4}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))}});
  add({.name = "lerp_scalar_high", .op = "lerp", .scalar = 0.75, .flag = true,
       .inputs = {g(pattern({3, 4}, 0.3, 0.1)), g(pattern({3, 4}, 0.5, 0.7))}});
  add({.name = "addcmul", .op = "addcmul", .scalar = -0.5,
       .inputs = {g(pattern({3, 4}, 0.3, 0.1)), g(pattern({3, 1}, 0.5, 0.7)), g(pattern({4}, 0.9, 0.2))}});
  add({.name = "addcdiv", .op = "addcdiv", .scalar = 2,
       .inputs = {g(pattern({3, 4}, 0.3, 0.1)), g(pattern({3, 1}, 0.5, 0.7)), g(pattern({4}, 0.4, 0.2) + 1.5)}});

  std::printf("// Generated by scripts/dev/tensor_ops_reference.cpp with LibTorch %d.%d (float64); do not edit.\n",
              TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR);
  for (const Case& c : cases) run(c);
}
