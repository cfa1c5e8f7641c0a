// Order statistics: kthvalue, median, nanmedian, mode, cummax/cummin and quantile.
//
// As topk, the chosen positions are found on the host from a copy of the values (a GPU tensor's
// values make one round trip) and the outputs are gathered from x, so autograd sends the gradient
// to the chosen elements on every device, as PyTorch's value-selecting reductions do. Positions
// follow one total order: numbers ascending, NaN above every number, ties by index. quantile is a
// composition of sort, gather and lerp, so it is differentiable (again) by construction.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "op_util.h"

namespace nabla {
namespace {

/// x's lanes along `dim` as rows of a contiguous host tensor ([..., n], `dim` moved last): f64
/// for floating x (exact for every floating dtype), i64 for integers (f64 would tie beyond 2^53).
struct HostLanes {
  Tensor rows;
  int64_t n = 0;
  int64_t count = 0;  ///< number of lanes
};

HostLanes host_lanes(const Tensor& x, int64_t dim) {
  const DType dt = x.is_floating_point() ? DType::f64 : DType::i64;
  HostLanes h;
  h.rows = ops::copy_kernel(x.detach().to(Device::cpu()).transpose(dim, -1), dt);
  h.n = x.size(dim);
  h.count = h.n == 0 ? 0 : h.rows.numel() / h.n;
  return h;
}

/// Calls f(row pointer, lane) for every lane, with the row's element type (double or int64_t).
template <typename F>
void for_each_lane(const HostLanes& h, F&& f) {
  auto run = [&](const auto* v) {
    for (int64_t r = 0; r < h.count; ++r) f(v + r * h.n, r);
  };
  if (h.rows.dtype() == DType::f64) {
    run(h.rows.data_ptr<double>());
  } else {
    run(h.rows.data_ptr<int64_t>());
  }
}

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  return false;
}

/// The total order of positions in a row: numbers ascending, NaN last, ties by index.
template <typename T>
auto ascending(const T* row) {
  return [row](int64_t a, int64_t b) {
    const bool na = is_nan(row[a]), nb = is_nan(row[b]);
    if (na || nb) return na == nb ? a < b : nb;
    if (row[a] != row[b]) return row[a] < row[b];
    return a < b;
  };
}

/// Index of the element at position `pos` of the row in that order (O(n): nth_element).
template <typename T>
int64_t nth_position(const T* row, int64_t n, int64_t pos, std::vector<int64_t>& order) {
  order.resize(size_t(n));
  std::iota(order.begin(), order.end(), 0);
  std::nth_element(order.begin(), order.begin() + pos, order.end(), ascending(row));
  return order[size_t(pos)];
}

template <typename T>
int64_t first_nan(const T* row, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (is_nan(row[i])) return i;
  return -1;
}

template <typename T>
int64_t nan_count(const T* row, int64_t n) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) c += is_nan(row[i]);
  return c;
}

/// Lanes-shaped host i64 indices ([..., m], `dim` last) back to x's layout on x's device.
Tensor lanes_to_index(const Tensor& idx, const Tensor& x, int64_t dim) {
  return idx.transpose(dim, -1).contiguous().to(x.device());
}

/// The shared frame of the value-selecting reductions: `pick(row, n)` chooses one index per lane;
/// the value is gathered from x (so its gradient goes to that element) and both lose `dim`
/// unless keepdim. A 0-d x acts as one element.
template <typename Pick>
std::pair<Tensor, Tensor> select_along(const Tensor& x, int64_t dim, bool keepdim, const char* op, Pick&& pick) {
  ops::check_tensor(x, op);
  dim = wrap_dim(dim, x.dim(), op);
  if (x.dim() == 0) {
    auto [v, i] = select_along(x.reshape({1}), 0, false, op, pick);
    return {v, i};
  }
  NB_CHECK(x.size(dim) > 0, "[", op, "] cannot reduce dimension ", dim, " of size 0 (shape ", x.shape(),
           "): there is no element to choose");
  HostLanes h = host_lanes(x, dim);
  Shape idx_shape = h.rows.shape();
  idx_shape.back() = 1;
  Tensor idx = empty(idx_shape, {.dtype = DType::i64});
  int64_t* out = idx.data_ptr<int64_t>();
  for_each_lane(h, [&](const auto* row, int64_t r) { out[r] = pick(row, h.n); });
  Tensor index = lanes_to_index(idx, x, dim);
  Tensor values = gather(x, dim, index);
  if (keepdim) return {values, index};
  return {values.squeeze(dim), index.squeeze(dim)};
}

