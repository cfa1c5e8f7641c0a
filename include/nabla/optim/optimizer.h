// Optimizer base, options and parameter groups, shaped like PyTorch's C++ frontend
// (torch::optim): `SGD opt(params, SGDOptions(0.1).momentum(0.9)); opt.zero_grad();
// loss.backward(); opt.step();`. Parameters are leaf tensors; each parameter group carries its
// own options (defaults fill groups given without). Updates run in place under NoGradGuard,
// fused over a group's parameters, and allocate nothing after the first step.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/io/safetensors.h"
#include "nabla/options.h"
#include "nabla/ops/optim_update.h"
#include "nabla/tensor.h"

namespace nabla::optim {

namespace detail {
/// `value` as an integer option's value; throws "[<optimizer>] invalid <option>: 2.5 (must be an
/// integer)" for a fraction, a NaN or a value beyond int64.
int64_t to_int64(const char* optimizer, const char* option, double value);
}  // namespace detail

/// Options of one parameter group. Concrete options (SGDOptions, AdamOptions, ...) derive
/// from OptimizerCloneableOptions; this interface is what schedulers and state_dict use.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  /// The optimizer these options belong to ("SGD", "Adam", ...).
  virtual const char* optimizer_name() const = 0;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// Every hyper-parameter by name (betas as beta1/beta2, booleans as 0/1).
  virtual std::vector<std::pair<std::string, double>> values() const = 0;
  /// Sets a hyper-parameter by name; false when this optimizer has no such option.
  virtual bool set_value(const std::string& name, double value) = 0;
  /// Numeric options that may be unset (LBFGS's max_eval, Adafactor's eps1), every one, set or
  /// not: values() lists them only when set, so load_state_dict needs these names to unset them.
  virtual std::vector<std::string> optional_names() const { return {}; }
  /// Unsets an optional numeric option by name; false when there is no such option.
  virtual bool unset_value(const std::string& /*name*/) { return false; }
  /// Options whose value is text (LBFGS's line_search_fn), every one, set or not.
  virtual std::vector<std::pair<std::string, std::optional<std::string>>> string_values() const { return {}; }
  /// Sets a text option by name (nullopt unsets it); false when there is no such option.
  virtual bool set_string_value(const std::string& /*name*/, const std::optional<std::string>& /*value*/) {
    return false;
  }
  /// Throws nabla::Error naming the first invalid option: "[SGD] invalid lr: -1 (must be >= 0)".
  virtual void validate() const = 0;
};

namespace detail {
template <typename V>
inline constexpr bool is_optional_number_v =
    std::is_same_v<V, std::optional<int64_t>> || std::is_same_v<V, std::optional<double>>;
}  // namespace detail

/// CRTP helper: Derived lists its fields once in `template <class F> void fields(F&& f)`
/// (calling f(name, field&) for double, bool, int64_t, std::optional<int64_t> and
/// std::optional<double> (listed in values() when set, named by optional_names()),
/// std::tuple<double, double> (betas: beta1/beta2) and std::optional<std::string> fields
/// (string_values()).
template <typename Derived>
class OptimizerCloneableOptions : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  double get_lr() const override { return static_cast<const Derived&>(*this).lr(); }
  void set_lr(double lr) override { static_cast<Derived&>(*this).lr(lr); }
  std::vector<std::pair<std::string, double>> values() const override {
    std::vector<std::pair<std::string, double>> out;
    const_cast<Derived&>(static_cast<const Derived&>(*this)).fields([&](const char* name, auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, std::tuple<double, double>>) {
        out.emplace_back("beta1", std::get<0>(v));
        out.emplace_back("beta2", std::get<1>(v));
      } else if constexpr (detail::is_optional_number_v<V>) {
        if (v) out.emplace_back(name, double(*v));
      } else if constexpr (!std::is_same_v<V, std::optional<std::string>>) {
        out.emplace_back(name, double(v));
      }
    });
    return out;
  }
  bool set_value(const std::string& key, double value) override {
    bool found = false;
    Derived& self = static_cast<Derived&>(*this);
    self.fields([&](const char* name, auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, std::tuple<double, double>>) {
        if (key == "beta1") std::get<0>(v) = value, found = true;
        if (key == "beta2") std::get<1>(v) = value, found = true;
      } else if constexpr (std::is_same_v<V, bool>) {
        if (key == name) v = value != 0, found = true;
      } else if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, std::optional<int64_t>>) {
        if (key == name) v = detail::to_int64(self.optimizer_name(), name, value), found = true;
      } else if constexpr (!std::is_same_v<V, std::optional<std::string>>) {
        if (key == name) v = V(value), found = true;
      }
    });
    return found;
  }
  std::vector<std::string> optional_names() const override {
    std::vector<std::string> out;
    const_cast<Derived&>(static_cast<const Derived&>(*this)).fields([&](const char* name, auto& v) {
      if constexpr (detail::is_optional_number_v<std::decay_t<decltype(v)>>) out.emplace_back(name);
    });
    return out;
  }
  bool unset_value(const std::string& key) override {
    bool found = false;
    static_cast<Derived&>(*this).fields([&](const char* name, auto& v) {
      if constexpr (detail::is_optional_number_v<std::decay_t<decltype(v)>>)
        if (key == name) v = std::nullopt, found = true;
    });
    return found;
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> string_values() const override {
    std::vector<std::pair<std::string, std::optional<std::string>>> out;
    const_cast<Derived&>(static_cast<const Derived&>(*this)).fields([&](const char* name, auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::optional<std::string>>) out.emplace_back(name, v);
    });
    return out;
  }
  bool set_string_value(const std::string& key, const std::optional<std::string>& value) override {
    bool found = false;
    static_cast<Derived&>(*this).fields([&](const char* name, auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::optional<std::string>>)
        if (key == name) v = value, found = true;
    });
    return found;
  }
};

