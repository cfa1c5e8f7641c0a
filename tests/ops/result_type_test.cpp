// Type promotion with 0-d tensors (`result_type`), against PyTorch's documented results
// (torch.result_type and the "Type promotion" examples of the tensor attributes page): a 0-d
// tensor acts as a number would, so it raises a dimensioned operand only to a higher category.
#include <gtest/gtest.h>

#include <cmath>

#include "common/expect_error.h"
#include "nabla/nabla.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

Tensor dims(DType dt) { return nb::ones({2}, {.dtype = dt}); }
Tensor zero_dim(DType dt, double v = 1.0) { return nb::full({}, v, {.dtype = dt}); }

TEST(ResultType, MatchesPyTorch) {
  struct Case {
    Tensor a, b;
    DType want;
  };
  const Case cases[] = {
      // torch.result_type(torch.tensor([1, 2], dtype=torch.uint8), torch.tensor(1)) == uint8
      {dims(DType::u8), zero_dim(DType::i64), DType::u8},
      {dims(DType::i64), dims(DType::f32), DType::f32},  // torch.add(long_tensor, float_tensor)
      {dims(DType::f32), dims(DType::f64), DType::f64},  // float_tensor + double_tensor
      {dims(DType::f32), zero_dim(DType::f64), DType::f32},
      {zero_dim(DType::f64), dims(DType::f32), DType::f32},
      {dims(DType::bf16), zero_dim(DType::f32), DType::bf16},
      {dims(DType::f16), zero_dim(DType::bf16), DType::f16},
      {dims(DType::f16), zero_dim(DType::i64), DType::f16},
      {dims(DType::i64), zero_dim(DType::f64), DType::f64},  // a higher category: promote
      {dims(DType::u8), zero_dim(DType::bf16), DType::bf16},
      {zero_dim(DType::f32), zero_dim(DType::f64), DType::f64},  // two 0-d: as promote
      {zero_dim(DType::f16), zero_dim(DType::bf16), DType::f32},
      {dims(DType::f16), dims(DType::bf16), DType::f32},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.a.dtype() << " " << nb::shape_str(c.a.shape()) << " with "
                                      << c.b.dtype() << " " << nb::shape_str(c.b.shape()));
    EXPECT_EQ(nb::result_type(c.a, c.b), c.want);
    EXPECT_EQ(nb::add(c.a, c.b).dtype(), c.want);
    EXPECT_EQ(nb::mul(c.b, c.a).dtype(), c.want);
    EXPECT_EQ(nb::maximum(c.a, c.b).dtype(), c.want);
  }
}

TEST(ResultType, ZeroDimDoesNotWidenTheComputation) {
  // 0.1 rounded to f32 equals an f64 0-d 0.1 when compared in f32, as in PyTorch
  // (torch.tensor([0.1]) == torch.tensor(0.1, dtype=torch.float64) is True); compared in f64
  // they would differ.
  Tensor x = nb::full({1}, 0.1, {.dtype = DType::f32});
  Tensor s = zero_dim(DType::f64, 0.1);
  EXPECT_EQ(nb::eq(x, s).item<int64_t>(), 1);
  EXPECT_EQ(nb::eq(x.to(DType::f64), s).item<int64_t>(), 0);
  // 1 + 2^-30 is 1 in f32: the sum stays f32 and rounds there.
  Tensor one = nb::ones({1}, {.dtype = DType::f32});
  EXPECT_EQ((one + zero_dim(DType::f64, std::ldexp(1.0, -30))).item<double>(), 1.0);
}

TEST(ResultType, GradientsComeBackInEachInputsDtype) {
  Tensor x = nb::from_vector(std::vector<float>{1.5f, -2.0f, 4.0f}, {3}).requires_grad_();
  Tensor s = zero_dim(DType::f64, 3.0).requires_grad_();
  Tensor y = (x * s).sum();
  EXPECT_EQ(y.dtype(), DType::f32);
  y.backward();
  ASSERT_EQ(x.grad().dtype(), DType::f32);
  ASSERT_EQ(s.grad().dtype(), DType::f64);
  EXPECT_EQ(s.grad().item<double>(), 3.5);  // sum(x)
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, 3.0, 3.0}));
}

