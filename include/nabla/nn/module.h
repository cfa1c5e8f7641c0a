// nn::Module: the base of every layer and model. A module owns named parameters (leaf
// tensors that require grad), buffers (state that is saved but not trained, such as
// BatchNorm's running statistics) and submodules, and exposes them recursively under
// dotted names (`features.0.weight`), as PyTorch's nn.Module does.
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Sequential> features;
//     std::shared_ptr<nn::Linear> fc;
//     Net() : Module("Net") {
//       features = register_module("features", std::make_shared<nn::Sequential>(
//           nn::Conv2d(nn::Conv2dOptions(1, 8, 3)), nn::ReLU(), nn::Flatten()));
//       fc = register_module("fc", std::make_shared<nn::Linear>(8 * 26 * 26, 10));
//     }
//     Tensor forward(const Tensor& x) override { return (*fc)((*features)(x)); }
//   };
//
// Call submodules through operator() (`(*fc)(x)`), not forward(): operator() adds the
// module's name to errors raised inside it ("[features.3 (Conv2d)] ..."), feeds summary() and
// runs the module's hooks (nabla/nn/hooks.h).
#pragma once
#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/error.h"
#include "nabla/nn/hooks.h"
#include "nabla/options.h"
#include "nabla/tensor.h"


namespace nabla::nn {

namespace detail {
struct ModuleAccess;  // nn-internal access to a module's private state (src/nn)
}  // namespace detail

/// An int or a pair of ints for 2-D sizes: `3` means (3, 3), `{3, 5}` means (3, 5).
struct IntPair {
  IntPair(int64_t v = 0) : v{v, v} {}  // NOLINT: implicit by design
  IntPair(int64_t a, int64_t b) : v{a, b} {}
  IntPair(std::array<int64_t, 2> a) : v(a) {}  // NOLINT
  operator std::array<int64_t, 2>() const { return v; }  // NOLINT
  int64_t operator[](size_t i) const { return v[i]; }
  bool operator==(const IntPair&) const = default;
  std::array<int64_t, 2> v;
};

/// Errors raised by a module: the message starts with the module's tag, "[features.3 (Conv2d)]".
class ModuleError : public Error {
 public:
  using Error::Error;
};

using NamedTensor = std::pair<std::string, Tensor>;

/// Name -> tensor in insertion order (a module's parameters and buffers, in registration
/// order, children after their parent's own entries), with lookup by name.
class StateDict {
 public:
  using const_iterator = std::vector<NamedTensor>::const_iterator;
  /// Adds `key`, or replaces its tensor when present (keeping its position).
  void insert(const std::string& key, const Tensor& value);
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  /// The tensor for `key`, or null.
  const Tensor* find(const std::string& key) const;
  /// The tensor for `key`; throws naming the key when absent.
  const Tensor& at(const std::string& key) const;
  bool erase(const std::string& key);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }

 private:
  std::vector<NamedTensor> items_;
  std::unordered_map<std::string, size_t> index_;
};

/// A key whose tensor has a different shape in the state dict than in the module.
struct ShapeMismatch {
  std::string key;
  Shape expected;  ///< the module's
  Shape got;       ///< the state dict's
};

/// What load_state_dict found: keys the module has but the state dict lacks (missing),
/// keys the state dict has but the module lacks (unexpected), and shape mismatches.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
  std::vector<ShapeMismatch> shape_mismatches;
  bool ok() const { return missing_keys.empty() && unexpected_keys.empty() && shape_mismatches.empty(); }
  /// One line per problem kind, naming every key ("" when ok()).
  std::string to_string() const;
};

/// One row of Module::summary(): a layer that ran, its output shape and its own parameter counts.
struct SummaryRow {
  std::string name;  ///< qualified name relative to the summarized module ("" for itself)
  std::string type;  ///< "Conv2d"
  Shape output_shape;
  int64_t params = 0;
  int64_t trainable = 0;
  int64_t frozen = 0;
};

struct ModuleSummary {
  Shape input_shape;
  Shape output_shape;
  std::vector<SummaryRow> rows;
  int64_t total_params = 0;  ///< every distinct parameter element (shared tensors once)
  int64_t trainable_params = 0;
  int64_t frozen_params = 0;
  /// The table, as printed by summary().
  std::string to_string() const;
};
std::ostream& operator<<(std::ostream& os, const ModuleSummary& s);

struct SummaryOptions {
  /// dtype of the zero input; default: the module's first floating parameter's dtype, else f32
  /// (pass i64 for models that start with an Embedding).
  std::optional<DType> input_dtype;
  /// Print the table (it is also returned).
  bool print = true;
  /// Where to print; null = std::cout.
  std::ostream* out = nullptr;
};

class Module {
 public:
  /// `type_name` names the layer in errors and summaries ("Conv2d"); when empty, the
  /// C++ class name (without namespaces) is used.
  explicit Module(std::string type_name = "");
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;

  /// The computation. The default throws (containers such as ModuleList have none).
  virtual Tensor forward(const Tensor& input);
  /// Runs forward() and this module's hooks; errors from inside are prefixed with this module's
  /// tag, and summary() sees the call.
  Tensor operator()(const Tensor& input);

