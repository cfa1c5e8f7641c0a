// Learning-rate schedulers. Closed forms of (epoch, base lr), so a resumed run and a straight
// run compute each lr from the same two numbers and agree bit for bit.
#include "nabla/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "nabla/optim/swa_utils.h"
#include "nabla/parse_number.h"

namespace nabla::optim {

namespace {

std::string join(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += detail::format_double(v[i]);
  }
  return s;
}

std::vector<double> split(const std::string& s, const char* what) {
  std::vector<double> out;
  if (s.empty()) return out;
  size_t b = 0;
  while (true) {
    size_t e = s.find(',', b);
    out.push_back(detail::parse_double(s.substr(b, e == std::string::npos ? std::string::npos : e - b), what));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

const std::string& get(const io::Metadata& m, const std::string& key, const char* sched) {
  auto it = m.find(key);
  NB_CHECK(it != m.end(), "[", sched, "] load_state_dict: missing entry \"", key, "\"");
  return it->second;
}

int64_t get_int(const io::Metadata& m, const std::string& key, const char* sched) {
  const std::string& s = get(m, key, sched);
  const std::optional<int64_t> v = parse_number<int64_t>(s);
  NB_CHECK(v.has_value(), "[", sched, "] load_state_dict: ", key, ": expected an integer, got \"", s, "\"");
  return *v;
}

/// The option a momentum-cycling schedule writes: "beta1" (Adam family, as PyTorch's use of
/// betas[0]) or "momentum" (SGD, RMSprop); "" when the optimizer has neither.
std::string momentum_key(const Optimizer& optimizer) {
  std::string key;
  const auto& groups = optimizer.param_groups();
  for (const auto& [k, v] : groups.empty() ? optimizer.defaults().values() : groups[0].options().values()) {
    (void)v;
    if (k == "beta1") key = k;
    if (k == "momentum" && key.empty()) key = k;
  }
  return key;
}

/// One value per group from a list of one (for all) or of one per group, as PyTorch's
/// _format_param; `what` names the option in the error.
std::vector<double> per_group(const std::vector<double>& v, size_t groups, const char* sched, const char* what) {
  NB_CHECK(v.size() == 1 || v.size() == groups, "[", sched, "] invalid ", what, ": ", v.size(), " values for ", groups,
           " parameter groups (give one for all groups or one per group)");
  return v.size() == 1 ? std::vector<double>(groups, v[0]) : v;
}

double cosine(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

}  // namespace

// ---- Scheduler / LRScheduler ----------------------------------------------------------------
io::Metadata Scheduler::state_dict() const {
  return {{"scheduler", name()}, {"last_epoch", std::to_string(last_epoch_)}, {"last_lr", join(last_lr_)}};
}

void Scheduler::load_state_dict(const io::Metadata& m) {
  const std::string& n = get(m, "scheduler", name());
  NB_CHECK(n == name(), "[", name(), "] load_state_dict: the state was saved by ", n, ", not ", name());
  auto last = split(get(m, "last_lr", name()), "last_lr");
  NB_CHECK(last.size() == optimizer_->param_groups().size(), "[", name(), "] load_state_dict: state has ",
           last.size(), " learning rates, the optimizer has ", optimizer_->param_groups().size(), " groups");
  last_epoch_ = get_int(m, "last_epoch", name());
  last_lr_ = std::move(last);
}

LRScheduler::LRScheduler(Optimizer& optimizer) : Scheduler(optimizer) {
  for (auto& g : optimizer.param_groups()) {
    if (g.initial_lr() < 0) g.set_initial_lr(g.options().get_lr());
    base_lrs_.push_back(g.initial_lr());
  }
}

void LRScheduler::step() { advance(/*chain=*/true); }

void LRScheduler::advance(bool chain) {
  auto& groups = optimizer_->param_groups();
  NB_CHECK(groups.size() == base_lrs_.size(), "[", name(), "] the optimizer has ", groups.size(),
           " parameter groups, the scheduler was made for ", base_lrs_.size());
  // Compute every lr before changing anything, so a throwing schedule leaves no half-step.
  const int64_t epoch = last_epoch_ + 1;
  std::vector<double> lrs(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    // Alone, a schedule writes its closed form (exact, and the same after a resume). When the
    // lr is not the closed form's previous value, something else has changed it (a second
    // scheduler stepped on the same optimizer, ReduceLROnPlateau, the user), and the schedules
    // chain as PyTorch's do: the current lr is scaled by this schedule's own factor for the step.
    const double now = lr_at(epoch, g);
    const double current = groups[g].options().get_lr();
    const double previous = !chain ? 0.0 : epoch == 0 ? base_lrs_[g] : lr_at(epoch - 1, g);
    lrs[g] = previous != 0 && current != previous ? current * (now / previous) : now;
  }
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lrs[g]);
  last_epoch_ = epoch;
  last_lr_ = std::move(lrs);
  apply_side_values(epoch);
}

void LRScheduler::reapply() {
  --last_epoch_;
  try {
    advance(/*chain=*/false);  // the closed form, whatever the optimizer holds now
  } catch (...) {
    ++last_epoch_;  // step() changed nothing else: leave the scheduler as it was
    throw;
  }
}

io::Metadata LRScheduler::state_dict() const {
  io::Metadata m = Scheduler::state_dict();
  m["base_lrs"] = join(base_lrs_);
  return m;
}

void LRScheduler::load_state_dict(const io::Metadata& m) {
  auto base = split(get(m, "base_lrs", name()), "base_lrs");
  NB_CHECK(base.size() == optimizer_->param_groups().size(), "[", name(), "] load_state_dict: state has ",
           base.size(), " base learning rates, the optimizer has ", optimizer_->param_groups().size(), " groups");
  Scheduler::load_state_dict(m);
  base_lrs_ = std::move(base);
}

// ---- StepLR, MultiStepLR, ExponentialLR, InverseSqrtLR ----------------------------------------
StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  NB_CHECK(step_size > 0, "[StepLR] invalid step_size: ", step_size, " (must be > 0)");
  NB_CHECK(gamma >= 0, "[StepLR] invalid gamma: ", gamma, " (must be >= 0)");
  initial_step();
}
double StepLR::lr_at(int64_t epoch, size_t g) const {
  return base_lrs_[g] * std::pow(gamma_, double(epoch / step_size_));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  // In any order, and a repeated milestone decays twice: PyTorch keeps them in a Counter.
  std::sort(milestones_.begin(), milestones_.end());
  NB_CHECK(gamma >= 0, "[MultiStepLR] invalid gamma: ", gamma, " (must be >= 0)");
  initial_step();
}
double MultiStepLR::lr_at(int64_t epoch, size_t g) const {
  auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base_lrs_[g] * std::pow(gamma_, double(passed));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {
  NB_CHECK(gamma >= 0, "[ExponentialLR] invalid gamma: ", gamma, " (must be >= 0)");
  initial_step();
}
double ExponentialLR::lr_at(int64_t epoch, size_t g) const { return base_lrs_[g] * std::pow(gamma_, double(epoch)); }

InverseSqrtLR::InverseSqrtLR(Optimizer& optimizer, double timescale) : LRScheduler(optimizer), timescale_(timescale) {
  NB_CHECK(timescale > 0, "[InverseSqrtLR] invalid timescale: ", timescale, " (must be > 0)");
  initial_step();
}
double InverseSqrtLR::lr_at(int64_t epoch, size_t g) const {
  return base_lrs_[g] / std::sqrt(1.0 + double(epoch) / timescale_);
}

// ---- cosine schedules ---------------------------------------------------------------------------
CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  NB_CHECK(T_max > 0, "[CosineAnnealingLR] invalid T_max: ", T_max, " (must be > 0)");
  initial_step();
}
double CosineAnnealingLR::lr_at(int64_t epoch, size_t g) const {
  return eta_min_ + (base_lrs_[g] - eta_min_) * (1.0 + std::cos(std::numbers::pi * double(epoch) / double(T_max_))) / 2.0;
}

SWALR::SWALR(Optimizer& optimizer, std::vector<double> swa_lr, int64_t anneal_epochs, AnnealStrategy anneal_strategy)
    : LRScheduler(optimizer),
      swa_lrs_(per_group(swa_lr, optimizer.param_groups().size(), "SWALR", "swa_lr")),
      anneal_epochs_(anneal_epochs),
      strategy_(anneal_strategy) {
  NB_CHECK(anneal_epochs >= 0, "[SWALR] invalid anneal_epochs: ", anneal_epochs, " (must be >= 0)");
  for (double v : swa_lrs_) NB_CHECK(v >= 0, "[SWALR] invalid swa_lr: ", v, " (must be >= 0)");
  // The anneal starts from the lr the groups have now (after whatever schedule ran before the
  // averaging phase), not from their initial lr.
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) base_lrs_[g] = groups[g].options().get_lr();
  initial_step();
}
double SWALR::lr_at(int64_t epoch, size_t g) const {
  const double t = std::clamp(double(epoch) / double(std::max<int64_t>(1, anneal_epochs_)), 0.0, 1.0);
  const double a = strategy_ == AnnealStrategy::Cos ? (1.0 - std::cos(std::numbers::pi * t)) / 2.0 : t;
  return swa_lrs_[g] * a + base_lrs_[g] * (1.0 - a);
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, int64_t T_0, int64_t T_mult,
                                                         double eta_min)
    : LRScheduler(optimizer), T_0_(T_0), T_mult_(T_mult), eta_min_(eta_min) {
  NB_CHECK(T_0 > 0, "[CosineAnnealingWarmRestarts] invalid T_0: ", T_0, " (must be > 0)");
  NB_CHECK(T_mult >= 1, "[CosineAnnealingWarmRestarts] invalid T_mult: ", T_mult, " (must be >= 1)");
  initial_step();
}
double CosineAnnealingWarmRestarts::lr_at(int64_t epoch, size_t g) const {
  // Integer walk over the restarts (exact, unlike the log-based formula for T_mult > 1).
  int64_t t_cur = std::max<int64_t>(epoch, 0), t_i = T_0_;
  if (T_mult_ == 1) {
    t_cur %= T_0_;
  } else {
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= T_mult_;
    }
  }
  return eta_min_ + (base_lrs_[g] - eta_min_) * (1.0 + std::cos(std::numbers::pi * double(t_cur) / double(t_i))) / 2.0;
}

