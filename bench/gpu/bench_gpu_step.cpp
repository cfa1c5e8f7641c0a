// nabla training-step time on a GPU (issue 9 benchmarks): forward + cross-entropy + backward +
// SGD(momentum) step for an MLP (784-512-256-10), the CNN preset and a ResNet-18 for 32x32
// inputs, at several batch sizes. Each step is bracketed by nabla::synchronize, so a time is
// what one step costs end to end (launch overhead included), as in a loop that reads the loss
// every step. Inputs stay on the GPU; transfers are measured separately (--overlap).
//
//   bench_gpu_step [--models mlp,cnn,resnet18] [--batches 64,128,512] [--steps 50] [--warmup 10]
//                  [--overlap 1] [--tf32 0] [--cudnn-benchmark 1] [--deterministic 1]
//                  [--layers 0] [--profile 0] [--device cuda] [--out FILE]
//
// --layers 1 times ResNet-18's distinct layers alone instead (forward, and backward to the input
// and parameters), at each batch size: torch_step.py --layers 1 times the same list, so
// compare.py can say which layer kinds make up the step-time gap.
//
// Prints one JSON object per line (and appends them to --out): the format torch_step.py prints,
// which compare.py joins.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "models.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

namespace nb = nabla;
namespace nn = nabla::nn;
using nb::Device;
using nb::Tensor;
using clk = std::chrono::steady_clock;

namespace {

using benchmodels::input_shape;
using benchmodels::make_model;

// ---- timing ----------------------------------------------------------------------------------

struct Options {
  std::vector<std::string> models{"mlp", "cnn", "resnet18"};
  std::vector<int64_t> batches{64, 128, 512};
  int steps = 50, warmup = 10;
  bool overlap = true, tf32 = false;
  bool cudnn_benchmark = true, deterministic = true;  // nabla's defaults (include/nabla/device.h)
  bool layers = false;
  bool profile = false;  // --profile 1: cuda::profiler_start/stop around the timed steps only
  std::string device = "cuda";  // "cpu" runs the same harness on the CPU (to test it without a GPU)
  std::string out;
};

double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  double pos = q * double(v.size() - 1);
  size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

void emit(const Options& o, const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (!o.out.empty()) std::ofstream(o.out, std::ios::app) << line << "\n";
}

std::string device_name(Device dev) {
  // No GPU-model query in the public API; the runner records nvidia-smi output beside this.
  std::ostringstream s;
  s << dev;
  return s.str();
}

struct Stepper {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<nb::optim::SGD> opt;
  Device dev;
  void step(const Tensor& x, const Tensor& y) {
    Tensor loss = nb::cross_entropy((*model)(x), y);
    opt->zero_grad();
    loss.backward();
    opt->step();
  }
};

Stepper make_stepper(const std::string& model, Device dev) {
  nb::manual_seed(0);
  Stepper s{make_model(model), nullptr, dev};
  s.model->to(dev);
  s.model->train();
  s.opt = std::make_unique<nb::optim::SGD>(s.model->parameters(), nb::optim::SGDOptions(0.01).momentum(0.9));
  return s;
}

void bench_step(const Options& o, const std::string& model, int64_t batch, Device dev) {
  nb::empty_cache(dev);
  nb::reset_peak_memory_stats(dev);
  std::vector<double> times;
  {
    Stepper s = make_stepper(model, dev);
    Tensor x = nb::randn(input_shape(model, batch), {.device = dev});
    Tensor y = nb::randint(0, 10, {batch}, dev);
    for (int i = 0; i < o.warmup; ++i) s.step(x, y);
    nb::synchronize(dev);
    if (o.profile) nb::cuda::profiler_start();
    for (int i = 0; i < o.steps; ++i) {
      auto t = clk::now();
      s.step(x, y);
      nb::synchronize(dev);
      times.push_back(ms_since(t));
    }
    if (o.profile) nb::cuda::profiler_stop();
  }
  nb::MemoryStats m = nb::memory_stats(dev);
  double p25 = quantile(times, 0.25), p50 = quantile(times, 0.5), p75 = quantile(times, 0.75);
  double mean = 0;
  for (double t : times) mean += t / double(times.size());
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"framework\": \"nabla\", \"kind\": \"step\", \"model\": \"%s\", \"batch\": %lld, \"steps\": %d, "
                "\"median_ms\": %.4f, \"p25_ms\": %.4f, \"p75_ms\": %.4f, \"iqr_ms\": %.4f, \"mean_ms\": %.4f, "
                "\"peak_mem_mb\": %.2f, \"tf32\": %s, \"device\": \"%s\"}",
                model.c_str(), (long long)batch, o.steps, p50, p25, p75, p75 - p25, mean,
                double(m.peak_allocated) / (1024.0 * 1024.0), o.tf32 ? "true" : "false", device_name(dev).c_str());
  emit(o, buf);
}

