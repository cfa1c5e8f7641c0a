// Model specs (presets, strict validation naming the layer), the metric accumulator and the
// HTML report (structure always; rendering in headless Chromium when it is installed).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>

#include "nabla/train/metrics.h"
#include "nabla/train/model_spec.h"
#include "nabla/train/report.h"
#include "nabla/train/trainer.h"
#include "train/train_test_util.h"

using namespace nabla;
using namespace train_test;

namespace {

std::string spec_error(const std::string& layers_json, int64_t num_classes = 10) {
  std::string text = R"({"name": "t", "input_shape": [1, 28, 28], "num_classes": )" + std::to_string(num_classes) +
                     R"(, "layers": )" + layers_json + "}";
  try {
    train::build_model(train::parse_model_spec(text, "t.json"));
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string top_error(const std::string& text) {
  try {
    train::parse_model_spec(text, "t.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void expect_has(const std::string& s, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(s.find(p), std::string::npos) << "missing \"" << p << "\" in: " << s;
}

}  // namespace

// ---- model specs ------------------------------------------------------------------------------

TEST(ModelSpec, PresetParameterCounts) {
  // mlp: 784*512+512 + 512*256+256 + 256*10+10
  EXPECT_EQ(train::build_model(train::preset_spec("mlp"))->num_parameters(), 535818);
  // cnn: conv 1->32 3x3 (320) + conv 32->64 (18496) + linear 3136->128 (401536) + 128->10 (1290)
  EXPECT_EQ(train::build_model(train::preset_spec("cnn"))->num_parameters(), 421642);
  // bottleneck-mlp: 401920 + 512*32+32 + 32*512+512 + 512*10+10
  EXPECT_EQ(train::build_model(train::preset_spec("bottleneck-mlp"))->num_parameters(), 440362);
  // cnn-bn-aug: convs 320+9248+18496+36928, BN2d 2*(32+32+64+64), linear 803072, BN1d 512, head 2570
  EXPECT_EQ(train::build_model(train::preset_spec("cnn-bn-aug"))->num_parameters(), 871530);
  for (const auto& n : train::preset_names()) {
    train::ModelSpec s = train::preset_spec(n);
    EXPECT_EQ(s.input_shape, (Shape{1, 28, 28})) << n;
    EXPECT_EQ(s.num_classes, 10) << n;
    // A preset written out as JSON parses back to the same spec.
    train::ModelSpec back = train::parse_model_spec(s.to_json().dump(), n);
    EXPECT_EQ(back.to_json().dump(), s.to_json().dump()) << n;
  }
  expect_has(top_error("{}"), {"input_shape"});
  try {
    train::preset_spec("resnet");
    ADD_FAILURE() << "unknown preset accepted";
  } catch (const Error& e) {
    expect_has(e.what(), {"unknown preset 'resnet'", "mlp", "cnn", "cnn-bn-aug", "bottleneck-mlp"});
  }
}

TEST(ModelSpec, LayerErrorsNameTheLayer) {
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Conv3d", "in_channels": 1}])"),
             {"layers[1]", "unknown type 'Conv3d'", "Linear"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_feature": 784, "in_features": 784,
                            "out_features": 10}])"),
             {"layers[1]", "unknown option 'in_feature'", "in_features"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": "784", "out_features": 10}])"),
             {"layers[1]", "'in_features' must be an integer", "\"784\""});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784}])"),
             {"layers[1]", "missing required option 'out_features'"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Dropout", "p": true},
                            {"type": "Linear", "in_features": 784, "out_features": 10}])"),
             {"layers[1]", "'p' must be a number"});
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": [3, 3, 3]}])"),
             {"layers[0]", "kernel_size"});
  expect_has(spec_error(R"([{"type": "Flatten"}, "Linear"])"), {"layers[1]", "must be an object"});
  // A layer's own option checks are named with its place too.
  expect_has(spec_error(R"([{"type": "Dropout", "p": 1.5}, {"type": "Flatten"},
                            {"type": "Linear", "in_features": 784, "out_features": 10}])"),
             {"layers[0] (Dropout)", "p must be in [0, 1], got 1.5"});
  expect_has(spec_error(R"([{"type": "BatchNorm2d", "num_features": 1, "eps": -1}, {"type": "Flatten"},
                            {"type": "Linear", "in_features": 784, "out_features": 10}])"),
             {"layers[0] (BatchNorm2d)", "eps must be positive, got -1"});
  expect_has(spec_error(R"([{"kind": "Flatten"}])"), {"layers[0]", "no \"type\""});
  // Shapes that do not chain: the dry run names the layer that failed.
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 100},
                            {"type": "ReLU"}, {"type": "Linear", "in_features": 50, "out_features": 10}])"),
             {"layers[3]", "Linear"});
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
                            {"type": "Flatten"}, {"type": "Linear", "in_features": 2704, "out_features": 10}])"),
             {"layers[0]", "Conv2d"});
  // Chains, but ends in the wrong number of logits.
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 5}])"),
             {"expected [N, 10] logits"});
  EXPECT_EQ(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}])"),
            "no error");
}

