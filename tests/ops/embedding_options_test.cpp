// PyTorch's embedding options: max_norm (embedding_renorm_, in place), norm_type and
// scale_grad_by_freq, for embedding and embedding_bag, against values computed here in double
// from PyTorch's formulas (renorm: row * max_norm / (norm + 1e-7) when norm > max_norm; the
// frequency-scaled gradient of row r: the sum of its lookups' gradients / its lookup count).
#include <gtest/gtest.h>

#include <cmath>

#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

Tensor idx(std::vector<int64_t> v) {
  const int64_t n = int64_t(v.size());
  return nb::from_vector(v, {n});
}

const std::vector<double> kTable = {3, 4, 0,      // norm 5 (2-norm), 7 (1-norm), 4 (inf-norm)
                                    0.3, 0.4, 0,  // norm 0.5
                                    -2, 1, 2,     // norm 3
                                    1, 0, 0,      // norm 1: exactly max_norm, kept
                                    0, 0, 8};     // norm 8, never looked up

/// The table after PyTorch's renorm of `rows` with the p-norm `p` (in double).
std::vector<double> renormed(const std::vector<double>& w, const std::vector<int64_t>& rows, double max_norm, double p) {
  std::vector<double> out = w;
  for (int64_t r : rows) {
    double n = 0;
    for (int d = 0; d < 3; ++d) {
      const double a = std::abs(w[size_t(r * 3 + d)]);
      n = std::isinf(p) ? std::max(n, a) : n + std::pow(a, p);
    }
    if (!std::isinf(p)) n = std::pow(n, 1 / p);
    if (n > max_norm)
      for (int d = 0; d < 3; ++d) out[size_t(r * 3 + d)] = w[size_t(r * 3 + d)] * (max_norm / (n + 1e-7));
  }
  return out;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " [" << i << "]";
}

TEST(EmbeddingRenorm, ScalesOnlyTheLookedUpRowsAboveMaxNorm) {
  for (double p : {2.0, 1.0, double(INFINITY)}) {
    SCOPED_TRACE(p);
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor w = nb::from_vector(kTable, {5, 3}).to(dt);
      const std::vector<int64_t> looked = {0, 2, 2, 1, 3, 0};
      nb::embedding_renorm_(w, idx(looked), 1.0, p);
      expect_near_all(w.to_double_vector(), renormed(kTable, {0, 1, 2, 3}, 1.0, p), dt == DType::f64 ? 1e-15 : 1e-7,
                      "renormed table");
      // Row 4 was not looked up: bit for bit what it was, although its norm is 8.
      EXPECT_EQ(w.select(0, 4).to_double_vector(), (std::vector<double>{0, 0, 8}));
    }
  }
}

/// PyTorch's 16-bit renorm: the norm in the weight's dtype, the factor max_norm / (norm + 1e-7)
/// converted to that dtype (through float, as c10::Scalar -> Half on the CPU and
/// static_cast<scalar_t> in the CUDA kernel), then each element times that factor, rounded once.
template <typename H>
std::vector<double> renormed_16bit(const std::vector<double>& table, const std::vector<int64_t>& rows,
                                   double max_norm) {
  std::vector<double> w;  // the table in the 16-bit dtype
  for (double v : table) w.push_back(double(float(H(v))));
  std::vector<double> out = w;
  for (int64_t r : rows) {
    double n = 0;
    for (int d = 0; d < 3; ++d) n += w[size_t(r * 3 + d)] * w[size_t(r * 3 + d)];
    n = double(float(H(float(std::sqrt(n)))));  // the norm, rounded to the weight's dtype
    if (n > max_norm) {
      const float factor = float(H(max_norm / (n + 1e-7)));
      for (int d = 0; d < 3; ++d) out[size_t(r * 3 + d)] = double(float(H(float(w[size_t(r * 3 + d)]) * factor)));
    }
  }
  return out;
}

TEST(EmbeddingRenorm, SixteenBitRowsTakeTheFactorInTheirDtype) {
  // LibTorch 1.13 (CPU): a f16 row [3, 4] renormalized to 1 becomes [0.5996, 0.7998]
  // (0.599609375: 3 times the f16 factor 0.19995, a tie rounded to even), where rounding the f32
  // product 3 * 0.2 once would give 0.60009765625.
  const std::vector<int64_t> rows = {0, 2};
  {
    Tensor w = nb::from_vector(kTable, {5, 3}).to(DType::f16);
    nb::embedding_renorm_(w, idx(rows), 1.0);
    EXPECT_EQ(w.to_double_vector(), renormed_16bit<nb::Half>(kTable, rows, 1.0));
    EXPECT_EQ(w.select(0, 0).to_double_vector(), (std::vector<double>{0.599609375, 0.7998046875, 0}));
  }
  Tensor w = nb::from_vector(kTable, {5, 3}).to(DType::bf16);
  nb::embedding_renorm_(w, idx(rows), 1.0);
  EXPECT_EQ(w.to_double_vector(), renormed_16bit<nb::BFloat16>(kTable, rows, 1.0));
}

