// Edge cases outside the op table: extreme logits, -inf in softmax, zero-size dimensions,
// long f32 reductions, integer inputs, the error messages users see, and checks that the
// gradcheck harness itself catches wrong gradients.
#include "common/expect_error.h"
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

Tensor t64(std::vector<double> v, Shape s, bool grad = false) {
  Tensor t = nb::from_vector(v, s);
  if (grad) t.requires_grad_();
  return t;
}

Tensor i64(std::vector<int64_t> v, Shape s) { return nb::from_vector(v, s); }

void expect_all_finite(const Tensor& t, const std::string& what) {
  ASSERT_TRUE(t.defined()) << what;
  for (double v : t.to_vector<double>()) EXPECT_TRUE(std::isfinite(v)) << what << " has " << v;
}

void expect_values(const Tensor& t, const std::vector<double>& want, double tol, const std::string& what) {
  auto got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << what << " element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << what << " element " << i;
    }
  }
}

// ---- extreme logits ------------------------------------------------------------------------

TEST(ExtremeLogits, LogSoftmaxStaysFiniteAndExact) {
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(nb::dtype_name(dt));
    Tensor x = t64({1e4, -1e4, 0, -1e4, -1e4, 1e4}, {2, 3}).to(dt).detach().requires_grad_();
    Tensor y = nb::log_softmax(x, 1);
    // Row 0: lse = 1e4 (+ e^-1e4 terms that vanish); row 1: lse = 1e4.
    expect_values(y, {0, -2e4, -1e4, -2e4, -2e4, 0}, 1e-7, "log_softmax");
    Tensor g = t64({1, 2, 3, -1, 0.5, 2}, {2, 3}).to(dt);
    y.backward(g);
    // d/dx = g - softmax * sum(g); softmax is one-hot on the 1e4 entries.
    expect_values(x.grad(), {1 - 6, 2, 3, -1, 0.5, 2 - 1.5}, 1e-6, "log_softmax grad");
    Tensor s = nb::softmax(x, 1);
    expect_values(s, {1, 0, 0, 0, 0, 1}, 1e-7, "softmax");
  }
}

TEST(ExtremeLogits, CrossEntropyStaysFiniteAndExact) {
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(nb::dtype_name(dt));
    Tensor x = t64({1e4, -1e4, 0, -1e4, -1e4, 1e4}, {2, 3}).to(dt).detach().requires_grad_();
    Tensor target = i64({1, 2}, {2});
    Tensor none = nb::cross_entropy(x, target, [] {
      nb::CrossEntropyOptions o;
      o.reduction = nb::Reduction::None;
      return o;
    }());
    expect_values(none, {2e4, 0}, 1e-7, "per-sample loss");
    Tensor loss = nb::cross_entropy(x, target);
    expect_values(loss, {1e4}, 1e-7, "mean loss");
    loss.backward();
    // (softmax - one_hot) / N
    expect_values(x.grad(), {0.5, -0.5, 0, 0, 0, 0}, 1e-7, "grad");

    // Label smoothing and probability targets with the same logits.
    nb::CrossEntropyOptions ls;
    ls.label_smoothing = 0.1;
    Tensor smooth = nb::cross_entropy(x.detach(), target, ls);
    // Sample 0: 0.9*2e4 + 0.1/3*(0 + 2e4 + 1e4); sample 1: 0.1/3*(2e4 + 2e4 + 0).
    double want = (0.9 * 2e4 + 0.1 / 3 * 3e4 + 0.1 / 3 * 4e4) / 2;
    expect_values(smooth, {want}, 1e-6, "smoothed loss");
    Tensor probs = t64({0.5, 0.5, 0, 0, 0, 1}, {2, 3}).to(dt);
    expect_values(nb::cross_entropy(x.detach(), probs), {(0.5 * 0 + 0.5 * 2e4) / 2}, 1e-7, "probability targets");
    Tensor bce = nb::binary_cross_entropy_with_logits(x.detach(), probs);
    expect_all_finite(bce, "bce");
  }
}

// ---- -inf in softmax -----------------------------------------------------------------------

TEST(MinusInfinity, SoftmaxRowWithMinusInf) {
  const double inf = INFINITY;
  Tensor x = t64({1, -inf, 2, 0, 0, -inf}, {2, 3}, true);
  Tensor y = nb::softmax(x, 1);
  double e = std::exp(-1.0);
  expect_values(y, {e / (1 + e), 0, 1 / (1 + e), 0.5, 0.5, 0}, 1e-12, "softmax");
  Tensor g = t64({1, 5, -1, 2, 1, 7}, {2, 3});
  y.backward(g);
  expect_all_finite(x.grad(), "softmax grad");
  // d/dx_i = y_i (g_i - sum_j y_j g_j); 0 where x = -inf.
  auto yv = y.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> want(6);
  for (int r = 0; r < 2; ++r) {
    double dot = 0;
    for (int j = 0; j < 3; ++j) dot += yv[size_t(3 * r + j)] * gv[size_t(3 * r + j)];
    for (int j = 0; j < 3; ++j) want[size_t(3 * r + j)] = yv[size_t(3 * r + j)] * (gv[size_t(3 * r + j)] - dot);
  }
  expect_values(x.grad(), want, 1e-12, "softmax grad");

  Tensor x2 = t64({1, -inf, 2}, {3}, true);
  Tensor ls = nb::log_softmax(x2, 0);
  double lse = std::log(std::exp(1.0) + std::exp(2.0));
  expect_values(ls, {1 - lse, -inf, 2 - lse}, 1e-12, "log_softmax");
  nb::sum(nb::where(nb::isfinite(ls), ls, nb::zeros_like(ls))).backward();
  expect_all_finite(x2.grad(), "log_softmax grad");

  // A row that is entirely -inf has log-sum-exp -inf (as in PyTorch).
  Tensor all = t64({-inf, -inf}, {1, 2});
  expect_values(nb::logsumexp(all, {1}), {-inf}, 0, "logsumexp of -inf row");
}

// ---- NaN propagation -----------------------------------------------------------------------

// relu keeps NaN (PyTorch does): `x > 0 ? x : 0` turned it into 0, which hid a NaN input (a
// checkpoint with std 0, a NaN bias) behind plausible-looking outputs. The fused paths (GEMM
// with bias and ReLU, convolution with ReLU) agree with the unfused op.
TEST(NanPropagation, ReluAndItsFusedFormsKeepNaN) {
  const double nan = std::nan("");
  for (nb::DType dt : {nb::kF32, nb::kF64}) {
    Tensor r = nb::relu(nb::from_vector<double>({nan, -1, 2}, {3}).to(dt));
    const auto v = r.to_vector<double>();
    EXPECT_TRUE(std::isnan(v[0])) << dt;
    EXPECT_EQ(v[1], 0.0);
    EXPECT_EQ(v[2], 2.0);
  }
  for (nb::DType dt : {nb::kF32, nb::kF64}) {
    Tensor x = nb::ones({4, 8}, {.dtype = dt});
    x.select(0, 1).fill_(nan);  // row 1 is NaN, the others not
    Tensor w = nb::full({16, 8}, -1.0, {.dtype = dt}), b = nb::zeros({16}, {.dtype = dt});
    const auto y = nb::linear_relu(x, w, b).to_vector<double>();
    for (int64_t i = 0; i < 4 * 16; ++i)
      EXPECT_EQ(std::isnan(y[size_t(i)]), i / 16 == 1) << dt << " linear_relu element " << i << " = " << y[size_t(i)];
    Tensor img = nb::ones({2, 3, 6, 6}, {.dtype = dt});
    img.select(0, 1).fill_(nan);
    Tensor k = nb::full({4, 3, 3, 3}, -1.0, {.dtype = dt});
    const auto c = nb::conv2d(img, k, nb::zeros({4}, {.dtype = dt}), {.fuse_relu = true}).to_vector<double>();
    const size_t per_image = c.size() / 2;
    for (size_t i = 0; i < c.size(); ++i)
      EXPECT_EQ(std::isnan(c[i]), i >= per_image) << dt << " conv2d+relu element " << i << " = " << c[i];
  }
}

