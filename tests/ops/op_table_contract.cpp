// Op-table rows: einsum (explicit and implicit output, diagonals and traces, broadcasting "...",
// size-1 subscripts, batched contractions), tensordot, diagonal / diag / diag_embed / trace,
// outer, kron, cross, cdist (every p, both of its p = 2 paths, zero distances), lerp, addcmul and
// addcdiv. The einsum reference is a brute-force loop over every assignment of the subscripts.
#include <algorithm>
#include <cmath>
#include <map>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

/// einsum in plain loops, for equations with an explicit output and letters only (rows with "..."
/// give the reference the same equation with letters in its place): every assignment of values to
/// the subscripts, each operand read at its subscripts' values (at 0 along a dim of size 1, which
/// broadcasts), the products summed into the output's element.
Arr ref_einsum(const std::string& equation, const std::vector<Arr>& in) {
  const size_t arrow = equation.find("->");
  std::vector<std::string> terms{""};
  for (char c : equation.substr(0, arrow)) {
    if (c == ',') terms.emplace_back();
    else terms.back() += c;
  }
  const std::string out = equation.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (size_t i = 0; i < terms.size(); ++i)
    for (size_t d = 0; d < terms[i].size(); ++d) size[terms[i][d]] = std::max(size[terms[i][d]], in[i].shape[d]);
  std::string letters;
  Shape extent;
  for (auto [c, n] : size) letters += c, extent.push_back(n);
  Shape out_shape;
  for (char c : out) out_shape.push_back(size[c]);
  Arr o{out_shape, std::vector<double>(size_t(numel_of(out_shape)), 0.0)};
  for (int64_t k = 0; k < numel_of(extent); ++k) {
    const Shape v = unravel(extent, k);
    auto value_of = [&](char c) { return v[letters.find(c)]; };
    double p = 1;
    for (size_t i = 0; i < terms.size(); ++i) {
      Shape idx;
      for (size_t d = 0; d < terms[i].size(); ++d) idx.push_back(in[i].shape[d] == 1 ? 0 : value_of(terms[i][d]));
      p *= in[i].at(idx);
    }
    Shape oi;
    for (char c : out) oi.push_back(value_of(c));
    o.at(oi) += p;
  }
  return o;
}

/// An einsum row: `equation` for nabla, `ref_equation` (explicit, letters only) for the reference.
OpRow einsum_row(std::string name, std::string equation, std::string ref_equation, std::vector<In> inputs,
                 bool gradgrad = true) {
  OpRow r = op_row(
      std::move(name), std::move(inputs), [equation](const TensorList& x) { return nb::einsum(equation, x); },
      [ref_equation](const std::vector<Arr>& a) { return ref_einsum(ref_equation, a); }, gradgrad);
  r.atol32 = 1e-4;
  return r;
}

