// Device dispatch without a GPU: a fake "cuda" backend whose memory is host memory from its own
// caching pool (the BlockCache the CUDA backend uses) and whose kernels are the CPU ones. It
// checks what every device must get right: transfers, autograd across devices, errors for mixed
// devices and missing kernels, per-device memory statistics, pinned uploads, optimizer state.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "common/expect_error.h"
#include "common/fake_device.h"
#include "nabla/io/safetensors.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;
namespace be = nabla::backend;

namespace {

using fake_device::FakeDevice;

// Memory only: every kernel keeps the Backend default, which must name itself.
class NoKernelDevice final : public be::Backend {
 public:
  be::HostMemorySource raw;
  be::CompletedEvents events;
  be::BlockCache cache{raw, events, "cuda:0"};
  DeviceType type() const override { return DeviceType::cuda; }
  void* allocate(size_t n, int) override { return cache.allocate(n, nullptr); }
  void deallocate(void* p, size_t, int) override { cache.free(p); }
  MemoryStats memory_stats(int) const override { return cache.stats(); }
  void empty_cache(int) override { cache.empty_cache(); }
  void reset_peak_memory_stats(int) override { cache.reset_peak(); }
  void copy_from_host(void* d, const void* s, size_t n, int) override { std::memcpy(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n, int) override { std::memcpy(d, s, n); }
};

const Device kDev = Device::cuda(0);

// Installs the fake as the cuda backend for one test and puts the previous one (a real GPU's,
// or none) back afterwards. Static: a tensor must never outlive the backend that freed it.
class FakeDeviceTest : public ::testing::Test {
 protected:
  static FakeDevice& fake() {
    static FakeDevice* f = new FakeDevice();
    return *f;
  }
  void SetUp() override { previous_ = be::register_device_backend(&fake(), DeviceType::cuda); }
  void TearDown() override {
    fake().defer_index_checks = false;
    EXPECT_EQ(fake().deferred.pending(), 0) << "an index check was left unreported";
    EXPECT_EQ(fake().cache.stats().allocated, 0) << "a device tensor outlived its test";
    be::register_device_backend(previous_, DeviceType::cuda);
  }
  be::Backend* previous_ = nullptr;
};

Tensor vec(std::vector<double> v, Shape shape, DType dt = kF32) { return from_vector(v, shape, dt); }

}  // namespace

TEST_F(FakeDeviceTest, AvailabilityAndDeviceIndexErrors) {
  EXPECT_TRUE(cuda::is_available());
  EXPECT_EQ(cuda::device_count(), 1);
  EXPECT_ERROR(memory_stats(Device::cuda(1)), "cuda:1 is not available", "1 device(s)");
  EXPECT_ERROR(zeros({2}, {.device = Device::cuda(3)}), "cuda:3 is not available");
  synchronize(kDev);
  synchronize(Device::cpu());
}

TEST_F(FakeDeviceTest, ToDeviceAndBackRoundTripsValues) {
  for (DType dt : {kF32, kF64, kI64, kU8}) {
    Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    Tensor d = x.to(kDev);
    EXPECT_EQ(d.device(), kDev);
    EXPECT_EQ(d.dtype(), dt);
    EXPECT_EQ(d.shape(), (Shape{2, 3}));
    EXPECT_FALSE(d.shares_storage(x));
    Tensor back = d.to(Device::cpu());
    EXPECT_TRUE(back.device().is_cpu());
    EXPECT_EQ(back.to_vector(), x.to_vector()) << dtype_name(dt);
    EXPECT_TRUE(d.to(kDev).shares_storage(d)) << "to() the same device is the tensor itself";
  }
  // A non-contiguous view crosses as its values in row-major order.
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(x.t().to(kDev).to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(x.to(kDev).t().cpu().to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST_F(FakeDeviceTest, CheckpointsOfDeviceTensorsAreWrittenFromTheirHostCopy) {
  Tensor w = vec({1, 2, 3, 4, 5, 6}, {2, 3}).to(kDev);
  const std::string path = ::testing::TempDir() + "/fake_device.safetensors";
  io::save_safetensors({{"w", w}, {"wt", w.t()}}, path);
  io::SafetensorsFile f = io::load_safetensors(path);
  EXPECT_EQ(f.tensors.at("w").to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f.tensors.at("wt").to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST_F(FakeDeviceTest, GradcheckAcceptsDeviceInputs) {
  Tensor x = vec({0.3, -0.7, 1.1}, {3}, kF64).to(kDev).requires_grad_(true);
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return sum(exp(in[0]) * in[0]); }, {x}));
}

TEST_F(FakeDeviceTest, ItemToVectorAndPrintingWorkOnDeviceTensors) {
  Tensor d = vec({1.5, -2, 4}, {3}).to(kDev);
  EXPECT_EQ(d.to_vector(), (std::vector<double>{1.5, -2, 4}));
  EXPECT_DOUBLE_EQ(d.sum().item(), 3.5);
  EXPECT_DOUBLE_EQ(d.select(0, 2).item(), 4.0);
  EXPECT_NE(d.to_string().find("cuda:0"), std::string::npos) << d.to_string();
  EXPECT_ERROR(d.data_ptr<float>(), "[data_ptr]", "cuda:0");
}

TEST_F(FakeDeviceTest, OpsRunOnTheDeviceOfTheirInputs) {
  Tensor a = vec({1, 2, 3, 4}, {2, 2}).to(kDev), b = vec({5, 6, 7, 8}, {2, 2}).to(kDev);
  Tensor c = matmul(a, b) + a;
  EXPECT_EQ(c.device(), kDev);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{20, 24, 46, 54}));
  Tensor z = zeros({3}, {.device = kDev});
  EXPECT_EQ(z.device(), kDev);
  EXPECT_EQ(z.to_vector(), (std::vector<double>{0, 0, 0}));
}

TEST_F(FakeDeviceTest, MixingDevicesIsAnErrorNamingTheOpAndBothDevices) {
  Tensor cpu = vec({1, 2, 3, 4}, {2, 2});
  Tensor dev = cpu.to(kDev);
  EXPECT_ERROR(add(cpu, dev), "[add]", "cpu", "cuda:0", "[2, 2]", ".to(device)");
  EXPECT_ERROR(mul(dev, cpu), "[mul]", "cuda:0", "cpu");
  EXPECT_ERROR(matmul(cpu, dev), "[matmul]", "cpu", "cuda:0");
}

// cuBLAS has no integer GEMM, and PyTorch refuses integer matmul on CUDA too: a clear error before
// any kernel, where the CPU multiplies them.
TEST_F(FakeDeviceTest, IntegerMatmulIsRefusedOnTheDeviceWithTheWayOut) {
  Tensor a = ones({2, 2}, {.dtype = DType::i64});
  EXPECT_EQ(matmul(a, a).to_vector(), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_ERROR(matmul(a.to(kDev), a.to(kDev)), "[matmul]", "i64", "cuda:0", "CPU only", ".to(DType::f32)");
}

TEST_F(FakeDeviceTest, ZeroDimCpuScalarCombinesWithADeviceTensor) {
  Tensor dev = vec({1, 2, 3}, {3}).to(kDev);
  Tensor s = scalar_tensor(2.0);
  Tensor r1 = mul(s, dev), r2 = add(dev, s);
  EXPECT_EQ(r1.device(), kDev);
  EXPECT_EQ(r2.device(), kDev);
  EXPECT_EQ(r1.to_vector(), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(r2.to_vector(), (std::vector<double>{3, 4, 5}));
}

// The bool dtype on a device: comparisons, conversions (x != 0 as a compare kernel), fills of
// 0/1, logical ops, masks and the i64 promotion with a 0-d CPU scalar, all on the device and
// equal to the CPU's results.
TEST_F(FakeDeviceTest, BoolDtypeRunsOnTheDevice) {
  Tensor x = vec({-1.5, 0, 2, NAN}, {4});
  Tensor d = x.to(kDev);
  Tensor m = d > 0.0;
  EXPECT_EQ(m.device(), kDev);
  EXPECT_EQ(m.dtype(), kBool);
  EXPECT_EQ(m.to_vector<int64_t>(), (x > 0.0).to_vector<int64_t>());
  Tensor r = m * full({}, 300, {.dtype = kI64});  // a 0-d CPU i64 scalar: i64 300s, on the device
  EXPECT_EQ(r.device(), kDev);
  EXPECT_EQ(r.dtype(), kI64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 300, 0}));
  EXPECT_EQ(d.to(kBool).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(full({2}, 7, {.dtype = kBool, .device = kDev}).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
  Tensor other = vec({1, 1, 0, 0}, {4}).to(kDev).to(kBool);
  EXPECT_EQ((m + other).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(logical_xor(m, other).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(isnan(d).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(masked_select(d, m).to_vector(), (std::vector<double>{2}));
  EXPECT_EQ(masked_fill(d, m.to(kU8), 5.0).to_vector<double>()[2], 5.0);
  EXPECT_EQ(sum(m).item<int64_t>(), 1);
  EXPECT_TRUE(any(m).item<bool>());
  EXPECT_EQ(any(m).device(), kDev);
  EXPECT_EQ(m.to(Device::cpu()).dtype(), kBool);
}

TEST_F(FakeDeviceTest, ZeroDimCpuScalarGetsItsGradientOnTheCpu) {
  Tensor dev = vec({1, 2, 3}, {3}, kF64).to(kDev).requires_grad_();
  Tensor s = scalar_tensor(2.0, kF64).requires_grad_();
  Tensor loss = (mul(s, dev) + s).sum();
  loss.backward();
  ASSERT_TRUE(s.grad().defined());
  EXPECT_TRUE(s.grad().device().is_cpu());
  EXPECT_EQ(s.grad().shape(), Shape{});
  EXPECT_EQ(s.grad().item<double>(), 1 + 2 + 3 + 3);
  EXPECT_EQ(dev.grad().device(), kDev);
  EXPECT_EQ(dev.grad().to_vector(), (std::vector<double>{2, 2, 2}));
  // grad() (not only backward()) and a second use that accumulates.
  Tensor l2 = (mul(dev, s) * s).sum();
  TensorList g = nabla::grad({l2}, {s});
  EXPECT_TRUE(g[0].device().is_cpu());
  EXPECT_EQ(g[0].item<double>(), 2 * 2 * (1 + 2 + 3));
}

TEST_F(FakeDeviceTest, GradientFlowsBackThroughTo) {
  // CPU leaf -> device compute: the gradient lands on the CPU.
  Tensor x = vec({1, -2, 3}, {3}, kF64).requires_grad_();
  Tensor y = x.to(kDev);
  Tensor loss = (y * y).sum();
  EXPECT_EQ(loss.device(), kDev);
  loss.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(x.grad().device().is_cpu());
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, -4, 6}));
  // Device leaf -> CPU compute: the gradient lands on the device.
  Tensor w = vec({0.5, 4}, {2}, kF64).to(kDev).requires_grad_();
  Tensor l2 = (w.to(Device::cpu()) * vec({3, -1}, {2}, kF64)).sum();
  l2.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().device(), kDev);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{3, -1}));
}

