// nn::Module mechanics: registration and dotted names, traversal, train/eval, to(dtype),
// freeze/unfreeze, zero_grad, apply, state dicts, summary, and the containers.
#include <atomic>
#include <sstream>
#include <thread>

#include "common/within.h"
#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

namespace {

// The shape of model the issue talks about: a `features` Sequential and a classifier.
struct Net : nn::Module {
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> fc;
  Net() : Module("Net") {
    features = register_module(
        "features", std::make_shared<nn::Sequential>(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).padding(1)),
                                                     nn::BatchNorm2d(4), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten()));
    fc = register_module("fc", std::make_shared<nn::Linear>(4 * 4 * 4, 5));
  }
  Tensor forward(const Tensor& x) override { return (*fc)((*features)(x)); }
};

// A module with no type name: named after its class.
struct MyBlock : nn::Module {
  Tensor scale;
  MyBlock() { scale = register_parameter("scale", ones({3})); }
  Tensor forward(const Tensor& x) override { return x * scale; }
};

}  // namespace

TEST(Module, DottedNamesAndTags) {
  Net net;
  EXPECT_EQ(net.name(), "");
  EXPECT_EQ(net.tag(), "Net");
  EXPECT_EQ(net.features->name(), "features");
  EXPECT_EQ((*net.features)[0]->name(), "features.0");
  EXPECT_EQ((*net.features)[0]->tag(), "features.0 (Conv2d)");
  EXPECT_EQ((*net.features)[1]->type_name(), "BatchNorm2d");
  std::vector<std::string> names;
  for (auto& [n, p] : net.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.1.weight",
                                             "features.1.bias", "fc.weight", "fc.bias"}));
  std::vector<std::string> bufs;
  for (auto& [n, b] : net.named_buffers()) bufs.push_back(n);
  EXPECT_EQ(bufs, (std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                            "features.1.num_batches_tracked"}));
  EXPECT_EQ(net.parameters().size(), 6u);
  EXPECT_EQ(net.parameters(/*recurse=*/false).size(), 0u);
  EXPECT_EQ(net.buffers().size(), 3u);
  EXPECT_EQ(net.children().size(), 2u);
  std::vector<std::string> mods;
  for (auto& [n, m] : net.named_modules()) mods.push_back(n);
  EXPECT_EQ(mods, (std::vector<std::string>{"", "features", "features.0", "features.1", "features.2", "features.3",
                                            "features.4", "fc"}));
  // Registering the model into a parent renames the whole subtree.
  nn::Sequential outer;
  auto inner = std::make_shared<Net>();
  outer.push_back("model", inner);
  EXPECT_EQ((*inner->features)[3]->tag(), "model.features.3 (MaxPool2d)");
  // Class name when no type name is given.
  MyBlock b;
  EXPECT_EQ(b.type_name(), "MyBlock");
  EXPECT_EQ(b.named_parameters()[0].first, "scale");
  EXPECT_EQ(net.num_parameters(), 3 * 4 * 9 + 4 + 4 + 4 + 64 * 5 + 5);
}

TEST(Module, RegistrationErrors) {
  MyBlock b;
  EXPECT_ERROR(b.register_parameter("scale", ones({2})), "[MyBlock] cannot replace parameter 'scale' of shape [3]",
               "by a tensor of shape [2]");
  EXPECT_ERROR(b.register_parameter("scale", Tensor()), "cannot replace parameter 'scale' by an undefined tensor");
  EXPECT_ERROR(b.register_buffer("a.b", ones({2})), "must be non-empty and contain no '.'");
  EXPECT_ERROR(b.register_parameter("idx", zeros({2}, {.dtype = kI64})), "only floating tensors can require grad");
  auto self_loop = std::make_shared<nn::Sequential>();
  auto child = std::make_shared<nn::Sequential>();
  self_loop->push_back(child);
  EXPECT_ERROR(child->push_back(self_loop), "cycle");
  // A non-leaf is registered as a detached leaf.
  Tensor x = ones({2}, {.requires_grad = true});
  Tensor p = b.register_parameter("derived", x * 2);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  // An integer buffer is fine; buffers never require grad.
  Tensor buf = b.register_buffer("count", zeros({}, {.dtype = kI64}));
  EXPECT_FALSE(buf.requires_grad());
  // Only a parameter can be replaced by a parameter.
  EXPECT_ERROR(b.register_parameter("count", ones({})), "cannot register parameter 'count': the name is already used");
}

