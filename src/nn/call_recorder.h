// The per-thread record of module calls that Module::summary() switches on for one forward
// pass; Module::operator() appends to it when it is active.
#pragma once
#include <vector>

#include "nabla/nn/module.h"

namespace nabla::nn::detail {

struct CallRecord {
  Module* module = nullptr;
  int depth = 0;  ///< nesting level of the call (0 = the summarized module)
  Shape output;
};

struct CallRecorder {
  std::vector<CallRecord> calls;
  int depth = 0;
};

/// The active recorder of this thread (null when no summary is running).
CallRecorder*& active_recorder();

}  // namespace nabla::nn::detail