TEST(EmbeddingRenorm, NonContiguousWeightIsRenormalizedThroughItsStrides) {
  // PyTorch renormalizes a strided table (a transposed one, from_pretrained(W.t())) in place.
  std::vector<double> data(kTable.size());  // kTable transposed: [3, 5], so data.t() is kTable
  for (int r = 0; r < 5; ++r)
    for (int d = 0; d < 3; ++d) data[size_t(d * 5 + r)] = kTable[size_t(r * 3 + d)];
  Tensor base = nb::from_vector(data, {3, 5});
  Tensor w = base.t();
  ASSERT_FALSE(w.is_contiguous());
  nb::embedding_renorm_(w, idx({0, 2, 4}), 1.0);
  expect_near_all(w.to_double_vector(), renormed(kTable, {0, 2, 4}, 1.0, 2.0), 1e-15, "strided table");
  // The caller's storage holds the result (w is a view of base).
  expect_near_all(base.t().to_double_vector(), renormed(kTable, {0, 2, 4}, 1.0, 2.0), 1e-15, "base");
  Tensor out = nb::embedding(base.t(), idx({1}), {.max_norm = 0.25});
  expect_near_all(out.to_double_vector(), {0.15, 0.2, 0}, 1e-7, "lookup of a renormed strided row");
}

TEST(EmbeddingRenorm, EmbeddingWithMaxNormRenormalizesTheCallersWeightFirst) {
  Tensor w = nb::from_vector(kTable, {5, 3}).requires_grad_();
  Tensor out = nb::embedding(w, nb::from_vector(std::vector<int64_t>{2, 0, 2, 1}, {2, 2}), {.max_norm = 1.0});
  ASSERT_EQ(out.shape(), (nb::Shape{2, 2, 3}));
  const std::vector<double> after = renormed(kTable, {0, 1, 2}, 1.0, 2.0);
  expect_near_all(w.detach().to_double_vector(), after, 1e-7, "weight after the lookup");
  // The output holds the renormalized rows, and the gradient still reaches the weight.
  expect_near_all(out.select(0, 0).select(0, 1).to_double_vector(), {after[0], after[1], after[2]}, 1e-7, "row 0");
  nb::sum(out).backward();
  EXPECT_EQ(w.grad().to_double_vector(), (std::vector<double>{1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0}));
}

TEST(EmbeddingRenorm, AWeightSavedForBackwardIsCaughtByTheVersionCheck) {
  Tensor w = nb::from_vector(kTable, {5, 3}).requires_grad_();
  Tensor y = nb::sum(w * w);  // saves w
  nb::embedding_renorm_(w, idx({0}), 1.0);
  EXPECT_ERROR(y.backward(), "embedding_renorm_");
}

TEST(EmbeddingRenorm, EveryCallCountsAsAWriteForTheVersionCheck) {
  // As PyTorch's in-place embedding_renorm_ (LibTorch 1.13: the version goes up by one even when no
  // row is over max_norm, and for no indices): a backward that saved the weight fails on the first
  // step, not only on the first step where some row happens to grow past max_norm.
  for (const std::vector<int64_t>& looked : {std::vector<int64_t>{1}, std::vector<int64_t>{}}) {
    Tensor w = nb::from_vector(kTable, {5, 3}).requires_grad_();
    Tensor y = nb::sum(w * w);  // saves w
    nb::embedding_renorm_(w, idx(looked), 1.0);  // row 1 has norm 0.5: nothing is rescaled
    EXPECT_EQ(w.detach().to_double_vector(), kTable);
    EXPECT_ERROR(y.backward(), "embedding_renorm_");
  }
}

TEST(EmbeddingRenorm, EmptyTablesAndNoIndices) {
  // An empty table (nothing to look up) and zero-width rows: nothing to rescale, no error.
  Tensor none = nb::empty({0, 3});
  nb::embedding_renorm_(none, idx({}), 1.0);
  EXPECT_EQ(nb::embedding(none, idx({}), {.max_norm = 1.0}).shape(), (nb::Shape{0, 3}));
  Tensor thin = nb::empty({4, 0});
  nb::embedding_renorm_(thin, idx({0, 3}), 1.0);
  EXPECT_EQ(nb::embedding(thin, idx({1, 2}), {.max_norm = 1.0, .scale_grad_by_freq = true}).shape(), (nb::Shape{2, 0}));
}

TEST(EmbeddingRenorm, BadArgumentsAreRefusedByName) {
  Tensor w = nb::from_vector(kTable, {5, 3});
  EXPECT_ERROR(nb::embedding_renorm_(w, idx({5}), 1.0), "[embedding_renorm_]", "index 5", "[5, 3]");
  EXPECT_ERROR(nb::embedding_renorm_(w, idx({0}), -1.0), "[embedding_renorm_]", "max_norm", ">= 0");
  EXPECT_ERROR(nb::embedding_renorm_(w, idx({0}), 1.0, 0.0), "[embedding_renorm_]", "norm_type");
  Tensor e = nb::from_vector(std::vector<double>{3, 4}, {1, 2}).expand({3, 2});
  EXPECT_ERROR(nb::embedding_renorm_(e, idx({0}), 1.0), "[embedding_renorm_]", "memory");
  Tensor f = idx({0}).to(DType::f32);
  EXPECT_ERROR(nb::embedding_renorm_(w, f, 1.0), "[embedding_renorm_]", "i64");
}

