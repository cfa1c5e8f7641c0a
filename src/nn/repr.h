// Formatting helpers for Module::extra_repr().
#pragma once
#include <sstream>
#include <string>

#include "nabla/nn/module.h"

namespace nabla::nn::detail {

inline std::string pair_str(const IntPair& p) {
  std::ostringstream os;
  os << '(' << p[0] << ", " << p[1] << ')';
  return os.str();
}
/// A Python tuple, as PyTorch prints sizes: "(5,)", "(3, 4)".
inline std::string tuple_str(const Shape& s) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}
inline std::string num_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
inline const char* bool_str(bool b) { return b ? "true" : "false"; }

}  // namespace nabla::nn::detail
