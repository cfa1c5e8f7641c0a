// prod, any, all, cumprod, logcumsumexp, einsum, tensordot, outer, kron, cross, cdist, trace,
// diagonal, diag, diag_embed, lerp, addcmul and addcdiv outside the op table: the errors users
// see (bad dims, shapes, dtypes, einsum equations), zero-size inputs (as PyTorch), diagonal as a
// view, and the gradients at the points where the textbook formulas divide by zero.
#include <cmath>

#include "common/expect_error.h"
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

Tensor t64(std::vector<double> v, Shape s) { return nb::from_vector(v, s); }
Tensor ones64(Shape s) { return nb::ones(s, {.dtype = DType::f64}); }
Tensor ones_i64(Shape s) { return nb::ones(s, {.dtype = DType::i64}); }

TEST(TensorOpsErrors, ReductionsAndScans) {
  EXPECT_ERROR(nb::prod(ones64({2, 3}), {2}), "[prod]", "dimension 2 is out of range");
  EXPECT_ERROR(nb::prod(ones64({2, 3}), {1, -1}), "[prod]", "appears twice");
  EXPECT_ERROR(nb::any(ones64({2, 3}), {-3}), "[any]", "out of range");
  EXPECT_ERROR(nb::all(ones64({2}), {0, 0}), "[all]", "appears twice");
  EXPECT_ERROR(nb::cumprod(ones64({2, 3}), 2), "[cumprod]", "out of range");
  EXPECT_ERROR(nb::logcumsumexp(ones_i64({3}), 0), "[logcumsumexp]", "floating", "i64");
  EXPECT_ERROR(nb::logcumsumexp(ones64({3}), 1), "[logcumsumexp]", "out of range");
}

TEST(TensorOpsErrors, EinsumNamesTheEquationAndTheCulprit) {
  const Tensor a = ones64({2, 3}), b = ones64({3, 4});
  EXPECT_ERROR(nb::einsum("ij", {}), "[einsum] \"ij\"", "at least one operand");
  EXPECT_ERROR(nb::einsum("ij,jk->ik", {a}), "\"ij,jk->ik\"", "2 operand(s)", "1 tensor(s)");
  EXPECT_ERROR(nb::einsum("ij->ij", {a, b}), "1 operand(s)", "2 tensor(s)");
  EXPECT_ERROR(nb::einsum("ijk", {a}), "\"ijk\"", "operand 0 has 2 dim(s)", "3 subscript(s) and no ellipsis");
  EXPECT_ERROR(nb::einsum("ij,j->i", {a, ones64({3, 1})}), "operand 1 has 2 dim(s)", "1 subscript(s)");
  EXPECT_ERROR(nb::einsum("i...jk", {a}), "operand 0 has 2 dim(s)", "3 subscript(s) besides its ellipsis");
  EXPECT_ERROR(nb::einsum("i1", {a}), "invalid subscript '1' at index 1");
  EXPECT_ERROR(nb::einsum("ij-ji", {a}), "invalid subscript '-' at index 2");
  EXPECT_ERROR(nb::einsum("ij->j->i", {a}), "invalid subscript '-' at index 5");
  EXPECT_ERROR(nb::einsum("i.j", {a}), "'.' at index 1 is not part of an ellipsis");
  EXPECT_ERROR(nb::einsum("......", {a}), "a second ellipsis at index 3 in operand 0");
  EXPECT_ERROR(nb::einsum("ij->...i...", {a}), "a second ellipsis at index 8 in the output");
  EXPECT_ERROR(nb::einsum("ij->ii", {a}), "output subscript i appears more than once");
  EXPECT_ERROR(nb::einsum("ij->k", {a}), "output subscript k is not a subscript of any operand");
  EXPECT_ERROR(nb::einsum("ij,jk", {a, ones64({4, 5})}), "\"ij,jk\"", "subscript j has size 4 in operand 1",
               "shape [4, 5]", "does not broadcast with size 3");
  EXPECT_ERROR(nb::einsum("ii", {a}), "subscript i is repeated in operand 0", "shape [2, 3]", "2 and 3");
  EXPECT_ERROR(nb::einsum("ii->i", {ones64({1, 3})}), "subscript i is repeated", "1 and 3");  // no broadcasting here
  EXPECT_ERROR(nb::einsum("...i,...i", {a, ones64({4, 3})}), "subscript ... (dim 0 of the ellipsis) has size 4",
               "operand 1", "size 2");
  // Operands 0 and 1 share no subscript but the later ones need all 18 of theirs: their product
  // would be an 18-D tensor.
  const Tensor nine = nb::ones(Shape(9, 1), {.dtype = DType::f64});
  EXPECT_ERROR(nb::einsum("abcdefghi,jklmnopqr,abcdefghi,jklmnopqr->", {nine, nine, nine, nine}),
               "a product of two operands has 18 distinct subscripts, more than the 16 dims");
}

