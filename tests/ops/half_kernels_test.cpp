// The 16-bit (f16, bf16) CPU kernels for reductions, softmax, index adds, random fills and
// creation, where half_precision_test's table does not reach: sums long enough that a 16-bit
// accumulator would stall, NaN and ties in argmax/max, statistics read in float and rounded once,
// random fills against the f32 draws they round, and the error of a kernel with no 16-bit version.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

const DType kHalves[] = {DType::bf16, DType::f16};

/// v rounded to dt (f16 or bf16), as a double.
double round_to(DType dt, double v) { return dt == DType::bf16 ? float(nb::BFloat16(v)) : float(nb::Half(v)); }

/// start plus n copies of v, added one at a time in 16 bits (each add rounded: what a 16-bit
/// accumulator gives, to show that a kernel's result is not it) or in float (rounded once).
double sum_in_16_bits(DType dt, double v, int64_t n, double start = 0) {
  double s = start;
  for (int64_t i = 0; i < n; ++i) s = round_to(dt, s + v);
  return s;
}
double sum_in_float(DType dt, double v, int64_t n, double start = 0) {
  float s = float(start);
  for (int64_t i = 0; i < n; ++i) s += float(v);
  return round_to(dt, s);
}

/// Equality of two tensors element by element, NaN equal to NaN.
void expect_same_values(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i]))) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", expected " << w[i];
}

// ---- reductions ------------------------------------------------------------------------------

// 10^5 values of 0.01: a 16-bit running sum stops growing once 0.01 is below half its spacing
// (at 4 in bf16, 32 in f16); accumulated as f32 sums are (in f64) the sum is 10^5 times the
// rounded 0.01, rounded once (eight float lanes gave 1001 in f16 for 1000.2, off by 1.6 units).
// Each of the kernel's three layouts: one long row (summed in fixed chunks), many rows, and a
// strided middle axis.
TEST(HalfReduce, LongSumsAccumulateWide) {
  constexpr int64_t n = 100000;
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const double term = round_to(dt, 0.01), want = round_to(dt, double(n) * term);
    ASSERT_LT(sum_in_16_bits(dt, term, n), want / 10) << "the 16-bit accumulator this test tells apart";
    const Tensor x = nb::full({n}, 0.01, {.dtype = dt});
    const Tensor total = nb::sum(x);
    EXPECT_EQ(total.dtype(), dt);
    EXPECT_EQ(total.item<double>(), want);
    EXPECT_EQ(nb::sum(nb::full({3, n}, 0.01, {.dtype = dt}), {1}).to_vector<double>(), std::vector<double>(3, want));
    EXPECT_EQ(nb::sum(nb::full({n, 2}, 0.01, {.dtype = dt}), {0}).to_vector<double>(), std::vector<double>(2, want));
    EXPECT_EQ(nb::mean(x).item<double>(), term);
  }
}

// var's mean and centered values stay in float: in bf16 the mean of 256, 258, 260, 262 (259)
// would round to 260, the centered values to -4, -2, 0, 2, and the variance to 8, not 20 / 3.
TEST(HalfReduce, VarianceIsComputedInFloatAndRoundedOnce) {
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Tensor x = nb::from_vector(std::vector<double>{256, 258, 260, 262}, {4}, dt);
    EXPECT_EQ(nb::var(x).dtype(), dt);
    EXPECT_EQ(nb::var(x).item<double>(), round_to(dt, 20.0 / 3));
    EXPECT_EQ(nb::mean(x).item<double>(), round_to(dt, 259.0));
  }
}

