// conv2d, conv_transpose2d and conv2d_weight_grad: forward values against the nested-loop
// references of reference_conv.h (f64 and f32), gradcheck in f64 over a grid of stride,
// padding (incl. padding_same), dilation, groups, non-square kernels, odd sizes and batch 1,
// gradgradcheck on small cases, unbatched input, non-contiguous inputs and error messages.
#include <gtest/gtest.h>

#include <iostream>

#include "../../src/backend/cpu/conv_impl.h"
#include "ops/reference_conv.h"

namespace convref {
namespace {

namespace nb = nabla;
using nb::Tensor;
using nb::TensorList;

// ---- conv2d grid ----------------------------------------------------------------------------

struct ConvCase {
  std::string name;
  Shape x;  ///< [N, C, H, W]
  int64_t out_channels;
  I2 kernel;
  I2 stride{1, 1};
  I2 padding{0, 0};
  I2 dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
  bool same = false;  ///< padding_same (padding ignored)

  Shape weight_shape() const { return {out_channels, x[1] / groups, kernel[0], kernel[1]}; }
  nb::Conv2dOptions options() const {
    return {.stride = stride, .padding = padding, .padding_same = same, .dilation = dilation, .groups = groups};
  }
  std::array<int64_t, 4> ref_padding() const {
    return same ? same_padding(kernel[0], kernel[1], dilation)
                : std::array<int64_t, 4>{padding[0], padding[0], padding[1], padding[1]};
  }
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

const std::vector<ConvCase> kConvCases = {
    {.name = "k3_basic", .x = {2, 2, 5, 5}, .out_channels = 3, .kernel = {3, 3}},
    {.name = "k2x3_stride2x1_pad1x0_batch1", .x = {1, 2, 5, 6}, .out_channels = 2, .kernel = {2, 3},
     .stride = {2, 1}, .padding = {1, 0}},
    {.name = "k3x2_dil2x1_pad2x1_odd", .x = {2, 1, 5, 5}, .out_channels = 2, .kernel = {3, 2}, .padding = {2, 1},
     .dilation = {2, 1}},
    {.name = "groups2_stride2_pad1_nobias", .x = {2, 4, 5, 4}, .out_channels = 4, .kernel = {3, 3},
     .stride = {2, 2}, .padding = {1, 1}, .groups = 2, .bias = false},
    {.name = "depthwise_k3_pad1", .x = {1, 3, 4, 5}, .out_channels = 3, .kernel = {3, 3}, .padding = {1, 1},
     .groups = 3},
    {.name = "depthwise_multiplier2_k1x3", .x = {2, 2, 3, 5}, .out_channels = 4, .kernel = {1, 3},
     .padding = {0, 1}, .groups = 2},
    {.name = "pointwise_1x1_nobias", .x = {2, 3, 4, 3}, .out_channels = 2, .kernel = {1, 1}, .bias = false},
    {.name = "pointwise_1x1_stride2", .x = {1, 3, 5, 5}, .out_channels = 2, .kernel = {1, 1}, .stride = {2, 2}},
    {.name = "same_k3", .x = {1, 2, 5, 4}, .out_channels = 2, .kernel = {3, 3}, .same = true},
    {.name = "same_even_k2x4", .x = {2, 2, 4, 5}, .out_channels = 2, .kernel = {2, 4}, .same = true},
    {.name = "same_k2_dil2", .x = {1, 2, 5, 5}, .out_channels = 3, .kernel = {2, 2}, .dilation = {2, 2},
     .bias = false, .same = true},
    {.name = "same_k3x2_dil1x3_groups2", .x = {1, 4, 4, 6}, .out_channels = 2, .kernel = {3, 2},
     .dilation = {1, 3}, .groups = 2, .same = true},
    {.name = "kernel_fills_padded_input", .x = {1, 2, 3, 4}, .out_channels = 2, .kernel = {5, 4},
     .padding = {1, 0}},
    {.name = "stride3_exceeds_kernel2", .x = {2, 1, 7, 6}, .out_channels = 2, .kernel = {2, 2}, .stride = {3, 3}},
    {.name = "all_combined", .x = {1, 4, 6, 5}, .out_channels = 2, .kernel = {2, 3}, .stride = {2, 3},
     .padding = {1, 2}, .dilation = {2, 1}, .groups = 2},
    {.name = "stride2_pad2_dil2_batch1", .x = {1, 1, 6, 6}, .out_channels = 3, .kernel = {3, 3}, .stride = {2, 2},
     .padding = {2, 2}, .dilation = {2, 2}},
};

struct ConvInputs {
  Ref x, w;
  std::vector<double> b;
};

ConvInputs conv_inputs(const ConvCase& c, uint64_t seed) {
  ConvInputs in{random_ref(c.x, seed), random_ref(c.weight_shape(), seed + 1), {}};
  if (c.bias) in.b = random_values(c.out_channels, seed + 2);
  return in;
}

Ref conv_reference(const ConvCase& c, const ConvInputs& in) {
  return conv2d(in.x, in.w, in.b, c.stride, c.ref_padding(), c.dilation, c.groups);
}

class ConvGrid : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvGrid, ForwardMatchesReferenceF64AndF32) {
  const ConvCase& c = GetParam();
  ConvInputs in = conv_inputs(c, 11);
  Ref ref = conv_reference(c, in);
  if (c.same) {
    EXPECT_EQ(ref.size(2), c.x[2]);
    EXPECT_EQ(ref.size(3), c.x[3]);
  }
  for (nb::DType dt : {nb::DType::f64, nb::DType::f32}) {
    Tensor b = c.bias ? tensor_of(in.b, false, dt) : Tensor();
    Tensor y = nb::conv2d(tensor_of(in.x, false, dt), tensor_of(in.w, false, dt), b, c.options());
    EXPECT_EQ(y.dtype(), dt);
    const bool f64 = dt == nb::DType::f64;
    expect_close(y, ref, f64 ? 1e-12 : 1e-5, f64 ? 1e-12 : 1e-5, c.name + (f64 ? " f64" : " f32"));
  }
}

TEST_P(ConvGrid, Gradcheck) {
  const ConvCase& c = GetParam();
  ConvInputs in = conv_inputs(c, 21);
  TensorList args{tensor_of(in.x), tensor_of(in.w), c.bias ? tensor_of(in.b) : Tensor()};
  auto opts = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::conv2d(a[0], a[1], a[2], opts); }, args, kGradOpts));
}

