// Learning-rate schedules (PyTorch's torch.optim.lr_scheduler semantics): a scheduler is
// attached to an optimizer, sets every group's lr at construction (epoch 0) and again on each
// step() (call it once per epoch, or per iteration for OneCycleLR / warm-up), and reports the
// lrs it set with get_last_lr(). Each schedule is a closed form of the epoch and the group's
// base lr (its `initial_lr`, recorded by the first scheduler attached), so schedules compose
// (LinearWarmup wraps any other) and a resumed run follows the same values bit for bit.
// Schedulers stepped together on one optimizer chain (each scales the lr the others left).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/io/safetensors.h"
#include "nabla/optim/optimizer.h"

namespace nabla::optim {

/// What every scheduler shares: a name, the last lrs and a state_dict of strings (saved as
/// safetensors metadata next to the optimizer's state).
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual const char* name() const = 0;
  /// The lr of each group set by the last step (or the constructor).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  Optimizer& optimizer() const { return *optimizer_; }
  virtual io::Metadata state_dict() const;
  /// Restores what state_dict() returned. Does not touch the optimizer: its lrs come back with
  /// the optimizer's own load_state_dict.
  virtual void load_state_dict(const io::Metadata& state);

 protected:
  explicit Scheduler(Optimizer& optimizer) : optimizer_(&optimizer) {}
  Optimizer* optimizer_;
  int64_t last_epoch_ = -1;
  std::vector<double> last_lr_;
};

/// Base of the closed-form schedules: lr of group g at epoch e = lr_at(e, g).
class LRScheduler : public Scheduler {
 public:
  /// Advances one epoch and writes lr_at(last_epoch) into every group. When a group's lr is not
  /// lr_at(e - 1) (something else changed it: another scheduler stepped on the same optimizer,
  /// ReduceLROnPlateau), it is scaled by lr_at(e) / lr_at(e - 1) instead: schedules stepped
  /// together chain, as PyTorch's.
  virtual void step();
  /// Writes what the schedule sets besides the lr for `epoch` (OneCycleLR's momentum or beta1).
  virtual void apply_side_values(int64_t /*epoch*/) {}
  /// The schedule's lr for group `group` at `epoch` (does not change anything).
  virtual double lr_at(int64_t epoch, size_t group) const = 0;
  /// Writes lr_at(last_epoch) into every group again: after a schedule whose length changed
  /// (a finished run resumed for more epochs) restores its state, the optimizer still holds the
  /// old schedule's lr for the current epoch (0 at the end of a cosine run).
  void reapply();
  /// Each group's initial lr, the value the schedule scales.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  io::Metadata state_dict() const override;
  void load_state_dict(const io::Metadata& state) override;

 protected:
  /// Records base lrs (setting each group's initial_lr when unset). Derived constructors call
  /// initial_step() last, which applies epoch 0.
  explicit LRScheduler(Optimizer& optimizer);
  void initial_step() { step(); }
  std::vector<double> base_lrs_;

 private:
  /// One epoch forward; `chain`: scale an lr changed elsewhere rather than overwrite it.
  void advance(bool chain);
};

/// lr = base · gamma^⌊epoch / step_size⌋.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  const char* name() const override { return "StepLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = base · gamma^(number of milestones <= epoch); milestones in any order, and a repeated
/// one counts as often as it appears (as PyTorch's Counter).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  const char* name() const override { return "MultiStepLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

/// lr = base · gamma^epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  const char* name() const override { return "ExponentialLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  double gamma_;
};

/// The lecture's fixed-decay preconditioning schedule η_t ∝ 1/√t:
/// lr = base / √(1 + epoch / timescale), i.e. base/√t with t = epoch + 1 for timescale 1.
class InverseSqrtLR : public LRScheduler {
 public:
  explicit InverseSqrtLR(Optimizer& optimizer, double timescale = 1.0);
  const char* name() const override { return "InverseSqrtLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  double timescale_;
};

/// lr = eta_min + (base - eta_min)(1 + cos(π·epoch/T_max))/2.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  const char* name() const override { return "CosineAnnealingLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

/// SGDR: cosine annealing restarted every T_i epochs, T_0 first, then T_i ← T_i·T_mult:
/// lr = eta_min + (base - eta_min)(1 + cos(π·T_cur/T_i))/2.
class CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0, int64_t T_mult = 1, double eta_min = 0.0);
  const char* name() const override { return "CosineAnnealingWarmRestarts"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  int64_t T_0_, T_mult_;
  double eta_min_;
};

/// lr = base · factor(epoch) for a user function (PyTorch's LambdaLR). The function is not
/// saved by state_dict; recreate it when resuming.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> factor);
  const char* name() const override { return "LambdaLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  std::function<double(int64_t)> factor_;
};

