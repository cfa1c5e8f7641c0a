#include "nabla/data/idx.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "file_bytes.h"

namespace nabla::data {

namespace {

std::vector<uint8_t> read_all(const std::string& path) { return internal::read_file_bytes(path, "read_idx"); }

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"}) {
    auto p = std::filesystem::path(dir) / name;
    if (std::filesystem::exists(p)) return p.string();
  }
  fail("[load_mnist] ", dir, ": neither ", stem, " nor ", stem, ".gz found (install the Debian package "
       "dataset-fashion-mnist, or point to a folder with MNIST-format files)");
}

}  // namespace

Tensor read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = read_all(path);
  NB_CHECK(bytes.size() >= 4, "[read_idx] ", path, ": file is ", bytes.size(), " bytes, too short for an IDX header");
  NB_CHECK(bytes[0] == 0 && bytes[1] == 0, "[read_idx] ", path, ": bad magic number (first bytes ", int(bytes[0]), " ",
           int(bytes[1]), ", expected 0 0): not an IDX file");
  NB_CHECK(bytes[2] == 0x08, "[read_idx] ", path, ": element type code ", int(bytes[2]),
           " is not supported (only 0x08, unsigned byte)");
  int ndim = bytes[3];
  NB_CHECK(ndim >= 1 && ndim <= 4, "[read_idx] ", path, ": ", ndim, " dimensions in the header, expected 1 to 4");
  size_t header = 4 + 4 * size_t(ndim);
  NB_CHECK(bytes.size() >= header, "[read_idx] ", path, ": truncated header");
  Shape shape;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    uint32_t s = be32(&bytes[4 + 4 * size_t(d)]);
    shape.push_back(int64_t(s));
    // Checked before multiplying: [2^20, 2^20, 2^24] wrapped to 0 and failed later without the path.
    constexpr uint64_t kLimit = uint64_t(1) << 40;
    NB_CHECK(s == 0 || count <= kLimit / s, "[read_idx] ", path, ": header sizes ", shape, " are implausibly large");
    count *= s;
  }
  size_t have = bytes.size() - header;
  NB_CHECK(have >= count, "[read_idx] ", path, ": truncated data: header ", shape, " needs ", count, " bytes, file has ",
           have);
  NB_CHECK(have == count, "[read_idx] ", path, ": ", have - count, " bytes of trailing data after the ", shape,
           " array");
  Tensor t = empty(shape, {.dtype = DType::u8});
  if (count) std::memcpy(t.raw_data(), bytes.data() + header, count);
  return t;
}

ImageSet load_mnist(const std::string& dir, bool train, int64_t num_classes) {
  std::string split = train ? "train" : "t10k";
  std::string img_path = find_file(dir, split + "-images-idx3-ubyte");
  std::string lbl_path = find_file(dir, split + "-labels-idx1-ubyte");
  Tensor images = read_idx(img_path);
  Tensor raw = read_idx(lbl_path);
  NB_CHECK(images.dim() == 3, "[load_mnist] ", img_path, ": expected 3 dimensions [N, rows, cols], got ",
           images.shape());
  NB_CHECK(raw.dim() == 1, "[load_mnist] ", lbl_path, ": expected 1 dimension [N], got ", raw.shape());
  NB_CHECK(raw.size(0) == images.size(0), "[load_mnist] ", lbl_path, " has ", raw.size(0), " labels but ", img_path,
           " has ", images.size(0), " images");
  Tensor labels = empty({raw.size(0)}, {.dtype = DType::i64});
  const uint8_t* src = raw.data_ptr<uint8_t>();
  int64_t* dst = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < raw.size(0); ++i) {
    NB_CHECK(src[i] < num_classes, "[load_mnist] ", lbl_path, ": label ", int(src[i]), " at index ", i,
             " is out of range for ", num_classes, " classes");
    dst[i] = src[i];
  }
  return {images, labels};
}

}  // namespace nabla::data
