// Weight averaging, as torch.optim.swa_utils: AveragedModel keeps a running average of a
// model's parameters (stochastic weight averaging, SWA: the plain mean of the snapshots; or an
// exponential moving average, EMA), SWALR anneals the lr to a constant for the averaging
// phase, and update_bn recomputes BatchNorm statistics for the averaged weights.
//
//   auto net = std::make_shared<Net>();
//   optim::AveragedModel ema(std::make_shared<Net>(), optim::get_ema_avg_fn(0.999));
//   for (...) { ...; opt.step(); ema.update_parameters(*net); }
//   ema.eval(); Tensor logits = ema(x);          // the averaged weights
//
//   optim::AveragedModel swa(std::make_shared<Net>());   // SWA: the mean of every update
//   optim::SWALR swa_sched(opt, 0.05);                    // lr -> 0.05 over 10 epochs (cosine)
//   // each epoch from swa_start on: swa.update_parameters(*net); swa_sched.step();
//   optim::update_bn(train_loader, *swa.module);          // BatchNorm statistics for the mean
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "nabla/autograd.h"
#include "nabla/nn/module.h"
#include "nabla/optim/scheduler.h"

namespace nabla::optim {

/// new average = avg_fn(average, current, num_averaged) for one parameter, where num_averaged
/// is the number of models averaged so far (>= 1: the first update copies). `averaged` shares
/// the average's storage: a function may update it in place and return it (no copy follows),
/// or return a new tensor, which is copied in.
using AvgFn = std::function<Tensor(const Tensor& averaged, const Tensor& current, int64_t num_averaged)>;

/// The running mean (SWA): averaged + (current - averaged) / (num_averaged + 1).
AvgFn get_swa_avg_fn();
/// The exponential moving average: decay * averaged + (1 - decay) * current, in place (two
/// passes, no temporaries: it runs after every step). decay in [0, 1].
AvgFn get_ema_avg_fn(double decay = 0.999);

/// A model holding the average of another model's parameters. `module` is a second instance of
/// the averaged model's architecture (C++ has no deep copy of an arbitrary module, where
/// PyTorch deep-copies the model): its values do not matter, the first update_parameters copies
/// them. Registered as submodule "module" next to the buffer "n_averaged", so state_dict keys
/// are PyTorch's ("module.fc.weight", "n_averaged").
class AveragedModel : public nn::Module {
 public:
  /// use_buffers: average floating buffers too (BatchNorm running statistics) instead of
  /// copying them from the model at each update.
  explicit AveragedModel(std::shared_ptr<nn::Module> module, AvgFn avg_fn = get_swa_avg_fn(),
                         bool use_buffers = false);

  /// forward of the averaged module.
  Tensor forward(const Tensor& x) override;
  /// Folds `model`'s current parameters into the average (the first call copies them). The
  /// model must have the averaged module's parameter names and shapes; with use_buffers false
  /// its buffers are copied over, so BatchNorm statistics follow the model until update_bn.
  void update_parameters(const nn::Module& model);
  /// How many models have been averaged.
  int64_t num_averaged() const;

  std::shared_ptr<nn::Module> module;
  Tensor n_averaged;  ///< i64 scalar buffer

 private:
  AvgFn avg_fn_;
  bool use_buffers_;
};

/// Anneals each group's lr from its value when the scheduler is made to swa_lr over
/// anneal_epochs steps (cosine or linear), then holds it: PyTorch's SWALR, stepped once per
/// epoch of the averaging phase. lr_t = swa_lr * a(t) + lr_0 * (1 - a(t)), t = min(1, epoch /
/// max(1, anneal_epochs)), a(t) = (1 - cos(pi t)) / 2 or t.
class SWALR : public LRScheduler {
 public:
  /// One swa_lr for all groups or one per group.
  SWALR(Optimizer& optimizer, std::vector<double> swa_lr, int64_t anneal_epochs = 10,
        AnnealStrategy anneal_strategy = AnnealStrategy::Cos);
  SWALR(Optimizer& optimizer, double swa_lr, int64_t anneal_epochs = 10,
        AnnealStrategy anneal_strategy = AnnealStrategy::Cos)
      : SWALR(optimizer, std::vector<double>{swa_lr}, anneal_epochs, anneal_strategy) {}
  const char* name() const override { return "SWALR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  std::vector<double> swa_lrs_;
  int64_t anneal_epochs_;
  AnnealStrategy strategy_;
};

/// While alive: every BatchNorm (with running statistics) of `model` has its statistics reset
/// and a cumulative average (momentum nullopt), and the model is in training mode. Restores
/// the momenta and each module's training flag when destroyed. update_bn is this plus a loop.
class BatchNormRecalibration {
 public:
  explicit BatchNormRecalibration(nn::Module& model);
  ~BatchNormRecalibration();
  BatchNormRecalibration(const BatchNormRecalibration&) = delete;
  BatchNormRecalibration& operator=(const BatchNormRecalibration&) = delete;
  /// Whether the model has a BatchNorm with running statistics (else update_bn has nothing to do).
  bool any() const { return !momenta_.empty(); }

 private:
  std::vector<std::pair<nn::Module*, bool>> training_;
  std::vector<std::pair<nn::Module*, std::optional<double>>> momenta_;
};

namespace detail {
inline const Tensor& bn_input(const Tensor& t) { return t; }
template <typename B>
const Tensor& bn_input(const B& batch) {
  return batch.inputs;  // data::Batch
}
}  // namespace detail

/// Recomputes the running statistics of `model`'s BatchNorm layers as the average over one pass
/// of `loader` (PyTorch's update_bn): for weights that no training step produced, such as an
/// AveragedModel's. `loader` is any range of input tensors or of batches with `.inputs` (a
/// data::DataLoader); no gradients are recorded. Does nothing without BatchNorm layers.
template <typename Loader>
void update_bn(Loader& loader, nn::Module& model) {
  BatchNormRecalibration recal(model);
  if (!recal.any()) return;
  NoGradGuard no_grad;
  for (auto&& batch : loader) model(detail::bn_input(batch));
}

}  // namespace nabla::optim
