// Helpers shared by the trainer and CLI tests: a scratch folder, a small learnable data set
// in MNIST (IDX) format, file helpers and bit-exact tensor comparison.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "nabla/io/safetensors.h"
#include "nabla/nabla.h"

namespace train_test {

namespace fs = std::filesystem;

using nabla_test::TempDir;

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l)) out.push_back(l);
  return out;
}
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}

/// IDX bytes: magic 0 0 8 ndim, big-endian sizes, then `data`.
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 0x08, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}
inline void write_plain(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}
inline void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

/// Ten synthetic classes that a small MLP learns in a few epochs: class k is a bright 6x6
/// square at one of ten positions (2 rows x 5 columns), jittered by up to 1 pixel, on a
/// noisy background. Classes are uniform random; 10% of the labels are then redrawn at random
/// (label noise), so that no model is perfect and the metrics vary between epochs (accuracy
/// tops out near 0.91). Fully deterministic (raw mt19937 draws).
struct SyntheticSet {
  std::vector<uint8_t> images;  ///< n * 28 * 28
  std::vector<uint8_t> labels;
};
inline SyntheticSet make_synthetic(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  SyntheticSet s;
  s.images.assign(size_t(n) * 784, 0);
  s.labels.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    uint8_t k = uint8_t(rng() % 10);
    s.labels[size_t(i)] = k;
    uint8_t* img = &s.images[size_t(i) * 784];
    for (int p = 0; p < 784; ++p) img[p] = uint8_t(rng() % 70);
    int y0 = 4 + 12 * (k / 5) + int(rng() % 3) - 1, x0 = 1 + 5 * (k % 5) + int(rng() % 3) - 1;
    for (int y = y0; y < y0 + 6; ++y)
      for (int x = x0; x < x0 + 6; ++x)
        if (y >= 0 && y < 28 && x >= 0 && x < 28) img[y * 28 + x] = uint8_t(190 + rng() % 66);
    if (rng() % 10 == 0) s.labels[size_t(i)] = uint8_t(rng() % 10);
  }
  return s;
}

/// Writes the four MNIST files into `dir`: train images gzip-compressed, the rest plain
/// (the reader accepts both; `nabla predict` is pointed at the plain test images).
inline void write_synthetic_mnist(const std::string& dir, int64_t n_train = 1000, int64_t n_test = 300) {
  fs::create_directories(dir);
  SyntheticSet tr = make_synthetic(n_train, 1234), te = make_synthetic(n_test, 5678);
  write_gzip(dir + "/train-images-idx3-ubyte.gz", idx_bytes({uint32_t(n_train), 28, 28}, tr.images));
  write_plain(dir + "/train-labels-idx1-ubyte", idx_bytes({uint32_t(n_train)}, tr.labels));
  write_plain(dir + "/t10k-images-idx3-ubyte", idx_bytes({uint32_t(n_test), 28, 28}, te.images));
  write_plain(dir + "/t10k-labels-idx1-ubyte", idx_bytes({uint32_t(n_test)}, te.labels));
}

/// The synthetic data set, written once per test process (removed at exit).
inline const std::string& synthetic_data_dir() {
  static TempDir dir("data");
  static const std::string path = [] {
    write_synthetic_mnist(dir.str());
    return dir.str();
  }();
  return path;
}

/// Raw bytes of a tensor, for bit-exact comparisons.
inline std::vector<uint8_t> raw(const nabla::Tensor& t) {
  nabla::Tensor c = t.contiguous();
  auto* p = static_cast<const uint8_t*>(c.raw_data());
  return std::vector<uint8_t>(p, p + size_t(c.numel()) * nabla::dtype_size(c.dtype()));
}

/// Names of tensors (with `prefix`) that differ between two maps in shape, dtype or any bit;
/// keys present in only one map count as differing.
inline std::vector<std::string> differing_tensors(const nabla::io::TensorMap& a, const nabla::io::TensorMap& b,
                                                  const std::string& prefix = "") {
  std::vector<std::string> diff;
  for (const auto& [k, v] : a) {
    if (k.rfind(prefix, 0) != 0) continue;
    auto it = b.find(k);
    if (it == b.end() || it->second.shape() != v.shape() || it->second.dtype() != v.dtype() ||
        raw(it->second) != raw(v))
      diff.push_back(k);
  }
  for (const auto& [k, v] : b)
    if (k.rfind(prefix, 0) == 0 && !a.count(k)) diff.push_back(k);
  return diff;
}
inline size_t count_prefixed(const nabla::io::TensorMap& m, const std::string& prefix) {
  size_t n = 0;
  for (const auto& [k, v] : m) n += k.rfind(prefix, 0) == 0;
  return n;
}

/// metrics.csv without its two measured columns (seconds, peak_memory_mb), which differ between
/// equal runs.
inline std::vector<std::string> metrics_rows_without_seconds(const std::string& csv_path) {
  std::vector<std::string> rows;
  for (const std::string& l : lines_of(read_text(csv_path))) {
    auto last = l.rfind(',');
    auto cut = last == std::string::npos || last == 0 ? std::string::npos : l.rfind(',', last - 1);
    rows.push_back(cut == std::string::npos ? l : l.substr(0, cut));
  }
  return rows;
}

inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

}  // namespace train_test
