// Reverse-mode automatic differentiation: graph nodes, grad mode, the backward engine,
// custom Functions and anomaly detection. VJPs are written with nabla ops, so the backward
// pass can itself be recorded (create_graph) and differentiated again.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nabla/tensor.h"

namespace nabla {

// ---- grad mode ------------------------------------------------------------------------
bool is_grad_enabled();
void set_grad_enabled(bool on);

/// Disables recording in a scope (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// Enables recording in a scope (e.g. inside a NoGradGuard).
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

/// When on, backward checks every VJP's result and names the op that produced NaN/Inf.
void set_detect_anomaly(bool on);
bool is_anomaly_enabled();
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(is_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(prev_); }

 private:
  bool prev_;
};

/// Computes d(outputs)/d(inputs) · grad_outputs and returns one gradient per input (an
/// undefined tensor for an input the outputs do not depend on when allow_unused).
/// Nothing is accumulated into `.grad()`. With create_graph the result is differentiable, and
/// the graph is kept whatever retain_graph says (the new graph refers to its saved tensors).
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                bool retain_graph = false, bool create_graph = false, bool allow_unused = false);

/// Accumulates d(outputs)/d(leaves) · grad_outputs into every reachable leaf's `.grad()`.
/// Frees the graph's saved tensors unless retain_graph or create_graph.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {}, bool retain_graph = false,
              bool create_graph = false);

namespace autograd {

class Node;

/// Where a gradient goes: input `input_nr` of node `fn` (null: nowhere, input needs no grad).
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
};

/// A tensor kept for backward. Remembers the storage version at save time so a later
/// in-place change is caught, and holds outputs of its own node weakly and leaves that
/// require grad through their data and gradient sink only (no cycles).
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, const Node* owner);
  /// The saved tensor, with its history restored; throws if it was modified in place
  /// or freed by an earlier backward.
  Tensor get() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;  // detached alias for outputs and grad-requiring leaves; else the tensor itself
  std::weak_ptr<Node> weak_fn_;
  std::shared_ptr<Node> leaf_acc_;  // a saved leaf's AccumulateGrad
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
  uint64_t version_ = 0;
  const char* owner_name_ = "";
};

/// Per output: the shape and dtype, to make a zero gradient when none arrives.
struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

using BackwardFn = std::function<TensorList(const TensorList& grad_outputs)>;

/// Deleter for every Node: deletes deep graphs iteratively (see make_node).
struct NodeDeleter {
  void operator()(Node* node) const noexcept;
};

/// A node of the backward graph: one per op application that needs grad.
/// Create nodes with make_node, never make_shared, so a long chain is freed without recursion.
class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(std::string name) : name_(std::move(name)) {}
  virtual ~Node() = default;
  const std::string& name() const { return name_; }
  /// Gradients for each input, given gradients for each output.
  virtual TensorList apply(const TensorList& grad_outputs) = 0;
  /// Frees saved tensors after a backward without retain_graph.
  virtual void release() {}

  std::vector<Edge> next_edges;  ///< one per differentiable input
  std::vector<OutputMeta> outputs;
  std::vector<std::function<Tensor(const Tensor&)>> pre_hooks;  ///< per-output hooks (retain_grad, hooks)
  std::vector<uint32_t> pre_hook_output;
  uint64_t sequence_nr = 0;
  /// Run even when every incoming gradient is undefined, with zeros in their place (custom
  /// Functions, as PyTorch's materialize_grads: their backward need not be linear in g). Other
  /// nodes then pass no gradient on.
  bool materialize_grads = false;
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].fn != nullptr; }

 private:
  friend struct NodeDeleter;
  std::string name_;
  Node* next_to_delete_ = nullptr;  // link in NodeDeleter's per-thread queue
};

/// `std::make_shared<T>(args...)` for nodes, with NodeDeleter: freeing a node drops its
/// edges and saved tensors, which free the nodes they point at, and so on down the graph;
/// NodeDeleter queues those instead of recursing, so a 100k-op chain does not overflow the stack.
template <typename T, typename... Args>
std::shared_ptr<T> make_node(Args&&... args) {
  return std::shared_ptr<T>(new T(std::forward<Args>(args)...), NodeDeleter{});
}

/// A node whose VJP is a closure written with nabla ops (the usual case).
class FunctionNode : public Node {
 public:
  using Node::Node;
  TensorList apply(const TensorList& grad_outputs) override;
  void release() override {
    backward_fn = nullptr;
    released_ = true;
  }
  BackwardFn backward_fn;
  SavedTensor save(const Tensor& t) const { return SavedTensor(t, this); }
  /// Whether a backward without retain_graph has run through this node (apply() now throws).
  bool released() const { return released_; }

 private:
  bool released_ = false;
};

