// Linear, Bilinear, Flatten, Embedding and EmbeddingBag.
#include "nabla/nn/linear.h"

#include <algorithm>
#include <cmath>

#include "nabla/autograd.h"
#include "nabla/nn/embedding.h"
#include "nabla/nn/init.h"
#include "call_recorder.h"
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

// ---- Bilinear ------------------------------------------------------------------------------------

Bilinear::Bilinear(const BilinearOptions& o) : Module("Bilinear"), options(o) {
  if (o.in1_features() < 0 || o.in2_features() < 0 || o.out_features() < 0)
    fail("in1_features, in2_features and out_features must be non-negative, got ", o.in1_features(), ", ",
         o.in2_features(), " and ", o.out_features());
  weight = register_parameter("weight", empty({o.out_features(), o.in1_features(), o.in2_features()}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_features()}));
  reset_parameters();
}

void Bilinear::reset_parameters() {
  // PyTorch's: U(-1/sqrt(in1), 1/sqrt(in1)) for both, from weight.size(1).
  const double bound = options.in1_features() > 0 ? 1.0 / std::sqrt(double(options.in1_features())) : 0.0;
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) {
  const int64_t in1 = options.in1_features(), in2 = options.in2_features();
  if (!x1.defined() || !x2.defined() || x1.dim() < 1 || x2.dim() < 1 || x1.size(-1) != in1 || x2.size(-1) != in2)
    fail("expected inputs [..., ", in1, "] and [..., ", in2, "], got shapes ", x1.defined() ? x1.shape() : Shape{},
         " and ", x2.defined() ? x2.shape() : Shape{}, "; weight is ", weight.shape());
  check_input_dtype(x1, weight);
  check_input_dtype(x2, weight);
  return bilinear(x1, x2, weight, bias);
}

Tensor Bilinear::operator()(const Tensor& x1, const Tensor& x2) {
  return detail::tagged_call(*this, [&] { return forward(x1, x2); });
}

Tensor Bilinear::forward(const Tensor& x) {
  fail("takes two inputs, x1 [..., ", options.in1_features(), "] and x2 [..., ", options.in2_features(),
       "]: call it as bilinear(x1, x2); got one of shape ", x.shape());
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

namespace {
/// Embedding's and EmbeddingBag's options checked, a negative padding_idx made non-negative.
template <typename Options>
void check_table_options(const Module& m, Options& o) {
  const int64_t n = o.num_embeddings(), d = o.embedding_dim();
  if (n < 0 || d < 0) m.fail("num_embeddings and embedding_dim must be non-negative, got ", n, " and ", d);
  if (std::optional<int64_t>& padding_idx = o.padding_idx()) {
    const int64_t p = *padding_idx;
    if (p < -n || p >= n) m.fail("padding_idx ", p, " is out of range for ", n, " embeddings");
    padding_idx = p < 0 ? p + n : p;
  }
  if (o.max_norm() && !(*o.max_norm() >= 0)) m.fail("max_norm must be >= 0, got ", *o.max_norm());
  if (!(o.norm_type() > 0)) m.fail("norm_type must be positive (a p-norm, inf allowed), got ", o.norm_type());
}

/// from_pretrained's table: [num_embeddings, embedding_dim], of a floating dtype unless
/// `integer_ok` (Embedding, frozen: PyTorch looks rows of an integer table up too).
void check_pretrained(const Tensor& e, const char* layer, bool integer_ok = false) {
  NB_CHECK(e.defined() && e.dim() == 2 && (integer_ok || e.is_floating_point()), "[", layer,
           ".from_pretrained] embeddings must be a ", integer_ok ? "" : "floating ",
           "2-D tensor [num_embeddings, embedding_dim], got ",
           e.defined() ? shape_str(e.shape()) + " " + dtype_name(e.dtype()) : "an undefined tensor");
}

/// PyTorch's init of both: N(0, 1), the padding row zero.
void reset_table(Tensor& weight, const std::optional<int64_t>& padding_idx) {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard ng;
    weight.select(0, *padding_idx).zero_();
  }
}
}  // namespace

Embedding::Embedding(const EmbeddingOptions& o) : Module("Embedding"), options(o) {
  check_table_options(*this, options);
  weight = register_parameter("weight", empty({o.num_embeddings(), o.embedding_dim()}));
  reset_parameters();
}

Embedding::Embedding(const EmbeddingOptions& o, const Tensor& w, bool requires_grad) : Module("Embedding"), options(o) {
  check_table_options(*this, options);
  // detach(): the parameter shares the caller's storage, not its autograd flags
  weight = register_parameter("weight", w.detach(), requires_grad);
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& e, const EmbeddingFromPretrainedOptions& p) {
  check_pretrained(e, "Embedding", /*integer_ok=*/true);
  if (!e.is_floating_point()) {
    // A lookup table of ids or counts: it can only be frozen, and max_norm would rescale its rows
    // in place, which an integer table cannot hold.
    NB_CHECK(p.freeze(), "[Embedding.from_pretrained] freeze=false needs a floating table: the weight would require "
             "grad, and a table of dtype ", e.dtype(), " cannot require grad (only floating tensors can); pass "
             "freeze=true or convert the table to a floating dtype");
    NB_CHECK(!p.max_norm(), "[Embedding.from_pretrained] max_norm renormalizes rows in place, which a table of dtype ",
             e.dtype(), " cannot hold; drop max_norm or convert the table to a floating dtype");
  }
  EmbeddingOptions o(e.size(0), e.size(1));
  o.padding_idx(p.padding_idx()).max_norm(p.max_norm()).norm_type(p.norm_type()).scale_grad_by_freq(p.scale_grad_by_freq());
  return std::shared_ptr<Embedding>(new Embedding(o, e, !p.freeze()));
}

