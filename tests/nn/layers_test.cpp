// Layers: forward values against the functional ops, options with PyTorch's defaults,
// train/eval behaviour of Dropout and BatchNorm, and errors for bad input that name the layer
// ("[features.3 (Conv2d)]") and both shapes.
#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(Layers, OptionsHavePyTorchDefaults) {
  nn::Conv2dOptions c(3, 8, 5);
  EXPECT_EQ(c.kernel_size(), nn::IntPair(5, 5));
  EXPECT_EQ(c.stride(), nn::IntPair(1));
  EXPECT_EQ(c.padding(), nn::IntPair(0));
  EXPECT_EQ(c.dilation(), nn::IntPair(1));
  EXPECT_EQ(c.groups(), 1);
  EXPECT_TRUE(c.bias());
  EXPECT_EQ(c.padding_mode(), nn::PaddingMode::Zeros);
  EXPECT_EQ(nn::Conv2dOptions(3, 8, {3, 5}).stride({2, 1}).stride(), nn::IntPair(2, 1));
  EXPECT_TRUE(nn::LinearOptions(2, 3).bias());
  nn::BatchNormOptions bn(4);
  EXPECT_EQ(bn.eps(), 1e-5);
  EXPECT_EQ(bn.momentum(), 0.1);
  EXPECT_TRUE(bn.affine());
  EXPECT_TRUE(bn.track_running_stats());
  EXPECT_EQ(nn::LayerNormOptions({4}).eps(), 1e-5);
  EXPECT_EQ(nn::DropoutOptions().p(), 0.5);
  EXPECT_EQ(nn::LeakyReLUOptions().negative_slope(), 0.01);
  EXPECT_EQ(nn::ELUOptions().alpha(), 1.0);
  EXPECT_EQ(nn::GELUOptions().approximate(), "none");
  EXPECT_EQ(nn::FlattenOptions().start_dim(), 1);
  EXPECT_EQ(nn::MaxPool2dOptions(2).stride(), nn::IntPair(0));  // = kernel_size
  EXPECT_TRUE(nn::AvgPool2dOptions(2).count_include_pad());
  EXPECT_EQ(nn::CrossEntropyLossOptions().ignore_index(), -100);
  EXPECT_EQ(nn::CrossEntropyLossOptions().reduction(), Reduction::Mean);
}