  // ---- hooks (see nabla/nn/hooks.h) -----------------------------------------------------------
  // Each runs however the module is called: module(x), from a container, or as part of a fused
  // call (a hooked module is never fused with its neighbours). They run in registration order
  // (forward pre-hooks, forward(), forward hooks), after the global hooks of the same kind;
  // `.prepend = true` puts one first among this module's. The output of a module with backward
  // hooks is a view of forward()'s. Register and remove hooks while no thread is calling the
  // module. Throw ModuleError when the module's call is not one tensor in, one out
  // (supports_module_hooks()).

  /// fn(module, input) before every forward(); a returned tensor replaces the input.
  template <detail::ModuleHookFn<const Tensor&> F>
  RemovableHandle register_forward_pre_hook(F fn, ForwardPreHookOptions options = {}) {
    return add_forward_pre_hook(
        [fn = std::move(fn)](Module& m, const Tensor& x) mutable { return detail::call_user_hook(fn, m, x); },
        options);
  }
  /// fn(module, input, output) after every forward(); a returned tensor replaces the output.
  /// `input` is the one forward() got (after the pre-hooks). With `.always_call = true` it runs
  /// even when the call throws (output undefined if forward() did), and the error is rethrown.
  template <detail::ModuleHookFn<const Tensor&, const Tensor&> F>
  RemovableHandle register_forward_hook(F fn, ForwardHookOptions options = {}) {
    return add_forward_hook([fn = std::move(fn)](Module& m, const Tensor& x, const Tensor& y) mutable {
      return detail::call_user_hook(fn, m, x, y);
    }, options);
  }
  /// fn(module, grad_output) when the gradient with respect to the output has been computed,
  /// before it flows into the module; a returned tensor replaces grad_output.
  template <detail::ModuleHookFn<const Tensor&> F>
  RemovableHandle register_full_backward_pre_hook(F fn, BackwardHookOptions options = {}) {
    return add_backward_pre_hook(
        [fn = std::move(fn)](Module& m, const Tensor& g) mutable { return detail::call_user_hook(fn, m, g); },
        options);
  }
  /// fn(module, grad_input, grad_output) when the gradient with respect to the input has been
  /// computed (grad_output after any pre-hook's replacement); a returned tensor replaces
  /// grad_input. When the input does not require grad, grad_input is undefined, fn runs once
  /// grad_output is known and must return nothing. Only the module's forward() is covered: a
  /// gradient that reaches the input by another path (a residual around the module) is not in
  /// grad_input. No hook runs while grad mode is off during the forward.
  template <detail::ModuleHookFn<const Tensor&, const Tensor&> F>
  RemovableHandle register_full_backward_hook(F fn, BackwardHookOptions options = {}) {
    return add_backward_hook([fn = std::move(fn)](Module& m, const Tensor& gi, const Tensor& go) mutable {
      return detail::call_user_hook(fn, m, gi, go);
    }, options);
  }
  /// Whether any hook is registered on this module (not its children, not the global hooks).
  bool has_hooks() const;
  /// Whether this module's call is one tensor in and one tensor out, which hooks need. False for
  /// layers called with or returning several tensors (RNNs, MultiheadAttention, the decoder
  /// layers, losses); a user module adding such an operator() should override this too.
  virtual bool supports_module_hooks() const { return true; }

