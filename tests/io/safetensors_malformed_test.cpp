// safetensors: hand-made malformed files. Each one must be refused with a nabla::Error that
// names the file, the tensor where there is one, and what is wrong; never a crash. Every case
// runs twice: through parse_safetensors (memory) and load_safetensors (a real file).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "io_test_util.h"
#include "nabla/io/safetensors.h"

using namespace io_test;
using nabla::io::load_safetensors;
using nabla::io::parse_safetensors;

namespace {

struct Case {
  std::string name;
  Bytes file;
  std::vector<std::string> expect;  ///< pieces the error message must contain
};

// One header entry, written the way the format spells it.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}
std::string hdr(const std::string& body) { return "{" + body + "}"; }
// A valid entry "w": F32 [2] at [0, 8].
const std::string kW = entry("w", "F32", "[2]", "[0,8]");
Bytes data(size_t n) { return Bytes(n, 0xAB); }

std::vector<Case> cases() {
  std::vector<Case> c;
  auto add = [&](std::string name, Bytes file, std::vector<std::string> expect) {
    c.push_back({std::move(name), std::move(file), std::move(expect)});
  };
  // --- the 8-byte length prefix -------------------------------------------------------------
  add("empty file", {}, {"file is 0 bytes", "8-byte header length"});
  add("7 bytes", Bytes(7, 0), {"file is 7 bytes"});
  add("length over the 100 MB cap", concat({le64(100'000'001), bytes_of("{}")}),
      {"header length 100000001 is larger than the limit of 100000000 bytes"});
  add("length 2^64-1", concat({le64(~uint64_t(0)), bytes_of("{}")}), {"header length 18446744073709551615", "limit"});
  add("length past end of file", concat({le64(100), bytes_of("{}")}),
      {"header length 100 is larger than the 2 bytes after the length field", "truncated"});
  add("length 0", le64(0), {"header length 0 is too small"});
  add("length 1", concat({le64(1), bytes_of("{")}), {"header length 1 is too small"});
  add("length cuts the JSON short", concat({le64(4), bytes_of("{\"a\":1}")}),
      {"header is not valid JSON", "unexpected end of input"});
  // --- the JSON text ------------------------------------------------------------------------
  add("header is an array", st_file("[1,2,3]", {}), {"header does not start with '{'"});
  add("header starts with a space", st_file(" {}     ", {}), {"does not start with '{'"});
  add("header starts with a BOM", st_file("\xEF\xBB\xBF{}", {}), {"does not start with '{'"});
  add("truncated JSON", st_file("{\"w\":{\"dtype\":", data(8)),
      {"header is not valid JSON", "unexpected end of input, expected a value", "header byte 14", "file offset 22"});
  add("single quotes", st_file("{'w':1}", {}), {"not valid JSON", "unexpected '''", "header byte 1"});
  add("trailing comma", st_file(hdr(kW + ","), data(8)), {"not valid JSON", "expected a string key"});
  add("invalid UTF-8 in a name", st_file(hdr(entry("w\xFF", "F32", "[2]", "[0,8]")), data(8)),
      {"not valid JSON", "invalid UTF-8 (byte 0xFF)", "header byte 3"});
  add("overlong UTF-8", st_file(hdr(entry("\xC0\xAF", "F32", "[2]", "[0,8]")), data(8)), {"invalid UTF-8"});
  add("garbage after the object", st_file(hdr(kW) + " x", data(8)), {"not valid JSON", "after the JSON value"});
  add("NUL padding instead of spaces", st_file(hdr(kW) + std::string(3, '\0'), data(8)),
      {"unexpected byte 0x00 after the JSON value"});
  add("nested 100000 deep", st_file("{\"w\":" + std::string(100000, '['), {}), {"nesting deeper than 128"});
  add("duplicate field in an entry",
      st_file(hdr("\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), data(8)),
      {"not valid JSON", "duplicate key \"dtype\""});
  add("NaN in a shape", st_file(hdr(entry("w", "F32", "[NaN]", "[0,8]")), data(8)), {"not valid JSON", "'N'"});
  // --- tensor entries -----------------------------------------------------------------------
  add("entry is not an object", st_file(hdr("\"w\":[1,2]"), {}),
      {"tensor \"w\"", "expected an object with dtype, shape and data_offsets, got array"});
  add("missing dtype", st_file(hdr("\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}"), data(8)),
      {"tensor \"w\"", "missing \"dtype\""});
  add("missing shape", st_file(hdr("\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"), data(8)),
      {"tensor \"w\"", "missing \"shape\""});
  add("missing data_offsets", st_file(hdr("\"w\":{\"dtype\":\"F32\",\"shape\":[2]}"), data(8)),
      {"tensor \"w\"", "missing \"data_offsets\""});
  add("unknown field", st_file(hdr("\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"offsets\":1}"), data(8)),
      {"tensor \"w\"", "unknown field \"offsets\""});
  add("dtype is a number", st_file(hdr("\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}"), data(8)),
      {"tensor \"w\"", "dtype must be a string, got integer"});
  add("unknown dtype", st_file(hdr(entry("w", "Q7", "[2]", "[0,8]")), data(8)), {"tensor \"w\"", "unknown dtype \"Q7\""});
  add("lower-case dtype", st_file(hdr(entry("w", "f32", "[2]", "[0,8]")), data(8)), {"unknown dtype \"f32\""});
  add("I16 not supported", st_file(hdr(entry("h", "I16", "[4]", "[0,8]")), data(8)),
      {"tensor \"h\"", "dtype I16 is not supported", "F32, F64, BF16, F16, I64, U8 and BOOL"});
  add("F8 not supported", st_file(hdr(entry("h", "F8_E4M3", "[8]", "[0,8]")), data(8)), {"dtype F8_E4M3 is not supported"});
  add("I32 not supported", st_file(hdr(entry("h", "I32", "[2]", "[0,8]")), data(8)), {"dtype I32 is not supported"});
  add("shape is a number", st_file(hdr(entry("w", "F32", "2", "[0,8]")), data(8)),
      {"tensor \"w\"", "shape must be an array, got integer"});
  add("negative dimension", st_file(hdr(entry("w", "F32", "[2,-2]", "[0,8]")), data(8)),
      {"tensor \"w\"", "shape entry 1 is -2; expected a non-negative integer"});
  add("fractional dimension", st_file(hdr(entry("w", "F32", "[2.0]", "[0,8]")), data(8)),
      {"tensor \"w\"", "shape entry 0 is 2.0"});
  add("exponent dimension", st_file(hdr(entry("w", "F32", "[2e0]", "[0,8]")), data(8)), {"shape entry 0 is 2.0"});
  add("string dimension", st_file(hdr(entry("w", "F32", "[\"2\"]", "[0,8]")), data(8)),
      {"shape entry 0 is a string; expected a non-negative integer"});
  add("dimension past int64", st_file(hdr(entry("w", "F32", "[9223372036854775808]", "[0,8]")), data(8)),
      {"tensor \"w\"", "shape entry 0 is 9223372036854775808.0", "below 2^63"});
  add("element count overflows", st_file(hdr(entry("w", "F32", "[4294967296,4294967296,4294967296]", "[0,8]")), data(8)),
      {"tensor \"w\"", "shape [4294967296, 4294967296, 4294967296] is too large", "overflows"});
  add("byte count overflows", st_file(hdr(entry("w", "F64", "[2305843009213693952]", "[0,8]")), data(8)),
      {"tensor \"w\"", "is too large"});
  add("zero-size but strides overflow", st_file(hdr(entry("w", "F32", "[0,4294967296,4294967296]", "[0,0]")), {}),
      {"tensor \"w\"", "is too large"});
  add("wrong byte count", st_file(hdr(entry("w", "F32", "[3]", "[0,8]")), data(8)),
      {"tensor \"w\"", "dtype F32 and shape [3] need 12 bytes, but data_offsets [0, 8] span 8"});
  add("data_offsets has 3 elements", st_file(hdr(entry("w", "F32", "[2]", "[0,4,8]")), data(8)),
      {"tensor \"w\"", "data_offsets must be an array [begin, end], got 3 elements"});
  add("data_offsets is a string", st_file(hdr(entry("w", "F32", "[2]", "\"0-8\"")), data(8)),
      {"data_offsets must be an array [begin, end], got string"});
  add("negative offset", st_file(hdr(entry("w", "F32", "[2]", "[-8,0]")), data(8)),
      {"tensor \"w\"", "data_offsets begin is -8"});
  add("huge offset", st_file(hdr(entry("w", "F32", "[2]", "[0,1e30]")), data(8)),
      {"tensor \"w\"", "data_offsets end is 1e+30"});
  add("end before begin", st_file(hdr(entry("w", "F32", "[0]", "[8,0]")), data(8)),
      {"tensor \"w\"", "data_offsets [8, 0] end before they begin"});
  add("offsets past end of file", st_file(hdr(entry("w", "F32", "[4]", "[0,16]")), data(8)),
      {"tensor \"w\"", "data_offsets [0, 16] reach past the end of the data area (8 bytes)"});
  add("file truncated in the data", st_file(hdr(kW), data(5)),
      {"tensor \"w\"", "reach past the end of the data area (5 bytes)"});
  // --- layout of the data area --------------------------------------------------------------
  add("overlapping tensors",
      st_file(hdr(entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]")), data(12)),
      {"tensor \"b\" at data_offsets [4, 12] overlaps tensor \"a\" at [0, 8]"});
  add("two tensors on one region",
      st_file(hdr(entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "I64", "[1]", "[0,8]")), data(8)),
      {"overlaps"});
  add("zero-size tensor inside another",
      st_file(hdr(entry("a", "F32", "[2]", "[0,8]") + "," + entry("z", "F32", "[0]", "[4,4]")), data(8)),
      {"tensor \"z\"", "overlaps tensor \"a\""});
  add("gap before the first tensor", st_file(hdr(entry("a", "F32", "[2]", "[4,12]")), data(12)),
      {"gap of 4 unused bytes in the data area before tensor \"a\" at data_offsets [4, 12]"});
  add("gap between tensors",
      st_file(hdr(entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]")), data(12)),
      {"gap of 4 unused bytes", "before tensor \"b\"", "previous tensor \"a\" ends at 4"});
  add("trailing bytes", st_file(hdr(kW), data(11)),
      {"3 unused trailing bytes after the last tensor (data area is 11 bytes, tensors end at 8)"});
  add("data but no tensors", st_file("{}      ", data(8)), {"8 unused trailing bytes"});
  add("duplicate tensor name", st_file(hdr(entry("w", "F32", "[1]", "[0,4]") + "," + entry("w", "F32", "[1]", "[4,8]")), data(8)),
      {"duplicate tensor name \"w\""});
  // --- __metadata__ -------------------------------------------------------------------------
  add("metadata is a string", st_file(hdr("\"__metadata__\":\"x\"," + kW), data(8)),
      {"__metadata__ must be an object mapping strings to strings, got string"});
  add("metadata value is a number", st_file(hdr("\"__metadata__\":{\"epoch\":3}," + kW), data(8)),
      {"__metadata__ key \"epoch\" has a non-string value (integer)"});
  add("metadata value is an object", st_file(hdr("\"__metadata__\":{\"k\":{}}," + kW), data(8)),
      {"__metadata__ key \"k\"", "(object)"});
  add("duplicate __metadata__", st_file(hdr("\"__metadata__\":{},\"__metadata__\":{}," + kW), data(8)),
      {"duplicate key \"__metadata__\""});
  return c;
}

}  // namespace

TEST(SafetensorsMalformed, EveryCaseIsRefusedWithItsOwnMessage) {
  ScratchDir dir;
  std::vector<Case> all = cases();
  EXPECT_GE(all.size(), 40u);
  for (const Case& c : all) {
    SCOPED_TRACE(c.name);
    std::string mem = error_of([&] { parse_safetensors(c.file.data(), c.file.size(), "case.safetensors"); });
    EXPECT_EQ(mem.rfind("[safetensors] 'case.safetensors': ", 0), 0u) << mem;
    expect_contains(mem, c.expect);

    std::string path = dir.file("case.safetensors");
    write_file(path, c.file);
    std::string disk = error_of([&] { load_safetensors(path); });
    EXPECT_EQ(disk.rfind("[safetensors] '" + path + "': ", 0), 0u) << disk;
    expect_contains(disk, c.expect);
  }
}

TEST(SafetensorsMalformed, ValidBaseFileLoads) {
  // The cases above differ from this file in one respect each.
  Bytes ok = st_file(hdr(kW), data(8));
  EXPECT_EQ(parse_safetensors(ok.data(), ok.size(), "ok").tensors.at("w").numel(), 2);
}

TEST(SafetensorsMalformed, MissingOrUnreadableFile) {
  ScratchDir dir;
  std::string missing = dir.file("nope.safetensors");
  expect_contains(error_of([&] { load_safetensors(missing); }), {missing, "file not found"});
  expect_contains(error_of([&] { load_safetensors(dir.path().string()); }), {"is a directory", "not a regular file"});
  // Checked before the open, which would block on a FIFO until a writer came (forever).
  std::string fifo = dir.file("pipe.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_contains(error_of([&] { load_safetensors(fifo); }), {fifo, "FIFO", "not a regular file"});
  expect_contains(error_of([&] { load_safetensors("/dev/zero"); }), {"/dev/zero", "character device"});
}

TEST(SafetensorsMalformed, EveryTruncationIsRefused) {
  ScratchDir dir;
  std::string path = dir.file("t.safetensors");
  nabla::io::save_safetensors({{"a", tensor_of<float>({3, 5}, std::vector<float>(15, 1.f))},
                               {"b", tensor_of<int64_t>({4}, {1, 2, 3, 4})},
                               {"c", tensor_of<uint8_t>({7}, {1, 2, 3, 4, 5, 6, 7})}},
                              path, {{"note", "truncate me"}});
  Bytes full = read_file(path);
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + long(n));
    EXPECT_THROW(parse_safetensors(cut.data(), cut.size(), "cut"), nabla::Error) << "length " << n;
  }
  EXPECT_NO_THROW(parse_safetensors(full.data(), full.size(), "full"));
}
