// bf16 / f16 convolutions on the CPU through oneDNN's native 16-bit kernels (where it has them,
// src/backend/cpu/conv_onednn.cpp) and through the widened path (operands widened to f32, the f32
// kernels, one rounding): forward (with bias, with the fused ReLU), input, weight and bias
// gradients, for conv2d over a grid of geometries, conv1d and conv_transpose2d, against f64
// results computed from the same rounded inputs. Also: which path ran (native where oneDNN offers
// a non-reference kernel, and always on a CPU with AVX512_BF16 for the bench CNN's shapes in bf16),
// NaN through the fused ReLU, and results independent of the thread count.
//
// The bound. Both paths multiply 16-bit values exactly in f32, sum the K products (and the bias)
// in f32 in some order, and round the sum once to the 16-bit dtype. With u32 = 2^-24 and u16 the
// dtype's unit roundoff (bf16 2^-8, f16 2^-11), any order of f32 summation is within K*u32*S of
// the exact sum, S = the sum of |x||w| (|bias| included), and the rounding adds u16 of the
// result: |got - exact| <= u16*|exact| + (1 + u16)*K*u32*S. A path that rounded a partial sum to
// 16 bits would break it wherever cancellation leaves |exact| well below S.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../../src/backend/cpu/conv_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
namespace cpu = nabla::backend::cpu;
namespace onednn = nabla::backend::cpu::onednn;
using nb::DType;
using nb::Tensor;
using nb::TensorList;

double unit_roundoff(DType dt) { return dt == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11); }

/// randn values rounded to dt, held as f64 (exactly) for the references.
Tensor rounded_randn(const nb::Shape& shape, DType dt, uint64_t seed, double scale = 1) {
  nb::manual_seed(seed);
  return (nb::randn(shape) * scale).to(dt).to(DType::f64);
}

/// Restores the 16-bit native switch, the f32 implementation choice and the thread count.
struct RestoreSettings {
  bool native = cpu::half_conv_native();
  int threads = nb::get_num_threads();
  ~RestoreSettings() {
    cpu::set_half_conv_native(native);
    nb::set_num_threads(threads);
  }
};

/// Checks every element of got (16-bit) against exact (f64) with the bound above; abs_sum is S
/// per element and terms is K. Prints the largest error in units of the bound.
void expect_within_bound(const Tensor& got, const Tensor& exact, const Tensor& abs_sum, double terms, DType dt,
                         const std::string& what) {
  ASSERT_EQ(got.dtype(), dt) << what;
  ASSERT_EQ(got.shape(), exact.shape()) << what;
  const std::vector<double> g = got.to_vector<double>(), e = exact.to_vector<double>(), s = abs_sum.to_vector<double>();
  const double u16 = unit_roundoff(dt), u32 = std::ldexp(1.0, -24);
  double worst = 0;
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double bound = u16 * std::abs(e[i]) + (1 + u16) * terms * u32 * s[i];
    const double err = std::abs(g[i] - e[i]);
    if (bound > 0) worst = std::max(worst, err / bound);
    if (!(err <= bound) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", exact " << e[i] << " (sum of |terms| " << s[i]
                    << ", bound " << bound << ")";
  }
  EXPECT_EQ(bad, 0) << what;
  std::printf("[half_conv] %-48s %s: largest error / bound %.3f\n", what.c_str(), nb::dtype_name(dt), worst);
}

// ---- one bilinear convolution op, its f64 reference and its bounds ------------------------------

/// A convolution-like op y = f(x, w) + bias, bilinear in (x, w); `terms` are K for y, gx, gw and gb.
struct BilinearCase {
  std::string name;
  nb::Shape x, w;
  int64_t bias_size;  ///< 0: no bias
  std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)> f;
  double k_out, k_gx, k_gw, k_gb;
};

