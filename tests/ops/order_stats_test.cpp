// kthvalue, median, nanmedian, mode, cummax/cummin and quantile beyond the op table: NaN,
// ties, gradients and errors. Expected values are LibTorch 1.13's (probed on CPU) where the
// comment says so; the others are worked out by hand from PyTorch's documented rules.
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.h"
#include "ops/op_table.h"

namespace {

using namespace nabla;

Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::f64); }

std::vector<double> values(const Tensor& t) { return t.to(DType::f64).contiguous().to_vector<double>(); }
std::vector<int64_t> ints(const Tensor& t) { return t.contiguous().to_vector<int64_t>(); }

TEST(OrderStats, MedianAndKthvalueFollowLibTorchOnTiesAndNaN) {
  // LibTorch 1.13: median(dim=1) of [[1,1,1,2],[5,5,3,3]] is values [1, 3], indices [1, 3].
  auto [v, i] = median(f64({1, 1, 1, 2, 5, 5, 3, 3}, {2, 4}), 1);
  EXPECT_EQ(values(v), (std::vector<double>{1, 3}));
  EXPECT_EQ(ints(i), (std::vector<int64_t>{1, 3}));
  // median with a NaN in the row: NaN at the first NaN's index (1).
  auto [vn, in] = median(f64({2, NAN, 1, NAN}, {1, 4}), 1);
  EXPECT_TRUE(std::isnan(values(vn)[0]));
  EXPECT_EQ(ints(in), (std::vector<int64_t>{1}));
  // nanmedian: an all-NaN row gives NaN at index 0; [NaN, 1, NaN] gives 1 at index 1.
  auto [vm, im] = nanmedian(f64({NAN, NAN, NAN, NAN, 1, NAN}, {2, 3}), 1);
  EXPECT_TRUE(std::isnan(values(vm)[0]));
  EXPECT_EQ(values(vm)[1], 1.0);
  EXPECT_EQ(ints(im), (std::vector<int64_t>{0, 1}));
  // kthvalue(k=3) of [3, 1, 3, 3, 0] is 3 at index 0; of [3, NaN, 1] it is NaN at index 1.
  auto [vk, ik] = kthvalue(f64({3, 1, 3, 3, 0}, {1, 5}), 3, 1);
  EXPECT_EQ(values(vk), (std::vector<double>{3}));
  EXPECT_EQ(ints(ik), (std::vector<int64_t>{0}));
  auto [vkn, ikn] = kthvalue(f64({3, NAN, 1}, {1, 3}), 3, 1);
  EXPECT_TRUE(std::isnan(values(vkn)[0]));
  EXPECT_EQ(ints(ikn), (std::vector<int64_t>{1}));
  // The whole-tensor median is the lower one (2 of 1..4), NaN if any NaN, NaN when empty;
  // nanmedian skips NaN.
  EXPECT_EQ(median(f64({1, 2, 3, 4}, {4})).item<double>(), 2.0);
  EXPECT_TRUE(std::isnan(median(f64({1, NAN, 3}, {3})).item<double>()));
  EXPECT_EQ(nanmedian(f64({1, NAN, 3}, {3})).item<double>(), 1.0);
  EXPECT_TRUE(std::isnan(median(zeros({0}, {.dtype = DType::f32})).item<double>()));
  // Integers: the lower median, an integer (LibTorch: median([1, 2, 3, 4]) = 2, Long).
  Tensor mi = median(from_vector(std::vector<int64_t>{4, 1, 3, 2}, {4}));
  EXPECT_EQ(mi.dtype(), DType::i64);
  EXPECT_EQ(mi.item<int64_t>(), 2);
}

TEST(OrderStats, WholeMedianSplitsItsGradientAmongEqualElements) {
  // LibTorch 1.13: median([1, 2, 3, 4]).backward() gives [0, 1, 0, 0]; [1, 2, 2, 4] gives
  // [0, 0.5, 0.5, 0].
  Tensor a = f64({1, 2, 3, 4}, {4}).requires_grad_(true);
  median(a).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0, 1, 0, 0}));
  Tensor b = f64({1, 2, 2, 4}, {4}).requires_grad_(true);
  median(b).backward();
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0, 0.5, 0.5, 0}));
  // A NaN result: the gradient goes to the NaNs, evenly.
  Tensor c = f64({NAN, 2, NAN}, {3}).requires_grad_(true);
  median(c).backward();
  EXPECT_EQ(values(c.grad()), (std::vector<double>{0.5, 0, 0.5}));
  // The dim form sends it to the chosen index only.
  Tensor d = f64({1, 2, 2, 4}, {1, 4}).requires_grad_(true);
  median(d, 1).first.sum().backward();
  EXPECT_EQ(values(d.grad()), (std::vector<double>{0, 1, 0, 0}));
}

TEST(OrderStats, ModeAndCumulativeExtremesFollowLibTorch) {
  // LibTorch 1.13: mode([1, 3, 3, 1, 2]) = 1 at index 3.
  auto [v, i] = mode(f64({1, 3, 3, 1, 2}, {5}));
  EXPECT_EQ(v.item<double>(), 1.0);
  EXPECT_EQ(i.item<int64_t>(), 3);
  // LibTorch 1.13: cummax([1, 3, 2, 3, NaN, 1]) = [1, 3, 3, 3, NaN, NaN], indices [0, 1, 1, 3, 4, 4].
  auto [cv, ci] = cummax(f64({1, 3, 2, 3, NAN, 1}, {6}), 0);
  std::vector<double> got = values(cv);
  EXPECT_EQ(std::vector<double>(got.begin(), got.begin() + 4), (std::vector<double>{1, 3, 3, 3}));
  EXPECT_TRUE(std::isnan(got[4]) && std::isnan(got[5]));
  EXPECT_EQ(ints(ci), (std::vector<int64_t>{0, 1, 1, 3, 4, 4}));
  // cummin: the running minimum, ties take the later index.
  auto [mv, mi] = cummin(f64({3, 1, 2, 1, 0}, {5}), 0);
  EXPECT_EQ(values(mv), (std::vector<double>{3, 1, 1, 1, 0}));
  EXPECT_EQ(ints(mi), (std::vector<int64_t>{0, 1, 1, 3, 4}));
  // The gradient of cummax goes to each position's source (scatter-added).
  Tensor x = f64({1, 3, 2, 4}, {4}).requires_grad_(true);
  cummax(x, 0).first.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 2, 0, 1}));
}

