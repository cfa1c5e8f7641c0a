// Module hooks: forward pre-hooks and forward hooks (order, replacement, removal), full backward
// (pre-)hooks against analytic gradients, hooks inside containers and through the fused
// Linear/Conv2d + ReLU paths, feature extraction from a small CNN, and the modules that refuse hooks.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

namespace {

Tensor randn64(const Shape& s) { return randn(s, {.dtype = kF64}); }

/// Max |a - b|.
double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  return max(abs(a - b)).item<double>();
}

std::shared_ptr<nn::Linear> linear64(int64_t in, int64_t out) {
  auto l = std::make_shared<nn::Linear>(in, out);
  l->to(kF64);
  return l;
}

}  // namespace

TEST(ModuleHooks, ForwardHooksRunInRegistrationOrderAroundForward) {
  manual_seed(1);
  auto fc = linear64(3, 2);
  std::vector<std::string> order;
  auto h1 = fc->register_forward_pre_hook([&](nn::Module& m, const Tensor&) {
    EXPECT_EQ(&m, fc.get());
    order.push_back("pre1");
  });
  auto h2 = fc->register_forward_pre_hook([&](nn::Module&, const Tensor&) { order.push_back("pre2"); });
  auto h3 = fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("fwd1"); });
  auto h4 = fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("fwd2"); });
  Tensor x = randn64({4, 3});
  Tensor y = (*fc)(x);
  EXPECT_EQ(order, (std::vector<std::string>{"pre1", "pre2", "fwd1", "fwd2"}));
  // Returning nothing keeps the values.
  EXPECT_TRUE(bitwise_equal(y, linear(x, fc->weight, fc->bias)));
  EXPECT_TRUE(fc->has_hooks());
}

TEST(ModuleHooks, ReturnedTensorsReplaceInputAndOutputInChain) {
  manual_seed(2);
  auto fc = linear64(3, 2);
  Tensor seen_by_forward_hook, seen_output;
  fc->register_forward_pre_hook([](nn::Module&, const Tensor& x) { return x * 2.0; });
  fc->register_forward_pre_hook([](nn::Module&, const Tensor&) -> std::optional<Tensor> { return std::nullopt; });
  fc->register_forward_pre_hook([](nn::Module&, const Tensor& x) { return x + 1.0; });  // sees 2x
  fc->register_forward_hook([&](nn::Module&, const Tensor& in, const Tensor& out) {
    seen_by_forward_hook = in;
    return out * 3.0;
  });
  fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) -> std::optional<Tensor> {
    seen_output = out;  // the first hook's replacement
    return out - 1.0;
  });
  fc->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });  // keep
  Tensor x = randn64({4, 3});
  Tensor y = (*fc)(x);
  Tensor in = x * 2.0 + 1.0;
  EXPECT_TRUE(bitwise_equal(seen_by_forward_hook, in));
  EXPECT_TRUE(bitwise_equal(seen_output, linear(in, fc->weight, fc->bias) * 3.0));
  EXPECT_TRUE(bitwise_equal(y, linear(in, fc->weight, fc->bias) * 3.0 - 1.0));
}

TEST(ModuleHooks, RemoveIsIdempotentAndSafeAfterTheModuleIsGone) {
  auto fc = linear64(3, 2);
  int calls = 0;
  auto h = fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
  auto keep = fc->register_forward_pre_hook([&](nn::Module&, const Tensor&) { ++calls; });
  Tensor x = randn64({1, 3});
  (*fc)(x);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(h.active());
  h.remove();
  EXPECT_FALSE(h.active());
  h.remove();  // again: nothing
  (*fc)(x);
  EXPECT_EQ(calls, 3);  // only the pre-hook
  keep.remove();
  EXPECT_FALSE(fc->has_hooks());
  (*fc)(x);
  EXPECT_EQ(calls, 3);

  nn::RemovableHandle late;
  {
    nn::Linear tmp(2, 2);
    late = tmp.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
    EXPECT_TRUE(late.active());
  }
  EXPECT_FALSE(late.active());
  late.remove();  // the module is gone: nothing happens
  late.remove();
  nn::RemovableHandle empty;
  empty.remove();
  EXPECT_FALSE(empty.active());
}

