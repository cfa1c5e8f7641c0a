// Optimizer base: parameter groups, zero_grad, the step driver, and state_dict.
#include "nabla/optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_set>

#include "nabla/autograd.h"
#include "nabla/ops.h"
#include "nabla/parse_number.h"

namespace nabla::optim {

// ---- options validation helpers ---------------------------------------------------------
namespace detail {

std::vector<OptimizerParamGroup> one_group(std::vector<Tensor> params) {
  std::vector<OptimizerParamGroup> g;
  if (!params.empty()) g.emplace_back(std::move(params));
  return g;
}

void check_non_negative(const char* optimizer, const char* option, double v) {
  NB_CHECK(v >= 0, "[", optimizer, "] invalid ", option, ": ", v, " (must be >= 0)");  // NaN fails too
}

void check_unit_interval(const char* optimizer, const char* option, double v, bool closed_right) {
  if (closed_right) {
    NB_CHECK(v >= 0 && v <= 1, "[", optimizer, "] invalid ", option, ": ", v, " (must be in [0, 1])");
  } else {
    NB_CHECK(v >= 0 && v < 1, "[", optimizer, "] invalid ", option, ": ", v, " (must be in [0, 1))");
  }
}

int64_t to_int64(const char* optimizer, const char* option, double value) {
  // 2^63 is the first double beyond int64; NaN fails the first comparison.
  NB_CHECK(value >= -9223372036854775808.0 && value < 9223372036854775808.0 && value == std::trunc(value), "[",
           optimizer, "] invalid ", option, ": ", value, " (must be an integer)");
  return int64_t(value);
}

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest text that parses back to v
  return std::string(buf, r.ptr);
}

double parse_double(const std::string& s, const char* what) {
  const std::optional<double> v = parse_number<double>(s);  // everything format_double writes parses
  NB_CHECK(v.has_value(), "[optim] ", what, ": expected a number, got \"", s, "\"");
  return *v;
}

}  // namespace detail