// ---- LambdaLR, LinearWarmup -------------------------------------------------------------------
LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> factor)
    : LRScheduler(optimizer), factor_(std::move(factor)) {
  NB_CHECK(factor_ != nullptr, "[LambdaLR] invalid factor: an empty function");
  initial_step();
}
double LambdaLR::lr_at(int64_t epoch, size_t g) const { return base_lrs_[g] * factor_(epoch); }

LinearWarmup::LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor,
                           std::unique_ptr<LRScheduler> after, WarmupMode mode)
    : LRScheduler(optimizer),
      warmup_steps_(warmup_steps),
      start_factor_(start_factor),
      after_(std::move(after)),
      mode_(mode) {
  NB_CHECK(warmup_steps >= 0, "[LinearWarmup] invalid warmup_steps: ", warmup_steps, " (must be >= 0)");
  NB_CHECK(start_factor > 0 && start_factor <= 1, "[LinearWarmup] invalid start_factor: ", start_factor,
           " (must be in (0, 1])");
  NB_CHECK(!after_ || &after_->optimizer() == &optimizer,
           "[LinearWarmup] invalid after: the wrapped scheduler is attached to another optimizer");
  // The wrapped schedule wrote its epoch 0 when it was made; the lr is this scheduler's now
  // (its closed form includes the wrapped one), so that write is not another scheduler's.
  if (after_)
    for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer.param_groups()[g].options().set_lr(base_lrs_[g]);
  initial_step();
}