TEST(ModuleHooks, AHookThatRemovesItselfFinishesTheCurrentCall) {
  auto fc = linear64(3, 2);
  std::vector<int> calls;
  nn::RemovableHandle h1;
  h1 = fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) {
    calls.push_back(1);
    h1.remove();
  });
  fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { calls.push_back(2); });
  Tensor x = randn64({1, 3});
  (*fc)(x);
  (*fc)(x);
  EXPECT_EQ(calls, (std::vector<int>{1, 2, 2}));
}

TEST(ModuleHooks, MovingAModuleKeepsItsHooks) {
  int calls = 0;
  nn::Linear fc(2, 2);
  auto h = fc.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
  nn::Sequential seq(std::move(fc), nn::ReLU());  // moved into the container
  seq(randn({1, 2}));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(h.active());
  h.remove();
  seq(randn({1, 2}));
  EXPECT_EQ(calls, 1);
}

TEST(ModuleHooks, ErrorsInHooksNameTheModule) {
  nn::Sequential seq(nn::Linear(2, 2), nn::Tanh());
  seq[1]->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) -> Tensor { throw Error("boom"); });
  EXPECT_ERROR(seq(randn({1, 2})), "[1 (Tanh)] boom");
}

// ---- containers and fused paths ------------------------------------------------------------------

TEST(ModuleHooks, FireInsideSequentialAndDisableTheLinearReluFusion) {
  manual_seed(3);
  auto net = std::make_shared<nn::Sequential>(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 3), nn::ReLU());
  net->to(kF64);
  Tensor x = randn64({5, 4});
  Tensor plain = (*net)(x);  // fused: Linear+ReLU as one op

  std::vector<std::string> calls;
  Tensor pre_relu, post_relu;
  auto fc0 = net->at<nn::Linear>(0);
  auto h0 = fc0->register_forward_hook([&](nn::Module& m, const Tensor&, const Tensor& out) {
    calls.push_back(m.name());
    pre_relu = out;
  });
  auto h1 = (*net)[1]->register_forward_hook([&](nn::Module& m, const Tensor&, const Tensor& out) {
    calls.push_back(m.name());
    post_relu = out;
  });
  auto h3 = (*net)[3]->register_forward_pre_hook([&](nn::Module& m, const Tensor&) { calls.push_back(m.name()); });
  Tensor hooked = (*net)(x);
  EXPECT_EQ(calls, (std::vector<std::string>{"0", "1", "3"}));
  // The Linear's hook sees its own output (negative entries: not ReLU's), the ReLU's sees relu of it.
  Tensor want_pre = linear(x, fc0->weight, fc0->bias);
  EXPECT_TRUE(bitwise_equal(pre_relu, want_pre));
  EXPECT_LT(min(pre_relu).item<double>(), 0.0);
  EXPECT_TRUE(bitwise_equal(post_relu, relu(want_pre)));
  EXPECT_LT(max_diff(hooked, plain), 1e-12);

  // A hook that changes the Linear's output changes what ReLU gets.
  h0.remove();
  fc0->register_forward_hook([](nn::Module&, const Tensor&, const Tensor& out) { return -out; });
  (*net)(x);
  EXPECT_TRUE(bitwise_equal(post_relu, relu(-want_pre)));
}

TEST(ModuleHooks, FireThroughForwardReluAndInModuleList) {
  manual_seed(4);
  nn::Linear fc(3, 4);
  Tensor seen;
  fc.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { seen = out; });
  Tensor x = randn({6, 3});
  Tensor y = fc.forward_relu(x);  // as TransformerEncoderLayer's feed-forward calls it
  EXPECT_TRUE(bitwise_equal(seen, linear(x, fc.weight, fc.bias)));
  EXPECT_TRUE(bitwise_equal(y, relu(seen)));

  nn::ModuleList list(nn::Linear(3, 3), nn::Tanh());
  int calls = 0;
  for (const auto& m : list) m->register_forward_pre_hook([&](nn::Module&, const Tensor&) { ++calls; });
  Tensor h = x;
  for (const auto& m : list) h = (*m)(h);
  EXPECT_EQ(calls, 2);
}

