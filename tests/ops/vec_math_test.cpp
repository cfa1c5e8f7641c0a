// The AVX2 f32 kernels of src/backend/cpu/vec_math.h against double-precision references:
// a sweep over ~1M floats per op (every 2039th bit pattern, both signs) bounding the error in
// ulps of the correctly rounded result, and the special values (NaN, +-inf, +-0, the edges of
// each piece) against the scalar rows the other CPUs run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../../src/backend/cpu/vec_math.h"

namespace {
namespace be = nabla::backend;
namespace vec = nabla::backend::cpu::vec;
using be::BinaryOp;
using be::UnaryOp;

constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kFltMin = 1.1754943508222875e-38;  // 2^-126, the smallest normal float
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
/// x sigmoid(2u) = x (1 + tanh u) / 2 without the cancellation of the tanh form for x < 0.
double gelu_tanh_sig(double x) {
  const double u = be::kGeluTanhBeta * (x + be::kGeluTanhKappa * x * x * x);
  return sigmoid(2 * u);
}

struct Case {
  std::string name;
  bool unary;
  UnaryOp uop;
  BinaryOp bop;
  std::function<double(double)> ref;  // the function, or the derivative for a *Grad row
  float lo, hi;
  double max_ulp;
  double abs_floor;  // errors below this count as 0 (results that are 0 in f32 or cancel to ~0)
  double a = 0, b = 0;
  // Where set, the magnitude of the terms the result is summed from: a derivative that crosses 0
  // (t + x s (1 - t^2) at x ~ -1.2) is held to ulps of that, not of its cancelled sum.
  std::function<double(double)> scale = nullptr;
};

std::vector<Case> cases() {
  const auto U = [](std::string n, UnaryOp op, std::function<double(double)> f, float lo, float hi, double ulp,
                    double floor = 0) { return Case{n, true, op, BinaryOp::Add, f, lo, hi, ulp, floor}; };
  const auto B = [](std::string n, BinaryOp op, std::function<double(double)> f, float lo, float hi, double ulp,
                    double floor) { return Case{n, false, UnaryOp::Neg, op, f, lo, hi, ulp, floor}; };
  std::vector<Case> c;
  c.push_back(U("exp", UnaryOp::Exp, [](double x) { return std::exp(x); }, -110, 100, 2));
  c.push_back(U("tanh", UnaryOp::Tanh, [](double x) { return std::tanh(x); }, -20, 20, 3));
  c.push_back(U("sigmoid", UnaryOp::Sigmoid, sigmoid, -110, 100, 3));
  c.push_back(U("erf", UnaryOp::Erf, [](double x) { return std::erf(x); }, -10, 10, 3));
  c.push_back(U("silu", UnaryOp::Silu, [](double x) { return x * sigmoid(x); }, -80, 1e4, 3));
  c.push_back(U("mish", UnaryOp::Mish, [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }, -80, 1e4, 4));
  // gelu's erf form (vec_gelu_impl.h): Phi(-|x|) = t G(t) e^{-x^2/2} keeps relative accuracy
  // into the left tail, so only results in the subnormal range (< 2^-126, where f32 itself has
  // no relative precision) are compared absolutely. Measured: 7.1 ulp here, 7.9 on the dense
  // sweep below (worst near x = 0, from the roundings of t, G(t) and e at Phi ~ 1/2).
  c.push_back(U("gelu", UnaryOp::Gelu, [](double x) { return 0.5 * x * std::erfc(-x * M_SQRT1_2); }, -40, 1e4, 10,
                kFltMin));
  // For x < 0 gelu_tanh is ~x e^{2u} with u ~ -0.036 x^3: its condition number is ~|2u| (6 at
  // x = -2.8, 15 at -4.8, 66 at -9), so the f32 rounding of u (and of sqrt(2/pi)) alone costs
  // several ulps near -3 and tens further out; results under 1e-12
  // (x < -7) are compared absolutely. (The tanh form's 1 + tanh(u) has no correct digit there.)
  c.push_back(U("gelu_tanh", UnaryOp::GeluTanh, [](double x) { return x * gelu_tanh_sig(x); }, -3, 1e4, 16));
  c.push_back(U("gelu_tanh_left_tail", UnaryOp::GeluTanh, [](double x) { return x * gelu_tanh_sig(x); }, -40, -3, 64,
                1e-12));
  Case sp = U("softplus", UnaryOp::Softplus, [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, -80, 1e4,
              4);
  sp.a = 1, sp.b = 20;
  c.push_back(sp);
  Case sp2 = U("softplus_beta2_threshold3", UnaryOp::Softplus,
               [](double x) { return 2 * x > 3 ? x : std::log1p(std::exp(2 * x)) / 2; }, -40, 100, 4);
  sp2.a = 2, sp2.b = 3;
  c.push_back(sp2);
  Case spd = U("softplus_deriv_beta2_threshold3", UnaryOp::SoftplusDeriv,
               [](double x) { return 2 * x > 3 ? 1.0 : sigmoid(2 * x); }, -60, 100, 3);
  spd.a = 2, spd.b = 3;
  c.push_back(spd);
  // The derivatives cross 0 inside the range, where their terms cancel: ulps of the terms' size.
  Case silu_grad = B("silu_grad", BinaryOp::SiluGrad,
                     [](double x) { const double s = sigmoid(x); return s * (1 + x * (1 - s)); }, -80, 1e4, 4, 0);
  silu_grad.scale = [](double x) { const double s = sigmoid(x); return s * (1 + std::fabs(x * (1 - s))); };
  c.push_back(silu_grad);
  Case mish_grad = B("mish_grad", BinaryOp::MishGrad,
                     [](double x) {
                       const double t = std::tanh(std::log1p(std::exp(x))), s = sigmoid(x);
                       return t + x * s * (1 - t * t);
                     },
                     -80, 1e4, 6, 0);
  mish_grad.scale = [](double x) {
    const double t = std::tanh(std::log1p(std::exp(x))), s = sigmoid(x);
    return t + std::fabs(x * s * (1 - t * t));
  };
  c.push_back(mish_grad);
  // Phi(x) + x phi(x): one exp for both terms; held to ulps of the terms' size (they cancel near
  // x = -0.75 and in the left tail). Measured: 6.8 ulp here, 7.2 on the dense sweep (near x = 0).
  Case gelu_grad = B("gelu_grad", BinaryOp::GeluGrad,
                     [](double x) { return 0.5 * std::erfc(-x * M_SQRT1_2) + x * std::exp(-0.5 * x * x) * kInvSqrt2Pi; },
                     -40, 1e4, 10, kFltMin);
  gelu_grad.scale = [](double x) {
    return 0.5 * std::erfc(-x * M_SQRT1_2) + std::fabs(x * std::exp(-0.5 * x * x) * kInvSqrt2Pi);
  };
  c.push_back(gelu_grad);
  const auto gelu_tanh_grad_terms = [](double x, bool abs) {
    const double s = gelu_tanh_sig(x);
    const double du = be::kGeluTanhBeta * (1 + 3 * be::kGeluTanhKappa * x * x);
    const double second = 2 * x * s * (1 - s) * du;
    return s + (abs ? std::fabs(second) : second);
  };
  Case gelu_tanh_grad = B("gelu_tanh_grad", BinaryOp::GeluTanhGrad, [=](double x) { return gelu_tanh_grad_terms(x, false); },
                          -3, 1e4, 16, 0);
  gelu_tanh_grad.scale = [=](double x) { return gelu_tanh_grad_terms(x, true); };
  c.push_back(gelu_tanh_grad);
  return c;
}

/// Every 2039th positive float bit pattern and its negation, inside [lo, hi].
std::vector<float> sweep(float lo, float hi) {
  std::vector<float> xs;
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 2039) {
    float v;
    std::memcpy(&v, &bits, 4);
    if (v >= lo && v <= hi) xs.push_back(v);
    if (-v >= lo && -v <= hi) xs.push_back(-v);
  }
  xs.push_back(lo);
  xs.push_back(hi);
  return xs;  // size not a multiple of 8 in general: the masked tail runs too
}

std::vector<float> run(const Case& c, const std::vector<float>& xs) {
  std::vector<float> out(xs.size());
  if (c.unary) {
    vec::unary_f32(c.uop, xs.data(), out.data(), int64_t(xs.size()), c.a, c.b);
  } else {  // incoming gradient 1: the row then returns the derivative
    std::vector<float> ones(xs.size(), 1.0f);
    vec::binary_f32(c.bop, ones.data(), xs.data(), out.data(), int64_t(xs.size()));
  }
  return out;
}

/// The f32 spacing at v (the smallest subnormal at 0).
double spacing(double v) {
  const float a = std::fabs(float(v));
  return a == 0 ? double(std::numeric_limits<float>::denorm_min())
                : double(std::nextafter(a, std::numeric_limits<float>::infinity()) - a);
}

/// |got - want| in units of the f32 spacing at `at` (want itself unless given).
double ulps(float got, double want, double at) {
  const float wf = float(want);
  if (std::isinf(wf)) return std::isinf(got) && (got > 0) == (wf > 0) ? 0 : 1e30;
  return std::fabs(double(got) - want) / spacing(at);
}

class VecMath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!vec::available()) GTEST_SKIP() << "this CPU has no AVX2+FMA (or NABLA_CPU_BASELINE is set): the scalar rows run";
  }
};