// torch.einsum's sublist form, einsum(op1, sublist1, op2, sublist2, ..., [sublist_out]): the values
// against loops in f64 (and the equation form), PyTorch's mapping 0-25 -> A-Z, 26-51 -> a-z (so
// the implicit output lists 0-25 before 26-51), Ellipsis as "...", and the errors.
TEST(EinsumSublist, MatchesLoopsAndTheEquationForm) {
  const Tensor a = nb::arange(0, 6, 1, DType::f64).reshape({2, 3});
  const Tensor b = (nb::arange(0, 12, 1, DType::f64) + 1.0).reshape({3, 4});
  const Tensor c = (nb::arange(0, 8, 1, DType::f64) * 0.5).reshape({4, 2});
  std::vector<double> ab(8, 0.0);  // a @ b by loops
  const auto av = a.to_double_vector(), bv = b.to_double_vector(), cv = c.to_double_vector();
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j) ab[size_t(i * 4 + k)] += av[size_t(i * 3 + j)] * bv[size_t(j * 4 + k)];
  const Tensor explicit_out = nb::einsum(a, {0, 1}, b, {1, 2}, {0, 2});
  EXPECT_EQ(explicit_out.shape(), (Shape{2, 4}));
  EXPECT_EQ(explicit_out.to_double_vector(), ab);
  EXPECT_EQ(nb::einsum(a, {0, 1}, b, {1, 2}).to_double_vector(), ab) << "implicit output: A, C";
  EXPECT_EQ(nb::einsum(a, {26, 27}, b, {27, 28}, {26, 28}).to_double_vector(), ab) << "lower case labels";
  EXPECT_EQ(nb::einsum(a, {0, 1}, b, {1, 2}, {2, 0}).to_double_vector(),
            nb::einsum("AB,BC->CA", {a, b}).to_double_vector());
  // Implicit output in PyTorch's order (upper case first): {27, 0} is "bA", whose output is "Ab".
  const Tensor t = nb::einsum(a, {27, 0});
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(t.to_double_vector(), a.t().contiguous().to_double_vector());
  // Three operands: (a @ b) @ c.
  std::vector<double> abc(4, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int l = 0; l < 2; ++l)
      for (int k = 0; k < 4; ++k) abc[size_t(i * 2 + l)] += ab[size_t(i * 4 + k)] * cv[size_t(k * 2 + l)];
  EXPECT_EQ(nb::einsum(a, {0, 1}, b, {1, 2}, c, {2, 3}, {0, 3}).to_double_vector(), abc);
  EXPECT_EQ(nb::einsum(a, {0, 1}, b, {1, 2}, c, {2, 3}).to_double_vector(), abc);
  EXPECT_EQ(nb::einsum({a, b, c, c.t()}, {{0, 1}, {1, 2}, {2, 3}, {3, 4}}, nb::EinsumSublist{0, 4}).to_double_vector(),
            nb::einsum("ab,bc,cd,de->ae", {a, b, c, c.t()}).to_double_vector());
  // One operand: trace, diagonal, sum.
  const Tensor sq = nb::arange(0, 9, 1, DType::f64).reshape({3, 3});
  EXPECT_EQ(nb::einsum(sq, {5, 5}).item(), 0.0 + 4.0 + 8.0);
  EXPECT_EQ(nb::einsum(sq, {5, 5}, {5}).to_double_vector(), (std::vector<double>{0, 4, 8}));
  EXPECT_EQ(nb::einsum(sq, {0, 1}, {}).item(), 36.0);
  // Ellipsis: a batch of matmuls, with and without the output sublist.
  const Tensor x = nb::arange(0, 30, 1, DType::f64).reshape({5, 2, 3});
  const Tensor bm = nb::einsum(x, {nb::Ellipsis, 0, 1}, b, {1, 2}, {nb::Ellipsis, 0, 2});
  EXPECT_EQ(bm.shape(), (Shape{5, 2, 4}));
  EXPECT_EQ(bm.to_double_vector(), nb::matmul(x, b).to_double_vector());
  EXPECT_EQ(nb::einsum(x, {nb::Ellipsis, 0, 1}, b, {1, 2}).to_double_vector(), bm.to_double_vector());
  EXPECT_EQ(nb::einsum(x, {0, nb::Ellipsis}, {nb::Ellipsis}).to_double_vector(),
            nb::sum(x, {0}).to_double_vector());
  // Gradients are the equation form's: d/da sum(a @ b) = row sums of b, for each row of a.
  Tensor ag = a.detach().requires_grad_(true);
  nb::einsum(ag, {0, 1}, b, {1, 2}).sum().backward();
  EXPECT_EQ(ag.grad().to_double_vector(), (std::vector<double>{10, 26, 42, 10, 26, 42}));
}

