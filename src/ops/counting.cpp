// Counting and searching: nonzero/argwhere, count_nonzero, bincount, histc, searchsorted,
// bucketize and the triangle index lists. Their results are indices or counts (no gradient, as
// in PyTorch; bincount's weighted sums are the exception, built of index_add). The data-dependent
// output sizes are found on the host, so a GPU tensor's values make one round trip, as PyTorch's
// nonzero synchronizes.
#include <algorithm>
#include <cmath>

#include "op_util.h"

namespace nabla {
namespace {

/// A contiguous host copy of x in `dt` (no autograd).
Tensor host_copy(const Tensor& x, DType dt) { return ops::copy_kernel(x.detach().to(Device::cpu()), dt); }

/// PyTorch's binary searches (aten/src/ATen/native/BucketizationUtils): the first position whose
/// value is >= v (left) or > v (right). Written with negations so that NaN in the sequence counts
/// as smaller than everything and a NaN value lands at the end, as there.
template <typename T>
int64_t search_position(const T* seq, const int64_t* sorter, int64_t n, T v, bool right) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + ((hi - lo) >> 1);
    const T m = seq[sorter ? sorter[mid] : mid];
    if (right ? !(m > v) : !(m >= v)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

Tensor triangle_indices(int64_t row, int64_t col, int64_t offset, Device device, bool lower, const char* op) {
  NB_CHECK(row >= 0 && col >= 0, "[", op, "] row and col must be non-negative, got row = ", row, ", col = ", col);
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < row; ++i)
    for (int64_t j = 0; j < col; ++j)
      if (lower ? j - i <= offset : j - i >= offset) rows.push_back(i), cols.push_back(j);
  const int64_t n = int64_t(rows.size());
  rows.insert(rows.end(), cols.begin(), cols.end());
  return from_vector(rows, {2, n}).to(device);
}

}  // namespace

Tensor nonzero(const Tensor& x) {
  ops::check_tensor(x, "nonzero");
  Tensor h = host_copy(x, x.is_floating_point() ? DType::f64 : DType::i64);
  const int64_t nd = x.dim();
  std::vector<int64_t> coords;
  int64_t count = 0;
  Shape idx(size_t(nd), 0);
  auto scan = [&](const auto* v) {
    for (int64_t i = 0; i < h.numel(); ++i) {
      if (v[i] != 0) ++count, coords.insert(coords.end(), idx.begin(), idx.end());
      // Row-major odometer over x's shape.
      for (int64_t d = nd - 1; d >= 0; --d) {
        if (++idx[size_t(d)] < x.size(d)) break;
        idx[size_t(d)] = 0;
      }
    }
  };
  if (h.dtype() == DType::f64) {
    scan(h.data_ptr<double>());  // NaN != 0 holds, so NaN counts as non-zero
  } else {
    scan(h.data_ptr<int64_t>());
  }
  if (nd == 0) return empty({count, 0}, {.dtype = DType::i64, .device = x.device()});
  return from_vector(coords, {count, nd}).to(x.device());
}

Tensor argwhere(const Tensor& x) { return nonzero(x); }

TensorList nonzero_tuple(const Tensor& x) {
  // A 0-d tensor acts as one element, as PyTorch's as_tuple form treats it.
  Tensor coords = nonzero(x.dim() == 0 ? x.reshape({1}) : x);
  TensorList out;
  for (int64_t d = 0; d < coords.size(1); ++d) out.push_back(coords.select(1, d).contiguous());
  return out;
}

Tensor count_nonzero(const Tensor& x, const Shape& dims) {
  ops::check_tensor(x, "count_nonzero");
  return sum(ne(x, zeros({}, {.dtype = x.dtype(), .device = x.device()})), dims);
}

Tensor bincount(const Tensor& x, const BincountOptions& opts) {
  ops::check_tensor(x, "bincount");
  NB_CHECK(x.dim() == 1 && !x.is_floating_point(), "[bincount] expected a 1-D integer tensor, got ", x.dtype(),
           " of shape ", x.shape());
  NB_CHECK(opts.minlength >= 0, "[bincount] minlength must be non-negative, got ", opts.minlength);
  const Tensor& w = opts.weights;
  if (w.defined()) {
    ops::check_same_device(x, w, "bincount");
    NB_CHECK(w.shape() == x.shape(), "[bincount] weights must have the input's shape ", x.shape(), ", got ", w.shape());
  }
  std::vector<int64_t> v = host_copy(x, DType::i64).to_vector<int64_t>();
  int64_t bins = opts.minlength;
  for (size_t i = 0; i < v.size(); ++i) {
    NB_CHECK(v[i] >= 0, "[bincount] expected non-negative values, got ", v[i], " at index ", i);
    bins = std::max(bins, v[i] + 1);
  }
  if (!w.defined()) {
    std::vector<int64_t> counts(size_t(bins), 0);
    for (int64_t e : v) ++counts[size_t(e)];
    return from_vector(counts, {bins}).to(x.device());
  }
  // PyTorch sums f32 weights in f32 and every other dtype in f64.
  const DType dt = w.dtype() == DType::f32 ? DType::f32 : DType::f64;
  Tensor index = x.dtype() == DType::i64 ? x : x.to(DType::i64);
  return index_add(zeros({bins}, {.dtype = dt, .device = x.device()}), 0, index, w.to(dt));
}

Tensor histc(const Tensor& x, int64_t bins, double min, double max) {
  ops::check_tensor(x, "histc");
  NB_CHECK(x.is_floating_point(), "[histc] expected a floating tensor, got ", x.dtype());
  NB_CHECK(bins > 0, "[histc] bins must be > 0, got ", bins);
  NB_CHECK(!(min > max), "[histc] max must be larger than min, got min = ", min, ", max = ", max);
  // Edges and positions in x's precision (float for all but f64), as PyTorch's kernel computes them.
  auto run = [&](auto zero) -> Tensor {
    using T = decltype(zero);
    std::vector<double> v = host_copy(x, DType::f64).to_vector<double>();
    T lo = T(min), hi = T(max);
    if (lo == hi && !v.empty()) {
      auto [mn, mx] = std::minmax_element(v.begin(), v.end());
      lo = T(*mn), hi = T(*mx);
      for (double e : v) {
        if (e != e) lo = hi = T(e);  // a NaN makes the data's range NaN, refused below
      }
    }
    if (lo == hi) lo -= 1, hi += 1;
    NB_CHECK(std::isfinite(double(lo)) && std::isfinite(double(hi)), "[histc] range of [", double(lo), ", ", double(hi),
             "] is not finite");
    std::vector<double> hist(size_t(bins), 0.0);
    for (double d : v) {
      const T e = T(d);
      if (!(e >= lo && e <= hi)) continue;
      auto pos = int64_t((e - lo) * T(bins) / (hi - lo));
      if (pos == bins) pos -= 1;  // the max edge belongs to the last bin
      hist[size_t(pos)] += 1;
    }
    return from_vector(hist, {bins}, DType::f64).to(x.dtype()).to(x.device());
  };
  return x.dtype() == DType::f64 ? run(double(0)) : run(float(0));
}

Tensor searchsorted(const Tensor& sorted_sequence, const Tensor& values, const SearchSortedOptions& opts) {
  const char* op = "searchsorted";
  ops::check_tensor(sorted_sequence, op);
  ops::check_same_device(sorted_sequence, values, op);
  const Tensor& seq = sorted_sequence;
  NB_CHECK(seq.dim() >= 1, "[searchsorted] the sorted sequence must have at least one dimension, got a 0-d tensor");
  const bool one_seq = seq.dim() == 1;
  if (!one_seq) {
    Shape lead_s(seq.shape().begin(), seq.shape().end() - 1);
    Shape lead_v = values.dim() > 0 ? Shape(values.shape().begin(), values.shape().end() - 1) : Shape{};
    NB_CHECK(values.dim() == seq.dim() && lead_s == lead_v, "[searchsorted] a ", seq.dim(),
             "-D sorted sequence needs values with the same leading dimensions: sequence ", seq.shape(), ", values ",
             values.shape(), " (or use a 1-D sequence for any values)");
  }
  std::vector<int64_t> sorter;
  if (opts.sorter.defined()) {
    NB_CHECK(opts.sorter.shape() == seq.shape() && opts.sorter.dtype() == DType::i64,
             "[searchsorted] sorter must be an i64 tensor of the sequence's shape ", seq.shape(), ", got ",
             opts.sorter.dtype(), " ", opts.sorter.shape());
    sorter = host_copy(opts.sorter, DType::i64).to_vector<int64_t>();
    const int64_t n = seq.size(-1);
    for (size_t i = 0; i < sorter.size(); ++i)
      NB_CHECK(sorter[i] >= 0 && sorter[i] < n, "[searchsorted] sorter index ", sorter[i], " at ", i,
               " is out of range for a sequence of length ", n);
  }
  const int64_t n = seq.size(-1);
  const int64_t per_row = one_seq ? values.numel() : (values.dim() > 0 ? values.size(-1) : 1);
  std::vector<int64_t> out(size_t(values.numel()));
  // Integers compare as i64 (exact); anything floating compares as f64, exact for every dtype.
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const DType dt = std::is_same_v<T, double> ? DType::f64 : DType::i64;
    std::vector<T> s = host_copy(seq, dt).template to_vector<T>();
    std::vector<T> v = host_copy(values, dt).template to_vector<T>();
    for (int64_t i = 0; i < int64_t(v.size()); ++i) {
      const int64_t r = one_seq ? 0 : i / per_row;
      out[size_t(i)] = search_position(s.data() + r * n, sorter.empty() ? nullptr : sorter.data() + r * n, n,
                                       v[size_t(i)], opts.right);
    }
  };
  if (seq.is_floating_point() || values.is_floating_point()) {
    run(double(0));
  } else {
    run(int64_t(0));
  }
  return from_vector(out, values.shape()).to(values.device());
}

Tensor bucketize(const Tensor& x, const Tensor& boundaries, bool right) {
  ops::check_tensor(boundaries, "bucketize");
  NB_CHECK(boundaries.dim() == 1, "[bucketize] boundaries must be 1-D, got shape ", boundaries.shape());
  return searchsorted(boundaries, x, {.right = right});
}

Tensor tril_indices(int64_t row, int64_t col, int64_t offset, Device device) {
  return triangle_indices(row, col, offset, device, true, "tril_indices");
}
Tensor triu_indices(int64_t row, int64_t col, int64_t offset, Device device) {
  return triangle_indices(row, col, offset, device, false, "triu_indices");
}

}  // namespace nabla
