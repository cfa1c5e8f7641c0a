// The shared checks every op-table row goes through (rows live in op_table_*.cpp):
//   OpForward   values vs the row's f64 reference, f64 and f32, on contiguous, transposed and
//               strided-slice inputs, for the main case, extra cases and broadcast pairs;
//   OpGradcheck finite differences in f64 on the same inputs;
//   OpGradGrad  gradgradcheck on the main case (rows that ask for it).
#include "ops/op_table.h"

namespace optest {
namespace {

const nabla::GradcheckOptions kGradcheck{.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3};

void expect_close(const Tensor& out, const Arr& want, double atol, double rtol) {
  ASSERT_TRUE(out.defined());
  ASSERT_EQ(nabla::shape_str(out.shape()), nabla::shape_str(want.shape));
  std::vector<double> got = out.to_vector<double>();
  ASSERT_EQ(got.size(), want.v.size());
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    double g = got[i], w = want.v[i];
    bool ok = (std::isnan(g) && std::isnan(w)) || g == w || std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "element " << i << " (index " << nabla::shape_str(unravel(want.shape, int64_t(i)))
                    << "): got " << g << ", expected " << w << " (diff " << std::abs(g - w) << ")";
    }
  }
}

}  // namespace

TEST_P(OpForward, Check) {
  const OpRow& r = GetParam();
  auto cases = row_cases(r);
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    for (DType dt : {DType::f64, DType::f32}) {
      if (dt == DType::f32 && !r.f32) continue;
      for (Layout layout : kLayouts) {
        bool changed = false;
        TensorList in = make_inputs(cases[ci], seed_of(r.name, ci), dt, layout, &changed);
        if (layout != Layout::Contiguous && !changed) continue;
        SCOPED_TRACE(describe(cases[ci], dt, layout));
        std::vector<Arr> ain;
        for (const Tensor& t : in) ain.push_back(arr_of(t));
        Arr want = r.ref(ain);
        Tensor out = r.fn(in);
        if (out.is_floating_point()) {
          bool any_float = false;
          for (const Tensor& t : in) any_float = any_float || t.is_floating_point();
          if (any_float) {
            EXPECT_EQ(out.dtype(), dt) << "floating output dtype";
          }
        }
        if (dt == DType::f64)
          expect_close(out, want, r.atol, r.rtol);
        else
          expect_close(out, want, r.atol32, r.rtol32);
      }
    }
  }
}

TEST_P(OpGradcheck, Check) {
  const OpRow& r = GetParam();
  auto cases = row_cases(r);
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    for (Layout layout : kLayouts) {
      bool changed = false;
      TensorList in = make_inputs(cases[ci], seed_of(r.name, ci), DType::f64, layout, &changed);
      if (layout != Layout::Contiguous && !changed) continue;
      SCOPED_TRACE(describe(cases[ci], DType::f64, layout));
      Tensor probe = r.fn(in);
      EXPECT_TRUE(probe.requires_grad()) << "output does not require grad";
      try {
        EXPECT_TRUE(nabla::gradcheck(r.fn, in, kGradcheck));
      } catch (const nabla::Error& e) {
        ADD_FAILURE() << e.what();
      }
    }
  }
}

TEST_P(OpGradGrad, Check) {
  const OpRow& r = GetParam();
  nabla::manual_seed(seed_of(r.name, 99));
  bool changed = false;
  TensorList in = make_inputs(r.inputs, seed_of(r.name, 0), DType::f64, Layout::Contiguous, &changed);
  try {
    EXPECT_TRUE(nabla::gradgradcheck(r.fn, in, kGradcheck));
  } catch (const nabla::Error& e) {
    ADD_FAILURE() << e.what();
  }
}

}  // namespace optest
