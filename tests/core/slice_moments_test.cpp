// slice_merge_term (src/backend/batch_norm_stats.h) is the formula the CUDA batch-norm kernel
// uses to merge per-slice partials into a channel's variance (the kernel adds the terms in a
// tree; merge_slice_moments below adds them in order). Plain arithmetic, shared by host
// and device, so the formula is checked here on the CPU: slices of ceil(M / splits) values as the
// kernel cuts them, each with its own two-pass partials of x - x[0], against a long-double
// two-pass reference (extended precision on x86-64; elsewhere long double may be double). The
// kernel's own indexing is not covered here (IndexWalk.* covers its slice geometry).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../../src/backend/batch_norm_stats.h"

namespace {

using nabla::backend::slice_merge_term;

// The kernel's merge, sequentially: mean = shift + sum(s_k) / n, variance =
// sum(slice_merge_term(n_k, s_k, q_k, sum(s_k) / n)) / n. part(k, n_k, s_k, q_k) reads slice k.
template <typename Part>
void merge_slice_moments(int64_t slices, double n, double shift, Part part, double* mean, double* var) {
  double total = 0;
  for (int64_t k = 0; k < slices; ++k) {
    double nk, sk, qk;
    part(k, nk, sk, qk);
    total += sk;
  }
  const double m = total / n;
  double q = 0;
  for (int64_t k = 0; k < slices; ++k) {
    double nk, sk, qk;
    part(k, nk, sk, qk);
    q += slice_merge_term(nk, sk, qk, m);
  }
  *mean = shift + m;
  *var = q / n;
}

struct Moments {
  double mean, var;
};

// The kernel's slicing: `splits` slices of ceil(M / splits) values, the last one shorter; each
// slice's sum of x - x[0] and its sum of squared deviations from its own mean.
Moments merged(const std::vector<double>& x, int64_t splits) {
  const int64_t M = int64_t(x.size()), chunk = (M + splits - 1) / splits;
  const double shift = x[0];
  std::vector<double> n(size_t(splits), 0), s(size_t(splits), 0), q(size_t(splits), 0);
  for (int64_t k = 0; k < splits; ++k) {
    const int64_t lo = std::min(k * chunk, M), hi = std::min(lo + chunk, M);
    n[size_t(k)] = double(hi - lo);
    for (int64_t j = lo; j < hi; ++j) s[size_t(k)] += x[size_t(j)] - shift;
    const double m = hi > lo ? s[size_t(k)] / double(hi - lo) : 0.0;
    for (int64_t j = lo; j < hi; ++j) q[size_t(k)] += (x[size_t(j)] - shift - m) * (x[size_t(j)] - shift - m);
  }
  Moments r{};
  merge_slice_moments(
      splits, double(M), shift,
      [&](int64_t k, double& nk, double& sk, double& qk) {
        nk = n[size_t(k)];
        sk = s[size_t(k)];
        qk = q[size_t(k)];
      },
      &r.mean, &r.var);
  return r;
}

Moments reference(const std::vector<double>& x) {
  long double s = 0, q = 0;
  for (double v : x) s += v;
  const long double m = s / (long double)x.size();
  for (double v : x) q += (v - m) * (v - m);
  return {double(m), double(q / (long double)x.size())};
}

std::vector<double> sample(int64_t M, double offset, double scale, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(static_cast<size_t>(M));
  for (double& v : x) v = offset + scale * normal(gen);
  return x;
}

TEST(SliceMoments, MergedSlicesMatchTwoPassStatistics) {
  for (int64_t M : {2, 7, 2048, 4097, 65536}) {
    for (int64_t splits : {1, 2, 3, 16, 32}) {
      if (splits > M) continue;
      const std::vector<double> x = sample(M, 3.0, 2.0, unsigned(M * 31 + splits));
      const Moments got = merged(x, splits), want = reference(x);
      EXPECT_NEAR(got.mean, want.mean, 1e-14 * std::abs(want.mean) + 1e-15) << "M " << M << " splits " << splits;
      EXPECT_NEAR(got.var, want.var, 1e-13 * want.var) << "M " << M << " splits " << splits;
    }
  }
}

// A mean 10^8 standard deviations from zero: sum(x^2) / n - mean^2 in f64 loses every digit of
// the variance here; the merge keeps it.
TEST(SliceMoments, LargeOffsetsKeepTheVariance) {
  const int64_t M = 65536;
  const std::vector<double> x = sample(M, 1e8, 1.0, 7);
  const Moments want = reference(x);
  double s = 0, s2 = 0;
  for (double v : x) {
    s += v;
    s2 += v * v;
  }
  const double naive = s2 / double(M) - (s / double(M)) * (s / double(M));
  EXPECT_GT(std::abs(naive - want.var), 1e-3 * want.var) << "the naive formula should fail here, or the case is too easy";
  for (int64_t splits : {1, 4, 16, 32}) {
    const Moments got = merged(x, splits);
    EXPECT_NEAR(got.var, want.var, 1e-12 * want.var) << "splits " << splits;
  }
}

// With one slice the merge is the plain two-pass formula over x - x[0], bit for bit (the slice's
// own mean is the channel's, so the correction term is exactly zero).
TEST(SliceMoments, OneSliceIsTheTwoPassFormula) {
  const std::vector<double> x = sample(1000, -5.0, 0.5, 3);
  double s = 0, q = 0;
  for (double v : x) s += v - x[0];
  const double m = s / double(x.size());
  for (double v : x) q += (v - x[0] - m) * (v - x[0] - m);
  const Moments got = merged(x, 1);
  EXPECT_EQ(got.mean, x[0] + m);
  EXPECT_EQ(got.var, q / double(x.size()));
}

// Empty slices (possible in the formula, not in the kernel's geometry) add nothing.
TEST(SliceMoments, EmptySlicesAreSkipped) {
  const std::vector<double> x = {1.0, 2.0, 4.0};
  double mean = 0, var = 0;
  merge_slice_moments(
      3, 3.0, 0.0,
      [&](int64_t k, double& n, double& s, double& q) {
        n = k == 1 ? 0.0 : (k == 0 ? 2.0 : 1.0);
        s = k == 0 ? 3.0 : (k == 2 ? 4.0 : 0.0);
        q = k == 0 ? 0.5 : 0.0;
      },
      &mean, &var);
  const Moments want = reference(x);
  EXPECT_DOUBLE_EQ(mean, want.mean);
  EXPECT_DOUBLE_EQ(var, want.var);
}

}  // namespace