// A language model's output layer tied to its embedding (PyTorch: `head.weight = emb.weight`).
struct TiedLm : nn::Module {
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Linear> head;
  TiedLm() : Module("TiedLm") {
    emb = register_module("emb", std::make_shared<nn::Embedding>(7, 4));
    head = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(4, 7).bias(false)));
    head->weight = head->register_parameter("weight", emb->weight);
  }
  Tensor forward(const Tensor& tokens) override { return (*head)(tanh((*emb)(tokens))); }
};

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape();
}

TEST(Module, TiedWeightsAreOneParameter) {
  manual_seed(4);
  TiedLm lm;
  EXPECT_TRUE(same_tensor(lm.head->weight, lm.emb->weight));
  EXPECT_EQ(lm.parameters().size(), 1u);
  EXPECT_EQ(lm.num_parameters(), 28);
  EXPECT_EQ(lm.state_dict().keys(), (std::vector<std::string>{"emb.weight", "head.weight"}));
  // The gradient sums both uses: compare with the same computation on an untied copy.
  Tensor tokens = from_vector<int64_t>({1, 5, 5, 0}, {4});
  Tensor target = from_vector<int64_t>({2, 6, 0, 5}, {4});
  Tensor w_emb = lm.emb->weight.detach().clone().requires_grad_(true);
  Tensor w_head = lm.emb->weight.detach().clone().requires_grad_(true);
  cross_entropy(linear(tanh(embedding(w_emb, tokens)), w_head), target).backward();
  cross_entropy(lm(tokens), target).backward();
  EXPECT_TRUE(allclose(lm.emb->weight.grad(), w_emb.grad() + w_head.grad(), 1e-6, 1e-7));
  EXPECT_TRUE(same_tensor(lm.head->weight.grad(), lm.emb->weight.grad()));  // one grad, not two
  // One update (what an optimizer does to parameters()) moves the tensor both layers read.
  Tensor before = lm.emb->weight.detach().clone();
  {
    NoGradGuard ng;
    for (Tensor p : lm.parameters()) p.sub_(p.grad() * 0.5);
  }
  EXPECT_TRUE(allclose(lm.head->weight, before - 0.5 * (w_emb.grad() + w_head.grad()), 1e-6, 1e-7));
  // Loading a state dict keeps the tie (both names load into the same tensor).
  TiedLm other;
  other.load_state_dict(lm.state_dict());
  EXPECT_TRUE(bitwise_equal(other.emb->weight, lm.emb->weight));
  EXPECT_TRUE(same_tensor(other.head->weight, other.emb->weight));
  // A tied module moves once: to(dtype) converts the shared tensor in place for both.
  other.to(kF64);
  EXPECT_EQ(other.head->weight.dtype(), kF64);
  EXPECT_TRUE(same_tensor(other.head->weight, other.emb->weight));
}

TEST(Module, SharedTensorsCountOnce) {
  auto lin = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential seq(lin, nn::Tanh(), lin);  // the same layer twice (weight tying)
  EXPECT_EQ(seq.parameters().size(), 2u);
  EXPECT_EQ(seq.num_parameters(), 12);
  EXPECT_EQ(seq.state_dict().size(), 4u);  // both names, as PyTorch
  EXPECT_EQ(seq.modules().size(), 3u);     // seq, lin, tanh
}

TEST(Module, TrainEvalReachesEveryDescendant) {
  Net net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  for (auto* m : net.modules()) EXPECT_FALSE(m->is_training()) << m->tag();
  net.train();
  for (auto* m : net.modules()) EXPECT_TRUE(m->is_training()) << m->tag();
  net.features->eval();
  EXPECT_TRUE(net.is_training());
  EXPECT_FALSE((*net.features)[1]->is_training());
}

