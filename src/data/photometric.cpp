// The photometric ops of nabla/data/auto_augment.h, as torchvision.transforms.v2.functional
// computes them for float images (bound 1): plain loops over f32 pixels.
#include <algorithm>
#include <array>
#include <cmath>

#include "image_util.h"
#include "nabla/data/auto_augment.h"

namespace nabla::data {

using image_util::check_image;
using image_util::copy_f32;
using image_util::Img;

namespace {

float clamp01(double v) { return float(std::min(1.0, std::max(0.0, v))); }

void check_factor(double f, const char* op) {
  NB_CHECK(f >= 0 && std::isfinite(f), "[", op, "] factor must be a finite number >= 0, got ", f);
}

/// ratio·a + (1 - ratio)·b, clamped to [0, 1] (torchvision's _blend), written over a.
void blend_into(float* a, const float* b, int64_t n, double ratio) {
  for (int64_t i = 0; i < n; ++i) a[i] = clamp01(ratio * double(a[i]) + (1.0 - ratio) * double(b[i]));
}

/// The grayscale plane of a 3-channel image (ITU-R 601-2 luma, torchvision's weights).
std::vector<float> grayscale(const Img& im) {
  const int64_t plane = im.h * im.w;
  std::vector<float> g(static_cast<size_t>(plane));
  const float* p = im.data();
  for (int64_t i = 0; i < plane; ++i)
    g[size_t(i)] = float(0.2989 * double(p[i]) + 0.587 * double(p[plane + i]) + 0.114 * double(p[2 * plane + i]));
  return g;
}

/// A copy of `image` (checked as op's input) with f applied to every pixel.
template <typename F>
Tensor map_pixels(const Tensor& image, const char* op, F f) {
  Tensor out = copy_f32(check_image(image, op).t);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < out.numel(); ++i) p[i] = f(p[i]);
  return out;
}

}  // namespace

Tensor adjust_brightness(const Tensor& image, double factor) {
  check_factor(factor, "adjust_brightness");
  return map_pixels(image, "adjust_brightness", [&](float v) { return clamp01(factor * double(v)); });
}

Tensor adjust_contrast(const Tensor& image, double factor) {
  check_factor(factor, "adjust_contrast");
  Img im = check_image(image, "adjust_contrast");
  NB_CHECK(im.c == 1 || im.c == 3, "[adjust_contrast] expected 1 or 3 channels, got ", im.c);
  Tensor out = copy_f32(im.t);
  const int64_t plane = im.h * im.w;
  if (plane == 0) return out;
  double mean = 0;
  if (im.c == 3) {
    for (float g : grayscale(im)) mean += g;
  } else {
    for (int64_t i = 0; i < plane; ++i) mean += im.data()[i];
  }
  mean /= double(plane);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < out.numel(); ++i) p[i] = clamp01(factor * double(p[i]) + (1.0 - factor) * mean);
  return out;
}

Tensor adjust_saturation(const Tensor& image, double factor) {
  check_factor(factor, "adjust_saturation");
  Img im = check_image(image, "adjust_saturation");
  NB_CHECK(im.c == 1 || im.c == 3, "[adjust_saturation] expected 1 or 3 channels, got ", im.c);
  Tensor out = copy_f32(im.t);
  if (im.c == 1) return out;  // a grayscale image has no saturation (torchvision returns it)
  const std::vector<float> g = grayscale(im);
  const int64_t plane = im.h * im.w;
  for (int64_t ch = 0; ch < 3; ++ch) blend_into(out.data_ptr<float>() + ch * plane, g.data(), plane, factor);
  return out;
}

