// Geometry of the augmentations: a known image under a known parameter lands where it should
// (exactly for flips, shifts and crops; within 1e-5 for interpolated warps).
#include <algorithm>
#include <cmath>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;
using data_test::raw;

namespace {

// [C, H, W] with value 100 c + 10 y + x (distinct, easy to read).
Tensor coord_image(int64_t c, int64_t h, int64_t w) {
  Tensor t = empty({c, h, w});
  float* p = t.data_ptr<float>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) *p++ = float(100 * k + 10 * y + x);
  return t;
}

// A single 1 at (row y, col x) in an h x w one-channel image.
Tensor dot(int64_t h, int64_t w, int64_t y, int64_t x) {
  Tensor t = zeros({1, h, w});
  t.data_ptr<float>()[y * w + x] = 1.f;
  return t;
}

float at(const Tensor& t, int64_t c, int64_t y, int64_t x) {
  return t.data_ptr<float>()[(c * t.size(-2) + y) * t.size(-1) + x];
}

void expect_near_image(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<double> a = got.to_double_vector(), b = want.to_double_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "element " << i;
}

}  // namespace

TEST(Transforms, FlipsArePixelExact) {
  Tensor img = coord_image(2, 3, 4);
  Tensor h = hflip(img), v = vflip(img);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 4; ++x) {
        EXPECT_EQ(at(h, c, y, x), at(img, c, y, 3 - x));
        EXPECT_EQ(at(v, c, y, x), at(img, c, 2 - y, x));
      }
  Rng rng = Rng::for_sample(1, 0, 0);
  EXPECT_EQ(raw(random_horizontal_flip(1.0)(img, rng)), raw(h));
  EXPECT_EQ(raw(random_vertical_flip(1.0)(img, rng)), raw(v));
  EXPECT_EQ(raw(random_horizontal_flip(0.0)(img, rng)), raw(img));
  // 2-D [H, W] images work too and keep their rank.
  Tensor flat = coord_image(1, 3, 4).reshape({3, 4});
  EXPECT_EQ(hflip(flat).shape(), (Shape{3, 4}));
  EXPECT_EQ(at(hflip(flat).reshape({1, 3, 4}), 0, 1, 0), 13.f);
}

TEST(Transforms, ShiftIsPixelExact) {
  Tensor img = coord_image(2, 5, 6);
  Tensor s = shift(img, 2, -1, -7.f);  // right 2, up 1
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t x = 0; x < 6; ++x) {
        int64_t sy = y + 1, sx = x - 2;
        float want = (sy < 5 && sx >= 0) ? at(img, c, sy, sx) : -7.f;
        EXPECT_EQ(at(s, c, y, x), want) << c << " " << y << " " << x;
      }
  // An integer translation through the bilinear warp is exact as well.
  EXPECT_EQ(raw(warp_affine(img, affine_matrix(0, 2, -1), -7.f)), raw(s));
  // random_shift draws some (dx, dy) within range and applies exactly that shift.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Tensor r = random_shift(2, 1)(img, seed);
    int matches = 0;
    for (int64_t dx = -2; dx <= 2; ++dx)
      for (int64_t dy = -1; dy <= 1; ++dy) matches += raw(r) == raw(shift(img, dx, dy));
    EXPECT_EQ(matches, 1) << seed;
  }
  EXPECT_EQ(raw(random_shift(0, 0)(img, 3)), raw(img));
}

TEST(Transforms, CropWithPaddingIsPixelExact) {
  Tensor img = coord_image(1, 4, 4);
  Tensor c = crop(img, -1, 2, 3, 3, 9.f);  // rows -1..1, cols 2..4
  std::vector<float> want = {9, 9, 9, 2, 3, 9, 12, 13, 9};
  EXPECT_EQ(c.to_vector<float>(), want);
  // random_crop(4, 4, padding 2) of a 4x4 image = some shift in [-2, 2]^2, drawn per seed.
  std::vector<std::vector<uint8_t>> distinct;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Tensor r = random_crop(4, 4, 2)(img, seed);
    ASSERT_EQ(r.shape(), (Shape{1, 4, 4}));
    int matches = 0;
    for (int64_t dx = -2; dx <= 2; ++dx)
      for (int64_t dy = -2; dy <= 2; ++dy) matches += raw(r) == raw(shift(img, dx, dy));
    EXPECT_EQ(matches, 1) << seed;
    if (std::find(distinct.begin(), distinct.end(), raw(r)) == distinct.end()) distinct.push_back(raw(r));
  }
  EXPECT_GT(distinct.size(), 5u);
  EXPECT_ERROR(random_crop(9, 9, 2)(img, 0), "larger than the padded image");
}

