// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..],
// "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}}, then the raw data.
// Files written here are readable by other frameworks' safetensors readers.
#pragma once
#include <map>
#include <string>

#include "nabla/tensor.h"

namespace nabla::io {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

/// Writes `tensors` (any strides; stored contiguous, little-endian) and string `metadata` to
/// `path` atomically: a temp file in the same folder, fsync, rename over `path`, fsync of the
/// folder. On any failure the previous file at `path` is untouched.
/// Layout as the reference writer (huggingface/safetensors): data ordered by dtype width then
/// name (so each tensor is aligned to its element size), header padded with spaces to a
/// multiple of 8; byte-identical to it except for the order of several metadata entries,
/// which the reference leaves to a hash map (here they are sorted).
/// Tensors must be defined and on the CPU; "__metadata__" cannot name a tensor.
void save_safetensors(const TensorMap& tensors, const std::string& path, const Metadata& metadata = {});

struct SafetensorsFile {
  TensorMap tensors;
  Metadata metadata;
};

/// Reads and strictly validates a safetensors file: header length bounded and inside the file,
/// valid JSON, known dtypes, byte sizes matching shapes (overflow-checked), offsets inside the
/// data area with no overlaps or gaps. Every violation throws nabla::Error naming the file and
/// the tensor. Limits: header <= 100 MB (as the reference reader); dtypes F32, F64, I64, U8
/// (others are refused as "not supported"); entries may only have dtype/shape/data_offsets.
SafetensorsFile load_safetensors(const std::string& path);

/// Same validation on an in-memory buffer (`name` is used in error messages); for fuzzing.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name);

}  // namespace nabla::io
