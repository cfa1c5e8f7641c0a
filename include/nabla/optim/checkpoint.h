// Saving and restoring an optimizer (and its scheduler) with safetensors, next to the model's
// own file, so that training resumes exactly: state buffers become tensors, step counts and
// hyper-parameters become metadata strings that read back to the same doubles.
#pragma once
#include <string>

#include "nabla/io/safetensors.h"
#include "nabla/optim/optimizer.h"
#include "nabla/optim/scheduler.h"

namespace nabla::optim {

/// Writes optimizer.state_dict() to `path` (atomically), with the scheduler's state under
/// metadata keys "scheduler.*" and `extra` (e.g. the RNG state, the epoch) under "extra.*".
void save_checkpoint(const std::string& path, const Optimizer& optimizer, const Scheduler* scheduler = nullptr,
                     const io::Metadata& extra = {});

/// Restores what save_checkpoint wrote into an optimizer of the same type over parameters of
/// the same shapes (and the scheduler, which must then have been saved). Returns `extra`.
io::Metadata load_checkpoint(const std::string& path, Optimizer& optimizer, Scheduler* scheduler = nullptr);

}  // namespace nabla::optim