/// How LinearWarmup combines with the schedule it wraps.
enum class WarmupMode {
  Multiply,   ///< lr = after(epoch) · w(epoch): the wrapped schedule's clock starts at 0 (ChainedScheduler)
  Sequential  ///< lr = base · w(epoch) during warm-up, then after(epoch - warmup_steps) (SequentialLR)
};

/// Linear warm-up: w(epoch) = start_factor + (1 - start_factor)·epoch/warmup_steps for
/// epoch < warmup_steps, then 1 (PyTorch's LinearLR with end_factor 1). Composes with any
/// other closed-form schedule (`after`, which must be attached to the same optimizer; its own
/// step() is then never called).
class LinearWarmup : public LRScheduler {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor = 1.0 / 3.0,
               std::unique_ptr<LRScheduler> after = nullptr, WarmupMode mode = WarmupMode::Multiply);
  const char* name() const override { return "LinearWarmup"; }
  double lr_at(int64_t epoch, size_t group) const override;
  /// The wrapped schedule's (OneCycleLR's momentum follows its own clock).
  void apply_side_values(int64_t epoch) override;
  io::Metadata state_dict() const override;
  void load_state_dict(const io::Metadata& state) override;
  LRScheduler* after() const { return after_.get(); }

 private:
  int64_t warmup_steps_;
  double start_factor_;
  std::unique_ptr<LRScheduler> after_;
  WarmupMode mode_;
};

/// PyTorch's LinearLR: the factor moves linearly from start_factor to end_factor over
/// total_iters epochs, then stays: lr = base · (start + (end - start)·min(epoch, total_iters)/total_iters).
class LinearLR : public LRScheduler {
 public:
  explicit LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
                    int64_t total_iters = 5);
  const char* name() const override { return "LinearLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

/// PyTorch's ConstantLR: lr = base · factor for epoch < total_iters, then base.
class ConstantLR : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3.0, int64_t total_iters = 5);
  const char* name() const override { return "ConstantLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  double factor_;
  int64_t total_iters_;
};

/// PyTorch's PolynomialLR: lr = base · (1 - min(epoch, total_iters)/total_iters)^power, 0 from
/// total_iters on.
class PolynomialLR : public LRScheduler {
 public:
  explicit PolynomialLR(Optimizer& optimizer, int64_t total_iters = 5, double power = 1.0);
  const char* name() const override { return "PolynomialLR"; }
  double lr_at(int64_t epoch, size_t group) const override;

 private:
  int64_t total_iters_;
  double power_;
};

/// CyclicLR's built-in amplitude policies (Smith, "Cyclical Learning Rates").
enum class CyclicMode {
  Triangular,   ///< constant amplitude
  Triangular2,  ///< amplitude halved every cycle: scale 1/2^(cycle-1)
  ExpRange      ///< amplitude scaled by gamma^iteration
};
/// What a custom scale_fn is called with: the cycle number (from 1) or the iteration.
enum class CyclicScaleMode { Cycle, Iterations };

struct CyclicLROptions {
  double step_size_up = 2000;                ///< iterations of the increasing half of a cycle
  std::optional<double> step_size_down = std::nullopt;  ///< of the decreasing half; unset: step_size_up
  CyclicMode mode = CyclicMode::Triangular;
  double gamma = 1.0;                        ///< ExpRange's base
  std::function<double(double)> scale_fn = nullptr;  ///< replaces mode's policy when set (not saved by state_dict)
  CyclicScaleMode scale_mode = CyclicScaleMode::Cycle;  ///< scale_fn's argument
  bool cycle_momentum = true;                ///< cycle momentum (SGD, RMSprop) or beta1 (Adam family) inversely
  std::vector<double> base_momentum{0.8};    ///< per group, or one value for all
  std::vector<double> max_momentum{0.9};     ///< per group, or one value for all
};

/// PyTorch's CyclicLR, stepped once per batch: the lr goes from base_lr up to max_lr over
/// step_size_up iterations and back over step_size_down, the amplitude (max_lr - base_lr)
/// scaled by the policy; with cycle_momentum, momentum (or beta1) moves from max_momentum down
/// to base_momentum and back, inversely. With T = up + down, cycle = ⌊1 + e/T⌋,
/// x = 1 + e/T - cycle:  s = x/(up/T) while x <= up/T, else (x - 1)/(up/T - 1);
///   lr = base + (max - base)·s·scale,  momentum = max_m - (max_m - base_m)·s·scale.
/// Construction sets each group's lr to base_lr (its initial_lr too when no scheduler set one).
class CyclicLR : public LRScheduler {
 public:
  /// `base_lr` and `max_lr`: per group, or one value for all groups.
  CyclicLR(Optimizer& optimizer, std::vector<double> base_lr, std::vector<double> max_lr, CyclicLROptions options = {});
  CyclicLR(Optimizer& optimizer, double base_lr, double max_lr, CyclicLROptions options = {});
  const char* name() const override { return "CyclicLR"; }
  double lr_at(int64_t epoch, size_t group) const override;
  void apply_side_values(int64_t epoch) override;
  double momentum_at(int64_t epoch, size_t group) const;

