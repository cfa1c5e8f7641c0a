// Optimizer + scheduler checkpoints in one safetensors file.
#include "nabla/optim/checkpoint.h"

#include "nabla/io/key_prefix.h"

namespace nabla::optim {

namespace {
constexpr const char* kScheduler = "scheduler.";
constexpr const char* kExtra = "extra.";
}  // namespace

void save_checkpoint(const std::string& path, const Optimizer& optimizer, const Scheduler* scheduler,
                     const io::Metadata& extra) {
  OptimizerStateDict d = optimizer.state_dict();
  if (scheduler) d.metadata.merge(io::with_key_prefix<io::Metadata>(scheduler->state_dict(), kScheduler));
  d.metadata.merge(io::with_key_prefix<io::Metadata>(extra, kExtra));
  io::save_safetensors(d.tensors, path, d.metadata);
}

io::Metadata load_checkpoint(const std::string& path, Optimizer& optimizer, Scheduler* scheduler) {
  io::SafetensorsFile f = io::load_safetensors(path);
  io::Metadata sched = io::strip_key_prefix<io::Metadata>(f.metadata, kScheduler);
  NB_CHECK(!scheduler || !sched.empty(), "[load_checkpoint] ", path, " holds no scheduler state, but a ",
           scheduler->name(), " was given to restore");
  // The optimizer first: it validates everything before changing anything.
  optimizer.load_state_dict({std::move(f.tensors), f.metadata});
  if (scheduler) scheduler->load_state_dict(sched);
  return io::strip_key_prefix<io::Metadata>(f.metadata, kExtra);
}

}  // namespace nabla::optim
