// JSON writer. The compact form matches serde_json byte for byte (no spaces, escapes only
// where required, lowercase \u00XX), so safetensors headers equal those the reference writes.
#include <charconv>
#include <cmath>
#include <string>

#include "nabla/io/json.h"
#include "utf8.h"

namespace nabla::io {

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = detail::utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

void quote_into(std::string& out, std::string_view s) {
  NB_CHECK(is_valid_utf8(s), "[json] cannot write a string that is not valid UTF-8");
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    auto u = uint8_t(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 15]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void number_into(std::string& out, double d) {
  NB_CHECK(std::isfinite(d), "[json] cannot write ", d, ": JSON has no NaN or infinity");
  char buf[64];
  // Shortest text that reads back to the same double.
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, size_t(r.ptr - buf));
  out += text;
  // Keep doubles doubles: "1" would read back as an integer.
  if (text.find_first_of(".eE") == text.npos) out += ".0";
}

void newline(std::string& out, int indent, int level) {
  out.push_back('\n');
  out.append(size_t(indent) * size_t(level), ' ');
}

void dump_into(std::string& out, const Json& j, int indent, int level) {
  switch (j.type()) {
    case Json::Type::null: out += "null"; return;
    case Json::Type::boolean: out += j.as_bool() ? "true" : "false"; return;
    case Json::Type::integer: out += std::to_string(j.as_int()); return;
    case Json::Type::number: number_into(out, j.as_double()); return;
    case Json::Type::string: quote_into(out, j.as_string()); return;
    case Json::Type::array: {
      const Json::Array& a = j.as_array();
      out.push_back('[');
      for (size_t k = 0; k < a.size(); ++k) {
        if (k) out.push_back(',');
        if (indent >= 0) newline(out, indent, level + 1);
        dump_into(out, a[k], indent, level + 1);
      }
      if (indent >= 0 && !a.empty()) newline(out, indent, level);
      out.push_back(']');
      return;
    }
    case Json::Type::object: {
      const Json::Object& o = j.as_object();
      out.push_back('{');
      for (size_t k = 0; k < o.size(); ++k) {
        if (k) out.push_back(',');
        if (indent >= 0) newline(out, indent, level + 1);
        quote_into(out, o[k].first);
        out += indent >= 0 ? ": " : ":";
        dump_into(out, o[k].second, indent, level + 1);
      }
      if (indent >= 0 && !o.empty()) newline(out, indent, level);
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  quote_into(out, s);
  return out;
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_into(out, *this, indent, 0);
  return out;
}

}  // namespace nabla::io
