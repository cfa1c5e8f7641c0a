// Creation functions: values, shapes and dtypes (f32, f64, i64, u8), random statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

const DType kAllDtypes[] = {kF32, kF64, kI64, kU8};

std::vector<double> values(const Tensor& t) { return t.to_double_vector(); }

}  // namespace

TEST(Creation, ZerosOnesFullAllDtypes) {
  for (DType dt : kAllDtypes) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor z = zeros({2, 3}, {.dtype = dt});
    EXPECT_EQ(z.shape(), (Shape{2, 3}));
    EXPECT_EQ(z.dtype(), dt);
    EXPECT_TRUE(z.is_contiguous());
    EXPECT_EQ(z.strides(), (Shape{3, 1}));
    EXPECT_EQ(values(z), std::vector<double>(6, 0.0));
    EXPECT_EQ(values(ones({4}, {.dtype = dt})), std::vector<double>(4, 1.0));
    EXPECT_EQ(values(full({3, 1}, 7, {.dtype = dt})), std::vector<double>(3, 7.0));
    EXPECT_FALSE(z.requires_grad());
  }
  EXPECT_EQ(full({2}, 2.5, {.dtype = kF64}).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  // Integer dtypes truncate like a C++ conversion.
  EXPECT_EQ(full({1}, 200, {.dtype = kU8}).item<int>(), 200);
  EXPECT_EQ(full({1}, -3, {.dtype = kI64}).item<int64_t>(), -3);
}

TEST(Creation, ZeroSizedAndScalarShapes) {
  Tensor e = zeros({0, 4});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to_double_vector().empty());
  Tensor s = full({}, 3.0, {.dtype = kF64});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_DOUBLE_EQ(s.item(), 3.0);
  EXPECT_DOUBLE_EQ(scalar_tensor(-1.5, kF64).item(), -1.5);
}

TEST(Creation, LikeFunctionsKeepShapeAndDtype) {
  Tensor x = arange(0, 6, 1, kF64).reshape({2, 3});
  for (const Tensor& t : {zeros_like(x), ones_like(x), full_like(x, 4.0)}) {
    EXPECT_EQ(t.shape(), x.shape());
    EXPECT_EQ(t.dtype(), kF64);
    EXPECT_FALSE(t.shares_storage(x));
  }
  EXPECT_EQ(values(full_like(x, 4.0)), std::vector<double>(6, 4.0));
}

TEST(Creation, RequiresGradOption) {
  Tensor p = zeros({3}, {.dtype = kF64, .requires_grad = true});
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(p.is_leaf());
  EXPECT_ERROR(zeros({3}, {.dtype = kI64, .requires_grad = true}), "only floating tensors can require grad", "i64");
}

