// Containers: ModuleList (an indexable list of submodules) and Sequential (a ModuleList whose
// forward chains its modules). Entries are shared_ptrs, named "0", "1", ... unless named.
//
//   nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 8, 3)), nn::ReLU(), nn::Flatten(),
//                      std::make_shared<nn::Linear>(8 * 26 * 26, 10));
//   net.push_back(nn::LogSoftmax(1));
//   for (const auto& m : net) std::cout << m->tag() << "\n";
//   auto fc = net.at<nn::Linear>(3);
#pragma once
#include <initializer_list>
#include <memory>
#include <type_traits>

#include "nabla/nn/module.h"

namespace nabla::nn {

namespace detail {
template <typename T>
struct is_module_ptr : std::false_type {};
template <typename M>
struct is_module_ptr<std::shared_ptr<M>> : std::bool_constant<std::derived_from<M, Module>> {};
}  // namespace detail

/// A shared_ptr to a module, or a module by value (moved into a new shared_ptr).
template <typename T>
concept ModuleLike = detail::is_module_ptr<std::remove_cvref_t<T>>::value ||
                     (std::derived_from<std::remove_cvref_t<T>, Module> && !std::is_lvalue_reference_v<T>);

template <ModuleLike T>
std::shared_ptr<Module> to_module_ptr(T&& m) {
  if constexpr (detail::is_module_ptr<std::remove_cvref_t<T>>::value) {
    return m;
  } else {
    return std::make_shared<std::remove_cvref_t<T>>(std::move(m));
  }
}

class ModuleList : public Module {
 public:
  using const_iterator = std::vector<std::shared_ptr<Module>>::const_iterator;

  ModuleList() : Module("ModuleList") {}
  template <ModuleLike... Ms>
    requires(sizeof...(Ms) > 0)
  explicit ModuleList(Ms&&... modules) : Module("ModuleList") {
    (push_back(std::forward<Ms>(modules)), ...);
  }

  /// Appends `module`, named by its index ("0", "1", ...).
  void push_back(std::shared_ptr<Module> module);
  template <ModuleLike M>
  void push_back(M&& module) {
    push_back(to_module_ptr(std::forward<M>(module)));
  }
  /// Appends `module` under `name`.
  void push_back(const std::string& name, std::shared_ptr<Module> module);
  template <ModuleLike M>
  void append(M&& module) {
    push_back(std::forward<M>(module));
  }
  /// Appends every module of `other` (shared, not copied).
  void extend(const ModuleList& other);

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// The i-th module (negative counts from the end).
  const std::shared_ptr<Module>& operator[](int64_t i) const;
  /// The i-th module as T; throws naming both types when it is not a T.
  template <typename T>
  std::shared_ptr<T> at(int64_t i) const {
    const auto& m = (*this)[i];
    auto t = std::dynamic_pointer_cast<T>(m);
    if (!t) fail("entry ", i, " is a ", m->type_name(), ", not the requested type");
    return t;
  }
  const_iterator begin() const { return modules_.begin(); }
  const_iterator end() const { return modules_.end(); }

 protected:
  explicit ModuleList(const char* type) : Module(type) {}

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

/// Runs its modules in order, each on the previous one's output.
class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  template <ModuleLike... Ms>
    requires(sizeof...(Ms) > 0)
  explicit Sequential(Ms&&... modules) : ModuleList("Sequential") {
    (push_back(std::forward<Ms>(modules)), ...);
  }
  /// Named entries: `Sequential({{"conv", conv}, {"relu", std::make_shared<nn::ReLU>()}})`.
  Sequential(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> named);

  Tensor forward(const Tensor& x) override;
  /// Runs entries [begin, end) in order on x, as forward() runs them all (negative indices count
  /// from the end; end == size() for the rest): how nn::utils::checkpoint_sequential runs a segment.
  Tensor forward_range(const Tensor& x, int64_t begin, int64_t end);
};

}  // namespace nabla::nn
