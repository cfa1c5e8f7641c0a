// safetensors: save/load round trips and byte-exact layout against the reference writer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io_test_util.h"
#include "nabla/io/json.h"
#include "nabla/io/safetensors.h"

using namespace nabla;
using namespace io_test;
using nabla::io::load_safetensors;
using nabla::io::parse_safetensors;
using nabla::io::save_safetensors;

namespace {

// Loaded tensors must equal the originals bit for bit (logical, row-major).
void expect_same(const io::TensorMap& expected, const io::TensorMap& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, t] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    const Tensor& u = it->second;
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    EXPECT_EQ(u.shape(), t.shape()) << name;
    // (core's is_contiguous() says false for some zero-size shapes such as [3, 0, 2])
    if (u.numel() > 0) {
      EXPECT_TRUE(u.is_contiguous()) << name;
    }
    EXPECT_EQ(u.strides(), contiguous_strides(u.shape())) << name;
    EXPECT_EQ(logical_bytes(u), logical_bytes(t)) << name;
  }
}

io::TensorMap every_dtype() {
  io::TensorMap m;
  m["f32"] = tensor_of<float>({2, 3}, {1.5f, -2.f, 3.25f, 0.f, -0.f, 1e-30f});
  m["f64"] = tensor_of<double>({3}, {3.141592653589793, -1e300, 5e-324});
  m["i64"] = tensor_of<int64_t>({2, 2}, {INT64_MIN, -1, 0, INT64_MAX});
  m["u8"] = tensor_of<uint8_t>({5}, {0, 1, 127, 128, 255});
  // 16-bit floats: their bit patterns (a NaN with a payload, -0, a subnormal) must survive.
  m["f16"] = tensor_of<Half>({4}, {Half::from_bits(0x3c00), Half::from_bits(0x8000), Half::from_bits(0x0001),
                                   Half::from_bits(0x7e01)});
  m["bf16"] = tensor_of<BFloat16>({2}, {BFloat16::from_bits(0x3f80), BFloat16::from_bits(0xff81)});
  m["scalar_f32"] = tensor_of<float>({}, {42.f});
  m["scalar_i64"] = tensor_of<int64_t>({}, {-7});
  m["empty_f64"] = tensor_of<double>({0}, {});
  m["empty_u8"] = tensor_of<uint8_t>({3, 0, 2}, {});
  m["nan_inf"] = tensor_of<float>({3}, {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                         -std::numeric_limits<float>::infinity()});
  return m;
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDtypeThroughAFile) {
  ScratchDir dir;
  io::TensorMap m = every_dtype();
  save_safetensors(m, dir.file("all.safetensors"));
  io::SafetensorsFile f = load_safetensors(dir.file("all.safetensors"));
  expect_same(m, f.tensors);
  EXPECT_TRUE(f.metadata.empty());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"});  // no temp file left
}

TEST(Safetensors, RoundTripsThroughMemory) {
  ScratchDir dir;
  io::TensorMap m = every_dtype();
  save_safetensors(m, dir.file("m.safetensors"));
  Bytes b = read_file(dir.file("m.safetensors"));
  expect_same(m, parse_safetensors(b.data(), b.size(), "m").tensors);
}

