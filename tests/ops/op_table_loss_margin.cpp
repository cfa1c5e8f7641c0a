// Op-table rows: cosine_similarity, pairwise_distance, cosine_embedding_loss, margin_ranking_loss,
// hinge_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss, multi_margin_loss,
// triplet_margin_loss, poisson_nll_loss, gaussian_nll_loss.
// References follow PyTorch's documented formulas, written out in f64 loops (never nabla ops).
#include <numbers>

#include "ops/op_table.h"
#include "ops/op_table_loss_rows.h"

namespace optest {
namespace {

namespace nb = nabla;
using nb::Reduction;
using Ins = std::vector<Arr>;

const Reduction kReductions[] = {Reduction::Mean, Reduction::Sum, Reduction::None};

Arr reduce_losses(const Arr& per, Reduction red) {
  if (red == Reduction::None) return per;
  double s = 0;
  for (double x : per.v) s += x;
  return {{}, {red == Reduction::Sum ? s : s / double(per.v.size())}};
}

/// A non-differentiated input of fixed values (targets of ±1, counts).
In T(Shape s, std::vector<double> v, DType dt = DType::i64) {
  In in = X(std::move(s), std::move(v), dt);
  in.grad = false;
  return in;
}

Arr expand_to(const Arr& a, const Shape& s) {
  return make_arr(s, [&](const Shape& i) { return bget(a, i); });
}

/// f(fiber of a, fiber of b) over the fibres along `dim` of two arrays of one shape.
template <typename F>
Arr fold_pair(const Arr& a, const Arr& b, int64_t dim, bool keepdim, F&& f) {
  const int64_t nd = int64_t(a.shape.size());
  if (dim < 0) dim += nd;
  Shape out = a.shape;
  out[size_t(dim)] = 1;
  Arr o = make_arr(out, [&](const Shape& at) {
    Shape idx = at;
    std::vector<double> fa, fb;
    for (int64_t j = 0; j < a.shape[size_t(dim)]; ++j) {
      idx[size_t(dim)] = j;
      fa.push_back(a.at(idx));
      fb.push_back(b.at(idx));
    }
    return f(fa, fb);
  });
  if (!keepdim) o.shape.erase(o.shape.begin() + dim);
  return o;
}

double ref_cos(const std::vector<double>& a, const std::vector<double>& b, double eps) {
  double dot = 0, na = 0, nb2 = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb2 += b[i] * b[i];
  return dot / (std::max(std::sqrt(na), eps) * std::max(std::sqrt(nb2), eps));
}

/// PyTorch's cosine_similarity: broadcast, then x1·x2 / (max(‖x1‖, eps) max(‖x2‖, eps)) along dim.
Arr ref_cosine_similarity(const Arr& x1, const Arr& x2, int64_t dim, double eps) {
  const Shape s = bshape(x1.shape, x2.shape);
  return fold_pair(expand_to(x1, s), expand_to(x2, s), dim, false,
                   [eps](const std::vector<double>& a, const std::vector<double>& b) { return ref_cos(a, b, eps); });
}

double ref_pnorm(const std::vector<double>& d, double p) {
  if (p == INFINITY || p == -INFINITY) {
    double m = p > 0 ? 0 : INFINITY;
    for (double x : d) m = p > 0 ? std::max(m, std::fabs(x)) : std::min(m, std::fabs(x));
    return m;
  }
  double s = 0;
  for (double x : d) s += p == 0 ? (x != 0 ? 1.0 : 0.0) : std::pow(std::fabs(x), p);
  return p == 0 ? s : std::pow(s, 1.0 / p);
}

/// PyTorch's pairwise_distance: ‖x1 - x2 + eps‖_p over the last dim of the broadcast shape.
Arr ref_pairwise_distance(const Arr& x1, const Arr& x2, double p, double eps, bool keepdim = false) {
  const Shape s = bshape(x1.shape, x2.shape);
  if (s.empty()) return {{}, {ref_pnorm({x1.v[0] - x2.v[0] + eps}, p)}};
  return fold_pair(expand_to(x1, s), expand_to(x2, s), -1, keepdim,
                   [p, eps](const std::vector<double>& a, const std::vector<double>& b) {
                     std::vector<double> d;
                     for (size_t i = 0; i < a.size(); ++i) d.push_back(a[i] - b[i] + eps);
                     return ref_pnorm(d, p);
                   });
}

std::vector<OpRow> distance_rows() {
  std::vector<OpRow> rows;
  auto cos_row = [&](std::string name, std::vector<In> in, int64_t dim, double eps, bool gg) {
    rows.push_back(loss_row(
        std::move(name), std::move(in), [dim, eps](const TensorList& x) { return nb::cosine_similarity(x[0], x[1], dim, eps); },
        [dim, eps](const Ins& a) { return ref_cosine_similarity(a[0], a[1], dim, eps); }, gg));
  };
  cos_row("cosine_similarity", {F({4, 5}), F({4, 5})}, 1, 1e-8, true);
  cos_row("cosine_similarity_dim0", {F({4, 5}), F({4, 5})}, 0, 1e-8, false);
  cos_row("cosine_similarity_broadcast", {F({2, 3, 4}), F({3, 1})}, 1, 1e-8, true);
  cos_row("cosine_similarity_broadcast_last_dim", {F({1, 4}), F({3, 4})}, -1, 1e-8, false);
  cos_row("cosine_similarity_1d", {F({5}), F({5})}, 0, 1e-8, false);
  // The eps floor in action: every norm of these short vectors is below eps = 1. The gradient
  // there is PyTorch's (the floor has none of its own), not the derivative of the value, so this
  // row checks values only; the gradient is compared with LibTorch's in tests/nn.
  cos_row("cosine_similarity_eps_floor", {F({4, 3}, -0.3, 0.3), F({4, 3}, -0.3, 0.3)}, 1, 1.0, false);
  rows.back().differentiable = false;

  auto pd_row = [&](std::string name, std::vector<In> in, double p, double eps, bool keepdim, bool gg) {
    rows.push_back(loss_row(
        std::move(name), std::move(in),
        [p, eps, keepdim](const TensorList& x) { return nb::pairwise_distance(x[0], x[1], p, eps, keepdim); },
        [p, eps, keepdim](const Ins& a) { return ref_pairwise_distance(a[0], a[1], p, eps, keepdim); }, gg));
  };
  pd_row("pairwise_distance", {F({4, 5}), F({4, 5})}, 2, 1e-6, false, true);
  pd_row("pairwise_distance_p1", {F({4, 5}), F({4, 5})}, 1, 1e-6, false, false);
  pd_row("pairwise_distance_p3_keepdim", {F({4, 5}), F({4, 5})}, 3, 1e-6, true, true);
  pd_row("pairwise_distance_p_inf", {F({4, 5}), F({4, 5})}, INFINITY, 1e-6, false, false);
  pd_row("pairwise_distance_p_minus_inf", {F({4, 5}), F({4, 5})}, -INFINITY, 1e-6, false, false);
  pd_row("pairwise_distance_p_negative", {F({4, 5}), F({4, 5})}, -1.5, 1e-6, false, false);
  pd_row("pairwise_distance_eps_0_5", {F({4, 5}), F({4, 5})}, 2, 0.5, false, false);
  pd_row("pairwise_distance_broadcast", {F({2, 3, 5}), F({5})}, 2, 1e-6, false, true);
  pd_row("pairwise_distance_1d", {F({5}), F({5})}, 2, 1e-6, false, false);
  // p = 0 counts non-zeros (eps makes exact zeros out of equal entries only when eps is 0).
  pd_row("pairwise_distance_p0", {F({4, 5}), X({4, 5}, std::vector<double>(20, 0.0), DType::f64)}, 0, 0.0, false, false);
  rows.back().differentiable = false;
  return rows;
}

// ---- losses of ±1 targets --------------------------------------------------------------------

/// PyTorch's cosine_embedding_loss: cos with 1e-12 added to each squared norm; 1 - cos for
/// target 1, max(0, cos - margin) for -1.
Arr ref_cosine_embedding(const Arr& x1, const Arr& x2, const Arr& y, double margin, Reduction red) {
  const bool batched = x1.shape.size() == 2;
  const int64_t N = batched ? x1.shape[0] : 1, D = x1.shape.back();
  Arr per{batched ? Shape{N} : Shape{}, {}};
  for (int64_t n = 0; n < N; ++n) {
    double dot = 0, m1 = 1e-12, m2 = 1e-12;
    for (int64_t d = 0; d < D; ++d) {
      const double a = x1.v[size_t(n * D + d)], b = x2.v[size_t(n * D + d)];
      dot += a * b, m1 += a * a, m2 += b * b;
    }
    const double cos = dot / std::sqrt(m1 * m2);
    per.v.push_back(y.v[size_t(n)] == 1 ? 1 - cos : std::max(0.0, cos - margin));
  }
  return reduce_losses(per, red);
}

std::vector<OpRow> sign_target_rows() {
  std::vector<OpRow> rows;
  for (Reduction red : kReductions) {
    for (double margin : {0.0, 0.3}) {
      rows.push_back(loss_row(
          std::string("cosine_embedding_loss_") + red_name(red) + (margin > 0 ? "_margin" : ""),
          {F({6, 4}), F({6, 4}), T({6}, {1, -1, -1, 1, -1, 1})},
          [red, margin](const TensorList& x) {
            return nb::cosine_embedding_loss(x[0], x[1], x[2], {.margin = margin, .reduction = red});
          },
          [red, margin](const Ins& a) { return ref_cosine_embedding(a[0], a[1], a[2], margin, red); },
          red == Reduction::Mean));
    }
  }
  for (double y : {1.0, -1.0}) {
    rows.push_back(loss_row(
        std::string("cosine_embedding_loss_1d_target_") + (y > 0 ? "pos" : "neg"), {F({5}), F({5}), T({}, {y}, DType::f64)},
        [](const TensorList& x) { return nb::cosine_embedding_loss(x[0], x[1], x[2], {.margin = -0.5}); },
        [](const Ins& a) { return ref_cosine_embedding(a[0], a[1], a[2], -0.5, Reduction::Mean); }));
  }

  auto ranking_ref = [](double margin, Reduction red) {
    return [margin, red](const Ins& a) {
      Shape s = bshape(bshape(a[0].shape, a[1].shape), a[2].shape);
      return reduce_losses(make_arr(s,
                                    [&](const Shape& i) {
                                      return std::max(0.0, -bget(a[2], i) * (bget(a[0], i) - bget(a[1], i)) + margin);
                                    }),
                           red);
    };
  };
  const std::vector<double> y6{1, -1, 1, 1, -1, -1};
  for (Reduction red : kReductions) {
    for (double margin : {0.0, 0.5}) {
      rows.push_back(loss_row(
          std::string("margin_ranking_loss_") + red_name(red) + (margin > 0 ? "_margin" : ""), {F({6}), F({6}), T({6}, y6)},
          [red, margin](const TensorList& x) {
            return nb::margin_ranking_loss(x[0], x[1], x[2], {.margin = margin, .reduction = red});
          },
          ranking_ref(margin, red), red == Reduction::Mean));
    }
  }
  // One rank, broadcast: every score against one reference score, targets as floats.
  rows.push_back(loss_row(
      "margin_ranking_loss_broadcast", {F({6}), F({1}), T({6}, y6, DType::f64)},
      [](const TensorList& x) { return nb::margin_ranking_loss(x[0], x[1], x[2], {.margin = 0.2, .reduction = Reduction::None}); },
      ranking_ref(0.2, Reduction::None)));

  const std::vector<double> y12{1, -1, -1, 1, -1, 1, 1, 1, -1, -1, 1, -1};
  auto hinge_ref = [](double margin, Reduction red) {
    return [margin, red](const Ins& a) {
      return reduce_losses(ew2(a[0], a[1], [margin](double x, double y) { return y == 1 ? x : std::max(0.0, margin - x); }),
                           red);
    };
  };
  for (Reduction red : kReductions) {
    for (double margin : {1.0, 2.0}) {
      rows.push_back(loss_row(
          std::string("hinge_embedding_loss_") + red_name(red) + (margin != 1 ? "_margin_2" : ""),
          {F({4, 3}, 0, 3), T({4, 3}, y12)},
          [red, margin](const TensorList& x) { return nb::hinge_embedding_loss(x[0], x[1], {.margin = margin, .reduction = red}); },
          hinge_ref(margin, red), red == Reduction::Mean));
    }
  }

  auto soft_ref = [](Reduction red) {
    return [red](const Ins& a) {
      return reduce_losses(ew2(a[0], a[1],
                               [](double x, double y) {
                                 const double z = -y * x;  // log(1 + e^z), stably
                                 return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
                               }),
                           red);
    };
  };
  for (Reduction red : kReductions) {
    rows.push_back(loss_row(
        std::string("soft_margin_loss_") + red_name(red), {F({4, 3}, -4, 4), T({4, 3}, y12)},
        [red](const TensorList& x) { return nb::soft_margin_loss(x[0], x[1], red); }, soft_ref(red),
        red == Reduction::Mean));
  }
  // |x| up to 800: exp(800) overflows, the stable form does not (and f32 keeps the 1e-300 tails).
  rows.push_back(loss_row(
      "soft_margin_loss_large_none", {M({4, 3}, 30, 800), T({4, 3}, y12, DType::f64)},
      [](const TensorList& x) { return nb::soft_margin_loss(x[0], x[1], Reduction::None); }, soft_ref(Reduction::None)));
  return rows;
}

// ---- class losses --------------------------------------------------------------------------

/// PyTorch's multilabel_soft_margin_loss: -(1/C) Σ_c w_c (y log σ(x) + (1 - y) log σ(-x)) per sample.
Arr ref_multilabel(const Arr& x, const Arr& y, const Arr* w, Reduction red) {
  auto log_sigmoid = [](double v) { return v >= 0 ? -std::log1p(std::exp(-v)) : v - std::log1p(std::exp(v)); };
  const int64_t C = x.shape.back(), N = x.numel() / C;
  Shape none_shape(x.shape.begin(), x.shape.end() - 1);
  Arr per{none_shape, {}};
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double xv = x.v[size_t(n * C + c)], yv = y.v[size_t(n * C + c)];
      s -= (w ? w->v[size_t(c)] : 1.0) * (yv * log_sigmoid(xv) + (1 - yv) * log_sigmoid(-xv));
    }
    per.v.push_back(s / double(C));
  }
  return reduce_losses(per, red);
}

