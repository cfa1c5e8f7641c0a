// The backward engine: an iterative walk (no recursion, so 100k-op chains work) in
// dependency order, summing the gradients that reach each node before running it.
#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "engine_ops.h"
#include "nabla/autocast.h"
#include "nabla/autograd.h"

namespace nabla {
namespace autograd {
namespace {

struct NodeTask {
  TensorList grads;  // one slot per node output
};

struct Capture {
  Node* node;
  uint32_t output_nr;
  size_t input_index;
};

// Counts, for every node reachable from the roots, how many edges point at it.
std::unordered_map<Node*, int> count_dependencies(const std::vector<Edge>& roots) {
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (const Edge& e : roots) {
    if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.fn) continue;
      deps[e.fn.get()]++;
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  return deps;
}

// Nodes that lead to a capture target (for grad(): skip everything else).
std::unordered_set<Node*> nodes_needed_for(const std::vector<Edge>& roots, const std::unordered_set<Node*>& targets) {
  std::unordered_set<Node*> needed;
  std::unordered_map<Node*, size_t> next_child;
  std::unordered_set<Node*> visited;
  std::vector<Node*> stack;
  // Iterative post-order DFS: a node is needed if it is a target or any child is needed.
  for (const Edge& r : roots) {
    if (!r.fn || visited.count(r.fn.get())) continue;
    visited.insert(r.fn.get());
    stack.push_back(r.fn.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      size_t& i = next_child[n];
      if (i < n->next_edges.size()) {
        Node* c = n->next_edges[i++].fn.get();
        if (c && visited.insert(c).second) stack.push_back(c);
        continue;
      }
      stack.pop_back();
      bool need = targets.count(n) > 0;
      for (const Edge& e : n->next_edges) need = need || (e.fn && needed.count(e.fn.get()));
      if (need) needed.insert(n);
    }
  }
  return needed;
}

void check_finite(const Node& node, const TensorList& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].defined() && grads[i].is_floating_point() && !engine_ops().all_finite(grads[i])) {
      fail("[anomaly] the backward of '", node.name(), "' returned NaN or Inf in its gradient for input ", i,
           " (shape ", grads[i].shape(), ")");
    }
  }
}

