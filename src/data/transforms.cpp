// Image transforms: plain loops over f32 pixels (a 28x28 image is a few microseconds each).
#include "nabla/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "image_util.h"

namespace nabla::data {

namespace image_util {

// A contiguous copy of any strided f32 tensor (plain loops: runs on worker threads, off the op
// dispatcher); contiguous tensors are returned as they are.
Tensor contiguous_f32(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.shape(), {.dtype = DType::f32});
  float* dst = out.data_ptr<float>();
  const float* base = static_cast<const float*>(t.storage()->data) + t.offset();
  int64_t n = t.numel(), nd = t.dim();
  std::vector<int64_t> idx(size_t(nd), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[size_t(d)] * t.strides()[size_t(d)];
    dst[i] = base[off];
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < t.shape()[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  return out;
}

Tensor copy_f32(const Tensor& t) {
  Tensor src = contiguous_f32(t);
  if (src.impl_ptr() != t.impl_ptr()) return src;
  Tensor out = empty(t.shape(), {.dtype = DType::f32});
  std::memcpy(out.raw_data(), src.raw_data(), size_t(src.numel()) * sizeof(float));
  return out;
}

Img check_image(const Tensor& image, const char* op) {
  NB_CHECK(image.defined(), "[", op, "] image is an undefined tensor");
  NB_CHECK(image.dtype() == DType::f32 && (image.dim() == 2 || image.dim() == 3) && image.device().is_cpu(), "[",
           op, "] expected an f32 CPU image [C, H, W] or [H, W], got ", image.dtype(), " ", image.shape(), " on ",
           image.device(), " (convert u8 images with TensorDataset::images or load_image)");
  Img im;
  im.c = image.dim() == 3 ? image.size(0) : 1;
  im.h = image.size(-2);
  im.w = image.size(-1);
  im.t = contiguous_f32(image);
  return im;
}

// Output with the input's rank and channel count, spatial size h x w.
Tensor make_out(const Tensor& like, int64_t c, int64_t h, int64_t w) {
  return like.dim() == 3 ? empty({c, h, w}, {.dtype = DType::f32}) : empty({h, w}, {.dtype = DType::f32});
}

}  // namespace image_util

using image_util::check_image;
using image_util::contiguous_f32;
using image_util::copy_f32;
using image_util::Img;
using image_util::make_out;

namespace {

constexpr double kPi = 3.14159265358979323846;
double radians(double deg) { return deg * kPi / 180.0; }

// Snaps coordinates within 1e-9 of an integer onto it, so 90-degree turns are exact.
inline double snap(double v) {
  double r = std::nearbyint(v);
  return std::abs(v - r) < 1e-9 ? r : v;
}

// Bilinear sample of every channel at (px, py); out-of-image neighbours read `fill`.
inline void sample(const Img& im, double px, double py, float fill, float* out, int64_t plane_out) {
  px = snap(px);
  py = snap(py);
  double fx0 = std::floor(px), fy0 = std::floor(py);
  int64_t x0 = int64_t(fx0), y0 = int64_t(fy0);
  float fx = float(px - fx0), fy = float(py - fy0);
  float wts[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
  int64_t xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
  int64_t plane = im.h * im.w;
  const float* src = im.data();
  for (int64_t ch = 0; ch < im.c; ++ch) {
    float v = 0.f;
    for (int k = 0; k < 4; ++k) {
      if (wts[k] == 0.f) continue;
      bool inside = xs[k] >= 0 && xs[k] < im.w && ys[k] >= 0 && ys[k] < im.h;
      v += wts[k] * (inside ? src[ch * plane + ys[k] * im.w + xs[k]] : fill);
    }
    out[ch * plane_out] = v;
  }
}

void check_prob(double p, const char* op) {
  NB_CHECK(p >= 0.0 && p <= 1.0, "[", op, "] probability must be in [0, 1], got ", p);
}
void check_range(double lo, double hi, const char* op, const char* what) {
  NB_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "[", op, "] ", what, " range [", lo, ", ", hi,
           "] is empty or not finite");
}

}  // namespace

Transform::Transform(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}

Tensor Transform::operator()(const Tensor& image, Rng& rng) const {
  NB_CHECK(fn_ != nullptr, "[Transform] calling an empty transform");
  return fn_(image, rng);
}

Tensor Transform::operator()(const Tensor& image, uint64_t seed) const {
  Rng rng = Rng::for_sample(seed, 0, 0);
  return (*this)(image, rng);
}

// ---- deterministic functions -------------------------------------------------------------------

Affine affine_matrix(double degrees, double tx, double ty, double scale, double shear_x, double shear_y) {
  // With y pointing down, a counter-clockwise turn on screen is x' = x cos + y sin, y' = -x sin + y cos.
  double th = radians(degrees), cs = std::cos(th), sn = std::sin(th);
  double kx = std::tan(radians(shear_x)), ky = std::tan(radians(shear_y));
  // R · [[1, kx], [ky, 1]] · scale
  Affine m;
  m.a = scale * (cs + sn * ky);
  m.b = scale * (cs * kx + sn);
  m.c = scale * (-sn + cs * ky);
  m.d = scale * (-sn * kx + cs);
  m.tx = tx;
  m.ty = ty;
  return m;
}

Tensor warp_affine(const Tensor& image, const Affine& m, float fill) {
  Img im = check_image(image, "warp_affine");
  double det = m.a * m.d - m.b * m.c;
  NB_CHECK(std::isfinite(det) && std::abs(det) > 1e-12, "[warp_affine] the matrix [[", m.a, ", ", m.b, "], [", m.c,
           ", ", m.d, "]] is singular (determinant ", det, ")");
  double ia = m.d / det, ib = -m.b / det, ic = -m.c / det, id = m.a / det;
  double cx = double(im.w - 1) / 2, cy = double(im.h - 1) / 2;
  Tensor out = make_out(image, im.c, im.h, im.w);
  float* dst = out.data_ptr<float>();
  int64_t plane = im.h * im.w;
  for (int64_t y = 0; y < im.h; ++y) {
    for (int64_t x = 0; x < im.w; ++x) {
      double qx = double(x) - cx - m.tx, qy = double(y) - cy - m.ty;
      sample(im, ia * qx + ib * qy + cx, ic * qx + id * qy + cy, fill, dst + y * im.w + x, plane);
    }
  }
  return out;
}

Tensor shift(const Tensor& image, int64_t dx, int64_t dy, float fill) {
  Img im = check_image(image, "shift");
  return crop(im.t, -dy, -dx, im.h, im.w, fill);
}

Tensor rotate(const Tensor& image, double degrees, float fill) {
  return warp_affine(image, affine_matrix(degrees), fill);
}

Tensor hflip(const Tensor& image) {
  Img im = check_image(image, "hflip");
  Tensor out = make_out(image, im.c, im.h, im.w);
  float* dst = out.data_ptr<float>();
  const float* src = im.data();
  for (int64_t r = 0; r < im.c * im.h; ++r)
    for (int64_t x = 0; x < im.w; ++x) dst[r * im.w + x] = src[r * im.w + (im.w - 1 - x)];
  return out;
}

Tensor vflip(const Tensor& image) {
  Img im = check_image(image, "vflip");
  Tensor out = make_out(image, im.c, im.h, im.w);
  float* dst = out.data_ptr<float>();
  const float* src = im.data();
  for (int64_t ch = 0; ch < im.c; ++ch)
    for (int64_t y = 0; y < im.h; ++y)
      std::memcpy(dst + (ch * im.h + y) * im.w, src + (ch * im.h + (im.h - 1 - y)) * im.w,
                  size_t(im.w) * sizeof(float));
  return out;
}

Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, float fill) {
  Img im = check_image(image, "crop");
  NB_CHECK(h > 0 && w > 0, "[crop] window size must be positive, got ", h, " x ", w);
  Tensor out = make_out(image, im.c, h, w);
  float* dst = out.data_ptr<float>();
  const float* src = im.data();
  for (int64_t ch = 0; ch < im.c; ++ch) {
    for (int64_t y = 0; y < h; ++y) {
      int64_t sy = top + y;
      float* row = dst + (ch * h + y) * w;
      for (int64_t x = 0; x < w; ++x) {
        int64_t sx = left + x;
        bool inside = sy >= 0 && sy < im.h && sx >= 0 && sx < im.w;
        row[x] = inside ? src[(ch * im.h + sy) * im.w + sx] : fill;
      }
    }
  }
  return out;
}

Tensor resize(const Tensor& image, int64_t h, int64_t w) {
  Img im = check_image(image, "resize");
  NB_CHECK(h > 0 && w > 0, "[resize] target size must be positive, got ", h, " x ", w);
  NB_CHECK(im.h > 0 && im.w > 0, "[resize] the image is ", im.h, " x ", im.w, " pixels; nothing to resize");
  if (h == im.h && w == im.w) return copy_f32(im.t);
  Tensor out = make_out(image, im.c, h, w);
  float* dst = out.data_ptr<float>();
  double sy = double(im.h) / double(h), sx = double(im.w) / double(w);
  for (int64_t y = 0; y < h; ++y) {
    // align_corners = false: pixel centres line up; clamp at the borders (no fill).
    double py = std::clamp((double(y) + 0.5) * sy - 0.5, 0.0, double(im.h - 1));
    for (int64_t x = 0; x < w; ++x) {
      double px = std::clamp((double(x) + 0.5) * sx - 0.5, 0.0, double(im.w - 1));
      sample(im, px, py, 0.f, dst + y * w + x, h * w);
    }
  }
  return out;
}

Tensor displace(const Tensor& image, const std::vector<float>& dx, const std::vector<float>& dy, float fill) {
  Img im = check_image(image, "displace");
  size_t n = size_t(im.h * im.w);
  NB_CHECK(dx.size() == n && dy.size() == n, "[displace] displacement fields have ", dx.size(), " and ", dy.size(),
           " values, expected H*W = ", n);
  Tensor out = make_out(image, im.c, im.h, im.w);
  float* dst = out.data_ptr<float>();
  for (int64_t y = 0; y < im.h; ++y)
    for (int64_t x = 0; x < im.w; ++x) {
      size_t i = size_t(y * im.w + x);
      sample(im, double(x) + dx[i], double(y) + dy[i], fill, dst + i, int64_t(n));
    }
  return out;
}

std::vector<float> gaussian_blur(const std::vector<float>& field, int64_t h, int64_t w, double sigma) {
  NB_CHECK(int64_t(field.size()) == h * w, "[gaussian_blur] field has ", field.size(), " values, expected ", h,
           " x ", w);
  NB_CHECK(sigma > 0 && std::isfinite(sigma), "[gaussian_blur] sigma must be positive, got ", sigma);
  int64_t r = std::max<int64_t>(1, int64_t(std::ceil(4.0 * sigma)));
  std::vector<float> k(size_t(2 * r + 1));
  double total = 0;
  for (int64_t i = -r; i <= r; ++i) total += k[size_t(i + r)] = float(std::exp(-0.5 * double(i * i) / (sigma * sigma)));
  for (float& v : k) v = float(v / total);
  std::vector<float> tmp(field.size(), 0.f), out(field.size(), 0.f);
  for (int64_t y = 0; y < h; ++y)  // rows
    for (int64_t x = 0; x < w; ++x) {
      float s = 0.f;
      for (int64_t i = std::max(-r, -x); i <= std::min(r, w - 1 - x); ++i) s += k[size_t(i + r)] * field[size_t(y * w + x + i)];
      tmp[size_t(y * w + x)] = s;
    }
  for (int64_t y = 0; y < h; ++y)  // columns
    for (int64_t x = 0; x < w; ++x) {
      float s = 0.f;
      for (int64_t i = std::max(-r, -y); i <= std::min(r, h - 1 - y); ++i) s += k[size_t(i + r)] * tmp[size_t((y + i) * w + x)];
      out[size_t(y * w + x)] = s;
    }
  return out;
}

std::pair<std::vector<float>, std::vector<float>> elastic_field(int64_t h, int64_t w, double alpha, double sigma,
                                                                Rng& rng) {
  std::vector<float> dx(size_t(h * w)), dy(size_t(h * w));
  for (float& v : dx) v = 2.f * rng.uniform() - 1.f;
  for (float& v : dy) v = 2.f * rng.uniform() - 1.f;
  dx = gaussian_blur(dx, h, w, sigma);
  dy = gaussian_blur(dy, h, w, sigma);
  for (float& v : dx) v = float(v * alpha);
  for (float& v : dy) v = float(v * alpha);
  return {std::move(dx), std::move(dy)};
}

Tensor erase(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, float value) {
  Img im = check_image(image, "erase");
  Tensor out = copy_f32(im.t);
  float* dst = out.data_ptr<float>();
  for (int64_t ch = 0; ch < im.c; ++ch)
    for (int64_t y = std::max<int64_t>(top, 0); y < std::min(top + h, im.h); ++y)
      for (int64_t x = std::max<int64_t>(left, 0); x < std::min(left + w, im.w); ++x)
        dst[(ch * im.h + y) * im.w + x] = value;
  return out;
}

namespace {
/// One mean and std per channel (or one for all), std positive, both finite: a zero std made
/// every pixel inf or NaN (torchvision refuses it too).
void check_mean_std(const std::vector<double>& mean, const std::vector<double>& sd) {
  NB_CHECK(!mean.empty() && mean.size() == sd.size(), "[normalize] mean has ", mean.size(), " values and std ",
           sd.size(), ": expected one per channel (or one for all)");
  for (size_t i = 0; i < sd.size(); ++i)
    NB_CHECK(sd[i] > 0 && std::isfinite(sd[i]) && std::isfinite(mean[i]), "[normalize] std[", i, "] = ", sd[i],
             " (mean ", mean[i], "): std must be positive and finite");
}
}  // namespace

Tensor normalize(const Tensor& input, const std::vector<double>& mean, const std::vector<double>& sd) {
  NB_CHECK(input.defined() && input.dtype() == DType::f32 && input.dim() >= 1, "[normalize] expected an f32 tensor, got ",
           input.defined() ? dtype_name(input.dtype()) : "undefined", " ", input.defined() ? input.shape() : Shape{});
  check_mean_std(mean, sd);
  int64_t c = input.dim() == 1 ? input.size(0) : input.dim() == 2 ? 1 : input.size(0);
  int64_t inner = c ? input.numel() / c : 0;
  NB_CHECK(mean.size() == 1 || int64_t(mean.size()) == c, "[normalize] ", mean.size(), " means for ", c,
           " channels of an input ", input.shape());
  Tensor src = contiguous_f32(input);
  Tensor out = empty(input.shape(), {.dtype = DType::f32});
  const float* s = static_cast<const float*>(src.raw_data());
  float* d = out.data_ptr<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    size_t k = mean.size() == 1 ? 0 : size_t(ch);
    float m = float(mean[k]), inv = float(1.0 / sd[k]);
    for (int64_t i = 0; i < inner; ++i) d[ch * inner + i] = (s[ch * inner + i] - m) * inv;
  }
  return out;
}