/// The vector widths this CPU runs: 8 lanes (AVX2), and 16 (AVX-512) where it has it; f(lanes)
/// runs with the rows that have a 16-lane build taking that width or not.
template <typename F>
void for_each_width(F&& f) {
  const bool has_512 = vec::avx512_available();
  vec::allow_avx512(false);
  f(8);
  vec::allow_avx512(true);
  if (has_512) f(16);
}

TEST_F(VecMath, SweepWithinUlpBounds) {
  for_each_width([](int lanes) {
  std::printf("%d lanes (rows without a 16-lane build run 8 lanes)\n", lanes);
  for (const Case& c : cases()) {
    if (lanes == 16 && !(c.uop == UnaryOp::Gelu || c.bop == BinaryOp::GeluGrad)) continue;
    const std::vector<float> xs = sweep(c.lo, c.hi);
    const std::vector<float> got = run(c, xs);
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = c.ref(double(xs[i]));
      if (std::fabs(double(got[i]) - want) <= c.abs_floor) continue;
      const double at = c.scale ? std::max(std::fabs(want), c.scale(double(xs[i]))) : want;
      const double e = ulps(got[i], want, at);
      if (e > worst || std::isnan(got[i])) worst = std::isnan(got[i]) ? 1e30 : e, worst_x = xs[i];
    }
    std::printf("%-28s max %6.2f ulp (bound %g) over %zu points\n", c.name.c_str(), worst, c.max_ulp, xs.size());
    EXPECT_LE(worst, c.max_ulp) << c.name << " (" << lanes << " lanes): worst at x = " << worst_x << " ("
                                << xs.size() << " points)";
  }
  });
}

