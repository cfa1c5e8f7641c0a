#include "nabla/data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "nabla/data/transforms.h"
#include "image_completeness.h"
#include "nabla/file.h"

namespace fs = std::filesystem;

namespace nabla::data {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads the file ourselves (so missing/empty files get our messages) and decodes from memory.
// stb_image keeps its failure reason in a thread-local, so workers do not mix them up.
Tensor decode(const std::string& path, int channels, const char* op) {
  std::vector<uint8_t> bytes;
  {
    // Plain read (no gzip): images are not compressed again.
    FileHandle file = open_regular_file(path, op);
    FILE* f = ::fdopen(file.get(), "rb");
    NB_CHECK(f != nullptr, "[", op, "] ", path, ": cannot open");
    file.release();  // fclose closes it now
    std::unique_ptr<FILE, int (*)(FILE*)> guard(f, std::fclose);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  }
  NB_CHECK(!bytes.empty(), "[", op, "] ", path, ": file is empty");
  NB_CHECK(bytes.size() < (size_t(1) << 31), "[", op, "] ", path, ": file is too large (", bytes.size(), " bytes)");
  internal::check_image_complete(bytes, path, op);
  int w = 0, h = 0, c = 0;
  uint8_t* px = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c, channels);
  if (px == nullptr) {
    const char* why = stbi_failure_reason();
    fail("[", op, "] ", path, ": cannot decode image (", why ? why : "unknown format",
         "): corrupt, truncated or not a PNG/JPEG/BMP/GIF/TGA/PNM file");
  }
  std::unique_ptr<uint8_t, void (*)(void*)> guard(px, stbi_image_free);
  NB_CHECK(w > 0 && h > 0, "[", op, "] ", path, ": the image is ", w, "x", h, " pixels; expected at least 1x1");
  int cc = channels ? channels : c;
  Tensor out = empty({cc, h, w}, {.dtype = DType::f32});
  float* dst = out.data_ptr<float>();
  int64_t plane = int64_t(h) * w;
  for (int64_t i = 0; i < plane; ++i)  // interleaved HWC -> planar CHW
    for (int k = 0; k < cc; ++k) dst[k * plane + i] = float(px[i * cc + k]) * (1.0f / 255.0f);
  return out;
}
}  // namespace

Tensor load_image(const std::string& path, int channels) {
  NB_CHECK(channels >= 0 && channels <= 4 && channels != 2, "[load_image] channels must be 0, 1, 3 or 4, got ",
           channels);
  return decode(path, channels, "load_image");
}

ImageFolder::ImageFolder(const std::string& root, ImageFolderOptions opts) : root_(root), opts_(std::move(opts)) {
  NB_CHECK(opts_.channels >= 0 && opts_.channels <= 4 && opts_.channels != 2,
           "[ImageFolder] channels must be 0, 1, 3 or 4, got ", opts_.channels);
  NB_CHECK((opts_.height > 0) == (opts_.width > 0) && opts_.height >= 0 && opts_.width >= 0,
           "[ImageFolder] set both height and width (> 0) to resize, or neither; got ", opts_.height, " x ",
           opts_.width);
  std::error_code ec;
  NB_CHECK(fs::exists(root, ec), "[ImageFolder] ", root, ": folder not found");
  NB_CHECK(fs::is_directory(root, ec), "[ImageFolder] ", root, ": is not a folder");
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string()[0] != '.') classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  NB_CHECK(!classes_.empty(), "[ImageFolder] ", root,
           ": no class sub-folders (expected root/<class>/<image> with one folder per class)");
  std::vector<std::string> exts;
  for (const auto& x : opts_.extensions) exts.push_back(lower(x));
  for (size_t k = 0; k < classes_.size(); ++k) {
    fs::path dir = fs::path(root) / classes_[k];
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::string ext = lower(e.path().extension().string());
      if (std::find(exts.begin(), exts.end(), ext) != exts.end()) files.push_back(e.path().string());
    }
    NB_CHECK(!files.empty(), "[ImageFolder] ", dir.string(), ": class folder '", classes_[k],
             "' has no image files (extensions taken: .png, .jpg, ...)");
    std::sort(files.begin(), files.end());
    for (auto& f : files) samples_.emplace_back(std::move(f), int64_t(k));
  }
  Tensor first = decode(samples_[0].first, opts_.channels, "ImageFolder");
  channels_ = int(first.size(0));
  height_ = opts_.height > 0 ? opts_.height : first.size(1);
  width_ = opts_.width > 0 ? opts_.width : first.size(2);
}

Example ImageFolder::get(int64_t index) const {
  NB_CHECK(index >= 0 && index < size(), "[ImageFolder] index ", index, " is out of range for ", size(), " images");
  const auto& [path, label] = samples_[size_t(index)];
  Tensor img = decode(path, channels_, "ImageFolder");
  if (img.size(1) != height_ || img.size(2) != width_) {
    NB_CHECK(opts_.height > 0, "[ImageFolder] ", path, ": image is ", img.size(1), " x ", img.size(2), " but ",
             samples_[0].first, " is ", height_, " x ", width_,
             " (set ImageFolderOptions height and width to resize every image)");
    img = resize(img, height_, width_);
  }
  return {img, label};
}

}  // namespace nabla::data
