// CUDA beyond single ops (issue 9): the counter-based RNG draws the same numbers on both
// devices, a training step on the GPU allocates nothing new after warm-up, modules and
// optimizer state live on the device and train like on the CPU, pinned uploads arrive intact,
// and ops that mix devices fail with a clear error.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "gpu/gpu_test_util.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/train/model_spec.h"

namespace {

namespace nb = nabla;
namespace nn = nabla::nn;
using gputest::expect_same;
using gputest::gpu;
using nb::Device;
using nb::DType;
using nb::Tensor;

/// Expects `stmt` to throw nabla::Error whose message contains every string in `parts`.
template <typename F>
void expect_error(F&& stmt, const std::vector<std::string>& parts, const std::string& what) {
  try {
    stmt();
  } catch (const nb::Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << what << ": message \"" << msg << "\" lacks \"" << p << "\"";
    return;
  }
  ADD_FAILURE() << what << ": did not throw nabla::Error";
}

// ---- Philox parity -------------------------------------------------------------------------
// Element i of a draw depends only on (seed, offset + i), so a seed gives the same numbers on
// both devices, and the stream continues identically after each draw.

template <typename Draw>
void expect_same_draws(Draw&& draw, double atol, double rtol, const std::string& what) {
  nb::manual_seed(20240607);
  Tensor c1 = draw(Device::cpu()), c2 = draw(Device::cpu());
  nb::manual_seed(20240607);
  Tensor g1 = draw(gpu()), g2 = draw(gpu());
  EXPECT_TRUE(g1.device() == gpu()) << what;
  expect_same(g1, c1, atol, rtol, what + " (first draw)");
  expect_same(g2, c2, atol, rtol, what + " (second draw: the stream advanced alike)");
}

TEST(CudaPhilox, RandIsIdenticalOnCpuAndGpu) {
  NB_REQUIRE_CUDA();
  expect_same_draws([](Device d) { return nb::rand({1001}, {.device = d}); }, 0, 0, "rand f32");
  expect_same_draws([](Device d) { return nb::rand({3, 333}, {.dtype = DType::f64, .device = d}); }, 0, 0,
                    "rand f64");
}

TEST(CudaPhilox, RandnAgreesToRounding) {
  NB_REQUIRE_CUDA();
  // Same uniforms; log/cos/sqrt may differ by an ulp between libdevice and glibc.
  expect_same_draws([](Device d) { return nb::randn({1001}, {.device = d}); }, 1e-5, 1e-5, "randn f32");
  expect_same_draws([](Device d) { return nb::randn({1001}, {.dtype = DType::f64, .device = d}); }, 1e-12, 1e-12,
                    "randn f64");
}

TEST(CudaPhilox, RandintIsIdentical) {
  NB_REQUIRE_CUDA();
  expect_same_draws([](Device d) { return nb::randint(-7, 1000, {2, 501}, d); }, 0, 0, "randint");
}

TEST(CudaPhilox, InPlaceInitFillsAreIdentical) {
  NB_REQUIRE_CUDA();
  expect_same_draws(
      [](Device d) {
        Tensor t = nb::empty({257}, {.device = d});
        nb::uniform_(t, -0.5, 0.25);
        return t;
      },
      1e-7, 1e-7, "uniform_");  // low + (high - low) u may round differently (FMA)
  expect_same_draws(
      [](Device d) {
        Tensor t = nb::empty({257}, {.device = d});
        nb::normal_(t, 1.0, 0.1);
        return t;
      },
      1e-6, 1e-5, "normal_");
}

TEST(CudaPhilox, DropoutMaskIsIdentical) {
  NB_REQUIRE_CUDA();
  for (double p : {0.1, 0.5, 0.9}) {
    expect_same_draws([p](Device d) { return nb::dropout(nb::ones({4, 1025}, {.device = d}), p, true); }, 0, 1e-6,
                      "dropout p=" + std::to_string(p));
  }
}

// ---- device placement and errors -----------------------------------------------------------

TEST(CudaDevice, RoundTripKeepsValuesAndDtypes) {
  NB_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8, DType::boolean}) {
    Tensor c = nb::arange(0, 24).reshape({2, 3, 4}).to(dt);  // bool: 0 false, the rest true
    Tensor g = c.to(gpu());
    EXPECT_TRUE(g.device() == gpu());
    EXPECT_EQ(g.dtype(), dt);
    expect_same(g.cpu(), c, 0, 0, "round trip");
    // A non-contiguous view moved to the GPU keeps its logical values.
    expect_same(c.transpose(0, 2).to(gpu()), c.transpose(0, 2), 0, 0, "transposed round trip");
  }
  Tensor c = nb::rand({5});
  EXPECT_TRUE(c.to(Device::cpu()).shares_storage(c)) << "to(own device) copies";
}

