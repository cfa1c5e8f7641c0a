// Initializers. The plain ones use the global generator's fills; trunc_normal_ and
// orthogonal_ compute in double on the host and copy the result in.
#include "nabla/nn/init.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "nabla/autograd.h"
#include "nabla/ops.h"

namespace nabla::nn::init {

namespace {

void check_float(const Tensor& t, const char* op) {
  NB_CHECK(t.defined(), "[init.", op, "] tensor is undefined");
  NB_CHECK(t.is_floating_point(), "[init.", op, "] expected a floating tensor, got dtype ", t.dtype());
}

double fan(const Tensor& t, FanMode mode, const char* op) {
  NB_CHECK(t.defined() && t.dim() >= 2, "[init.", op, "] fan in and fan out need a tensor with at least 2 dims, got shape ",
           t.defined() ? t.shape() : Shape{});
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  int64_t f = mode == FanMode::FanIn ? fi : fo;
  NB_CHECK(f > 0, "[init.", op, "] cannot initialize a tensor with zero fan, shape ", t.shape());
  return double(f);
}

// Inverse error function: Giles' single-precision approximation refined by Newton steps.
double erfinv(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                     0.246640727, 1.50140941})
      p = c + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      p = c + p * w;
    x = p * y;
  }
  const double k = 2.0 / std::sqrt(std::numbers::pi);
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (k * std::exp(-x * x));
  return x;
}

double norm_cdf(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

/// Writes host values (row-major, t's shape) into t.
void assign(Tensor& t, const std::vector<double>& values) {
  Tensor src = from_vector(values, t.shape());
  t.copy_(src);
}

}  // namespace

double calculate_gain(Nonlinearity nl, std::optional<double> param) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv1d:
    case Nonlinearity::Conv2d:
    case Nonlinearity::Conv3d:
    case Nonlinearity::ConvTranspose1d:
    case Nonlinearity::ConvTranspose2d:
    case Nonlinearity::ConvTranspose3d:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: {
      double slope = param.value_or(0.01);
      NB_CHECK(std::isfinite(slope), "[init.calculate_gain] negative_slope must be finite, got ", slope);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    case Nonlinearity::SELU: return 3.0 / 4.0;
  }
  fail("[init.calculate_gain] unknown nonlinearity");
}

