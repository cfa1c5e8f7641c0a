// nn-internal access to modules: what nn::utils::checkpoint needs to know about the modules a
// function calls, and to set a module's own train/eval flag.
#pragma once
#include <unordered_set>
#include <vector>

#include "nabla/nn/module.h"

namespace nabla::nn::detail {

struct ModuleAccess {
  /// Sets m's training flag alone (Module::train sets its descendants' too).
  static void set_training_flag(Module& m, bool on) { m.training_ = on; }
};

/// While alive, records on this thread every module called through operator() (or a layer's
/// tagged multi-tensor call), each once, in first-call order. Logs nest: an inner one's modules
/// are recorded by the outer ones too.
class ModuleCallLog {
 public:
  ModuleCallLog();
  ~ModuleCallLog();
  ModuleCallLog(const ModuleCallLog&) = delete;
  ModuleCallLog& operator=(const ModuleCallLog&) = delete;
  const std::vector<Module*>& modules() const { return modules_; }
  /// Reports a call to the active logs (a no-op when there are none).
  static void note(Module* m);

 private:
  ModuleCallLog* outer_;
  std::vector<Module*> modules_;
  std::unordered_set<Module*> seen_;
};

}  // namespace nabla::nn::detail
