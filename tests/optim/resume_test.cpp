// Resume test: training 100 steps straight gives the same parameters, bit for bit, as training
// 50 steps, saving model + optimizer + scheduler (+ RNG state) with safetensors, and training
// the other 50 in a fresh process that loads them. The fresh process is this test binary run
// again with a gtest filter selecting OptimResume.ChildProcess and NABLA_OPTIM_RESUME_DIR set
// (without that variable the child test skips). The child runs the baseline (non-AVX2) build of
// the update kernels, so on AVX2 machines the test also shows that both builds agree bit for bit.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "nabla/io/safetensors.h"
#include "optim_test_util.h"

using namespace nabla;
using namespace nabla::optim;
namespace fs = std::filesystem;

namespace {

constexpr const char* kEnv = "NABLA_OPTIM_RESUME_DIR";
constexpr int kSteps = 100, kHalf = 50;

// A small MLP classifier on fixed random data; minibatches drawn from the global RNG.
struct Model {
  std::vector<Tensor> params;
  Tensor x, y;
  Model() {
    manual_seed(1234);
    x = randn({128, 10});
    y = randint(0, 3, {128});
    params = {(randn({10, 32}) * 0.3).detach().requires_grad_(), zeros({32}).requires_grad_(),
              (randn({32, 3}) * 0.3).detach().requires_grad_(), zeros({3}).requires_grad_()};
  }
  io::TensorMap named() const {
    return {{"fc1.weight", params[0]}, {"fc1.bias", params[1]}, {"fc2.weight", params[2]}, {"fc2.bias", params[3]}};
  }
  void load(const io::TensorMap& m) {
    NoGradGuard ng;
    for (const auto& [k, t] : named()) Tensor(t).copy_(m.at(k));
  }
};

struct TrainRun {
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<Scheduler> sched;
};
using Factory = std::function<TrainRun(std::vector<Tensor>)>;

std::vector<std::pair<std::string, Factory>> configs() {
  std::vector<std::pair<std::string, Factory>> c;
  c.emplace_back("SGD_nesterov_warmup_cosine", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4));
    r.sched = std::make_unique<LinearWarmup>(*r.opt, 10, 0.1, std::make_unique<CosineAnnealingLR>(*r.opt, kSteps));
    return r;
  });
  c.emplace_back("SGD_onecycle", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9));
    r.sched = std::make_unique<OneCycleLR>(*r.opt, 0.2, OneCycleLROptions{.total_steps = kSteps});
    return r;
  });
  c.emplace_back("Adagrad_step", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Adagrad>(p, AdagradOptions(0.05).lr_decay(1e-3));
    r.sched = std::make_unique<StepLR>(*r.opt, 30, 0.5);
    return r;
  });
  c.emplace_back("RMSprop_exponential", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<RMSprop>(p, RMSpropOptions(0.005).centered(true).momentum(0.5));
    r.sched = std::make_unique<ExponentialLR>(*r.opt, 0.99);
    return r;
  });
  c.emplace_back("Adadelta_inverse_sqrt", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Adadelta>(p, AdadeltaOptions(1.0).weight_decay(1e-3));
    r.sched = std::make_unique<InverseSqrtLR>(*r.opt, 10.0);
    return r;
  });
  c.emplace_back("Adam_amsgrad_plateau", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Adam>(p, AdamOptions(0.01).amsgrad(true));
    r.sched = std::make_unique<ReduceLROnPlateau>(*r.opt, ReduceLROnPlateauOptions{.factor = 0.5, .patience = 2});
    return r;
  });
  c.emplace_back("AdamW_warmup_restarts", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<AdamW>(p, AdamWOptions(0.01).weight_decay(0.05));
    r.sched = std::make_unique<LinearWarmup>(*r.opt, 5, 0.2,
                                             std::make_unique<CosineAnnealingWarmRestarts>(*r.opt, 10, 2),
                                             WarmupMode::Sequential);
    return r;
  });
  c.emplace_back("NAdam_multistep", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<NAdam>(p, NAdamOptions(0.005).weight_decay(0.01));
    r.sched = std::make_unique<MultiStepLR>(*r.opt, std::vector<int64_t>{20, 45, 70}, 0.5);
    return r;
  });
  c.emplace_back("RAdam_warmup", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<RAdam>(p, RAdamOptions(0.01).decoupled_weight_decay(true).weight_decay(0.01));
    r.sched = std::make_unique<LinearWarmup>(*r.opt, 20, 0.05);
    return r;
  });
  c.emplace_back("Adamax_cyclic_beta1", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Adamax>(p, AdamaxOptions(0.002).weight_decay(1e-3));
    r.sched = std::make_unique<CyclicLR>(*r.opt, 1e-3, 5e-3,
                                         CyclicLROptions{.step_size_up = 15, .mode = CyclicMode::Triangular2});
    return r;
  });
  c.emplace_back("Rprop_sequential_linear_polynomial", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Rprop>(p, RpropOptions(0.005).etas({0.4, 1.3}).step_sizes({1e-5, 0.1}));
    std::vector<std::unique_ptr<LRScheduler>> s;
    s.push_back(std::make_unique<LinearLR>(*r.opt, 0.5, 1.0, 10));
    s.push_back(std::make_unique<PolynomialLR>(*r.opt, 90, 2.0));
    r.sched = std::make_unique<SequentialLR>(*r.opt, std::move(s), std::vector<int64_t>{10});
    return r;
  });
  c.emplace_back("Adafactor_step", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<Adafactor>(p, AdafactorOptions(0.02).weight_decay(1e-3));
    r.sched = std::make_unique<StepLR>(*r.opt, 30, 0.5);
    return r;
  });
  c.emplace_back("ASGD_averaging_exponential", [](std::vector<Tensor> p) {
    TrainRun r;
    r.opt = std::make_unique<ASGD>(p, ASGDOptions(0.05).lambd(1e-3).t0(20).weight_decay(1e-4));
    r.sched = std::make_unique<ExponentialLR>(*r.opt, 0.99);
    return r;
  });
  return c;
}

