// AveragedModel, the averaging functions and the BatchNorm recalibration behind update_bn
// (SWALR lives with the other schedules in scheduler.cpp).
#include "nabla/optim/swa_utils.h"

#include "nabla/nn/norm.h"
#include "nabla/ops.h"

namespace nabla::optim {

AvgFn get_swa_avg_fn() {
  return [](const Tensor& averaged, const Tensor& current, int64_t num_averaged) {
    return averaged + (current - averaged) / double(num_averaged + 1);
  };
}

AvgFn get_ema_avg_fn(double decay) {
  NB_CHECK(decay >= 0 && decay <= 1, "[get_ema_avg_fn] invalid decay: ", decay, " (must be in [0, 1])");
  return [decay](const Tensor& averaged, const Tensor& current, int64_t) {
    Tensor a = averaged;
    a.mul_(decay).add_(current, 1.0 - decay);  // PyTorch's ema_update, term for term
    return a;
  };
}

AveragedModel::AveragedModel(std::shared_ptr<nn::Module> m, AvgFn avg_fn, bool use_buffers)
    : Module("AveragedModel"), avg_fn_(std::move(avg_fn)), use_buffers_(use_buffers) {
  if (!m) fail("needs a module to hold the average (got a null pointer)");
  if (!avg_fn_) fail("needs an averaging function (got an empty one)");
  module = register_module("module", std::move(m));
  n_averaged = register_buffer("n_averaged", zeros({}, {.dtype = DType::i64}));
}

Tensor AveragedModel::forward(const Tensor& x) { return (*module)(x); }

int64_t AveragedModel::num_averaged() const { return n_averaged.item<int64_t>(); }

void AveragedModel::update_parameters(const nn::Module& model) {
  const std::vector<nn::NamedTensor> mine = module->named_parameters(), theirs = model.named_parameters();
  const std::vector<nn::NamedTensor> my_buffers = module->named_buffers(), their_buffers = model.named_buffers();
  // Check everything before changing anything, so a mismatch leaves the average as it was.
  auto check = [&](const std::vector<nn::NamedTensor>& a, const std::vector<nn::NamedTensor>& b, const char* what) {
    if (a.size() != b.size())
      fail("update_parameters: the model has ", b.size(), " ", what, ", the averaged module ", a.size(),
           " (is it the same architecture?)");
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape())
        fail("update_parameters: ", what, " ", i, " is '", b[i].first, "' ", b[i].second.shape(),
             " in the model but '", a[i].first, "' ", a[i].second.shape(), " in the averaged module");
  };
  check(mine, theirs, "parameters");
  check(my_buffers, their_buffers, "buffers");
  NoGradGuard no_grad;
  const int64_t n = num_averaged();
  auto fold = [&](const Tensor& avg, const Tensor& cur) {
    Tensor c = cur.detach().to(avg.device()).to(avg.dtype());
    Tensor a = avg.detach();
    if (n == 0) return void(a.copy_(c));
    Tensor next = avg_fn_(a, c, n);
    if (next.raw_data() != a.raw_data()) a.copy_(next);  // else updated in place
  };
  for (size_t i = 0; i < mine.size(); ++i) fold(mine[i].second, theirs[i].second);
  for (size_t i = 0; i < my_buffers.size(); ++i) {
    const Tensor& b = my_buffers[i].second;
    if (use_buffers_ && is_floating(b.dtype())) fold(b, their_buffers[i].second);
    else b.detach().copy_(their_buffers[i].second.detach().to(b.device()).to(b.dtype()));
  }
  n_averaged.add_(1.0);
}

BatchNormRecalibration::BatchNormRecalibration(nn::Module& model) {
  for (nn::Module* m : model.modules()) {
    training_.emplace_back(m, m->is_training());
    auto* bn = m->as<nn::BatchNorm>();
    if (bn == nullptr || !bn->running_mean.defined()) continue;
    momenta_.emplace_back(m, bn->options.momentum());
    bn->reset_running_stats();
    bn->options.momentum(std::nullopt);  // a cumulative average over the batches that follow
  }
  if (!momenta_.empty()) model.train(true);
}

BatchNormRecalibration::~BatchNormRecalibration() {
  for (auto& [m, momentum] : momenta_) m->as<nn::BatchNorm>()->options.momentum(momentum);
  // Pre-order: each module's train() sets its descendants, which are restored after it.
  if (!momenta_.empty())
    for (auto& [m, on] : training_) m->train(on);
}

}  // namespace nabla::optim