TEST_P(ConvGrid, WeightGradMatchesReference) {
  const ConvCase& c = GetParam();
  ConvInputs in = conv_inputs(c, 31);
  Ref out = conv_reference(c, in);
  Ref gout = random_ref(out.shape, 37);
  // padding_same is expressed through explicit padding only for symmetric totals.
  std::array<int64_t, 4> p = c.ref_padding();
  if (p[0] != p[1] || p[2] != p[3]) GTEST_SKIP() << "asymmetric 'same' padding has no explicit-padding equivalent";
  nb::Conv2dOptions o = c.options();
  o.padding_same = false;
  o.padding = {p[0], p[2]};
  Tensor gw = nb::conv2d_weight_grad(tensor_of(in.x, false), tensor_of(gout, false), c.kernel, o);
  expect_close(gw, conv2d_weight_grad(in.x, gout, c.kernel, c.stride, {p[0], p[2]}, c.dilation, c.groups), 1e-12,
               1e-12, c.name);
  // It is the weight gradient of conv2d: compare with backward through conv2d.
  Tensor x = tensor_of(in.x, false), w = tensor_of(in.w);
  Tensor y = nb::conv2d(x, w, Tensor(), c.options());
  TensorList g = nb::grad({y}, {w}, {tensor_of(gout, false)});
  expect_close(g[0], conv2d_weight_grad(in.x, gout, c.kernel, c.stride, {p[0], p[2]}, c.dilation, c.groups), 1e-12,
               1e-12, c.name + " via backward");
}

// f32 forward, input gradient and weight gradient against the f64 references: f32 may run on
// another implementation than f64 (oneDNN primitives in NABLA_CONV_ONEDNN builds).
void expect_f32_passes_match(const ConvCase& c, uint64_t seed, double tol) {
  std::array<int64_t, 4> p = c.ref_padding();
  if (p[0] != p[1] || p[2] != p[3]) GTEST_SKIP() << "asymmetric 'same' padding has no explicit-padding equivalent";
  ConvInputs in = conv_inputs(c, seed);
  Ref out = conv_reference(c, in);
  Ref gout = random_ref(out.shape, seed + 5);
  const nb::DType f32 = nb::DType::f32;
  Tensor x = tensor_of(in.x, true, f32), w = tensor_of(in.w, true, f32);
  Tensor b = c.bias ? tensor_of(in.b, false, f32) : Tensor();
  Tensor y = nb::conv2d(x, w, b, c.options());
  expect_close(y, out, tol, tol, c.name + " f32 forward");
  TensorList g = nb::grad({y}, {x, w}, {tensor_of(gout, false, f32)});
  // The output_padding that gives the transposed convolution the input's size back.
  I2 op;
  for (int d = 0; d < 2; ++d)
    op[d] = c.x[2 + d] - ((out.shape[2 + d] - 1) * c.stride[d] - 2 * p[2 * d] +
                          c.dilation[d] * (c.kernel[d] - 1) + 1);
  expect_close(g[0], conv_transpose2d(gout, in.w, {}, c.stride, {p[0], p[2]}, op, c.dilation, c.groups), tol, tol,
               c.name + " f32 input gradient");
  expect_close(g[1], conv2d_weight_grad(in.x, gout, c.kernel, c.stride, {p[0], p[2]}, c.dilation, c.groups), tol,
               tol, c.name + " f32 weight gradient");
}

TEST_P(ConvGrid, F32GradientsMatchReference) { expect_f32_passes_match(GetParam(), 41, 1e-4); }

TEST(ConvTestConv2d, F32BenchCnnShapes) {
  // The bench CNN's two convolutions (batch 3): the cases oneDNN builds send to oneDNN.
  expect_f32_passes_match({.name = "cnn_conv1", .x = {3, 1, 28, 28}, .out_channels = 32, .kernel = {3, 3},
                           .padding = {1, 1}},
                          51, 1e-4);
  expect_f32_passes_match({.name = "cnn_conv2", .x = {3, 32, 14, 14}, .out_channels = 64, .kernel = {3, 3},
                           .padding = {1, 1}},
                          61, 5e-4);
}

