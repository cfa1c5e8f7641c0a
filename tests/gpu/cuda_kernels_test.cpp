// CUDA kernels for matmul, convolution, pooling, normalization and the fused optimizer
// updates against the CPU ones, on the edge cases the kernels promise to treat alike: the
// optimizer updates and the pooling kernels give the CPU's bits exactly (same operation order,
// no FMA contraction), max pooling picks the same index on ties and NaNs, and f64 GEMM /
// convolution (grouped, strided, dilated, padded) agree to f64 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_util.h"
#include "nabla/nabla.h"
#include "nabla/ops/optim_update.h"

namespace {

using namespace nabla;
using gputest::expect_same;
using gputest::gpu;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(CudaKernels, MatmulBatchedAndBroadcastF64) {
  NB_REQUIRE_CUDA();
  manual_seed(1);
  Tensor a = randn({3, 5, 7}, {.dtype = DType::f64}), b = randn({7, 4}, {.dtype = DType::f64});
  expect_same(matmul(a.cuda(), b.cuda()), matmul(a, b), 1e-12, 1e-12, "batched x broadcast");
  Tensor bt = randn({4, 7}, {.dtype = DType::f64}).transpose(0, 1);  // a transposed view
  expect_same(matmul(a.cuda(), bt.cuda()), matmul(a, bt), 1e-12, 1e-12, "transposed right operand");
  Tensor at = a.transpose(1, 2), c = randn({5, 2}, {.dtype = DType::f64});
  expect_same(matmul(at.cuda(), c.cuda()), matmul(at, c), 1e-12, 1e-12, "transposed left operand");
  // k = 0: C = 0 (cuBLAS is asked for beta * C with beta = 0 and an unused leading dimension).
  expect_same(matmul(zeros({3, 0}, {.dtype = DType::f64}).cuda(), zeros({0, 4}, {.dtype = DType::f64}).cuda()),
              zeros({3, 4}, {.dtype = DType::f64}), 0, 0, "empty inner dimension");
  Tensor v = randn({7}, {.dtype = DType::f64});
  expect_same(matmul(a.cuda(), v.cuda()), matmul(a, v), 1e-12, 1e-12, "matrix-vector");
}

// relu keeps NaN on the GPU as on the CPU (the shared relu_of), in both float dtypes.
TEST(CudaKernels, ReluKeepsNaN) {
  NB_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = from_vector<double>({kNaN, -1, 0, 2}, {4}).to(dt);
    const auto got = relu(x.cuda()).cpu().to_vector<double>();
    EXPECT_TRUE(std::isnan(got[0])) << dt;
    EXPECT_EQ(got[1], 0.0) << dt;
    EXPECT_EQ(got[2], 0.0) << dt;
    EXPECT_EQ(got[3], 2.0) << dt;
  }
}

TEST(CudaKernels, MatmulF32WithoutTf32) {
  NB_REQUIRE_CUDA();
  manual_seed(2);
  Tensor a = randn({64, 300}), b = randn({300, 50});
  // TF32 would be off by ~1e-3 relative; plain f32 agrees to summation-order rounding.
  expect_same(matmul(a.cuda(), b.cuda()), matmul(a, b), 1e-4, 1e-4, "f32 matmul");
}

