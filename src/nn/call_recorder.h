// The per-thread record of module calls that Module::summary() switches on for one forward
// pass; Module::operator() appends to it when it is active.
#pragma once
#include <tuple>
#include <utility>
#include <vector>

#include "module_access.h"
#include "nabla/nn/module.h"
#include "nabla/nn/packed_sequence.h"

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

/// The tensor whose shape summary() shows for an output: the output itself, or the first element
/// of a pair / tuple (recursively).
inline const Tensor& first_tensor(const Tensor& t) { return t; }
/// A packed sequence shows its data.
inline const Tensor& first_tensor(const utils::rnn::PackedSequence& p) { return p.data; }
template <typename A, typename B>
const Tensor& first_tensor(const std::pair<A, B>& t) {
  return first_tensor(t.first);
}
template <typename A, typename B>
const Tensor& first_tensor(const std::tuple<A, B>& t) {
  return first_tensor(std::get<0>(t));
}

/// Runs `f` as Module::operator() runs forward(), for layers whose forward takes more than one
/// tensor (attention, recurrent layers): errors get `m`'s tag, summary() records the call with
/// the shape of the first output. No hooks: such layers refuse them (supports_module_hooks).
template <typename F>
auto tagged_call(Module& m, F&& f) {
  ModuleCallLog::note(&m);
  CallRecorder* rec = active_recorder();
  size_t slot = 0;
  if (rec) {
    slot = rec->calls.size();
    rec->calls.push_back({&m, rec->depth, {}});
    ++rec->depth;
  }
  try {
    auto out = f();
    if (rec) {
      --rec->depth;
      const Tensor& first = first_tensor(out);
      if (first.defined()) rec->calls[slot].output = first.shape();
    }
    return out;
  } catch (const ModuleError&) {
    throw;  // already names the innermost module
  } catch (const Error& e) {
    throw ModuleError(::nabla::detail::concat("[", m.tag(), "] ", e.what()));
  }
}

}  // namespace nabla::nn::detail