// A view of a parameter taken before to() still reads the old memory; a later in-place write
// there (through a detached alias) must not remake the view from the moved parameter's history.
// With retain_grad on the view this deadlocked (the remake re-entered its own lock).
TEST(Module, ViewsOfAMovedParameterKeepTheirHistory) {
  nn::Linear lin(2, 2);
  Tensor w = lin.weight;
  Tensor d = w.detach();
  Tensor v = w.narrow(0, 0, 1);
  v.retain_grad();
  const auto* fn = v.grad_fn().get();
  lin.to(kF64);
  d.add_(ones({2, 2}, {.requires_grad = true}));
  nabla_test::within(std::chrono::seconds(30), "reading a stale view's history", [&] {
    EXPECT_TRUE(v.requires_grad());
    EXPECT_EQ(v.grad_fn().get(), fn);
    EXPECT_EQ(v.dtype(), kF32);
  });
}

TEST(Module, ToDtypeConvertsInPlaceKeepingHandles) {
  manual_seed(1);
  Net net;
  TensorList params = net.parameters();  // what an optimizer holds
  std::vector<double> before = net.fc->weight.to_double_vector();
  Tensor x = randn({2, 3, 8, 8});
  net(x).sum().backward();
  net.to(kF64);
  for (const Tensor& p : params) {
    EXPECT_EQ(p.dtype(), kF64);
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().dtype(), kF64);
  }
  EXPECT_EQ(net.fc->weight.to_double_vector(), before);  // f32 -> f64 is exact
  auto* bn = (*net.features)[1]->as<nn::BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->running_mean.dtype(), kF64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), kI64);  // integer buffers stay
  Tensor y = net(x.to(kF64));
  EXPECT_EQ(y.dtype(), kF64);
  y.sum().backward();
  EXPECT_EQ(params[0].grad().dtype(), kF64);
  EXPECT_ERROR(net(x), "expected f64 input", "got f32");
  net.to(kF32);
  EXPECT_EQ(net.fc->weight.dtype(), kF32);
  EXPECT_ERROR(net.to(kI64), "floating dtypes only");
  net.to(Device::cpu());  // no-op on the CPU
  if (!cuda::is_available()) {  // moving to a missing device fails cleanly and leaves the module intact
    EXPECT_ERROR(net.to(Device::cuda(0)), "cuda:0 is not available");
    EXPECT_EQ(net.fc->weight.device(), Device::cpu());
  }
}

TEST(Module, FreezeStopsGradientsAndUpdates) {
  manual_seed(2);
  nn::Sequential model(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 2));
  model.freeze("0");
  for (auto& [n, p] : model.named_parameters()) EXPECT_EQ(p.requires_grad(), n.rfind("2.", 0) == 0) << n;
  nn::StateDict before;
  for (auto& [n, t] : model.state_dict()) before.insert(n, t.clone());
  // Three SGD steps of the kind an optimizer takes over model.parameters().
  Tensor x = randn({16, 4}), y = randn({16, 2});
  for (int step = 0; step < 3; ++step) {
    model.zero_grad();
    mse_loss(model(x), y).backward();
    NoGradGuard ng;
    for (Tensor& p : model.parameters())
      if (p.grad().defined()) p.add_(p.grad(), -0.1);
  }
  auto sd = model.state_dict();
  EXPECT_FALSE(model.named_parameters()[0].second.grad().defined());  // 0.weight: no gradient
  EXPECT_TRUE(bitwise_equal(sd.at("0.weight"), before.at("0.weight")));
  EXPECT_TRUE(bitwise_equal(sd.at("0.bias"), before.at("0.bias")));
  EXPECT_FALSE(bitwise_equal(sd.at("2.weight"), before.at("2.weight")));
  EXPECT_FALSE(bitwise_equal(sd.at("2.bias"), before.at("2.bias")));
  // By exact name, whole model, and back.
  model.unfreeze("0.bias");
  EXPECT_TRUE(model.named_parameters()[1].second.requires_grad());
  EXPECT_FALSE(model.named_parameters()[0].second.requires_grad());
  model.freeze();
  EXPECT_EQ(model.num_parameters(/*trainable_only=*/true), 0);
  model.unfreeze();
  EXPECT_EQ(model.num_parameters(true), model.num_parameters());
  // Freezing a submodule directly.
  model[2]->freeze();
  EXPECT_EQ(model.num_parameters(true), 4 * 8 + 8);
  // Prefixes match whole name components only.
  EXPECT_ERROR(model.freeze("0.w"), "no parameter is named \"0.w\"", "0.weight");
  EXPECT_ERROR(model.freeze("3"), "[Sequential] freeze(\"3\")");
  // A module registered twice answers to both names (named_parameters lists it once, as "0.*").
  auto shared = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential twice(shared, nn::ReLU(), shared);
  twice.freeze("2");
  EXPECT_FALSE(shared->weight.requires_grad());
  twice.unfreeze("2.bias");
  EXPECT_TRUE(shared->bias.requires_grad());
}