TEST(CudaKernels, ConvGeometriesF64) {
  NB_REQUIRE_CUDA();
  manual_seed(3);
  struct Case {
    Shape x, w;
    Conv2dOptions o;
  };
  const std::vector<Case> cases = {
      {{2, 3, 9, 8}, {4, 3, 3, 3}, {}},
      {{2, 4, 10, 9}, {6, 2, 3, 2}, {.stride = {2, 1}, .padding = {1, 2}, .groups = 2}},
      {{1, 3, 11, 12}, {5, 3, 3, 3}, {.stride = {2, 3}, .padding = {2, 1}, .dilation = {2, 2}}},
      {{2, 6, 7, 7}, {6, 1, 3, 3}, {.padding = {1, 1}, .groups = 6}},  // depthwise
      {{2, 3, 6, 6}, {4, 3, 1, 1}, {}},                                // pointwise
      {{1, 2, 5, 6}, {3, 2, 3, 3}, {.padding_same = true, .dilation = {2, 1}}},
  };
  for (const Case& c : cases) {
    Tensor x = randn(c.x, {.dtype = DType::f64}), w = randn(c.w, {.dtype = DType::f64});
    Tensor bias = randn({c.w[0]}, {.dtype = DType::f64});
    Tensor xg = x.cuda().requires_grad_(), wg = w.cuda().requires_grad_(), bg = bias.cuda().requires_grad_();
    Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_(), bc = bias.clone().requires_grad_();
    Tensor yg = conv2d(xg, wg, bg, c.o), yc = conv2d(xc, wc, bc, c.o);
    expect_same(yg, yc, 1e-11, 1e-11, "conv2d forward " + shape_str(c.x) + " * " + shape_str(c.w));
    Tensor go = randn(yc.shape(), {.dtype = DType::f64});
    (yg * go.cuda()).sum().backward();
    (yc * go).sum().backward();
    expect_same(xg.grad(), xc.grad(), 1e-11, 1e-11, "conv2d input grad " + shape_str(c.x));
    expect_same(wg.grad(), wc.grad(), 1e-11, 1e-11, "conv2d weight grad " + shape_str(c.w));
    expect_same(bg.grad(), bc.grad(), 1e-11, 1e-11, "conv2d bias grad");
  }
}

TEST(CudaKernels, ConvF32) {
  NB_REQUIRE_CUDA();
  manual_seed(4);
  Tensor x = randn({8, 16, 14, 14}), w = randn({32, 16, 3, 3}), b = randn({32});
  expect_same(conv2d(x.cuda(), w.cuda(), b.cuda(), {.padding = {1, 1}}), conv2d(x, w, b, {.padding = {1, 1}}), 1e-3,
              1e-4, "f32 conv2d (no TF32)");
}

TEST(CudaKernels, MaxPoolTiesNaNsAndPaddingExact) {
  NB_REQUIRE_CUDA();
  // Ties, -inf, and NaNs in several rows of a window; both the 2x2 fast path and the general path.
  std::vector<double> v = {1, 1, 2, 2, kNaN, 0, -1, 5, 5, -1, 3, kNaN, 3, 3, kNaN, 7,
                           kNaN, 2, 2, kNaN, 0, 0, 0, 0, 4, 4, -INFINITY, -INFINITY, 1, kNaN, 1, 1};
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = from_vector(v, {1, 2, 4, 4}, dt);
    for (const Pool2dOptions& o : {Pool2dOptions{}, Pool2dOptions{.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}},
                                   Pool2dOptions{.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 0}, .ceil_mode = true}}) {
      auto [yc, ic] = max_pool2d_with_indices(x, o);
      auto [yg, ig] = max_pool2d_with_indices(x.cuda(), o);
      expect_same(yg, yc, 0, 0, "max_pool2d values");
      expect_same(ig, ic, 0, 0, "max_pool2d indices");
    }
  }
}