// max/min start from -inf/+inf (not 0, which a default-constructed 16-bit value is), a NaN
// wins and argmax/argmin point at the first NaN, ties go to the first index, and values that
// differ in f32 but round to the same 16-bit value tie.
TEST(HalfReduce, ExtremesNaNAndTies) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    auto t = [&](std::vector<double> v) { return nb::from_vector(v, {int64_t(v.size())}, dt); };
    EXPECT_EQ(nb::max(t({-5, -3, -4})).item<double>(), -3.0);
    EXPECT_EQ(nb::min(t({5, 3, 4})).item<double>(), 3.0);
    EXPECT_EQ(nb::max(t({-inf, -inf})).item<double>(), -inf);
    EXPECT_TRUE(std::isnan(nb::max(t({1, nan, 3})).item<double>()));
    EXPECT_TRUE(std::isnan(nb::min(t({1, 3, nan})).item<double>()));
    EXPECT_EQ(nb::argmax(t({1, 3, nan, 3, nan})).item<int64_t>(), 2);
    EXPECT_EQ(nb::argmin(t({1, -3, 0, nan})).item<int64_t>(), 3);
    EXPECT_EQ(nb::argmax(t({1, 3, 0, 3})).item<int64_t>(), 1);
    EXPECT_EQ(nb::argmin(t({2, -1, 5, -1})).item<int64_t>(), 1);
    EXPECT_EQ(nb::argmax(t({1.0, 1.0001, 0.5})).item<int64_t>(), 0);  // 1.0001 rounds to 1 in both
    // Over a dim, rows and columns: [[0, 7, 7], [NaN, 1, 9]].
    const Tensor m = nb::from_vector(std::vector<double>{0, 7, 7, nan, 1, 9}, {2, 3}, dt);
    EXPECT_EQ(nb::argmax(m, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
    EXPECT_EQ(nb::argmax(m, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
    EXPECT_EQ(nb::argmin(m, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 0}));
  }
}

// Anomaly detection reads 16-bit gradients for NaN and Inf (Backend::all_finite).
TEST(HalfReduce, AnomalyDetectionSeesNonFinite16BitGradients) {
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    nb::DetectAnomalyGuard anomaly;
    Tensor x = nb::from_vector(std::vector<double>{0, 4}, {2}, dt).requires_grad_(true);
    try {
      nb::sum(nb::sqrt(x)).backward();  // d sqrt(x) / dx at 0 is inf
      ADD_FAILURE() << "expected the anomaly check to fail";
    } catch (const nb::Error& e) {
      EXPECT_NE(std::string(e.what()).find("NaN or Inf"), std::string::npos) << e.what();
    }
    Tensor y = nb::from_vector(std::vector<double>{1, 4}, {2}, dt).requires_grad_(true);
    nb::sum(nb::sqrt(y)).backward();
    EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{0.5, 0.25}));
  }
}

// ---- softmax -----------------------------------------------------------------------------

// A 16-bit row is computed as the f32 row of the same values and rounded once, so the results
// agree bit for bit, on the kernel's path (the last dim) and the composed one (another dim).
TEST(HalfSoftmax, IsTheF32ResultRoundedOnce) {
  nb::manual_seed(11);
  const Tensor base = nb::randn({70, 33}) * 4.0;
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Tensor x = base.to(dt), xf = x.to(DType::f32);
    for (int64_t dim : {1, 0}) {
      expect_same_values(nb::softmax(x, dim), nb::softmax(xf, dim).to(dt), "softmax dim " + std::to_string(dim));
      expect_same_values(nb::log_softmax(x, dim), nb::log_softmax(xf, dim).to(dt),
                         "log_softmax dim " + std::to_string(dim));
    }
  }
}

// ---- index adds --------------------------------------------------------------------------

// index_add, scatter_add and embedding's gradient add in float, one source at a time in index
// order, and round once per element: 4000 additions of 0.01 into one row give about 40, where
// adding in 16 bits (PyTorch's CPU index_add) stalls at 4 (bf16) or 32 (f16).
TEST(HalfIndex, RepeatedIndicesAccumulateInFloat) {
  constexpr int64_t n = 4000;
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const double term = round_to(dt, 0.01), want = sum_in_float(dt, term, n);
    ASSERT_LT(sum_in_16_bits(dt, term, n), want - 5) << "the 16-bit accumulator this test tells apart";
    const Tensor same = nb::ones({n}, {.dtype = DType::i64});  // every source to row/column 1
    const Tensor added = nb::index_add(nb::zeros({3, 2}, {.dtype = dt}), 0, same, nb::full({n, 2}, 0.01, {.dtype = dt}));
    EXPECT_EQ(added.to_vector<double>(), (std::vector<double>{0, 0, want, want, 0, 0}));
    const Tensor scattered = nb::scatter_add(nb::full({2, 3}, 0.5, {.dtype = dt}), 1, nb::ones({2, n}, {.dtype = DType::i64}),
                                             nb::full({2, n}, 0.01, {.dtype = dt}));
    const double half_plus = sum_in_float(dt, term, n, 0.5);
    EXPECT_EQ(scattered.to_vector<double>(), (std::vector<double>{0.5, half_plus, 0.5, 0.5, half_plus, 0.5}));
    Tensor w = nb::zeros({4, 2}, {.dtype = dt}).requires_grad_(true);
    nb::embedding(w, same).backward(nb::full({n, 2}, 0.01, {.dtype = dt}));
    EXPECT_EQ(w.grad().dtype(), dt);
    EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{0, 0, want, want, 0, 0, 0, 0}));
  }
}