TEST_F(FakeDeviceTest, MemoryStatsAreTheDevicesOwn) {
  empty_cache(kDev);
  reset_peak_memory_stats(kDev);  // earlier tests' peaks are not this test's
  MemoryStats cpu0 = memory_stats(Device::cpu());
  MemoryStats d0 = memory_stats(kDev);
  EXPECT_EQ(d0.allocated, 0);
  EXPECT_EQ(d0.reserved, 0);
  {
    Tensor t = empty({1000}, {.device = kDev});  // 4000 bytes -> the 4096-byte class
    MemoryStats d1 = memory_stats(kDev);
    EXPECT_EQ(d1.allocated, 4096);
    EXPECT_EQ(d1.reserved, 4096);
    EXPECT_EQ(d1.os_allocations - d0.os_allocations, 1);
    EXPECT_EQ(memory_stats(Device::cpu()).allocated, cpu0.allocated) << "device memory is not CPU memory";
  }
  MemoryStats d2 = memory_stats(kDev);
  EXPECT_EQ(d2.allocated, 0);
  EXPECT_EQ(d2.reserved, 4096) << "cached after the tensor died";
  EXPECT_EQ(d2.peak_allocated, 4096);
  reset_peak_memory_stats(kDev);
  EXPECT_EQ(memory_stats(kDev).peak_allocated, 0);
  empty_cache(kDev);
  EXPECT_EQ(memory_stats(kDev).reserved, 0);
}

