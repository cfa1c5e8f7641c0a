// Op-table rows: matmul (1-D, 2-D, batched, broadcast batch dims), linear and linear_relu, conv1d,
// and 1-D pooling.
#include <algorithm>
#include <cmath>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

/// NumPy matmul in plain loops: 1-D operands are promoted to matrices and the added
/// dimension dropped; batch dimensions broadcast.
Arr ref_matmul(const Arr& a0, const Arr& b0) {
  Arr a = a0, b = b0;
  bool a1 = a.shape.size() == 1, b1 = b.shape.size() == 1;
  if (a1) a.shape.insert(a.shape.begin(), 1);
  if (b1) b.shape.push_back(1);
  int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape out_shape = bshape(ba, bb);
  out_shape.push_back(m);
  out_shape.push_back(n);
  Arr o = make_arr(out_shape, [&](const Shape& idx) {
    Shape ia = idx, ib = idx;
    double s = 0;
    for (int64_t p = 0; p < k; ++p) {
      ia[ia.size() - 1] = p;  // [.., i, p]
      ib[ib.size() - 2] = p;  // [.., p, j]
      s += bget(a, ia) * bget(b, ib);
    }
    return s;
  });
  if (a1) o.shape.erase(o.shape.end() - 2);
  if (b1) o.shape.pop_back();
  return o;
}

Arr ref_linear(const Arr& x, const Arr& w, const Arr* bias) {
  Arr wt = make_arr({w.size(1), w.size(0)}, [&](const Shape& i) { return w.at({i[1], i[0]}); });
  Arr y = ref_matmul(x, wt);
  if (bias) y = ew2(y, *bias, [](double p, double q) { return p + q; });
  return y;
}

OpRow matmul_row(std::string name, Shape sa, Shape sb, bool gradgrad = false) {
  OpRow r;
  r.name = std::move(name);
  r.inputs = {F(std::move(sa)), F(std::move(sb))};
  r.fn = [](const TensorList& x) { return nb::matmul(x[0], x[1]); };
  r.ref = [](const std::vector<Arr>& a) { return ref_matmul(a[0], a[1]); };
  r.gradgrad = gradgrad;
  r.rtol = 1e-12;
  r.atol = 1e-12;
  return r;
}

/// conv1d written out: out[n, o, l] = b[o] + sum over the group's channels c and taps k of
/// w[o, c, k] x[n, g Cg + c, l s - p + k d] (zero outside the input).
Arr ref_conv1d(const std::vector<Arr>& a, const nb::Conv1dOptions& o) {
  const Arr& x = a[0];
  const Arr& w = a[1];
  const int64_t N = x.size(0), L = x.size(2), O = w.size(0), Cg = w.size(1), K = w.size(2);
  const int64_t Lo = (L + 2 * o.padding - o.dilation * (K - 1) - 1) / o.stride + 1, Og = O / o.groups;
  return make_arr({N, O, Lo}, [&](const Shape& i) {
    const int64_t n = i[0], oc = i[1], l = i[2], g = oc / Og;
    double acc = a.size() > 2 ? a[2].v[size_t(oc)] : 0.0;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t at = l * o.stride - o.padding + k * o.dilation;
        if (at >= 0 && at < L) acc += w.at({oc, c, k}) * x.at({n, g * Cg + c, at});
      }
    return acc;
  });
}

std::vector<OpRow> conv1d_rows() {
  std::vector<OpRow> rows;
  auto row = [&](std::string name, std::vector<In> inputs, nb::Conv1dOptions o) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = std::move(inputs);
    r.fn = [=](const TensorList& x) { return nb::conv1d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); };
    r.ref = [=](const std::vector<Arr>& a) { return ref_conv1d(a, o); };
    r.gradgrad = true;
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  row("conv1d_bias", {F({2, 3, 7}), F({4, 3, 3}), F({4})}, {});
  row("conv1d_stride2_pad1_dil2", {F({2, 2, 9}), F({3, 2, 2}), F({3})}, {.stride = 2, .padding = 1, .dilation = 2});
  row("conv1d_groups2_no_bias", {F({1, 4, 6}), F({2, 2, 3})}, {.padding = 2, .groups = 2});
  return rows;
}

