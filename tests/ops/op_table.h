// The op test table: one row per op. A row names the op, calls it through a lambda, says
// which inputs it takes (shape, value domain, dtype) and gives an independent reference that
// computes the expected forward values in plain f64 loops from the input values. The shared
// tests (op_table.cpp) run every row on contiguous, transposed and strided-slice inputs, in
// f64 and f32, with gradcheck in f64, broadcast shape pairs for binary ops, and
// gradgradcheck where the row asks for it. Reference code never calls nabla ops.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace optest {

using nabla::DType;
using nabla::Shape;
using nabla::Tensor;
using nabla::TensorList;

// ---- plain f64 n-d arrays for the references ---------------------------------------------

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

/// Row-major offset of a multi-index.
inline int64_t ravel(const Shape& shape, const Shape& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return off;
}

/// Multi-index of a row-major offset.
inline Shape unravel(const Shape& shape, int64_t flat) {
  Shape idx(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    idx[size_t(d)] = shape[size_t(d)] == 0 ? 0 : flat % shape[size_t(d)];
    flat = shape[size_t(d)] == 0 ? 0 : flat / shape[size_t(d)];
  }
  return idx;
}

struct Arr {
  Shape shape;
  std::vector<double> v;
  int64_t numel() const { return int64_t(v.size()); }
  double at(const Shape& idx) const { return v[size_t(ravel(shape, idx))]; }
  double& at(const Shape& idx) { return v[size_t(ravel(shape, idx))]; }
  int64_t size(int64_t d) const { return shape[size_t(d < 0 ? d + int64_t(shape.size()) : d)]; }
};

inline Arr arr_of(const Tensor& t) { return {t.shape(), t.to_vector<double>()}; }

/// Builds an array of `shape` whose element at each multi-index is f(index).
template <typename F>
Arr make_arr(const Shape& shape, F&& f) {
  Arr a{shape, std::vector<double>(size_t(numel_of(shape)))};
  for (int64_t i = 0; i < a.numel(); ++i) a.v[size_t(i)] = f(unravel(shape, i));
  return a;
}

/// NumPy broadcast of shapes (the reference's own, independent of nabla's).
inline Shape bshape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/// Reads `a` at an index of a (larger) broadcast output shape.
inline double bget(const Arr& a, const Shape& out_idx) {
  size_t off = out_idx.size() - a.shape.size();
  Shape idx(a.shape.size());
  for (size_t i = 0; i < a.shape.size(); ++i) idx[i] = a.shape[i] == 1 ? 0 : out_idx[off + i];
  return a.at(idx);
}

template <typename F>
Arr ew1(const Arr& x, F&& f) {
  Arr o = x;
  for (double& e : o.v) e = f(e);
  return o;
}
template <typename F>
Arr ew2(const Arr& a, const Arr& b, F&& f) {
  return make_arr(bshape(a.shape, b.shape), [&](const Shape& i) { return f(bget(a, i), bget(b, i)); });
}
template <typename F>
Arr ew3(const Arr& a, const Arr& b, const Arr& c, F&& f) {
  Shape s = bshape(bshape(a.shape, b.shape), c.shape);
  return make_arr(s, [&](const Shape& i) { return f(bget(a, i), bget(b, i), bget(c, i)); });
}

/// Groups the elements of `x` by their position outside `dims` (empty = all) and applies
/// f(values) -> double to each group; returns the reduced array (keepdim or not).
template <typename F>
Arr reduce_ref(const Arr& x, Shape dims, bool keepdim, F&& f) {
  int64_t nd = int64_t(x.shape.size());
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int64_t d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  Shape keep = x.shape, out_shape;
  for (int64_t d = 0; d < nd; ++d) {
    if (red[size_t(d)]) keep[size_t(d)] = 1;
    if (!red[size_t(d)] || keepdim) out_shape.push_back(keep[size_t(d)]);
  }
  std::vector<std::vector<double>> groups(size_t(numel_of(keep)));
  for (int64_t i = 0; i < x.numel(); ++i) {
    Shape idx = unravel(x.shape, i);
    for (int64_t d = 0; d < nd; ++d)
      if (red[size_t(d)]) idx[size_t(d)] = 0;
    groups[size_t(ravel(keep, idx))].push_back(x.v[size_t(i)]);
  }
  Arr o{out_shape, {}};
  for (auto& g : groups) o.v.push_back(f(g));
  return o;
}

/// Applies f(fiber) -> new fiber (of length `out_len`, or the same length) to every 1-D fiber
/// of `x` along `dim`.
template <typename F>
Arr along_dim(const Arr& x, int64_t dim, F&& f, int64_t out_len = -1) {
  int64_t nd = int64_t(x.shape.size());
  if (dim < 0) dim += nd;
  int64_t n = x.shape[size_t(dim)];
  Shape os = x.shape;
  os[size_t(dim)] = out_len < 0 ? n : out_len;
  Arr o{os, std::vector<double>(size_t(numel_of(os)))};
  Shape outer = x.shape;
  outer[size_t(dim)] = 1;
  for (int64_t k = 0; k < numel_of(outer); ++k) {
    Shape idx = unravel(outer, k);
    std::vector<double> fib;
    for (int64_t j = 0; j < n; ++j) {
      idx[size_t(dim)] = j;
      fib.push_back(x.at(idx));
    }
    std::vector<double> r = f(fib);
    for (int64_t j = 0; j < os[size_t(dim)]; ++j) {
      idx[size_t(dim)] = j;
      o.at(idx) = r[size_t(j)];
    }
  }
  return o;
}