// Runs the graph from `roots` (with their gradients). When `captures` is non-empty, the
// gradients arriving at those (node, output) pairs are returned instead of accumulated.
TensorList run_backward(const std::vector<Edge>& roots, const TensorList& root_grads, bool retain_graph,
                        bool create_graph, const std::vector<Capture>& captures, size_t n_inputs,
                        bool leaf_hooks = true) {
  // VJPs run in the dtypes their forward saw: a backward called inside an autocast region
  // must not cast them again (PyTorch advises leaving the region first; here it is harmless).
  autocast_detail::Suspend no_autocast;
  std::optional<NoGradGuard> no_grad;
  std::optional<EnableGradGuard> with_grad;
  if (create_graph) {
    with_grad.emplace();
  } else {
    no_grad.emplace();
  }
  const bool accumulate = captures.empty();
  auto deps = count_dependencies(roots);
  std::unordered_set<Node*> targets;
  for (const Capture& c : captures) targets.insert(c.node);
  std::unordered_set<Node*> needed;
  if (!accumulate) needed = nodes_needed_for(roots, targets);

  std::unordered_map<Node*, NodeTask> pending;
  std::vector<std::shared_ptr<Node>> ready;
  TensorList result(n_inputs);
  const auto& ops = engine_ops();

  auto add_grad = [&](const Edge& e, Tensor g) {
    auto& task = pending[e.fn.get()];
    if (task.grads.empty()) task.grads.resize(e.fn->outputs.size());
    Tensor& slot = task.grads[e.input_nr];
    slot = slot.defined() ? ops.add(slot, g) : std::move(g);
  };

  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i].fn) continue;
    add_grad(roots[i], root_grads[i]);
  }
  for (const Edge& r : roots) {
    if (r.fn && deps[r.fn.get()] == 0) {
      deps[r.fn.get()] = -1;  // mark as queued
      ready.push_back(r.fn);
    }
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    TensorList grads = std::move(pending[node.get()].grads);
    pending.erase(node.get());
    if (grads.empty()) grads.resize(node->outputs.size());
    auto* leaf_sink = dynamic_cast<AccumulateGrad*>(node.get());
    // A node whose every incoming gradient is undefined (a custom Function's "no gradient") passes
    // none on, as in PyTorch: the leaves behind it keep .grad undefined (a zero .grad would still
    // move them under weight decay).
    if (!node->materialize_grads &&
        std::none_of(grads.begin(), grads.end(), [](const Tensor& g) { return g.defined(); })) {
      if (!retain_graph && !create_graph) node->release();  // as if it had run
      for (const Edge& e : node->next_edges) {
        if (!e.fn) continue;
        if (int& d = deps[e.fn.get()]; --d == 0) {
          d = -1;
          ready.push_back(e.fn);
        }
      }
      continue;
    }
    // Outputs that received no gradient get zeros (only multi-output nodes can have them).
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) grads[i] = ops.full(node->outputs[i].shape, node->outputs[i].dtype, node->outputs[i].device, 0.0);
    }
    for (size_t h = 0; h < node->pre_hooks.size(); ++h) {
      Tensor& g = grads[node->pre_hook_output[h]];
      Tensor r = node->pre_hooks[h](g);
      if (r.defined()) g = r;
    }
    if (!accumulate && targets.count(node.get())) {
      // grad() runs a leaf input's own hooks on what it returns, as backward() does before
      // accumulating (and as torch.autograd.grad does).
      if (leaf_sink && leaf_hooks) grads[0] = leaf_sink->run_hooks(grads[0]);
      for (const Capture& c : captures) {
        if (c.node == node.get()) {
          Tensor g = grads[c.output_nr];
          result[c.input_index] = result[c.input_index].defined() ? ops.add(result[c.input_index], g) : g;
        }
      }
    }
    const bool is_leaf_sink = leaf_sink != nullptr;
    if (is_leaf_sink && !accumulate) continue;
    if (!accumulate && !needed.count(node.get())) continue;
    if (is_leaf_sink) leaf_sink->create_graph = create_graph;

    TensorList input_grads;
    try {
      input_grads = node->apply(grads);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("[", 0) == 0) throw;  // already names an op
      fail("[backward of ", node->name(), "] ", msg);
    }
    grads.clear();
    // create_graph implies retain_graph (PyTorch's default): the recorded gradient refers to
    // this graph's saved tensors, so differentiating it again must still find them.
    if (!retain_graph && !create_graph) node->release();
    if (is_leaf_sink) continue;
    NB_CHECK(input_grads.size() == node->next_edges.size(), "[", node->name(), "] backward returned ",
             input_grads.size(), " gradients for ", node->next_edges.size(), " inputs");
    if (is_anomaly_enabled()) check_finite(*node, input_grads);
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      Tensor& g = input_grads[i];
      const OutputMeta& meta = e.fn->outputs[e.input_nr];
      if (g.defined()) {
        // A 0-d CPU scalar may combine with a tensor on any device (see ops' device check); its
        // gradient is computed where the op ran and goes back to the scalar's device here, as
        // PyTorch's validate_outputs does.
        if (g.device() != meta.device && meta.shape.empty()) g = engine_ops().to_device(g, meta.device);
        NB_CHECK(g.device() == meta.device, "[", node->name(), "] backward returned a gradient on ", g.device(),
                 " for input ", i, " on ", meta.device);
        NB_CHECK(g.shape() == meta.shape, "[", node->name(), "] backward returned a gradient of shape ",
                 g.shape(), " for input ", i, " of shape ", meta.shape);
        add_grad(e, std::move(g));
      }
      int& d = deps[e.fn.get()];
      if (--d == 0) {
        d = -1;
        ready.push_back(e.fn);
      }
    }
  }
  return result;
}

