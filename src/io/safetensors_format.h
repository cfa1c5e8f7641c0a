// Internal pieces of the safetensors format shared by the reader and the writer.
//
// Layout: [u64 little-endian N][N bytes JSON header, space-padded][data area]. Each tensor's
// data_offsets [begin, end) are relative to the data area; the reader requires the tensors to
// tile the data area exactly (sorted by offset: first at 0, each starting where the previous
// ends, the last ending at the end of the file), as the reference implementation does.
#pragma once
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/io/safetensors.h"
#include "nabla/tensor.h"

namespace nabla::io::detail {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swapping");

/// The reference reader's cap on the JSON header (MAX_HEADER_SIZE): bounds the work and
/// memory a hostile header can cause.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

/// One tensor as declared in the header.
struct TensorEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;  ///< relative to the data area
};

struct Header {
  std::vector<TensorEntry> tensors;  ///< sorted by data offset
  Metadata metadata;
};

/// "F32", "F64", "I64", "U8".
const char* dtype_tag(DType d);

/// `name` quoted and cut for error messages.
std::string show(std::string_view name);

/// Validates the header length N read from the first 8 bytes of a file of `file_size` bytes.
void check_header_length(uint64_t n, uint64_t file_size, const std::string& file);

/// Parses and validates the header (every rule in the file comment, dtypes, overflow-checked
/// sizes, duplicate keys, __metadata__). `data_size` is the size of the data area.
Header parse_header(std::string_view json, uint64_t data_size, const std::string& file);

/// "[safetensors] 'file': " — the start of every reader error.
std::string where(const std::string& file);

}  // namespace nabla::io::detail