inline double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
inline double ref_mean(const std::vector<double>& v) { return ref_sum(v) / double(v.size()); }
inline double ref_var(const std::vector<double>& v, int64_t correction = 1) {
  double m = ref_mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(int64_t(v.size()) - correction);
}
inline double ref_logsumexp(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) m = 0;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return std::log(s) + m;
}

// ---- input specifications ----------------------------------------------------------------

enum class Kind {
  Float,  ///< uniform in [lo, hi], or ±[lo, hi] with random sign when `signed_mag`
  Index,  ///< i64 uniform in [lo, hi)
  Bool,   ///< u8 0/1
  Fixed,  ///< the given values, in `fixed_dtype`
};

struct In {
  Shape shape;
  Kind kind = Kind::Float;
  double lo = -2, hi = 2;
  bool signed_mag = false;
  bool grad = true;  ///< float inputs: requires grad (gradcheck differentiates it)
  std::vector<double> fixed;
  DType fixed_dtype = DType::i64;
};

inline In make_in(Shape s, Kind kind, double lo, double hi) {
  In in;
  in.shape = std::move(s);
  in.kind = kind;
  in.lo = lo;
  in.hi = hi;
  return in;
}
/// Float input uniform in [lo, hi].
inline In F(Shape s, double lo = -2, double hi = 2) { return make_in(std::move(s), Kind::Float, lo, hi); }
/// Float input with |x| in [lo, hi] and a random sign (keeps away from 0).
inline In M(Shape s, double lo = 0.3, double hi = 2) {
  In in = make_in(std::move(s), Kind::Float, lo, hi);
  in.signed_mag = true;
  return in;
}
/// Float input that is not differentiated (targets, weights).
inline In C(Shape s, double lo = -2, double hi = 2) {
  In in = F(std::move(s), lo, hi);
  in.grad = false;
  return in;
}
/// i64 indices in [lo, hi).
inline In I(Shape s, int64_t hi, int64_t lo = 0) { return make_in(std::move(s), Kind::Index, double(lo), double(hi)); }
inline In B(Shape s) { return make_in(std::move(s), Kind::Bool, 0, 1); }
/// Explicit values (row-major).
inline In X(Shape s, std::vector<double> values, DType dt = DType::i64) {
  In in = make_in(std::move(s), Kind::Fixed, 0, 0);
  in.fixed = std::move(values);
  in.fixed_dtype = dt;
  in.grad = nabla::is_floating(dt);
  return in;
}

using OpFn = std::function<Tensor(const TensorList&)>;
using RefFn = std::function<Arr(const std::vector<Arr>&)>;

struct OpRow {
  std::string name;             ///< test name (alphanumeric and _)
  std::vector<In> inputs;       ///< the main case
  OpFn fn;                      ///< calls the op
  RefFn ref;                    ///< independent f64 reference of the forward value
  bool differentiable = true;   ///< run gradcheck
  bool gradgrad = false;        ///< also run gradgradcheck (main case, contiguous)
  bool broadcast = false;       ///< binary element-wise: also the standard broadcast shape pairs
  bool f32 = true;              ///< also check the forward in f32
  std::vector<std::vector<Shape>> extra_cases;  ///< more shape sets for the same inputs
  double atol = 1e-12, rtol = 1e-10;            ///< f64 forward tolerance
  double atol32 = 1e-5, rtol32 = 1e-5;          ///< f32 forward tolerance
};

/// A row from its parts, with the default tolerances and gradcheck on.
inline OpRow op_row(std::string name, std::vector<In> inputs, OpFn fn, RefFn ref, bool gradgrad = false) {
  OpRow r;
  r.name = std::move(name);
  r.inputs = std::move(inputs);
  r.fn = std::move(fn);
  r.ref = std::move(ref);
  r.gradgrad = gradgrad;
  return r;
}

inline void PrintTo(const OpRow& r, std::ostream* os) { *os << r.name; }

inline std::string row_name(const ::testing::TestParamInfo<OpRow>& info) { return info.param.name; }

/// Unary element-wise row: shapes [3, 4], [] and [2, 1, 3].
template <typename Op, typename Ref>
OpRow unary_row(std::string name, In in, Op op, Ref ref, bool gradgrad = false) {
  OpRow r;
  r.name = std::move(name);
  in.shape = {3, 4};
  r.inputs = {in};
  r.fn = [op](const TensorList& x) { return op(x[0]); };
  r.ref = [ref](const std::vector<Arr>& a) { return ew1(a[0], ref); };
  r.gradgrad = gradgrad;
  r.extra_cases = {{Shape{}}, {Shape{2, 1, 3}}};
  return r;
}