namespace {

int64_t parse_int(const std::string& s, const char* what) {
  const std::optional<int64_t> v = parse_number<int64_t>(s);
  NB_CHECK(v.has_value(), "[optim] ", what, ": expected an integer, got \"", s, "\"");
  return *v;
}

const std::string* find(const io::Metadata& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

// ---- OptimizerParamGroup ------------------------------------------------------------------
OptimizerOptions& OptimizerParamGroup::options() {
  NB_CHECK(options_ != nullptr, "[optim] this parameter group has no options yet (add it to an optimizer first)");
  return *options_;
}
const OptimizerOptions& OptimizerParamGroup::options() const {
  NB_CHECK(options_ != nullptr, "[optim] this parameter group has no options yet (add it to an optimizer first)");
  return *options_;
}

// ---- Optimizer ----------------------------------------------------------------------------
Optimizer::Optimizer(std::vector<OptimizerParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults)
    : defaults_(std::move(defaults)) {
  defaults_->validate();
  // As PyTorch: no groups at all is an error (an empty list of tensors makes none, see
  // one_group); an empty group is fine, add_param_group can fill the optimizer later.
  NB_CHECK(!groups.empty(), "[", defaults_->optimizer_name(),
           "] got an empty parameter list; pass the model's parameters()");
  for (auto& g : groups) add_param_group(g);
}

void Optimizer::check_param(const Tensor& p, size_t group) const {
  const char* n = defaults_->optimizer_name();
  NB_CHECK(p.defined(), "[", n, "] parameter group ", group, " holds an undefined tensor");
  NB_CHECK(p.is_leaf(), "[", n, "] can't optimize a non-leaf tensor (parameter group ", group,
           ", shape ", p.shape(), "): pass leaf tensors (e.g. x.detach().requires_grad_())");
  // f16/bf16 parameters are trained as they are ("pure 16-bit", as PyTorch allows): the state
  // takes their dtype and every update computes in float and rounds once.
  NB_CHECK(is_floating(p.dtype()), "[", n, "] can't optimize a tensor of dtype ", p.dtype(), " (parameter group ",
           group, "); parameters must be floating (f16, bf16, f32 or f64)");
}

void Optimizer::add_param_group(const OptimizerParamGroup& group) {
  const char* n = defaults_->optimizer_name();
  OptimizerParamGroup g(group.params());
  if (group.has_options()) {
    NB_CHECK(std::string(group.options().optimizer_name()) == n, "[", n, "] parameter group ", groups_.size(),
             " has options of ", group.options().optimizer_name(), ", expected ", n, "Options");
    g.set_options(group.options().clone());
  } else {
    g.set_options(defaults_->clone());
  }
  g.set_initial_lr(group.initial_lr());
  g.options().validate();
  check_groups_if_edited();  // the existing groups first, so an error names the right group
  std::unordered_set<const TensorImpl*> seen(checked_params_.begin(), checked_params_.end());
  for (const Tensor& p : g.params()) {
    check_param(p, groups_.size());
    NB_CHECK(seen.insert(p.impl_ptr().get()).second, "[", n, "] the tensor of shape ", p.shape(),
             " appears in more than one parameter group (or twice in one)");
  }
  groups_.push_back(std::move(g));
  for (const Tensor& p : groups_.back().params()) checked_params_.push_back(p.impl_ptr().get());
}

void Optimizer::check_groups_if_edited() {
  size_t k = 0;
  bool same = true;
  for (const auto& g : groups_)
    for (const Tensor& p : g.params()) same = same && k < checked_params_.size() && checked_params_[k++] == p.impl_ptr().get();
  if (same && k == checked_params_.size()) return;
  const char* n = defaults_->optimizer_name();
  std::vector<const TensorImpl*> now;
  std::unordered_set<const TensorImpl*> seen;
  for (size_t g = 0; g < groups_.size(); ++g) {
    NB_CHECK(groups_[g].has_options(), "[", n, "] parameter group ", g,
             " has no options: add groups with add_param_group, which fills in the defaults");
    for (const Tensor& p : groups_[g].params()) {
      check_param(p, g);
      NB_CHECK(seen.insert(p.impl_ptr().get()).second, "[", n, "] the tensor of shape ", p.shape(),
               " appears in more than one parameter group (or twice in one); param_groups() was edited to hold it ",
               "twice (parameter group ", g, ")");
      now.push_back(p.impl_ptr().get());
    }
  }
  checked_params_ = std::move(now);
}

bool Optimizer::is_param(const Tensor& param) const {
  for (const auto& g : groups_)
    for (const Tensor& p : g.params())
      if (p.impl_ptr() == param.impl_ptr()) return true;
  return false;
}

ParamState& Optimizer::state_of(const Tensor& param) {
  auto [it, added] = state_.try_emplace(param.impl_ptr().get());
  if (added) it->second.param = param;
  return it->second.state;
}

Tensor Optimizer::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    EnableGradGuard eg;
    loss = closure();
  }
  NoGradGuard ng;
  check_groups_if_edited();
  for (auto& group : groups_) {
    group_states_.clear();
    for (const Tensor& p : group.params()) group_states_.push_back(&state_of(p));
    update(group, group_states_);
    slots_.clear();  // drops the references to grads and state; keeps the capacity
  }
  return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard ng;
  for (auto& g : groups_) {
    for (Tensor& p : g.params()) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none || grad.grad_fn() != nullptr || !grad.is_contiguous()) {
        // A gradient with history (create_graph) is replaced rather than written into.
        p.set_grad(set_to_none ? Tensor() : zeros_like(p));
      } else {
        grad.zero_();
      }
    }
  }
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.params().begin(), g.params().end());
  return out;
}

size_t Optimizer::size() const {
  size_t n = 0;
  for (const auto& g : groups_) n += g.params().size();
  return n;
}

const ParamState& Optimizer::state(const Tensor& param) const {
  NB_CHECK(is_param(param), "[", name(), "] the tensor of shape ", param.shape(),
           " is not a parameter of this optimizer");
  static const ParamState kEmpty;
  auto it = state_.find(param.impl_ptr().get());
  return it == state_.end() ? kEmpty : it->second.state;
}

Tensor Optimizer::state_tensor(const Tensor& param, const std::string& buffer) const {
  auto names = state_names();
  for (size_t j = 0; j < names.size(); ++j)
    if (names[j][0] != '\0' && buffer == names[j]) return state(param).buffers[j];
  std::string known;
  for (const char* nm : names)
    if (nm[0] != '\0') known.append(known.empty() ? "" : ", ").append(nm);
  fail("[", name(), "] has no state named \"", buffer, "\" (it keeps: ", known, ")");
}

