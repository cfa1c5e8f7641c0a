// The host's share of a GPU training step, measured without a GPU. A GPU step costs at least
// what the host spends issuing it (autograd, dispatch, shape checks, the caching allocator, one
// backend call per kernel); while the host never waits for the device, that time overlaps the
// kernels, so it is hidden when it is below the GPU's own time for the step.
//
// This program installs a "null" device as cuda:0: host memory from the same caching allocator
// bookkeeping the CUDA backend uses (src/backend/block_cache.h), and kernels that do nothing but
// count themselves, with the CUDA backend's set of kernels (so composite fallbacks run as they
// do there). It then times bench_gpu_step's training step (forward, cross-entropy, backward,
// SGD with momentum) for each model and batch, and prints per step: the host time (median and
// quartiles), the backend calls by kind (a call is one kernel launch, except
// batch_norm_backward, two in norm.cu, and cuDNN calls, which may launch more), and
// the synchronizations, blocking uploads and downloads, which should all be zero.
//
//   bench_host_step [--models mlp,cnn,resnet18] [--batches 64,512] [--steps 30] [--warmup 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../../src/backend/host_memory_source.h"
#include "../../src/backend/device_backend.h"
#include "models.h"
#include "nabla/optim.h"

namespace nb = nabla;
namespace be = nabla::backend;
using nb::DType;
using clk = std::chrono::steady_clock;

