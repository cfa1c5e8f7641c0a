// Op-table rows: cross_entropy, nll_loss, mse_loss, binary_cross_entropy(_with_logits), l1_loss,
// smooth_l1_loss, huber_loss, kl_div.
// References follow PyTorch's documented formulas, written out in f64 loops.
#include "ops/op_table.h"
#include "ops/op_table_loss_rows.h"

namespace optest {
namespace {

namespace nb = nabla;
using nb::Reduction;
using Ins = std::vector<Arr>;

/// Geometry of class-dim inputs: [C] (one sample), [N, C] or [N, C, d...].
struct ClassGeom {
  int64_t N, C, D;
  explicit ClassGeom(const Shape& s) {
    if (s.size() == 1) {
      N = 1, C = s[0], D = 1;
    } else {
      N = s[0], C = s[1], D = 1;
      for (size_t i = 2; i < s.size(); ++i) D *= s[i];
    }
  }
  size_t at(int64_t n, int64_t c, int64_t d) const { return size_t((n * C + c) * D + d); }
};

/// log_softmax over the class dim, in f64.
std::vector<double> ref_logp(const Arr& logits, const ClassGeom& g) {
  std::vector<double> lp(logits.v.size());
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t d = 0; d < g.D; ++d) {
      std::vector<double> row;
      for (int64_t c = 0; c < g.C; ++c) row.push_back(logits.v[g.at(n, c, d)]);
      double lse = ref_logsumexp(row);
      for (int64_t c = 0; c < g.C; ++c) lp[g.at(n, c, d)] = row[size_t(c)] - lse;
    }
  return lp;
}

Arr reduce_losses(const std::vector<double>& per, const Shape& none_shape, Reduction red, double mean_denominator) {
  if (red == Reduction::None) return {none_shape, per};
  if (red == Reduction::BatchMean) mean_denominator = double(none_shape.empty() ? 1 : none_shape[0]);
  double s = 0;
  for (double x : per) s += x;
  return {{}, {red == Reduction::Sum ? s : s / mean_denominator}};
}

struct RefCe {
  const Arr* weight = nullptr;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  Reduction reduction = Reduction::Mean;
};

/// PyTorch CrossEntropyLoss. Class-index targets:
///   l_i = (1-ε) w_{y_i} (-logp_{i,y_i}) + (ε/C) Σ_c w_c (-logp_{i,c}),  0 where y_i = ignore_index;
///   mean = Σ l_i / Σ_{i not ignored} w_{y_i}.
/// Probability targets: l_i = -Σ_c w_c y'_{i,c} logp_{i,c} with y' = (1-ε) y + ε/C; mean = Σ l_i / (N·d...).
Arr ref_cross_entropy(const Arr& logits, const Arr& target, const RefCe& o) {
  ClassGeom g(logits.shape);
  std::vector<double> lp = ref_logp(logits, g);
  auto w = [&](int64_t c) { return o.weight ? o.weight->v[size_t(c)] : 1.0; };
  const double eps = o.label_smoothing;
  std::vector<double> per;
  double wsum = 0;
  const bool prob = target.shape == logits.shape;  // else class indices
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t d = 0; d < g.D; ++d) {
      double l = 0;
      if (prob) {
        for (int64_t c = 0; c < g.C; ++c) {
          double y = target.v[g.at(n, c, d)] * (1 - eps) + eps / double(g.C);
          l -= w(c) * y * lp[g.at(n, c, d)];
        }
      } else {
        int64_t t = int64_t(target.v[size_t(n * g.D + d)]);
        if (t != o.ignore_index) {
          double smooth = 0;
          for (int64_t c = 0; c < g.C; ++c) smooth -= w(c) * lp[g.at(n, c, d)];
          l = (1 - eps) * w(t) * -lp[g.at(n, t, d)] + eps / double(g.C) * smooth;
          wsum += w(t);
        }
      }
      per.push_back(l);
    }
  Shape none_shape = target.shape;
  if (prob) none_shape.erase(none_shape.begin() + (logits.shape.size() == 1 ? 0 : 1));
  return reduce_losses(per, none_shape, o.reduction, prob ? double(g.N * g.D) : wsum);
}

