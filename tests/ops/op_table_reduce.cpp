// Op-table rows: reductions, the softmax family, argmax/argmin and topk, cumsum, sort and norm,
// group_norm and instance_norm.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

const Shape kS{2, 3, 4};

/// A reduction row over x [2, 3, 4] (plus a 0-d case when `scalar_case`).
template <typename Op, typename Agg>
OpRow reduce_row(std::string name, In in, Shape dims, bool keepdim, Op op, Agg agg, bool gradgrad = false) {
  OpRow r;
  r.name = std::move(name);
  in.shape = kS;
  r.inputs = {in};
  r.fn = [op, dims, keepdim](const TensorList& x) { return op(x[0], dims, keepdim); };
  r.ref = [agg, dims, keepdim](const std::vector<Arr>& a) { return reduce_ref(a[0], dims, keepdim, agg); };
  r.gradgrad = gradgrad;
  return r;
}

std::vector<double> ref_softmax(const std::vector<double>& v) {
  double m = *std::max_element(v.begin(), v.end());
  std::vector<double> o;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  for (double x : v) o.push_back(std::exp(x - m) / s);
  return o;
}

std::vector<double> ref_log_softmax(const std::vector<double>& v) {
  double lse = ref_logsumexp(v);
  std::vector<double> o;
  for (double x : v) o.push_back(x - lse);
  return o;
}

/// Indices of the k largest (smallest) values, sorted, lower index first on ties.
std::vector<int64_t> ref_topk_idx(const std::vector<double>& v, int64_t k, bool largest) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return largest ? v[size_t(a)] > v[size_t(b)] : v[size_t(a)] < v[size_t(b)];
  });
  idx.resize(size_t(k));
  return idx;
}

auto sum_op = [](const Tensor& x, const Shape& d, bool k) { return nb::sum(x, d, k); };
auto mean_op = [](const Tensor& x, const Shape& d, bool k) { return nb::mean(x, d, k); };
auto var_op = [](const Tensor& x, const Shape& d, bool k) { return nb::var(x, d, k); };
auto std_op = [](const Tensor& x, const Shape& d, bool k) { return nb::std(x, d, k); };
auto max_op = [](const Tensor& x, const Shape& d, bool k) { return nb::max(x, d, k); };
auto min_op = [](const Tensor& x, const Shape& d, bool k) { return nb::min(x, d, k); };
auto lse_op = [](const Tensor& x, const Shape& d, bool k) { return nb::logsumexp(x, d, k); };
auto agg_max = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
auto agg_min = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
auto agg_var = [](const std::vector<double>& v) { return ref_var(v); };
auto agg_std = [](const std::vector<double>& v) { return std::sqrt(ref_var(v)); };

std::vector<OpRow> reduce_rows() {
  std::vector<OpRow> rows;
  rows.push_back(reduce_row("sum_all", F({}), {}, false, sum_op, ref_sum, true));
  rows.back().extra_cases = {{Shape{}}, {Shape{5}}};
  rows.push_back(reduce_row("sum_dim1", F({}), {1}, false, sum_op, ref_sum));
  rows.push_back(reduce_row("sum_dims02_keepdim", F({}), {0, 2}, true, sum_op, ref_sum, true));
  rows.push_back(reduce_row("sum_dim_neg1", F({}), {-1}, false, sum_op, ref_sum));
  rows.push_back(reduce_row("sum_all_keepdim", F({}), {}, true, sum_op, ref_sum));
  rows.push_back(reduce_row("mean_all", F({}), {}, false, mean_op, ref_mean, true));
  rows.push_back(reduce_row("mean_dim0_keepdim", F({}), {0}, true, mean_op, ref_mean));
  rows.push_back(reduce_row("mean_dims12", F({}), {1, 2}, false, mean_op, ref_mean));
  rows.push_back(reduce_row("var_all", F({}), {}, false, var_op, agg_var, true));
  rows.push_back(reduce_row("var_dim1", F({}), {1}, false, var_op, agg_var, true));
  rows.push_back(reduce_row("var_dims02_keepdim", F({}), {0, 2}, true, var_op, agg_var));
  {
    OpRow r = reduce_row(
        "var_dim2_correction0", F({}), {2}, false,
        [](const Tensor& x, const Shape& d, bool k) { return nb::var(x, d, k, 0); },
        [](const std::vector<double>& v) { return ref_var(v, 0); });
    rows.push_back(r);
  }
  rows.push_back(reduce_row("std_all", F({}), {}, false, std_op, agg_std, true));
  rows.push_back(reduce_row("std_dim2_keepdim", F({}), {2}, true, std_op, agg_std));
  rows.push_back(reduce_row("max_all", F({}), {}, false, max_op, agg_max, true));
  rows.push_back(reduce_row("max_dim1", F({}), {1}, false, max_op, agg_max));
  rows.push_back(reduce_row("max_dim0_keepdim", F({}), {0}, true, max_op, agg_max));
  rows.push_back(reduce_row("max_dims02", F({}), {0, 2}, false, max_op, agg_max));
  rows.push_back(reduce_row("min_all", F({}), {}, false, min_op, agg_min));
  rows.push_back(reduce_row("min_dim2", F({}), {2}, false, min_op, agg_min, true));
  rows.push_back(reduce_row("min_dims01_keepdim", F({}), {0, 1}, true, min_op, agg_min));
  {
    // Two-way ties: the gradient is split evenly, which is also what central differences see.
    OpRow r;
    r.name = "max_dim1_two_way_ties";
    r.inputs = {X({3, 3}, {1, 3, 3, 2, 2, 0, -1, 4, 0.5}, DType::f64)};
    r.fn = [](const TensorList& x) { return nb::max(x[0], {1}); };
    r.ref = [](const std::vector<Arr>& a) { return reduce_ref(a[0], {1}, false, agg_max); };
    rows.push_back(r);
    r.name = "min_all_two_way_tie";
    r.inputs = {X({2, 3}, {1, -3, 3, 2, -3, 0}, DType::f64)};
    r.fn = [](const TensorList& x) { return nb::min(x[0]); };
    r.ref = [](const std::vector<Arr>& a) { return reduce_ref(a[0], {}, false, agg_min); };
    rows.push_back(r);
  }
  rows.push_back(reduce_row("logsumexp_dim1", F({}, -3, 3), {1}, false, lse_op, ref_logsumexp, true));
  rows.push_back(reduce_row("logsumexp_dims02_keepdim", F({}, -3, 3), {0, 2}, true, lse_op, ref_logsumexp));
  rows.push_back(reduce_row("logsumexp_all", F({}, -3, 3), {}, false, lse_op, ref_logsumexp));
  return rows;
}

