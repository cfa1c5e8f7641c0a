// Custom Functions: user forward runs without recording; its backward becomes a node.
#include "nabla/autograd.h"

namespace nabla {

void AutogradContext::save_for_backward(const TensorList& tensors) { pending_ = tensors; }

TensorList AutogradContext::get_saved() const {
  TensorList out;
  out.reserve(saved_.size());
  for (const auto& s : saved_) out.push_back(s.get());
  return out;
}

TensorList FunctionBridge::apply(const char* name, const TensorList& inputs,
                                 const std::function<TensorList(AutogradContext*, const TensorList&)>& forward,
                                 std::function<TensorList(AutogradContext*, const TensorList&)> backward) {
  auto ctx = std::make_shared<AutogradContext>();
  for (const Tensor& t : inputs) ctx->needs_input_grad.push_back(t.defined() && t.requires_grad());
  TensorList outputs;
  {
    NoGradGuard no_grad;
    outputs = forward(ctx.get(), inputs);
  }
  // Outputs that alias an input get their own impl, so attaching history does not touch the input.
  for (Tensor& o : outputs) {
    for (const Tensor& in : inputs)
      if (o.impl_ptr() == in.impl_ptr()) o = o.detach();
  }
  auto node = autograd::record(name, inputs, outputs);
  if (!node) return outputs;
  ctx->owner_ = node.get();
  node->materialize_grads = true;
  for (const Tensor& t : ctx->pending_) ctx->saved_.push_back(node->save(t));
  ctx->pending_.clear();
  std::string op = name;
  node->backward_fn = [ctx, backward = std::move(backward), op, n = inputs.size()](const TensorList& g) {
    TensorList r = backward(ctx.get(), g);
    NB_CHECK(r.size() == n, "[", op, "] custom backward returned ", r.size(), " gradients for ", n, " inputs");
    return r;
  };
  return outputs;
}

}  // namespace nabla