// ---- random transforms -----------------------------------------------------------------------

Transform compose(std::vector<Transform> transforms) {
  std::string name = "compose(";
  for (size_t i = 0; i < transforms.size(); ++i) {
    NB_CHECK(bool(transforms[i]), "[compose] transform ", i, " is empty");
    name += (i ? ", " : "") + transforms[i].name();
  }
  name += ")";
  return Transform(name, [ts = std::move(transforms)](const Tensor& img, Rng& rng) {
    Tensor x = img;
    for (const Transform& t : ts) x = t(x, rng);
    return x;
  });
}

Transform random_apply(Transform t, double p) {
  check_prob(p, "random_apply");
  NB_CHECK(bool(t), "[random_apply] transform is empty");
  std::string name = "random_apply(" + t.name() + ")";
  return Transform(name, [t = std::move(t), p](const Tensor& img, Rng& rng) {
    return rng.bernoulli(p) ? t(img, rng) : img;
  });
}

Transform random_shift(int64_t max_dx, int64_t max_dy, float fill) {
  NB_CHECK(max_dx >= 0 && max_dy >= 0, "[random_shift] maximum shifts must be >= 0, got ", max_dx, ", ", max_dy);
  return Transform("random_shift", [=](const Tensor& img, Rng& rng) {
    int64_t dx = rng.randint(-max_dx, max_dx), dy = rng.randint(-max_dy, max_dy);
    return shift(img, dx, dy, fill);
  });
}