/// A set of parameters optimized with the same options (PyTorch's OptimizerParamGroup).
class OptimizerParamGroup {
 public:
  explicit OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  OptimizerParamGroup(const OptimizerParamGroup& o)
      : params_(o.params_), options_(o.options_ ? o.options_->clone() : nullptr), initial_lr_(o.initial_lr_) {}
  OptimizerParamGroup& operator=(const OptimizerParamGroup& o) {
    params_ = o.params_;
    options_ = o.options_ ? o.options_->clone() : nullptr;
    initial_lr_ = o.initial_lr_;
    return *this;
  }
  OptimizerParamGroup(OptimizerParamGroup&&) = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) = default;

  bool has_options() const { return options_ != nullptr; }
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }
  std::vector<Tensor>& params() { return params_; }
  const std::vector<Tensor>& params() const { return params_; }

  /// The lr a scheduler started from (PyTorch's group['initial_lr']); set by the first
  /// scheduler attached, shared by later ones, saved in state_dict. Negative: unset.
  double initial_lr() const { return initial_lr_; }
  void set_initial_lr(double lr) { initial_lr_ = lr; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
  double initial_lr_ = -1;
};

/// Per-parameter state. The meaning of the buffers depends on the optimizer (see its
/// `state_names()`); they have the parameter's dtype. `step` counts the updates this parameter
/// received.
struct ParamState {
  int64_t step = 0;
  double mu_product = 1.0;  ///< NAdam: product of the momentum coefficients so far
  double eta = 0.0;         ///< ASGD: the step size of the next step (0: not started)
  double mu = 1.0;          ///< ASGD: the averaging weight of the next step
  std::array<Tensor, 3> buffers;
  bool initialized = false;
};

/// What state_dict() returns: tensors ("state.<i>.<name>", i = the parameter's index counted
/// over all groups in order) and string metadata (optimizer name, group hyper-parameters,
/// step counts), ready for io::save_safetensors.
struct OptimizerStateDict {
  io::TensorMap tensors;
  io::Metadata metadata;
};

using LossClosure = std::function<Tensor()>;

class Optimizer {
 public:
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;

  /// One update of every parameter that has a gradient. With a closure, first re-evaluates
  /// the loss under grad mode (the closure zeroes grads and calls backward) and returns it.
  /// LBFGS overrides it: its step needs the closure and calls it several times.
  virtual Tensor step(const LossClosure& closure = nullptr);
  /// Clears gradients: drops them (set_to_none, the default) or fills them with zeros.
  void zero_grad(bool set_to_none = true);
  /// Adds a group; its options default to the optimizer's defaults. Parameters must be
  /// floating leaf tensors (f16, bf16, f32 or f64; dtypes may mix) that appear in no other group.
  /// 16-bit parameters train as they are ("pure" f16/bf16, as PyTorch's optimizers after
  /// model.to(torch.bfloat16)): their state has their dtype and each update computes in float
  /// and rounds once; no f32 master copy is kept, so an update below half a unit of the
  /// parameter's last place is lost (autocast keeps f32 weights for that reason).
  void add_param_group(const OptimizerParamGroup& group);