// ---- per layer (--layers 1) -------------------------------------------------------------------

/// One of ResNet-18's distinct layers: its input shape and a forward that owns its parameters.
/// Names and shapes match torch_step.py's LAYERS.
struct Layer {
  std::string name;
  nb::Shape in;
  std::function<Tensor(const Tensor&)> forward;
  nb::TensorList params;
};

Layer module_layer(std::string name, nb::Shape in, std::shared_ptr<nn::Module> m, Device dev) {
  m->to(dev);
  m->train();
  return {std::move(name), std::move(in), [m](const Tensor& x) { return (*m)(x); }, m->parameters()};
}

std::vector<Layer> resnet_layers(int64_t B, Device dev) {
  auto conv = [&](int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t hw) {
    std::string name = "conv" + std::to_string(k) + "x" + std::to_string(k) + " " + std::to_string(cin) + "-" +
                       std::to_string(cout) + " s" + std::to_string(s) + " " + std::to_string(hw) + "x" +
                       std::to_string(hw);
    return module_layer(name, {B, cin, hw, hw},
                        std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cin, cout, k).stride(s).padding(k / 2).bias(false)),
                        dev);
  };
  auto bn = [&](int64_t c, int64_t hw) {
    return module_layer("batchnorm " + std::to_string(c) + " " + std::to_string(hw) + "x" + std::to_string(hw),
                        {B, c, hw, hw}, std::make_shared<nn::BatchNorm2d>(c), dev);
  };
  std::vector<Layer> L = {conv(3, 64, 3, 1, 32),   conv(64, 64, 3, 1, 32),   conv(64, 128, 3, 2, 32),
                          conv(64, 128, 1, 2, 32), conv(128, 128, 3, 1, 16), conv(128, 256, 3, 2, 16),
                          conv(256, 256, 3, 1, 8), conv(256, 512, 3, 2, 8),  conv(512, 512, 3, 1, 4),
                          bn(64, 32),              bn(128, 16),              bn(256, 8),
                          bn(512, 4)};
  L.push_back({"relu 64 32x32", {B, 64, 32, 32}, [](const Tensor& x) { return nb::relu(x); }, {}});
  Tensor other = nb::randn({B, 64, 32, 32}, {.device = dev});
  L.push_back({"add 64 32x32", {B, 64, 32, 32}, [other](const Tensor& x) { return nb::add(x, other); }, {}});
  auto fc = std::make_shared<nn::Linear>(nn::LinearOptions(512, 10));
  fc->to(dev);
  L.push_back({"avgpool+fc 512 4x4", {B, 512, 4, 4},
               [fc](const Tensor& x) { return (*fc)(nb::global_avg_pool2d(x)); }, fc->parameters()});
  Tensor target = nb::randint(0, 10, {B}, dev);
  L.push_back({"cross_entropy 10", {B, 10}, [target](const Tensor& x) { return nb::cross_entropy(x, target); }, {}});
  return L;
}