/// PyTorch NLLLoss: l_i = -w_{y_i} x_{i,y_i} (0 when ignored); mean divides by Σ w_{y_i}.
Arr ref_nll(const Arr& lp, const Arr& target, const Arr* weight, int64_t ignore_index, Reduction red) {
  ClassGeom g(lp.shape);
  std::vector<double> per;
  double wsum = 0;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t d = 0; d < g.D; ++d) {
      int64_t t = int64_t(target.v[size_t(n * g.D + d)]);
      double l = 0;
      if (t != ignore_index) {
        double w = weight ? weight->v[size_t(t)] : 1.0;
        l = -w * lp.v[g.at(n, t, d)];
        wsum += w;
      }
      per.push_back(l);
    }
  return reduce_losses(per, target.shape, red, wsum);
}

double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

/// PyTorch BCEWithLogitsLoss: l = -w [p y log σ(x) + (1 - y) log(1 - σ(x))], p broadcast over the last dim.
Arr ref_bce(const Arr& x, const Arr& y, const Arr* weight, const Arr* pos_weight, Reduction red) {
  std::vector<double> per;
  for (int64_t i = 0; i < x.numel(); ++i) {
    Shape idx = unravel(x.shape, i);
    double xv = x.v[size_t(i)], yv = y.v[size_t(i)];
    double p = pos_weight ? bget(*pos_weight, idx) : 1.0;
    double w = weight ? bget(*weight, idx) : 1.0;
    per.push_back(-w * (p * yv * log_sigmoid(xv) + (1 - yv) * log_sigmoid(-xv)));
  }
  return reduce_losses(per, x.shape, red, double(x.numel()));
}

nb::CrossEntropyOptions ce(Reduction red, Tensor weight = Tensor(), int64_t ignore_index = -100, double ls = 0) {
  nb::CrossEntropyOptions o;
  o.weight = std::move(weight);
  o.ignore_index = ignore_index;
  o.label_smoothing = ls;
  o.reduction = red;
  return o;
}

nb::BCEWithLogitsOptions bce(Reduction red, Tensor weight = Tensor(), Tensor pos_weight = Tensor()) {
  nb::BCEWithLogitsOptions o;
  o.weight = std::move(weight);
  o.pos_weight = std::move(pos_weight);
  o.reduction = red;
  return o;
}

nb::NllLossOptions nll(Reduction red, Tensor weight = Tensor()) {
  nb::NllLossOptions o;
  o.weight = std::move(weight);
  o.reduction = red;
  return o;
}

RefCe rce(Reduction red, const Arr* weight = nullptr, int64_t ignore_index = -100, double ls = 0) {
  RefCe o;
  o.weight = weight;
  o.ignore_index = ignore_index;
  o.label_smoothing = ls;
  o.reduction = red;
  return o;
}

