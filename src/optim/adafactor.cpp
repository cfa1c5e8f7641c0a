// Adafactor: PyTorch's torch.optim.Adafactor (_single_tensor_adafactor). On the CPU (option
// `fused`, the default) each parameter's step is one fused kernel (nabla/ops/adafactor_update.h);
// otherwise it is composed from tensor ops, which run on every device. The per-parameter scalars
// (β̂₂, ρ, α and the clipping denominator) are computed in double on the host, as PyTorch does
// with .item() (the fused kernel forms α and the denominator from its own double sums).
#include "nabla/optim/adafactor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nabla/ops.h"
#include "nabla/ops/adafactor_update.h"

namespace nabla::optim {

using detail::check_non_negative;

void AdafactorOptions::validate() const {
  check_non_negative("Adafactor", "lr", lr());
  NB_CHECK(beta2_decay() <= 0, "[Adafactor] invalid beta2_decay: ", beta2_decay(),
           " (must be <= 0: 1 - t^beta2_decay is the weight of the new squared gradient)");
  if (eps1()) check_non_negative("Adafactor", "eps1", *eps1());
  check_non_negative("Adafactor", "eps2", eps2());
  NB_CHECK(d() >= 1, "[Adafactor] invalid d: ", d(), " (the clipping threshold must be >= 1)");
  check_non_negative("Adafactor", "weight_decay", weight_decay());
}

Adafactor::Adafactor(std::vector<OptimizerParamGroup> groups, AdafactorOptions defaults)
    : Optimizer(std::move(groups), std::make_unique<AdafactorOptions>(defaults)) {}
Adafactor::Adafactor(std::vector<Tensor> params, AdafactorOptions defaults)
    : Adafactor(detail::one_group(std::move(params)), std::move(defaults)) {}

namespace {

bool is_factored(const Tensor& p) { return p.dim() >= 2; }

/// The parameter's shape with dimension `from_end` (1 = last) set to 1.
Shape squeezed_shape(const Tensor& p, size_t from_end) {
  Shape s = p.shape();
  s[s.size() - from_end] = 1;
  return s;
}

/// buf ← buf + w·(target - buf): the exponential average with weight w on the new value.
void lerp_into(Tensor& buf, const Tensor& target, double w) { buf.add_(target - buf, w); }

double rms(const Tensor& t) { return norm(t).item_double() / std::sqrt(double(t.numel())); }

/// torch.finfo(dtype).eps: the gap between 1 and the next value of `dt`.
double machine_epsilon(DType dt) {
  switch (dt) {
    case DType::f64: return std::numeric_limits<double>::epsilon();
    case DType::bf16: return 0.0078125;      // 2^-7: 7 mantissa bits
    case DType::f16: return 0.0009765625;    // 2^-10: 10 mantissa bits
    default: return double(std::numeric_limits<float>::epsilon());
  }
}

}  // namespace

std::optional<Shape> Adafactor::state_shape(size_t buffer, const Tensor& param) const {
  if (is_factored(param)) {
    if (buffer == 2) return std::nullopt;
    return squeezed_shape(param, buffer == 0 ? 1 : 2);
  }
  if (buffer == 2) return param.shape();
  return std::nullopt;
}

void Adafactor::update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) {
  const auto& o = group_options<AdafactorOptions>(group);
  auto& params = group.params();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = params[i];
    if (!p.impl().grad) continue;
    ParamState& st = *states[i];
    st.initialized = true;
    const TensorOptions like{.dtype = p.dtype(), .device = p.device()};
    if (is_factored(p)) {
      if (!st.buffers[0].defined()) st.buffers[0] = zeros(squeezed_shape(p, 1), like);
      if (!st.buffers[1].defined()) st.buffers[1] = zeros(squeezed_shape(p, 2), like);
    } else if (!st.buffers[2].defined()) {
      st.buffers[2] = zeros_like(p);
    }
    st.step += 1;
    if (p.numel() == 0) continue;  // nothing to update; RMS(p) would be 0/0

    if (o.fused() && has_fused_adafactor(p.device())) {
      const double t = double(st.step);
      AdafactorStepScalars s;
      s.new_weight = std::pow(t, o.beta2_decay());
      s.rho = std::min(o.lr(), 1.0 / std::sqrt(t));
      s.eps1 = o.eps1().value_or(machine_epsilon(p.dtype()));
      s.eps2 = o.eps2();
      s.d = o.d();
      s.decay = o.weight_decay() != 0 ? 1.0 - o.lr() * o.weight_decay() : 1.0;
      s.maximize = o.maximize();
      adafactor_update_(p, Tensor(p.impl().grad), st.buffers[0], st.buffers[1], st.buffers[2], s);
      continue;
    }

    // 16-bit parameters (pure bf16/f16 training): the update is composed in f32 temporaries
    // (parameter, gradient and statistics widened, which is exact) and the parameter and the
    // statistics are rounded once at the end, as the fused optimizers' opmath kernels do; composing
    // it from 16-bit ops would round every intermediate (g², the means, R·Cᵀ, the rsqrt).
    const bool narrow = is_half(p.dtype());
    auto widened = [&](const Tensor& t) { return narrow ? t.to(kF32) : t; };
    Tensor w = widened(p);
    const Tensor grad = widened(Tensor(p.impl().grad));
    const Tensor g = o.maximize() ? neg(grad) : grad;
    const double t = double(st.step);
    const double new_weight = std::pow(t, o.beta2_decay());  // 1 - β̂₂
    const double rho = std::min(o.lr(), 1.0 / std::sqrt(t));
    const double alpha = std::max(o.eps2(), rms(w)) * rho;  // from p before the weight decay, as PyTorch
    // PyTorch: eps1 defaults to torch.finfo(param.dtype).eps, the parameter's own dtype's.
    const double eps1 = o.eps1().value_or(machine_epsilon(p.dtype()));
    if (o.weight_decay() != 0) w.mul_(1.0 - o.lr() * o.weight_decay());

    Tensor var;
    if (is_factored(p)) {
      Tensor row = widened(st.buffers[0]);
      Tensor col = widened(st.buffers[1]);
      const Tensor g2 = square(g);
      lerp_into(row, mean(g2, {-1}, true), new_weight);
      lerp_into(col, mean(g2, {-2}, true), new_weight);
      // R·Cᵀ over-counts the total by mean(R): the rank-1 estimate of E[g²] divides it out.
      var = matmul(row, col) / clamp(mean(row, {-2}, true), eps1, std::nullopt);
      if (narrow) st.buffers[0].copy_(row), st.buffers[1].copy_(col);
    } else {
      var = widened(st.buffers[2]);
      lerp_into(var, square(g), new_weight);
      if (narrow) st.buffers[2].copy_(var);
    }
    const Tensor u = rsqrt(clamp(var, eps1 * eps1, std::nullopt)) * g;  // eps1² under the root keeps its scale
    const double denom = std::max(1.0, rms(u) / o.d());
    w.add_(u, -alpha / denom);
    if (narrow) p.copy_(w);
  }
}

}  // namespace nabla::optim
