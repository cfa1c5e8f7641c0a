// Op-table rows: prod, any and all, and the scans cumprod and logcumsumexp, on random inputs and
// on inputs with one and with several zeros in a product (where the gradient is the product of
// the others and the second derivatives are not all zero).
#include <algorithm>
#include <cmath>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

double ref_prod(const std::vector<double>& v) {
  double p = 1;
  for (double x : v) p *= x;
  return p;
}

std::vector<double> ref_cumprod(const std::vector<double>& v) {
  std::vector<double> o;
  double p = 1;
  for (double x : v) o.push_back(p *= x);
  return o;
}

std::vector<double> ref_logcumsumexp(const std::vector<double>& v) {
  std::vector<double> o;
  double r = -INFINITY;
  for (double x : v) {
    const double m = std::max(r, x);
    r = std::isinf(m) && m < 0 ? m : m + std::log(std::exp(r - m) + std::exp(x - m));
    o.push_back(r);
  }
  return o;
}

OpRow prod_row(std::string name, In in, Shape dims, bool keepdim, bool gradgrad) {
  OpRow r = op_row(
      std::move(name), {std::move(in)}, [dims, keepdim](const TensorList& x) { return nb::prod(x[0], dims, keepdim); },
      [dims, keepdim](const std::vector<Arr>& a) { return reduce_ref(a[0], dims, keepdim, ref_prod); }, gradgrad);
  r.atol32 = 1e-4;
  return r;
}

std::vector<OpRow> product_rows() {
  std::vector<OpRow> rows;
  // |x| in [0.5, 1.5]: a product of 24 stays near 1, so f32 and the finite differences stay exact.
  rows.push_back(prod_row("prod_all", M({2, 3, 4}, 0.5, 1.5), {}, false, true));
  rows.back().extra_cases = {{Shape{}}, {Shape{7}}, {Shape{0, 3}}};
  rows.push_back(prod_row("prod_dim1", M({2, 3, 4}, 0.5, 1.5), {1}, false, true));
  rows.back().extra_cases = {{Shape{2, 0, 4}}, {Shape{2, 1, 4}}};
  rows.push_back(prod_row("prod_dims02_keepdim", M({2, 3, 5}, 0.5, 1.5), {0, 2}, true, true));
  rows.push_back(prod_row("prod_dim_neg1", M({3, 5}, 0.5, 1.5), {-1}, false, false));
  // Zeros: row 0 has one, row 1 two, row 2 three, row 3 none (with a negative value).
  const std::vector<double> zeros_4x4 = {1.5, 0, -2, 0.5, 0, 3, 0, -1, 0, 0, 2, 0, 1.5, -2, 0.5, 3};
  rows.push_back(prod_row("prod_dim1_with_zeros", X({4, 4}, zeros_4x4, DType::f64), {1}, false, true));
  rows.push_back(prod_row("prod_all_one_zero", X({2, 3}, {1.5, -2, 0, 0.5, 3, -1}, DType::f64), {}, false, true));
  rows.push_back(prod_row("prod_all_two_zeros", X({2, 3}, {1.5, 0, 2, 0.5, 0, -1}, DType::f64), {}, false, true));
  rows.push_back(prod_row("prod_dim0_with_zeros", X({4, 4}, zeros_4x4, DType::f64), {0}, true, true));
  {
    // Integers multiply in i64 (u8 too): 200 * 2 = 400 would wrap in u8.
    OpRow r = prod_row("prod_u8_in_i64", X({2, 2}, {200, 2, 3, 0}, DType::u8), {1}, false, false);
    r.differentiable = false;
    rows.push_back(r);
  }
  for (bool is_any : {true, false}) {
    // NaN counts as true; each row of the 4x3 input is a different pattern.
    const std::string op = is_any ? "any" : "all";
    auto fn = [is_any](const Tensor& x, const Shape& d, bool k) { return is_any ? nb::any(x, d, k) : nb::all(x, d, k); };
    auto agg = [is_any](const std::vector<double>& v) {
      bool r = !is_any;
      for (double x : v) r = is_any ? (r || x != 0) : (r && x != 0);
      return double(r);
    };
    for (auto [suffix, dims, keepdim] : {std::tuple{"_all", Shape{}, false}, std::tuple{"_dim1", Shape{1}, false},
                                         std::tuple{"_dim0_keepdim", Shape{0}, true}}) {
      OpRow r = op_row(
          op + suffix, {X({4, 3}, {0, 0, 0, 1, 1, 1, 0, NAN, 0, -2, 0, 1}, DType::f64)},
          [fn, dims, keepdim](const TensorList& x) { return fn(x[0], dims, keepdim); },
          [agg, dims, keepdim](const std::vector<Arr>& a) { return reduce_ref(a[0], dims, keepdim, agg); });
      r.differentiable = false;
      rows.push_back(r);
    }
    // Integer input, and an empty dim (any of nothing is false, all of nothing is true).
    OpRow r = op_row(
        op + "_i64_empty_dim", {X({2, 0}, {}, DType::i64)}, [fn](const TensorList& x) { return fn(x[0], {1}, false); },
        [agg](const std::vector<Arr>& a) { return reduce_ref(a[0], {1}, false, agg); });
    r.differentiable = false;
    rows.push_back(r);
  }
  return rows;
}

std::vector<OpRow> scan_rows() {
  std::vector<OpRow> rows;
  auto scan_row = [&](std::string name, In in, int64_t dim, bool log, bool gradgrad) {
    OpRow r = op_row(
        std::move(name), {std::move(in)},
        [dim, log](const TensorList& x) { return log ? nb::logcumsumexp(x[0], dim) : nb::cumprod(x[0], dim); },
        [dim, log](const std::vector<Arr>& a) { return along_dim(a[0], dim, log ? ref_logcumsumexp : ref_cumprod); },
        gradgrad);
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  scan_row("cumprod_dim0", M({5, 3}, 0.5, 1.5), 0, false, true);
  rows.back().extra_cases = {{Shape{13, 2}}, {Shape{1, 3}}, {Shape{0, 2}}};
  scan_row("cumprod_last_dim", M({2, 3, 6}, 0.5, 1.5), -1, false, true);
  // One zero in row 0, two in row 1, none in row 2; the zeros early, late and adjacent.
  scan_row("cumprod_with_zeros", X({3, 5}, {2, 0, 3, -1, 0.5, 0, 1.5, 0, 2, -1, 1.5, 2, -0.5, 1, 3}, DType::f64), 1,
           false, true);
  {
    OpRow r = op_row(
        "cumprod_u8_in_i64", {X({2, 3}, {200, 2, 3, 7, 0, 5}, DType::u8)},
        [](const TensorList& x) { return nb::cumprod(x[0], 1); },
        [](const std::vector<Arr>& a) { return along_dim(a[0], 1, ref_cumprod); });
    r.differentiable = false;
    rows.push_back(r);
  }
  scan_row("logcumsumexp_dim0", F({6, 3}, -3, 3), 0, true, true);
  rows.back().extra_cases = {{Shape{11, 2}}, {Shape{1, 3}}, {Shape{0, 2}}};
  scan_row("logcumsumexp_last_dim", F({2, 3, 5}, -3, 3), -1, true, true);
  // A range no single shift covers (exp(-800) underflows) and exact ties.
  scan_row("logcumsumexp_wide_range_and_ties", X({2, 4}, {-800, 0, -800, 5, 0, 0, 0, -1}, DType::f64), 1, true, true);
  return rows;
}

}  // namespace

NB_OP_TABLE(Product, product_rows());
NB_OP_TABLE(Scan, scan_rows());

}  // namespace optest