TEST(ResultType, WhereAndInPlace) {
  Tensor cond = nb::from_vector(std::vector<uint8_t>{1, 0}, {2});
  EXPECT_EQ(nb::where(cond, dims(DType::bf16), zero_dim(DType::f32, 5.0)).dtype(), DType::bf16);
  Tensor h = dims(DType::f16);
  h.mul_(zero_dim(DType::f64, 3.0));
  EXPECT_EQ(h.to_vector<double>(), (std::vector<double>{3.0, 3.0}));
  // The result of u8 with an f32 0-d tensor is f32, which an in-place op cannot write into u8.
  Tensor u = dims(DType::u8);
  EXPECT_ERROR(u.add_(zero_dim(DType::f32, 0.5)), "add_", "f32", "u8");
}

TEST(ResultType, U8WithAnI64ZeroDimWrapsInU8) {
  // LibTorch 1.13: torch.tensor([1, 2, 200], dtype=torch.uint8) + torch.tensor(300) is uint8
  // [45, 46, 244] (300 converted to uint8 is 44).
  Tensor u = nb::from_vector(std::vector<uint8_t>{1, 2, 200}, {3});
  Tensor r = u + nb::full({}, 300, {.dtype = DType::i64});
  EXPECT_EQ(r.dtype(), DType::u8);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{45, 46, 244}));
}

TEST(ResultType, IntegerDivisorIsCheckedInTheComputedDtype) {
  // The divisor is converted to u8 before the kernel runs: 256 and 512 become 0, which LibTorch
  // 1.13 refuses (ZeroDivisionError); nabla returned 0s silently.
  Tensor u = nb::from_vector(std::vector<uint8_t>{1, 2, 200}, {3});
  EXPECT_ERROR(nb::fmod(u, nb::full({}, 256, {.dtype = DType::i64})), "fmod", "division by zero", "u8");
  EXPECT_ERROR(nb::remainder(u, nb::full({}, 512, {.dtype = DType::i64})), "remainder", "division by zero");
  // 257 is 1 in u8: fmod by 1 is 0 everywhere.
  EXPECT_EQ(nb::fmod(u, nb::full({}, 257, {.dtype = DType::i64})).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0, 0}));
}

TEST(ResultType, AddcmulAndAddcdivComputeInTheDtypeOfAllThree) {
  // PyTorch's addcmul/addcdiv take one result type over input, tensor1 and tensor2 and compute the
  // product there: an f32 input with f16 factors multiplies in f32 (1000 * 1000 is 1e6, not the
  // f16 overflow to inf), and LibTorch 1.13's addcmul(f64 0-d, i64 [2], f32 0-d) is f64.
  Tensor zero = nb::zeros({1});
  Tensor k = nb::full({1}, 1000, {.dtype = DType::f16});
  Tensor p = nb::addcmul(zero, k, k);
  EXPECT_EQ(p.dtype(), DType::f32);
  EXPECT_EQ(p.item<double>(), 1e6);
  Tensor tiny = nb::full({1}, 1e-4, {.dtype = DType::f16});
  Tensor q = nb::addcdiv(zero, k, tiny);  // 1000 / 1e-4 = 1e7 in f32; inf in f16
  EXPECT_EQ(q.dtype(), DType::f32);
  EXPECT_NEAR(q.item<double>(), double(float(nb::Half(1000.0f))) / double(float(nb::Half(1e-4f))), 1.0);
  EXPECT_EQ(nb::addcmul(zero_dim(DType::f64), dims(DType::i64), zero_dim(DType::f32)).dtype(), DType::f64);
  EXPECT_EQ(nb::addcmul(dims(DType::bf16), zero_dim(DType::f32), zero_dim(DType::f64)).dtype(), DType::bf16);
  // Gradients come back in each operand's dtype.
  Tensor a = nb::full({1}, 3.0, {.dtype = DType::f16}).requires_grad_();
  Tensor b = nb::full({1}, 5.0, {.dtype = DType::f16}).requires_grad_();
  nb::sum(nb::addcmul(zero, a, b, 2.0)).backward();
  ASSERT_EQ(a.grad().dtype(), DType::f16);
  EXPECT_EQ(a.grad().item<double>(), 10.0);
  EXPECT_EQ(b.grad().item<double>(), 6.0);
}

}  // namespace
