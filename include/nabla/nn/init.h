// Weight initializers, as torch.nn.init. Each fills a tensor in place (without recording
// history, from the global generator seeded by nabla::manual_seed) and returns it.
//
// fan_in / fan_out of a weight [out, in, k...] are in * prod(k) and out * prod(k) (PyTorch's
// rule, so ConvTranspose2d's [in, out/groups, kH, kW] weight has fan_in = out/groups * kH * kW).
//
// Why scaled initializers (the lecture): in a linear layer Z_i = sum_j W_ij X_j with
// independent weights of variance s^2, var(Z) = n_in s^2 var(X) forward and, by the same
// argument, n_out s^2 per step backward. Keeping both near 1 gives Xavier/Glorot's
// s^2 = 2 / (n_in + n_out); He/Kaiming's 2 / n_in compensates ReLU halving the variance.
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "nabla/tensor.h"

namespace nabla::nn::init {

enum class Nonlinearity {
  Linear,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Sigmoid,
  Tanh,
  ReLU,
  LeakyReLU,
  SELU,
};
enum class FanMode { FanIn, FanOut };

/// Recommended gain for a nonlinearity, as torch.nn.init.calculate_gain: linear, conv and
/// sigmoid 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)) (slope = `param`,
/// default 0.01); selu 3/4.
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);
/// Same, by PyTorch's name ("relu", "leaky_relu", "tanh", "conv2d", ...).
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);
/// (fan_in, fan_out) of a weight with at least 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

/// Every element = value.
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
/// U(a, b).
Tensor uniform_(Tensor t, double a = 0.0, double b = 1.0);
/// N(mean, std^2).
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0);
/// N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch), by inverse-CDF sampling.
Tensor trunc_normal_(Tensor t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0);
/// U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)): variance gain^2 * 2 / (fan_in + fan_out).
Tensor xavier_uniform_(Tensor t, double gain = 1.0);
/// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor t, double gain = 1.0);
/// U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a),
/// fan = fan_in or fan_out by `mode`: variance gain^2 / fan (2 / fan_in for ReLU).
Tensor kaiming_uniform_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// N(0, std^2) with std = gain / sqrt(fan).
Tensor kaiming_normal_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// LeCun normal: N(0, 1 / fan_in) (LeCun et al. 1998; the SELU recipe). Keras and JAX draw the
/// same variance from a truncated normal; this is the plain normal.
Tensor lecun_normal_(Tensor t);
/// A (semi-)orthogonal matrix times `gain` (Saxe et al. 2013): t viewed as [size(0), numel/size(0)]
/// has orthonormal rows (when rows <= cols) or columns. QR of a Gaussian matrix with R's diagonal
/// made positive, so the result is uniformly (Haar) distributed, as PyTorch's.
Tensor orthogonal_(Tensor t, double gain = 1.0);

}  // namespace nabla::nn::init