Transform random_rotation(double min_degrees, double max_degrees, float fill) {
  check_range(min_degrees, max_degrees, "random_rotation", "angle");
  return Transform("random_rotation", [=](const Tensor& img, Rng& rng) {
    return rotate(img, rng.uniform(min_degrees, max_degrees), fill);
  });
}

Transform random_horizontal_flip(double p) {
  check_prob(p, "random_horizontal_flip");
  return Transform("random_horizontal_flip",
                   [=](const Tensor& img, Rng& rng) { return rng.bernoulli(p) ? hflip(img) : img; });
}

Transform random_vertical_flip(double p) {
  check_prob(p, "random_vertical_flip");
  return Transform("random_vertical_flip",
                   [=](const Tensor& img, Rng& rng) { return rng.bernoulli(p) ? vflip(img) : img; });
}

Transform random_crop(int64_t h, int64_t w, int64_t padding, float fill) {
  NB_CHECK(h > 0 && w > 0 && padding >= 0, "[random_crop] size ", h, " x ", w, " and padding ", padding,
           " must be positive (padding >= 0)");
  return Transform("random_crop", [=](const Tensor& img, Rng& rng) {
    int64_t ih = img.size(-2) + 2 * padding, iw = img.size(-1) + 2 * padding;
    NB_CHECK(h <= ih && w <= iw, "[random_crop] window ", h, " x ", w, " is larger than the padded image ", ih, " x ",
             iw);
    int64_t top = rng.randint(0, ih - h), left = rng.randint(0, iw - w);
    return crop(img, top - padding, left - padding, h, w, fill);
  });
}

