// Helpers for the autograd tests (the error-checking ones live in tests/common).
#pragma once
#include <gtest/gtest.h>

#include <vector>

#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace ag_test {
using nabla_test::error_of;
using nabla_test::expect_contains;

/// A 1-D f64 tensor of `v`.
inline nabla::Tensor f64(std::vector<double> v) {
  nabla::Shape s{int64_t(v.size())};
  return nabla::from_vector<double>(v, s);
}
/// A 1-D f64 leaf that requires grad.
inline nabla::Tensor param(std::vector<double> v) { return f64(std::move(v)).requires_grad_(); }

inline void expect_values(const nabla::Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  auto got = t.to_double_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}
}  // namespace ag_test
