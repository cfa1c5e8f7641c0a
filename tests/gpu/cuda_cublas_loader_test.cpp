// cuBLAS is opened on the first GPU GEMM, not linked (src/backend/cuda/cublas_api.h). These run
// without a GPU: opening the library and finding its entry points needs only the toolkit's
// files, and both ways it can fail must say which library and what was missing.
#include <gtest/gtest.h>

#include "../../src/backend/cuda/cublas_api.h"
#include "common/expect_error.h"

namespace {

using namespace nabla::backend::cuda;

TEST(CudaCublasLoader, OpensTheLibraryTheHeadersNameAndFindsEveryEntryPoint) {
  EXPECT_EQ(cublas_library_name(), "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR));
  const CublasApi api = load_cublas(cublas_library_name());
  EXPECT_NE(api.create, nullptr);
  EXPECT_NE(api.set_stream, nullptr);
  EXPECT_NE(api.set_math_mode, nullptr);
  EXPECT_NE(api.sgemm_strided_batched, nullptr);
  EXPECT_NE(api.dgemm_strided_batched, nullptr);
  EXPECT_NE(api.gemm_strided_batched_ex, nullptr);
  // The one entry point that needs neither a GPU nor a handle: it must be the real function.
  ASSERT_NE(api.status_string, nullptr);
  EXPECT_STREQ(api.status_string(CUBLAS_STATUS_SUCCESS), "success");
  EXPECT_STREQ(api.status_string(CUBLAS_STATUS_NOT_INITIALIZED), "the library was not initialized");
}

TEST(CudaCublasLoader, MissingLibraryNamesItAndTheSearchPath) {
  EXPECT_ERROR(load_cublas("libnabla_no_such_cublas.so.13"), "[cuda] cannot load cuBLAS",
               "libnabla_no_such_cublas.so.13", "LD_LIBRARY_PATH");
}

TEST(CudaCublasLoader, LibraryWithoutTheEntryPointsNamesTheFirstMissing) {
  // The C math library is on every Linux system and has no cuBLAS symbols. The name is the one
  // cublas_v2.h maps cublasCreate to.
  EXPECT_ERROR(load_cublas("libm.so.6"), "libm.so.6 has no entry point cublasCreate_v2", "nabla was built with");
}

}  // namespace