// Sources that hit one row add in index order, as in f32, whatever rows come between them.
TEST(HalfIndex, IndexAddMatchesF32OfTheSameValues) {
  nb::manual_seed(5);
  const Tensor idx = nb::from_vector(std::vector<int64_t>{2, 0, 2, 1, 0, 2}, {6});
  const Tensor src = nb::randn({3, 6, 4});
  const Tensor x = nb::randn({3, 3, 4});
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Tensor xs = x.to(dt), ss = src.to(dt);
    expect_same_values(nb::index_add(xs, 1, idx, ss), nb::index_add(xs.to(DType::f32), 1, idx, ss.to(DType::f32)).to(dt),
                       "index_add");
  }
}

// ---- random fills ------------------------------------------------------------------------

// The 16-bit fills draw what f32 draws under the same seed and round it once; a uniform draw
// that rounds up to the top of [0, 1) becomes the largest value below 1, not 0.
TEST(HalfRandom, FillsAreTheF32DrawsRounded) {
  constexpr int64_t n = 100000;
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    nb::manual_seed(21);
    const std::vector<double> uf = nb::rand({n}).to_vector<double>(), zf = nb::randn({n}).to_vector<double>();
    nb::manual_seed(21);
    const Tensor u = nb::rand({n}, {.dtype = dt}), z = nb::randn({n}, {.dtype = dt});
    ASSERT_EQ(u.dtype(), dt);
    ASSERT_EQ(z.dtype(), dt);
    const std::vector<double> uh = u.to_vector<double>(), zh = z.to_vector<double>();
    const double below_one = dt == DType::bf16 ? 1 - std::ldexp(1.0, -8) : 1 - std::ldexp(1.0, -11);
    int64_t rounded_up = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = round_to(dt, uf[size_t(i)]);
      rounded_up += r == 1.0;
      ASSERT_EQ(uh[size_t(i)], r == 1.0 ? below_one : r) << "uniform element " << i;
      ASSERT_EQ(zh[size_t(i)], round_to(dt, zf[size_t(i)])) << "normal element " << i;
    }
    if (dt == DType::bf16) {
      EXPECT_GT(rounded_up, 100);  // about 2^-9 of the draws: the case is exercised
    }
  }
}

// Statistics of 10^5 bf16 draws: U[0, 1) has mean 1/2 and variance 1/12, N(0, 1) mean 0 and
// variance 1 (standard errors 0.0009, 0.0003, 0.003, 0.0045; the bounds are about 4 of them);
// uniform_ stays in [low, high). No value is exactly 0: mapping the draws that round up to 1
// onto 0 would make about 200 of them.
TEST(HalfRandom, Bf16Statistics) {
  constexpr int64_t n = 100000;
  nb::manual_seed(3);
  const std::vector<double> u = nb::rand({n}, {.dtype = DType::bf16}).to_vector<double>();
  const std::vector<double> z = nb::randn({n}, {.dtype = DType::bf16}).to_vector<double>();
  auto moments = [](const std::vector<double>& v) {
    double s = 0, s2 = 0;
    for (double e : v) s += e, s2 += e * e;
    const double m = s / double(v.size());
    return std::pair{m, s2 / double(v.size()) - m * m};
  };
  const auto [um, uv] = moments(u);
  const auto [zm, zv] = moments(z);
  EXPECT_NEAR(um, 0.5, 0.004);
  EXPECT_NEAR(uv, 1.0 / 12, 0.0015);
  EXPECT_NEAR(zm, 0.0, 0.013);
  EXPECT_NEAR(zv, 1.0, 0.02);
  int64_t zeros = 0;
  for (double e : u) {
    ASSERT_GE(e, 0.0);
    ASSERT_LT(e, 1.0);
    zeros += e == 0.0;
  }
  EXPECT_LT(zeros, 5);
  Tensor t = nb::empty({n}, {.dtype = DType::bf16});
  nb::uniform_(t, -2.0, 3.0);
  const std::vector<double> tv = t.to_vector<double>();
  EXPECT_GE(*std::min_element(tv.begin(), tv.end()), -2.0);
  EXPECT_LT(*std::max_element(tv.begin(), tv.end()), 3.0);
  EXPECT_NEAR(moments(tv).first, 0.5, 0.02);
  nb::normal_(t, 10.0, 0.5);
  EXPECT_NEAR(moments(t.to_vector<double>()).first, 10.0, 0.01);
  EXPECT_NEAR(std::sqrt(moments(t.to_vector<double>()).second), 0.5, 0.01);
}

