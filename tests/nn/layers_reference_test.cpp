// RMSNorm, PixelShuffle/Unshuffle, ChannelShuffle, Unfold, Fold, ConvTranspose1d, Bilinear, the
// padding layers, LocalResponseNorm and EmbeddingBag against LibTorch 1.13 (values in
// layers_reference_values.h, written by scripts/dev/layers_reference.cpp, f64; where LibTorch 1.13
// lacks the module the reference is built from its primitives, as said there). LibTorch's
// state_dict is loaded by name (strictly: the key sets must be equal), then the output, the input
// gradients and every parameter's gradient of sum(out * det(out.shape, 21)) are compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

#include "nn/helpers.h"
#include "nn/layers_reference_values.h"

namespace {

using namespace nabla;
using layers_ref::Case;
using layers_ref::NamedRef;
using layers_ref::Ref;

/// The reference program's deterministic values: scale * sin(0.37 i + 1.3 seed + 0.1), row-major.
Tensor det(const Shape& shape, double seed) {
  return sin(arange(0, double(shape_numel(shape)), 1, DType::f64) * 0.37 + (1.3 * seed + 0.1)).reshape(shape);
}
Tensor tensor_of(const Ref& r) { return from_vector<double>(r.values, r.shape); }
Tensor idx(const std::vector<int64_t>& v, Shape s = {}) {
  return from_vector<int64_t>(v, s.empty() ? Shape{int64_t(v.size())} : s);
}

/// A layer under test and how a case's floating inputs are fed to it.
struct Built {
  std::shared_ptr<nn::Module> module;
  std::function<Tensor(const TensorList&)> run;
};

template <typename M>
Built one(std::shared_ptr<M> m) {
  return {m, [m](const TensorList& x) { return (*m)(x[0]); }};
}

Built embedding_bag(nn::EmbeddingBagOptions o, bool two_d) {
  auto m = std::make_shared<nn::EmbeddingBag>(o);
  if (two_d) return {m, [m](const TensorList&) { return (*m)(idx({0, 2, 5, 2, 2, 2, 1, 1, 3}, {3, 3})); }};
  return {m, [m](const TensorList&) { return (*m)(idx({1, 3, 4, 0, 4, 2, 5, 7}), idx({0, 2, 2, 5})); }};
}

/// The nabla layer of each reference case, configured as the generator configures LibTorch's.
std::map<std::string, std::function<Built()>> builders() {
  using std::make_shared;
  std::map<std::string, std::function<Built()>> b = {
      {"rmsnorm_default_eps", [] { return one(make_shared<nn::RMSNorm>(nn::RMSNormOptions({4}))); }},
      {"rmsnorm_2d_shape_eps", [] { return one(make_shared<nn::RMSNorm>(nn::RMSNormOptions({3, 4}).eps(1e-3))); }},
      {"pixel_shuffle", [] { return one(make_shared<nn::PixelShuffle>(2)); }},
      {"pixel_unshuffle", [] { return one(make_shared<nn::PixelUnshuffle>(2)); }},
      {"channel_shuffle", [] { return one(make_shared<nn::ChannelShuffle>(3)); }},
      {"unfold",
       [] {
         return one(make_shared<nn::Unfold>(nn::UnfoldOptions({2, 3}).dilation({2, 1}).padding({1, 2}).stride({2, 1})));
       }},
      {"fold",
       [] {
         return one(make_shared<nn::Fold>(nn::FoldOptions({5, 6}, {2, 3}).dilation({2, 1}).padding({1, 2}).stride({2, 1})));
       }},
      {"conv_transpose1d",
       [] {
         return one(make_shared<nn::ConvTranspose1d>(
             nn::ConvTranspose1dOptions(4, 6, 3).stride(2).padding(1).output_padding(1).dilation(2).groups(2)));
       }},
      {"conv_transpose1d_no_bias",
       [] { return one(make_shared<nn::ConvTranspose1d>(nn::ConvTranspose1dOptions(3, 2, 4).bias(false))); }},
      {"zero_pad1d", [] { return one(make_shared<nn::ZeroPad1d>(nn::PadSize1d(2, 1))); }},
      {"zero_pad2d", [] { return one(make_shared<nn::ZeroPad2d>(nn::PadSize2d(1, 2, 0, 3))); }},
      {"constant_pad1d", [] { return one(make_shared<nn::ConstantPad1d>(nn::PadSize1d(2, 1), 3.5)); }},
      {"constant_pad2d_crop", [] { return one(make_shared<nn::ConstantPad2d>(nn::PadSize2d(1, -1, 2, 0), -1.0)); }},
      {"reflection_pad1d", [] { return one(make_shared<nn::ReflectionPad1d>(nn::PadSize1d(2, 3))); }},
      {"reflection_pad2d", [] { return one(make_shared<nn::ReflectionPad2d>(nn::PadSize2d(1, 2, 2, 0))); }},
      {"replication_pad1d", [] { return one(make_shared<nn::ReplicationPad1d>(nn::PadSize1d(3, 1))); }},
      {"replication_pad2d", [] { return one(make_shared<nn::ReplicationPad2d>(nn::PadSize2d(2, 0, 1, 3))); }},
      {"circular_pad1d", [] { return one(make_shared<nn::CircularPad1d>(nn::PadSize1d(3, 2))); }},
      {"circular_pad2d", [] { return one(make_shared<nn::CircularPad2d>(nn::PadSize2d(1, 2, 3, 0))); }},
      {"local_response_norm_3d",
       [] { return one(make_shared<nn::LocalResponseNorm>(nn::LocalResponseNormOptions(3).alpha(0.5))); }},
      {"local_response_norm_4d",
       [] { return one(make_shared<nn::LocalResponseNorm>(nn::LocalResponseNormOptions(4).alpha(0.3).beta(0.6).k(2.0))); }},
      {"local_response_norm_defaults", [] { return one(make_shared<nn::LocalResponseNorm>(nn::LocalResponseNormOptions(2))); }},
      {"embedding_bag_sum_per_sample_weights_last_offset",
       [] {
         auto m = make_shared<nn::EmbeddingBag>(
             nn::EmbeddingBagOptions(6, 2).mode(EmbeddingBagMode::Sum).include_last_offset(true));
         return Built{m, [m](const TensorList& x) { return (*m)(idx({4, 0, 4, 1, 3}), idx({0, 3, 5}), x[0]); }};
       }},
  };
  for (auto [mode, name] : {std::pair{EmbeddingBagMode::Sum, "sum"}, std::pair{EmbeddingBagMode::Mean, "mean"},
                            std::pair{EmbeddingBagMode::Max, "max"}}) {
    const EmbeddingBagMode md = mode;
    b[std::string("embedding_bag_offsets_") + name] = [md] {
      return embedding_bag(nn::EmbeddingBagOptions(8, 3).mode(md), false);
    };
    b[std::string("embedding_bag_2d_padding_idx_") + name] = [md] {
      return embedding_bag(nn::EmbeddingBagOptions(8, 2).mode(md).padding_idx(2), true);
    };
  }
  b["bilinear"] = [] {
    auto m = make_shared<nn::Bilinear>(nn::BilinearOptions(4, 3, 5));
    return Built{m, [m](const TensorList& x) { return (*m)(x[0], x[1]); }};
  };
  b["bilinear_no_bias"] = [] {
    auto m = make_shared<nn::Bilinear>(nn::BilinearOptions(2, 3, 4).bias(false));
    return Built{m, [m](const TensorList& x) { return (*m)(x[0], x[1]); }};
  };
  return b;
}

/// Max |got - ref|, after checking the shape; fails above tol (1 + |ref|) per element.
double expect_near(const Tensor& t, const Ref& ref, const std::string& what, double tol = 1e-12) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(t.defined());
  if (!t.defined()) return INFINITY;
  EXPECT_EQ(t.shape(), Shape(ref.shape));
  const std::vector<double> got = t.contiguous().to_double_vector();
  EXPECT_EQ(got.size(), ref.values.size());
  if (got.size() != ref.values.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - ref.values[i]);
    worst = std::max(worst, d);
    EXPECT_LE(d, tol * (1 + std::abs(ref.values[i]))) << "element " << i << ": " << got[i] << " vs " << ref.values[i];
  }
  return worst;
}

