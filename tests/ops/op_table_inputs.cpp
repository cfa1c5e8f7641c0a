// Inputs of the op-table rows (shared by the CPU table in op_table.cpp and the CUDA
// agreement test in tests/gpu): the shape cases of a row, deterministic values per row and
// case, and the memory layouts (contiguous, transposed, strided slice) every row runs on.
#include <random>
#include <sstream>

#include "ops/op_table.h"

namespace optest {
namespace {

// Broadcast shape pairs every binary element-wise row runs, both ways round.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{3, 1}, {1, 4}}, {{5}, {2, 5}}, {{}, {2, 3}}, {{2, 1, 4}, {3, 1}}};

std::vector<double> values_for(const In& in, std::mt19937_64& rng) {
  int64_t n = numel_of(in.shape);
  std::vector<double> v(static_cast<size_t>(n));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& x : v) {
    switch (in.kind) {
      case Kind::Float:
        x = in.lo + (in.hi - in.lo) * u(rng);
        if (in.signed_mag && u(rng) < 0.5) x = -x;
        break;
      case Kind::Index: x = std::floor(in.lo + (in.hi - in.lo) * u(rng)); x = std::min(x, in.hi - 1); break;
      case Kind::Bool: x = u(rng) < 0.5 ? 0.0 : 1.0; break;
      case Kind::Fixed: break;
    }
  }
  if (in.kind == Kind::Fixed) {
    EXPECT_EQ(int64_t(in.fixed.size()), n) << "fixed values do not fill shape " << nabla::shape_str(in.shape);
    v = in.fixed;
    v.resize(size_t(n));
  }
  return v;
}

DType dtype_for(const In& in, DType float_dt) {
  switch (in.kind) {
    case Kind::Float: return float_dt;
    case Kind::Index: return DType::i64;
    case Kind::Bool: return DType::boolean;
    case Kind::Fixed: return nabla::is_floating(in.fixed_dtype) ? float_dt : in.fixed_dtype;
  }
  return float_dt;
}

/// Builds the input with the requested memory layout; the logical values are always `vals`.
/// Sets *changed when the layout differs from contiguous.
Tensor build(const In& in, const std::vector<double>& vals, DType dt, Layout layout, nabla::Device device,
             bool* changed) {
  const Shape& s = in.shape;
  int64_t nd = int64_t(s.size());
  Tensor t;
  if (layout == Layout::Transposed && nd >= 2) {
    // Storage holds the transpose; the leaf is its transposed view.
    Shape bs = s;
    std::swap(bs[size_t(nd - 1)], bs[size_t(nd - 2)]);
    std::vector<double> bv(vals.size());
    for (int64_t i = 0; i < numel_of(s); ++i) {
      Shape idx = unravel(s, i);
      std::swap(idx[size_t(nd - 1)], idx[size_t(nd - 2)]);
      bv[size_t(ravel(bs, idx))] = vals[size_t(i)];
    }
    t = nabla::from_vector(bv, bs, dt).to(device).transpose(-1, -2);
    *changed = true;
  } else if (layout == Layout::Sliced && nd >= 1) {
    // Every other element of a wider buffer, starting at offset 1; the gaps hold poison
    // values (NaN, huge indices) so a kernel reading them gives a wrong answer.
    int64_t n = s.back();
    Shape bs = s;
    bs.back() = 2 * n + 1;
    double poison = nabla::is_floating(dt) ? std::numeric_limits<double>::quiet_NaN()
                                           : (dt == DType::i64 ? double(int64_t(1) << 40) : 0.0);
    std::vector<double> bv(size_t(numel_of(bs)), poison);
    for (int64_t i = 0; i < numel_of(s); ++i) {
      Shape idx = unravel(s, i);
      idx.back() = 1 + 2 * idx.back();
      bv[size_t(ravel(bs, idx))] = vals[size_t(i)];
    }
    t = nabla::from_vector(bv, bs, dt).to(device).slice(-1, 1, 2 * n + 1, 2);
    *changed = true;
  } else {
    t = nabla::from_vector(vals, s, dt).to(device);
  }
  t = t.detach();
  if (nabla::is_floating(dt) && in.grad) t.requires_grad_(true);
  return t;
}

}  // namespace

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Transposed: return "transposed";
    case Layout::Sliced: return "strided slice";
  }
  return "?";
}

std::vector<std::vector<In>> row_cases(const OpRow& r) {
  std::vector<std::vector<In>> out{r.inputs};
  for (const auto& shapes : r.extra_cases) {
    auto c = r.inputs;
    for (size_t i = 0; i < c.size() && i < shapes.size(); ++i) c[i].shape = shapes[i];
    out.push_back(c);
  }
  if (r.broadcast) {
    for (const auto& [sa, sb] : kBroadcastPairs) {
      for (int swap = 0; swap < 2; ++swap) {
        auto c = r.inputs;
        c[0].shape = swap ? sb : sa;
        c[1].shape = swap ? sa : sb;
        out.push_back(c);
      }
    }
  }
  return out;
}

uint64_t seed_of(const std::string& name, size_t case_index) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char ch : name) h = (h ^ uint64_t(uint8_t(ch))) * 1099511628211ull;
  return h ^ (uint64_t(case_index) * 0x9E3779B97F4A7C15ull);
}

TensorList make_inputs(const std::vector<In>& c, uint64_t seed, DType float_dt, Layout layout, bool* changed,
                       nabla::Device device) {
  std::mt19937_64 rng(seed);
  *changed = false;
  TensorList out;
  for (const In& in : c) {
    std::vector<double> vals = values_for(in, rng);
    out.push_back(build(in, vals, dtype_for(in, float_dt), layout, device, changed));
  }
  return out;
}

std::string describe(const std::vector<In>& c, DType dt, Layout layout) {
  std::ostringstream os;
  os << "inputs";
  for (const In& in : c) os << ' ' << nabla::shape_str(in.shape);
  os << ", " << nabla::dtype_name(dt) << ", " << layout_name(layout);
  return os.str();
}

std::vector<RowFamily>& row_registry() {
  static std::vector<RowFamily> families;  // function-local: filled during static initialization
  return families;
}

bool register_rows(const char* family, std::vector<OpRow> (*make)()) {
  row_registry().push_back({family, make});
  return true;
}

}  // namespace optest
