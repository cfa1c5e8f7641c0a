// The element-wise math ops (tan ... exp2, floor/ceil/round/trunc/frac, atan2, fmod, remainder)
// and the activations (relu6, hardtanh, selu, celu, softsign, logsigmoid, tanhshrink,
// softshrink, hardshrink, threshold, glu, softmin) against LibTorch 1.13: values, first and
// second derivatives in f64 at the special values (+-0, +-inf, NaN, the kinks and the exact
// thresholds, domain edges) and at ordinary points. The values are in activation_reference.inc,
// printed by scripts/dev/activation_reference.cpp; where nabla deliberately differs from
// LibTorch 1.13 the test says so and checks nabla's own value (see `deliberate`).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace {

using namespace nabla;

struct UnaryRef {
  const char* name;
  std::vector<double> x, y, grad, grad2;
};
struct BinaryRef {
  const char* name;
  std::vector<double> a, b, y, grad_a, grad_b;
};
struct DimRef {
  const char* name;
  Shape shape;
  std::vector<double> y, grad;
};

#include "activation_reference.inc"

using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

const std::map<std::string, Unary>& unary_ops() {
  static const std::map<std::string, Unary> m = {
      {"tan", [](const Tensor& x) { return tan(x); }},
      {"asin", [](const Tensor& x) { return asin(x); }},
      {"acos", [](const Tensor& x) { return acos(x); }},
      {"atan", [](const Tensor& x) { return atan(x); }},
      {"sinh", [](const Tensor& x) { return sinh(x); }},
      {"cosh", [](const Tensor& x) { return cosh(x); }},
      {"asinh", [](const Tensor& x) { return asinh(x); }},
      {"acosh", [](const Tensor& x) { return acosh(x); }},
      {"atanh", [](const Tensor& x) { return atanh(x); }},
      {"log2", [](const Tensor& x) { return log2(x); }},
      {"log10", [](const Tensor& x) { return log10(x); }},
      {"exp2", [](const Tensor& x) { return exp2(x); }},
      {"floor", [](const Tensor& x) { return floor(x); }},
      {"ceil", [](const Tensor& x) { return ceil(x); }},
      {"round", [](const Tensor& x) { return round(x); }},
      {"round_decimals_2", [](const Tensor& x) { return round(x, 2); }},
      {"round_decimals_neg_1", [](const Tensor& x) { return round(x, -1); }},
      {"trunc", [](const Tensor& x) { return trunc(x); }},
      {"frac", [](const Tensor& x) { return frac(x); }},
      {"relu6", [](const Tensor& x) { return relu6(x); }},
      {"hardtanh", [](const Tensor& x) { return hardtanh(x); }},
      {"hardtanh_m0_5_2", [](const Tensor& x) { return hardtanh(x, -0.5, 2); }},
      {"selu", [](const Tensor& x) { return selu(x); }},
      {"celu", [](const Tensor& x) { return celu(x); }},
      {"celu_alpha_0_5", [](const Tensor& x) { return celu(x, 0.5); }},
      {"celu_alpha_neg_2", [](const Tensor& x) { return celu(x, -2); }},
      {"softsign", [](const Tensor& x) { return softsign(x); }},
      {"logsigmoid", [](const Tensor& x) { return logsigmoid(x); }},
      {"tanhshrink", [](const Tensor& x) { return tanhshrink(x); }},
      {"softshrink", [](const Tensor& x) { return softshrink(x); }},
      {"softshrink_0", [](const Tensor& x) { return softshrink(x, 0.0); }},
      {"softshrink_1_5", [](const Tensor& x) { return softshrink(x, 1.5); }},
      {"hardshrink", [](const Tensor& x) { return hardshrink(x); }},
      {"hardshrink_1_5", [](const Tensor& x) { return hardshrink(x, 1.5); }},
      {"threshold_0_5_20", [](const Tensor& x) { return threshold(x, 0.5, 20); }},
      {"threshold_m1_m3", [](const Tensor& x) { return threshold(x, -1, -3); }},
      {"threshold_0_0", [](const Tensor& x) { return threshold(x, 0, 0); }},
  };
  return m;
}

const std::map<std::string, Binary>& binary_ops() {
  static const std::map<std::string, Binary> m = {
      {"atan2", [](const Tensor& a, const Tensor& b) { return atan2(a, b); }},
      {"fmod", [](const Tensor& a, const Tensor& b) { return fmod(a, b); }},
      {"remainder", [](const Tensor& a, const Tensor& b) { return remainder(a, b); }},
  };
  return m;
}

const std::map<std::string, Unary>& dim_ops() {
  static const std::map<std::string, Unary> m = {
      {"glu_last", [](const Tensor& x) { return glu(x); }},
      {"glu_dim0", [](const Tensor& x) { return glu(x, 0); }},
      {"glu_dim1_3d", [](const Tensor& x) { return glu(x, 1); }},
      {"softmin_dim1", [](const Tensor& x) { return softmin(x, 1); }},
      {"softmin_dim0", [](const Tensor& x) { return softmin(x, 0); }},
  };
  return m;
}

/// nabla's value, first and second derivative where it differs from LibTorch 1.13 on purpose.
struct Deliberate {
  double y, grad, grad2;
  const char* why;
};
std::optional<Deliberate> deliberate(const std::string& op, double x) {
  // softsign(+-inf) is the limit +-1 with slope 0; LibTorch's x / (1 + |x|) gives inf / inf = NaN.
  if (op == "softsign" && std::isinf(x)) return Deliberate{x > 0 ? 1.0 : -1.0, 0.0, 0.0, "softsign limit at inf"};
  // softshrink(NaN) is NaN (as every other activation, and PyTorch >= 2.1); 1.13 gave 0.
  if (op.rfind("softshrink", 0) == 0 && std::isnan(x)) return Deliberate{NAN, 1.0, 0.0, "softshrink keeps NaN"};
  return std::nullopt;
}