void Embedding::reset_parameters() { reset_table(weight, options.padding_idx()); }

Tensor Embedding::forward(const Tensor& indices) {
  if (indices.dtype() != DType::i64)
    fail("expected i64 indices, got ", indices.dtype(), " input of shape ", indices.shape(), "; weight is ",
         weight.shape());
  return embedding(weight, indices,
                   {.padding_idx = options.padding_idx(),
                    .max_norm = options.max_norm(),
                    .norm_type = options.norm_type(),
                    .scale_grad_by_freq = options.scale_grad_by_freq()});
}

// ---- EmbeddingBag ------------------------------------------------------------------------------

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& o) : Module("EmbeddingBag"), options(o) {
  check_table_options(*this, options);
  weight = register_parameter("weight", empty({o.num_embeddings(), o.embedding_dim()}));
  reset_parameters();
}

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& o, const Tensor& w, bool requires_grad)
    : Module("EmbeddingBag"), options(o) {
  check_table_options(*this, options);
  weight = register_parameter("weight", w.detach(), requires_grad);
}

std::shared_ptr<EmbeddingBag> EmbeddingBag::from_pretrained(const Tensor& e,
                                                            const EmbeddingBagFromPretrainedOptions& p) {
  check_pretrained(e, "EmbeddingBag");
  EmbeddingBagOptions o(e.size(0), e.size(1));
  o.mode(p.mode()).include_last_offset(p.include_last_offset()).padding_idx(p.padding_idx()).max_norm(p.max_norm());
  o.norm_type(p.norm_type()).scale_grad_by_freq(p.scale_grad_by_freq());
  return std::shared_ptr<EmbeddingBag>(new EmbeddingBag(o, e, !p.freeze()));
}

void EmbeddingBag::reset_parameters() { reset_table(weight, options.padding_idx()); }

Tensor EmbeddingBag::forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights) {
  if (!input.defined() || input.dtype() != DType::i64)
    fail("expected i64 indices, got ", input.defined() ? dtype_name(input.dtype()) : "an undefined tensor");
  return embedding_bag(weight, input,
                       {.offsets = offsets,
                        .mode = options.mode(),
                        .per_sample_weights = per_sample_weights,
                        .include_last_offset = options.include_last_offset(),
                        .padding_idx = options.padding_idx(),
                        .max_norm = options.max_norm(),
                        .norm_type = options.norm_type(),
                        .scale_grad_by_freq = options.scale_grad_by_freq()});
}

Tensor EmbeddingBag::operator()(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights) {
  return detail::tagged_call(*this, [&] { return forward(input, offsets, per_sample_weights); });
}

Tensor EmbeddingBag::forward(const Tensor& input) { return forward(input, Tensor()); }

// ---- printing -------------------------------------------------------------------------------

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(options.in_features()) + ", out_features=" +
         std::to_string(options.out_features()) + ", bias=" + detail::bool_str(options.bias());
}

std::string Bilinear::extra_repr() const {
  return "in1_features=" + std::to_string(options.in1_features()) + ", in2_features=" +
         std::to_string(options.in2_features()) + ", out_features=" + std::to_string(options.out_features()) +
         ", bias=" + detail::bool_str(options.bias());
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(options.start_dim()) + ", end_dim=" + std::to_string(options.end_dim());
}

namespace {
/// The optional settings PyTorch's Embedding and EmbeddingBag print after the sizes.
template <typename Options>
std::string table_repr(const Options& o) {
  std::string s;
  if (o.padding_idx()) s += ", padding_idx=" + std::to_string(*o.padding_idx());
  if (o.max_norm()) s += ", max_norm=" + detail::num_str(*o.max_norm());
  if (o.norm_type() != 2.0) s += ", norm_type=" + detail::num_str(o.norm_type());
  if (o.scale_grad_by_freq()) s += std::string(", scale_grad_by_freq=") + detail::bool_str(true);
  return s;
}
}  // namespace

std::string Embedding::extra_repr() const {
  return std::to_string(options.num_embeddings()) + ", " + std::to_string(options.embedding_dim()) +
         table_repr(options);
}

std::string EmbeddingBag::extra_repr() const {
  // PyTorch's: the mode always, padding_idx when set (include_last_offset is not printed).
  const EmbeddingBagMode m = options.mode();
  std::string s = std::to_string(options.num_embeddings()) + ", " + std::to_string(options.embedding_dim()) +
                  ", mode=" + (m == EmbeddingBagMode::Sum ? "sum" : m == EmbeddingBagMode::Mean ? "mean" : "max");
  return s + table_repr(options);
}

}  // namespace nabla::nn
