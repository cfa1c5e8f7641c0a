// Identity, Linear, Bilinear and Flatten.
#pragma once
#include "nabla/nn/module.h"

namespace nabla::nn {

/// Returns its input.
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  NB_ARG(int64_t, in_features);
  NB_ARG(int64_t, out_features);
  NB_ARG(bool, bias) = true;
};

/// y = x Wᵀ + b for x [..., in_features]: weight [out, in], bias [out].
/// Default init (PyTorch's): weight kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in));
/// bias U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options);
  Linear(int64_t in_features, int64_t out_features) : Linear(LinearOptions(in_features, out_features)) {}
  Tensor forward(const Tensor& x) override;
  /// Re-draws the parameters with the default init.
  void reset_parameters();
  std::string extra_repr() const override;

  LinearOptions options;
  Tensor weight;
  Tensor bias;  ///< undefined when options.bias() is false

  /// Runs this layer followed by ReLU as one fused op (Sequential does this for a Linear directly
  /// followed by a ReLU): same result and gradients; on the CPU the bias and the ReLU ride along
  /// with the GEMM.
  /// A layer with hooks runs unfused, relu((*this)(x)), so its hooks see its own output.
  Tensor forward_relu(const Tensor& x);
};

struct BilinearOptions {
  BilinearOptions(int64_t in1_features, int64_t in2_features, int64_t out_features)
      : in1_features_(in1_features), in2_features_(in2_features), out_features_(out_features) {}
  NB_ARG(int64_t, in1_features);
  NB_ARG(int64_t, in2_features);
  NB_ARG(int64_t, out_features);
  NB_ARG(bool, bias) = true;
};

/// y_o = x1ᵀ A_o x2 + b_o for x1 [..., in1], x2 [..., in2] (same leading dims): weight
/// [out, in1, in2], bias [out]. Takes two inputs: call it as `bilinear(x1, x2)`.
/// Default init (PyTorch's): weight and bias U(-1/sqrt(in1), 1/sqrt(in1)).
class Bilinear : public Module {
 public:
  explicit Bilinear(const BilinearOptions& options);
  Tensor forward(const Tensor& x1, const Tensor& x2);
  /// forward(x1, x2) with errors naming this module, as Module::operator().
  Tensor operator()(const Tensor& x1, const Tensor& x2);
  /// One input is an error: Bilinear needs two.
  Tensor forward(const Tensor& x) override;
  using Module::operator();
  /// Two tensors in: module hooks (one in, one out) are refused at registration.
  bool supports_module_hooks() const override { return false; }
  void reset_parameters();
  std::string extra_repr() const override;

  BilinearOptions options;
  Tensor weight;  ///< [out, in1, in2]
  Tensor bias;    ///< [out], undefined when options.bias() is false
};

struct FlattenOptions {
  NB_ARG(int64_t, start_dim) = 1;
  NB_ARG(int64_t, end_dim) = -1;
};

/// Flattens dims start_dim..end_dim into one (default: all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(const FlattenOptions& options = {}) : Module("Flatten"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  FlattenOptions options;
};

}  // namespace nabla::nn
