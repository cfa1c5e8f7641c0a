// Helpers for the core tests (the error-checking ones live in tests/common).
#pragma once
#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace core_test {
using nabla_test::error_of;
using nabla_test::expect_contains;
}  // namespace core_test