void LinearWarmup::apply_side_values(int64_t epoch) {
  if (!after_) return;
  after_->apply_side_values(mode_ == WarmupMode::Multiply ? epoch : std::max<int64_t>(0, epoch - warmup_steps_));
}

double LinearWarmup::lr_at(int64_t epoch, size_t g) const {
  const bool warming = epoch < warmup_steps_;
  const double w = warming ? start_factor_ + (1.0 - start_factor_) * double(epoch) / double(warmup_steps_) : 1.0;
  if (!after_) return base_lrs_[g] * w;
  if (mode_ == WarmupMode::Multiply) return after_->lr_at(epoch, g) * w;
  return warming ? base_lrs_[g] * w : after_->lr_at(epoch - warmup_steps_, g);
}

io::Metadata LinearWarmup::state_dict() const {
  io::Metadata m = LRScheduler::state_dict();
  if (after_)
    for (const auto& [k, v] : after_->state_dict()) m["after." + k] = v;
  return m;
}

void LinearWarmup::load_state_dict(const io::Metadata& m) {
  if (after_) {
    io::Metadata inner;
    for (const auto& [k, v] : m)
      if (k.rfind("after.", 0) == 0) inner[k.substr(6)] = v;
    after_->load_state_dict(inner);
  }
  LRScheduler::load_state_dict(m);
}

