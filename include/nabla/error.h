// nabla::Error and the NB_CHECK macro: every user mistake becomes an exception whose
// message names the op, the shapes/dtypes/values involved and what was expected.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nabla {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os << ']';
}
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  using detail::operator<<;
  throw Error(detail::concat(args...));
}

}  // namespace nabla

/// NB_CHECK(cond, "[op] message ", shape, ...): throws nabla::Error with the pieces concatenated.
#define NB_CHECK(cond, ...)                              \
  do {                                                   \
    if (!(cond)) [[unlikely]] ::nabla::fail(__VA_ARGS__); \
  } while (0)
