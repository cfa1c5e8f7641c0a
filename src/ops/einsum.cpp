// einsum: the equation parsed into labels, then contracted with diagonal, sum, permute, reshape,
// mul and matmul, so the gradients (and theirs) come from those ops on every device. The operands
// combine left to right, each pair as one batched matmul over the labels they share and no later
// operand or the output needs, as PyTorch's einsum without opt_einsum.
#include "einsum.h"

#include <algorithm>

#include "autocast.h"
#include "op_util.h"

namespace nabla {

namespace {

constexpr int kLetterLabels = 52;  // 'A'-'Z' are 0-25, 'a'-'z' 26-51; ellipsis dims come after

int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

std::string label_name(int l) {
  if (l < 26) return std::string(1, char('A' + l));
  if (l < kLetterLabels) return std::string(1, char('a' + l - 26));
  return "... (dim " + std::to_string(l - kLetterLabels) + " of the ellipsis)";
}

/// One operand's (or the output's) subscripts: letter labels, and where among them "..." stood.
struct Term {
  std::vector<int> letters;
  int ellipsis_at = -1;  // index into letters, -1 without an ellipsis
};

struct Equation {
  std::vector<Term> inputs = std::vector<Term>(1);
  std::optional<Term> output;  // absent: implicit output
};

Equation parse(const std::string& eq, const std::string& ctx) {
  Equation e;
  Term* t = &e.inputs.back();
  auto where_is = [&] { return e.output ? std::string("the output") : "operand " + std::to_string(e.inputs.size() - 1); };
  for (size_t i = 0; i < eq.size(); ++i) {
    const char c = eq[i];
    if (c == ' ') continue;
    if (c == '.') {
      NB_CHECK(eq.compare(i, 3, "...") == 0, ctx, "'.' at index ", i, " is not part of an ellipsis \"...\"");
      NB_CHECK(t->ellipsis_at < 0, ctx, "a second ellipsis at index ", i, " in ", where_is());
      t->ellipsis_at = int(t->letters.size());
      i += 2;
    } else if (c == ',' && !e.output) {
      t = &e.inputs.emplace_back();
    } else if (c == '-' && !e.output && eq.compare(i, 2, "->") == 0) {
      t = &e.output.emplace();
      ++i;
    } else {
      const int l = letter_label(c);
      NB_CHECK(l >= 0, ctx, "invalid subscript '", c, "' at index ", i,
               ": subscripts are letters a-z and A-Z, with ',' between operands, \"->\" before the output and "
               "\"...\" for broadcast dims");
      t->letters.push_back(l);
    }
  }
  return e;
}

/// `t`'s labels with its ellipsis replaced by the labels of its `n` dims: the last n of the
/// `total` ellipsis labels (ellipsis dims align from the right, as broadcasting does).
std::vector<int> expand_ellipsis(const Term& t, int64_t n, int64_t total) {
  std::vector<int> out;
  for (int k = 0; k <= int(t.letters.size()); ++k) {
    if (k == t.ellipsis_at)
      for (int64_t j = total - n; j < total; ++j) out.push_back(kLetterLabels + int(j));
    if (k < int(t.letters.size())) out.push_back(t.letters[size_t(k)]);
  }
  return out;
}

/// A [..R..] by [..R..] product of two operands aligned to the same R labels (size 1 where a label
/// is absent), summed over the dims where `sum_now`: one batched matmul of [batch, lo, k] by
/// [batch, k, ro], or a broadcast mul when no dim is contracted. The result is aligned the same way.
Tensor multiply_pair(Tensor a, Tensor b, const std::vector<bool>& sum_now) {
  const int64_t R = a.dim();
  Shape batch, lo, ro, contracted;
  for (int64_t r = 0; r < R; ++r) {
    const bool in_a = a.size(r) != 1, in_b = b.size(r) != 1;
    if (sum_now[size_t(r)]) {
      // A dim summed away that only one side has is summed on that side first.
      if (in_a && in_b) contracted.push_back(r);
      else if (in_a) a = sum(a, {r}, true);
      else if (in_b) b = sum(b, {r}, true);
    } else if (in_a && in_b) {
      batch.push_back(r);
    } else if (in_a) {
      lo.push_back(r);
    } else if (in_b) {
      ro.push_back(r);
    }
  }
  if (contracted.empty()) return a * b;
  auto size_of = [](const Tensor& t, const Shape& dims) {
    int64_t n = 1;
    for (int64_t d : dims) n *= t.size(d);
    return n;
  };
  // The order of the dims of each side: theirs first, then the rest (size 1 there).
  auto order = [R](std::initializer_list<const Shape*> groups) {
    Shape o;
    for (const Shape* g : groups) o.insert(o.end(), g->begin(), g->end());
    for (int64_t r = 0; r < R; ++r)
      if (std::find(o.begin(), o.end(), r) == o.end()) o.push_back(r);
    return o;
  };
  const int64_t nb = size_of(a, batch), m = size_of(a, lo), k = size_of(a, contracted), n = size_of(b, ro);
  const Tensor c = matmul(a.permute(order({&batch, &lo, &contracted})).reshape({nb, m, k}),
                          b.permute(order({&batch, &contracted, &ro})).reshape({nb, k, n}));
  // c is [batch, lo, ro] with the rest of size 1 after them: put every dim back at its label.
  const Shape c_order = order({&batch, &lo, &ro});
  Shape c_shape, back(static_cast<size_t>(R));
  for (size_t i = 0; i < c_order.size(); ++i) {
    const int64_t r = c_order[i];
    const bool summed = std::find(contracted.begin(), contracted.end(), r) != contracted.end();
    c_shape.push_back(summed ? 1 : a.size(r) != 1 ? a.size(r) : b.size(r));  // (a size 0 broadcasts with 1 too)
    back[size_t(r)] = int64_t(i);
  }
  return c.reshape(c_shape).permute(back);
}

/// A tensor whose dim d is named labels[d], each label once.
struct Labeled {
  Tensor t;
  std::vector<int> labels;
};

/// x with its dims permuted and size-1 dims inserted so that dim r holds label u[r] (u has x's).
Tensor align(const Labeled& x, const std::vector<int>& u) {
  Shape perm, shape;
  for (int l : u) {
    const auto it = std::find(x.labels.begin(), x.labels.end(), l);
    if (it == x.labels.end()) {
      shape.push_back(1);
    } else {
      perm.push_back(it - x.labels.begin());
      shape.push_back(x.t.size(perm.back()));
    }
  }
  return x.t.permute(perm).reshape(shape);
}

/// The product of a and b over the union of their labels, summed over the labels not in `keep`.
Labeled contract_pair(const Labeled& a, const Labeled& b, const std::vector<bool>& keep, const std::string& ctx) {
  std::vector<int> u = a.labels;
  for (int l : b.labels)
    if (std::find(u.begin(), u.end(), l) == u.end()) u.push_back(l);
  NB_CHECK(int64_t(u.size()) <= ops::kMaxDims, ctx, "a product of two operands has ", u.size(),
           " distinct subscripts, more than the ", ops::kMaxDims, " dims a tensor can have");
  std::vector<bool> sum_now;
  for (int l : u) sum_now.push_back(!keep[size_t(l)]);
  const Tensor c = multiply_pair(align(a, u), align(b, u), sum_now);
  Labeled out;
  Shape shape;
  for (size_t r = 0; r < u.size(); ++r)
    if (!sum_now[r]) out.labels.push_back(u[r]), shape.push_back(c.size(int64_t(r)));
  out.t = c.reshape(shape);  // the summed dims have size 1 by now
  return out;
}

}  // namespace

namespace ops {

Tensor einsum_labeled(const TensorList& operands, const std::vector<std::vector<int>>& labels,
                      const std::vector<int>& out, const std::string& ctx) {
  int num_labels = 0;
  for (const auto& ls : labels)
    for (int l : ls) num_labels = std::max(num_labels, l + 1);
  std::vector<int64_t> size(size_t(num_labels), 1);
  // Repeated labels first: each pair of dims with one label becomes their diagonal, appended last.
  std::vector<Labeled> xs;
  for (size_t i = 0; i < operands.size(); ++i) {
    ops::check_same_device(operands[0], operands[i], "einsum");
    Labeled x{operands[i], labels[i]};
    std::vector<int>& lab = x.labels;
    for (size_t p = 0; p < lab.size(); ++p) {
      for (size_t q = p + 1; q < lab.size(); ++q) {
        if (lab[q] != lab[p]) continue;
        NB_CHECK(x.t.size(int64_t(p)) == x.t.size(int64_t(q)), ctx, "subscript ", label_name(lab[p]),
                 " is repeated in operand ", i, " (shape ", operands[i].shape(), ") on dims of different sizes, ",
                 x.t.size(int64_t(p)), " and ", x.t.size(int64_t(q)));
        x.t = diagonal(x.t, 0, int64_t(p), int64_t(q));
        const int l = lab[p];
        lab.erase(lab.begin() + long(q));
        lab.erase(lab.begin() + long(p));
        lab.push_back(l);
        q = p;  // dim p now holds the next label: look again from it
      }
    }
    for (size_t d = 0; d < lab.size(); ++d) {
      const int64_t s = x.t.size(int64_t(d));
      int64_t& known = size[size_t(lab[d])];
      if (s == 1) continue;
      NB_CHECK(known == 1 || known == s, ctx, "subscript ", label_name(lab[d]), " has size ", s, " in operand ", i,
               " (shape ", operands[i].shape(), "), which does not broadcast with size ", known,
               " from an earlier operand");
      known = s;
    }
    xs.push_back(std::move(x));
  }

  // How many operands use each label, and the last one that does.
  std::vector<int> users(size_t(num_labels), 0), last_user(size_t(num_labels), -1);
  for (size_t i = 0; i < xs.size(); ++i)
    for (int l : xs[i].labels)
      if (last_user[size_t(l)] != int(i)) ++users[size_t(l)], last_user[size_t(l)] = int(i);
  std::vector<bool> keep(size_t(num_labels), false);
  for (int l : out) keep[size_t(l)] = true;
  // A label that no other operand and not the output has is summed away first.
  for (Labeled& x : xs) {
    Shape lone;
    std::vector<int> kept;
    for (size_t d = 0; d < x.labels.size(); ++d) {
      const int l = x.labels[d];
      if (!keep[size_t(l)] && users[size_t(l)] == 1) lone.push_back(int64_t(d));
      else kept.push_back(l);
    }
    if (!lone.empty()) x.t = sum(x.t, lone), x.labels = kept;  // (an empty list would sum everything)
  }
  Labeled acc = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) {
    // Kept past this product: the output's labels and those a later operand has.
    std::vector<bool> keep_now = keep;
    for (int l = 0; l < num_labels; ++l) keep_now[size_t(l)] = keep_now[size_t(l)] || last_user[size_t(l)] > int(i);
    acc = contract_pair(acc, xs[i], keep_now, ctx);
  }
  // Integer sums come back in i64; u8 operands give u8 (wrapping), as PyTorch's einsum. A
  // floating result keeps its dtype: under the CPU's autocast its matmuls ran in bf16, as
  // PyTorch's einsum's bmm does there.
  DType dt = operands[0].dtype();
  for (const Tensor& t : operands) dt = promote(dt, t.dtype());
  const Tensor result = align(acc, out);
  return result.is_floating_point() && is_floating(dt) ? result : result.to(dt);
}

}  // namespace ops