TEST_F(FakeDeviceTest, TrainingLoopOnTheDeviceKeepsStateThereAndMemoryFlat) {
  manual_seed(3);
  nn::Linear lin(nn::LinearOptions(3, 4));
  lin.to(kDev);
  Tensor w = lin.weight, b = lin.bias;
  EXPECT_EQ(w.device(), kDev);
  EXPECT_EQ(b.device(), kDev);
  EXPECT_TRUE(w.requires_grad() && w.is_leaf()) << "to() keeps parameters trainable leaves";
  Tensor x = randn({8, 3}).to(kDev), target = randn({8, 4}).to(kDev);
  optim::SGD opt(lin.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = mse_loss(lin(x), target);
    loss.backward();
    opt.step();
    return loss.item();
  };
  double first = step();
  step();
  EXPECT_EQ(w.device(), kDev);
  EXPECT_EQ(w.grad().device(), kDev);
  Tensor mom = opt.state_tensor(w, "momentum_buffer");
  ASSERT_TRUE(mom.defined());
  EXPECT_EQ(mom.device(), kDev) << "optimizer state lives on the parameters' device";
  MemoryStats warm = memory_stats(kDev);
  double last = 0;
  for (int i = 0; i < 10; ++i) last = step();
  MemoryStats after = memory_stats(kDev);
  EXPECT_LT(last, first);
  EXPECT_EQ(after.allocated, warm.allocated) << "steady steps hold no extra device memory";
  EXPECT_EQ(after.reserved, warm.reserved) << "steady steps reserve nothing new";
  EXPECT_EQ(after.os_allocations, warm.os_allocations) << "steady steps are served from the cache";
  EXPECT_GT(after.cache_hits, warm.cache_hits);
}

