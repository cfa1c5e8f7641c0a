// nn::Module: registration, recursive traversal, modes, dtype conversion, freezing and
// state dicts. Parameters are shared tensor handles, so every change here is made in place
// on the TensorImpl (never by swapping handles) and stays visible to an optimizer's list.
#include "nabla/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <unordered_set>

#include "call_recorder.h"
#include "nabla/autocast.h"
#include "nabla/autograd.h"
#include "nabla/ops.h"

namespace nabla::nn {

namespace detail {
CallRecorder*& active_recorder() {
  thread_local CallRecorder* rec = nullptr;
  return rec;
}

namespace {
thread_local ModuleCallLog* t_call_log = nullptr;
}  // namespace

ModuleCallLog::ModuleCallLog() : outer_(t_call_log) { t_call_log = this; }
ModuleCallLog::~ModuleCallLog() { t_call_log = outer_; }

void ModuleCallLog::note(Module* m) {
  for (ModuleCallLog* l = t_call_log; l != nullptr; l = l->outer_)
    if (l->seen_.insert(m).second) l->modules_.push_back(m);
}
}  // namespace detail

namespace {

std::string demangled_class_name(const std::type_info& ti) {
  int status = 0;
  char* d = abi::__cxa_demangle(ti.name(), nullptr, nullptr, &status);
  std::string s = (status == 0 && d) ? d : ti.name();
  std::free(d);
  // Drop namespaces ("nabla::nn::Linear" -> "Linear") but keep template arguments whole.
  size_t angle = s.find('<');
  size_t colon = s.rfind("::", angle == std::string::npos ? std::string::npos : angle);
  return colon == std::string::npos ? s : s.substr(colon + 2);
}

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

bool matches_prefix(const std::string& name, const std::string& prefix) {
  return name == prefix || (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                            name[prefix.size()] == '.');
}

/// Replaces t's data (and its .grad) by `convert(data)`, keeping the handle and with it the
/// autograd identity, so optimizers and hooks that hold the parameter still see it.
template <typename Convert>
void convert_in_place(const Tensor& t, Convert convert) {
  NoGradGuard ng;
  Tensor c = convert(t.detach()).contiguous();
  TensorImpl& im = t.impl();
  im.storage = c.storage();
  im.offset = c.offset();
  im.strides = c.strides();
  im.dtype = c.dtype();
  im.is_view = false;
  im.view_origin = nullptr;  // new memory: nothing to remake from
  im.view_history.store(TensorImpl::kNoViewOrigin);
  if (im.grad) im.grad = convert(Tensor(im.grad).detach()).contiguous().impl_ptr();
}

}  // namespace

// ---- StateDict -----------------------------------------------------------------------------

void StateDict::insert(const std::string& key, const Tensor& value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = value;
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(key, value);
}

const Tensor* StateDict::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& StateDict::at(const std::string& key) const {
  const Tensor* t = find(key);
  NB_CHECK(t != nullptr, "[StateDict] no entry named '", key, "'");
  return *t;
}

bool StateDict::erase(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + std::ptrdiff_t(it->second));
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  return true;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> k;
  k.reserve(items_.size());
  for (const auto& [name, t] : items_) k.push_back(name);
  return k;
}

std::string LoadStateDictResult::to_string() const {
  std::ostringstream os;
  const char* sep = "";
  if (!missing_keys.empty()) {
    os << "missing keys: " << join(missing_keys);
    sep = "; ";
  }
  if (!unexpected_keys.empty()) {
    os << sep << "unexpected keys: " << join(unexpected_keys);
    sep = "; ";
  }
  if (!shape_mismatches.empty()) {
    os << sep << "shape mismatches: ";
    for (size_t i = 0; i < shape_mismatches.size(); ++i) {
      const auto& m = shape_mismatches[i];
      os << (i ? ", " : "") << m.key << " (module " << shape_str(m.expected) << ", state dict " << shape_str(m.got)
         << ")";
    }
  }
  return os.str();
}

// ---- identity and calls -------------------------------------------------------------------------

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

std::string Module::type_name() const { return type_name_.empty() ? demangled_class_name(typeid(*this)) : type_name_; }

std::string Module::tag() const { return name_.empty() ? type_name() : name_ + " (" + type_name() + ")"; }

Tensor Module::forward(const Tensor&) {
  fail("has no forward(input); call its submodules (", type_name(), " is a container or needs more inputs)");
}

Tensor Module::operator()(const Tensor& input) {
  return call_forward(input, [this](const Tensor& x) { return forward(x); });
}

Tensor Module::call_forward(const Tensor& input, detail::ForwardRef forward_fn) {
  detail::ModuleCallLog::note(this);
  detail::CallRecorder* rec = detail::active_recorder();
  size_t slot = 0;
  if (rec) {
    slot = rec->calls.size();
    rec->calls.push_back({this, rec->depth, {}});
    ++rec->depth;
  }
  Tensor out;
  try {
    out = has_hooks() || detail::global_module_hooks_active() ? run_hooked(input, forward_fn) : forward_fn(input);
  } catch (const ModuleError&) {
    throw;  // already names the innermost module
  } catch (const Error& e) {
    throw ModuleError(::nabla::detail::concat("[", tag(), "] ", e.what()));
  }
  if (rec) {
    --rec->depth;
    if (out.defined()) rec->calls[slot].output = out.shape();
  }
  return out;
}