std::vector<OpRow> einsum_rows() {
  std::vector<OpRow> rows;
  rows.push_back(einsum_row("einsum_matmul", "ij,jk->ik", "ij,jk->ik", {F({2, 3}), F({3, 4})}));
  rows.push_back(einsum_row("einsum_matmul_implicit_spaces", " i j , j k ", "ij,jk->ik", {F({2, 3}), F({3, 4})}));
  rows.push_back(einsum_row("einsum_batched_matmul", "bij,bjk->bik", "bij,bjk->bik", {F({2, 2, 3}), F({2, 3, 4})}));
  rows.push_back(einsum_row("einsum_transpose", "ij->ji", "ij->ji", {F({2, 3})}));
  rows.push_back(einsum_row("einsum_sum_all", "ij->", "ij->", {F({2, 3})}));
  rows.push_back(einsum_row("einsum_trace", "ii", "ii->", {F({3, 3})}));
  rows.push_back(einsum_row("einsum_diagonal", "ii->i", "ii->i", {F({4, 4})}));
  rows.push_back(einsum_row("einsum_batch_diagonal_transposed", "iji->ji", "iji->ji", {F({3, 2, 3})}));
  rows.push_back(einsum_row("einsum_triple_repeat", "iii->i", "iii->i", {F({3, 3, 3})}));
  rows.push_back(einsum_row("einsum_outer", "i,j->ij", "i,j->ij", {F({3}), F({4})}));
  rows.push_back(einsum_row("einsum_dot", "i,i->", "i,i->", {F({5}), F({5})}));
  rows.push_back(einsum_row("einsum_hadamard_sum_rows", "ij,ij->i", "ij,ij->i", {F({3, 4}), F({3, 4})}));
  // Implicit output in alphabetical order, upper case first: "ba,Ac" gives "Aabc".
  rows.push_back(einsum_row("einsum_implicit_order", "ba,Ac", "ba,Ac->Aabc", {F({2, 3}), F({4, 2})}));
  rows.push_back(einsum_row("einsum_three_operands", "ij,jk,kl->il", "ij,jk,kl->il", {F({2, 3}), F({3, 4}), F({4, 2})}));
  rows.push_back(einsum_row("einsum_bilinear", "bn,anm,bm->ba", "bn,anm,bm->ba", {F({2, 3}), F({4, 3, 2}), F({2, 2})}));
  rows.push_back(einsum_row("einsum_contract_two_dims", "ijk,jkl->il", "ijk,jkl->il", {F({2, 3, 2}), F({3, 2, 4})}));
  rows.push_back(einsum_row("einsum_summed_lone_subscript", "ij,jk->k", "ij,jk->k", {F({2, 3}), F({3, 4})}));
  rows.push_back(einsum_row("einsum_size1_broadcast", "ij,jk->ik", "ij,jk->ik", {F({2, 1}), F({3, 4})}));
  rows.push_back(einsum_row("einsum_scalar_operand", ",ij->ij", ",ij->ij", {F({}), F({2, 3})}));
  rows.push_back(einsum_row("einsum_ellipsis_batch", "...ij,...jk->...ik", "abij,bjk->abik",
                            {F({2, 3, 2, 3}), F({3, 3, 2})}));
  rows.push_back(einsum_row("einsum_ellipsis_broadcast_ones", "...i,...i->...", "abi,bi->ab", {F({2, 1, 3}), F({4, 3})}));
  rows.push_back(einsum_row("einsum_ellipsis_middle_implicit", "i...j,j...k", "iabj,jabk->abik",
                            {F({2, 3, 1, 4}), F({4, 3, 2, 2})}));
  rows.push_back(einsum_row("einsum_ellipsis_summed", "...ij->ij", "abij->ij", {F({2, 3, 2, 2})}));
  rows.push_back(einsum_row("einsum_ellipsis_of_nothing", "...ij->ji...", "ij->ji", {F({2, 3})}));
  rows.push_back(einsum_row("einsum_zero_size_contraction", "ij,jk->ik", "ij,jk->ik", {F({2, 0}), F({0, 3})}, false));
  rows.back().extra_cases = {{{0, 2}, {2, 3}}};
  // (Integer operands: in tensor_ops_reference_test; their contraction is a matmul, CPU only.)
  auto tensordot_row = [&](std::string name, std::vector<In> in, Shape da, Shape db, std::string ref_eq) {
    rows.push_back(op_row(
        std::move(name), std::move(in), [da, db](const TensorList& x) { return nb::tensordot(x[0], x[1], da, db); },
        [ref_eq](const std::vector<Arr>& a) { return ref_einsum(ref_eq, a); }, true));
  };
  tensordot_row("tensordot_pairs", {F({2, 3, 4}), F({4, 3, 5})}, {1, 2}, {1, 0}, "ijk,kjl->il");
  tensordot_row("tensordot_size1_pair", {F({2, 1}), F({3, 4})}, {1}, {0}, "ij,jk->ik");
  tensordot_row("tensordot_no_dims", {F({2}), F({3})}, {}, {}, "i,j->ij");
  rows.push_back(op_row(
      "tensordot_default_dims2", {F({2, 3, 4}), F({3, 4, 2})}, [](const TensorList& x) { return nb::tensordot(x[0], x[1]); },
      [](const std::vector<Arr>& a) { return ref_einsum("ijk,jkl->il", a); }, true));
  return rows;
}