TEST(ModuleHooks, FireForConv2dReluFusionInSequential) {
  manual_seed(5);
  nn::Sequential seq(nn::Conv2d(nn::Conv2dOptions(2, 3, 3).padding(1)), nn::ReLU());
  Tensor x = randn({2, 2, 5, 5});
  Tensor plain = seq(x);
  Tensor conv_out;
  seq[0]->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { conv_out = out; });
  Tensor y = seq(x);
  auto conv = seq.at<nn::Conv2d>(0);
  Tensor want = conv2d(x, conv->weight, conv->bias, {.padding = {1, 1}});
  EXPECT_LT(max_diff(conv_out, want), 1e-5);
  EXPECT_LT(min(conv_out).item<double>(), 0.0);
  EXPECT_LT(max_diff(y, plain), 1e-5);
}

TEST(ModuleHooks, FireOnTransformerEncoderLayersCalledWithOptions) {
  manual_seed(6);
  nn::TransformerEncoder enc(
      nn::TransformerEncoderOptions(nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16).dropout(0.0), 2));
  std::vector<std::string> calls;
  Tensor ff_pre_relu;
  for (const auto& layer : *enc.layers)
    layer->register_forward_hook([&](nn::Module& m, const Tensor& in, const Tensor& out) {
      calls.push_back(m.name());
      EXPECT_EQ(in.shape(), out.shape());
    });
  auto l0 = enc.layers->at<nn::TransformerEncoderLayer>(0);
  l0->linear1->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { ff_pre_relu = out; });
  enc(randn({5, 3, 8}), nn::TransformerEncoderForwardOptions{});
  EXPECT_EQ(calls, (std::vector<std::string>{"layers.0", "layers.1"}));
  ASSERT_TRUE(ff_pre_relu.defined());
  EXPECT_LT(min(ff_pre_relu).item<double>(), 0.0);  // linear1's own output, before the fused ReLU
}

TEST(ModuleHooks, ModulesWithSeveralTensorsRefuseThemAtRegistration) {
  nn::LSTM lstm(3, 4);
  EXPECT_ERROR(lstm.register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) {}), "LSTM",
               "register_forward_hook", "one tensor");
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2));
  EXPECT_ERROR(mha.register_full_backward_hook([](nn::Module&, const Tensor&, const Tensor&) {}), "MultiheadAttention",
               "register_full_backward_hook");
  nn::MSELoss loss;
  EXPECT_ERROR(loss.register_forward_pre_hook([](nn::Module&, const Tensor&) {}), "MSELoss");
  nn::Bilinear bil(nn::BilinearOptions(2, 3, 4));
  EXPECT_ERROR(bil.register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) {}), "Bilinear");
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(10, 3));
  EXPECT_ERROR(bag.register_forward_pre_hook([](nn::Module&, const Tensor&) {}), "EmbeddingBag");
  nn::GRUCell cell(3, 4);
  EXPECT_ERROR(cell.register_full_backward_pre_hook([](nn::Module&, const Tensor&) {}), "GRUCell");
  EXPECT_FALSE(lstm.has_hooks());
  EXPECT_TRUE(nn::Linear(2, 2).supports_module_hooks());
  EXPECT_FALSE(lstm.supports_module_hooks());
}

// ---- backward hooks -------------------------------------------------------------------------------

// y = x W^T + b, L = sum(y * c): grad_output = c, grad_input = c W, dL/dW = c^T x.
TEST(ModuleHooks, FullBackwardHookGetsTheAnalyticGradients) {
  manual_seed(7);
  auto fc = linear64(3, 2);
  Tensor x = randn64({4, 3}).requires_grad_();
  Tensor c = randn64({4, 2});
  Tensor gi, go;
  int calls = 0;
  fc->register_full_backward_hook([&](nn::Module& m, const Tensor& grad_input, const Tensor& grad_output) {
    EXPECT_EQ(&m, fc.get());
    gi = grad_input;
    go = grad_output;
    ++calls;
  });
  Tensor y = (*fc)(x);
  (y * c).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_LT(max_diff(go, c), 1e-15);
  EXPECT_LT(max_diff(gi, matmul(c, fc->weight)), 1e-12);
  EXPECT_LT(max_diff(x.grad(), matmul(c, fc->weight)), 1e-12);
  EXPECT_LT(max_diff(fc->weight.grad(), matmul(c.t(), x.detach())), 1e-12);
  EXPECT_LT(max_diff(fc->bias.grad(), c.sum({0})), 1e-12);
  // The output is a view of forward()'s (the same values).
  EXPECT_TRUE(bitwise_equal(y.detach(), linear(x.detach(), fc->weight.detach(), fc->bias.detach())));
}