/// Binary element-wise row: [3, 4] x [3, 4] plus the broadcast pairs.
template <typename Op, typename Ref>
OpRow binary_row(std::string name, In a, In b, Op op, Ref ref, bool gradgrad = false) {
  OpRow r;
  r.name = std::move(name);
  a.shape = {3, 4};
  b.shape = {3, 4};
  r.inputs = {a, b};
  r.fn = [op](const TensorList& x) { return op(x[0], x[1]); };
  r.ref = [ref](const std::vector<Arr>& v) { return ew2(v[0], v[1], ref); };
  r.gradgrad = gradgrad;
  r.broadcast = true;
  return r;
}

/// Expects `stmt` to throw nabla::Error whose message contains every string in `parts`.
#define EXPECT_NABLA_ERROR(stmt, ...)                                                              \
  do {                                                                                             \
    bool thrown_ = false;                                                                          \
    try {                                                                                          \
      (void)(stmt);                                                                                \
    } catch (const nabla::Error& e_) {                                                             \
      thrown_ = true;                                                                              \
      std::string msg_ = e_.what();                                                                \
      for (const std::string& p_ : std::vector<std::string>{__VA_ARGS__})                          \
        EXPECT_NE(msg_.find(p_), std::string::npos) << "message \"" << msg_ << "\" lacks \"" << p_ \
                                                    << "\"";                                       \
    }                                                                                              \
    EXPECT_TRUE(thrown_) << #stmt " did not throw nabla::Error";                                   \
  } while (0)

class OpForward : public ::testing::TestWithParam<OpRow> {};
class OpGradcheck : public ::testing::TestWithParam<OpRow> {};
class OpGradGrad : public ::testing::TestWithParam<OpRow> {};

template <typename Pred>
std::vector<OpRow> rows_where(const std::vector<OpRow>& rows, Pred pred) {
  std::vector<OpRow> out;
  for (const OpRow& r : rows)
    if (pred(r)) out.push_back(r);
  return out;
}
inline std::vector<OpRow> differentiable(const std::vector<OpRow>& rows) {
  return rows_where(rows, [](const OpRow& r) { return r.differentiable; });
}
inline std::vector<OpRow> with_gradgrad(const std::vector<OpRow>& rows) {
  return rows_where(rows, [](const OpRow& r) { return r.differentiable && r.gradgrad; });
}

// ---- inputs of a row (op_table_inputs.cpp) ---------------------------------------------

enum class Layout { Contiguous, Transposed, Sliced };
inline constexpr Layout kLayouts[] = {Layout::Contiguous, Layout::Transposed, Layout::Sliced};
const char* layout_name(Layout l);

/// The main case, the extra shape cases and (binary rows) the broadcast pairs of a row.
std::vector<std::vector<In>> row_cases(const OpRow& r);
/// Deterministic seed of a row's case, so every run (and every device) sees the same values.
uint64_t seed_of(const std::string& name, size_t case_index);
/// The inputs of one case on `device` in the requested layout; the logical values depend only
/// on (c, seed), never on layout, dtype or device. Sets *changed when the layout differs from
/// contiguous.
TensorList make_inputs(const std::vector<In>& c, uint64_t seed, DType float_dt, Layout layout, bool* changed,
                       nabla::Device device = nabla::Device::cpu());
/// "inputs [3, 4] [4], f32, transposed", for SCOPED_TRACE.
std::string describe(const std::vector<In>& c, DType dt, Layout layout);

// ---- the row registry ----------------------------------------------------------------------

/// Every family registered with NB_OP_TABLE, so other suites (the CUDA-vs-CPU agreement test in
/// tests/gpu) run the same rows without repeating them.
struct RowFamily {
  std::string name;                 ///< "Arithmetic"
  std::vector<OpRow> (*make)();     ///< builds the family's rows
};
std::vector<RowFamily>& row_registry();
bool register_rows(const char* family, std::vector<OpRow> (*make)());

/// Registers a family of rows with the shared checks: forward values (every row),
/// gradcheck (differentiable rows) and grad-of-grad (rows that ask for it); and records it in
/// row_registry(). Defining NB_OP_TABLE_ROWS_ONLY (the GPU test binary) records it only.
#define NB_OP_TABLE_REGISTER(Family, rows) \
  [[maybe_unused]] static const bool nb_op_table_registered_##Family = ::optest::register_rows(#Family, [] { return rows; })
#ifdef NB_OP_TABLE_ROWS_ONLY
#define NB_OP_TABLE(Family, rows) NB_OP_TABLE_REGISTER(Family, rows)
#else
#define NB_OP_TABLE(Family, rows)                                                                  \
  NB_OP_TABLE_REGISTER(Family, rows);                                                              \
  INSTANTIATE_TEST_SUITE_P(Family, OpForward, ::testing::ValuesIn(rows), row_name);                \
  INSTANTIATE_TEST_SUITE_P(Family, OpGradcheck, ::testing::ValuesIn(differentiable(rows)), row_name); \
  INSTANTIATE_TEST_SUITE_P(Family, OpGradGrad, ::testing::ValuesIn(with_gradgrad(rows)), row_name)
#endif

}  // namespace optest
