// The layers and losses beyond the classic set: SiLU, Mish, Hardsigmoid, Hardswish, Softplus,
// PReLU (a learned slope), GroupNorm, and L1/SmoothL1/Huber/KLDiv/BCE losses. Values of the ops
// are checked against f64 references in the op table (tests/ops); here: the modules wrap them,
// have PyTorch's defaults, learn, print, and refuse bad options and inputs with the reason.
#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(ModernLayers, ActivationsWrapTheirOps) {
  manual_seed(3);
  Tensor v = randn({5, 7}) * 4.0;
  EXPECT_TRUE(bitwise_equal(nn::SiLU()(v), silu(v)));
  EXPECT_TRUE(bitwise_equal(nn::Mish()(v), mish(v)));
  EXPECT_TRUE(bitwise_equal(nn::Hardsigmoid()(v), hardsigmoid(v)));
  EXPECT_TRUE(bitwise_equal(nn::Hardswish()(v), hardswish(v)));
  EXPECT_TRUE(bitwise_equal(nn::Softplus()(v), softplus(v)));
  EXPECT_TRUE(bitwise_equal(nn::Softplus(nn::SoftplusOptions().beta(2).threshold(5))(v), softplus(v, 2, 5)));
  EXPECT_EQ(nn::SoftplusOptions().beta(), 1.0);
  EXPECT_EQ(nn::SoftplusOptions().threshold(), 20.0);
  EXPECT_ERROR(nn::Softplus(nn::SoftplusOptions().beta(0)), "[Softplus] beta must be positive, got 0");
  EXPECT_EQ(nn::Softplus(nn::SoftplusOptions().beta(2)).extra_repr(), "beta=2, threshold=20");
}

TEST(ModernLayers, HardActivationsHavePyTorchsGradientsAtTheKinks) {
  // PyTorch: hardsigmoid' is 1/6 only strictly inside (-3, 3); hardswish' is x/3 + 1/2 on the
  // closed [-3, 3] (so -1/2 at -3 and 3/2 at 3), 0 below and 1 above.
  Tensor x = from_vector<double>({-4, -3, 0, 3, 4}, {5}).requires_grad_(true);
  hardsigmoid(x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 1.0 / 6, 0, 0}));
  x.set_grad(Tensor());
  hardswish(x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, -0.5, 0.5, 1.5, 1}));
}