TEST(Module, ZeroGradAndApply) {
  manual_seed(3);
  nn::Sequential model(nn::Linear(3, 3), nn::Tanh(), nn::Linear(3, 1));
  model(randn({2, 3})).sum().backward();
  for (const Tensor& p : model.parameters()) EXPECT_TRUE(p.grad().defined());
  model.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : model.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    for (double v : p.grad().to_double_vector()) EXPECT_EQ(v, 0.0);
  }
  model.zero_grad();
  for (const Tensor& p : model.parameters()) EXPECT_FALSE(p.grad().defined());

  std::vector<std::string> order;
  model.apply([&](nn::Module& m) {
    order.push_back(m.tag());
    if (auto* lin = m.as<nn::Linear>()) {
      nn::init::ones_(lin->weight);
      nn::init::zeros_(lin->bias);
    }
  });
  EXPECT_EQ(order, (std::vector<std::string>{"0 (Linear)", "1 (Tanh)", "2 (Linear)", "Sequential"}));
  Tensor y = model(ones({1, 3}));
  EXPECT_NEAR(y.item<double>(), 3 * std::tanh(3.0), 1e-6);
}

TEST(Module, StateDictOrderAndSharing) {
  Net net;
  auto sd = net.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.1.weight",
                                                 "features.1.bias", "features.1.running_mean",
                                                 "features.1.running_var", "features.1.num_batches_tracked",
                                                 "fc.weight", "fc.bias"}));
  // Detached views of the live tensors.
  EXPECT_FALSE(sd.at("fc.weight").requires_grad());
  EXPECT_TRUE(sd.at("fc.weight").shares_storage(net.fc->weight));
  EXPECT_ERROR(sd.at("fc.nope"), "no entry named 'fc.nope'");
  // Non-persistent buffers are not saved.
  MyBlock b;
  b.register_buffer("cache", zeros({2}), /*persistent=*/false);
  EXPECT_EQ(b.state_dict().keys(), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(b.buffers().size(), 1u);
}

TEST(Module, LoadStateDictStrictReportsEveryProblemByName) {
  manual_seed(4);
  Net a, b;
  nn::StateDict sd = a.state_dict();
  sd.erase("fc.bias");
  sd.insert("fc.extra", zeros({1}));
  sd.insert("features.0.weight", zeros({4, 3, 5, 5}));
  std::vector<double> before = b.fc->weight.to_double_vector();
  EXPECT_ERROR(b.load_state_dict(sd), "[Net] load_state_dict", "missing keys: [fc.bias]", "unexpected keys: [fc.extra]",
               "features.0.weight (module [4, 3, 3, 3], state dict [4, 3, 5, 5])");
  EXPECT_EQ(b.fc->weight.to_double_vector(), before);  // strict: nothing loaded

  auto r = b.load_state_dict(sd, /*strict=*/false);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"fc.bias"}));
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"fc.extra"}));
  ASSERT_EQ(r.shape_mismatches.size(), 1u);
  EXPECT_EQ(r.shape_mismatches[0].key, "features.0.weight");
  EXPECT_EQ(r.shape_mismatches[0].expected, (Shape{4, 3, 3, 3}));
  EXPECT_EQ(r.shape_mismatches[0].got, (Shape{4, 3, 5, 5}));
  EXPECT_TRUE(bitwise_equal(b.fc->weight, a.fc->weight));  // the rest was loaded
  EXPECT_FALSE(bitwise_equal(b.fc->bias, a.fc->bias));

  // Another dtype converts.
  nn::StateDict d64;
  for (auto& [k, t] : a.state_dict()) d64.insert(k, t.is_floating_point() ? t.to(kF64) * 0.5 : t);
  EXPECT_TRUE(b.load_state_dict(d64).ok());
  EXPECT_EQ(b.fc->weight.dtype(), kF32);
  EXPECT_TRUE(bitwise_equal(b.fc->weight, (a.fc->weight.detach() * 0.5)));
}