std::vector<OpRow> linalg_rows() {
  std::vector<OpRow> rows;
  rows.push_back(matmul_row("matmul_1d_1d", {4}, {4}, true));
  rows.push_back(matmul_row("matmul_1d_2d", {3}, {3, 4}));
  rows.push_back(matmul_row("matmul_2d_1d", {2, 3}, {3}));
  rows.push_back(matmul_row("matmul_2d_2d", {2, 3}, {3, 4}, true));
  rows.push_back(matmul_row("matmul_2d_2d_outer", {4, 1}, {1, 3}));
  rows.push_back(matmul_row("matmul_batched", {2, 2, 3}, {2, 3, 4}, true));
  rows.push_back(matmul_row("matmul_broadcast_batch", {2, 1, 2, 3}, {3, 3, 2}, true));
  rows.push_back(matmul_row("matmul_batched_shared_rhs", {3, 2, 3}, {3, 4}));
  rows.push_back(matmul_row("matmul_shared_lhs", {2, 3}, {4, 3, 2}));
  rows.push_back(matmul_row("matmul_batch_of_one", {1, 2, 3}, {3, 3, 2}));
  rows.push_back(matmul_row("matmul_1d_batched", {3}, {2, 3, 4}));
  rows.push_back(matmul_row("matmul_batched_1d", {2, 2, 3}, {3}));
  rows.push_back(matmul_row("matmul_4d", {2, 2, 2, 3}, {2, 2, 3, 2}));

  OpRow lin;
  lin.name = "linear_bias";
  lin.inputs = {F({3, 4}), F({2, 4}), F({2})};
  lin.fn = [](const TensorList& x) { return nb::linear(x[0], x[1], x[2]); };
  lin.ref = [](const std::vector<Arr>& a) { return ref_linear(a[0], a[1], &a[2]); };
  lin.extra_cases = {{{2, 3, 4}, {2, 4}, {2}}, {{4}, {2, 4}, {2}}, {{0, 4}, {2, 4}, {2}}};
  lin.gradgrad = true;
  rows.push_back(lin);

  OpRow nob;
  nob.name = "linear_no_bias";
  nob.inputs = {F({3, 4}), F({2, 4})};
  nob.fn = [](const TensorList& x) { return nb::linear(x[0], x[1]); };
  nob.ref = [](const std::vector<Arr>& a) { return ref_linear(a[0], a[1], nullptr); };
  nob.extra_cases = {{{2, 3, 4}, {2, 4}}};
  nob.gradgrad = true;
  rows.push_back(nob);

  // relu(linear) as one op: the fused kernel (2-D input) and the composed fallback (3-D input).
  OpRow lr = lin;
  lr.name = "linear_relu_bias";
  lr.fn = [](const TensorList& x) { return nb::linear_relu(x[0], x[1], x[2]); };
  lr.ref = [](const std::vector<Arr>& a) {
    return ew1(ref_linear(a[0], a[1], &a[2]), [](double v) { return v > 0 ? v : 0.0; });
  };
  rows.push_back(lr);

  OpRow lrn = nob;
  lrn.name = "linear_relu_no_bias";
  lrn.fn = [](const TensorList& x) { return nb::linear_relu(x[0], x[1]); };
  lrn.ref = [](const std::vector<Arr>& a) {
    return ew1(ref_linear(a[0], a[1], nullptr), [](double v) { return v > 0 ? v : 0.0; });
  };
  rows.push_back(lrn);

  OpRow frozen = lin;  // only the input needs grad (a frozen layer)
  frozen.name = "linear_frozen_weight";
  frozen.inputs = {F({3, 4}), C({2, 4}), C({2})};
  frozen.extra_cases = {};
  frozen.gradgrad = false;
  rows.push_back(frozen);
  return rows;
}

