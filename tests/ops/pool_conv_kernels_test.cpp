// Kernels the CPU backend has ready for the op layer but src/ops does not call yet
// (src/backend/cpu/conv_impl.h): max_pool2d_backward against autograd through max_pool2d, and
// conv2d_forward_relu against relu(conv2d), in f32 and f64.
#include <gtest/gtest.h>

#include "../../src/backend/cpu/conv_impl.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
// ConvGeom/PoolGeom live in nabla::backend (nabla::backend::cpu before the device refactor).
using namespace nabla::backend;       // NOLINT
using namespace nabla::backend::cpu;  // NOLINT

void expect_equal(const nb::Tensor& got, const nb::Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > tol * (1 + std::abs(b[i])) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << b[i];
  EXPECT_EQ(bad, 0) << what;
}

struct PoolCase {
  nb::Shape x;
  nb::Size2 k, s, p;
  bool ceil;
};

TEST(PoolConvKernels, MaxPoolBackwardMatchesAutograd) {
  const PoolCase cases[] = {{{2, 3, 8, 8}, {2, 2}, {2, 2}, {0, 0}, false},
                            {{1, 2, 7, 9}, {2, 2}, {2, 2}, {0, 0}, false},
                            {{1, 2, 7, 9}, {2, 2}, {2, 2}, {0, 0}, true},
                            {{2, 2, 9, 7}, {3, 3}, {2, 2}, {1, 1}, false},
                            {{1, 1, 6, 6}, {3, 2}, {1, 2}, {1, 0}, true}};
  for (nb::DType dt : {nb::DType::f32, nb::DType::f64}) {
    for (const PoolCase& c : cases) {
      nb::manual_seed(7);
      nb::Tensor x = nb::randn(c.x, {.dtype = dt});
      x.requires_grad_(true);
      nb::Pool2dOptions o{.kernel = c.k, .stride = c.s, .padding = c.p, .ceil_mode = c.ceil};
      auto [y, idx] = nb::max_pool2d_with_indices(x, o);
      nb::Tensor go = nb::randn(y.shape(), {.dtype = dt});
      nb::Tensor want = nb::grad({y}, {x}, {go})[0];
      PoolGeom g{};
      g.planes = c.x[0] * c.x[1], g.H = c.x[2], g.W = c.x[3], g.Ho = y.size(2), g.Wo = y.size(3);
      g.kh = c.k[0], g.kw = c.k[1], g.sh = c.s[0], g.sw = c.s[1], g.ph = c.p[0], g.pw = c.p[1];
      nb::Tensor gx = nb::full(c.x, 123.0, {.dtype = dt});  // garbage: the kernel overwrites all of it
      max_pool2d_backward(dt, g, go.raw_data(), idx.data_ptr<int64_t>(), gx.raw_data());
      expect_equal(gx, want, 0.0, "max_pool2d_backward " + nb::shape_str(c.x));
    }
  }
}

TEST(PoolConvKernels, ConvForwardReluMatchesReluOfConv) {
  for (nb::DType dt : {nb::DType::f32, nb::DType::f64}) {
    for (int64_t C : {1, 5}) {
      nb::manual_seed(9);
      nb::Tensor x = nb::randn({2, C, 9, 8}, {.dtype = dt}), w = nb::randn({4, C, 3, 3}, {.dtype = dt}),
                 b = nb::randn({4}, {.dtype = dt});
      nb::Tensor want = nb::relu(nb::conv2d(x, w, b, {.padding = {1, 1}}));
      ConvGeom g{};
      g.N = 2, g.C = C, g.H = 9, g.W = 8, g.O = 4, g.kh = g.kw = 3, g.Ho = 9, g.Wo = 8;
      g.sh = g.sw = 1, g.ph = g.pw = 1, g.dh = g.dw = 1, g.groups = 1;
      nb::Tensor out = nb::empty(want.shape(), {.dtype = dt});
      conv2d_forward_relu(dt, g, x.raw_data(), w.raw_data(), b.raw_data(), out.raw_data());
      expect_equal(out, want, dt == nb::DType::f32 ? 1e-5 : 1e-12, "conv2d_forward_relu");
    }
  }
}

TEST(PoolConvKernels, ConvBiasGradIsChannelSum) {
  for (nb::DType dt : {nb::DType::f32, nb::DType::f64}) {
    nb::manual_seed(11);
    nb::Tensor gout = nb::randn({3, 5, 7, 9}, {.dtype = dt});
    nb::Tensor want = nb::sum(gout, {0, 2, 3});
    ConvGeom g{};
    g.N = 3, g.O = 5, g.Ho = 7, g.Wo = 9;
    nb::Tensor gb = nb::empty({5}, {.dtype = dt});
    conv2d_bias_grad(dt, g, gout.raw_data(), gb.raw_data());
    expect_equal(gb, want, dt == nb::DType::f32 ? 1e-6 : 1e-12, "conv2d_bias_grad");
  }
}

TEST(PoolConvKernels, ConvBiasGradIsTheDocumentedLaneSum) {
  // f64 accumulation in 8 lanes plus a tail, in this order whatever the CPU (an AVX2 build of the
  // loop does the same additions) and however the planes are walked (blocks of 64 channels):
  // the same bits as this plain loop.
  nb::manual_seed(12);
  const int64_t N = 3, O = 67, S = 7 * 9;
  nb::Tensor gout = nb::randn({N, O, 7, 9});
  std::vector<float> gv = gout.to_vector<float>();
  ConvGeom g{};
  g.N = N, g.O = O, g.Ho = 7, g.Wo = 9;
  nb::Tensor gb = nb::empty({O});
  conv2d_bias_grad(nb::DType::f32, g, gout.raw_data(), gb.raw_data());
  std::vector<float> got = gb.to_vector<float>();
  for (int64_t o = 0; o < O; ++o) {
    double lane[8] = {}, tail = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = gv.data() + (n * O + o) * S;
      int64_t i = 0;
      for (; i + 8 <= S; i += 8)
        for (int k = 0; k < 8; ++k) lane[k] += double(p[i + k]);
      for (; i < S; ++i) tail += double(p[i]);
    }
    const float want =
        float(((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail);
    EXPECT_EQ(got[size_t(o)], want) << "channel " << o;
  }
}

}  // namespace