TEST(ModelSpec, InstanceNorm2dBuildsWithPyTorchsOptions) {
  const std::string text = R"({"name": "inorm", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "InstanceNorm2d", "num_features": 4, "affine": true, "track_running_stats": true, "momentum": 0.2},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 4},
    {"type": "InstanceNorm2d", "num_features": 4},
    {"type": "Flatten"}, {"type": "Linear", "in_features": 196, "out_features": 10}]})";
  auto model = train::build_model(train::parse_model_spec(text, "inorm.json"));
  EXPECT_EQ(model->num_parameters(), 40 + 8 + 1970);  // conv, the affine InstanceNorm, linear
  EXPECT_EQ(model->named_buffers().size(), 3u);       // the tracking one's running stats + counter
  EXPECT_EQ((*model)(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  expect_has(model->to_string(), {"InstanceNorm2d(4, eps=1e-05, momentum=0.2, affine=true, track_running_stats=true)",
                                  "InstanceNorm2d(4, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)"});
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 1, "out_channels": 6, "kernel_size": 3},
                            {"type": "InstanceNorm2d", "num_features": 4}])"),
             {"layers[1] (InstanceNorm2d) does not fit", "expected input [N, 4, H, W]"});
}

TEST(ModelSpec, Dropout2dDropsWholeFeatureMapsInTrainingOnly) {
  const std::string text = R"({"name": "drop2d", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "Dropout2d", "p": 0.25}, {"type": "MaxPool2d", "kernel_size": 4},
    {"type": "Flatten"}, {"type": "Linear", "in_features": 196, "out_features": 10}]})";
  auto model = train::build_model(train::parse_model_spec(text, "drop2d.json"));
  expect_has(model->to_string(), {"Dropout2d(p=0.25)"});
  Tensor x = randn({2, 1, 28, 28});
  model->eval();
  Tensor a = (*model)(x), b = (*model)(x);
  EXPECT_TRUE(allclose(a, b, 0.0, 0.0));  // eval: no dropout
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3},
                            {"type": "Dropout2d", "p": 2}])"),
             {"layers[1] (Dropout2d)", "probability p must be in [0, 1], got 2"});
}

