// Dtype rules, integer paths and errors of the element-wise math ops (tan ... exp2, rounding,
// atan2, fmod, remainder) and the activations added with them; values and gradients are in the
// op table (op_table_elementwise.cpp) and against LibTorch (activation_reference_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace {

using namespace nabla;

Tensor i64(const std::vector<int64_t>& v) { return from_vector<int64_t>(v, {int64_t(v.size())}); }
Tensor f64(const std::vector<double>& v) { return from_vector<double>(v, {int64_t(v.size())}); }

TEST(MathEdge, IntegerInputsFollowPyTorch) {
  // Math functions compute integers in f32; rounding returns them unchanged, in their dtype.
  Tensor t = tan(i64({0, 1}));
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_FLOAT_EQ(t.to_vector<float>()[1], 1.5574077f);
  EXPECT_EQ(log2(i64({8})).to_vector<float>(), std::vector<float>{3.0f});
  EXPECT_EQ(exp2(i64({-3})).to_vector<float>(), std::vector<float>{0.125f});
  EXPECT_EQ(atan2(i64({1}), i64({1})).dtype(), DType::f32);
  for (auto* op : {+[](const Tensor& x) { return floor(x); }, +[](const Tensor& x) { return ceil(x); },
                   +[](const Tensor& x) { return round(x); }, +[](const Tensor& x) { return trunc(x); }}) {
    Tensor r = op(i64({-3, 0, 7}));
    EXPECT_EQ(r.dtype(), DType::i64);
    EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{-3, 0, 7}));
  }
  EXPECT_ERROR(frac(i64({1, 2})), "[frac] expected a floating tensor", "i64", "[2]");
  EXPECT_ERROR(round(i64({1}), 2), "[round] decimals=2 needs a floating tensor", "i64");
}

TEST(MathEdge, RoundIsHalfToEvenWithDecimals) {
  EXPECT_EQ(round(f64({0.5, 1.5, 2.5, -0.5, -2.5, 3.5})).to_vector<double>(), (std::vector<double>{0, 2, 2, -0.0, -2, 4}));
  EXPECT_TRUE(std::signbit(round(f64({-0.5})).item<double>()));
  EXPECT_EQ(round(f64({1234.5678}), 2).item<double>(), 1234.57);
  EXPECT_EQ(round(f64({1250, 1350, -35}), -2).to_vector<double>(), (std::vector<double>{1200, 1400, -0.0}));
  EXPECT_EQ(round(from_vector<float>({2.5f, 3.5f}, {2})).to_vector<float>(), (std::vector<float>{2, 4}));
}

TEST(MathEdge, RemaindersTakeTheSignOfDividendOrDivisor) {
  // fmod: sign of the dividend (C); remainder: sign of the divisor (Python).
  EXPECT_EQ(fmod(f64({-7.5, 7.5, -7.5, 7.5}), f64({2, -2, -2, 2})).to_vector<double>(),
            (std::vector<double>{-1.5, 1.5, -1.5, 1.5}));
  EXPECT_EQ(remainder(f64({-7.5, 7.5, -7.5, 7.5}), f64({2, -2, -2, 2})).to_vector<double>(),
            (std::vector<double>{0.5, -0.5, -1.5, 1.5}));
  EXPECT_EQ(fmod(f64({-7.5}), 2.0).item<double>(), -1.5);
  EXPECT_EQ(remainder(f64({-7.5}), 2.0).item<double>(), 0.5);
  // Integers stay integers, exact (INT64_MIN % -1 is 0, not a trap).
  EXPECT_EQ(fmod(i64({-3, 0, 2, 7}), 2.0).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 0, 1}));
  EXPECT_EQ(remainder(i64({-3, 0, 2, 7}), -2.0).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 0, -1}));
  EXPECT_EQ(remainder(i64({-3, 0, 2, 7}), i64({2})).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1}));
  const int64_t lo = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(fmod(i64({lo}), i64({-1})).to_vector<int64_t>(), std::vector<int64_t>{0});
  EXPECT_EQ(remainder(i64({lo}), i64({-1})).to_vector<int64_t>(), std::vector<int64_t>{0});
  Tensor u = from_vector<uint8_t>({250, 7}, {2});
  EXPECT_EQ(remainder(u, from_vector<uint8_t>({7, 3}, {2})).to_vector<uint8_t>(), (std::vector<uint8_t>{5, 1}));
  EXPECT_EQ(fmod(i64({5}), 2.5).dtype(), DType::f32);  // a fractional scalar makes it floating
  EXPECT_ERROR(fmod(i64({1, 2}), i64({1, 0})), "[fmod] integer division by zero", "[2]", "i64");
  EXPECT_ERROR(remainder(i64({1, 2}), 0.0), "[remainder] integer division by zero");
  // Floating division by zero is NaN, as in C and PyTorch.
  EXPECT_TRUE(std::isnan(fmod(f64({1}), 0.0).item<double>()));
  EXPECT_TRUE(std::isnan(remainder(f64({1}), 0.0).item<double>()));
}

TEST(MathEdge, RemainderGradientUsesTheQuotientThatMatchesTheValue) {
  // remainder(1, 0.1) is 0.0999...: the quotient is 9 (floor(1 / 0.1) would say 10).
  Tensor a = f64({1}).requires_grad_(true), b = f64({0.1}).requires_grad_(true);
  TensorList g = grad({sum(remainder(a, b))}, {a, b});
  EXPECT_EQ(g[0].item<double>(), 1.0);
  EXPECT_EQ(g[1].item<double>(), -9.0);
  // fmod's is trunc(a / b), PyTorch's choice: 10 here.
  g = grad({sum(fmod(a, b))}, {a, b});
  EXPECT_EQ(g[1].item<double>(), -10.0);
}

