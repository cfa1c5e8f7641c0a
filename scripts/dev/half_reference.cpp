// Reference values for tests/ops/half_reference_test.cpp, computed by LibTorch 1.13 (Debian
// libtorch-dev) on the CPU for bf16 and f16 inputs: reductions, argmax/argmin with NaN and ties,
// softmax/log_softmax, logsumexp, var and cross_entropy. It prints tests/ops/half_reference.inc:
// for each case the op, the dtype, the input's shape and values (already rounded to the dtype;
// a single value stands for a tensor filled with it, the long sums), the dim, the output and
// the input's gradient for the cotangent W (W_k = cos(0.7 k + 0.3) over the output's elements,
// rounded to the dtype; none for the filled inputs, where it is W broadcast back).
// The output is LibTorch's own 16-bit kernel's (from16 true) where 1.13 has one on the CPU, else
// (most f16 cases: "not implemented for 'Half'") LibTorch's f32 result on the same rounded
// inputs rounded once to the dtype. The gradient is always the latter: LibTorch 1.13's own bf16
// backward of var and logsumexp rounds the mean and the logsumexp to bf16 before using them (the
// var of bf16 256, 258, 260, 262 gets the gradient -2.5625 for x_0 and W_0 ~ 0.96 where
// 2 (256 - 259) / 3 W_0 is -1.91), which is not the compute-in-float-round-once rule nabla
// follows.
//
// Build and run (LibTorch is only needed here, never by the tests):
//   g++ -std=c++17 -O1 scripts/dev/half_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/half_reference
//   /tmp/half_reference > tests/ops/half_reference.inc
#include <torch/torch.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "reference_values.h"

namespace {

struct Case {
  std::string name, op;
  torch::Tensor x;  // f64; rounded to the dtype before use
  int64_t dim = 0;
  bool fill = false;  // x holds one value: the input is x's shape (fill_shape) filled with it
  std::vector<int64_t> fill_shape;
};

/// Targets of the cross_entropy cases: (3 i + 1) mod C for row i (the test computes the same).
torch::Tensor targets(int64_t rows, int64_t classes) {
  return (torch::arange(rows, torch::kLong) * 3 + 1).remainder(classes);
}

torch::Tensor run(const Case& c, const torch::Tensor& x) {
  if (c.op == "sum_all") return x.sum();
  if (c.op == "sum") return x.sum(c.dim);
  if (c.op == "mean") return x.mean(c.dim);
  if (c.op == "var") return x.var(torch::IntArrayRef{c.dim}, /*unbiased=*/true);
  if (c.op == "logsumexp") return x.logsumexp(c.dim);
  if (c.op == "softmax") return torch::softmax(x, c.dim);
  if (c.op == "log_softmax") return torch::log_softmax(x, c.dim);
  if (c.op == "max") return x.amax(c.dim);  // nabla's max: the gradient split among ties
  if (c.op == "argmax") return x.argmax(c.dim);
  if (c.op == "argmin") return x.argmin(c.dim);
  if (c.op == "cross_entropy") return torch::nn::functional::cross_entropy(x, targets(x.size(0), x.size(1)));
  throw std::runtime_error("unknown op " + c.op);
}

void print_case(const Case& c, torch::ScalarType st, const char* dtype) {
  const torch::Tensor x16 = c.fill ? torch::full(c.fill_shape, c.x.item<double>(), torch::kDouble).to(st) : c.x.to(st);
  const bool differentiable = c.op.rfind("arg", 0) != 0;
  // LibTorch in f32 on the rounded inputs, rounded once.
  torch::Tensor x32 = x16.to(torch::kFloat).requires_grad_(differentiable);
  const torch::Tensor out32 = run(c, x32);
  torch::Tensor grad;
  if (differentiable && !c.fill) {
    const torch::Tensor w = (torch::arange(out32.numel(), torch::kDouble) * 0.7 + 0.3).cos().reshape(out32.sizes());
    out32.backward(w.to(st).to(torch::kFloat));
    grad = x32.grad().to(st);
  }
  torch::Tensor out = differentiable ? out32.detach().to(st) : out32;
  bool from16 = true;
  try {
    out = run(c, x16);
  } catch (const std::exception&) {
    from16 = false;
  }
  std::printf("    {\"%s\", \"%s\", \"%s\", %s, %s, %lld, %s,\n     %s,\n     %s},\n", c.name.c_str(), c.op.c_str(),
              dtype, ref_gen::shape_of(x16).c_str(), ref_gen::values(c.fill ? c.x.to(st) : x16).c_str(),
              static_cast<long long>(c.dim), from16 ? "true" : "false", ref_gen::values(out).c_str(),
              grad.defined() ? ref_gen::values(grad).c_str() : "{}");
}

torch::Tensor vals(std::vector<double> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kDouble).reshape(shape);
}

}  // namespace

int main() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Case> cases = {
      {"sum_1e5_of_0_01", "sum_all", vals({0.01}, {1}), 0, true, {100000}},
      {"sum_rows_2e4_of_0_01", "sum", vals({0.01}, {1}), 1, true, {3, 20000}},
      {"sum_dim0", "sum", ref_gen::det({5, 6}, 1, 3.0), 0},
      {"mean_dim1", "mean", ref_gen::det({4, 9}, 2, 2.0), 1},
      {"var_offset_dim0", "var", vals({256, 258, 260, 262}, {4, 1}), 0},
      {"var_dim1", "var", ref_gen::det({3, 8}, 3, 1.5) + 4.0, 1},
      {"logsumexp_dim1", "logsumexp", ref_gen::det({4, 7}, 4, 5.0), 1},
      {"softmax_dim1", "softmax", ref_gen::det({4, 7}, 5, 4.0), 1},
      {"softmax_dim0", "softmax", ref_gen::det({6, 3}, 6, 4.0), 0},
      {"log_softmax_dim1", "log_softmax", ref_gen::det({4, 7}, 7, 4.0), 1},
      {"max_dim1_nan", "max", vals({0, 7, 7, nan, 1, 9, -5, -3, -4}, {3, 3}), 1},
      {"argmax_dim1_nan_ties", "argmax", vals({0, 7, 7, nan, 1, 9, 1, 3, nan, 2, 1.0001, 1}, {4, 3}), 1},
      {"argmin_dim0_nan_ties", "argmin", vals({2, -1, 5, -1, 2, nan, 4, -1, 0}, {3, 3}), 0},
      {"cross_entropy_mean", "cross_entropy", ref_gen::det({6, 5}, 8, 3.0), 1},
  };
  std::printf("// Generated by scripts/dev/half_reference.cpp (LibTorch 1.13, CPU) -- do not edit.\n");
  std::printf("// {name, op, dtype, shape, input (one value: filled), dim, from16, output, input gradient for W}\n");
  for (const Case& c : cases) {
    print_case(c, torch::kBFloat16, "bf16");
    print_case(c, torch::kHalf, "f16");
  }
}
