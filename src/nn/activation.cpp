// Activation layers and Dropout: thin wrappers over the functional ops.
#include "nabla/nn/activation.h"

#include "nabla/nn/dropout.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, options.negative_slope()); }
Tensor ELU::forward(const Tensor& x) { return elu(x, options.alpha()); }

GELU::GELU(const GELUOptions& o) : Module("GELU"), options(o) {
  if (o.approximate() != "none" && o.approximate() != "tanh")
    fail("approximate must be \"none\" or \"tanh\", got \"", o.approximate(), "\"");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, options.approximate() == "tanh"); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Mish::forward(const Tensor& x) { return mish(x); }
Tensor Hardsigmoid::forward(const Tensor& x) { return hardsigmoid(x); }
Tensor Hardswish::forward(const Tensor& x) { return hardswish(x); }

Softplus::Softplus(const SoftplusOptions& o) : Module("Softplus"), options(o) {
  if (!(o.beta() > 0)) fail("beta must be positive, got ", o.beta());
}
Tensor Softplus::forward(const Tensor& x) { return softplus(x, options.beta(), options.threshold()); }

PReLU::PReLU(const PReLUOptions& o) : Module("PReLU"), options(o) {
  if (o.num_parameters() <= 0) fail("num_parameters must be positive, got ", o.num_parameters());
  weight = register_parameter("weight", empty({o.num_parameters()}));
  reset_parameters();
}
void PReLU::reset_parameters() { init::constant_(weight, options.init()); }
Tensor PReLU::forward(const Tensor& x) { return prelu(x, weight); }

Hardtanh::Hardtanh(const HardtanhOptions& o) : Module("Hardtanh"), options(o) {
  if (!(o.max_val() > o.min_val()))
    fail("max_val must be greater than min_val, got min_val=", o.min_val(), " and max_val=", o.max_val());
}
Tensor Hardtanh::forward(const Tensor& x) { return hardtanh(x, options.min_val(), options.max_val()); }
Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }
Tensor SELU::forward(const Tensor& x) { return selu(x); }
CELU::CELU(const CELUOptions& o) : Module("CELU"), options(o) {
  if (o.alpha() == 0) fail("alpha cannot be 0");
}
Tensor CELU::forward(const Tensor& x) { return celu(x, options.alpha()); }
Tensor Softsign::forward(const Tensor& x) { return softsign(x); }
Tensor LogSigmoid::forward(const Tensor& x) { return logsigmoid(x); }
Tensor Tanhshrink::forward(const Tensor& x) { return tanhshrink(x); }
Softshrink::Softshrink(const SoftshrinkOptions& o) : Module("Softshrink"), options(o) {
  if (!(o.lambd() >= 0)) fail("lambd must be greater or equal to 0, got ", o.lambd());
}
Tensor Softshrink::forward(const Tensor& x) { return softshrink(x, options.lambd()); }
Tensor Hardshrink::forward(const Tensor& x) { return hardshrink(x, options.lambd()); }
Tensor Threshold::forward(const Tensor& x) { return threshold(x, options.threshold(), options.value()); }
Tensor GLU::forward(const Tensor& x) { return glu(x, options.dim()); }
Tensor Softmin::forward(const Tensor& x) { return softmin(x, options.dim()); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, options.dim()); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, options.dim()); }

namespace {
void check_probability(const Module& m, double p) {
  if (!(p >= 0.0 && p <= 1.0)) m.fail("probability p must be in [0, 1], got ", p);
}
}  // namespace

Dropout::Dropout(const DropoutOptions& o) : Module("Dropout"), options(o) { check_probability(*this, o.p()); }
Tensor Dropout::forward(const Tensor& x) { return dropout(x, options.p(), is_training()); }

Dropout1d::Dropout1d(const DropoutOptions& o) : Module("Dropout1d"), options(o) { check_probability(*this, o.p()); }
Tensor Dropout1d::forward(const Tensor& x) {
  if (x.dim() != 2 && x.dim() != 3) fail("expected input [N, C, L] or [C, L], got shape ", x.shape());
  return dropout1d(x, options.p(), is_training());
}

Dropout2d::Dropout2d(const DropoutOptions& o) : Module("Dropout2d"), options(o) { check_probability(*this, o.p()); }
Tensor Dropout2d::forward(const Tensor& x) {
  if (x.dim() != 3 && x.dim() != 4) fail("expected input [N, C, H, W] or [C, H, W], got shape ", x.shape());
  return dropout2d(x, options.p(), is_training());
}

// ---- printing -------------------------------------------------------------------------------

std::string LeakyReLU::extra_repr() const { return "negative_slope=" + detail::num_str(options.negative_slope()); }
std::string ELU::extra_repr() const { return "alpha=" + detail::num_str(options.alpha()); }
std::string GELU::extra_repr() const {
  return options.approximate() == "none" ? "" : "approximate='" + options.approximate() + "'";
}
std::string Softplus::extra_repr() const {
  return "beta=" + detail::num_str(options.beta()) + ", threshold=" + detail::num_str(options.threshold());
}
std::string PReLU::extra_repr() const { return "num_parameters=" + std::to_string(options.num_parameters()); }
std::string Hardtanh::extra_repr() const {
  return "min_val=" + detail::num_str(options.min_val()) + ", max_val=" + detail::num_str(options.max_val());
}
std::string CELU::extra_repr() const { return "alpha=" + detail::num_str(options.alpha()); }
std::string Softshrink::extra_repr() const { return detail::num_str(options.lambd()); }
std::string Hardshrink::extra_repr() const { return detail::num_str(options.lambd()); }
std::string Threshold::extra_repr() const {
  return "threshold=" + detail::num_str(options.threshold()) + ", value=" + detail::num_str(options.value());
}
std::string GLU::extra_repr() const { return "dim=" + std::to_string(options.dim()); }
std::string Softmin::extra_repr() const { return "dim=" + std::to_string(options.dim()); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(options.dim()); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(options.dim()); }
std::string Dropout::extra_repr() const { return "p=" + detail::num_str(options.p()); }
std::string Dropout1d::extra_repr() const { return "p=" + detail::num_str(options.p()); }
std::string Dropout2d::extra_repr() const { return "p=" + detail::num_str(options.p()); }

}  // namespace nabla::nn