TEST(CudaKernels, AvgAndAdaptivePoolExact) {
  NB_REQUIRE_CUDA();
  manual_seed(5);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = randn({2, 3, 7, 9}, {.dtype = dt});
    for (bool include_pad : {true, false}) {
      Pool2dOptions o{.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true,
                      .count_include_pad = include_pad};
      Tensor xg = x.cuda().requires_grad_(), xc = x.clone().requires_grad_();
      Tensor yg = avg_pool2d(xg, o), yc = avg_pool2d(xc, o);
      expect_same(yg, yc, 0, 0, "avg_pool2d forward");
      Tensor go = randn(yc.shape(), {.dtype = dt});
      (yg * go.cuda()).sum().backward();
      (yc * go).sum().backward();
      expect_same(xg.grad(), xc.grad(), 0, 0, "avg_pool2d backward");
    }
    for (Size2 out : {Size2{3, 4}, Size2{7, 9}, Size2{5, 2}, Size2{1, 1}}) {
      Tensor xg = x.cuda().requires_grad_(), xc = x.clone().requires_grad_();
      Tensor yg = adaptive_avg_pool2d(xg, out), yc = adaptive_avg_pool2d(xc, out);
      expect_same(yg, yc, 0, 0, "adaptive_avg_pool2d forward");
      Tensor go = randn(yc.shape(), {.dtype = dt});
      (yg * go.cuda()).sum().backward();
      (yc * go).sum().backward();
      expect_same(xg.grad(), xc.grad(), 0, 0, "adaptive_avg_pool2d backward");
    }
  }
}

TEST(CudaKernels, BatchAndLayerNorm) {
  NB_REQUIRE_CUDA();
  manual_seed(6);
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    // A large mean checks the f64 two-pass statistics.
    Tensor x = randn({4, 5, 6, 7}, {.dtype = dt}) + 1000.0;
    Tensor w = randn({5}, {.dtype = dt}), b = randn({5}, {.dtype = dt});
    Tensor rm = zeros({5}, {.dtype = dt}), rv = ones({5}, {.dtype = dt});
    Tensor rmg = rm.cuda(), rvg = rv.cuda();
    expect_same(batch_norm(x.cuda(), rmg, rvg, w.cuda(), b.cuda(), true), batch_norm(x, rm, rv, w, b, true), tol, tol,
                "batch_norm training");
    expect_same(rmg, rm, tol, tol, "running_mean");
    expect_same(rvg, rv, tol, tol, "running_var");
    // Running averages in the other float dtype (f64 ones for an f32 input, say) and strided.
    const DType other = dt == DType::f32 ? DType::f64 : DType::f32;
    Tensor rm2 = zeros({5}, {.dtype = other}), rv2 = ones({5, 2}, {.dtype = other}).select(1, 0);
    Tensor rm2g = rm2.cuda(), rv2g = ones({5, 2}, {.dtype = other}).cuda().select(1, 0);
    batch_norm(x.cuda(), rm2g, rv2g, w.cuda(), b.cuda(), true);
    batch_norm(x, rm2, rv2, w, b, true);
    EXPECT_EQ(rm2g.dtype(), other);
    const double tol2 = other == DType::f64 ? 1e-12 : 1e-6;  // the sums' order differs; f32 rounds it once
    expect_same(rm2g, rm2, tol2, tol2, "running_mean in the other dtype");
    expect_same(rv2g, rv2, tol2, tol2, "strided running_var in the other dtype");
    Tensor x2 = randn({3, 1, 4}, {.dtype = dt});  // S = 1, C = 4 as BatchNorm1d on [N, C]
    expect_same(batch_norm(x2.reshape({3, 4}).cuda(), Tensor(), Tensor(), Tensor(), Tensor(), true),
                batch_norm(x2.reshape({3, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true), tol, tol, "batch_norm 1d");
    Tensor y = randn({6, 3, 33}, {.dtype = dt}), lw = randn({33}, {.dtype = dt}), lb = randn({33}, {.dtype = dt});
    expect_same(layer_norm(y.cuda(), {33}, lw.cuda(), lb.cuda()), layer_norm(y, {33}, lw, lb), tol, tol, "layer_norm");
    expect_same(layer_norm(y.cuda(), {3, 33}), layer_norm(y, {3, 33}), tol, tol, "layer_norm no affine");
  }
}

// batch_norm's statistics kernel (slices of each channel, finished by the channel's last block,
// which must leave its arrival counters at zero for the next call) against the CPU, on shapes
// with 1 to 1024 slices per channel (54 with a shorter last slice), each run three times in a
// row with different values (a finish that read stale partials would show), in both directions
// of size change, with a large mean and the running averages: f32 and f64.
TEST(CudaKernels, BatchNormStatisticsAcrossSlicesAndRepeats) {
  NB_REQUIRE_CUDA();
  manual_seed(12);
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f64 ? 1e-11 : 2e-4;
    for (const Shape& s : {Shape{64, 64, 16, 16}, Shape{3, 5, 7, 9}, Shape{512, 3, 32, 32}, Shape{100, 3, 33, 33},
                           Shape{2048, 1, 32, 32}, Shape{130, 7}, Shape{64, 512, 4, 4}, Shape{64, 64, 16, 16}}) {
      Tensor w = randn({s[1]}, {.dtype = dt}), b = randn({s[1]}, {.dtype = dt});
      Tensor rm = zeros({s[1]}, {.dtype = dt}), rv = ones({s[1]}, {.dtype = dt});
      Tensor rmg = rm.cuda(), rvg = rv.cuda(), wg = w.cuda(), bg = b.cuda();
      for (int rep = 0; rep < 3; ++rep) {
        Tensor x = randn(s, {.dtype = dt}) * (3.0 + rep) + 500.0 * (rep + 1);
        const std::string what = "batch_norm " + shape_str(s) + " call " + std::to_string(rep + 1);
        expect_same(batch_norm(x.cuda(), rmg, rvg, wg, bg, true), batch_norm(x, rm, rv, w, b, true), tol, tol, what);
        expect_same(rmg, rm, tol, tol, what + " running_mean");
        expect_same(rvg, rv, tol, tol, what + " running_var");
      }
    }
  }
}