/// The `offset` diagonal of dims d1, d2 (wrapped) appended last, as torch.diagonal.
Arr ref_diagonal(const Arr& x, int64_t offset, int64_t d1, int64_t d2) {
  const int64_t n1 = x.size(d1), n2 = x.size(d2);
  const int64_t len = std::max<int64_t>(offset >= 0 ? std::min(n1, n2 - offset) : std::min(n1 + offset, n2), 0);
  Shape shape;
  for (int64_t d = 0; d < int64_t(x.shape.size()); ++d)
    if (d != d1 && d != d2) shape.push_back(x.shape[size_t(d)]);
  shape.push_back(len);
  return make_arr(shape, [&](const Shape& i) {
    Shape idx(x.shape.size());
    size_t k = 0;
    for (int64_t d = 0; d < int64_t(x.shape.size()); ++d)
      if (d != d1 && d != d2) idx[size_t(d)] = i[k++];
    const int64_t t = i.back();
    idx[size_t(d1)] = offset >= 0 ? t : t - offset;
    idx[size_t(d2)] = offset >= 0 ? t + offset : t;
    return x.at(idx);
  });
}

/// diag_embed: x's last dim on the `offset` diagonal of the output's dims d1, d2 (wrapped).
Arr ref_diag_embed(const Arr& x, int64_t offset, int64_t d1, int64_t d2) {
  const int64_t n = x.shape.back() + std::abs(offset);
  Shape shape(x.shape.begin(), x.shape.end() - 1);
  shape.insert(shape.begin() + std::min(d1, d2), n);
  shape.insert(shape.begin() + std::max(d1, d2), n);
  return make_arr(shape, [&](const Shape& i) {
    const int64_t r = i[size_t(d1)], c = i[size_t(d2)];
    if (c - r != offset) return 0.0;
    Shape idx;
    for (int64_t d = 0; d < int64_t(shape.size()); ++d)
      if (d != d1 && d != d2) idx.push_back(i[size_t(d)]);
    idx.push_back(offset >= 0 ? r : c);
    return x.at(idx);
  });
}

