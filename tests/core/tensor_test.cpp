// Tensor basics: dtype conversion, item(), printing and the errors users see.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

TEST(Tensor, ToDtypeConverts) {
  Tensor f = from_vector<double>({-1.75, 0.5, 2.9, 255.0}, {4});
  Tensor i = f.to(kI64);
  EXPECT_EQ(i.dtype(), kI64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 2, 255}));  // truncation toward zero
  EXPECT_FALSE(i.shares_storage(f));
  Tensor f32 = f.to(kF32);
  EXPECT_EQ(f32.dtype(), kF32);
  EXPECT_EQ(f32.to_vector<double>(), (std::vector<double>{-1.75, 0.5, double(2.9f), 255.0}));
  Tensor u = from_vector<int64_t>({0, 1, 200}, {3}).to(kU8);
  EXPECT_EQ(u.dtype(), kU8);
  EXPECT_EQ(u.to_vector<int>(), (std::vector<int>{0, 1, 200}));
  EXPECT_EQ(u.to(kF64).to_vector<double>(), (std::vector<double>{0, 1, 200}));
  // Converting to the same dtype returns the tensor itself.
  EXPECT_TRUE(f.to(kF64).shares_storage(f));
  // Non-contiguous source.
  Tensor t = arange(0, 6, 1, kF64).reshape({2, 3}).t().to(kI64);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, Item) {
  EXPECT_DOUBLE_EQ(full({}, 2.5, {.dtype = kF64}).item(), 2.5);
  EXPECT_FLOAT_EQ(full({1, 1}, 0.1, {.dtype = kF32}).item<float>(), 0.1f);
  EXPECT_EQ(full({1}, 42, {.dtype = kI64}).item<int64_t>(), 42);
  EXPECT_EQ(full({1}, 7, {.dtype = kU8}).item<int>(), 7);
  // item() of a one-element view reads the right element.
  Tensor x = arange(0, 6, 1, kF64).reshape({2, 3});
  EXPECT_DOUBLE_EQ(x.select(0, 1).select(0, 2).item(), 5);
  EXPECT_DOUBLE_EQ(x.t().slice(0, 2, 3).slice(1, 1, 2).item(), 5);
  EXPECT_ERROR(x.item(), "[item]", "one element", "[2, 3]");
  EXPECT_ERROR(zeros({0}).item(), "[item]", "[0]");
}

TEST(Tensor, Metadata) {
  Tensor x = zeros({2, 3, 4}, {.dtype = kF64});
  EXPECT_EQ(x.dim(), 3);
  EXPECT_EQ(x.numel(), 24);
  EXPECT_EQ(x.size(-1), 4);
  EXPECT_EQ(x.stride(0), 12);
  EXPECT_TRUE(x.device().is_cpu());
  EXPECT_TRUE(x.is_floating_point());
  EXPECT_FALSE(zeros({1}, {.dtype = kI64}).is_floating_point());
  EXPECT_FALSE(Tensor().defined());
  EXPECT_ERROR(x.size(3), "[size]", "dimension 3 is out of range", "3 dimension(s)", "[-3, 2]");
  EXPECT_ERROR(Tensor().shape(), "undefined tensor");
  EXPECT_ERROR(x.data_ptr<float>(), "[data_ptr]", "f64", "f32");
}

TEST(Tensor, PrintingShowsValuesShapeAndDtype) {
  std::ostringstream os;
  os << from_vector<float>({1, 2, 3}, {3});
  EXPECT_EQ(os.str(), "tensor([1., 2., 3.], shape=[3], dtype=f32)");

  std::string m = from_vector<double>({0.5, -1.25, 3, 4}, {2, 2}).to_string();
  core_test::expect_contains(m, {"0.5000", "-1.2500", "3.0000", "4.0000", "shape=[2, 2]", "dtype=f64"});
  EXPECT_NE(m.find("],\n"), std::string::npos) << m;  // one row per line

  std::string i = arange(4).to_string();
  EXPECT_EQ(i, "tensor([0, 1, 2, 3], shape=[4], dtype=i64)");
  EXPECT_EQ(from_vector<uint8_t>({0, 255}, {2}).to_string(), "tensor([0, 255], shape=[2], dtype=u8)");
  EXPECT_EQ(full({}, 7, {.dtype = kF64}).to_string(), "tensor(7., shape=[], dtype=f64)");

  std::string special = from_vector<double>({NAN, INFINITY, -INFINITY, 1.5}, {4}).to_string();
  core_test::expect_contains(special, {"nan", "inf", "-inf", "1.5000"});
  core_test::expect_contains(from_vector<double>({1e-6, 2e-6}, {2}).to_string(), {"e-06"});
  core_test::expect_contains(ones({2}, {.requires_grad = true}).to_string(), {"requires_grad=true"});
  EXPECT_EQ(Tensor().to_string(), "tensor(undefined)");
}

