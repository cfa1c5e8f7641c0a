// What a CPU-only process loads. cuBLAS (with the 540 MB libcublasLt behind it) is opened on the
// first GPU matrix product only (src/backend/cuda/cublas_api.h): linked, it cost every process
// about 0.35 s and 210 MB at start-up, GPU or not. Linux: reads /proc/self/maps.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "nabla/nabla.h"

namespace {

TEST(Startup, CpuWorkAndDeviceQueriesDoNotLoadCublas) {
#ifndef NABLA_HAS_CUDA
  GTEST_SKIP() << "built without the CUDA backend: nothing here could load cuBLAS";
#endif
  nabla::manual_seed(1);
  const nabla::Tensor a = nabla::randn({8, 16}, {.requires_grad = true});
  nabla::matmul(a, nabla::randn({16, 4})).sum().backward();
  (void)nabla::cuda::is_available();
  (void)nabla::cuda::device_count();

  std::ifstream maps("/proc/self/maps");
  ASSERT_TRUE(maps.good()) << "cannot read /proc/self/maps";
  std::string line;
  int lines = 0;
  while (std::getline(maps, line)) {
    ++lines;
    EXPECT_EQ(line.find("libcublas"), std::string::npos) << "loaded without a GPU matrix product: " << line;
  }
  EXPECT_GT(lines, 0);
}

}  // namespace