TEST(Transforms, RotationByNinetyDegreesMovesPixelsCounterClockwise) {
  // 7x7, centre (3, 3). A dot 2 right of centre and 1 above: (row 2, col 5). Turned 90 degrees
  // counter-clockwise it is 2 above and 1 left: (row 1, col 2).
  Tensor r = rotate(dot(7, 7, 2, 5), 90);
  expect_near_image(r, dot(7, 7, 1, 2), 1e-5);
  // For a square image, rotate(90): out[y][x] = in[x][W-1-y].
  Tensor img = coord_image(2, 6, 6);
  Tensor r90 = rotate(img, 90);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 6; ++x) EXPECT_NEAR(at(r90, c, y, x), at(img, c, x, 5 - y), 1e-4);
  expect_near_image(rotate(img, 180), hflip(vflip(img)), 1e-4);
  expect_near_image(rotate(rotate(img, 90), -90), img, 1e-4);
  // random_rotation with a pinned range is that rotation.
  expect_near_image(random_rotation(90, 90)(img, 5), r90, 0);
}

TEST(Transforms, InterpolatedRotationKeepsMassAndCentre) {
  // A blob at the centre of mass (7, 7) rotated by 30 degrees stays centred and keeps its mass.
  Tensor img = zeros({1, 15, 15});
  for (int64_t y = 5; y <= 9; ++y)
    for (int64_t x = 5; x <= 9; ++x) img.data_ptr<float>()[y * 15 + x] = 1.f;
  Tensor r = rotate(img, 30);
  double mass = 0, my = 0, mx = 0;
  for (int64_t y = 0; y < 15; ++y)
    for (int64_t x = 0; x < 15; ++x) {
      double v = at(r, 0, y, x);
      mass += v;
      my += v * double(y);
      mx += v * double(x);
    }
  EXPECT_NEAR(mass, 25.0, 0.5);
  EXPECT_NEAR(my / mass, 7.0, 1e-3);
  EXPECT_NEAR(mx / mass, 7.0, 1e-3);
}

TEST(Transforms, ShearScaleAndFractionalTranslate) {
  // Shear x by 45 degrees: x' = x + y (relative to the centre). A dot one row below the centre
  // of a 5x5 image (row 3, col 2) moves one column right; one row above moves left.
  expect_near_image(warp_affine(dot(5, 5, 3, 2), affine_matrix(0, 0, 0, 1, 45)), dot(5, 5, 3, 3), 1e-5);
  expect_near_image(warp_affine(dot(5, 5, 1, 2), affine_matrix(0, 0, 0, 1, 45)), dot(5, 5, 1, 1), 1e-5);
  // Shear y by 45 degrees: y' = y + x. A dot right of centre moves down.
  expect_near_image(warp_affine(dot(5, 5, 2, 3), affine_matrix(0, 0, 0, 1, 0, 45)), dot(5, 5, 3, 3), 1e-5);
  // Scale 2 about the centre of a 5x5: (row 2, col 3) lands at col 4; col 3 now reads 0.5 of it.
  Tensor s = warp_affine(dot(5, 5, 2, 3), affine_matrix(0, 0, 0, 2.0));
  EXPECT_NEAR(at(s, 0, 2, 4), 1.0, 1e-6);
  EXPECT_NEAR(at(s, 0, 2, 3), 0.5, 1e-6);
  EXPECT_NEAR(at(s, 0, 2, 2), 0.0, 1e-6);  // samples the centre, which is 0
  expect_near_image(random_scale(2, 2)(dot(5, 5, 2, 3), 1), s, 0);
  // Translate by 1.5 pixels: out(x) = (in(x - 1) + in(x - 2)) / 2.
  Tensor img = coord_image(1, 2, 6);
  Tensor t = warp_affine(img, affine_matrix(0, 1.5, 0));
  for (int64_t x = 2; x < 6; ++x) EXPECT_NEAR(at(t, 0, 1, x), 10 + (x - 1 + x - 2) / 2.0, 1e-5);
  EXPECT_NEAR(at(t, 0, 0, 1), 0.5 * 0.0 + 0.5 * 0.0, 1e-6);  // half fill (0), half in(0, -0.5)->fill
  // random_shear / random_affine with zero ranges are the identity.
  expect_near_image(random_shear(0, 0)(img, 4), img, 0);
  expect_near_image(random_affine({})(img, 4), img, 0);
  EXPECT_ERROR(warp_affine(img, Affine{0, 0, 0, 0}), "singular");
}

