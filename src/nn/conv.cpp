// Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d over the functional conv1d / conv2d /
// conv_transpose1d / conv_transpose2d.
#include "nabla/nn/conv.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "nabla/nn/init.h"
#include "nabla/ops.h"
#include "repr.h"

namespace nabla::nn {

namespace {

template <typename Opts>
void check_geometry(const Module& m, const Opts& o) {
  if (o.in_channels() <= 0 || o.out_channels() <= 0)
    m.fail("in_channels and out_channels must be positive, got ", o.in_channels(), " and ", o.out_channels());
  if (o.groups() <= 0 || o.in_channels() % o.groups() != 0 || o.out_channels() % o.groups() != 0)
    m.fail("groups = ", o.groups(), " must be positive and divide in_channels ", o.in_channels(), " and out_channels ",
           o.out_channels());
  for (size_t i = 0; i < 2; ++i) {
    if (o.kernel_size()[i] <= 0 || o.stride()[i] <= 0 || o.dilation()[i] <= 0 || o.padding()[i] < 0)
      m.fail("kernel_size, stride and dilation must be positive and padding non-negative, got kernel_size ",
             Shape{o.kernel_size()[0], o.kernel_size()[1]}, ", stride ", Shape{o.stride()[0], o.stride()[1]},
             ", dilation ", Shape{o.dilation()[0], o.dilation()[1]}, ", padding ",
             Shape{o.padding()[0], o.padding()[1]});
  }
}

template <typename Opts>
void check_geometry_1d(const Module& m, const Opts& o) {
  if (o.in_channels() <= 0 || o.out_channels() <= 0)
    m.fail("in_channels and out_channels must be positive, got ", o.in_channels(), " and ", o.out_channels());
  if (o.groups() <= 0 || o.in_channels() % o.groups() != 0 || o.out_channels() % o.groups() != 0)
    m.fail("groups = ", o.groups(), " must be positive and divide in_channels ", o.in_channels(), " and out_channels ",
           o.out_channels());
  if (o.kernel_size() <= 0 || o.stride() <= 0 || o.dilation() <= 0 || o.padding() < 0)
    m.fail("kernel_size, stride and dilation must be positive and padding non-negative, got kernel_size ",
           o.kernel_size(), ", stride ", o.stride(), ", dilation ", o.dilation(), ", padding ", o.padding());
}

/// The 1-D layers' input check: [N, C, L] or [C, L] with the layer's channels.
void check_channels_1d(const Module& m, const Tensor& x, int64_t c, const Tensor& weight) {
  if ((x.dim() != 2 && x.dim() != 3) || x.size(x.dim() - 2) != c)
    m.fail("expected input [N, ", c, ", L] or [", c, ", L], got shape ", x.shape(), "; weight is ", weight.shape());
}

/// The output_padding rule of the transposed layers: below stride or dilation (PyTorch's).
void check_output_padding(const Module& m, int64_t output_padding, int64_t stride, int64_t dilation, const std::string& shown) {
  if (output_padding < 0 || output_padding >= std::max(stride, dilation))
    m.fail("output_padding ", shown, " must be non-negative and smaller than stride or dilation");
}

/// The output_padding per spatial dim that makes a transposed convolution of `x` produce
/// `output_size` (its last `k.size()` entries; PyTorch's _output_padding): each size must lie in
/// [smallest, smallest + stride - 1], the smallest being the size with no output_padding.
Shape output_padding_for(const Module& m, const Tensor& x, const Shape& output_size, const Shape& k, const Shape& stride,
                         const Shape& padding, const Shape& dilation) {
  const size_t n = k.size(), non_spatial = size_t(x.dim()) - n;  // N and C, or C alone unbatched
  if (output_size.size() != n && output_size.size() != n + non_spatial)
    m.fail("output_size ", output_size, " must hold the ", n, " spatial size", n == 1 ? "" : "s",
           " (or the whole output shape) for input of shape ", x.shape());
  Shape pad(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = x.size(x.dim() - int64_t(n) + int64_t(i));
    const int64_t want = output_size[output_size.size() - n + i];
    const int64_t lo = (in - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + 1, hi = lo + stride[i] - 1;
    if (want < lo || want > hi)
      m.fail("requested an output size of ", output_size, ", but valid sizes range from ", lo, " to ", hi,
             " in spatial dim ", i, " (for an input of shape ", x.shape(), ")");
    pad[i] = want - lo;
  }
  return pad;
}

/// PyTorch's default for conv weights and biases (see conv.h).
void reset_conv(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void check_channels(const Module& m, const Tensor& x, int64_t channels, const Tensor& weight) {
  if (x.dim() != 3 && x.dim() != 4)
    m.fail("expected input [N, ", channels, ", H, W] or [", channels, ", H, W], got shape ", x.shape(), " (rank ",
           x.dim(), ")");
  int64_t c = x.size(x.dim() - 3);
  if (c != channels)
    m.fail("expected input with ", channels, " channels ([N, ", channels, ", H, W]), got shape ", x.shape(), " with ",
           c, " channels; weight is ", weight.shape());
}

/// ", padding_mode='reflect'" etc., empty for zeros.
std::string padding_mode_repr(PaddingMode m) {
  switch (m) {
    case PaddingMode::Zeros: return "";
    case PaddingMode::Reflect: return ", padding_mode='reflect'";
    case PaddingMode::Replicate: return ", padding_mode='replicate'";
    case PaddingMode::Circular: return ", padding_mode='circular'";
  }
  return "";
}

/// The pad() mode of a non-zeros padding_mode.
PadMode pad_mode(PaddingMode m) {
  return m == PaddingMode::Reflect ? PadMode::Reflect : m == PaddingMode::Replicate ? PadMode::Replicate : PadMode::Circular;
}

/// Left and right padding of padding='same': d (k - 1) in total, the odd one at the end (PyTorch).
std::pair<int64_t, int64_t> same_padding(int64_t kernel, int64_t dilation) {
  const int64_t total = dilation * (kernel - 1);
  return {total / 2, total - total / 2};
}

}  // namespace

namespace {
/// PyTorch's _ConvNd.extra_repr for the 1-D layers: sizes as 1-tuples, defaults left out.
template <typename Opts>
std::string conv1d_repr(const Opts& o, int64_t output_padding, bool padding_same) {
  auto tuple = [](int64_t v) { return detail::tuple_str({v}); };
  std::string s = std::to_string(o.in_channels()) + ", " + std::to_string(o.out_channels()) +
                  ", kernel_size=" + tuple(o.kernel_size()) + ", stride=" + tuple(o.stride());
  if (o.padding() != 0) s += ", padding=" + tuple(o.padding());
  if (padding_same) s += ", padding='same'";
  if (o.dilation() != 1) s += ", dilation=" + tuple(o.dilation());
  if (output_padding != 0) s += ", output_padding=" + tuple(output_padding);
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  if (!o.bias()) s += ", bias=false";
  return s;
}
}  // namespace

// ---- Conv1d -------------------------------------------------------------------------------------

Conv1d::Conv1d(const Conv1dOptions& o) : Module("Conv1d"), options(o) {
  check_geometry_1d(*this, o);
  if (o.padding_same() && o.stride() != 1) fail("padding_same needs stride 1, got stride ", o.stride());
  weight = register_parameter("weight", empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
  reset_parameters();
}

void Conv1d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  check_channels_1d(*this, x, options.in_channels(), weight);
  check_input_dtype(x, weight);
  nabla::Conv1dOptions f;
  f.stride = options.stride();
  f.padding = options.padding();
  f.padding_same = options.padding_same();
  f.dilation = options.dilation();
  f.groups = options.groups();
  if (options.padding_mode() == PaddingMode::Zeros) return conv1d(x, weight, bias, f);
  // Reflect / replicate / circular: pad explicitly, then convolve without padding.
  const auto [lo, hi] = options.padding_same() ? same_padding(options.kernel_size(), options.dilation())
                                               : std::pair{options.padding(), options.padding()};
  f.padding = 0;
  f.padding_same = false;
  return conv1d(pad(x, {lo, hi}, pad_mode(options.padding_mode())), weight, bias, f);
}

std::string Conv1d::extra_repr() const {
  return conv1d_repr(options, 0, options.padding_same()) + padding_mode_repr(options.padding_mode());
}

// ---- Conv2d -------------------------------------------------------------------------------------

Conv2d::Conv2d(const Conv2dOptions& o) : Module("Conv2d"), options(o) {
  check_geometry(*this, o);
  if (o.padding_same() && (o.stride()[0] != 1 || o.stride()[1] != 1))
    fail("padding_same needs stride 1, got stride ", Shape{o.stride()[0], o.stride()[1]});
  weight = register_parameter(
      "weight", empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()[0], o.kernel_size()[1]}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
  reset_parameters();
}

void Conv2d::reset_parameters() { reset_conv(weight, bias); }

Tensor Conv2d::forward(const Tensor& x) { return run(x, fused_call()); }

Tensor Conv2d::forward_relu(const Tensor& x) {
  return call_fused(x, [](const Tensor& y) { return relu(y); });
}

Tensor Conv2d::run(const Tensor& x, bool fuse_relu) {
  check_channels(*this, x, options.in_channels(), weight);
  check_input_dtype(x, weight);
  nabla::Conv2dOptions f;
  f.stride = options.stride();
  f.padding = options.padding();
  f.padding_same = options.padding_same();
  f.dilation = options.dilation();
  f.groups = options.groups();
  f.fuse_relu = fuse_relu;
  if (options.padding_mode() == PaddingMode::Zeros) return conv2d(x, weight, bias, f);
  // Reflect / replicate / circular: pad explicitly, then convolve without padding.
  int64_t lo[2], hi[2];
  for (size_t i = 0; i < 2; ++i) {
    if (options.padding_same()) {
      std::tie(lo[i], hi[i]) = same_padding(options.kernel_size()[i], options.dilation()[i]);
    } else {
      lo[i] = hi[i] = options.padding()[i];
    }
  }
  Tensor xp = pad(x, {lo[1], hi[1], lo[0], hi[0]}, pad_mode(options.padding_mode()));
  f.padding = {0, 0};
  f.padding_same = false;
  return conv2d(xp, weight, bias, f);
}

// ---- ConvTranspose2d -------------------------------------------------------------------------------

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& o) : Module("ConvTranspose2d"), options(o) {
  check_geometry(*this, o);
  for (size_t i = 0; i < 2; ++i)
    check_output_padding(*this, o.output_padding()[i], o.stride()[i], o.dilation()[i],
                         shape_str(Shape{o.output_padding()[0], o.output_padding()[1]}));
  weight = register_parameter(
      "weight", empty({o.in_channels(), o.out_channels() / o.groups(), o.kernel_size()[0], o.kernel_size()[1]}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { reset_conv(weight, bias); }

Tensor ConvTranspose2d::forward(const Tensor& x) { return forward(x, Shape{}); }

Tensor ConvTranspose2d::forward(const Tensor& x, const Shape& output_size) {
  check_channels(*this, x, options.in_channels(), weight);
  check_input_dtype(x, weight);
  nabla::ConvTranspose2dOptions f;
  f.stride = options.stride();
  f.padding = options.padding();
  f.output_padding = options.output_padding();
  f.dilation = options.dilation();
  f.groups = options.groups();
  if (!output_size.empty()) {
    const auto pair = [](const IntPair& p) { return Shape{p[0], p[1]}; };
    const Shape op = output_padding_for(*this, x, output_size, pair(options.kernel_size()), pair(options.stride()),
                                        pair(options.padding()), pair(options.dilation()));
    f.output_padding = {op[0], op[1]};
  }
  return conv_transpose2d(x, weight, bias, f);
}

// ---- ConvTranspose1d -------------------------------------------------------------------------------

ConvTranspose1d::ConvTranspose1d(const ConvTranspose1dOptions& o) : Module("ConvTranspose1d"), options(o) {
  check_geometry_1d(*this, o);
  check_output_padding(*this, o.output_padding(), o.stride(), o.dilation(), std::to_string(o.output_padding()));
  weight = register_parameter("weight", empty({o.in_channels(), o.out_channels() / o.groups(), o.kernel_size()}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
  reset_parameters();
}

void ConvTranspose1d::reset_parameters() { reset_conv(weight, bias); }

Tensor ConvTranspose1d::forward(const Tensor& x) { return forward(x, Shape{}); }

Tensor ConvTranspose1d::forward(const Tensor& x, const Shape& output_size) {
  check_channels_1d(*this, x, options.in_channels(), weight);
  check_input_dtype(x, weight);
  const int64_t output_padding =
      output_size.empty() ? options.output_padding()
                          : output_padding_for(*this, x, output_size, {options.kernel_size()}, {options.stride()},
                                               {options.padding()}, {options.dilation()})[0];
  return conv_transpose1d(x, weight, bias,
                          {.stride = options.stride(), .padding = options.padding(), .output_padding = output_padding,
                           .dilation = options.dilation(), .groups = options.groups()});
}

std::string ConvTranspose1d::extra_repr() const { return conv1d_repr(options, options.output_padding(), false); }

// ---- printing -------------------------------------------------------------------------------

namespace {
template <typename Opts>
std::string conv_repr(const Opts& o) {
  using detail::pair_str;
  std::string s = std::to_string(o.in_channels()) + ", " + std::to_string(o.out_channels()) +
                  ", kernel_size=" + pair_str(o.kernel_size()) + ", stride=" + pair_str(o.stride());
  if (o.padding() != IntPair(0)) s += ", padding=" + pair_str(o.padding());
  if (o.dilation() != IntPair(1)) s += ", dilation=" + pair_str(o.dilation());
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  if (!o.bias()) s += ", bias=false";
  return s;
}
}  // namespace

std::string Conv2d::extra_repr() const {
  std::string s = conv_repr(options);
  if (options.padding_same()) s += ", padding='same'";
  return s + padding_mode_repr(options.padding_mode());
}

std::string ConvTranspose2d::extra_repr() const {
  std::string s = conv_repr(options);
  if (options.output_padding() != IntPair(0)) s += ", output_padding=" + detail::pair_str(options.output_padding());
  return s;
}

}  // namespace nabla::nn