/// median / nanmedian along a dim: the lower median of the numbers (all of them for median, which
/// gives the first NaN of a row that has one; the non-NaN ones for nanmedian).
std::pair<Tensor, Tensor> median_along(const Tensor& x, int64_t dim, bool keepdim, bool ignore_nan, const char* op) {
  std::vector<int64_t> order;
  return select_along(x, dim, keepdim, op, [&](const auto* row, int64_t n) -> int64_t {
    const int64_t nans = nan_count(row, n);
    if (nans > 0 && (!ignore_nan || nans == n)) return first_nan(row, n);
    return nth_position(row, n, (n - nans - 1) / 2, order);
  });
}

/// median / nanmedian of all elements: the value at the chosen position, with PyTorch's gradient
/// for this form: split evenly among the elements equal to the result (the NaNs when it is NaN).
Tensor median_all(const Tensor& x, bool ignore_nan, const char* op) {
  ops::check_tensor(x, op);
  if (x.numel() == 0) {
    NB_CHECK(x.is_floating_point(), "[", op, "] the median of an empty ", x.dtype(),
             " tensor is undefined (a floating tensor gives NaN)");
    return full({}, NAN, {.dtype = x.dtype(), .device = x.device()});
  }
  Tensor picked = median_along(x.detach().reshape({x.numel()}), 0, false, ignore_nan, op).first;
  Tensor out = picked.reshape({});
  if (auto node = autograd::record(op, {x}, {out})) {
    node->backward_fn = [sx = node->save(x), out = out.detach()](const TensorList& g) {
      Tensor xv = sx.get();
      // x == out is false for NaN, so a NaN result selects the NaNs by x != x instead.
      const bool nan_result = out.is_floating_point() && std::isnan(out.item<double>());
      Tensor mask = (nan_result ? ne(xv, xv) : eq(xv, out)).to(xv.dtype());
      return TensorList{g[0] * mask / sum(mask)};
    };
  }
  return out;
}

/// cummax / cummin: per position the index of the running extreme; a NaN becomes (and stays) the
/// running value, and each later NaN takes over its index (PyTorch's rule).
std::pair<Tensor, Tensor> cumulative_extreme(const Tensor& x, int64_t dim, bool is_max, const char* op) {
  ops::check_tensor(x, op);
  dim = wrap_dim(dim, x.dim(), op);
  if (x.dim() == 0) {
    auto [v, i] = cumulative_extreme(x.reshape({1}), 0, is_max, op);
    return {v.reshape({}), i.reshape({})};
  }
  HostLanes h = host_lanes(x, dim);
  Tensor idx = empty(h.rows.shape(), {.dtype = DType::i64});
  int64_t* out = idx.data_ptr<int64_t>();
  for_each_lane(h, [&](const auto* row, int64_t r) {
    int64_t best = 0;
    for (int64_t i = 0; i < h.n; ++i) {
      const auto v = row[i], cur = row[best];
      if (is_nan(v) || (!is_nan(cur) && (is_max ? v >= cur : v <= cur))) best = i;
      out[r * h.n + i] = best;
    }
  });
  Tensor index = lanes_to_index(idx, x, dim);
  return {gather(x, dim, index), index};
}

// ---- quantile -------------------------------------------------------------------------------