std::vector<Edge> root_edges(const TensorList& outputs, const TensorList& grad_outputs, TensorList& root_grads,
                             const char* api) {
  NB_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "[", api, "] got ",
           grad_outputs.size(), " grad_outputs for ", outputs.size(), " outputs");
  std::vector<Edge> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    NB_CHECK(out.defined(), "[", api, "] output ", i, " is an undefined tensor");
    NB_CHECK(out.requires_grad(), "[", api, "] output ", i,
             " does not require grad and has no grad_fn: nothing to differentiate (did you compute it under "
             "NoGradGuard, or forget requires_grad_() on the inputs?)");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      NB_CHECK(out.numel() == 1, "[", api, "] grad can be implicitly created only for outputs with one element; ",
               "output ", i, " has shape ", out.shape(), ", so pass grad_outputs");
      NoGradGuard ng;
      g = engine_ops().full(out.shape(), out.dtype(), out.device(), 1.0);
    } else {
      NB_CHECK(g.shape() == out.shape(), "[", api, "] grad_output ", i, " has shape ", g.shape(),
               " but the output has shape ", out.shape());
      // One on another device would fail deep inside a backward: refused, as in PyTorch. One in
      // another dtype is cast to the output's (PyTorch does too), so an f32 parameter does not
      // get an f64 gradient.
      NB_CHECK(g.device() == out.device(), "[", api, "] grad_output ", i, " is on ", g.device(),
               " but the output is on ", out.device(), "; pass a grad_output on the output's device");
      if (g.dtype() != out.dtype()) g = engine_ops().to_dtype(g, out.dtype());
    }
    roots.push_back(gradient_edge(out));
    root_grads.push_back(g);
  }
  return roots;
}

}  // namespace
}  // namespace autograd

void backward(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph, bool create_graph) {
  TensorList root_grads;
  auto roots = autograd::root_edges(outputs, grad_outputs, root_grads, "backward");
  autograd::run_backward(roots, root_grads, retain_graph, create_graph, {}, 0);
}

namespace autograd {
namespace {
TensorList grad_impl(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                     bool retain_graph, bool create_graph, bool leaf_hooks) {
  TensorList root_grads;
  auto roots = root_edges(outputs, grad_outputs, root_grads, "grad");
  std::vector<Capture> captures;
  std::vector<Edge> keep_alive;
  for (size_t i = 0; i < inputs.size(); ++i) {
    NB_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "[grad] input ", i,
             " does not require grad; call requires_grad_() on it before the forward pass");
    Edge e = gradient_edge(inputs[i]);
    keep_alive.push_back(e);
    captures.push_back({e.fn.get(), e.input_nr, i});
  }
  return run_backward(roots, root_grads, retain_graph, create_graph, captures, inputs.size(), leaf_hooks);
}
}  // namespace

TensorList grad_before_leaf_hooks(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                                  bool retain_graph, bool create_graph) {
  return grad_impl(outputs, inputs, grad_outputs, retain_graph, create_graph, /*leaf_hooks=*/false);
}
}  // namespace autograd

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph, bool create_graph, bool allow_unused) {
  TensorList result = autograd::grad_impl(outputs, inputs, grad_outputs, retain_graph, create_graph, true);
  for (size_t i = 0; i < result.size(); ++i) {
    NB_CHECK(result[i].defined() || allow_unused, "[grad] input ", i,
             " was not used to compute the outputs; pass allow_unused=true if that is intended");
  }
  return result;
}

void Tensor::backward(const Tensor& g, bool retain_graph, bool create_graph) const {
  nabla::backward({*this}, g.defined() ? TensorList{g} : TensorList{}, retain_graph, create_graph);
}