// A channel whose first value is inf: the kernel's shift (that first value) must not turn the
// CPU's inf mean into NaN. Channel 1 starts finite and holds a -inf further in.
TEST(CudaKernels, BatchNormWithAnInfiniteFirstValueMatchesTheCpu) {
  NB_REQUIRE_CUDA();
  manual_seed(13);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = randn({8, 3, 5, 5}, {.dtype = dt});
    x.select(1, 0).select(0, 0).select(0, 0).select(0, 0).fill_(INFINITY);
    x.select(1, 1).select(0, 3).select(0, 2).select(0, 2).fill_(-INFINITY);
    Tensor rm = zeros({3}, {.dtype = dt}), rv = ones({3}, {.dtype = dt});
    Tensor rmg = rm.cuda(), rvg = rv.cuda();
    expect_same(batch_norm(x.cuda(), rmg, rvg, Tensor(), Tensor(), true), batch_norm(x, rm, rv, Tensor(), Tensor(), true),
                1e-5, 1e-5, "batch_norm with inf");
    expect_same(rmg, rm, 1e-5, 1e-5, "running_mean with inf");
    EXPECT_TRUE(std::isinf(rm.to_vector<double>()[0])) << "the CPU reference itself";
  }
}

// batch_norm's fused backward kernels (slices per channel finished by the last block, then the
// input gradient; division-free index walkers) against the CPU's, on shapes where one channel
// spans several blocks (8, and 54 with a shorter last slice; each seen twice, with new values,
// so the arrival counters are reused) and where the grid stride is not a multiple of the channel
// or row length; with a large mean, f32 and f64.
TEST(CudaKernels, BatchNormBackward) {
  NB_REQUIRE_CUDA();
  manual_seed(8);
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f64 ? 1e-11 : 2e-4;
    for (const Shape& s : {Shape{64, 64, 16, 16}, Shape{3, 5, 7, 9}, Shape{100, 3, 33, 33}, Shape{130, 7},
                           Shape{2, 3, 1, 1}, Shape{100, 3, 33, 33}, Shape{64, 64, 16, 16}}) {
      Tensor x = randn(s, {.dtype = dt}) * 3.0 + 500.0, go = randn(s, {.dtype = dt});
      Tensor w = randn({s[1]}, {.dtype = dt}), b = randn({s[1]}, {.dtype = dt});
      Tensor xg = x.cuda().requires_grad_(), wg = w.cuda().requires_grad_(), bg = b.cuda().requires_grad_();
      Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_(), bc = b.clone().requires_grad_();
      (batch_norm(xg, Tensor(), Tensor(), wg, bg, true) * go.cuda()).sum().backward();
      (batch_norm(xc, Tensor(), Tensor(), wc, bc, true) * go).sum().backward();
      expect_same(xg.grad(), xc.grad(), tol, tol, "batch_norm input grad " + shape_str(s));
      expect_same(wg.grad(), wc.grad(), tol, tol, "batch_norm weight grad " + shape_str(s));
      expect_same(bg.grad(), bc.grad(), tol, tol, "batch_norm bias grad " + shape_str(s));
    }
  }
}

