// Helpers shared by the io tests: error-message checks, a scratch folder, and builders for
// raw safetensors bytes (so malformed files can be made byte by byte).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "nabla/nabla.h"

namespace io_test {

using nabla_test::error_of;
using nabla_test::expect_contains;

using ScratchDir = nabla_test::TempDir;

using Bytes = std::vector<uint8_t>;

inline Bytes le64(uint64_t v) {
  Bytes b(8);
  for (int k = 0; k < 8; ++k) b[k] = uint8_t(v >> (8 * k));
  return b;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

/// A safetensors file from a header text and a data area: [len(header)][header][data].
inline Bytes st_file(const std::string& header, const Bytes& data) {
  return concat({le64(header.size()), bytes_of(header), data});
}

template <typename T>
Bytes raw(std::initializer_list<T> values) {
  Bytes b(values.size() * sizeof(T));
  std::memcpy(b.data(), std::data(values), b.size());
  return b;
}

inline Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

/// Tensor from values with a shape, any dtype.
template <typename T>
nabla::Tensor tensor_of(const nabla::Shape& shape, const std::vector<T>& values) {
  nabla::Tensor t = nabla::empty(shape, {.dtype = nabla::dtype_of<T>::value});
  EXPECT_EQ(size_t(t.numel()), values.size());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

/// Row-major bytes of a tensor of any strides (via to_double_vector for the order).
inline Bytes logical_bytes(const nabla::Tensor& t) {
  nabla::Tensor c = t.contiguous();
  Bytes b(size_t(c.numel()) * nabla::dtype_size(c.dtype()));
  if (!b.empty()) std::memcpy(b.data(), c.raw_data(), b.size());
  return b;
}

}  // namespace io_test
