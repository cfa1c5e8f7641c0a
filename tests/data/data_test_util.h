// Helpers shared by the data tests: error-message checks, a scratch folder, file writers and a
// timeout guard so a hung loader fails the test instead of blocking the suite.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nabla/data.h"
#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "common/within.h"
#include "nabla/nabla.h"

namespace data_test {

using nabla_test::error_of;
using nabla_test::expect_contains;

using nabla_test::TempDir;

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}
inline void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}
inline void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  }
  gzclose(f);
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// IDX bytes: magic 0 0 8 ndim, big-endian sizes, then `data`.
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 0x08, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

/// nabla_test::within for data loader calls.
template <typename F>
void within(std::chrono::seconds limit, F f) {
  nabla_test::within(limit, "the data loader", std::move(f));
}

/// Raw bytes of a contiguous tensor, for bit-exact comparisons.
inline std::vector<uint8_t> raw(const nabla::Tensor& t) {
  nabla::Tensor c = t.contiguous();
  auto* p = static_cast<const uint8_t*>(c.raw_data());
  return std::vector<uint8_t>(p, p + size_t(c.numel()) * nabla::dtype_size(c.dtype()));
}

}  // namespace data_test

