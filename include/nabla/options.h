// NB_ARG: the fluent option accessors of every options struct (nn layers, optimizers),
// as PyTorch's TORCH_ARG: `LinearOptions(784, 10).bias(false)` sets, `opts.bias()` reads.
#pragma once

/// Declares a fluent option `name` of type T, as PyTorch's TORCH_ARG:
/// `LinearOptions(784, 10).bias(false)` sets it, `opts.bias()` reads it.
#define NB_ARG(T, name)                                          \
 public:                                                         \
  auto name(const T& new_##name)->decltype(*this) {              \
    this->name##_ = new_##name;                                  \
    return *this;                                                \
  }                                                              \
  const T& name() const noexcept { return this->name##_; }       \
  T& name() noexcept { return this->name##_; }                   \
                                                                 \
 private:                                                        \
  T name##_
