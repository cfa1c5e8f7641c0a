// max_pool2d (and its indices), avg_pool2d, adaptive_avg_pool2d and global_avg_pool2d:
// forward values against the references of reference_conv.h (f64 and f32), gradcheck in f64
// over kernel/stride/padding/ceil_mode/count_include_pad, gradgradcheck, and error messages.
#include <gtest/gtest.h>

#include "ops/reference_conv.h"

namespace convref {
namespace {

namespace nb = nabla;
using nb::Tensor;
using nb::TensorList;

struct PoolCase {
  std::string name;
  Shape x;
  I2 kernel;
  I2 stride{0, 0};  ///< 0 = kernel
  I2 padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;

  I2 eff_stride() const { return {stride[0] ? stride[0] : kernel[0], stride[1] ? stride[1] : kernel[1]}; }
  nb::Pool2dOptions options() const {
    return {.kernel = kernel, .stride = stride, .padding = padding, .ceil_mode = ceil_mode,
            .count_include_pad = count_include_pad};
  }
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

const std::vector<PoolCase> kPoolCases = {
    {.name = "k2_default_stride", .x = {2, 2, 4, 6}, .kernel = {2, 2}},
    {.name = "k3_s2_p1_batch1", .x = {1, 2, 5, 5}, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
    {.name = "k3_s2_p1_exclude_pad", .x = {1, 2, 5, 5}, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
     .count_include_pad = false},
    {.name = "k2x3_s1x2_p1x1_exclude_pad", .x = {1, 3, 5, 6}, .kernel = {2, 3}, .stride = {1, 2},
     .padding = {1, 1}, .count_include_pad = false},
    {.name = "k3_s2_ceil", .x = {1, 2, 6, 6}, .kernel = {3, 3}, .stride = {2, 2}, .ceil_mode = true},
    {.name = "k2_s2_p1_ceil_last_window_dropped", .x = {2, 1, 5, 4}, .kernel = {2, 2}, .stride = {2, 2},
     .padding = {1, 1}, .ceil_mode = true},
    {.name = "k2_s2_p1_ceil_exclude_pad", .x = {2, 1, 5, 4}, .kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1},
     .ceil_mode = true, .count_include_pad = false},
    {.name = "k3_s3_p1_ceil_exclude_pad_odd", .x = {1, 2, 7, 5}, .kernel = {3, 3}, .stride = {3, 3},
     .padding = {1, 1}, .ceil_mode = true, .count_include_pad = false},
    {.name = "k3x2_s2x1_p1x0_ceil", .x = {1, 1, 4, 5}, .kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0},
     .ceil_mode = true},
    {.name = "k1_identity", .x = {1, 2, 3, 3}, .kernel = {1, 1}},
    {.name = "kernel_equals_input", .x = {2, 2, 3, 5}, .kernel = {3, 5}},
};

class PoolGrid : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolGrid, MaxPoolForwardAndIndices) {
  const PoolCase& c = GetParam();
  Ref x = random_ref(c.x, 201);
  PoolRef ref = max_pool2d(x, c.kernel, c.eff_stride(), c.padding, c.ceil_mode);
  for (nb::DType dt : {nb::DType::f64, nb::DType::f32}) {
    auto [y, idx] = nb::max_pool2d_with_indices(tensor_of(x, false, dt), c.options());
    const bool f64 = dt == nb::DType::f64;
    expect_close(y, ref.out, f64 ? 0 : 1e-7, 0, c.name);
    ASSERT_EQ(idx.dtype(), nb::DType::i64);
    ASSERT_EQ(idx.shape(), ref.out.shape);
    EXPECT_EQ(idx.to_vector<int64_t>(), ref.indices) << c.name;
  }
  expect_close(nb::max_pool2d(tensor_of(x, false), c.options()), ref.out, 0, 0, c.name + " max_pool2d");
}

TEST_P(PoolGrid, MaxPoolGradcheck) {
  const PoolCase& c = GetParam();
  auto o = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::max_pool2d(a[0], o); },
                            {tensor_of(random_ref(c.x, 211))}, kGradOpts));
}

TEST_P(PoolGrid, AvgPoolForward) {
  const PoolCase& c = GetParam();
  Ref x = random_ref(c.x, 221);
  Ref ref = avg_pool2d(x, c.kernel, c.eff_stride(), c.padding, c.ceil_mode, c.count_include_pad);
  expect_close(nb::avg_pool2d(tensor_of(x, false), c.options()), ref, 1e-14, 1e-12, c.name + " f64");
  expect_close(nb::avg_pool2d(tensor_of(x, false, nb::DType::f32), c.options()), ref, 1e-6, 1e-6, c.name + " f32");
  // The other count_include_pad setting too (differs only where windows cover padding).
  nb::Pool2dOptions o = c.options();
  o.count_include_pad = !o.count_include_pad;
  expect_close(nb::avg_pool2d(tensor_of(x, false), o),
               avg_pool2d(x, c.kernel, c.eff_stride(), c.padding, c.ceil_mode, o.count_include_pad), 1e-14, 1e-12,
               c.name + " flipped count_include_pad");
}