// ---- LinearLR, ConstantLR, PolynomialLR (PyTorch's _get_closed_form_lr, same order of operations) ----
LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  NB_CHECK(start_factor > 0 && start_factor <= 1, "[LinearLR] invalid start_factor: ", start_factor,
           " (must be in (0, 1])");
  NB_CHECK(end_factor >= 0 && end_factor <= 1, "[LinearLR] invalid end_factor: ", end_factor, " (must be in [0, 1])");
  NB_CHECK(total_iters > 0, "[LinearLR] invalid total_iters: ", total_iters, " (must be > 0)");
  initial_step();
}
double LinearLR::lr_at(int64_t epoch, size_t g) const {
  const double done = double(std::min(total_iters_, std::max<int64_t>(epoch, 0)));
  return base_lrs_[g] * (start_factor_ + (end_factor_ - start_factor_) * done / double(total_iters_));
}

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler(optimizer), factor_(factor), total_iters_(total_iters) {
  NB_CHECK(factor >= 0 && factor <= 1, "[ConstantLR] invalid factor: ", factor, " (must be in [0, 1])");
  NB_CHECK(total_iters >= 0, "[ConstantLR] invalid total_iters: ", total_iters, " (must be >= 0)");
  initial_step();
}
double ConstantLR::lr_at(int64_t epoch, size_t g) const {
  return base_lrs_[g] * (factor_ + double(epoch >= total_iters_) * (1.0 - factor_));
}

PolynomialLR::PolynomialLR(Optimizer& optimizer, int64_t total_iters, double power)
    : LRScheduler(optimizer), total_iters_(total_iters), power_(power) {
  NB_CHECK(total_iters > 0, "[PolynomialLR] invalid total_iters: ", total_iters, " (must be > 0)");
  NB_CHECK(power >= 0, "[PolynomialLR] invalid power: ", power, " (must be >= 0)");
  initial_step();
}
double PolynomialLR::lr_at(int64_t epoch, size_t g) const {
  const double done = double(std::min(total_iters_, std::max<int64_t>(epoch, 0)));
  return base_lrs_[g] * std::pow(1.0 - done / double(total_iters_), power_);
}

// ---- CyclicLR -------------------------------------------------------------------------------------
namespace {

/// Validates CyclicLR's arguments and sets each group's lr to its base_lr before the scheduler
/// base records initial_lr (PyTorch sets group["lr"] before LRScheduler.__init__'s setdefault).
Optimizer& cyclic_prepare(Optimizer& optimizer, const std::vector<double>& base_lr, const std::vector<double>& max_lr,
                          const CyclicLROptions& o) {
  const size_t ng = optimizer.param_groups().size();
  const auto base = per_group(base_lr, ng, "CyclicLR", "base_lr");
  const auto mx = per_group(max_lr, ng, "CyclicLR", "max_lr");
  for (double v : base) NB_CHECK(v >= 0, "[CyclicLR] invalid base_lr: ", v, " (must be >= 0)");
  for (double v : mx) NB_CHECK(v >= 0, "[CyclicLR] invalid max_lr: ", v, " (must be >= 0)");
  NB_CHECK(o.step_size_up > 0, "[CyclicLR] invalid step_size_up: ", o.step_size_up, " (must be > 0)");
  NB_CHECK(!o.step_size_down || *o.step_size_down >= 0, "[CyclicLR] invalid step_size_down: ",
           o.step_size_down.value_or(0), " (must be >= 0, or unset for step_size_up)");
  NB_CHECK(o.gamma > 0, "[CyclicLR] invalid gamma: ", o.gamma, " (must be > 0)");
  if (o.cycle_momentum) {
    NB_CHECK(!momentum_key(optimizer).empty(), "[CyclicLR] invalid cycle_momentum: ", optimizer.name(),
             " has neither momentum nor betas; pass cycle_momentum = false");
    for (double v : per_group(o.base_momentum, ng, "CyclicLR", "base_momentum"))
      NB_CHECK(v >= 0, "[CyclicLR] invalid base_momentum: ", v, " (must be >= 0)");
    for (double v : per_group(o.max_momentum, ng, "CyclicLR", "max_momentum"))
      NB_CHECK(v >= 0, "[CyclicLR] invalid max_momentum: ", v, " (must be >= 0)");
  }
  for (size_t g = 0; g < ng; ++g) optimizer.param_groups()[g].options().set_lr(base[g]);
  return optimizer;
}

}  // namespace