TEST(Layers, ForwardMatchesFunctionalOps) {
  manual_seed(7);
  Tensor x = randn({2, 4, 9, 9});
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1).groups(2));
  EXPECT_EQ(conv.weight.shape(), (Shape{6, 2, 3, 3}));
  nabla::Conv2dOptions f;
  f.stride = {2, 2};
  f.padding = {1, 1};
  f.groups = 2;
  EXPECT_TRUE(bitwise_equal(conv(x), conv2d(x, conv.weight, conv.bias, f)));
  EXPECT_EQ(conv(x.select(0, 0)).shape(), (Shape{6, 5, 5}));  // unbatched

  nn::Conv2d reflect(nn::Conv2dOptions(4, 2, 3).padding(1).padding_mode(nn::PaddingMode::Reflect));
  nabla::Conv2dOptions f0;
  EXPECT_TRUE(bitwise_equal(reflect(x), conv2d(pad(x, {1, 1, 1, 1}, PadMode::Reflect), reflect.weight, reflect.bias, f0)));
  nn::Conv2d same(nn::Conv2dOptions(4, 2, {3, 5}).padding_same(true).bias(false));
  EXPECT_FALSE(same.bias.defined());
  EXPECT_EQ(same(x).shape(), (Shape{2, 2, 9, 9}));

  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(4, 3, 3).stride(2).padding(1).output_padding(1));
  EXPECT_EQ(convt(x).shape(), (Shape{2, 3, 18, 18}));
  nabla::ConvTranspose2dOptions ft;
  ft.stride = {2, 2};
  ft.padding = {1, 1};
  ft.output_padding = {1, 1};
  EXPECT_TRUE(bitwise_equal(convt(x), conv_transpose2d(x, convt.weight, convt.bias, ft)));

  EXPECT_EQ(nn::MaxPool2d(2)(x).shape(), (Shape{2, 4, 4, 4}));
  EXPECT_EQ(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))(x).shape(), (Shape{2, 4, 5, 5}));
  EXPECT_EQ(nn::MaxPool2d(nn::MaxPool2dOptions(2).ceil_mode(true))(x).shape(), (Shape{2, 4, 5, 5}));
  EXPECT_TRUE(bitwise_equal(nn::AvgPool2d(3)(x), avg_pool2d(x, {.kernel = {3, 3}})));
  EXPECT_EQ(nn::AvgPool2d(3)(x.select(0, 1)).shape(), (Shape{4, 3, 3}));
  EXPECT_TRUE(allclose(nn::AdaptiveAvgPool2d(1)(x).flatten(1), global_avg_pool2d(x), 1e-5, 1e-6));
  EXPECT_EQ(nn::AdaptiveAvgPool2d({2, 3})(x).shape(), (Shape{2, 4, 2, 3}));
  EXPECT_EQ(nn::Flatten()(x).shape(), (Shape{2, 324}));
  EXPECT_EQ(nn::Flatten(nn::FlattenOptions().start_dim(2))(x).shape(), (Shape{2, 4, 81}));

  Tensor v = randn({5, 7});
  nn::Linear lin(7, 3);
  EXPECT_TRUE(bitwise_equal(lin(v), linear(v, lin.weight, lin.bias)));
  EXPECT_EQ(lin(randn({2, 5, 7})).shape(), (Shape{2, 5, 3}));
  EXPECT_TRUE(bitwise_equal(nn::Identity()(v), v));
  EXPECT_TRUE(bitwise_equal(nn::ReLU()(v), relu(v)));
  EXPECT_TRUE(bitwise_equal(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2))(v), leaky_relu(v, 0.2)));
  EXPECT_TRUE(bitwise_equal(nn::ELU(nn::ELUOptions().alpha(0.5))(v), elu(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::GELU()(v), gelu(v)));
  EXPECT_TRUE(bitwise_equal(nn::GELU(nn::GELUOptions().approximate("tanh"))(v), gelu(v, true)));
  EXPECT_TRUE(bitwise_equal(nn::Tanh()(v), tanh(v)));
  EXPECT_TRUE(bitwise_equal(nn::Sigmoid()(v), sigmoid(v)));
  EXPECT_TRUE(bitwise_equal(nn::Softmax(1)(v), softmax(v, 1)));
  EXPECT_TRUE(bitwise_equal(nn::LogSoftmax(0)(v), log_softmax(v, 0)));
  EXPECT_ERROR(nn::GELU(nn::GELUOptions().approximate("fast")), "[GELU] approximate must be");

  nn::LayerNorm ln(Shape{7});
  nn::init::normal_(ln.weight);
  EXPECT_TRUE(bitwise_equal(ln(v), layer_norm(v, {7}, ln.weight, ln.bias)));
  nn::LayerNorm ln_plain(nn::LayerNormOptions({5, 7}).elementwise_affine(false));
  EXPECT_EQ(ln_plain.parameters().size(), 0u);
  EXPECT_EQ(ln_plain(randn({2, 5, 7})).shape(), (Shape{2, 5, 7}));

  nn::Embedding emb(10, 4);
  Tensor idx = from_vector<int64_t>({1, 9, 1, 0, 3, 3}, {2, 3});
  Tensor e = emb(idx);
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_TRUE(bitwise_equal(e.select(0, 0).select(0, 1), emb.weight.select(0, 9)));
}

TEST(Layers, EmbeddingPaddingRowGetsNoGradient) {
  manual_seed(8);
  nn::Embedding emb(nn::EmbeddingOptions(5, 3).padding_idx(0));
  Tensor idx = from_vector<int64_t>({0, 2, 0, 4}, {4});
  emb(idx).sum().backward();
  std::vector<double> g = emb.weight.grad().to_double_vector();
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(g[size_t(j)], 0.0);          // row 0: padding
    EXPECT_EQ(g[size_t(2 * 3 + j)], 1.0);  // row 2: used once
    EXPECT_EQ(g[size_t(1 * 3 + j)], 0.0);  // row 1: unused
  }
  EXPECT_ERROR(nn::Embedding(nn::EmbeddingOptions(5, 3).padding_idx(5)), "padding_idx 5 is out of range");
}

