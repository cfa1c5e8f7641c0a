// The widened 16-bit convolution and max_pool2d kernels convert a chunk of the batch (or of the
// planes) at a time instead of whole tensors (src/backend/cpu/conv.cpp, pool.cpp). Checked here:
//  - the forward (plain, with bias, with the fused ReLU) and the input gradient, whose values are
//    per sample, are bit for bit the whole-batch computation done by hand: operands widened to
//    f32, the f32 kernel on the whole batch, the result narrowed once;
//  - the weight gradient, summed over chunks in f32, is within the f32 summation bound of that
//    whole-batch f32 result (|got - ref32| <= u16*|ref32| + (1 + u16)*2*K*u32*S, K = N*Ho*Wo terms,
//    S = the sum of |x||gout| of each weight, computed in f64: both sums are within K*u32*S of the
//    exact one, and the narrowing adds u16 of the result);
//  - the bias gradient is the f64 lane sum of the 16-bit gout rounded once, bit for bit;
//  - max_pool2d's maxima and indices are bit for bit the f32 kernel's on the widened input;
//  - the allocator's peak during one 16-bit conv forward + backward and one max_pool2d stays
//    under the bound the chunk sizes give, and under what widening the whole tensors took.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../../src/backend/cpu/conv_impl.h"
#include "nabla/allocator.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
namespace cpu = nabla::backend::cpu;
using nabla::backend::ConvGeom;
using nabla::backend::PoolGeom;
using nb::DType;
using nb::Tensor;

struct RestoreSettings {
  int64_t widen = cpu::half_conv_widen_bytes();
  bool native = cpu::half_conv_native();
  int threads = nb::get_num_threads();
  ~RestoreSettings() {
    cpu::set_half_conv_widen_bytes(widen);
    cpu::set_half_conv_native(native);
    nb::set_num_threads(threads);
  }
};

ConvGeom geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad,
              int64_t groups = 1) {
  ConvGeom g{};
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.kh = k, g.kw = k, g.sh = stride, g.sw = stride, g.ph = pad, g.pw = pad;
  g.dh = 1, g.dw = 1, g.groups = groups;
  g.Ho = (H + 2 * pad - k) / stride + 1;
  g.Wo = (W + 2 * pad - k) / stride + 1;
  return g;
}

nb::Shape x_shape(const ConvGeom& g) { return {g.N, g.C, g.H, g.W}; }
nb::Shape w_shape(const ConvGeom& g) { return {g.O, g.C / g.groups, g.kh, g.kw}; }
nb::Shape out_shape(const ConvGeom& g) { return {g.N, g.O, g.Ho, g.Wo}; }

Tensor randn_as(const nb::Shape& s, DType dt, uint64_t seed) {
  nb::manual_seed(seed);
  return nb::randn(s).to(dt);
}
Tensor empty_as(const nb::Shape& s, DType dt) { return nb::empty(s, {.dtype = dt}); }

void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const size_t bytes = size_t(got.numel()) * nb::dtype_size(got.dtype());
  if (std::memcmp(got.raw_data(), want.raw_data(), bytes) == 0) return;
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  int shown = 0;
  for (size_t i = 0; i < a.size() && shown < 3; ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", whole-batch widened " << b[i];
      ++shown;
    }
  if (shown == 0) ADD_FAILURE() << what << ": bits differ";
}

// The cases: the cnn preset's two layer shapes (small), a strided grouped 5x5 one and a 1x1 one.
std::vector<ConvGeom> cases() {
  return {geom(10, 1, 12, 12, 8, 3, 1, 1), geom(10, 16, 7, 7, 32, 3, 1, 1), geom(9, 4, 11, 9, 6, 5, 2, 2, 2),
          geom(7, 8, 5, 5, 12, 1, 1, 0)};
}

std::string name(const ConvGeom& g, DType dt) {
  return std::string(nb::dtype_name(dt)) + " N" + std::to_string(g.N) + " C" + std::to_string(g.C) + " O" +
         std::to_string(g.O) + " k" + std::to_string(g.kh) + " s" + std::to_string(g.sh) + " g" +
         std::to_string(g.groups);
}

