// 16-bit reductions, softmax, logsumexp, var, argmax/argmin and cross_entropy against LibTorch
// 1.13 on the CPU (tests/ops/half_reference.inc, from scripts/dev/half_reference.cpp): outputs
// against LibTorch's own 16-bit kernels where it has them (else its f32 result on the same
// rounded inputs, rounded once), input gradients for the cotangent W against its f32 gradient
// rounded once. Not every step rounds at the same place (PyTorch 1.13's mean rounds the sum and
// then the quotient; its exp is not ours), so values may differ by one unit of the dtype;
// argmax/argmin must agree exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

struct HalfRef {
  const char* name;
  std::string op, dtype;
  nb::Shape shape;
  std::vector<double> x;  // one value: x is filled with it
  int64_t dim;
  bool from16;  // out is LibTorch's 16-bit kernel's (else its f32 result, rounded)
  std::vector<double> out, grad;
};

const std::vector<HalfRef> kRefs = {
#include "ops/half_reference.inc"
};

Tensor run(const HalfRef& r, const Tensor& x) {
  if (r.op == "sum_all") return nb::sum(x);
  if (r.op == "sum") return nb::sum(x, {r.dim});
  if (r.op == "mean") return nb::mean(x, {r.dim});
  if (r.op == "var") return nb::var(x, {r.dim});
  if (r.op == "logsumexp") return nb::logsumexp(x, {r.dim});
  if (r.op == "softmax") return nb::softmax(x, r.dim);
  if (r.op == "log_softmax") return nb::log_softmax(x, r.dim);
  if (r.op == "max") return nb::max(x, {r.dim});
  if (r.op == "argmax") return nb::argmax(x, r.dim);
  if (r.op == "argmin") return nb::argmin(x, r.dim);
  if (r.op == "cross_entropy") {  // targets (3 i + 1) mod C, as the generator's
    std::vector<int64_t> t(size_t(x.size(0)));
    for (size_t i = 0; i < t.size(); ++i) t[i] = int64_t(3 * i + 1) % x.size(1);
    return nb::cross_entropy(x, nb::from_vector(t, {x.size(0)}));
  }
  ADD_FAILURE() << "unknown op " << r.op;
  return x;
}

/// The cotangent of the generator: W_k = cos(0.7 k + 0.3) over `like`'s elements, in its dtype.
Tensor cotangent(const Tensor& like) {
  std::vector<double> w(size_t(like.numel()));
  for (size_t k = 0; k < w.size(); ++k) w[k] = std::cos(0.7 * double(k) + 0.3);
  return nb::from_vector(w, like.shape(), like.dtype());
}

double largest_units = 0;  // the largest difference seen, in units of the dtype at the output's scale

/// got against want within one unit of dt's rounding at max(|want|, the largest |want|) (an
/// element near 0 keeps the absolute error of the larger ones it was computed from).
void expect_within_a_unit(const std::vector<double>& got, const std::vector<double>& want, DType dt,
                          const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (double w : want)
    if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
  const double unit = dt == DType::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);  // relative, at most
  for (size_t i = 0; i < got.size(); ++i) {
    if ((std::isnan(got[i]) && std::isnan(want[i])) || got[i] == want[i]) continue;
    const double units = std::abs(got[i] - want[i]) / (unit * std::max(std::abs(want[i]), scale));
    largest_units = std::max(largest_units, units);
    EXPECT_LE(units, 1.0) << what << ": element " << i << " is " << got[i] << ", LibTorch's " << want[i];
  }
}

class HalfReference : public ::testing::TestWithParam<HalfRef> {
 public:
  static void TearDownTestSuite() {
    std::printf("[half_reference] largest |nabla - LibTorch| in units of the 16-bit rounding: %.3g\n", largest_units);
  }
};

TEST_P(HalfReference, MatchesLibTorch) {
  const HalfRef& r = GetParam();
  const DType dt = r.dtype == "bf16" ? DType::bf16 : DType::f16;
  Tensor x = r.x.size() == 1 && nb::shape_numel(r.shape) > 1 ? nb::full(r.shape, r.x[0], {.dtype = dt})
                                                              : nb::from_vector(r.x, r.shape, dt);
  ASSERT_EQ(x.to_vector<double>()[0], r.x[0]) << "the input values are exact in " << r.dtype;
  const bool differentiable = !r.grad.empty();
  SCOPED_TRACE(r.from16 ? "output from LibTorch's 16-bit kernel" : "output from LibTorch's f32 result, rounded");
  if (differentiable) x.requires_grad_(true);
  const Tensor out = run(r, x);
  if (r.op == "argmax" || r.op == "argmin") {
    std::vector<double> got;
    for (int64_t i : out.to_vector<int64_t>()) got.push_back(double(i));
    EXPECT_EQ(got, r.out);
    return;
  }
  EXPECT_EQ(out.dtype(), dt);
  expect_within_a_unit(out.to_vector<double>(), r.out, dt, "output");
  if (!differentiable) return;
  out.backward(cotangent(out));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), dt);
  expect_within_a_unit(x.grad().to_vector<double>(), r.grad, dt, "input gradient");
}

INSTANTIATE_TEST_SUITE_P(All, HalfReference, ::testing::ValuesIn(kRefs),
                         [](const ::testing::TestParamInfo<HalfRef>& info) {
                           return std::string(info.param.name) + "_" + info.param.dtype;
                         });

}  // namespace