TEST(ModernLayers, PReLULearnsItsSlope) {
  nn::PReLU shared;
  EXPECT_EQ(shared.weight.shape(), (Shape{1}));
  EXPECT_EQ(shared.weight.item(), 0.25f);
  nn::PReLU per_channel(nn::PReLUOptions().num_parameters(3).init(0.1));
  EXPECT_EQ(per_channel.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(per_channel.extra_repr(), "num_parameters=3");
  Tensor x = from_vector<float>({-2, 1, -1, -4, 3, -1}, {2, 3});  // channel = column
  Tensor y = per_channel(x);
  EXPECT_TRUE(allclose(y, from_vector<float>({-0.2f, 1, -0.1f, -0.4f, 3, -0.1f}, {2, 3})));
  y.sum().backward();
  // d/da_c = sum of the negative inputs of channel c.
  EXPECT_TRUE(allclose(per_channel.weight.grad(), from_vector<float>({-6, 0, -2}, {3})));
  EXPECT_ERROR(per_channel(randn({2, 4})), "[PReLU] [prelu] weight [3] must hold 1 value or one per channel (4");
  EXPECT_ERROR(nn::PReLU(nn::PReLUOptions().num_parameters(0)), "[PReLU] num_parameters must be positive, got 0");
}

TEST(ModernLayers, GroupNormNormalizesEachGroupAtAnyBatchSize) {
  manual_seed(5);
  nn::GroupNorm gn(nn::GroupNormOptions(2, 4));
  EXPECT_EQ(gn.options.eps(), 1e-5);
  EXPECT_TRUE(gn.options.affine());
  EXPECT_EQ(gn.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(gn.extra_repr(), "2, 4, eps=1e-05, affine=true");
  // A batch of one sample: each group (2 channels x 3 x 3) has mean 0 and variance 1 after.
  Tensor x = randn({1, 4, 3, 3}) * 3.0 + 2.0;
  Tensor y = gn(x).reshape({2, 18});
  EXPECT_TRUE(allclose(mean(y, {1}), zeros({2}), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(var(y, {1}, false, 0), ones({2}), 1e-3, 1e-3));
  // Training and evaluation give the same result (no running statistics).
  gn.eval();
  EXPECT_TRUE(bitwise_equal(gn(x).reshape({2, 18}), y));
  nn::init::normal_(gn.weight);
  nn::init::normal_(gn.bias);
  EXPECT_TRUE(bitwise_equal(gn(x), group_norm(x, 2, gn.weight, gn.bias)));
  nn::GroupNorm plain(nn::GroupNormOptions(1, 4).affine(false));
  EXPECT_EQ(plain.parameters().size(), 0u);
  EXPECT_ERROR(gn(randn({2, 6, 3})), "[GroupNorm] expected input [N, 4, ...], got [2, 6, 3]");
  EXPECT_ERROR(nn::GroupNorm(nn::GroupNormOptions(3, 4)), "[GroupNorm] num_groups 3 must be positive and divide num_channels 4");
  EXPECT_ERROR(group_norm(randn({2, 6}), 4), "[group_norm] num_groups 4 must be positive and divide the 6 channels");
  EXPECT_ERROR(group_norm(randn({2, 6}), 2, ones({5})), "[group_norm] weight shape [5] must be [6]");
}

TEST(ModernLayers, AdaptiveMaxPool2dWrapsItsOp) {
  manual_seed(8);
  Tensor x = randn({2, 3, 7, 5});
  nn::AdaptiveMaxPool2d pool({3, 2});
  EXPECT_TRUE(bitwise_equal(pool(x), adaptive_max_pool2d(x, {3, 2})));
  EXPECT_EQ(pool(x.select(0, 0)).shape(), (Shape{3, 3, 2}));  // unbatched
  EXPECT_TRUE(bitwise_equal(nn::AdaptiveMaxPool2d(1)(x).flatten(1), max(x, {2, 3})));
  EXPECT_EQ(pool.extra_repr(), "output_size=(3, 2)");
  EXPECT_ERROR(pool(randn({4})), "[AdaptiveMaxPool2d]", "[4]");
}

TEST(ModernLayers, UpsampleAndCircularConvolution) {
  manual_seed(9);
  Tensor x = randn({2, 3, 4, 5});
  nn::Upsample up2(nn::UpsampleOptions().scale_factor(2));
  EXPECT_TRUE(bitwise_equal(up2(x), interpolate(x, {8, 10})));
  EXPECT_EQ(up2.extra_repr(), "scale_factor=(2, 2), mode='nearest'");
  nn::Upsample bil(nn::UpsampleOptions().size(nn::IntPair(6, 7)).mode(InterpolateMode::Bilinear).align_corners(true));
  InterpolateOptions o;
  o.size = Size2{6, 7};
  o.mode = InterpolateMode::Bilinear;
  o.align_corners = true;
  EXPECT_TRUE(bitwise_equal(bil(x), interpolate(x, o)));
  EXPECT_EQ(bil.extra_repr(), "size=(6, 7), mode='bilinear', align_corners=true");
  EXPECT_ERROR(nn::Upsample(nn::UpsampleOptions()), "[Upsample] give exactly one of size and scale_factor");
  EXPECT_ERROR(nn::Upsample(nn::UpsampleOptions().scale_factor(2).align_corners(true)),
               "[Upsample] align_corners only applies to bilinear");
  EXPECT_ERROR(nn::Upsample(nn::UpsampleOptions().scale_factor(nn::ScalePair(2, 0))), "[Upsample] scale_factor 0 must be positive");
  EXPECT_ERROR(up2(randn({3, 4, 5})), "[Upsample] expected input [N, C, H, W], got shape [3, 4, 5]");

  // Circular padding: the convolution sees the image wrapped around (a torus).
  nn::Conv2d circ(nn::Conv2dOptions(3, 2, 3).padding(1).padding_mode(nn::PaddingMode::Circular));
  EXPECT_TRUE(bitwise_equal(circ(x), conv2d(pad(x, {1, 1, 1, 1}, PadMode::Circular), circ.weight, circ.bias)));
  EXPECT_NE(circ.extra_repr().find("padding_mode='circular'"), std::string::npos);
  // Rolling the input by one column rolls the output by one column.
  Tensor rolled = cat({x.narrow(3, 4, 1), x.narrow(3, 0, 4)}, 3);
  Tensor y = circ(x);
  EXPECT_TRUE(allclose(circ(rolled), cat({y.narrow(3, 4, 1), y.narrow(3, 0, 4)}, 3), 1e-5, 1e-6));
}

TEST(ModernLosses, WrapTheFunctionalLosses) {
  manual_seed(13);
  Tensor a = randn({6, 4}), b = randn({6, 4});
  EXPECT_TRUE(bitwise_equal(nn::L1Loss()(a, b), l1_loss(a, b)));
  EXPECT_TRUE(bitwise_equal(nn::L1Loss(Reduction::Sum)(a, b), l1_loss(a, b, Reduction::Sum)));
  EXPECT_TRUE(bitwise_equal(nn::SmoothL1Loss(nn::SmoothL1LossOptions().beta(0.5))(a, b),
                            smooth_l1_loss(a, b, Reduction::Mean, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::HuberLoss(nn::HuberLossOptions().delta(2).reduction(Reduction::None))(a, b),
                            huber_loss(a, b, Reduction::None, 2)));
  Tensor lp = log_softmax(a, 1), p = softmax(b, 1);
  EXPECT_TRUE(bitwise_equal(nn::KLDivLoss(nn::KLDivLossOptions().reduction(Reduction::BatchMean))(lp, p),
                            kl_div(lp, p, {.reduction = Reduction::BatchMean})));
  Tensor probs = sigmoid(a), t = rand({6, 4});
  Tensor w = full({4}, 2.0);
  nn::BCELoss bce(nn::BCELossOptions().weight(w));
  EXPECT_EQ(bce.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_TRUE(bitwise_equal(bce(probs, t), binary_cross_entropy(probs, t, {.weight = w})));
  EXPECT_ERROR(nn::SmoothL1Loss(nn::SmoothL1LossOptions().beta(-1)), "[SmoothL1Loss] beta must be non-negative");
  EXPECT_ERROR(nn::HuberLoss(nn::HuberLossOptions().delta(0)), "[HuberLoss] delta must be positive");
  EXPECT_ERROR(nn::L1Loss()(a, randn({6})), "[L1Loss] [l1_loss] input shape [6, 4] and target shape [6] differ");
}

TEST(ModernLosses, KLDivergenceOfIdenticalDistributionsIsZero) {
  Tensor p = softmax(from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3}), 1);
  EXPECT_NEAR(kl_div(log(p), p, {.reduction = Reduction::BatchMean}).item(), 0.0, 1e-15);
  EXPECT_NEAR(kl_div(log(p), log(p), {.reduction = Reduction::Sum, .log_target = true}).item(), 0.0, 1e-15);
  // BatchMean divides the sum by the batch size, Mean by every element (PyTorch's both).
  Tensor q = softmax(from_vector<double>({0, 0, 0, 3, 2, 1}, {2, 3}), 1);
  const double total = kl_div(log(q), p, {.reduction = Reduction::Sum}).item();
  EXPECT_GT(total, 0.1);
  EXPECT_NEAR(kl_div(log(q), p, {.reduction = Reduction::BatchMean}).item(), total / 2, 1e-15);
  EXPECT_NEAR(kl_div(log(q), p).item(), total / 6, 1e-15);
  EXPECT_ERROR(mse_loss(q, p, Reduction::BatchMean), "[mse_loss] reduction BatchMean is only defined for kl_div");
  EXPECT_ERROR(cross_entropy(q, p, {.reduction = Reduction::BatchMean}), "[cross_entropy] reduction BatchMean");
}

TEST(ModernLosses, BinaryCrossEntropyRefusesNonProbabilitiesAndClampsItsLogs) {
  Tensor t = from_vector<float>({0, 1, 1}, {3});
  EXPECT_ERROR(binary_cross_entropy(from_vector<float>({0.5f, 1.5f, 0.2f}, {3}), t),
               "[binary_cross_entropy] every input must be a probability in [0, 1], got 1.5 at position 1 (input shape [3];",
               "binary_cross_entropy_with_logits");
  EXPECT_ERROR(binary_cross_entropy(from_vector<float>({0.5f, NAN, 0.2f}, {3}), t), "[binary_cross_entropy]",
               "got nan at position 1");
  // A confident wrong answer costs 100 (the clamped log), not inf, and its gradient stays finite.
  Tensor x = from_vector<double>({1, 1, 0.5}, {3}).requires_grad_(true);
  Tensor loss = binary_cross_entropy(x, from_vector<double>({0, 1, 1}, {3}), {.weight = {}, .reduction = Reduction::None});
  EXPECT_EQ(loss.to_vector<double>()[0], 100.0);
  EXPECT_EQ(loss.to_vector<double>()[1], 0.0);
  loss.sum().backward();
  for (double g : x.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_DOUBLE_EQ(x.grad().to_vector<double>()[2], -2.0);  // (x - t) / (x (1 - x))
}

// Found by comparing with LibTorch: a `where` branch that was not picked must not turn its zero
// gradient into NaN (0 * inf) for infinite inputs or parameters.
TEST(ModernLosses, InfiniteValuesInTheUnpickedBranchGiveNoNaNGradient) {
  auto grad_of = [](const std::function<Tensor(const Tensor&)>& f, std::vector<double> v) {
    Tensor x = from_vector<double>(v, {int64_t(v.size())}).requires_grad_(true);
    f(x).sum().backward();
    return x.grad().to_vector<double>();
  };
  const Tensor zero3 = zeros({3}, {.dtype = kF64});
  EXPECT_EQ(grad_of([&](const Tensor& x) { return huber_loss(x, zero3, Reduction::Sum, INFINITY); }, {0.5, 3, -2}),
            (std::vector<double>{0.5, 3, -2}));
  EXPECT_EQ(grad_of([&](const Tensor& x) { return huber_loss(x, zero3, Reduction::Sum); }, {INFINITY, 0.5, 3}),
            (std::vector<double>{1, 0.5, 1}));
  EXPECT_EQ(grad_of([&](const Tensor& x) { return smooth_l1_loss(x, zero3, Reduction::Sum); }, {-INFINITY, 0.5, 3}),
            (std::vector<double>{-1, 0.5, 1}));
  // prelu: an infinite positive input gives the slope no NaN; a NaN slope leaves positive inputs alone.
  Tensor w = from_vector<double>({0.25}, {1}).requires_grad_(true);
  prelu(from_vector<double>({INFINITY, -1, 2}, {3}), w).sum().backward();
  EXPECT_EQ(w.grad().item<double>(), -1.0);
  EXPECT_EQ(grad_of([](const Tensor& x) { return prelu(x, from_vector<double>({NAN}, {1})); }, {2, 3})[0], 1.0);
  EXPECT_ERROR(prelu(randn({2, 3}), ones({1, 1})), "[prelu] weight [1, 1] must hold 1 value or one per channel");
}

TEST(ModernLosses, InvalidTargetsAndWeightsAsPyTorch) {
  // A negative "probability" target is NaN (PyTorch's xlogy), not a finite number.
  Tensor in = from_vector<double>({-1, -1}, {2});
  EXPECT_TRUE(std::isnan(kl_div(in, from_vector<double>({-0.5, 0.5}, {2}), {.reduction = Reduction::Sum}).item()));
  // An element weight may broadcast to the input but not widen the loss beyond it.
  Tensor p = from_vector<double>({0.3, 0.6}, {2});
  EXPECT_ERROR(binary_cross_entropy(p, p, {.weight = ones({2, 2}), .reduction = Reduction::Mean}),
               "[binary_cross_entropy] weight shape [2, 2] does not broadcast to the input shape [2]");
  EXPECT_ERROR(binary_cross_entropy_with_logits(p, p, {.weight = ones({3, 2}), .pos_weight = {}, .reduction = Reduction::Mean}),
               "[binary_cross_entropy_with_logits] weight shape [3, 2]");
}