TEST(Module, SummaryTabulatesLayersAndCounts) {
  Net net;
  net.freeze("features.0");
  auto* bn = (*net.features)[1]->as<nn::BatchNorm2d>();
  Tensor rm_before = bn->running_mean.clone();
  net.features->train();
  std::ostringstream out;
  nn::ModuleSummary s = net.summary({2, 3, 8, 8}, out);
  ASSERT_EQ(s.rows.size(), 6u);
  std::vector<std::string> names, types;
  for (auto& r : s.rows) {
    names.push_back(r.name);
    types.push_back(r.type);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"features.0", "features.1", "features.2", "features.3", "features.4", "fc"}));
  EXPECT_EQ(types, (std::vector<std::string>{"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear"}));
  EXPECT_EQ(s.rows[0].output_shape, (Shape{2, 4, 8, 8}));
  EXPECT_EQ(s.rows[3].output_shape, (Shape{2, 4, 4, 4}));
  EXPECT_EQ(s.rows[4].output_shape, (Shape{2, 64}));
  EXPECT_EQ(s.rows[5].output_shape, (Shape{2, 5}));
  EXPECT_EQ(s.output_shape, (Shape{2, 5}));
  EXPECT_EQ(s.rows[0].params, 112);
  EXPECT_EQ(s.rows[0].frozen, 112);
  EXPECT_EQ(s.rows[0].trainable, 0);
  EXPECT_EQ(s.rows[1].params, 8);
  EXPECT_EQ(s.rows[2].params, 0);
  EXPECT_EQ(s.rows[5].params, 325);
  EXPECT_EQ(s.total_params, 445);
  EXPECT_EQ(s.trainable_params, 333);
  EXPECT_EQ(s.frozen_params, 112);
  std::string table = out.str();
  EXPECT_EQ(table, s.to_string());
  nn_test::expect_contains(table, {"Layer (type)", "features.0 (Conv2d)", "[2, 4, 8, 8]", "fc (Linear)",
                                   "Total params: 445", "Trainable params: 333", "Frozen params: 112"});
  // Modes and buffers are as before.
  EXPECT_TRUE(bn->is_training());
  EXPECT_TRUE(net.is_training());
  EXPECT_TRUE(bitwise_equal(bn->running_mean, rm_before));
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 0);
  // A bad input shape names the layer.
  EXPECT_ERROR(net.summary({2, 1, 8, 8}, out), "[features.0 (Conv2d)]", "[2, 1, 8, 8]");
  // A leaf module summarizes itself; Embedding models take i64 input.
  nn::Embedding emb(10, 3);
  auto se = emb.summary({4, 7}, nn::SummaryOptions{.input_dtype = kI64, .print = false, .out = nullptr});
  ASSERT_EQ(se.rows.size(), 1u);
  EXPECT_EQ(se.rows[0].type, "Embedding");
  EXPECT_EQ(se.rows[0].output_shape, (Shape{4, 7, 3}));
  EXPECT_EQ(se.total_params, 30);
}

TEST(Module, SummaryOfModulesCalledThroughForward) {
  // A user module that calls children through forward() (not operator()) still gets a row
  // with all of its parameters.
  struct Direct : nn::Module {
    std::shared_ptr<nn::Linear> a, b;
    Direct() : Module("Direct") {
      a = register_module("a", std::make_shared<nn::Linear>(4, 3));
      b = register_module("b", std::make_shared<nn::Linear>(3, 2));
    }
    Tensor forward(const Tensor& x) override { return b->forward(a->forward(x)); }
  };
  nn::Sequential seq(std::make_shared<Direct>(), nn::ReLU());
  auto s = seq.summary({1, 4}, nn::SummaryOptions{.input_dtype = std::nullopt, .print = false, .out = nullptr});
  ASSERT_EQ(s.rows.size(), 2u);
  EXPECT_EQ(s.rows[0].name, "0");
  EXPECT_EQ(s.rows[0].type, "Direct");
  EXPECT_EQ(s.rows[0].params, 15 + 8);
  EXPECT_EQ(s.rows[0].output_shape, (Shape{1, 2}));
}