// 3x3 stride-1 convolutions with channels in multiples of 16 run oneDNN's Winograd kernels where
// the CPU has them (oneDNN 2.x: AVX-512): forward, input and weight gradients against the f64
// references, with Winograd allowed and not. Its transforms round differently from the direct
// kernels; the tolerance is the one stated in src/backend/cpu/conv_onednn.cpp.
constexpr double kWinogradTolerance = 5e-5;  // the direct kernels stay within 1e-5 on these cases

TEST(ConvTestConv2d, F32WinogradAgainstReference) {
  namespace onednn = nabla::backend::cpu::onednn;
  if (!nabla::backend::cpu::conv_onednn_built()) GTEST_SKIP() << "built without oneDNN convolutions";
  struct Restore {
    ~Restore() { onednn::set_winograd(true); }
  } restore;
  const std::vector<ConvCase> cases = {
      {.name = "wino_32_to_64", .x = {3, 32, 14, 14}, .out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
      {.name = "wino_16_to_32_odd_size", .x = {2, 16, 9, 11}, .out_channels = 32, .kernel = {3, 3},
       .padding = {1, 1}},
      {.name = "wino_64_to_16_no_pad_no_bias", .x = {2, 64, 8, 7}, .out_channels = 16, .kernel = {3, 3},
       .bias = false},
  };
  for (bool allowed : {true, false}) {
    onednn::set_winograd(allowed);
    const int before = onednn::winograd_primitives();
    for (const ConvCase& c : cases) expect_f32_passes_match(c, 71, allowed ? kWinogradTolerance : 1e-5);
    const int built = onednn::winograd_primitives() - before;
    if (allowed) {
      // Not every CPU has the kernels (then the direct ones ran and the check above still holds).
      if (built == 0) std::cout << "[   NOTE   ] no Winograd kernels on this CPU: the direct ones ran\n";
    } else {
      EXPECT_EQ(built, 0) << "Winograd primitives built while disallowed";
    }
  }
}

// nabla's promise that a seed's results do not depend on the thread count, for the bench CNN's
// convolutions through whichever kernels this build picks (oneDNN direct or Winograd, the direct
// weight gradient, im2col): forward, input, weight and bias gradients, bit for bit.
TEST(ConvTestConv2d, F32ResultsIndependentOfThreadCount) {
  namespace onednn = nabla::backend::cpu::onednn;
  struct Restore {
    int threads = nb::get_num_threads();
    ~Restore() {
      onednn::set_winograd(true);
      nb::set_num_threads(threads);
    }
  } restore;
  const std::vector<ConvCase> cases = {
      {.name = "conv1", .x = {8, 1, 28, 28}, .out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
      {.name = "conv2", .x = {8, 32, 14, 14}, .out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
  };
  for (bool winograd : {true, false}) {
    onednn::set_winograd(winograd);
    for (const ConvCase& c : cases) {
      std::vector<Tensor> results[2];
      for (int threads : {1, 2}) {
        nb::set_num_threads(threads);
        nb::manual_seed(3);
        Tensor x = nb::randn(c.x).requires_grad_(), w = (nb::randn(c.weight_shape()) * 0.1).requires_grad_();
        Tensor b = nb::randn({c.out_channels}).requires_grad_();
        Tensor y = nb::conv2d(x, w, b, c.options());
        TensorList g = nb::grad({y}, {x, w, b}, {nb::randn(y.shape())});
        results[threads - 1] = {y, g[0], g[1], g[2]};
      }
      const char* what[] = {"forward", "input gradient", "weight gradient", "bias gradient"};
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(nb::max(nb::abs(results[0][i] - results[1][i])).item<double>(), 0.0)
            << c.name << " " << what[i] << " differs between 1 and 2 threads (winograd allowed: " << winograd << ")";
    }
  }
}

// The im2col weight gradient, which builds without oneDNN run (forced here, so every build checks
// it): the batch is chunked by the shape alone and the chunks' sums added in a fixed order, so the
// f32 result is the same, bit for bit, at 1, 2 and 3 threads; and it matches the f64 reference, on
// batches that split into uneven chunks, with groups, and 1x1 (no unfolding).
TEST(ConvTestConv2d, Im2colWeightGradIndependentOfThreadCount) {
  namespace cpu = nabla::backend::cpu;
  struct Restore {
    int threads = nb::get_num_threads();
    cpu::ConvImpl impl = cpu::get_conv_impl();
    ~Restore() {
      cpu::set_conv_impl(impl);
      nb::set_num_threads(threads);
    }
  } restore;
  cpu::set_conv_impl(cpu::ConvImpl::Im2col);
  const std::vector<ConvCase> cases = {
      {.name = "cnn_conv2", .x = {8, 32, 14, 14}, .out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
      {.name = "batch13_groups2", .x = {13, 4, 9, 9}, .out_channels = 6, .kernel = {3, 3}, .padding = {1, 1},
       .groups = 2},
      {.name = "pointwise_batch11", .x = {11, 64, 12, 12}, .out_channels = 32, .kernel = {1, 1}},
  };
  for (const ConvCase& c : cases) {
    std::vector<Tensor> grads;
    for (int threads : {1, 2, 3}) {
      nb::set_num_threads(threads);
      nb::manual_seed(5);
      Tensor x = nb::randn(c.x), w = (nb::randn(c.weight_shape()) * 0.1).requires_grad_();
      Tensor y = nb::conv2d(x, w, Tensor(), c.options());
      grads.push_back(nb::grad({y}, {w}, {nb::randn(y.shape())})[0]);
    }
    for (size_t i = 1; i < grads.size(); ++i)
      EXPECT_EQ(nb::max(nb::abs(grads[0] - grads[i])).item<double>(), 0.0)
          << c.name << ": weight gradient at " << i + 1 << " threads differs from 1 thread";
    nb::set_num_threads(2);
    expect_f32_passes_match(c, 81, 5e-4);
  }
}

// One input channel per group (a network's first layer, depthwise convolutions): f32 weight
// gradients may come from the direct kernel (AVX2 CPUs), which also sums the bias gradient in the
// same pass. Its code paths: 3x3 with unit stride/dilation (four output rows at a time, the last
// Ho % 4 one by one), other 3x3 (stride/dilation), any other kernel; rows with and without a
// partial vector; and width stride 2 (not taken: im2col). Backward through conv2d, with and
// without the input gradient, against the nested-loop f64 references.
TEST(ConvTestConv2d, F32OneInputChannelWeightAndBiasGrads) {
  const std::vector<ConvCase> cases = {
      {.name = "c1_k3_pad1_rows4", .x = {3, 1, 28, 28}, .out_channels = 5, .kernel = {3, 3}, .padding = {1, 1}},
      {.name = "c1_k3_pad1_rem_rows_full_vectors", .x = {2, 1, 7, 16}, .out_channels = 3, .kernel = {3, 3},
       .padding = {1, 1}},
      {.name = "c1_k3_nopad_narrow", .x = {2, 1, 9, 5}, .out_channels = 2, .kernel = {3, 3}},
      {.name = "c1_k3_pad0x2_wide", .x = {1, 1, 6, 21}, .out_channels = 2, .kernel = {3, 3}, .padding = {0, 2}},
      {.name = "c1_k3_stride2x1_pad1", .x = {2, 1, 11, 13}, .out_channels = 3, .kernel = {3, 3}, .stride = {2, 1},
       .padding = {1, 1}},
      {.name = "c1_k3_dil2_pad2", .x = {2, 1, 10, 12}, .out_channels = 2, .kernel = {3, 3}, .padding = {2, 2},
       .dilation = {2, 2}},
      {.name = "c1_k3_dil1x3_pad1x3", .x = {1, 1, 8, 19}, .out_channels = 2, .kernel = {3, 3}, .padding = {1, 3},
       .dilation = {1, 3}},
      {.name = "c1_k5_pad2", .x = {2, 1, 12, 10}, .out_channels = 3, .kernel = {5, 5}, .padding = {2, 2}},
      {.name = "c1_k2x4_stride3x1_dil2x1", .x = {2, 1, 13, 17}, .out_channels = 2, .kernel = {2, 4},
       .stride = {3, 1}, .padding = {1, 0}, .dilation = {2, 1}},
      {.name = "c1_k3_stride2_im2col", .x = {2, 1, 9, 9}, .out_channels = 2, .kernel = {3, 3}, .stride = {2, 2},
       .padding = {1, 1}},
      {.name = "depthwise2_mult2_k3_pad1", .x = {2, 2, 9, 11}, .out_channels = 4, .kernel = {3, 3},
       .padding = {1, 1}, .groups = 2},
      {.name = "depthwise3_k1x3", .x = {2, 3, 5, 9}, .out_channels = 3, .kernel = {1, 3}, .padding = {0, 1},
       .groups = 3},
  };
  const nb::DType f32 = nb::DType::f32;
  for (const ConvCase& c : cases) {
    ConvInputs in = conv_inputs(c, 71);
    Ref out = conv_reference(c, in);
    Ref gout = random_ref(out.shape, 73);
    const std::array<int64_t, 4> p = c.ref_padding();
    Ref gw_ref = conv2d_weight_grad(in.x, gout, c.kernel, c.stride, {p[0], p[2]}, c.dilation, c.groups);
    Ref gb_ref({c.out_channels});
    for (int64_t n = 0; n < out.size(0); ++n)
      for (int64_t o = 0; o < out.size(1); ++o)
        for (int64_t y = 0; y < out.size(2); ++y)
          for (int64_t x = 0; x < out.size(3); ++x) gb_ref(o) += gout(n, o, y, x);
    for (bool input_grad : {false, true}) {
      const std::string what = c.name + (input_grad ? " (with input gradient)" : "");
      Tensor x = tensor_of(in.x, input_grad, f32), w = tensor_of(in.w, true, f32), b = tensor_of(in.b, true, f32);
      Tensor y = nb::conv2d(x, w, b, c.options());
      std::vector<Tensor> wrt{w, b};
      if (input_grad) wrt.push_back(x);
      TensorList g = nb::grad({y}, wrt, {tensor_of(gout, false, f32)});
      expect_close(g[0], gw_ref, 1e-4, 1e-4, what + " f32 weight gradient");
      expect_close(g[1], gb_ref, 1e-4, 1e-4, what + " f32 bias gradient");
      if (input_grad) {
        I2 op;
        for (int d = 0; d < 2; ++d)
          op[d] = c.x[2 + d] - ((out.shape[2 + d] - 1) * c.stride[d] - 2 * p[2 * d] +
                                c.dilation[d] * (c.kernel[d] - 1) + 1);
        expect_close(g[2], conv_transpose2d(gout, in.w, {}, c.stride, {p[0], p[2]}, op, c.dilation, c.groups), 1e-4,
                     1e-4, what + " f32 input gradient");
      }
    }
  }
}

// The weight and bias gradients of a one-input-channel f32 convolution (the direct kernel on
// AVX2 CPUs: each output channel summed by one thread in a fixed order) do not depend on the
// thread count.
TEST(ConvTestConv2d, F32OneInputChannelGradsIndependentOfThreads) {
  const int before = nb::get_num_threads();
  nb::manual_seed(5);
  Tensor x = nb::randn({8, 1, 28, 28}), w = nb::randn({32, 1, 3, 3}).requires_grad_(true);
  Tensor b = nb::randn({32}).requires_grad_(true), gout = nb::randn({8, 32, 28, 28});
  std::vector<std::vector<float>> got;
  for (int t : {1, 2, 3}) {
    nb::set_num_threads(t);
    TensorList g = nb::grad({nb::conv2d(x, w, b, {.padding = {1, 1}})}, {w, b}, {gout});
    got.push_back(g[0].to_vector<float>());
    got.push_back(g[1].to_vector<float>());
  }
  nb::set_num_threads(before);
  if (!nb::backend::cpu::conv_direct_available()) GTEST_SKIP() << "no AVX2/FMA: im2col + GEMM ran";
  for (size_t i = 2; i < got.size(); ++i) EXPECT_EQ(got[i], got[i % 2]) << "thread count changed the gradient";
}

INSTANTIATE_TEST_SUITE_P(ConvTest, ConvGrid, ::testing::ValuesIn(kConvCases),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; });

// A few conv2d_weight_grad gradchecks (w.r.t. both the input and the output-gradient).
TEST(ConvTestWeightGrad, Gradcheck) {
  for (size_t k : {size_t(1), size_t(3), size_t(5), size_t(14)}) {
    const ConvCase& c = kConvCases[k];
    SCOPED_TRACE(c.name);
    ConvInputs in = conv_inputs(c, 41);
    Ref out = conv_reference(c, in);
    auto o = c.options();
    TensorList args{tensor_of(in.x), tensor_of(random_ref(out.shape, 43))};
    EXPECT_TRUE(nb::gradcheck(
        [&](const TensorList& a) { return nb::conv2d_weight_grad(a[0], a[1], c.kernel, o); }, args, kGradOpts));
  }
}

TEST(ConvTestConv2d, GradGradcheck) {
  // Strided, padded, dilated, grouped, non-square kernel, bias; and an even 'same' kernel.
  const ConvCase cases[] = {
      {.name = "combined", .x = {1, 2, 5, 4}, .out_channels = 2, .kernel = {2, 3}, .stride = {2, 1},
       .padding = {1, 1}, .dilation = {1, 2}, .groups = 2},
      {.name = "same_even", .x = {2, 1, 3, 4}, .out_channels = 2, .kernel = {2, 2}, .bias = false, .same = true},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    ConvInputs in = conv_inputs(c, 51);
    TensorList args{tensor_of(in.x), tensor_of(in.w), c.bias ? tensor_of(in.b) : Tensor()};
    auto o = c.options();
    EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::conv2d(a[0], a[1], a[2], o); }, args, kGradOpts));
  }
}