// Only the lookups of the padding row lose their gradient: a tied output layer (logits = h W^T)
// or a penalty on the weight still reaches that row, as in PyTorch.
TEST(Layers, EmbeddingPaddingRowKeepsTheGradientOfItsOtherUses) {
  manual_seed(8);
  nn::Embedding emb(nn::EmbeddingOptions(4, 2).padding_idx(0));
  {
    NoGradGuard ng;
    emb.weight.select(0, 0).fill_(1.0);  // a padding row the user set: its value is still looked up
  }
  Tensor h = emb(from_vector<int64_t>({0, 1, 2}, {3}));
  EXPECT_EQ(h.select(0, 0).to_double_vector(), (std::vector<double>{1.0, 1.0}));
  matmul(h, emb.weight.t()).sum().backward();
  // d/dW[0] of sum(h W^T) through the tied side is h.sum(0); the lookup side adds nothing.
  const std::vector<double> expected = h.detach().sum({0}).to_double_vector();
  const std::vector<double> got = emb.weight.grad().select(0, 0).to_double_vector();
  for (size_t j = 0; j < 2; ++j) EXPECT_NEAR(got[j], expected[j], 1e-6);
  emb.weight.set_grad(Tensor());
  (emb.weight * emb.weight).sum().backward();
  EXPECT_EQ(emb.weight.grad().select(0, 0).to_double_vector(), (std::vector<double>{2.0, 2.0}));
}

TEST(Layers, DropoutOnlyInTraining) {
  manual_seed(9);
  nn::Dropout drop(0.25);
  Tensor x = ones({200, 100});
  Tensor y = drop(x);
  std::vector<double> v = y.to_double_vector();
  int64_t zeros = 0;
  for (double e : v) {
    if (e == 0.0) ++zeros;
    else EXPECT_FLOAT_EQ(e, 1.0 / 0.75);
  }
  double frac = double(zeros) / double(v.size());
  EXPECT_NEAR(frac, 0.25, 5 * std::sqrt(0.25 * 0.75 / double(v.size())));
  drop.eval();
  EXPECT_TRUE(bitwise_equal(drop(x), x));
  drop.train();
  EXPECT_FALSE(bitwise_equal(drop(x), x));
  // Inside a model, the model's mode decides.
  nn::Sequential model(nn::Linear(100, 100), nn::Dropout(0.5));
  model.eval();
  Tensor a = model(x), b = model(x);
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_ERROR(nn::Dropout(1.5), "[Dropout] probability p must be in [0, 1]");
}

TEST(Layers, BatchNormTrainUsesBatchStatsEvalUsesRunningStats) {
  manual_seed(10);
  nn::BatchNorm2d bn(3);
  Tensor x = randn({8, 3, 5, 5}) * 2.0 + 1.0;
  Tensor y = bn(x);
  // Training: normalized with the batch statistics (biased variance).
  Tensor ym = mean(y, {0, 2, 3}), yv = var(y, {0, 2, 3}, false, 0);
  for (double m : ym.to_double_vector()) EXPECT_NEAR(m, 0.0, 1e-5);
  for (double s : yv.to_double_vector()) EXPECT_NEAR(s, 1.0, 1e-3);
  // Running statistics: 0.9 * initial + 0.1 * batch (unbiased variance).
  Tensor bm = mean(x, {0, 2, 3}), bv = var(x, {0, 2, 3});
  EXPECT_TRUE(allclose(bn.running_mean, bm * 0.1, 1e-5, 1e-6));
  EXPECT_TRUE(allclose(bn.running_var, bv * 0.1 + 0.9, 1e-5, 1e-6));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);

  bn.eval();
  Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
  Tensor ye = bn(x);
  Tensor expect = (x - rm.reshape({1, 3, 1, 1})) / sqrt(rv.reshape({1, 3, 1, 1}) + 1e-5);
  EXPECT_TRUE(allclose(ye, expect, 1e-5, 1e-5));
  EXPECT_TRUE(bitwise_equal(bn.running_mean, rm));  // eval does not update
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);

  // momentum = nullopt: cumulative average of the batch means.
  nn::BatchNorm1d cum(nn::BatchNormOptions(2).momentum(std::nullopt));
  Tensor x1 = randn({16, 2}), x2 = randn({16, 2}) + 3.0;
  cum(x1);
  cum(x2);
  EXPECT_TRUE(allclose(cum.running_mean, (mean(x1, {0}) + mean(x2, {0})) * 0.5, 1e-5, 1e-5));
  EXPECT_EQ(cum(randn({4, 2, 6})).shape(), (Shape{4, 2, 6}));  // [N, C, L]

  // No running stats: batch statistics in eval too, and no buffers.
  nn::BatchNorm1d nostats(nn::BatchNormOptions(2).track_running_stats(false).affine(false));
  EXPECT_EQ(nostats.state_dict().size(), 0u);
  nostats.eval();
  Tensor z = nostats(x1);
  for (double m : mean(z, {0}).to_double_vector()) EXPECT_NEAR(m, 0.0, 1e-5);

  EXPECT_ERROR(nn::BatchNorm1d(2)(randn({1, 2})), "[BatchNorm1d] expected more than one value per channel", "[1, 2]");
  // Gradients reach weight and bias.
  nn::BatchNorm2d g(3);
  (g(x) * randn({8, 3, 5, 5})).sum().backward();
  EXPECT_TRUE(g.weight.grad().defined());
  EXPECT_TRUE(g.bias.grad().defined());
}