// Dropout on a 16-bit x draws its mask in f32 and keeps x's dtype.
TEST(HalfRandom, DropoutKeepsTheDtypeAndTheRate) {
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    nb::manual_seed(9);
    const Tensor y = nb::dropout(nb::ones({400, 250}, {.dtype = dt}), 0.3);
    ASSERT_EQ(y.dtype(), dt);
    int64_t zeros = 0;
    for (double e : y.to_vector<double>()) {
      zeros += e == 0.0;
      if (e != 0.0) {
        ASSERT_EQ(e, round_to(dt, 1 / 0.7));
      }
    }
    EXPECT_NEAR(double(zeros) / 1e5, 0.3, 0.006);  // standard error 0.0015
  }
}

// ---- creation ----------------------------------------------------------------------------

TEST(HalfCreation, RangesEyeAndOneHot) {
  for (DType dt : kHalves) {
    SCOPED_TRACE(nb::dtype_name(dt));
    const Tensor a = nb::arange(0, 1, 0.1, dt);
    ASSERT_EQ(a.dtype(), dt);
    ASSERT_EQ(a.numel(), 10);
    for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(a.to_vector<double>()[size_t(i)], round_to(dt, 0.1 * double(i)));
    EXPECT_EQ(nb::arange(0, 600, 200, dt).to_vector<double>(), (std::vector<double>{0, 200, 400}));
    const Tensor l = nb::linspace(-1, 1, 7, {.dtype = dt});
    ASSERT_EQ(l.dtype(), dt);
    for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(l.to_vector<double>()[size_t(i)], round_to(dt, -1 + 2.0 * double(i) / 6));
    const Tensor e = nb::eye(3, {.dtype = dt});
    ASSERT_EQ(e.dtype(), dt);
    EXPECT_EQ(e.to_vector<double>(), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
    const Tensor h = nb::one_hot(nb::from_vector(std::vector<int64_t>{2, 0}, {2}), 3, dt);
    ASSERT_EQ(h.dtype(), dt);
    EXPECT_EQ(h.to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 0, 0}));
  }
}

// ---- kernels without a 16-bit version ------------------------------------------------------

// A kernel dispatched with the f32/f64-only macros refuses f16 and bf16 by name, saying that
// the kernel has no 16-bit version (not that the dtype is unknown).
TEST(HalfDispatch, KernelsWithout16BitVersionsNameTheDtype) {
  for (DType dt : kHalves) {
    for (int all = 0; all < 2; ++all) {
      try {
        if (all) NB_DISPATCH_ALL(dt, "some_kernel", [&] { static_cast<void>(sizeof(scalar_t)); });
        else NB_DISPATCH_FLOAT(dt, "some_kernel", [&] { static_cast<void>(sizeof(scalar_t)); });
        ADD_FAILURE() << "expected " << dt << " to be refused";
      } catch (const nb::Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("[some_kernel]"), std::string::npos) << msg;
        EXPECT_NE(msg.find(nb::dtype_name(dt)), std::string::npos) << msg;
        EXPECT_NE(msg.find("has no 16-bit version"), std::string::npos) << msg;
      }
    }
  }
}

}  // namespace