CyclicLR::CyclicLR(Optimizer& optimizer, double base_lr, double max_lr, CyclicLROptions options)
    : CyclicLR(optimizer, std::vector<double>{base_lr}, std::vector<double>{max_lr}, std::move(options)) {}

CyclicLR::CyclicLR(Optimizer& optimizer, std::vector<double> base_lr, std::vector<double> max_lr, CyclicLROptions o)
    : LRScheduler(cyclic_prepare(optimizer, base_lr, max_lr, o)), o_(std::move(o)) {
  const size_t ng = optimizer.param_groups().size();
  base_lrs_ = per_group(base_lr, ng, name(), "base_lr");
  max_lrs_ = per_group(max_lr, ng, name(), "max_lr");
  const double up = o_.step_size_up, down = o_.step_size_down.value_or(up);
  total_size_ = up + down;
  step_ratio_ = up / total_size_;
  if (o_.cycle_momentum) {
    momentum_key_ = momentum_key(optimizer);
    base_momentums_ = per_group(o_.base_momentum, ng, name(), "base_momentum");
    max_momentums_ = per_group(o_.max_momentum, ng, name(), "max_momentum");
  }
  initial_step();
}

std::pair<double, double> CyclicLR::position(int64_t epoch) const {
  const double e = double(epoch);
  const double cycle = std::floor(1.0 + e / total_size_);
  const double x = 1.0 + e / total_size_ - cycle;
  const double s = x <= step_ratio_ ? x / step_ratio_ : (x - 1.0) / (step_ratio_ - 1.0);
  double scale = 1.0;
  if (o_.scale_fn) {
    scale = o_.scale_fn(o_.scale_mode == CyclicScaleMode::Cycle ? cycle : e);
  } else if (o_.mode == CyclicMode::Triangular2) {
    scale = 1.0 / std::pow(2.0, cycle - 1.0);
  } else if (o_.mode == CyclicMode::ExpRange) {
    scale = std::pow(o_.gamma, e);
  }
  return {s, scale};
}

double CyclicLR::lr_at(int64_t epoch, size_t g) const {
  const auto [s, scale] = position(epoch);
  return base_lrs_[g] + (max_lrs_[g] - base_lrs_[g]) * s * scale;
}

double CyclicLR::momentum_at(int64_t epoch, size_t g) const {
  NB_CHECK(o_.cycle_momentum, "[CyclicLR] momentum_at: cycle_momentum is off");
  const auto [s, scale] = position(epoch);
  return max_momentums_[g] - (max_momentums_[g] - base_momentums_[g]) * s * scale;
}

void CyclicLR::apply_side_values(int64_t epoch) {
  if (momentum_key_.empty()) return;
  auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size() && g < max_momentums_.size(); ++g)
    groups[g].options().set_value(momentum_key_, momentum_at(epoch, g));
}

// ---- SequentialLR ---------------------------------------------------------------------------------
SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::unique_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  NB_CHECK(!schedulers_.empty(), "[SequentialLR] invalid schedulers: none given (expected at least one)");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    NB_CHECK(schedulers_[i] != nullptr, "[SequentialLR] invalid schedulers: scheduler ", i, " is null");
    NB_CHECK(&schedulers_[i]->optimizer() == &optimizer, "[SequentialLR] invalid schedulers: scheduler ", i, " (",
             schedulers_[i]->name(), ") is attached to another optimizer");
  }
  NB_CHECK(milestones_.size() + 1 == schedulers_.size(), "[SequentialLR] invalid milestones: ", milestones_.size(),
           " milestones for ", schedulers_.size(), " schedulers (expected one fewer milestone than schedulers)");
  for (size_t i = 0; i < milestones_.size(); ++i)
    NB_CHECK(milestones_[i] > (i ? milestones_[i - 1] : 0), "[SequentialLR] invalid milestones: milestone ", i, " is ",
             milestones_[i], " (milestones must be > 0 and increasing)");
  // Each scheduler wrote its epoch 0 when it was made; as PyTorch, start again from the
  // initial lr, so those writes are not taken for another scheduler's change.
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer.param_groups()[g].options().set_lr(base_lrs_[g]);
  initial_step();
}