TEST(HalfConvChunks, MatchTheWholeBatchWidenedByHand) {
  RestoreSettings restore;
  cpu::set_half_conv_native(false);  // the widened path under test
  for (DType dt : {DType::bf16, DType::f16}) {
    for (const ConvGeom& g : cases()) {
      const std::string what = name(g, dt);
      const int64_t xs = g.C * g.H * g.W, os = g.O * g.Ho * g.Wo;
      // Two or three samples a chunk in every pass: several chunks and a smaller last one.
      cpu::set_half_conv_widen_bytes(3 * (xs + os) * int64_t(sizeof(float)));
      const Tensor x = randn_as(x_shape(g), dt, 1), w = randn_as(w_shape(g), dt, 2), b = randn_as({g.O}, dt, 3);
      const Tensor gout = randn_as(out_shape(g), dt, 4);
      const Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32), b32 = b.to(DType::f32),
                   go32 = gout.to(DType::f32);

      // By hand: the f32 kernels on the whole batch, each result narrowed once.
      Tensor out_ref = empty_as(out_shape(g), DType::f32), relu_ref = empty_as(out_shape(g), DType::f32);
      Tensor gx_ref = empty_as(x_shape(g), DType::f32), gw_ref = empty_as(w_shape(g), DType::f32);
      cpu::conv2d_forward(DType::f32, g, x32.raw_data(), w32.raw_data(), b32.raw_data(), out_ref.raw_data());
      cpu::conv2d_forward_relu(DType::f32, g, x32.raw_data(), w32.raw_data(), b32.raw_data(), relu_ref.raw_data());
      cpu::conv2d_input_grad(DType::f32, g, go32.raw_data(), w32.raw_data(), gx_ref.raw_data());
      cpu::conv2d_weight_grad(DType::f32, g, x32.raw_data(), go32.raw_data(), gw_ref.raw_data());

      Tensor out = empty_as(out_shape(g), dt), relu = empty_as(out_shape(g), dt), gx = empty_as(x_shape(g), dt);
      Tensor gx2 = empty_as(x_shape(g), dt), gw = empty_as(w_shape(g), dt), gw2 = empty_as(w_shape(g), dt);
      Tensor gb = empty_as({g.O}, dt);
      cpu::conv2d_forward(dt, g, x.raw_data(), w.raw_data(), b.raw_data(), out.raw_data());
      cpu::conv2d_forward_relu(dt, g, x.raw_data(), w.raw_data(), b.raw_data(), relu.raw_data());
      cpu::conv2d_input_grad(dt, g, gout.raw_data(), w.raw_data(), gx.raw_data());
      cpu::conv2d_weight_grad(dt, g, x.raw_data(), gout.raw_data(), gw.raw_data());
      cpu::conv2d_backward(dt, g, x.raw_data(), w.raw_data(), gout.raw_data(), gx2.raw_data(), gw2.raw_data(),
                           gb.raw_data());

      expect_same_bits(out, out_ref.to(dt), what + " forward");
      expect_same_bits(relu, relu_ref.to(dt), what + " forward + relu");
      expect_same_bits(gx, gx_ref.to(dt), what + " input gradient");
      expect_same_bits(gx2, gx_ref.to(dt), what + " input gradient (backward)");

      // The bias gradient: the f64 lane sums of the 16-bit gout (exact widening), rounded once.
      Tensor gb_ref = empty_as({g.O}, DType::f64);
      cpu::conv2d_bias_grad(DType::f64, g, gout.to(DType::f64).raw_data(), gb_ref.raw_data());
      expect_same_bits(gb, gb_ref.to(dt), what + " bias gradient");

      // The weight gradient within the f32 summation bound of the whole-batch f32 sum.
      Tensor s = empty_as(w_shape(g), DType::f64);
      cpu::conv2d_weight_grad(DType::f64, g, nb::abs(x.to(DType::f64)).raw_data(), nb::abs(gout.to(DType::f64)).raw_data(),
                              s.raw_data());
      // (conv2d_weight_grad alone and conv2d_backward chunk the batch differently: the chunks hold
      // x and gout, or x, gout and gx.)
      const std::vector<double> ref = gw_ref.to_vector<double>(), sv = s.to_vector<double>();
      const double u16 = dt == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11), u32 = std::ldexp(1.0, -24);
      const double K = double(g.N * g.Ho * g.Wo);
      for (const auto& [t, label] : {std::pair{gw, "weight gradient"}, std::pair{gw2, "weight gradient (backward)"}}) {
        const std::vector<double> got = t.to_vector<double>();
        int bad = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          const double bound = u16 * std::abs(ref[i]) + (1 + u16) * 2 * K * u32 * sv[i];
          if (!(std::abs(got[i] - ref[i]) <= bound) && ++bad <= 3)
            ADD_FAILURE() << what << " " << label << " element " << i << ": " << got[i] << ", whole-batch f32 "
                          << ref[i] << ", bound " << bound;
        }
        EXPECT_EQ(bad, 0) << what << " " << label;
      }
    }
  }
}

