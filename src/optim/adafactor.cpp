// Adafactor: PyTorch's torch.optim.Adafactor (_single_tensor_adafactor), composed from tensor
// ops so it runs on every device. The per-parameter scalars (β̂₂, ρ, α and the clipping
// denominator) are computed in double on the host, as PyTorch does with .item().
#include "nabla/optim/adafactor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nabla/ops.h"

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

    const Tensor grad(p.impl().grad);
    const Tensor g = o.maximize() ? neg(grad) : grad;
    const double t = double(st.step);
    const double new_weight = std::pow(t, o.beta2_decay());  // 1 - β̂₂
    const double rho = std::min(o.lr(), 1.0 / std::sqrt(t));
    const double alpha = std::max(o.eps2(), rms(p)) * rho;  // from p before the weight decay, as PyTorch
    const double eps1 = o.eps1().value_or(p.dtype() == kF64 ? std::numeric_limits<double>::epsilon()
                                                            : double(std::numeric_limits<float>::epsilon()));
    if (o.weight_decay() != 0) p.mul_(1.0 - o.lr() * o.weight_decay());

    Tensor var;
    if (is_factored(p)) {
      Tensor& row = st.buffers[0];
      Tensor& col = st.buffers[1];
      const Tensor g2 = square(g);
      lerp_into(row, mean(g2, {-1}, true), new_weight);
      lerp_into(col, mean(g2, {-2}, true), new_weight);
      // R·Cᵀ over-counts the total by mean(R): the rank-1 estimate of E[g²] divides it out.
      var = matmul(row, col) / clamp(mean(row, {-2}, true), eps1, std::nullopt);
    } else {
      lerp_into(st.buffers[2], square(g), new_weight);
      var = st.buffers[2];
    }
    const Tensor u = rsqrt(clamp(var, eps1 * eps1, std::nullopt)) * g;  // eps1² under the root keeps its scale
    const double denom = std::max(1.0, rms(u) / o.d());
    p.add_(u, -alpha / denom);
  }
}

}  // namespace nabla::optim