std::pair<LRScheduler*, int64_t> SequentialLR::locate(int64_t epoch) const {
  const size_t i = size_t(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  return {schedulers_[i].get(), i == 0 ? epoch : epoch - milestones_[i - 1]};
}

double SequentialLR::lr_at(int64_t epoch, size_t g) const {
  const auto [s, e] = locate(epoch);
  return s->lr_at(e, g);
}

void SequentialLR::apply_side_values(int64_t epoch) {
  const auto [s, e] = locate(epoch);
  s->apply_side_values(e);
}

io::Metadata SequentialLR::state_dict() const {
  io::Metadata m = LRScheduler::state_dict();
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (const auto& [k, v] : schedulers_[i]->state_dict()) m["schedulers." + std::to_string(i) + "." + k] = v;
  return m;
}

void SequentialLR::load_state_dict(const io::Metadata& m) {
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    const std::string pre = "schedulers." + std::to_string(i) + ".";
    io::Metadata inner;
    for (const auto& [k, v] : m)
      if (k.rfind(pre, 0) == 0) inner[k.substr(pre.size())] = v;
    schedulers_[i]->load_state_dict(inner);
  }
  LRScheduler::load_state_dict(m);
}

// ---- OneCycleLR ---------------------------------------------------------------------------------
OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, OneCycleLROptions options)
    : OneCycleLR(optimizer, std::vector<double>{max_lr}, options) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, OneCycleLROptions o)
    : LRScheduler(optimizer), o_(o) {
  auto& groups = optimizer.param_groups();
  NB_CHECK(o.total_steps > 0, "[OneCycleLR] invalid total_steps: ", o.total_steps, " (must be > 0)");
  NB_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "[OneCycleLR] invalid pct_start: ", o.pct_start,
           " (must be in [0, 1])");
  NB_CHECK(o.div_factor > 0, "[OneCycleLR] invalid div_factor: ", o.div_factor, " (must be > 0)");
  NB_CHECK(o.final_div_factor > 0, "[OneCycleLR] invalid final_div_factor: ", o.final_div_factor, " (must be > 0)");
  NB_CHECK(max_lr.size() == 1 || max_lr.size() == groups.size(), "[OneCycleLR] invalid max_lr: ", max_lr.size(),
           " values for ", groups.size(), " parameter groups");
  const double T = double(o.total_steps);
  if (o.three_phase) {
    phases_ = {{o.pct_start * T - 1, 0, 1, true, false},
               {2 * o.pct_start * T - 2, 1, 0, false, true},
               {T - 1, 0, 2, true, true}};
  } else {
    phases_ = {{o.pct_start * T - 1, 0, 1, true, false}, {T - 1, 1, 2, false, true}};
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const double mx = max_lr.size() == 1 ? max_lr[0] : max_lr[g];
    NB_CHECK(mx >= 0, "[OneCycleLR] invalid max_lr: ", mx, " (must be >= 0)");
    const double initial = mx / o.div_factor;
    lrs_.push_back({initial, mx, initial / o.final_div_factor});
    groups[g].set_initial_lr(initial);
    groups[g].options().set_lr(initial);  // the cycle starts here: not another scheduler's change
    base_lrs_[g] = initial;
  }
  if (o.cycle_momentum) {
    momentum_key_ = momentum_key(optimizer);
    NB_CHECK(!momentum_key_.empty(), "[OneCycleLR] invalid cycle_momentum: ", optimizer.name(),
             " has neither momentum nor betas; pass cycle_momentum = false");
  }
  locate(o.total_steps);  // the last allowed step (a last phase of zero length fails here, not then)
  initial_step();
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t epoch) const {
  NB_CHECK(epoch <= o_.total_steps, "[OneCycleLR] tried to step ", epoch, " times; total_steps is ", o_.total_steps);
  double start = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& ph = phases_[i];
    if (double(epoch) <= ph.end_step || i + 1 == phases_.size()) {
      // A phase of zero length has no position to interpolate (0 / 0 gave a NaN lr); PyTorch
      // raises ZeroDivisionError here too.
      NB_CHECK(ph.end_step != start, "[OneCycleLR] phase ", i + 1, " of the schedule has zero length at step ", epoch,
               " (pct_start ", o_.pct_start, " x total_steps ", o_.total_steps,
               "): choose them so that every phase spans at least one step");
      return {&ph, (double(epoch) - start) / (ph.end_step - start)};
    }
    start = ph.end_step;
  }
  return {&phases_.back(), 1.0};
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  return o_.anneal_strategy == AnnealStrategy::Cos ? cosine(start, end, pct) : (end - start) * pct + start;
}

