// Loss scaling for f16 training (PyTorch's torch.amp.GradScaler). f16 flushes gradients below
// 2^-24 to zero, and small gradients are common; multiplying the loss by a large factor S moves
// them into range, and the gradients are divided by S again before the optimizer sees them. When
// a step's gradients overflow (inf or NaN), that step is skipped and S is halved; after
// growth_interval clean steps in a row, S doubles. bf16 has float's range and does not need it.
//
//   amp::GradScaler scaler;
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);                 // optional: to clip the true gradients
//   optim::clip_grad_norm_(params, 1.0);
//   scaler.step(opt);                     // skipped when a gradient is inf/NaN
//   scaler.update();
#pragma once
#include <optional>
#include <unordered_map>

#include "nabla/io/safetensors.h"
#include "nabla/optim/optimizer.h"

namespace nabla::amp {

struct GradScalerOptions {
  double init_scale = 65536.0;  ///< 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  /// Disabled, scale() returns the loss as it is and step() just steps (so one training loop
  /// serves f32, bf16 and f16 runs).
  bool enabled = true;
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& opts = {});

  /// loss * scale (the loss itself when disabled), the scale an f32 0-d tensor as PyTorch's:
  /// a 0-d f16/bf16 loss gives an f32 result, a dimensioned one keeps its dtype (result_type).
  Tensor scale(const Tensor& loss) const;
  /// Divides the gradients of `optimizer`'s parameters by the scale, in place, and records
  /// whether any of them is inf or NaN. At most once per optimizer between update() calls.
  /// f16 gradients (of f16 parameters) are refused, as PyTorch refuses them; bf16 ones are
  /// unscaled in float and rounded once.
  void unscale_(optim::Optimizer& optimizer);
  /// unscale_ (unless done already), then optimizer.step() unless a gradient was inf/NaN.
  /// Returns whether the optimizer stepped.
  bool step(optim::Optimizer& optimizer);
  /// Adjusts the scale after the step(s) of one iteration: backoff when any optimizer's
  /// gradients overflowed, growth after growth_interval clean iterations; or sets `new_scale`.
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const { return enabled_ ? scale_ : 1.0; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return enabled_; }
  /// Whether the last unscale_ of `optimizer` found an inf/NaN gradient (false before any).
  bool found_inf(const optim::Optimizer& optimizer) const;

  /// {"scale", "growth_factor", "backoff_factor", "growth_interval", "growth_tracker"} as
  /// strings that read back to the same doubles (for a checkpoint's metadata).
  io::Metadata state_dict() const;
  /// Restores state_dict(); every key is checked before anything changes.
  void load_state_dict(const io::Metadata& state);

 private:
  enum class Stage { ready, unscaled, stepped };
  struct PerOptimizer {
    Stage stage = Stage::ready;
    bool found_inf = false;
  };
  double scale_, growth_factor_, backoff_factor_;
  int64_t growth_interval_, growth_tracker_ = 0;
  bool enabled_;
  std::unordered_map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace nabla::amp