  // ---- identity ----------------------------------------------------------------------------
  /// "Conv2d", "Sequential", or the class name of a user module.
  std::string type_name() const;
  /// Qualified name in the tree this module was registered into ("features.3"); "" for a root.
  const std::string& name() const { return name_; }
  /// "features.3 (Conv2d)", or "Conv2d" for a root: how errors name this module.
  std::string tag() const;
  /// Throws ModuleError "[<tag>] <pieces...>".
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    using ::nabla::detail::operator<<;
    throw ModuleError(::nabla::detail::concat("[", tag(), "] ", args...));
  }

  // ---- registration -------------------------------------------------------------------------
  /// Adds a parameter (made a leaf; requires grad unless `requires_grad` is false) and returns
  /// a handle sharing it. An undefined tensor registers nothing (e.g. bias=false).
  /// Registering an existing parameter's name replaces it (same shape), as PyTorch's
  /// assignment does; that is how weights are tied, e.g. a language model's output layer and
  /// its embedding: `head->weight = head->register_parameter("weight", emb->weight);` (assign
  /// the layer's member too: forward() reads it). The tied tensor is then one parameter:
  /// parameters() lists it once, its gradient sums both uses, state_dict() names it twice.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  /// Adds a buffer; persistent buffers are part of state_dict().
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  /// Adds a submodule; its qualified name (and its descendants') becomes `<this>.<name>`.
  template <typename M>
    requires std::derived_from<M, Module>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // ---- traversal -----------------------------------------------------------------------------
  /// Parameters (recursively), each distinct tensor once: what an optimizer takes.
  TensorList parameters(bool recurse = true) const;
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  std::vector<NamedTensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  /// This module (named "") and every descendant, pre-order, each once.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<Module*> modules();
  /// Number of parameter elements (each distinct tensor once).
  int64_t num_parameters(bool trainable_only = false) const;
  /// dynamic_cast helper: `m.as<nn::Linear>()` is null when m is not a Linear.
  template <typename T>
  T* as() {
    return dynamic_cast<T*>(this);
  }

  // ---- modes and conversions ------------------------------------------------------------------
  /// Sets training mode here and in every descendant (Dropout and BatchNorm read it).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Converts floating parameters and buffers (and their grads) to `dtype` in place: handles
  /// held elsewhere (an optimizer's parameter list) see the new dtype. Integer buffers stay.
  Module& to(DType dtype);
  /// Moves parameters and buffers to `device` in place.
  Module& to(Device device);

  /// Stops (or restarts) training of every parameter: requires_grad_(false/true).
  void freeze();
  void unfreeze();
  /// Same for the parameters whose name is `prefix` or starts with `prefix.` ("features",
  /// "features.0", "fc.bias"); throws when nothing matches.
  void freeze(const std::string& prefix);
  void unfreeze(const std::string& prefix);
  /// Clears every parameter's gradient (set_to_none: undefined; else zero-filled).
  void zero_grad(bool set_to_none = true);
  /// Calls fn on every descendant (children first) and then on this module.
  Module& apply(const std::function<void(Module&)>& fn);

  // ---- state --------------------------------------------------------------------------------
  /// Parameters and persistent buffers by qualified name (detached, sharing storage).
  StateDict state_dict() const;
  /// Copies `state` into the parameters and buffers (converting dtypes). strict: any missing
  /// or unexpected key or shape mismatch throws, naming them all, and nothing is loaded.
  /// Not strict: loads every key that matches and returns the rest.
  LoadStateDictResult load_state_dict(const StateDict& state, bool strict = true);

  /// Runs one forward pass in eval mode without grad on zeros of `input_shape` (batch dim
  /// included, e.g. {1, 1, 28, 28}), prints and returns a table of every leaf layer that ran:
  /// name, type, output shape and parameter counts (trainable and frozen), with totals.
  /// Training flags and buffers are left as they were.
  ModuleSummary summary(const Shape& input_shape, const SummaryOptions& opts = {});
  /// Same, printing to `out`.
  ModuleSummary summary(const Shape& input_shape, std::ostream& out);

  /// One line for this module's settings in to_string(), e.g. "in_features=784, out_features=10, bias=true".
  virtual std::string extra_repr() const { return ""; }
  /// The module tree, as PyTorch prints it:
  ///   Sequential(
  ///     (0): Linear(in_features=784, out_features=10, bias=true)
  ///     (1): ReLU()
  ///   )
  std::string to_string() const;

 protected:
  /// Checks that `x` has a floating dtype equal to `param`'s, naming this module otherwise
  /// (under autocast on x's device, any pair of f16, bf16 and f32 passes: the ops cast them).
  void check_input_dtype(const Tensor& x, const Tensor& param) const;
  /// operator()(x), marked as a call of this module's fused variant (forward_relu): forward() asks
  /// fused_call() to tell. Going through operator() keeps errors naming the layer and summaries and
  /// recorders seeing the call. The mark is per thread, so a module shared between threads that
  /// call it differently is safe. A module with hooks is not fused: it returns
  /// epilogue((*this)(x)), so its forward hooks see forward()'s own output.
  Tensor call_fused(const Tensor& x, Tensor (*epilogue)(const Tensor&));
  /// Inside forward(): whether this call came through call_fused.
  bool fused_call() const;
  /// What operator() does, for a call of one tensor in and one out whose forward needs more than
  /// the tensor (options, masks): runs the hooks around `forward_fn(input)`, names this module in
  /// errors and reports the call to summary(). TransformerEncoderLayer::operator()(src, opts) is
  /// `call_forward(src, [&](const Tensor& s) { return forward(s, opts); })`.
  Tensor call_forward(const Tensor& input, detail::ForwardRef forward_fn);

 private:
  void register_module_impl(const std::string& name, const std::shared_ptr<Module>& module);
  void check_new_name(const std::string& name, const char* what) const;
  void set_name(const std::string& qualified);
  void collect(const std::string& prefix, std::vector<NamedTensor>* params, std::vector<NamedTensor>* buffers,
               bool persistent_only, bool recurse) const;
  void set_requires_grad(const std::string& prefix, bool on, const char* op);
  RemovableHandle add_forward_pre_hook(ForwardPreHook fn, ForwardPreHookOptions options);
  RemovableHandle add_forward_hook(ForwardHook fn, ForwardHookOptions options);
  RemovableHandle add_backward_pre_hook(BackwardPreHook fn, BackwardHookOptions options);
  RemovableHandle add_backward_hook(BackwardHook fn, BackwardHookOptions options);
  detail::ModuleHooks& hooks_for(const char* what);
  Tensor run_hooked(const Tensor& input, detail::ForwardRef forward_fn);
  friend struct detail::ModuleAccess;

  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  std::string type_name_;
  std::string name_;
  bool training_ = true;
  std::vector<NamedTensor> params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<detail::ModuleHooks> hooks_;  ///< null until a hook is registered
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace nabla::nn