TEST(HalfConvChunks, ResultsDoNotDependOnTheThreadCount) {
  RestoreSettings restore;
  cpu::set_half_conv_native(false);
  const ConvGeom g = geom(12, 16, 7, 7, 32, 3, 1, 1);
  cpu::set_half_conv_widen_bytes(4 * (g.C * g.H * g.W + g.O * g.Ho * g.Wo) * int64_t(sizeof(float)));
  const DType dt = DType::bf16;
  const Tensor x = randn_as(x_shape(g), dt, 5), w = randn_as(w_shape(g), dt, 6), gout = randn_as(out_shape(g), dt, 7);
  std::vector<Tensor> first;
  for (int threads : {1, 2}) {
    nb::set_num_threads(threads);
    Tensor out = empty_as(out_shape(g), dt), gx = empty_as(x_shape(g), dt), gw = empty_as(w_shape(g), dt);
    Tensor gb = empty_as({g.O}, dt);
    cpu::conv2d_forward(dt, g, x.raw_data(), w.raw_data(), nullptr, out.raw_data());
    cpu::conv2d_backward(dt, g, x.raw_data(), w.raw_data(), gout.raw_data(), gx.raw_data(), gw.raw_data(),
                         gb.raw_data());
    std::vector<Tensor> now{out, gx, gw, gb};
    if (first.empty()) {
      first = now;
      continue;
    }
    // The forward and input gradient are per sample; the weight gradient's bits follow the f32
    // kernel's (oneDNN's f32 weight gradient may split the batch by thread), so only its chunking
    // is checked to add nothing thread-dependent: the 1x1 f32 path below.
    expect_same_bits(now[0], first[0], "forward, 2 threads vs 1");
    expect_same_bits(now[1], first[1], "input gradient, 2 threads vs 1");
    expect_same_bits(now[3], first[3], "bias gradient, 2 threads vs 1");
  }
}

/// Rounds up as src/core/allocator.cpp's size classes do (at most 1/8 of the next power of two
/// above 4 KiB, 64 bytes below).
int64_t size_class_bound(int64_t bytes) { return bytes <= 4096 ? ((bytes + 63) & ~int64_t(63)) : bytes + bytes / 4 + 4096; }