Tensor adjust_sharpness(const Tensor& image, double factor) {
  check_factor(factor, "adjust_sharpness");
  Img im = check_image(image, "adjust_sharpness");
  Tensor out = copy_f32(im.t);
  if (im.h <= 2 || im.w <= 2) return out;  // no interior to smooth
  const int64_t plane = im.h * im.w;
  std::vector<float> degenerate(im.data(), im.data() + im.c * plane);  // borders stay the image's
  for (int64_t ch = 0; ch < im.c; ++ch) {
    const float* s = im.data() + ch * plane;
    for (int64_t y = 1; y < im.h - 1; ++y)
      for (int64_t x = 1; x < im.w - 1; ++x) {
        float acc = 0;  // f32 sum as the conv2d torchvision runs, weights 1/13 and 5/13
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx)
            acc += s[(y + dy) * im.w + x + dx] * ((dy == 0 && dx == 0) ? 5.f / 13.f : 1.f / 13.f);
        degenerate[size_t(ch * plane + y * im.w + x)] = acc;
      }
  }
  blend_into(out.data_ptr<float>(), degenerate.data(), out.numel(), factor);
  return out;
}

Tensor posterize(const Tensor& image, int64_t bits) {
  NB_CHECK(bits >= 1 && bits <= 8, "[posterize] bits must be in [1, 8], got ", bits);
  const double levels = double(int64_t(1) << bits);
  return map_pixels(image, "posterize", [&](float v) {
    return float(std::min(levels - 1, std::max(0.0, std::floor(double(v) * levels))) / levels);
  });
}

Tensor solarize(const Tensor& image, double threshold) {
  NB_CHECK(threshold >= 0 && threshold <= 1, "[solarize] threshold must be in [0, 1] for float images, got ", threshold);
  return map_pixels(image, "solarize", [&](float v) { return double(v) >= threshold ? 1.f - v : v; });
}

Tensor autocontrast(const Tensor& image) {
  Img im = check_image(image, "autocontrast");
  Tensor out = copy_f32(im.t);
  const int64_t plane = im.h * im.w;
  if (plane == 0) return out;
  for (int64_t ch = 0; ch < im.c; ++ch) {
    float* p = out.data_ptr<float>() + ch * plane;
    const auto [lo, hi] = std::minmax_element(p, p + plane);
    const float mn = *lo, mx = *hi;
    if (mn == mx) {  // flat: torchvision's scale 1 and minimum 0 leave it, clamped to [0, 1]
      for (int64_t i = 0; i < plane; ++i) p[i] = std::min(1.f, std::max(0.f, p[i]));
      continue;
    }
    const float inv_scale = mx - mn;
    for (int64_t i = 0; i < plane; ++i) p[i] = std::min(1.f, std::max(0.f, (p[i] - mn) / inv_scale));
  }
  return out;
}

Tensor equalize(const Tensor& image) {
  Img im = check_image(image, "equalize");
  Tensor out = copy_f32(im.t);
  const int64_t plane = im.h * im.w;
  if (plane == 0) return out;
  std::vector<int> v(static_cast<size_t>(plane));
  for (int64_t ch = 0; ch < im.c; ++ch) {
    float* p = out.data_ptr<float>() + ch * plane;
    std::array<int64_t, 256> hist{};
    for (int64_t i = 0; i < plane; ++i) {
      // torchvision's float -> uint8: x·(255 + 1 - 1e-3), truncated; clamped to [0, 255] before the
      // conversion (NaN to 0), so no pixel value overflows the int.
      const double s = double(p[i]) * (256.0 - 1e-3);
      v[size_t(i)] = s >= 0 ? int(std::min(s, 255.0)) : 0;
      ++hist[size_t(v[size_t(i)])];
    }
    const int max_value = *std::max_element(v.begin(), v.end());
    const int64_t step = (plane - hist[size_t(max_value)]) / 255;
    if (step == 0) {  // too few distinct values to spread: torchvision keeps the 8-bit image
      for (int64_t i = 0; i < plane; ++i) p[i] = float(v[size_t(i)]) / 255.f;
      continue;
    }
    std::array<int64_t, 256> lut{};
    int64_t cum = 0;
    for (int k = 1; k < 256; ++k) {
      cum += hist[size_t(k - 1)];
      lut[size_t(k)] = std::min<int64_t>(255, (cum + step / 2) / step);
    }
    for (int64_t i = 0; i < plane; ++i) p[i] = float(lut[size_t(v[size_t(i)])]) / 255.f;
  }
  return out;
}

}  // namespace nabla::data
