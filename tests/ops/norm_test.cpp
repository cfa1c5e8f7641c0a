// batch_norm and layer_norm: forward values against the references of reference_conv.h,
// batch_norm's running statistics against the textbook update
// (1 - m) * running + m * batch (variance unbiased), eval mode, gradcheck and gradgradcheck
// in f64 with and without affine parameters, and error messages.
#include <gtest/gtest.h>

#include "ops/reference_conv.h"

namespace convref {
namespace {

namespace nb = nabla;
using nb::Tensor;
using nb::TensorList;

const Shape kBatchNormShapes[] = {{2, 3, 2, 3}, {5, 3}, {1, 2, 3, 3}, {4, 2, 3}};

std::string shape_name(const Shape& s) { return nb::shape_str(s); }

void expect_vec_near(const Tensor& t, const std::vector<double>& ref, double tol, const std::string& what) {
  expect_close(t, Ref({int64_t(ref.size())}, ref), tol, tol, what);
}

TEST(NormTestBatchNorm, TrainingNormalizesAndUpdatesRunningStats) {
  for (const Shape& xs : kBatchNormShapes) {
    for (bool affine : {true, false}) {
      SCOPED_TRACE(shape_name(xs) + (affine ? " affine" : " no affine"));
      const int64_t C = xs[1];
      const double momentum = 0.3, eps = 1e-5;
      std::vector<double> w = affine ? random_values(C, 301, 0.5, 1.5) : std::vector<double>{};
      std::vector<double> b = affine ? random_values(C, 302) : std::vector<double>{};
      std::vector<double> rm = random_values(C, 303), rv = random_values(C, 304, 0.5, 1.5);
      Tensor rm_t = tensor_of(rm, false), rv_t = tensor_of(rv, false);
      // Two steps, so the exponential average is checked beyond its first update.
      for (int step = 0; step < 2; ++step) {
        Ref x = random_ref(xs, 310 + uint64_t(step), -2, 3);
        BatchNormRef ref = batch_norm_train(x, w, b, eps);
        Tensor y = nb::batch_norm(tensor_of(x, false), rm_t, rv_t, affine ? tensor_of(w, false) : Tensor(),
                                  affine ? tensor_of(b, false) : Tensor(), true, momentum, eps);
        expect_close(y, ref.out, 1e-12, 1e-10, "output");
        for (int64_t c = 0; c < C; ++c) {
          rm[size_t(c)] = (1 - momentum) * rm[size_t(c)] + momentum * ref.mean[size_t(c)];
          rv[size_t(c)] = (1 - momentum) * rv[size_t(c)] + momentum * ref.var_unbiased[size_t(c)];
        }
        expect_vec_near(rm_t, rm, 1e-13, "running_mean after step " + std::to_string(step));
        expect_vec_near(rv_t, rv, 1e-13, "running_var after step " + std::to_string(step));
      }
      // Output normalized per channel (without affine): mean 0, biased variance 1 - eps-ish.
      if (!affine) {
        Ref x = random_ref(xs, 320, -2, 3);
        Tensor y = nb::batch_norm(tensor_of(x, false), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-12);
        Shape dims{0};
        for (int64_t d = 2; d < int64_t(xs.size()); ++d) dims.push_back(d);
        expect_vec_near(nb::mean(y, dims), std::vector<double>(size_t(C), 0.0), 1e-12, "per-channel mean");
        expect_vec_near(nb::var(y, dims, false, 0), std::vector<double>(size_t(C), 1.0), 1e-9, "per-channel variance");
      }
    }
  }
}

TEST(NormTestBatchNorm, DefaultMomentumAndF32) {
  Ref x = random_ref({3, 2, 2, 2}, 330);
  BatchNormRef ref = batch_norm_train(x, {}, {}, 1e-5);
  Tensor rm = nb::zeros({2}), rv = nb::ones({2});
  Tensor y = nb::batch_norm(tensor_of(x, false, nb::DType::f32), rm, rv, Tensor(), Tensor(), true);
  EXPECT_EQ(y.dtype(), nb::DType::f32);
  expect_close(y, ref.out, 1e-5, 1e-5, "f32 output");
  std::vector<double> em, ev;
  for (size_t c = 0; c < 2; ++c) {
    em.push_back(0.1 * ref.mean[c]);
    ev.push_back(0.9 + 0.1 * ref.var_unbiased[c]);
  }
  expect_vec_near(rm, em, 1e-6, "running_mean (momentum 0.1)");
  expect_vec_near(rv, ev, 1e-6, "running_var (momentum 0.1)");
}

// Running averages in another dtype than x, or a strided view, are updated through a copy;
// every update bumps the version counter as an in-place op does.
TEST(NormTestBatchNorm, RunningStatsOfOtherDtypeOrStridedAreUpdated) {
  Ref x = random_ref({4, 3, 2, 2}, 370);
  BatchNormRef ref = batch_norm_train(x, {}, {}, 1e-5);
  std::vector<double> em, ev;
  for (size_t c = 0; c < 3; ++c) {
    em.push_back(0.5 * ref.mean[c]);
    ev.push_back(0.5 + 0.5 * ref.var_unbiased[c]);
  }
  Tensor rm = nb::zeros({3}, {.dtype = nb::DType::f64});            // f64 stats, f32 input
  Tensor rv_store = nb::ones({3, 2}, {.dtype = nb::DType::f32});
  Tensor rv = rv_store.select(1, 0);                                 // strided view [3], stride 2
  const uint64_t v_m = rm.version(), v_v = rv.version();
  Tensor x32 = tensor_of(x, false, nb::DType::f32);
  nb::batch_norm(x32, rm, rv, Tensor(), Tensor(), true, 0.5, 1e-5);
  EXPECT_EQ(rm.dtype(), nb::DType::f64);
  expect_vec_near(rm, em, 1e-6, "f64 running_mean from an f32 input");
  // The f64 average is not rounded to f32 on the way: it equals the one an f64 input of the
  // same (f32-representable) values gives, to the last bits.
  Tensor rm_ref = nb::zeros({3}, {.dtype = nb::DType::f64});
  nb::batch_norm(x32.to(nb::DType::f64), rm_ref, Tensor(), Tensor(), Tensor(), true, 0.5, 1e-5);
  expect_close(rm, Ref({3}, rm_ref.to_double_vector()), 1e-15, 1e-15, "f64 running_mean keeps f64 precision");
  expect_vec_near(rv, ev, 1e-6, "strided running_var");
  expect_vec_near(rv_store.select(1, 1), {1, 1, 1}, 0, "the other column of the strided storage");
  EXPECT_GT(rm.version(), v_m);
  EXPECT_GT(rv.version(), v_v);
  Tensor rm64 = nb::zeros({3}, {.dtype = nb::DType::f64});  // same dtype: updated in place
  const uint64_t v64 = rm64.version();
  nb::batch_norm(tensor_of(x, false), rm64, Tensor(), Tensor(), Tensor(), true, 0.5, 1e-5);
  expect_vec_near(rm64, em, 1e-13, "in-place running_mean");
  EXPECT_GT(rm64.version(), v64);
  EXPECT_STREQ(rm64.storage()->last_writer, "batch_norm") << "updated in place, not through a copy_";
}

TEST(NormTestBatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  for (const Shape& xs : kBatchNormShapes) {
    for (bool affine : {true, false}) {
      SCOPED_TRACE(shape_name(xs) + (affine ? " affine" : " no affine"));
      const int64_t C = xs[1];
      std::vector<double> w = affine ? random_values(C, 341, 0.5, 1.5) : std::vector<double>{};
      std::vector<double> b = affine ? random_values(C, 342) : std::vector<double>{};
      std::vector<double> rm = random_values(C, 343), rv = random_values(C, 344, 0.5, 1.5);
      Ref x = random_ref(xs, 345);
      Tensor rm_t = tensor_of(rm, false), rv_t = tensor_of(rv, false);
      Tensor y = nb::batch_norm(tensor_of(x, false), rm_t, rv_t, affine ? tensor_of(w, false) : Tensor(),
                                affine ? tensor_of(b, false) : Tensor(), false, 0.3, 1e-3);
      expect_close(y, batch_norm_eval(x, rm, rv, w, b, 1e-3), 1e-12, 1e-12, "eval output");
      expect_vec_near(rm_t, rm, 0, "running_mean unchanged");
      expect_vec_near(rv_t, rv, 0, "running_var unchanged");
    }
  }
  // Eval works with one value per channel (training cannot).
  Ref x1 = random_ref({1, 2}, 346);
  Tensor y1 = nb::batch_norm(tensor_of(x1, false), nb::zeros({2}, {.dtype = nb::DType::f64}),
                             nb::ones({2}, {.dtype = nb::DType::f64}), Tensor(), Tensor(), false, 0.1, 0.0 + 1e-5);
  expect_close(y1, batch_norm_eval(x1, {0, 0}, {1, 1}, {}, {}, 1e-5), 1e-12, 1e-12, "eval [1, C]");
}

TEST(NormTestBatchNorm, Gradcheck) {
  for (const Shape& xs : kBatchNormShapes) {
    for (bool training : {true, false}) {
      for (bool affine : {true, false}) {
        SCOPED_TRACE(shape_name(xs) + (training ? " training" : " eval") + (affine ? " affine" : " no affine"));
        const int64_t C = xs[1];
        Tensor rm = tensor_of(random_values(C, 351), false), rv = tensor_of(random_values(C, 352, 0.5, 1.5), false);
        TensorList args{tensor_of(random_ref(xs, 353, -2, 2)),
                        affine ? tensor_of(random_values(C, 354, 0.5, 1.5)) : Tensor(),
                        affine ? tensor_of(random_values(C, 355)) : Tensor()};
        EXPECT_TRUE(nb::gradcheck(
            [&](const TensorList& a) { return nb::batch_norm(a[0], rm, rv, a[1], a[2], training, 0.1, 1e-5); }, args,
            kGradOpts));
      }
    }
  }
}

TEST(NormTestBatchNorm, GradGradcheck) {
  for (const Shape& xs : {Shape{2, 2, 2, 2}, Shape{4, 3}}) {
    for (bool training : {true, false}) {
      for (bool affine : {true, false}) {
        SCOPED_TRACE(shape_name(xs) + (training ? " training" : " eval") + (affine ? " affine" : " no affine"));
        const int64_t C = xs[1];
        Tensor rm = tensor_of(random_values(C, 361), false), rv = tensor_of(random_values(C, 362, 0.5, 1.5), false);
        TensorList args{tensor_of(random_ref(xs, 363, -2, 2)),
                        affine ? tensor_of(random_values(C, 364, 0.5, 1.5)) : Tensor(),
                        affine ? tensor_of(random_values(C, 365)) : Tensor()};
        EXPECT_TRUE(nb::gradgradcheck(
            [&](const TensorList& a) { return nb::batch_norm(a[0], rm, rv, a[1], a[2], training, 0.1, 1e-5); }, args,
            kGradOpts));
      }
    }
  }
}

// A first-order backward runs batch_norm's fused backend kernel; a recorded one (create_graph)
// runs the composed VJP. Both must give the same gradients, for every subset of inputs that
// needs them, in f64 and in f32 with a mean far from zero (where folding constants could cancel).
TEST(NormTestBatchNorm, FusedBackwardMatchesTheComposedVjp) {
  for (nb::DType dt : {nb::DType::f64, nb::DType::f32}) {
    for (int mask = 1; mask < 8; ++mask) {
      const bool nx = mask & 1, nw = mask & 2, nb_ = mask & 4;
      SCOPED_TRACE(std::string(dt == nb::DType::f64 ? "f64" : "f32") + " x " + std::to_string(nx) + " w " +
                   std::to_string(nw) + " b " + std::to_string(nb_));
      Tensor x = (tensor_of(random_ref({4, 3, 5, 2}, 381, -2, 2), false) + 100.0).to(dt).requires_grad_(nx);
      Tensor w = tensor_of(random_values(3, 382, 0.5, 1.5), false).to(dt).requires_grad_(nw);
      Tensor b = tensor_of(random_values(3, 383), false).to(dt).requires_grad_(nb_);
      Tensor go = tensor_of(random_ref({4, 3, 5, 2}, 384, -1, 1), false).to(dt);
      TensorList inputs;
      for (const Tensor& t : {x, w, b})
        if (t.requires_grad()) inputs.push_back(t);
      Tensor y = nb::batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5);
      TensorList fused = nb::grad({y}, inputs, {go}, /*retain_graph=*/true, /*create_graph=*/false);
      TensorList composed = nb::grad({y}, inputs, {go}, true, /*create_graph=*/true);
      const double tol = dt == nb::DType::f64 ? 1e-12 : 2e-4;
      for (size_t i = 0; i < inputs.size(); ++i) {
        ASSERT_EQ(fused[i].dtype(), dt);
        std::vector<double> f = fused[i].to_double_vector(), c = composed[i].to_double_vector();
        ASSERT_EQ(f.size(), c.size());
        for (size_t k = 0; k < f.size(); ++k)
          ASSERT_NEAR(f[k], c[k], tol * std::max(1.0, std::abs(c[k]))) << "gradient " << i << " element " << k;
      }
    }
  }
}

TEST(NormTestBatchNorm, NonContiguousInput) {
  Ref x = random_ref({3, 2, 2, 3}, 371);
  Tensor xt = noncontiguous_of(x, 0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  expect_close(nb::batch_norm(xt, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
               batch_norm_train(x, {}, {}, 1e-5).out, 1e-12, 1e-10, "non-contiguous batch_norm");
  EXPECT_TRUE(nb::gradcheck(
      [&](const TensorList& a) { return nb::batch_norm(a[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5); },
      {xt}, kGradOpts));
}

TEST(NormTestBatchNorm, ErrorsNameOpAndShapes) {
  Tensor x = nb::zeros({2, 3, 4, 4}, {.dtype = nb::DType::f64});
  auto v = [](int64_t n) { return nb::ones({n}, {.dtype = nb::DType::f64}); };
  expect_error([&] { nb::batch_norm(x, Tensor(), Tensor(), v(2), Tensor(), true); },
               {"[batch_norm]", "weight", "[2]", "[2, 3, 4, 4]"}, "weight shape");
  expect_error([&] { nb::batch_norm(x, Tensor(), Tensor(), Tensor(), v(4), true); },
               {"[batch_norm]", "bias", "[4]", "[2, 3, 4, 4]"}, "bias shape");
  expect_error([&] { nb::batch_norm(x, v(2), v(3), Tensor(), Tensor(), true); },
               {"[batch_norm]", "running_mean", "[2]", "[2, 3, 4, 4]"}, "running_mean shape");
  expect_error([&] { nb::batch_norm(x, v(3), v(5), Tensor(), Tensor(), false); },
               {"[batch_norm]", "running_var", "[5]"}, "running_var shape");
  expect_error([&] { nb::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); },
               {"[batch_norm]", "running"}, "eval without running stats");
  expect_error([&] { nb::batch_norm(nb::zeros({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {"[batch_norm]", "[1, 3, 1, 1]"}, "one value per channel in training");
  expect_error([&] { nb::batch_norm(nb::zeros({3}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {"[batch_norm]", "[3]"}, "1-D input");
}

// ---- layer_norm -------------------------------------------------------------------------------

struct LayerNormCase {
  Shape x, normalized;
  bool weight, bias;
};

const LayerNormCase kLayerNormCases[] = {
    {{2, 3, 4}, {4}, true, true},  {{2, 3, 4}, {4}, false, false}, {{2, 3, 4}, {3, 4}, true, true},
    {{2, 3, 4}, {3, 4}, true, false}, {{2, 3, 4}, {3, 4}, false, true}, {{5}, {5}, true, true},
    {{1, 2, 3}, {2, 3}, false, false},
};

std::string ln_name(const LayerNormCase& c) {
  return "x " + nb::shape_str(c.x) + " normalized " + nb::shape_str(c.normalized) + (c.weight ? " weight" : "") +
         (c.bias ? " bias" : "");
}

TEST(NormTestLayerNorm, ForwardMatchesReference) {
  for (const LayerNormCase& c : kLayerNormCases) {
    SCOPED_TRACE(ln_name(c));
    int64_t D = 1;
    for (int64_t d : c.normalized) D *= d;
    Ref x = random_ref(c.x, 401, -2, 3);
    Ref w = random_ref(c.normalized, 402, 0.5, 1.5), b = random_ref(c.normalized, 403);
    Ref ref = layer_norm(x, D, c.weight ? w.v : std::vector<double>{}, c.bias ? b.v : std::vector<double>{}, 1e-5);
    for (nb::DType dt : {nb::DType::f64, nb::DType::f32}) {
      Tensor y = nb::layer_norm(tensor_of(x, false, dt), c.normalized, c.weight ? tensor_of(w, false, dt) : Tensor(),
                                c.bias ? tensor_of(b, false, dt) : Tensor(), 1e-5);
      const bool f64 = dt == nb::DType::f64;
      expect_close(y, ref, f64 ? 1e-12 : 1e-5, f64 ? 1e-10 : 1e-5, f64 ? "f64" : "f32");
    }
  }
}

TEST(NormTestLayerNorm, Gradcheck) {
  for (const LayerNormCase& c : kLayerNormCases) {
    SCOPED_TRACE(ln_name(c));
    TensorList args{tensor_of(random_ref(c.x, 411, -2, 2)),
                    c.weight ? tensor_of(random_ref(c.normalized, 412, 0.5, 1.5)) : Tensor(),
                    c.bias ? tensor_of(random_ref(c.normalized, 413)) : Tensor()};
    Shape ns = c.normalized;
    EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::layer_norm(a[0], ns, a[1], a[2], 1e-5); }, args,
                              kGradOpts));
  }
  // Non-contiguous input.
  Tensor xt = noncontiguous_of(random_ref({3, 2, 4}, 414), 0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(nb::gradcheck([&](const TensorList& a) { return nb::layer_norm(a[0], {4}); }, {xt}, kGradOpts));
}

TEST(NormTestLayerNorm, GradGradcheck) {
  const LayerNormCase cases[] = {{{2, 3}, {3}, true, true}, {{2, 2, 3}, {2, 3}, false, false},
                                 {{1, 2, 2}, {2, 2}, true, false}};
  for (const LayerNormCase& c : cases) {
    SCOPED_TRACE(ln_name(c));
    TensorList args{tensor_of(random_ref(c.x, 421, -2, 2)),
                    c.weight ? tensor_of(random_ref(c.normalized, 422, 0.5, 1.5)) : Tensor(),
                    c.bias ? tensor_of(random_ref(c.normalized, 423)) : Tensor()};
    Shape ns = c.normalized;
    EXPECT_TRUE(nb::gradgradcheck([&](const TensorList& a) { return nb::layer_norm(a[0], ns, a[1], a[2], 1e-5); },
                                  args, kGradOpts));
  }
}

TEST(NormTestLayerNorm, ErrorsNameOpAndShapes) {
  Tensor x = nb::zeros({2, 3, 4}, {.dtype = nb::DType::f64});
  expect_error([&] { nb::layer_norm(x, {3}); }, {"[layer_norm]", "[2, 3, 4]", "[3]"}, "normalized_shape mismatch");
  expect_error([&] { nb::layer_norm(x, {1, 2, 3, 4}); }, {"[layer_norm]", "[2, 3, 4]", "[1, 2, 3, 4]"},
               "normalized_shape longer than input");
  expect_error([&] { nb::layer_norm(x, {3, 4}, nb::ones({4}, {.dtype = nb::DType::f64})); },
               {"[layer_norm]", "weight", "[4]", "[3, 4]"}, "weight shape");
  expect_error([&] { nb::layer_norm(x, {4}, Tensor(), nb::ones({3}, {.dtype = nb::DType::f64})); },
               {"[layer_norm]", "bias", "[3]", "[4]"}, "bias shape");
}

}  // namespace
}  // namespace convref
