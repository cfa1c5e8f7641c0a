// BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm1d/2d, RMSNorm and LocalResponseNorm over the
// functional batch_norm / layer_norm / group_norm / instance_norm / rms_norm / local_response_norm.
#include "nabla/nn/norm.h"

#include "nabla/autograd.h"
#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {
/// BatchNorm's and InstanceNorm's tensors (PyTorch's _NormBase): weight and bias [c] when
/// affine; running_mean, running_var [c] and num_batches_tracked (i64 scalar) when tracking.
void register_norm_tensors(Module& m, int64_t c, bool affine, bool track, Tensor& weight, Tensor& bias,
                           Tensor& running_mean, Tensor& running_var, Tensor& num_batches_tracked) {
  if (affine) {
    weight = m.register_parameter("weight", empty({c}));
    bias = m.register_parameter("bias", empty({c}));
  }
  if (track) {
    running_mean = m.register_buffer("running_mean", empty({c}));
    running_var = m.register_buffer("running_var", empty({c}));
    num_batches_tracked = m.register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::i64}));
  }
}

/// LayerNorm's and RMSNorm's checks of their settings: normalized_shape (non-empty, positive).
void check_normalized_shape(const Module& m, const Shape& s) {
  if (s.empty()) m.fail("normalized_shape must have at least one dim");
  for (int64_t d : s)
    if (d <= 0) m.fail("normalized_shape ", s, " must have positive sizes");
}

/// ... and of their input: it must end with normalized_shape.
void check_normalized_input(const Module& m, const Tensor& x, const Shape& s) {
  const int64_t k = int64_t(s.size());
  if (x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == s) return;
  const std::string w = shape_str(s);
  m.fail("expected input [..., ", w.substr(1, w.size() - 2), "] (ending with normalized_shape ", s, "), got shape ",
         x.shape());
}

void reset_stats(Tensor& running_mean, Tensor& running_var, Tensor& num_batches_tracked) {
  NoGradGuard ng;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}
}  // namespace

// ---- BatchNorm -----------------------------------------------------------------------------------

BatchNorm::BatchNorm(const char* type, const BatchNormOptions& o) : Module(type), options(o) {
  const int64_t c = o.num_features();
  if (c <= 0) fail("num_features must be positive, got ", c);
  if (!(o.eps() > 0)) fail("eps must be positive, got ", o.eps());
  if (o.momentum() && !(*o.momentum() >= 0 && *o.momentum() <= 1))
    fail("momentum must be in [0, 1] (or nullopt for a cumulative average), got ", *o.momentum());
  register_norm_tensors(*this, c, o.affine(), o.track_running_stats(), weight, bias, running_mean, running_var,
                        num_batches_tracked);
  reset_parameters();
}

void BatchNorm::reset_running_stats() {
  if (options.track_running_stats()) reset_stats(running_mean, running_var, num_batches_tracked);
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  if (weight.defined()) check_input_dtype(x, weight);
  const bool training = is_training();
  if (training && x.numel() / x.size(1) <= 1)
    fail("expected more than one value per channel when training, got input shape ", x.shape());
  double factor = 0.0;
  if (training && options.track_running_stats()) {
    NoGradGuard ng;
    num_batches_tracked.add_(1.0);  // one kernel in place, on the buffer's device
    factor = options.momentum() ? *options.momentum() : 1.0 / double(num_batches_tracked.item<int64_t>());
  }
  // Batch statistics in training, or always when no running statistics are kept; the
  // buffers are handed over only when they are read (eval) or updated (training).
  const bool use_batch_stats = training || !running_mean.defined();
  Tensor rm = (!training || options.track_running_stats()) ? running_mean : Tensor();
  Tensor rv = (!training || options.track_running_stats()) ? running_var : Tensor();
  return batch_norm(x, rm, rv, weight, bias, use_batch_stats, factor, options.eps());
}

void BatchNorm1d::check_input(const Tensor& x) const {
  const int64_t c = options.num_features();
  if ((x.dim() != 2 && x.dim() != 3) || x.size(1) != c)
    fail("expected input [N, ", c, "] or [N, ", c, ", L], got shape ", x.shape());
}

void BatchNorm2d::check_input(const Tensor& x) const {
  const int64_t c = options.num_features();
  if (x.dim() != 4 || x.size(1) != c) fail("expected input [N, ", c, ", H, W], got shape ", x.shape());
}

// ---- LayerNorm ---------------------------------------------------------------------------------