// ---- bad input names the layer and both shapes ----------------------------------------------------

namespace {
struct Classifier : nn::Module {
  std::shared_ptr<nn::Sequential> features, classifier;
  Classifier() : Module("Classifier") {
    features = register_module("features", std::make_shared<nn::Sequential>(
                                               nn::Conv2d(nn::Conv2dOptions(3, 16, 3)), nn::ReLU(), nn::MaxPool2d(2),
                                               nn::Conv2d(nn::Conv2dOptions(32, 64, 3)), nn::Flatten()));
    classifier = register_module("classifier", std::make_shared<nn::Sequential>(nn::Dropout(), nn::Linear(128, 10)));
  }
  Tensor forward(const Tensor& x) override { return (*classifier)((*features)(x)); }
};
}  // namespace

TEST(LayerErrors, WrongChannelsNamesLayerAndShapes) {
  Classifier net;
  EXPECT_ERROR(net(randn({2, 3, 16, 16})), "[features.3 (Conv2d)]", "expected input with 32 channels",
               "got shape [2, 16, 7, 7]", "weight is [64, 32, 3, 3]");
  EXPECT_ERROR(net(randn({2, 5, 16, 16})), "[features.0 (Conv2d)]", "3 channels", "[2, 5, 16, 16]");
  EXPECT_ERROR(net(randn({3, 16})), "[features.0 (Conv2d)]", "expected input [N, 3, H, W] or [3, H, W]", "[3, 16]");
  // The classifier sees [2, 64 * 5 * 5] instead of [..., 128].
  EXPECT_ERROR(nn::Sequential(nn::Linear(6400, 10))(randn({2, 64})), "[0 (Linear)]", "expected input [..., 6400]",
               "[2, 64]", "weight is [10, 6400]");
  nn::Linear root(4, 2);
  EXPECT_ERROR(root(randn({3, 5})), "[Linear] expected input [..., 4] (4 features), got shape [3, 5]");
  EXPECT_ERROR(root(randn({3, 4}, {.dtype = kF64})), "[Linear] expected f32 input", "got f64");
  try {
    net(randn({2, 3, 16, 16}));
  } catch (const nn::ModuleError& e) {
    // Named once, by the innermost module.
    std::string msg = e.what();
    EXPECT_EQ(msg.find("[features.3 (Conv2d)]"), 0u) << msg;
    EXPECT_EQ(msg.find("features ("), std::string::npos) << msg;
  }
}

