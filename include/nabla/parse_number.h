// One strict reading of numbers for all text the library takes back in: checkpoint metadata,
// optimizer and scheduler state, command-line flags, CSV cells. The whole text must be the
// number: no blanks, no trailing characters, no silent wrap-around or truncation, and no
// dependence on the C locale (std::from_chars). A single leading '+' is accepted, and a
// floating value too small for T reads as zero (1e-400 is 0.0), as by Python's int() and float().
#pragma once
#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace nabla {

/// `text` without the spaces and tabs around it: list items and CSV cells are written "1, 2".
inline std::string_view trim_blanks(std::string_view text) {
  const size_t b = text.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return text.substr(b, text.find_last_not_of(" \t") - b + 1);
}

/// `text` as a T (an integer type, float or double) when it is exactly one number that T holds;
/// nullopt otherwise. `out_of_range`, when given, is set to whether the text was a well-formed
/// number outside T's range (so a caller can say which of the two went wrong).
template <typename T>
std::optional<T> parse_number(std::string_view text, bool* out_of_range = nullptr) {
  if (out_of_range != nullptr) *out_of_range = false;
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  T v{};
  const auto r = std::from_chars(text.data(), end, v);
  if (r.ptr != end || text.empty()) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>) {
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars reports underflow and overflow alike; the wider long double tells them apart.
      long double wide = 0;
      const auto w = std::from_chars(text.data(), end, wide);
      if (w.ec == std::errc() && w.ptr == end && wide > -1 && wide < 1) return T(wide);  // a signed zero
    }
  }
  if (r.ec == std::errc::result_out_of_range && out_of_range != nullptr) *out_of_range = true;
  if (r.ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace nabla