TEST(ModelSpec, MoreActivationsBuildFromJson) {
  // Every activation type added with glu/softmin, with PyTorch's option names, in one MLP that
  // builds, dry-runs, trains a step's forward and prints the options it read.
  const std::string text = R"({"name": "acts", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 64},
    {"type": "ReLU6"}, {"type": "Hardtanh", "min_val": -2, "max_val": 2.5}, {"type": "SELU"},
    {"type": "CELU", "alpha": 0.5}, {"type": "Softsign"}, {"type": "LogSigmoid"}, {"type": "Tanhshrink"},
    {"type": "Softshrink", "lambd": 0.25}, {"type": "Hardshrink"}, {"type": "Threshold", "threshold": 0.1, "value": -1},
    {"type": "GLU"}, {"type": "Linear", "in_features": 32, "out_features": 20},
    {"type": "GLU", "dim": 1}, {"type": "Softmin", "dim": 1}]})";
  auto model = train::build_model(train::parse_model_spec(text, "acts.json"));
  Tensor y = (*model)(randn({3, 1, 28, 28}));
  EXPECT_EQ(y.shape(), (Shape{3, 10}));
  EXPECT_TRUE(allclose(sum(y, {1}), ones({3}), 1e-5, 1e-5));  // softmin rows sum to 1
  expect_has(model->to_string(), {"ReLU6()", "Hardtanh(min_val=-2, max_val=2.5)", "SELU()", "CELU(alpha=0.5)",
                                  "Softsign()", "LogSigmoid()", "Tanhshrink()", "Softshrink(0.25)", "Hardshrink(0.5)",
                                  "Threshold(threshold=0.1, value=-1)", "GLU(dim=-1)", "GLU(dim=1)", "Softmin(dim=1)"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Threshold", "threshold": 0.5}])"),
             {"layers[1]", "missing required option 'value'"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Softmin"}])"), {"layers[1]", "missing required option 'dim'"});
  // Softmax and LogSoftmax likewise (dim required, as PyTorch deprecates the implicit one).
  auto probs = train::build_model(train::parse_model_spec(
      R"({"name": "p", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [{"type": "Flatten"},
         {"type": "Linear", "in_features": 784, "out_features": 10}, {"type": "LogSoftmax", "dim": 1},
         {"type": "Softmax", "dim": -1}]})",
      "p.json"));
  Tensor p = (*probs)(randn({2, 1, 28, 28}));
  EXPECT_TRUE(allclose(sum(p, {1}), ones({2}), 1e-5, 1e-5));
  expect_has(probs->to_string(), {"LogSoftmax(dim=1)", "Softmax(dim=-1)"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Softmax"}])"), {"layers[1]", "missing required option 'dim'"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Hardtanh", "min_val": 1, "max_val": 0}])"),
             {"layers[1] (Hardtanh)", "max_val must be greater than min_val"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Softshrink", "lambda": 0.5}])"),
             {"layers[1]", "unknown option 'lambda'", "lambd"});
  expect_has(spec_error(R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 15},
                            {"type": "GLU"}])"),
             {"layers[2] (GLU)", "halving dimension must be even"});
}

TEST(ModelSpec, ModernLayersBuildFromJson) {
  // A small CNN with GroupNorm, PReLU and the smooth activations builds, dry-runs and prints.
  const std::string text = R"({"name": "modern", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "GroupNorm", "num_groups": 2, "num_channels": 8, "eps": 1e-4},
    {"type": "PReLU", "num_parameters": 8, "init": 0.1},
    {"type": "MaxPool2d", "kernel_size": 4},
    {"type": "Hardswish"}, {"type": "Hardsigmoid"}, {"type": "Mish"},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 392, "out_features": 32},
    {"type": "SiLU"}, {"type": "Softplus", "beta": 2, "threshold": 10},
    {"type": "Linear", "in_features": 32, "out_features": 10}]})";
  auto model = train::build_model(train::parse_model_spec(text, "modern.json"));
  // conv 80 + GroupNorm 16 + PReLU 8 + linear 392*32+32 + 32*10+10
  EXPECT_EQ(model->num_parameters(), 80 + 16 + 8 + 12576 + 330);
  EXPECT_EQ((*model)(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  expect_has(model->to_string(), {"GroupNorm(2, 8, eps=0.0001, affine=true)", "PReLU(num_parameters=8)",
                             "Softplus(beta=2, threshold=10)", "SiLU()", "Mish()", "Hardswish()"});
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 1, "out_channels": 6, "kernel_size": 3},
                            {"type": "GroupNorm", "num_groups": 4, "num_channels": 6}])"),
             {"layers[1] (GroupNorm)", "num_groups 4 must be positive and divide num_channels 6"});
  expect_has(spec_error(R"([{"type": "GroupNorm", "num_channels": 6}])"),
             {"layers[0]", "missing required option 'num_groups'"});
  // Upsample and circular padding: a tiny encoder-decoder that ends in logits.
  const std::string ed = R"({"name": "ed", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "circular"},
    {"type": "AdaptiveMaxPool2d", "output_size": 7},
    {"type": "Upsample", "scale_factor": [2, 2], "mode": "bilinear", "align_corners": true},
    {"type": "Upsample", "size": 7},
    {"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
     "output_padding": 1},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"}, {"type": "Linear", "in_features": 196, "out_features": 10}]})";
  auto m2 = train::build_model(train::parse_model_spec(ed, "ed.json"));
  EXPECT_EQ((*m2)(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  expect_has(m2->to_string(), {"padding_mode='circular'", "ConvTranspose2d(4, 4", "AdaptiveMaxPool2d(output_size=(7, 7))",
                               "Upsample(scale_factor=(2, 2), mode='bilinear', align_corners=true)",
                               "Upsample(size=(7, 7), mode='nearest')"});
  expect_has(spec_error(R"([{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3,
                            "padding_mode": "wrap"}])"),
             {"layers[0]", "'padding_mode' must be one of \"zeros\", \"reflect\", \"replicate\", \"circular\", got \"wrap\""});
  expect_has(spec_error(R"([{"type": "Upsample", "scale_factor": "2"}])"),
             {"layers[0]", "'scale_factor' must be a number or a pair [h, w]"});
  expect_has(spec_error(R"([{"type": "Upsample", "size": 4, "scale_factor": 2}])"),
             {"layers[0] (Upsample)", "give exactly one of size and scale_factor"});
}