TEST(Creation, Arange) {
  Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), kI64);  // all-integer arguments give i64
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(2, 11, 3).to_vector<int64_t>(), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(arange(5, 0, -2).to_vector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
  Tensor f = arange(0, 1, 0.25);
  EXPECT_EQ(f.dtype(), kF32);  // a fractional step gives f32
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(arange(0, 3, 1, kF64).dtype(), kF64);
  EXPECT_EQ(arange(0, 3, 1, kU8).to_vector<int>(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(arange(3, 3).numel(), 0);
  EXPECT_ERROR(arange(0, 5, 0), "[arange]", "step must be non-zero");
  EXPECT_ERROR(arange(0, 5, -1), "[arange]", "points away from end");
}

TEST(Creation, Linspace) {
  Tensor l = linspace(0, 1, 5, {.dtype = kF64});
  EXPECT_EQ(l.to_vector<double>(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(linspace(-1, 1, 3).dtype(), kF32);
  EXPECT_EQ(linspace(2, 7, 1).to_vector<double>(), (std::vector<double>{2}));
  EXPECT_EQ(linspace(2, 7, 0).numel(), 0);
  EXPECT_EQ(linspace(0, 10, 6, {.dtype = kI64}).to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 4, 6, 8, 10}));
  EXPECT_ERROR(linspace(0, 1, -1), "[linspace]", "non-negative", "-1");
}

TEST(Creation, Eye) {
  for (DType dt : kAllDtypes) {
    Tensor e = eye(3, {.dtype = dt});
    EXPECT_EQ(e.shape(), (Shape{3, 3}));
    EXPECT_EQ(e.dtype(), dt);
    EXPECT_EQ(values(e), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  }
  EXPECT_ERROR(eye(-2), "[eye]", "-2");
}

TEST(Creation, FromVector) {
  Tensor f = from_vector<float>({1.5f, -2.f, 3.f, 4.f}, {2, 2});
  EXPECT_EQ(f.dtype(), kF32);
  EXPECT_EQ(f.shape(), (Shape{2, 2}));
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{1.5, -2, 3, 4}));
  EXPECT_EQ(from_vector<double>({0.1, 0.2}, {2}).dtype(), kF64);
  EXPECT_DOUBLE_EQ(from_vector<double>({0.1, 0.2}, {2}).to_vector<double>()[0], 0.1);
  EXPECT_EQ(from_vector<int64_t>({-5, 9}, {2}).to_vector<int64_t>(), (std::vector<int64_t>{-5, 9}));
  EXPECT_EQ(from_vector<uint8_t>({0, 255}, {1, 2}).to_vector<int>(), (std::vector<int>{0, 255}));
  // An explicit dtype converts.
  Tensor c = from_vector<int64_t>({1, 2, 3}, {3}, kF64);
  EXPECT_EQ(c.dtype(), kF64);
  EXPECT_EQ(c.to_vector<double>(), (std::vector<double>{1, 2, 3}));
  EXPECT_ERROR(from_vector<float>({1, 2, 3}, {2, 2}), "[from_vector]", "3 values", "[2, 2]", "4");
}

TEST(Creation, RandIsUniformInUnitInterval) {
  manual_seed(1);
  for (DType dt : {kF32, kF64}) {
    Tensor r = rand({100000}, {.dtype = dt});
    EXPECT_EQ(r.dtype(), dt);
    auto v = r.to_vector<double>();
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    EXPECT_GE(lo, 0.0);
    EXPECT_LT(hi, 1.0);
    EXPECT_LT(lo, 1e-3);
    EXPECT_GT(hi, 1 - 1e-3);
    // Mean 1/2 and variance 1/12; 5 sigma bounds for n = 1e5.
    EXPECT_NEAR(mean(r.to(kF64)).item(), 0.5, 5 * std::sqrt(1.0 / 12 / 1e5));
    EXPECT_NEAR(var(r.to(kF64)).item(), 1.0 / 12, 0.002);
    // Each tenth of [0, 1) gets about a tenth of the samples.
    std::vector<int> bins(10, 0);
    for (double x : v) bins[size_t(x * 10)]++;
    for (int b : bins) EXPECT_NEAR(b, 10000, 500);
  }
  EXPECT_ERROR(rand({2}, {.dtype = kI64}), "[rand]", "floating", "i64");
}

TEST(Creation, RandnHasZeroMeanUnitVariance) {
  manual_seed(2);
  for (DType dt : {kF32, kF64}) {
    Tensor r = randn({200000}, {.dtype = dt}).to(kF64);
    double n = 200000;
    EXPECT_NEAR(mean(r).item(), 0.0, 5 / std::sqrt(n));
    EXPECT_NEAR(var(r).item(), 1.0, 5 * std::sqrt(2 / n));
    // Third and fourth moments of N(0, 1): 0 and 3.
    EXPECT_NEAR(mean(r * r * r).item(), 0.0, 0.03);
    EXPECT_NEAR(mean(r * r * r * r).item(), 3.0, 0.06);
    // About 68.3% within one standard deviation.
    double inside = sum(lt(abs(r), ones({}, {.dtype = kF64})).to(kF64)).item() / n;
    EXPECT_NEAR(inside, 0.6827, 0.005);
  }
  EXPECT_ERROR(randn({2}, {.dtype = kU8}), "[randn]", "floating", "u8");
}

TEST(Creation, NormalAndUniformFills) {
  manual_seed(3);
  Tensor t = empty({50000}, {.dtype = kF64});
  normal_(t, 5.0, 2.0);
  EXPECT_NEAR(mean(t).item(), 5.0, 0.05);
  EXPECT_NEAR(nabla::std(t).item(), 2.0, 0.05);
  uniform_(t, -3.0, -1.0);
  auto v = t.to_vector<double>();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -3.0);
  EXPECT_LT(*std::max_element(v.begin(), v.end()), -1.0);
  EXPECT_NEAR(mean(t).item(), -2.0, 0.02);
  // A non-contiguous target is filled through the view.
  Tensor m = zeros({4, 6}, {.dtype = kF64});
  Tensor col = m.slice(1, 0, 6, 2);
  uniform_(col, 1.0, 2.0);
  auto mv = m.to_vector<double>();
  for (size_t i = 0; i < mv.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_GE(mv[i], 1.0);
    } else {
      EXPECT_EQ(mv[i], 0.0);
    }
  }
  Tensor it = zeros({2}, {.dtype = kI64});
  EXPECT_ERROR(normal_(it, 0, 1), "[normal_]", "floating");
  EXPECT_ERROR(normal_(t, 0, -1), "[normal_]", "std must be non-negative");
  EXPECT_ERROR(uniform_(t, 2, 1), "[uniform_]", "greater than high");
}