/// PyTorch's multi_margin_loss: (1/C) Σ_{i≠y} w_y max(0, margin - x_y + x_i)^p per sample.
Arr ref_multi_margin(const Arr& x, const Arr& t, int64_t p, double margin, const Arr* w, Reduction red) {
  const int64_t C = x.shape.empty() ? 1 : x.shape.back(), N = x.numel() / C;
  Arr per{t.shape, {}};
  for (int64_t n = 0; n < N; ++n) {
    const int64_t y = int64_t(t.v[size_t(n)]);
    const double xy = x.v[size_t(n * C + y)];
    double s = 0;
    for (int64_t i = 0; i < C; ++i) {
      if (i == y) continue;
      const double z = std::max(0.0, margin - xy + x.v[size_t(n * C + i)]);
      s += (w ? w->v[size_t(y)] : 1.0) * (p == 1 ? z : z * z);
    }
    per.v.push_back(s / double(C));
  }
  return reduce_losses(per, red);
}

std::vector<OpRow> class_loss_rows() {
  std::vector<OpRow> rows;
  for (Reduction red : kReductions) {
    rows.push_back(loss_row(
        std::string("multilabel_soft_margin_loss_") + red_name(red), {F({4, 3}, -4, 4), F({4, 3}, 0, 1)},
        [red](const TensorList& x) { return nb::multilabel_soft_margin_loss(x[0], x[1], {.weight = {}, .reduction = red}); },
        [red](const Ins& a) { return ref_multilabel(a[0], a[1], nullptr, red); }, red == Reduction::Mean));
    rows.push_back(loss_row(
        std::string("multilabel_soft_margin_loss_weight_") + red_name(red),
        {F({4, 3}, -4, 4), T({4, 3}, {1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1}, DType::f64), C({3}, 0.5, 2)},
        [red](const TensorList& x) { return nb::multilabel_soft_margin_loss(x[0], x[1], {.weight = x[2], .reduction = red}); },
        [red](const Ins& a) { return ref_multilabel(a[0], a[1], &a[2], red); }));
  }
  rows.push_back(loss_row(
      "multilabel_soft_margin_loss_1d_none", {F({5}, -4, 4), F({5}, 0, 1)},
      [](const TensorList& x) {
        return nb::multilabel_soft_margin_loss(x[0], x[1], {.weight = {}, .reduction = Reduction::None});
      },
      [](const Ins& a) { return ref_multilabel(a[0], a[1], nullptr, Reduction::None); }));

  for (Reduction red : kReductions) {
    for (int64_t p : {1, 2}) {
      const std::string suffix = std::string(red_name(red)) + (p == 2 ? "_p2" : "");
      rows.push_back(loss_row(
          "multi_margin_loss_" + suffix, {F({5, 4}), I({5}, 4)},
          [red, p](const TensorList& x) { return nb::multi_margin_loss(x[0], x[1], {.p = p, .reduction = red}); },
          [red, p](const Ins& a) { return ref_multi_margin(a[0], a[1], p, 1.0, nullptr, red); }, red == Reduction::Mean));
      rows.push_back(loss_row(
          "multi_margin_loss_weight_margin_" + suffix, {F({5, 4}), X({5}, {3, 0, 2, 0, 1}), C({4}, 0.5, 2)},
          [red, p](const TensorList& x) {
            return nb::multi_margin_loss(x[0], x[1], {.p = p, .margin = 0.7, .weight = x[2], .reduction = red});
          },
          [red, p](const Ins& a) { return ref_multi_margin(a[0], a[1], p, 0.7, &a[2], red); }, red == Reduction::Mean));
    }
  }
  // One sample [C] with a 0-d target or a [1] target: None keeps the target's shape.
  for (bool zero_d : {true, false}) {
    rows.push_back(loss_row(
        std::string("multi_margin_loss_single_sample_") + (zero_d ? "0d" : "1d"),
        {F({5}), zero_d ? X({}, {3}) : X({1}, {3})},
        [](const TensorList& x) { return nb::multi_margin_loss(x[0], x[1], {.p = 2, .reduction = Reduction::None}); },
        [](const Ins& a) { return ref_multi_margin(a[0], a[1], 2, 1.0, nullptr, Reduction::None); }));
  }
  return rows;
}

