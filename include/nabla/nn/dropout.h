// Dropout: of elements (Dropout) and of whole channels (Dropout1d, Dropout2d).
#pragma once
#include "nabla/nn/module.h"

namespace nabla::nn {

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: `Dropout(0.2)`
  NB_ARG(double, p);
};

/// In training mode zeroes each element with probability p (from the global generator) and
/// scales the survivors by 1 / (1 - p), so the expected output equals the input; in eval
/// mode it is the identity.
class Dropout : public Module {
 public:
  explicit Dropout(const DropoutOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  DropoutOptions options;
};

/// Channel dropout of x [N, C, L] or [C, L]: in training mode zeroes each whole channel of each
/// sample with probability p and scales the rest by 1 / (1 - p); identity in eval mode.
class Dropout1d : public Module {
 public:
  explicit Dropout1d(const DropoutOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  DropoutOptions options;
};

/// Channel dropout of x [N, C, H, W] or [C, H, W] (whole feature maps; PyTorch's Dropout2d).
class Dropout2d : public Module {
 public:
  explicit Dropout2d(const DropoutOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  DropoutOptions options;
};

}  // namespace nabla::nn
