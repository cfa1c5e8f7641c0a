// Activation checkpointing (nabla/nn/checkpoint.h). The forward pass runs fn under NoGradGuard
// while an autograd::InputObserver collects the parameters it reads and a ModuleCallLog the
// modules it calls; one custom Function then stands for the whole segment, with the explicit
// inputs and those parameters as its inputs, so their gradients flow through the ordinary
// engine. Its backward recomputes fn with grad mode on (forward-time RNG state, train/eval flags)
// and differentiates the recomputed graph with autograd::grad_before_leaf_hooks: leaf hooks run
// once, when the engine hands the gradients on to the leaves.
//
// The recomputation starts from fresh leaves standing for the inputs (detached copies), so it is
// not connected to the graph before the segment. Under create_graph that would cut the second
// derivative's path to the inputs, so there each input goes through a gate instead: an identity
// Function that passes no gradient while the recomputation is being differentiated (the engine
// carries the input's gradient on itself) and passes it afterwards, when the recorded gradient
// is differentiated again.
#include "nabla/nn/checkpoint.h"

#include <unordered_set>
#include <utility>
#include <vector>

#include "module_access.h"
#include "nabla/autocast.h"
#include "nabla/autograd.h"
#include "nabla/random.h"

namespace nabla::nn::utils {

namespace {

struct CheckpointState {
  std::function<Tensor(const TensorList&)> fn;
  size_t n_inputs = 0;  ///< explicit inputs; the Function's other inputs are the parameters fn read
  GeneratorState rng;   ///< at the start of the forward
  std::vector<std::pair<Module*, bool>> modes;  ///< modules fn called and their forward-time train flags
  autocast_detail::Snapshot autocast;           ///< the forward's autocast state
};

/// Sets the forward's RNG state and train/eval flags for the recomputation; puts back the
/// generator and the flags as they were when it ends.
class ReplayScope {
 public:
  explicit ReplayScope(const CheckpointState& s) : rng_(get_rng_state()), autocast_(s.autocast) {
    set_rng_state(s.rng);
    for (const auto& [m, training] : s.modes) {
      modes_.emplace_back(m, m->is_training());
      detail::ModuleAccess::set_training_flag(*m, training);
    }
  }
  ~ReplayScope() {
    set_rng_state(rng_);
    for (const auto& [m, training] : modes_) detail::ModuleAccess::set_training_flag(*m, training);
  }
  ReplayScope(const ReplayScope&) = delete;
  ReplayScope& operator=(const ReplayScope&) = delete;

 private:
  GeneratorState rng_;
  std::vector<std::pair<Module*, bool>> modes_;
  autocast_detail::Replay autocast_;  // the recomputation casts as the forward did
};

/// Keeps the buffers of fn's modules and puts back those the recomputation wrote (BatchNorm's
/// running statistics in training mode), so a forward updates them once. Buffers left alone are
/// not touched (no version bump: the recomputed graph may have saved them).
class BufferRestore {
 public:
  explicit BufferRestore(const CheckpointState& s) {
    NoGradGuard ng;
    for (const auto& [m, training] : s.modes)
      for (const auto& [name, b] : m->named_buffers(/*recurse=*/false)) kept_.push_back({b, b.version(), b.clone()});
  }
  void restore() {
    NoGradGuard ng;
    for (auto& k : kept_)
      if (k.buffer.version() != k.version) k.buffer.copy_(k.value);
    kept_.clear();
  }

 private:
  struct Kept {
    Tensor buffer;
    uint64_t version;
    Tensor value;
  };
  std::vector<Kept> kept_;
};

/// Identity whose backward passes the gradient only once *open is set (see the top of the file).
Tensor gate(const Tensor& x, const std::shared_ptr<bool>& open) {
  return FunctionBridge::apply(
      "CheckpointInputGate", {x}, [](AutogradContext*, const TensorList& in) { return TensorList{in[0]}; },
      [open](AutogradContext*, const TensorList& g) { return TensorList{*open ? g[0] : Tensor()}; })[0];
}

/// Every leaf the recomputed graph sends gradients to must be one of `targets`: a parameter the
/// forward did not see (used only through an op that records nothing without grad mode, or by a
/// fn that computed something else this time) would silently get no gradient.
void check_recomputed_graph(const Tensor& out, const TensorList& targets) {
  std::unordered_set<const autograd::Node*> stop;
  for (const Tensor& t : targets) stop.insert(autograd::gradient_edge(t).fn.get());
  std::unordered_set<const autograd::Node*> seen;
  std::vector<autograd::Node*> stack{out.grad_fn().get()};
  while (!stack.empty()) {
    autograd::Node* n = stack.back();
    stack.pop_back();
    if (n == nullptr || stop.count(n) || !seen.insert(n).second) continue;
    if (auto* acc = dynamic_cast<autograd::AccumulateGrad*>(n)) {
      const auto leaf = acc->leaf.lock();
      NB_CHECK(leaf == nullptr, "[checkpoint] the recomputation of the checkpointed function uses a tensor that "
               "requires grad (shape ", leaf ? leaf->shape : Shape{}, ") which its forward pass did not read; "
               "the function must compute the same thing each time it runs");
      continue;
    }
    for (const autograd::Edge& e : n->next_edges) stack.push_back(e.fn.get());
  }
}

TensorList checkpoint_backward(const CheckpointState& st, AutogradContext* ctx, const TensorList& grad_outputs) {
  const TensorList saved = ctx->get_saved();  // throws when one was modified in place since the forward
  const bool create_graph = is_grad_enabled();  // the engine records the backward only for create_graph
  const size_t n = st.n_inputs;
  TensorList inputs(n), targets;
  std::vector<size_t> target_of;  // Function input index of each target
  std::shared_ptr<bool> gate_open;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& s = saved[i];
    if (!s.defined() || !ctx->needs_input_grad[i]) {
      inputs[i] = s.defined() ? s.detach() : s;
      continue;
    }
    if (create_graph) {
      if (!gate_open) gate_open = std::make_shared<bool>(false);
      inputs[i] = gate(s, gate_open);
    } else {
      inputs[i] = s.detach();
      inputs[i].requires_grad_(true);
    }
    targets.push_back(inputs[i]);
    target_of.push_back(i);
  }
  for (size_t i = n; i < saved.size(); ++i) {
    if (!ctx->needs_input_grad[i]) continue;
    targets.push_back(saved[i]);  // a parameter: a stand-in with the parameter's gradient sink
    target_of.push_back(i);
  }

