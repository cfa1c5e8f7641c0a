// The image plumbing shared by the transforms (transforms.cpp) and the photometric and
// auto-augmentation ops (photometric.cpp, auto_augment.cpp): images are f32 CPU tensors
// [C, H, W] or [H, W], worked on with plain loops.
#pragma once
#include <cstdint>

#include "nabla/tensor.h"

namespace nabla::data::image_util {

// A contiguous f32 image and its geometry; a 2-D [H, W] input is one channel.
struct Img {
  Tensor t;
  int64_t c = 1, h = 0, w = 0;
  const float* data() const { return static_cast<const float*>(t.raw_data()); }
};

/// A contiguous copy of any strided f32 tensor; contiguous tensors are returned as they are.
Tensor contiguous_f32(const Tensor& t);
/// A new contiguous f32 tensor with t's values (never t itself).
Tensor copy_f32(const Tensor& t);
/// `image` as an Img, or an error naming `op` unless it is an f32 CPU image [C, H, W] or [H, W].
Img check_image(const Tensor& image, const char* op);
/// Output with the input's rank and channel count, spatial size h x w.
Tensor make_out(const Tensor& like, int64_t c, int64_t h, int64_t w);

}  // namespace nabla::data::image_util
