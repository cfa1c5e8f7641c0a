// Shared by the LibTorch reference generators in scripts/dev (attention, transformer, layers): the
// deterministic test values and their printing as C++ initializers.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace ref_gen {

/// det(shape, seed) = scale * sin(0.37 i + 1.3 seed + 0.1) over the row-major index i, f64; the
/// tests recompute the same pattern with nabla's ops.
inline torch::Tensor det(std::vector<int64_t> shape, double seed, double scale = 1.0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return (torch::arange(n, torch::kDouble) * 0.37 + 1.3 * seed + 0.1).sin().mul(scale).reshape(shape);
}

/// "{\n      v0, v1, v2, v3,\n      ...}" with %.17g (f64 round-trips), INFINITY / -INFINITY and NAN.
inline std::string values(const torch::Tensor& t0) {
  torch::Tensor t = t0.contiguous().to(torch::kDouble).flatten();
  std::string s = "{";
  char buf[64];
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 4 == 0) s += "\n     ";
    double v = t[i].item<double>();
    if (std::isinf(v))
      std::snprintf(buf, sizeof buf, " %sINFINITY,", v < 0 ? "-" : "");
    else if (std::isnan(v))
      std::snprintf(buf, sizeof buf, " NAN,");
    else
      std::snprintf(buf, sizeof buf, " %.17g,", v);
    s += buf;
  }
  return s + "}";
}

/// "{2, 3, }".
inline std::string shape_of(const torch::Tensor& t) {
  std::string s = "{";
  for (int64_t d : t.sizes()) s += std::to_string(d) + ", ";
  return s + "}";
}

}  // namespace ref_gen
