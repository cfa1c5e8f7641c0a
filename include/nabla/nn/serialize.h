// Checkpoints of modules and state dicts in the safetensors format (nabla/io/safetensors.h):
// one tensor per state-dict key, readable by other frameworks (`safetensors.torch.load_file`).
#pragma once
#include <string>

#include "nabla/io/safetensors.h"
#include "nabla/nn/module.h"

namespace nabla::nn {

/// Writes module.state_dict() (parameters and persistent buffers) and `metadata` to `path`,
/// atomically (a crash leaves the previous file intact).
void save(const Module& module, const std::string& path, const io::Metadata& metadata = {});
void save(const StateDict& state, const std::string& path, const io::Metadata& metadata = {});

struct Checkpoint {
  StateDict state;  ///< keys in sorted order (safetensors keeps no insertion order)
  io::Metadata metadata;
};
/// Reads a checkpoint written by save() (or any safetensors file).
Checkpoint load(const std::string& path);

/// Reads `path` into `module` with load_state_dict(strict): values are converted to the
/// module's dtypes. `metadata`, when given, receives the file's metadata.
LoadStateDictResult load(Module& module, const std::string& path, bool strict = true,
                         io::Metadata* metadata = nullptr);

}  // namespace nabla::nn