std::vector<OpRow> softmax_rows() {
  std::vector<OpRow> rows;
  for (int64_t dim : {-1, 0, 1}) {
    std::string suffix = dim < 0 ? "neg1" : std::to_string(dim);
    OpRow s;
    s.name = "softmax_dim" + suffix;
    s.inputs = {F(kS, -3, 3)};
    s.fn = [dim](const TensorList& x) { return nb::softmax(x[0], dim); };
    s.ref = [dim](const std::vector<Arr>& a) { return along_dim(a[0], dim, ref_softmax); };
    s.gradgrad = dim != 0;
    rows.push_back(s);
    OpRow l = s;
    l.name = "log_softmax_dim" + suffix;
    l.fn = [dim](const TensorList& x) { return nb::log_softmax(x[0], dim); };
    l.ref = [dim](const std::vector<Arr>& a) { return along_dim(a[0], dim, ref_log_softmax); };
    rows.push_back(l);
  }
  OpRow s2;
  s2.name = "softmax_1d";
  s2.inputs = {F({5}, -3, 3)};
  s2.fn = [](const TensorList& x) { return nb::softmax(x[0], 0); };
  s2.ref = [](const std::vector<Arr>& a) { return along_dim(a[0], 0, ref_softmax); };
  rows.push_back(s2);
  return rows;
}

std::vector<OpRow> arg_rows() {
  std::vector<OpRow> rows;
  auto arg_row = [&](std::string name, bool is_max, std::optional<int64_t> dim, bool keepdim) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F(kS)};
    r.differentiable = false;
    r.fn = [=](const TensorList& x) { return is_max ? nb::argmax(x[0], dim, keepdim) : nb::argmin(x[0], dim, keepdim); };
    r.ref = [=](const std::vector<Arr>& a) {
      auto pick = [is_max](const std::vector<double>& v) {
        size_t best = 0;
        for (size_t i = 1; i < v.size(); ++i)
          if (is_max ? v[i] > v[best] : v[i] < v[best]) best = i;
        return double(best);
      };
      if (!dim) {
        Shape s = keepdim ? Shape(a[0].shape.size(), 1) : Shape{};
        return Arr{s, {pick(a[0].v)}};
      }
      Arr o = along_dim(a[0], *dim, [&](const std::vector<double>& v) { return std::vector<double>{pick(v)}; }, 1);
      if (!keepdim) o.shape.erase(o.shape.begin() + (*dim < 0 ? *dim + int64_t(a[0].shape.size()) : *dim));
      return o;
    };
    rows.push_back(r);
  };
  arg_row("argmax_all", true, std::nullopt, false);
  arg_row("argmax_all_keepdim", true, std::nullopt, true);
  arg_row("argmax_dim1", true, 1, false);
  arg_row("argmax_dim0_keepdim", true, 0, true);
  arg_row("argmax_dim_neg1", true, -1, false);
  arg_row("argmin_dim2", false, 2, false);
  arg_row("argmin_all", false, std::nullopt, false);

  auto topk_row = [&](std::string name, int64_t k, int64_t dim, bool largest, bool indices) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F(kS)};
    r.differentiable = !indices;
    r.gradgrad = !indices && dim == -1;
    r.fn = [=](const TensorList& x) {
      auto [v, i] = nb::topk(x[0], k, dim, largest);
      return indices ? i : v;
    };
    r.ref = [=](const std::vector<Arr>& a) {
      return along_dim(
          a[0], dim,
          [&](const std::vector<double>& v) {
            std::vector<double> o;
            for (int64_t i : ref_topk_idx(v, k, largest)) o.push_back(indices ? double(i) : v[size_t(i)]);
            return o;
          },
          k);
    };
    rows.push_back(r);
  };
  topk_row("topk_values_k2_last", 2, -1, true, false);
  topk_row("topk_indices_k2_last", 2, -1, true, true);
  topk_row("topk_values_k2_dim0_smallest", 2, 0, false, false);
  topk_row("topk_indices_k3_dim1", 3, 1, true, true);
  topk_row("topk_values_k4_dim2_full_sort", 4, 2, true, false);
  topk_row("topk_indices_k0", 0, 2, true, true);
  return rows;
}