  BufferRestore buffers(st);
  Tensor out;
  {
    ReplayScope replay(st);
    EnableGradGuard grad_mode;
    out = st.fn(inputs);
  }
  NB_CHECK(out.defined() && out.requires_grad(), "[checkpoint] the recomputation of the checkpointed function gave ",
           out.defined() ? "a tensor that does not require grad" : "an undefined tensor",
           "; the function must compute the same thing each time it runs");
  NB_CHECK(out.shape() == grad_outputs[0].shape(), "[checkpoint] the recomputation gave shape ", out.shape(),
           ", the forward pass ", grad_outputs[0].shape(), "; the function must compute the same thing each time it runs");
  check_recomputed_graph(out, targets);
  TensorList grads = autograd::grad_before_leaf_hooks({out}, targets, {grad_outputs[0]}, /*retain_graph=*/create_graph,
                                                      create_graph);
  if (gate_open) *gate_open = true;
  buffers.restore();
  TensorList result(saved.size());
  for (size_t k = 0; k < targets.size(); ++k) result[target_of[k]] = grads[k];
  return result;
}

}  // namespace

Tensor checkpoint(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs) {
  NB_CHECK(fn != nullptr, "[checkpoint] the function is empty");
  NB_CHECK(!inputs.empty(), "[checkpoint] needs at least one input tensor");
  if (!is_grad_enabled()) return fn(inputs);  // nothing will be differentiated: keep nothing

  auto st = std::make_shared<CheckpointState>();
  st->fn = fn;
  st->n_inputs = inputs.size();
  st->rng = get_rng_state();
  st->autocast = autocast_detail::snapshot();
  TensorList detached;
  detached.reserve(inputs.size());
  for (const Tensor& t : inputs) detached.push_back(t.defined() ? t.detach() : t);

  Tensor out;
  TensorList read;
  {
    autograd::InputObserver observer;
    detail::ModuleCallLog calls;
    NoGradGuard no_grad;
    out = fn(detached);
    read = observer.tensors();
    for (Module* m : calls.modules()) st->modes.emplace_back(m, m->is_training());
  }
  NB_CHECK(out.defined(), "[checkpoint] the function returned an undefined tensor");
  NB_CHECK(!out.requires_grad(), "[checkpoint] the function returned a tensor that requires grad (shape ", out.shape(),
           ") although it ran without grad mode: a parameter itself, or a tensor computed with grad mode switched "
           "back on; return a tensor the function computes");
  for (const Tensor& t : read)
    NB_CHECK(t.is_leaf(), "[checkpoint] the function reads a tensor of shape ", t.shape(),
             " that has history (it was computed with grad mode on) and is not one of its inputs; pass it as an "
             "input (the TensorList form) and use the function's argument instead");

  TensorList all = inputs;
  all.insert(all.end(), read.begin(), read.end());
  return FunctionBridge::apply(
      "CheckpointFunction", all,
      [&out](AutogradContext* ctx, const TensorList& in) {
        ctx->save_for_backward(in);
        return TensorList{out};
      },
      [st](AutogradContext* ctx, const TensorList& g) { return checkpoint_backward(*st, ctx, g); })[0];
}

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input) {
  NB_CHECK(fn != nullptr, "[checkpoint] the function is empty");
  return checkpoint([fn](const TensorList& in) { return fn(in[0]); }, TensorList{input});
}

Tensor checkpoint(Module& module, const Tensor& input) {
  return checkpoint([&module](const TensorList& in) { return module(in[0]); }, TensorList{input});
}

Tensor checkpoint_sequential(Sequential& seq, int64_t segments, const Tensor& input) {
  const int64_t n = int64_t(seq.size());
  NB_CHECK(n > 0, "[checkpoint_sequential] the Sequential has no modules");
  NB_CHECK(segments >= 1 && segments <= n, "[checkpoint_sequential] segments must be between 1 and the number of "
           "modules, ", n, "; got ", segments);
  const int64_t size = n / segments;
  Tensor x = input;
  int64_t begin = 0;
  for (int64_t s = 0; s + 1 < segments; ++s) {
    const int64_t end = begin + size;
    x = checkpoint([&seq, begin, end](const TensorList& in) { return seq.forward_range(in[0], begin, end); },
                   TensorList{x});
    begin = end;
  }
  return seq.forward_range(x, begin, n);
}

}  // namespace nabla::nn::utils
