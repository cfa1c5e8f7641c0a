// Op-table rows: views and shape changes, concatenation, gather/scatter and index ops, and the
// compositions split, chunk, flip, roll, repeat, tril, triu, masked_fill, masked_select.
#include <functional>
#include <tuple>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

using Ins = std::vector<Arr>;

/// Same values (row-major), new shape.
Arr with_shape(const Arr& a, Shape s) { return {std::move(s), a.v}; }

/// out[i] = x[i with dims permuted]: out dim j is input dim perm[j].
Arr ref_permute(const Arr& x, const Shape& perm) {
  Shape s;
  for (int64_t p : perm) s.push_back(x.shape[size_t(p)]);
  return make_arr(s, [&](const Shape& o) {
    Shape i(o.size());
    for (size_t j = 0; j < perm.size(); ++j) i[size_t(perm[j])] = o[j];
    return x.at(i);
  });
}

Arr ref_slice(const Arr& x, int64_t d, int64_t start, int64_t count, int64_t step) {
  Shape s = x.shape;
  s[size_t(d)] = count;
  return make_arr(s, [&](const Shape& o) {
    Shape i = o;
    i[size_t(d)] = start + o[size_t(d)] * step;
    return x.at(i);
  });
}

Arr ref_cat(const Ins& xs, int64_t d) {
  Shape s = xs[0].shape;
  if (d < 0) d += int64_t(s.size());
  s[size_t(d)] = 0;
  for (const Arr& x : xs) s[size_t(d)] += x.shape[size_t(d)];
  return make_arr(s, [&](const Shape& o) {
    Shape i = o;
    for (const Arr& x : xs) {
      if (i[size_t(d)] < x.shape[size_t(d)]) return x.at(i);
      i[size_t(d)] -= x.shape[size_t(d)];
    }
    return std::nan("");
  });
}

Arr ref_stack(const Ins& xs, int64_t d) {
  Shape s = xs[0].shape;
  if (d < 0) d += int64_t(s.size()) + 1;
  s.insert(s.begin() + d, int64_t(xs.size()));
  return make_arr(s, [&](const Shape& o) {
    Shape i = o;
    int64_t which = i[size_t(d)];
    i.erase(i.begin() + d);
    return xs[size_t(which)].at(i);
  });
}