TEST(ActivationEdge, IntegerInputs) {
  Tensor x = i64({-3, 0, 2, 7});
  EXPECT_EQ(relu6(x).dtype(), DType::i64);
  EXPECT_EQ(relu6(x).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 2, 6}));
  EXPECT_EQ(hardtanh(x).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 1, 1}));
  EXPECT_EQ(threshold(x, 1, 5).to_vector<int64_t>(), (std::vector<int64_t>{5, 5, 2, 7}));
  EXPECT_EQ(threshold(x, 0.5, 9).to_vector<int64_t>(), (std::vector<int64_t>{9, 9, 2, 7}));     // x <= 0.5
  EXPECT_EQ(threshold(x, -0.5, 9).to_vector<int64_t>(), (std::vector<int64_t>{9, 0, 2, 7}));    // x <= -0.5
  EXPECT_EQ(threshold(x, 1e30, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 1}));    // all below
  EXPECT_EQ(threshold(x, -1e30, 1).to_vector<int64_t>(), (std::vector<int64_t>{-3, 0, 2, 7}));  // none
  Tensor u = from_vector<uint8_t>({0, 5}, {2});
  EXPECT_EQ(threshold(u, -1, 9).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 5}));  // no u8 is <= -1
  EXPECT_ERROR(threshold(u, 1, 300), "[threshold]", "300");
  // softsign and tanhshrink compute integers in f32, as PyTorch's compositions do.
  EXPECT_EQ(softsign(x).dtype(), DType::f32);
  EXPECT_EQ(softsign(x).to_vector<float>(), (std::vector<float>{-0.75f, 0.0f, 2.0f / 3, 0.875f}));
  EXPECT_EQ(tanhshrink(x).dtype(), DType::f32);
  for (auto* op : {+[](const Tensor& t) { return selu(t); }, +[](const Tensor& t) { return celu(t); },
                   +[](const Tensor& t) { return logsigmoid(t); }, +[](const Tensor& t) { return softshrink(t); },
                   +[](const Tensor& t) { return hardshrink(t); }, +[](const Tensor& t) { return glu(t); },
                   +[](const Tensor& t) { return softmin(t, 0); }}) {
    EXPECT_ERROR(op(x), "expected a floating tensor (f16, bf16, f32 or f64), got dtype i64 with shape [4]");
  }
}

TEST(ActivationEdge, BadArgumentsAreNamed) {
  Tensor x = f64({0.5, 2});
  EXPECT_ERROR(hardtanh(x, 2, 1), "[hardtanh] min_val 2 must not be greater than max_val 1", "[2]");
  EXPECT_ERROR(hardtanh(x, NAN, 1), "[hardtanh] min_val nan");
  EXPECT_EQ(hardtanh(x, 1, 1).to_vector<double>(), (std::vector<double>{1, 1}));  // equal bounds are allowed
  EXPECT_ERROR(celu(x, 0), "[celu] alpha cannot be 0");
  EXPECT_ERROR(softshrink(x, -0.5), "[softshrink] lambd must be greater or equal to 0, got -0.5");
  EXPECT_ERROR(glu(randn({2, 3})), "[glu] halving dimension must be even, but dimension 1 of input [2, 3] has size 3");
  EXPECT_ERROR(glu(randn({4, 3}), 2), "[glu] dimension 2 is out of range");
  EXPECT_ERROR(glu(scalar_tensor(1.0)), "[glu] expected a tensor with at least one dimension");
  EXPECT_ERROR(softmin(randn({2, 3}), -3), "[softmin] dimension -3 is out of range");
}

TEST(ActivationEdge, KinksInFloat32AsPyTorch) {
  // The gradient is 0 exactly at the bounds of hardtanh/relu6 and the shrinks, and at threshold.
  Tensor x = from_vector<float>({-1, 1, 0, 6, 0.5f, -0.5f}, {6}).requires_grad_(true);
  auto g_of = [&](const Tensor& y) { return grad({sum(y)}, {x})[0].to_vector<float>(); };
  EXPECT_EQ(g_of(hardtanh(x)), (std::vector<float>{0, 0, 1, 0, 1, 1}));
  EXPECT_EQ(g_of(relu6(x)), (std::vector<float>{0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(g_of(softshrink(x)), (std::vector<float>{1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(g_of(hardshrink(x)), (std::vector<float>{1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(g_of(threshold(x, 0.5, 7)), (std::vector<float>{0, 1, 0, 1, 0, 0}));
  // selu's slope at 0 is the left one, scale * alpha (PyTorch's elu_backward).
  Tensor z = from_vector<double>({0.0}, {1}).requires_grad_(true);
  EXPECT_DOUBLE_EQ(grad({sum(selu(z))}, {z})[0].item<double>(), 1.0507009873554804934 * 1.6732632423543772848);
}

TEST(ActivationEdge, GluHalvesAlongTheDim) {
  Tensor x = from_vector<double>({1, 2, 0, 100}, {1, 4});
  std::vector<double> y = glu(x).to_vector<double>();
  EXPECT_DOUBLE_EQ(y[0], 0.5);
  EXPECT_DOUBLE_EQ(y[1], 2.0);
  EXPECT_EQ(glu(x.reshape({4, 1}), 0).shape(), (Shape{2, 1}));
  EXPECT_EQ(glu(zeros({3, 0})).shape(), (Shape{3, 0}));
}

}  // namespace