TEST(EinsumSublist, ErrorsNameEinsumAndTheBadSubscript) {
  const Tensor a = ones64({2, 3}), b = ones64({3, 4});
  EXPECT_ERROR(nb::einsum(a, {0, 52}), "[einsum]", "subscript 52 at position 1", "sublist of operand 0",
               "[0, 52)");
  EXPECT_ERROR(nb::einsum(a, {0, 1}, b, {1, -1}), "[einsum]", "subscript -1 at position 1", "operand 1");
  EXPECT_ERROR(nb::einsum(a, {0, 1}, b, {1, 2}, {0, 99}), "[einsum]", "subscript 99", "the output");
  EXPECT_ERROR(nb::einsum({a, b}, {{0, 1}}), "[einsum]", "one sublist per operand", "2 operand(s) and 1 sublist(s)");
  EXPECT_ERROR(nb::einsum(TensorList{}, {}), "[einsum]", "at least one operand");
  // The rest is checked on the equation the sublists spell, and named in it.
  EXPECT_ERROR(nb::einsum(a, {0, 1}, b, {0, 2}), "[einsum] \"AB,AC\"", "subscript A has size 3 in operand 1");
  EXPECT_ERROR(nb::einsum(a, {0, 1, 2}), "[einsum] \"ABC\"", "operand 0 has 2 dim(s)");
  EXPECT_ERROR(nb::einsum(a, {nb::Ellipsis, 0, nb::Ellipsis}), "a second ellipsis");
}

TEST(TensorOpsErrors, TensordotOuterKronCross) {
  const Tensor a = ones64({2, 3}), b = ones64({3, 4});
  EXPECT_ERROR(nb::tensordot(a, b, {1}, {0, 1}), "[tensordot]", "same length");
  EXPECT_ERROR(nb::tensordot(ones64({3, 3}), ones64({3, 3}), {1, 1}, {0, 1}), "dim 1 of a appears more than once");
  EXPECT_ERROR(nb::tensordot(ones64({3, 3}), ones64({3, 3}), {0, 1}, {1, 1}), "dim 1 of b appears more than once");
  EXPECT_ERROR(nb::tensordot(a, ones64({4, 4}), {1}, {0}), "contracted dims differ in size", "dim 1 of a",
               "shape [2, 3]", "has 3", "dim 0 of b", "has 4");
  EXPECT_ERROR(nb::tensordot(a, b, {2}, {0}), "[tensordot]", "out of range");
  EXPECT_ERROR(nb::tensordot(a, b, 3), "[tensordot]", "last 3 dim(s)");
  EXPECT_ERROR(nb::tensordot(a, b, -1), "[tensordot]", "last -1 dim(s)");
  EXPECT_ERROR(nb::tensordot(ones64({}), b, {0}, {0}), "0-d");
  EXPECT_ERROR(nb::outer(a, ones64({2})), "[outer]", "two 1-D tensors", "[2, 3]");
  EXPECT_ERROR(nb::outer(ones64({}), ones64({2})), "[outer]", "1-D");
  EXPECT_ERROR(nb::cross(ones64({4, 3}), ones64({3})), "[cross]", "one rank", "[4, 3]", "[3]");
  EXPECT_ERROR(nb::cross(ones64({2, 4}), ones64({2, 4})), "[cross]", "no dim was given", "no dim of size 3");
  EXPECT_ERROR(nb::cross(ones64({2, 4}), ones64({2, 4}), 1), "[cross]", "dim 1 must have size 3");
  EXPECT_ERROR(nb::cross(ones64({3, 2}), ones64({3, 4}), 0), "[cross]", "broadcast");
  EXPECT_ERROR(nb::cross(ones64({}), ones64({}), 0), "[cross]", "at least 1-D");
  EXPECT_ERROR(nb::cross(ones64({3}), ones64({3}), 1), "[cross]", "out of range");
}