// gelu (erf form) and its derivative on a denser sweep of the range where they are neither 0,
// x nor 1 in f32 (every 509th float of [-15, 15], ~4.4M points, both widths), including the
// far left tail down to the subnormal range, against erfc and exp in double: 10 ulp, as above.
TEST_F(VecMath, GeluDenseSweepBothWidths) {
  std::vector<float> xs;
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 509) {
    float v;
    std::memcpy(&v, &bits, 4);
    if (v > 15.0f) break;
    xs.push_back(v);
    xs.push_back(-v);
  }
  std::vector<double> phi(xs.size()), pdf(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    phi[i] = 0.5 * std::erfc(-double(xs[i]) * M_SQRT1_2);
    pdf[i] = std::exp(-0.5 * double(xs[i]) * double(xs[i])) * kInvSqrt2Pi;
  }
  const std::vector<float> ones(xs.size(), 1.0f);
  for_each_width([&](int lanes) {
    std::vector<float> y(xs.size()), dy(xs.size());
    vec::unary_f32(UnaryOp::Gelu, xs.data(), y.data(), int64_t(xs.size()), 0, 0);
    vec::binary_f32(BinaryOp::GeluGrad, ones.data(), xs.data(), dy.data(), int64_t(xs.size()));
    double worst_y = 0, worst_dy = 0;
    float at_y = 0, at_dy = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i], want_y = x * phi[i], want_dy = phi[i] + x * pdf[i];
      if (std::fabs(y[i] - want_y) > kFltMin) {
        const double e = std::isnan(y[i]) ? 1e30 : ulps(y[i], want_y, want_y);
        if (e > worst_y) worst_y = e, at_y = xs[i];
      }
      if (std::fabs(dy[i] - want_dy) > kFltMin) {
        const double e = std::isnan(dy[i]) ? 1e30 : ulps(dy[i], want_dy, phi[i] + std::fabs(x * pdf[i]));
        if (e > worst_dy) worst_dy = e, at_dy = xs[i];
      }
    }
    std::printf("gelu dense, %2d lanes: max %.2f ulp (at %g), gelu_grad max %.2f ulp (at %g), %zu points\n", lanes,
                worst_y, double(at_y), worst_dy, double(at_dy), xs.size());
    EXPECT_LE(worst_y, 10) << lanes << " lanes, at x = " << at_y;
    EXPECT_LE(worst_dy, 10) << lanes << " lanes, at x = " << at_dy;
  });
}