/// Forward alone (recording, as in training) and backward alone (nabla::grad to the input and
/// the parameters, so nothing accumulates between repeats), each bracketed by synchronize.
void bench_layers(const Options& o, int64_t batch, Device dev) {
  nb::manual_seed(0);
  for (Layer& l : resnet_layers(batch, dev)) {
    Tensor x = nb::randn(l.in, {.device = dev}).requires_grad_();
    nb::TensorList wrt{x};
    for (const Tensor& p : l.params) wrt.push_back(p);
    Tensor go = nb::randn(l.forward(x).shape(), {.device = dev});
    for (int i = 0; i < o.warmup; ++i) (void)nb::grad({l.forward(x)}, wrt, {go});
    nb::synchronize(dev);
    std::vector<double> fwd, bwd;
    for (int i = 0; i < o.steps; ++i) {
      auto t = clk::now();
      Tensor y = l.forward(x);
      nb::synchronize(dev);
      fwd.push_back(ms_since(t));
      t = clk::now();
      (void)nb::grad({y}, wrt, {go});
      nb::synchronize(dev);
      bwd.push_back(ms_since(t));
    }
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "{\"framework\": \"nabla\", \"kind\": \"layer\", \"layer\": \"%s\", \"batch\": %lld, "
                  "\"fwd_ms\": %.4f, \"fwd_iqr_ms\": %.4f, \"bwd_ms\": %.4f, \"bwd_iqr_ms\": %.4f}",
                  l.name.c_str(), (long long)batch, quantile(fwd, 0.5), quantile(fwd, 0.75) - quantile(fwd, 0.25),
                  quantile(bwd, 0.5), quantile(bwd, 0.75) - quantile(bwd, 0.25));
    emit(o, buf);
  }
}

/// Transfer/compute overlap: median step time with the batch uploaded synchronously before the
/// step (pageable .to(), what a naive loop does) vs with the next batch's upload queued from
/// pinned memory on the copy stream before the step (to_device_async, what the trainer does),
/// against the time of the upload alone. hidden_fraction = (sequential - overlapped) / copy:
/// 1 means the copy is fully hidden behind compute, 0 not at all.
void bench_overlap(const Options& o, const std::string& model, int64_t batch, Device dev) {
  Stepper s = make_stepper(model, dev);
  nb::Shape shape = input_shape(model, batch);
  const int kBuffers = 4;  // distinct host batches, as a loader would deliver
  std::vector<Tensor> host, pinned;
  for (int i = 0; i < kBuffers; ++i) {
    host.push_back(nb::randn(shape));
    pinned.push_back(nb::pin_memory(host.back()));
  }
  Tensor y = nb::randint(0, 10, {batch}, dev);
  Tensor resident = host[0].to(dev);
  auto median_of = [&](auto&& one) {
    for (int i = 0; i < o.warmup; ++i) one(i);
    nb::synchronize(dev);
    std::vector<double> t;
    for (int i = 0; i < o.steps; ++i) {
      auto t0 = clk::now();
      one(i);
      nb::synchronize(dev);
      t.push_back(ms_since(t0));
    }
    return quantile(t, 0.5);
  };
  double compute = median_of([&](int) { s.step(resident, y); });
  double copy_pageable = median_of([&](int i) { (void)host[size_t(i % kBuffers)].to(dev); });
  double copy_pinned = median_of([&](int i) { (void)nb::to_device_async(pinned[size_t(i % kBuffers)], dev); });
  double sequential = median_of([&](int i) { s.step(host[size_t(i % kBuffers)].to(dev), y); });
  Tensor next = nb::to_device_async(pinned[0], dev);
  double overlapped = median_of([&](int i) {
    Tensor cur = next;
    next = nb::to_device_async(pinned[size_t((i + 1) % kBuffers)], dev);  // queued before this step
    s.step(cur, y);
  });
  double hidden = copy_pageable > 0 ? (sequential - overlapped) / copy_pageable : 0;
  // The lecture's parameter management: parameters resident on the device (compute_ms) vs shipped
  // every step, uploaded before it and downloaded after it, as a framework without device-resident
  // parameters would have to.
  nb::TensorList params = s.model->parameters();
  std::vector<Tensor> host_params;
  for (const Tensor& p : params) host_params.push_back(p.detach().to(Device::cpu()));
  double params_copied = median_of([&](int) {
    {
      nb::NoGradGuard ng;
      for (size_t j = 0; j < params.size(); ++j) params[j].copy_(host_params[j]);
    }
    s.step(resident, y);
    nb::NoGradGuard ng;
    for (size_t j = 0; j < params.size(); ++j) host_params[j].copy_(params[j]);
  });
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\"framework\": \"nabla\", \"kind\": \"overlap\", \"model\": \"%s\", \"batch\": %lld, "
                "\"batch_mb\": %.3f, \"compute_ms\": %.4f, \"copy_pageable_ms\": %.4f, \"copy_pinned_async_ms\": %.4f, "
                "\"sequential_ms\": %.4f, \"overlapped_ms\": %.4f, \"hidden_fraction\": %.3f, \"params_copied_ms\": %.4f, "
                "\"device\": \"%s\"}",
                model.c_str(), (long long)batch, double(host[0].numel()) * 4.0 / (1024.0 * 1024.0), compute,
                copy_pageable, copy_pinned, sequential, overlapped, std::clamp(hidden, -1.0, 1.0), params_copied,
                device_name(dev).c_str());
  emit(o, buf);
}