TEST_F(FakeDeviceTest, PinnedUploadsRoundTripAndRecyclePinnedBuffers) {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_FALSE(is_pinned(x));
  Tensor p = pin_memory(x);
  EXPECT_TRUE(is_pinned(p));
  EXPECT_TRUE(p.device().is_cpu());
  EXPECT_FALSE(p.shares_storage(x));
  EXPECT_EQ(p.to_vector(), x.to_vector());
  EXPECT_TRUE(pin_memory(p).shares_storage(p)) << "already pinned";
  EXPECT_EQ(pin_memory(x.t()).to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));

  int async0 = fake().async_uploads;
  Tensor d = to_device_async(p, kDev);
  EXPECT_EQ(fake().async_uploads, async0 + 1);
  EXPECT_EQ(d.device(), kDev);
  EXPECT_EQ(d.shape(), x.shape());
  EXPECT_EQ(d.to_vector(), x.to_vector());
  // Everything else falls back to a plain (blocking) .to().
  Tensor d2 = to_device_async(x, kDev);
  EXPECT_EQ(fake().async_uploads, async0 + 1);
  EXPECT_EQ(d2.to_vector(), x.to_vector());
  EXPECT_TRUE(to_device_async(d, kDev).shares_storage(d));
  EXPECT_EQ(to_device_async(d, Device::cpu()).to_vector(), x.to_vector());
  EXPECT_ERROR(pin_memory(d), "[pin_memory]", "cuda:0");

  // A pinned buffer freed is reused for the next batch of the same size.
  MemoryStats s0 = pinned_memory_stats();
  p = Tensor();
  Tensor p2 = pin_memory(vec({7, 8, 9, 10, 11, 12}, {2, 3}));
  MemoryStats s1 = pinned_memory_stats();
  EXPECT_EQ(s1.os_allocations, s0.os_allocations);
  EXPECT_EQ(s1.cache_hits, s0.cache_hits + 1);
  EXPECT_EQ(to_device_async(p2, kDev).to_vector(), (std::vector<double>{7, 8, 9, 10, 11, 12}));
}

TEST_F(FakeDeviceTest, AllowTf32ReachesTheBackend) {
  EXPECT_FALSE(allow_tf32());
  set_allow_tf32(true);
  EXPECT_TRUE(allow_tf32());
  EXPECT_TRUE(fake().tf32);
  set_allow_tf32(false);
  EXPECT_FALSE(fake().tf32);
}

TEST_F(FakeDeviceTest, BatchNormRejectsStatisticsOnAnotherDevice) {
  Tensor x = randn({4, 3, 2, 2}).to(kDev);
  EXPECT_ERROR(batch_norm(x, zeros({3}), ones({3}).to(kDev), Tensor(), Tensor(), true), "[batch_norm]",
               "one device", "cpu", "[3]");
  EXPECT_ERROR(batch_norm(x, Tensor(), Tensor(), ones({3}), Tensor(), true), "[batch_norm]", "one device");
  Tensor rm = zeros({3}).to(kDev), rv = ones({3}).to(kDev);
  Tensor y = batch_norm(x, rm, rv, ones({3}).to(kDev), zeros({3}).to(kDev), true);
  Tensor y_cpu = batch_norm(x.cpu(), zeros({3}), ones({3}), ones({3}), zeros({3}), true);
  EXPECT_TRUE(allclose(y.cpu(), y_cpu, 1e-6, 1e-6));
  EXPECT_NE(rm.cpu().to_double_vector(), std::vector<double>(3, 0.0)) << "running mean updated on the device";
}

TEST_F(FakeDeviceTest, ProfilerRangeReachesTheBackend) {
  EXPECT_FALSE(fake().profiling);
  cuda::profiler_start();
  EXPECT_TRUE(fake().profiling);
  cuda::profiler_stop();
  EXPECT_FALSE(fake().profiling);
}

TEST_F(FakeDeviceTest, ConvolutionAlgorithmOptionsReachTheBackend) {
  EXPECT_TRUE(cudnn_benchmark()) << "algorithms are timed on first use by default";
  EXPECT_TRUE(are_deterministic_algorithms_enabled());
  set_cudnn_benchmark(false);
  EXPECT_FALSE(cudnn_benchmark());
  EXPECT_FALSE(fake().conv_benchmark);
  EXPECT_TRUE(fake().conv_deterministic);
  use_deterministic_algorithms(false);
  EXPECT_FALSE(are_deterministic_algorithms_enabled());
  EXPECT_FALSE(fake().conv_deterministic);
  EXPECT_FALSE(fake().conv_benchmark) << "one option does not reset the other";
  set_cudnn_benchmark(true);
  use_deterministic_algorithms(true);
  EXPECT_TRUE(fake().conv_benchmark);
  EXPECT_TRUE(fake().conv_deterministic);
}