TEST(CudaDevice, TransferIsDifferentiable) {
  NB_REQUIRE_CUDA();
  Tensor x = nb::rand({3, 4}, {.requires_grad = true});
  Tensor y = nb::mul(x.to(gpu()), x.to(gpu())).sum();
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(x.grad().device().is_cpu());
  expect_same(x.grad(), nb::mul(x.detach(), nb::scalar_tensor(2.0)), 1e-6, 1e-6, "d(sum x^2)/dx via the GPU");
}

TEST(CudaDevice, MixingDevicesIsAClearError) {
  NB_REQUIRE_CUDA();
  Tensor c = nb::rand({3, 4}), g = nb::rand({3, 4}, {.device = gpu()});
  expect_error([&] { return nb::add(c, g); }, {"cpu", "cuda"}, "add(cpu, cuda)");
  expect_error([&] { return nb::mul(g, c); }, {"cpu", "cuda"}, "mul(cuda, cpu)");
  expect_error([&] { return nb::matmul(c, g.transpose(0, 1)); }, {"matmul", "cpu", "cuda"}, "matmul(cpu, cuda)");
  expect_error([&] { return nb::cross_entropy(g, nb::zeros({3}, {.dtype = DType::i64})); }, {"cpu", "cuda"},
               "cross_entropy(cuda logits, cpu targets)");
  expect_error([&] { return nb::where(nb::gt(c, nb::scalar_tensor(0.5)), g, g); }, {"cpu", "cuda"},
               "where(cpu cond, cuda, cuda)");
  expect_error([&] { return g.data_ptr<float>(); }, {"cuda"}, "data_ptr of a CUDA tensor");
  expect_error([&] { return nb::empty({1}, {.device = Device::cuda(1000)}); }, {"cuda:1000"}, "device cuda:1000");
}

TEST(CudaDevice, ModuleOnGpuRejectsCpuInput) {
  NB_REQUIRE_CUDA();
  nn::Linear lin(nn::LinearOptions(4, 3));
  lin.to(gpu());
  expect_error([&] { return lin(nb::rand({2, 4})); }, {"cpu", "cuda"}, "Linear on cuda, input on cpu");
}

// ---- modules and optimizers on the GPU --------------------------------------------------------

std::shared_ptr<nn::Sequential> cnn_without_dropout() {
  auto m = nb::train::build_model(nb::train::preset_spec("cnn"));
  for (nn::Module* sub : m->modules())
    if (auto* d = sub->as<nn::Dropout>()) d->options.p(0.0);  // dropout parity has its own test
  return m;
}

TEST(CudaModule, ToMovesParametersBuffersAndGrads) {
  NB_REQUIRE_CUDA();
  nn::Sequential m(nn::Linear(nn::LinearOptions(6, 5)), nn::BatchNorm1d(5), nn::ReLU(), nn::Linear(nn::LinearOptions(5, 2)));
  m.to(gpu());
  for (const auto& [name, p] : m.named_parameters()) EXPECT_TRUE(p.device() == gpu()) << name;
  for (const auto& [name, b] : m.named_buffers()) EXPECT_TRUE(b.device() == gpu()) << name;
  Tensor loss = m(nb::rand({8, 6}, {.device = gpu()})).sum();
  loss.backward();
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(p.grad().device() == gpu()) << name << ".grad";
  }
  m.to(Device::cpu());
  for (const auto& [name, p] : m.named_parameters()) EXPECT_TRUE(p.device().is_cpu()) << name;
}