/// Runs the case in dt (inputs rounded to dt) and checks y, gx, gw (and gb) against f64 from the
/// same rounded values; the sums of |terms| are f applied to |x|, |w|, |b| and |gout| (f is bilinear,
/// so each gradient of <f(|x|, |w|) + |b|, |gout|> is the sum of its terms' magnitudes).
void check_case(const BilinearCase& c, DType dt, uint64_t seed, const std::string& path) {
  SCOPED_TRACE(c.name + " (" + path + ")");
  const Tensor x = rounded_randn(c.x, dt, seed), w = rounded_randn(c.w, dt, seed + 1, 0.1);
  const Tensor b = c.bias_size ? rounded_randn({c.bias_size}, dt, seed + 2) : Tensor();
  Tensor x64 = x.clone().requires_grad_(), w64 = w.clone().requires_grad_();
  Tensor b64 = b.defined() ? b.clone().requires_grad_() : Tensor();
  const Tensor y64 = c.f(x64, w64, b64);
  const Tensor go = rounded_randn(y64.shape(), dt, seed + 3);
  TensorList inputs64{x64, w64};
  if (b.defined()) inputs64.push_back(b64);
  const TensorList g64 = nb::grad({y64}, inputs64, {go});
  Tensor xa = nb::abs(x).requires_grad_(), wa = nb::abs(w).requires_grad_();
  Tensor ba = b.defined() ? nb::abs(b).requires_grad_() : Tensor();
  const Tensor ya = c.f(xa, wa, ba);
  TensorList inputs_a{xa, wa};
  if (b.defined()) inputs_a.push_back(ba);
  const TensorList ga = nb::grad({ya}, inputs_a, {nb::abs(go)});

  Tensor xh = x.to(dt).requires_grad_(), wh = w.to(dt).requires_grad_();
  Tensor bh = b.defined() ? b.to(dt).requires_grad_() : Tensor();
  const Tensor yh = c.f(xh, wh, bh);
  TensorList inputs_h{xh, wh};
  if (b.defined()) inputs_h.push_back(bh);
  const TensorList gh = nb::grad({yh}, inputs_h, {go.to(dt)});
  expect_within_bound(yh, y64.detach(), ya.detach(), c.k_out, dt, c.name + " output");
  expect_within_bound(gh[0], g64[0], ga[0], c.k_gx, dt, c.name + " input gradient");
  expect_within_bound(gh[1], g64[1], ga[1], c.k_gw, dt, c.name + " weight gradient");
  if (b.defined()) expect_within_bound(gh[2], g64[2], ga[2], c.k_gb, dt, c.name + " bias gradient");
}

// ---- conv2d geometries ----------------------------------------------------------------------------

struct Geometry {
  std::string name;
  int64_t N, C, H, W, O, kh, kw;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  bool bias = true;
  bool relu = false;

  nb::Conv2dOptions options() const {
    return {.stride = {sh, sw}, .padding = {ph, pw}, .dilation = {dh, dw}, .groups = groups, .fuse_relu = relu};
  }
  nb::backend::ConvGeom geom() const {
    nb::backend::ConvGeom g{};
    g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.kh = kh, g.kw = kw;
    g.Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    g.Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.dh = dh, g.dw = dw, g.groups = groups;
    return g;
  }
  BilinearCase as_case() const {
    const nb::backend::ConvGeom g = geom();
    const nb::Conv2dOptions o = options();
    const bool r = relu;
    auto f = [o, r](const Tensor& x, const Tensor& w, const Tensor& b) {
      // f64 (the reference) has no fused kernel: relu after the exact sum (relu commutes with the
      // rounding; on the sums of |terms|, all positive with a bias, it changes nothing).
      if (r && x.dtype() == DType::f64) {
        nb::Conv2dOptions plain = o;
        plain.fuse_relu = false;
        return nb::relu(nb::conv2d(x, w, b, plain));
      }
      return nb::conv2d(x, w, b, o);
    };
    const double out_terms = double(C / groups * kh * kw) + (bias ? 1 : 0);
    return BilinearCase{name, {N, C, H, W}, {O, C / groups, kh, kw}, bias ? O : 0, f,
                        out_terms, double(O / groups * kh * kw), double(N * g.Ho * g.Wo), double(N * g.Ho * g.Wo)};
  }
};