// LBFGS works on flattened parameters with ordinary ops: on a device every vector it builds (the
// flat gradient, a zero gradient for a parameter without one, the history, a loaded state) is
// on the parameters' device, and the fake's CPU kernels give the CPU's bits.
TEST_F(FakeDeviceTest, LBFGSKeepsItsVectorsOnTheDeviceAndMatchesTheCpu) {
  manual_seed(11);
  Tensor x = randn({12, 4}, {.dtype = kF64}), y = randn({12, 3}, {.dtype = kF64});
  Tensor w0 = randn({3, 4}, {.dtype = kF64}), b0 = randn({3}, {.dtype = kF64});
  std::vector<std::vector<double>> result;
  for (Device d : {Device::cpu(), kDev}) {
    Tensor w = w0.to(d).clone().detach().requires_grad_(), b = b0.to(d).clone().detach().requires_grad_();
    Tensor unused = zeros({2}, {.dtype = kF64, .device = d, .requires_grad = true});  // never gets a gradient
    Tensor xd = x.to(d), yd = y.to(d);
    optim::LBFGS opt({w, b, unused}, optim::LBFGSOptions().max_iter(5).line_search_fn("strong_wolfe"));
    auto closure = [&] {
      opt.zero_grad();
      Tensor l = square(matmul(xd, w.t()) + b - yd).mean();
      l.backward();
      return l;
    };
    opt.step(closure);
    // Round trip of the state onto the same device, then one more step from it.
    optim::LBFGS again({w, b, unused}, optim::LBFGSOptions().max_iter(5).line_search_fn("strong_wolfe"));
    again.load_state_dict(opt.state_dict());
    EXPECT_EQ(again.lbfgs_state().d.device(), d);
    EXPECT_EQ(again.lbfgs_state().old_dirs.at(0).device(), d);
    again.step([&] {
      again.zero_grad();
      Tensor l = square(matmul(xd, w.t()) + b - yd).mean();
      l.backward();
      return l;
    });
    auto v = w.to_vector();
    auto vb = b.to_vector();
    v.insert(v.end(), vb.begin(), vb.end());
    result.push_back(v);
  }
  EXPECT_EQ(result[0], result[1]);
}

// A step that never waits for the device lets the host queue the next kernels while the GPU
// runs: no upload (a blocking copy), no download, no synchronize between reading the batch and
// reading the loss. Counted on the fake device for the bench's models' layers and the optimizers.
TEST_F(FakeDeviceTest, SteadyTrainingStepNeitherUploadsNorDownloads) {
  fake().defer_index_checks = true;  // as on CUDA
  manual_seed(5);
  auto model = std::make_shared<nn::Sequential>(
      nn::Conv2d(nn::Conv2dOptions(3, 8, 3).padding(1).bias(false)), nn::BatchNorm2d(8), nn::ReLU(),
      nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(8, 8, 3).padding(1)), nn::ReLU(), nn::Flatten(),
      nn::Dropout(0.25), nn::Linear(nn::LinearOptions(8 * 4 * 4, 10)));
  model->to(kDev);
  model->train();
  Tensor x = randn({6, 3, 8, 8}).to(kDev), y = randint(0, 10, {6}).to(kDev);
  optim::SGD sgd(model->parameters(), optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4));
  optim::AdamW adamw(model->parameters(), optim::AdamWOptions(1e-3));
  optim::Adamax adamax(model->parameters(), optim::AdamaxOptions(1e-3));
  optim::Rprop rprop(model->parameters(), optim::RpropOptions(1e-3));
  optim::ASGD asgd(model->parameters(), optim::ASGDOptions(1e-3).t0(1));
  for (optim::Optimizer* opt : std::vector<optim::Optimizer*>{&sgd, &adamw, &adamax, &rprop, &asgd}) {
    SCOPED_TRACE(opt->name());
    Tensor loss_sum = zeros({}, {.device = kDev});
    auto step = [&] {
      opt->zero_grad();
      Tensor loss = cross_entropy((*model)(x), y, {.label_smoothing = 0.1});
      loss.backward();
      opt->step();
      NoGradGuard ng;
      loss_sum.add_(loss.detach());
    };
    step();
    step();
    synchronize(kDev);  // the fake has four index-check slots; CUDA has 256
    const int up = fake().uploads, down = fake().downloads, sync = fake().syncs;
    for (int i = 0; i < 3; ++i) step();
    EXPECT_EQ(fake().uploads - up, 0) << "blocking uploads in 3 steady steps";
    EXPECT_EQ(fake().downloads - down, 0) << "downloads in 3 steady steps";
    EXPECT_EQ(fake().syncs - sync, 0) << "synchronizations in 3 steady steps";
    EXPECT_TRUE(std::isfinite(loss_sum.item()));
  }
}