/// Trains `steps` SGD-with-momentum steps of the CNN preset on `d`, from the same seed and on
/// the same batches; returns the losses and leaves the final parameters in *params.
std::vector<double> train_cnn(Device d, int steps, nb::TensorList* params) {
  nb::manual_seed(7);
  auto m = cnn_without_dropout();
  m->to(d);
  nb::optim::SGD opt(m->parameters(), nb::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    nb::manual_seed(100 + uint64_t(s));
    Tensor x = nb::randn({32, 1, 28, 28}).to(d);
    Tensor y = nb::randint(0, 10, {32}).to(d);
    Tensor loss = nb::cross_entropy((*m)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  for (const Tensor& p : m->parameters()) {
    EXPECT_TRUE(p.device() == d);
    EXPECT_TRUE(opt.state_tensor(p, "momentum_buffer").device() == d) << "optimizer state not on " << d;
    params->push_back(p.detach().cpu());
  }
  return losses;
}

TEST(CudaModule, CnnTrainingStepsMatchTheCpu) {
  NB_REQUIRE_CUDA();
  nb::TensorList pc, pg;
  std::vector<double> lc = train_cnn(Device::cpu(), 5, &pc), lg = train_cnn(gpu(), 5, &pg);
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_NEAR(lg[i], lc[i], 1e-4 * std::abs(lc[i]) + 1e-5) << "loss at step " << i;
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) expect_same(pg[i], pc[i], 1e-4, 1e-3, "parameter " + std::to_string(i));
}

/// One optimizer of each kind, five steps on the same quadratic, CPU vs GPU (the fused
/// multi-tensor update kernels against the CPU ones), with f32 and with bf16 parameters (pure
/// bf16 training: state in bf16, updates in float rounded once). The bf16 gradients come from
/// bf16 ops whose sums may round differently on the two devices, so bf16 agrees to a few units
/// of bf16 rounding, not bit for bit (the kernels alone are: CudaKernels.OptimizerUpdatesBitExact).
TEST(CudaOptim, EveryOptimizerMatchesTheCpu) {
  NB_REQUIRE_CUDA();
  using MakeOpt = std::function<std::unique_ptr<nb::optim::Optimizer>(nb::TensorList)>;
  namespace o = nb::optim;
  std::vector<std::pair<std::string, MakeOpt>> kinds = {
      {"sgd_nesterov", [](nb::TensorList p) { return std::make_unique<o::SGD>(p, o::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01)); }},
      {"adam", [](nb::TensorList p) { return std::make_unique<o::Adam>(p, o::AdamOptions(0.01).weight_decay(0.01)); }},
      {"adam_amsgrad", [](nb::TensorList p) { return std::make_unique<o::Adam>(p, o::AdamOptions(0.01).amsgrad(true)); }},
      {"adamw", [](nb::TensorList p) { return std::make_unique<o::AdamW>(p, o::AdamWOptions(0.01)); }},
      {"rmsprop", [](nb::TensorList p) { return std::make_unique<o::RMSprop>(p, o::RMSpropOptions(0.01).momentum(0.5).centered(true)); }},
      {"adagrad", [](nb::TensorList p) { return std::make_unique<o::Adagrad>(p, o::AdagradOptions(0.1)); }},
      {"adadelta", [](nb::TensorList p) { return std::make_unique<o::Adadelta>(p, o::AdadeltaOptions(1.0)); }},
      {"nadam", [](nb::TensorList p) { return std::make_unique<o::NAdam>(p, o::NAdamOptions(0.01)); }},
      {"radam", [](nb::TensorList p) { return std::make_unique<o::RAdam>(p, o::RAdamOptions(0.01)); }},
      {"adamax", [](nb::TensorList p) { return std::make_unique<o::Adamax>(p, o::AdamaxOptions(0.01).weight_decay(0.01)); }},
      {"rprop", [](nb::TensorList p) { return std::make_unique<o::Rprop>(p, o::RpropOptions(0.01)); }},
      {"asgd", [](nb::TensorList p) { return std::make_unique<o::ASGD>(p, o::ASGDOptions(0.01).t0(2)); }},
  };
  for (nb::DType dt : {nb::kF32, nb::DType::bf16})
  for (const auto& [name, make] : kinds) {
    SCOPED_TRACE(name + " " + nb::dtype_name(dt));
    nb::manual_seed(3);
    Tensor w0 = nb::randn({37, 5}).to(dt), b0 = nb::randn({5}).to(dt), target = nb::randn({37, 5}).to(dt);
    nb::TensorList result[2];
    for (int dev = 0; dev < 2; ++dev) {
      Device d = dev ? gpu() : Device::cpu();
      // clone(): on the CPU to() returns w0 itself, and the optimizer updates in place.
      Tensor w = w0.to(d).clone().detach().requires_grad_(true), b = b0.to(d).clone().detach().requires_grad_(true);
      auto opt = make({w, b});
      for (int s = 0; s < 5; ++s) {
        Tensor loss = nb::square(nb::sub(nb::add(w, b), target.to(d))).sum();
        opt->zero_grad();
        loss.backward();
        opt->step();
      }
      result[dev] = {w.detach().cpu(), b.detach().cpu()};
    }
    const double atol = dt == nb::kF32 ? 1e-5 : 2e-2, rtol = dt == nb::kF32 ? 1e-4 : 2e-2;
    expect_same(result[1][0], result[0][0], atol, rtol, name + " weight");
    expect_same(result[1][1], result[0][1], atol, rtol, name + " bias");
    EXPECT_EQ(result[1][0].dtype(), dt);
  }
}

