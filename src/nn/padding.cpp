// The padding layers (nabla/nn/padding.h): one forward over pad() for all ten.
#include "nabla/nn/padding.h"

#include <sstream>

#include "repr.h"

namespace nabla::nn::detail {

Tensor PadNd::forward(const Tensor& x) {
  // PyTorch checks the rank for the modes that read the input's borders; constant padding
  // pads the last dims of any tensor that has them (pad() says when it has not).
  const int64_t d = spatial_dims();
  if (mode != PadMode::Constant && x.dim() != d + 1 && x.dim() != d + 2)
    fail("expected input ", d == 1 ? "[C, W] or [N, C, W]" : "[C, H, W] or [N, C, H, W]", ", got shape ", x.shape(),
         " (rank ", x.dim(), ")");
  return pad(x, padding, mode, value);
}

std::string PadNd::extra_repr() const {
  std::ostringstream os;
  os << (prints_value_ ? "padding=(" : "(");
  for (size_t i = 0; i < padding.size(); ++i) os << (i ? ", " : "") << padding[i];
  os << ')';
  if (prints_value_) os << ", value=" << num_str(value);
  return os.str();
}

}  // namespace nabla::nn::detail