TEST(EmbeddingScaleGradByFreq, EachRowsGradientIsDividedByItsLookupCount) {
  // Row 1 looked up three times, rows 0 and 3 once, row 2 never.
  const std::vector<int64_t> looked = {1, 1, 3, 1, 0};
  const std::vector<double> g = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // [5, 2]
  for (DType dt : {DType::f64, DType::f32}) {
    for (std::optional<int64_t> pad : {std::optional<int64_t>(), std::optional<int64_t>(3)}) {
      Tensor w = nb::ones({4, 2}, {.dtype = dt}).requires_grad_();
      Tensor out = nb::embedding(w, idx(looked), {.padding_idx = pad, .scale_grad_by_freq = true});
      EXPECT_EQ(out.to_double_vector(), std::vector<double>(10, 1.0)) << "the forward value is the lookup";
      out.backward(nb::from_vector(g, {5, 2}).to(dt));
      std::vector<double> want = {9, 10, (1 + 3 + 7) / 3.0, (2 + 4 + 8) / 3.0, 0, 0, 5, 6};
      if (pad) want[6] = want[7] = 0;  // the padding row gets nothing
      expect_near_all(w.grad().to_double_vector(), want, dt == DType::f64 ? 1e-15 : 1e-7, "weight gradient");
    }
  }
}

TEST(EmbeddingScaleGradByFreq, GradientOfTheGradientIsScaledToo) {
  // The scaled gradient is a linear map of the incoming one (E^T F g, F = 1 / count per lookup),
  // differentiated as such: the second derivative passes F twice, once for each time a gradient
  // crosses the lookup. (PyTorch's double backward of embedding_dense_backward drops one F.)
  Tensor w = nb::from_vector(std::vector<double>{1, 2, 3}, {3, 1}).requires_grad_();
  Tensor out = nb::embedding(w, idx({0, 0, 2}), {.scale_grad_by_freq = true});
  Tensor gw = nb::grad({nb::sum(out * out)}, {w}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  // First derivative: 2 w_r (sum over lookups) / count_r: row 0: 2*1*2/2 = 2, row 2: 6.
  EXPECT_EQ(gw.to_double_vector(), (std::vector<double>{2, 0, 6}));
  // sum(gw) = sum over lookups t of 2 w_t F_t, whose w-gradient crosses the lookup once more:
  // row 0: 2 * (1/2 * 1/2 + 1/2 * 1/2) = 1, row 2: 2.
  Tensor ggw = nb::grad({nb::sum(gw)}, {w})[0];
  EXPECT_EQ(ggw.to_double_vector(), (std::vector<double>{1, 0, 2}));
}

TEST(EmbeddingBagOptions, ScaleGradByFreqAndMaxNorm) {
  // Bags {1, 1, 3} and {1, 0}; row 1 appears three times in the input.
  Tensor in = idx({1, 1, 3, 1, 0});
  Tensor offsets = idx({0, 3});
  for (auto mode : {nb::EmbeddingBagMode::Sum, nb::EmbeddingBagMode::Mean}) {
    Tensor w = nb::ones({4, 2}, {.dtype = DType::f64}).requires_grad_();
    Tensor out = nb::embedding_bag(w, in, {.offsets = offsets, .mode = mode, .scale_grad_by_freq = true});
    out.backward(nb::from_vector(std::vector<double>{1, 2, 10, 20}, {2, 2}));
    // Each entry's gradient (its bag's, / bag size for mean), then / the row's count.
    const double a = mode == nb::EmbeddingBagMode::Mean ? 3 : 1, b = mode == nb::EmbeddingBagMode::Mean ? 2 : 1;
    const std::vector<double> want = {10 / b, 20 / b, (2 / a + 10 / b) / 3, (4 / a + 20 / b) / 3, 0, 0, 1 / a, 2 / a};
    expect_near_all(w.grad().to_double_vector(), want, 1e-15, "embedding_bag weight gradient");
  }
  Tensor w = nb::from_vector(kTable, {5, 3});
  Tensor out = nb::embedding_bag(w, idx({0, 1}), {.offsets = idx({0}), .mode = nb::EmbeddingBagMode::Sum, .max_norm = 1.0});
  const std::vector<double> after = renormed(kTable, {0, 1}, 1.0, 2.0);
  expect_near_all(out.to_double_vector(), {after[0] + after[3], after[1] + after[4], 0}, 1e-7, "bag of renormed rows");
  expect_near_all(w.to_double_vector(), after, 1e-7, "the weight, renormalized in place");
  EXPECT_ERROR(nb::embedding_bag(w, in, {.offsets = offsets, .mode = nb::EmbeddingBagMode::Max, .scale_grad_by_freq = true}),
               "[embedding_bag]", "scale_grad_by_freq", "max");
}

}  // namespace