// ---- state_dict ---------------------------------------------------------------------------
// Layout (flat parameter index i counts over all groups in order, as PyTorch's state_dict):
//   metadata  optimizer=<name>, param_groups=<count>, param_groups.<g>.params=<i,i,...>,
//             param_groups.<g>.<option>=<value>, param_groups.<g>.initial_lr (if set),
//             state.<i>.step, state.<i>.mu_product (NAdam), state.<i>.eta and .mu (ASGD)
//   tensors   state.<i>.<buffer> (momentum_buffer, exp_avg, ...)
OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict d;
  auto& m = d.metadata;
  m["optimizer"] = name();
  m["param_groups"] = std::to_string(groups_.size());
  const auto names = state_names();
  size_t flat = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    std::string idx;
    for (size_t i = 0; i < groups_[g].params().size(); ++i) {
      if (i) idx += ',';
      idx += std::to_string(flat);
      auto it = state_.find(groups_[g].params()[i].impl_ptr().get());
      if (it != state_.end()) {
        const ParamState& s = it->second.state;
        if (s.initialized) {
          const std::string sp = "state." + std::to_string(flat) + ".";
          m[sp + "step"] = std::to_string(s.step);
          if (s.mu_product != 1.0) m[sp + "mu_product"] = detail::format_double(s.mu_product);
          if (s.eta != 0.0) m[sp + "eta"] = detail::format_double(s.eta);
          if (s.mu != 1.0) m[sp + "mu"] = detail::format_double(s.mu);
          for (size_t j = 0; j < names.size(); ++j)
            if (names[j][0] != '\0' && s.buffers[j].defined()) d.tensors[sp + names[j]] = s.buffers[j];
        }
      }
      ++flat;
    }
    m[pre + "params"] = idx;
    for (const auto& [key, value] : groups_[g].options().values()) m[pre + key] = detail::format_double(value);
    for (const auto& [key, value] : groups_[g].options().string_values())
      if (value) m[pre + key] = *value;
    if (groups_[g].initial_lr() >= 0) m[pre + "initial_lr"] = detail::format_double(groups_[g].initial_lr());
  }
  save_extra_state(d);
  return d;
}