TEST(LayerErrors, EveryLayerChecksItsInput) {
  EXPECT_ERROR(nn::BatchNorm2d(8)(randn({4, 8})), "[BatchNorm2d] expected input [N, 8, H, W], got shape [4, 8]");
  EXPECT_ERROR(nn::BatchNorm1d(8)(randn({4, 6})), "[BatchNorm1d] expected input [N, 8] or [N, 8, L], got shape [4, 6]");
  EXPECT_ERROR(nn::LayerNorm(Shape{4, 5})(randn({2, 5, 4})), "[LayerNorm] expected input [..., 4, 5]",
               "got shape [2, 5, 4]");
  EXPECT_ERROR(nn::Embedding(10, 3)(randn({4})), "[Embedding] expected i64 indices, got f32", "[4]", "[10, 3]");
  EXPECT_ERROR(nn::Embedding(10, 3)(from_vector<int64_t>({3, 10}, {2})), "[Embedding]", "10", "out of range");
  EXPECT_ERROR(nn::MaxPool2d(2)(randn({4, 4})), "[MaxPool2d] expected input [N, C, H, W] or [C, H, W], got shape [4, 4]");
  EXPECT_ERROR(nn::AvgPool2d(2)(randn({1, 1, 1, 2, 2})), "[AvgPool2d]", "[1, 1, 1, 2, 2]");
  EXPECT_ERROR(nn::AdaptiveAvgPool2d(2)(randn({4})), "[AdaptiveAvgPool2d]", "[4]");
  EXPECT_ERROR(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 2, 3))(randn({1, 3, 5, 5})),
               "[ConvTranspose2d] expected input with 4 channels", "[1, 3, 5, 5]");
  EXPECT_ERROR(nn::Flatten(nn::FlattenOptions().start_dim(3))(randn({2, 3})), "[Flatten] start_dim 3", "[2, 3]");
  // An op's own error inside a layer is prefixed with the layer's tag.
  nn::Sequential seq(nn::MaxPool2d(5));
  EXPECT_ERROR(seq(randn({1, 1, 3, 3})), "[0 (MaxPool2d)] [max_pool2d]");
  nn::CrossEntropyLoss ce;
  EXPECT_ERROR(ce(randn({4, 3}), from_vector<int64_t>({0, 1}, {2})), "[CrossEntropyLoss] [cross_entropy]");
  nn::MSELoss mse;
  EXPECT_ERROR(mse(randn({4, 3}), randn({4})), "[MSELoss] [mse_loss] input shape [4, 3] and target shape [4] differ");
  // Bad options are caught at construction.
  EXPECT_ERROR(nn::Conv2d(nn::Conv2dOptions(3, 8, 3).groups(2)), "[Conv2d] groups = 2 must be positive and divide");
  EXPECT_ERROR(nn::Conv2d(nn::Conv2dOptions(3, 8, 0)), "[Conv2d] kernel_size, stride and dilation must be positive");
  EXPECT_ERROR(nn::BatchNorm2d(nn::BatchNormOptions(4).momentum(2.0)), "[BatchNorm2d] momentum must be in [0, 1]");
  EXPECT_ERROR(nn::LayerNorm(Shape{}), "[LayerNorm] normalized_shape must have at least one dim");
}

TEST(Losses, WrapTheFunctionalLosses) {
  manual_seed(11);
  Tensor logits = randn({6, 4});
  Tensor target = from_vector<int64_t>({0, 3, 1, 1, 2, 0}, {6});
  Tensor w = from_vector<float>({1.0f, 2.0f, 0.5f, 1.0f}, {4});
  nn::CrossEntropyLoss ce(nn::CrossEntropyLossOptions().weight(w).label_smoothing(0.1));
  EXPECT_TRUE(bitwise_equal(ce(logits, target),
                            cross_entropy(logits, target, {.weight = w, .label_smoothing = 0.1})));
  EXPECT_EQ(ce.state_dict().keys(), (std::vector<std::string>{"weight"}));
  nn::NLLLoss nll(nn::NLLLossOptions().reduction(Reduction::Sum));
  Tensor lp = log_softmax(logits, 1);
  EXPECT_TRUE(bitwise_equal(nll(lp, target), nll_loss(lp, target, {.weight = Tensor(), .ignore_index = -100, .reduction = Reduction::Sum})));
  nn::MSELoss mse(Reduction::None);
  Tensor y = randn({6, 4});
  EXPECT_TRUE(bitwise_equal(mse(logits, y), mse_loss(logits, y, Reduction::None)));
  Tensor pw = full({4}, 2.0);
  nn::BCEWithLogitsLoss bce(nn::BCEWithLogitsLossOptions().pos_weight(pw));
  Tensor t01 = rand({6, 4});
  EXPECT_TRUE(bitwise_equal(bce(logits, t01), binary_cross_entropy_with_logits(logits, t01, {.weight = Tensor(), .pos_weight = pw, .reduction = Reduction::Mean})));
  // Gradient flows through a loss module.
  Tensor p = randn({6, 4}, {.requires_grad = true});
  ce(p, target).backward();
  EXPECT_TRUE(p.grad().defined());
  ce.to(kF64);
  EXPECT_EQ(ce.weight.dtype(), kF64);
}