// The algorithm options (timed on first use or cuDNN's heuristic pick; non-deterministic
// algorithms allowed or not) change only which cuDNN algorithm runs: results still match the
// CPU, and repeat calls reuse the plan. The defaults (timed, deterministic) run in every other test.
TEST(CudaKernels, ConvUnderEachAlgorithmPolicy) {
  NB_REQUIRE_CUDA();
  manual_seed(9);
  // Puts the defaults back however the test ends, so later tests run under them.
  struct RestoreDefaults {
    ~RestoreDefaults() {
      set_cudnn_benchmark(true);
      use_deterministic_algorithms(true);
    }
  } restore;
  for (auto [bench, det] : {std::pair{true, false}, std::pair{false, true}, std::pair{false, false}}) {
    SCOPED_TRACE(std::string("cudnn_benchmark ") + (bench ? "on" : "off") + ", deterministic " + (det ? "on" : "off"));
    set_cudnn_benchmark(bench);
    use_deterministic_algorithms(det);
    for (int rep = 0; rep < 2; ++rep) {
      for (DType dt : {DType::f32, DType::f64}) {
        const double tol = dt == DType::f64 ? 1e-11 : 1e-3;
        Tensor x = randn({16, 32, 16, 16}, {.dtype = dt}), w = randn({64, 32, 3, 3}, {.dtype = dt});
        Tensor b = randn({64}, {.dtype = dt});
        Conv2dOptions o{.stride = {1, 1}, .padding = {1, 1}};
        Tensor xg = x.cuda().requires_grad_(), wg = w.cuda().requires_grad_();
        Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_();
        Tensor bg = b.cuda().requires_grad_(), bc = b.clone().requires_grad_();
        Tensor yg = conv2d(xg, wg, bg, o), yc = conv2d(xc, wc, bc, o);
        expect_same(yg, yc, tol, tol, "conv2d forward");
        Tensor go = randn(yc.shape(), {.dtype = dt});
        (yg * go.cuda()).sum().backward();
        (yc * go).sum().backward();
        expect_same(xg.grad(), xc.grad(), tol, tol, "conv2d input grad");
        expect_same(wg.grad(), wc.grad(), tol * 10, tol, "conv2d weight grad");
        // 4096 values per channel: the bias gradient's sum runs in two slices per channel.
        expect_same(bg.grad(), bc.grad(), tol * 10, tol, "conv2d bias grad");
      }
    }
  }
}

