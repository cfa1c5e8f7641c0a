// Image augmentations as composable, seeded transforms.
//
// Images are f32 tensors [C, H, W] (or [H, W]); x is the column (width) and y the row
// (height), with y pointing down. Geometric warps map an input point p to
//     q = M (p - c) + c + t,   c = ((W - 1) / 2, (H - 1) / 2)   (the image centre),
// and are computed backwards: every output pixel q samples the input bilinearly at
// p = M⁻¹ (q - c - t) + c, with `fill` outside the image. Integer shifts and flips are exact.
//
// A Transform receives an Rng; the DataLoader hands each sample the stream for
// (seed, epoch, sample index), so augmentations do not depend on worker count or order.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/rng.h"
#include "nabla/tensor.h"

namespace nabla::data {

/// A (possibly random) function of one image. Cheap to copy (shared, immutable).
class Transform {
 public:
  using Fn = std::function<Tensor(const Tensor& image, Rng& rng)>;
  Transform() = default;
  Transform(std::string name, Fn fn);
  Tensor operator()(const Tensor& image, Rng& rng) const;
  /// Applies the transform with the stream of sample 0, epoch 0 under `seed`.
  Tensor operator()(const Tensor& image, uint64_t seed) const;
  const std::string& name() const { return name_; }
  explicit operator bool() const { return fn_ != nullptr; }

 private:
  std::string name_;
  Fn fn_;
};

// ---- deterministic image functions (the building blocks; all return new tensors) -----------

/// 2x2 linear part and translation of a warp about the image centre (see the top of this file).
struct Affine {
  double a = 1, b = 0, c = 0, d = 1;  ///< M = [[a, b], [c, d]]
  double tx = 0, ty = 0;              ///< t, in pixels
};
/// M = R(degrees) · Shear(shear_x, shear_y) · scale, t = (tx, ty). Positive degrees turn the
/// image counter-clockwise as displayed; shear_x (degrees) moves lower rows to the right:
/// x' = x + tan(shear_x) y; shear_y: y' = y + tan(shear_y) x.
Affine affine_matrix(double degrees, double tx = 0, double ty = 0, double scale = 1, double shear_x = 0,
                     double shear_y = 0);
/// Bilinear warp (see the top of this file). Errors on a singular M.
Tensor warp_affine(const Tensor& image, const Affine& m, float fill = 0.f);
/// Content moves right by dx and down by dy pixels; exact.
Tensor shift(const Tensor& image, int64_t dx, int64_t dy, float fill = 0.f);
/// Rotation by `degrees` counter-clockwise about the centre (bilinear).
Tensor rotate(const Tensor& image, double degrees, float fill = 0.f);
Tensor hflip(const Tensor& image);  ///< mirror left-right: out[y][x] = in[y][W-1-x]
Tensor vflip(const Tensor& image);  ///< mirror top-bottom: out[y][x] = in[H-1-y][x]
/// The h x w window whose top-left corner is (top, left); parts outside the image are `fill`
/// (so a window in a padded image is a crop with padding).
Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, float fill = 0.f);
/// Bilinear resize to h x w (align_corners = false, as PyTorch's default).
Tensor resize(const Tensor& image, int64_t h, int64_t w);
/// Samples the image at (x + dx[y*W + x], y + dy[y*W + x]) for every pixel (bilinear).
Tensor displace(const Tensor& image, const std::vector<float>& dx, const std::vector<float>& dy,
                float fill = 0.f);
/// Separable Gaussian blur of one H x W field (std `sigma` pixels, truncated at 4 sigma, zeros outside).
std::vector<float> gaussian_blur(const std::vector<float>& field, int64_t h, int64_t w, double sigma);
/// Simard et al. (2003): uniform(-1, 1) displacement fields, Gaussian-smoothed with `sigma`,
/// scaled by `alpha`. Returns (dx, dy), each H*W.
std::pair<std::vector<float>, std::vector<float>> elastic_field(int64_t h, int64_t w, double alpha, double sigma,
                                                                Rng& rng);
/// Sets the h x w rectangle at (top, left) to `value` in every channel.
Tensor erase(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, float value = 0.f);
/// (x - mean[c]) / std[c] per channel (one value each = the same for all channels). Channels:
/// dim 0 of an input [C, H, W]; each element of a feature vector [F]; a 2-D [H, W] image is one.
Tensor normalize(const Tensor& input, const std::vector<double>& mean, const std::vector<double>& std_dev);

// ---- transforms -----------------------------------------------------------------------------

/// Applies the transforms in order, all drawing from the same sample stream.
Transform compose(std::vector<Transform> transforms);
/// Applies `t` with probability p.
Transform random_apply(Transform t, double p);
/// Shifts by integers dx in [-max_dx, max_dx] and dy in [-max_dy, max_dy] (uniform); exact.
Transform random_shift(int64_t max_dx, int64_t max_dy, float fill = 0.f);
/// Rotation by a uniform angle in [min_degrees, max_degrees].
Transform random_rotation(double min_degrees, double max_degrees, float fill = 0.f);
Transform random_horizontal_flip(double p = 0.5);
Transform random_vertical_flip(double p = 0.5);
/// Pads `padding` pixels of `fill` on every side, then takes a random h x w window.
Transform random_crop(int64_t h, int64_t w, int64_t padding = 0, float fill = 0.f);
/// Shear angles (degrees) uniform in [-max_x, max_x] and [-max_y, max_y].
Transform random_shear(double max_shear_x, double max_shear_y = 0, float fill = 0.f);
/// Zoom about the centre by a uniform factor in [min_scale, max_scale].
Transform random_scale(double min_scale, double max_scale, float fill = 0.f);

struct AffineRange {
  double max_degrees = 0;       ///< rotation uniform in [-max, max]
  double max_translate_x = 0;   ///< fraction of the width, uniform in [-max, max]
  double max_translate_y = 0;   ///< fraction of the height
  double min_scale = 1, max_scale = 1;
  double max_shear_x = 0, max_shear_y = 0;  ///< degrees
  float fill = 0.f;
};
/// All of the above in one warp (one interpolation instead of several).
Transform random_affine(const AffineRange& range);
/// Elastic distortion (Simard et al.; alpha = 34, sigma = 4 for 28x28 digits).
Transform elastic_distortion(double alpha, double sigma, float fill = 0.f);

struct RandomErasingOptions {
  double p = 0.5;                          ///< probability of erasing at all
  double min_area = 0.02, max_area = 0.33;  ///< fraction of the image
  double min_ratio = 0.3, max_ratio = 3.3;  ///< aspect ratio h / w (drawn log-uniform)
  float value = 0.f;
  bool random_values = false;  ///< fill with standard-normal noise instead of `value`
};
/// Random erasing (Zhong et al., 2017): a random rectangle is blanked; up to 10 tries to find one
/// that fits, else the image is left unchanged (as torchvision).
Transform random_erasing(const RandomErasingOptions& opts = {});
/// The deterministic normalize() as a transform; std must be > 0.
Transform normalize(std::vector<double> mean, std::vector<double> std_dev);
/// The deterministic resize() as a transform.
Transform resize(int64_t h, int64_t w);

}  // namespace nabla::data