std::vector<Geometry> geometries() {
  return {
      // The cnn preset's convolutions at batch 64 (3x3, padding 1), and the same layers with 5x5 kernels.
      {.name = "cnn conv1 1->32 3x3", .N = 64, .C = 1, .H = 28, .W = 28, .O = 32, .kh = 3, .kw = 3, .ph = 1, .pw = 1},
      {.name = "cnn conv2 32->64 3x3", .N = 64, .C = 32, .H = 14, .W = 14, .O = 64, .kh = 3, .kw = 3, .ph = 1, .pw = 1},
      {.name = "cnn conv1 1->32 5x5", .N = 64, .C = 1, .H = 28, .W = 28, .O = 32, .kh = 5, .kw = 5, .ph = 2, .pw = 2},
      {.name = "cnn conv2 32->64 5x5", .N = 64, .C = 32, .H = 14, .W = 14, .O = 64, .kh = 5, .kw = 5, .ph = 2, .pw = 2},
      {.name = "fused relu 8->16", .N = 3, .C = 8, .H = 9, .W = 9, .O = 16, .kh = 3, .kw = 3, .ph = 1, .pw = 1,
       .relu = true},
      {.name = "stride 2 pad 1 16->32", .N = 4, .C = 16, .H = 15, .W = 15, .O = 32, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
       .ph = 1, .pw = 1},
      {.name = "dilation 2 8->16", .N = 3, .C = 8, .H = 12, .W = 12, .O = 16, .kh = 3, .kw = 3, .ph = 2, .pw = 2,
       .dh = 2, .dw = 2},
      {.name = "groups 4 stride 2 16->32", .N = 2, .C = 16, .H = 10, .W = 10, .O = 32, .kh = 3, .kw = 3, .sh = 2,
       .sw = 2, .ph = 1, .pw = 1, .groups = 4},
      {.name = "depthwise 16", .N = 2, .C = 16, .H = 10, .W = 10, .O = 16, .kh = 3, .kw = 3, .ph = 1, .pw = 1,
       .groups = 16},
      {.name = "1x1 32->64 no bias", .N = 4, .C = 32, .H = 7, .W = 7, .O = 64, .kh = 1, .kw = 1, .bias = false},
      {.name = "1x1 stride 2 16->32", .N = 4, .C = 16, .H = 8, .W = 8, .O = 32, .kh = 1, .kw = 1, .sh = 2, .sw = 2},
      {.name = "odd 3->5 3x2 stride (2,1)", .N = 2, .C = 3, .H = 9, .W = 11, .O = 5, .kh = 3, .kw = 2, .sh = 2, .sw = 1,
       .ph = 1, .pw = 0},
      {.name = "unread last row 4->8 stride 2", .N = 2, .C = 4, .H = 8, .W = 8, .O = 8, .kh = 3, .kw = 3, .sh = 2,
       .sw = 2},
  };
}

/// Whether oneDNN offers a usable 16-bit kernel for each pass of g (as conv_onednn.cpp decides).
bool offered(const std::string& impl) { return !impl.empty() && impl.find("ref") == std::string::npos; }

class HalfConvNative : public ::testing::TestWithParam<DType> {};

// Every geometry, on the native path (where oneDNN offers it; the widened path elsewhere) and on
// the widened path: within the bound of the exact result. The native path must run exactly for
// the passes oneDNN offers (counted executions: forward, then input and weight gradients).
TEST_P(HalfConvNative, Conv2dWithinBoundOnBothPaths) {
  const DType dt = GetParam();
  RestoreSettings restore;
  uint64_t seed = 10;
  for (const Geometry& geo : geometries()) {
    const BilinearCase c = geo.as_case();
    const nb::backend::ConvGeom g = geo.geom();
    const std::string fwd = onednn::impl_name(dt, g, geo.bias ? onednn::OneDnnPass::ForwardBias
                                                              : onednn::OneDnnPass::Forward),
                      bwd_d = onednn::impl_name(dt, g, onednn::OneDnnPass::InputGrad),
                      bwd_w = onednn::impl_name(dt, g, onednn::OneDnnPass::WeightGrad);
    std::printf("[half_conv] %-30s %s oneDNN: forward '%s', input grad '%s', weight grad '%s'\n", geo.name.c_str(),
                nb::dtype_name(dt), fwd.c_str(), bwd_d.c_str(), bwd_w.c_str());
    for (bool native : {true, false}) {
      cpu::set_half_conv_native(native);
      const int64_t before = onednn::half_native_runs();
      check_case(c, dt, seed, native ? "native" : "widened");
      const int64_t runs = onednn::half_native_runs() - before;
      const int64_t want = native ? int64_t(offered(fwd)) + int64_t(offered(bwd_d)) + int64_t(offered(bwd_w)) : 0;
      EXPECT_EQ(runs, want) << geo.name << ": 16-bit oneDNN executions (native " << native << ")";
    }
    seed += 10;
  }
}