std::vector<OpRow> scan_sort_norm_rows() {
  std::vector<OpRow> rows;
  for (int64_t dim : {int64_t(0), int64_t(-1)}) {
    OpRow r;
    r.name = dim == 0 ? "cumsum_dim0" : "cumsum_last_dim";
    r.inputs = {F(kS)};
    r.fn = [dim](const TensorList& x) { return nb::cumsum(x[0], dim); };
    r.ref = [dim](const std::vector<Arr>& a) {
      return along_dim(a[0], dim, [](const std::vector<double>& v) {
        std::vector<double> o;
        double run = 0;
        for (double e : v) o.push_back(run += e);
        return o;
      });
    };
    r.extra_cases = {{Shape{13, 2, 1}}, {Shape{1, 1, 9}}};  // lengths that are not powers of two
    r.gradgrad = dim == -1;
    rows.push_back(r);
  }
  for (auto [name, dim, descending, indices] :
       {std::tuple{"sort_last_dim", int64_t(-1), false, false}, std::tuple{"sort_dim0_descending", int64_t(0), true, false},
        std::tuple{"argsort_dim1", int64_t(1), false, true}, std::tuple{"argsort_last_descending", int64_t(-1), true, true}}) {
    OpRow r;
    r.name = name;
    r.inputs = {F(kS)};
    r.differentiable = !indices;
    r.fn = [=](const TensorList& x) {
      return indices ? nb::argsort(x[0], dim, descending) : nb::sort(x[0], dim, descending).first;
    };
    r.ref = [=](const std::vector<Arr>& a) {
      return along_dim(a[0], dim, [&](const std::vector<double>& v) {
        std::vector<double> o;
        for (int64_t i : ref_topk_idx(v, int64_t(v.size()), descending)) o.push_back(indices ? double(i) : v[size_t(i)]);
        return o;
      });
    };
    rows.push_back(r);
  }
  // Ties keep their order (a stable sort), ascending and descending.
  for (bool descending : {false, true}) {
    OpRow r;
    r.name = descending ? "argsort_ties_descending" : "argsort_ties";
    r.inputs = {X({2, 5}, {2, 1, 2, 1, 0, 3, 3, 3, -1, 3}, DType::f64)};
    r.differentiable = false;
    r.fn = [=](const TensorList& x) { return nb::argsort(x[0], -1, descending); };
    r.ref = [=](const std::vector<Arr>& a) {
      return along_dim(a[0], -1, [&](const std::vector<double>& v) {
        std::vector<double> o;
        for (int64_t i : ref_topk_idx(v, int64_t(v.size()), descending)) o.push_back(double(i));
        return o;
      });
    };
    rows.push_back(r);
  }
  for (auto [name, p, dims, keepdim] : {std::tuple{"norm_2_all", 2.0, Shape{}, false},
                                        std::tuple{"norm_2_dim1_keepdim", 2.0, Shape{1}, true},
                                        std::tuple{"norm_1_dims02", 1.0, Shape{0, 2}, false},
                                        std::tuple{"norm_3_last_dim", 3.0, Shape{-1}, false},
                                        std::tuple{"norm_half_dim0", 0.5, Shape{0}, false},
                                        std::tuple{"norm_inf_dim1", double(INFINITY), Shape{1}, false}}) {
    // |x| kept away from 0, where the p-norm has a kink (p = 1, 0.5) or a tie-prone max.
    OpRow r = reduce_row(
        name, M({}), dims, keepdim, [p](const Tensor& x, const Shape& d, bool k) { return nb::norm(x, p, d, k); },
        [p](const std::vector<double>& v) {
          double acc = 0;
          for (double e : v) acc = std::isinf(p) ? std::max(acc, std::fabs(e)) : acc + std::pow(std::fabs(e), p);
          return std::isinf(p) ? acc : std::pow(acc, 1.0 / p);
        },
        p != 0.5 && !std::isinf(p));
    rows.push_back(r);
  }
  {
    OpRow r;
    r.name = "norm_0_counts_nonzeros";
    r.inputs = {X({2, 4}, {0, 1.5, 0, -2, 0, 0, 0, 0}, DType::f64)};
    r.differentiable = false;
    r.fn = [](const TensorList& x) { return nb::norm(x[0], 0, {1}); };
    r.ref = [](const std::vector<Arr>&) { return Arr{{2}, {2, 0}}; };
    rows.push_back(r);
  }
  return rows;
}