TEST(Safetensors, NonContiguousInputIsStoredAsLogicalData) {
  ScratchDir dir;
  Tensor base = tensor_of<float>({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor big = tensor_of<int64_t>({2, 3, 4}, std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                                                   15, 16, 17, 18, 19, 20, 21, 22, 23});
  io::TensorMap m;
  m["transposed"] = base.t();                          // strides [1, 4]
  m["sliced"] = base.slice(1, 0, 4, 2);                // every other column
  m["row_of_slice"] = base.slice(0, 1, 3).slice(1, 1, 3);  // offset view, contiguous rows
  m["permuted"] = big.permute({2, 0, 1});
  m["expanded"] = tensor_of<double>({1, 3}, {1, 2, 3}).expand({2, 3});  // stride 0
  m["selected"] = big.select(2, 1);
  for (const auto& [name, t] : m) {
    if (name == "row_of_slice") continue;
    EXPECT_FALSE(t.is_contiguous()) << name;
  }
  save_safetensors(m, dir.file("v.safetensors"));
  io::SafetensorsFile f = load_safetensors(dir.file("v.safetensors"));
  expect_same(m, f.tensors);
  EXPECT_EQ(f.tensors.at("transposed").to_vector<float>(),
            (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_EQ(f.tensors.at("sliced").to_vector<float>(), (std::vector<float>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(f.tensors.at("expanded").to_vector<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
}

TEST(Safetensors, MetadataRoundTrips) {
  ScratchDir dir;
  io::Metadata meta = {{"format", "pt"},
                       {"epoch", "12"},
                       {"", "empty key"},
                       {"quotes\"and\\slashes", "line\nbreak\ttab \x01"},
                       {"unicode \xE2\x82\xAC", "\xF0\x9F\x98\x80"}};
  io::TensorMap m = {{"w", tensor_of<float>({1}, {1.f})}};
  save_safetensors(m, dir.file("meta.safetensors"), meta);
  io::SafetensorsFile f = load_safetensors(dir.file("meta.safetensors"));
  EXPECT_EQ(f.metadata, meta);
  expect_same(m, f.tensors);
  // Metadata with no tensors at all is a valid file too.
  save_safetensors({}, dir.file("only_meta.safetensors"), {{"k", "v"}});
  io::SafetensorsFile g = load_safetensors(dir.file("only_meta.safetensors"));
  EXPECT_TRUE(g.tensors.empty());
  EXPECT_EQ(g.metadata, (io::Metadata{{"k", "v"}}));
}

// The expected bytes are built by hand from the format description (8-byte little-endian
// header length, JSON header padded with spaces to a multiple of 8, raw little-endian data);
// they equal the vectors in huggingface/safetensors' own tests (test_serialization,
// test_serialization_forced_alignement, test_empty), so a file we write is one its writer
// would write.
TEST(Safetensors, ByteExactAgainstHandBuiltFile) {
  ScratchDir dir;
  Tensor t = tensor_of<float>({1, 2, 3}, {0, 1, 2, 3, 4, 5});
  save_safetensors({{"attn.0", t}}, dir.file("a.safetensors"));
  std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);  // already a multiple of 8: no padding
  Bytes expected = concat({Bytes{64, 0, 0, 0, 0, 0, 0, 0}, bytes_of(header),
                           Bytes{0, 0, 0, 0, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40,
                                 0, 0, 0xA0, 0x40}});  // 0.0f .. 5.0f little-endian
  EXPECT_EQ(read_file(dir.file("a.safetensors")), expected);

  // A 65-byte header gets 7 spaces so the data starts 8-byte aligned.
  save_safetensors({{"attn0", t.reshape({1, 1, 2, 3})}}, dir.file("b.safetensors"));
  std::string header_b = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header_b.size(), 65u);
  Bytes got = read_file(dir.file("b.safetensors"));
  Bytes expected_b = concat({le64(72), bytes_of(header_b + std::string(7, ' ')), raw<float>({0, 1, 2, 3, 4, 5})});
  EXPECT_EQ(got, expected_b);

  save_safetensors({}, dir.file("empty.safetensors"));
  EXPECT_EQ(read_file(dir.file("empty.safetensors")), concat({le64(8), bytes_of("{}      ")}));
  save_safetensors({}, dir.file("meta.safetensors"), {{"framework", "pt"}});
  EXPECT_EQ(read_file(dir.file("meta.safetensors")),
            concat({le64(40), bytes_of(R"({"__metadata__":{"framework":"pt"}}     )")}));
}

TEST(Safetensors, LayoutOrdersByDtypeWidthThenName) {
  ScratchDir dir;
  io::TensorMap m;
  m["a_u8"] = tensor_of<uint8_t>({3}, {1, 2, 3});  // odd size: would misalign what follows
  m["b_f32"] = tensor_of<float>({1}, {1.f});
  m["c_f64"] = tensor_of<double>({1}, {2.0});
  m["d_i64"] = tensor_of<int64_t>({1}, {3});
  m["e_f32"] = tensor_of<float>({2}, {4.f, 5.f});
  m["f_bf16"] = tensor_of<BFloat16>({1}, {BFloat16(1.0f)});
  m["g_f16"] = tensor_of<Half>({1}, {Half(1.0f)});
  save_safetensors(m, dir.file("o.safetensors"), {{"k", "v"}});
  Bytes b = read_file(dir.file("o.safetensors"));
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | b[size_t(k)];
  EXPECT_EQ(n % 8, 0u);
  std::string header(b.begin() + 8, b.begin() + 8 + long(n));
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"__metadata__":{"k":"v"},)"
            R"("d_i64":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
            R"("c_f64":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
            R"("b_f32":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},)"
            R"("e_f32":{"dtype":"F32","shape":[2],"data_offsets":[20,28]},)"
            R"("f_bf16":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]},)"
            R"("g_f16":{"dtype":"F16","shape":[1],"data_offsets":[30,32]},)"
            R"("a_u8":{"dtype":"U8","shape":[3],"data_offsets":[32,35]}})");
  EXPECT_EQ(b.size(), 8 + n + 35);
  expect_same(m, load_safetensors(dir.file("o.safetensors")).tensors);
}

TEST(Safetensors, ReadsFilesWithAnyTensorOrderInTheHeader) {
  // Other writers list tensors in any order and may use whitespace; only the tiling matters.
  std::string header = "{ \"b\" : {\"data_offsets\": [4, 8], \"shape\": [1], \"dtype\": \"F32\"},\n"
                       "  \"a\" : {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]} }";
  Bytes file = st_file(header, raw<float>({1.f, 2.f}));
  io::SafetensorsFile f = parse_safetensors(file.data(), file.size(), "x");
  EXPECT_EQ(f.tensors.at("a").item<float>(), 1.f);
  EXPECT_EQ(f.tensors.at("a").dim(), 0);
  EXPECT_EQ(f.tensors.at("b").to_vector<float>(), std::vector<float>{2.f});
}

TEST(Safetensors, ManyTensorsAndSharedZeroSizeOffsets) {
  ScratchDir dir;
  io::TensorMap m;
  for (int k = 0; k < 1500; ++k) {
    std::string name = "layer." + std::to_string(k) + ".weight";
    if (k % 3 == 0) m[name] = tensor_of<float>({0, 4}, {});  // several zero-size tensors at one offset
    else m[name] = tensor_of<int64_t>({2}, {k, -k});
  }
  save_safetensors(m, dir.file("many.safetensors"));
  expect_same(m, load_safetensors(dir.file("many.safetensors")).tensors);
}

TEST(Safetensors, OverwritesAnExistingFile) {
  ScratchDir dir;
  save_safetensors({{"a", tensor_of<float>({2}, {1, 2})}}, dir.file("w.safetensors"));
  save_safetensors({{"b", tensor_of<uint8_t>({1}, {9})}}, dir.file("w.safetensors"));
  io::SafetensorsFile f = load_safetensors(dir.file("w.safetensors"));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors.at("b").to_vector<int>(), std::vector<int>{9});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"w.safetensors"});
}

