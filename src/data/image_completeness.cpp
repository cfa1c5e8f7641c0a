#include "image_completeness.h"

#include <cctype>
#include <cstring>

#include "nabla/error.h"

namespace nabla::data::internal {

namespace {

/// Expected size of a binary PNM from its header ("P5 <w> <h> <maxval>" + one whitespace,
/// with '#' comments); 0 when the header does not parse (stb then reports the error itself).
uint64_t pnm_expected_size(const std::vector<uint8_t>& b) {
  const size_t channels = b[1] == '5' ? 1 : 3;
  size_t pos = 2;
  uint64_t fields[3] = {0, 0, 0};
  for (uint64_t& field : fields) {
    for (;;) {  // whitespace and comments before each number
      while (pos < b.size() && std::isspace(b[pos])) ++pos;
      if (pos < b.size() && b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
        continue;
      }
      break;
    }
    if (pos >= b.size() || !std::isdigit(b[pos])) return 0;
    while (pos < b.size() && std::isdigit(b[pos]) && field < (uint64_t(1) << 40)) field = field * 10 + (b[pos++] - '0');
  }
  ++pos;  // the single whitespace after maxval
  const uint64_t sample = fields[2] > 255 ? 2 : 1;
  return pos + fields[0] * fields[1] * channels * sample;
}

uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24;
}

/// Expected size of an uncompressed BMP (BI_RGB or BI_BITFIELDS) from its headers; 0 otherwise.
uint64_t bmp_expected_size(const std::vector<uint8_t>& b) {
  if (b.size() < 34) return 0;
  const uint32_t header = le32(b, 14);
  if (header < 40) return 0;  // the old OS/2 header: left to stb
  const uint64_t offset = le32(b, 10);
  const int64_t width = int32_t(le32(b, 18)), height = int32_t(le32(b, 22));
  const uint64_t bits = uint64_t(b[28]) | uint64_t(b[29]) << 8;
  const uint32_t compression = le32(b, 30);
  if (compression != 0 && compression != 3) return 0;  // RLE: its length is in the data
  const uint64_t w = uint64_t(width < 0 ? -width : width), h = uint64_t(height < 0 ? -height : height);
  if (w > (uint64_t(1) << 24) || h > (uint64_t(1) << 24)) return 0;
  const uint64_t row = (bits * w + 31) / 32 * 4;
  if (h == 0) return offset;
  return offset + row * (h - 1) + (bits * w + 7) / 8;  // the last row's padding may be missing (stb reads it)
}

/// Whether a GIF holds its first image whole: walks the blocks (colour tables, extensions, the
/// image descriptor and its data sub-blocks) up to the end of the first image's data, which is
/// all stb decodes. Bytes after it (the trailer, padding, appended data) do not matter.
bool gif_first_image_complete(const std::vector<uint8_t>& b) {
  auto table = [](uint8_t packed) { return (packed & 0x80) ? size_t(3) << ((packed & 7) + 1) : 0; };
  size_t pos = 13;  // "GIF89a" + logical screen descriptor
  if (b.size() < pos) return false;
  pos += table(b[10]);
  auto skip_sub_blocks = [&]() {  // size byte, data, ..., a zero size byte
    while (pos < b.size()) {
      const size_t n = b[pos++];
      if (n == 0) return true;
      pos += n;
    }
    return false;
  };
  while (pos < b.size()) {
    const uint8_t kind = b[pos++];
    if (kind == 0x21) {  // extension: a label, then sub-blocks
      if (++pos > b.size() || !skip_sub_blocks()) return false;
    } else if (kind == 0x2C) {  // image descriptor: 9 bytes, a local table, the LZW code size, data
      if (pos + 9 > b.size()) return false;
      pos += 9;
      pos += table(b[pos - 1]);
      if (++pos > b.size()) return false;
      return skip_sub_blocks();
    } else {
      return true;  // the trailer before any image, or an unknown block: stb judges
    }
  }
  return false;
}

}  // namespace

void check_image_complete(const std::vector<uint8_t>& b, const std::string& path, const char* op) {
  if (b.size() >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) {
    const uint64_t want = pnm_expected_size(b);
    NB_CHECK(want == 0 || b.size() >= want, "[", op, "] ", path, ": truncated PNM image (", b.size(),
             " bytes, its header needs ", want, ")");
  } else if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') {
    const uint64_t want = bmp_expected_size(b);
    NB_CHECK(want == 0 || b.size() >= want, "[", op, "] ", path, ": truncated BMP image (", b.size(),
             " bytes, its header needs ", want, ")");
  } else if (b.size() >= 6 && std::memcmp(b.data(), "GIF8", 4) == 0) {
    NB_CHECK(gif_first_image_complete(b), "[", op, "] ", path, ": truncated GIF image (", b.size(),
             " bytes end inside its first image)");
  }
}

}  // namespace nabla::data::internal