// conv2d with fuse_relu is relu(conv2d): values (f32, where oneDNN fuses the activation, and
// f64), first and second derivatives.
TEST(ConvTestConv2d, FusedReluEqualsConvThenRelu) {
  const ConvCase cases[] = {
      {.name = "cnn_conv2", .x = {2, 32, 14, 14}, .out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
      {.name = "combined", .x = {1, 2, 5, 4}, .out_channels = 2, .kernel = {2, 3}, .stride = {2, 1},
       .padding = {1, 1}, .dilation = {1, 2}, .groups = 2},
      {.name = "same_even", .x = {2, 1, 3, 4}, .out_channels = 2, .kernel = {2, 2}, .bias = false, .same = true},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    ConvInputs in = conv_inputs(c, 71);
    auto o = c.options();
    auto fused = o;
    fused.fuse_relu = true;
    for (nb::DType dt : {nb::DType::f32, nb::DType::f64}) {
      Tensor x = tensor_of(in.x).to(dt), w = tensor_of(in.w).to(dt), b = c.bias ? tensor_of(in.b).to(dt) : Tensor();
      std::vector<double> want = nb::relu(nb::conv2d(x, w, b, o)).to_vector();
      std::vector<double> got = nb::conv2d(x, w, b, fused).to_vector();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], dt == nb::DType::f32 ? 1e-4 : 1e-12) << i;
    }
    if (c.x[1] > 4) continue;  // finite differences on the small cases only
    TensorList args{tensor_of(in.x), tensor_of(in.w), c.bias ? tensor_of(in.b) : Tensor()};
    auto f = [&](const TensorList& a) { return nb::conv2d(a[0], a[1], a[2], fused); };
    EXPECT_TRUE(nb::gradcheck(f, args, kGradOpts));
    EXPECT_TRUE(nb::gradgradcheck(f, args, kGradOpts));
  }
}

