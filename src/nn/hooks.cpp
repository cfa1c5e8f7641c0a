// Module hooks (nabla/nn/hooks.h). Forward hooks run around forward() in Module::call_forward.
// Backward hooks work as PyTorch's BackwardHook: the input is passed through an identity custom
// Function before forward() and the output through another after the forward hooks; the
// output's identity sees grad_output first (backward pre-hooks, which may replace it), the
// input's identity then sees grad_input (full backward hooks, which may replace it).
#include <algorithm>
#include <atomic>
#include <mutex>

#include "module_access.h"
#include "nabla/autograd.h"
#include "nabla/nn/module.h"

namespace nabla::nn {

namespace detail {

/// A module's hooks (or the global ones), shared with their RemovableHandles (weakly) and with
/// the backward state of calls made with backward hooks (strongly, so the hooks outlive a module
/// freed before backward). Each hook function is held by a shared_ptr: a call runs the hooks
/// registered when it began (as PyTorch), even if one removes itself meanwhile, and a hook's
/// captured state is not copied.
struct ModuleHooks {
  template <typename Fn>
  using List = std::vector<std::pair<uint64_t, std::shared_ptr<Fn>>>;
  bool alive = true;    ///< false once the module is destroyed
  bool global = false;  ///< the global hooks: changes take global_mutex() and update the flag
  uint64_t next_id = 1;
  List<ForwardPreHook> forward_pre;
  List<ForwardHook> forward;
  std::vector<uint64_t> always_call;  ///< ids of the forward hooks registered with always_call
  List<BackwardPreHook> backward_pre;
  List<BackwardHook> backward;