std::vector<OpRow> cross_entropy_rows() {
  std::vector<OpRow> rows;
  const Shape L{4, 3};
  // Class-index targets: reductions x (no weight / weight) x (no smoothing / smoothing).
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    for (bool weighted : {false, true}) {
      for (double ls : {0.0, 0.1}) {
        std::string name = std::string("cross_entropy_int_") + red_name(red) + (weighted ? "_weight" : "") +
                           (ls > 0 ? "_smoothing" : "");
        std::vector<In> in{F(L, -3, 3), I({4}, 3)};
        if (weighted) in.push_back(C({3}, 0.5, 2));
        bool gg = red == Reduction::Mean && (weighted == (ls > 0));
        rows.push_back(loss_row(
            name, in,
            [=](const TensorList& x) {
              nb::CrossEntropyOptions o;
              if (weighted) o.weight = x[2];
              o.label_smoothing = ls;
              o.reduction = red;
              return nb::cross_entropy(x[0], x[1], o);
            },
            [=](const Ins& a) {
              RefCe o;
              if (weighted) o.weight = &a[2];
              o.label_smoothing = ls;
              o.reduction = red;
              return ref_cross_entropy(a[0], a[1], o);
            },
            gg));
      }
    }
  }
  // ignore_index: the default -100, and a custom one together with weights and smoothing.
  rows.push_back(loss_row(
      "cross_entropy_ignore_index_default", {F(L, -3, 3), X({4}, {0, -100, 2, 1})},
      [](const TensorList& x) { return nb::cross_entropy(x[0], x[1]); },
      [](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(Reduction::Mean)); }));
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("cross_entropy_ignore_index_weight_smoothing_") + red_name(red),
        {F({5, 3}, -3, 3), X({5}, {1, 0, 2, 1, 2}), C({3}, 0.5, 2)},
        [red](const TensorList& x) {
          return nb::cross_entropy(x[0], x[1], ce(red, x[2], 1, 0.2));
        },
        [red](const Ins& a) {
          return ref_cross_entropy(a[0], a[1], rce(red, &a[2], 1, 0.2));
        },
        red == Reduction::Mean));
  }
  // ignore_index with smoothing and no weights (the fused kernels; grad-of-grad through their
  // composed VJP), every reduction.
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("cross_entropy_ignore_index_smoothing_") + red_name(red), {F({5, 3}, -3, 3), X({5}, {1, -100, 2, 1, 0})},
        [red](const TensorList& x) { return nb::cross_entropy(x[0], x[1], ce(red, nb::Tensor(), -100, 0.2)); },
        [red](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(red, nullptr, -100, 0.2)); }, true));
  }
  // Probability targets (differentiable in the target too).
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("cross_entropy_prob_") + red_name(red), {F(L, -3, 3), F(L, 0, 1)},
        [red](const TensorList& x) { return nb::cross_entropy(x[0], x[1], ce(red)); },
        [red](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(red)); },
        red == Reduction::Mean));
  }
  rows.push_back(loss_row(
      "cross_entropy_prob_weight_smoothing_mean", {F(L, -3, 3), F(L, 0, 1), C({3}, 0.5, 2)},
      [](const TensorList& x) { return nb::cross_entropy(x[0], x[1], ce(Reduction::Mean, x[2], -100, 0.15)); },
      [](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(Reduction::Mean, &a[2], -100, 0.15)); }, true));
  // Spatial [N, C, d] logits with [N, d] targets, and a single [C] sample with a 0-d target.
  for (Reduction red : {Reduction::Mean, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("cross_entropy_spatial_") + red_name(red), {F({2, 3, 2}, -3, 3), I({2, 2}, 3)},
        [red](const TensorList& x) { return nb::cross_entropy(x[0], x[1], ce(red)); },
        [red](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(red)); }));
  }
  rows.push_back(loss_row(
      "cross_entropy_spatial_prob_none", {F({2, 3, 2}, -3, 3), F({2, 3, 2}, 0, 1)},
      [](const TensorList& x) { return nb::cross_entropy(x[0], x[1], ce(Reduction::None)); },
      [](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(Reduction::None)); }));
  rows.push_back(loss_row(
      "cross_entropy_single_sample", {F({4}, -3, 3), X({}, {2})},
      [](const TensorList& x) { return nb::cross_entropy(x[0], x[1]); },
      [](const Ins& a) { return ref_cross_entropy(a[0], a[1], rce(Reduction::Mean)); }));
  return rows;
}

