// A small strict JSON value (RFC 8259) with a parser and a writer, for safetensors headers,
// model specs and config files.
//
// Strict means: UTF-8 only (no overlongs, surrogates or code points past U+10FFFF), no
// comments, no trailing commas, no NaN/Infinity, no duplicate object keys, no leading zeros,
// nesting bounded by ParseOptions::max_depth. Numbers written without '.', 'e' or 'E' that fit
// in int64 are integers (Json::Type::integer); every other number is a double (Type::number),
// so a reader can demand an integer where a size is expected and reject 2.0 or 1e3.
// Objects keep their members in file (or insertion) order.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "nabla/error.h"

namespace nabla::io {

/// Thrown by Json::parse: what() is "JSON: <what> at byte <offset>"; offset() is the byte
/// position in the parsed text, so callers that embed JSON in a file can add their own base.
class JsonParseError : public Error {
 public:
  JsonParseError(const std::string& what, size_t offset);
  size_t offset() const { return offset_; }
  const std::string& reason() const { return reason_; }  ///< the message without the position

 private:
  std::string reason_;
  size_t offset_;
};

struct JsonParseOptions {
  int max_depth = 128;  ///< arrays/objects nested deeper than this are an error
};

class Json {
 public:
  enum class Type : uint8_t { null, boolean, integer, number, string, array, object };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  using ParseOptions = JsonParseOptions;

  Json() = default;  ///< null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int v) : v_(int64_t(v)) {}
  Json(int64_t v) : v_(v) {}
  Json(double v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}
  static Json array(std::initializer_list<Json> items = {}) { return Json(Array(items)); }
  static Json object(std::initializer_list<Member> members = {});

  /// Parses exactly one JSON value (surrounding whitespace allowed). Throws JsonParseError.
  static Json parse(std::string_view text, const ParseOptions& opts = {});

  /// Streams a document whose top level is an object: calls `on_member(key, value,
  /// key_offset)` for each member in order instead of building the whole object, so memory
  /// stays proportional to the largest member (a safetensors header may list a million
  /// tensors). Duplicate top-level keys are not checked here: the caller sees every key.
  using MemberFn = std::function<void(std::string&& key, Json&& value, size_t key_offset)>;
  static void parse_members(std::string_view text, const MemberFn& on_member, const ParseOptions& opts = {});

  /// Serializes. indent < 0: compact, no spaces (the form serde_json and safetensors write);
  /// indent >= 0: one member per line, indented by `indent` spaces per level.
  /// Throws nabla::Error for a non-finite double or a string that is not valid UTF-8.
  std::string dump(int indent = -1) const;

  Type type() const { return Type(v_.index()); }
  static const char* type_name(Type t);
  const char* type_name() const { return type_name(type()); }
  bool is_null() const { return type() == Type::null; }
  bool is_bool() const { return type() == Type::boolean; }
  bool is_int() const { return type() == Type::integer; }
  bool is_number() const { return type() == Type::integer || type() == Type::number; }
  bool is_string() const { return type() == Type::string; }
  bool is_array() const { return type() == Type::array; }
  bool is_object() const { return type() == Type::object; }

  // Checked accessors: a wrong type throws nabla::Error "expected <type>, got <type>".
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  ///< integers convert
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  /// Object member lookup (linear: objects are small, big ones are iterated). nullptr if absent.
  const Json* find(std::string_view key) const;
  /// Object member; throws nabla::Error "missing key '<key>'" if absent.
  const Json& at(std::string_view key) const;
  /// Array element; throws if out of range.
  const Json& at(size_t index) const;
  size_t size() const;  ///< elements of an array, members of an object

  /// Sets `key` (replacing an existing member, else appending); `*this` must be an object.
  Json& set(std::string key, Json value);
  /// Appends a member without looking for an existing one: O(1) for building big objects.
  /// The caller guarantees `key` is new; a duplicate would make the output unreadable here.
  Json& append(std::string key, Json value);
  /// Appends to an array.
  Json& push_back(Json value);

  /// Deep equality; integer 1 and number 1.0 differ (types must match).
  friend bool operator==(const Json& a, const Json& b) { return a.v_ == b.v_; }

 private:
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> v_;
};

/// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// `s` as a JSON string literal with quotes, escaped the way serde_json does (", \, and
/// control characters; everything else, including non-ASCII UTF-8, verbatim).
std::string json_quote(std::string_view s);

/// The whole text of the file `path`, which must be a regular file (checked before it is
/// opened); errors read "[op] path: ...".
std::string read_text_file(const std::string& path, const std::string& op);
/// Json::parse, with a parse error reported as "[op] source: invalid JSON: ..." (source: the
/// file, or the file and the key the text came from).
Json parse_json_text(std::string_view text, const std::string& op, const std::string& source);

}  // namespace nabla::io
