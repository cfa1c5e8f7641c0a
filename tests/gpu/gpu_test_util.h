// Helpers shared by the CUDA tests: detecting a usable GPU (so every test skips with the reason
// on a machine without one) and comparing a CUDA result with the CPU one.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace gputest {

/// Why CUDA is unusable ("" when a device works). Probed once: allocating one element on
/// cuda:0 fails with nabla::Error when the build has no CUDA backend or no GPU is visible.
inline const std::string& cuda_unavailable_reason() {
  static const std::string reason = [] {
    try {
      (void)nabla::empty({1}, {.device = nabla::Device::cuda()});
      return std::string();
    } catch (const nabla::Error& e) {
      return std::string("no usable CUDA device: ") + e.what();
    }
  }();
  return reason;
}
inline bool has_cuda() { return cuda_unavailable_reason().empty(); }

/// First statement of every GPU test: skips visibly (the reason is printed) without a GPU.
#define NB_REQUIRE_CUDA()                                                               \
  do {                                                                                  \
    if (!::gputest::has_cuda()) GTEST_SKIP() << ::gputest::cuda_unavailable_reason(); \
  } while (0)

inline nabla::Device gpu() { return nabla::Device::cuda(0); }

/// Expects `got` (any device) to equal `want` (any device) elementwise within
/// atol + rtol |want|; same shape and dtype. Reports at most five bad elements.
inline void expect_same(const nabla::Tensor& got, const nabla::Tensor& want, double atol, double rtol,
                        const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": result undefined";
  ASSERT_TRUE(want.defined()) << what << ": reference undefined";
  ASSERT_EQ(nabla::shape_str(got.shape()), nabla::shape_str(want.shape())) << what << ": shape";
  EXPECT_EQ(got.dtype(), want.dtype()) << what << ": dtype";
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  ASSERT_EQ(g.size(), w.size());
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    bool ok = (std::isnan(g[i]) && std::isnan(w[i])) || g[i] == w[i] ||
              std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]);
    if (!ok) {
      worst = std::max(worst, std::abs(g[i] - w[i]));
      if (++bad <= 5)
        ADD_FAILURE() << what << ": element " << i << " CUDA " << g[i] << " vs CPU " << w[i] << " (diff "
                      << std::abs(g[i] - w[i]) << ", atol " << atol << ", rtol " << rtol << ")";
    }
  }
  if (bad > 5) ADD_FAILURE() << what << ": " << bad << " elements differ in all, worst diff " << worst;
}

}  // namespace gputest