TEST(ConvTestConv2d, UnbatchedInputMatchesBatched) {
  const ConvCase c{.name = "unbatched", .x = {1, 2, 5, 4}, .out_channels = 3, .kernel = {3, 2}, .stride = {2, 1},
                   .padding = {1, 1}};
  ConvInputs in = conv_inputs(c, 61);
  Ref ref = conv_reference(c, in);
  Ref x3({c.x[1], c.x[2], c.x[3]}, in.x.v);
  Tensor y = nb::conv2d(tensor_of(x3, false), tensor_of(in.w, false), tensor_of(in.b, false), c.options());
  Ref ref3({ref.size(1), ref.size(2), ref.size(3)}, ref.v);
  expect_close(y, ref3, 1e-12, 1e-12, "conv2d [C, H, W]");
  auto o = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::conv2d(a[0], a[1], a[2], o); },
                            {tensor_of(x3), tensor_of(in.w), tensor_of(in.b)}, kGradOpts));
  nb::Conv2dOptions same{.padding_same = true};
  Tensor ys = nb::conv2d(tensor_of(x3, false), tensor_of(in.w, false), Tensor(), same);
  EXPECT_EQ(ys.shape(), (Shape{3, 5, 4}));
}

TEST(ConvTestConv2d, NonContiguousInputs) {
  const ConvCase c{.name = "noncontig", .x = {2, 2, 4, 5}, .out_channels = 2, .kernel = {3, 2}, .stride = {1, 2},
                   .padding = {1, 0}};
  ConvInputs in = conv_inputs(c, 71);
  Tensor x = noncontiguous_of(in.x, 2, 3), w = noncontiguous_of(in.w, 0, 1);
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  expect_close(nb::conv2d(x, w, tensor_of(in.b, false), c.options()), conv_reference(c, in), 1e-12, 1e-12,
               "non-contiguous conv2d");
  auto o = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::conv2d(a[0], a[1], a[2], o); },
                            {x, w, tensor_of(in.b)}, kGradOpts));
}