/// Sink for a leaf: adds incoming gradients into `.grad()` (after the leaf's hooks).
/// Holds the leaf weakly: a create_graph gradient refers back to this node, so a strong
/// reference would make leaf -> .grad -> graph -> leaf a cycle that is never freed. A gradient
/// for a leaf nobody holds any more is dropped (nobody could read it).
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : Node("AccumulateGrad"), leaf(leaf) {}
  TensorList apply(const TensorList& grad_outputs) override;
  /// `g` after the leaf's hooks (register_hook), in registration order.
  Tensor run_hooks(Tensor g) const;
  std::weak_ptr<TensorImpl> leaf;
  bool create_graph = false;  // set by the engine for the current pass

 private:
  /// Threads running backward into the same leaf (a shared weight) take turns: the read of
  /// .grad and the write of the sum are one step (PyTorch locks here too).
  std::mutex mutex_;
};

/// The edge a gradient for `t` must be sent along (its grad_fn, or its leaf accumulator).
Edge gradient_edge(const Tensor& t);

/// True when grad mode is on and any of `inputs` requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const TensorList& inputs);

/// Records an op: when grad is needed, makes a FunctionNode named `name` with edges to
/// `inputs` and makes it the grad_fn of `outputs`. Returns null when no grad is needed;
/// the caller then sets `node->backward_fn` (saving tensors with `node->save(t)`).
std::shared_ptr<FunctionNode> record(const char* name, const TensorList& inputs, const TensorList& outputs);

/// While alive, collects on this thread every tensor that requires grad which an op reads (each
/// once, in first-use order), whether or not grad mode is on: record() reports its inputs here,
/// as do the in-place ops' unrecorded fast paths. nn::utils::checkpoint runs its function without
/// recording and so finds the parameters it must return gradients for. Observers nest: an inner
/// one's tensors are seen by the outer ones too.
class InputObserver {
 public:
  InputObserver();
  ~InputObserver();
  InputObserver(const InputObserver&) = delete;
  InputObserver& operator=(const InputObserver&) = delete;
  const TensorList& tensors() const { return tensors_; }

 private:
  friend void observe_inputs(const TensorList& inputs);
  void add(const Tensor& t);
  InputObserver* outer_;
  TensorList tensors_;
  std::unordered_set<const TensorImpl*> seen_;
};

/// Reports tensors an op reads to the active InputObservers (a no-op when there are none).
void observe_inputs(const TensorList& inputs);

/// grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused = true), except
/// that the gradients of leaf inputs are returned as they reach the leaf, before the leaf's own
/// hooks (register_hook) run: for a custom Function that hands them on to the leaves' accumulators
/// itself (nn::utils::checkpoint), where the hooks then run once.
TensorList grad_before_leaf_hooks(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                                  bool retain_graph, bool create_graph);

}  // namespace autograd

// ---- custom functions ------------------------------------------------------------------

/// State passed from a custom Function's forward to its backward.
class AutogradContext {
 public:
  void save_for_backward(const TensorList& tensors);
  TensorList get_saved() const;
  /// Free-form values for backward (sizes, flags).
  std::vector<double> saved_values;
  std::vector<bool> needs_input_grad;

 private:
  friend struct FunctionBridge;
  std::vector<autograd::SavedTensor> saved_;
  TensorList pending_;
  const autograd::Node* owner_ = nullptr;
};

struct FunctionBridge {
  static TensorList apply(const char* name, const TensorList& inputs,
                          const std::function<TensorList(AutogradContext*, const TensorList&)>& forward,
                          std::function<TensorList(AutogradContext*, const TensorList&)> backward);
};

/// User-defined differentiable function, as in PyTorch:
///   struct Cube : Function<Cube> {
///     static Tensor forward(AutogradContext* ctx, const Tensor& x) { ctx->save_for_backward({x}); return x*x*x; }
///     static TensorList backward(AutogradContext* ctx, const TensorList& g) { auto x = ctx->get_saved()[0]; return {3*x*x*g[0]}; }
///   };
///   Tensor y = Cube::apply(x);
/// `forward` runs without recording; `backward` returns one gradient per tensor input.
template <typename Derived>
struct Function {
  template <typename... Args>
  static Tensor apply(const Args&... args) {
    static_assert((std::is_convertible_v<Args, Tensor> && ...), "Function::apply takes tensors");
    TensorList inputs{Tensor(args)...};
    auto fwd = [](AutogradContext* ctx, const TensorList& in) -> TensorList {
      return call_forward(ctx, in, std::index_sequence_for<Args...>{});
    };
    auto bwd = [](AutogradContext* ctx, const TensorList& g) { return Derived::backward(ctx, g); };
    return FunctionBridge::apply(typeid(Derived).name(), inputs, fwd, bwd)[0];
  }

 private:
  template <size_t... I>
  static TensorList call_forward(AutogradContext* ctx, const TensorList& in, std::index_sequence<I...>) {
    return {Derived::forward(ctx, in[I]...)};
  }
};

}  // namespace nabla