Transform random_shear(double max_shear_x, double max_shear_y, float fill) {
  NB_CHECK(max_shear_x >= 0 && max_shear_y >= 0 && max_shear_x < 90 && max_shear_y < 90,
           "[random_shear] maximum shear angles must be in [0, 90) degrees, got ", max_shear_x, ", ", max_shear_y);
  return Transform("random_shear", [=](const Tensor& img, Rng& rng) {
    double sx = rng.uniform(-max_shear_x, max_shear_x), sy = rng.uniform(-max_shear_y, max_shear_y);
    return warp_affine(img, affine_matrix(0, 0, 0, 1, sx, sy), fill);
  });
}

Transform random_scale(double min_scale, double max_scale, float fill) {
  check_range(min_scale, max_scale, "random_scale", "scale");
  NB_CHECK(min_scale > 0, "[random_scale] scales must be positive, got [", min_scale, ", ", max_scale, "]");
  return Transform("random_scale", [=](const Tensor& img, Rng& rng) {
    return warp_affine(img, affine_matrix(0, 0, 0, rng.uniform(min_scale, max_scale)), fill);
  });
}

Transform random_affine(const AffineRange& r) {
  NB_CHECK(r.max_degrees >= 0 && r.max_translate_x >= 0 && r.max_translate_y >= 0 && r.max_shear_x >= 0 &&
               r.max_shear_y >= 0 && r.max_shear_x < 90 && r.max_shear_y < 90,
           "[random_affine] maxima must be >= 0 (shears below 90 degrees)");
  check_range(r.min_scale, r.max_scale, "random_affine", "scale");
  NB_CHECK(r.min_scale > 0, "[random_affine] scales must be positive, got [", r.min_scale, ", ", r.max_scale, "]");
  return Transform("random_affine", [r](const Tensor& img, Rng& rng) {
    double deg = rng.uniform(-r.max_degrees, r.max_degrees);
    double tx = rng.uniform(-r.max_translate_x, r.max_translate_x) * double(img.size(-1));
    double ty = rng.uniform(-r.max_translate_y, r.max_translate_y) * double(img.size(-2));
    double s = rng.uniform(r.min_scale, r.max_scale);
    double shx = rng.uniform(-r.max_shear_x, r.max_shear_x), shy = rng.uniform(-r.max_shear_y, r.max_shear_y);
    return warp_affine(img, affine_matrix(deg, tx, ty, s, shx, shy), r.fill);
  });
}

