// Internal to the data layer: is an encoded image file whole?
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nabla::data::internal {
/// Throws "[op] path: truncated ..." when `bytes` is a binary PNM (P5/P6), an uncompressed BMP
/// or a GIF that ends before its pixels do. stb_image decodes such files without an error
/// (PNM from uninitialized memory, BMP as zeros, a GIF cut inside its first image as a whole
/// one); PNG and JPEG it rejects itself. Other formats and compressed BMPs pass unchecked.
void check_image_complete(const std::vector<uint8_t>& bytes, const std::string& path, const char* op);
}  // namespace nabla::data::internal
