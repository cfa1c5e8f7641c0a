// split/chunk/flip/roll/repeat/tril/triu/masked_fill and cumsum/sort/norm outside the op table:
// which results are views and which copies, dtypes, the norm's gradient at a zero vector (first
// and second order), and the errors users see.
#include "common/expect_error.h"
#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

TEST(Rearrange, SplitAndChunkGiveViewsFlipRollAndRepeatGiveCopies) {
  Tensor x = nb::arange(12.0).reshape({3, 4});
  TensorList parts = nb::split(x, 2, 1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[1].shares_storage(x));
  EXPECT_EQ(parts[1].to_vector<double>(), (std::vector<double>{2, 3, 6, 7, 10, 11}));
  EXPECT_EQ(nb::chunk(x, 3, 1).size(), 2u);  // ceil(4 / 3) = 2 per piece: two pieces, as PyTorch
  EXPECT_EQ(nb::chunk(x, 5, 1).size(), 4u);
  EXPECT_EQ(nb::split(nb::zeros({0, 3}), 2).size(), 1u);
  for (const Tensor& y : {nb::flip(x, {}), nb::flip(x, {0}), nb::roll(x, 0, 1), nb::repeat(x, {1, 1})})
    EXPECT_FALSE(y.shares_storage(x));
  EXPECT_EQ(nb::roll(x, 1, 1).to_vector<double>(), (std::vector<double>{3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10}));
  EXPECT_EQ(nb::repeat(nb::arange(2.0), {2, 2}).to_vector<double>(), (std::vector<double>{0, 1, 0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(nb::repeat(x, {0, 1}).shape(), (Shape{0, 4}));
}

TEST(Rearrange, TrilZeroesNaNOutsideAndMaskedFillKeepsIntegerDtypes) {
  Tensor x = nb::full({2, 2}, NAN, {.dtype = DType::f64});
  EXPECT_EQ(nb::tril(x).to_vector<double>()[1], 0.0);  // where, not x * mask
  Tensor causal = nb::tril(nb::ones({3, 3}));
  EXPECT_EQ(causal.to_vector<double>(), (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  Tensor ints = nb::from_vector(std::vector<int64_t>{1, 2, 3}, {3});
  Tensor filled = nb::masked_fill(ints, nb::gt(ints, nb::scalar_tensor(1.5)), -7);
  EXPECT_EQ(filled.dtype(), DType::i64);
  EXPECT_EQ(filled.to_vector<int64_t>(), (std::vector<int64_t>{1, -7, -7}));
}

TEST(ScanSortNorm, CumsumCountsBooleansAndSortHandlesNaN) {
  Tensor mask = nb::gt(nb::from_vector(std::vector<double>{1, -1, 2, 3}, {4}), nb::scalar_tensor(0.0));
  Tensor counts = nb::cumsum(mask, 0);
  EXPECT_EQ(counts.dtype(), DType::i64);
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 2, 3}));
  // 1..1000 in f32: the scan's sums are exact integers below 2^24.
  Tensor big = nb::cumsum(nb::ones({1000}), 0);
  EXPECT_EQ(big.to_vector<double>()[999], 1000.0);
  EXPECT_EQ(big.to_vector<double>()[576], 577.0);
  Tensor v = nb::from_vector(std::vector<double>{3, NAN, -1, 2}, {4});
  auto [asc, idx] = nb::sort(v);
  EXPECT_EQ(idx.to_vector<int64_t>(), (std::vector<int64_t>{2, 3, 0, 1}));  // NaN last
  EXPECT_TRUE(std::isnan(asc.to_vector<double>()[3]));
  EXPECT_EQ(nb::argsort(v, 0, true).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 3, 2}));  // NaN first
  auto [s0, i0] = nb::sort(nb::scalar_tensor(4.0));
  EXPECT_EQ(s0.item<double>(), 4.0);
  EXPECT_EQ(i0.item<int64_t>(), 0);
}

TEST(ScanSortNorm, NormGradientAtAZeroVectorIsZeroToSecondOrder) {
  for (double p : {2.0, 3.0, 1.5, 0.5}) {
    Tensor x = nb::from_vector(std::vector<double>{0, 0, 0, 1, -2, 0}, {2, 3}).requires_grad_();
    Tensor n = nb::norm(x, p, {1});  // row 0 is the zero vector; row 1 has a zero entry
    TensorList g = nb::grad({nb::sum(n)}, {x}, {}, false, true);
    std::vector<double> gv = g[0].to_vector<double>();
    for (size_t i = 0; i < gv.size(); ++i) EXPECT_TRUE(std::isfinite(gv[i])) << "p " << p << " entry " << i;
    EXPECT_EQ(gv[0], 0.0);
    EXPECT_EQ(gv[5], 0.0);
    // Row 1: sign(x) |x|^(p-1) / ||x||^(p-1).
    const double norm1 = std::pow(1 + std::pow(2.0, p), 1 / p);
    EXPECT_NEAR(gv[3], std::pow(1 / norm1, p - 1), 1e-12) << p;
    EXPECT_NEAR(gv[4], -std::pow(2 / norm1, p - 1), 1e-12) << p;
    TensorList gg = nb::grad({nb::sum(g[0] * g[0])}, {x});
    for (double e : gg[0].to_vector<double>()) EXPECT_TRUE(std::isfinite(e)) << "p " << p;
  }
}

TEST(RearrangeErrors, NameTheOpAndWhatWasExpected) {
  Tensor x = nb::randn({3, 4});
  EXPECT_ERROR(nb::split(x, 0), "[split] split_size must be positive, got 0");
  EXPECT_ERROR(nb::split_with_sizes(x, {1, 2}, 1), "[split_with_sizes] sizes [1, 2] sum to 3 but dimension 1 of shape [3, 4] has 4");
  EXPECT_ERROR(nb::chunk(x, 0), "[chunk] chunks must be positive, got 0");
  EXPECT_ERROR(nb::flip(x, {1, -1}), "[flip] dim 1 appears more than once in dims [1, -1]");
  EXPECT_ERROR(nb::roll(x, 1, 2), "[roll] dimension 2 is out of range");
  EXPECT_ERROR(nb::repeat(x, {2}), "[repeat] needs at least one repeat count per dim: 1 for shape [3, 4]");
  EXPECT_ERROR(nb::tril(nb::ones({4})), "[tril] expected a tensor with at least 2 dims", "got shape [4]");
  EXPECT_ERROR(nb::masked_fill(x, nb::ones({3, 4}), 0.0), "[masked_fill] mask must be bool", "u8 is accepted", "f32");
  EXPECT_ERROR(nb::masked_fill(x, nb::gt(nb::randn({2, 3, 4}), nb::scalar_tensor(0.0)), 0.0),
               "[masked_fill] mask shape [2, 3, 4] does not broadcast to the input's shape [3, 4]");
  EXPECT_ERROR(nb::masked_fill(nb::ones({2}, {.dtype = DType::u8}), nb::ones({2}, {.dtype = DType::u8}), 300),
               "[masked_fill]");
  EXPECT_ERROR(nb::norm(x, -1), "[norm] p must be non-negative (or inf), got -1");
  EXPECT_ERROR(nb::norm(nb::ones({2}, {.dtype = DType::i64})), "[norm]");
  EXPECT_ERROR(nb::cumsum(x, 3), "[cumsum] dimension 3 is out of range");
}

}  // namespace
}  // namespace optest
