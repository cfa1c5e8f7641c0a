// Photometric image ops and the automatic augmentation policies built on them, as
// torchvision.transforms.v2 defines them for float images in [0, 1] (the loaders' images before
// normalize): TrivialAugmentWide (Müller & Hutter 2021: one op per image, uniform over the ops
// and over 31 strengths) and RandAugment (Cubuk et al. 2020: num_ops ops at one fixed strength).
// Images are f32 CPU tensors [C, H, W] or [H, W]; results stay in [0, 1].
//
// One difference from torchvision: the geometric ops (shear, translate, rotate) interpolate
// bilinearly (warp_affine), where torchvision's policies default to nearest-neighbour.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/data/transforms.h"

namespace nabla::data {

// ---- photometric ops (torchvision.transforms.v2.functional's, float images) ------------------

/// clamp(x·factor, 0, 1); factor >= 0.
Tensor adjust_brightness(const Tensor& image, double factor);
/// clamp(factor·x + (1 - factor)·m, 0, 1), m the mean of the image's grayscale (ITU-R 601-2
/// luma 0.2989 R + 0.587 G + 0.114 B for 3 channels, the pixels themselves for 1).
Tensor adjust_contrast(const Tensor& image, double factor);
/// 3 channels: blend with the grayscale image by factor; 1 channel: unchanged.
Tensor adjust_saturation(const Tensor& image, double factor);
/// Blend with the image smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 (border pixels kept):
/// factor 0 blurs, 1 is the identity, above 1 sharpens.
Tensor adjust_sharpness(const Tensor& image, double factor);
/// floor(x·2^bits) / 2^bits, clamped to the 2^bits levels; bits in [1, 8].
Tensor posterize(const Tensor& image, int64_t bits);
/// 1 - x where x >= threshold, else x.
Tensor solarize(const Tensor& image, double threshold);
/// Each channel stretched linearly so its minimum goes to 0 and its maximum to 1 (a flat channel
/// is left as it is).
Tensor autocontrast(const Tensor& image);
/// Histogram equalization of each channel's 8-bit values (floor(x·255.999), as torchvision's
/// float-to-uint8 conversion), PIL's algorithm, back to [0, 1] as v / 255.
Tensor equalize(const Tensor& image);

// ---- the policies ---------------------------------------------------------------------------

/// One op of a policy: its name ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY",
/// "Rotate", "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
/// "AutoContrast", "Equalize") and signed magnitude (shear: tan of the angle; translate: pixels;
/// rotate: degrees; the four enhancements: factor - 1; posterize: bits; solarize: threshold).
struct AugmentOp {
  std::string name;
  double magnitude = 0;
};
/// The op applied to `image`; `fill` outside the image for the geometric ones.
Tensor apply_augment_op(const Tensor& image, const AugmentOp& op, float fill = 0.f);

struct TrivialAugmentWideOptions {
  int64_t num_bins = 31;
  float fill = 0.f;
};
/// The op TrivialAugmentWide applies: one of the 14 uniformly, a strength bin uniformly, a random
/// sign for the signed ops.
AugmentOp sample_trivial_augment_op(Rng& rng, const TrivialAugmentWideOptions& options = {});
Transform trivial_augment_wide(const TrivialAugmentWideOptions& options = {});

struct RandAugmentOptions {
  int64_t num_ops = 2;
  int64_t magnitude = 9;  ///< strength bin, in [0, num_bins)
  int64_t num_bins = 31;
  float fill = 0.f;
};
/// The num_ops ops RandAugment applies to an h x w image (translations scale with the size).
std::vector<AugmentOp> sample_rand_augment_ops(Rng& rng, int64_t h, int64_t w, const RandAugmentOptions& options = {});
Transform rand_augment(const RandAugmentOptions& options = {});

}  // namespace nabla::data