TEST(HalfConvChunks, PeakMemoryOfOneForwardAndBackwardStaysUnderTheChunkBound) {
  RestoreSettings restore;
  cpu::set_half_conv_native(false);
  nb::set_num_threads(1);
  // The cnn preset's conv2 at batch 64: whole f32 copies of x, gout and gx were 9.2 MiB.
  const ConvGeom g = geom(64, 32, 14, 14, 64, 3, 1, 1);
  const DType dt = DType::bf16;
  const int64_t budget = int64_t(512) << 10;
  cpu::set_half_conv_widen_bytes(budget);
  const Tensor x = randn_as(x_shape(g), dt, 8), w = randn_as(w_shape(g), dt, 9), b = randn_as({g.O}, dt, 10);
  const Tensor gout = randn_as(out_shape(g), dt, 11);
  Tensor out = empty_as(out_shape(g), dt), gx = empty_as(x_shape(g), dt), gw = empty_as(w_shape(g), dt);
  Tensor gb = empty_as({g.O}, dt);
  const int64_t xs = g.C * g.H * g.W, os = g.O * g.Ho * g.Wo, ws = g.O * g.C * g.kh * g.kw, f = sizeof(float);
  // What the f32 kernels may take from the allocator themselves where they run im2col + GEMM (a
  // build without oneDNN): one K x S column block and one weight-gradient partial sum per thread.
  const int64_t kernel_scratch = size_class_bound((g.C * g.kh * g.kw) * (g.Ho * g.Wo) * f) + size_class_bound(ws * f);
  for (int pass = 0; pass < 2; ++pass) {  // the first call may build and cache oneDNN primitives
    // Forward: the x and out chunks (within the budget), the weight's and bias's f32 copies.
    nb::reset_peak_memory_stats();
    int64_t before = nb::memory_stats().allocated;
    cpu::conv2d_forward_relu(dt, g, x.raw_data(), w.raw_data(), b.raw_data(), out.raw_data());
    const int64_t fwd = nb::memory_stats().peak_allocated - before;
    const int64_t per_fwd = budget / ((xs + os) * f);
    const int64_t fwd_bound = size_class_bound(per_fwd * xs * f) + size_class_bound(per_fwd * os * f) +
                              size_class_bound(ws * f) + size_class_bound(g.O * f) + kernel_scratch;
    // Backward: the gout, x and gx chunks, the weight's f32 copy, the f32 weight-gradient total and
    // one chunk's sum.
    nb::reset_peak_memory_stats();
    before = nb::memory_stats().allocated;
    cpu::conv2d_backward(dt, g, x.raw_data(), w.raw_data(), gout.raw_data(), gx.raw_data(), gw.raw_data(),
                         gb.raw_data());
    const int64_t bwd = nb::memory_stats().peak_allocated - before;
    const int64_t per_bwd = budget / ((os + 2 * xs) * f);
    const int64_t bwd_bound = size_class_bound(per_bwd * os * f) + 2 * size_class_bound(per_bwd * xs * f) +
                              3 * size_class_bound(ws * f) + kernel_scratch;
    const int64_t whole = (g.N * (xs + os)) * f;  // the f32 copies of x and out (forward), or of gout and x (backward)
    EXPECT_LE(fwd, fwd_bound) << "pass " << pass;
    EXPECT_LE(bwd, bwd_bound) << "pass " << pass;
    EXPECT_LT(fwd_bound, whole / 2);
    EXPECT_LT(bwd_bound, whole / 2);
    std::printf("[half_conv_chunk] peak above start: forward %lld B (bound %lld), backward %lld B (bound %lld); whole "
                "f32 copies %lld B\n",
                (long long)fwd, (long long)fwd_bound, (long long)bwd, (long long)bwd_bound, (long long)whole);
  }
}