std::vector<OpRow> view_rows() {
  std::vector<OpRow> rows;
  rows.push_back(op_row(
      "reshape", {F({2, 6})}, [](const TensorList& x) { return nb::reshape(x[0], {3, 4}); },
      [](const Ins& a) { return with_shape(a[0], {3, 4}); }, true));
  rows.push_back(op_row(
      "reshape_infer", {F({2, 3, 4})}, [](const TensorList& x) { return x[0].reshape({4, -1}); },
      [](const Ins& a) { return with_shape(a[0], {4, 6}); }));
  rows.push_back(op_row(
      "reshape_to_0d", {F({1, 1})}, [](const TensorList& x) { return x[0].reshape({}); },
      [](const Ins& a) { return with_shape(a[0], {}); }));
  rows.push_back(op_row(
      "transpose", {F({2, 3, 4})}, [](const TensorList& x) { return nb::transpose(x[0], 0, 2); },
      [](const Ins& a) { return ref_permute(a[0], {2, 1, 0}); }, true));
  rows.push_back(op_row(
      "t", {F({3, 4})}, [](const TensorList& x) { return x[0].t(); },
      [](const Ins& a) { return ref_permute(a[0], {1, 0}); }));
  rows.push_back(op_row(
      "permute", {F({2, 3, 4})}, [](const TensorList& x) { return nb::permute(x[0], {2, 0, 1}); },
      [](const Ins& a) { return ref_permute(a[0], {2, 0, 1}); }));
  rows.push_back(op_row(
      "permute_negative_dims", {F({2, 3, 4})}, [](const TensorList& x) { return nb::permute(x[0], {-1, -3, -2}); },
      [](const Ins& a) { return ref_permute(a[0], {2, 0, 1}); }));
  rows.push_back(op_row(
      "slice_step2", {F({3, 7})}, [](const TensorList& x) { return nb::slice(x[0], 1, 1, 6, 2); },
      [](const Ins& a) { return ref_slice(a[0], 1, 1, 3, 2); }, true));
  rows.push_back(op_row(
      "slice_negative_bounds", {F({5, 3})}, [](const TensorList& x) { return x[0].slice(0, -4, -1); },
      [](const Ins& a) { return ref_slice(a[0], 0, 1, 3, 1); }));
  rows.push_back(op_row(
      "slice_clamped_end", {F({3, 5})}, [](const TensorList& x) { return x[0].slice(-1, 2, 100); },
      [](const Ins& a) { return ref_slice(a[0], 1, 2, 3, 1); }));
  rows.push_back(op_row(
      "slice_step3_dim0", {F({7, 2})}, [](const TensorList& x) { return x[0].slice(0, 0, 7, 3); },
      [](const Ins& a) { return ref_slice(a[0], 0, 0, 3, 3); }));
  rows.push_back(op_row(
      "narrow", {F({3, 5})}, [](const TensorList& x) { return x[0].narrow(1, 1, 3); },
      [](const Ins& a) { return ref_slice(a[0], 1, 1, 3, 1); }));
  rows.push_back(op_row(
      "narrow_negative_start", {F({5, 3})}, [](const TensorList& x) { return x[0].narrow(0, -2, 2); },
      [](const Ins& a) { return ref_slice(a[0], 0, 3, 2, 1); }));
  rows.push_back(op_row(
      "select_dim0", {F({3, 4})}, [](const TensorList& x) { return x[0].select(0, 1); },
      [](const Ins& a) { return with_shape(ref_slice(a[0], 0, 1, 1, 1), {4}); }));
  rows.push_back(op_row(
      "select_dim1_negative", {F({2, 3, 4})}, [](const TensorList& x) { return x[0].select(1, -1); },
      [](const Ins& a) { return with_shape(ref_slice(a[0], 1, 2, 1, 1), {2, 4}); }));
  rows.push_back(op_row(
      "expand", {F({3, 1})}, [](const TensorList& x) { return nb::expand(x[0], {2, 3, 4}); },
      [](const Ins& a) { return make_arr({2, 3, 4}, [&](const Shape& i) { return bget(a[0], i); }); }, true));
  rows.push_back(op_row(
      "expand_minus_one", {F({1, 4})}, [](const TensorList& x) { return x[0].expand({3, -1}); },
      [](const Ins& a) { return make_arr({3, 4}, [&](const Shape& i) { return bget(a[0], i); }); }));
  rows.push_back(op_row(
      "squeeze_all", {F({1, 3, 1, 4})}, [](const TensorList& x) { return nb::squeeze(x[0]); },
      [](const Ins& a) { return with_shape(a[0], {3, 4}); }));
  rows.push_back(op_row(
      "squeeze_dim", {F({3, 1, 4})}, [](const TensorList& x) { return nb::squeeze(x[0], 1); },
      [](const Ins& a) { return with_shape(a[0], {3, 4}); }));
  rows.push_back(op_row(
      "squeeze_non_unit_dim", {F({3, 4})}, [](const TensorList& x) { return x[0].squeeze(0); },
      [](const Ins& a) { return a[0]; }));
  rows.push_back(op_row(
      "unsqueeze_0", {F({3, 4})}, [](const TensorList& x) { return nb::unsqueeze(x[0], 0); },
      [](const Ins& a) { return with_shape(a[0], {1, 3, 4}); }));
  rows.push_back(op_row(
      "unsqueeze_last", {F({3, 4})}, [](const TensorList& x) { return x[0].unsqueeze(-1); },
      [](const Ins& a) { return with_shape(a[0], {3, 4, 1}); }));
  rows.push_back(op_row(
      "unsqueeze_middle", {F({3, 4})}, [](const TensorList& x) { return x[0].unsqueeze(1); },
      [](const Ins& a) { return with_shape(a[0], {3, 1, 4}); }));
  rows.push_back(op_row(
      "flatten", {F({2, 3, 4})}, [](const TensorList& x) { return nb::flatten(x[0]); },
      [](const Ins& a) { return with_shape(a[0], {24}); }));
  rows.push_back(op_row(
      "flatten_1_2", {F({2, 3, 4})}, [](const TensorList& x) { return x[0].flatten(1, 2); },
      [](const Ins& a) { return with_shape(a[0], {2, 12}); }));
  rows.push_back(op_row(
      "flatten_0_1", {F({2, 3, 4})}, [](const TensorList& x) { return x[0].flatten(0, 1); },
      [](const Ins& a) { return with_shape(a[0], {6, 4}); }));
  rows.push_back(op_row(
      "clone", {F({3, 4})}, [](const TensorList& x) { return x[0].clone(); }, [](const Ins& a) { return a[0]; }));
  rows.push_back(op_row(
      "contiguous", {F({3, 4})}, [](const TensorList& x) { return x[0].contiguous(); },
      [](const Ins& a) { return a[0]; }));
  return rows;
}

