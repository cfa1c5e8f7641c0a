// Helpers shared by the nn tests: error checks, bitwise comparison, sample moments, temp files.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"

namespace nn_test {

using namespace nabla;

using nabla_test::error_of;
using nabla_test::expect_contains;

/// Same dtype, shape and bytes.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), size_t(ca.numel()) * dtype_size(ca.dtype())) == 0;
}

struct Moments {
  double mean = 0, var = 0, min = 0, max = 0;
  int64_t n = 0;
};
/// Sample mean, (population) variance and range, in double.
inline Moments moments(const Tensor& t) {
  std::vector<double> v = t.to_double_vector();
  Moments m;
  m.n = int64_t(v.size());
  m.min = m.max = v.empty() ? 0 : v[0];
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= double(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= double(v.size());
  return m;
}

using nabla_test::TempDir;

}  // namespace nn_test