std::vector<OpRow> diagonal_rows() {
  std::vector<OpRow> rows;
  auto diagonal_row = [&](std::string name, Shape s, int64_t offset, int64_t d1, int64_t d2, int64_t w1, int64_t w2) {
    rows.push_back(op_row(
        std::move(name), {F(std::move(s))},
        [=](const TensorList& x) { return nb::diagonal(x[0], offset, d1, d2); },
        [=](const std::vector<Arr>& a) { return ref_diagonal(a[0], offset, w1, w2); }, true));
  };
  diagonal_row("diagonal_main", {3, 4}, 0, 0, 1, 0, 1);
  diagonal_row("diagonal_above", {3, 4}, 2, 0, 1, 0, 1);
  diagonal_row("diagonal_below", {4, 3}, -1, 0, 1, 0, 1);
  diagonal_row("diagonal_beyond_is_empty", {3, 4}, 5, 0, 1, 0, 1);
  diagonal_row("diagonal_dims_2_0_batched", {3, 2, 4}, 1, 2, 0, 2, 0);
  diagonal_row("diagonal_neg_dims", {2, 3, 3}, -1, -1, -2, 2, 1);
  auto embed_row = [&](std::string name, Shape s, int64_t offset, int64_t d1, int64_t d2, int64_t w1, int64_t w2) {
    rows.push_back(op_row(
        std::move(name), {F(std::move(s))}, [=](const TensorList& x) { return nb::diag_embed(x[0], offset, d1, d2); },
        [=](const std::vector<Arr>& a) { return ref_diag_embed(a[0], offset, w1, w2); }, true));
  };
  embed_row("diag_embed_default", {2, 3}, 0, -2, -1, 1, 2);
  embed_row("diag_embed_offset_dims_2_0", {2, 3}, 1, 2, 0, 2, 0);
  embed_row("diag_embed_below_1d", {3}, -2, 0, 1, 0, 1);
  for (int64_t k : {0, 1, -2}) {
    const std::string suffix = k < 0 ? "neg" + std::to_string(-k) : std::to_string(k);
    rows.push_back(op_row(
        "diag_vector_" + suffix, {F({3})}, [k](const TensorList& x) { return nb::diag(x[0], k); },
        [k](const std::vector<Arr>& a) { return ref_diag_embed(a[0], k, 0, 1); }, true));
    rows.push_back(op_row(
        "diag_matrix_" + suffix, {F({3, 4})}, [k](const TensorList& x) { return nb::diag(x[0], k); },
        [k](const std::vector<Arr>& a) { return ref_diagonal(a[0], k, 0, 1); }, true));
  }
  rows.push_back(op_row(
      "trace", {F({3, 4})}, [](const TensorList& x) { return nb::trace(x[0]); },
      [](const std::vector<Arr>& a) { return reduce_ref(ref_diagonal(a[0], 0, 0, 1), {}, false, ref_sum); }, true));
  rows.back().extra_cases = {{Shape{4, 2}}, {Shape{0, 3}}};
  return rows;
}

/// a x b along `dim` (wrapped) of the broadcast shape.
Arr ref_cross(const Arr& a, const Arr& b, int64_t dim) {
  return make_arr(bshape(a.shape, b.shape), [&](const Shape& i) {
    auto at = [&](const Arr& t, int64_t k) {
      Shape j = i;
      j[size_t(dim)] = k % 3;
      return bget(t, j);
    };
    const int64_t c = i[size_t(dim)];
    return at(a, c + 1) * at(b, c + 2) - at(a, c + 2) * at(b, c + 1);
  });
}

/// The p-norm distances between the rows of x1 [..., P, M] and x2 [..., R, M], batch dims broadcast.
Arr ref_cdist(const Arr& x1, const Arr& x2, double p) {
  const int64_t P = x1.size(-2), R = x2.size(-2), M = x1.size(-1);
  const Shape b1(x1.shape.begin(), x1.shape.end() - 2), b2(x2.shape.begin(), x2.shape.end() - 2);
  Shape shape = bshape(b1, b2);
  shape.insert(shape.end(), {P, R});
  return make_arr(shape, [&](const Shape& i) {
    double acc = 0;
    for (int64_t m = 0; m < M; ++m) {
      Shape i1(i.begin(), i.end() - 2), i2 = i1;
      i1.insert(i1.end(), {i[i.size() - 2], m});
      i2.insert(i2.end(), {i.back(), m});
      const double d = std::fabs(bget(x1, i1) - bget(x2, i2));
      acc = std::isinf(p) ? std::max(acc, d) : p == 0 ? acc + (d != 0) : acc + std::pow(d, p);
    }
    return std::isinf(p) || p == 0 ? acc : std::pow(acc, 1.0 / p);
  });
}