TEST(ConvTestConv2d, LargerBatchSplitAcrossThreads) {
  // Big enough per sample that the kernels split the batch over threads (when there are any);
  // forward, input gradient (conv_transpose2d) and weight gradient against the references.
  const ConvCase c{.name = "larger", .x = {5, 4, 14, 13}, .out_channels = 8, .kernel = {3, 3}, .padding = {1, 1},
                   .groups = 2};
  ConvInputs in = conv_inputs(c, 81);
  Ref ref = conv_reference(c, in);
  Tensor x = tensor_of(in.x), w = tensor_of(in.w);
  Tensor y = nb::conv2d(x, w, tensor_of(in.b, false), c.options());
  expect_close(y, ref, 1e-12, 1e-12, "forward");
  Ref gout = random_ref(ref.shape, 82);
  TensorList g = nb::grad({y}, {x, w}, {tensor_of(gout, false)});
  expect_close(g[0], conv_transpose2d(gout, in.w, {}, c.stride, c.padding, {0, 0}, c.dilation, c.groups), 1e-12,
               1e-12, "input gradient");
  expect_close(g[1], conv2d_weight_grad(in.x, gout, c.kernel, c.stride, c.padding, c.dilation, c.groups), 1e-11,
               1e-12, "weight gradient");
}

TEST(ConvTestConv2d, ErrorsNameOpAndShapes) {
  auto x = [](Shape s) { return nb::zeros(s, {.dtype = nb::DType::f64}); };
  expect_error([&] { nb::conv2d(x({1, 3, 5, 5}), x({2, 2, 3, 3})); },
               {"[conv2d]", "[1, 3, 5, 5]", "[2, 2, 3, 3]", "channels"}, "channel mismatch");
  expect_error([&] { nb::conv2d(x({1, 1, 3, 3}), x({1, 1, 5, 4})); },
               {"[conv2d]", "[1, 1, 3, 3]", "[1, 1, 5, 4]", "larger than the padded input"}, "kernel too large");
  expect_error([&] { nb::conv2d(x({1, 1, 3, 3}), x({1, 1, 3, 3}), Tensor(), {.padding = {0, 0}, .dilation = {2, 1}}); },
               {"[conv2d]", "[1, 1, 3, 3]", "larger than the padded input"}, "dilated kernel too large");
  expect_error([&] { nb::conv2d(x({1, 3, 5, 5}), x({2, 1, 3, 3}), Tensor(), {.groups = 2}); },
               {"[conv2d]", "groups", "[1, 3, 5, 5]", "[2, 1, 3, 3]"}, "groups not dividing input channels");
  expect_error([&] { nb::conv2d(x({1, 4, 5, 5}), x({3, 2, 3, 3}), Tensor(), {.groups = 2}); },
               {"[conv2d]", "groups", "[1, 4, 5, 5]", "[3, 2, 3, 3]"}, "groups not dividing output channels");
  expect_error([&] { nb::conv2d(x({1, 2, 5, 5}), x({3, 2, 3, 3}), x({2})); }, {"[conv2d]", "bias", "[2]"},
               "bias shape");
  expect_error([&] { nb::conv2d(x({5, 5}), x({3, 2, 3, 3})); }, {"[conv2d]", "[5, 5]"}, "2-D input");
  expect_error([&] { nb::conv2d(x({1, 2, 5, 5}), x({3, 2, 3})); }, {"[conv2d]", "[3, 2, 3]"}, "3-D weight");
  expect_error([&] { nb::conv2d(x({1, 2, 5, 5}), x({3, 2, 3, 3}), Tensor(), {.stride = {2, 1}, .padding_same = true}); },
               {"[conv2d]", "same", "stride"}, "padding_same with stride 2");
  expect_error([&] { nb::conv2d(x({1, 2, 5, 5}), nb::zeros({3, 2, 3, 3})); }, {"[conv2d]", "dtype"}, "dtype mismatch");
  expect_error([&] { nb::conv2d(x({1, 2, 5, 5}), x({3, 2, 3, 3}), Tensor(), {.stride = {0, 1}}); },
               {"[conv2d]", "stride"}, "zero stride");
}

