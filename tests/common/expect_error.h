// Shared by every test folder: catching nabla::Error and checking its message.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nabla/error.h"

namespace nabla_test {

/// Runs `f`, which must throw nabla::Error, and returns the message ("" and a failure otherwise).
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

/// Asserts that `msg` contains every piece of `parts`.
inline void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing \"" << p << "\" in: " << msg;
}

}  // namespace nabla_test

/// EXPECT_ERROR(stmt, "piece", ...): `stmt` throws nabla::Error whose message has every piece.
#define EXPECT_ERROR(stmt, ...) ::nabla_test::expect_contains(::nabla_test::error_of([&] { (void)(stmt); }), {__VA_ARGS__})
