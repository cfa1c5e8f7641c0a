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

struct HardtanhOptions {
  NB_ARG(double, min_val) = -1.0;
  NB_ARG(double, max_val) = 1.0;
};
/// clamp(x, min_val, max_val); max_val must be greater than min_val.
class Hardtanh : public Module {
 public:
  explicit Hardtanh(const HardtanhOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  HardtanhOptions options;
};

/// min(max(x, 0), 6).
class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Tensor forward(const Tensor& x) override;
};

/// Scaled ELU with the fixed alpha and scale of self-normalizing networks.
class SELU : public Module {
 public:
  SELU() : Module("SELU") {}
  Tensor forward(const Tensor& x) override;
};

struct CELUOptions {
  NB_ARG(double, alpha) = 1.0;
};
/// max(0, x) + min(0, alpha (exp(x / alpha) - 1)); alpha must not be 0.
class CELU : public Module {
 public:
  explicit CELU(const CELUOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  CELUOptions options;
};

/// x / (1 + |x|).
class Softsign : public Module {
 public:
  Softsign() : Module("Softsign") {}
  Tensor forward(const Tensor& x) override;
};

/// log(sigmoid(x)), stable.
class LogSigmoid : public Module {
 public:
  LogSigmoid() : Module("LogSigmoid") {}
  Tensor forward(const Tensor& x) override;
};

/// x - tanh(x).
class Tanhshrink : public Module {
 public:
  Tanhshrink() : Module("Tanhshrink") {}
  Tensor forward(const Tensor& x) override;
};

struct ShrinkOptions {
  NB_ARG(double, lambd) = 0.5;
};
using SoftshrinkOptions = ShrinkOptions;
using HardshrinkOptions = ShrinkOptions;
/// x - lambd above lambd, x + lambd below -lambd, 0 between (lambd >= 0).
class Softshrink : public Module {
 public:
  explicit Softshrink(const SoftshrinkOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftshrinkOptions options;
};
/// x outside [-lambd, lambd], 0 inside.
class Hardshrink : public Module {
 public:
  explicit Hardshrink(const HardshrinkOptions& options = {}) : Module("Hardshrink"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  HardshrinkOptions options;
};

struct ThresholdOptions {
  ThresholdOptions(double threshold, double value) : threshold_(threshold), value_(value) {}
  NB_ARG(double, threshold);
  NB_ARG(double, value);
};
/// x where x > threshold, else value.
class Threshold : public Module {
 public:
  explicit Threshold(const ThresholdOptions& options) : Module("Threshold"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ThresholdOptions options;
};

struct GLUOptions {
  NB_ARG(int64_t, dim) = -1;
};
/// a sigmoid(b), with a, b the halves of the input along dim (whose size must be even).
class GLU : public Module {
 public:
  explicit GLU(const GLUOptions& options = {}) : Module("GLU"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  GLUOptions options;
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

/// log(softmax(x)) along dim (one kernel over the last dim; x - logsumexp(x) otherwise).
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(const SoftmaxOptions& options) : Module("LogSoftmax"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftmaxOptions options;
};

/// softmax(-x) along dim.
class Softmin : public Module {
 public:
  explicit Softmin(const SoftmaxOptions& options) : Module("Softmin"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SoftmaxOptions options;
};

}  // namespace nabla::nn