void Optimizer::load_state_dict(const OptimizerStateDict& d) {
  const char* n = name();
  check_groups_if_edited();  // a parameter listed twice would get two states
  const auto& m = d.metadata;
  const std::string* saved = find(m, "optimizer");
  NB_CHECK(saved != nullptr, "[", n, "] load_state_dict: no \"optimizer\" entry; this is not an optimizer state");
  NB_CHECK(*saved == n, "[", n, "] load_state_dict: the state was saved by ", *saved, ", not ", n);
  const std::string* ng = find(m, "param_groups");
  NB_CHECK(ng != nullptr, "[", n, "] load_state_dict: no \"param_groups\" entry");
  NB_CHECK(parse_int(*ng, "param_groups") == int64_t(groups_.size()), "[", n, "] load_state_dict: the state has ",
           *ng, " parameter groups, this optimizer has ", groups_.size());
  const auto names = state_names();
  size_t total = 0;
  for (const auto& g : groups_) total += g.params().size();
  // Per-parameter entries name a parameter by its flat index: one past the last is corrupt.
  auto check_state_key = [&](const std::string& key) {
    if (key.rfind("state.", 0) != 0) return;
    const std::string rest = key.substr(6);
    const std::string index = rest.substr(0, rest.find('.'));
    NB_CHECK(parse_int(index, key.c_str()) >= 0 && size_t(parse_int(index, key.c_str())) < total, "[", n,
             "] load_state_dict: entry ", key, " is for parameter ", index, ", but the optimizer has ", total,
             " parameters");
  };
  for (const auto& [k, v] : m) check_state_key(k);
  for (const auto& [k, v] : d.tensors) check_state_key(k);

  // Validate everything before changing anything, so a bad state leaves the optimizer intact.
  std::vector<std::unique_ptr<OptimizerOptions>> new_options;
  std::vector<double> new_initial_lr;
  std::unordered_map<const TensorImpl*, StateEntry> new_state;
  size_t flat = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    const std::string* idx = find(m, pre + "params");
    NB_CHECK(idx != nullptr, "[", n, "] load_state_dict: no entry ", pre, "params");
    size_t count = idx->empty() ? 0 : size_t(std::count(idx->begin(), idx->end(), ',')) + 1;
    NB_CHECK(count == groups_[g].params().size(), "[", n, "] load_state_dict: parameter group ", g, " has ", count,
             " parameters in the state, ", groups_[g].params().size(), " in this optimizer");
    {  // the flat indices, in order (what state_dict writes): anything else misassigns the state
      size_t k = 0, b = 0;
      for (size_t e = 0; e <= idx->size() && count > 0; ++e) {
        if (e < idx->size() && (*idx)[e] != ',') continue;
        const std::string one = idx->substr(b, e - b);
        NB_CHECK(parse_int(one, (pre + "params").c_str()) == int64_t(flat + k), "[", n, "] load_state_dict: ", pre,
                 "params lists parameter ", one, " at position ", k, ", expected ", flat + k);
        ++k, b = e + 1;
      }
    }
    auto opts = groups_[g].options().clone();
    for (const auto& [key, value] : opts->values()) {
      (void)value;
      if (const std::string* v = find(m, pre + key)) opts->set_value(key, detail::parse_double(*v, (pre + key).c_str()));
    }
    for (const std::string& key : opts->optional_names()) {  // absent: unset, as state_dict writes it
      if (const std::string* v = find(m, pre + key)) {
        opts->set_value(key, detail::parse_double(*v, (pre + key).c_str()));
      } else {
        opts->unset_value(key);
      }
    }
    for (const auto& [key, value] : opts->string_values()) {
      (void)value;
      const std::string* v = find(m, pre + key);  // absent: unset, as state_dict writes it
      opts->set_string_value(key, v ? std::optional<std::string>(*v) : std::nullopt);
    }
    opts->validate();
    new_options.push_back(std::move(opts));
    const std::string* il = find(m, pre + "initial_lr");
    new_initial_lr.push_back(il ? detail::parse_double(*il, "initial_lr") : -1.0);
    for (size_t i = 0; i < groups_[g].params().size(); ++i, ++flat) {
      const Tensor& p = groups_[g].params()[i];
      const std::string sp = "state." + std::to_string(flat) + ".";
      StateEntry& entry = new_state[p.impl_ptr().get()];
      entry.param = p;
      ParamState& s = entry.state;
      if (const std::string* st = find(m, sp + "step")) {
        s.step = parse_int(*st, (sp + "step").c_str());
        NB_CHECK(s.step >= 0, "[", n, "] load_state_dict: ", sp, "step is negative");
        s.initialized = true;
      }
      if (const std::string* mu = find(m, sp + "mu_product")) s.mu_product = detail::parse_double(*mu, "mu_product");
      if (const std::string* eta = find(m, sp + "eta")) s.eta = detail::parse_double(*eta, "eta");
      if (const std::string* mu = find(m, sp + "mu")) s.mu = detail::parse_double(*mu, "mu");
      for (size_t j = 0; j < names.size(); ++j) {
        if (names[j][0] == '\0') continue;
        auto it = d.tensors.find(sp + names[j]);
        if (it == d.tensors.end()) continue;
        const Tensor& t = it->second;
        const std::optional<Shape> want = state_shape(j, p);
        NB_CHECK(want.has_value(), "[", n, "] load_state_dict: ", sp, names[j], " is present, but a parameter of shape ",
                 p.shape(), " keeps no ", names[j]);
        NB_CHECK(t.defined() && t.shape() == *want, "[", n, "] load_state_dict: ", sp, names[j], " has shape ",
                 t.defined() ? shape_str(t.shape()) : std::string("(undefined)"), ", expected ", shape_str(*want),
                 " for parameter ", flat, " of shape ", p.shape());
        // State lives in the parameter's dtype (as PyTorch's optimizers keep it): a state saved for
        // another dtype is refused rather than silently rounded (f32 -> bf16 would lose bits).
        NB_CHECK(t.dtype() == p.dtype(), "[", n, "] load_state_dict: ", sp, names[j], " has dtype ", t.dtype(),
                 ", expected ", p.dtype(), " (the dtype of parameter ", flat, "; optimizer state is kept in its ",
                 "parameter's dtype: convert the model with the same to() as when the state was saved)");
        NB_CHECK(s.initialized, "[", n, "] load_state_dict: ", sp, names[j], " is present but ", sp, "step is not");
        NoGradGuard ng_guard;
        Tensor copy = empty(*want, {.dtype = p.dtype(), .device = p.device()});
        copy.copy_(t);  // fresh storage: the optimizer never aliases the dict's tensors
        s.buffers[j] = copy;
      }
    }
  }
  load_extra_state(d);  // validates, then restores its own part; nothing below can fail
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].set_options(std::move(new_options[g]));
    groups_[g].set_initial_lr(new_initial_lr[g]);
  }
  state_ = std::move(new_state);
}

}  // namespace nabla::optim