TEST(Transforms, ResizeMatchesPyTorchBilinear) {
  Tensor img = from_vector<float>({0, 1, 2, 3}, {1, 2, 2});
  Tensor r = resize(img, 4, 4);
  std::vector<float> want = {0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3};
  std::vector<float> got = r.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(Transforms, ElasticDistortion) {
  Tensor img = coord_image(1, 12, 12);
  // alpha = 0: no displacement, the image is unchanged (exactly).
  EXPECT_EQ(raw(elastic_distortion(0.0, 3.0)(img, 1)), raw(img));
  // A constant displacement of -1 in x samples one pixel to the left: a shift right by one.
  std::vector<float> dx(144, -1.f), dy(144, 0.f);
  EXPECT_EQ(raw(displace(img, dx, dy)), raw(shift(img, 1, 0)));
  // The field is smooth (neighbours correlated) and scaled by alpha.
  Rng rng = Rng::for_sample(5, 0, 0);
  auto [fx, fy] = elastic_field(28, 28, 34.0, 4.0, rng);
  double var = 0, dvar = 0;
  for (int64_t y = 0; y < 28; ++y)
    for (int64_t x = 0; x < 27; ++x) {
      double v = fx[size_t(y * 28 + x)], d = fx[size_t(y * 28 + x + 1)] - v;
      var += v * v;
      dvar += d * d;
    }
  EXPECT_GT(var / (28 * 27), 0.05);        // alpha makes it a visible displacement
  EXPECT_LT(dvar, 0.1 * var);              // but a smooth one
  // Deterministic per stream, different across streams.
  Transform e = elastic_distortion(34.0, 4.0);
  Tensor big = coord_image(1, 28, 28);
  Rng a1 = Rng::for_sample(1, 0, 7), a2 = Rng::for_sample(1, 0, 7), b = Rng::for_sample(1, 0, 8);
  Tensor o1 = e(big, a1), o2 = e(big, a2), o3 = e(big, b);
  EXPECT_EQ(raw(o1), raw(o2));
  EXPECT_NE(raw(o1), raw(o3));
  EXPECT_NE(raw(o1), raw(big));
  // Gaussian blur keeps a constant field constant away from the borders and sums to one.
  std::vector<float> ones(400, 1.f);
  std::vector<float> bl = gaussian_blur(ones, 20, 20, 1.0);
  EXPECT_NEAR(bl[size_t(10 * 20 + 10)], 1.0, 1e-5);
}

TEST(Transforms, RandomErasingBlanksOneRectangle) {
  Tensor img = ones({2, 20, 20});
  int erased_images = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Tensor r = random_erasing({.p = 1.0})(img, seed);
    ASSERT_EQ(r.shape(), img.shape());
    int64_t y0 = 99, y1 = -1, x0 = 99, x1 = -1, zeros_count = 0;
    for (int64_t y = 0; y < 20; ++y)
      for (int64_t x = 0; x < 20; ++x)
        if (at(r, 0, y, x) == 0.f) {
          ++zeros_count;
          y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
          EXPECT_EQ(at(r, 1, y, x), 0.f);  // every channel
        }
    if (zeros_count == 0) continue;
    ++erased_images;
    EXPECT_EQ(zeros_count, (y1 - y0 + 1) * (x1 - x0 + 1)) << "not a rectangle";
    EXPECT_GE(zeros_count, 4);      // >= 0.02 of 400 pixels (after rounding)
    EXPECT_LE(zeros_count, 0.45 * 400);
  }
  EXPECT_GE(erased_images, 15);
  EXPECT_EQ(raw(random_erasing({.p = 0.0})(img, 1)), raw(img));
  EXPECT_EQ(raw(img), raw(ones({2, 20, 20})));  // the input is never modified
}