TEST(TensorOpsErrors, Cdist) {
  EXPECT_ERROR(nb::cdist(ones_i64({2, 3}), ones_i64({4, 3})), "[cdist]", "floating", "i64");
  EXPECT_ERROR(nb::cdist(ones64({3}), ones64({4, 3})), "[cdist]", "at least 2-D", "[3]");
  EXPECT_ERROR(nb::cdist(ones64({2, 3}), ones64({4, 5})), "[cdist]", "[2, 3]", "[4, 5]", "same number of columns");
  EXPECT_ERROR(nb::cdist(ones64({2, 3}), ones64({4, 3}), -1), "[cdist]", "non-negative", "-1");
  EXPECT_ERROR(nb::cdist(ones64({2, 3}), ones64({4, 3}), NAN), "[cdist]", "non-negative", "nan");
  EXPECT_ERROR(nb::cdist(ones64({2, 2, 3}), ones64({3, 4, 3})), "[cdist]", "broadcast");
}

TEST(TensorOpsErrors, Diagonals) {
  EXPECT_ERROR(nb::trace(ones64({3})), "[trace]", "matrix", "[3]");
  EXPECT_ERROR(nb::trace(ones64({2, 2, 2})), "[trace]", "matrix");
  EXPECT_ERROR(nb::diagonal(ones64({3})), "[diagonal]", "at least 2 dimensions", "[3]");
  EXPECT_ERROR(nb::diagonal(ones64({2, 3}), 0, 1, -1), "[diagonal]", "must be different", "1 and -1");
  EXPECT_ERROR(nb::diagonal(ones64({2, 3}), 0, 0, 2), "[diagonal]", "out of range");
  EXPECT_ERROR(nb::diag(ones64({2, 2, 2})), "[diag]", "1-D (vector) or 2-D (matrix)", "[2, 2, 2]");
  EXPECT_ERROR(nb::diag(ones64({})), "[diag]", "1-D");
  EXPECT_ERROR(nb::diag_embed(ones64({})), "[diag_embed]", "at least 1 dimension");
  EXPECT_ERROR(nb::diag_embed(ones64({3}), 0, 0, -2), "[diag_embed]", "must be different");
  EXPECT_ERROR(nb::diag_embed(ones64({3}), 0, 0, 2), "[diag_embed]", "out of range");
}

TEST(TensorOpsErrors, Blends) {
  const Tensor a = ones64({3});
  EXPECT_ERROR(nb::lerp(ones_i64({3}), ones_i64({3}), 0.5), "[lerp]", "floating", "i64");
  EXPECT_ERROR(nb::lerp(a, nb::ones({3}), 0.5), "[lerp]", "one floating dtype", "f64", "end f32");
  EXPECT_ERROR(nb::lerp(a, a, nb::ones({3})), "[lerp]", "weight f32");
  EXPECT_ERROR(nb::lerp(a, ones64({4}), 0.5), "[lerp]", "[3]", "[4]");
  EXPECT_ERROR(nb::lerp(a, a, ones64({2})), "[lerp]", "[2]");
  EXPECT_ERROR(nb::lerp(a, a, Tensor()), "[lerp]", "undefined");
  EXPECT_ERROR(nb::addcdiv(a, ones_i64({3}), ones_i64({3})), "[addcdiv]", "integer division", "i64");
  EXPECT_ERROR(nb::addcmul(a, ones64({2}), a), "[addcmul]", "[2]", "[3]", "cannot be broadcast");
  EXPECT_ERROR(nb::addcdiv(a, a, ones64({2, 2})), "[addcdiv]", "[2, 2]", "cannot be broadcast");
}

