// What the loss families of the op table share: reduction names for row names, and the row
// maker with the losses' f32 tolerances (sums over a batch lose more than element-wise rows).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "nabla/reduction.h"
#include "ops/op_table.h"

namespace optest {

inline const char* red_name(nabla::Reduction r) {
  switch (r) {
    case nabla::Reduction::None: return "none";
    case nabla::Reduction::Mean: return "mean";
    case nabla::Reduction::Sum: return "sum";
    case nabla::Reduction::BatchMean: return "batchmean";
  }
  return "?";
}

inline OpRow loss_row(std::string name, std::vector<In> inputs, OpFn fn, RefFn ref, bool gradgrad = false) {
  OpRow r = op_row(std::move(name), std::move(inputs), std::move(fn), std::move(ref), gradgrad);
  r.atol32 = 1e-5;
  r.rtol32 = 1e-4;
  return r;
}

}  // namespace optest
