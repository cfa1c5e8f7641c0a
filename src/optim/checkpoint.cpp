// Optimizer + scheduler checkpoints in one safetensors file.
#include "nabla/optim/checkpoint.h"

namespace nabla::optim {

namespace {
constexpr const char* kScheduler = "scheduler.";
constexpr const char* kExtra = "extra.";

io::Metadata with_prefix(const io::Metadata& m, const std::string& prefix) {
  io::Metadata out;
  for (const auto& [k, v] : m) out[prefix + k] = v;
  return out;
}

io::Metadata strip_prefix(const io::Metadata& m, const std::string& prefix) {
  io::Metadata out;
  for (const auto& [k, v] : m)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
  return out;
}
}  // namespace

void save_checkpoint(const std::string& path, const Optimizer& optimizer, const Scheduler* scheduler,
                     const io::Metadata& extra) {
  OptimizerStateDict d = optimizer.state_dict();
  if (scheduler) d.metadata.merge(with_prefix(scheduler->state_dict(), kScheduler));
  d.metadata.merge(with_prefix(extra, kExtra));
  io::save_safetensors(d.tensors, path, d.metadata);
}

io::Metadata load_checkpoint(const std::string& path, Optimizer& optimizer, Scheduler* scheduler) {
  io::SafetensorsFile f = io::load_safetensors(path);
  io::Metadata sched = strip_prefix(f.metadata, kScheduler);
  NB_CHECK(!scheduler || !sched.empty(), "[load_checkpoint] ", path, " holds no scheduler state, but a ",
           scheduler->name(), " was given to restore");
  // The optimizer first: it validates everything before changing anything.
  optimizer.load_state_dict({std::move(f.tensors), f.metadata});
  if (scheduler) scheduler->load_state_dict(sched);
  return strip_prefix(f.metadata, kExtra);
}

}  // namespace nabla::optim
