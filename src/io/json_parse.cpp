// Strict recursive-descent JSON parser. Recursion is bounded by ParseOptions::max_depth, so
// hostile input ("[[[[..." a million deep) gives an error instead of a stack overflow.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <numeric>
#include <string>

#include "nabla/io/json.h"
#include "utf8.h"

namespace nabla::io {
namespace {

// Byte as shown in messages: printable ASCII quoted, anything else in hex.
std::string describe_byte(char c) {
  auto u = uint8_t(c);
  char buf[16];
  if (u >= 0x20 && u < 0x7F) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "byte 0x%02X", unsigned(u));
  }
  return buf;
}

// Long keys are cut in messages so an error about a 50 MB key stays readable.
std::string clip(std::string_view s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth, const Json::MemberFn* stream = nullptr)
      : s_(text), max_depth_(max_depth), stream_(stream) {}

  Json parse_document() {
    skip_ws();
    Json v = value(0);
    skip_ws();
    if (i_ != s_.size()) fail_at("unexpected " + describe_byte(s_[i_]) + " after the JSON value", i_);
    return v;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  int max_depth_;
  const Json::MemberFn* stream_;  ///< set: hand top-level members to it instead of storing

  [[noreturn]] void fail_at(const std::string& what, size_t at) { throw JsonParseError(what, at); }
  [[noreturn]] void unexpected(const char* expected) {
    if (i_ >= s_.size()) fail_at(std::string("unexpected end of input, expected ") + expected, i_);
    fail_at("unexpected " + describe_byte(s_[i_]) + ", expected " + expected, i_);
  }

  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  void expect(char c, const char* what) {
    if (peek() != c || at_end()) unexpected(what);
    ++i_;
  }

  Json value(int depth) {
    if (at_end()) unexpected("a value");
    switch (s_[i_]) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Json(string());
      case 't': return literal("true", Json(true));
      case 'f': return literal("false", Json(false));
      case 'n': return literal("null", Json());
      default:
        if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9')) return number();
        unexpected("a value");
    }
  }

  void check_depth(int depth) {
    if (depth > max_depth_)
      fail_at("nesting deeper than " + std::to_string(max_depth_) + " arrays/objects", i_);
  }

  Json literal(std::string_view word, Json v) {
    if (s_.substr(i_, word.size()) != word) unexpected("a value");
    i_ += word.size();
    return v;
  }

  Json object(int depth) {
    check_depth(depth);
    ++i_;  // '{'
    Json::Object members;
    std::vector<size_t> key_pos;
    skip_ws();
    if (peek() == '}' && !at_end()) {
      ++i_;
      return Json(std::move(members));
    }
    while (true) {
      skip_ws();
      if (peek() != '"' || at_end()) unexpected("a string key");
      key_pos.push_back(i_);
      std::string key = string();
      skip_ws();
      expect(':', "':' after an object key");
      skip_ws();
      if (stream_ && depth == 1) {
        size_t at = key_pos.back();
        key_pos.pop_back();
        (*stream_)(std::move(key), value(depth), at);
      } else {
        members.emplace_back(std::move(key), value(depth));
      }
      skip_ws();
      if (peek() == ',' && !at_end()) {
        ++i_;
        continue;
      }
      expect('}', "',' or '}' after an object member");
      break;
    }
    reject_duplicates(members, key_pos);
    return Json(std::move(members));
  }

  // Sorting an index is O(n log n), so a header with a million keys is still checked quickly.
  void reject_duplicates(const Json::Object& m, const std::vector<size_t>& pos) {
    if (m.size() < 2) return;
    std::vector<size_t> order(m.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return m[a].first < m[b].first; });
    for (size_t k = 1; k < order.size(); ++k) {
      if (m[order[k]].first == m[order[k - 1]].first)
        fail_at("duplicate key \"" + clip(m[order[k]].first) + "\"", pos[order[k]]);
    }
  }

  Json array(int depth) {
    check_depth(depth);
    ++i_;  // '['
    Json::Array items;
    skip_ws();
    if (peek() == ']' && !at_end()) {
      ++i_;
      return Json(std::move(items));
    }
    while (true) {
      skip_ws();
      items.push_back(value(depth));
      skip_ws();
      if (peek() == ',' && !at_end()) {
        ++i_;
        continue;
      }
      expect(']', "',' or ']' after an array element");
      break;
    }
    return Json(std::move(items));
  }

  uint32_t hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      if (at_end()) unexpected("4 hex digits after \\u");
      char c = s_[i_];
      uint32_t d;
      if (c >= '0' && c <= '9') d = uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') d = uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = uint32_t(c - 'A' + 10);
      else unexpected("4 hex digits after \\u");
      v = v * 16 + d;
      ++i_;
    }
    return v;
  }

  void escape(std::string& out) {
    size_t start = i_;  // at the backslash
    ++i_;
    if (at_end()) unexpected("an escape character");
    char c = s_[i_++];
    switch (c) {
      case '"': out.push_back('"'); return;
      case '\\': out.push_back('\\'); return;
      case '/': out.push_back('/'); return;
      case 'b': out.push_back('\b'); return;
      case 'f': out.push_back('\f'); return;
      case 'n': out.push_back('\n'); return;
      case 'r': out.push_back('\r'); return;
      case 't': out.push_back('\t'); return;
      case 'u': break;
      default: fail_at("invalid escape \\" + std::string(1, c) + " in string", start);
    }
    uint32_t cp = hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at("lone UTF-16 low surrogate in \\u escape", start);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A high surrogate must be followed by a low one; together they name one code point.
      if (s_.substr(i_, 2) != "\\u") fail_at("UTF-16 high surrogate not followed by a low surrogate", start);
      i_ += 2;
      uint32_t lo = hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) fail_at("UTF-16 high surrogate not followed by a low surrogate", start);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    detail::append_utf8(out, cp);
  }

  std::string string() {
    size_t open = i_;
    ++i_;  // opening quote
    std::string out;
    while (true) {
      // Copy runs of plain ASCII at once; stop at anything that needs a look.
      size_t run = i_;
      while (run < s_.size()) {
        auto u = uint8_t(s_[run]);
        if (u == '"' || u == '\\' || u < 0x20 || u >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + i_, run - i_);
      i_ = run;
      if (at_end()) fail_at("unterminated string", open);
      auto u = uint8_t(s_[i_]);
      if (u == '"') {
        ++i_;
        return out;
      }
      if (u == '\\') {
        escape(out);
      } else if (u < 0x20) {
        fail_at("unescaped control character " + describe_byte(s_[i_]) + " in string", i_);
      } else {
        size_t n = detail::utf8_sequence_length(s_, i_);
        if (n == 0) fail_at("invalid UTF-8 (" + describe_byte(s_[i_]) + ") in string", i_);
        out.append(s_.data() + i_, n);
        i_ += n;
      }
    }
  }

  Json number() {
    size_t start = i_;
    auto digit = [&] { return !at_end() && s_[i_] >= '0' && s_[i_] <= '9'; };
    if (peek() == '-') ++i_;
    if (!digit()) unexpected("a digit");
    if (s_[i_] == '0') {
      ++i_;
      if (digit()) fail_at("leading zeros are not allowed in numbers", start);
    } else {
      while (digit()) ++i_;
    }
    bool integral = true;
    if (peek() == '.' && !at_end()) {
      integral = false;
      ++i_;
      if (!digit()) unexpected("a digit after '.'");
      while (digit()) ++i_;
    }
    if (!at_end() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      ++i_;
      if (!at_end() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit()) unexpected("a digit in the exponent");
      while (digit()) ++i_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    if (integral) {
      int64_t v = 0;
      auto r = std::from_chars(first, last, v);
      if (r.ec == std::errc() && r.ptr == last) return Json(v);
      // Too big for int64: keep it as a double, as JSON allows; size readers reject it.
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Underflow rounds to zero like every JSON reader; overflow has no finite value.
      std::string_view text(first, size_t(last - first));
      bool negative_exponent = text.find("e-") != text.npos || text.find("E-") != text.npos;
      if (!negative_exponent) fail_at("number " + clip(text) + " is out of the range of a double", start);
      d = text[0] == '-' ? -0.0 : 0.0;
    } else if (r.ec != std::errc() || r.ptr != last) {
      fail_at("malformed number", start);
    }
    return Json(d);
  }
};

}  // namespace

Json Json::parse(std::string_view text, const ParseOptions& opts) {
  return Parser(text, opts.max_depth).parse_document();
}

void Json::parse_members(std::string_view text, const MemberFn& on_member, const ParseOptions& opts) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  if (i >= text.size() || text[i] != '{')
    throw JsonParseError(i >= text.size() ? "unexpected end of input, expected '{'"
                                          : "the document must be an object, it starts with " + describe_byte(text[i]),
                         i);
  Parser(text, opts.max_depth, &on_member).parse_document();
}

}  // namespace nabla::io