// ---- triplet and likelihood losses -----------------------------------------------------------

/// PyTorch's triplet_margin_loss: max(0, margin + d(a, p) - d(a, n)), d(a, n) replaced by
/// min(d(a, n), d(p, n)) when swapping.
Arr ref_triplet(const Arr& a, const Arr& p, const Arr& n, double margin, double pn, double eps, bool swap,
                Reduction red) {
  const Arr dp = ref_pairwise_distance(a, p, pn, eps), dn = ref_pairwise_distance(a, n, pn, eps);
  const Arr ds = ref_pairwise_distance(p, n, pn, eps);
  Arr per = dp;
  for (size_t i = 0; i < per.v.size(); ++i)
    per.v[i] = std::max(0.0, margin + dp.v[i] - (swap ? std::min(dn.v[i], ds.v[i]) : dn.v[i]));
  return reduce_losses(per, red);
}

/// PyTorch's poisson_nll_loss, with Stirling's term where target > 1 when `full`.
double ref_poisson(double x, double t, bool log_input, bool full, double eps) {
  double l = log_input ? std::exp(x) - t * x : x - t * std::log(x + eps);
  if (full && t > 1) l += t * std::log(t) - t + 0.5 * std::log(2 * std::numbers::pi * t);
  return l;
}

/// PyTorch's gaussian_nll_loss: var of input's shape, or without the last dim, or last dim 1.
Arr ref_gaussian_nll(const Arr& x, const Arr& t, const Arr& var, bool full, double eps, Reduction red) {
  Arr v = var;
  if (v.shape != x.shape && v.shape.size() + 1 == x.shape.size()) v.shape.push_back(1);
  Arr per = make_arr(x.shape, [&](const Shape& i) {
    const double vi = std::max(bget(v, i), eps), d = x.at(i) - bget(t, i);
    return 0.5 * (std::log(vi) + d * d / vi) + (full ? 0.5 * std::log(2 * std::numbers::pi) : 0.0);
  });
  return reduce_losses(per, red);
}

