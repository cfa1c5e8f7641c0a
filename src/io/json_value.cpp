// Json value: construction, checked accessors and object editing.
#include <string>

#include "nabla/io/json.h"

namespace nabla::io {

JsonParseError::JsonParseError(const std::string& what, size_t offset)
    : Error("JSON: " + what + " at byte " + std::to_string(offset)), reason_(what), offset_(offset) {}

Json Json::object(std::initializer_list<Member> members) {
  Json j{Object{}};
  for (const Member& m : members) j.set(m.first, m.second);
  return j;
}

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::array: return "array";
    case Type::object: return "object";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_type(const char* expected, const Json& j) {
  fail("[json] expected ", expected, ", got ", j.type_name());
}
}  // namespace

bool Json::as_bool() const {
  if (!is_bool()) wrong_type("a boolean", *this);
  return std::get<bool>(v_);
}

int64_t Json::as_int() const {
  if (!is_int()) wrong_type("an integer", *this);
  return std::get<int64_t>(v_);
}

double Json::as_double() const {
  if (is_int()) return double(std::get<int64_t>(v_));
  if (type() != Type::number) wrong_type("a number", *this);
  return std::get<double>(v_);
}

const std::string& Json::as_string() const {
  if (!is_string()) wrong_type("a string", *this);
  return std::get<std::string>(v_);
}

const Json::Array& Json::as_array() const {
  if (!is_array()) wrong_type("an array", *this);
  return std::get<Array>(v_);
}

Json::Array& Json::as_array() {
  if (!is_array()) wrong_type("an array", *this);
  return std::get<Array>(v_);
}

const Json::Object& Json::as_object() const {
  if (!is_object()) wrong_type("an object", *this);
  return std::get<Object>(v_);
}

Json::Object& Json::as_object() {
  if (!is_object()) wrong_type("an object", *this);
  return std::get<Object>(v_);
}

const Json* Json::find(std::string_view key) const {
  for (const Member& m : as_object())
    if (m.first == key) return &m.second;
  return nullptr;
}

const Json& Json::at(std::string_view key) const {
  const Json* j = find(key);
  NB_CHECK(j != nullptr, "[json] missing key '", key, "'");
  return *j;
}

const Json& Json::at(size_t index) const {
  const Array& a = as_array();
  NB_CHECK(index < a.size(), "[json] index ", index, " is out of range for an array of ", a.size(), " elements");
  return a[index];
}

size_t Json::size() const {
  if (is_array()) return std::get<Array>(v_).size();
  if (is_object()) return std::get<Object>(v_).size();
  wrong_type("an array or object", *this);
}

Json& Json::set(std::string key, Json value) {
  for (Member& m : as_object()) {
    if (m.first == key) {
      m.second = std::move(value);
      return *this;
    }
  }
  return append(std::move(key), std::move(value));
}

Json& Json::append(std::string key, Json value) {
  as_object().emplace_back(std::move(key), std::move(value));
  return *this;
}

Json& Json::push_back(Json value) {
  as_array().push_back(std::move(value));
  return *this;
}

}  // namespace nabla::io
