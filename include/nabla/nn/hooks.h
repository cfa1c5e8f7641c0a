// Module hooks, as PyTorch's nn.Module hooks: functions a module calls around its forward() and
// when the gradients with respect to its input and output are computed. Registered with
// Module::register_forward_pre_hook / register_forward_hook / register_full_backward_pre_hook /
// register_full_backward_hook, each of which returns a RemovableHandle.
//
//   std::vector<Tensor> features;
//   auto h = net.features->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) {
//     features.push_back(out.detach());  // returns nothing: the output is kept
//   });
//   net(x);
//   h.remove();
//
// A hook returns void, a Tensor (undefined: keep the value; PyTorch's None) or a
// std::optional<Tensor> (nullopt: keep), and runs in registration order. Hooks are for modules
// called with one tensor that return one tensor; registering one on a module whose call takes or
// returns several (LSTM, MultiheadAttention, the losses) throws (Module::supports_module_hooks).
#pragma once
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "nabla/tensor.h"

namespace nabla::nn {

class Module;

namespace detail {
struct ModuleHooks;
}  // namespace detail

/// Returned by the register_*_hook functions: remove() unregisters the hook. Idempotent, and
/// safe once the module is gone (it then does nothing). Dropping the handle keeps the hook.
class RemovableHandle {
 public:
  RemovableHandle() = default;
  void remove();
  /// Whether the hook is still registered: false after remove() or once the module is gone.
  bool active() const;

 private:
  friend class Module;
  RemovableHandle(std::weak_ptr<detail::ModuleHooks> hooks, uint64_t id) : hooks_(std::move(hooks)), id_(id) {}
  std::weak_ptr<detail::ModuleHooks> hooks_;
  uint64_t id_ = 0;
};

/// fn(module, input) before forward(): may return a replacement input.
using ForwardPreHook = std::function<Tensor(Module&, const Tensor& input)>;
/// fn(module, input, output) after forward(): may return a replacement output.
using ForwardHook = std::function<Tensor(Module&, const Tensor& input, const Tensor& output)>;
/// fn(module, grad_output) when the gradient with respect to the output is known, before the
/// module's own backward: may return a replacement grad_output.
using BackwardPreHook = std::function<Tensor(Module&, const Tensor& grad_output)>;
/// fn(module, grad_input, grad_output) when the gradient with respect to the input is computed:
/// may return a replacement grad_input. grad_input is undefined (and the hook runs as soon as
/// grad_output is known) when the input does not require grad.
using BackwardHook = std::function<Tensor(Module&, const Tensor& grad_input, const Tensor& grad_output)>;

namespace detail {
/// Calls a user hook returning void, Tensor or std::optional<Tensor>; undefined means "keep".
template <typename F, typename... Args>
Tensor call_user_hook(F& fn, Args&&... args) {
  using R = std::invoke_result_t<F&, Args...>;
  if constexpr (std::is_void_v<R>) {
    fn(std::forward<Args>(args)...);
    return Tensor();
  } else if constexpr (std::is_convertible_v<R, std::optional<Tensor>> && !std::is_convertible_v<R, Tensor>) {
    std::optional<Tensor> r = fn(std::forward<Args>(args)...);
    return r ? *r : Tensor();
  } else {
    static_assert(std::is_convertible_v<R, Tensor>, "a module hook returns void, Tensor or std::optional<Tensor>");
    return Tensor(fn(std::forward<Args>(args)...));
  }
}

template <typename F, typename... Args>
concept ModuleHookFn = std::invocable<F&, Module&, Args...>;

/// A non-owning reference to a callable Tensor(const Tensor&), valid for the call it is passed
/// to: how Module::operator() hands forward() to the hook machinery without building a
/// std::function on every call.
class ForwardRef {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, ForwardRef> && std::is_invocable_r_v<Tensor, F&, const Tensor&>)
  ForwardRef(F&& f)  // NOLINT: implicit, so callers pass a lambda
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, const Tensor& x) -> Tensor { return (*static_cast<std::remove_reference_t<F>*>(o))(x); }) {}
  Tensor operator()(const Tensor& x) const { return call_(obj_, x); }

 private:
  void* obj_;
  Tensor (*call_)(void*, const Tensor&);
};
}  // namespace detail

}  // namespace nabla::nn
