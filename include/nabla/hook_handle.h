// RemovableHandle: what every register_*_hook returns (Tensor::register_hook and
// register_post_accumulate_grad_hook, the module hooks, the global module hooks), as PyTorch's
// torch.utils.hooks.RemovableHandle: remove() unregisters the hook.
#pragma once
#include <memory>
#include <utility>

namespace nabla {

namespace detail {
/// Where one registered hook lives and how to take it out; each hook owner (a tensor, a node, a
/// module, the global module hooks) implements it. Holds its owner weakly.
struct HookRegistration {
  virtual ~HookRegistration() = default;
  /// Unregisters the hook; does nothing when it is gone already or its owner is.
  virtual void remove() = 0;
  virtual bool active() const = 0;
};
}  // namespace detail

/// Returned by the register_*_hook functions: remove() unregisters the hook. Idempotent, and safe
/// once the hook's owner (the tensor, the module) is gone: it then does nothing. Copies refer to
/// the same hook. Dropping the handle keeps the hook.
class RemovableHandle {
 public:
  RemovableHandle() = default;
  explicit RemovableHandle(std::shared_ptr<detail::HookRegistration> registration)
      : registration_(std::move(registration)) {}
  void remove() {
    if (auto r = std::move(registration_)) r->remove();
  }
  /// Whether the hook is still registered: false after remove() or once its owner is gone.
  bool active() const { return registration_ && registration_->active(); }

 private:
  std::shared_ptr<detail::HookRegistration> registration_;
};

}  // namespace nabla