TEST(ModuleHooks, BackwardHooksReplaceGradients) {
  manual_seed(8);
  auto fc = linear64(3, 2);
  Tensor x = randn64({4, 3}).requires_grad_();
  Tensor c = randn64({4, 2});
  Tensor seen_go;
  std::vector<std::string> order;
  fc->register_full_backward_pre_hook([&](nn::Module&, const Tensor& g) {
    order.push_back("pre");
    return g * 2.0;  // everything inside the module sees 2c
  });
  fc->register_full_backward_hook([&](nn::Module&, const Tensor& gi, const Tensor& go) {
    order.push_back("full1");
    seen_go = go;
    return gi * 0.0 + 5.0;  // replaces grad_input
  });
  fc->register_full_backward_hook([&](nn::Module&, const Tensor& gi, const Tensor&) {
    order.push_back("full2");
    EXPECT_TRUE(allclose(gi, full({4, 3}, 5.0, {.dtype = kF64})));  // the first one's replacement
  });
  ((*fc)(x) * c).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"pre", "full1", "full2"}));
  EXPECT_LT(max_diff(seen_go, c * 2.0), 1e-15);
  EXPECT_LT(max_diff(x.grad(), full({4, 3}, 5.0, {.dtype = kF64})), 1e-15);
  EXPECT_LT(max_diff(fc->weight.grad(), matmul((c * 2.0).t(), x.detach())), 1e-12);  // the pre-hook's 2c
}

TEST(ModuleHooks, BackwardHookWithoutInputGradRunsOnceWithUndefinedGradInput) {
  manual_seed(9);
  auto fc = linear64(3, 2);
  Tensor x = randn64({4, 3});  // no grad: the first layer of a model
  int calls = 0;
  Tensor go;
  auto h = fc->register_full_backward_hook([&](nn::Module&, const Tensor& gi, const Tensor& g) {
    EXPECT_FALSE(gi.defined());
    go = g;
    ++calls;
  });
  (*fc)(x).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_LT(max_diff(go, ones({4, 2}, {.dtype = kF64})), 1e-15);
  h.remove();
  fc->register_full_backward_hook([](nn::Module&, const Tensor&, const Tensor& g) { return g; });
  EXPECT_ERROR((*fc)(x).sum().backward(), "[Linear]", "grad_input", "does not require grad");
}

TEST(ModuleHooks, BackwardHookReplacementMustMatchTheGradient) {
  auto fc = linear64(3, 2);
  fc->register_full_backward_hook([](nn::Module&, const Tensor&, const Tensor&) { return zeros({1}, {.dtype = kF64}); });
  Tensor x = randn64({4, 3}).requires_grad_();
  EXPECT_ERROR((*fc)(x).sum().backward(), "Linear", "full backward hook", "shape [1]", "[4, 3]");
}

TEST(ModuleHooks, BackwardHooksFirePerCallInsideSequential) {
  manual_seed(10);
  // A module used twice: its hook fires once per call, with that call's gradients.
  auto fc = linear64(2, 2);
  nn::Sequential seq(fc, nn::Tanh(), fc);
  seq.to(kF64);
  std::vector<Tensor> grad_outputs;
  fc->register_full_backward_hook([&](nn::Module&, const Tensor&, const Tensor& go) { grad_outputs.push_back(go); });
  Tensor x = randn64({3, 2}).requires_grad_();
  Tensor c = randn64({3, 2});
  (seq(x) * c).sum().backward();
  ASSERT_EQ(grad_outputs.size(), 2u);
  EXPECT_LT(max_diff(grad_outputs[0], c), 1e-15);  // the second call's output gets c first
  Tensor h = tanh(linear(x.detach(), fc->weight.detach(), fc->bias.detach()));
  EXPECT_LT(max_diff(grad_outputs[1], matmul(c, fc->weight.detach()) * (1.0 - h * h)), 1e-12);
}

