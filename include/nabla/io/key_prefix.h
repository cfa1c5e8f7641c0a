// Namespaced keys in one checkpoint file ("model.", "scheduler.", "extra."): adding and stripping
// a key prefix for any map of the library (io::TensorMap, io::Metadata, nn::StateDict).
#pragma once
#include <string>

namespace nabla::io {

namespace detail {
template <typename Map, typename V>
void put(Map& m, const std::string& key, const V& value) {
  if constexpr (requires { m.insert_or_assign(key, value); }) {
    m.insert_or_assign(key, value);
  } else {
    m.insert(key, value);  // nn::StateDict: insert replaces
  }
}
}  // namespace detail

/// Every entry of `in`, its key prefixed with `prefix`.
template <typename Out, typename In>
Out with_key_prefix(const In& in, const std::string& prefix) {
  Out out;
  for (const auto& [key, value] : in) detail::put(out, prefix + key, value);
  return out;
}

/// The entries of `in` whose key starts with `prefix`, with the prefix removed; others are left out.
template <typename Out, typename In>
Out strip_key_prefix(const In& in, const std::string& prefix) {
  Out out;
  for (const auto& [key, value] : in)
    if (key.starts_with(prefix)) detail::put(out, key.substr(prefix.size()), value);
  return out;
}

}  // namespace nabla::io
