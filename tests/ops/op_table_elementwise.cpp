// Op-table rows: element-wise arithmetic, math functions and activations.
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<OpRow> arithmetic_rows() {
  std::vector<OpRow> rows;
  auto gg = true;
  rows.push_back(binary_row("add", F({}), F({}), [](auto& a, auto& b) { return nb::add(a, b); },
                            [](double x, double y) { return x + y; }));
  rows.push_back(binary_row("sub", F({}), F({}), [](auto& a, auto& b) { return nb::sub(a, b); },
                            [](double x, double y) { return x - y; }));
  rows.push_back(binary_row("mul", F({}), F({}), [](auto& a, auto& b) { return nb::mul(a, b); },
                            [](double x, double y) { return x * y; }, gg));
  rows.push_back(binary_row("div", F({}), M({}, 0.5, 2), [](auto& a, auto& b) { return nb::div(a, b); },
                            [](double x, double y) { return x / y; }, gg));
  rows.push_back(binary_row("pow", F({}, 0.5, 2), F({}, -2, 2), [](auto& a, auto& b) { return nb::pow(a, b); },
                            [](double x, double y) { return std::pow(x, y); }, gg));
  rows.push_back(binary_row("maximum", F({}), F({}), [](auto& a, auto& b) { return nb::maximum(a, b); },
                            [](double x, double y) { return std::max(x, y); }));
  rows.push_back(binary_row("minimum", F({}), F({}), [](auto& a, auto& b) { return nb::minimum(a, b); },
                            [](double x, double y) { return std::min(x, y); }));
  // Operator sugar with tensors (same kernels, checks the operators route correctly).
  rows.push_back(binary_row("operator_sub", F({}), F({}), [](auto& a, auto& b) { return a - b; },
                            [](double x, double y) { return x - y; }));
  rows.push_back(binary_row("operator_div", F({}), M({}, 0.5, 2), [](auto& a, auto& b) { return a / b; },
                            [](double x, double y) { return x / y; }));

  // where(cond, a, b): cond is u8, broadcast over all three.
  OpRow w;
  w.name = "where";
  w.inputs = {B({3, 4}), F({3, 4}), F({3, 4})};
  w.fn = [](const TensorList& x) { return nb::where(x[0], x[1], x[2]); };
  w.ref = [](const std::vector<Arr>& a) {
    return ew3(a[0], a[1], a[2], [](double c, double x, double y) { return c != 0 ? x : y; });
  };
  w.extra_cases = {{{3, 1}, {1, 4}, {3, 4}}, {{4}, {3, 1}, {}}, {{2, 1, 4}, {3, 1}, {1, 4}}, {{3, 4}, {}, {4}}};
  w.gradgrad = true;
  rows.push_back(w);

  // Scalar operands.
  rows.push_back(unary_row("pow_scalar_2_5", F({}, 0.5, 2), [](auto& x) { return nb::pow(x, 2.5); },
                           [](double x) { return std::pow(x, 2.5); }, gg));
  rows.push_back(unary_row("pow_scalar_neg_1_5", F({}, 0.5, 2), [](auto& x) { return nb::pow(x, -1.5); },
                           [](double x) { return std::pow(x, -1.5); }));
  rows.push_back(unary_row("pow_scalar_2", F({}), [](auto& x) { return nb::pow(x, 2.0); },
                           [](double x) { return x * x; }, gg));
  rows.push_back(unary_row("pow_scalar_3_negative_base", F({}, -2, -0.5), [](auto& x) { return nb::pow(x, 3.0); },
                           [](double x) { return x * x * x; }, gg));
  rows.push_back(unary_row("pow_scalar_1", F({}), [](auto& x) { return nb::pow(x, 1.0); },
                           [](double x) { return x; }));
  rows.push_back(unary_row("add_scalar", F({}), [](auto& x) { return x + 1.5; }, [](double x) { return x + 1.5; }));
  rows.push_back(unary_row("rsub_scalar", F({}), [](auto& x) { return 2.0 - x; }, [](double x) { return 2.0 - x; }));
  rows.push_back(unary_row("mul_scalar", F({}), [](auto& x) { return x * -3.0; }, [](double x) { return -3.0 * x; }));
  rows.push_back(unary_row("div_scalar", F({}), [](auto& x) { return x / 4.0; }, [](double x) { return x / 4.0; }));
  rows.push_back(unary_row("rdiv_scalar", M({}, 0.5, 2), [](auto& x) { return 2.0 / x; },
                           [](double x) { return 2.0 / x; }));

  // Unary math.
  rows.push_back(unary_row("neg", F({}), [](auto& x) { return nb::neg(x); }, [](double x) { return -x; }));
  rows.push_back(unary_row("exp", F({}), [](auto& x) { return nb::exp(x); }, [](double x) { return std::exp(x); }, gg));
  rows.push_back(unary_row("log", F({}, 0.5, 3), [](auto& x) { return nb::log(x); },
                           [](double x) { return std::log(x); }, gg));
  rows.push_back(unary_row("log1p", F({}, -0.5, 2), [](auto& x) { return nb::log1p(x); },
                           [](double x) { return std::log1p(x); }, gg));
  rows.push_back(unary_row("expm1", F({}), [](auto& x) { return nb::expm1(x); },
                           [](double x) { return std::expm1(x); }, gg));
  rows.push_back(unary_row("sqrt", F({}, 0.5, 3), [](auto& x) { return nb::sqrt(x); },
                           [](double x) { return std::sqrt(x); }, gg));
  rows.push_back(unary_row("rsqrt", F({}, 0.5, 3), [](auto& x) { return nb::rsqrt(x); },
                           [](double x) { return 1.0 / std::sqrt(x); }, gg));
  rows.push_back(unary_row("abs", M({}), [](auto& x) { return nb::abs(x); }, [](double x) { return std::fabs(x); }, gg));
  rows.push_back(unary_row("sin", F({}, -3, 3), [](auto& x) { return nb::sin(x); },
                           [](double x) { return std::sin(x); }, gg));
  rows.push_back(unary_row("cos", F({}, -3, 3), [](auto& x) { return nb::cos(x); },
                           [](double x) { return std::cos(x); }, gg));
  rows.push_back(unary_row("erf", F({}), [](auto& x) { return nb::erf(x); }, [](double x) { return std::erf(x); }, gg));
  rows.push_back(unary_row("reciprocal", M({}, 0.5, 2), [](auto& x) { return nb::reciprocal(x); },
                           [](double x) { return 1.0 / x; }, gg));
  rows.push_back(unary_row("square", F({}), [](auto& x) { return nb::square(x); }, [](double x) { return x * x; }, gg));
  rows.push_back(unary_row("clamp", F({}), [](auto& x) { return nb::clamp(x, -0.5, 0.7); },
                           [](double x) { return std::min(std::max(x, -0.5), 0.7); }));
  rows.push_back(unary_row("clamp_min", F({}), [](auto& x) { return nb::clamp(x, 0.25, std::nullopt); },
                           [](double x) { return std::max(x, 0.25); }));
  rows.push_back(unary_row("clamp_max", F({}), [](auto& x) { return nb::clamp(x, std::nullopt, -0.25); },
                           [](double x) { return std::min(x, -0.25); }));

  // Trigonometric, hyperbolic, base-2/10 logs and exps, rounding, and the remainders.
  rows.push_back(unary_row("tan", F({}, -1.2, 1.2), [](auto& x) { return nb::tan(x); },
                           [](double x) { return std::tan(x); }, gg));
  rows.push_back(unary_row("asin", F({}, -0.9, 0.9), [](auto& x) { return nb::asin(x); },
                           [](double x) { return std::asin(x); }, gg));
  rows.push_back(unary_row("acos", F({}, -0.9, 0.9), [](auto& x) { return nb::acos(x); },
                           [](double x) { return std::acos(x); }, gg));
  rows.push_back(unary_row("atan", F({}, -3, 3), [](auto& x) { return nb::atan(x); },
                           [](double x) { return std::atan(x); }, gg));
  rows.push_back(unary_row("sinh", F({}), [](auto& x) { return nb::sinh(x); }, [](double x) { return std::sinh(x); }, gg));
  rows.push_back(unary_row("cosh", F({}), [](auto& x) { return nb::cosh(x); }, [](double x) { return std::cosh(x); }, gg));
  rows.push_back(unary_row("asinh", F({}, -3, 3), [](auto& x) { return nb::asinh(x); },
                           [](double x) { return std::asinh(x); }, gg));
  rows.push_back(unary_row("acosh", F({}, 1.2, 3), [](auto& x) { return nb::acosh(x); },
                           [](double x) { return std::acosh(x); }, gg));
  rows.push_back(unary_row("atanh", F({}, -0.9, 0.9), [](auto& x) { return nb::atanh(x); },
                           [](double x) { return std::atanh(x); }, gg));
  rows.push_back(unary_row("log2", F({}, 0.5, 3), [](auto& x) { return nb::log2(x); },
                           [](double x) { return std::log(x) / std::log(2.0); }, gg));
  rows.push_back(unary_row("log10", F({}, 0.5, 3), [](auto& x) { return nb::log10(x); },
                           [](double x) { return std::log(x) / std::log(10.0); }, gg));
  rows.push_back(unary_row("exp2", F({}, -3, 3), [](auto& x) { return nb::exp2(x); },
                           [](double x) { return std::pow(2.0, x); }, gg));
  // Piecewise constant: gradcheck sees 0 away from the jumps (the random inputs are not within
  // eps of a whole or half number).
  rows.push_back(unary_row("floor", F({}, -3, 3), [](auto& x) { return nb::floor(x); },
                           [](double x) { return std::floor(x); }));
  rows.push_back(unary_row("ceil", F({}, -3, 3), [](auto& x) { return nb::ceil(x); },
                           [](double x) { return std::ceil(x); }));
  // Half to even, written independently of nearbyint: the nearer whole number, the even one on a tie.
  auto half_even = [](double x) {
    const double f = std::floor(x), d = x - f;
    if (d != 0.5) return d < 0.5 ? f : f + 1;
    return std::fmod(f, 2.0) == 0 ? f : f + 1;
  };
  rows.push_back(unary_row("round", F({}, -3, 3), [](auto& x) { return nb::round(x); }, half_even));
  rows.push_back(unary_row("round_ties", X({}, {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -3.5, 0.49, 0.51, 4, -7.2},
                                           DType::f64),
                           [](auto& x) { return nb::round(x); }, half_even));
  rows.back().differentiable = false;
  rows.back().extra_cases = {};
  rows.push_back(unary_row("round_decimals_2", F({}, -3, 3), [](auto& x) { return nb::round(x, 2); },
                           [half_even](double x) { return half_even(x * 100) / 100; }));
  rows.push_back(unary_row("trunc", F({}, -3, 3), [](auto& x) { return nb::trunc(x); },
                           [](double x) { return std::trunc(x); }));
  rows.push_back(unary_row("frac", F({}, -3, 3), [](auto& x) { return nb::frac(x); },
                           [](double x) { return x - std::trunc(x); }, gg));
  rows.push_back(binary_row("atan2", M({}), M({}), [](auto& a, auto& b) { return nb::atan2(a, b); },
                            [](double y, double x) { return std::atan2(y, x); }, gg));
  // Remainders, written with the definitions (a - b q with q rounded toward zero / toward -inf).
  rows.push_back(binary_row("fmod", F({}, -3, 3), M({}, 0.5, 2), [](auto& a, auto& b) { return nb::fmod(a, b); },
                            [](double a, double b) { return a - b * std::trunc(a / b); }, gg));
  rows.push_back(binary_row("remainder", F({}, -3, 3), M({}, 0.5, 2),
                            [](auto& a, auto& b) { return nb::remainder(a, b); },
                            [](double a, double b) { return a - b * std::floor(a / b); }, gg));
  rows.push_back(unary_row("fmod_scalar", F({}, -3, 3), [](auto& x) { return nb::fmod(x, 1.25); },
                           [](double a) { return a - 1.25 * std::trunc(a / 1.25); }));
  rows.push_back(unary_row("remainder_scalar_negative", F({}, -3, 3), [](auto& x) { return nb::remainder(x, -1.25); },
                           [](double a) { return a + 1.25 * std::floor(a / -1.25); }));
  return rows;
}

