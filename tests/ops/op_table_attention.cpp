// Op-table rows: scaled_dot_product_attention (composed from matmul, where, softmax), with no mask,
// a float mask, a bool mask (rows that keep nothing give 0), causal, a custom scale and broadcast
// batch dims.
#include <algorithm>

#include "nabla/ops/attention.h"
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

enum class MaskKind { None, Float, Bool, Causal };

/// softmax(Q Kᵀ · scale + bias) V in plain loops: Q [..., L, E], K [..., S, E], V [..., S, Ev] and
/// the mask broadcast over the batch dims; a row with nothing to attend to gives 0.
Arr ref_sdpa(const std::vector<Arr>& a, MaskKind mk, double scale) {
  const Arr &q = a[0], &k = a[1], &v = a[2];
  const int64_t L = q.size(-2), E = q.size(-1), S = k.size(-2), Ev = v.size(-1);
  if (scale <= 0) scale = 1.0 / std::sqrt(double(E));
  auto batch = [](const Arr& t) { return Shape(t.shape.begin(), t.shape.end() - 2); };
  Shape b = bshape(bshape(batch(q), batch(k)), batch(v));
  Shape ls = b, os;
  ls.push_back(L);
  ls.push_back(S);
  if (mk == MaskKind::Float || mk == MaskKind::Bool) ls = bshape(ls, a[3].shape);
  Shape ob(ls.begin(), ls.end() - 2);
  os = ob;
  os.push_back(L);
  os.push_back(Ev);
  Arr out{os, std::vector<double>(size_t(numel_of(os)))};
  // bget reads an operand at an index of a larger broadcast shape.
  auto at = [&](const Arr& t, const Shape& bi, int64_t r, int64_t c) {
    Shape idx = bi;
    idx.push_back(r);
    idx.push_back(c);
    return bget(t, idx);
  };
  // Scores and probabilities of one query, allocated once (a vector built inside the loop set
  // off GCC 12's -Wfree-nonheap-object false positive at -O3).
  std::vector<double> s(static_cast<size_t>(S)), p(static_cast<size_t>(S));
  for (int64_t bflat = 0; bflat < numel_of(ob); ++bflat) {
    Shape bi = unravel(ob, bflat);
    for (int64_t i = 0; i < L; ++i) {
      bool any = false;
      for (int64_t j = 0; j < S; ++j) {
        double d = 0;
        for (int64_t e = 0; e < E; ++e) d += at(q, bi, i, e) * at(k, bi, j, e);
        d *= scale;
        bool keep = true;
        if (mk == MaskKind::Float) d += at(a[3], bi, i, j);
        if (mk == MaskKind::Bool) keep = at(a[3], bi, i, j) != 0;
        if (mk == MaskKind::Causal) keep = j <= i;
        s[size_t(j)] = keep ? d : -INFINITY;
        any = any || keep;
      }
      std::fill(p.begin(), p.end(), 0.0);
      if (any) {
        double m = *std::max_element(s.begin(), s.end()), z = 0;
        for (double x : s) z += std::exp(x - m);
        for (size_t j = 0; j < s.size(); ++j) p[j] = std::exp(s[j] - m) / z;
      }
      for (int64_t c = 0; c < Ev; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < S; ++j) acc += p[size_t(j)] * at(v, bi, j, c);
        Shape oi = bi;
        oi.push_back(i);
        oi.push_back(c);
        out.at(oi) = acc;
      }
    }
  }
  return out;
}

OpRow sdpa_row(std::string name, std::vector<In> inputs, MaskKind mk, double scale = 0) {
  OpRow r;
  r.name = std::move(name);
  r.inputs = std::move(inputs);
  r.fn = [mk, scale](const TensorList& x) {
    nb::SdpaOptions o;
    if (mk == MaskKind::Float || mk == MaskKind::Bool) o.attn_mask = x[3];
    o.is_causal = mk == MaskKind::Causal;
    if (scale > 0) o.scale = scale;
    return nb::scaled_dot_product_attention(x[0], x[1], x[2], o);
  };
  r.ref = [mk, scale](const std::vector<Arr>& a) { return ref_sdpa(a, mk, scale); };
  r.atol32 = 2e-5;
  return r;
}

std::vector<OpRow> attention_rows() {
  std::vector<OpRow> rows;
  OpRow plain = sdpa_row("sdpa", {F({2, 3, 4}), F({2, 5, 4}), F({2, 5, 3})}, MaskKind::None);
  plain.extra_cases = {{{3, 4}, {5, 4}, {5, 2}},                   // no batch dims
                       {{2, 1, 3, 4}, {3, 5, 4}, {1, 5, 3}}};      // broadcast batch dims
  plain.gradgrad = true;
  rows.push_back(plain);
  OpRow fm = sdpa_row("sdpa_float_mask", {F({2, 3, 4}), F({2, 5, 4}), F({2, 5, 3}), F({3, 5})}, MaskKind::Float);
  fm.extra_cases = {{{2, 2, 3, 4}, {2, 1, 5, 4}, {5, 3}, {2, 1, 3, 5}}};
  rows.push_back(fm);
  rows.push_back(sdpa_row("sdpa_bool_mask", {F({2, 3, 4}), F({2, 5, 4}), F({2, 5, 3}), B({2, 3, 5})}, MaskKind::Bool));
  OpRow causal = sdpa_row("sdpa_causal_scale", {F({2, 4, 4}), F({2, 6, 4}), F({2, 6, 3})}, MaskKind::Causal, 0.45);
  causal.extra_cases = {{{4, 4}, {3, 4}, {3, 2}}};  // L > S: every row keeps key 0
  rows.push_back(causal);
  return rows;
}

}  // namespace

NB_OP_TABLE(Attention, attention_rows());

}  // namespace optest
