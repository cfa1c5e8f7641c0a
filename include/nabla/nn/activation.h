// Activation layers (element-wise unless noted), wrapping the functional ops.
#pragma once
#include <string>

#include "nabla/nn/module.h"

namespace nabla::nn {

/// max(0, x).
class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

struct LeakyReLUOptions {
  NB_ARG(double, negative_slope) = 0.01;
};
/// x for x > 0, negative_slope x otherwise.
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(const LeakyReLUOptions& options = {}) : Module("LeakyReLU"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  LeakyReLUOptions options;
};

struct ELUOptions {
  NB_ARG(double, alpha) = 1.0;
};
/// x for x > 0, alpha (exp(x) - 1) otherwise.
class ELU : public Module {
 public:
  explicit ELU(const ELUOptions& options = {}) : Module("ELU"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ELUOptions options;
};

struct GELUOptions {
  /// "none": x Φ(x) with the exact normal CDF; "tanh": the tanh approximation.
  NB_ARG(std::string, approximate) = "none";
};
class GELU : public Module {
 public:
  explicit GELU(const GELUOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  GELUOptions options;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

/// 1 / (1 + exp(-x)).
class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

/// x sigmoid(x) (also called swish).
class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

/// x tanh(softplus(x)).
class Mish : public Module {
 public:
  Mish() : Module("Mish") {}
  Tensor forward(const Tensor& x) override;
};

/// clamp(x/6 + 1/2, 0, 1).
class Hardsigmoid : public Module {
 public:
  Hardsigmoid() : Module("Hardsigmoid") {}
  Tensor forward(const Tensor& x) override;
};

/// x hardsigmoid(x) (MobileNetV3's activation).
class Hardswish : public Module {
 public:
  Hardswish() : Module("Hardswish") {}
  Tensor forward(const Tensor& x) override;
};

struct SoftplusOptions {
  NB_ARG(double, beta) = 1.0;
  NB_ARG(double, threshold) = 20.0;  ///< linear where beta x exceeds it
};
/// log(1 + exp(beta x)) / beta.
class Softplus : public Module {
 public:
  explicit Softplus(const SoftplusOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftplusOptions options;
};

struct PReLUOptions {
  /// 1 (one slope shared by every channel) or the number of channels (dim 1 of the input).
  NB_ARG(int64_t, num_parameters) = 1;
  NB_ARG(double, init) = 0.25;
};
/// x for x > 0, a x otherwise, with the slope `a` learned (parameter `weight`).
class PReLU : public Module {
 public:
  explicit PReLU(const PReLUOptions& options = {});
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;
  PReLUOptions options;
  Tensor weight;
};

struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim) : dim_(dim) {}  // NOLINT: `Softmax(1)`
  NB_ARG(int64_t, dim);
};
/// exp(x) / sum(exp(x)) along dim (stable: the max is subtracted first).
class Softmax : public Module {
 public:
  explicit Softmax(const SoftmaxOptions& options) : Module("Softmax"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftmaxOptions options;
};

/// log(softmax(x)) along dim, computed as x - logsumexp(x).
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(const SoftmaxOptions& options) : Module("LogSoftmax"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftmaxOptions options;
};

}  // namespace nabla::nn