/// q's values on the host, checked to lie in [0, 1]; `scalar` when q is 0-d.
std::vector<double> quantile_levels(const Tensor& q, const char* op) {
  ops::check_tensor(q, op);
  NB_CHECK(q.dim() <= 1, "[", op, "] q must be a number, a 0-d or a 1-D tensor, got shape ", q.shape());
  NB_CHECK(q.is_floating_point(), "[", op, "] q must be floating, got ", q.dtype());
  std::vector<double> levels = q.detach().to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  for (double v : levels) NB_CHECK(v >= 0.0 && v <= 1.0, "[", op, "] q values must be in [0, 1], got ", v);
  return levels;
}

/// x with `dim` moved last (the other dimensions keep their order).
Tensor move_last(const Tensor& x, int64_t dim) {
  Shape perm;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) perm.push_back(d);
  perm.push_back(dim);
  return x.permute(perm);
}

Tensor quantile_impl(const Tensor& x, const std::vector<double>& levels, bool scalar_q, const QuantileOptions& opts,
                     bool ignore_nan, const char* op) {
  ops::check_tensor(x, op);
  NB_CHECK(x.is_floating_point(), "[", op, "] expected a floating tensor, got ", x.dtype(),
           " (convert it with .to(kF32) first)");
  NB_CHECK(x.numel() > 0, "[", op, "] expected a non-empty tensor, got shape ", x.shape());
  // Lanes [..., n]: all elements in one lane, or `dim` moved last.
  Tensor lanes;
  std::optional<int64_t> dim;
  if (opts.dim) {
    dim = wrap_dim(*opts.dim, x.dim(), op);
    lanes = x.dim() == 0 ? x.reshape({1}) : move_last(x, *dim);
  } else {
    lanes = x.reshape({x.numel()});
  }
  const int64_t n = lanes.size(-1);
  NB_CHECK(n > 0, "[", op, "] cannot take quantiles over dimension ", *dim, " of size 0 (shape ", x.shape(), ")");
  Tensor sorted = sort(lanes, -1).first;
  // Ranks per lane and level, as PyTorch computes them: q * (count - 1) in x's precision (f32 for
  // f32 inputs, so the weights match PyTorch's bits), the last position (a NaN) for a lane whose
  // NaNs count, then floored / ceiled / rounded half to even by the interpolation.
  const bool in_f64 = x.dtype() == DType::f64;
  Tensor host = ops::copy_kernel(lanes.detach().to(Device::cpu()), DType::f64);
  const int64_t nlanes = host.numel() / n;
  const int64_t Q = int64_t(levels.size());
  Shape lanes_q = sorted.shape();
  lanes_q.back() = Q;
  std::vector<int64_t> below(size_t(nlanes * Q)), above(size_t(nlanes * Q));
  std::vector<double> weight(size_t(nlanes * Q));
  const double* hv = host.data_ptr<double>();
  const auto mode = opts.interpolation;
  for (int64_t r = 0; r < nlanes; ++r) {
    const int64_t nans = nan_count(hv + r * n, n);
    for (int64_t j = 0; j < Q; ++j) {
      const int64_t valid = ignore_nan ? n - nans : (nans > 0 ? 0 : n);
      double rank;
      if (valid == 0) {
        rank = double(n - 1);
      } else {
        rank = in_f64 ? levels[size_t(j)] * double(valid - 1) : double(float(levels[size_t(j)]) * float(valid - 1));
      }
      if (mode == QuantileInterpolation::lower) rank = std::floor(rank);
      if (mode == QuantileInterpolation::higher) rank = std::ceil(rank);
      if (mode == QuantileInterpolation::nearest) rank = std::nearbyint(rank);  // half to even
      const size_t k = size_t(r * Q + j);
      below[k] = int64_t(rank);
      above[k] = int64_t(std::ceil(rank));
      weight[k] = mode == QuantileInterpolation::midpoint ? 0.5 : rank - double(below[k]);
    }
  }
  auto to_dev = [&](const Tensor& t) { return t.to(x.device()); };
  Tensor lo = gather(sorted, -1, to_dev(from_vector(below, lanes_q)));
  Tensor result = lo;
  if (mode == QuantileInterpolation::linear || mode == QuantileInterpolation::midpoint) {
    Tensor hi = gather(sorted, -1, to_dev(from_vector(above, lanes_q)));
    result = lerp(lo, hi, to_dev(from_vector(weight, lanes_q, DType::f64).to(x.dtype())));
  }
  // [..., Q] -> [Q, ...], then keepdim's ones, then drop Q for a scalar q.
  Shape perm{result.dim() - 1};
  for (int64_t d = 0; d + 1 < result.dim(); ++d) perm.push_back(d);
  result = result.permute(perm);
  if (opts.keepdim) {
    if (dim) {
      if (x.dim() > 0) result = result.unsqueeze(*dim + 1);
    } else {
      Shape s{Q};
      s.resize(size_t(x.dim()) + 1, 1);
      result = result.reshape(s);
    }
  }
  return scalar_q ? result.squeeze(0) : result.contiguous();
}

}  // namespace