// ---- zero-size inputs: PyTorch's results, and a backward that gives gradients of the inputs' shapes

void expect_shape_and_grad(const Tensor& out, const Shape& shape, const Tensor& in, const std::string& what) {
  EXPECT_EQ(out.shape(), shape) << what;
  if (!out.requires_grad()) return;
  const Tensor g = nb::grad({nb::sum(out)}, {in}, {}, false, false, true)[0];
  if (g.defined()) {
    EXPECT_EQ(g.shape(), in.shape()) << what;
  }
}

TEST(TensorOpsZeroSize, LikePyTorch) {
  const Tensor e = nb::zeros({2, 0}, {.dtype = DType::f64}).requires_grad_(true);
  const Tensor p = nb::prod(e, {1});
  expect_shape_and_grad(p, {2}, e, "prod over an empty dim");
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{1, 1}));
  expect_shape_and_grad(nb::prod(e, {0}), {0}, e, "prod over a non-empty dim of an empty tensor");
  EXPECT_EQ(nb::prod(e).item<double>(), 1.0);
  EXPECT_EQ(nb::any(e).item<uint8_t>(), 0);
  EXPECT_EQ(nb::all(e).item<uint8_t>(), 1);
  EXPECT_EQ(nb::any(e, {1}).to_vector<double>(), (std::vector<double>{0, 0}));
  expect_shape_and_grad(nb::cumprod(e, 1), {2, 0}, e, "cumprod");
  expect_shape_and_grad(nb::logcumsumexp(e, 0), {2, 0}, e, "logcumsumexp");
  const Tensor z = nb::einsum("ij,jk->ik", {e, nb::ones({0, 3}, {.dtype = DType::f64})});
  expect_shape_and_grad(z, {2, 3}, e, "einsum with an empty contraction");
  EXPECT_EQ(z.to_vector<double>(), std::vector<double>(6, 0.0));
  expect_shape_and_grad(nb::tensordot(e, nb::ones({0, 3}, {.dtype = DType::f64}), 1), {2, 3}, e, "tensordot");
  expect_shape_and_grad(nb::outer(nb::zeros({0}, {.dtype = DType::f64}), ones64({3})), {0, 3}, e, "outer");
  expect_shape_and_grad(nb::kron(e, ones64({2, 2})), {4, 0}, e, "kron");
  expect_shape_and_grad(nb::cross(nb::zeros({0, 3}, {.dtype = DType::f64}), ones64({1, 3})), {0, 3}, e, "cross");
  const Tensor d = nb::cdist(e, nb::zeros({4, 0}, {.dtype = DType::f64}));
  expect_shape_and_grad(d, {2, 4}, e, "cdist with no columns");
  EXPECT_EQ(d.to_vector<double>(), std::vector<double>(8, 0.0));
  EXPECT_EQ(nb::cdist(e, nb::zeros({4, 0}, {.dtype = DType::f64}), INFINITY).to_vector<double>(), std::vector<double>(8, 0.0));
  expect_shape_and_grad(nb::cdist(nb::zeros({0, 3}, {.dtype = DType::f64}), ones64({4, 3})), {0, 4}, e, "cdist, P = 0");
  EXPECT_EQ(nb::trace(nb::zeros({0, 3}, {.dtype = DType::f64})).item<double>(), 0.0);
  expect_shape_and_grad(nb::diagonal(e), {0}, e, "diagonal");
  expect_shape_and_grad(nb::diag(nb::zeros({0}, {.dtype = DType::f64})), {0, 0}, e, "diag of an empty vector");
  expect_shape_and_grad(nb::diag_embed(e), {2, 0, 0}, e, "diag_embed");
  expect_shape_and_grad(nb::lerp(e, e, 0.3), {2, 0}, e, "lerp");
}

// ---- behaviour beyond the values ----------------------------------------------------------

