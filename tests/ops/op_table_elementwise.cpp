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
  return rows;
}

}  // namespace

NB_OP_TABLE(Arithmetic, arithmetic_rows());
NB_OP_TABLE(Activation, activation_rows());

}  // namespace optest
