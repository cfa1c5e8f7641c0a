// Every op-table row on CUDA agrees with the CPU (DESIGN §4, issue 9; the check and the rows are
// in ops/device_agreement.h, shared with test_fake_device). A subset also gets an f64 gradcheck
// whose forward and backward run on the GPU.
#include "ops/device_agreement.h"

namespace optest {
namespace {

using gputest::gpu;

// ---- CPU vs CUDA agreement (the check is in ops/device_agreement.h) -------------------------

class CudaVsCpu : public ::testing::TestWithParam<GpuRow> {};

TEST_P(CudaVsCpu, ForwardAndGradientsAgree) {
  NB_REQUIRE_CUDA();
  expect_agrees_with_cpu(GetParam(), gpu());
}

INSTANTIATE_TEST_SUITE_P(OpTable, CudaVsCpu, ::testing::ValuesIn(all_rows()), gpu_row_name);

TEST(CudaOpTable, RowsAreRegistered) {
  // Guards the reuse itself: an empty registry would make the suite above vacuous.
  EXPECT_GE(row_registry().size(), 10u) << "tests/ops families missing from optest::row_registry()";
  EXPECT_GE(all_rows().size(), 150u);
}

// ---- f64 gradcheck with forward and backward on the GPU -------------------------------------
// nabla::gradcheck perturbs its inputs through host pointers, so the leaves it perturbs are
// f64 CPU tensors; the function under test moves them to CUDA (Tensor::to is differentiable),
// runs the op there and brings the result back. Forward and backward kernels thus run on the
// GPU in f64 and the Jacobian is compared with central differences of the GPU forward.

class CudaGradcheck : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGradcheck, F64OnGpu) {
  NB_REQUIRE_CUDA();
  const GpuRow* gr = find_row(GetParam());
  ASSERT_NE(gr, nullptr) << "no op-table row named " << GetParam();
  const OpRow& r = gr->row;
  auto on_gpu = [&r](const TensorList& x) {
    TensorList g;
    for (const Tensor& t : x) g.push_back(t.defined() ? t.to(gpu()) : t);
    Tensor out = r.fn(g);
    EXPECT_TRUE(out.device() == gpu()) << "output on " << out.device();
    return out.cpu();
  };
  const nb::GradcheckOptions opts{.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3};
  auto cases = row_cases(r);
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    bool changed = false;
    TensorList in = make_inputs(cases[ci], seed_of(r.name, ci), DType::f64, Layout::Contiguous, &changed);
    SCOPED_TRACE(describe(cases[ci], DType::f64, Layout::Contiguous));
    try {
      EXPECT_TRUE(nb::gradcheck(on_gpu, in, opts));
    } catch (const nb::Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Subset, CudaGradcheck,
                         ::testing::Values("mul", "exp", "tanh", "matmul_2d_2d", "softmax_dimneg1",
                                           "log_softmax_dimneg1", "cross_entropy_int_mean", "conv2d_pad1",
                                           "batch_norm_train"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace optest
