// Readers for the IDX format of MNIST / Fashion-MNIST (plain or gzip-compressed).
#pragma once
#include <string>

#include "nabla/tensor.h"

namespace nabla::data {

/// Reads an IDX file (plain or .gz) holding unsigned bytes into a u8 tensor of its shape.
/// Errors name the file and what is wrong (missing, bad magic, truncated, trailing data).
Tensor read_idx(const std::string& path);

/// One split of an MNIST-format data set.
struct ImageSet {
  Tensor images;  ///< u8 [N, 28, 28]
  Tensor labels;  ///< i64 [N]
};

/// Loads `train` or `t10k` images and labels from `dir` (files `<split>-images-idx3-ubyte[.gz]`
/// and `<split>-labels-idx1-ubyte[.gz]`), checking that counts match and labels are < num_classes.
ImageSet load_mnist(const std::string& dir, bool train, int64_t num_classes = 10);

/// The Debian package `dataset-fashion-mnist` installs here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace nabla::data