Tensor einsum(const std::string& equation, const TensorList& operands) {
  if (ops::AutocastRegion ac(ops::autocast_op::einsum, operands); ac.active())
    return einsum(equation, ac.cast(operands));
  const std::string ctx = "[einsum] \"" + equation + "\": ";
  NB_CHECK(!operands.empty(), ctx, "needs at least one operand, got none");
  const Equation e = parse(equation, ctx);
  NB_CHECK(e.inputs.size() == operands.size(), ctx, "the equation has ", e.inputs.size(), " operand(s) but ",
           operands.size(), " tensor(s) were given");
  // How many dims each operand's ellipsis covers; the ellipses broadcast with one another.
  std::vector<int64_t> ellipsis_dims;
  int64_t total = 0;
  for (size_t i = 0; i < operands.size(); ++i) {
    ops::check_tensor(operands[i], "einsum");
    const Term& t = e.inputs[i];
    const int64_t n = int64_t(t.letters.size()), nd = operands[i].dim();
    if (t.ellipsis_at < 0)
      NB_CHECK(n == nd, ctx, "operand ", i, " has ", nd, " dim(s) (shape ", operands[i].shape(), ") but ", n,
               " subscript(s) and no ellipsis");
    else
      NB_CHECK(n <= nd, ctx, "operand ", i, " has ", nd, " dim(s) (shape ", operands[i].shape(), ") but ", n,
               " subscript(s) besides its ellipsis");
    ellipsis_dims.push_back(nd - n);
    total = std::max(total, nd - n);
  }
  std::vector<std::vector<int>> labels;
  std::vector<int> count(kLetterLabels, 0);
  for (size_t i = 0; i < operands.size(); ++i) {
    labels.push_back(expand_ellipsis(e.inputs[i], ellipsis_dims[i], total));
    for (int l : e.inputs[i].letters) ++count[size_t(l)];
  }
  std::vector<int> out;
  if (e.output) {
    std::vector<bool> seen(kLetterLabels, false);
    for (int l : e.output->letters) {
      NB_CHECK(!seen[size_t(l)], ctx, "output subscript ", label_name(l), " appears more than once");
      NB_CHECK(count[size_t(l)] > 0, ctx, "output subscript ", label_name(l), " is not a subscript of any operand");
      seen[size_t(l)] = true;
    }
    out = expand_ellipsis(*e.output, total, total);
  } else {
    // Implicit output: the ellipsis dims, then the subscripts used once, in alphabetical order.
    for (int64_t j = 0; j < total; ++j) out.push_back(kLetterLabels + int(j));
    for (int l = 0; l < kLetterLabels; ++l)
      if (count[size_t(l)] == 1) out.push_back(l);
  }
  return ops::einsum_labeled(operands, labels, out, ctx);
}

}  // namespace nabla