LayerNorm::LayerNorm(const LayerNormOptions& o) : Module("LayerNorm"), options(o) {
  const Shape& s = o.normalized_shape();
  check_normalized_shape(*this, s);
  if (!(o.eps() > 0)) fail("eps must be positive, got ", o.eps());
  if (o.elementwise_affine()) {
    weight = register_parameter("weight", empty(s));
    if (o.bias()) bias = register_parameter("bias", empty(s));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_normalized_input(*this, x, options.normalized_shape());
  if (weight.defined()) check_input_dtype(x, weight);
  return layer_norm(x, options.normalized_shape(), weight, bias, options.eps());
}

// ---- RMSNorm, LocalResponseNorm ----------------------------------------------------------------

RMSNorm::RMSNorm(const RMSNormOptions& o) : Module("RMSNorm"), options(o) {
  check_normalized_shape(*this, o.normalized_shape());
  if (o.eps() && !(*o.eps() >= 0)) fail("eps must be non-negative (or nullopt: the dtype's epsilon), got ", *o.eps());
  if (o.elementwise_affine()) weight = register_parameter("weight", empty(o.normalized_shape()));
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) {
  check_normalized_input(*this, x, options.normalized_shape());
  if (weight.defined()) check_input_dtype(x, weight);
  return rms_norm(x, options.normalized_shape(), weight, options.eps());
}

LocalResponseNorm::LocalResponseNorm(const LocalResponseNormOptions& o) : Module("LocalResponseNorm"), options(o) {
  if (o.size() <= 0) fail("size must be positive, got ", o.size());
}

Tensor LocalResponseNorm::forward(const Tensor& x) {
  return local_response_norm(x, options.size(), options.alpha(), options.beta(), options.k());
}

// ---- printing -------------------------------------------------------------------------------

std::string BatchNorm::extra_repr() const {
  using detail::bool_str;
  return std::to_string(options.num_features()) + ", eps=" + detail::num_str(options.eps()) + ", momentum=" +
         (options.momentum() ? detail::num_str(*options.momentum()) : "None") + ", affine=" +
         bool_str(options.affine()) + ", track_running_stats=" + bool_str(options.track_running_stats());
}

std::string LayerNorm::extra_repr() const {
  return detail::tuple_str(options.normalized_shape()) + ", eps=" + detail::num_str(options.eps()) +
         ", elementwise_affine=" + detail::bool_str(options.elementwise_affine());
}

// ---- GroupNorm ---------------------------------------------------------------------------------

GroupNorm::GroupNorm(const GroupNormOptions& o) : Module("GroupNorm"), options(o) {
  const int64_t g = o.num_groups(), c = o.num_channels();
  if (g <= 0 || c <= 0 || c % g != 0)
    fail("num_groups ", g, " must be positive and divide num_channels ", c);
  if (!(o.eps() > 0)) fail("eps must be positive, got ", o.eps());
  if (o.affine()) {
    weight = register_parameter("weight", empty({c}));
    bias = register_parameter("bias", empty({c}));
  }
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor GroupNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(1) != options.num_channels())
    fail("expected input [N, ", options.num_channels(), ", ...], got ", x.shape());
  return group_norm(x, options.num_groups(), weight, bias, options.eps());
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(options.num_groups()) + ", " + std::to_string(options.num_channels()) +
         ", eps=" + detail::num_str(options.eps()) + ", affine=" + detail::bool_str(options.affine());
}

// ---- InstanceNorm --------------------------------------------------------------------------

InstanceNorm::InstanceNorm(const char* type, int spatial_dims, const InstanceNormOptions& o)
    : Module(type), options(o), spatial_dims_(spatial_dims) {
  const int64_t c = o.num_features();
  if (c <= 0) fail("num_features must be positive, got ", c);
  if (!(o.eps() > 0)) fail("eps must be positive, got ", o.eps());
  if (!(o.momentum() >= 0 && o.momentum() <= 1)) fail("momentum must be in [0, 1], got ", o.momentum());
  register_norm_tensors(*this, c, o.affine(), o.track_running_stats(), weight, bias, running_mean, running_var,
                        num_batches_tracked);
  reset_parameters();
}

void InstanceNorm::reset_running_stats() {
  if (options.track_running_stats()) reset_stats(running_mean, running_var, num_batches_tracked);
}

void InstanceNorm::reset_parameters() {
  reset_running_stats();
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor InstanceNorm::forward(const Tensor& x) {
  const int64_t c = options.num_features();
  const int64_t rank = x.dim();
  const bool batched = rank == spatial_dims_ + 2;
  if ((!batched && rank != spatial_dims_ + 1) || x.size(batched ? 1 : 0) != c)
    fail("expected input [N, ", c, spatial_dims_ == 1 ? ", L]" : ", H, W]", " or unbatched [", c,
         spatial_dims_ == 1 ? ", L]" : ", H, W]", ", got ", x.shape());
  if (!batched) return forward(x.unsqueeze(0)).squeeze(0);
  nabla::InstanceNormOptions f;
  if (options.track_running_stats()) f.running_mean = running_mean, f.running_var = running_var;
  f.weight = weight;
  f.bias = bias;
  f.use_input_stats = is_training() || !options.track_running_stats();
  f.momentum = options.momentum();
  f.eps = options.eps();
  return instance_norm(x, f);
}

std::string InstanceNorm::extra_repr() const {
  return std::to_string(options.num_features()) + ", eps=" + detail::num_str(options.eps()) +
         ", momentum=" + detail::num_str(options.momentum()) + ", affine=" + detail::bool_str(options.affine()) +
         ", track_running_stats=" + detail::bool_str(options.track_running_stats());
}

std::string RMSNorm::extra_repr() const {
  return detail::tuple_str(options.normalized_shape()) +
         ", eps=" + (options.eps() ? detail::num_str(*options.eps()) : std::string("None")) +
         ", elementwise_affine=" + detail::bool_str(options.elementwise_affine());
}

std::string LocalResponseNorm::extra_repr() const {
  return std::to_string(options.size()) + ", alpha=" + detail::num_str(options.alpha()) +
         ", beta=" + detail::num_str(options.beta()) + ", k=" + detail::num_str(options.k());
}

}  // namespace nabla::nn
