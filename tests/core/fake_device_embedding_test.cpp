// embedding's max_norm (embedding_renorm_, written with the backend's index_add) and
// scale_grad_by_freq (lookup counts by an i64 index_add on the indices' device) on the fake "cuda"
// device, against the same calls on the CPU: the weight after renorm bit for bit, the outputs
// and the weight gradients. The fake's kernels are the CPU ones; this checks that every tensor
// of these paths lives on the weight's device and that the device paths need no other kernels.
#include "common/fake_device.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

using FakeDeviceEmbedding = fake_device::FakeCudaFixture<>;

const std::vector<double> kTable = {3, 4, 0, 0.3, 0.4, 0, -2, 1, 2, 1, 0, 0, 0, 0, 8};

TEST_F(FakeDeviceEmbedding, MaxNormAndScaleGradByFreqAgreeWithTheCpu) {
  const nb::Device dev = nb::Device::cuda(0);
  const std::vector<int64_t> looked = {2, 0, 2, 1, 4, 2};
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(nb::dtype_name(dt));
    auto run = [&](nb::Device d, bool strided) {
      // A strided table: the transpose of a [3, 5] tensor holding kTable transposed.
      Tensor w;
      if (strided) {
        std::vector<double> t(kTable.size());
        for (int r = 0; r < 5; ++r)
          for (int c = 0; c < 3; ++c) t[size_t(c * 5 + r)] = kTable[size_t(r * 3 + c)];
        w = nb::from_vector(t, {3, 5}).to(dt).to(d).t();
      } else {
        w = nb::from_vector(kTable, {5, 3}).to(dt).to(d);
      }
      w.requires_grad_();
      Tensor idx = nb::from_vector(looked, {2, 3}).to(d);
      Tensor out = nb::embedding(w, idx, {.padding_idx = 1, .max_norm = 1.5, .scale_grad_by_freq = true});
      out.backward(nb::arange(1, 19).reshape({2, 3, 3}).to(dt).to(d));
      Tensor bag_w = nb::from_vector(kTable, {5, 3}).to(dt).to(d).requires_grad_();
      Tensor bag = nb::embedding_bag(bag_w, nb::from_vector(looked, {6}).to(d),
                                     {.offsets = nb::from_vector(std::vector<int64_t>{0, 2}, {2}).to(d),
                                      .mode = nb::EmbeddingBagMode::Mean, .max_norm = 2.0, .scale_grad_by_freq = true});
      bag.backward(nb::ones({2, 3}, {.dtype = dt, .device = d}));
      return std::vector<std::vector<double>>{w.detach().to_double_vector(), out.to_double_vector(),
                                              w.grad().to_double_vector(), bag_w.detach().to_double_vector(),
                                              bag.to_double_vector(), bag_w.grad().to_double_vector()};
    };
    for (bool strided : {false, true}) {
      const auto cpu = run(nb::Device::cpu(), strided);
      const auto gpu = run(dev, strided);
      const char* what[] = {"renormed weight", "output", "weight gradient", "bag weight", "bag output", "bag gradient"};
      for (size_t i = 0; i < cpu.size(); ++i) EXPECT_EQ(gpu[i], cpu[i]) << what[i] << (strided ? " (strided)" : "");
    }
  }
}

}  // namespace
