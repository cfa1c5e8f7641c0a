// Dropout.
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

}  // namespace nabla::nn