// The scalar rows (what glibc's functions give) and the vector kernels agree on the edges.
TEST_F(VecMath, SpecialValuesMatchScalarRows) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> xs = {nan,   inf,   -inf,   0.0f,  -0.0f,  FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN, FLT_MAX,
                                 -FLT_MAX, 88.72f, 88.73f, 89.0f, -87.3f, -103.0f, -103.9f, -104.0f, -150.0f,
                                 20.0f, 20.01f, 44.5f, 3.99f, 4.0f,  -4.0f,  5.66f,  -5.66f,  0.875f, -0.875f,
                                 0.625f, -0.625f, 9.0f, -9.0f, 1e-20f, -1e-20f, 1e20f, -1e20f, 7e12f, -7e12f};
  struct Row {
    std::string name;
    bool unary;
    UnaryOp uop;
    BinaryOp bop;
    std::function<float(float)> scalar;
  };
  const double a = 1, b = 20;  // softplus's defaults
  const std::vector<Row> rows = {
      {"exp", true, UnaryOp::Exp, BinaryOp::Add, [](float x) { return std::exp(x); }},
      {"tanh", true, UnaryOp::Tanh, BinaryOp::Add, [](float x) { return std::tanh(x); }},
      {"sigmoid", true, UnaryOp::Sigmoid, BinaryOp::Add, [](float x) { return 1.0f / (1.0f + std::exp(-x)); }},
      {"erf", true, UnaryOp::Erf, BinaryOp::Add, [](float x) { return std::erf(x); }},
      {"silu", true, UnaryOp::Silu, BinaryOp::Add, [](float x) { return be::silu_of(x); }},
      {"mish", true, UnaryOp::Mish, BinaryOp::Add, [](float x) { return be::mish_of(x); }},
      {"gelu", true, UnaryOp::Gelu, BinaryOp::Add, [](float x) { return be::gelu_of(x); }},
      {"gelu_tanh", true, UnaryOp::GeluTanh, BinaryOp::Add, [](float x) { return be::gelu_tanh_of(x); }},
      {"softplus", true, UnaryOp::Softplus, BinaryOp::Add, [=](float x) { return be::softplus_of(x, a, b); }},
      {"softplus_deriv", true, UnaryOp::SoftplusDeriv, BinaryOp::Add,
       [=](float x) { return be::softplus_deriv_of(x, a, b); }},
      {"silu_grad", false, UnaryOp::Neg, BinaryOp::SiluGrad, [](float x) { return be::silu_grad_of(x); }},
      {"mish_grad", false, UnaryOp::Neg, BinaryOp::MishGrad, [](float x) { return be::mish_grad_of(x); }},
      {"gelu_grad", false, UnaryOp::Neg, BinaryOp::GeluGrad, [](float x) { return be::gelu_grad_of(x); }},
      {"gelu_tanh_grad", false, UnaryOp::Neg, BinaryOp::GeluTanhGrad, [](float x) { return be::gelu_tanh_grad_of(x); }},
  };
  for_each_width([&](int lanes) {
  for (const Row& r : rows) {
    Case c{r.name + (lanes == 16 ? " (16 lanes)" : ""), r.unary, r.uop, r.bop, nullptr, 0, 0, 0, 0, a, b};
    const std::vector<float> got = run(c, xs);
    for (size_t i = 0; i < xs.size(); ++i) {
      const float want = r.scalar(xs[i]);
      const std::string where = r.name + "(" + std::to_string(xs[i]) + "): vector " + std::to_string(got[i]) +
                                ", scalar " + std::to_string(want);
      if (std::isnan(want) || std::isnan(got[i])) {
        EXPECT_EQ(std::isnan(want), std::isnan(got[i])) << where;
      } else if (std::isinf(want) || std::isinf(got[i])) {
        EXPECT_EQ(want, got[i]) << where;
      } else {
        // The scalar rows lose accuracy where the vector ones do not (1 + erf(z) for z << 0,
        // 1 + tanh(u) for u << 0): both must agree to within f32 resolution of the larger terms.
        EXPECT_NEAR(got[i], want, 1e-6 * std::max(1.0f, std::fabs(want))) << where;
      }
    }
  }
  });
}

}  // namespace