TEST(ModelSpec, RearrangementPaddingAndNormLayersBuildFromJson) {
  // Space-to-depth and back, a channel shuffle between grouped convolutions, padding of every mode
  // (a negative constant pad crops), LRN, unfold / fold and RMSNorm: a small CNN ending in logits.
  const std::string text = R"({"name": "extra", "input_shape": [1, 28, 28], "num_classes": 10, "layers": [
    {"type": "PixelUnshuffle", "downscale_factor": 2},
    {"type": "ReflectionPad2d", "padding": 1},
    {"type": "Conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3, "groups": 2},
    {"type": "ChannelShuffle", "groups": 2},
    {"type": "LocalResponseNorm", "size": 3, "alpha": 0.001},
    {"type": "ZeroPad2d", "padding": [0, 1, 1, 0]},
    {"type": "ReplicationPad2d", "padding": [1, 0, 0, 1]},
    {"type": "CircularPad2d", "padding": 2},
    {"type": "ConstantPad2d", "padding": -2, "value": 0.5},
    {"type": "PixelShuffle", "upscale_factor": 2},
    {"type": "Unfold", "kernel_size": 4, "stride": 4},
    {"type": "Fold", "output_size": [32, 32], "kernel_size": 4, "stride": 4},
    {"type": "MaxPool2d", "kernel_size": 4},
    {"type": "RMSNorm", "normalized_shape": [8, 8]},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 128, "out_features": 10}]})";
  auto model = train::build_model(train::parse_model_spec(text, "extra.json"));
  // grouped conv 8 * 2 * 9 + 8, RMSNorm 64, linear 128 * 10 + 10
  EXPECT_EQ(model->num_parameters(), 152 + 64 + 1290);
  EXPECT_EQ((*model)(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  expect_has(model->to_string(),
             {"PixelUnshuffle(downscale_factor=2)", "ReflectionPad2d((1, 1, 1, 1))", "ChannelShuffle(groups=2)",
              "LocalResponseNorm(3, alpha=0.001, beta=0.75, k=1)", "ZeroPad2d((0, 1, 1, 0))",
              "ReplicationPad2d((1, 0, 0, 1))", "CircularPad2d((2, 2, 2, 2))",
              "ConstantPad2d(padding=(-2, -2, -2, -2), value=0.5)", "PixelShuffle(upscale_factor=2)",
              "Unfold(kernel_size=4, dilation=1, padding=0, stride=4)",
              "Fold(output_size=32, kernel_size=4, dilation=1, padding=0, stride=4)",
              "RMSNorm((8, 8), eps=None, elementwise_affine=true)"});
  expect_has(spec_error(R"([{"type": "PixelShuffle", "upscale_factor": 3}])"),
             {"layers[0] (PixelShuffle) does not fit the output [2, 1, 28, 28]", "not divisible by upscale_factor^2 = 9"});
  expect_has(spec_error(R"([{"type": "PixelShuffle", "upscale_factor": 0}])"),
             {"layers[0] (PixelShuffle)", "upscale_factor must be positive, got 0"});
  expect_has(spec_error(R"([{"type": "ZeroPad2d", "padding": [1, 2, 3]}])"),
             {"layers[0]", "'padding' must be an integer or a list [left, right, top, bottom], got [1,2,3]"});
  expect_has(spec_error(R"([{"type": "ConstantPad2d", "padding": 1}])"), {"layers[0]", "missing required option 'value'"});
  expect_has(spec_error(R"([{"type": "RMSNorm", "eps": 1e-6}])"),
             {"layers[0]", "missing required option 'normalized_shape'"});
  expect_has(spec_error(R"([{"type": "Fold", "kernel_size": 2}])"), {"layers[0]", "missing required option 'output_size'"});
  expect_has(spec_error(R"([{"type": "ReflectionPad2d", "padding": 28}])"),
             {"layers[0] (ReflectionPad2d) does not fit", "reflect padding (28, 28) must be smaller than the size 28"});
}

TEST(ModelSpec, TopLevelErrors) {
  expect_has(top_error("{not json"), {"t.json", "invalid JSON"});
  expect_has(top_error("[]"), {"expected a JSON object"});
  expect_has(top_error(R"({"input_shape": [1, 28, 28], "num_classes": 10, "layers": [{"type": "Flatten"}],
                          "optimizer": "sgd"})"),
             {"unknown key 'optimizer'"});
  expect_has(top_error(R"({"input_shape": [1, 28, 28], "num_classes": 1, "layers": [{"type": "Flatten"}]})"),
             {"num_classes"});
  expect_has(top_error(R"({"input_shape": [1, 28, 28], "num_classes": 10, "layers": []})"), {"layers"});
  expect_has(top_error(R"({"input_shape": [1, 0, 28], "num_classes": 10, "layers": [{"type": "Flatten"}]})"),
             {"input_shape"});
  TempDir dir("spec");
  auto load_error = [](const std::string& path) {
    try {
      train::load_model_spec(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  expect_has(load_error(dir.file("missing.json")), {"[model spec]", "missing.json", "file not found"});
  expect_has(load_error(dir.str()), {"[model spec]", dir.str(), "is a directory"});
  // Refused before the open, which would wait for a writer on a FIFO forever.
  const std::string fifo = dir.file("pipe.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_has(load_error(fifo), {"[model spec]", fifo, "FIFO", "not a regular file"});
  expect_has(load_error("/dev/zero"), {"[model spec]", "/dev/zero", "character device"});
  // So is a checkpoint.
  try {
    train::load_trained_model(fifo);
    ADD_FAILURE() << "FIFO checkpoint accepted";
  } catch (const Error& e) {
    expect_has(e.what(), {"[checkpoint]", fifo, "FIFO"});
  }
}

// ---- metrics ----------------------------------------------------------------------------------

TEST(Metrics, AccuracyTopKConfusionPerClassAndLoss) {
  train::MetricAccumulator acc(3, 2);
  // batch 1: [3,1,0] truth 0 (right); [0,2,1] truth 2 (wrong, in top-2)
  acc.update(from_vector(std::vector<float>{3, 1, 0, 0, 2, 1}, {2, 3}), from_vector(std::vector<int64_t>{0, 2}, {2}),
             1.5);
  // batch 2: [1,3,5] truth 0 (wrong, not in top-2); [0,1,5] truth 2 (right)
  acc.update(from_vector(std::vector<float>{1, 3, 5, 0, 1, 5}, {2, 3}), from_vector(std::vector<int64_t>{0, 2}, {2}),
             0.5);
  train::ClassificationMetrics m = acc.result();
  EXPECT_EQ(m.count, 4);
  EXPECT_EQ(m.k, 2);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.topk_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(m.loss, 0.5);
  EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{1, 0, 1}, {0, 0, 0}, {0, 1, 1}}));
  ASSERT_EQ(m.per_class_accuracy.size(), 3u);
  EXPECT_DOUBLE_EQ(m.per_class_accuracy[0], 0.5);
  EXPECT_TRUE(std::isnan(m.per_class_accuracy[1])) << "class 1 never occurs";
  EXPECT_DOUBLE_EQ(m.per_class_accuracy[2], 0.5);
  EXPECT_EQ(acc.predictions(), (std::vector<int64_t>{0, 1, 2, 2}));

  EXPECT_EQ(train::MetricAccumulator(3, 5).result().k, 3) << "k is capped at the class count";
  EXPECT_EQ(train::MetricAccumulator(3).result().accuracy, 0.0);
  EXPECT_THROW(acc.update(from_vector(std::vector<float>{0, 0, 1}, {1, 3}), from_vector(std::vector<int64_t>{3}, {1}), 0),
               Error);
  EXPECT_THROW(acc.update(from_vector(std::vector<float>{0, 0}, {1, 2}), from_vector(std::vector<int64_t>{0}, {1}), 0),
               Error);
}

// ---- report -----------------------------------------------------------------------------------

namespace {

train::ReportData sample_report() {
  train::ReportData d;
  d.title = "run <b>&\"x\"";
  d.config = io::Json::object({{"model", "mlp"}, {"epochs", 3}});
  d.summary = io::Json::object({{"test accuracy", 0.5}});
  for (int e = 1; e <= 3; ++e) {
    train::EpochRecord r;
    r.epoch = e;
    r.train_loss = 1.0 / e, r.val_loss = 1.2 / e, r.train_accuracy = 0.3 * e, r.val_accuracy = 0.25 * e;
    r.lr = 0.1 / e;
    d.history.push_back(r);
  }
  d.test.count = 6;
  d.test.accuracy = 0.5;
  d.test.confusion = {{2, 1, 0}, {0, 1, 0}, {1, 1, 0}};
  d.test.per_class_accuracy = {2.0 / 3, 1.0, std::nan("")};
  d.class_names = {"cat", "dog"};  // the third is named by its index
  for (int i = 0; i < 2; ++i) {
    train::ImageSample s;
    s.height = 2, s.width = 2;
    s.pixels = {uint8_t(i), 255, 128, 7};
    s.truth = 2, s.predicted = i;
    s.confidence = 0.75;
    d.misclassified.push_back(s);
  }
  return d;
}

std::string section(const std::string& html, const std::string& start, const std::string& end) {
  size_t b = html.find(start);
  if (b == std::string::npos) return "";
  size_t e = html.find(end, b);
  return html.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

}  // namespace

TEST(Report, StructureChartsTablesAndEscaping) {
  std::string html = train::render_report(sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.substr(html.size() - 8), "</html>\n");
  for (const char* id : {"chart-loss", "chart-accuracy", "chart-lr", "chart-per-class"})
    EXPECT_EQ(count_of(html, std::string("<svg class=\"chart\" id=\"") + id + "\""), 1u) << id;
  EXPECT_EQ(count_of(html, "<table id=\"confusion\""), 1u);
  EXPECT_EQ(count_of(html, "id=\"misclassified\""), 1u);
  // Self-contained: nothing is fetched.
  EXPECT_EQ(count_of(html, "src="), 0u);
  EXPECT_EQ(count_of(html, "href="), 0u);
  EXPECT_EQ(count_of(html, "http"), 0u);
  // Escaping.
  EXPECT_EQ(count_of(html, "<b>"), 0u);
  EXPECT_GE(count_of(html, "run &lt;b&gt;&amp;&quot;x&quot;"), 2u);  // <title> and <h1>

  // Learning curves: 2 + 2 + 1 series, 3 points each.
  std::string loss = section(html, "id=\"chart-loss\"", "</svg>");
  EXPECT_EQ(count_of(loss, "<polyline"), 2u);
  EXPECT_EQ(count_of(section(html, "id=\"chart-accuracy\"", "</svg>"), "<polyline"), 2u);
  EXPECT_EQ(count_of(section(html, "id=\"chart-lr\"", "</svg>"), "<polyline"), 1u);
  std::string pts = section(loss, "points=\"", "\"/>");
  EXPECT_EQ(count_of(pts, ","), 3u) << pts;

  // Confusion matrix: header + 3 rows of 3 cells, names (with the missing one numbered).
  std::string conf = section(html, "<table id=\"confusion\"", "</table>");
  EXPECT_EQ(count_of(conf, "<tr>"), 4u);
  EXPECT_EQ(count_of(conf, "<td"), 9u);
  EXPECT_NE(conf.find("<th>cat</th>"), std::string::npos);
  EXPECT_NE(conf.find("<th>2</th>"), std::string::npos);
  // Per-class bars; a class absent from the test set shows n/a.
  std::string bars = section(html, "id=\"chart-per-class\"", "</svg>");
  EXPECT_EQ(count_of(bars, "class=\"bar\""), 3u);
  EXPECT_NE(bars.find("n/a"), std::string::npos);
  // Misclassified images: one canvas per sample, pixel data inline.
  EXPECT_EQ(count_of(html, "<canvas"), 2u);
  EXPECT_NE(html.find("data-sample=\"1\""), std::string::npos);
  EXPECT_NE(html.find("const samples=[[0,255,128,7],[1,255,128,7]]"), std::string::npos);
  EXPECT_NE(html.find("true: 2<br>pred: dog (0.75)"), std::string::npos);

  TempDir dir("report");
  train::write_report(sample_report(), dir.file("r.html"));
  EXPECT_EQ(read_text(dir.file("r.html")), html);
}

TEST(Report, EmptyHistoryAndNoSamplesStillRender) {
  train::ReportData d;
  d.title = "empty";
  d.test.confusion = {{0, 0}, {0, 0}};
  d.test.per_class_accuracy = {std::nan(""), std::nan("")};
  std::string html = train::render_report(d);
  for (const char* id : {"chart-loss", "chart-accuracy", "chart-lr", "chart-per-class"})
    EXPECT_NE(html.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_EQ(count_of(html, "<canvas"), 0u);
  EXPECT_EQ(count_of(html, "nan"), 0u);
  EXPECT_EQ(count_of(html, "inf"), 0u);
}

// Loads a report in headless Chromium: the DOM it builds must hold the charts, and the page's
// script (which draws the misclassified images) must run without errors.
TEST(Report, RendersInHeadlessChromiumWithoutScriptErrors) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "/usr/bin/chromium is not installed: browser rendering not checked";
  TempDir dir("chromium");
  train::write_report(sample_report(), dir.file("report.html"));
  std::string cmd = std::string(chromium) +
                    " --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update"
                    " --disable-sync --no-first-run --user-data-dir=" + dir.file("profile") +
                    " --enable-logging=stderr --v=0 --dump-dom file://" + dir.file("report.html") + " > " +
                    dir.file("dom.html") + " 2> " + dir.file("stderr.txt");
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_text(dir.file("stderr.txt"));
  std::string dom = read_text(dir.file("dom.html")), err = read_text(dir.file("stderr.txt"));
  for (const char* id : {"chart-loss", "chart-accuracy", "chart-lr", "chart-per-class", "confusion", "misclassified"})
    EXPECT_NE(dom.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_EQ(count_of(dom, "<canvas"), 2u);
  EXPECT_EQ(count_of(err, "Uncaught"), 0u) << err;
  for (const std::string& l : lines_of(err))
    EXPECT_EQ(l.find("CONSOLE"), std::string::npos) << "console message from the page: " << l;
}