// ---- index checks on the device (src/backend/index_checks.h) ----

TEST_F(FakeDeviceTest, BadIndexIsReportedAtTheNextDownloadAndNothingIsLost) {
  fake().defer_index_checks = true;
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3}).to(kDev);
  Tensor idx = from_vector<int64_t>({0, 2, 7, 1}, {2, 2}).to(kDev);
  Tensor y;
  ASSERT_NO_THROW(y = gather(x, 1, idx)) << "the check must not wait for the device";
  EXPECT_EQ(fake().deferred.pending(), 1);
  EXPECT_ERROR(y.to_vector(),
               "[gather] index 7 is out of range for dimension 1 of size 3 (shape [2, 3]) (checked on the device");
  EXPECT_EQ(fake().deferred.pending(), 0);
  // The kernel skipped the bad index (0 there) and the device stays usable.
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 3, 0, 5}));
  Tensor ok = from_vector<int64_t>({1, 0, 2, 2}, {2, 2}).to(kDev);
  EXPECT_EQ(gather(x, 1, ok).to_vector(), (std::vector<double>{2, 1, 6, 6}));
}

TEST_F(FakeDeviceTest, CrossEntropyTargetsAreCheckedWithoutADownload) {
  fake().defer_index_checks = true;
  manual_seed(3);
  Tensor logits = randn({3, 10}).to(kDev).requires_grad_(true);
  Tensor good = from_vector<int64_t>({1, 9, 0}, {3}).to(kDev);
  const int downloads = fake().downloads;
  Tensor loss = cross_entropy(logits, good);
  loss.backward();
  EXPECT_EQ(fake().downloads, downloads) << "forward and backward must not read anything back";
  EXPECT_NEAR(loss.item(), cross_entropy(logits.detach().cpu(), good.cpu()).item(), 1e-6);

  Tensor bad = from_vector<int64_t>({1, 12, -100}, {3}).to(kDev);  // -100 is the default ignore_index
  Tensor l2 = cross_entropy(logits.detach(), bad);
  EXPECT_ERROR(l2.item(), "[cross_entropy] target 12 at position 1 is out of range for input of shape [3, 10]");
  Tensor ignored = from_vector<int64_t>({1, -100, -100}, {3}).to(kDev);
  EXPECT_NEAR(cross_entropy(logits.detach(), ignored).item(),
              cross_entropy(logits.detach().cpu(), ignored.cpu()).item(), 1e-6);
}

// The ±1 targets of the margin losses, gaussian_nll_loss's var and binary_cross_entropy's
// probabilities are checked as indices are: on a GPU without reading
// anything back, a bad one reported at the next synchronizing call.
TEST_F(FakeDeviceTest, SignTargetsOfMarginLossesAreCheckedWithoutADownload) {
  fake().defer_index_checks = true;
  synchronize(kDev);
  manual_seed(4);
  Tensor x = randn({6}).to(kDev).requires_grad_(true);
  Tensor good = from_vector<double>({1, -1, -1, 1, 1, -1}, {6}).to(kDev);
  const int downloads = fake().downloads;
  Tensor probs = from_vector<double>({0, 1, 1, 0, 1, 0}, {6}).to(kDev);
  Tensor loss = soft_margin_loss(x, good) + hinge_embedding_loss(x, good) + binary_cross_entropy(sigmoid(x), probs);
  loss.backward();
  EXPECT_EQ(fake().downloads, downloads) << "forward and backward must not read anything back";
  EXPECT_NEAR(loss.item(),
              (soft_margin_loss(x.detach().cpu(), good.cpu()) + hinge_embedding_loss(x.detach().cpu(), good.cpu()) +
               binary_cross_entropy(sigmoid(x.detach().cpu()), probs.cpu()))
                  .item(),
              1e-6);

  Tensor zero_one = from_vector<double>({1, 0, 1, 1, 0, 1}, {6}).to(kDev);
  Tensor bad;
  ASSERT_NO_THROW(bad = soft_margin_loss(x.detach(), zero_one)) << "the check must not wait for the device";
  EXPECT_ERROR(bad.item(), "[soft_margin_loss] target must hold 1 or -1, got another value at position 1",
               "(target shape [6])");
  Tensor neg_var = from_vector<double>({1, 2, 1, -3, 1, 1}, {6}).to(kDev);
  ASSERT_NO_THROW(bad = gaussian_nll_loss(x.detach(), good, neg_var));
  EXPECT_ERROR(bad.item(), "[gaussian_nll_loss] var must be non-negative, got another value at position 3");
  ASSERT_NO_THROW(bad = binary_cross_entropy(x.detach(), probs)) << "x holds values outside [0, 1]";
  EXPECT_ERROR(bad.item(), "[binary_cross_entropy] every input must be a probability in [0, 1], got another value");
  // On the CPU the bad value itself is named, at once.
  EXPECT_ERROR(soft_margin_loss(x.detach().cpu(), zero_one.cpu()),
               "[soft_margin_loss] target must hold 1 or -1, got 0 at position 1 (target shape [6])");
}

