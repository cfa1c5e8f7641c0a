// Padding layers over the functional pad(): ZeroPad1d/2d, ConstantPad1d/2d, ReflectionPad1d/2d,
// ReplicationPad1d/2d and CircularPad1d/2d (PyTorch's names, arguments and printing).
#pragma once
#include <array>
#include <optional>

#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

/// The padding of a 1-D layer: `2` pads 2 on both sides, `{1, 3}` is (left, right).
struct PadSize1d {
  PadSize1d(int64_t p) : v{p, p} {}  // NOLINT: implicit by design
  PadSize1d(int64_t left, int64_t right) : v{left, right} {}
  std::array<int64_t, 2> v;
};

/// The padding of a 2-D layer: `2` pads 2 on every side, `{1, 1, 2, 0}` is (left, right, top, bottom).
struct PadSize2d {
  PadSize2d(int64_t p) : v{p, p, p, p} {}  // NOLINT: implicit by design
  PadSize2d(int64_t left, int64_t right, int64_t top, int64_t bottom) : v{left, right, top, bottom} {}
  std::array<int64_t, 4> v;
};

namespace detail {
/// What every padding layer does: pad(x, padding, mode, value) over the last 1 or 2 dims.
/// Negative sizes crop, as in PyTorch.
class PadNd : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  /// (left, right) or (left, right, top, bottom), as PyTorch's `padding` attribute.
  Shape padding;
  PadMode mode;
  double value;

 protected:
  /// `constant_value`: the ConstantPad layers, which print their value too.
  PadNd(const char* type, Shape padding, PadMode mode, std::optional<double> constant_value = std::nullopt)
      : Module(type), padding(std::move(padding)), mode(mode), value(constant_value.value_or(0.0)),
        prints_value_(constant_value.has_value()) {}
  /// The layer's dims (1 or 2): reflect, replicate and circular take [C, *] or [N, C, *] inputs.
  int64_t spatial_dims() const { return int64_t(padding.size()) / 2; }

 private:
  bool prints_value_;
};
}  // namespace detail

/// Pads the last dim of x with zeros.
class ZeroPad1d : public detail::PadNd {
 public:
  explicit ZeroPad1d(PadSize1d padding) : PadNd("ZeroPad1d", {padding.v.begin(), padding.v.end()}, PadMode::Constant) {}
};
/// Pads the last two dims of x with zeros.
class ZeroPad2d : public detail::PadNd {
 public:
  explicit ZeroPad2d(PadSize2d padding) : PadNd("ZeroPad2d", {padding.v.begin(), padding.v.end()}, PadMode::Constant) {}
};
/// Pads the last dim of x with `value`.
class ConstantPad1d : public detail::PadNd {
 public:
  ConstantPad1d(PadSize1d padding, double value)
      : PadNd("ConstantPad1d", {padding.v.begin(), padding.v.end()}, PadMode::Constant, value) {}
};
/// Pads the last two dims of x with `value`.
class ConstantPad2d : public detail::PadNd {
 public:
  ConstantPad2d(PadSize2d padding, double value)
      : PadNd("ConstantPad2d", {padding.v.begin(), padding.v.end()}, PadMode::Constant, value) {}
};
/// Mirrors x [C, W] or [N, C, W] at its ends, without repeating the edge (padding < W).
class ReflectionPad1d : public detail::PadNd {
 public:
  explicit ReflectionPad1d(PadSize1d padding)
      : PadNd("ReflectionPad1d", {padding.v.begin(), padding.v.end()}, PadMode::Reflect) {}
};
/// Mirrors x [C, H, W] or [N, C, H, W] at its borders, without repeating the edge.
class ReflectionPad2d : public detail::PadNd {
 public:
  explicit ReflectionPad2d(PadSize2d padding)
      : PadNd("ReflectionPad2d", {padding.v.begin(), padding.v.end()}, PadMode::Reflect) {}
};
/// Repeats the edge values of x [C, W] or [N, C, W].
class ReplicationPad1d : public detail::PadNd {
 public:
  explicit ReplicationPad1d(PadSize1d padding)
      : PadNd("ReplicationPad1d", {padding.v.begin(), padding.v.end()}, PadMode::Replicate) {}
};
/// Repeats the border values of x [C, H, W] or [N, C, H, W].
class ReplicationPad2d : public detail::PadNd {
 public:
  explicit ReplicationPad2d(PadSize2d padding)
      : PadNd("ReplicationPad2d", {padding.v.begin(), padding.v.end()}, PadMode::Replicate) {}
};
/// Wraps x [C, W] or [N, C, W] around (the left pad is the end of the signal; padding <= W).
class CircularPad1d : public detail::PadNd {
 public:
  explicit CircularPad1d(PadSize1d padding)
      : PadNd("CircularPad1d", {padding.v.begin(), padding.v.end()}, PadMode::Circular) {}
};
/// Wraps x [C, H, W] or [N, C, H, W] around in both spatial dims (periodic boundaries).
class CircularPad2d : public detail::PadNd {
 public:
  explicit CircularPad2d(PadSize2d padding)
      : PadNd("CircularPad2d", {padding.v.begin(), padding.v.end()}, PadMode::Circular) {}
};

}  // namespace nabla::nn
