// A folder of PNG/JPEG (and BMP, GIF, TGA, PNM) images with one sub-folder per class,
//   root/cat/001.png, root/cat/002.jpg, root/dog/xyz.png, ...
// Class indices follow the sorted sub-folder names. Images are decoded (stb_image) on get().
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/dataset.h"

namespace nabla::data {

/// Decodes an image file into f32 [C, H, W] in [0, 1]. channels: 1 (grey), 3 (RGB), 4 (RGBA),
/// or 0 to keep the file's own. Errors name the file and the decoder's reason.
Tensor load_image(const std::string& path, int channels = 0);

struct ImageFolderOptions {
  /// Channels of every example (1 grey, 3 RGB, 4 RGBA); 0 = those of the first image found.
  int channels = 0;
  /// When set (> 0), every image is resized (bilinear) to height x width; otherwise images
  /// must all have the size of the first one (checked on get(), naming the file).
  int64_t height = 0, width = 0;
  /// File extensions taken (lower case, compared case-insensitively); other files are skipped.
  std::vector<std::string> extensions = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm"};
};

class ImageFolder : public Dataset {
 public:
  /// Scans `root`. Errors: root missing or not a folder, no class sub-folders, a class folder
  /// with no images. The first image is decoded to fix channels and size.
  explicit ImageFolder(const std::string& root, ImageFolderOptions opts = {});
  int64_t size() const override { return int64_t(samples_.size()); }
  /// f32 [C, H, W] in [0, 1] and the class index.
  Example get(int64_t index) const override;

  const std::vector<std::string>& classes() const { return classes_; }
  /// (file path, class index) for every example, sorted by class then file name.
  const std::vector<std::pair<std::string, int64_t>>& samples() const { return samples_; }
  int channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 private:
  std::string root_;
  ImageFolderOptions opts_;
  std::vector<std::string> classes_;
  std::vector<std::pair<std::string, int64_t>> samples_;
  int channels_ = 0;
  int64_t height_ = 0, width_ = 0;
};

}  // namespace nabla::data
