// dropout: mask statistics, inverted scaling, gradient = mask * scale, seeding, eval mode.
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

TEST(Dropout, DropsAboutPAndScalesKeptValuesByInverseKeep) {
  for (DType dt : {DType::f32, DType::f64}) {
    for (double p : {0.1, 0.3, 0.5, 0.8}) {
      nb::manual_seed(1234);
      Tensor x = nb::full({400, 250}, 2.0, {.dtype = dt});
      Tensor y = nb::dropout(x, p);
      ASSERT_EQ(y.shape(), x.shape());
      ASSERT_EQ(y.dtype(), dt);
      std::vector<double> v = y.to_vector<double>();
      const double kept_value = 2.0 / (1.0 - p);
      int64_t zeros = 0;
      double sum = 0;
      for (double e : v) {
        if (e == 0.0) {
          ++zeros;
        } else {
          ASSERT_NEAR(e, kept_value, kept_value * (dt == DType::f32 ? 1e-6 : 1e-14));
        }
        sum += e;
      }
      double n = double(v.size());
      // 10^5 Bernoulli draws: the zero fraction's standard deviation is <= 0.0016.
      EXPECT_NEAR(double(zeros) / n, p, 0.01) << "p = " << p;
      // Inverted dropout keeps the expectation: E[y] = x.
      EXPECT_NEAR(sum / n, 2.0, 0.05 * 2.0 / (1.0 - p)) << "p = " << p;
    }
  }
}

TEST(Dropout, GradientIsMaskTimesScale) {
  nb::manual_seed(7);
  Tensor base = nb::randn({30, 20}, {.dtype = DType::f64});
  // Non-contiguous leaf: the mask follows the logical layout.
  for (bool transposed : {false, true}) {
    Tensor x = (transposed ? base.t() : base).detach().requires_grad_();
    Tensor y = nb::dropout(x, 0.4);
    Tensor g = nb::randn(y.shape(), {.dtype = DType::f64});
    y.backward(g);
    ASSERT_TRUE(x.grad().defined());
    auto xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = g.to_vector<double>(),
         gx = x.grad().to_vector<double>();
    int64_t kept = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      double m = yv[i] / xv[i];  // mask * scale for this element: 0 or 1/(1-p)
      ASSERT_TRUE(std::abs(m) < 1e-12 || std::abs(m - 1.0 / 0.6) < 1e-12) << "element " << i << ": " << m;
      kept += m != 0;
      EXPECT_NEAR(gx[i], gv[i] * m, 1e-12) << "element " << i;
    }
    EXPECT_GT(kept, 0);
    EXPECT_LT(kept, int64_t(xv.size()));
  }
}

TEST(Dropout, GradcheckWithAFixedMask) {
  Tensor x = nb::randn({4, 3}, {.dtype = DType::f64}).t().detach().requires_grad_();
  auto f = [](const TensorList& in) {
    nb::manual_seed(99);  // same mask on every evaluation
    return nb::dropout(in[0], 0.5);
  };
  EXPECT_TRUE(nb::gradcheck(f, {x}, {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3}));
}

TEST(Dropout, SeedReproducesTheMask) {
  Tensor x = nb::ones({64, 64});
  nb::manual_seed(42);
  auto a = nb::dropout(x, 0.5).to_vector<double>();
  nb::manual_seed(42);
  auto b = nb::dropout(x, 0.5).to_vector<double>();
  EXPECT_EQ(a, b);
  nb::manual_seed(43);
  auto c = nb::dropout(x, 0.5).to_vector<double>();
  EXPECT_NE(a, c);
  // Consecutive calls draw fresh masks.
  nb::manual_seed(42);
  (void)nb::dropout(x, 0.5);
  auto d = nb::dropout(x, 0.5).to_vector<double>();
  EXPECT_NE(a, d);
}

TEST(Dropout, EvalModeAndEdgeProbabilities) {
  Tensor x = nb::randn({5, 4}, {.dtype = DType::f64}).requires_grad_();
  EXPECT_EQ(nb::dropout(x, 0.5, /*training=*/false).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(nb::dropout(x, 0.0).to_vector<double>(), x.to_vector<double>());
  Tensor all = nb::dropout(x, 1.0);
  for (double e : all.to_vector<double>()) EXPECT_EQ(e, 0.0);
  all.sum().backward();
  for (double e : x.grad().to_vector<double>()) EXPECT_EQ(e, 0.0);
  EXPECT_NABLA_ERROR(nb::dropout(x, 1.5), "[dropout]", "1.5");
  EXPECT_NABLA_ERROR(nb::dropout(x, -0.1), "[dropout]", "-0.1");
}

}  // namespace
}  // namespace optest