namespace {
// A sum()'s or mean()'s gradient reaches the backward rows broadcast (stride 0): the same
// vector kernel runs with the gradient in every lane, giving the bits of a materialized one.
TEST_F(VecMath, BroadcastGradientMatchesMaterialized) {
  const std::vector<float> xs = sweep(-12, 12);
  const std::vector<float> g(xs.size(), 0.37f);
  for (BinaryOp op : {BinaryOp::SiluGrad, BinaryOp::MishGrad, BinaryOp::GeluGrad, BinaryOp::GeluTanhGrad}) {
    std::vector<float> full(xs.size()), bcast(xs.size());
    vec::binary_f32(op, g.data(), xs.data(), full.data(), int64_t(xs.size()));
    vec::binary_f32_scalar_x(op, 0.37f, xs.data(), bcast.data(), int64_t(xs.size()));
    EXPECT_EQ(std::memcmp(full.data(), bcast.data(), full.size() * sizeof(float)), 0) << be::op_name(op);
  }
}

// The 16-lane gelu rows are the 8-lane source compiled for AVX-512 (the same operations, FMA
// included, and the same exp): they give the same bits, special values included.
TEST_F(VecMath, GeluWidthsGiveTheSameBits) {
  if (!vec::avx512_available()) GTEST_SKIP() << "this CPU has no AVX-512F: only the 8-lane rows run";
  std::vector<float> xs = sweep(-40, 1e4);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float v : {nan, inf, -inf, 0.0f, -0.0f, FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 14.5f, -14.5f, 14.51f, -14.51f})
    xs.push_back(v);
  const std::vector<float> g(xs.size(), 0.37f);
  std::vector<float> y[2], dy[2], dyb[2];
  for (int w = 0; w < 2; ++w) {
    vec::allow_avx512(w == 1);
    y[w].resize(xs.size()), dy[w].resize(xs.size()), dyb[w].resize(xs.size());
    vec::unary_f32(UnaryOp::Gelu, xs.data(), y[w].data(), int64_t(xs.size()), 0, 0);
    vec::binary_f32(BinaryOp::GeluGrad, g.data(), xs.data(), dy[w].data(), int64_t(xs.size()));
    vec::binary_f32_scalar_x(BinaryOp::GeluGrad, 0.37f, xs.data(), dyb[w].data(), int64_t(xs.size()));
  }
  vec::allow_avx512(true);
  const size_t bytes = xs.size() * sizeof(float);
  EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), bytes), 0);
  EXPECT_EQ(std::memcmp(dy[0].data(), dy[1].data(), bytes), 0);
  EXPECT_EQ(std::memcmp(dyb[0].data(), dyb[1].data(), bytes), 0);
  EXPECT_EQ(std::memcmp(dy[1].data(), dyb[1].data(), bytes), 0);
}

// log_softmax's exps must have the same bits on every CPU (a checkpoint resumed without AVX2
// continues bit-exactly): the scalar twin gives the vector exp's bits on the whole range,
// the clamps, the subnormal results and the special values.
TEST_F(VecMath, ExpScalarTwinHasTheVectorBits) {
  std::vector<float> xs = sweep(-110, 100);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float v : {nan, inf, -inf, 0.0f, -0.0f, FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 88.72f, 88.73f, 89.0f, -87.3f, -103.9f,
                  -104.0f, -150.0f, 0.5f * 0.693359375f, -0.5f * 0.693359375f})
    xs.push_back(v);
  std::vector<float> vec_out(xs.size()), portable(xs.size());
  vec::unary_f32(UnaryOp::Exp, xs.data(), vec_out.data(), int64_t(xs.size()), 0.0, 0.0);
  vec::exp_f32_portable(xs.data(), portable.data(), int64_t(xs.size()));
  size_t differ = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const float twin = vec::exp_f32_twin(xs[i]);
    const bool same = std::memcmp(&twin, &vec_out[i], sizeof(float)) == 0;
    if (!same && differ++ < 5) ADD_FAILURE() << "x = " << xs[i] << ": twin " << twin << ", vector " << vec_out[i];
  }
  EXPECT_EQ(differ, 0u) << "of " << xs.size() << " points";
  EXPECT_EQ(std::memcmp(vec_out.data(), portable.data(), xs.size() * sizeof(float)), 0);
}
}  // namespace
