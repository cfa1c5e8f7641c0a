// Batch-level augmentations that mix pairs of examples (torchvision.transforms.v2's MixUp and
// CutMix): each example is paired with its neighbour in the batch (the batch rolled by one, as
// torchvision does), λ is drawn from Beta(α, α), and the targets become the same mix of the two
// one-hot labels, so a batch's targets are class probabilities [B, C] for cross_entropy.
//   MixUp (Zhang et al. 2018):  x ← λ·x + (1-λ)·x_rolled.
//   CutMix (Yun et al. 2019):   a box of area ≈ (1-λ)·H·W, centred uniformly in the image (and
//     cut at its borders), is pasted from x_rolled; λ becomes the kept area's exact share.
// Both work on inputs [B, C, H, W] (MixUp also on any [B, ...]) wherever the batch lives; the
// random draws come from the Rng given, so a batch is mixed the same way on every run.
#pragma once
#include <cstdint>

#include "nabla/data/dataset.h"
#include "nabla/data/rng.h"

namespace nabla::data {

/// A draw from Beta(a, b), a, b > 0 (two Gamma draws, Marsaglia and Tsang's method).
double sample_beta(Rng& rng, double a, double b);

/// The box pasted by CutMix: rows [y1, y2), columns [x1, x2).
struct CutMixBox {
  int64_t y1 = 0, y2 = 0, x1 = 0, x2 = 0;
  int64_t area() const { return (y2 - y1) * (x2 - x1); }
};

/// λ·x + (1-λ)·x_rolled with targets λ·onehot(y) + (1-λ)·onehot(y_rolled) (f32, or the inputs'
/// floating dtype). λ in [0, 1].
Batch mixup_batch(const Batch& batch, double lambda, int64_t num_classes);
/// x with `box` pasted from x_rolled; targets weighted by the kept share of the area.
Batch cutmix_batch(const Batch& batch, const CutMixBox& box, int64_t num_classes);
/// torchvision's box for λ and an image of h x w: centre uniform over the image, half-sides
/// ⌊w·√(1-λ)/2⌋ and ⌊h·√(1-λ)/2⌋, cut at the borders.
CutMixBox cutmix_box(Rng& rng, double lambda, int64_t h, int64_t w);

struct MixUpOptions {
  double alpha = 1.0;       ///< Beta(α, α); torchvision's default
  int64_t num_classes = 0;  ///< required
};
/// torchvision.transforms.v2.MixUp: mix(batch, rng) draws λ and mixes.
class MixUp {
 public:
  explicit MixUp(const MixUpOptions& options);
  Batch operator()(const Batch& batch, Rng& rng) const;
  const MixUpOptions& options() const { return options_; }

 private:
  MixUpOptions options_;
};

struct CutMixOptions {
  double alpha = 1.0;
  int64_t num_classes = 0;
};
/// torchvision.transforms.v2.CutMix.
class CutMix {
 public:
  explicit CutMix(const CutMixOptions& options);
  Batch operator()(const Batch& batch, Rng& rng) const;
  const CutMixOptions& options() const { return options_; }

 private:
  CutMixOptions options_;
};

}  // namespace nabla::data
