// Op-table rows: kthvalue, median, nanmedian, mode, cummax / cummin and quantile. The references
// sort plain f64 copies (a stable sort, as the ops' order: ties by index).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

const Shape kS{2, 3, 4};

/// Positions of v in ascending stable order.
std::vector<size_t> stable_order(const std::vector<double>& v) {
  std::vector<size_t> o(v.size());
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  return o;
}

/// A value-selecting reduction row over x [2, 3, 4] along `dim`: `pos(v)` is the chosen element's
/// index in the fiber; the row checks the value (differentiable) or the index.
template <typename Op, typename Pos>
OpRow select_row(std::string name, int64_t dim, bool keepdim, bool indices, Op op, Pos pos, In in = F(kS)) {
  OpRow r;
  r.name = std::move(name);
  r.inputs = {in};
  r.differentiable = !indices;
  r.fn = [=](const TensorList& x) {
    auto [v, i] = op(x[0], dim, keepdim);
    return indices ? i : v;
  };
  r.ref = [=](const std::vector<Arr>& a) {
    return reduce_ref(a[0], {dim}, keepdim, [&](const std::vector<double>& v) {
      size_t p = pos(v);
      return indices ? double(p) : v[p];
    });
  };
  return r;
}

size_t lower_median_pos(const std::vector<double>& v) { return stable_order(v)[(v.size() - 1) / 2]; }

/// The first most frequent value in ascending order, at its last index.
size_t mode_pos(const std::vector<double>& v) {
  std::vector<size_t> o = stable_order(v);
  size_t best = o[0], best_len = 0;
  for (size_t s = 0; s < o.size();) {
    size_t e = s + 1;
    while (e < o.size() && v[o[e]] == v[o[s]]) ++e;
    if (e - s > best_len) best_len = e - s, best = o[e - 1];
    s = e;
  }
  return best;
}

/// PyTorch's quantile of one fiber (no NaN): rank q (n - 1), then the interpolation.
double ref_quantile(std::vector<double> v, double q, nb::QuantileInterpolation mode) {
  std::sort(v.begin(), v.end());
  double rank = q * double(v.size() - 1);
  using QI = nb::QuantileInterpolation;
  if (mode == QI::lower) rank = std::floor(rank);
  if (mode == QI::higher) rank = std::ceil(rank);
  if (mode == QI::nearest) rank = std::nearbyint(rank);
  const double lo = v[size_t(std::floor(rank))], hi = v[size_t(std::ceil(rank))];
  if (mode == QI::midpoint) return (lo + hi) / 2;
  return lo + (rank - std::floor(rank)) * (hi - lo);
}