/// 1-D pooling written out: window j of x[n, c, :] covers padded positions j s .. j s + k - 1
/// (padding -inf for max, 0 for avg); the output length follows PyTorch's rule, ceil_mode's last
/// window starting inside the input or the left padding.
Arr ref_pool1d(const Arr& x, const nb::Pool1dOptions& o, bool is_max) {
  const int64_t N = x.size(0), C = x.size(1), L = x.size(2), k = o.kernel, s = o.stride ? o.stride : k,
                p = o.padding;
  const int64_t span = L + 2 * p - k;
  int64_t out = (o.ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (o.ceil_mode && (out - 1) * s >= L + p) --out;
  return make_arr({N, C, out}, [&](const Shape& i) {
    const int64_t start = i[2] * s - p, end = std::min(start + k, L + p);
    double best = -INFINITY, total = 0;
    for (int64_t t = std::max<int64_t>(start, 0); t < std::min(end, L); ++t) {
      best = std::max(best, x.at({i[0], i[1], t}));
      total += x.at({i[0], i[1], t});
    }
    const int64_t count = o.count_include_pad ? end - start : std::min(end, L) - std::max<int64_t>(start, 0);
    return is_max ? best : total / double(count);
  });
}

/// Adaptive 1-D pooling written out: output i covers floor(i L / out) .. ceil((i + 1) L / out).
Arr ref_adaptive_pool1d(const Arr& x, int64_t out, bool is_max) {
  const int64_t L = x.size(2);
  return make_arr({x.size(0), x.size(1), out}, [&](const Shape& i) {
    const int64_t start = i[2] * L / out, end = ((i[2] + 1) * L + out - 1) / out;
    double best = -INFINITY, total = 0;
    for (int64_t t = start; t < end; ++t) {
      best = std::max(best, x.at({i[0], i[1], t}));
      total += x.at({i[0], i[1], t});
    }
    return is_max ? best : total / double(end - start);
  });
}

std::vector<OpRow> pool1d_rows() {
  std::vector<OpRow> rows;
  auto row = [&](std::string name, bool is_max, nb::Pool1dOptions o, Shape main, std::vector<Shape> extra) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F(std::move(main))};
    r.fn = [=](const TensorList& x) { return is_max ? nb::max_pool1d(x[0], o) : nb::avg_pool1d(x[0], o); };
    // Unbatched [C, L] inputs: the batched reference with the batch dim added and dropped.
    r.ref = [=](const std::vector<Arr>& a) {
      Arr x = a[0];
      const bool unbatched = x.shape.size() == 2;
      if (unbatched) x.shape.insert(x.shape.begin(), 1);
      Arr y = ref_pool1d(x, o, is_max);
      if (unbatched) y.shape.erase(y.shape.begin());
      return y;
    };
    for (Shape& e : extra) r.extra_cases.push_back({e});
    r.gradgrad = true;
    rows.push_back(r);
  };
  row("max_pool1d_k2", true, {}, {2, 3, 8}, {{3, 7}});
  row("max_pool1d_k3_s2_pad1_ceil", true, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}, {2, 2, 8},
      {{2, 2, 9}});
  row("avg_pool1d_k3_s1_pad1", false, {.kernel = 3, .stride = 1, .padding = 1}, {2, 3, 6}, {{3, 5}});
  row("avg_pool1d_k4_s3_pad2_exclude_pad_ceil", false,
      {.kernel = 4, .stride = 3, .padding = 2, .ceil_mode = true, .count_include_pad = false}, {1, 2, 9}, {{2, 2, 10}});
  auto adaptive = [&](std::string name, bool is_max, int64_t out) {
    OpRow r;
    r.name = std::move(name);
    r.inputs = {F({2, 3, 7})};
    r.fn = [=](const TensorList& x) {
      return is_max ? nb::adaptive_max_pool1d(x[0], out) : nb::adaptive_avg_pool1d(x[0], out);
    };
    r.ref = [=](const std::vector<Arr>& a) { return ref_adaptive_pool1d(a[0], out, is_max); };
    r.extra_cases = {{{1, 2, 12}}};
    r.gradgrad = true;
    rows.push_back(r);
  };
  adaptive("adaptive_avg_pool1d_3", false, 3);  // overlapping windows of 3 and 4 for L = 7
  adaptive("adaptive_max_pool1d_3", true, 3);
  adaptive("adaptive_max_pool1d_4", true, 4);  // L = 12: equal windows, plain max pooling
  return rows;
}

}  // namespace

NB_OP_TABLE(Linalg, linalg_rows());
NB_OP_TABLE(Pool1d, pool1d_rows());
NB_OP_TABLE(Conv1d, conv1d_rows());

}  // namespace optest