std::vector<OpRow> join_rows() {
  std::vector<OpRow> rows;
  rows.push_back(op_row(
      "cat_dim0", {F({2, 3}), F({1, 3}), F({3, 3})}, [](const TensorList& x) { return nb::cat(x, 0); },
      [](const Ins& a) { return ref_cat(a, 0); }, true));
  rows.push_back(op_row(
      "cat_dim1", {F({2, 1}), F({2, 3}), F({2, 2})}, [](const TensorList& x) { return nb::cat(x, 1); },
      [](const Ins& a) { return ref_cat(a, 1); }));
  rows.push_back(op_row(
      "cat_negative_dim_3d", {F({2, 3, 2}), F({2, 3, 1})}, [](const TensorList& x) { return nb::cat(x, -1); },
      [](const Ins& a) { return ref_cat(a, -1); }));
  rows.push_back(op_row(
      "cat_with_empty_part", {F({2, 3}), F({0, 3}), F({1, 3})}, [](const TensorList& x) { return nb::cat(x, 0); },
      [](const Ins& a) { return ref_cat(a, 0); }));
  rows.push_back(op_row(
      "cat_single", {F({2, 3})}, [](const TensorList& x) { return nb::cat(x, 1); },
      [](const Ins& a) { return ref_cat(a, 1); }));
  rows.push_back(op_row(
      "stack_dim0", {F({2, 3}), F({2, 3}), F({2, 3})}, [](const TensorList& x) { return nb::stack(x, 0); },
      [](const Ins& a) { return ref_stack(a, 0); }, true));
  rows.push_back(op_row(
      "stack_last_dim", {F({2, 3}), F({2, 3})}, [](const TensorList& x) { return nb::stack(x, -1); },
      [](const Ins& a) { return ref_stack(a, -1); }));
  rows.push_back(op_row(
      "stack_middle", {F({2, 3}), F({2, 3})}, [](const TensorList& x) { return nb::stack(x, 1); },
      [](const Ins& a) { return ref_stack(a, 1); }));
  return rows;
}

// ---- indexing ----------------------------------------------------------------------------

Arr ref_gather(const Arr& x, int64_t d, const Arr& idx) {
  return make_arr(idx.shape, [&](const Shape& o) {
    Shape i = o;
    i[size_t(d)] = int64_t(idx.at(o));
    return x.at(i);
  });
}

Arr ref_scatter_add(const Arr& x, int64_t d, const Arr& idx, const Arr& src) {
  Arr out = x;
  for (int64_t k = 0; k < src.numel(); ++k) {
    Shape p = unravel(src.shape, k);
    Shape q = p;
    q[size_t(d)] = int64_t(idx.at(p));
    out.at(q) += src.v[size_t(k)];
  }
  return out;
}

Arr ref_index_select(const Arr& x, int64_t d, const Arr& idx) {
  Shape s = x.shape;
  s[size_t(d)] = idx.numel();
  return make_arr(s, [&](const Shape& o) {
    Shape i = o;
    i[size_t(d)] = int64_t(idx.v[size_t(o[size_t(d)])]);
    return x.at(i);
  });
}

