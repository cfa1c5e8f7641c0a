// The few tensor operations the engine itself needs (summing gradients, zeros for outputs
// that got no gradient, NaN checks). They live in the ops layer, above autograd, so the ops
// layer installs them here at start-up (src/ops/register.cpp) instead of autograd linking upward.
#pragma once
#include "nabla/tensor.h"

namespace nabla::autograd {

struct EngineOps {
  Tensor (*add)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*full)(const Shape&, DType, Device, double) = nullptr;
  bool (*all_finite)(const Tensor&) = nullptr;
  Tensor (*contiguous_clone)(const Tensor&) = nullptr;
  Tensor (*clone)(const Tensor&) = nullptr;  // recorded, as Tensor::clone (contiguous result)
  void (*add_inplace)(Tensor&, const Tensor&) = nullptr;  // no-grad, for .grad accumulation
  Tensor (*to_device)(const Tensor&, Device) = nullptr;    // differentiable copy, as Tensor::to
  Tensor (*to_dtype)(const Tensor&, DType) = nullptr;      // differentiable cast, as Tensor::to
};

void install_engine_ops(const EngineOps& ops);
const EngineOps& engine_ops();

}  // namespace nabla::autograd
