// Internal to the data layer: whole-file reading through zlib (gzip or plain).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nabla::data::internal {
/// The bytes of `path`, decompressed if it is gzip. Errors start with "[op] path: ".
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op);
}  // namespace nabla::data::internal