Arr ref_index_add(const Arr& x, int64_t d, const Arr& idx, const Arr& src) {
  Arr out = x;
  for (int64_t k = 0; k < src.numel(); ++k) {
    Shape p = unravel(src.shape, k);
    Shape q = p;
    q[size_t(d)] = int64_t(idx.v[size_t(p[size_t(d)])]);
    out.at(q) += src.v[size_t(k)];
  }
  return out;
}

std::vector<OpRow> index_rows() {
  std::vector<OpRow> rows;
  rows.push_back(op_row(
      "gather_dim1", {F({3, 4}), I({3, 5}, 4)}, [](const TensorList& x) { return nb::gather(x[0], 1, x[1]); },
      [](const Ins& a) { return ref_gather(a[0], 1, a[1]); }, true));
  rows.push_back(op_row(
      "gather_dim0", {F({3, 4}), I({2, 4}, 3)}, [](const TensorList& x) { return nb::gather(x[0], 0, x[1]); },
      [](const Ins& a) { return ref_gather(a[0], 0, a[1]); }));
  rows.push_back(op_row(
      "gather_3d_dim_neg1", {F({2, 3, 4}), I({2, 3, 2}, 4)},
      [](const TensorList& x) { return nb::gather(x[0], -1, x[1]); },
      [](const Ins& a) { return ref_gather(a[0], 2, a[1]); }));
  rows.push_back(op_row(
      "scatter_add_dim1", {F({3, 4}), I({3, 6}, 4), F({3, 6})},
      [](const TensorList& x) { return nb::scatter_add(x[0], 1, x[1], x[2]); },
      [](const Ins& a) { return ref_scatter_add(a[0], 1, a[1], a[2]); }, true));
  rows.push_back(op_row(
      "scatter_add_dim0", {F({3, 4}), I({5, 4}, 3), F({5, 4})},
      [](const TensorList& x) { return nb::scatter_add(x[0], 0, x[1], x[2]); },
      [](const Ins& a) { return ref_scatter_add(a[0], 0, a[1], a[2]); }));
  rows.push_back(op_row(
      "index_select_dim0", {F({3, 4}), I({5}, 3)}, [](const TensorList& x) { return nb::index_select(x[0], 0, x[1]); },
      [](const Ins& a) { return ref_index_select(a[0], 0, a[1]); }, true));
  rows.push_back(op_row(
      "index_select_dim1_3d", {F({2, 3, 4}), I({4}, 3)},
      [](const TensorList& x) { return nb::index_select(x[0], 1, x[1]); },
      [](const Ins& a) { return ref_index_select(a[0], 1, a[1]); }));
  rows.push_back(op_row(
      "index_select_last", {F({3, 4}), I({2}, 4)}, [](const TensorList& x) { return nb::index_select(x[0], -1, x[1]); },
      [](const Ins& a) { return ref_index_select(a[0], 1, a[1]); }));
  rows.push_back(op_row(
      "index_add_dim0", {F({3, 4}), I({5}, 3), F({5, 4})},
      [](const TensorList& x) { return nb::index_add(x[0], 0, x[1], x[2]); },
      [](const Ins& a) { return ref_index_add(a[0], 0, a[1], a[2]); }, true));
  rows.push_back(op_row(
      "index_add_dim1_3d", {F({2, 3, 4}), I({2}, 3), F({2, 2, 4})},
      [](const TensorList& x) { return nb::index_add(x[0], 1, x[1], x[2]); },
      [](const Ins& a) { return ref_index_add(a[0], 1, a[1], a[2]); }));
  {
    // Duplicate indices accumulate.
    OpRow r = op_row(
        "index_add_duplicates", {F({3, 2}), X({4}, {2, 0, 2, 2}), F({4, 2})},
        [](const TensorList& x) { return nb::index_add(x[0], 0, x[1], x[2]); },
        [](const Ins& a) { return ref_index_add(a[0], 0, a[1], a[2]); });
    rows.push_back(r);
  }
  {
    OpRow r = op_row(
        "one_hot", {I({2, 3}, 5)}, [](const TensorList& x) { return nb::one_hot(x[0], 5); },
        [](const Ins& a) {
          Shape s = a[0].shape;
          s.push_back(5);
          return make_arr(s, [&](const Shape& o) {
            Shape i(o.begin(), o.end() - 1);
            return a[0].at(i) == double(o.back()) ? 1.0 : 0.0;
          });
        });
    r.differentiable = false;
    rows.push_back(r);
    r.name = "one_hot_f64_1d";
    r.inputs = {I({4}, 3)};
    r.fn = [](const TensorList& x) { return nb::one_hot(x[0], 3, DType::f64); };
    r.ref = [](const Ins& a) {
      return make_arr({4, 3}, [&](const Shape& o) { return a[0].v[size_t(o[0])] == double(o[1]) ? 1.0 : 0.0; });
    };
    rows.push_back(r);
  }
  return rows;
}

