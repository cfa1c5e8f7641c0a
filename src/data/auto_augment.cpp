// TrivialAugmentWide and RandAugment (torchvision.transforms.v2's augmentation spaces and draws)
// over the photometric ops of photometric.cpp and the warps of transforms.cpp.
#include <array>
#include <cmath>

#include "image_util.h"
#include "nabla/data/auto_augment.h"

namespace nabla::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

/// How an op's strength grows over the bins: linspace(0, top) (or the posterize/solarize rules).
enum class Scale { None, Linear, Posterize, Solarize };
struct OpSpace {
  const char* name;
  Scale scale;
  double top;  ///< Linear: the last bin's magnitude; Posterize: the bits dropped at the last bin
  bool signed_;
};

/// magnitudes[bin] of torchvision's space: linspace(0, top, bins)[bin]; posterize
/// 8 - round(bin / ((bins - 1) / top)); solarize linspace(1, 0, bins)[bin].
double magnitude_of(const OpSpace& op, int64_t bin, int64_t bins) {
  const double t = bins > 1 ? double(bin) / double(bins - 1) : 0.0;
  switch (op.scale) {
    case Scale::None: return 0;
    case Scale::Linear: return op.top * t;
    case Scale::Posterize: return 8.0 - std::nearbyint(bins > 1 ? double(bin) / (double(bins - 1) / op.top) : 0.0);
    case Scale::Solarize: return 1.0 - t;
  }
  return 0;
}

AugmentOp draw(Rng& rng, const OpSpace& op, int64_t bin, int64_t bins) {
  double m = magnitude_of(op, bin, bins);
  if (op.signed_ && rng.uniform() <= 0.5f) m = -m;
  return {op.name, m};
}

/// torchvision's TrivialAugmentWide space (translations in pixels, whatever the image size).
const std::array<OpSpace, 14> kTrivialWide = {{{"Identity", Scale::None, 0, false},
                                               {"ShearX", Scale::Linear, 0.99, true},
                                               {"ShearY", Scale::Linear, 0.99, true},
                                               {"TranslateX", Scale::Linear, 32.0, true},
                                               {"TranslateY", Scale::Linear, 32.0, true},
                                               {"Rotate", Scale::Linear, 135.0, true},
                                               {"Brightness", Scale::Linear, 0.99, true},
                                               {"Color", Scale::Linear, 0.99, true},
                                               {"Contrast", Scale::Linear, 0.99, true},
                                               {"Sharpness", Scale::Linear, 0.99, true},
                                               {"Posterize", Scale::Posterize, 6.0, false},
                                               {"Solarize", Scale::Solarize, 0, false},
                                               {"AutoContrast", Scale::None, 0, false},
                                               {"Equalize", Scale::None, 0, false}}};

/// torchvision's RandAugment space for an h x w image (translations up to 150/331 of the size).
std::array<OpSpace, 14> rand_augment_space(int64_t h, int64_t w) {
  return {{{"Identity", Scale::None, 0, false},
           {"ShearX", Scale::Linear, 0.3, true},
           {"ShearY", Scale::Linear, 0.3, true},
           {"TranslateX", Scale::Linear, 150.0 / 331.0 * double(w), true},
           {"TranslateY", Scale::Linear, 150.0 / 331.0 * double(h), true},
           {"Rotate", Scale::Linear, 30.0, true},
           {"Brightness", Scale::Linear, 0.9, true},
           {"Color", Scale::Linear, 0.9, true},
           {"Contrast", Scale::Linear, 0.9, true},
           {"Sharpness", Scale::Linear, 0.9, true},
           {"Posterize", Scale::Posterize, 4.0, false},
           {"Solarize", Scale::Solarize, 0, false},
           {"AutoContrast", Scale::None, 0, false},
           {"Equalize", Scale::None, 0, false}}};
}

void check_bins(int64_t bins, const char* op) {
  NB_CHECK(bins >= 1, "[", op, "] num_bins must be at least 1, got ", bins);
}