// Sequential runs a Conv2d directly followed by a ReLU as one fused op: same values and
// gradients as the two layers apart, and summary() still lists both.
TEST(Container, SequentialFusesConv2dAndRelu) {
  manual_seed(9);
  nn::Sequential seq(nn::Conv2d(nn::Conv2dOptions(2, 3, 3).padding(1)), nn::ReLU(), nn::Flatten());
  auto conv = seq.at<nn::Conv2d>(0);
  Tensor x = randn({2, 2, 5, 5}, {.requires_grad = true});
  Tensor y = seq(x);
  ASSERT_NE(y.grad_fn(), nullptr);
  Tensor manual = relu(conv2d(x, conv->weight, conv->bias, {.padding = {1, 1}})).flatten(1);
  EXPECT_EQ(y.to_vector(), manual.to_vector());
  Tensor g = randn(y.shape());
  TensorList fused = grad({y}, {x, conv->weight, conv->bias}, {g});
  TensorList apart = grad({manual}, {x, conv->weight, conv->bias}, {g});
  for (size_t i = 0; i < 3; ++i) {
    auto a = fused[i].to_vector(), b = apart[i].to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], 1e-5) << i << " " << k;
  }
  auto s = seq.summary({1, 2, 5, 5}, nn::SummaryOptions{.input_dtype = std::nullopt, .print = false, .out = nullptr});
  ASSERT_EQ(s.rows.size(), 3u);
  EXPECT_EQ(s.rows[1].type, "ReLU");
}

// Same for a Linear directly followed by a ReLU (linear_relu: on the CPU the bias and the ReLU
// ride along with the GEMM); a Linear not followed by a ReLU stays a plain linear.
TEST(Container, SequentialFusesLinearAndRelu) {
  manual_seed(10);
  // 128 x 96 x 64 is large enough for the oneDNN GEMM path in f32 builds that have it.
  nn::Sequential seq(nn::Linear(64, 96), nn::ReLU(), nn::Linear(96, 5));
  auto l1 = seq.at<nn::Linear>(0), l2 = seq.at<nn::Linear>(2);
  Tensor x = randn({128, 64}, {.requires_grad = true});
  Tensor y = seq(x);
  ASSERT_NE(y.grad_fn(), nullptr);
  Tensor h = relu(linear(x, l1->weight, l1->bias));
  Tensor manual = linear(h, l2->weight, l2->bias);
  auto yv = y.to_vector(), mv = manual.to_vector();
  ASSERT_EQ(yv.size(), mv.size());
  for (size_t k = 0; k < yv.size(); ++k) EXPECT_NEAR(yv[k], mv[k], 1e-5) << k;
  Tensor g = randn(y.shape());
  TensorList params{x, l1->weight, l1->bias, l2->weight, l2->bias};
  TensorList fused = grad({y}, params, {g});
  TensorList apart = grad({manual}, params, {g});
  for (size_t i = 0; i < params.size(); ++i) {
    auto a = fused[i].to_vector(), b = apart[i].to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], 1e-4) << i << " " << k;
  }
  auto s = seq.summary({1, 64}, nn::SummaryOptions{.input_dtype = std::nullopt, .print = false, .out = nullptr});
  ASSERT_EQ(s.rows.size(), 3u);
  EXPECT_EQ(s.rows[1].type, "ReLU");
}

// Only the exact types fuse: a Linear subclass that overrides forward, or a ReLU subclass, runs
// its own forward.
TEST(Container, SequentialDoesNotFuseSubclasses) {
  struct NegatedLinear : nn::Linear {
    using nn::Linear::Linear;
    Tensor forward(const Tensor& x) override { return -nn::Linear::forward(x); }
  };
  struct ShiftedRelu : nn::ReLU {
    Tensor forward(const Tensor& x) override { return relu(x) + 1.0; }
  };
  manual_seed(11);
  auto lin = std::make_shared<NegatedLinear>(nn::LinearOptions(8, 6));
  Tensor x = randn({4, 8});
  Tensor expected = relu(-linear(x, lin->weight, lin->bias));
  nn::Sequential seq(lin, nn::ReLU());
  EXPECT_TRUE(allclose(seq(x), expected, 1e-6, 1e-6)) << "relu(-(x W^T + b)) expected";
  auto plain = std::make_shared<nn::Linear>(8, 6);
  nn::Sequential seq2(plain, std::make_shared<ShiftedRelu>());
  EXPECT_TRUE(allclose(seq2(x), relu(linear(x, plain->weight, plain->bias)) + 1.0, 1e-6, 1e-6));
}

