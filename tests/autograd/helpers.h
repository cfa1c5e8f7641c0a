// Helpers for the autograd tests (the error-checking ones live in tests/common).
#pragma once
#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace ag_test {
using nabla_test::error_of;
using nabla_test::expect_contains;
}  // namespace ag_test
