// GradScaler (nabla/optim/grad_scaler.h), following torch.amp.GradScaler's rules: the overflow
// check reads the scaled gradients (as PyTorch's fused check-and-unscale kernel does), step()
// skips the optimizer when any gradient is inf/NaN, update() backs off or grows the scale.
#include "nabla/optim/grad_scaler.h"

#include <cmath>
#include <limits>

#include "nabla/autograd.h"
#include "nabla/ops.h"
#include "nabla/ops/optim_update.h"
#include "nabla/parse_number.h"

namespace nabla::amp {
namespace {

void check_options(const GradScalerOptions& o) {
  NB_CHECK(std::isfinite(o.init_scale) && o.init_scale > 0, "[GradScaler] init_scale must be positive and finite, got ",
           o.init_scale);
  NB_CHECK(std::isfinite(o.growth_factor) && o.growth_factor > 1, "[GradScaler] growth_factor must be > 1, got ",
           o.growth_factor);
  NB_CHECK(o.backoff_factor > 0 && o.backoff_factor < 1, "[GradScaler] backoff_factor must be in (0, 1), got ",
           o.backoff_factor);
  NB_CHECK(o.growth_interval > 0, "[GradScaler] growth_interval must be positive, got ", o.growth_interval);
}

std::vector<Tensor> grads_of(const optim::Optimizer& opt) {
  std::vector<Tensor> grads;
  for (const Tensor& p : opt.parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

}  // namespace

GradScaler::GradScaler(const GradScalerOptions& o)
    : scale_(o.init_scale),
      growth_factor_(o.growth_factor),
      backoff_factor_(o.backoff_factor),
      growth_interval_(o.growth_interval),
      enabled_(o.enabled) {
  check_options(o);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!enabled_) return loss;
  NB_CHECK(loss.defined() && loss.is_floating_point(), "[GradScaler] scale() expects a floating loss, got ",
           loss.defined() ? dtype_name(loss.dtype()) : "an undefined tensor");
  // The scale is an f32 0-d tensor, as PyTorch's _scale: type promotion then keeps a dimensioned
  // f16/bf16 loss in its dtype but makes a 0-d one (the usual mean loss) f32, and the value is
  // the scale rounded to f32, as PyTorch multiplies by.
  return loss * full({}, scale_, {.dtype = DType::f32, .device = loss.device()});
}

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!enabled_) return;
  PerOptimizer& st = per_optimizer_[&optimizer];
  NB_CHECK(st.stage == Stage::ready, "[GradScaler] unscale_() has already been called on this optimizer ",
           st.stage == Stage::stepped ? "and it stepped " : "", "since the last update()");
  NoGradGuard ng;
  std::vector<Tensor> grads = grads_of(optimizer);
  // As PyTorch ("Attempting to unscale FP16 gradients."): f16 gradients belong to f16
  // parameters, whose loss-scaled gradients would be divided in f16 and whose updates lose small
  // steps to rounding; loss scaling is for f32 weights under autocast. bf16 gradients are
  // unscaled (PyTorch checks for float16 only): bf16 has float's range, so they seldom need it.
  for (const Tensor& g : grads)
    NB_CHECK(g.dtype() != DType::f16, "[GradScaler] can't unscale f16 gradients (a parameter of shape ", g.shape(),
             " is f16; PyTorch: \"Attempting to unscale FP16 gradients.\"): keep f32 parameters and run the ",
             "forward pass under autocast, or train bf16 parameters without a GradScaler");
  // One max-norm over all gradients is inf or NaN exactly when some element is: one read per
  // step, as PyTorch's found_inf.item() in step().
  st.found_inf = !grads.empty() && !std::isfinite(foreach_norm(grads, std::numeric_limits<double>::infinity()));
  // 1/scale rounded to f32 as PyTorch's inv_scale (exact for the powers of two scales usually are).
  if (!grads.empty()) foreach_mul_(grads, double(float(1.0 / scale_)));
  st.stage = Stage::unscaled;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  PerOptimizer& st = per_optimizer_[&optimizer];
  NB_CHECK(st.stage != Stage::stepped, "[GradScaler] step() has already been called on this optimizer since the "
           "last update()");
  if (st.stage == Stage::ready) unscale_(optimizer);
  st.stage = Stage::stepped;
  if (st.found_inf) return false;
  optimizer.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!enabled_) return;
  if (new_scale) {
    NB_CHECK(std::isfinite(*new_scale) && *new_scale > 0, "[GradScaler] update(): new_scale must be positive and "
             "finite, got ", *new_scale);
    scale_ = *new_scale;
  } else {
    NB_CHECK(!per_optimizer_.empty(), "[GradScaler] update() without any unscale_() or step() since the last one: "
             "no gradients were checked");
    bool any_inf = false;
    for (const auto& [opt, st] : per_optimizer_) any_inf = any_inf || st.found_inf;
    if (any_inf) {
      scale_ *= backoff_factor_;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == growth_interval_) {
      // f32 arithmetic as PyTorch's _amp_update_scale_ (the scale is an f32 tensor there); an
      // overflow to inf keeps the old scale.
      const float grown = float(scale_) * float(growth_factor_);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    }
  }
  per_optimizer_.clear();
}

bool GradScaler::found_inf(const optim::Optimizer& optimizer) const {
  auto it = per_optimizer_.find(&optimizer);
  return it != per_optimizer_.end() && it->second.found_inf;
}

io::Metadata GradScaler::state_dict() const {
  return {{"scale", optim::detail::format_double(scale_)},
          {"growth_factor", optim::detail::format_double(growth_factor_)},
          {"backoff_factor", optim::detail::format_double(backoff_factor_)},
          {"growth_interval", std::to_string(growth_interval_)},
          {"growth_tracker", std::to_string(growth_tracker_)}};
}

void GradScaler::load_state_dict(const io::Metadata& state) {
  auto get = [&](const char* key) -> const std::string& {
    auto it = state.find(key);
    NB_CHECK(it != state.end(), "[GradScaler] load_state_dict: missing \"", key, "\"");
    return it->second;
  };
  GradScalerOptions o;
  o.init_scale = optim::detail::parse_double(get("scale"), "GradScaler scale");
  o.growth_factor = optim::detail::parse_double(get("growth_factor"), "GradScaler growth_factor");
  o.backoff_factor = optim::detail::parse_double(get("backoff_factor"), "GradScaler backoff_factor");
  const std::optional<int64_t> interval = parse_number<int64_t>(get("growth_interval"));
  const std::optional<int64_t> tracker = parse_number<int64_t>(get("growth_tracker"));
  NB_CHECK(interval && tracker, "[GradScaler] load_state_dict: growth_interval \"", get("growth_interval"),
           "\" and growth_tracker \"", get("growth_tracker"), "\" must be integers");
  o.growth_interval = *interval;
  check_options(o);
  NB_CHECK(*tracker >= 0 && *tracker < *interval, "[GradScaler] load_state_dict: growth_tracker ", *tracker,
           " must be in [0, growth_interval = ", *interval, ")");
  scale_ = o.init_scale;
  growth_factor_ = o.growth_factor;
  backoff_factor_ = o.backoff_factor;
  growth_interval_ = o.growth_interval;
  growth_tracker_ = *tracker;
  per_optimizer_.clear();
}

}  // namespace nabla::amp
