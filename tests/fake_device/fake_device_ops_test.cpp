// Every op-table row (and the nn ops beside the table) on the fake "cuda" device agrees with the
// CPU, forward and input gradients: the check test_gpu runs on a real GPU (ops/device_agreement.h),
// run in every build. The fake's kernels are the CPU ones, so this does not test CUDA kernels; it
// tests everything around them: that each op allocates its outputs, index tables, masks and
// constants on its inputs' device, that the device paths of the ops (fused losses, deferred
// index checks, scalar arguments) compute what the CPU paths do, and that every kernel an op
// needs exists in the backend interface.
#include "common/fake_device.h"
#include "ops/device_agreement.h"

namespace optest {
namespace {

// Installs the fake as the cuda backend for one test and puts the previous one back after.
using FakeDeviceVsCpu = fake_device::FakeCudaFixture<::testing::TestWithParam<GpuRow>>;

TEST_P(FakeDeviceVsCpu, ForwardAndGradientsAgree) { expect_agrees_with_cpu(GetParam(), nb::Device::cuda(0)); }

INSTANTIATE_TEST_SUITE_P(OpTable, FakeDeviceVsCpu, ::testing::ValuesIn(all_rows()), gpu_row_name);

TEST(FakeDeviceOpTable, RowsAreRegistered) {
  EXPECT_GE(row_registry().size(), 10u) << "tests/ops families missing from optest::row_registry()";
  EXPECT_GE(all_rows().size(), 150u);
}

}  // namespace
}  // namespace optest