/// The elements of x at positions idx with one coordinate mapped: out[idx] = x[idx with idx[dim]
/// replaced by src(idx[dim])].
template <typename Src>
Arr remap(const Arr& x, const Shape& out_shape, int64_t dim, Src&& src) {
  return make_arr(out_shape, [&](const Shape& i) {
    Shape j = i;
    j[size_t(dim)] = src(i[size_t(dim)]);
    return x.at(j);
  });
}

std::vector<OpRow> rearrange_rows() {
  std::vector<OpRow> rows;
  // One row per piece of a split: its values are the slice of x at [start, start + len) along dim
  // (and gradcheck sends the gradient to that slice only).
  auto piece = [&](std::string name, Shape x, int64_t dim, int64_t start, int64_t len,
                   std::function<TensorList(const Tensor&)> split_fn) {
    OpRow r = op_row(std::move(name), {F(std::move(x))}, nullptr, [=](const Ins& a) {
      Shape out = a[0].shape;
      out[size_t(dim)] = len;
      return remap(a[0], out, dim, [=](int64_t k) { return start + k; });
    });
    r.fn = [split_fn, dim, start](const TensorList& t) {
      TensorList parts = split_fn(t[0]);
      int64_t at = 0;
      for (const Tensor& part : parts) {
        if (at == start) return part;
        at += part.size(dim);
      }
      return Tensor();
    };
    rows.push_back(r);
  };
  piece("split_3_dim1_middle", {2, 7, 2}, 1, 3, 3, [](const Tensor& x) { return nb::split(x, 3, 1); });
  piece("split_3_dim1_short_last", {2, 7, 2}, 1, 6, 1, [](const Tensor& x) { return nb::split(x, 3, 1); });
  piece("split_with_sizes_last_dim", {3, 6}, 1, 1, 3,
        [](const Tensor& x) { return nb::split_with_sizes(x, {1, 3, 2}, -1); });
  piece("chunk_3_of_5_last", {5, 4}, 0, 4, 1, [](const Tensor& x) { return nb::chunk(x, 3); });  // 2, 2, 1
  piece("chunk_4_of_6_second", {2, 6}, 1, 2, 2, [](const Tensor& x) { return nb::chunk(x, 4, 1); });  // 2, 2, 2

  rows.push_back(op_row("flip_dims_0_2", {F({2, 3, 4})}, [](const TensorList& t) { return nb::flip(t[0], {0, -1}); },
                     [](const Ins& a) {
                       return make_arr(a[0].shape, [&](const Shape& i) {
                         return a[0].at({1 - i[0], i[1], 3 - i[2]});
                       });
                     }));
  for (auto [name, shift, dim] : {std::tuple{"roll_back_1_dim1", int64_t(-1), int64_t(1)},
                                  std::tuple{"roll_7_dim0_wraps", int64_t(7), int64_t(0)}}) {
    rows.push_back(op_row(name, {F({3, 4})}, [shift, dim](const TensorList& t) { return nb::roll(t[0], shift, dim); },
                       [shift, dim](const Ins& a) {
                         const int64_t n = a[0].shape[size_t(dim)];
                         return remap(a[0], a[0].shape, dim, [=](int64_t k) { return ((k - shift) % n + n) % n; });
                       }));
  }
  rows.push_back(op_row("repeat_2_1_3_adds_a_dim", {F({2, 3})},
                     [](const TensorList& t) { return nb::repeat(t[0], {2, 1, 3}); },
                     [](const Ins& a) {
                       return make_arr({2, 2, 9}, [&](const Shape& i) { return a[0].at({i[1], i[2] % 3}); });
                     },
                     true));
  for (auto [name, diag, lower] : {std::tuple{"tril", int64_t(0), true}, std::tuple{"tril_diag_minus1", int64_t(-1), true},
                                   std::tuple{"triu_diag_2", int64_t(2), false}, std::tuple{"triu", int64_t(0), false}}) {
    OpRow r = op_row(name, {F({4, 5})},
                  [diag, lower](const TensorList& t) { return lower ? nb::tril(t[0], diag) : nb::triu(t[0], diag); },
                  [diag, lower](const Ins& a) {
                    return make_arr(a[0].shape, [&](const Shape& i) {
                      const int64_t r = i[i.size() - 2], c = i[i.size() - 1];
                      return (lower ? c - r <= diag : c - r >= diag) ? a[0].at(i) : 0.0;
                    });
                  });
    r.extra_cases = {{Shape{2, 3, 3}}, {Shape{1, 6}}};
    rows.push_back(r);
  }
  OpRow mf = op_row("masked_fill_broadcast_mask", {F({3, 4}), B({1, 4})},
                 [](const TensorList& t) { return nb::masked_fill(t[0], t[1], -1.5); },
                 [](const Ins& a) { return ew2(a[0], a[1], [](double x, double m) { return m != 0 ? -1.5 : x; }); });
  mf.extra_cases = {{Shape{2, 3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{}}};
  rows.push_back(mf);
  // masked_select: the elements where the (bool) mask is true, 1-D in row-major order; the mask
  // broadcasts with x (both ways). Differentiable in x (index_select's VJP, index_add).
  OpRow ms = op_row("masked_select_bool_mask", {F({3, 4}), B({3, 4})},
                    [](const TensorList& t) { return nb::masked_select(t[0], t[1]); },
                    [](const Ins& a) {
                      const Arr x = ew2(a[0], a[1], [](double v, double) { return v; });
                      const Arr m = ew2(a[0], a[1], [](double, double k) { return k; });
                      Arr out{Shape{0}, {}};
                      for (size_t i = 0; i < x.v.size(); ++i)
                        if (m.v[i] != 0) out.v.push_back(x.v[i]);
                      out.shape = {out.numel()};
                      return out;
                    });
  ms.extra_cases = {{Shape{2, 3, 4}, Shape{3, 4}}, {Shape{3, 1}, Shape{2, 3, 4}}, {Shape{3, 4}, Shape{}}};
  rows.push_back(ms);
  // where with a bool condition made on the fly by a comparison (the mask nabla builds itself).
  rows.push_back(op_row("where_of_comparison", {F({3, 4}), F({3, 4})},
                        [](const TensorList& t) { return nb::where(t[0] > 0.0, t[0], t[1] * 2.0); },
                        [](const Ins& a) { return ew2(a[0], a[1], [](double x, double y) { return x > 0 ? x : 2 * y; }); }));
  return rows;
}

TEST(OneHot, DtypeAndValues) {
  Tensor l = nb::from_vector(std::vector<int64_t>{2, 0, 1}, {3});
  Tensor o = nb::one_hot(l, 4);
  EXPECT_EQ(o.dtype(), DType::f32);
  EXPECT_EQ(o.to_vector<double>(), (std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(nb::one_hot(l, 3, DType::i64).dtype(), DType::i64);
}

}  // namespace

NB_OP_TABLE(View, view_rows());
NB_OP_TABLE(Join, join_rows());
NB_OP_TABLE(Index, index_rows());
NB_OP_TABLE(Rearrange, rearrange_rows());

}  // namespace optest