double calculate_gain(const std::string& name, std::optional<double> param) {
  static const std::pair<const char*, Nonlinearity> table[] = {
      {"linear", Nonlinearity::Linear},
      {"conv1d", Nonlinearity::Conv1d},
      {"conv2d", Nonlinearity::Conv2d},
      {"conv3d", Nonlinearity::Conv3d},
      {"conv_transpose1d", Nonlinearity::ConvTranspose1d},
      {"conv_transpose2d", Nonlinearity::ConvTranspose2d},
      {"conv_transpose3d", Nonlinearity::ConvTranspose3d},
      {"sigmoid", Nonlinearity::Sigmoid},
      {"tanh", Nonlinearity::Tanh},
      {"relu", Nonlinearity::ReLU},
      {"leaky_relu", Nonlinearity::LeakyReLU},
      {"selu", Nonlinearity::SELU},
  };
  for (const auto& [n, nl] : table)
    if (name == n) return calculate_gain(nl, param);
  fail("[init.calculate_gain] unknown nonlinearity '", name,
       "'; expected one of linear, conv1d, conv2d, conv3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, "
       "selu");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  NB_CHECK(t.defined() && t.dim() >= 2,
           "[init.calculate_fan_in_and_fan_out] fan in and fan out need a tensor with at least 2 dims, got shape ",
           t.defined() ? t.shape() : Shape{});
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor constant_(Tensor t, double value) {
  check_float(t, "constant_");
  NoGradGuard ng;
  t.fill_(value);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

Tensor uniform_(Tensor t, double a, double b) {
  check_float(t, "uniform_");
  NoGradGuard ng;
  ::nabla::uniform_(t, a, b);
  return t;
}

Tensor normal_(Tensor t, double mean, double std) {
  check_float(t, "normal_");
  NoGradGuard ng;
  ::nabla::normal_(t, mean, std);
  return t;
}

Tensor trunc_normal_(Tensor t, double mean, double std, double a, double b) {
  check_float(t, "trunc_normal_");
  NB_CHECK(std > 0 && a < b, "[init.trunc_normal_] expected std > 0 and a < b, got std ", std, ", a ", a, ", b ", b);
  NoGradGuard ng;
  // Uniform on [cdf(a), cdf(b)], mapped back through the inverse normal CDF.
  const double lo = norm_cdf((a - mean) / std), hi = norm_cdf((b - mean) / std);
  std::vector<double> v = rand({t.numel()}, {.dtype = DType::f64}).to_double_vector();
  for (double& x : v) {
    double u = 2.0 * (lo + (hi - lo) * x) - 1.0;
    x = std::clamp(mean + std * std::sqrt(2.0) * erfinv(u), a, b);
  }
  assign(t, v);
  return t;
}

Tensor xavier_uniform_(Tensor t, double gain) {
  check_float(t, "xavier_uniform_");
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  NB_CHECK(fi + fo > 0, "[init.xavier_uniform_] tensor of shape ", t.shape(), " has zero fan");
  double bound = gain * std::sqrt(6.0 / double(fi + fo));
  return uniform_(std::move(t), -bound, bound);
}

Tensor xavier_normal_(Tensor t, double gain) {
  check_float(t, "xavier_normal_");
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  NB_CHECK(fi + fo > 0, "[init.xavier_normal_] tensor of shape ", t.shape(), " has zero fan");
  return normal_(std::move(t), 0.0, gain * std::sqrt(2.0 / double(fi + fo)));
}

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_float(t, "kaiming_uniform_");
  double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode, "kaiming_uniform_"));
  return uniform_(std::move(t), -bound, bound);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_float(t, "kaiming_normal_");
  double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode, "kaiming_normal_"));
  return normal_(std::move(t), 0.0, std);
}

Tensor lecun_normal_(Tensor t) {
  check_float(t, "lecun_normal_");
  double std = 1.0 / std::sqrt(fan(t, FanMode::FanIn, "lecun_normal_"));
  return normal_(std::move(t), 0.0, std);
}

Tensor orthogonal_(Tensor t, double gain) {
  check_float(t, "orthogonal_");
  NB_CHECK(t.dim() >= 2, "[init.orthogonal_] only tensors with 2 or more dims are supported, got shape ", t.shape());
  if (t.numel() == 0) return t;
  NoGradGuard ng;
  const int64_t rows = t.size(0), cols = t.numel() / rows;
  // Orthonormalize the columns of a tall Gaussian matrix A [m, n] (m >= n): the transposed
  // problem when rows < cols. Gram-Schmidt applied twice is as accurate as Householder here,
  // and its R has a positive diagonal, which is the sign fix that makes Q Haar-distributed.
  const bool tall = rows >= cols;
  const int64_t m = tall ? rows : cols, n = tall ? cols : rows;
  std::vector<double> g = randn({rows, cols}, {.dtype = DType::f64}).to_double_vector();
  std::vector<double> q(size_t(m * n));  // column-major: column j at q[j*m]
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double v = g[size_t(i * cols + j)];
      if (tall) q[size_t(j * m + i)] = v;   // A = G
      else q[size_t(i * m + j)] = v;        // A = G^T
    }
  for (int64_t j = 0; j < n; ++j) {
    double* qj = &q[size_t(j * m)];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        const double* qk = &q[size_t(k * m)];
        double dot = 0;
        for (int64_t i = 0; i < m; ++i) dot += qk[i] * qj[i];
        for (int64_t i = 0; i < m; ++i) qj[i] -= dot * qk[i];
      }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    NB_CHECK(norm > 0, "[init.orthogonal_] degenerate random matrix; try another seed");
    for (int64_t i = 0; i < m; ++i) qj[i] /= norm;
  }
  std::vector<double> out(size_t(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      out[size_t(i * cols + j)] = gain * (tall ? q[size_t(j * m + i)] : q[size_t(i * m + j)]);
  assign(t, out);
  return t;
}

}  // namespace nabla::nn::init
