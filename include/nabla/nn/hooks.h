// Module hooks, as PyTorch's nn.Module hooks: functions a module calls around its forward() and
// when the gradients with respect to its input and output are computed. Registered on one module
// with Module::register_forward_pre_hook / register_forward_hook / register_full_backward_pre_hook
// / register_full_backward_hook, or for every module with nn::register_module_forward_pre_hook /
// register_module_forward_hook / register_module_full_backward_pre_hook /
// register_module_full_backward_hook; each returns a RemovableHandle.
//
//   std::vector<Tensor> features;
//   auto h = net.features->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) {
//     features.push_back(out.detach());  // returns nothing: the output is kept
//   });
//   net(x);
//   h.remove();
//
// A hook returns void, a Tensor (undefined: keep the value; PyTorch's None) or a
// std::optional<Tensor> (nullopt: keep). Order, as PyTorch's Module._call_impl: the global forward
// pre-hooks, then the module's; forward(); the global forward hooks, then the module's; in
// backward likewise the global hooks before the module's. Within each list, registration order,
// except that `.prepend = true` puts a hook first among its module's. Hooks are for modules called
// with one tensor that return one tensor; registering one on a module whose call takes or returns
// several (LSTM, MultiheadAttention, the losses) throws (Module::supports_module_hooks), and the
// global hooks skip such modules. PyTorch's `with_kwargs` has no counterpart: a module's call
// here has no keyword arguments to pass.
#pragma once
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "nabla/hook_handle.h"
#include "nabla/tensor.h"

namespace nabla::nn {

class Module;

namespace detail {
struct ModuleHooks;
}  // namespace detail

/// What the register_*_hook functions return (nabla/hook_handle.h): remove() unregisters the hook;
/// idempotent, and a no-op once the module is gone.
using RemovableHandle = ::nabla::RemovableHandle;

/// Module::register_forward_pre_hook's options.
struct ForwardPreHookOptions {
  bool prepend = false;  ///< run before the module's hooks registered so far (not before global ones)
};
/// Module::register_forward_hook's options.
struct ForwardHookOptions {
  bool prepend = false;  ///< run before the module's hooks registered so far (not before global ones)
  /// Also run when the call throws (in a pre-hook, forward() or another forward hook), with the
  /// output as far as it got (undefined when forward() threw); the exception is then rethrown, and
  /// one the hook itself throws meanwhile is dropped (PyTorch warns and drops it).
  bool always_call = false;
};
/// Module::register_full_backward_pre_hook's and register_full_backward_hook's options.
struct BackwardHookOptions {
  bool prepend = false;  ///< run before the module's hooks registered so far (not before global ones)
};
/// nn::register_module_forward_hook's options.
struct GlobalForwardHookOptions {
  bool always_call = false;  ///< as ForwardHookOptions::always_call
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

// The global hooks' registration (src/nn/hooks.cpp).
RemovableHandle add_global_forward_pre_hook(ForwardPreHook fn);
RemovableHandle add_global_forward_hook(ForwardHook fn, GlobalForwardHookOptions options);
RemovableHandle add_global_backward_pre_hook(BackwardPreHook fn);
RemovableHandle add_global_backward_hook(BackwardHook fn);
/// Whether any global module hook is registered: a module call then runs the hook machinery.
bool global_module_hooks_active();

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

// ---- global hooks: torch.nn.modules.module.register_module_*_hook ---------------------------------
// Run for every module call that runs module hooks (one tensor in, one out), before that module's
// own hooks of the same kind. Meant for debugging and profiling (PyTorch's advice too). Register and
// remove them while no thread is calling a module.

/// fn(module, input) before every module's forward(), before the module's own pre-hooks.
template <detail::ModuleHookFn<const Tensor&> F>
RemovableHandle register_module_forward_pre_hook(F fn) {
  return detail::add_global_forward_pre_hook(
      [fn = std::move(fn)](Module& m, const Tensor& x) mutable { return detail::call_user_hook(fn, m, x); });
}
/// fn(module, input, output) after every module's forward(), before the module's own forward hooks.
template <detail::ModuleHookFn<const Tensor&, const Tensor&> F>
RemovableHandle register_module_forward_hook(F fn, GlobalForwardHookOptions options = {}) {
  return detail::add_global_forward_hook(
      [fn = std::move(fn)](Module& m, const Tensor& x, const Tensor& y) mutable {
        return detail::call_user_hook(fn, m, x, y);
      },
      options);
}
/// fn(module, grad_output) for every module, before the module's own backward pre-hooks.
template <detail::ModuleHookFn<const Tensor&> F>
RemovableHandle register_module_full_backward_pre_hook(F fn) {
  return detail::add_global_backward_pre_hook(
      [fn = std::move(fn)](Module& m, const Tensor& g) mutable { return detail::call_user_hook(fn, m, g); });
}
/// fn(module, grad_input, grad_output) for every module, before the module's own full backward hooks.
template <detail::ModuleHookFn<const Tensor&, const Tensor&> F>
RemovableHandle register_module_full_backward_hook(F fn) {
  return detail::add_global_backward_hook([fn = std::move(fn)](Module& m, const Tensor& gi, const Tensor& go) mutable {
    return detail::call_user_hook(fn, m, gi, go);
  });
}

}  // namespace nabla::nn