// The defaults (algorithms timed on first use, deterministic ones only) repeat bit for bit: a
// ResNet-sized layer's forward, input gradient and weight gradient, three times from the same
// inputs. The timing used to let non-deterministic algorithms compete (cuDNN's weight-gradient
// ALGO_0 adds with atomics) and could pick one.
TEST(CudaKernels, DefaultConvolutionAlgorithmsRepeatBitForBit) {
  NB_REQUIRE_CUDA();
  ASSERT_TRUE(cudnn_benchmark());
  ASSERT_TRUE(are_deterministic_algorithms_enabled());
  manual_seed(10);
  for (auto [c, hw] : {std::pair<int64_t, int64_t>{64, 32}, {256, 8}, {512, 4}}) {
    SCOPED_TRACE(std::to_string(c) + " channels, " + std::to_string(hw) + "x" + std::to_string(hw));
    Tensor x = randn({64, c, hw, hw}).cuda(), w = (randn({c, c, 3, 3}) * 0.05).cuda();
    Tensor go = randn({64, c, hw, hw}).cuda();
    std::vector<std::vector<float>> first;
    for (int rep = 0; rep < 3; ++rep) {
      Tensor xr = x.detach().requires_grad_(), wr = w.detach().requires_grad_();
      Tensor y = conv2d(xr, wr, Tensor(), {.stride = {1, 1}, .padding = {1, 1}});
      (y * go).sum().backward();
      std::vector<std::vector<float>> now = {y.to_vector<float>(), xr.grad().to_vector<float>(),
                                             wr.grad().to_vector<float>()};
      if (rep == 0) first = now;
      else
        for (size_t k = 0; k < now.size(); ++k)
          EXPECT_TRUE(now[k] == first[k]) << (k == 0 ? "forward" : k == 1 ? "input grad" : "weight grad")
                                          << " differs in repeat " << rep;
    }
  }
}

// Runs three steps of `algo` on the CPU and on CUDA from the same start; every parameter and
// state must agree bit for bit.
void check_optim(OptimAlgo algo, OptimHyper h, std::array<double, 4> c, int n_state, DType dt, const char* what) {
  manual_seed(7);
  const std::vector<Shape> shapes = {{5, 3}, {1}, {4099}, {0}, {2, 2, 2}};
  std::vector<OptimSlot> cpu, gpu_slots;
  for (const Shape& s : shapes) {
    OptimSlot a;
    a.param = randn(s, {.dtype = dt});
    a.grad = randn(s, {.dtype = dt});
    for (int k = 0; k < n_state; ++k) a.state[size_t(k)] = rand(s, {.dtype = dt});  // non-negative: valid sums
    a.c = c;
    OptimSlot g = a;
    g.param = a.param.cuda();
    g.grad = a.grad.cuda();
    for (int k = 0; k < n_state; ++k) g.state[size_t(k)] = a.state[size_t(k)].cuda();
    cpu.push_back(a);
    gpu_slots.push_back(g);
  }
  NoGradGuard ng;
  for (int step = 0; step < 3; ++step) {
    optim_update_(algo, h, cpu);
    optim_update_(algo, h, gpu_slots);
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    expect_same(gpu_slots[i].param, cpu[i].param, 0, 0, std::string(what) + " param");
    for (int k = 0; k < n_state; ++k)
      expect_same(gpu_slots[i].state[size_t(k)], cpu[i].state[size_t(k)], 0, 0, std::string(what) + " state");
  }
}