Transform elastic_distortion(double alpha, double sigma, float fill) {
  NB_CHECK(alpha >= 0 && std::isfinite(alpha) && sigma > 0 && std::isfinite(sigma),
           "[elastic_distortion] alpha must be >= 0 and sigma > 0, got alpha ", alpha, ", sigma ", sigma);
  return Transform("elastic_distortion", [=](const Tensor& img, Rng& rng) {
    Img im = check_image(img, "elastic_distortion");
    auto [dx, dy] = elastic_field(im.h, im.w, alpha, sigma, rng);
    return displace(im.t, dx, dy, fill);
  });
}

Transform random_erasing(const RandomErasingOptions& o) {
  check_prob(o.p, "random_erasing");
  check_range(o.min_area, o.max_area, "random_erasing", "area");
  check_range(o.min_ratio, o.max_ratio, "random_erasing", "aspect ratio");
  NB_CHECK(o.min_area > 0 && o.max_area <= 1 && o.min_ratio > 0,
           "[random_erasing] area fractions must be in (0, 1] and ratios positive");
  return Transform("random_erasing", [o](const Tensor& img, Rng& rng) {
    if (!rng.bernoulli(o.p)) return img;
    Img im = check_image(img, "random_erasing");
    double area = double(im.h * im.w);
    double lr0 = std::log(o.min_ratio), lr1 = std::log(o.max_ratio);
    for (int attempt = 0; attempt < 10; ++attempt) {
      double target = area * rng.uniform(o.min_area, o.max_area);
      double ratio = std::exp(rng.uniform(lr0, lr1));
      int64_t h = int64_t(std::lround(std::sqrt(target * ratio)));
      int64_t w = int64_t(std::lround(std::sqrt(target / ratio)));
      if (h < 1 || w < 1 || h >= im.h || w >= im.w) continue;
      int64_t top = rng.randint(0, im.h - h), left = rng.randint(0, im.w - w);
      Tensor out = erase(im.t, top, left, h, w, o.value);
      if (o.random_values) {
        float* d = out.data_ptr<float>();
        for (int64_t ch = 0; ch < im.c; ++ch)
          for (int64_t y = top; y < top + h; ++y)
            for (int64_t x = left; x < left + w; ++x) d[(ch * im.h + y) * im.w + x] = float(rng.normal());
      }
      return out;
    }
    return img;
  });
}

Transform normalize(std::vector<double> mean, std::vector<double> sd) {
  check_mean_std(mean, sd);
  return Transform("normalize", [mean = std::move(mean), sd = std::move(sd)](const Tensor& img, Rng&) {
    return normalize(img, mean, sd);
  });
}

Transform resize(int64_t h, int64_t w) {
  NB_CHECK(h > 0 && w > 0, "[resize] target size must be positive, got ", h, " x ", w);
  return Transform("resize", [=](const Tensor& img, Rng&) { return resize(img, h, w); });
}

}  // namespace nabla::data