namespace {

// A tensor hook sits in its tensor's (or node's) list as a wrapper around a shared slot: the
// handle's remove() empties the slot, which a backward walking the list may be calling through
// (the call keeps the function alive), and the next registration purges emptied wrappers.
template <typename Fn>
struct HookSlot {
  std::shared_ptr<Fn> fn;
};

struct SlottedGradHook {
  std::shared_ptr<HookSlot<GradHook>> slot;
  Tensor operator()(const Tensor& g) const {
    std::shared_ptr<GradHook> fn = slot->fn;  // it may remove itself: keep it for this call
    return fn ? (*fn)(g) : Tensor();
  }
};

struct SlottedPostAccumulateGradHook {
  std::shared_ptr<HookSlot<PostAccumulateGradHook>> slot;
  void operator()(const Tensor& t) const {
    std::shared_ptr<PostAccumulateGradHook> fn = slot->fn;
    if (fn) (*fn)(t);
  }
};

template <typename Wrapper, typename Fn>
bool removed(const Fn& f) {
  const Wrapper* w = f.template target<Wrapper>();
  return w != nullptr && !w->slot->fn;
}

template <typename Fn>
struct TensorHookRegistration final : detail::HookRegistration {
  explicit TensorHookRegistration(const std::shared_ptr<HookSlot<Fn>>& s) : slot(s) {}
  void remove() override {
    if (auto s = slot.lock()) s->fn.reset();
  }
  bool active() const override {
    auto s = slot.lock();  // expired once the tensor (or its node) is gone
    return s && s->fn;
  }
  std::weak_ptr<HookSlot<Fn>> slot;
};

template <typename Fn>
RemovableHandle handle_for(const std::shared_ptr<HookSlot<Fn>>& slot) {
  return RemovableHandle(std::make_shared<TensorHookRegistration<Fn>>(slot));
}

}  // namespace

RemovableHandle Tensor::register_hook(GradHook hook) const {
  NB_CHECK(requires_grad(), "[register_hook] cannot register a hook on a tensor that does not require grad");
  NB_CHECK(hook != nullptr, "[register_hook] got an empty function");
  auto slot = std::make_shared<HookSlot<GradHook>>();
  slot->fn = std::make_shared<GradHook>(std::move(hook));
  if (is_leaf()) {
    std::erase_if(impl().hooks, [](const GradHook& h) { return removed<SlottedGradHook>(h); });
    impl().hooks.push_back(SlottedGradHook{slot});
    return handle_for(slot);
  }
  auto& fn = impl().grad_fn;
  for (size_t i = fn->pre_hooks.size(); i-- > 0;) {
    if (removed<SlottedGradHook>(fn->pre_hooks[i])) {
      fn->pre_hooks.erase(fn->pre_hooks.begin() + ptrdiff_t(i));
      fn->pre_hook_output.erase(fn->pre_hook_output.begin() + ptrdiff_t(i));
    }
  }
  fn->pre_hooks.push_back(SlottedGradHook{slot});
  fn->pre_hook_output.push_back(output_nr());
  return handle_for(slot);
}

RemovableHandle Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  NB_CHECK(requires_grad(),
           "[register_post_accumulate_grad_hook] cannot register a hook on a tensor that does not require grad");
  NB_CHECK(is_leaf(), "[register_post_accumulate_grad_hook] post accumulate grad hooks cannot be registered on "
                      "non-leaf tensors (this one has grad_fn ", grad_fn()->name(), "): only leaves accumulate .grad");
  NB_CHECK(hook != nullptr, "[register_post_accumulate_grad_hook] got an empty function");
  auto slot = std::make_shared<HookSlot<PostAccumulateGradHook>>();
  slot->fn = std::make_shared<PostAccumulateGradHook>(std::move(hook));
  auto& hooks = impl().post_accumulate_grad_hooks;
  std::erase_if(hooks, [](const PostAccumulateGradHook& h) { return removed<SlottedPostAccumulateGradHook>(h); });
  hooks.push_back(SlottedPostAccumulateGradHook{slot});
  return handle_for(slot);
}

void Tensor::retain_grad() const {
  NB_CHECK(requires_grad(), "[retain_grad] the tensor does not require grad");
  if (is_leaf() || impl().retains_grad) return;
  impl().retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_ptr();
  const autograd::Node* fn = grad_fn().get();
  register_hook([weak, fn](const Tensor& g) {
    // After an in-place op the tensor holds a new value with a new grad_fn (and a hook of its
    // own): the gradient reaching the old node is the old value's, which .grad must not get.
    if (auto self = weak.lock(); self && self->grad_fn.get() == fn) {
      Tensor t(self);
      t.set_grad(t.grad().defined() ? autograd::engine_ops().add(t.grad(), g) : g.detach());
    }
    return Tensor();
  });
}

}  // namespace nabla