class LayersLibTorch : public ::testing::TestWithParam<Case> {};

TEST(LayersReference, EveryCaseHasALayerAndViceVersa) {
  const auto b = builders();
  EXPECT_EQ(layers_ref::kCases.size(), 31u);
  EXPECT_EQ(b.size(), layers_ref::kCases.size());
  for (const Case& c : layers_ref::kCases) EXPECT_TRUE(b.count(c.name)) << c.name;
}

TEST(LayersReference, InputsAreTheGeneratorsPatterns) {
  // The tables print every floating input; spot-check that they are det() (so the literals the
  // test writes for index inputs and the generator's agree in kind too).
  const Case& c = layers_ref::kCases.front();
  ASSERT_EQ(c.name, "rmsnorm_default_eps");
  EXPECT_TRUE(allclose(tensor_of(c.inputs[0]), det({2, 3, 4}, 1), 0, 1e-15));
}

TEST_P(LayersLibTorch, Matches) {
  const Case& c = GetParam();
  const auto all = builders();
  auto it = all.find(c.name);
  ASSERT_NE(it, all.end()) << "no nabla layer for case " << c.name;
  Built b = it->second();
  ASSERT_TRUE(b.module);
  b.module->to(DType::f64);
  nn::StateDict sd;
  for (const NamedRef& p : c.params) sd.insert(p.name, tensor_of(p.ref));
  const nn::LoadStateDictResult r = b.module->load_state_dict(sd, /*strict=*/true);
  ASSERT_TRUE(r.ok()) << r.to_string();
  ASSERT_EQ(b.module->state_dict().size(), c.params.size());

  TensorList x;
  for (const Ref& in : c.inputs) x.push_back(tensor_of(in).requires_grad_());
  Tensor out = b.run(x);
  const double out_diff = expect_near(out, c.out, "output");
  sum(out * det(out.shape(), 21)).backward();
  double grad_diff = 0;
  ASSERT_EQ(c.input_grads.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i)
    grad_diff = std::max(grad_diff, expect_near(x[i].grad(), c.input_grads[i], "grad of input " + std::to_string(i)));
  const auto named = b.module->named_parameters();
  ASSERT_EQ(named.size(), c.param_grads.size());
  for (const NamedRef& g : c.param_grads) {
    auto p = std::find_if(named.begin(), named.end(), [&](const auto& n) { return n.first == g.name; });
    ASSERT_NE(p, named.end()) << g.name;
    grad_diff = std::max(grad_diff, expect_near(p->second.grad(), g.ref, "grad of " + g.name));
  }
  std::printf("[ LibTorch ] %s: max |diff| output %.3g, gradients %.3g\n", c.name.c_str(), out_diff, grad_diff);
}

INSTANTIATE_TEST_SUITE_P(Cases, LayersLibTorch, ::testing::ValuesIn(layers_ref::kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