/// Equal as IEEE values (NaN matches NaN; zeros must agree in sign when `signed_zero`) or within
/// atol + rtol |want|.
bool close(double got, double want, bool signed_zero, double atol = 1e-15, double rtol = 1e-13) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  if (got == want) return !(signed_zero && want == 0 && std::signbit(got) != std::signbit(want));
  return std::abs(got - want) <= atol + rtol * std::abs(want);
}

std::vector<double> values(const Tensor& t) { return t.defined() ? t.to_vector<double>() : std::vector<double>(); }

TEST(ActivationReference, UnaryOpsMatchLibTorch) {
  ASSERT_EQ(std::size(kUnaryRefs), unary_ops().size());
  for (const UnaryRef& r : kUnaryRefs) {
    SCOPED_TRACE(r.name);
    const auto it = unary_ops().find(r.name);
    ASSERT_NE(it, unary_ops().end());
    const int64_t n = int64_t(r.x.size());
    Tensor x = from_vector<double>(r.x, {n}).requires_grad_(true);
    Tensor y = it->second(x);
    ASSERT_EQ(y.dtype(), DType::f64);
    Tensor g = grad({sum(y)}, {x}, {}, true, true)[0];
    Tensor g2 = g.requires_grad() ? grad({sum(g)}, {x}, {}, false, false, true)[0] : Tensor();
    const std::vector<double> yv = values(y), gv = values(g), g2v = g2.defined() ? values(g2) : std::vector<double>(size_t(n), 0.0);
    ASSERT_EQ(g2v.size(), size_t(n));
    for (size_t i = 0; i < size_t(n); ++i) {
      double wy = r.y[i], wg = r.grad[i], wg2 = r.grad2[i];
      if (auto d = deliberate(r.name, r.x[i])) wy = d->y, wg = d->grad, wg2 = d->grad2;
      EXPECT_TRUE(close(yv[i], wy, true)) << "value at x = " << r.x[i] << ": nabla " << yv[i] << ", LibTorch " << wy;
      EXPECT_TRUE(close(gv[i], wg, false)) << "gradient at x = " << r.x[i] << ": nabla " << gv[i] << ", LibTorch " << wg;
      EXPECT_TRUE(close(g2v[i], wg2, false))
          << "second derivative at x = " << r.x[i] << ": nabla " << g2v[i] << ", LibTorch " << wg2;
    }
  }
}

TEST(ActivationReference, BinaryOpsMatchLibTorch) {
  ASSERT_EQ(std::size(kBinaryRefs), binary_ops().size());
  for (const BinaryRef& r : kBinaryRefs) {
    SCOPED_TRACE(r.name);
    const auto it = binary_ops().find(r.name);
    ASSERT_NE(it, binary_ops().end());
    const int64_t n = int64_t(r.a.size());
    Tensor a = from_vector<double>(r.a, {n}).requires_grad_(true);
    Tensor b = from_vector<double>(r.b, {n}).requires_grad_(true);
    Tensor y = it->second(a, b);
    TensorList g = grad({sum(y)}, {a, b});
    const std::vector<double> yv = values(y), ga = values(g[0]), gb = values(g[1]);
    for (size_t i = 0; i < size_t(n); ++i) {
      EXPECT_TRUE(close(yv[i], r.y[i], true)) << "value at (" << r.a[i] << ", " << r.b[i] << "): nabla " << yv[i]
                                              << ", LibTorch " << r.y[i];
      EXPECT_TRUE(close(ga[i], r.grad_a[i], false))
          << "d/da at (" << r.a[i] << ", " << r.b[i] << "): nabla " << ga[i] << ", LibTorch " << r.grad_a[i];
      EXPECT_TRUE(close(gb[i], r.grad_b[i], false))
          << "d/db at (" << r.a[i] << ", " << r.b[i] << "): nabla " << gb[i] << ", LibTorch " << r.grad_b[i];
    }
  }
}

/// v_k = amp sin(freq k + phase) over the row-major elements (the generator's pattern).
Tensor pattern(const Shape& shape, double freq, double phase, double amp) {
  std::vector<double> v(size_t(shape_numel(shape)));
  for (size_t k = 0; k < v.size(); ++k) v[k] = amp * std::sin(freq * double(k) + phase);
  return from_vector<double>(v, shape);
}

TEST(ActivationReference, GluAndSoftminMatchLibTorch) {
  ASSERT_EQ(std::size(kDimRefs), dim_ops().size());
  for (const DimRef& r : kDimRefs) {
    SCOPED_TRACE(r.name);
    Tensor x = pattern(r.shape, 0.83, 0.3, 3.0).requires_grad_(true);
    Tensor y = dim_ops().at(r.name)(x);
    Tensor g = grad({sum(y * pattern(y.shape(), 0.29, 0.5, 1.0))}, {x})[0];
    const std::vector<double> yv = values(y), gv = values(g);
    ASSERT_EQ(yv.size(), r.y.size());
    ASSERT_EQ(gv.size(), r.grad.size());
    for (size_t i = 0; i < yv.size(); ++i) EXPECT_TRUE(close(yv[i], r.y[i], true)) << i << ": " << yv[i] << " vs " << r.y[i];
    for (size_t i = 0; i < gv.size(); ++i) EXPECT_TRUE(close(gv[i], r.grad[i], false)) << i << ": " << gv[i] << " vs " << r.grad[i];
  }
}

}  // namespace
