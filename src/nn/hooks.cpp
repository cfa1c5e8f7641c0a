// Module hooks (nabla/nn/hooks.h). Forward hooks run around forward() in Module::call_forward.
// Backward hooks work as PyTorch's BackwardHook: the input is passed through an identity custom
// Function before forward() and the output through another after the forward hooks; the
// output's identity sees grad_output first (backward pre-hooks, which may replace it), the
// input's identity then sees grad_input (full backward hooks, which may replace it).
#include <algorithm>

#include "module_access.h"
#include "nabla/autograd.h"
#include "nabla/nn/module.h"

namespace nabla::nn {

namespace detail {

/// A module's hooks, shared with its RemovableHandles (weakly) and with the backward state of
/// calls made with backward hooks (strongly, so the hooks outlive a module freed before backward).
/// Each hook function is held by a shared_ptr: a call runs the hooks registered when it began
/// (as PyTorch), even if one removes itself meanwhile, and a hook's captured state is not copied.
struct ModuleHooks {
  template <typename Fn>
  using List = std::vector<std::pair<uint64_t, std::shared_ptr<Fn>>>;
  bool alive = true;  ///< false once the module is destroyed
  uint64_t next_id = 1;
  List<ForwardPreHook> forward_pre;
  List<ForwardHook> forward;
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
  void remove(uint64_t id) {
    erase(forward_pre, id);
    erase(forward, id);
    erase(backward_pre, id);
    erase(backward, id);
  }
  template <typename Fn>
  static std::vector<std::shared_ptr<Fn>> snapshot(const List<Fn>& l) {
    std::vector<std::shared_ptr<Fn>> out;
    out.reserve(l.size());
    for (const auto& e : l) out.push_back(e.second);
    return out;
  }
};

}  // namespace detail

using detail::ModuleHooks;

// ---- handles and registration ------------------------------------------------------------------

void RemovableHandle::remove() {
  if (auto h = hooks_.lock()) h->remove(id_);
  hooks_.reset();
}

bool RemovableHandle::active() const {
  auto h = hooks_.lock();
  return h && h->alive && h->contains(id_);
}

Module::~Module() {
  if (hooks_) {
    // The hooks go with the module: a backward still holding them skips them, handles go inactive.
    hooks_->alive = false;
    hooks_->forward_pre.clear();
    hooks_->forward.clear();
    hooks_->backward_pre.clear();
    hooks_->backward.clear();
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

namespace {
template <typename Fn>
uint64_t add_to(ModuleHooks& h, ModuleHooks::List<Fn>& list, Fn fn) {
  const uint64_t id = h.next_id++;
  list.emplace_back(id, std::make_shared<Fn>(std::move(fn)));
  return id;
}
}  // namespace

RemovableHandle Module::add_forward_pre_hook(ForwardPreHook fn) {
  ModuleHooks& h = hooks_for("register_forward_pre_hook");
  return RemovableHandle(hooks_, add_to(h, h.forward_pre, std::move(fn)));
}
RemovableHandle Module::add_forward_hook(ForwardHook fn) {
  ModuleHooks& h = hooks_for("register_forward_hook");
  return RemovableHandle(hooks_, add_to(h, h.forward, std::move(fn)));
}
RemovableHandle Module::add_backward_pre_hook(BackwardPreHook fn) {
  ModuleHooks& h = hooks_for("register_full_backward_pre_hook");
  return RemovableHandle(hooks_, add_to(h, h.backward_pre, std::move(fn)));
}
RemovableHandle Module::add_backward_hook(BackwardHook fn) {
  ModuleHooks& h = hooks_for("register_full_backward_hook");
  return RemovableHandle(hooks_, add_to(h, h.backward, std::move(fn)));
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
  const std::shared_ptr<ModuleHooks> hooks = hooks_;  // a hook may remove the last one meanwhile
  Tensor x = input;
  for (const auto& fn : ModuleHooks::snapshot(hooks->forward_pre)) {
    Tensor r = (*fn)(*this, x);
    if (r.defined()) x = r;
  }
  std::shared_ptr<BackwardHookState> bw;
  if (is_grad_enabled() && (!hooks->backward.empty() || !hooks->backward_pre.empty())) {
    bw = std::make_shared<BackwardHookState>();
    bw->hooks = hooks;
    bw->module = this;
    bw->pre = ModuleHooks::snapshot(hooks->backward_pre);
    bw->full = ModuleHooks::snapshot(hooks->backward);
    if (x.defined() && x.requires_grad()) {
      x = wrap_input(x, bw);
      bw->input_wrapped = true;
    }
  }
  Tensor y = forward_fn(x);
  for (const auto& fn : ModuleHooks::snapshot(hooks->forward)) {
    Tensor r = (*fn)(*this, x, y);
    if (r.defined()) y = r;
  }
  // No gradient reaches the module unless its output requires grad: then no backward hook runs.
  if (bw && y.defined() && y.requires_grad()) y = wrap_output(y, bw);
  return y;
}

}  // namespace nabla::nn
