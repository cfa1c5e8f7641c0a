// Module::summary(): one recorded forward pass on zeros, turned into a layer table.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "call_recorder.h"
#include "nabla/autograd.h"
#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

namespace {

std::string with_commas(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

struct Counts {
  int64_t trainable = 0, frozen = 0;
};
Counts count(const std::vector<NamedTensor>& params) {
  Counts c;
  for (const auto& [n, p] : params) (p.requires_grad() ? c.trainable : c.frozen) += p.numel();
  return c;
}

}  // namespace

std::string ModuleSummary::to_string() const {
  std::vector<std::array<std::string, 4>> cells;
  cells.push_back({"Layer (type)", "Output shape", "Param #", "Frozen #"});
  for (const auto& r : rows)
    cells.push_back({r.name.empty() ? r.type : r.name + " (" + r.type + ")", shape_str(r.output_shape),
                     with_commas(r.params), with_commas(r.frozen)});
  std::array<size_t, 4> w{};
  for (const auto& row : cells)
    for (size_t i = 0; i < 4; ++i) w[i] = std::max(w[i], row[i].size());
  size_t total = w[0] + w[1] + w[2] + w[3] + 6;
  std::ostringstream os;
  auto line = [&](char c) { os << std::string(total, c) << '\n'; };
  for (size_t r = 0; r < cells.size(); ++r) {
    const auto& row = cells[r];
    os << std::left << std::setw(int(w[0])) << row[0] << "  " << std::setw(int(w[1])) << row[1] << "  "
       << std::right << std::setw(int(w[2])) << row[2] << "  " << std::setw(int(w[3])) << row[3] << '\n';
    if (r == 0) line('-');
  }
  line('=');
  os << "Input shape: " << shape_str(input_shape) << "  Output shape: " << shape_str(output_shape) << '\n';
  os << "Total params: " << with_commas(total_params) << '\n';
  os << "Trainable params: " << with_commas(trainable_params) << '\n';
  os << "Frozen params: " << with_commas(frozen_params) << '\n';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const ModuleSummary& s) { return os << s.to_string(); }

ModuleSummary Module::summary(const Shape& input_shape, std::ostream& out) {
  SummaryOptions opts;
  opts.out = &out;
  return summary(input_shape, opts);
}

ModuleSummary Module::summary(const Shape& input_shape, const SummaryOptions& opts) {
  auto mods = named_modules();
  DType dtype = DType::f32;
  if (opts.input_dtype) {
    dtype = *opts.input_dtype;
  } else {
    for (const auto& [n, p] : named_parameters())
      if (p.is_floating_point()) {
        dtype = p.dtype();
        break;
      }
  }

  // Eval mode (BatchNorm must not update its running statistics from zeros; Dropout must not
  // draw random numbers), then every module's own flag back, whatever happens.
  struct Restore {
    std::vector<std::pair<Module*, bool>> flags;
    detail::CallRecorder* prev_recorder;
    ~Restore() {
      for (auto& [m, f] : flags) m->training_ = f;
      detail::active_recorder() = prev_recorder;
    }
  } restore{{}, detail::active_recorder()};
  for (auto& [n, m] : mods) restore.flags.emplace_back(m, m->training_);
  for (auto& [n, m] : mods) m->training_ = false;

  detail::CallRecorder rec;
  detail::active_recorder() = &rec;
  Tensor y;
  {
    NoGradGuard ng;
    y = (*this)(zeros(input_shape, {.dtype = dtype}));
  }
  detail::active_recorder() = restore.prev_recorder;

  std::unordered_map<const Module*, std::string> rel;
  for (auto& [n, m] : mods) rel.emplace(m, n);

  ModuleSummary s;
  s.input_shape = input_shape;
  if (y.defined()) s.output_shape = y.shape();
  std::unordered_set<const Module*> counted;
  const auto& calls = rec.calls;
  for (size_t i = 0; i < calls.size(); ++i) {
    Module* m = calls[i].module;
    bool has_recorded_children = i + 1 < calls.size() && calls[i + 1].depth > calls[i].depth;
    bool has_own_params = !m->params_.empty();
    if (has_recorded_children && !has_own_params) continue;
    SummaryRow row;
    auto it = rel.find(m);
    row.name = it != rel.end() ? it->second : m->name();
    row.type = m->type_name();
    row.output_shape = calls[i].output;
    if (counted.insert(m).second) {
      // A module whose children ran unrecorded (called via forward()) reports all it holds.
      Counts c = count(m->named_parameters(/*recurse=*/!has_recorded_children));
      row.trainable = c.trainable;
      row.frozen = c.frozen;
      row.params = c.trainable + c.frozen;
    }
    s.rows.push_back(std::move(row));
  }
  Counts total = count(named_parameters());
  s.trainable_params = total.trainable;
  s.frozen_params = total.frozen;
  s.total_params = total.trainable + total.frozen;
  if (opts.print) (opts.out ? *opts.out : std::cout) << s.to_string();
  return s;
}

namespace {
void print_tree(std::ostream& os, const Module& m, const std::string& indent) {
  os << m.type_name() << '(' << m.extra_repr();
  const auto& kids = m.named_children();
  if (!kids.empty()) {
    os << '\n';
    for (const auto& [n, c] : kids) {
      os << indent << "  (" << n << "): ";
      print_tree(os, *c, indent + "  ");
      os << '\n';
    }
    os << indent;
  }
  os << ')';
}
}  // namespace

std::string Module::to_string() const {
  std::ostringstream os;
  print_tree(os, *this, "");
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.to_string(); }

}  // namespace nabla::nn