// conv1d runs on conv2d's kernels over [N, C, 1, L]; conv_transpose2d's forward is conv2d's input
// gradient and its backward conv2d and conv2d's weight gradient: all take the 16-bit paths.
TEST_P(HalfConvNative, Conv1dAndConvTranspose2dWithinBound) {
  const DType dt = GetParam();
  RestoreSettings restore;
  const nb::Conv1dOptions o1{.stride = 2, .padding = 2};
  const BilinearCase c1{"conv1d 8->16 k5 stride 2",
                        {4, 8, 50},
                        {16, 8, 5},
                        16,
                        [o1](const Tensor& x, const Tensor& w, const Tensor& b) { return nb::conv1d(x, w, b, o1); },
                        8 * 5 + 1,
                        16 * 5,
                        4 * 25,
                        4 * 25};
  const nb::ConvTranspose2dOptions ot{.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}};
  // Input [3, 16, 7, 7], weight [16, 8, 3, 3]: output [3, 8, 14, 14]; each output sums at most
  // 16 * 3 * 3 products, each input-gradient value 8 * 9, each weight gradient 3 * 7 * 7. No
  // bias: conv_transpose2d adds it with a separate 16-bit add after the rounded convolution (two
  // roundings, outside this bound).
  const BilinearCase ct{
      "conv_transpose2d 16->8 stride 2",
      {3, 16, 7, 7},
      {16, 8, 3, 3},
      0,
      [ot](const Tensor& x, const Tensor& w, const Tensor& b) { return nb::conv_transpose2d(x, w, b, ot); },
      16 * 9,
      8 * 9,
      3 * 7 * 7,
      0};
  for (bool native : {true, false}) {
    cpu::set_half_conv_native(native);
    check_case(c1, dt, 200, native ? "native" : "widened");
    check_case(ct, dt, 300, native ? "native" : "widened");
  }
}

// On a CPU with AVX512_BF16, oneDNN has bf16 JIT kernels for the bench CNN's layers in every
// pass, and nabla runs them (the reason for the native path: bench/README.md).
TEST_P(HalfConvNative, CnnLayersRunNativelyWhereTheCpuHasBf16) {
  const DType dt = GetParam();
  if (!cpu::conv_onednn_built()) GTEST_SKIP() << "built without oneDNN convolutions: the widened path only";
  if (dt != DType::bf16 || !__builtin_cpu_supports("avx512bf16"))
    GTEST_SKIP() << nb::dtype_name(dt) << ": no native kernels expected (oneDNN 2.x has no f16 convolution on CPUs)";
  RestoreSettings restore;
  cpu::set_half_conv_native(true);
  for (const Geometry& geo : {geometries()[0], geometries()[1]}) {
    const nb::backend::ConvGeom g = geo.geom();
    for (auto pass : {onednn::OneDnnPass::ForwardBias, onednn::OneDnnPass::InputGrad, onednn::OneDnnPass::WeightGrad}) {
      const std::string impl = onednn::impl_name(dt, g, pass);
      EXPECT_NE(impl.find("bf16"), std::string::npos) << geo.name << ": '" << impl << "'";
      EXPECT_EQ(impl.find("ref"), std::string::npos) << geo.name << ": '" << impl << "'";
    }
    // A training step's calls (fused ReLU forward, then both gradients and the bias's).
    nb::Conv2dOptions o = geo.options();
    o.fuse_relu = true;
    Tensor x = nb::randn({geo.N, geo.C, geo.H, geo.W}).to(dt).requires_grad_();
    Tensor w = (nb::randn({geo.O, geo.C, geo.kh, geo.kw}) * 0.1).to(dt).requires_grad_();
    Tensor b = nb::randn({geo.O}).to(dt).requires_grad_();
    const int64_t before = onednn::half_native_runs();
    Tensor y = nb::conv2d(x, w, b, o);
    nb::grad({y}, {x, w, b}, {nb::ones_like(y)});
    EXPECT_EQ(onednn::half_native_runs() - before, 3) << geo.name;
  }
}