// ---- conv_transpose2d grid --------------------------------------------------------------------

struct ConvTCase {
  std::string name;
  Shape x;  ///< [N, C_in, H, W]
  int64_t out_channels;
  I2 kernel;
  I2 stride{1, 1};
  I2 padding{0, 0};
  I2 output_padding{0, 0};
  I2 dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;

  Shape weight_shape() const { return {x[1], out_channels / groups, kernel[0], kernel[1]}; }
  nb::ConvTranspose2dOptions options() const {
    return {.stride = stride, .padding = padding, .output_padding = output_padding, .dilation = dilation,
            .groups = groups};
  }
};

void PrintTo(const ConvTCase& c, std::ostream* os) { *os << c.name; }

const std::vector<ConvTCase> kConvTCases = {
    {.name = "k3_basic", .x = {2, 2, 3, 3}, .out_channels = 3, .kernel = {3, 3}},
    {.name = "stride2_pad1_outpad1_batch1", .x = {1, 2, 3, 4}, .out_channels = 2, .kernel = {3, 3}, .stride = {2, 2},
     .padding = {1, 1}, .output_padding = {1, 1}},
    {.name = "k2x3_stride2x3_pad0x1_outpad1x2", .x = {1, 3, 3, 2}, .out_channels = 2, .kernel = {2, 3},
     .stride = {2, 3}, .padding = {0, 1}, .output_padding = {1, 2}, .bias = false},
    {.name = "k3x2_dil2x1_pad1x0_outpad1x0", .x = {2, 1, 3, 3}, .out_channels = 2, .kernel = {3, 2},
     .padding = {1, 0}, .output_padding = {1, 0}, .dilation = {2, 1}},
    {.name = "groups2_k2_stride2", .x = {2, 4, 3, 3}, .out_channels = 6, .kernel = {2, 2}, .stride = {2, 2},
     .groups = 2},
    {.name = "depthwise_k3_pad1", .x = {1, 3, 4, 3}, .out_channels = 3, .kernel = {3, 3}, .padding = {1, 1},
     .groups = 3},
    {.name = "pointwise_1x1", .x = {1, 3, 3, 3}, .out_channels = 2, .kernel = {1, 1}, .bias = false},
    {.name = "outpad_ge_stride_below_dilation", .x = {1, 2, 3, 2}, .out_channels = 2, .kernel = {2, 2},
     .stride = {2, 1}, .padding = {1, 0}, .output_padding = {2, 1}, .dilation = {3, 3}},
    {.name = "all_combined", .x = {1, 2, 3, 4}, .out_channels = 4, .kernel = {3, 2}, .stride = {2, 1},
     .padding = {1, 1}, .output_padding = {1, 0}, .dilation = {1, 2}, .groups = 2},
};

class ConvTransposeGrid : public ::testing::TestWithParam<ConvTCase> {};

TEST_P(ConvTransposeGrid, ForwardMatchesReferenceF64AndF32) {
  const ConvTCase& c = GetParam();
  Ref x = random_ref(c.x, 101), w = random_ref(c.weight_shape(), 102);
  std::vector<double> b = c.bias ? random_values(c.out_channels, 103) : std::vector<double>{};
  Ref ref = conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding, c.dilation, c.groups);
  for (nb::DType dt : {nb::DType::f64, nb::DType::f32}) {
    Tensor bt = c.bias ? tensor_of(b, false, dt) : Tensor();
    Tensor y = nb::conv_transpose2d(tensor_of(x, false, dt), tensor_of(w, false, dt), bt, c.options());
    const bool f64 = dt == nb::DType::f64;
    expect_close(y, ref, f64 ? 1e-12 : 1e-5, f64 ? 1e-12 : 1e-5, c.name + (f64 ? " f64" : " f32"));
  }
}

TEST_P(ConvTransposeGrid, Gradcheck) {
  const ConvTCase& c = GetParam();
  Ref x = random_ref(c.x, 111), w = random_ref(c.weight_shape(), 112);
  TensorList args{tensor_of(x), tensor_of(w), c.bias ? tensor_of(random_values(c.out_channels, 113)) : Tensor()};
  auto o = c.options();
  EXPECT_TRUE(
      nb::gradcheck([&](const TensorList& a) { return nb::conv_transpose2d(a[0], a[1], a[2], o); }, args, kGradOpts));
}