TEST(Creation, Randint) {
  manual_seed(4);
  Tensor r = randint(-3, 4, {10000});
  EXPECT_EQ(r.dtype(), kI64);
  EXPECT_EQ(r.shape(), (Shape{10000}));
  std::vector<int> counts(7, 0);
  for (int64_t v : r.to_vector<int64_t>()) {
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 4);
    counts[size_t(v + 3)]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000.0 / 7, 150);  // every value drawn, about equally often
  EXPECT_EQ(randint(5, 6, {3}).to_vector<int64_t>(), (std::vector<int64_t>{5, 5, 5}));
  EXPECT_ERROR(randint(3, 3, {2}), "[randint]", "low < high", "low 3", "high 3");
}

TEST(Creation, Randperm) {
  manual_seed(5);
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    Tensor p = randperm(n);
    EXPECT_EQ(p.dtype(), kI64);
    auto v = p.to_vector<int64_t>();
    ASSERT_EQ(int64_t(v.size()), n);
    std::sort(v.begin(), v.end());
    std::vector<int64_t> want(static_cast<size_t>(n), 0);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(v, want);
  }
  // Actually shuffled, and different draws differ.
  auto a = randperm(1000).to_vector<int64_t>(), b = randperm(1000).to_vector<int64_t>();
  int fixed = 0;
  for (size_t i = 0; i < a.size(); ++i) fixed += a[i] == int64_t(i);
  EXPECT_LT(fixed, 10);  // a random permutation has ~1 fixed point
  EXPECT_NE(a, b);
  EXPECT_ERROR(randperm(-1), "[randperm]", "non-negative");
}

TEST(Creation, NegativeShapeIsAnError) {
  EXPECT_ERROR(zeros({2, -1}), "negative dimension", "[2, -1]");
  // Counts that overflow are errors, not a wrapped numel with nothing allocated behind it.
  EXPECT_ERROR(zeros({int64_t(1) << 62, 4}), "[shape]", "more than 2^63 elements");
  EXPECT_ERROR(zeros({int64_t(1) << 32, int64_t(1) << 32}), "[shape]", "more than 2^63 elements");
  EXPECT_ERROR(zeros({int64_t(1) << 61}, {.dtype = kF64}), "[empty]", "more than 2^63 bytes");
  EXPECT_ERROR(arange(0, 1e30, 1), "[arange]", "more than a tensor can hold");
  EXPECT_ERROR(arange(0, 300, 1, kU8), "[arange]", "299", "overflow");
  EXPECT_ERROR(arange(0, 1e30, 1e29, kI64), "[arange]", "overflow");
}

// A fill value must fit an integer dtype (PyTorch: "cannot be converted ... without overflow");
// fractions truncate, as there.
TEST(Creation, FillValuesMustFitIntegerDtypes) {
  EXPECT_ERROR(full({2}, 300, {.dtype = kU8}), "[full]", "300", "u8", "overflow");
  EXPECT_ERROR(full({2}, -1, {.dtype = kU8}), "[full]", "overflow");
  EXPECT_ERROR(full({2}, std::nan(""), {.dtype = kI64}), "[full]", "nan", "overflow");
  EXPECT_ERROR(full({2}, 1e19, {.dtype = kI64}), "[full]", "overflow");
  EXPECT_ERROR(zeros({2}, {.dtype = kU8}).fill_(256), "[fill_]", "overflow");
  EXPECT_ERROR(full_like(zeros({1}, {.dtype = kI64}), INFINITY), "[full_like]", "overflow");
  EXPECT_EQ(full({2}, 2.5, {.dtype = kU8}).to_vector<int64_t>(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(full({1}, 255, {.dtype = kU8}).to_vector<int64_t>(), (std::vector<int64_t>{255}));
  EXPECT_EQ(full({1}, -9.2e18, {.dtype = kI64}).to_vector<int64_t>(), (std::vector<int64_t>{-9200000000000000000}));
}