std::vector<OpRow> product_rows() {
  std::vector<OpRow> rows;
  rows.push_back(op_row(
      "outer", {F({3}), F({4})}, [](const TensorList& x) { return nb::outer(x[0], x[1]); },
      [](const std::vector<Arr>& a) { return ref_einsum("i,j->ij", a); }, true));
  {
    OpRow r = op_row(
        "kron", {F({2, 3}), F({2, 2})}, [](const TensorList& x) { return nb::kron(x[0], x[1]); },
        [](const std::vector<Arr>& a) {
          // Ranks padded with leading 1s; out[i * b.shape + j] = a[i] b[j].
          const size_t nd = std::max(a[0].shape.size(), a[1].shape.size());
          Shape sa(nd - a[0].shape.size(), 1), sb(nd - a[1].shape.size(), 1), out;
          sa.insert(sa.end(), a[0].shape.begin(), a[0].shape.end());
          sb.insert(sb.end(), a[1].shape.begin(), a[1].shape.end());
          for (size_t d = 0; d < nd; ++d) out.push_back(sa[d] * sb[d]);
          return make_arr(out, [&](const Shape& i) {
            Shape ia, ib;
            for (size_t d = 0; d < nd; ++d) ia.push_back(i[d] / sb[d]), ib.push_back(i[d] % sb[d]);
            return Arr{sa, a[0].v}.at(ia) * Arr{sb, a[1].v}.at(ib);
          });
        },
        true);
    r.extra_cases = {{{3}, {2, 2}}, {{2, 1, 2}, {3, 2}}, {{}, {3}}};
    rows.push_back(r);
  }
  auto cross_row = [&](std::string name, std::vector<In> in, std::optional<int64_t> dim, int64_t wrapped) {
    rows.push_back(op_row(
        std::move(name), std::move(in), [dim](const TensorList& x) { return nb::cross(x[0], x[1], dim); },
        [wrapped](const std::vector<Arr>& a) { return ref_cross(a[0], a[1], wrapped); }, true));
  };
  cross_row("cross_last_dim", {F({4, 3}), F({4, 3})}, -1, 1);
  cross_row("cross_default_first_size3_dim", {F({3, 4}), F({3, 4})}, std::nullopt, 0);
  cross_row("cross_dim1_broadcast", {F({2, 3, 1}), F({1, 3, 4})}, 1, 1);
  return rows;
}

std::vector<OpRow> cdist_rows() {
  std::vector<OpRow> rows;
  auto cdist_row = [&](std::string name, std::vector<In> in, double p, nb::CdistMode mode, bool gradgrad) {
    OpRow r = op_row(
        std::move(name), std::move(in), [p, mode](const TensorList& x) { return nb::cdist(x[0], x[1], p, mode); },
        [p](const std::vector<Arr>& a) { return ref_cdist(a[0], a[1], p); }, gradgrad);
    r.atol32 = 1e-4;
    rows.push_back(r);
    return &rows.back();
  };
  const auto direct = nb::CdistMode::DonotUseMmForEuclidDist, automatic = nb::CdistMode::UseMmForEuclidDistIfNecessary;
  cdist_row("cdist_p2", {F({4, 3}), F({5, 3})}, 2, automatic, true)->extra_cases = {{{1, 3}, {2, 3}}, {{3, 0}, {2, 0}},
                                                                                    {{0, 3}, {2, 3}}};
  cdist_row("cdist_p2_batched_broadcast", {F({2, 1, 3, 2}), F({3, 4, 2})}, 2, automatic, true);
  // P > 25: the matmul path, whose cancellation costs digits (|x|^2 ~ 10 here).
  OpRow* mm = cdist_row("cdist_p2_mm_path", {F({27, 3}), F({4, 3})}, 2, automatic, true);
  mm->atol = 1e-13, mm->rtol = 1e-12, mm->atol32 = 1e-4, mm->rtol32 = 1e-4;
  cdist_row("cdist_p2_mm_forced", {F({3, 2}), F({4, 2})}, 2, nb::CdistMode::UseMmForEuclidDist, true)->rtol = 1e-12;
  cdist_row("cdist_p1", {F({4, 3}), F({5, 3})}, 1, direct, false);
  cdist_row("cdist_p3", {F({2, 4, 3}), F({2, 5, 3})}, 3, direct, true);
  cdist_row("cdist_p_half", {F({3, 2}), F({4, 2})}, 0.5, direct, false);
  cdist_row("cdist_p_inf", {F({4, 3}), F({5, 3})}, INFINITY, direct, false)->extra_cases = {{{2, 0}, {3, 0}}};
  cdist_row("cdist_p0", {F({4, 3}), F({5, 3})}, 0, direct, false)->differentiable = false;
  // Equal rows (x1[0] = x2[1], x1[2] = x2[0]): distance 0, gradient 0 (the central differences of
  // |h| are 0 as well), on the direct path and on the matmul path.
  const std::vector<double> v1 = {0.5, -1, 2, 1.5, 0.25, -0.5, -2, 1, 0.75}, v2 = {-2, 1, 0.75, 0.5, -1, 2};
  cdist_row("cdist_p2_zero_distance_direct", {X({3, 3}, v1, DType::f64), X({2, 3}, v2, DType::f64)}, 2, direct, false);
  OpRow* z = cdist_row("cdist_p2_zero_distance_mm", {X({3, 3}, v1, DType::f64), X({2, 3}, v2, DType::f64)}, 2,
                       nb::CdistMode::UseMmForEuclidDist, false);
  z->atol = 1e-7;  // ‖x‖² + ‖y‖² - 2 x·y of equal rows is a rounding error, whose sqrt is ~1e-8
  z->atol32 = 1e-3;
  // Its central differences are rounding noise too: sqrt(h² ± 1e-15) differ by ~1e-9 at h = 1e-6.
  z->differentiable = false;
  return rows;
}