TEST_F(FakeDeviceTest, AVjpReusesItsForwardsIndexCheck) {
  fake().defer_index_checks = true;
  synchronize(kDev);
  Tensor x = zeros({2, 3}).to(kDev).requires_grad_(true);
  Tensor idx = from_vector<int64_t>({0, 2, 1, 1}, {2, 2}).to(kDev);
  Tensor y = gather(x, 1, idx);
  EXPECT_EQ(fake().deferred.pending(), 1);
  y.sum().backward();
  EXPECT_EQ(fake().deferred.pending(), 1) << "the VJP's scatter_add reuses the checked index";
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 0, 1, 0, 2, 0}));
  Tensor w = zeros({4, 2}).to(kDev).requires_grad_(true);
  index_select(w, 0, from_vector<int64_t>({3, 3, 0}, {3}).to(kDev)).sum().backward();
  EXPECT_EQ(fake().deferred.pending(), 1) << "and index_select's index_add";
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 1, 0, 0, 0, 0, 2, 2}));
  // A weighted cross-entropy checks its targets once, not again in its gather and index_select.
  Tensor logits = zeros({3, 4}).to(kDev).requires_grad_(true);
  Tensor targets = from_vector<int64_t>({0, 3, -100}, {3}).to(kDev);
  cross_entropy(logits, targets, {.weight = ones({4}).to(kDev)}).backward();
  EXPECT_EQ(fake().deferred.pending(), 1) << "weighted cross_entropy, forward and backward";
  synchronize(kDev);
}

TEST_F(FakeDeviceTest, LossesRejectTargetsOnAnotherDevice) {
  Tensor logits = zeros({2, 3}).to(kDev), targets = from_vector<int64_t>({0, 2}, {2});
  EXPECT_ERROR(cross_entropy(logits, targets), "[cross_entropy]", "cuda:0", "cpu");
  EXPECT_ERROR(cross_entropy(logits.cpu(), targets.to(kDev)), "[cross_entropy]", "cuda:0", "cpu");
  EXPECT_ERROR(nll_loss(logits, targets), "[nll_loss]", "cuda:0", "cpu");
}

TEST_F(FakeDeviceTest, IntegerScalarsReachTheDeviceExactly) {
  const int64_t big = (int64_t(1) << 53) + 1;  // not a double: copied, not passed as a fill value
  Tensor sum = zeros({1}, {.dtype = DType::i64}).to(kDev) + from_vector<int64_t>({big}, {});
  EXPECT_EQ(*sum.cpu().data_ptr<int64_t>(), big);
  Tensor small = zeros({1}, {.dtype = DType::i64}).to(kDev) + from_vector<int64_t>({-7}, {});
  EXPECT_EQ(*small.cpu().data_ptr<int64_t>(), -7);
}

TEST_F(FakeDeviceTest, FullCheckSlotsSynchronizeAndTheFirstFailureIsReported) {
  fake().defer_index_checks = true;
  Tensor x = vec({1, 2, 3}, {3}).to(kDev);
  Tensor good = from_vector<int64_t>({2}, {1}).to(kDev);
  const int syncs = fake().syncs;
  for (int i = 0; i < 4; ++i) (void)index_select(x, 0, good);
  EXPECT_EQ(fake().syncs, syncs) << "four slots: four checks queue without waiting";
  (void)index_select(x, 0, good);
  EXPECT_EQ(fake().syncs, syncs + 1) << "the fifth waits for the first four";
  EXPECT_EQ(fake().deferred.pending(), 1);
  synchronize(kDev);

  Tensor bad3 = from_vector<int64_t>({3}, {1}).to(kDev), bad5 = from_vector<int64_t>({0, 5}, {2}).to(kDev);
  (void)index_select(x, 0, bad3);
  (void)index_select(x, 0, good);
  (void)gather(x, 0, bad5);
  EXPECT_ERROR(synchronize(kDev), "[index_select] index 3 is out of range for dimension 0 of size 3");
  EXPECT_EQ(fake().deferred.pending(), 0) << "the later failure is dropped with the rest";
  EXPECT_NO_THROW(synchronize(kDev));
}

