// Finite-difference checks of gradients, for the project's op tests and for users'
// own functions and custom Functions.
#pragma once
#include <functional>

#include "nabla/tensor.h"

namespace nabla {

struct GradcheckOptions {
  double eps = 1e-6;   ///< central-difference step
  double atol = 1e-5;  ///< |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool raise = true;   ///< throw nabla::Error describing the first mismatch (else return false)
};

using DiffFn = std::function<TensorList(const TensorList&)>;

/// Compares the Jacobian from backward with central differences for every input that
/// requires grad. Inputs must be f64. Works with non-contiguous inputs (perturbed in place).
bool gradcheck(const DiffFn& f, const TensorList& inputs, const GradcheckOptions& opts = {});
bool gradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
               const GradcheckOptions& opts = {});

/// gradcheck of the gradient itself: checks d/d(inputs, v) of grad(f(inputs), inputs, v)
/// for random v, i.e. that the VJPs are themselves correctly differentiable.
bool gradgradcheck(const DiffFn& f, const TensorList& inputs, const GradcheckOptions& opts = {});
bool gradgradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
                   const GradcheckOptions& opts = {});

}  // namespace nabla