TEST(OrderStats, QuantileMatchesLibTorchForEveryInterpolation) {
  // LibTorch 1.13: quantile([1, 2, 4, 8, 16], q) for q = 0, 1/8, 3/8, 1/2, 5/8, 1.
  Tensor x = f64({1, 2, 4, 8, 16}, {5});
  Tensor q = f64({0.0, 0.125, 0.375, 0.5, 0.625, 1.0}, {6});
  using QI = QuantileInterpolation;
  const std::pair<QI, std::vector<double>> expected[] = {
      {QI::linear, {1, 1.5, 3, 4, 6, 16}},   {QI::lower, {1, 1, 2, 4, 4, 16}},   {QI::higher, {1, 2, 4, 4, 8, 16}},
      {QI::midpoint, {1, 1.5, 3, 4, 6, 16}}, {QI::nearest, {1, 1, 4, 4, 4, 16}},  // ranks 0.5 -> 0, 1.5 -> 2, 2.5 -> 2:
                                                                                  // half to even
  };
  for (const auto& [mode, want] : expected) EXPECT_EQ(values(quantile(x, q, {.interpolation = mode})), want);
  // NaN: quantile gives NaN, nanquantile skips it (LibTorch: 1.5).
  EXPECT_TRUE(std::isnan(quantile(f64({1, NAN, 2}, {3}), 0.5).item<double>()));
  EXPECT_EQ(nanquantile(f64({1, NAN, 2}, {3}), 0.5).item<double>(), 1.5);
  EXPECT_TRUE(std::isnan(nanquantile(f64({NAN, NAN}, {2}), 0.5).item<double>()));
  // Shapes (LibTorch): 0-d q with dim -> [2]; 1-D q, dim, keepdim -> [2, 2, 1]; 1-D q, keepdim -> [2, 1, 1].
  Tensor m = f64({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(quantile(m, scalar_tensor(0.5, DType::f64), {.dim = 1}).shape(), (Shape{2}));
  EXPECT_EQ(quantile(m, f64({0.5, 1.0}, {2}), {.dim = 1, .keepdim = true}).shape(), (Shape{2, 2, 1}));
  EXPECT_EQ(quantile(m, f64({0.5, 1.0}, {2}), {.keepdim = true}).shape(), (Shape{2, 1, 1}));
  // f32 follows the rank computed in float, as PyTorch.
  Tensor x32 = from_vector(std::vector<float>{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, {11});
  EXPECT_FLOAT_EQ(quantile(x32, 0.37).item<float>(), 37.0f);
}

TEST(OrderStats, QuantileGradientIsTheInterpolationWeights) {
  // rank 0.4 * 4 = 1.6 between sorted positions 1 and 2: weights 0.4 and 0.6 on those elements.
  Tensor x = f64({5, 1, 4, 2, 3}, {5}).requires_grad_(true);  // sorted 1 2 3 4 5
  Tensor y = quantile(x, 0.4);
  EXPECT_NEAR(y.item<double>(), 2.6, 1e-15);
  y.backward();
  std::vector<double> g = values(x.grad());
  const std::vector<double> want{0, 0, 0, 0.4, 0.6};  // elements 2 (x[3]) and 3 (x[4])
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-15) << i;
}

TEST(OrderStats, BadArgumentsAreRefusedWithTheReason) {
  Tensor x = f64({1, 2, 3}, {3});
  EXPECT_NABLA_ERROR(kthvalue(x, 0), "[kthvalue]", "k = 0", "1 <= k <= 3");
  EXPECT_NABLA_ERROR(kthvalue(x, 4), "[kthvalue]", "k = 4");
  EXPECT_NABLA_ERROR(median(zeros({2, 0}), 1), "[median]", "size 0");
  EXPECT_NABLA_ERROR(quantile(x, 1.5), "[quantile]", "[0, 1]", "1.5");
  EXPECT_NABLA_ERROR(quantile(from_vector(std::vector<int64_t>{1, 2}, {2}), 0.5), "[quantile]", "floating", "i64");
  EXPECT_NABLA_ERROR(quantile(zeros({0}), 0.5), "[quantile]", "non-empty");
  EXPECT_NABLA_ERROR(quantile(x, zeros({2, 2}, {.dtype = DType::f64})), "[quantile]", "1-D");
  EXPECT_NABLA_ERROR(mode(x, 3), "[mode]", "dimension 3");
  EXPECT_NABLA_ERROR(median(zeros({0}, {.dtype = DType::i64})), "[median]", "empty");
}

TEST(OrderStats, SixteenBitValuesAreSelectedExactly) {
  Tensor x = from_vector(std::vector<float>{0.1f, 3.3f, 2.2f, 1.1f}, {4}).to(DType::bf16);
  auto [v, i] = kthvalue(x, 2);
  EXPECT_EQ(v.dtype(), DType::bf16);
  EXPECT_EQ(i.item<int64_t>(), 3);
  EXPECT_EQ(v.to(DType::f32).item<float>(), x.to(DType::f32).to_vector<float>()[3]);
}

}  // namespace
