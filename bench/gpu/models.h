// The benchmark models (MLP, the CNN preset, ResNet-18 for 32x32 inputs) and their input
// shapes, shared by bench_gpu_step and bench_host_step; torch_step.py defines the same ones.
#pragma once
#include <memory>
#include <string>

#include "nabla/nabla.h"
#include "nabla/nn.h"

namespace benchmodels {

namespace nb = nabla;
namespace nn = nabla::nn;
using nb::Tensor;

// ---- models --------------------------------------------------------------------------------

inline std::shared_ptr<nn::Module> make_mlp() {
  return std::make_shared<nn::Sequential>(nn::Linear(nn::LinearOptions(784, 512)), nn::ReLU(),
                                          nn::Linear(nn::LinearOptions(512, 256)), nn::ReLU(),
                                          nn::Linear(nn::LinearOptions(256, 10)));
}

/// The `cnn` preset: conv 1->32 3x3 pad 1, relu, maxpool 2, conv 32->64, relu, maxpool 2,
/// flatten, linear 3136->128, relu, dropout 0.5, linear 128->10.
inline std::shared_ptr<nn::Module> make_cnn() {
  return std::make_shared<nn::Sequential>(
      nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
      nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
      nn::Linear(nn::LinearOptions(3136, 128)), nn::ReLU(), nn::Dropout(0.5), nn::Linear(nn::LinearOptions(128, 10)));
}

/// ResNet basic block: conv3x3-bn-relu-conv3x3-bn, plus the input (1x1 conv-bn projection
/// when the shape changes), then relu.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride) : Module("BasicBlock") {
    conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(
                                          nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out));
    conv2_ = register_module("conv2",
                             std::make_shared<nn::Conv2d>(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out));
    if (stride != 1 || in != out) {
      down_conv_ = register_module(
          "down_conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      down_bn_ = register_module("down_bn", std::make_shared<nn::BatchNorm2d>(out));
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = nb::relu((*bn1_)((*conv1_)(x)));
    h = (*bn2_)((*conv2_)(h));
    Tensor shortcut = down_conv_ ? (*down_bn_)((*down_conv_)(x)) : x;
    return nb::relu(nb::add(h, shortcut));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, down_conv_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_, down_bn_;
};

/// ResNet-18 for 32x32 images (CIFAR-style stem: one 3x3 conv, no max-pool), 10 classes.
class ResNet18 : public nn::Module {
 public:
  ResNet18() : Module("ResNet18") {
    stem_ = register_module("stem", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 64, 3).padding(1).bias(false)));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(64));
    int64_t in = 64;
    for (int64_t out : {64, 128, 256, 512}) {
      for (int b = 0; b < 2; ++b) {
        int64_t stride = (b == 0 && out != 64) ? 2 : 1;
        blocks_.push_back(register_module("block" + std::to_string(blocks_.size()),
                                          std::make_shared<BasicBlock>(in, out, stride)));
        in = out;
      }
    }
    fc_ = register_module("fc", std::make_shared<nn::Linear>(nn::LinearOptions(512, 10)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = nb::relu((*bn_)((*stem_)(x)));
    for (auto& b : blocks_) h = (*b)(h);
    return (*fc_)(nb::global_avg_pool2d(h));
  }

 private:
  std::shared_ptr<nn::Conv2d> stem_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
  std::shared_ptr<nn::Linear> fc_;
};

inline std::shared_ptr<nn::Module> make_model(const std::string& name) {
  if (name == "mlp") return make_mlp();
  if (name == "cnn") return make_cnn();
  if (name == "resnet18") return std::make_shared<ResNet18>();
  nb::fail("unknown model '", name, "' (known: mlp, cnn, resnet18)");
}

inline nb::Shape input_shape(const std::string& model, int64_t batch) {
  if (model == "mlp") return {batch, 784};
  if (model == "cnn") return {batch, 1, 28, 28};
  return {batch, 3, 32, 32};
}

}  // namespace benchmodels