void check_rand_augment(const RandAugmentOptions& o) {
  check_bins(o.num_bins, "RandAugment");
  NB_CHECK(o.num_ops >= 0, "[RandAugment] num_ops must be >= 0, got ", o.num_ops);
  NB_CHECK(o.magnitude >= 0 && o.magnitude < o.num_bins, "[RandAugment] magnitude must be a bin in [0, ", o.num_bins,
           "), got ", o.magnitude);
}

}  // namespace

Tensor apply_augment_op(const Tensor& image, const AugmentOp& op, float fill) {
  const std::string& n = op.name;
  const double m = op.magnitude;
  // torchvision shears about the top-left corner; the warp turns about the centre, so the
  // shear's shift of the centre row (column) is undone by a translation.
  if (n == "ShearX" || n == "ShearY") {
    const image_util::Img im = image_util::check_image(image, "apply_augment_op");
    const double deg = std::atan(m) * 180.0 / kPi, cx = double(im.w - 1) / 2, cy = double(im.h - 1) / 2;
    return n == "ShearX" ? warp_affine(image, affine_matrix(0, m * cy, 0, 1, deg, 0), fill)
                         : warp_affine(image, affine_matrix(0, 0, m * cx, 1, 0, deg), fill);
  }
  if (n == "Identity") return image_util::copy_f32(image_util::check_image(image, "apply_augment_op").t);
  if (n == "TranslateX") return shift(image, int64_t(m), 0, fill);  // int(): torchvision's truncation
  if (n == "TranslateY") return shift(image, 0, int64_t(m), fill);
  if (n == "Rotate") return rotate(image, m, fill);
  if (n == "Brightness") return adjust_brightness(image, 1.0 + m);
  if (n == "Color") return adjust_saturation(image, 1.0 + m);
  if (n == "Contrast") return adjust_contrast(image, 1.0 + m);
  if (n == "Sharpness") return adjust_sharpness(image, 1.0 + m);
  if (n == "Posterize") return posterize(image, int64_t(m));
  if (n == "Solarize") return solarize(image, m);
  if (n == "AutoContrast") return autocontrast(image);
  if (n == "Equalize") return equalize(image);
  fail("[apply_augment_op] unknown op '", n,
       "' (known: Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness, "
       "Posterize, Solarize, AutoContrast, Equalize)");
}

AugmentOp sample_trivial_augment_op(Rng& rng, const TrivialAugmentWideOptions& o) {
  check_bins(o.num_bins, "TrivialAugmentWide");
  const OpSpace& op = kTrivialWide[size_t(rng.randint(0, int64_t(kTrivialWide.size()) - 1))];
  return draw(rng, op, rng.randint(0, o.num_bins - 1), o.num_bins);
}

Transform trivial_augment_wide(const TrivialAugmentWideOptions& o) {
  check_bins(o.num_bins, "TrivialAugmentWide");
  return Transform("trivial_augment_wide", [o](const Tensor& img, Rng& rng) {
    return apply_augment_op(img, sample_trivial_augment_op(rng, o), o.fill);
  });
}

std::vector<AugmentOp> sample_rand_augment_ops(Rng& rng, int64_t h, int64_t w, const RandAugmentOptions& o) {
  check_rand_augment(o);
  const auto space = rand_augment_space(h, w);
  std::vector<AugmentOp> ops;
  for (int64_t k = 0; k < o.num_ops; ++k)
    ops.push_back(draw(rng, space[size_t(rng.randint(0, int64_t(space.size()) - 1))], o.magnitude, o.num_bins));
  return ops;
}

Transform rand_augment(const RandAugmentOptions& o) {
  check_rand_augment(o);  // the options' errors now, not at the first image
  return Transform("rand_augment", [o](const Tensor& img, Rng& rng) {
    const image_util::Img im = image_util::check_image(img, "rand_augment");
    Tensor out = img;
    for (const AugmentOp& op : sample_rand_augment_ops(rng, im.h, im.w, o)) out = apply_augment_op(out, op, o.fill);
    return out;
  });
}

}  // namespace nabla::data