void Module::check_input_dtype(const Tensor& x, const Tensor& param) const {
  // Under autocast a 16-bit activation meets f32 weights at every layer after the first: the
  // layer's ops cast them (or take the mixed case), as PyTorch's layers, which check nothing here.
  // f64 is never cast by autocast, so it still has to match.
  const auto castable = [](DType d) { return is_floating(d) && d != DType::f64; };
  if (castable(x.dtype()) && castable(param.dtype()) && is_autocast_enabled(x.device().type)) return;
  if (x.dtype() != param.dtype())
    fail("expected ", param.dtype(), " input (the dtype of its parameters), got ", x.dtype(), " input of shape ",
         x.shape(), "; convert the input, or the module with .to(", x.dtype(), "), or run it under AutocastGuard");
}

namespace {
// The module whose forward() runs as a fused call on this thread (call_fused), or null.
thread_local const Module* t_fused_call = nullptr;
}  // namespace

Tensor Module::call_fused(const Tensor& x, Tensor (*epilogue)(const Tensor&)) {
  if (has_hooks() || detail::global_module_hooks_active()) return epilogue((*this)(x));
  struct Mark {
    const Module* saved;
    explicit Mark(const Module* m) : saved(t_fused_call) { t_fused_call = m; }
    ~Mark() { t_fused_call = saved; }
  } mark(this);
  return (*this)(x);
}

bool Module::fused_call() const { return t_fused_call == this; }

// ---- registration ------------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail(what, " name '", name, "' must be non-empty and contain no '.'");
  bool taken = std::any_of(params_.begin(), params_.end(), [&](const auto& p) { return p.first == name; }) ||
               std::any_of(buffers_.begin(), buffers_.end(), [&](const auto& b) { return b.name == name; }) ||
               std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; });
  if (taken) fail("cannot register ", what, " '", name, "': the name is already used");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  auto existing = std::find_if(params_.begin(), params_.end(), [&](const auto& p) { return p.first == name; });
  if (existing == params_.end()) check_new_name(name, "parameter");
  if (!t.defined()) {
    if (existing != params_.end()) fail("cannot replace parameter '", name, "' by an undefined tensor");
    return t;
  }
  if (existing != params_.end() && existing->second.shape() != t.shape())
    fail("cannot replace parameter '", name, "' of shape ", existing->second.shape(), " by a tensor of shape ",
         t.shape(), ": the layer's options describe the old shape (make a new layer instead)");
  if (!t.is_leaf()) t = t.detach();
  if (requires_grad && !t.is_floating_point())
    fail("parameter '", name, "' has dtype ", t.dtype(), "; only floating tensors can require grad");
  t.requires_grad_(requires_grad);
  if (existing != params_.end()) {
    existing->second = t;  // in place: the parameter keeps its position (state_dict order)
  } else {
    params_.emplace_back(name, t);
  }
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name(name, "buffer");
  if (!t.defined()) return t;
  if (!t.is_leaf() || t.requires_grad()) t = t.detach();
  buffers_.push_back({name, t, persistent});
  return t;
}

void Module::register_module_impl(const std::string& name, const std::shared_ptr<Module>& module) {
  check_new_name(name, "submodule");
  if (!module) fail("cannot register submodule '", name, "': it is null");
  for (Module* m : module->modules())
    if (m == this) fail("cannot register submodule '", name, "': it contains this module (a cycle)");
  children_.emplace_back(name, module);
  module->set_name(name_.empty() ? name : name_ + "." + name);
}

void Module::set_name(const std::string& qualified) {
  name_ = qualified;
  for (auto& [n, c] : children_) c->set_name(qualified.empty() ? n : qualified + "." + n);
}

// ---- traversal ---------------------------------------------------------------------------------

void Module::collect(const std::string& prefix, std::vector<NamedTensor>* params, std::vector<NamedTensor>* buffers,
                     bool persistent_only, bool recurse) const {
  if (params)
    for (const auto& [n, t] : params_) params->emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& b : buffers_)
      if (b.persistent || !persistent_only) buffers->emplace_back(prefix + b.name, b.tensor);
  if (recurse)
    for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, persistent_only, true);
}

namespace {
std::vector<NamedTensor> unique_by_impl(std::vector<NamedTensor> v) {
  std::unordered_set<const TensorImpl*> seen;
  std::vector<NamedTensor> out;
  out.reserve(v.size());
  for (auto& nt : v)
    if (seen.insert(nt.second.impl_ptr().get()).second) out.push_back(std::move(nt));
  return out;
}
TensorList tensors_of(const std::vector<NamedTensor>& v) {
  TensorList out;
  out.reserve(v.size());
  for (const auto& [n, t] : v) out.push_back(t);
  return out;
}
}  // namespace

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> v;
  collect("", &v, nullptr, false, recurse);
  return unique_by_impl(std::move(v));
}
TensorList Module::parameters(bool recurse) const { return tensors_of(named_parameters(recurse)); }