namespace nabla {

// torch.einsum's sublist form, as torch/functional.py does it: each sublist spelled as the
// equation's subscripts (0-25 -> 'A'-'Z', 26-51 -> 'a'-'z', Ellipsis -> "..."), then the
// equation form, so both forms share every check and the engine.
Tensor einsum(const TensorList& operands, const std::vector<EinsumSublist>& sublists,
              const std::optional<EinsumSublist>& output) {
  NB_CHECK(!operands.empty(), "[einsum] the sublist form needs at least one operand, got none");
  NB_CHECK(sublists.size() == operands.size(), "[einsum] the sublist form needs one sublist per operand; got ",
           operands.size(), " operand(s) and ", sublists.size(), " sublist(s)");
  auto spell = [](const EinsumSublist& sub, const std::string& whose) {
    std::string s;
    for (size_t k = 0; k < sub.size(); ++k) {
      const int64_t v = sub[k];
      if (v == Ellipsis) {
        s += "...";
        continue;
      }
      NB_CHECK(v >= 0 && v < kLetterLabels, "[einsum] subscript ", v, " at position ", k, " in the sublist of ", whose,
               " is not within the valid range [0, 52) (0-25 stand for A-Z, 26-51 for a-z; Ellipsis for ...)");
      s += label_name(int(v));
    }
    return s;
  };
  std::string equation;
  for (size_t i = 0; i < sublists.size(); ++i) {
    if (i > 0) equation += ',';
    equation += spell(sublists[i], "operand " + std::to_string(i));
  }
  if (output) equation += "->" + spell(*output, "the output");
  return einsum(equation, operands);
}

}  // namespace nabla