TEST(Safetensors, SaveRejectsBadInput) {
  ScratchDir dir;
  std::string p = dir.file("bad.safetensors");
  expect_contains(error_of([&] { save_safetensors({{"__metadata__", tensor_of<float>({1}, {1})}}, p); }),
                  {"save_safetensors", p, "\"__metadata__\" is reserved"});
  expect_contains(error_of([&] { save_safetensors({{"w", Tensor()}}, p); }), {p, "tensor \"w\" is undefined"});
  expect_contains(error_of([&] { save_safetensors({{"\xFF", tensor_of<float>({1}, {1})}}, p); }),
                  {p, "not valid UTF-8"});
  expect_contains(error_of([&] { save_safetensors({}, p, {{"k", "\xC3"}}); }), {p, "not valid UTF-8"});
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Safetensors, HeaderWithAHundredThousandTensors) {
  // Scale check for the streamed header (a million such tensors take about 2 s of CPU).
  std::string header = "{";
  for (int k = 0; k < 100000; ++k) {
    header += (k ? ",\"t" : "\"t") + std::to_string(k) + R"(":{"dtype":"U8","shape":[)" + (k == 99999 ? "4" : "0") +
              R"(],"data_offsets":[0,)" + (k == 99999 ? "4" : "0") + "]}";
  }
  header += "}";
  Bytes file = st_file(header, Bytes{1, 2, 3, 4});
  io::SafetensorsFile f = parse_safetensors(file.data(), file.size(), "big");
  ASSERT_EQ(f.tensors.size(), 100000u);
  EXPECT_EQ(f.tensors.at("t99999").to_vector<int>(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(f.tensors.at("t5").numel(), 0);
}
