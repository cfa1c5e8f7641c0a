// nonzero, count_nonzero, bincount, histc, searchsorted, bucketize, tril/triu_indices and
// multinomial. Expected values are LibTorch 1.13's (probed on CPU) where the comment says so,
// otherwise worked out by hand; multinomial is checked statistically with a fixed seed.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "nabla/nabla.h"
#include "ops/op_table.h"

namespace {

using namespace nabla;

Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::f64); }
Tensor i64(std::vector<int64_t> v, Shape s) { return from_vector(v, s); }
std::vector<int64_t> ints(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }
std::vector<double> values(const Tensor& t) { return t.to(DType::f64).contiguous().to_vector<double>(); }

TEST(Counting, NonzeroListsCoordinatesInRowMajorOrder) {
  Tensor x = f64({0, 1.5, 0, NAN, 0, -2}, {2, 3});
  Tensor nz = nonzero(x);
  EXPECT_EQ(nz.dtype(), DType::i64);
  EXPECT_EQ(nz.shape(), (Shape{3, 2}));
  EXPECT_EQ(ints(nz), (std::vector<int64_t>{0, 1, 1, 0, 1, 2}));  // NaN counts as non-zero
  EXPECT_EQ(ints(argwhere(x)), ints(nz));
  TensorList t = nonzero_tuple(x);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(ints(t[0]), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(ints(t[1]), (std::vector<int64_t>{1, 0, 2}));
  // Strided input: the transpose's own coordinates.
  EXPECT_EQ(ints(nonzero(x.t())), (std::vector<int64_t>{0, 1, 1, 0, 2, 1}));
  // LibTorch 1.13: a 0-d tensor gives [1, 0] when non-zero, [0, 0] when zero.
  EXPECT_EQ(nonzero(scalar_tensor(5)).shape(), (Shape{1, 0}));
  EXPECT_EQ(nonzero(scalar_tensor(0)).shape(), (Shape{0, 0}));
  EXPECT_EQ(nonzero(zeros({0, 4})).shape(), (Shape{0, 2}));
  // Integers, and u8 masks from comparisons.
  EXPECT_EQ(ints(nonzero(i64({0, 7, 0, 9}, {4}))), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ints(nonzero(gt(f64({1, -1, 2}, {3}), zeros({3}, {.dtype = DType::f64})))), (std::vector<int64_t>{0, 2}));
}

TEST(Counting, CountNonzero) {
  // LibTorch 1.13: count_nonzero([[0, 1], [2, 0]], dim=0) = [1, 1].
  Tensor x = i64({0, 1, 2, 0}, {2, 2});
  EXPECT_EQ(ints(count_nonzero(x, {0})), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(count_nonzero(x).item<int64_t>(), 2);
  EXPECT_EQ(count_nonzero(f64({0, NAN, 0.5}, {3})).dtype(), DType::i64);
  EXPECT_EQ(count_nonzero(f64({0, NAN, 0.5}, {3})).item<int64_t>(), 2);
}

TEST(Counting, BincountCountsAndSumsWeights) {
  // LibTorch 1.13: bincount([0, 2, 2, 5]) = [1, 0, 2, 0, 0, 1] (Long).
  EXPECT_EQ(ints(bincount(i64({0, 2, 2, 5}, {4}))), (std::vector<int64_t>{1, 0, 2, 0, 0, 1}));
  EXPECT_EQ(ints(bincount(i64({1}, {1}), {.minlength = 4})), (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(bincount(i64({}, {0})).shape(), (Shape{0}));
  // Weighted: f32 weights sum in f32, other dtypes in f64 (LibTorch 1.13's dtypes).
  Tensor w32 = from_vector(std::vector<float>{0.5f, 1.f, 2.f}, {3});
  Tensor b32 = bincount(i64({0, 2, 2}, {3}), {.weights = w32});
  EXPECT_EQ(b32.dtype(), DType::f32);
  EXPECT_EQ(values(b32), (std::vector<double>{0.5, 0, 3}));
  EXPECT_EQ(bincount(i64({0, 2, 2}, {3}), {.weights = i64({1, 1, 2}, {3})}).dtype(), DType::f64);
  // The weighted form is differentiable: d/dw_i of bin b is [x_i == b].
  Tensor w = f64({0.5, 1, 2}, {3}).requires_grad_(true);
  Tensor b = bincount(i64({0, 2, 2}, {3}), {.weights = w});
  (b * f64({10, 20, 30}, {3})).sum().backward();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{10, 30, 30}));
  EXPECT_NABLA_ERROR(bincount(i64({1, -1}, {2})), "[bincount]", "non-negative", "-1", "index 1");
  EXPECT_NABLA_ERROR(bincount(f64({1}, {1})), "[bincount]", "1-D integer", "f64");
  EXPECT_NABLA_ERROR(bincount(i64({1, 2}, {2}), {.weights = f64({1}, {1})}), "[bincount]", "weights", "[2]");
}

TEST(Counting, HistcFollowsLibTorch) {
  // LibTorch 1.13: histc([1, 2, 1, 4, 0.5, 7], bins 4, [0, 4]) = [1, 2, 1, 1] (7 is outside; 4 in
  // the last bin).
  Tensor x = from_vector(std::vector<float>{1, 2, 1, 4, 0.5, 7}, {6});
  Tensor h = histc(x, 4, 0, 4);
  EXPECT_EQ(h.dtype(), DType::f32);
  EXPECT_EQ(values(h), (std::vector<double>{1, 2, 1, 1}));
  // The data's range when min == max: [1, 2, 1, 4] in 3 bins over [1, 4] = [2, 1, 1].
  EXPECT_EQ(values(histc(from_vector(std::vector<float>{1, 2, 1, 4}, {4}), 3)), (std::vector<double>{2, 1, 1}));
  // One value: widened by 1 each way, [2, 2] in 4 bins over [1, 3] = [0, 0, 2, 0].
  EXPECT_EQ(values(histc(from_vector(std::vector<float>{2, 2}, {2}), 4)), (std::vector<double>{0, 0, 2, 0}));
  EXPECT_NABLA_ERROR(histc(x, 0), "[histc]", "bins");
  EXPECT_NABLA_ERROR(histc(x, 4, 3, 1), "[histc]", "max must be larger than min");
  EXPECT_NABLA_ERROR(histc(f64({1, NAN}, {2}), 4), "[histc]", "not finite");
  EXPECT_NABLA_ERROR(histc(i64({1}, {1}), 4), "[histc]", "floating");
}

TEST(Counting, SearchsortedAndBucketizeFollowLibTorch) {
  // LibTorch 1.13: searchsorted([1, 3, 5, 7, 9], [[3, 6, 9], [3, 6, 9]]) = [[1, 3, 4], [1, 3, 4]];
  // with right=True [3, 6, 9] -> [2, 3, 5]; bucketize likewise.
  Tensor seq = i64({1, 3, 5, 7, 9}, {5});
  EXPECT_EQ(ints(searchsorted(seq, i64({3, 6, 9, 3, 6, 9}, {2, 3}))), (std::vector<int64_t>{1, 3, 4, 1, 3, 4}));
  EXPECT_EQ(ints(searchsorted(seq, i64({3, 6, 9}, {3}), {.right = true})), (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ(ints(bucketize(i64({3, 6, 9}, {3}), seq, true)), (std::vector<int64_t>{2, 3, 5}));
  // LibTorch 1.13: searchsorted([1, NaN], [NaN, 2]) = [2, 2].
  EXPECT_EQ(ints(searchsorted(f64({1, NAN}, {2}), f64({NAN, 2}, {2}))), (std::vector<int64_t>{2, 2}));
  // One sequence per row; mixed dtypes compare exactly.
  Tensor rows = f64({0, 1, 2, 10, 20, 30}, {2, 3});
  EXPECT_EQ(ints(searchsorted(rows, i64({1, 25}, {2, 1}))), (std::vector<int64_t>{1, 2}));
  // sorter: positions into an unsorted sequence.
  Tensor unsorted = f64({5, 1, 3}, {3});
  EXPECT_EQ(ints(searchsorted(unsorted, f64({2, 4, 6}, {3}), {.sorter = argsort(unsorted)})),
            (std::vector<int64_t>{1, 2, 3}));
  // A 0-d value gives a 0-d index.
  EXPECT_EQ(searchsorted(seq, scalar_tensor(4, DType::i64)).dim(), 0);
  EXPECT_NABLA_ERROR(searchsorted(rows, f64({1, 2, 3}, {3})), "[searchsorted]", "leading dimensions", "[2, 3]");
  EXPECT_NABLA_ERROR(searchsorted(seq, seq, {.sorter = i64({0, 1, 2, 3, 9}, {5})}), "[searchsorted]", "sorter", "9");
  EXPECT_NABLA_ERROR(bucketize(seq, rows), "[bucketize]", "1-D");
}

TEST(Counting, TriangleIndicesFollowLibTorch) {
  // LibTorch 1.13: triu_indices(3, 4, 1) = [[0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3]];
  // tril_indices(3, 3, -1) = [[1, 2, 2], [0, 0, 1]].
  EXPECT_EQ(ints(triu_indices(3, 4, 1)), (std::vector<int64_t>{0, 0, 0, 1, 1, 2, 1, 2, 3, 2, 3, 3}));
  EXPECT_EQ(ints(tril_indices(3, 3, -1)), (std::vector<int64_t>{1, 2, 2, 0, 0, 1}));
  EXPECT_EQ(tril_indices(0, 3).shape(), (Shape{2, 0}));
  EXPECT_NABLA_ERROR(tril_indices(-1, 3), "[tril_indices]", "row = -1");
}

TEST(Sampling, MultinomialWithReplacementDrawsInProportion) {
  manual_seed(7);
  const std::vector<double> p{1, 2, 3, 4, 0};
  const int64_t n = 40000;
  std::vector<int64_t> draws = ints(multinomial(f64(p, {5}), n, true));
  std::vector<double> count(5, 0);
  for (int64_t d : draws) count[size_t(d)] += 1;
  EXPECT_EQ(count[4], 0);  // a zero weight is never drawn
  for (size_t c = 0; c < 4; ++c) {
    const double pc = p[c] / 10, sd = std::sqrt(n * pc * (1 - pc));
    EXPECT_NEAR(count[c], n * pc, 4 * sd) << "category " << c;
  }
  // The same seed draws the same samples.
  manual_seed(7);
  EXPECT_EQ(ints(multinomial(f64(p, {5}), n, true)), draws);
}

TEST(Sampling, MultinomialWithoutReplacementDrawsInSequence) {
  // P(first = i) = p_i; P(second = j) = sum_i p_i p_j / (1 - p_i).
  manual_seed(11);
  const std::vector<double> p{0.1, 0.2, 0.3, 0.4};
  const int64_t rows = 20000;
  std::vector<double> flat;
  for (int64_t r = 0; r < rows; ++r) flat.insert(flat.end(), p.begin(), p.end());
  Tensor s = multinomial(f64(flat, {rows, 4}), 2, false);
  EXPECT_EQ(s.shape(), (Shape{rows, 2}));
  std::vector<int64_t> v = ints(s);
  std::vector<double> first(4, 0), second(4, 0);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_NE(v[size_t(2 * r)], v[size_t(2 * r + 1)]);
    first[size_t(v[size_t(2 * r)])] += 1;
    second[size_t(v[size_t(2 * r + 1)])] += 1;
  }
  for (size_t j = 0; j < 4; ++j) {
    double p2 = 0;
    for (size_t i = 0; i < 4; ++i)
      if (i != j) p2 += p[i] * p[j] / (1 - p[i]);
    EXPECT_NEAR(first[j], rows * p[j], 4 * std::sqrt(rows * p[j] * (1 - p[j]))) << j;
    EXPECT_NEAR(second[j], rows * p2, 4 * std::sqrt(rows * p2 * (1 - p2))) << j;
  }
}

TEST(Sampling, MultinomialRefusesBadWeights) {
  EXPECT_NABLA_ERROR(multinomial(f64({1, -1}, {2}), 1), "[multinomial]", "non-negative", "-1");
  EXPECT_NABLA_ERROR(multinomial(f64({0, 0}, {2}), 1), "[multinomial]", "sums to 0");
  EXPECT_NABLA_ERROR(multinomial(f64({1, 0, 0}, {3}), 2), "[multinomial]", "only 1 non-zero");
  EXPECT_NABLA_ERROR(multinomial(f64({1, 1}, {2}), 3), "[multinomial]", "3 samples", "2 categories");
  EXPECT_NABLA_ERROR(multinomial(f64({1, NAN}, {2}), 1), "[multinomial]", "finite");
  EXPECT_NABLA_ERROR(multinomial(i64({1, 1}, {2}), 1), "[multinomial]", "floating");
}

}  // namespace