TEST_P(PoolGrid, AvgPoolGradcheck) {
  const PoolCase& c = GetParam();
  auto o = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::avg_pool2d(a[0], o); },
                            {tensor_of(random_ref(c.x, 231))}, kGradOpts));
}

INSTANTIATE_TEST_SUITE_P(PoolTest, PoolGrid, ::testing::ValuesIn(kPoolCases),
                         [](const ::testing::TestParamInfo<PoolCase>& i) { return i.param.name; });

TEST(PoolTestMax, TiesPickFirstIndexAndRouteGradientThere) {
  // A constant plane: every window's maximum is its first (row-major) in-bounds element.
  Tensor x = nb::full({1, 1, 4, 5}, 2.5, {.dtype = nb::DType::f64, .requires_grad = true});
  nb::Pool2dOptions o{.kernel = {2, 3}, .stride = {2, 2}, .padding = {1, 1}};
  auto [y, idx] = nb::max_pool2d_with_indices(x, o);
  PoolRef ref = max_pool2d(Ref({1, 1, 4, 5}, 2.5), {2, 3}, {2, 2}, {1, 1}, false);
  EXPECT_EQ(idx.to_vector<int64_t>(), ref.indices);
  y.sum().backward();
  Ref expected({1, 1, 4, 5});
  for (int64_t i : ref.indices) expected.v[size_t(i)] += 1.0;
  expect_close(x.grad(), expected, 0, 0, "gradient at the first maxima");
}

TEST(PoolTestMax, NonContiguousInput) {
  const PoolCase c{.name = "nc", .x = {2, 2, 5, 4}, .kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}};
  Ref x = random_ref(c.x, 241);
  Tensor xt = noncontiguous_of(x, 1, 3);
  ASSERT_FALSE(xt.is_contiguous());
  PoolRef ref = max_pool2d(x, c.kernel, c.eff_stride(), c.padding, false);
  auto [y, idx] = nb::max_pool2d_with_indices(xt, c.options());
  expect_close(y, ref.out, 0, 0, "non-contiguous max_pool2d");
  EXPECT_EQ(idx.to_vector<int64_t>(), ref.indices);
  expect_close(nb::avg_pool2d(xt, c.options()), avg_pool2d(x, c.kernel, c.eff_stride(), c.padding, false, true), 1e-14,
               1e-12, "non-contiguous avg_pool2d");
  auto o = c.options();
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::max_pool2d(a[0], o); }, {xt}, kGradOpts));
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::avg_pool2d(a[0], o); }, {xt}, kGradOpts));
}

TEST(PoolTestMax, GradGradcheck) {
  nb::Pool2dOptions o{.kernel = {2, 3}, .stride = {1, 2}, .padding = {1, 1}, .ceil_mode = true};
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::max_pool2d(a[0], o); },
                                {tensor_of(random_ref({1, 2, 4, 5}, 251))}, kGradOpts));
}

TEST(PoolTestAvg, GradGradcheck) {
  for (bool include : {true, false}) {
    nb::Pool2dOptions o{.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}, .ceil_mode = true,
                        .count_include_pad = include};
    EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::avg_pool2d(a[0], o); },
                                  {tensor_of(random_ref({1, 2, 5, 4}, 261))}, kGradOpts))
        << "count_include_pad " << include;
  }
}

TEST(PoolTestAdaptive, ForwardAndGradcheck) {
  const Shape xs{2, 2, 5, 7};
  // Divisible-by-1 (identity), non-divisible, global, and larger-than-input (overlapping) sizes.
  const I2 sizes[] = {{5, 7}, {2, 3}, {3, 3}, {1, 1}, {4, 6}, {5, 1}, {7, 9}};
  Ref x = random_ref(xs, 271);
  for (I2 s : sizes) {
    SCOPED_TRACE(::testing::Message() << "output size (" << s[0] << ", " << s[1] << ")");
    Ref ref = adaptive_avg_pool2d(x, s);
    expect_close(nb::adaptive_avg_pool2d(tensor_of(x, false), s), ref, 1e-14, 1e-12, "f64");
    expect_close(nb::adaptive_avg_pool2d(tensor_of(x, false, nb::DType::f32), s), ref, 1e-6, 1e-6, "f32");
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::adaptive_avg_pool2d(a[0], s); },
                              {tensor_of(random_ref({1, 2, 5, 7}, 272))}, kGradOpts));
  }
  // Divisible case equals avg_pool2d with kernel = stride = in / out.
  Ref ref = avg_pool2d(Ref({2, 2, 4, 6}, random_values(96, 273)), {2, 3}, {2, 3}, {0, 0}, false, true);
  expect_close(nb::adaptive_avg_pool2d(tensor_of(Ref({2, 2, 4, 6}, random_values(96, 273)), false), {2, 2}), ref,
               1e-14, 1e-12, "divisible = avg_pool2d");
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::adaptive_avg_pool2d(a[0], {2, 3}); },
                                {tensor_of(random_ref({1, 1, 3, 5}, 274))}, kGradOpts));
}

