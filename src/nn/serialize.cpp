// Module checkpoints as safetensors files.
#include "nabla/nn/serialize.h"

namespace nabla::nn {

void save(const StateDict& state, const std::string& path, const io::Metadata& metadata) {
  io::TensorMap tensors;
  for (const auto& [k, t] : state) tensors.emplace(k, t);
  io::save_safetensors(tensors, path, metadata);
}

void save(const Module& module, const std::string& path, const io::Metadata& metadata) {
  save(module.state_dict(), path, metadata);
}

Checkpoint load(const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  Checkpoint c;
  for (const auto& [k, t] : f.tensors) c.state.insert(k, t);
  c.metadata = std::move(f.metadata);
  return c;
}

LoadStateDictResult load(Module& module, const std::string& path, bool strict, io::Metadata* metadata) {
  Checkpoint c = load(path);
  if (metadata) *metadata = c.metadata;
  try {
    return module.load_state_dict(c.state, strict);
  } catch (const ModuleError& e) {
    throw ModuleError(std::string(e.what()) + " (checkpoint '" + path + "')");
  }
}

}  // namespace nabla::nn