TEST(HalfMaxPoolChunks, MatchTheF32KernelAndStayInPerThreadBuffers) {
  RestoreSettings restore;
  for (DType dt : {DType::bf16, DType::f16}) {
    for (int variant = 0; variant < 2; ++variant) {
      // 2x2 stride 2 (the cnn's) and 3x3 stride 2 padding 1, on more planes than one 256 KiB chunk.
      PoolGeom g{};
      g.planes = 300, g.H = 28, g.W = 28;
      g.kh = g.kw = variant == 0 ? 2 : 3;
      g.sh = g.sw = 2;
      g.ph = g.pw = variant == 0 ? 0 : 1;
      g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
      g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
      nb::manual_seed(12);
      Tensor x32 = nb::randn({g.planes, g.H, g.W});
      std::vector<float> v = x32.to_vector<float>();
      v[5] = std::nanf("");  // NaN wins its window, in every chunk layout
      v[size_t(250 * g.H * g.W + 31)] = -std::nanf("");
      const Tensor x = nb::from_vector(v, {g.planes, g.H, g.W}).to(dt);
      const Tensor xw = x.to(DType::f32);
      Tensor ref = empty_as({g.planes, g.Ho, g.Wo}, DType::f32);
      Tensor ref_ix = empty_as({g.planes, g.Ho, g.Wo}, DType::i64);
      cpu::max_pool2d_forward(DType::f32, g, xw.raw_data(), ref.raw_data(), static_cast<int64_t*>(ref_ix.raw_data()));
      for (int threads : {1, 2}) {
        nb::set_num_threads(threads);
        Tensor out = empty_as({g.planes, g.Ho, g.Wo}, dt), ix = empty_as({g.planes, g.Ho, g.Wo}, DType::i64);
        nb::reset_peak_memory_stats();
        const int64_t before = nb::memory_stats().allocated;
        cpu::max_pool2d_forward(dt, g, x.raw_data(), out.raw_data(), static_cast<int64_t*>(ix.raw_data()));
        const int64_t used = nb::memory_stats().peak_allocated - before;
        const std::string what = std::string(nb::dtype_name(dt)) + " window " + std::to_string(g.kh) + ", " +
                                 std::to_string(threads) + " thread(s)";
        expect_same_bits(out, ref.to(dt), what + " maxima");
        EXPECT_EQ(ix.to_vector<int64_t>(), ref_ix.to_vector<int64_t>()) << what;
        // One 256 KiB f32 buffer per thread, never an f32 copy of the input (940 KiB here).
        EXPECT_LE(used, threads * size_class_bound(int64_t(256) << 10)) << what;
      }
    }
  }
}

}  // namespace

namespace {

// conv2d with the fused ReLU masks gout in the widened f32 chunks (Backend::conv2d_relu_backward)
// instead of into a 16-bit tensor first: the same values, so the same bits as conv2d followed by a
// separate relu, whose backward masks with threshold_backward. A NaN in the input makes NaN
// outputs, whose gradient passes (threshold_backward's rule).
TEST(HalfConvChunks, FusedReluBackwardMatchesASeparateRelu) {
  RestoreSettings restore;
  cpu::set_half_conv_native(false);
  for (DType dt : {DType::bf16, DType::f16}) {
    const ConvGeom g = geom(6, 3, 9, 9, 5, 3, 1, 1);
    cpu::set_half_conv_widen_bytes(2 * (g.C * g.H * g.W + g.O * g.Ho * g.Wo) * int64_t(sizeof(float)));
    std::vector<float> xv = randn_as(x_shape(g), DType::f32, 13).to_vector<float>();
    xv[200] = std::nanf("");
    const Tensor x0 = nb::from_vector(xv, x_shape(g)).to(dt), w0 = randn_as(w_shape(g), dt, 14),
                 b0 = randn_as({g.O}, dt, 15), go = randn_as(out_shape(g), dt, 16);
    auto leaf = [](const Tensor& t) { return t.detach().clone().requires_grad_(true); };
    Tensor x1 = leaf(x0), w1 = leaf(w0), b1 = leaf(b0), x2 = leaf(x0), w2 = leaf(w0), b2 = leaf(b0);
    const Tensor y1 = nb::conv2d(x1, w1, b1, {.padding = {1, 1}, .fuse_relu = true});
    const Tensor y2 = nb::relu(nb::conv2d(x2, w2, b2, {.padding = {1, 1}}));
    const std::string what = nb::dtype_name(dt);
    expect_same_bits(y1, y2, what + " forward");
    const nb::TensorList g1 = nb::grad({y1}, {x1, w1, b1}, {go}), g2 = nb::grad({y2}, {x2, w2, b2}, {go});
    expect_same_bits(g1[0], g2[0], what + " input gradient");
    expect_same_bits(g1[1], g2[1], what + " weight gradient");
    expect_same_bits(g1[2], g2[2], what + " bias gradient");
    // Only the weight gradient, and only the input gradient (conv1 of a network, a frozen layer).
    Tensor x3 = x0.detach(), w3 = leaf(w0), x4 = x0.detach(), w4 = leaf(w0);
    const Tensor y3 = nb::conv2d(x3, w3, Tensor(), {.padding = {1, 1}, .fuse_relu = true});
    const Tensor y4 = nb::relu(nb::conv2d(x4, w4, Tensor(), {.padding = {1, 1}}));
    expect_same_bits(nb::grad({y3}, {w3}, {go})[0], nb::grad({y4}, {w4}, {go})[0], what + " weight gradient alone");
    Tensor x5 = leaf(x0), x6 = leaf(x0);
    const Tensor y5 = nb::conv2d(x5, w0, Tensor(), {.padding = {1, 1}, .fuse_relu = true});
    const Tensor y6 = nb::relu(nb::conv2d(x6, w0, Tensor(), {.padding = {1, 1}}));
    expect_same_bits(nb::grad({y5}, {x5}, {go})[0], nb::grad({y6}, {x6}, {go})[0], what + " input gradient alone");
  }
}

TEST(HalfConvChunks, FusedReluBackwardIsTakenOnTheWidenedPathOnly) {
  RestoreSettings restore;
  cpu::set_half_conv_native(false);
  const ConvGeom g = geom(2, 3, 5, 5, 4, 3, 1, 1);
  for (DType dt : {DType::bf16, DType::f16, DType::f32}) {
    const Tensor x = randn_as(x_shape(g), dt, 17), w = randn_as(w_shape(g), dt, 18), go = randn_as(out_shape(g), dt, 19);
    Tensor out = empty_as(out_shape(g), dt), gx = empty_as(x_shape(g), dt), gx_ref = empty_as(x_shape(g), dt);
    cpu::conv2d_forward_relu(dt, g, x.raw_data(), w.raw_data(), nullptr, out.raw_data());
    const bool taken = cpu::conv2d_relu_backward(dt, g, nullptr, w.raw_data(), out.raw_data(), go.raw_data(),
                                                 gx.raw_data(), nullptr, nullptr);
    EXPECT_EQ(taken, dt != DType::f32) << nb::dtype_name(dt);
    if (!taken) continue;
    // By hand: gout masked where out <= 0, then the plain backward.
    const Tensor masked = nb::threshold_backward(go, out);
    cpu::conv2d_backward(dt, g, nullptr, w.raw_data(), masked.raw_data(), gx_ref.raw_data(), nullptr, nullptr);
    expect_same_bits(gx, gx_ref, std::string(nb::dtype_name(dt)) + " masked input gradient");
  }
}

}  // namespace