// The fused ReLU on the native output keeps NaN (as relu does; a NaN must reach the loss) and
// maps negative values to +0.
TEST_P(HalfConvNative, FusedReluKeepsNaN) {
  const DType dt = GetParam();
  RestoreSettings restore;
  std::vector<double> xv(50, 0.0);
  xv[12] = std::nan("");  // channel 0, row 2, column 2
  const Tensor x = nb::from_vector(xv, {1, 2, 5, 5}).to(dt);
  const Tensor w = nb::full({3, 2, 1, 1}, -1.0).to(dt), b = nb::full({3}, -0.5).to(dt);
  nb::backend::ConvGeom g{};
  g.N = 1, g.C = 2, g.H = g.W = 5, g.O = 3, g.kh = g.kw = 1, g.Ho = g.Wo = 5;
  g.sh = g.sw = g.dh = g.dw = g.groups = 1;
  const bool offered_here = offered(onednn::impl_name(dt, g, onednn::OneDnnPass::ForwardBias));
  for (bool native : {true, false}) {
    cpu::set_half_conv_native(native);
    // 1x1: the NaN reaches one output per channel; every other output is -0.5 before the ReLU.
    const int64_t before = onednn::half_native_runs();
    const std::vector<double> v = nb::conv2d(x, w, b, {.fuse_relu = true}).to(DType::f64).to_vector<double>();
    EXPECT_EQ(onednn::half_native_runs() - before, native && offered_here ? 1 : 0) << "native " << native;
    int nans = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (std::isnan(v[i])) {
        ++nans;
        EXPECT_EQ(i % 25, 12u) << "NaN at " << i;
      } else {
        EXPECT_EQ(v[i], 0.0) << i;
        EXPECT_FALSE(std::signbit(v[i])) << "-0 at " << i;
      }
    }
    EXPECT_EQ(nans, 3) << "native " << native;
  }
}

// nabla's promise that results do not depend on the thread count holds on the native path:
// the bench CNN's layers, forward and every gradient, 1 and 2 threads, bit for bit (f16, which
// oneDNN 2.x does not run natively, checks the widened path over the oneDNN f32 kernels).
TEST_P(HalfConvNative, ResultsIndependentOfThreadCount) {
  const DType dt = GetParam();
  // Without oneDNN there is no native 16-bit path to compare (the widened path's im2col is checked
  // by ConvTestConv2d.Im2colWeightGradIndependentOfThreadCount).
  if (!cpu::conv_onednn_built()) GTEST_SKIP() << "built without oneDNN convolutions: no native path";
  RestoreSettings restore;
  cpu::set_half_conv_native(true);
  for (const Geometry& geo : {geometries()[0], geometries()[1]}) {
    std::vector<Tensor> results[2];
    for (int threads : {1, 2}) {
      nb::set_num_threads(threads);
      nb::manual_seed(3);
      Tensor x = nb::randn({8, geo.C, geo.H, geo.W}).to(dt).requires_grad_();
      Tensor w = (nb::randn({geo.O, geo.C, geo.kh, geo.kw}) * 0.1).to(dt).requires_grad_();
      Tensor b = nb::randn({geo.O}).to(dt).requires_grad_();
      Tensor y = nb::conv2d(x, w, b, geo.options());
      const TensorList g = nb::grad({y}, {x, w, b}, {nb::randn(y.shape()).to(dt)});
      results[threads - 1] = {y.to(DType::f32), g[0].to(DType::f32), g[1].to(DType::f32), g[2].to(DType::f32)};
    }
    const char* what[] = {"forward", "input gradient", "weight gradient", "bias gradient"};
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(nb::max(nb::abs(results[0][i] - results[1][i])).item<double>(), 0.0)
          << geo.name << " " << what[i] << " differs between 1 and 2 threads";
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfConvNative, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(nb::dtype_name(info.param)); });

}  // namespace