  bool empty() const { return forward_pre.empty() && forward.empty() && backward_pre.empty() && backward.empty(); }
  template <typename Fn>
  static bool has(const List<Fn>& l, uint64_t id) {
    return std::any_of(l.begin(), l.end(), [&](const auto& e) { return e.first == id; });
  }
  template <typename Fn>
  static void erase(List<Fn>& l, uint64_t id) {
    l.erase(std::remove_if(l.begin(), l.end(), [&](const auto& e) { return e.first == id; }), l.end());
  }
  bool contains(uint64_t id) const { return has(forward_pre, id) || has(forward, id) || has(backward_pre, id) || has(backward, id); }
  void remove(uint64_t id);
  bool is_always_call(uint64_t id) const { return std::find(always_call.begin(), always_call.end(), id) != always_call.end(); }
  template <typename Fn>
  static std::vector<std::shared_ptr<Fn>> snapshot(const List<Fn>& l) {
    std::vector<std::shared_ptr<Fn>> out;
    out.reserve(l.size());
    for (const auto& e : l) out.push_back(e.second);
    return out;
  }
  void clear() {
    forward_pre.clear();
    forward.clear();
    always_call.clear();
    backward_pre.clear();
    backward.clear();
  }
};

namespace {

std::mutex& global_mutex() {
  static std::mutex m;
  return m;
}
std::atomic<bool> g_global_active{false};

/// The global hooks (register_module_*_hook); never destroyed, so handles and backward states
/// may outlive static destruction order.
const std::shared_ptr<ModuleHooks>& global_hooks() {
  static const auto* h = new std::shared_ptr<ModuleHooks>([] {
    auto p = std::make_shared<ModuleHooks>();
    p->global = true;
    return p;
  }());
  return *h;
}

/// One registered module hook: what its RemovableHandle removes.
struct ModuleHookRegistration final : ::nabla::detail::HookRegistration {
  ModuleHookRegistration(const std::shared_ptr<ModuleHooks>& h, uint64_t id) : hooks(h), id(id) {}
  void remove() override {
    if (auto h = hooks.lock()) h->remove(id);
  }
  bool active() const override {
    auto h = hooks.lock();
    if (!h) return false;
    std::unique_lock<std::mutex> lock(global_mutex(), std::defer_lock);
    if (h->global) lock.lock();
    return h->alive && h->contains(id);
  }
  std::weak_ptr<ModuleHooks> hooks;
  uint64_t id;
};

template <typename Fn>
uint64_t add_to(ModuleHooks& h, ModuleHooks::List<Fn>& list, Fn fn, bool prepend) {
  const uint64_t id = h.next_id++;
  auto entry = std::make_pair(id, std::make_shared<Fn>(std::move(fn)));
  if (prepend)
    list.insert(list.begin(), std::move(entry));
  else
    list.push_back(std::move(entry));
  return id;
}

RemovableHandle handle(const std::shared_ptr<ModuleHooks>& h, uint64_t id) {
  return RemovableHandle(std::make_shared<ModuleHookRegistration>(h, id));
}

/// Adds to the global hooks, under their lock.
template <typename Fn>
RemovableHandle add_global(ModuleHooks::List<Fn> ModuleHooks::*list, Fn fn, bool always_call = false) {
  const auto& h = global_hooks();
  std::lock_guard<std::mutex> lock(global_mutex());
  const uint64_t id = add_to(*h, (*h).*list, std::move(fn), /*prepend=*/false);
  if (always_call) h->always_call.push_back(id);
  g_global_active.store(true, std::memory_order_release);
  return handle(h, id);
}

}  // namespace

void ModuleHooks::remove(uint64_t id) {
  std::unique_lock<std::mutex> lock(global_mutex(), std::defer_lock);
  if (global) lock.lock();
  erase(forward_pre, id);
  erase(forward, id);
  always_call.erase(std::remove(always_call.begin(), always_call.end(), id), always_call.end());
  erase(backward_pre, id);
  erase(backward, id);
  if (global) g_global_active.store(!empty(), std::memory_order_release);
}

RemovableHandle add_global_forward_pre_hook(ForwardPreHook fn) {
  return add_global(&ModuleHooks::forward_pre, std::move(fn));
}
RemovableHandle add_global_forward_hook(ForwardHook fn, GlobalForwardHookOptions options) {
  return add_global(&ModuleHooks::forward, std::move(fn), options.always_call);
}
RemovableHandle add_global_backward_pre_hook(BackwardPreHook fn) {
  return add_global(&ModuleHooks::backward_pre, std::move(fn));
}
RemovableHandle add_global_backward_hook(BackwardHook fn) { return add_global(&ModuleHooks::backward, std::move(fn)); }

bool global_module_hooks_active() { return g_global_active.load(std::memory_order_acquire); }

}  // namespace detail

using detail::ModuleHooks;

// ---- registration ------------------------------------------------------------------------------

Module::~Module() {
  if (hooks_) {
    // The hooks go with the module: a backward still holding them skips them, handles go inactive.
    hooks_->alive = false;
    hooks_->clear();
  }
}

bool Module::has_hooks() const { return hooks_ && !hooks_->empty(); }

ModuleHooks& Module::hooks_for(const char* what) {
  if (!supports_module_hooks())
    fail(what, ": hooks need a module called with one tensor that returns one tensor, and a ", type_name(),
         " is called with or returns several; hook one of its submodules, or a module whose forward(x) calls it");
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return *hooks_;
}

RemovableHandle Module::add_forward_pre_hook(ForwardPreHook fn, ForwardPreHookOptions options) {
  ModuleHooks& h = hooks_for("register_forward_pre_hook");
  return detail::handle(hooks_, detail::add_to(h, h.forward_pre, std::move(fn), options.prepend));
}
RemovableHandle Module::add_forward_hook(ForwardHook fn, ForwardHookOptions options) {
  ModuleHooks& h = hooks_for("register_forward_hook");
  const uint64_t id = detail::add_to(h, h.forward, std::move(fn), options.prepend);
  if (options.always_call) h.always_call.push_back(id);
  return detail::handle(hooks_, id);
}
RemovableHandle Module::add_backward_pre_hook(BackwardPreHook fn, BackwardHookOptions options) {
  ModuleHooks& h = hooks_for("register_full_backward_pre_hook");
  return detail::handle(hooks_, detail::add_to(h, h.backward_pre, std::move(fn), options.prepend));
}
RemovableHandle Module::add_backward_hook(BackwardHook fn, BackwardHookOptions options) {
  ModuleHooks& h = hooks_for("register_full_backward_hook");
  return detail::handle(hooks_, detail::add_to(h, h.backward, std::move(fn), options.prepend));
}

// ---- running them ------------------------------------------------------------------------------

namespace {

/// One call's backward hooks: what the output's identity learns (grad_output) for the input's.
struct BackwardHookState {
  std::shared_ptr<ModuleHooks> hooks;  // alive == false: the module is gone, skip
  Module* module = nullptr;
  std::vector<std::shared_ptr<BackwardPreHook>> pre;
  std::vector<std::shared_ptr<BackwardHook>> full;
  bool input_wrapped = false;
  Tensor grad_output;
};

void check_replacement(const Module& m, const Tensor& r, const Tensor& g, const char* hook, const char* what) {
  if (r.shape() != g.shape() || r.dtype() != g.dtype() || r.device() != g.device())
    m.fail("a ", hook, " returned a ", what, " of shape ", r.shape(), ", ", r.dtype(), " on ", r.device(),
           "; the gradient it replaces has shape ", g.shape(), ", ", g.dtype(), " on ", g.device());
}

/// The full backward hooks on (grad_input, grad_output); returns grad_input after replacements.
Tensor run_full_hooks(BackwardHookState& s, Tensor grad_input) {
  for (const auto& fn : s.full) {
    Tensor r = (*fn)(*s.module, grad_input, s.grad_output);
    if (!r.defined()) continue;
    if (!grad_input.defined())
      s.module->fail("a full backward hook returned a grad_input, but the module's input does not require grad "
                     "(its grad_input is undefined); return nothing");
    check_replacement(*s.module, r, grad_input, "full backward hook", "grad_input");
    grad_input = r;
  }
  return grad_input;
}

/// x through an identity Function whose backward runs the full backward hooks.
Tensor wrap_input(const Tensor& x, const std::shared_ptr<BackwardHookState>& s) {
  return FunctionBridge::apply(
      "ModuleBackwardHook", {x}, [](AutogradContext*, const TensorList& in) { return TensorList{in[0]}; },
      [s](AutogradContext*, const TensorList& g) -> TensorList {
        if (!s->hooks->alive) return {g[0]};
        return {run_full_hooks(*s, g[0])};
      })[0];
}

/// y through an identity Function whose backward runs the backward pre-hooks and keeps
/// grad_output for the input's; when the input does not require grad, the full hooks run here.
Tensor wrap_output(const Tensor& y, const std::shared_ptr<BackwardHookState>& s) {
  return FunctionBridge::apply(
      "ModuleBackwardPreHook", {y}, [](AutogradContext*, const TensorList& in) { return TensorList{in[0]}; },
      [s](AutogradContext*, const TensorList& g) -> TensorList {
        Tensor go = g[0];
        if (!s->hooks->alive) return {go};
        for (const auto& fn : s->pre) {
          Tensor r = (*fn)(*s->module, go);
          if (!r.defined()) continue;
          check_replacement(*s->module, r, go, "full backward pre-hook", "grad_output");
          go = r;
        }
        s->grad_output = go;
        if (!s->input_wrapped) run_full_hooks(*s, Tensor());
        return {go};
      })[0];
}

}  // namespace

Tensor Module::run_hooked(const Tensor& input, detail::ForwardRef forward_fn) {
  // The global hooks (first), then this module's: PyTorch's Module._call_impl order.
  std::vector<std::shared_ptr<ForwardPreHook>> pre;
  std::vector<std::pair<std::shared_ptr<ForwardHook>, bool>> post;  // (hook, always_call)
  std::vector<std::shared_ptr<BackwardPreHook>> backward_pre;
  std::vector<std::shared_ptr<BackwardHook>> backward;
  auto take = [&](const ModuleHooks& h) {
    for (const auto& e : h.forward_pre) pre.push_back(e.second);
    for (const auto& e : h.forward) post.emplace_back(e.second, h.is_always_call(e.first));
    for (const auto& e : h.backward_pre) backward_pre.push_back(e.second);
    for (const auto& e : h.backward) backward.push_back(e.second);
  };
  if (detail::global_module_hooks_active() && supports_module_hooks()) {
    std::lock_guard<std::mutex> lock(detail::global_mutex());
    take(*detail::global_hooks());
  }
  if (hooks_) take(*hooks_);
  Tensor x = input, y;
  size_t started = 0;  // forward hooks post[0, started) have been called
  try {
    for (const auto& fn : pre) {
      Tensor r = (*fn)(*this, x);
      if (r.defined()) x = r;
    }
    std::shared_ptr<BackwardHookState> bw;
    if (is_grad_enabled() && (!backward.empty() || !backward_pre.empty())) {
      // Even with only global hooks the module gets its hook set: its `alive` tells a backward
      // that runs after the module is gone to skip them.
      if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
      bw = std::make_shared<BackwardHookState>();
      bw->hooks = hooks_;
      bw->module = this;
      bw->pre = std::move(backward_pre);
      bw->full = std::move(backward);
      if (x.defined() && x.requires_grad()) {
        x = wrap_input(x, bw);
        bw->input_wrapped = true;
      }
    }
    y = forward_fn(x);
    while (started < post.size()) {
      Tensor r = (*post[started++].first)(*this, x, y);
      if (r.defined()) y = r;
    }
    // No gradient reaches the module unless its output requires grad: then no backward hook runs.
    if (bw && y.defined() && y.requires_grad()) y = wrap_output(y, bw);
  } catch (...) {
    // The always_call forward hooks not yet run see the output as far as it got; what they throw
    // is dropped (PyTorch warns), and the call's own error goes on.
    for (size_t k = started; k < post.size(); ++k) {
      if (!post[k].second) continue;
      try {
        Tensor r = (*post[k].first)(*this, x, y);
        if (r.defined()) y = r;
      } catch (...) {
      }
    }
    throw;
  }
  return y;
}

}  // namespace nabla::nn