TEST(Tensor, PrintingSummarizesLargeTensors) {
  std::string s = arange(0, 5000, 1, kF32).to_string();
  core_test::expect_contains(s, {"[0., 1., 2., ..., 4997., 4998., 4999.]", "shape=[5000]", "dtype=f32"});
  EXPECT_LT(s.size(), 200u);
  std::string m = arange(0, 4000, 1, kI64).reshape({100, 40}).to_string();
  core_test::expect_contains(m, {"[0, 1, 2, ..., 37, 38, 39]", "...", "[3960, 3961, 3962, ..., 3997, 3998, 3999]",
                                 "shape=[100, 40]"});
  EXPECT_LT(m.size(), 600u);
  // A non-contiguous view prints its own values.
  EXPECT_EQ(arange(0, 4, 1, kI64).reshape({2, 2}).t().to_string(), "tensor([[0, 2],\n        [1, 3]], shape=[2, 2], dtype=i64)");
}

TEST(Tensor, UserErrorsNameTheOpAndShapes) {
  Tensor x = zeros({2, 3});
  EXPECT_ERROR(x.reshape({4, 2}), "[reshape]", "shape [4, 2] is invalid for a tensor of 6 elements");
  EXPECT_ERROR(x.reshape({-1, -1}), "[reshape]", "only one dimension can be -1");
  EXPECT_ERROR(x.reshape({-1, 4}), "[reshape]", "cannot infer the -1", "6 elements");
  EXPECT_ERROR(x.view({7}), "[view]", "invalid for a tensor of 6 elements");
  EXPECT_ERROR(x.transpose(0, 2), "[transpose]", "dimension 2 is out of range", "2 dimension(s)", "[-2, 1]");
  EXPECT_ERROR(x.select(-3, 0), "[select]", "dimension -3 is out of range");
  EXPECT_ERROR(sum(x, {5}), "[sum]", "5");
  EXPECT_ERROR(x + zeros({3, 2}), "[add]", "[2, 3]", "[3, 2]", "cannot be broadcast");
  EXPECT_ERROR(matmul(zeros({64, 784}), zeros({512, 256})), "[matmul]", "[64, 784]", "[512, 256]");
  Tensor i = zeros({3}, {.dtype = kI64});
  EXPECT_ERROR(i.requires_grad_(), "[requires_grad_]", "only floating tensors can require grad", "i64");
  Tensor u = zeros({3}, {.dtype = kU8});
  EXPECT_ERROR(u.requires_grad_(true), "[requires_grad_]", "u8");
  u.requires_grad_(false);  // turning it off is always fine
  Tensor p = ones({2}, {.requires_grad = true});
  Tensor y = p * 2.0;
  EXPECT_ERROR(y.requires_grad_(false), "[requires_grad_]", "leaf", "detach()");
  y.requires_grad_(true);  // it requires grad already: a no-op, as in PyTorch
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_ERROR(p.set_grad(zeros({3})), "[set_grad]", "[3]", "[2]");
  EXPECT_ERROR(p.set_grad(zeros({2}, {.dtype = kF64})), "[set_grad]", "f64", "f32");
  EXPECT_ERROR(set_num_threads(0), "[set_num_threads]", "positive", "0");
  EXPECT_ERROR(zeros({2}, {.device = Device::cuda(0)}), "cuda:0", "not available");
}

TEST(Tensor, ErrorIsARuntimeError) {
  try {
    zeros({2}).item();
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[item]"), std::string::npos);
  }
}

// Reading integers back: exact for i64 beyond 2^53 (a double in between rounded 2^53 + 1 to 2^53
// and turned INT64_MAX into INT64_MIN), truncating for floating values that fit, an error for
// ones that do not.
TEST(TensorData, IntegerReadsAreExact) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> values = {(int64_t(1) << 53) + 1, max, min, -3};
  Tensor t = nabla::from_vector(values, {4});
  EXPECT_EQ(t.to_vector<int64_t>(), values);
  EXPECT_EQ(t.select(0, 1).item<int64_t>(), max);
  EXPECT_EQ(t.select(0, 0).item<int64_t>(), (int64_t(1) << 53) + 1);
  EXPECT_EQ(t.slice(0, 0, 4, 2).to_vector<int64_t>(), (std::vector<int64_t>{values[0], min}));  // strided
  EXPECT_EQ(nabla::from_vector(std::vector<uint8_t>{0, 255}, {2}).to_vector<int>(), (std::vector<int>{0, 255}));
  EXPECT_EQ(nabla::scalar_tensor(2.7, nabla::kF32).item<int64_t>(), 2);
  EXPECT_EQ(nabla::scalar_tensor(-2.7, nabla::kF64).item<int>(), -2);
  EXPECT_ERROR(nabla::scalar_tensor(1e30, nabla::kF64).item<int64_t>(), "[item]", "1e+30", "does not fit an int64");
  EXPECT_ERROR(nabla::scalar_tensor(NAN, nabla::kF32).item<int64_t>(), "[item]", "nan");
  EXPECT_ERROR(nabla::from_vector(std::vector<float>{1, INFINITY}, {2}).to_vector<int64_t>(), "[to_vector]", "inf");
  EXPECT_EQ(nabla::scalar_tensor(2.5, nabla::kF64).item<double>(), 2.5);
  EXPECT_EQ(t.to_string(),
            "tensor([9007199254740993, 9223372036854775807, -9223372036854775808, -3], shape=[4], dtype=i64)");
}
