// Helpers shared by the optim tests: error-message checks and a small fixed problem.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "nabla/nabla.h"
#include "nabla/optim.h"

namespace optim_test {

using nabla_test::error_of;
using nabla_test::expect_contains;

/// Element-wise |a - b| <= rtol |b| + atol, with the first mismatch reported.
inline void expect_near_rel(const std::vector<double>& a, const std::vector<double>& b, double rtol, double atol,
                            const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_LE(std::abs(a[i] - b[i]), rtol * std::abs(b[i]) + atol)
        << what << "[" << i << "]: got " << a[i] << ", expected " << b[i];
  }
}

}  // namespace optim_test