 private:
  /// (scale factor s within the cycle, the policy's scale) at `epoch`.
  std::pair<double, double> position(int64_t epoch) const;
  std::vector<double> max_lrs_, base_momentums_, max_momentums_;
  CyclicLROptions o_;
  double total_size_, step_ratio_;
  std::string momentum_key_;  // "momentum", "beta1", or "" when not cycling
};

/// PyTorch's SequentialLR: runs `schedulers[0]` until milestones[0], then schedulers[1] from its
/// own epoch 0, and so on: lr(e) = schedulers[i].lr_at(e - milestones[i-1]) for
/// milestones[i-1] <= e < milestones[i]. The schedulers must be attached to the same optimizer;
/// their own step() is then never called. Construction returns every group's lr to its
/// initial_lr and applies schedulers[0]'s epoch 0, as PyTorch's does.
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::unique_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  const char* name() const override { return "SequentialLR"; }
  double lr_at(int64_t epoch, size_t group) const override;
  void apply_side_values(int64_t epoch) override;
  io::Metadata state_dict() const override;
  void load_state_dict(const io::Metadata& state) override;
  const std::vector<std::unique_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 private:
  /// The scheduler in charge at `epoch` and that scheduler's own epoch.
  std::pair<LRScheduler*, int64_t> locate(int64_t epoch) const;
  std::vector<std::unique_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

enum class AnnealStrategy { Cos, Linear };

struct OneCycleLROptions {
  int64_t total_steps = 0;  ///< required (> 0): the number of step() calls in the cycle
  double pct_start = 0.3;   ///< fraction of the cycle spent increasing the lr
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  bool cycle_momentum = true;  ///< cycle momentum (SGD, RMSprop) or beta1 (Adam family) inversely
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25.0;         ///< initial lr = max_lr / div_factor
  double final_div_factor = 1e4;    ///< final lr = initial lr / final_div_factor
  bool three_phase = false;
};

/// The 1cycle policy (Smith & Topin), stepped once per batch: lr rises from max_lr/div_factor
/// to max_lr over pct_start of the steps, then anneals to initial/final_div_factor; momentum
/// moves the opposite way. Exactly PyTorch's OneCycleLR phases.
class OneCycleLR : public LRScheduler {
 public:
  /// `max_lr` per group, or one value for all groups.
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, OneCycleLROptions options);
  OneCycleLR(Optimizer& optimizer, double max_lr, OneCycleLROptions options);
  const char* name() const override { return "OneCycleLR"; }
  void apply_side_values(int64_t epoch) override;
  double lr_at(int64_t epoch, size_t group) const override;
  double momentum_at(int64_t epoch) const;

 private:
  struct Phase {
    double end_step;
    int start_lr, end_lr;  // index into lrs_[group]: 0 initial, 1 max, 2 min
    bool start_max_m, end_max_m;  // momentum at the phase's ends: max_momentum (else base)
  };
  double anneal(double start, double end, double pct) const;
  /// The phase containing `epoch` and how far into it (0..1) the epoch is.
  std::pair<const Phase*, double> locate(int64_t epoch) const;
  std::vector<std::array<double, 3>> lrs_;  // per group: initial, max, min
  OneCycleLROptions o_;
  std::vector<Phase> phases_;
  std::string momentum_key_;  // "momentum", "beta1", or "" when not cycling
};

struct ReduceLROnPlateauOptions {
  enum Mode { Min, Max };
  enum ThresholdMode { Rel, Abs };
  Mode mode = Min;              ///< Min: lower metric is better (loss); Max: higher is (accuracy)
  double factor = 0.1;          ///< new lr = lr · factor
  int64_t patience = 10;        ///< epochs without improvement tolerated before reducing
  double threshold = 1e-4;      ///< what counts as an improvement
  ThresholdMode threshold_mode = Rel;
  int64_t cooldown = 0;         ///< epochs to wait after a reduction before counting again
  std::vector<double> min_lr{0.0};  ///< per group, or one value for all
  double eps = 1e-8;            ///< reductions smaller than this are skipped
};

/// Reduces the lr by `factor` when a metric has stopped improving for `patience` epochs.
/// step(metric) once per epoch.
class ReduceLROnPlateau : public Scheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  const char* name() const override { return "ReduceLROnPlateau"; }
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  io::Metadata state_dict() const override;
  void load_state_dict(const io::Metadata& state) override;

 private:
  bool is_better(double a) const;
  ReduceLROnPlateauOptions o_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace nabla::optim