std::vector<OpRow> order_stats_rows() {
  std::vector<OpRow> rows;
  auto kth = [](int64_t k) { return [k](const Tensor& x, int64_t d, bool kd) { return nb::kthvalue(x, k, d, kd); }; };
  auto kth_pos = [](int64_t k) { return [k](const std::vector<double>& v) { return stable_order(v)[size_t(k - 1)]; }; };
  rows.push_back(select_row("kthvalue_k2_last", -1, false, false, kth(2), kth_pos(2)));
  rows.push_back(select_row("kthvalue_k3_dim1_keepdim", 1, true, false, kth(3), kth_pos(3)));
  rows.push_back(select_row("kthvalue_indices_k1_dim0", 0, false, true, kth(1), kth_pos(1)));
  // Ties: three 3s; the k-th in a stable order.
  rows.push_back(select_row("kthvalue_indices_ties", -1, false, true, kth(3), kth_pos(3),
                            X({2, 5}, {3, 1, 3, 3, 0, 2, 2, 2, 2, 2}, DType::f64)));

  auto med = [](const Tensor& x, int64_t d, bool kd) { return nb::median(x, d, kd); };
  auto nanmed = [](const Tensor& x, int64_t d, bool kd) { return nb::nanmedian(x, d, kd); };
  rows.push_back(select_row("median_dim_last_even", -1, false, false, med, lower_median_pos));
  rows.push_back(select_row("median_dim1_odd_keepdim", 1, true, false, med, lower_median_pos));
  rows.push_back(select_row("median_indices_dim0", 0, false, true, med, lower_median_pos));
  rows.push_back(select_row("median_indices_ties", -1, false, true, med, lower_median_pos,
                            X({2, 4}, {1, 1, 1, 2, 5, 5, 3, 3}, DType::f64)));
  rows.push_back(select_row("nanmedian_dim_last", -1, false, false, nanmed, lower_median_pos));
  {
    // The whole-tensor forms: a 0-d result (distinct values, so the even split is one element).
    for (bool nan_variant : {false, true}) {
      OpRow r;
      r.name = nan_variant ? "nanmedian_all" : "median_all";
      r.inputs = {F(kS)};
      r.fn = [=](const TensorList& x) { return nan_variant ? nb::nanmedian(x[0]) : nb::median(x[0]); };
      r.ref = [](const std::vector<Arr>& a) {
        return reduce_ref(a[0], {}, false, [](const std::vector<double>& v) { return v[lower_median_pos(v)]; });
      };
      r.extra_cases = {{Shape{5}}, {Shape{}}};
      rows.push_back(r);
    }
  }

  auto mode = [](const Tensor& x, int64_t d, bool kd) { return nb::mode(x, d, kd); };
  rows.push_back(select_row("mode_distinct_last", -1, false, false, mode, mode_pos));
  OpRow mode_ties = select_row("mode_ties_values", -1, false, false, mode, mode_pos,
                               X({3, 5}, {1, 3, 3, 1, 2, 2, 2, 1, 1, 0, 4, 5, 6, 7, 8}, DType::f64));
  mode_ties.differentiable = false;  // a nudge breaks a tie and changes the mode itself
  rows.push_back(mode_ties);
  rows.push_back(select_row("mode_ties_indices", -1, false, true, mode, mode_pos,
                            X({3, 5}, {1, 3, 3, 1, 2, 2, 2, 1, 1, 0, 4, 5, 6, 7, 8}, DType::f64)));

  for (bool is_max : {true, false}) {
    for (bool indices : {false, true}) {
      for (int64_t dim : {int64_t(0), int64_t(-1)}) {
        OpRow r;
        r.name = std::string(is_max ? "cummax" : "cummin") + (indices ? "_indices" : "_values") +
                 (dim == 0 ? "_dim0" : "_last");
        r.inputs = {F(kS)};
        r.differentiable = !indices;
        r.fn = [=](const TensorList& x) {
          auto [v, i] = is_max ? nb::cummax(x[0], dim) : nb::cummin(x[0], dim);
          return indices ? i : v;
        };
        r.ref = [=](const std::vector<Arr>& a) {
          return along_dim(a[0], dim, [&](const std::vector<double>& v) {
            std::vector<double> o;
            size_t best = 0;
            for (size_t i = 0; i < v.size(); ++i) {
              if (is_max ? v[i] >= v[best] : v[i] <= v[best]) best = i;
              o.push_back(indices ? double(best) : v[best]);
            }
            return o;
          });
        };
        rows.push_back(r);
      }
    }
  }
  rows.push_back(OpRow{});
  rows.back().name = "cummax_indices_ties";
  rows.back().inputs = {X({1, 6}, {1, 3, 2, 3, 0, 3}, DType::f64)};
  rows.back().differentiable = false;
  rows.back().fn = [](const TensorList& x) { return nb::cummax(x[0], -1).second; };
  rows.back().ref = [](const std::vector<Arr>&) { return Arr{{1, 6}, {0, 1, 1, 3, 3, 5}}; };

  using QI = nb::QuantileInterpolation;
  const std::pair<const char*, QI> modes[] = {{"linear", QI::linear},
                                              {"lower", QI::lower},
                                              {"higher", QI::higher},
                                              {"midpoint", QI::midpoint},
                                              {"nearest", QI::nearest}};
  for (auto [mode_name, qi] : modes) {
    // A scalar q along a dim; q = 0.4 over 4 elements gives rank 1.2 (between two neighbours).
    OpRow r;
    r.name = std::string("quantile_") + mode_name + "_dim_last";
    r.inputs = {F(kS)};
    r.fn = [qi](const TensorList& x) { return nb::quantile(x[0], 0.4, {.dim = -1, .interpolation = qi}); };
    r.ref = [qi](const std::vector<Arr>& a) {
      return reduce_ref(a[0], {-1}, false, [&](const std::vector<double>& v) { return ref_quantile(v, 0.4, qi); });
    };
    rows.push_back(r);
  }
  {
    // Several q over all elements, keepdim: [Q, 1, 1, 1].
    const std::vector<double> qs{0.0, 0.25, 0.5, 0.9, 1.0};
    OpRow r;
    r.name = "quantile_vector_q_all_keepdim";
    r.inputs = {F(kS)};
    r.fn = [=](const TensorList& x) {
      return nb::quantile(x[0], nb::from_vector(qs, {int64_t(qs.size())}, x[0].dtype()), {.keepdim = true});
    };
    r.ref = [=](const std::vector<Arr>& a) {
      Arr o{{int64_t(qs.size()), 1, 1, 1}, {}};
      for (double q : qs) o.v.push_back(ref_quantile(a[0].v, q, QI::linear));
      return o;
    };
    r.gradgrad = true;
    rows.push_back(r);
  }
  {
    // A 1-D q along dim 1: [Q, 2, 4].
    const std::vector<double> qs{0.1, 0.75};
    OpRow r;
    r.name = "quantile_vector_q_dim1";
    r.inputs = {F(kS)};
    r.fn = [=](const TensorList& x) {
      return nb::nanquantile(x[0], nb::from_vector(qs, {2}, x[0].dtype()), {.dim = 1});
    };
    r.ref = [=](const std::vector<Arr>& a) {
      Arr o{{2, 2, 4}, {}};
      for (double q : qs) {
        Arr one =
            reduce_ref(a[0], {1}, false, [&](const std::vector<double>& v) { return ref_quantile(v, q, QI::linear); });
        o.v.insert(o.v.end(), one.v.begin(), one.v.end());
      }
      return o;
    };
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

NB_OP_TABLE(OrderStats, order_stats_rows());

}  // namespace optest