TEST(ModuleHooks, NoBackwardHooksWithoutGradModeOrOnceTheModuleIsGone) {
  int calls = 0;
  auto fc = linear64(2, 2);
  fc->register_full_backward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
  Tensor x = randn64({1, 2}).requires_grad_();
  {
    NoGradGuard ng;
    EXPECT_FALSE((*fc)(x).requires_grad());
  }
  Tensor y = (*fc)(x);
  fc.reset();  // the graph keeps the parameters, not the module
  y.sum().backward();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(x.grad().defined());
}

TEST(ModuleHooks, BackwardHooksWorkWithCreateGraph) {
  manual_seed(11);
  nn::Tanh act;
  Tensor seen_gi;
  act.register_full_backward_hook([&](nn::Module&, const Tensor& gi, const Tensor&) { seen_gi = gi; });
  Tensor x = randn64({5}).requires_grad_();
  Tensor y = act(x).sum();
  Tensor g = grad({y}, {x}, {}, false, /*create_graph=*/true)[0];  // 1 - tanh^2
  EXPECT_TRUE(seen_gi.requires_grad());
  Tensor gg = grad({g.sum()}, {x})[0];  // -2 tanh (1 - tanh^2)
  Tensor t = tanh(x.detach());
  EXPECT_LT(max_diff(gg, -2.0 * t * (1.0 - t * t)), 1e-12);
}

// ---- feature extraction ---------------------------------------------------------------------------

TEST(ModuleHooks, ExtractIntermediateActivationsOfASmallCnn) {
  manual_seed(12);
  auto net = std::make_shared<nn::Sequential>(
      nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
      nn::Conv2d(nn::Conv2dOptions(4, 6, 3)), nn::ReLU(), nn::Flatten(), nn::Linear(6 * 2 * 2, 5));
  net->to(kF64);
  net->eval();
  std::map<std::string, Tensor> features;
  std::vector<nn::RemovableHandle> handles;
  for (auto& [name, m] : net->named_children())
    handles.push_back(m->register_forward_hook(
        [&features, name = name](nn::Module&, const Tensor&, const Tensor& out) { features[name] = out.detach(); }));
  Tensor x = randn64({2, 1, 8, 8});
  Tensor logits;
  {
    NoGradGuard ng;
    logits = (*net)(x);
  }
  ASSERT_EQ(features.size(), 7u);
  auto c0 = net->at<nn::Conv2d>(0), c3 = net->at<nn::Conv2d>(3);
  auto fc = net->at<nn::Linear>(6);
  Tensor a0 = conv2d(x, c0->weight, c0->bias, {.padding = {1, 1}});
  Tensor a1 = relu(a0);
  Tensor a2 = max_pool2d(a1);
  Tensor a3 = conv2d(a2, c3->weight, c3->bias);
  Tensor a4 = relu(a3);
  Tensor a5 = a4.flatten(1);
  Tensor a6 = linear(a5, fc->weight, fc->bias);
  const std::vector<Tensor> want{a0, a1, a2, a3, a4, a5, a6};
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_LT(max_diff(features[std::to_string(i)], want[i]), 1e-12) << "layer " << i;
  EXPECT_TRUE(bitwise_equal(features["6"], logits));
  for (auto& h : handles) h.remove();
  features.clear();
  (*net)(x);
  EXPECT_TRUE(features.empty());
}

// ---- prepend, always_call and the global hooks (PyTorch 2.x's Module._call_impl) -----------------

namespace {
/// Removes global hooks when the test ends, even one that fails early: they would fire in every
/// later test of this binary.
struct RemoveAtExit {
  std::vector<nn::RemovableHandle> handles;
  ~RemoveAtExit() {
    for (auto& h : handles) h.remove();
  }
};
}  // namespace