std::vector<OpRow> likelihood_rows() {
  std::vector<OpRow> rows;
  struct TripletCase {
    const char* name;
    double margin, p, eps;
    bool swap;
  };
  for (Reduction red : kReductions) {
    for (const TripletCase& c : {TripletCase{"", 1.0, 2.0, 1e-6, false}, TripletCase{"_p1_margin_swap", 0.5, 1.0, 1e-6, true},
                                 TripletCase{"_swap_eps", 1.0, 2.0, 0.1, true}}) {
      rows.push_back(loss_row(
          std::string("triplet_margin_loss_") + red_name(red) + c.name, {F({5, 4}), F({5, 4}), F({5, 4})},
          [red, c](const TensorList& x) {
            return nb::triplet_margin_loss(x[0], x[1], x[2],
                                           {.margin = c.margin, .p = c.p, .eps = c.eps, .swap = c.swap, .reduction = red});
          },
          [red, c](const Ins& a) { return ref_triplet(a[0], a[1], a[2], c.margin, c.p, c.eps, c.swap, red); },
          red == Reduction::Mean && c.p == 2));
    }
  }
  rows.push_back(loss_row(
      "triplet_margin_loss_1d_margin_3", {F({4}), F({4}), F({4})},
      [](const TensorList& x) { return nb::triplet_margin_loss(x[0], x[1], x[2], {.margin = 3, .reduction = Reduction::None}); },
      [](const Ins& a) { return ref_triplet(a[0], a[1], a[2], 3, 2, 1e-6, false, Reduction::None); }));

  for (Reduction red : kReductions) {
    for (bool log_input : {true, false}) {
      for (bool full : {false, true}) {
        std::string name = std::string("poisson_nll_loss_") + red_name(red) + (log_input ? "" : "_rate") + (full ? "_full" : "");
        In input = log_input ? F({4, 3}) : F({4, 3}, 0.1, 3);
        // Counts 0..4 (full's Stirling term is piecewise in the target, so those rows hold them fixed).
        In target = full ? T({4, 3}, {0, 1, 2, 3, 4, 1, 0, 2, 3, 1, 4, 2}, DType::f64) : F({4, 3}, 0, 4);
        rows.push_back(loss_row(
            name, {input, target},
            [=](const TensorList& x) {
              return nb::poisson_nll_loss(x[0], x[1], {.log_input = log_input, .full = full, .eps = 1e-8, .reduction = red});
            },
            [=](const Ins& a) {
              return reduce_losses(ew2(a[0], a[1], [=](double x, double t) { return ref_poisson(x, t, log_input, full, 1e-8); }),
                                   red);
            },
            red == Reduction::Mean));
      }
    }
  }
  rows.push_back(loss_row(
      "poisson_nll_loss_rate_eps_0_5", {F({4, 3}, 0.1, 3), F({4, 3}, 0, 4)},
      [](const TensorList& x) { return nb::poisson_nll_loss(x[0], x[1], {.log_input = false, .eps = 0.5}); },
      [](const Ins& a) {
        return reduce_losses(ew2(a[0], a[1], [](double x, double t) { return ref_poisson(x, t, false, false, 0.5); }),
                             Reduction::Mean);
      }));

  struct VarCase {
    const char* name;
    Shape var, target;
  };
  for (Reduction red : kReductions) {
    for (bool full : {false, true}) {
      for (const VarCase& c : {VarCase{"", {4, 3}, {4, 3}}, VarCase{"_homoscedastic", {4}, {4, 3}},
                               VarCase{"_homoscedastic_last_dim_1", {4, 1}, {1, 3}}}) {
        rows.push_back(loss_row(
            std::string("gaussian_nll_loss_") + red_name(red) + (full ? "_full" : "") + c.name,
            {F({4, 3}), F(c.target), F(c.var, 0.2, 2)},
            [red, full](const TensorList& x) {
              return nb::gaussian_nll_loss(x[0], x[1], x[2], {.full = full, .reduction = red});
            },
            [red, full](const Ins& a) { return ref_gaussian_nll(a[0], a[1], a[2], full, 1e-6, red); },
            red == Reduction::Mean && !full));
      }
    }
  }
  // var below eps (and 0) is floored at eps; the floor passes the gradient through unchanged (as
  // PyTorch's), which is not the derivative of the value, so values only here.
  rows.push_back(loss_row(
      "gaussian_nll_loss_var_floor_none", {F({2, 3}), F({2, 3}), X({2, 3}, {0, 1e-9, 0.05, 0.5, 0.01, 2}, DType::f64)},
      [](const TensorList& x) { return nb::gaussian_nll_loss(x[0], x[1], x[2], {.eps = 0.02, .reduction = Reduction::None}); },
      [](const Ins& a) { return ref_gaussian_nll(a[0], a[1], a[2], false, 0.02, Reduction::None); }));
  rows.back().differentiable = false;
  return rows;
}

}  // namespace

NB_OP_TABLE(LossDistance, distance_rows());
NB_OP_TABLE(LossSignTarget, sign_target_rows());
NB_OP_TABLE(LossClassMargin, class_loss_rows());
NB_OP_TABLE(LossTripletLikelihood, likelihood_rows());

}  // namespace optest