void train(Model& m, TrainRun& r, int from, int to) {
  for (int t = from; t < to; ++t) {
    Tensor idx = randint(0, 128, {16});
    Tensor xb = index_select(m.x, 0, idx), yb = index_select(m.y, 0, idx);
    Tensor logits = matmul(relu(matmul(xb, m.params[0]) + m.params[1]), m.params[2]) + m.params[3];
    Tensor loss = cross_entropy(logits, yb);
    r.opt->zero_grad();
    loss.backward();
    clip_grad_norm_(m.params, 5.0);
    r.opt->step();
    if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(r.sched.get())) {
      plateau->step(loss.item());
    } else {
      static_cast<LRScheduler*>(r.sched.get())->step();
    }
  }
}

std::vector<float> flat(const std::vector<Tensor>& ps) {
  std::vector<float> out;
  for (const Tensor& p : ps) {
    auto v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

fs::path self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  buf[n] = '\0';
  return buf;
}

// The second half, in a process of its own: everything comes from the files.
TEST(OptimResume, ChildProcess) {
  const char* dir = std::getenv(kEnv);
  if (dir == nullptr) GTEST_SKIP() << "runs only as the fresh process of OptimResume.FiftyPlusFiftyIsBitExact";
  for (auto& [name, factory] : configs()) {
    const fs::path d = fs::path(dir) / name;
    if (!fs::exists(d / "optimizer.safetensors")) continue;
    Model m;  // fresh parameters, overwritten from the model file
    m.load(io::load_safetensors((d / "model.safetensors").string()).tensors);
    TrainRun r = factory(m.params);  // as a fresh run would build them, then load
    io::Metadata extra = load_checkpoint((d / "optimizer.safetensors").string(), *r.opt, r.sched.get());
    set_rng_state(GeneratorState{uint64_t(std::stoull(extra.at("rng_seed"))), uint64_t(std::stoull(extra.at("rng_offset")))});
    ASSERT_EQ(extra.at("step"), std::to_string(kHalf));
    train(m, r, kHalf, kSteps);
    io::save_safetensors(m.named(), (d / "final.safetensors").string());
  }
}

TEST(OptimResume, FiftyPlusFiftyIsBitExact) {
  const fs::path exe = self_exe();
  ASSERT_FALSE(exe.empty());
  const fs::path dir = fs::temp_directory_path() / ("nabla_optim_resume_" + std::to_string(getpid()));
  fs::remove_all(dir);
  std::map<std::string, std::vector<float>> straight;
  for (auto& [name, factory] : configs()) {
    {  // 100 steps straight
      Model m;
      TrainRun r = factory(m.params);
      train(m, r, 0, kSteps);
      straight[name] = flat(m.params);
    }
    {  // 50 steps, then save model, optimizer, scheduler and RNG state
      Model m;
      TrainRun r = factory(m.params);
      train(m, r, 0, kHalf);
      const fs::path d = dir / name;
      fs::create_directories(d);
      io::save_safetensors(m.named(), (d / "model.safetensors").string());
      GeneratorState rng = get_rng_state();
      save_checkpoint((d / "optimizer.safetensors").string(), *r.opt, r.sched.get(),
                      {{"rng_seed", std::to_string(rng.seed)},
                       {"rng_offset", std::to_string(rng.offset)},
                       {"step", std::to_string(kHalf)}});
      // Training moved the parameters in the second half (so the comparison means something).
      EXPECT_NE(flat(m.params), straight[name]) << name;
    }
  }
  // The child also runs the baseline-ISA kernels (NABLA_CPU_BASELINE): on an AVX2 machine this
  // checks, in passing, that both builds of the update kernels give the same bits.
  const std::string cmd = "NABLA_CPU_BASELINE=1 " + std::string(kEnv) + "='" + dir.string() + "' '" + exe.string() +
                          "' --gtest_filter=OptimResume.ChildProcess --gtest_brief=1 > '" +
                          (dir / "child.log").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "the fresh process failed; its log is in " << (dir / "child.log").string();
  for (auto& [name, factory] : configs()) {
    const fs::path f = dir / name / "final.safetensors";
    ASSERT_TRUE(fs::exists(f)) << name;
    io::TensorMap final_params = io::load_safetensors(f.string()).tensors;
    Model m;
    m.load(final_params);
    std::vector<float> resumed = flat(m.params);
    ASSERT_EQ(resumed.size(), straight[name].size());
    EXPECT_EQ(0, std::memcmp(resumed.data(), straight[name].data(), resumed.size() * sizeof(float)))
        << name << ": resumed training differs from straight training";
  }
  fs::remove_all(dir);
}

// The same, with the file round trip but in one process: save, destroy every object, reset the
// RNG, load into new objects.
TEST(OptimResume, FileRoundTripInProcess) {
  const fs::path dir = fs::temp_directory_path() / ("nabla_optim_inproc_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto [name, factory] = configs()[5];  // Adam + ReduceLROnPlateau
  std::vector<float> want;
  {
    Model m;
    TrainRun r = factory(m.params);
    train(m, r, 0, kSteps);
    want = flat(m.params);
  }
  {
    Model m;
    TrainRun r = factory(m.params);
    train(m, r, 0, kHalf);
    io::save_safetensors(m.named(), (dir / "model.safetensors").string());
    GeneratorState rng = get_rng_state();
    save_checkpoint((dir / "opt.safetensors").string(), *r.opt, r.sched.get(),
                    {{"rng_seed", std::to_string(rng.seed)}, {"rng_offset", std::to_string(rng.offset)}});
  }
  manual_seed(999);
  Model m;
  m.load(io::load_safetensors((dir / "model.safetensors").string()).tensors);
  TrainRun r = factory(m.params);
  auto extra = load_checkpoint((dir / "opt.safetensors").string(), *r.opt, r.sched.get());
  set_rng_state(GeneratorState{uint64_t(std::stoull(extra.at("rng_seed"))), uint64_t(std::stoull(extra.at("rng_offset")))});
  train(m, r, kHalf, kSteps);
  auto got = flat(m.params);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  // The file is readable as plain safetensors: state tensors and metadata by their names.
  auto f = io::load_safetensors((dir / "opt.safetensors").string());
  EXPECT_EQ(f.metadata.at("optimizer"), "Adam");
  EXPECT_EQ(f.metadata.at("scheduler.scheduler"), "ReduceLROnPlateau");
  EXPECT_TRUE(f.tensors.count("state.0.exp_avg"));
  EXPECT_TRUE(f.tensors.count("state.3.max_exp_avg_sq"));
  EXPECT_ERROR(load_checkpoint((dir / "model.safetensors").string(), *r.opt), "optimizer");
  fs::remove_all(dir);
}

}  // namespace
