// prod, any, all, cumprod, logcumsumexp, max/min over dims (as torch.amax/amin), einsum,
// tensordot, outer, kron, cross, cdist, trace, diagonal, diag, diag_embed, lerp, addcmul and
// addcdiv against LibTorch 1.13: output values and dtype, the gradient of sum(out * W) and, where
// LibTorch has a right one, the second derivative (the gradient of sum_i sum(grad_i * V_i)), for
// the cases of tensor_ops_reference.inc (printed by scripts/dev/tensor_ops_reference.cpp, f64).
// Where nabla deliberately differs (prod's second derivative with two zeros in one product), the
// test below the table checks nabla's value against the product rule instead.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace {

using namespace nabla;

struct RefInput {
  Shape shape;
  const char* dtype;  // "f64", "i64", "u8" or "bool"
  std::vector<double> values;
  bool requires_grad;
};

struct RefCase {
  const char* name;
  const char* op;
  const char* equation;
  Shape ints;
  double scalar;
  bool flag;
  double tol;
  std::vector<RefInput> inputs;
  Shape out_shape;
  const char* out_dtype;
  std::vector<double> out;
  std::vector<std::vector<double>> grads;  // per input; empty when it is not differentiated
  bool has_gradgrad;
  std::vector<std::vector<double>> gradgrads;
};

void PrintTo(const RefCase& c, std::ostream* os) { *os << c.name; }

const std::vector<RefCase> kCases = {
#include "tensor_ops_reference.inc"
};

DType ref_dtype(const std::string& name) {
  if (name == "f64") return DType::f64;
  if (name == "i64") return DType::i64;
  return name == "bool" ? DType::boolean : DType::u8;
}

Tensor run_op(const RefCase& c, const TensorList& x) {
  const std::string op = c.op;
  const Shape& i = c.ints;
  if (op == "prod") return prod(x[0], i, c.flag);
  if (op == "any") return any(x[0], i, c.flag);
  if (op == "all") return all(x[0], i, c.flag);
  if (op == "cumprod") return cumprod(x[0], i[0]);
  if (op == "logcumsumexp") return logcumsumexp(x[0], i[0]);
  // torch.amax / amin are nabla's max / min over dims (the gradient split evenly among ties).
  if (op == "amax") return max(x[0], i, c.flag);
  if (op == "amin") return min(x[0], i, c.flag);
  if (op == "einsum") return einsum(c.equation, x);
  if (op == "tensordot") {
    const int64_t n = i[0];
    return tensordot(x[0], x[1], Shape(i.begin() + 1, i.begin() + 1 + n), Shape(i.begin() + 1 + n, i.end()));
  }
  if (op == "outer") return outer(x[0], x[1]);
  if (op == "kron") return kron(x[0], x[1]);
  if (op == "cross") return c.flag ? cross(x[0], x[1], i[0]) : cross(x[0], x[1]);
  if (op == "cdist") return cdist(x[0], x[1], c.scalar);
  if (op == "trace") return trace(x[0]);
  if (op == "diagonal") return diagonal(x[0], i[0], i[1], i[2]);
  if (op == "diag") return diag(x[0], i[0]);
  if (op == "diag_embed") return diag_embed(x[0], i[0], i[1], i[2]);
  if (op == "lerp") return c.flag ? lerp(x[0], x[1], c.scalar) : lerp(x[0], x[1], x[2]);
  if (op == "addcmul") return addcmul(x[0], x[1], x[2], c.scalar);
  if (op == "addcdiv") return addcdiv(x[0], x[1], x[2], c.scalar);
  ADD_FAILURE() << "unknown op " << op;
  return Tensor();
}

double largest_diff = 0;  // reported at the end: how close the closest-run comparison came

void expect_values(const std::string& what, const Tensor& t, const std::vector<double>& want, double tol) {
  ASSERT_TRUE(t.defined()) << what;
  const std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size()) << what << " shape " << shape_str(t.shape());
  for (size_t k = 0; k < got.size(); ++k) {
    if (std::isnan(want[k])) {
      EXPECT_TRUE(std::isnan(got[k])) << what << "[" << k << "]: got " << got[k] << ", LibTorch NaN";
    } else if (std::isinf(want[k]) || got[k] == want[k]) {
      EXPECT_EQ(got[k], want[k]) << what << "[" << k << "]";
    } else {
      const double diff = std::fabs(got[k] - want[k]);
      largest_diff = std::max(largest_diff, diff / (1 + std::fabs(want[k])));
      EXPECT_LE(diff, tol * (1 + std::fabs(want[k]))) << what << "[" << k << "]: got " << got[k] << ", LibTorch "
                                                      << want[k];
    }
  }
}

