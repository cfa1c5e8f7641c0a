#include "nabla/gradcheck.h"

#include <cmath>
#include <sstream>

#include "nabla/autograd.h"
#include "nabla/ops.h"

namespace nabla {

namespace {

// Storage offsets of a view's elements in row-major order, to perturb them in place.
std::vector<int64_t> element_offsets(const Tensor& t) {
  std::vector<int64_t> offs;
  int64_t n = t.numel();
  offs.reserve(size_t(n));
  std::vector<int64_t> idx(size_t(t.dim()), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = t.offset();
    for (int64_t d = 0; d < t.dim(); ++d) off += idx[size_t(d)] * t.stride(d);
    offs.push_back(off);
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < t.size(d)) break;
      idx[size_t(d)] = 0;
    }
  }
  return offs;
}

std::vector<double> flat_outputs(const TensorList& outs) {
  std::vector<double> v;
  for (const Tensor& o : outs) {
    auto ov = o.to_double_vector();
    v.insert(v.end(), ov.begin(), ov.end());
  }
  return v;
}

}  // namespace

bool gradcheck(const DiffFn& f, const TensorList& inputs, const GradcheckOptions& opts) {
  // GPU inputs: perturb f64 host leaves and move them to their device inside f (the move is
  // differentiable), so f and its backward still run on the GPU.
  bool on_device = false;
  for (const Tensor& t : inputs) on_device = on_device || (t.defined() && !t.device().is_cpu());
  if (on_device) {
    TensorList host;
    std::vector<Device> where;
    for (const Tensor& t : inputs) {
      where.push_back(t.defined() ? t.device() : Device::cpu());
      host.push_back(t.defined() ? t.detach().to(Device::cpu()).contiguous().requires_grad_(t.requires_grad()) : t);
    }
    DiffFn moved = [&](const TensorList& in) {
      TensorList dev;
      for (size_t i = 0; i < in.size(); ++i) dev.push_back(in[i].defined() ? in[i].to(where[i]) : in[i]);
      return f(dev);
    };
    return gradcheck(moved, host, opts);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined() && inputs[i].requires_grad())
      NB_CHECK(inputs[i].dtype() == DType::f64, "[gradcheck] input ", i, " has dtype ", inputs[i].dtype(),
               "; gradcheck needs f64 inputs for meaningful finite differences");
  }
  TensorList outs = f(inputs);
  int64_t n_out = 0;
  for (const Tensor& o : outs) n_out += o.numel();

  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    // Numerical Jacobian column by column.
    std::vector<int64_t> offs = element_offsets(x);
    double* base = static_cast<double*>(x.storage()->data);
    std::vector<std::vector<double>> numeric(size_t(x.numel()));
    for (size_t j = 0; j < offs.size(); ++j) {
      // Grad mode stays on: f may itself differentiate (gradgradcheck).
      double orig = base[offs[j]];
      base[offs[j]] = orig + opts.eps;
      auto plus = flat_outputs(f(inputs));
      base[offs[j]] = orig - opts.eps;
      auto minus = flat_outputs(f(inputs));
      base[offs[j]] = orig;
      NB_CHECK(int64_t(plus.size()) == n_out && int64_t(minus.size()) == n_out,
               "[gradcheck] the function returned a different number of output elements when re-evaluated");
      numeric[j].resize(plus.size());
      for (size_t k = 0; k < plus.size(); ++k) numeric[j][k] = (plus[k] - minus[k]) / (2 * opts.eps);
    }
    // Analytical Jacobian row by row: one backward per output element.
    int64_t row = 0;
    for (size_t o = 0; o < outs.size(); ++o) {
      for (int64_t k = 0; k < outs[o].numel(); ++k, ++row) {
        std::vector<double> analytic(size_t(x.numel()), 0.0);
        if (outs[o].requires_grad()) {
          TensorList gos;
          for (size_t q = 0; q < outs.size(); ++q) gos.push_back(zeros(outs[q].shape(), {.dtype = outs[q].dtype()}));
          static_cast<double*>(gos[o].raw_data())[k] = 1.0;  // written on the host, then moved
          for (size_t q = 0; q < outs.size(); ++q) gos[q] = gos[q].to(outs[q].device());
          TensorList req_outs, req_gos;
          for (size_t q = 0; q < outs.size(); ++q)
            if (outs[q].requires_grad()) req_outs.push_back(outs[q]), req_gos.push_back(gos[q]);
          TensorList g = grad(req_outs, {x}, req_gos, /*retain_graph=*/true, false, /*allow_unused=*/true);
          if (g[0].defined()) analytic = g[0].to_double_vector();
        }
        for (int64_t j = 0; j < x.numel(); ++j) {
          double a = analytic[size_t(j)], nmr = numeric[size_t(j)][size_t(row)];
          if (!(std::abs(a - nmr) <= opts.atol + opts.rtol * std::abs(nmr))) {
            if (!opts.raise) return false;
            fail("[gradcheck] Jacobian mismatch for input ", i, " (shape ", x.shape(), ") element ", j,
                 ", output element ", row, " of ", n_out, ": analytical ", a, " vs numerical ", nmr,
                 " (atol ", opts.atol, ", rtol ", opts.rtol, ")");
          }
        }
      }
    }
  }
  return true;
}

bool gradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
               const GradcheckOptions& opts) {
  return gradcheck(DiffFn([&](const TensorList& in) { return TensorList{f(in)}; }), inputs, opts);
}

bool gradgradcheck(const DiffFn& f, const TensorList& inputs, const GradcheckOptions& opts) {
  TensorList outs;
  {
    EnableGradGuard eg;
    outs = f(inputs);
  }
  // Random cotangents that also require grad, so the check covers d/dv as well.
  TensorList vs;
  for (const Tensor& o : outs) vs.push_back(randn(o.shape(), {.dtype = DType::f64, .requires_grad = true}));
  std::vector<size_t> diff_idx;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) diff_idx.push_back(i);
  size_t n_in = inputs.size();
  DiffFn grad_fn = [&](const TensorList& all) {
    TensorList in(all.begin(), all.begin() + long(n_in));
    TensorList v(all.begin() + long(n_in), all.end());
    TensorList o = f(in);
    TensorList diff_in;
    for (size_t i : diff_idx) diff_in.push_back(in[i]);
    TensorList req_o, req_v;
    for (size_t q = 0; q < o.size(); ++q)
      if (o[q].requires_grad()) req_o.push_back(o[q]), req_v.push_back(v[q]);
    if (req_o.empty()) return TensorList{};
    TensorList g = grad(req_o, diff_in, req_v, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    TensorList r;
    for (size_t k = 0; k < g.size(); ++k) r.push_back(g[k].defined() ? g[k] : zeros_like(diff_in[k]));
    return r;
  };
  TensorList all = inputs;
  all.insert(all.end(), vs.begin(), vs.end());
  return gradcheck(grad_fn, all, opts);
}

bool gradgradcheck(const std::function<Tensor(const TensorList&)>& f, const TensorList& inputs,
                   const GradcheckOptions& opts) {
  return gradgradcheck(DiffFn([&](const TensorList& in) { return TensorList{f(in)}; }), inputs, opts);
}

}  // namespace nabla