TEST(ModuleHooks, PrependPutsAHookFirstAmongTheModules) {
  auto fc = linear64(2, 2);
  std::vector<std::string> order;
  auto log = [&](const char* what) { return [&order, what](auto&&...) { order.push_back(what); }; };
  fc->register_forward_pre_hook(log("pre1"));
  fc->register_forward_pre_hook(log("pre2"));
  fc->register_forward_pre_hook(log("pre0"), {.prepend = true});
  fc->register_forward_hook(log("fwd1"));
  fc->register_forward_hook(log("fwd0"), {.prepend = true});
  fc->register_forward_hook(log("fwd2"), {.prepend = false});
  fc->register_full_backward_pre_hook(log("bpre1"));
  fc->register_full_backward_pre_hook(log("bpre0"), {.prepend = true});
  fc->register_full_backward_hook(log("bw1"));
  fc->register_full_backward_hook(log("bw0"), {.prepend = true});
  (*fc)(randn64({1, 2}).requires_grad_()).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"pre0", "pre1", "pre2", "fwd0", "fwd1", "fwd2", "bpre0", "bpre1", "bw0",
                                             "bw1"}));
  // A prepended replacement runs first, so the next hook sees its result.
  auto g = linear64(2, 2);
  std::vector<double> seen;
  g->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& y) { seen.push_back(y.sum().item()); });
  g->register_forward_hook([](nn::Module&, const Tensor&, const Tensor& y) { return zeros_like(y); }, {.prepend = true});
  EXPECT_EQ((*g)(randn64({1, 2})).sum().item(), 0.0);
  EXPECT_EQ(seen, (std::vector<double>{0.0}));
}

TEST(ModuleHooks, AlwaysCallForwardHooksRunWhenTheCallThrows) {
  auto fc = linear64(3, 2);
  std::vector<std::string> order;
  bool output_defined = true;
  fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("plain"); });
  fc->register_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& y) {
        order.push_back("always");
        output_defined = y.defined();
      },
      {.always_call = true});
  // forward() throws (wrong input size): the always_call hook sees no output, the error goes on.
  EXPECT_ERROR((*fc)(randn64({1, 4})), "Linear", "4");
  EXPECT_EQ(order, (std::vector<std::string>{"always"}));
  EXPECT_FALSE(output_defined);
  // A successful call runs both once.
  order.clear();
  (*fc)(randn64({1, 3}));
  EXPECT_EQ(order, (std::vector<std::string>{"plain", "always"}));

  // A forward hook throws: an always_call hook that already ran is not run again, one after it runs
  // with the output, and what it throws itself is dropped in favour of the first error.
  auto g = linear64(3, 2);
  order.clear();
  std::vector<bool> defined;
  g->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("a0"); }, {.always_call = true});
  g->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) -> Tensor {
    order.push_back("boom");
    throw Error("first");
  });
  g->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("skipped"); });
  g->register_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& y) -> Tensor {
        order.push_back("a1");
        defined.push_back(y.defined());
        throw Error("second");
      },
      {.always_call = true});
  g->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("a2"); }, {.always_call = true});
  EXPECT_ERROR((*g)(randn64({1, 3})), "[Linear] first");
  EXPECT_EQ(order, (std::vector<std::string>{"a0", "boom", "a1", "a2"}));
  EXPECT_EQ(defined, (std::vector<bool>{true}));

  // A pre-hook that throws: forward() never runs, always_call hooks still do.
  auto p = linear64(3, 2);
  order.clear();
  p->register_forward_pre_hook([&](nn::Module&, const Tensor&) -> Tensor { throw Error("pre"); });
  p->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("always"); },
                           {.always_call = true});
  EXPECT_ERROR((*p)(randn64({1, 3})), "[Linear] pre");
  EXPECT_EQ(order, (std::vector<std::string>{"always"}));
}

