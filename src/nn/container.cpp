// ModuleList and Sequential.
#include "nabla/nn/container.h"

#include <typeinfo>

#include "call_recorder.h"
#include "nabla/nn/activation.h"
#include "nabla/nn/conv.h"
#include "nabla/nn/linear.h"

namespace nabla::nn {

void ModuleList::push_back(std::shared_ptr<Module> module) { push_back(std::to_string(modules_.size()), std::move(module)); }

void ModuleList::push_back(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, module);
  modules_.push_back(std::move(module));
}

void ModuleList::extend(const ModuleList& other) {
  if (&other == this) fail("cannot extend a ModuleList with itself");
  for (const auto& m : other) push_back(m);
}

const std::shared_ptr<Module>& ModuleList::operator[](int64_t i) const {
  const int64_t n = int64_t(modules_.size());
  if (i < -n || i >= n) fail("index ", i, " is out of range for ", n, " modules");
  return modules_[size_t(i < 0 ? i + n : i)];
}

Sequential::Sequential(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> named)
    : ModuleList("Sequential") {
  for (const auto& [n, m] : named) push_back(n, m);
}

Tensor Sequential::forward(const Tensor& x) { return forward_range(x, 0, int64_t(size())); }

Tensor Sequential::forward_range(const Tensor& x, int64_t begin, int64_t end) {
  const int64_t count = int64_t(size());
  const int64_t b = begin < 0 ? begin + count : begin, e = end < 0 ? end + count : end;
  if (b < 0 || e > count || b > e) fail("forward_range(", begin, ", ", end, "): not a range of its ", count, " entries");
  Tensor y = x;
  const size_t n = size_t(e);
  for (size_t i = size_t(b); i < n; ++i) {
    Module& m = *(*this)[int64_t(i)];
    // Conv2d or Linear directly followed by ReLU: one fused op (the activation rides with the
    // convolution's / GEMM's kernel). Exact types only: a subclass may override forward. Not while
    // a summary records the calls, so its table still lists both layers, nor when either layer has
    // hooks (its own or global ones), which must see each layer's own input and output.
    if (i + 1 < n && !detail::active_recorder() && typeid(*(*this)[int64_t(i + 1)]) == typeid(ReLU) &&
        !m.has_hooks() && !(*this)[int64_t(i + 1)]->has_hooks() && !detail::global_module_hooks_active()) {
      if (typeid(m) == typeid(Conv2d)) {
        y = static_cast<Conv2d&>(m).forward_relu(y);
        ++i;
        continue;
      }
      if (typeid(m) == typeid(Linear)) {
        y = static_cast<Linear&>(m).forward_relu(y);
        ++i;
        continue;
      }
    }
    y = m(y);
  }
  return y;
}

}  // namespace nabla::nn