TEST(Transforms, NormalizeAndCompose) {
  Tensor img = coord_image(2, 2, 2);  // channel 0: 0 1 10 11, channel 1: 100 101 110 111
  Tensor n = normalize(img, {1.0, 100.0}, {2.0, 10.0});
  EXPECT_EQ(n.to_vector<float>(), (std::vector<float>{-0.5, 0, 4.5, 5, 0, 0.1f, 1, 1.1f}));
  EXPECT_ERROR(normalize({1.0, 2.0}, {1.0, 0.0}), "std must be positive");
  // The function form checks the same (before: a zero std gave inf and NaN pixels silently).
  EXPECT_ERROR(normalize(img, {1.0, 2.0}, {1.0, 0.0}), "[normalize]", "std[1] = 0", "std must be positive");
  EXPECT_ERROR(normalize(img, {1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}), "3 means for 2 channels");
  // Feature vectors: every element is a channel.
  Tensor f = from_vector<float>({1, 2, 3}, {3});
  EXPECT_EQ(normalize(f, {1, 2, 3}, {1, 1, 1}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  // compose applies in order: flip then shift != shift then flip, and matches doing it by hand.
  Tensor x = coord_image(1, 4, 5);
  Transform t = compose({random_horizontal_flip(1.0), random_shift(0, 0), normalize({0.0}, {2.0})});
  EXPECT_EQ(raw(t(x, 1)), raw(normalize(hflip(x), {0.0}, {2.0})));
  EXPECT_NE(t.name().find("random_horizontal_flip"), std::string::npos);
}

TEST(Transforms, SeededPerSampleStreams) {
  Tensor x = coord_image(1, 28, 28);
  Transform aug = random_affine({.max_degrees = 20, .max_translate_x = 0.1, .max_translate_y = 0.1,
                                 .min_scale = 0.9, .max_scale = 1.1, .max_shear_x = 10});
  Rng a = Rng::for_sample(3, 1, 2), b = Rng::for_sample(3, 1, 2);
  EXPECT_EQ(raw(aug(x, a)), raw(aug(x, b)));
  Rng c = Rng::for_sample(3, 2, 2), d = Rng::for_sample(3, 1, 3), e = Rng::for_sample(4, 1, 2);
  Tensor base = aug(x, a);
  EXPECT_NE(raw(aug(x, c)), raw(base));
  EXPECT_NE(raw(aug(x, d)), raw(base));
  EXPECT_NE(raw(aug(x, e)), raw(base));
}

TEST(Transforms, RejectBadImages) {
  EXPECT_ERROR(rotate(zeros({1, 4, 4}, {.dtype = kU8}), 10), "[warp_affine] expected an f32", "u8");
  EXPECT_ERROR(hflip(zeros({2, 1, 4, 4})), "[hflip]", "[2, 1, 4, 4]");
  EXPECT_ERROR(random_horizontal_flip(1.5), "probability");
  EXPECT_ERROR(random_rotation(10, -10), "empty");
  // A non-contiguous (transposed) image is read correctly.
  Tensor img = coord_image(1, 3, 4);
  Tensor tr = img.transpose(1, 2);  // [1, 4, 3]
  EXPECT_EQ(hflip(tr).to_vector<float>(), hflip(tr.contiguous()).to_vector<float>());
}