template <typename T, typename F>
std::vector<T> split_list(const std::string& s, F&& conv) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(conv(part));
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--models") o.models = split_list<std::string>(v, [](const std::string& p) { return p; });
    else if (a == "--batches") o.batches = split_list<int64_t>(v, [](const std::string& p) { return std::stoll(p); });
    else if (a == "--steps") o.steps = std::max(1, std::atoi(v.c_str()));
    else if (a == "--warmup") o.warmup = std::max(0, std::atoi(v.c_str()));
    else if (a == "--overlap") o.overlap = v != "0";
    else if (a == "--tf32") o.tf32 = v != "0";
    else if (a == "--cudnn-benchmark") o.cudnn_benchmark = v != "0";
    else if (a == "--deterministic") o.deterministic = v != "0";
    else if (a == "--layers") o.layers = v != "0";
    else if (a == "--profile") o.profile = v != "0";
    else if (a == "--device") o.device = v;
    else if (a == "--out") o.out = v;
    else {
      std::fprintf(stderr, "bench_gpu_step: unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "bench_gpu_step: option %s needs a value\n", argv[argc - 1]);
    std::exit(2);
  }
  return o;
}

std::string json_escape(std::string s) {
  for (char& c : s)
    if (c == '"' || c == '\\' || c == '\n') c = '\'';
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  const Device dev = Device::parse(o.device);
  if (dev.is_cuda() && !nb::cuda::is_available()) {
    emit(o, "{\"framework\": \"nabla\", \"kind\": \"skipped\", \"reason\": \"no CUDA device available\"}");
    return 0;
  }
  nb::set_allow_tf32(o.tf32);
  nb::set_cudnn_benchmark(o.cudnn_benchmark);
  nb::use_deterministic_algorithms(o.deterministic);
  int failures = 0;
  if (o.layers) {
    for (int64_t batch : o.batches) {
      try {
        bench_layers(o, batch, dev);
      } catch (const std::exception& e) {
        ++failures;
        emit(o, "{\"framework\": \"nabla\", \"kind\": \"error\", \"model\": \"layers\", \"batch\": " +
                    std::to_string(batch) + ", \"error\": \"" + json_escape(e.what()) + "\"}");
      }
    }
    return failures ? 1 : 0;
  }
  for (const std::string& model : o.models) {
    for (int64_t batch : o.batches) {
      try {
        bench_step(o, model, batch, dev);
      } catch (const std::exception& e) {
        ++failures;
        emit(o, "{\"framework\": \"nabla\", \"kind\": \"error\", \"model\": \"" + model + "\", \"batch\": " +
                    std::to_string(batch) + ", \"error\": \"" + json_escape(e.what()) + "\"}");
      }
    }
  }
  if (o.overlap) {
    for (auto [model, batch] : {std::pair<std::string, int64_t>{"mlp", 512}, {"cnn", 512}, {"resnet18", 128}}) {
      try {
        bench_overlap(o, model, batch, dev);
      } catch (const std::exception& e) {
        ++failures;
        emit(o, "{\"framework\": \"nabla\", \"kind\": \"error\", \"model\": \"overlap-" + model + "\", \"batch\": " +
                    std::to_string(batch) + ", \"error\": \"" + json_escape(e.what()) + "\"}");
      }
    }
  }
  return failures ? 1 : 0;
}