std::vector<OpRow> blend_rows() {
  std::vector<OpRow> rows;
  auto lerp_ref = [](double s, double e, double w) { return s + w * (e - s); };
  // Weights on both sides of 0.5 (PyTorch's two formulas) and outside [0, 1].
  rows.push_back(op_row(
      "lerp_tensor_weight", {F({3, 4}), F({3, 4}), F({3, 4}, -0.5, 1.5)},
      [](const TensorList& x) { return nb::lerp(x[0], x[1], x[2]); },
      [lerp_ref](const std::vector<Arr>& a) { return ew3(a[0], a[1], a[2], lerp_ref); }, true));
  rows.back().extra_cases = {{{3, 1}, {4}, {2, 1, 1}}, {{}, {2, 3}, {3}}};
  for (double w : {0.25, 0.75}) {
    rows.push_back(op_row(
        w < 0.5 ? "lerp_scalar_weight_low" : "lerp_scalar_weight_high", {F({3, 4}), F({4})},
        [w](const TensorList& x) { return nb::lerp(x[0], x[1], w); },
        [w, lerp_ref](const std::vector<Arr>& a) {
          return ew2(a[0], a[1], [w, lerp_ref](double s, double e) { return lerp_ref(s, e, w); });
        },
        true));
  }
  for (double value : {1.0, -0.5}) {
    const std::string suffix = value == 1 ? "" : "_value";
    rows.push_back(op_row(
        "addcmul" + suffix, {F({3, 4}), F({3, 1}), F({4})},
        [value](const TensorList& x) { return nb::addcmul(x[0], x[1], x[2], value); },
        [value](const std::vector<Arr>& a) {
          return ew3(a[0], a[1], a[2], [value](double i, double p, double q) { return i + value * p * q; });
        },
        true));
    rows.push_back(op_row(
        "addcdiv" + suffix, {F({3, 4}), F({3, 1}), M({4}, 0.5, 2)},
        [value](const TensorList& x) { return nb::addcdiv(x[0], x[1], x[2], value); },
        [value](const std::vector<Arr>& a) {
          return ew3(a[0], a[1], a[2], [value](double i, double p, double q) { return i + value * p / q; });
        },
        true));
  }
  return rows;
}

}  // namespace

NB_OP_TABLE(Einsum, einsum_rows());
NB_OP_TABLE(Diagonal, diagonal_rows());
NB_OP_TABLE(Products, product_rows());
NB_OP_TABLE(Cdist, cdist_rows());
NB_OP_TABLE(Blend, blend_rows());

}  // namespace optest