// The fused-call mark is per thread: one thread running a shared Linear through a Sequential
// (fused with the next ReLU) while another calls it directly never gives the direct caller a
// ReLU'd result.
TEST(Container, FusedCallOfASharedLayerIsPerThread) {
  manual_seed(12);
  auto lin = std::make_shared<nn::Linear>(16, 32);
  nn::Sequential seq(lin, nn::ReLU());
  Tensor x = randn({8, 16});
  Tensor plain, fused;
  {
    NoGradGuard ng;
    plain = linear(x, lin->weight, lin->bias);
    fused = relu(plain);
  }
  std::atomic<int> wrong_direct{0}, wrong_fused{0};
  std::thread a([&] {
    NoGradGuard ng;
    for (int i = 0; i < 300; ++i) wrong_fused += !allclose(seq(x), fused, 1e-5, 1e-6);
  });
  std::thread b([&] {
    NoGradGuard ng;
    for (int i = 0; i < 300; ++i) wrong_direct += !allclose((*lin)(x), plain, 1e-5, 1e-6);
  });
  a.join();
  b.join();
  EXPECT_EQ(wrong_direct.load(), 0);
  EXPECT_EQ(wrong_fused.load(), 0);
}

TEST(Container, SequentialAndModuleList) {
  manual_seed(5);
  auto lin = std::make_shared<nn::Linear>(4, 4);
  nn::Sequential seq(lin, nn::ReLU());
  seq.push_back(nn::Linear(4, 2));
  seq.append(std::make_shared<nn::Softmax>(1));
  EXPECT_EQ(seq.size(), 4u);
  EXPECT_EQ(seq[0], lin);
  EXPECT_EQ(seq[-1]->type_name(), "Softmax");
  EXPECT_EQ(seq.at<nn::Linear>(2)->options.out_features(), 2);
  EXPECT_ERROR(seq.at<nn::Conv2d>(1), "[Sequential] entry 1 is a ReLU");
  EXPECT_ERROR(seq[4], "index 4 is out of range for 4 modules");
  std::vector<std::string> types;
  for (const auto& m : seq) types.push_back(m->type_name());
  EXPECT_EQ(types, (std::vector<std::string>{"Linear", "ReLU", "Linear", "Softmax"}));
  Tensor x = randn({3, 4});
  Tensor manual = softmax(linear(relu(linear(x, lin->weight, lin->bias)), seq.at<nn::Linear>(2)->weight,
                                 seq.at<nn::Linear>(2)->bias),
                          1);
  EXPECT_TRUE(bitwise_equal(seq(x), manual));

  nn::Sequential named({{"conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3))},
                        {"act", std::make_shared<nn::ReLU>()}});
  EXPECT_EQ(named.state_dict().keys(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(named[1]->tag(), "act (ReLU)");
  nn::Sequential empty_seq;
  EXPECT_TRUE(bitwise_equal(empty_seq(x), x));

  nn::ModuleList list(nn::Linear(2, 2), nn::Linear(2, 3));
  list.push_back(nn::Tanh());
  nn::ModuleList more;
  more.extend(list);
  EXPECT_EQ(more.size(), 3u);
  EXPECT_EQ(more.parameters().size(), 4u);
  EXPECT_EQ(list.state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_ERROR(list(x), "[ModuleList] has no forward");
}

TEST(Module, PrintsTheTreeLikePyTorch) {
  nn::Sequential seq(nn::Linear(784, 10), nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(3, 16, 3).padding(1)));
  EXPECT_EQ(seq.to_string(),
            "Sequential(\n"
            "  (0): Linear(in_features=784, out_features=10, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
            ")");
  Net net;
  std::ostringstream os;
  os << net;
  nn_test::expect_contains(os.str(), {"Net(\n  (features): Sequential(\n    (0): Conv2d(3, 4,",
                                      "(1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)",
                                      "(3): MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=false)",
                                      "  )\n  (fc): Linear(in_features=64, out_features=5, bias=true)\n)"});
}