TEST(TensorOps, DiagonalIsAViewThatWritesThrough) {
  Tensor x = nb::zeros({3, 4}, {.dtype = DType::f64});
  Tensor d = nb::diagonal(x, 1);
  EXPECT_TRUE(d.shares_storage(x));
  d.fill_(7);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 7, 0, 0, 0, 0, 7, 0, 0, 0, 0, 7}));
  // diag of a matrix is a copy, as PyTorch's; prod of single elements too.
  EXPECT_FALSE(nb::diag(x).shares_storage(x));
  const Tensor one = ones64({1, 3});
  EXPECT_FALSE(nb::prod(one, {0}).shares_storage(one));
  EXPECT_FALSE(nb::cumprod(one, 0).shares_storage(one));
}

TEST(TensorOps, InPlaceWriteThroughTheDiagonalViewIsDifferentiated) {
  // y = x * 1; y's diagonal scaled in place: x's gradient is 3 on the diagonal, 1 elsewhere.
  Tensor x = ones64({3, 3}).requires_grad_(true);
  Tensor y = x * 1.0;
  nb::diagonal(y).mul_(3.0);
  const Tensor g = nb::grad({nb::sum(y)}, {x})[0];
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{3, 1, 1, 1, 3, 1, 1, 1, 3}));
}

TEST(TensorOps, CdistAtZeroDistanceHasZeroGradientOnBothPaths) {
  // Row 0 of x1 equals row 1 of x2. Direct path: distance exactly 0, gradient 0, no NaN.
  const Tensor x1 = t64({0.5, -1, 2, 1.5, 0.25, -0.5}, {2, 3}).requires_grad_(true);
  const Tensor x2 = t64({-2, 1, 0.75, 0.5, -1, 2}, {2, 3}).requires_grad_(true);
  const Tensor direct = nb::cdist(x1, x2, 2, nb::CdistMode::DonotUseMmForEuclidDist);
  EXPECT_EQ(direct.to_vector<double>()[1], 0.0);
  const TensorList g = nb::grad({direct.select(0, 0).select(0, 1)}, {x1, x2});
  EXPECT_EQ(g[0].to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(g[1].to_vector<double>(), std::vector<double>(6, 0.0));
  // The matmul path: at most a rounding error of ‖x‖² away from 0, and finite gradients.
  const Tensor mm = nb::cdist(x1, x2, 2, nb::CdistMode::UseMmForEuclidDist);
  EXPECT_LT(mm.to_vector<double>()[1], 1e-7);
  for (const Tensor& gi : nb::grad({nb::sum(mm)}, {x1, x2}))
    for (double v : gi.to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
}

TEST(TensorOps, CdistModeChoosesTheMatmulPathAbove25Rows) {
  // The default mode is bit for bit the direct path up to 25 rows and the matmul path from 26
  // (values whose |x|^2 ~ 1e6 make the two paths round differently).
  std::vector<double> v(26 * 2);
  for (size_t k = 0; k < v.size(); ++k) v[k] = 1000.0 + 0.37 * double(k);
  const Tensor x = t64(v, {26, 2}), y = t64(std::vector<double>(v.rbegin(), v.rend()), {26, 2});
  for (int64_t rows : {25, 26}) {
    const Tensor a = x.narrow(0, 0, rows);
    const Tensor direct = nb::cdist(a, y, 2, nb::CdistMode::DonotUseMmForEuclidDist);
    const Tensor mm = nb::cdist(a, y, 2, nb::CdistMode::UseMmForEuclidDist);
    const Tensor automatic = nb::cdist(a, y.narrow(0, 0, rows));
    EXPECT_NE(direct.to_vector<double>(), mm.to_vector<double>()) << "the two paths round alike: no test";
    const Tensor want = rows == 25 ? direct : mm;
    EXPECT_EQ(automatic.to_vector<double>(), want.narrow(1, 0, rows).to_vector<double>()) << rows << " rows";
  }
}

TEST(TensorOps, EinsumKeepsIntegerDtypesAndPromotesMixedOnes) {
  const Tensor i = nb::from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(nb::einsum("ij,jk->ik", {i, i}).dtype(), DType::i64);
  EXPECT_EQ(nb::einsum("ij,jk->ik", {i, ones64({2, 2})}).dtype(), DType::f64);  // PyTorch 1.13 refuses
  EXPECT_EQ(nb::einsum("ij,jk->ik", {nb::ones({2, 2}), ones64({2, 2})}).dtype(), DType::f64);
}

}  // namespace
}  // namespace optest