std::pair<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim, bool keepdim) {
  ops::check_tensor(x, "kthvalue");
  const int64_t n = x.dim() == 0 ? 1 : x.size(wrap_dim(dim, x.dim(), "kthvalue"));
  NB_CHECK(k >= 1 && k <= n, "[kthvalue] k = ", k, " is out of range for dimension ", dim, " of size ", n, " (shape ",
           x.shape(), "); expected 1 <= k <= ", n);
  std::vector<int64_t> order;
  return select_along(x, dim, keepdim, "kthvalue",
                      [&](const auto* row, int64_t len) { return nth_position(row, len, k - 1, order); });
}

Tensor median(const Tensor& x) { return median_all(x, false, "median"); }
Tensor nanmedian(const Tensor& x) { return median_all(x, true, "nanmedian"); }
std::pair<Tensor, Tensor> median(const Tensor& x, int64_t dim, bool keepdim) {
  return median_along(x, dim, keepdim, false, "median");
}
std::pair<Tensor, Tensor> nanmedian(const Tensor& x, int64_t dim, bool keepdim) {
  return median_along(x, dim, keepdim, true, "nanmedian");
}

std::pair<Tensor, Tensor> mode(const Tensor& x, int64_t dim, bool keepdim) {
  std::vector<int64_t> order;
  return select_along(x, dim, keepdim, "mode", [&](const auto* row, int64_t n) {
    order.resize(size_t(n));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), ascending(row));
    // Runs of equal values in that order (NaN equals nothing); the first longest run wins, and
    // its last position holds the value's last index.
    int64_t best = order[0], best_len = 0;
    for (int64_t s = 0; s < n;) {
      int64_t e = s + 1;
      while (e < n && row[order[size_t(e)]] == row[order[size_t(s)]]) ++e;
      if (e - s > best_len) best_len = e - s, best = order[size_t(e - 1)];
      s = e;
    }
    return best;
  });
}

std::pair<Tensor, Tensor> cummax(const Tensor& x, int64_t dim) { return cumulative_extreme(x, dim, true, "cummax"); }
std::pair<Tensor, Tensor> cummin(const Tensor& x, int64_t dim) { return cumulative_extreme(x, dim, false, "cummin"); }

Tensor quantile(const Tensor& x, double q, const QuantileOptions& opts) {
  return quantile_impl(x, quantile_levels(scalar_tensor(q, DType::f64), "quantile"), true, opts, false, "quantile");
}
Tensor quantile(const Tensor& x, const Tensor& q, const QuantileOptions& opts) {
  return quantile_impl(x, quantile_levels(q, "quantile"), q.dim() == 0, opts, false, "quantile");
}
Tensor nanquantile(const Tensor& x, double q, const QuantileOptions& opts) {
  return quantile_impl(x, quantile_levels(scalar_tensor(q, DType::f64), "nanquantile"), true, opts, true,
                       "nanquantile");
}
Tensor nanquantile(const Tensor& x, const Tensor& q, const QuantileOptions& opts) {
  return quantile_impl(x, quantile_levels(q, "nanquantile"), q.dim() == 0, opts, true, "nanquantile");
}

}  // namespace nabla