namespace {

// max_pool2d's 16-bit backward widens each plane's gout and narrows its sums in bulk: the f32
// kernel's sums of the same values (overlapping 3x3 / stride 2 windows add several terms to a
// cell), rounded once, bit for bit.
TEST(HalfMaxPoolChunks, BackwardIsTheF32ScatterRoundedOnce) {
  RestoreSettings restore;
  for (DType dt : {DType::bf16, DType::f16}) {
    PoolGeom g{};
    g.planes = 40, g.H = 13, g.W = 11, g.kh = g.kw = 3, g.sh = g.sw = 2, g.ph = g.pw = 1;
    g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    const Tensor x = randn_as({g.planes, g.H, g.W}, DType::f32, 20), go = randn_as({g.planes, g.Ho, g.Wo}, dt, 21);
    Tensor out = empty_as({g.planes, g.Ho, g.Wo}, DType::f32), ix = empty_as({g.planes, g.Ho, g.Wo}, DType::i64);
    cpu::max_pool2d_forward(DType::f32, g, x.raw_data(), out.raw_data(), static_cast<int64_t*>(ix.raw_data()));
    const Tensor go32 = go.to(DType::f32);
    Tensor ref = empty_as({g.planes, g.H, g.W}, DType::f32);
    cpu::max_pool2d_backward(DType::f32, g, go32.raw_data(), static_cast<const int64_t*>(ix.raw_data()), ref.raw_data());
    for (int threads : {1, 2}) {
      nb::set_num_threads(threads);
      Tensor gx = empty_as({g.planes, g.H, g.W}, dt);
      cpu::max_pool2d_backward(dt, g, go.raw_data(), static_cast<const int64_t*>(ix.raw_data()), gx.raw_data());
      expect_same_bits(gx, ref.to(dt), std::string(nb::dtype_name(dt)) + " max_pool2d backward, " +
                                           std::to_string(threads) + " thread(s)");
    }
  }
}

}  // namespace