INSTANTIATE_TEST_SUITE_P(ConvTest, ConvTransposeGrid, ::testing::ValuesIn(kConvTCases),
                         [](const ::testing::TestParamInfo<ConvTCase>& i) { return i.param.name; });

TEST(ConvTestTranspose, IsTheInputGradientOfConv2d) {
  // conv_transpose2d(g, w) with the output_padding that restores the size equals d conv2d / dx.
  const ConvCase c{.name = "adjoint", .x = {2, 2, 6, 5}, .out_channels = 4, .kernel = {3, 2}, .stride = {2, 2},
                   .padding = {1, 0}, .dilation = {1, 2}, .groups = 2};
  ConvInputs in = conv_inputs(c, 121);
  Tensor x = tensor_of(in.x), w = tensor_of(in.w, false);
  Tensor y = nb::conv2d(x, w, Tensor(), c.options());
  Ref gout = random_ref(y.shape(), 122);
  Tensor gx = nb::grad({y}, {x}, {tensor_of(gout, false)})[0];
  Tensor t = nb::conv_transpose2d(tensor_of(gout, false), w, Tensor(),
                                  {.stride = c.stride, .padding = c.padding, .output_padding = {1, 0},
                                   .dilation = c.dilation, .groups = c.groups});
  EXPECT_TRUE(nb::allclose(t, gx, 1e-12, 1e-12));
}

TEST(ConvTestTranspose, GradGradcheck) {
  const ConvTCase c{.name = "gg", .x = {1, 2, 3, 2}, .out_channels = 2, .kernel = {2, 3}, .stride = {2, 1},
                    .padding = {0, 1}, .output_padding = {1, 0}, .groups = 2};
  TensorList args{tensor_of(random_ref(c.x, 131)), tensor_of(random_ref(c.weight_shape(), 132)),
                  tensor_of(random_values(c.out_channels, 133))};
  auto o = c.options();
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::conv_transpose2d(a[0], a[1], a[2], o); }, args,
                                kGradOpts));
}

TEST(ConvTestTranspose, UnbatchedInput) {
  Ref x = random_ref({2, 3, 2}, 141), w = random_ref({2, 3, 2, 2}, 142);
  Ref ref = conv_transpose2d(Ref({1, 2, 3, 2}, x.v), w, {}, {2, 2}, {0, 0}, {1, 0}, {1, 1}, 1);
  Tensor y = nb::conv_transpose2d(tensor_of(x, false), tensor_of(w, false), Tensor(),
                                  {.stride = {2, 2}, .output_padding = {1, 0}});
  expect_close(y, Ref({ref.size(1), ref.size(2), ref.size(3)}, ref.v), 1e-12, 1e-12, "conv_transpose2d [C, H, W]");
}

TEST(ConvTestTranspose, ErrorsNameOpAndShapes) {
  auto x = [](Shape s) { return nb::zeros(s, {.dtype = nb::DType::f64}); };
  expect_error([&] { nb::conv_transpose2d(x({1, 3, 4, 4}), x({2, 2, 3, 3})); },
               {"[conv_transpose2d]", "[1, 3, 4, 4]", "[2, 2, 3, 3]"}, "channel mismatch");
  expect_error([&] { nb::conv_transpose2d(x({1, 3, 4, 4}), x({3, 1, 3, 3}), Tensor(), {.groups = 2}); },
               {"[conv_transpose2d]", "groups", "[1, 3, 4, 4]", "[3, 1, 3, 3]"}, "groups not dividing channels");
  expect_error([&] { nb::conv_transpose2d(x({1, 2, 4, 4}), x({2, 2, 3, 3}), Tensor(), {.output_padding = {1, 0}}); },
               {"[conv_transpose2d]", "output_padding"}, "output_padding >= stride");
  expect_error([&] { nb::conv_transpose2d(x({1, 1, 2, 2}), x({1, 1, 2, 2}), Tensor(), {.padding = {2, 2}}); },
               {"[conv_transpose2d]", "[1, 1, 2, 2]", "not positive"}, "non-positive output size");
  expect_error([&] { nb::conv_transpose2d(x({1, 2, 4, 4}), x({2, 3, 3, 3}), x({2})); },
               {"[conv_transpose2d]", "bias", "[2]"}, "bias shape");
}

TEST(ConvTestWeightGrad, ErrorsNameOpAndShapes) {
  auto x = [](Shape s) { return nb::zeros(s, {.dtype = nb::DType::f64}); };
  expect_error([&] { nb::conv2d_weight_grad(x({1, 2, 5, 5}), x({1, 3, 4, 4}), {3, 3}, {}); },
               {"[conv2d_weight_grad]", "[1, 3, 4, 4]", "[1, 3, 3, 3]"}, "gradient shape mismatch");
  expect_error([&] { nb::conv2d_weight_grad(x({1, 3, 5, 5}), x({1, 2, 3, 3}), {3, 3}, {.groups = 2}); },
               {"[conv2d_weight_grad]", "groups", "[1, 3, 5, 5]"}, "groups not dividing channels");
  expect_error([&] { nb::conv2d_weight_grad(x({1, 2, 5, 5}), x({1, 3, 5, 5}), {3, 3}, {.padding_same = true}); },
               {"[conv2d_weight_grad]", "padding_same"}, "padding_same (not expressible as symmetric padding)");
}

}  // namespace
}  // namespace convref
