// Nodes, saved tensors and recording: how a forward op attaches itself to the graph.
#include <atomic>
#include <mutex>

#include "engine_ops.h"
#include "nabla/autograd.h"

namespace nabla::autograd {

namespace {
EngineOps g_engine_ops;
std::atomic<uint64_t> g_sequence{0};
}  // namespace

void install_engine_ops(const EngineOps& ops) { g_engine_ops = ops; }
const EngineOps& engine_ops() {
  NB_CHECK(g_engine_ops.add != nullptr, "[autograd] the ops layer is not linked (link the `nabla` target)");
  return g_engine_ops;
}

void NodeDeleter::operator()(Node* node) const noexcept {
  // Deleting `node` may drop the last reference to other nodes (through its edges, saved
  // tensors or captured state); their deleters run inside this `delete` and only queue
  // them, and this outermost call deletes the queue in a loop: stack depth stays constant.
  // Both thread_locals are trivially destructible, so this works during thread/program exit.
  thread_local Node* queue = nullptr;
  thread_local bool draining = false;
  if (draining) {
    node->next_to_delete_ = queue;
    queue = node;
    return;
  }
  draining = true;
  delete node;
  while (queue) {
    Node* next = queue;
    queue = next->next_to_delete_;
    delete next;
  }
  draining = false;
}

SavedTensor::SavedTensor(const Tensor& t, const Node* owner) {
  if (!t.defined()) return;
  owner_name_ = owner->name().c_str();
  version_ = t.version();
  requires_grad_ = t.requires_grad();
  if (t.grad_fn().get() == owner) {
    // An output of the owner: keep the data and re-attach the history on get(), because
    // a strong reference from the node to its own output would be a cycle.
    is_output_ = true;
    output_nr_ = t.output_nr();
    weak_fn_ = t.grad_fn();
    data_ = t.detach();
  } else if (t.is_leaf() && t.requires_grad()) {
    // A parameter: keep its data and its gradient sink, not the leaf itself, which would
    // make leaf -> .grad -> graph -> leaf a cycle after backward(create_graph).
    data_ = t.detach();
    leaf_acc_ = gradient_edge(t).fn;
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::get() const {
  if (!data_.defined()) return Tensor();
  NB_CHECK(data_.version() == version_, "[", owner_name_,
           "] one of the tensors needed for its gradient was modified by an in-place operation (",
           data_.storage()->last_writer, ") after it was saved: it is at version ", data_.version(),
           ", expected version ", version_,
           ". Clone it before the in-place op, or do the in-place op out of place.");
  if (leaf_acc_) {
    // A stand-in for the leaf whose gradients reach the leaf's own accumulator.
    Tensor t = data_.detach();
    t.impl().requires_grad = true;
    t.impl().grad_accumulator = leaf_acc_;
    return t;
  }
  if (!is_output_) return data_;
  auto fn = weak_fn_.lock();
  Tensor t = data_.detach();
  if (fn && requires_grad_) {
    t.impl().grad_fn = fn;
    t.impl().output_nr = output_nr_;
  }
  return t;
}

Edge gradient_edge(const Tensor& t) {
  t.refresh_view_history();  // a view in any input position, not only the first
  auto& impl = t.impl();
  if (impl.grad_fn) return {impl.grad_fn, impl.output_nr};
  if (!impl.requires_grad) return {};
  // One accumulator per leaf even when threads record ops on a shared leaf at once (two would
  // each hold their own lock in AccumulateGrad::apply).
  static std::mutex creating;
  std::lock_guard<std::mutex> lock(creating);
  auto acc = impl.grad_accumulator.lock();
  if (!acc) {
    acc = make_node<AccumulateGrad>(t.impl_ptr());
    acc->outputs.push_back({impl.shape, impl.dtype, impl.storage->device});
    impl.grad_accumulator = acc;
  }
  return {acc, 0};
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const TensorList& inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
thread_local InputObserver* t_observer = nullptr;
}  // namespace

InputObserver::InputObserver() : outer_(t_observer) { t_observer = this; }
InputObserver::~InputObserver() { t_observer = outer_; }

void InputObserver::add(const Tensor& t) {
  if (seen_.insert(t.impl_ptr().get()).second) tensors_.push_back(t);
}

void observe_inputs(const TensorList& inputs) {
  if (t_observer == nullptr) return;
  for (const Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    for (InputObserver* o = t_observer; o != nullptr; o = o->outer_) o->add(t);
  }
}

std::shared_ptr<FunctionNode> record(const char* name, const TensorList& inputs, const TensorList& outputs) {
  observe_inputs(inputs);
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = make_node<FunctionNode>(name);
  node->sequence_nr = g_sequence++;
  node->next_edges.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next_edges.push_back(in.defined() ? gradient_edge(in) : Edge{});
  node->outputs.reserve(outputs.size());
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    auto& o = outputs[i].impl();
    o.grad_fn = node;
    o.output_nr = i;
    node->outputs.push_back({o.shape, o.dtype, o.storage->device});
  }
  return node;
}

TensorList FunctionNode::apply(const TensorList& grad_outputs) {
  NB_CHECK(!released_, "[", name(),
           "] backward through this graph a second time, but its saved tensors were freed by the first "
           "backward. Pass retain_graph=true to the first backward (or grad) call.");
  NB_CHECK(backward_fn != nullptr, "[", name(), "] has no backward function");
  return backward_fn(grad_outputs);
}

Tensor AccumulateGrad::run_hooks(Tensor g) const {
  if (std::shared_ptr<TensorImpl> impl = leaf.lock()) {
    for (const auto& hook : impl->hooks) {
      Tensor r = hook(g);
      if (r.defined()) g = r;
    }
  }
  return g;
}

TensorList AccumulateGrad::apply(const TensorList& grad_outputs) {
  std::shared_ptr<TensorImpl> impl = leaf.lock();
  if (!impl) return {};  // the leaf is gone: nobody can read its gradient
  Tensor var(impl);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Tensor g = run_hooks(grad_outputs[0]);
    const auto& ops = engine_ops();
    // g may be kept as .grad only when nobody else can see its memory and it is plainly laid out:
    // a later in-place accumulation must not write into another tensor or into a stride-0 view
    // (sum's gradient is an expanded scalar).
    const bool exclusive = g.impl_ptr().use_count() <= 2 && g.storage().use_count() == 1 && g.is_contiguous();
    if (create_graph) {
      // The accumulated gradient must stay differentiable: out of place, copies recorded.
      var.set_grad(impl->grad ? ops.add(Tensor(impl->grad), g) : exclusive ? g : ops.clone(g));
    } else if (!impl->grad) {
      var.set_grad(exclusive && !g.requires_grad() ? g : ops.contiguous_clone(g));
    } else if (Tensor acc(impl->grad); acc.requires_grad() || !acc.is_contiguous()) {
      // A .grad left by a create_graph backward (part of a graph) or set by the user with any
      // layout: added out of place, as PyTorch does for a .grad it cannot write into.
      var.set_grad(ops.add(acc, g));
    } else {
      ops.add_inplace(acc, g);
    }
  }
  if (!impl->post_accumulate_grad_hooks.empty()) {
    // Outside the lock, on a copy: a hook may step the parameter, reset its .grad or register
    // more hooks.
    const std::vector<PostAccumulateGradHook> hooks = impl->post_accumulate_grad_hooks;
    for (const auto& hook : hooks) hook(var);
  }
  return {};
}

}  // namespace nabla::autograd