std::vector<OpRow> other_loss_rows() {
  std::vector<OpRow> rows;
  const Shape L{4, 3};
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("nll_loss_") + red_name(red), {F(L, -3, -0.1), I({4}, 3)},
        [red](const TensorList& x) { return nb::nll_loss(x[0], x[1], nll(red)); },
        [red](const Ins& a) { return ref_nll(a[0], a[1], nullptr, -100, red); }, red == Reduction::Mean));
    rows.push_back(loss_row(
        std::string("nll_loss_weight_ignore_") + red_name(red), {F({5, 3}, -3, -0.1), X({5}, {2, -100, 0, 2, 1}),
                                                                  C({3}, 0.5, 2)},
        [red](const TensorList& x) { return nb::nll_loss(x[0], x[1], nll(red, x[2])); },
        [red](const Ins& a) { return ref_nll(a[0], a[1], &a[2], -100, red); }));
  }
  rows.push_back(loss_row(
      "nll_loss_spatial", {F({2, 3, 2}, -3, -0.1), I({2, 2}, 3)},
      [](const TensorList& x) { return nb::nll_loss(x[0], x[1]); },
      [](const Ins& a) { return ref_nll(a[0], a[1], nullptr, -100, Reduction::Mean); }));

  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("mse_loss_") + red_name(red), {F(L), F(L)},
        [red](const TensorList& x) { return nb::mse_loss(x[0], x[1], red); },
        [red](const Ins& a) {
          std::vector<double> per;
          for (size_t i = 0; i < a[0].v.size(); ++i) per.push_back((a[0].v[i] - a[1].v[i]) * (a[0].v[i] - a[1].v[i]));
          return reduce_losses(per, a[0].shape, red, double(per.size()));
        },
        red == Reduction::Mean));
  }

  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    rows.push_back(loss_row(
        std::string("bce_with_logits_") + red_name(red), {F(L, -4, 4), F(L, 0, 1)},
        [red](const TensorList& x) { return nb::binary_cross_entropy_with_logits(x[0], x[1], bce(red)); },
        [red](const Ins& a) { return ref_bce(a[0], a[1], nullptr, nullptr, red); }, red == Reduction::Mean));
  }
  rows.push_back(loss_row(
      "bce_with_logits_weight", {F(L, -4, 4), C(L, 0, 1), C({3}, 0.5, 2)},
      [](const TensorList& x) { return nb::binary_cross_entropy_with_logits(x[0], x[1], bce(Reduction::Mean, x[2])); },
      [](const Ins& a) { return ref_bce(a[0], a[1], &a[2], nullptr, Reduction::Mean); }));
  rows.push_back(loss_row(
      "bce_with_logits_pos_weight", {F(L, -4, 4), C(L, 0, 1), C({3}, 0.5, 3)},
      [](const TensorList& x) { return nb::binary_cross_entropy_with_logits(x[0], x[1], bce(Reduction::Mean, Tensor(), x[2])); },
      [](const Ins& a) { return ref_bce(a[0], a[1], nullptr, &a[2], Reduction::Mean); }, true));
  rows.push_back(loss_row(
      "bce_with_logits_weight_pos_weight_sum", {F(L, -4, 4), X(L, {0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1}, DType::f64),
                                                C(L, 0.5, 2), C({3}, 0.5, 3)},
      [](const TensorList& x) {
        return nb::binary_cross_entropy_with_logits(x[0], x[1], bce(Reduction::Sum, x[2], x[3]));
      },
      [](const Ins& a) { return ref_bce(a[0], a[1], &a[2], &a[3], Reduction::Sum); }));
  // Large logits: the stable formula must not overflow.
  rows.push_back(loss_row(
      "bce_with_logits_large_logits_none", {M(L, 30, 80), C(L, 0, 1)},
      [](const TensorList& x) {
        return nb::binary_cross_entropy_with_logits(x[0], x[1], bce(Reduction::None));
      },
      [](const Ins& a) { return ref_bce(a[0], a[1], nullptr, nullptr, Reduction::None); }));
  return rows;
}

/// Element-wise loss row over inputs of one shape: per(x, t) reduced.
template <typename Per>
OpRow pointwise_loss_row(std::string name, std::vector<In> inputs, OpFn fn, Per per_elem, Reduction red,
                         bool gradgrad = false) {
  return loss_row(
      std::move(name), std::move(inputs), std::move(fn),
      [per_elem, red](const Ins& a) {
        std::vector<double> per;
        for (size_t i = 0; i < a[0].v.size(); ++i)
          per.push_back(per_elem(a[0].v[i], a[1].v[i]) * (a.size() > 2 ? bget(a[2], unravel(a[0].shape, int64_t(i))) : 1.0));
        return reduce_losses(per, a[0].shape, red, double(per.size()));
      },
      gradgrad);
}

double ref_smooth_l1(double d, double beta) {
  double ad = std::fabs(d);
  return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
}
double ref_huber(double d, double delta) {
  double ad = std::fabs(d);
  return ad < delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
}
/// PyTorch's BCELoss: -(t log x + (1 - t) log(1 - x)), each log clamped at -100.
double ref_bce_prob(double x, double t) {
  return -(t * std::max(std::log(x), -100.0) + (1 - t) * std::max(std::log1p(-x), -100.0));
}

