// Op-table rows: affine_grid and grid_sample (every mode and padding, both align_corners, 2-D
// and 3-D). The reference re-derives PyTorch's sampling rules (GridSampler.h) in plain f64
// loops; tests/ops/grid_sample_test.cpp pins both against LibTorch 1.13's values.
#include <algorithm>
#include <array>
#include <cmath>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;
using Mode = nb::GridSampleMode;
using Pad = nb::GridSamplePadding;

double unnormalize(double g, int64_t size, bool ac) {
  return ac ? (g + 1) / 2 * double(size - 1) : ((g + 1) * double(size) - 1) / 2;
}

double reflect(double c, double lo2, double hi2) {
  if (lo2 == hi2) return 0;
  const double lo = lo2 / 2, span = (hi2 - lo2) / 2;
  c = std::fabs(c - lo);
  const double extra = std::fmod(c, span);
  const int64_t flips = int64_t(std::floor(c / span));
  return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

double pad(double c, int64_t size, Pad p, bool ac) {
  const double hi = double(size - 1);
  if (p == Pad::zeros) return c;
  if (p == Pad::reflection) c = ac ? reflect(c, 0, 2.0 * hi) : reflect(c, -1, 2.0 * double(size) - 1);
  return std::min(hi, std::max(c, 0.0));
}

/// x[n, ch, (z,) y, x] or 0 outside; `pos` is (x, y[, z]).
double at(const Arr& x, int64_t n, int64_t ch, const std::vector<int64_t>& pos) {
  const size_t S = pos.size();
  Shape idx{n, ch};
  for (size_t a = 0; a < S; ++a) {
    const int64_t size = x.shape[x.shape.size() - 1 - a];
    if (pos[a] < 0 || pos[a] >= size) return 0;
  }
  for (size_t a = S; a-- > 0;) idx.push_back(pos[a]);
  return x.at(idx);
}

double cubic(double a, double b, double c, double d, double t) {
  const double A = -0.75;
  auto near = [&](double s) { return ((A + 2) * s - (A + 3)) * s * s + 1; };
  auto far = [&](double s) { return ((A * s - 5 * A) * s + 8 * A) * s - 4 * A; };
  return a * far(t + 1) + b * near(t) + c * near(1 - t) + d * far(2 - t);
}

Arr ref_grid_sample(const Arr& x, const Arr& grid, Mode mode, Pad p, bool ac) {
  const int64_t S = int64_t(x.shape.size()) - 2, N = x.shape[0], C = x.shape[1];
  Shape out_spatial(grid.shape.begin() + 1, grid.shape.end() - 1);
  Shape os{N, C};
  os.insert(os.end(), out_spatial.begin(), out_spatial.end());
  return make_arr(os, [&](const Shape& o) {
    Shape gi{o[0]};
    gi.insert(gi.end(), o.begin() + 2, o.end());
    gi.push_back(0);
    std::vector<double> c(static_cast<size_t>(S));
    std::vector<int64_t> size(static_cast<size_t>(S));
    for (int64_t a = 0; a < S; ++a) {
      gi.back() = a;
      size[size_t(a)] = x.shape[x.shape.size() - 1 - size_t(a)];
      c[size_t(a)] = unnormalize(grid.at(gi), size[size_t(a)], ac);
      if (mode != Mode::bicubic) c[size_t(a)] = pad(c[size_t(a)], size[size_t(a)], p, ac);
    }
    if (mode == Mode::nearest) {
      std::vector<int64_t> pos;
      for (double v : c) pos.push_back(int64_t(std::nearbyint(v)));
      return at(x, o[0], o[1], pos);
    }
    if (mode == Mode::bicubic) {
      const double x0 = std::floor(c[0]), y0 = std::floor(c[1]);
      auto tap = [&](double base, int64_t k, int64_t sz) { return int64_t(pad(base + double(k - 1), sz, p, ac)); };
      std::array<double, 4> rows{};
      for (int64_t j = 0; j < 4; ++j) {
        std::array<double, 4> v{};
        for (int64_t i = 0; i < 4; ++i) v[size_t(i)] = at(x, o[0], o[1], {tap(x0, i, size[0]), tap(y0, j, size[1])});
        rows[size_t(j)] = cubic(v[0], v[1], v[2], v[3], c[0] - x0);
      }
      return cubic(rows[0], rows[1], rows[2], rows[3], c[1] - y0);
    }
    double sum = 0;
    for (int corner = 0; corner < (1 << S); ++corner) {
      std::vector<int64_t> pos(static_cast<size_t>(S));
      double w = 1;
      for (int64_t a = 0; a < S; ++a) {
        const double f = std::floor(c[size_t(a)]), t = c[size_t(a)] - f;
        const bool upper = (corner >> a) & 1;
        pos[size_t(a)] = int64_t(f) + upper;
        w *= upper ? t : 1 - t;
      }
      sum += w * at(x, o[0], o[1], pos);
    }
    return sum;
  });
}

const char* mode_name(Mode m) { return m == Mode::bilinear ? "bilinear" : m == Mode::nearest ? "nearest" : "bicubic"; }
const char* pad_name(Pad p) { return p == Pad::zeros ? "zeros" : p == Pad::border ? "border" : "reflection"; }

std::vector<OpRow> grid_sample_rows() {
  std::vector<OpRow> rows;
  for (Mode mode : {Mode::bilinear, Mode::nearest, Mode::bicubic}) {
    for (Pad p : {Pad::zeros, Pad::border, Pad::reflection}) {
      for (bool ac : {false, true}) {
        OpRow r;
        r.name = std::string("grid_sample_") + mode_name(mode) + "_" + pad_name(p) + (ac ? "_align" : "");
        // Grid values beyond [-1, 1] exercise the padding (reflection folds them more than once).
        r.inputs = {F({2, 3, 4, 5}), F({2, 3, 2, 2}, -2.3, 2.3)};
        r.fn = [=](const TensorList& t) {
          return nb::grid_sample(t[0], t[1], {.mode = mode, .padding_mode = p, .align_corners = ac});
        };
        r.ref = [=](const std::vector<Arr>& a) { return ref_grid_sample(a[0], a[1], mode, p, ac); };
        r.gradgrad = mode == Mode::bilinear && p == Pad::zeros && !ac;
        r.atol = 1e-11;
        r.atol32 = 1e-4;
        rows.push_back(r);
      }
    }
  }
  for (Pad p : {Pad::zeros, Pad::border, Pad::reflection}) {
    for (Mode mode : {Mode::bilinear, Mode::nearest}) {
      OpRow r;
      r.name = std::string("grid_sample_3d_") + mode_name(mode) + "_" + pad_name(p);
      r.inputs = {F({1, 2, 3, 4, 5}), F({1, 2, 2, 3, 3}, -1.5, 1.5)};
      r.fn = [=](const TensorList& t) { return nb::grid_sample(t[0], t[1], {.mode = mode, .padding_mode = p}); };
      r.ref = [=](const std::vector<Arr>& a) { return ref_grid_sample(a[0], a[1], mode, p, false); };
      r.atol32 = 1e-4;
      rows.push_back(r);
    }
  }
  for (bool three_d : {false, true}) {
    for (bool ac : {false, true}) {
      const Shape size = three_d ? Shape{2, 1, 2, 3, 4} : Shape{2, 1, 3, 4};
      const int64_t S = three_d ? 3 : 2;
      OpRow r;
      r.name = std::string("affine_grid_") + (three_d ? "3d" : "2d") + (ac ? "_align" : "");
      r.inputs = {F({2, S, S + 1})};
      r.fn = [=](const TensorList& t) { return nb::affine_grid(t[0], size, ac); };
      r.ref = [=](const std::vector<Arr>& a) {
        Shape os{size[0]};
        os.insert(os.end(), size.begin() + 2, size.end());
        os.push_back(S);
        return make_arr(os, [&](const Shape& o) {
          // base (x, y[, z], 1): x along the last spatial dim
          std::vector<double> base;
          for (int64_t k = 0; k < S; ++k) {
            const int64_t steps = size[size_t(size.size()) - 1 - size_t(k)], i = o[size_t(o.size()) - 2 - size_t(k)];
            double v = steps <= 1 ? 0 : -1 + 2.0 * double(i) / double(steps - 1);
            if (!ac && steps > 1) v = v * double(steps - 1) / double(steps);
            base.push_back(v);
          }
          base.push_back(1);
          double s = 0;
          for (int64_t k = 0; k <= S; ++k) s += a[0].at({o[0], o.back(), k}) * base[size_t(k)];
          return s;
        });
      };
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace

NB_OP_TABLE(GridSample, grid_sample_rows());

}  // namespace optest