TEST(ModuleHooks, GlobalHooksRunForEveryModuleBeforeItsOwn) {
  manual_seed(21);
  auto fc = linear64(2, 3);
  auto seq = std::make_shared<nn::Sequential>(fc, nn::Tanh());
  std::vector<std::string> order;
  auto name = [](nn::Module& m) { return m.type_name(); };
  RemoveAtExit globals;
  globals.handles.push_back(nn::register_module_forward_pre_hook(
      [&](nn::Module& m, const Tensor&) { order.push_back("gpre " + name(m)); }));
  globals.handles.push_back(nn::register_module_forward_hook(
      [&](nn::Module& m, const Tensor&, const Tensor&) { order.push_back("gfwd " + name(m)); }));
  globals.handles.push_back(nn::register_module_full_backward_pre_hook(
      [&](nn::Module& m, const Tensor&) { order.push_back("gbpre " + name(m)); }));
  globals.handles.push_back(nn::register_module_full_backward_hook(
      [&](nn::Module& m, const Tensor&, const Tensor&) { order.push_back("gbw " + name(m)); }));
  fc->register_forward_pre_hook([&](nn::Module&, const Tensor&) { order.push_back("pre Linear"); });
  fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("fwd Linear"); });
  fc->register_full_backward_pre_hook([&](nn::Module&, const Tensor&) { order.push_back("bpre Linear"); });
  fc->register_full_backward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("bw Linear"); });
  Tensor x = randn64({2, 2}).requires_grad_();
  Tensor y = (*seq)(x);
  EXPECT_EQ(order, (std::vector<std::string>{"gpre Sequential", "gpre Linear", "pre Linear", "gfwd Linear",
                                             "fwd Linear", "gpre Tanh", "gfwd Tanh", "gfwd Sequential"}));
  order.clear();
  y.sum().backward();
  // Backward: each module's output gradient first (pre-hooks), its input gradient after; the
  // global hooks before the module's own.
  EXPECT_EQ(order, (std::vector<std::string>{"gbpre Sequential", "gbpre Tanh", "gbw Tanh", "gbpre Linear",
                                             "bpre Linear", "gbw Linear", "bw Linear", "gbw Sequential"}));
  // The gradients are unchanged by observing hooks.
  Tensor w = fc->weight.detach(), b = fc->bias.detach();
  Tensor h = tanh(linear(x.detach(), w, b));
  EXPECT_LT(max_diff(x.grad(), matmul(1.0 - h * h, w)), 1e-12);

  // Global replacements chain before the module's: global doubles the output, the module's adds 1.
  order.clear();
  for (auto& g : globals.handles) g.remove();
  EXPECT_FALSE(globals.handles[0].active());
  auto fc2 = linear64(2, 2);
  fc2->register_forward_hook([](nn::Module&, const Tensor&, const Tensor& y) { return y + 1.0; });
  globals.handles.push_back(
      nn::register_module_forward_hook([](nn::Module&, const Tensor&, const Tensor& y) { return y * 2.0; }));
  EXPECT_TRUE(globals.handles.back().active());
  Tensor x2 = randn64({1, 2});
  Tensor plain = linear(x2, fc2->weight, fc2->bias);
  EXPECT_LT(max_diff((*fc2)(x2), plain * 2.0 + 1.0), 1e-15);
  globals.handles.back().remove();
  EXPECT_LT(max_diff((*fc2)(x2), plain + 1.0), 1e-15);
  EXPECT_TRUE(order.empty()) << "removed global hooks do not run";
}

TEST(ModuleHooks, GlobalHooksSeeFusedLayersSeparatelyAndSkipMultiTensorModules) {
  manual_seed(22);
  nn::Sequential seq(nn::Linear(3, 4), nn::ReLU());
  std::vector<std::string> seen;
  RemoveAtExit globals;
  globals.handles.push_back(nn::register_module_forward_hook(
      [&](nn::Module& m, const Tensor&, const Tensor&) { seen.push_back(m.type_name()); }));
  seq(randn({2, 3}));
  EXPECT_EQ(seen, (std::vector<std::string>{"Linear", "ReLU", "Sequential"})) << "Linear+ReLU not fused";
  seen.clear();
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2));
  Tensor q = randn({2, 1, 4});
  mha(q, q, q);
  for (const std::string& s : seen) EXPECT_NE(s, "MultiheadAttention");
}

TEST(ModuleHooks, GlobalAlwaysCallHookAndModuleGoneBeforeBackward) {
  std::vector<std::string> order;
  RemoveAtExit globals;
  globals.handles.push_back(nn::register_module_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& y) { order.push_back(y.defined() ? "global out" : "global none"); },
      {.always_call = true}));
  auto fc = linear64(3, 2);
  fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order.push_back("module"); },
                            {.always_call = true});
  EXPECT_ERROR((*fc)(randn64({1, 5})), "Linear");
  EXPECT_EQ(order, (std::vector<std::string>{"global none", "module"}));
  for (auto& g : globals.handles) g.remove();

  // Only global backward hooks, and the module freed before backward: they are skipped.
  int calls = 0;
  globals.handles.push_back(nn::register_module_full_backward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; }));
  auto tmp = linear64(2, 2);
  Tensor x = randn64({1, 2}).requires_grad_();
  Tensor y = (*tmp)(x);
  tmp.reset();
  y.sum().backward();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(x.grad().defined());
}