std::vector<NamedTensor> Module::named_buffers(bool recurse) const {
  std::vector<NamedTensor> v;
  collect("", nullptr, &v, false, recurse);
  return unique_by_impl(std::move(v));
}
TensorList Module::buffers(bool recurse) const { return tensors_of(named_buffers(recurse)); }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [n, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  std::unordered_set<const Module*> seen;
  // Explicit stack (pre-order): deep user models should not recurse per level.
  std::vector<std::pair<std::string, Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, m] = stack.back();
    stack.pop_back();
    if (!seen.insert(m).second) continue;
    out.emplace_back(prefix, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(prefix.empty() ? it->first : prefix + "." + it->first, it->second.get());
  }
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---- modes and conversions ---------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

Module& Module::to(DType dtype) {
  NB_CHECK(is_floating(dtype), "[", tag(), "] to(", dtype, "): modules convert to floating dtypes only");
  std::vector<NamedTensor> all;
  collect("", &all, &all, false, true);
  for (const auto& [n, t] : unique_by_impl(std::move(all)))
    if (t.is_floating_point() && t.dtype() != dtype) convert_in_place(t, [&](const Tensor& x) { return x.to(dtype); });
  return *this;
}

Module& Module::to(Device device) {
  std::vector<NamedTensor> all;
  collect("", &all, &all, false, true);
  for (const auto& [n, t] : unique_by_impl(std::move(all)))
    if (t.device() != device) convert_in_place(t, [&](const Tensor& x) { return x.to(device); });
  return *this;
}

void Module::set_requires_grad(const std::string& prefix, bool on, const char* op) {
  bool any = false;
  std::vector<NamedTensor> every_name;  // a shared module's parameters under each of its names
  collect("", &every_name, nullptr, false, true);
  for (auto& [n, p] : every_name) {
    if (!prefix.empty() && !matches_prefix(n, prefix)) continue;
    p.requires_grad_(on);
    any = true;
  }
  if (!any && !prefix.empty()) {
    std::vector<std::string> names;
    for (auto& [n, p] : named_parameters()) names.push_back(n);
    fail(op, "(\"", prefix, "\"): no parameter is named \"", prefix, "\" or starts with \"", prefix,
         ".\"; parameters are ", join(names));
  }
}

void Module::freeze() { set_requires_grad("", false, "freeze"); }
void Module::unfreeze() { set_requires_grad("", true, "unfreeze"); }
void Module::freeze(const std::string& prefix) {
  if (prefix.empty()) fail("freeze(\"\"): empty prefix; call freeze() to freeze everything");
  set_requires_grad(prefix, false, "freeze");
}
void Module::unfreeze(const std::string& prefix) {
  if (prefix.empty()) fail("unfreeze(\"\"): empty prefix; call unfreeze() to unfreeze everything");
  set_requires_grad(prefix, true, "unfreeze");
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else if (g.is_leaf() && !g.requires_grad()) {
      NoGradGuard ng;
      g.zero_();
    } else {
      p.set_grad(zeros_like(p));  // a grad with history (create_graph): start a fresh one
    }
  }
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
  return *this;
}

// ---- state dicts ---------------------------------------------------------------------------------

StateDict Module::state_dict() const {
  std::vector<NamedTensor> all;
  // Own parameters, then own buffers, then each child: PyTorch's order.
  std::vector<NamedTensor> p, b;
  collect("", &p, nullptr, true, false);
  collect("", nullptr, &b, true, false);
  all.insert(all.end(), p.begin(), p.end());
  all.insert(all.end(), b.begin(), b.end());
  StateDict sd;
  for (auto& [n, t] : all) sd.insert(n, t.detach());
  for (const auto& [cn, c] : children_)
    for (const auto& [n, t] : c->state_dict()) sd.insert(cn + "." + n, t);
  return sd;
}

LoadStateDictResult Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  LoadStateDictResult r;
  for (const auto& [k, dst] : own) {
    const Tensor* src = state.find(k);
    if (!src || !src->defined())
      r.missing_keys.push_back(k);
    else if (src->shape() != dst.shape())
      r.shape_mismatches.push_back({k, dst.shape(), src->shape()});
  }
  for (const auto& [k, t] : state)
    if (!own.contains(k)) r.unexpected_keys.push_back(k);
  if (strict && !r.ok()) fail("load_state_dict: ", r.to_string());
  NoGradGuard ng;
  for (const auto& [k, dst] : own) {
    const Tensor* src = state.find(k);
    if (!src || !src->defined() || src->shape() != dst.shape()) continue;
    Tensor d = dst;
    d.copy_(*src);  // converts dtype: loading an f64 checkpoint into an f32 model works
  }
  return r;
}

}  // namespace nabla::nn