/// group_norm reference: per sample and group, (x - mean) / sqrt(biased var + eps), then the
/// per-channel weight and bias.
Arr ref_group_norm(const std::vector<Arr>& a, int64_t groups, double eps) {
  const Arr& x = a[0];
  const int64_t N = x.shape[0], C = x.shape[1], S = x.numel() / (N * C), per = C / groups * S;
  Arr out = x;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const size_t base = size_t((n * C + g * (C / groups)) * S);
      std::vector<double> v(x.v.begin() + long(base), x.v.begin() + long(base) + per);
      const double m = ref_mean(v), rstd = 1.0 / std::sqrt(ref_var(v, 0) + eps);
      for (int64_t j = 0; j < per; ++j) {
        const int64_t c = g * (C / groups) + j / S;
        double y = (v[size_t(j)] - m) * rstd;
        if (a.size() > 1) y = y * a[1].v[size_t(c)] + a[2].v[size_t(c)];
        out.v[base + size_t(j)] = y;
      }
    }
  return out;
}

std::vector<OpRow> group_norm_rows() {
  std::vector<OpRow> rows;
  auto row = [&](std::string name, int64_t groups, bool affine, std::vector<std::vector<Shape>> extra) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F({2, 4, 3, 2})};
    if (affine) r.inputs.insert(r.inputs.end(), {F({4}, 0.5, 2), F({4})});
    r.fn = [=](const TensorList& x) {
      return affine ? nb::group_norm(x[0], groups, x[1], x[2]) : nb::group_norm(x[0], groups);
    };
    r.ref = [=](const std::vector<Arr>& a) { return ref_group_norm(a, groups, 1e-5); };
    r.gradgrad = true;
    r.extra_cases = extra;
    r.atol = 1e-10;
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  row("group_norm_2_groups_affine", 2, true, {{Shape{3, 4, 5}, Shape{4}, Shape{4}}});
  row("group_norm_1_group", 1, false, {{Shape{3, 4}}});
  // The second case has one value per group: y = bias, no gradient reaches x.
  row("group_norm_per_channel_affine", 4, true,
      {{Shape{1, 4, 2, 2, 2}, Shape{4}, Shape{4}}, {Shape{3, 4}, Shape{4}, Shape{4}}});
  return rows;
}

// instance_norm is group_norm with one group per channel: the same reference.
std::vector<OpRow> instance_norm_rows() {
  std::vector<OpRow> rows;
  auto row = [&](std::string name, Shape x, bool affine) {
    const int64_t C = x[1];
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F(x)};
    if (affine) r.inputs.insert(r.inputs.end(), {F({C}, 0.5, 2), F({C})});
    r.fn = [=](const TensorList& t) {
      nb::InstanceNormOptions o;
      if (affine) o.weight = t[1], o.bias = t[2];
      return nb::instance_norm(t[0], o);
    };
    r.ref = [=](const std::vector<Arr>& a) { return ref_group_norm(a, C, 1e-5); };
    r.gradgrad = true;
    r.atol = 1e-10;
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  row("instance_norm_2d", {2, 3, 3, 2}, false);
  row("instance_norm_2d_affine", {2, 3, 2, 4}, true);
  row("instance_norm_1d_affine", {3, 2, 5}, true);
  return rows;
}

}  // namespace

NB_OP_TABLE(GroupNorm, group_norm_rows());
NB_OP_TABLE(InstanceNorm, instance_norm_rows());
NB_OP_TABLE(Reduce, reduce_rows());
NB_OP_TABLE(ScanSortNorm, scan_sort_norm_rows());
NB_OP_TABLE(Softmax, softmax_rows());
NB_OP_TABLE(ArgTopk, arg_rows());

}  // namespace optest