TEST(PoolTestAdaptiveMax, ForwardAndGradcheck) {
  const Shape xs{2, 2, 5, 7};
  // Tiling (max_pool2d), non-divisible (overlapping windows), global, and larger than the input.
  const I2 sizes[] = {{5, 7}, {2, 3}, {3, 3}, {1, 1}, {4, 6}, {5, 1}, {7, 9}};
  Ref x = random_ref(xs, 291);
  for (I2 s : sizes) {
    SCOPED_TRACE(::testing::Message() << "output size (" << s[0] << ", " << s[1] << ")");
    Ref ref = adaptive_max_pool2d(x, s);
    expect_close(nb::adaptive_max_pool2d(tensor_of(x, false), s), ref, 0, 0, "f64");
    expect_close(nb::adaptive_max_pool2d(tensor_of(x, false, nb::DType::f32), s), ref, 1e-6, 1e-6, "f32");
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::adaptive_max_pool2d(a[0], s); },
                              {tensor_of(random_ref({1, 2, 5, 7}, 292))}, kGradOpts));
  }
  Ref tiled = random_ref({1, 3, 4, 6}, 293);
  expect_close(nb::adaptive_max_pool2d(tensor_of(tiled, false), {2, 2}),
               max_pool2d(tiled, {2, 3}, {2, 3}, {0, 0}, false).out, 0, 0, "tiling = max_pool2d");
  EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::adaptive_max_pool2d(a[0], {2, 3}); },
                                {tensor_of(random_ref({1, 1, 3, 5}, 294))}, kGradOpts));
  // Ties (zeros after a ReLU): the gradient goes to the first maximum in row-major order, as
  // max_pool2d's. Windows of 5 -> 4 are 2 wide with stride 1, so max_pool2d(2, 1) is the reference.
  std::vector<double> ties(2 * 25);
  for (size_t i = 0; i < ties.size(); ++i) ties[i] = double((i * 7 + i / 3) % 3 == 0);  // 0s and 1s
  Tensor tx = nb::from_vector(ties, {1, 2, 5, 5}).requires_grad_(true), mx = tx.detach().requires_grad_(true);
  nb::adaptive_max_pool2d(tx, {4, 4}).sum().backward();
  nb::max_pool2d(mx, {.kernel = {2, 2}, .stride = {1, 1}}).sum().backward();
  EXPECT_EQ(tx.grad().to_vector<double>(), mx.grad().to_vector<double>());
  expect_error([&] { nb::adaptive_max_pool2d(tensor_of(x, false), {0, 2}); }, {"[adaptive_max_pool2d]", "output size"},
               "zero output size");
  expect_error([&] { nb::adaptive_max_pool2d(nb::zeros({2, 3}), {1, 1}); }, {"[adaptive_max_pool2d]", "[2, 3]"},
               "2-d input");
}

TEST(PoolTestGlobalAvg, ForwardAndGradcheck) {
  Ref x = random_ref({2, 3, 3, 5}, 281);
  Ref ref({2, 3});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 5; ++w) ref(n, c) += x(n, c, h, w);
      ref(n, c) /= 15.0;
    }
  expect_close(nb::global_avg_pool2d(tensor_of(x, false)), ref, 1e-14, 1e-12, "global_avg_pool2d");
  EXPECT_TRUE(nb::gradcheck([](const TensorList& a) { return nb::global_avg_pool2d(a[0]); }, {tensor_of(x)}, kGradOpts));
}

TEST(PoolTest, ErrorsNameOpAndShapes) {
  Tensor x = nb::zeros({1, 2, 3, 3}, {.dtype = nb::DType::f64});
  expect_error([&] { nb::max_pool2d(x, {.kernel = {4, 2}}); }, {"[max_pool2d]", "[1, 2, 3, 3]", "larger"},
               "max kernel larger than input");
  expect_error([&] { nb::avg_pool2d(x, {.kernel = {2, 6}, .padding = {0, 1}}); },
               {"[avg_pool2d]", "[1, 2, 3, 3]", "larger"}, "avg kernel larger than padded input");
  expect_error([&] { nb::max_pool2d(x, {.kernel = {2, 2}, .padding = {2, 0}}); }, {"[max_pool2d]", "padding"},
               "padding more than half the kernel");
  expect_error([&] { nb::avg_pool2d(nb::zeros({2, 3, 3}, {.dtype = nb::DType::f64})); }, {"[avg_pool2d]", "[2, 3, 3]"},
               "3-D input");
  expect_error([&] { nb::max_pool2d(x, {.kernel = {2, 2}, .stride = {-1, 1}}); }, {"[max_pool2d]", "stride"},
               "negative stride");
  expect_error([&] { nb::adaptive_avg_pool2d(x, {0, 2}); }, {"[adaptive_avg_pool2d]", "output size"},
               "zero output size");
  expect_error([&] { nb::adaptive_avg_pool2d(nb::zeros({2, 3}), {1, 1}); }, {"[adaptive_avg_pool2d]", "[2, 3]"},
               "2-D input");
  expect_error([&] { nb::global_avg_pool2d(nb::zeros({2, 3, 4})); }, {"[global_avg_pool2d]", "[2, 3, 4]"},
               "3-D input");
}

}  // namespace
}  // namespace convref
