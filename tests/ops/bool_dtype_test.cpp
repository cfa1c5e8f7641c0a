// The bool dtype (kBool, PyTorch's torch.bool). Expected values are LibTorch 1.13's, probed with
// a small program (torch::tensor({true, false, true}) etc.; quoted beside each check), or closed
// forms (truth tables computed here with C++'s own bool operators, IEEE tests with std::isnan).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/expect_error.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"

namespace {

namespace nb = nabla;
using nb::DType;
using nb::Tensor;

std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
Tensor b3() { return nb::from_vector({true, false, true}, {3}); }   // torch.tensor([True, False, True])
Tensor b3b() { return nb::from_vector({true, true, false}, {3}); }  // torch.tensor([True, True, False])

TEST(BoolDtype, NameSizeCategoryAndParse) {
  EXPECT_STREQ(nb::dtype_name(nb::kBool), "bool");
  EXPECT_EQ(nb::dtype_size(nb::kBool), 1u);
  EXPECT_FALSE(nb::is_floating(nb::kBool));
  EXPECT_FALSE(nb::is_integral(nb::kBool));
  EXPECT_EQ(nb::dtype_from_name("bool"), nb::kBool);
  EXPECT_EQ(nb::dtype_from_name("u8"), nb::kU8);
  EXPECT_EQ(nb::dtype_from_name("f64"), nb::kF64);
  EXPECT_EQ(nb::dtype_from_name("int"), std::nullopt);
  EXPECT_EQ(nb::promote(nb::kBool, nb::kU8), nb::kU8);   // torch.promote_types(bool, uint8) == uint8
  EXPECT_EQ(nb::promote(nb::kBool, nb::kF16), nb::kF16);  // == float16
  EXPECT_EQ(nb::promote(nb::kBool, nb::kBool), nb::kBool);
}

TEST(BoolDtype, PromotionTableMatchesPyTorch) {
  struct Case {
    Tensor a, b;
    DType want;
    const char* torch;
  };
  auto dims = [](DType dt) { return nb::ones({3}, {.dtype = dt}); };
  auto zd = [](DType dt) { return nb::ones({}, {.dtype = dt}); };
  const Case cases[] = {
      {dims(nb::kBool), dims(nb::kBool), nb::kBool, "b + b: Bool"},
      {dims(nb::kBool), dims(nb::kU8), nb::kU8, "b + u8: Byte"},
      {dims(nb::kBool), dims(nb::kF16), nb::kF16, "b + f16: Half"},
      {dims(nb::kBool), dims(nb::kBF16), nb::kBF16, "b + bf16: BFloat16"},
      {dims(nb::kBool), dims(nb::kF32), nb::kF32, "b + f32"},
      {dims(nb::kBool), zd(nb::kI64), nb::kI64, "b + tensor(3): Long"},
      {dims(nb::kBool), zd(nb::kF64), nb::kF64, "b + tensor(2.5, double): Double"},
      {dims(nb::kBool), zd(nb::kU8), nb::kU8, "higher category 0-d: uint8"},
      {zd(nb::kBool), dims(nb::kF32), nb::kF32, "tensor(true) + f: Float"},
      {dims(nb::kU8), zd(nb::kBool), nb::kU8, "u8 + tensor(true): Byte"},
      {dims(nb::kI64), zd(nb::kBool), nb::kI64, "a bool 0-d never raises"},
      {dims(nb::kF16), zd(nb::kBool), nb::kF16, "a bool 0-d never raises"},
      {zd(nb::kBool), zd(nb::kBool), nb::kBool, "tensor(true) * tensor(false): Bool"},
      {zd(nb::kBool), zd(nb::kI64), nb::kI64, "two 0-d: promote"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.torch);
    EXPECT_EQ(nb::result_type(c.a, c.b), c.want);
    EXPECT_EQ(nb::add(c.a, c.b).dtype(), c.want);
    EXPECT_EQ(nb::mul(c.b, c.a).dtype(), c.want);
    EXPECT_EQ(nb::maximum(c.a, c.b).dtype(), c.want);
  }
}

TEST(BoolDtype, ComparisonsReturnBool) {
  Tensor x = nb::from_vector<float>({-1.5f, 0.0f, 2.0f}, {3});
  Tensor y = nb::from_vector<float>({0.0f, 0.0f, 3.0f}, {3});
  for (const Tensor& r : {nb::gt(x, y), nb::lt(x, y), nb::ge(x, y), nb::le(x, y), nb::eq(x, y), nb::ne(x, y), x > 0.0,
                          x < 0.0, x >= 0.0, x <= 0.0, x > y, x < y, x >= y, x <= y})
    EXPECT_EQ(r.dtype(), nb::kBool);
  EXPECT_EQ(ints(x >= 0.0), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(ints(x <= 0.0), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(ints(nb::ge(x, y)), (std::vector<int64_t>{0, 1, 0}));
  // Integer tensors with fractional scalars: x >= 2.5 is x >= 3, x <= 2.5 is x <= 2.
  Tensor i = nb::from_vector<int64_t>({2, 3}, {2});
  EXPECT_EQ(ints(i >= 2.5), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(ints(i <= 2.5), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(ints(i <= 1e30), (std::vector<int64_t>{1, 1}));
  // Bool tensors compare as 0/1: torch.tensor([True, False, True]) > 0.5 is [True, False, True].
  EXPECT_EQ(ints(b3() > 0.5), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(ints(b3() < 300.0), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ((b3() < 300.0).dtype(), nb::kBool);
  // eq(b, b2) [True, False, False]; lt(b, b2) [False, True, False].
  EXPECT_EQ(ints(nb::eq(b3(), b3b())), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(ints(nb::lt(b3(), b3b())), (std::vector<int64_t>{0, 1, 0}));
}

TEST(BoolDtype, MaskTimesI64ZeroDimIsI64NotWrappingU8) {
  // (x > 0) * torch.tensor(300): Long [0, 0, 300].
  Tensor x = nb::from_vector<float>({-1.5f, 0.0f, 2.0f}, {3});
  Tensor r = (x > 0.0) * nb::full({}, 300, {.dtype = nb::kI64});
  EXPECT_EQ(r.dtype(), nb::kI64);
  EXPECT_EQ(ints(r), (std::vector<int64_t>{0, 0, 300}));
  // A whole C++ scalar is PyTorch's int scalar: b * 2 is Long [2, 0, 2]; b * 2.5 Float.
  EXPECT_EQ((b3() * 2.0).dtype(), nb::kI64);
  EXPECT_EQ(ints(b3() * 300.0), (std::vector<int64_t>{300, 0, 300}));
  EXPECT_EQ((b3() * 2.5).dtype(), nb::kF32);
  EXPECT_EQ((b3() * 2.5).to_vector<double>(), (std::vector<double>{2.5, 0, 2.5}));
  EXPECT_EQ(ints(1.0 - b3()), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ((1.0 - b3()).dtype(), nb::kI64);
  EXPECT_EQ(ints(b3() - 1.0), (std::vector<int64_t>{0, -1, 0}));
}

TEST(BoolDtype, ArithmeticRulesAndErrors) {
  const Tensor a = b3(), b = b3b();
  // b + b2: Bool [1, 1, 1] (or); b * b2: Bool [1, 0, 0] (and).
  Tensor s = a + b, p = a * b;
  EXPECT_EQ(s.dtype(), nb::kBool);
  EXPECT_EQ(ints(s), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(p.dtype(), nb::kBool);
  EXPECT_EQ(ints(p), (std::vector<int64_t>{1, 0, 0}));
  // The bytes stay 0/1: (b + b2) == true everywhere, which a u8 sum of 2 would fail.
  EXPECT_EQ(ints(nb::eq(s, nb::ones({3}, {.dtype = nb::kBool}))), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_ERROR(a - b, "[sub]", "bool", "logical_xor");
  EXPECT_ERROR(-a, "[neg]", "bool", "logical_not");
  EXPECT_ERROR(nb::abs(a), "[abs]", "bool");
  EXPECT_ERROR(nb::pow(a, b), "[pow]", "bool");
  EXPECT_ERROR(nb::matmul(a.reshape({1, 3}), b.reshape({3, 1})), "[matmul]", "bool");
  // b / b2: Float [1, 0, inf].
  Tensor d = a / b;
  EXPECT_EQ(d.dtype(), nb::kF32);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1, 0, INFINITY}));
  // pow(b, 2) and square: Long [1, 0, 1]; exp(b) Float; sign(b) Bool.
  EXPECT_EQ(nb::pow(a, 2.0).dtype(), nb::kI64);
  EXPECT_EQ(nb::square(a).dtype(), nb::kI64);
  EXPECT_EQ(ints(nb::square(a)), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(nb::exp(a).dtype(), nb::kF32);
  EXPECT_NEAR(nb::exp(a).to_vector<double>()[0], std::exp(1.0), 1e-6);
  EXPECT_EQ(nb::sign(a).dtype(), nb::kBool);
  EXPECT_EQ(ints(nb::sign(a)), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(ints(nb::maximum(a, b)), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(ints(nb::minimum(a, b)), (std::vector<int64_t>{1, 0, 0}));
}

TEST(BoolDtype, InPlaceArithmetic) {
  // b.add_(b2): [1, 1, 1]; b.mul_(b2): [1, 0, 0]; b.add_(1) and b.sub_(b2) are errors.
  Tensor a = b3();
  a.add_(b3b());
  EXPECT_EQ(ints(a), (std::vector<int64_t>{1, 1, 1}));
  Tensor m = b3();
  m.mul_(b3b());
  EXPECT_EQ(ints(m), (std::vector<int64_t>{1, 0, 0}));
  Tensor c = b3();
  EXPECT_ERROR(c.add_(1.0), "add_", "i64", "bool");
  EXPECT_ERROR(c.sub_(b3b()), "sub", "logical_xor");
  EXPECT_EQ(ints(c), (std::vector<int64_t>{1, 0, 1}));  // untouched
  // f.add_(b): [-0.5, 0, 3]; u8.add_(b): [1, 2, 0].
  Tensor f = nb::from_vector<float>({-1.5f, 0.0f, 2.0f}, {3});
  f.add_(b3());
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{-0.5, 0, 3}));
  Tensor u = nb::from_vector<uint8_t>({0, 2, 255}, {3});
  u.add_(b3());
  EXPECT_EQ(u.dtype(), nb::kU8);
  EXPECT_EQ(ints(u), (std::vector<int64_t>{1, 2, 0}));
}

TEST(BoolDtype, ReductionsAndScans) {
  const Tensor a = b3();
  // sum: Long 2; cumsum: Long [1, 1, 2]; prod: Long 0; max Bool 1; min Bool 0; mean: error.
  EXPECT_EQ(nb::sum(a).dtype(), nb::kI64);
  EXPECT_EQ(nb::sum(a).item<int64_t>(), 2);
  EXPECT_EQ(nb::cumsum(a, 0).dtype(), nb::kI64);
  EXPECT_EQ(ints(nb::cumsum(a, 0)), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(nb::prod(a).dtype(), nb::kI64);
  EXPECT_EQ(nb::prod(a).item<int64_t>(), 0);
  EXPECT_EQ(nb::max(a).dtype(), nb::kBool);
  EXPECT_TRUE(nb::max(a).item<bool>());
  EXPECT_FALSE(nb::min(a).item<bool>());
  EXPECT_EQ(nb::argmax(a).item<int64_t>(), 0);
  EXPECT_EQ(nb::argmin(a).item<int64_t>(), 1);
  EXPECT_ERROR(nb::mean(a), "[mean]", "bool");
  // all/any give bool for every input dtype (PyTorch 1.13 keeps u8 for u8; see ops.h).
  Tensor u = nb::from_vector<uint8_t>({0, 2, 255}, {3});
  EXPECT_EQ(nb::any(u).dtype(), nb::kBool);
  EXPECT_TRUE(nb::any(u).item<bool>());
  EXPECT_FALSE(nb::all(u).item<bool>());
  EXPECT_EQ(nb::all(nb::from_vector<float>({NAN, 1.0f}, {2})).dtype(), nb::kBool);
  EXPECT_TRUE(nb::all(nb::from_vector<float>({NAN, 1.0f}, {2})).item<bool>());
}

TEST(BoolDtype, ConversionsNonZeroIsTrue) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor f = nb::from_vector<float>({nan, 0.0f, -0.0f, 0.5f, -2.0f, INFINITY}, {6});
  for (DType dt : {nb::kF32, nb::kF64, nb::kF16, nb::kBF16}) {
    SCOPED_TRACE(nb::dtype_name(dt));
    Tensor t = f.to(dt).to(nb::kBool);
    EXPECT_EQ(t.dtype(), nb::kBool);
    EXPECT_EQ(ints(t), (std::vector<int64_t>{1, 0, 0, 1, 1, 1}));
  }
  // torch.tensor([0, 2, 255], dtype=torch.uint8).to(torch.bool): [False, True, True].
  EXPECT_EQ(ints(nb::from_vector<uint8_t>({0, 2, 255}, {3}).to(nb::kBool)), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(ints(nb::from_vector<int64_t>({-1, 0, 256}, {3}).to(nb::kBool)), (std::vector<int64_t>{1, 0, 1}));
  // bool to numbers is 0/1.
  EXPECT_EQ(b3().to(nb::kF32).to_vector<double>(), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(b3().to(nb::kBF16).to_vector<double>(), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(ints(b3().to(nb::kI64)), (std::vector<int64_t>{1, 0, 1}));
  // copy_ into a bool tensor converts the same way, also into a strided view.
  Tensor dst = nb::zeros({2, 3}, {.dtype = nb::kBool});
  Tensor col = dst.t();
  col.copy_(nb::from_vector<double>({0.0, 3.0, -0.0, nan, 0.25, 0.0}, {3, 2}));
  EXPECT_EQ(ints(dst), (std::vector<int64_t>{0, 0, 1, 1, 1, 0}));
}

TEST(BoolDtype, Creation) {
  // torch.full((2,), 5, dtype=torch.bool): [True, True].
  EXPECT_EQ(ints(nb::full({2}, 5, {.dtype = nb::kBool})), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(ints(nb::full({2}, NAN, {.dtype = nb::kBool})), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(ints(nb::zeros({2}, {.dtype = nb::kBool})), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(ints(nb::ones({2}, {.dtype = nb::kBool})), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(nb::empty({4}, {.dtype = nb::kBool}).dtype(), nb::kBool);
  Tensor filled = nb::zeros({3}, {.dtype = nb::kBool});
  filled.fill_(-7);
  EXPECT_EQ(ints(filled), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(ints(nb::from_vector(std::vector<bool>{false, true}, {2})), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(nb::from_vector(std::vector<bool>{false, true}, {2}).dtype(), nb::kBool);
  Tensor from_bytes = nb::from_vector(std::vector<uint8_t>{0, 2, 1}, {3}, nb::kBool);
  EXPECT_EQ(ints(from_bytes), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(ints(nb::eye(2, {.dtype = nb::kBool})), (std::vector<int64_t>{1, 0, 0, 1}));
  EXPECT_EQ(nb::one_hot(nb::from_vector<int64_t>({1}, {1}), 3, nb::kBool).dtype(), nb::kBool);
  EXPECT_ERROR(nb::arange(0, 3, 1, nb::kBool), "[arange]", "bool");
  // item<bool>, data_ptr<bool>, and data_ptr<uint8_t> (the bytes, for code from before kBool).
  EXPECT_TRUE(nb::full({}, 1, {.dtype = nb::kBool}).item<bool>());
  EXPECT_FALSE(nb::zeros({}, {.dtype = nb::kBool}).item<bool>());
  Tensor t = b3();
  EXPECT_TRUE(t.data_ptr<bool>()[2]);
  EXPECT_EQ(t.data_ptr<uint8_t>()[1], 0);
  EXPECT_ERROR(t.data_ptr<float>(), "[data_ptr]", "bool");
}

TEST(BoolDtype, LogicalOpsMatchTruthTables) {
  // Every pair of {0, 1} (and a NaN and a -0.0, which count as true and false).
  const std::vector<double> xs = {0, 0, 1, 1, NAN, -0.0, 2};
  const std::vector<double> ys = {0, 1, 0, 1, 0, 1, -3};
  Tensor x = nb::from_vector(xs, {7}), y = nb::from_vector(ys, {7});
  std::vector<int64_t> want_and, want_or, want_xor, want_not;
  for (size_t i = 0; i < xs.size(); ++i) {
    const bool a = xs[i] != 0, b = ys[i] != 0;  // NaN != 0 is true, -0.0 != 0 false
    want_and.push_back(a && b);
    want_or.push_back(a || b);
    want_xor.push_back(a != b);
    want_not.push_back(!a);
  }
  EXPECT_EQ(nb::logical_and(x, y).dtype(), nb::kBool);
  EXPECT_EQ(ints(nb::logical_and(x, y)), want_and);
  EXPECT_EQ(ints(nb::logical_or(x, y)), want_or);
  EXPECT_EQ(ints(nb::logical_xor(x, y)), want_xor);
  EXPECT_EQ(ints(nb::logical_not(x)), want_not);
  // Mixed dtypes and broadcasting: logical_and(f32 [3], i64 0-d).
  EXPECT_EQ(ints(nb::logical_and(nb::from_vector<float>({-1.5f, 0, 2}, {3}), nb::full({}, 3, {.dtype = nb::kI64}))),
            (std::vector<int64_t>{1, 0, 1}));
  // The operators on bool: b & b2 [1,0,0], b | b2 [1,1,1], b ^ b2 [0,1,1], ~b [0,1,0].
  Tensor bx = x.to(nb::kBool), by = y.to(nb::kBool);
  EXPECT_EQ(ints(bx & by), want_and);
  EXPECT_EQ(ints(bx | by), want_or);
  EXPECT_EQ(ints(bx ^ by), want_xor);
  EXPECT_EQ(ints(~bx), want_not);
  EXPECT_ERROR(x & y, "[and]", "bool", "f64");
  EXPECT_ERROR(~x, "[not]", "bool");
}

TEST(BoolDtype, IsNanIsInfIsFiniteIsClose) {
  const std::vector<double> v = {1.0, NAN, INFINITY, -INFINITY, 0.0, 1e300};
  Tensor x = nb::from_vector(v, {6});
  for (DType dt : {nb::kF64, nb::kF32, nb::kF16}) {
    SCOPED_TRACE(nb::dtype_name(dt));
    Tensor t = x.to(dt);
    std::vector<double> tv = t.to_vector<double>();  // 1e300 is inf in f32 and f16
    std::vector<int64_t> nan, inf, fin;
    for (double e : tv) nan.push_back(std::isnan(e)), inf.push_back(std::isinf(e)), fin.push_back(std::isfinite(e));
    EXPECT_EQ(nb::isnan(t).dtype(), nb::kBool);
    EXPECT_EQ(ints(nb::isnan(t)), nan);
    EXPECT_EQ(ints(nb::isinf(t)), inf);
    EXPECT_EQ(nb::isfinite(t).dtype(), nb::kBool);
    EXPECT_EQ(ints(nb::isfinite(t)), fin);
  }
  // Integer and bool tensors: torch.isnan(i) all False, isinf(b) all False, isfinite(b) all True.
  EXPECT_EQ(ints(nb::isnan(nb::from_vector<int64_t>({-1, 0, 3}, {3}))), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(ints(nb::isinf(b3())), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(ints(nb::isfinite(b3())), (std::vector<int64_t>{1, 1, 1}));
  // isclose against its formula |a - b| <= atol + rtol |b| (or equal), NaN only with equal_nan.
  const std::vector<double> av = {1.0, 1.0, 100.0, NAN, INFINITY, INFINITY, 0.0};
  const std::vector<double> bv = {1.0 + 1e-6, 1.1, 100.001, NAN, INFINITY, -INFINITY, 1e-9};
  const double rtol = 1e-5, atol = 1e-8;
  std::vector<int64_t> want, want_nan;
  for (size_t i = 0; i < av.size(); ++i) {
    const bool close = av[i] == bv[i] || (std::isfinite(av[i] - bv[i]) && std::abs(av[i] - bv[i]) <= atol + rtol * std::abs(bv[i]));
    want.push_back(close);
    want_nan.push_back(close || (std::isnan(av[i]) && std::isnan(bv[i])));
  }
  // LibTorch 1.13's torch.isclose on these: [1, 0, 1, 0, 1, 0, 1], and [1, 0, 1, 1, 1, 0, 1] with
  // equal_nan: the formula above agrees.
  EXPECT_EQ(want, (std::vector<int64_t>{1, 0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(want_nan, (std::vector<int64_t>{1, 0, 1, 1, 1, 0, 1}));
  Tensor a = nb::from_vector(av, {7}), b = nb::from_vector(bv, {7});
  EXPECT_EQ(nb::isclose(a, b, rtol, atol).dtype(), nb::kBool);
  EXPECT_EQ(ints(nb::isclose(a, b, rtol, atol)), want);
  EXPECT_EQ(ints(nb::isclose(a, b, rtol, atol, /*equal_nan=*/true)), want_nan);
  // torch.isclose(f32, i64): "Float did not match Long".
  EXPECT_ERROR(nb::isclose(a, nb::zeros({7}, {.dtype = nb::kI64})), "[isclose]", "f64", "i64");
  EXPECT_EQ(ints(nb::isclose(b3(), b3b())), (std::vector<int64_t>{1, 0, 0}));
}

// Masks: a bool mask and the legacy u8 one (with a 2 in it, non-zero = true) select alike.
TEST(BoolDtype, BoolAndU8MasksGiveIdenticalResults) {
  Tensor x = nb::from_vector<float>({-1.5f, 0.0f, 2.0f, 4.0f, -3.0f, 7.0f}, {2, 3});
  Tensor u = nb::from_vector<uint8_t>({1, 0, 2}, {3});  // broadcast over rows
  Tensor b = nb::from_vector({true, false, true}, {3});
  const std::vector<double> fill_want = {9, 0, 9, 9, -3, 9};
  for (const Tensor& m : {b, u}) {
    SCOPED_TRACE(nb::dtype_name(m.dtype()));
    EXPECT_EQ(nb::masked_fill(x, m, 9.0).to_vector<double>(), fill_want);
    EXPECT_EQ(nb::where(m, x, nb::zeros({}, {})).to_vector<double>(), (std::vector<double>{-1.5, 0, 2, 4, 0, 7}));
    Tensor sel = nb::masked_select(x, m);
    EXPECT_EQ(sel.shape(), (nb::Shape{4}));
    EXPECT_EQ(sel.to_vector<double>(), (std::vector<double>{-1.5, 2, 4, 7}));
  }
  // masked_select(x, b): [-1.5, 2.0] with LibTorch 1.13 for x = [-1.5, 0, 2], b = [T, F, T].
  EXPECT_EQ(nb::masked_select(x.select(0, 0), b).to_vector<double>(), (std::vector<double>{-1.5, 2.0}));
  EXPECT_EQ(nb::masked_select(x, nb::zeros({2, 3}, {.dtype = nb::kBool})).shape(), (nb::Shape{0}));
  EXPECT_ERROR(nb::masked_fill(x, nb::ones({3}), 1.0), "[masked_fill]", "bool", "f32");
  EXPECT_ERROR(nb::where(nb::ones({3}), x, x), "[where]", "bool", "f32");
  EXPECT_ERROR(nb::masked_select(x, nb::ones({4}, {.dtype = nb::kBool})), "[masked_select]", "[2, 3]", "[4]");
}

TEST(BoolDtype, MaskedSelectGradientIsTheMask) {
  Tensor x = nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor m = nb::from_vector({true, false, true}, {3});  // broadcast: each row picks columns 0 and 2
  Tensor s = nb::masked_select(x, m);
  nb::sum(s * nb::from_vector<double>({1, 10, 100, 1000}, {4})).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 0, 10, 100, 0, 1000}));
}

TEST(BoolDtype, AttentionMasksBoolAndU8Agree) {
  nb::manual_seed(3);
  Tensor q = nb::randn({2, 3, 4}), k = nb::randn({2, 5, 4}), v = nb::randn({2, 5, 4});
  std::vector<uint8_t> keep(15);
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 7 + 1) % 3 != 0;
  Tensor mb = nb::from_vector(keep, {3, 5}, nb::kBool), mu = nb::from_vector(keep, {3, 5});
  Tensor ob = nb::scaled_dot_product_attention(q, k, v, {.attn_mask = mb});
  Tensor ou = nb::scaled_dot_product_attention(q, k, v, {.attn_mask = mu});
  EXPECT_EQ(ob.to_vector<double>(), ou.to_vector<double>());
  // is_causal builds its own (bool) mask: the same as passing tril(ones) of bool.
  Tensor causal = nb::tril(nb::ones({3, 5}, {.dtype = nb::kBool}));
  EXPECT_EQ(nb::scaled_dot_product_attention(q, k, v, {.is_causal = true}).to_vector<double>(),
            nb::scaled_dot_product_attention(q, k, v, {.attn_mask = causal}).to_vector<double>());

  nb::nn::MultiheadAttention mha(nb::nn::MultiheadAttentionOptions(4, 2).batch_first(true));
  Tensor pad_b = nb::from_vector({false, false, false, true, true, false, false, false, false, true}, {2, 5});
  Tensor pad_u = pad_b.to(nb::kU8);
  Tensor am_b = nb::from_vector(std::vector<uint8_t>(keep.begin(), keep.end()), {3, 5}, nb::kBool);
  am_b = nb::logical_not(am_b);  // MultiheadAttention's bool mask: true = not allowed
  auto [yb, wb] = mha(q, k, v, {.key_padding_mask = pad_b, .attn_mask = am_b});
  auto [yu, wu] = mha(q, k, v, {.key_padding_mask = pad_u, .attn_mask = am_b.to(nb::kU8)});
  EXPECT_EQ(yb.to_vector<double>(), yu.to_vector<double>());
  EXPECT_EQ(wb.to_vector<double>(), wu.to_vector<double>());
}

TEST(BoolDtype, Printing) {
  // LibTorch prints bool values as True/False ("tensor([ True, False])" in Python).
  const std::string s = nb::from_vector({true, false, true}, {3}).to_string();
  EXPECT_NE(s.find("[True, False, True]"), std::string::npos) << s;
  EXPECT_NE(s.find("dtype=bool"), std::string::npos) << s;
  EXPECT_NE(nb::ones({}, {.dtype = nb::kBool}).to_string().find("tensor(True"), std::string::npos);
  std::ostringstream os;
  os << nb::kBool;
  EXPECT_EQ(os.str(), "bool");
}

TEST(BoolDtype, ShapeAndIndexOpsCarryBool) {
  Tensor m = nb::from_vector({true, false, true, true, false, false}, {2, 3});
  for (const Tensor& t : {m.clone(), m.t().contiguous(), m.permute({1, 0}), m.reshape({3, 2}), m.view({6}),
                          nb::cat({m, m}, 0), nb::stack({m, m}, 0), nb::flip(m, {1}), m.unsqueeze(0),
                          nb::index_select(m, 1, nb::from_vector<int64_t>({2, 0}, {2})),
                          nb::gather(m, 1, nb::from_vector<int64_t>({1, 1, 0, 2}, {2, 2})), nb::tril(m)})
    EXPECT_EQ(t.dtype(), nb::kBool);
  EXPECT_EQ(ints(nb::cat({m, m}, 1)), (std::vector<int64_t>{1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0}));
  EXPECT_EQ(ints(nb::index_select(m, 1, nb::from_vector<int64_t>({2, 0}, {2}))), (std::vector<int64_t>{1, 1, 0, 1}));
  // scatter_add / index_add into bool: a logical or, never a 2 (nor a 0 after 256 additions).
  Tensor many = nb::ones({256}, {.dtype = nb::kBool});
  Tensor acc = nb::index_add(nb::zeros({1}, {.dtype = nb::kBool}), 0, nb::zeros({256}, {.dtype = nb::kI64}),
                             many.reshape({256}));
  EXPECT_EQ(acc.dtype(), nb::kBool);
  EXPECT_EQ(ints(acc), (std::vector<int64_t>{1}));
}

}  // namespace