namespace {

#define NB_NULL_KERNEL(name, ...) \
  void name(__VA_ARGS__) override { ++calls[#name]; }

class NullDevice final : public be::Backend {
 public:
  be::HostMemorySource raw;
  be::CompletedEvents events;
  be::BlockCache cache{raw, events, "null cuda:0"};
  std::map<std::string, int64_t> calls;
  int64_t syncs = 0, uploads = 0, downloads = 0;

  nb::DeviceType type() const override { return nb::DeviceType::cuda; }
  void* allocate(size_t n, int) override { return cache.allocate(n, nullptr); }
  void deallocate(void* p, size_t, int) override { cache.free(p); }
  nb::MemoryStats memory_stats(int) const override { return cache.stats(); }
  void empty_cache(int) override { cache.empty_cache(); }
  void reset_peak_memory_stats(int) override { cache.reset_peak(); }
  void copy_from_host(void* d, const void* s, size_t n, int) override {
    ++uploads;
    std::memcpy(d, s, n);
  }
  void copy_to_host(void* d, const void* s, size_t n, int) override {
    ++downloads;
    std::memcpy(d, s, n);
  }
  void synchronize(int) override { ++syncs; }
  void check_indices(const int64_t*, int64_t, const be::IndexRange&, const be::IndexErrorMessage&, int) override {
    ++calls["check_indices"];
  }

  NB_NULL_KERNEL(unary, be::UnaryOp, DType, be::Geometry, be::Operand, be::Operand, double, double)
  NB_NULL_KERNEL(binary, be::BinaryOp, DType, be::Geometry, be::Operand, be::Operand, be::Operand)
  NB_NULL_KERNEL(compare, be::CompareOp, DType, be::Geometry, be::Operand, be::Operand, be::Operand)
  NB_NULL_KERNEL(where, DType, be::Geometry, be::Operand, be::Operand, be::Operand, be::Operand)
  NB_NULL_KERNEL(copy, DType, DType, be::Geometry, be::Operand, be::Operand)
  NB_NULL_KERNEL(fill, DType, void*, int64_t, double)
  NB_NULL_KERNEL(axpy, DType, int64_t, double, const void*, void*)
  NB_NULL_KERNEL(reduce, be::ReduceOp, DType, const void*, void*, int64_t, int64_t, int64_t)
  NB_NULL_KERNEL(arg_reduce, bool, DType, const void*, int64_t*, int64_t, int64_t, int64_t)
  bool all_finite(DType, const void*, int64_t) override { return ++calls["all_finite"], true; }
  bool has_softmax_rows() const override { return true; }
  NB_NULL_KERNEL(softmax_rows, bool, DType, const void*, void*, int64_t, int64_t)
  NB_NULL_KERNEL(gemm, DType, const be::GemmArgs&)
  NB_NULL_KERNEL(rand_uniform, DType, void*, int64_t, uint64_t, uint64_t, double, double)
  NB_NULL_KERNEL(rand_normal, DType, void*, int64_t, uint64_t, uint64_t, double, double)
  NB_NULL_KERNEL(rand_int, int64_t*, int64_t, uint64_t, uint64_t, int64_t, int64_t)
  NB_NULL_KERNEL(index_select, DType, const void*, void*, const int64_t*, int64_t, int64_t, int64_t, int64_t)
  NB_NULL_KERNEL(index_add, DType, void*, const void*, const int64_t*, int64_t, int64_t, int64_t, int64_t)
  NB_NULL_KERNEL(gather, DType, const void*, void*, const int64_t*, int64_t, int64_t, int64_t, int64_t)
  NB_NULL_KERNEL(scatter_add, DType, void*, const void*, const int64_t*, int64_t, int64_t, int64_t, int64_t)
  NB_NULL_KERNEL(class_nll, const be::ClassNll&, void*, void*)
  NB_NULL_KERNEL(class_nll_backward, const be::ClassNll&, const void*, const void*, void*)
  NB_NULL_KERNEL(conv2d_forward, DType, const be::ConvGeom&, const void*, const void*, const void*, void*)
  NB_NULL_KERNEL(conv2d_input_grad, DType, const be::ConvGeom&, const void*, const void*, void*)
  NB_NULL_KERNEL(conv2d_weight_grad, DType, const be::ConvGeom&, const void*, const void*, void*)
  NB_NULL_KERNEL(conv2d_bias_grad, DType, const be::ConvGeom&, const void*, void*)
  NB_NULL_KERNEL(max_pool2d_forward, DType, const be::PoolGeom&, const void*, void*, int64_t*)
  NB_NULL_KERNEL(max_pool2d_backward, DType, const be::PoolGeom&, const void*, const int64_t*, void*)
  NB_NULL_KERNEL(avg_pool2d_forward, DType, const be::PoolGeom&, const void*, void*)
  NB_NULL_KERNEL(avg_pool2d_backward, DType, const be::PoolGeom&, const void*, void*)
  NB_NULL_KERNEL(adaptive_avg_pool2d_forward, DType, int64_t, int64_t, int64_t, int64_t, int64_t, const void*, void*)
  NB_NULL_KERNEL(adaptive_avg_pool2d_backward, DType, int64_t, int64_t, int64_t, int64_t, int64_t, const void*,
                 void*)
  NB_NULL_KERNEL(channel_affine, DType, int64_t, int64_t, int64_t, const void*, const double*, const double*, void*)
  bool has_norm_input_grad() const override { return true; }
  NB_NULL_KERNEL(norm_input_grad, DType, int64_t, int64_t, int64_t, const void*, const void*, const double*,
                 const double*, const double*, const double*, void*)
  NB_NULL_KERNEL(batch_norm_stats, const be::BatchNormStats&)
  NB_NULL_KERNEL(batch_norm_backward, DType, int64_t, int64_t, int64_t, const void*, const void*, const double*,
                 const double*, const void*, void*, void*, void*)
  NB_NULL_KERNEL(layer_norm_forward, DType, int64_t, int64_t, const void*, const void*, const void*, double, void*,
                 void*, void*)
  NB_NULL_KERNEL(optim_update, be::OptimAlgo, DType, const be::OptimSlot*, int64_t, const be::OptimHyper&)
  double multi_abs_pow_sum(DType, const void* const*, const int64_t*, int64_t, double) override {
    return ++calls["multi_abs_pow_sum"], 0.0;
  }
  NB_NULL_KERNEL(multi_scale, DType, void* const*, const int64_t*, int64_t, double)
  NB_NULL_KERNEL(multi_clamp, DType, void* const*, const int64_t*, int64_t, double, double)
};

#undef NB_NULL_KERNEL

struct Options {
  std::vector<std::string> models{"mlp", "cnn", "resnet18"};
  std::vector<int64_t> batches{64, 512};
  int steps = 30, warmup = 5;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--models") o.models = split(v);
    else if (a == "--batches") {
      o.batches.clear();
      for (const std::string& b : split(v)) o.batches.push_back(std::stoll(b));
    } else if (a == "--steps") o.steps = std::max(1, std::atoi(v.c_str()));
    else if (a == "--warmup") o.warmup = std::max(0, std::atoi(v.c_str()));
    else {
      std::fprintf(stderr, "bench_host_step: unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

void run(NullDevice& dev, const Options& o, const std::string& model, int64_t batch) {
  const nb::Device d = nb::Device::cuda(0);
  nb::manual_seed(0);
  auto m = benchmodels::make_model(model);
  m->to(d);
  m->train();
  nb::optim::SGD opt(m->parameters(), nb::optim::SGDOptions(0.01).momentum(0.9));
  nb::Tensor x = nb::randn(benchmodels::input_shape(model, batch), {.device = d});
  nb::Tensor y = nb::randint(0, 10, {batch}, d);
  auto step = [&] {
    nb::Tensor loss = nb::cross_entropy((*m)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < o.warmup; ++i) step();
  dev.calls.clear();
  const int64_t syncs = dev.syncs, uploads = dev.uploads, downloads = dev.downloads;
  std::vector<double> ms;
  for (int i = 0; i < o.steps; ++i) {
    const auto t = clk::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t).count());
  }
  int64_t total = 0;
  std::string kinds;
  for (const auto& [name, n] : dev.calls) {
    total += n;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s\"%s\": %.1f", kinds.empty() ? "" : ", ", name.c_str(), double(n) / o.steps);
    kinds += buf;
  }
  std::printf(
      "{\"kind\": \"host_step\", \"model\": \"%s\", \"batch\": %lld, \"steps\": %d, \"host_median_ms\": %.4f, "
      "\"host_p25_ms\": %.4f, \"host_p75_ms\": %.4f, \"backend_calls_per_step\": %.1f, \"syncs_per_step\": %.2f, "
      "\"uploads_per_step\": %.2f, \"downloads_per_step\": %.2f, \"calls\": {%s}}\n",
      model.c_str(), (long long)batch, o.steps, quantile(ms, 0.5), quantile(ms, 0.25), quantile(ms, 0.75),
      double(total) / o.steps, double(dev.syncs - syncs) / o.steps, double(dev.uploads - uploads) / o.steps,
      double(dev.downloads - downloads) / o.steps, kinds.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  static NullDevice* dev = new NullDevice();  // outlives every tensor it allocated
  be::register_device_backend(dev, nb::DeviceType::cuda);
  for (const std::string& model : o.models)
    for (int64_t batch : o.batches) run(*dev, o, model, batch);
  return 0;
}
