// MixUp and CutMix (nabla/data/mix.h), as torchvision.transforms.v2 does them: the partner of
// example i is example i-1 (the batch rolled by one along dim 0), labels mixed as one-hot
// vectors. Tensor ops only, so a batch already on a GPU is mixed there.
#include "nabla/data/mix.h"

#include <algorithm>
#include <cmath>

#include "nabla/error.h"
#include "nabla/ops.h"

namespace nabla::data {

namespace {

/// The log of a Gamma(a, 1) draw, a > 0: Marsaglia and Tsang (2000), with the a < 1 boost
/// Gamma(a + 1)·U^{1/a} taken as a sum of logs. In log space because U^{1/a} underflows to 0
/// for small a (alpha 1e-3: for half of all U), and two zero draws made Beta's x / (x + y) NaN.
double log_gamma_draw(Rng& rng, double a) {
  if (a < 1) {
    const double u = 1.0 - rng.uniform(0.0, 1.0);  // in (0, 1]: its log is finite
    return log_gamma_draw(rng, a + 1) + std::log(u) / a;
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.uniform(0.0, 1.0);
    if (u < 1.0 - 0.0331 * x * x * x * x) return std::log(d * v);
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return std::log(d * v);
  }
}

void check_batch(const Batch& b, int64_t num_classes, const char* op) {
  NB_CHECK(num_classes > 0, "[", op, "] num_classes must be positive, got ", num_classes);
  NB_CHECK(b.inputs.defined() && b.targets.defined(), "[", op, "] the batch has no inputs or no targets");
  NB_CHECK(b.targets.dtype() == DType::i64 && b.targets.dim() == 1, "[", op,
           "] targets must be i64 class indices [B], got ", b.targets.dtype(), " of shape ", b.targets.shape(),
           " (a batch that was mixed already has probability targets)");
  NB_CHECK(b.inputs.dim() >= 1 && b.inputs.size(0) == b.targets.size(0), "[", op, "] inputs of shape ",
           b.inputs.shape(), " do not match targets of shape ", b.targets.shape());
  NB_CHECK(is_floating(b.inputs.dtype()), "[", op, "] inputs must be floating, got ", b.inputs.dtype());
}

/// CutMix pastes boxes of images: inputs [B, C, H, W].
void check_images(const Tensor& x) {
  NB_CHECK(x.defined() && x.dim() == 4, "[cutmix] inputs must be images [B, C, H, W], got shape ",
           x.defined() ? x.shape() : Shape{});
}

void check_alpha(double alpha, int64_t num_classes, const char* op) {
  NB_CHECK(alpha > 0 && std::isfinite(alpha), "[", op, "] alpha must be positive, got ", alpha);
  NB_CHECK(num_classes > 0, "[", op, "] num_classes must be positive, got ", num_classes,
           " (the mixed targets are probabilities over the classes)");
}

/// λ·onehot(y) + (1-λ)·onehot(y rolled by one).
Tensor mixed_targets(const Batch& b, double lambda, int64_t num_classes) {
  const Tensor oh = one_hot(b.targets, num_classes, b.inputs.dtype());
  return oh * lambda + roll(oh, 1, 0) * (1.0 - lambda);
}

}  // namespace

double sample_beta(Rng& rng, double a, double b) {
  NB_CHECK(a > 0 && b > 0, "[sample_beta] parameters must be positive, got (", a, ", ", b, ")");
  // x / (x + y) = 1 / (1 + e^{log y - log x}), finite for any pair of finite logs.
  const double lx = log_gamma_draw(rng, a), ly = log_gamma_draw(rng, b);
  return 1.0 / (1.0 + std::exp(ly - lx));
}

Batch mixup_batch(const Batch& batch, double lambda, int64_t num_classes) {
  check_batch(batch, num_classes, "mixup");
  NB_CHECK(lambda >= 0 && lambda <= 1, "[mixup] lambda must be in [0, 1], got ", lambda);
  return {batch.inputs * lambda + roll(batch.inputs, 1, 0) * (1.0 - lambda), mixed_targets(batch, lambda, num_classes)};
}

CutMixBox cutmix_box(Rng& rng, double lambda, int64_t h, int64_t w) {
  const double r_x = rng.uniform(0.0, double(w)), r_y = rng.uniform(0.0, double(h));
  const double r = 0.5 * std::sqrt(1.0 - lambda);
  const auto half_w = int64_t(r * double(w)), half_h = int64_t(r * double(h));
  const auto cx = int64_t(r_x), cy = int64_t(r_y);
  return {std::max<int64_t>(cy - half_h, 0), std::min(cy + half_h, h), std::max<int64_t>(cx - half_w, 0),
          std::min(cx + half_w, w)};
}

Batch cutmix_batch(const Batch& batch, const CutMixBox& box, int64_t num_classes) {
  check_batch(batch, num_classes, "cutmix");
  const Tensor& x = batch.inputs;
  check_images(x);
  const int64_t h = x.size(2), w = x.size(3);
  NB_CHECK(0 <= box.y1 && box.y1 <= box.y2 && box.y2 <= h && 0 <= box.x1 && box.x1 <= box.x2 && box.x2 <= w,
           "[cutmix] box rows [", box.y1, ", ", box.y2, ") columns [", box.x1, ", ", box.x2,
           ") does not lie in the ", h, " x ", w, " image");
  // The box as a [1, 1, H, W] mask, made on the host (H·W bytes) and moved to the batch's device.
  std::vector<uint8_t> m(size_t(h * w), 0);
  for (int64_t y = box.y1; y < box.y2; ++y)
    std::fill(m.begin() + y * w + box.x1, m.begin() + y * w + box.x2, uint8_t(1));
  const Tensor mask = from_vector<uint8_t>(m, {1, 1, h, w}, DType::boolean).to(x.device());
  const double lambda = 1.0 - double(box.area()) / double(h * w);
  return {where(mask, roll(x, 1, 0), x), mixed_targets(batch, lambda, num_classes)};
}

MixUp::MixUp(const MixUpOptions& o) : options_(o) { check_alpha(o.alpha, o.num_classes, "MixUp"); }

Batch MixUp::operator()(const Batch& batch, Rng& rng) const {
  return mixup_batch(batch, sample_beta(rng, options_.alpha, options_.alpha), options_.num_classes);
}

CutMix::CutMix(const CutMixOptions& o) : options_(o) { check_alpha(o.alpha, o.num_classes, "CutMix"); }

Batch CutMix::operator()(const Batch& batch, Rng& rng) const {
  check_images(batch.inputs);  // before cutmix_box reads H and W
  const double lambda = sample_beta(rng, options_.alpha, options_.alpha);
  return cutmix_batch(batch, cutmix_box(rng, lambda, batch.inputs.size(2), batch.inputs.size(3)), options_.num_classes);
}

}  // namespace nabla::data