TEST(DeferredIndexChecks, SlotsFormARingAndSettleRetiresWhatCameBeforeTheMark) {
  be::IndexCheckSlot slots[2] = {{5, 5}, {5, 5}};
  be::DeferredIndexChecks checks(slots, 2);
  auto msg = [](const char* op) {
    return [op](int64_t at, int64_t v) { return std::string(op) + " " + std::to_string(at) + ":" + std::to_string(v); };
  };
  std::vector<int> launched;
  auto launch = [&](int slot) {
    EXPECT_EQ(slots[slot].position, -1) << "the slot is marked clean before the kernel is queued";
    launched.push_back(slot);
  };
  EXPECT_TRUE(checks.enqueue(msg("a"), launch));
  EXPECT_TRUE(checks.enqueue(msg("b"), launch));
  EXPECT_FALSE(checks.enqueue(msg("c"), launch)) << "full: nothing queued";
  EXPECT_EQ(launched, (std::vector<int>{0, 1}));
  const uint64_t m = checks.mark();
  EXPECT_NO_THROW(checks.settle(m));
  EXPECT_EQ(checks.pending(), 0);

  // A check queued after the mark stays pending: its kernel may not have run when the
  // synchronization that took the mark returns (another thread queued it meanwhile).
  EXPECT_TRUE(checks.enqueue(msg("d"), launch));  // the ring continues: slot 0
  const uint64_t m2 = checks.mark();
  EXPECT_TRUE(checks.enqueue(msg("e"), launch));  // slot 1
  slots[1] = {7, 70};                             // e's kernel found a bad index
  EXPECT_NO_THROW(checks.settle(m2)) << "e came after the mark";
  EXPECT_EQ(checks.pending(), 1);
  EXPECT_TRUE(checks.enqueue(msg("f"), launch));  // slot 0 again
  slots[0] = {4, -3};                             // f found one too
  EXPECT_ERROR(checks.settle(checks.mark()), "e 7:70");  // the first queued failure
  EXPECT_EQ(checks.pending(), 0) << "and every settled check is forgotten";
  EXPECT_EQ(launched, (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_ERROR(be::DeferredIndexChecks(slots, 0), "[index check] needs at least one slot");
  const be::IndexRange r{.limit = 3, .also = -100};
  const int64_t idx[] = {0, 2, -100, 3};
  EXPECT_EQ(be::first_bad_index(idx, 3, r), -1);
  EXPECT_EQ(be::first_bad_index(idx, 4, r), 3);
}

TEST(NoKernelDevice, MissingKernelsNameThemselves) {
  static NoKernelDevice* dev = new NoKernelDevice();
  be::Backend* previous = be::register_device_backend(dev, DeviceType::cuda);
  {
    Tensor a = vec({1, 2}, {2}).to(kDev);  // transfers need no kernel
    EXPECT_EQ(a.to_vector(), (std::vector<double>{1, 2}));
    EXPECT_ERROR(add(a, a), "[binary] has no CUDA kernel");
    EXPECT_ERROR(zeros({2}, {.device = kDev}), "[fill] has no CUDA kernel");
    EXPECT_ERROR(matmul(a.reshape({1, 2}), a.reshape({2, 1})), "[gemm] has no CUDA kernel");
    // The defaults of the transfer section: unpinned host memory and a blocking upload.
    Tensor p = pin_memory(vec({3, 4}, {2}));
    EXPECT_FALSE(is_pinned(p));
    EXPECT_EQ(p.to_vector(), (std::vector<double>{3, 4}));
    EXPECT_EQ(to_device_async(p, kDev).to_vector(), (std::vector<double>{3, 4}));
  }
  be::register_device_backend(previous, DeviceType::cuda);
}

TEST(NoDeviceBackend, CpuOnlyBehaviour) {
  be::Backend* previous = be::register_device_backend(nullptr, DeviceType::cuda);
  EXPECT_FALSE(cuda::is_available());
  EXPECT_EQ(cuda::device_count(), 0);
  Tensor x = vec({1, 2}, {2});
  EXPECT_TRUE(pin_memory(x).shares_storage(x)) << "nothing to pin for";
  EXPECT_FALSE(is_pinned(x));
  EXPECT_EQ(pinned_memory_stats().reserved, 0);
  EXPECT_ERROR(x.to(kDev), "cuda:0 is not available");
  EXPECT_ERROR(memory_stats(kDev), "cuda:0 is not available");
  EXPECT_EQ(memory_stats(Device::cpu()).allocated, memory_stats().allocated);
  be::register_device_backend(previous, DeviceType::cuda);
}
