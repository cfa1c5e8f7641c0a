// ModuleList and Sequential.
#include "nabla/nn/container.h"

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

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : *this) y = (*m)(y);
  return y;
}

}  // namespace nabla::nn