// ---- zero-size dimensions ------------------------------------------------------------------

TEST(ZeroSize, Reductions) {
  Tensor x = nb::zeros({0, 3}, {.dtype = DType::f64, .requires_grad = true});
  Tensor s = nb::sum(x);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item<double>(), 0.0);
  s.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().shape(), (Shape{0, 3}));
  Tensor s0 = nb::sum(x, {0});
  EXPECT_EQ(s0.shape(), Shape{3});
  EXPECT_EQ(s0.to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(nb::sum(x, {1}).shape(), Shape{0});
  EXPECT_EQ(nb::sum(x, {1}, true).shape(), (Shape{0, 1}));
  // The mean of nothing is NaN (0/0), as in PyTorch and NumPy.
  for (double v : nb::mean(x, {0}).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(nb::max(x, {1}).shape(), Shape{0});
  EXPECT_NABLA_ERROR(nb::max(x, {0}), "[max]", "[0, 3]");
  EXPECT_NABLA_ERROR(nb::argmax(x), "[argmax]", "[0, 3]");
  EXPECT_EQ(nb::softmax(x, 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(nb::logsumexp(x, {1}).shape(), Shape{0});
  // Over the empty dim itself, as PyTorch: softmax is empty, logsumexp is log(0) = -inf (before:
  // "[max] ... empty"); the gradient is empty too.
  EXPECT_EQ(nb::softmax(x, 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(nb::log_softmax(x, 0).shape(), (Shape{0, 3}));
  Tensor lse = nb::logsumexp(x, {0});
  EXPECT_EQ(lse.to_vector<double>(), (std::vector<double>(3, -INFINITY)));
  Tensor x2 = nb::zeros({0, 3}, {.dtype = DType::f64, .requires_grad = true});
  nb::sum(nb::softmax(x2, 0)).backward();
  EXPECT_EQ(x2.grad().shape(), (Shape{0, 3}));
}

TEST(ZeroSize, MatmulWithEmptyInnerDimension) {
  Tensor a = nb::randn({2, 0}, {.dtype = DType::f64, .requires_grad = true});
  Tensor b = nb::randn({0, 3}, {.dtype = DType::f64, .requires_grad = true});
  Tensor c = nb::matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(c.to_vector<double>(), std::vector<double>(6, 0.0));
  nb::sum(c).backward();
  EXPECT_EQ(a.grad().shape(), (Shape{2, 0}));
  EXPECT_EQ(b.grad().shape(), (Shape{0, 3}));

  Tensor bc = nb::matmul(nb::ones({4, 2, 0}, {.dtype = DType::f64}), nb::ones({0, 5}, {.dtype = DType::f64}));
  EXPECT_EQ(bc.shape(), (Shape{4, 2, 5}));
  EXPECT_EQ(bc.to_vector<double>(), std::vector<double>(40, 0.0));
  EXPECT_EQ(nb::matmul(nb::ones({0, 3}), nb::ones({3, 2})).shape(), (Shape{0, 2}));
  EXPECT_EQ(nb::matmul(nb::ones({0}), nb::ones({0})).item<double>(), 0.0);
  Tensor lin = nb::linear(nb::ones({3, 0}), nb::ones({2, 0}), nb::from_vector(std::vector<float>{1, 2}, {2}));
  EXPECT_EQ(lin.to_vector<double>(), (std::vector<double>{1, 2, 1, 2, 1, 2}));
}

TEST(ZeroSize, CatWithEmptyParts) {
  Tensor a = t64({1, 2, 3, 4, 5, 6}, {2, 3}, true);
  Tensor e0 = nb::zeros({0, 3}, {.dtype = DType::f64, .requires_grad = true});
  Tensor r = nb::cat({e0, a, e0}, 0);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(r.to_vector<double>(), a.to_vector<double>());
  nb::sum(r * t64({1, 2, 3, 4, 5, 6}, {2, 3})).backward();
  expect_values(a.grad(), {1, 2, 3, 4, 5, 6}, 0, "cat grad");
  EXPECT_EQ(e0.grad().shape(), (Shape{0, 3}));

  Tensor e1 = nb::zeros({2, 0}, {.dtype = DType::f64});
  Tensor r1 = nb::cat({a.detach(), e1}, 1);
  EXPECT_EQ(r1.shape(), (Shape{2, 3}));
  EXPECT_EQ(r1.to_vector<double>(), a.to_vector<double>());
  EXPECT_EQ(nb::cat({e1, e1}, 1).shape(), (Shape{2, 0}));
  EXPECT_EQ(nb::stack({e1, e1}, 0).shape(), (Shape{2, 2, 0}));
  // A 1-D empty tensor is skipped whatever the others' rank, as PyTorch's legacy rule (before:
  // "ranks differ"); all of them empty give one.
  Tensor legacy = nb::zeros({0}, {.dtype = DType::f64});
  EXPECT_EQ(nb::cat({legacy, a.detach(), legacy}, 1).to_vector<double>(), a.to_vector<double>());
  EXPECT_EQ(nb::cat({legacy, legacy}, 0).shape(), Shape{0});
  EXPECT_NABLA_ERROR(nb::cat({nb::zeros({0, 3}), nb::zeros({2})}, 0), "[cat]", "ranks differ");
}

TEST(ZeroSize, ElementwiseAndLosses) {
  Tensor a = nb::ones({0, 1}), b = nb::ones({1, 3});
  EXPECT_EQ(nb::add(a, b).shape(), (Shape{0, 3}));
  EXPECT_EQ(nb::exp(nb::ones({2, 0})).shape(), (Shape{2, 0}));
  Tensor logits = nb::zeros({0, 4}, {.dtype = DType::f64, .requires_grad = true});
  nb::CrossEntropyOptions none;
  none.reduction = nb::Reduction::None;
  Tensor l = nb::cross_entropy(logits, nb::zeros({0}, {.dtype = DType::i64}), none);
  EXPECT_EQ(l.shape(), Shape{0});
  nb::CrossEntropyOptions sum;
  sum.reduction = nb::Reduction::Sum;
  EXPECT_EQ(nb::cross_entropy(logits, nb::zeros({0}, {.dtype = DType::i64}), sum).item<double>(), 0.0);
  // Every target ignored: the mean is 0 / 0 (NaN, as in PyTorch) and the gradient is zero.
  Tensor x = nb::ones({2, 3}, {.dtype = DType::f64, .requires_grad = true});
  Tensor all_ignored = nb::cross_entropy(x, nb::full({2}, -100, {.dtype = DType::i64}));
  EXPECT_TRUE(std::isnan(all_ignored.item<double>()));
  Tensor g2 = nb::grad({all_ignored}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  EXPECT_EQ(g2.to_vector(), std::vector<double>(6, 0.0)) << "the composed VJP (create_graph) too";
  all_ignored.backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(6, 0.0));
  EXPECT_EQ(nb::index_select(nb::ones({3, 2}), 0, nb::zeros({0}, {.dtype = DType::i64})).shape(), (Shape{0, 2}));
  EXPECT_EQ(nb::gather(nb::ones({3, 2}), 1, nb::zeros({3, 0}, {.dtype = DType::i64})).shape(), (Shape{3, 0}));
}

// ---- long f32 reductions -------------------------------------------------------------------

double f64_sum(const std::vector<double>& v) {
  // Pairwise-free but exact enough: f64 over 1e7 values of size ~1 is good to ~1e-9 relative.
  double s = 0;
  for (double x : v) s += x;
  return s;
}

TEST(LongReductions, F32SumsOfTenMillionMatchF64) {
  const int64_t n = 10'000'000;
  nb::manual_seed(2024);
  Tensor x = nb::rand({n}) * 2.0 + 0.25;  // positive, mean 1.25: no cancellation to hide behind
  ASSERT_EQ(x.dtype(), DType::f32);
  std::vector<double> v = x.to_vector<double>();
  const double exact = f64_sum(v);
  auto rel = [](double got, double want) { return std::abs(got - want) / std::abs(want); };

  EXPECT_LT(rel(nb::sum(x).item<double>(), exact), 1e-6) << "sum";
  EXPECT_LT(rel(nb::mean(x).item<double>(), exact / double(n)), 1e-6) << "mean";

  // Over a dimension (strided accumulation) and on a transposed view.
  Tensor m = x.reshape({2500, 4000});
  std::vector<double> cols(4000, 0.0), rows(2500, 0.0);
  for (int64_t i = 0; i < 2500; ++i)
    for (int64_t j = 0; j < 4000; ++j) {
      cols[size_t(j)] += v[size_t(i * 4000 + j)];
      rows[size_t(i)] += v[size_t(i * 4000 + j)];
    }
  auto c = nb::sum(m, {0}).to_vector<double>();
  double worst = 0;
  for (size_t j = 0; j < cols.size(); ++j) worst = std::max(worst, rel(c[j], cols[j]));
  EXPECT_LT(worst, 1e-6) << "sum over dim 0";
  auto r = nb::sum(m, {1}).to_vector<double>();
  worst = 0;
  for (size_t i = 0; i < rows.size(); ++i) worst = std::max(worst, rel(r[i], rows[i]));
  EXPECT_LT(worst, 1e-6) << "sum over dim 1";
  EXPECT_LT(rel(nb::sum(m.t()).item<double>(), exact), 1e-6) << "sum of a transposed view";
  EXPECT_LT(rel(nb::sum(m.t(), {0}).to_vector<double>()[7], rows[7]), 1e-6) << "sum over dim of transposed view";

  // Variance: centered second moment, also in f64.
  double mu = exact / double(n), ss = 0;
  for (double e : v) ss += (e - mu) * (e - mu);
  EXPECT_LT(rel(nb::var(x).item<double>(), ss / double(n - 1)), 1e-6) << "var";
}

// ---- integer inputs ------------------------------------------------------------------------

TEST(IntegerInputs, PromoteLikePyTorch) {
  Tensor a = i64({1, 2, 3}, {3}), b = i64({2, 2, 2}, {3});
  Tensor q = nb::div(a, b);
  EXPECT_EQ(q.dtype(), DType::f32);
  expect_values(q, {0.5, 1, 1.5}, 0, "true division");
  EXPECT_EQ(nb::add(a, b).dtype(), DType::i64);
  EXPECT_EQ(nb::exp(a).dtype(), DType::f32);
  Tensor s = nb::sum(nb::from_vector(std::vector<uint8_t>{200, 100, 50}, {3}));
  EXPECT_EQ(s.dtype(), DType::i64);
  EXPECT_EQ(s.item<int64_t>(), 350);
  Tensor mixed = nb::mul(a, nb::from_vector(std::vector<double>{0.5, 0.5, 0.5}, {3}));
  EXPECT_EQ(mixed.dtype(), DType::f64);
  expect_values(mixed, {0.5, 1, 1.5}, 0, "i64 * f64");
}

// C++ cannot tell x < 2 from x < 2.5: an integer tensor compares exactly with any scalar (before,
// 2.5 became 2 and [2] < 2.5 was false; 1e30 into i64 was undefined).
TEST(IntegerInputs, ScalarComparisonsAreExact) {
  Tensor a = i64({1, 2, 3}, {3});
  auto bools = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  EXPECT_EQ(bools(a < 2.5), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(bools(a > 2.5), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(bools(a < 2.0), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(bools(a < 1e30), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bools(a > -1e30), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bools(a < std::nan("")), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(bools(a > -INFINITY), (std::vector<int64_t>{1, 1, 1}));
  Tensor u = nb::from_vector(std::vector<uint8_t>{0, 200, 255}, {3});
  EXPECT_EQ(bools(u < 300), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bools(u > -1), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bools(u > 199.5), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(bools(u < 199.5), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(bools(u < -0.5), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(bools(u > 254.5), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(bools(u < INFINITY), (std::vector<int64_t>{1, 1, 1}));
  // The ends of i64, where an f64 comparison would be wrong (INT64_MAX rounds to 2^63).
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  Tensor ends = i64({min, -1, max}, {3});
  EXPECT_EQ(bools(ends < 0x1p63), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(bools(ends > 0x1p63), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(bools(ends > -0x1p63), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(bools(ends < -0x1p63), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(bools(ends > 9.2233720368547748e18), (std::vector<int64_t>{0, 0, 1}));  // 2^63 - 1024
  // Beyond 2^53, whole scalars stay exact in i64: 2^60 + 1 > 2^60 even though f64 cannot tell them apart.
  Tensor big = i64({(int64_t(1) << 60) + 1}, {1});
  EXPECT_EQ(bools(big > double(int64_t(1) << 60)), (std::vector<int64_t>{1}));
}

// clamp of an integer tensor is exact in its dtype: before, an absent bound (+-inf) converted to
// INT64_MIN, and u8 clamped to [-5, 300] gave 251.
TEST(IntegerInputs, ClampIsExactInTheDtype) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  Tensor a = i64({min, 1, 2, 3, max}, {5});
  auto ints = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  EXPECT_EQ(nb::clamp(a, 2.0, std::nullopt).dtype(), DType::i64);
  EXPECT_EQ(ints(nb::clamp(a, 2.0, std::nullopt)), (std::vector<int64_t>{2, 2, 2, 3, max}));
  EXPECT_EQ(ints(nb::clamp(a, std::nullopt, 2.0)), (std::vector<int64_t>{min, 1, 2, 2, 2}));
  EXPECT_EQ(ints(nb::clamp(a, 1.0, 2.0)), (std::vector<int64_t>{1, 1, 2, 2, 2}));
  EXPECT_EQ(ints(nb::clamp(a, -1e30, 1e30)), (std::vector<int64_t>{min, 1, 2, 3, max}));
  Tensor same = nb::clamp(a, std::nullopt, std::nullopt);
  EXPECT_EQ(ints(same), ints(a));
  EXPECT_NE(same.raw_data(), a.raw_data()) << "a new tensor, as PyTorch's clamp";
  Tensor u = nb::from_vector(std::vector<uint8_t>{1, 200}, {2});
  EXPECT_EQ(u.dtype(), DType::u8);
  EXPECT_EQ(ints(nb::clamp(u, -5.0, 300.0)), (std::vector<int64_t>{1, 200}));
  EXPECT_EQ(ints(nb::clamp(u, 5.0, 100.0)), (std::vector<int64_t>{5, 100}));
  // A fractional bound makes the result f32, as a float scalar does in PyTorch.
  Tensor f = nb::clamp(i64({1, 2, 3}, {3}), 1.5, 2.5);
  EXPECT_EQ(f.dtype(), DType::f32);
  expect_values(f, {1.5, 2, 2.5}, 0, "clamp(i64, 1.5, 2.5)");
  EXPECT_ERROR(nb::clamp(u, 300.0, 400.0), "[clamp]", "min 300", "u8");
  EXPECT_ERROR(nb::clamp(u, std::nullopt, -1.0), "[clamp]", "max -1", "u8");
  EXPECT_ERROR(nb::clamp(a, std::nan(""), 1.0), "[clamp]", "NaN", "i64");
}

TEST(IntegerInputs, ScalarArithmeticKeepsWholeNumbersAndRefusesOverflow) {
  Tensor a = i64({1, 2, 3}, {3});
  EXPECT_EQ((a + 2.0).dtype(), DType::i64);
  EXPECT_EQ((a * 2.5).dtype(), DType::f32);
  expect_values(a * 2.5, {2.5, 5, 7.5}, 0, "i64 * 2.5");
  EXPECT_EQ((a + INFINITY).dtype(), DType::f32);  // was an overflow error: inf is not a whole number
  Tensor u = nb::from_vector(std::vector<uint8_t>{1}, {1});
  EXPECT_ERROR(u + 300, "[add]", "300", "u8", "overflow");
  EXPECT_ERROR(u - 300, "[sub]", "300", "u8", "overflow");
  EXPECT_EQ((a - 1.0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ((a - 0.5).dtype(), DType::f32);
  EXPECT_ERROR(a * 1e30, "[mul]", "overflow");
}

// In-place subtraction of an integer tensor, and u8 with negative whole scalars, wrap as in
// PyTorch (u8.sub_(u8) threw "[mul] value -1 cannot be converted", and f32.sub_(u8) with it).
TEST(IntegerInputs, SubtractionInPlaceAndNegativeU8Scalars) {
  auto u8 = [](std::vector<uint8_t> v) { return nb::from_vector(v, {int64_t(v.size())}); };
  auto ints = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  Tensor a = u8({5, 3});
  a.sub_(u8({3, 5}));
  EXPECT_EQ(ints(a), (std::vector<int64_t>{2, 254}));
  Tensor f = nb::from_vector(std::vector<float>{10, 10}, {2});
  f.sub_(u8({3, 250}));
  expect_values(f, {7, -240}, 0, "f32.sub_(u8) subtracts in f32");
  Tensor l = i64({10, 10}, {2});
  l.sub_(u8({3, 250}));
  EXPECT_EQ(ints(l), (std::vector<int64_t>{7, -240}));
  EXPECT_EQ(ints(u8({5, 0}) + (-1.0)), (std::vector<int64_t>{4, 255}));
  EXPECT_EQ(ints(u8({5, 1}) * (-1.0)), (std::vector<int64_t>{251, 255}));
  EXPECT_EQ(ints(u8({5, 1}) - 255.0), (std::vector<int64_t>{6, 2}));
  EXPECT_ERROR(u8({1}) + (-256.0), "[add]", "-256", "u8");
  EXPECT_ERROR(l.add_(nb::from_vector(std::vector<float>{1, 1}, {2}), 1.0), "[add_]", "dtype f32", "dtype i64");
  EXPECT_ERROR(l.add_(l, 0.5), "[add_]", "alpha 0.5");
}

// Division is a true division (multiplying by 1/b was an ulp off), and an integer operand takes
// the other operand's floating dtype (i64 / f64 went through f32).
TEST(IntegerInputs, DivisionIsExact) {
  EXPECT_EQ(nb::mean(nb::ones({49}, {.dtype = DType::f64})).item<double>(), 1.0);
  EXPECT_EQ(nb::mean(nb::full({3, 7}, 0.7, {.dtype = DType::f64})).item<double>(), 0.7);
  EXPECT_EQ((i64({41}, {1}) / 41.0).item<double>(), 1.0);
  EXPECT_EQ((nb::full({2}, 0.3, {.dtype = DType::f64}) / 3.0).to_vector<double>()[0], 0.3 / 3.0);
  Tensor big = i64({16777217}, {1}), one = nb::from_vector(std::vector<double>{1.0}, {1});
  Tensor q = nb::div(big, one);
  EXPECT_EQ(q.dtype(), DType::f64);
  EXPECT_EQ(q.item<double>(), 16777217.0);
  EXPECT_EQ(nb::pow(big, one).item<double>(), 16777217.0);
  EXPECT_EQ(nb::div(i64({7}, {1}), i64({2}, {1})).dtype(), DType::f32);
  // scalar / tensor too: every quotient is the correctly rounded one.
  std::vector<double> den;
  for (int i = 1; i <= 60; ++i) den.push_back(i * 0.37);
  const Tensor d = nb::from_vector(den, {60});
  for (double num : {0.7, 1.0, 3.0, -2.9}) {
    const std::vector<double> q = (num / d).to_vector<double>();
    for (size_t i = 0; i < den.size(); ++i) ASSERT_EQ(q[i], num / den[i]) << num << " / " << den[i];
  }
  EXPECT_EQ((2.0 / i64({4}, {1})).dtype(), DType::f32);
}

// Integers beyond 2^53, where a double in between would round: arange, topk and allclose.
TEST(IntegerInputs, ExactBeyondTwoToThe53) {
  const int64_t b = int64_t(1) << 53;
  EXPECT_EQ(nb::arange(double(b), double(b) + 4).to_vector<int64_t>(), (std::vector<int64_t>{b, b + 1, b + 2, b + 3}));
  EXPECT_EQ(nb::arange(double(b) + 6, double(b), -2).to_vector<int64_t>(), (std::vector<int64_t>{b + 6, b + 4, b + 2}));
  auto [values, indices] = nb::topk(i64({b, b + 1, b - 1}, {3}), 2);
  EXPECT_EQ(values.to_vector<int64_t>(), (std::vector<int64_t>{b + 1, b}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_FALSE(nb::allclose(i64({b}, {1}), i64({b + 1}, {1}), 0, 0));
  EXPECT_TRUE(nb::allclose(i64({b}, {1}), i64({b}, {1}), 0, 0));
  Tensor inf = nb::from_vector(std::vector<double>{INFINITY, -INFINITY, 1.0}, {3});
  EXPECT_TRUE(nb::allclose(inf, inf));  // equal infinities are close, as in PyTorch
  EXPECT_FALSE(nb::allclose(nb::scalar_tensor(NAN, DType::f64), nb::scalar_tensor(NAN, DType::f64)));
  EXPECT_ERROR(nb::linspace(-10, 300, 5, {.dtype = DType::u8}), "[linspace]", "-10", "u8");
  EXPECT_ERROR(nb::linspace(0, NAN, 5, {.dtype = DType::i64}), "[linspace]", "nan");
  EXPECT_EQ(nb::linspace(0, 250, 3, {.dtype = DType::u8}).to_vector<int64_t>(), (std::vector<int64_t>{0, 125, 250}));
}

// i64 arithmetic wraps modulo 2^64 as PyTorch's does (signed overflow was undefined behaviour in
// the kernels; the sanitizer preset aborts on it).
TEST(IntegerInputs, OverflowWraps) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  auto ints = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  Tensor top = i64({max, min}, {2});
  EXPECT_EQ(ints(top + 1.0), (std::vector<int64_t>{min, min + 1}));
  EXPECT_EQ(ints(nb::add(top, i64({1, -1}, {2}))), (std::vector<int64_t>{min, max}));
  EXPECT_EQ(ints(nb::sub(top, i64({-1, 1}, {2}))), (std::vector<int64_t>{min, max}));
  EXPECT_EQ(ints(nb::mul(top, i64({2, 2}, {2}))), (std::vector<int64_t>{-2, 0}));
  EXPECT_EQ(ints(top * 2.0), (std::vector<int64_t>{-2, 0}));
  EXPECT_EQ(ints(-top), (std::vector<int64_t>{min + 1, min}));
  EXPECT_EQ(ints(nb::abs(top)), (std::vector<int64_t>{max, min}));
  EXPECT_EQ(nb::sum(i64({max, 1}, {2})).item<int64_t>(), min);
  EXPECT_EQ(nb::sum(nb::full({64}, double(int64_t(1) << 58), {.dtype = DType::i64})).item<int64_t>(), 0);  // 2^64
  EXPECT_EQ(nb::sum(i64({max, max, 2}, {3, 1}), {0}).item<int64_t>(), 0);  // the strided path
  Tensor r = nb::randint(min, max, {1000});
  EXPECT_EQ(r.dtype(), DType::i64);
  EXPECT_LT(nb::max(r).item<int64_t>(), max);
}

// pow of integers stays integer (exact, wrapping like products), as PyTorch's; a whole scalar
// exponent keeps the dtype as for add and mul. Before, pow(i64, i64) was f32 and pow(i64, 3.0)
// f32 while pow(i64, 2.0) was i64.
TEST(IntegerInputs, PowKeepsIntegers) {
  auto ints = [](const Tensor& t) { return t.to_vector<int64_t>(); };
  Tensor x = i64({2, 3, -2}, {3});
  EXPECT_EQ(nb::pow(x, 3.0).dtype(), DType::i64);
  EXPECT_EQ(ints(nb::pow(x, 3.0)), (std::vector<int64_t>{8, 27, -8}));
  EXPECT_EQ(ints(nb::pow(x, 0.0)), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(ints(nb::pow(i64({3, 2, 7}, {3}), i64({39, 64, 0}, {3}))),
            (std::vector<int64_t>{4052555153018976267, 0, 1}));  // 3^39 exact; 2^64 wraps to 0
  Tensor u = nb::from_vector(std::vector<uint8_t>{2, 3}, {2});
  EXPECT_EQ(nb::pow(u, 5.0).dtype(), DType::u8);
  EXPECT_EQ(ints(nb::pow(u, 5.0)), (std::vector<int64_t>{32, 243}));
  EXPECT_EQ(ints(nb::pow(u, 8.0)), (std::vector<int64_t>{0, 161}));  // modulo 256
  EXPECT_EQ(nb::pow(x, 0.5).dtype(), DType::f32);
  EXPECT_EQ(nb::pow(x, nb::from_vector(std::vector<double>{2}, {1})).dtype(), DType::f64);
  EXPECT_ERROR(nb::pow(x, -1.0), "[pow]", "negative integer powers", "-1");
  EXPECT_ERROR(nb::pow(x, i64({1, -2, 1}, {3})), "[pow]", "negative integer powers");
}

// Floating -> integer conversion is defined for every value (C++ leaves NaN and out-of-range
// undefined): truncation, and x86-64's "integer indefinite" otherwise, on both backends
// (kernels/wrapping.h x86_cast), which is what PyTorch gives on x86.
TEST(IntegerInputs, FloatToIntegerConversionIsDefined) {
  const int64_t min = std::numeric_limits<int64_t>::min();
  Tensor f = nb::from_vector(std::vector<double>{NAN, INFINITY, -INFINITY, 1e30, -2.7, 2.7}, {6});
  EXPECT_EQ(f.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{min, min, min, min, -2, 2}));
  Tensor g = nb::from_vector(std::vector<float>{-1.0f, 300.0f, NAN, -2.5f, 255.9f}, {5});
  EXPECT_EQ(g.to(DType::u8).to_vector<int64_t>(), (std::vector<int64_t>{255, 44, 0, 254, 255}));
}

// Integer matrices multiply on the CPU as in PyTorch (before: refused), exactly and wrapping in
// the dtype; compared with a plain C++ triple loop in uint64 (the same residues).
TEST(IntegerInputs, MatmulIsExactAndWraps) {
  const int64_t m = 5, k = 7, n = 3;
  std::vector<int64_t> av(m * k), bv(k * n);
  for (size_t i = 0; i < av.size(); ++i) av[i] = int64_t(i * 2654435761u % 2001) - 1000;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = int64_t(i * 40503u % 301) - 150;
  av[3] = int64_t(1) << 60;  // its products pass 2^63: they must wrap, not saturate or go through a double
  const std::vector<int64_t> want = [&] {
    std::vector<int64_t> c(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        uint64_t acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += uint64_t(av[size_t(i * k + p)]) * uint64_t(bv[size_t(p * n + j)]);
        c[size_t(i * n + j)] = int64_t(acc);
      }
    return c;
  }();
  Tensor a = i64(av, {m, k}), b = i64(bv, {k, n});
  Tensor c = nb::matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::i64);
  EXPECT_EQ(c.to_vector<int64_t>(), want);
  // A transposed view (column-major to GEMM) and a broadcast batch give the same products.
  Tensor at = i64(av, {m, k}).t().contiguous().t();
  EXPECT_EQ(nb::matmul(at, b).to_vector<int64_t>(), want);
  Tensor batched = nb::matmul(nb::stack({a, a}), b);
  EXPECT_EQ(batched.shape(), (Shape{2, m, n}));
  EXPECT_EQ(batched.select(0, 1).to_vector<int64_t>(), want);
  EXPECT_EQ(nb::matmul(i64({1, 2, 3}, {3}), i64({4, 5, 6}, {3})).item<int64_t>(), 32);
  // u8 wraps modulo 256: 200 * 2 + 100 * 3 = 700 = 188 (mod 256), as torch.uint8 gives.
  Tensor u = nb::matmul(nb::from_vector(std::vector<uint8_t>{200, 100}, {1, 2}),
                        nb::from_vector(std::vector<uint8_t>{2, 3}, {2, 1}));
  EXPECT_EQ(u.dtype(), DType::u8);
  EXPECT_EQ(u.item<int64_t>(), 188);
  // An integer and a floating operand promote, as elsewhere.
  Tensor mixed = nb::matmul(i64({1, 2}, {1, 2}), nb::from_vector(std::vector<double>{0.5, 0.25}, {2, 1}));
  EXPECT_EQ(mixed.dtype(), DType::f64);
  EXPECT_EQ(mixed.item<double>(), 1.0);
}

// d/dx x^0 is 0 everywhere, as PyTorch masks it; before, 0 * x^-1 made it NaN at x = 0, for a
// scalar and for a tensor exponent alike.
TEST(SingularPoints, PowWithExponentZeroHasZeroGradient) {
  Tensor x = t64({0.0, 2.0}, {2}, true);
  Tensor y = nb::pow(x, 0.0) + nb::pow(x, 1.0) + nb::pow(x, 2.0);
  nb::sum(y).backward();
  expect_values(x.grad(), {1, 5}, 0, "d/dx (x^0 + x + x^2)");
  Tensor x2 = t64({0.0, 2.0}, {2}, true);
  Tensor p = t64({0.0, 0.0}, {2}, true);
  nb::sum(nb::pow(x2, p)).backward();
  expect_values(x2.grad(), {0, 0}, 0, "d/dx x^p at p = 0");
  expect_values(p.grad(), {0, std::log(2.0)}, 1e-15, "d/dp x^p at p = 0");
}

// ---- PyTorch's results at NaN, infinity, zero deviation and overlaps (helper-34 compared them
// with LibTorch 1.13; each case below differed before) ----------------------------------------

TEST(PyTorchEdgeSemantics, StdOfAConstantRowHasZeroGradient) {
  Tensor x = t64({1, 1, 1, 1, 2, 4}, {2, 3}, true);
  nb::sum(nb::std(x, {1})).backward();
  // Row 1: d std / dx = (x - mean) / ((n - 1) std), mean 7/3, std sqrt(7/3).
  const double sd = std::sqrt(7.0 / 3.0);
  expect_values(x.grad(), {0, 0, 0, (1 - 7.0 / 3) / (2 * sd), (2 - 7.0 / 3) / (2 * sd), (4 - 7.0 / 3) / (2 * sd)},
                1e-12, "std grad");
  expect_values(nb::std(x.detach(), {1}), {0, sd}, 1e-15, "std value");
  Tensor one = t64({3}, {1}, true);
  nb::std(one, {0}, false, 0).backward();
  expect_values(one.grad(), {0}, 0, "std of one element, correction 0");
}

TEST(PyTorchEdgeSemantics, CopyFromAnOverlappingViewReadsTheOldValues) {
  Tensor y = nb::arange(0, 9).to(nb::kF64).reshape({3, 3});
  y.copy_(y.t());
  expect_values(y, {0, 3, 6, 1, 4, 7, 2, 5, 8}, 0, "y.copy_(y.t())");
  Tensor z = nb::arange(0, 5).to(nb::kF64);
  z.slice(0, 1, 5).copy_(z.slice(0, 0, 4));
  expect_values(z, {0, 0, 1, 2, 3}, 0, "z[1:].copy_(z[:-1])");
  z.copy_(z);  // the same memory: nothing to do
  expect_values(z, {0, 0, 1, 2, 3}, 0, "z.copy_(z)");
}

TEST(PyTorchEdgeSemantics, InfinitiesAreOnlyCloseToThemselves) {
  const double inf = INFINITY;
  EXPECT_FALSE(nb::allclose(t64({1}, {1}), t64({inf}, {1})));
  EXPECT_FALSE(nb::allclose(t64({inf}, {1}), t64({-inf}, {1})));
  EXPECT_FALSE(nb::allclose(t64({1e300}, {1}), t64({inf}, {1})));
  EXPECT_TRUE(nb::allclose(t64({inf, -inf, 1}, {3}), t64({inf, -inf, 1 + 1e-9}, {3})));
}

TEST(PyTorchEdgeSemantics, FractionMinusAnIntegerTensorIsFloating) {
  Tensor u = nb::from_vector<double>({0, 3, 200}, {3}).to(nb::DType::u8);
  Tensor r = 2.5 - u;
  EXPECT_EQ(r.dtype(), nb::kF32);
  expect_values(r, {2.5, -0.5, -197.5}, 0, "2.5 - u8");
  Tensor w = 2.0 - u;  // a whole scalar keeps u8 and wraps, as PyTorch
  EXPECT_EQ(w.dtype(), nb::DType::u8);
  expect_values(w, {2, 255, 58}, 0, "2 - u8");
}

TEST(PyTorchEdgeSemantics, ClampBoundsAndNaN) {
  const double nan = std::nan("");
  Tensor x = t64({-2, 0.5, 3, nan}, {4}, true);
  Tensor c = nb::clamp(x, 1.0, 0.0);  // min > max: max everywhere (NaN stays NaN)
  const auto cv = c.to_vector<double>();
  EXPECT_EQ(cv[0], 0.0);
  EXPECT_EQ(cv[1], 0.0);
  EXPECT_EQ(cv[2], 0.0);
  EXPECT_TRUE(std::isnan(cv[3]));
  nb::sum(c * t64({1, 1, 1, 0}, {4})).backward();
  expect_values(x.grad(), {0, 0, 0, 0}, 0, "clamp grad with min > max");
  x.set_grad(Tensor());
  nb::sum(nb::clamp(x, -1.0, 1.0)).backward();
  const auto g = x.grad().to_vector<double>();
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 1.0);
  EXPECT_EQ(g[2], 0.0);
  EXPECT_EQ(g[3], 0.0);  // no gradient at a NaN input
  for (double v : nb::clamp(x.detach(), nan, 1.0).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
}

TEST(PyTorchEdgeSemantics, NaNInputsPassTheGradientLikePyTorch) {
  const double nan = std::nan("");
  Tensor a = t64({nan, 1}, {2}, true), b = t64({0, nan}, {2}, true);
  nb::sum(nb::maximum(a, b) * t64({1, 0}, {2})).backward();
  expect_values(a.grad(), {1, 0}, 0, "maximum: the NaN side");
  expect_values(b.grad(), {1, 0}, 0, "maximum: the other side, as PyTorch");
  for (nb::DType dt : {nb::kF32, nb::kF64}) {
    Tensor x = nb::from_vector<double>({nan, -1, 2}, {3}).to(dt);
    Tensor r = x.detach().requires_grad_();
    nb::relu(r).backward(nb::ones({3}, {.dtype = dt}));
    expect_values(r.grad(), {1, 0, 1}, 0, "relu grad, NaN input");
    Tensor e = x.detach().requires_grad_();
    nb::elu(e).backward(nb::ones({3}, {.dtype = dt}));
    expect_values(e.grad(), {1, std::exp(-1.0), 1}, 1e-6, "elu grad, NaN input");
  }
}

TEST(PyTorchEdgeSemantics, PowExponentGradientAtAZeroBase) {
  Tensor x = t64({0, 0}, {2}, true);
  Tensor y = t64({2, -1}, {2}, true);
  nb::sum(nb::pow(x, y)).backward();
  const auto g = y.grad().to_vector<double>();
  EXPECT_EQ(g[0], 0.0);                         // the limit, for y >= 0
  EXPECT_TRUE(std::isinf(g[1]) || std::isnan(g[1]));  // inf * log 0 for y < 0, as PyTorch (not 0)
}

TEST(PyTorchEdgeSemantics, GatherAndScatterAddTakeTheLeadingPart) {
  Tensor x = t64({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4}, true);
  Tensor g = nb::gather(x, 1, i64({3, 0, 1, 1}, {2, 2}));  // index smaller than x in dim 0
  expect_values(g, {3, 0, 5, 5}, 0, "gather, smaller index");
  nb::sum(g).backward();
  expect_values(x.grad(), {1, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0}, 0, "gather grad");
  Tensor s0 = t64({7}, {}, true);
  Tensor g0 = nb::gather(s0, 0, i64({0}, {}));
  EXPECT_EQ(g0.dim(), 0);
  g0.backward();
  expect_values(s0.grad(), {1}, 0, "0-d gather grad");
  Tensor src = t64({1, 2, 3, 4, 5, 6}, {2, 3}, true);
  Tensor out = nb::scatter_add(nb::zeros({1, 3}, {.dtype = nb::kF64}), 1, i64({2, 0}, {1, 2}), src);  // src larger
  expect_values(out, {2, 0, 1}, 0, "scatter_add, larger src");
  nb::sum(out * t64({1, 2, 3}, {1, 3})).backward();
  expect_values(src.grad(), {3, 1, 0, 0, 0, 0}, 0, "scatter_add src grad");
  Tensor src2 = t64({1, 2}, {1, 2}, true);  // an index smaller than x outside dim (1 of 2 rows)
  Tensor out2 = nb::scatter_add(t64({10, 10, 10, 10, 10, 10}, {2, 3}), 1, i64({2, 2}, {1, 2}), src2);
  expect_values(out2, {10, 10, 13, 10, 10, 10}, 0, "scatter_add, smaller index");
  nb::sum(out2 * t64({1, 2, 3, 4, 5, 6}, {2, 3})).backward();
  expect_values(src2.grad(), {3, 3}, 0, "scatter_add src grad, smaller index");
}

TEST(PyTorchEdgeSemantics, ArgmaxOverANonEmptyDimOfAnEmptyTensor) {
  Tensor e = nb::zeros({0, 3});
  EXPECT_EQ(nb::argmax(e, 1).shape(), (Shape{0}));
  EXPECT_EQ(nb::argmin(e, 1, true).shape(), (Shape{0, 1}));
  EXPECT_NABLA_ERROR(nb::argmax(e, 0), "[argmax]", "empty");
  EXPECT_NABLA_ERROR(nb::argmax(e), "[argmax]", "empty");
}

TEST(PyTorchEdgeSemantics, AllTargetsIgnoredGiveANaNLossButZeroGradients) {
  Tensor target = i64({-100, -100}, {2});
  Tensor logits = t64({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {2, 3}, true);
  Tensor weight = t64({1, 2, 3}, {3});
  Tensor ce = nb::cross_entropy(logits, target, {.weight = weight});
  EXPECT_TRUE(std::isnan(ce.item()));
  ce.backward();
  expect_values(logits.grad(), {0, 0, 0, 0, 0, 0}, 0, "weighted cross_entropy grad");
  Tensor lp = t64({-1, -2, -3, -1, -2, -3}, {2, 3}, true);
  Tensor nll = nb::nll_loss(lp, target);
  EXPECT_TRUE(std::isnan(nll.item()));
  nll.backward();
  expect_values(lp.grad(), {0, 0, 0, 0, 0, 0}, 0, "nll_loss grad");
  // One kept target: the usual weighted mean.
  Tensor lp2 = t64({-1, -2, -3, -1, -2, -3}, {2, 3}, true);
  Tensor kept = nb::nll_loss(lp2, i64({2, -100}, {2}), {.weight = weight});
  EXPECT_DOUBLE_EQ(kept.item(), 3.0);
  kept.backward();
  expect_values(lp2.grad(), {0, 0, -1, 0, 0, 0}, 1e-15, "nll_loss grad, one kept");
}

TEST(PyTorchEdgeSemantics, NearestInterpolationPicksPyTorchsSourcePixel) {
  // Sizes where double arithmetic picked another pixel than PyTorch's float nearest_idx.
  const std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> cases = {
      {2, 94, 47, 0}, {2, 98, 49, 1}, {2, 82, 41, 0}, {3, 123, 41, 0}, {4, 82, 41, 1}, {3, 6, 5, 2}, {5, 5, 4, 4}};
  for (const auto& [in, out, at, source] : cases) {
    Tensor x = nb::arange(0, in).to(nb::kF32).reshape({1, 1, 1, in});
    Tensor y = nb::interpolate(x, {1, out});
    EXPECT_EQ(y.to_vector<double>()[size_t(at)], double(source)) << in << " -> " << out << " at " << at;
  }
}

// ---- error messages ------------------------------------------------------------------------

TEST(Errors, ShapeMismatchesNameTheOpAndShapes) {
  Tensor a23 = nb::ones({2, 3}), a45 = nb::ones({4, 5}), a4 = nb::ones({4}), a32 = nb::ones({3, 2});
  EXPECT_NABLA_ERROR(nb::matmul(a23, a45), "[matmul]", "[2, 3]", "[4, 5]", "inner sizes 3 and 4");
  EXPECT_NABLA_ERROR(nb::matmul(nb::ones({2, 2, 3}), nb::ones({3, 3, 4})), "[matmul]", "[2]", "[3]");
  EXPECT_NABLA_ERROR(nb::matmul(nb::ones({}), a23), "[matmul]", "[]", "[2, 3]");
  EXPECT_NABLA_ERROR(nb::add(a23, a4), "[add]", "[2, 3]", "[4]");
  EXPECT_NABLA_ERROR(nb::mul(a23, a32), "[mul]", "[2, 3]", "[3, 2]");
  EXPECT_NABLA_ERROR(a23 - a32, "[sub]", "[2, 3]", "[3, 2]");
  EXPECT_NABLA_ERROR(nb::where(nb::ones({2, 3}, {.dtype = DType::u8}), a23, a32), "[where]", "[2, 3]", "[3, 2]");
  EXPECT_NABLA_ERROR(nb::where(a23, a23, a23), "[where]", "u8");
  EXPECT_NABLA_ERROR(nb::cat({a23, nb::ones({2, 4})}, 0), "[cat]", "[2, 3]", "[2, 4]");
  EXPECT_NABLA_ERROR(nb::cat({a23, a4}, 0), "[cat]", "[2, 3]", "[4]");
  EXPECT_NABLA_ERROR(nb::stack({a23, a32}), "[stack]", "[2, 3]", "[3, 2]");
  EXPECT_NABLA_ERROR(nb::linear(a23, a45), "[linear]", "[2, 3]", "[4, 5]");
  EXPECT_NABLA_ERROR(nb::linear_relu(a23, a45), "[linear_relu]", "[2, 3]", "[4, 5]");
  EXPECT_NABLA_ERROR(nb::linear_relu(a23, a32.t(), a4), "[linear_relu]", "bias", "[2]", "[4]");
  EXPECT_NABLA_ERROR(nb::linear_relu(a23, a4), "[linear_relu]", "2-D", "[4]");
  EXPECT_NABLA_ERROR(nb::reshape(a23, {5}), "[reshape]", "[5]", "6");
  EXPECT_NABLA_ERROR(a23.t().view({6}), "[view]", "[3, 2]", "[6]");
  EXPECT_NABLA_ERROR(nb::expand(a23, {4, 3}), "[expand]", "[2, 3]", "[4, 3]");
  EXPECT_NABLA_ERROR(nb::mse_loss(a23, a32), "[mse_loss]", "[2, 3]", "[3, 2]");
  EXPECT_NABLA_ERROR(nb::binary_cross_entropy_with_logits(a23, a32), "[binary_cross_entropy_with_logits]", "[2, 3]",
                     "[3, 2]");
  EXPECT_NABLA_ERROR(nb::permute(a23, {0}), "[permute]", "[0]");
  EXPECT_NABLA_ERROR(nb::permute(a23, {0, 0}), "[permute]", "[0, 0]");
}

TEST(Errors, DimensionsAndIndicesOutOfRange) {
  Tensor x = nb::ones({3, 4});
  EXPECT_NABLA_ERROR(nb::transpose(x, 0, 2), "[transpose]", "2");
  EXPECT_NABLA_ERROR(nb::sum(x, {2}), "[sum]", "2");
  EXPECT_NABLA_ERROR(nb::sum(x, {1, -1}), "[sum]", "twice");
  EXPECT_NABLA_ERROR(nb::softmax(x, 3), "[softmax]", "3");
  EXPECT_NABLA_ERROR(x.select(0, 3), "[select]", "3", "[3, 4]");
  EXPECT_NABLA_ERROR(x.narrow(1, 2, 3), "[narrow]", "[3, 4]");
  EXPECT_NABLA_ERROR(x.slice(0, 0, 2, 0), "[slice]", "step");
  EXPECT_NABLA_ERROR(nb::topk(x, 5), "[topk]", "5", "[3, 4]");

  EXPECT_NABLA_ERROR(nb::gather(x, 1, i64({0, 4, 1}, {3, 1})), "[gather]", "4", "[3, 4]");
  EXPECT_NABLA_ERROR(nb::gather(x, 1, i64({0, 1}, {2})), "[gather]", "[2]", "[3, 4]");
  EXPECT_NABLA_ERROR(nb::gather(x, 1, i64({0, 1, 0, 1}, {4, 1})), "[gather]", "[4, 1]", "[3, 4]");
  EXPECT_NABLA_ERROR(nb::gather(x, 1, nb::zeros({3, 1})), "[gather]", "i64");
  EXPECT_NABLA_ERROR(nb::scatter_add(x, 1, i64({0, 1, 2, 0, 1, 2}, {3, 2}), nb::ones({3, 1})), "[scatter_add]",
                     "[3, 2]", "[3, 1]");
  EXPECT_NABLA_ERROR(nb::scatter_add(x, 0, i64({3, 0, 0, 0}, {1, 4}), nb::ones({1, 4})), "[scatter_add]", "3",
                     "[3, 4]");
  EXPECT_NABLA_ERROR(nb::index_select(x, 0, i64({0, 3}, {2})), "[index_select]", "3", "[3, 4]");
  EXPECT_NABLA_ERROR(nb::index_select(x, 0, i64({-1}, {1})), "[index_select]", "-1", "[3, 4]");
  EXPECT_NABLA_ERROR(nb::index_add(x, 0, i64({0, 1}, {2}), nb::ones({3, 4})), "[index_add]", "[3, 4]", "[2, 4]");
  EXPECT_NABLA_ERROR(nb::one_hot(i64({0, 5}, {2}), 5), "[one_hot]", "5");
}

TEST(Errors, LossTargets) {
  Tensor logits = nb::zeros({2, 3});
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, i64({0, 3}, {2})), "[cross_entropy]", "target 3", "[0, 3)",
                     "[2, 3]");
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, i64({-1, 0}, {2})), "[cross_entropy]", "target -1", "[2, 3]");
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, i64({0, 1, 2}, {3})), "[cross_entropy]", "[3]", "[2, 3]");
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, nb::zeros({3, 2})), "[cross_entropy]", "[3, 2]", "[2, 3]");
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, nb::zeros({2}, {.dtype = DType::u8})), "[cross_entropy]", "u8");
  nb::CrossEntropyOptions w;
  w.weight = nb::ones({2});
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, i64({0, 1}, {2}), w), "[cross_entropy]", "[3]", "[2]");
  nb::CrossEntropyOptions ls;
  ls.label_smoothing = 1.5;
  EXPECT_NABLA_ERROR(nb::cross_entropy(logits, i64({0, 1}, {2}), ls), "[cross_entropy]", "1.5");
  EXPECT_NABLA_ERROR(nb::nll_loss(logits, i64({0, 7}, {2})), "[nll_loss]", "target 7", "[2, 3]");
  EXPECT_NABLA_ERROR(nb::nll_loss(logits, i64({0}, {1})), "[nll_loss]", "[1]", "[2, 3]");
}

TEST(Errors, GradcheckNeedsF64) {
  Tensor x = nb::ones({2}, {.requires_grad = true});
  EXPECT_NABLA_ERROR(nb::gradcheck([](const TensorList& in) { return nb::exp(in[0]); }, {x}), "[gradcheck]", "f32");
}

// ---- the harness catches wrong gradients -----------------------------------------------------

// x^3 with the derivative off by a factor: gradcheck must reject it.
struct WrongCube : nb::Function<WrongCube> {
  static Tensor forward(nb::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static TensorList backward(nb::AutogradContext* ctx, const TensorList& g) {
    Tensor x = ctx->get_saved()[0];
    return {g[0] * x * x * 3.1};
  }
};

// x^3 with a correct first derivative whose own derivative is wrong (x detached).
struct DetachedCube : nb::Function<DetachedCube> {
  static Tensor forward(nb::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static TensorList backward(nb::AutogradContext* ctx, const TensorList& g) {
    Tensor x = ctx->get_saved()[0].detach();
    return {g[0] * x * x * 3.0};
  }
};

TEST(Harness, GradcheckRejectsAWrongGradient) {
  for (bool transposed : {false, true}) {
    Tensor x = nb::randn({3, 2}, {.dtype = DType::f64});
    if (transposed) x = x.t();
    x = x.detach().requires_grad_();
    auto f = [](const TensorList& in) { return WrongCube::apply(in[0]); };
    EXPECT_NABLA_ERROR(nb::gradcheck(f, {x}), "[gradcheck]", "Jacobian mismatch");
    nb::GradcheckOptions quiet;
    quiet.raise = false;
    EXPECT_FALSE(nb::gradcheck(f, {x}, quiet));
  }
}

TEST(Harness, GradgradcheckRejectsANonDifferentiableBackward) {
  nb::manual_seed(5);
  Tensor x = nb::randn({4}, {.dtype = DType::f64}).requires_grad_();
  auto f = [](const TensorList& in) { return DetachedCube::apply(in[0]); };
  EXPECT_TRUE(nb::gradcheck(f, {x}));
  EXPECT_NABLA_ERROR(nb::gradgradcheck(f, {x}), "[gradcheck]");
}

// gelu's left tail: x Phi(x) through erfc keeps its digits where 1 + erf(x / sqrt 2) cancels
// (f64: 1.8% off at x = -8 and 0 below; PyTorch has that error). Values from std::erfc in long double.
TEST(EdgeCases, GeluLeftTailKeepsItsDigits) {
  const std::vector<double> xs = {-8, -10, -20};
  Tensor y = nb::gelu(t64(xs, {3}));
  for (size_t i = 0; i < xs.size(); ++i) {
    const long double x = xs[i];
    const double want = double(0.5L * x * std::erfc(-x / std::sqrt(2.0L)));
    EXPECT_NEAR(y.to_vector<double>()[i] / want, 1.0, 1e-12) << "gelu(" << xs[i] << ")";
  }
  // One element (the scalar row, std::erfc of the rounded x / sqrt 2) and many (the vector rows
  // on AVX2 CPUs, which do not round x / sqrt 2) are both within 3 f32 ulps (1.46e-11 each) of
  // gelu(-4) = -1.2668497e-4; the vector row within 1.
  const double want4 = double(0.5L * -4.0L * std::erfc(4.0L / std::sqrt(2.0L)));
  Tensor one = nb::gelu(nb::full({1}, -4.0));
  Tensor many = nb::gelu(nb::full({37}, -4.0));
  EXPECT_NEAR(one.item(), want4, 3 * 1.46e-11);
  EXPECT_NEAR(many.to_vector<double>()[0], want4, 3 * 1.46e-11);
  if (many.to_vector<double>()[0] != one.item()) {
    EXPECT_NEAR(many.to_vector<double>()[0], want4, 1.46e-11);
  }
  EXPECT_NEAR(one.item(), -1.26685e-4, 1e-9);
}

// gelu_tanh's second derivative far out: 1 - tanh^2 underflows to 0 before the factors that
// grow with |x| overflow, so it is 0 (PyTorch's value), not NaN.
TEST(EdgeCases, GeluTanhSecondDerivativeStaysFiniteForLargeInputs) {
  for (double v : {-1e10, -1e6, 1e6, 1e10}) {
    Tensor x = nb::full({1}, v).requires_grad_();
    Tensor g = nb::grad({nb::gelu(x, true).sum()}, {x}, {}, false, true)[0];
    Tensor gg = nb::grad({g.sum()}, {x})[0];
    EXPECT_EQ(gg.item(), 0.0) << "x = " << v;
  }
  // And where 1 - t^2 is small but not 0, its digits survive (f32, x = -5; f64 reference).
  Tensor x32 = nb::full({1}, -5.0).requires_grad_();
  Tensor g32 = nb::grad({nb::gelu(x32, true).sum()}, {x32}, {}, false, true)[0];
  const double d2_32 = nb::grad({g32.sum()}, {x32})[0].item();
  Tensor x64 = t64({-5.0}, {1}, true);
  Tensor g64 = nb::grad({nb::gelu(x64, true).sum()}, {x64}, {}, false, true)[0];
  const double d2_64 = nb::grad({g64.sum()}, {x64})[0].item();
  EXPECT_NEAR(d2_32 / d2_64, 1.0, 1e-3) << d2_32 << " vs " << d2_64;
}


// max/min reductions on each kernel path (contiguous rows with 16 lanes and a tail, strided
// middle axis, whole tensor): the value of a plain loop, and NaN wherever a reduced slice holds
// one, whichever lane or tail position it falls in.
TEST(EdgeCases, MaxMinReductionsPropagateNaNOnEveryPath) {
  for (int64_t nan_at : {-1, 0, 5, 15, 16, 33, 36}) {
    std::vector<float> v(2 * 37);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i) * 1.7) * 10);
    if (nan_at >= 0) v[size_t(37 + nan_at)] = NAN;  // in row 1 only
    Tensor x = nb::from_vector(v, {2, 37});
    for (bool is_max : {true, false}) {
      SCOPED_TRACE(std::string(is_max ? "max" : "min") + " NaN at " + std::to_string(nan_at));
      auto extreme = [&](const Tensor& t, const Shape& dims) { return is_max ? nb::max(t, dims) : nb::min(t, dims); };
      const auto rows = extreme(x, {1}).to_vector();                   // contiguous rows
      const auto strided = extreme(x.transpose(0, 1).contiguous(), {0}).to_vector();  // middle axis
      const double all = extreme(x, {}).item();
      for (int r = 0; r < 2; ++r) {
        double want = is_max ? -INFINITY : INFINITY;
        bool nan = false;
        for (int c = 0; c < 37; ++c) {
          const float e = v[size_t(r * 37 + c)];
          nan |= e != e;
          want = is_max ? std::max(want, double(e)) : std::min(want, double(e));
        }
        if (nan) {
          EXPECT_TRUE(std::isnan(rows[size_t(r)])) << r;
          EXPECT_TRUE(std::isnan(strided[size_t(r)])) << r;
        } else {
          EXPECT_EQ(rows[size_t(r)], want) << r;
          EXPECT_EQ(strided[size_t(r)], want) << r;
        }
      }
      EXPECT_EQ(std::isnan(all), nan_at >= 0);
    }
  }
  Tensor ints = nb::from_vector<int64_t>({3, -7, 12, 5, 9, 1, 0, 4, 8, 2, 11, 6, 10, -2, 7, 13, 14, -9, 15}, {19});
  EXPECT_EQ(nb::max(ints).item<int64_t>(), 15);
  EXPECT_EQ(nb::min(ints).item<int64_t>(), -9);
}

}  // namespace
}  // namespace optest