std::vector<OpRow> regression_loss_rows() {
  std::vector<OpRow> rows;
  const Shape L{4, 3};
  const auto R3 = {Reduction::Mean, Reduction::Sum, Reduction::None};
  for (Reduction red : R3) {
    const bool gg = red == Reduction::Mean;
    rows.push_back(pointwise_loss_row(
        std::string("l1_loss_") + red_name(red), {F(L), F(L)},
        [red](const TensorList& x) { return nb::l1_loss(x[0], x[1], red); },
        [](double x, double t) { return std::fabs(x - t); }, red, gg));
    rows.push_back(pointwise_loss_row(
        std::string("smooth_l1_loss_") + red_name(red), {F(L), F(L)},
        [red](const TensorList& x) { return nb::smooth_l1_loss(x[0], x[1], red); },
        [](double x, double t) { return ref_smooth_l1(x - t, 1.0); }, red, gg));
    rows.push_back(pointwise_loss_row(
        std::string("huber_loss_") + red_name(red), {F(L), F(L)},
        [red](const TensorList& x) { return nb::huber_loss(x[0], x[1], red); },
        [](double x, double t) { return ref_huber(x - t, 1.0); }, red, gg));
    rows.push_back(pointwise_loss_row(
        std::string("bce_") + red_name(red), {F(L, 0.05, 0.95), F(L, 0, 1)},
        [red](const TensorList& x) { return nb::binary_cross_entropy(x[0], x[1], {.weight = {}, .reduction = red}); },
        ref_bce_prob, red, gg));
  }
  rows.push_back(pointwise_loss_row(
      "smooth_l1_loss_beta_0_5", {F(L), F(L)},
      [](const TensorList& x) { return nb::smooth_l1_loss(x[0], x[1], Reduction::Mean, 0.5); },
      [](double x, double t) { return ref_smooth_l1(x - t, 0.5); }, Reduction::Mean));
  rows.push_back(pointwise_loss_row(
      "smooth_l1_loss_beta_0", {F(L), F(L)},
      [](const TensorList& x) { return nb::smooth_l1_loss(x[0], x[1], Reduction::Sum, 0.0); },
      [](double x, double t) { return std::fabs(x - t); }, Reduction::Sum));
  rows.push_back(pointwise_loss_row(
      "huber_loss_delta_2_5", {F(L, -4, 4), F(L)},
      [](const TensorList& x) { return nb::huber_loss(x[0], x[1], Reduction::Mean, 2.5); },
      [](double x, double t) { return ref_huber(x - t, 2.5); }, Reduction::Mean, true));
  rows.push_back(pointwise_loss_row(
      "bce_weight_sum", {F(L, 0.05, 0.95), C(L, 0, 1), C({3}, 0.5, 2)},
      [](const TensorList& x) { return nb::binary_cross_entropy(x[0], x[1], {.weight = x[2], .reduction = Reduction::Sum}); },
      ref_bce_prob, Reduction::Sum));
  // Probabilities of exactly 0 and 1: the clamped logs keep the loss finite (100 per wrong one).
  rows.push_back(pointwise_loss_row(
      "bce_saturated_none", {X({4}, {0, 1, 0, 1}, DType::f64), X({4}, {0, 1, 1, 0}, DType::f64)},
      [](const TensorList& x) { return nb::binary_cross_entropy(x[0], x[1], {.weight = {}, .reduction = Reduction::None}); },
      ref_bce_prob, Reduction::None));
  rows.back().differentiable = false;
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None, Reduction::BatchMean}) {
    const bool gg = red == Reduction::BatchMean;
    rows.push_back(pointwise_loss_row(
        std::string("kl_div_") + red_name(red), {F(L, -3, -0.1), F(L, 0.05, 1)},
        [red](const TensorList& x) { return nb::kl_div(x[0], x[1], {.reduction = red}); },
        [](double x, double t) { return t * (std::log(t) - x); }, red, gg));
    rows.push_back(pointwise_loss_row(
        std::string("kl_div_log_target_") + red_name(red), {F(L, -3, -0.1), F(L, -3, -0.1)},
        [red](const TensorList& x) { return nb::kl_div(x[0], x[1], {.reduction = red, .log_target = true}); },
        [](double x, double t) { return std::exp(t) * (t - x); }, red, gg));
  }
  // A zero target contributes 0 (t log t -> 0), not NaN.
  rows.push_back(pointwise_loss_row(
      "kl_div_zero_target", {F({4}, -3, -0.1), X({4}, {0, 0.5, 0, 0.5}, DType::f64)},
      [](const TensorList& x) { return nb::kl_div(x[0], x[1], {.reduction = Reduction::Sum}); },
      [](double x, double t) { return t == 0 ? 0.0 : t * (std::log(t) - x); }, Reduction::Sum));
  rows.back().inputs[1].grad = false;  // d/dt of t log t is -inf at 0
  return rows;
}

}  // namespace

NB_OP_TABLE(CrossEntropy, cross_entropy_rows());
NB_OP_TABLE(RegressionLoss, regression_loss_rows());
NB_OP_TABLE(Loss, other_loss_rows());

}  // namespace optest