double OneCycleLR::lr_at(int64_t epoch, size_t g) const {
  auto [ph, pct] = locate(epoch);
  return anneal(lrs_[g][ph->start_lr], lrs_[g][ph->end_lr], pct);
}

double OneCycleLR::momentum_at(int64_t epoch) const {
  auto [ph, pct] = locate(epoch);
  return anneal(ph->start_max_m ? o_.max_momentum : o_.base_momentum,
                ph->end_max_m ? o_.max_momentum : o_.base_momentum, pct);
}

void OneCycleLR::apply_side_values(int64_t epoch) {
  if (momentum_key_.empty()) return;
  const double m = momentum_at(epoch);
  for (auto& g : optimizer_->param_groups()) g.options().set_value(momentum_key_, m);
}

// ---- ReduceLROnPlateau ----------------------------------------------------------------------------
ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions o)
    : Scheduler(optimizer), o_(std::move(o)) {
  const size_t ng = optimizer.param_groups().size();
  NB_CHECK(o_.factor < 1.0 && o_.factor >= 0, "[ReduceLROnPlateau] invalid factor: ", o_.factor,
           " (must be in [0, 1))");
  NB_CHECK(o_.patience >= 0, "[ReduceLROnPlateau] invalid patience: ", o_.patience, " (must be >= 0)");
  NB_CHECK(o_.cooldown >= 0, "[ReduceLROnPlateau] invalid cooldown: ", o_.cooldown, " (must be >= 0)");
  NB_CHECK(o_.threshold >= 0, "[ReduceLROnPlateau] invalid threshold: ", o_.threshold, " (must be >= 0)");
  NB_CHECK(o_.min_lr.size() == 1 || o_.min_lr.size() == ng, "[ReduceLROnPlateau] invalid min_lr: ",
           o_.min_lr.size(), " values for ", ng, " parameter groups");
  best_ = o_.mode == ReduceLROnPlateauOptions::Min ? INFINITY : -INFINITY;
  last_epoch_ = 0;
  for (auto& g : optimizer.param_groups()) last_lr_.push_back(g.options().get_lr());
}

bool ReduceLROnPlateau::is_better(double a) const {
  using O = ReduceLROnPlateauOptions;
  if (o_.mode == O::Min) return o_.threshold_mode == O::Rel ? a < best_ * (1.0 - o_.threshold) : a < best_ - o_.threshold;
  return o_.threshold_mode == O::Rel ? a > best_ * (1.0 + o_.threshold) : a > best_ + o_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  auto& groups = optimizer_->param_groups();
  // One min_lr serves every group, also groups added since (as PyTorch repeats a scalar); a list
  // must still have one value per group (it used to be read past its end after add_param_group).
  NB_CHECK(o_.min_lr.size() == 1 || o_.min_lr.size() == groups.size(), "[ReduceLROnPlateau] min_lr has ",
           o_.min_lr.size(), " values, but the optimizer has ", groups.size(),
           " parameter groups now; give one value for all groups or one per group");
  if (num_bad_epochs_ > o_.patience) {
    for (size_t g = 0; g < groups.size(); ++g) {
      const double old_lr = groups[g].options().get_lr();
      const double floor = o_.min_lr[o_.min_lr.size() == 1 ? 0 : g];
      const double new_lr = std::max(old_lr * o_.factor, floor);
      if (old_lr - new_lr > o_.eps) groups[g].options().set_lr(new_lr);
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) last_lr_[g] = groups[g].options().get_lr();
}

io::Metadata ReduceLROnPlateau::state_dict() const {
  io::Metadata m = Scheduler::state_dict();
  m["best"] = detail::format_double(best_);
  m["num_bad_epochs"] = std::to_string(num_bad_epochs_);
  m["cooldown_counter"] = std::to_string(cooldown_counter_);
  return m;
}

void ReduceLROnPlateau::load_state_dict(const io::Metadata& m) {
  const double best = detail::parse_double(get(m, "best", name()), "best");
  const int64_t bad = get_int(m, "num_bad_epochs", name()), cool = get_int(m, "cooldown_counter", name());
  Scheduler::load_state_dict(m);
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cool;
}

}  // namespace nabla::optim
