// Json: parsing (values, escapes, strictness, error positions), accessors and writing.
#include "nabla/io/json.h"

#include <gtest/gtest.h>

#include <limits>

#include "io_test_util.h"

using nabla::io::Json;
using nabla::io::JsonParseError;
using io_test::error_of;
using io_test::expect_contains;

namespace {

// Parse error message and offset for `text`.
std::pair<std::string, size_t> parse_error(std::string_view text) {
  try {
    Json::parse(text);
  } catch (const JsonParseError& e) {
    return {e.what(), e.offset()};
  }
  ADD_FAILURE() << "parsed without error: " << text;
  return {"", 0};
}

}  // namespace

TEST(Json, ParsesScalars) {
  EXPECT_TRUE(Json::parse("null").is_null());
  EXPECT_EQ(Json::parse("true").as_bool(), true);
  EXPECT_EQ(Json::parse(" false ").as_bool(), false);
  EXPECT_EQ(Json::parse("0").as_int(), 0);
  EXPECT_EQ(Json::parse("-0").as_int(), 0);
  EXPECT_EQ(Json::parse("42").as_int(), 42);
  EXPECT_EQ(Json::parse("-17").as_int(), -17);
  EXPECT_EQ(Json::parse("9223372036854775807").as_int(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Json::parse("-9223372036854775808").as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_DOUBLE_EQ(Json::parse("2.5").as_double(), 2.5);
  EXPECT_DOUBLE_EQ(Json::parse("-1.25e-3").as_double(), -1.25e-3);
  EXPECT_DOUBLE_EQ(Json::parse("1E3").as_double(), 1000.0);
  EXPECT_DOUBLE_EQ(Json::parse("7").as_double(), 7.0);  // integers convert to double on request
  EXPECT_EQ(Json::parse("\"hi\"").as_string(), "hi");
}

TEST(Json, IntegersAndDoublesAreDistinct) {
  EXPECT_EQ(Json::parse("3").type(), Json::Type::integer);
  EXPECT_EQ(Json::parse("3.0").type(), Json::Type::number);
  EXPECT_EQ(Json::parse("3e0").type(), Json::Type::number);
  // Past int64: still a number, but not an integer, so size readers refuse it.
  Json big = Json::parse("9223372036854775808");
  EXPECT_EQ(big.type(), Json::Type::number);
  EXPECT_DOUBLE_EQ(big.as_double(), 9223372036854775808.0);
  expect_contains(error_of([&] { big.as_int(); }), {"expected an integer, got number"});
  EXPECT_DOUBLE_EQ(Json::parse("1e-400").as_double(), 0.0);  // underflow rounds to zero
}

TEST(Json, ParsesStringEscapes) {
  EXPECT_EQ(Json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(Json::parse(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");  // A é €
  EXPECT_EQ(Json::parse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");  // 😀 from a surrogate pair
  EXPECT_EQ(Json::parse(R"("\u0000")").as_string(), std::string(1, '\0'));
  EXPECT_EQ(Json::parse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"").as_string(), "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(Json, ParsesContainersInOrder) {
  Json j = Json::parse(R"( {"b": [1, 2.5, "x", null, true, {}], "a": {"c": []}} )");
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j.as_object()[0].first, "b");  // file order is kept
  EXPECT_EQ(j.as_object()[1].first, "a");
  const Json& b = j.at("b");
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b.at(size_t(0)).as_int(), 1);
  EXPECT_DOUBLE_EQ(b.at(1).as_double(), 2.5);
  EXPECT_EQ(b.at(2).as_string(), "x");
  EXPECT_TRUE(b.at(3).is_null());
  EXPECT_TRUE(b.at(4).as_bool());
  EXPECT_EQ(b.at(5).size(), 0u);
  EXPECT_EQ(j.at("a").at("c").size(), 0u);
  EXPECT_EQ(j.find("zzz"), nullptr);
}

TEST(Json, RejectsMalformedTextWithPosition) {
  struct Case {
    const char* text;
    const char* message;
    size_t offset;
  };
  const Case cases[] = {
      {"", "unexpected end of input, expected a value", 0},
      {"   ", "unexpected end of input", 3},
      {"{", "unexpected end of input, expected a string key", 1},
      {"{\"a\" 1}", "expected ':' after an object key", 5},
      {"{\"a\":1,}", "unexpected '}', expected a string key", 7},
      {"[1,]", "unexpected ']', expected a value", 3},
      {"[1 2]", "expected ',' or ']'", 3},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}'", 7},
      {"{a:1}", "expected a string key", 1},
      {"01", "leading zeros", 0},
      {"1.", "expected a digit after '.'", 2},
      {".5", "unexpected '.', expected a value", 0},
      {"1e", "expected a digit in the exponent", 2},
      {"+1", "unexpected '+'", 0},
      {"-", "expected a digit", 1},
      {"NaN", "unexpected 'N'", 0},
      {"Infinity", "unexpected 'I'", 0},
      {"1e999", "out of the range of a double", 0},
      {"tru", "expected a value", 0},
      {"nul", "expected a value", 0},
      {"\"abc", "unterminated string", 0},
      {"\"a\nb\"", "unescaped control character byte 0x0A", 2},
      {"\"\\x\"", "invalid escape \\x", 1},
      {"\"\\u12G4\"", "expected 4 hex digits after \\u", 5},
      {"\"\\udc00\"", "lone UTF-16 low surrogate", 1},
      {"\"\\ud800\"", "high surrogate not followed by a low surrogate", 1},
      {"\"\\ud800\\u0041\"", "high surrogate not followed by a low surrogate", 1},
      {"\"\xC3\"", "invalid UTF-8 (byte 0xC3)", 1},           // truncated sequence
      {"\"\xC0\xAF\"", "invalid UTF-8 (byte 0xC0)", 1},       // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid UTF-8 (byte 0xED)", 1},   // encoded surrogate
      {"\"\xF4\x90\x80\x80\"", "invalid UTF-8 (byte 0xF4)", 1},  // past U+10FFFF
      {"\"\xFF\"", "invalid UTF-8 (byte 0xFF)", 1},
      {"\xEF\xBB\xBF{}", "unexpected byte 0xEF", 0},  // a BOM is not JSON
      {"{} x", "unexpected 'x' after the JSON value", 3},
      {"{}{}", "after the JSON value", 2},
      {"// c\n{}", "unexpected '/'", 0},
      {"{\"k\":1,\"k\":2}", "duplicate key \"k\"", 7},
  };
  for (const Case& c : cases) {
    auto [msg, offset] = parse_error(c.text);
    EXPECT_NE(msg.find(c.message), std::string::npos) << "text: " << c.text << "\nmessage: " << msg;
    EXPECT_EQ(offset, c.offset) << "text: " << c.text << "\nmessage: " << msg;
    EXPECT_NE(msg.find("at byte " + std::to_string(c.offset)), std::string::npos) << msg;
  }
}

TEST(Json, DuplicateKeysFoundInBigObjects) {
  std::string text = "{";
  for (int k = 0; k < 5000; ++k) text += "\"k" + std::to_string(k) + "\":" + std::to_string(k) + ",";
  text += "\"k1234\":0}";
  auto [msg, offset] = parse_error(text);
  expect_contains(msg, {"duplicate key \"k1234\""});
  EXPECT_EQ(text.substr(offset, 7), "\"k1234\"");
  EXPECT_EQ(offset, text.size() - 10);  // the second occurrence
}

TEST(Json, NestingIsBounded) {
  std::string deep(100000, '[');
  auto [msg, offset] = parse_error(deep);
  expect_contains(msg, {"nesting deeper than 128"});
  EXPECT_EQ(offset, 128u);
  std::string ok = std::string(128, '[') + std::string(128, ']');
  EXPECT_EQ(Json::parse(ok).size(), 1u);
  EXPECT_THROW(Json::parse(std::string(129, '[') + std::string(129, ']')), JsonParseError);
  EXPECT_THROW(Json::parse("[[[1]]]", {.max_depth = 2}), JsonParseError);
  EXPECT_NO_THROW(Json::parse("[[[1]]]", {.max_depth = 3}));
}

TEST(Json, CheckedAccessorsNameTypes) {
  Json j = Json::parse(R"({"n": 1, "s": "x", "a": [1]})");
  expect_contains(error_of([&] { j.at("s").as_int(); }), {"expected an integer, got string"});
  expect_contains(error_of([&] { j.at("n").as_string(); }), {"expected a string, got integer"});
  expect_contains(error_of([&] { j.at("a").as_object(); }), {"expected an object, got array"});
  expect_contains(error_of([&] { j.at("missing"); }), {"missing key 'missing'"});
  expect_contains(error_of([&] { j.at("a").at(5); }), {"index 5 is out of range", "1 elements"});
  expect_contains(error_of([&] { j.at("n").size(); }), {"expected an array or object, got integer"});
  EXPECT_STREQ(Json::type_name(Json::Type::boolean), "boolean");
}

TEST(Json, DumpsCompactLikeSerde) {
  Json j = Json::object({{"name", "conv1"}, {"k", 3}, {"lr", 0.001}, {"ok", true}, {"none", nullptr}});
  j.set("dims", Json::array({1, 28, 28}));
  j.set("k", 5);  // replaces in place
  EXPECT_EQ(j.dump(), R"({"name":"conv1","k":5,"lr":0.001,"ok":true,"none":null,"dims":[1,28,28]})");
  EXPECT_EQ(Json(1.0).dump(), "1.0");  // stays a double when read back
  EXPECT_EQ(Json(-2.5e-300).dump(), "-2.5e-300");
  EXPECT_EQ(Json(int64_t(-9)).dump(), "-9");
  EXPECT_EQ(Json::array().dump(), "[]");
  EXPECT_EQ(Json::object().dump(), "{}");
}

TEST(Json, DumpsPretty) {
  Json j = Json::object({{"a", Json::array({1, 2})}, {"b", Json::object()}, {"c", Json::array()}});
  EXPECT_EQ(j.dump(2), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}");
}

TEST(Json, EscapesStringsOnWrite) {
  EXPECT_EQ(nabla::io::json_quote("a\"b\\c\n\t\x01\x1f/\x7f"), R"("a\"b\\c\n\t\u0001\u001f/)" "\x7f\"");
  EXPECT_EQ(nabla::io::json_quote("\xC3\xA9"), "\"\xC3\xA9\"");  // UTF-8 verbatim, as serde_json
  expect_contains(error_of([] { nabla::io::json_quote("\xFF"); }), {"not valid UTF-8"});
  expect_contains(error_of([] { Json(std::numeric_limits<double>::quiet_NaN()).dump(); }), {"no NaN or infinity"});
  expect_contains(error_of([] { Json(std::numeric_limits<double>::infinity()).dump(); }), {"no NaN or infinity"});
}

TEST(Json, RoundTripsThroughText) {
  Json j = Json::object({{"s", "line\nbreak \xE2\x82\xAC \\ \""},
                         {"i", int64_t(-1234567890123)},
                         {"d", 0.1},
                         {"tiny", 5e-324},
                         {"big", 1.7976931348623157e308},
                         {"nested", Json::array({Json::object({{"x", Json::array()}}), nullptr, false})}});
  for (int indent : {-1, 0, 4}) {
    Json back = Json::parse(j.dump(indent));
    EXPECT_EQ(back, j) << j.dump(indent);
  }
  EXPECT_NE(Json(1), Json(1.0));  // types must match
}

TEST(Json, StreamsTopLevelMembers) {
  std::vector<std::pair<std::string, size_t>> seen;
  Json::parse_members(R"( {"a": {"x": 1}, "b": [2], "a": 3} )",
                      [&](std::string&& key, Json&& value, size_t at) {
                        seen.emplace_back(key + "=" + value.dump(), at);
                      });
  ASSERT_EQ(seen.size(), 3u);  // duplicates are the caller's business when streaming
  EXPECT_EQ(seen[0], (std::pair<std::string, size_t>{"a={\"x\":1}", 2}));
  EXPECT_EQ(seen[1].first, "b=[2]");
  EXPECT_EQ(seen[2].first, "a=3");
  auto noop = [](std::string&&, Json&&, size_t) {};
  EXPECT_THROW(Json::parse_members("[1]", noop), JsonParseError);
  EXPECT_THROW(Json::parse_members("{\"a\":1", noop), JsonParseError);
  EXPECT_THROW(Json::parse_members("", noop), JsonParseError);
  // Nested objects still reject duplicate keys.
  EXPECT_THROW(Json::parse_members(R"({"a": {"x": 1, "x": 2}})", noop), JsonParseError);
}

TEST(Json, Utf8Validator) {
  using nabla::io::is_valid_utf8;
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"));
  for (const char* bad : {"\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xBF\xBF", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80",
                          "\xF5\x80\x80\x80", "\xE2\x82", "a\xC3"})
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
}
