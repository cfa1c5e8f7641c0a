// safetensors "BOOL" tensors (nabla's kBool): written as the reference writer lays them out
// (its Dtype enum puts BOOL first, so its data goes last when sorted widest first), read back,
// read from a hand-built file, and a byte other than 0 or 1 refused.
#include <gtest/gtest.h>

#include "io_test_util.h"
#include "nabla/io/safetensors.h"

using namespace nabla;
using namespace io_test;
using nabla::io::load_safetensors;
using nabla::io::parse_safetensors;
using nabla::io::save_safetensors;

namespace {

TEST(SafetensorsBool, RoundTripsAndComesLastInTheLayout) {
  ScratchDir dir;
  io::TensorMap m;
  m["a_mask"] = from_vector({true, false, false, true, true}, {5});
  m["b_u8"] = tensor_of<uint8_t>({3}, {1, 2, 3});
  m["c_f32"] = tensor_of<float>({1}, {1.f});
  m["d_scalar_mask"] = from_vector({true}, {});
  save_safetensors(m, dir.file("b.safetensors"));
  Bytes b = read_file(dir.file("b.safetensors"));
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | b[size_t(k)];
  std::string header(b.begin() + 8, b.begin() + 8 + long(n));
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"c_f32":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b_u8":{"dtype":"U8","shape":[3],"data_offsets":[4,7]},)"
            R"("a_mask":{"dtype":"BOOL","shape":[5],"data_offsets":[7,12]},)"
            R"("d_scalar_mask":{"dtype":"BOOL","shape":[],"data_offsets":[12,13]}})");
  // The data bytes: f32 1.0, the u8s, then the masks as 0/1 bytes.
  EXPECT_EQ(Bytes(b.begin() + 8 + long(n), b.end()), concat({raw<float>({1.f}), Bytes{1, 2, 3, 1, 0, 0, 1, 1, 1}}));
  io::TensorMap back = load_safetensors(dir.file("b.safetensors")).tensors;
  ASSERT_EQ(back.at("a_mask").dtype(), kBool);
  EXPECT_EQ(back.at("a_mask").to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1, 1}));
  EXPECT_EQ(back.at("d_scalar_mask").dtype(), kBool);
  EXPECT_TRUE(back.at("d_scalar_mask").item<bool>());
  EXPECT_EQ(back.at("b_u8").dtype(), kU8);
}

TEST(SafetensorsBool, ReadsAHandBuiltFile) {
  // As Python's safetensors.torch.save_file({"m": torch.tensor([[True, False], [False, True]])}).
  const std::string header = R"({"m":{"dtype":"BOOL","shape":[2,2],"data_offsets":[0,4]}})";
  Bytes file = st_file(header, Bytes{1, 0, 0, 1});
  io::SafetensorsFile f = parse_safetensors(file.data(), file.size(), "hand");
  const Tensor& t = f.tensors.at("m");
  EXPECT_EQ(t.dtype(), kBool);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1}));
  // Used as a mask straight away.
  EXPECT_EQ(masked_fill(zeros({2, 2}), t, 5.0).to_vector<double>(), (std::vector<double>{5, 0, 0, 5}));
}

TEST(SafetensorsBool, RefusesBytesOtherThanZeroAndOne) {
  ScratchDir dir;
  const std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  Bytes file = st_file(header, Bytes{1, 2, 0});
  expect_contains(error_of([&] { parse_safetensors(file.data(), file.size(), "bad"); }),
                  {"'bad'", "tensor \"m\"", "BOOL element 1 is byte 2", "expected 0 or 1"});
  write_file(dir.file("bad.safetensors"), file);
  expect_contains(error_of([&] { load_safetensors(dir.file("bad.safetensors")); }), {"BOOL element 1 is byte 2"});
}

}  // namespace