/// V_i,k = sin(0.4 k + 0.2 + i) for the i-th differentiated input, as the generator's.
Tensor second_order_weights(const Tensor& g, size_t i) {
  std::vector<double> v(size_t(g.numel()));
  for (size_t k = 0; k < v.size(); ++k) v[k] = std::sin(0.4 * double(k) + 0.2 + double(i));
  return from_vector(v, g.shape());
}

}  // namespace

class TensorOpsLibTorch : public ::testing::TestWithParam<RefCase> {};

TEST(TensorOpsReference, HasEveryCase) { EXPECT_EQ(kCases.size(), 74u); }

TEST_P(TensorOpsLibTorch, Matches) {
  const RefCase& c = GetParam();
  TensorList x, diff;
  for (const RefInput& in : c.inputs) {
    Tensor t = from_vector<double>(in.values, in.shape).to(ref_dtype(in.dtype));
    if (in.requires_grad) t.requires_grad_(true), diff.push_back(t);
    x.push_back(t);
  }
  Tensor out = run_op(c, x);
  ASSERT_TRUE(out.defined());
  EXPECT_EQ(out.shape(), c.out_shape);
  // LibTorch 1.13's any/all keep u8 for a u8 input (its pre-bool legacy); nabla's give bool for
  // every input (ops.h), the one dtype difference here, deliberate.
  const bool u8_any_all = (c.op == std::string("any") || c.op == std::string("all")) && c.out_dtype == std::string("u8");
  EXPECT_EQ(out.dtype(), u8_any_all ? DType::boolean : ref_dtype(c.out_dtype));
  expect_values("output", out, c.out, c.tol);
  if (diff.empty()) return;
  // The generator's upstream weights: W_k = cos(0.7 k + 0.3).
  std::vector<double> wv(size_t(out.numel()));
  for (size_t k = 0; k < wv.size(); ++k) wv[k] = std::cos(0.7 * double(k) + 0.3);
  if (!out.requires_grad()) {  // piecewise constant (cdist with p = 0): LibTorch's gradients are 0
    for (const auto& gv : c.grads)
      for (double e : gv) EXPECT_EQ(e, 0.0) << "no graph, but LibTorch has a non-zero gradient";
    return;
  }
  TensorList g = grad({sum(out * from_vector(wv, out.shape()))}, diff, {}, true, c.has_gradgrad, true);
  Tensor second = zeros({}, {.dtype = DType::f64});
  for (size_t k = 0, j = 0; k < x.size(); ++k) {
    if (!c.inputs[k].requires_grad) continue;
    const Tensor gk = g[j].defined() ? g[j] : zeros_like(diff[j]);
    expect_values("gradient of input " + std::to_string(k), gk, c.grads[k], c.tol);
    if (c.has_gradgrad) second = second + sum(gk * second_order_weights(gk, j));
    ++j;
  }
  if (!c.has_gradgrad) return;
  TensorList gg = second.requires_grad() ? grad({second}, diff, {}, false, false, true) : TensorList(diff.size());
  for (size_t k = 0, j = 0; k < x.size(); ++k) {
    if (!c.inputs[k].requires_grad) continue;
    expect_values("second derivative of input " + std::to_string(k), gg[j].defined() ? gg[j] : zeros_like(diff[j]),
                  c.gradgrads[k], c.tol);
    ++j;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, TensorOpsLibTorch, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<RefCase>& info) { return std::string(info.param.name); });

namespace {
// Prints, after all tests, the largest relative difference any comparison with LibTorch saw.
class ReportLargestDifference : public ::testing::Environment {
  void TearDown() override {
    std::cout << "[tensor_ops_reference] largest |nabla - LibTorch| / (1 + |LibTorch|): " << largest_diff << "\n";
  }
};
[[maybe_unused]] ::testing::Environment* const kReport = ::testing::AddGlobalTestEnvironment(new ReportLargestDifference);
}  // namespace

// prod's second derivative where a product has two zeros: d²(x0 x1 x2 x3) / dx1 dx3 = x0 x2,
// which LibTorch 1.13 gives as 0 (its first derivative there is a constant zero tensor).
TEST(TensorOpsReference, ProdSecondDerivativeWithTwoZerosIsTheProductOfTheOthers) {
  Tensor x = from_vector<double>({2, 0, 3, 0}, {4}).requires_grad_(true);
  Tensor g = grad({prod(x)}, {x}, {}, true, true)[0];
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{0, 0, 0, 0}));
  // Row k of the Hessian is the gradient of g[k].
  std::vector<std::vector<double>> hessian;
  for (int64_t k = 0; k < 4; ++k) hessian.push_back(grad({g.select(0, k)}, {x}, {}, true, false)[0].to_vector<double>());
  const std::vector<std::vector<double>> want = {{0, 0, 0, 0}, {0, 0, 0, 6}, {0, 0, 0, 0}, {0, 6, 0, 0}};
  EXPECT_EQ(hessian, want);
}