  std::vector<OptimizerParamGroup>& param_groups() { return groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const { return groups_; }
  /// All parameters, in group order.
  std::vector<Tensor> parameters() const;
  /// Number of parameters over all groups.
  size_t size() const;
  OptimizerOptions& defaults() { return *defaults_; }
  const OptimizerOptions& defaults() const { return *defaults_; }

  /// "SGD", "Adam", ...
  virtual const char* name() const = 0;
  /// Names of the state buffers, in ParamState::buffers order ("" = unused).
  virtual std::array<const char*, 3> state_names() const = 0;

  /// State of `param` (throws if it is not in this optimizer).
  const ParamState& state(const Tensor& param) const;
  /// A named state buffer of `param` ("exp_avg", "momentum_buffer", ...); undefined before
  /// the first step that updated it.
  Tensor state_tensor(const Tensor& param, const std::string& name) const;

  /// Hyper-parameters of every group and the state of every parameter (references, not
  /// copies). Round-trips exactly through load_state_dict and through a safetensors file.
  OptimizerStateDict state_dict() const;
  /// Restores what state_dict() returned, into an optimizer of the same type over
  /// parameters of the same shapes and grouping. Tensors are copied. State buffers must have
  /// their parameter's dtype (a state saved before converting the model to another dtype is
  /// refused, naming the entry and both dtypes, rather than rounded silently).
  void load_state_dict(const OptimizerStateDict& dict);

 protected:
  Optimizer(std::vector<OptimizerParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults);
  /// Updates the parameters of `group` that have a gradient. `*states[i]` belongs to
  /// group.params()[i]. Runs under NoGradGuard.
  virtual void update(OptimizerParamGroup& group, const std::vector<ParamState*>& states) = 0;
  /// For optimizers with state beyond the per-parameter buffers (LBFGS): state_dict() calls
  /// save_extra_state last; load_state_dict() calls load_extra_state after validating its own
  /// part and before changing anything, and then commits its part, which cannot fail. So
  /// load_extra_state must validate everything before it changes anything itself.
  /// Shape of state buffer `buffer` for `param`, or nullopt when such a parameter keeps no such
  /// buffer; load_state_dict checks saved buffers against it. Most optimizers keep buffers of
  /// the parameter's shape; Adafactor keeps factored row/column statistics of matrices.
  virtual std::optional<Shape> state_shape(size_t /*buffer*/, const Tensor& param) const { return param.shape(); }
  virtual void save_extra_state(OptimizerStateDict& /*dict*/) const {}
  virtual void load_extra_state(const OptimizerStateDict& /*dict*/) {}
  /// Options of group `g` as the concrete type.
  template <typename Options>
  const Options& group_options(const OptimizerParamGroup& group) const {
    return static_cast<const Options&>(group.options());
  }
  /// Reused slot list for optim_update_ (cleared per call, no reallocation after warm-up).
  std::vector<OptimSlot> slots_;

 private:
  void check_param(const Tensor& p, size_t group) const;
  /// Re-checks the groups when param_groups() was edited since the last step (a tensor added
  /// twice, a non-leaf, a group without options); a cheap pointer compare otherwise.
  void check_groups_if_edited();
  bool is_param(const Tensor& param) const;
  ParamState& state_of(const Tensor& param);

  /// A parameter's state, holding the parameter so its key stays valid (PyTorch's
  /// optimizer.state keeps its keys alive too).
  struct StateEntry {
    Tensor param;
    ParamState state;
  };

  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<OptimizerParamGroup> groups_;
  /// Keyed by the parameter, not its position, so inserting, removing or reordering entries of
  /// param_groups() keeps every parameter's state with it.
  std::unordered_map<const TensorImpl*, StateEntry> state_;
  std::vector<const TensorImpl*> checked_params_;  ///< the groups' parameters as last checked
  std::vector<ParamState*> group_states_;          ///< reused per step: state of each param of a group
};

/// Error helpers for options validation: "[SGD] invalid lr: -1 (must be >= 0)".
namespace detail {
/// `params` as the single group of an optimizer built from a plain list (none: no group, so the
/// base constructor refuses the empty list with its own message).
std::vector<OptimizerParamGroup> one_group(std::vector<Tensor> params);
void check_non_negative(const char* optimizer, const char* option, double v);
void check_unit_interval(const char* optimizer, const char* option, double v, bool closed_right);
std::string format_double(double v);  ///< shortest text that reads back to exactly v
double parse_double(const std::string& s, const char* what);
}  // namespace detail

}  // namespace nabla::optim