// f16/bf16 (pure 16-bit training): both backends read each element into float, run the f32
// math and round each written value once, so they agree bit for bit too.
TEST(CudaKernels, OptimizerUpdatesBitExact) {
  NB_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dt));
    check_optim(OptimAlgo::SGD, {.lr = 0.1}, {}, 0, dt, "sgd plain");
    check_optim(OptimAlgo::SGD, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}, {0, 0, 0, 0}, 1,
                dt, "sgd momentum");
    check_optim(OptimAlgo::SGD, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .maximize = true}, {1, 0, 0, 0}, 1, dt,
                "sgd nesterov first");
    check_optim(OptimAlgo::Adagrad, {.eps = 1e-10, .weight_decay = 0.1}, {0.05, 0, 0, 0}, 1, dt, "adagrad");
    check_optim(OptimAlgo::RMSprop, {.lr = 0.01, .alpha = 0.99, .eps = 1e-8}, {}, 1, dt, "rmsprop");
    check_optim(OptimAlgo::RMSprop, {.lr = 0.01, .momentum = 0.5, .alpha = 0.9, .eps = 1e-8, .centered = true}, {}, 3,
                dt, "rmsprop centered momentum");
    check_optim(OptimAlgo::Adadelta, {.lr = 1.0, .alpha = 0.9, .eps = 1e-6}, {}, 2, dt, "adadelta");
    check_optim(OptimAlgo::Adam, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .decay = 0.999}, {0.01, 0.03, 0, 0}, 2,
                dt, "adamw");
    check_optim(OptimAlgo::Adam, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .amsgrad = true}, {0.01, 0.03, 0, 0}, 3,
                dt, "adam amsgrad");
    check_optim(OptimAlgo::NAdam, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}, {0.002, 0.003, 0.001, 0}, 2, dt, "nadam");
    check_optim(OptimAlgo::RAdam, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}, {0.01, 1, 0, 0}, 2, dt, "radam rect");
    check_optim(OptimAlgo::RAdam, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}, {0.01, 0, 0, 0}, 2, dt, "radam plain");
    check_optim(OptimAlgo::Adamax, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01},
                {0.02, 0, 0, 0}, 2, dt, "adamax");
    check_optim(OptimAlgo::Adamax, {.beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3, .maximize = true}, {0.01, 0, 0, 0}, 2,
                dt, "adamax maximize");
    // prev >= 0 (rand) and a randn gradient: kept signs, flips and (in later steps) zeros all occur.
    check_optim(OptimAlgo::Rprop, {.etaminus = 0.5, .etaplus = 1.2, .step_size_min = 1e-6, .step_size_max = 50}, {}, 2,
                dt, "rprop");
    check_optim(OptimAlgo::Rprop,
                {.etaminus = 0.3, .etaplus = 1.5, .step_size_min = 0.2, .step_size_max = 0.6, .maximize = true}, {},
                2, dt, "rprop clamped maximize");
    check_optim(OptimAlgo::ASGD, {.weight_decay = 0.01}, {0.01, 1, 1 - 1e-4 * 0.01, 0}, 1, dt, "asgd copy");
    check_optim(OptimAlgo::ASGD, {.maximize = true}, {0.02, 0.25, 1 - 1e-2 * 0.02, 0}, 1, dt, "asgd average");
  }
}

TEST(CudaKernels, ForeachNormScaleClamp) {
  NB_REQUIRE_CUDA();
  manual_seed(8);
  for (DType dt : {DType::f32, DType::f64}) {
    TensorList cpu = {randn({3, 4}, {.dtype = dt}), randn({10000}, {.dtype = dt}), randn({0}, {.dtype = dt}),
                      randn({7}, {.dtype = dt})};
    TensorList gpu_list;
    for (const Tensor& t : cpu) gpu_list.push_back(t.cuda());
    for (double p : {1.0, 2.0, 3.0, double(INFINITY)}) {
      const double want = foreach_norm(cpu, p), got = foreach_norm(gpu_list, p);
      EXPECT_NEAR(got, want, 1e-9 * std::abs(want)) << "foreach_norm p=" << p;
    }
    foreach_mul_(cpu, 0.37);
    foreach_mul_(gpu_list, 0.37);
    foreach_clamp_(cpu, -0.5, 0.25);
    foreach_clamp_(gpu_list, -0.5, 0.25);
    for (size_t i = 0; i < cpu.size(); ++i) expect_same(gpu_list[i], cpu[i], 0, 0, "foreach_mul_/clamp_");
    Tensor with_nan = from_vector(std::vector<double>{1.0, kNaN, -3.0}, {3}, dt);
    EXPECT_TRUE(std::isnan(foreach_norm({with_nan.cuda()}, INFINITY))) << "NaN propagates through the max";
  }
}

}  // namespace