// LBFGS is built from ordinary ops (cat, sum, max, narrow, add_), so on CUDA it runs their
// kernels; the reductions sum in another order than the CPU's, so the trajectory agrees to
// rounding, not bit for bit (two steps of five iterations on a small least-squares problem).
TEST(CudaOptim, LBFGSMatchesTheCpu) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(3);
  Tensor x = nb::randn({12, 4}, {.dtype = nb::kF64}), y = nb::randn({12, 3}, {.dtype = nb::kF64});
  Tensor w0 = nb::randn({3, 4}, {.dtype = nb::kF64}), b0 = nb::randn({3}, {.dtype = nb::kF64});
  nb::TensorList result[2];
  for (int dev = 0; dev < 2; ++dev) {
    Device d = dev ? gpu() : Device::cpu();
    Tensor w = w0.to(d).clone().detach().requires_grad_(true), b = b0.to(d).clone().detach().requires_grad_(true);
    Tensor xd = x.to(d), yd = y.to(d);
    nb::optim::LBFGS opt({w, b}, nb::optim::LBFGSOptions().max_iter(5).line_search_fn("strong_wolfe"));
    for (int s = 0; s < 2; ++s) {
      opt.step([&] {
        opt.zero_grad();
        Tensor loss = nb::square(nb::matmul(xd, w.t()) + b - yd).mean();
        loss.backward();
        return loss;
      });
    }
    EXPECT_EQ(opt.lbfgs_state().d.device(), d);
    result[dev] = {w.detach().cpu(), b.detach().cpu()};
  }
  expect_same(result[1][0], result[0][0], 1e-9, 1e-10, "lbfgs weight");
  expect_same(result[1][1], result[0][1], 1e-9, 1e-10, "lbfgs bias");
}

// ---- allocator -------------------------------------------------------------------------------

TEST(CudaAllocator, StatsStayFlatAcross20TrainingSteps) {
  NB_REQUIRE_CUDA();
  nb::manual_seed(1);
  auto m = nb::train::build_model(nb::train::preset_spec("cnn"));
  m->to(gpu());
  nb::optim::SGD opt(m->parameters(), nb::optim::SGDOptions(0.05).momentum(0.9));
  Tensor x = nb::randn({64, 1, 28, 28}, {.device = gpu()});
  Tensor y = nb::randint(0, 10, {64}, gpu());
  nb::MemoryStats warm;
  for (int step = 1; step <= 20; ++step) {
    Tensor loss = nb::cross_entropy((*m)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    (void)loss.item();
    loss = Tensor();
    nb::MemoryStats s = nb::memory_stats(gpu());
    if (step == 3) warm = s;  // momentum buffers and the first step's blocks exist by now
    if (step > 3) {
      EXPECT_EQ(s.allocated, warm.allocated) << "bytes in use grew at step " << step;
      EXPECT_EQ(s.reserved, warm.reserved) << "the cache grew at step " << step;
      EXPECT_EQ(s.os_allocations, warm.os_allocations) << "cudaMalloc called again at step " << step;
    }
  }
  EXPECT_GT(warm.allocated, 0);
  std::printf("[ allocator ] after warm-up: allocated %.1f MB, reserved %.1f MB, peak %.1f MB, %lld device allocations\n",
              double(warm.allocated) / 1e6, double(warm.reserved) / 1e6, double(warm.peak_allocated) / 1e6,
              (long long)warm.os_allocations);
}

TEST(CudaAllocator, EmptyCacheReturnsUnusedBlocks) {
  NB_REQUIRE_CUDA();
  {
    Tensor big = nb::empty({16 << 20}, {.device = gpu()});  // 64 MB
    nb::synchronize(gpu());
  }
  nb::MemoryStats before = nb::memory_stats(gpu());
  nb::empty_cache(gpu());
  nb::MemoryStats after = nb::memory_stats(gpu());
  EXPECT_EQ(after.allocated, before.allocated);
  EXPECT_LE(after.reserved + (64 << 20), before.reserved) << "the freed 64 MB block stayed cached";
}

// ---- pinned memory and async uploads ----------------------------------------------------------

TEST(CudaTransfer, PinnedAsyncUploadDeliversTheBatch) {
  NB_REQUIRE_CUDA();
  Tensor host = nb::rand({256, 1, 28, 28});
  Tensor pinned = nb::pin_memory(host);
  EXPECT_TRUE(nb::is_pinned(pinned));
  expect_same(pinned, host, 0, 0, "pinned copy");
  Tensor dev = nb::to_device_async(pinned, gpu());
  EXPECT_TRUE(dev.device() == gpu());
  // A kernel queued after the upload must see the uploaded values (copy stream -> compute stream).
  expect_same(nb::mul(dev, nb::scalar_tensor(2.0f).to(gpu())).cpu(), nb::mul(host, nb::scalar_tensor(2.0f)), 0, 0,
              "kernel after async upload");
}

}  // namespace
