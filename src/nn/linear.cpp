// Linear, Flatten and Embedding.
#include "nabla/nn/linear.h"

#include <algorithm>
#include <cmath>

#include "nabla/autograd.h"
#include "nabla/nn/embedding.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

// ---- Linear ------------------------------------------------------------------------------------

Linear::Linear(const LinearOptions& o) : Module("Linear"), options(o) {
  if (o.in_features() < 0 || o.out_features() < 0)
    fail("in_features and out_features must be non-negative, got ", o.in_features(), " and ", o.out_features());
  weight = register_parameter("weight", empty({o.out_features(), o.in_features()}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_features()}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch's default: kaiming_uniform_(a = sqrt(5)) gives bound 1/sqrt(fan_in) for the weight.
  const int64_t fan_in = options.in_features();
  if (weight.numel() > 0) init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  const int64_t in = options.in_features();
  if (x.dim() < 1 || x.size(-1) != in)
    fail("expected input [..., ", in, "] (", in, " features), got shape ", x.shape(), "; weight is ", weight.shape());
  check_input_dtype(x, weight);
  return fused_call() ? linear_relu(x, weight, bias) : linear(x, weight, bias);
}

Tensor Linear::forward_relu(const Tensor& x) {
  return call_fused(x, [](const Tensor& y) { return relu(y); });
}

// ---- Flatten ---------------------------------------------------------------------------------

Tensor Flatten::forward(const Tensor& x) {
  auto in_range = [&](int64_t d) { return d >= -std::max<int64_t>(x.dim(), 1) && d < std::max<int64_t>(x.dim(), 1); };
  if (!in_range(options.start_dim()) || !in_range(options.end_dim()))
    fail("start_dim ", options.start_dim(), " / end_dim ", options.end_dim(), " out of range for input of shape ",
         x.shape());
  return x.flatten(options.start_dim(), options.end_dim());
}

// ---- Embedding ---------------------------------------------------------------------------------

Embedding::Embedding(const EmbeddingOptions& o) : Module("Embedding"), options(o) {
  const int64_t n = o.num_embeddings(), d = o.embedding_dim();
  if (n < 0 || d < 0) fail("num_embeddings and embedding_dim must be non-negative, got ", n, " and ", d);
  if (o.padding_idx()) {
    int64_t p = *o.padding_idx();
    if (p < -n || p >= n) fail("padding_idx ", p, " is out of range for ", n, " embeddings");
    options.padding_idx(p < 0 ? p + n : p);
  }
  weight = register_parameter("weight", empty({n, d}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (options.padding_idx()) {
    NoGradGuard ng;
    weight.select(0, *options.padding_idx()).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  if (indices.dtype() != DType::i64)
    fail("expected i64 indices, got ", indices.dtype(), " input of shape ", indices.shape(), "; weight is ",
         weight.shape());
  return embedding(weight, indices, options.padding_idx());
}

// ---- printing -------------------------------------------------------------------------------

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(options.in_features()) + ", out_features=" +
         std::to_string(options.out_features()) + ", bias=" + detail::bool_str(options.bias());
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(options.start_dim()) + ", end_dim=" + std::to_string(options.end_dim());
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(options.num_embeddings()) + ", " + std::to_string(options.embedding_dim());
  if (options.padding_idx()) s += ", padding_idx=" + std::to_string(*options.padding_idx());
  return s;
}

}  // namespace nabla::nn
