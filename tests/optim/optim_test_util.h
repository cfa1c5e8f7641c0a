// Helpers shared by the optim tests: error-message checks and a small fixed problem.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/nabla.h"
#include "nabla/optim.h"

namespace optim_test {

/// Runs `f`, which must throw nabla::Error, and returns the message.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const nabla::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected nabla::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected nabla::Error, nothing was thrown";
  return "";
}

inline void expect_contains(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing \"" << p << "\" in: " << msg;
}

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

/// EXPECT_ERROR(stmt, "piece", ...): `stmt` throws nabla::Error whose message has every piece.
#define EXPECT_ERROR(stmt, ...) \
  ::optim_test::expect_contains(::optim_test::error_of([&] { (void)(stmt); }), {__VA_ARGS__})