std::vector<OpRow> activation_rows() {
  std::vector<OpRow> rows;
  auto gg = true;
  rows.push_back(unary_row("relu", M({}, 0.1, 2), [](auto& x) { return nb::relu(x); },
                           [](double x) { return x > 0 ? x : 0.0; }, gg));
  rows.push_back(unary_row("leaky_relu", M({}, 0.1, 2), [](auto& x) { return nb::leaky_relu(x); },
                           [](double x) { return x > 0 ? x : 0.01 * x; }));
  rows.push_back(unary_row("leaky_relu_0_2", M({}, 0.1, 2), [](auto& x) { return nb::leaky_relu(x, 0.2); },
                           [](double x) { return x > 0 ? x : 0.2 * x; }, gg));
  rows.push_back(unary_row("elu", M({}, 0.1, 2), [](auto& x) { return nb::elu(x); },
                           [](double x) { return x > 0 ? x : std::expm1(x); }, gg));
  rows.push_back(unary_row("elu_alpha_0_5", M({}, 0.1, 2), [](auto& x) { return nb::elu(x, 0.5); },
                           [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); }));
  rows.push_back(unary_row("gelu", F({}, -3, 3), [](auto& x) { return nb::gelu(x); },
                           [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }, gg));
  rows.push_back(unary_row(
      "gelu_tanh", F({}, -3, 3), [](auto& x) { return nb::gelu(x, true); },
      [](double x) {
        return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
      },
      gg));
  rows.push_back(unary_row("tanh", F({}), [](auto& x) { return nb::tanh(x); }, [](double x) { return std::tanh(x); }, gg));
  rows.push_back(unary_row("sigmoid", F({}, -4, 4), [](auto& x) { return nb::sigmoid(x); }, ref_sigmoid, gg));
  rows.push_back(unary_row("softplus", F({}, -4, 4), [](auto& x) { return nb::softplus(x); },
                           [](double x) { return std::log1p(std::exp(x)); }, gg));
  rows.push_back(unary_row(
      "softplus_beta2_threshold3", F({}, -4, 4), [](auto& x) { return nb::softplus(x, 2.0, 3.0); },
      [](double x) { return 2.0 * x > 3.0 ? x : std::log1p(std::exp(2.0 * x)) / 2.0; }));
  // Far above the threshold softplus is the identity; far below it is exp(x) (no underflow to 0 early).
  rows.push_back(unary_row("softplus_large", F({}, 25, 40), [](auto& x) { return nb::softplus(x); },
                           [](double x) { return x; }));
  rows.push_back(unary_row("softplus_very_negative", F({}, -40, -25), [](auto& x) { return nb::softplus(x); },
                           [](double x) { return std::log1p(std::exp(x)); }));
  rows.back().rtol32 = 1e-4;
  rows.push_back(unary_row("silu", F({}, -4, 4), [](auto& x) { return nb::silu(x); },
                           [](double x) { return x / (1.0 + std::exp(-x)); }, gg));
  rows.push_back(unary_row("mish", F({}, -4, 4), [](auto& x) { return nb::mish(x); },
                           [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }, gg));
  // [-5, 5] covers both flat parts and the slope; the kinks at +-3 are measure zero for gradcheck.
  rows.push_back(unary_row("hardsigmoid", F({}, -5, 5), [](auto& x) { return nb::hardsigmoid(x); },
                           [](double x) { return std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0); }, gg));
  rows.push_back(unary_row("hardswish", F({}, -5, 5), [](auto& x) { return nb::hardswish(x); },
                           [](double x) { return x * std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0; }, gg));
  // prelu: one slope per channel (dim 1), and one shared slope.
  auto prelu_ref = [](const std::vector<Arr>& a) {
    return make_arr(a[0].shape, [&](const Shape& i) {
      double x = a[0].at(i), w = a[1].v[a[1].numel() == 1 ? 0 : size_t(i[1])];
      return x > 0 ? x : w * x;
    });
  };
  OpRow prelu;
  prelu.name = "prelu";
  prelu.inputs = {M({2, 3, 4}), F({3}, 0.05, 0.5)};
  prelu.fn = [](const TensorList& x) { return nb::prelu(x[0], x[1]); };
  prelu.ref = prelu_ref;
  prelu.gradgrad = true;
  prelu.extra_cases = {{Shape{2, 3, 4}, Shape{1}}, {Shape{5, 3}, Shape{3}}};
  rows.push_back(prelu);

  // Piecewise linear: the kinks are measure zero for gradcheck; second derivatives are 0.
  rows.push_back(unary_row("relu6", F({}, -2, 8), [](auto& x) { return nb::relu6(x); },
                           [](double x) { return std::min(std::max(x, 0.0), 6.0); }, gg));
  rows.push_back(unary_row("hardtanh", F({}), [](auto& x) { return nb::hardtanh(x); },
                           [](double x) { return std::min(std::max(x, -1.0), 1.0); }, gg));
  rows.push_back(unary_row("hardtanh_m0_5_1_5", F({}), [](auto& x) { return nb::hardtanh(x, -0.5, 1.5); },
                           [](double x) { return std::min(std::max(x, -0.5), 1.5); }));
  rows.push_back(unary_row("selu", M({}, 0.1, 3), [](auto& x) { return nb::selu(x); },
                           [](double x) {
                             const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
                             return x > 0 ? scale * x : scale * alpha * (std::exp(x) - 1);
                           },
                           gg));
  rows.push_back(unary_row("celu", M({}, 0.1, 3), [](auto& x) { return nb::celu(x); },
                           [](double x) { return x > 0 ? x : std::exp(x) - 1; }, gg));
  rows.back().atol = 1e-15;
  rows.push_back(unary_row("celu_alpha_0_5", M({}, 0.1, 3), [](auto& x) { return nb::celu(x, 0.5); },
                           [](double x) { return x > 0 ? x : 0.5 * (std::exp(x / 0.5) - 1); }, gg));
  rows.push_back(unary_row("softsign", M({}, 0.1, 4), [](auto& x) { return nb::softsign(x); },
                           [](double x) { return x / (1 + std::fabs(x)); }, gg));
  rows.push_back(unary_row("logsigmoid", F({}, -6, 6), [](auto& x) { return nb::logsigmoid(x); },
                           [](double x) { return -std::log1p(std::exp(-x)); }, gg));
  rows.push_back(unary_row("tanhshrink", F({}, -3, 3), [](auto& x) { return nb::tanhshrink(x); },
                           [](double x) { return x - std::tanh(x); }, gg));
  rows.push_back(unary_row("softshrink", F({}), [](auto& x) { return nb::softshrink(x); },
                           [](double x) { return x > 0.5 ? x - 0.5 : (x < -0.5 ? x + 0.5 : 0.0); }, gg));
  rows.push_back(unary_row("softshrink_1", F({}), [](auto& x) { return nb::softshrink(x, 1.0); },
                           [](double x) { return x > 1 ? x - 1 : (x < -1 ? x + 1 : 0.0); }));
  rows.push_back(unary_row("hardshrink", F({}), [](auto& x) { return nb::hardshrink(x); },
                           [](double x) { return std::fabs(x) > 0.5 ? x : 0.0; }, gg));
  rows.push_back(unary_row("threshold", F({}), [](auto& x) { return nb::threshold(x, 0.3, -2.0); },
                           [](double x) { return x > 0.3 ? x : -2.0; }, gg));
  // glu: the first half times the sigmoid of the second, along the last dim or dim 0.
  auto glu_ref = [](const std::vector<double>& v) {
    const size_t h = v.size() / 2;
    std::vector<double> o(h);
    for (size_t i = 0; i < h; ++i) o[i] = v[i] * ref_sigmoid(v[h + i]);
    return o;
  };
  for (int64_t dim : {-1, 0}) {
    OpRow g;
    g.name = dim == 0 ? "glu_dim0" : "glu_last_dim";
    g.inputs = {F(dim == 0 ? Shape{4, 3} : Shape{3, 4})};
    g.fn = [dim](const TensorList& x) { return nb::glu(x[0], dim); };
    g.ref = [dim, glu_ref](const std::vector<Arr>& a) { return along_dim(a[0], dim, glu_ref, a[0].size(dim) / 2); };
    g.gradgrad = true;
    g.extra_cases = {{Shape{2, 2}}, {Shape{2, 6}}};
    rows.push_back(g);
  }
  // softmin = softmax(-x), referenced with its own loop.
  for (int64_t dim : {1, 0}) {
    OpRow s;
    s.name = "softmin_dim" + std::to_string(dim);
    s.inputs = {F({3, 4})};
    s.fn = [dim](const TensorList& x) { return nb::softmin(x[0], dim); };
    s.ref = [dim](const std::vector<Arr>& a) {
      return along_dim(a[0], dim, [](const std::vector<double>& v) {
        double m = INFINITY, z = 0;
        for (double x : v) m = std::min(m, x);
        std::vector<double> o;
        for (double x : v) z += std::exp(m - x);
        for (double x : v) o.push_back(std::exp(m - x) / z);
        return o;
      });
    };
    s.gradgrad = true;
    s.extra_cases = {{Shape{2, 5}}};
    rows.push_back(s);
  }
  return rows;
}

}  // namespace

NB_OP_TABLE(Arithmetic, arithmetic_rows());
NB_OP_TABLE(Activation, activation_rows());

}  // namespace optest
