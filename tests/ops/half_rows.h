// One op-table row in f16 and bf16 against f32 from the same rounded inputs: the check behind
// test_ops' HalfRows (on the CPU) and test_gpu's CudaHalfRows (on CUDA). For each case and
// 16-bit dtype the inputs are drawn in f32, rounded to the dtype and put on the device; the
// reference runs the row on the CPU in f32 from those rounded values. Forward values, the
// result's dtype and the input gradients for a fixed cotangent must agree within a few units of
// the 16-bit rounding.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/device_agreement.h"

namespace optest {

/// A 16-bit computation against f32 from the same rounded inputs: each op rounds its result once,
/// a composed op once per step, so the bound is a few units of the 16-bit rounding, relative to
/// the output's scale (a difference of O(1) terms keeps their absolute error).
inline double half_tolerance(DType dt) {
  return dt == DType::bf16 ? 16 * std::ldexp(1.0, -9) : 16 * std::ldexp(1.0, -11);
}

/// Expects `got` (any device, 16-bit) to equal the f32 `want` within half_tolerance(dt).
inline void expect_half_close(const Tensor& got, const Tensor& want, DType dt, const std::string& what) {
  EXPECT_EQ(nb::shape_str(got.shape()), nb::shape_str(want.shape())) << what << ": shape";
  if (nb::shape_str(got.shape()) != nb::shape_str(want.shape())) return;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double scale = 1;
  for (double e : w)
    if (std::isfinite(e)) scale = std::max(scale, std::abs(e));
  const double tol = half_tolerance(dt);
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool ok = (std::isnan(g[i]) && std::isnan(w[i])) || g[i] == w[i] ||
                    std::abs(g[i] - w[i]) <= tol * scale + tol * std::abs(w[i]);
    if (!ok && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << " in " << dt << ", " << w[i] << " in f32";
  }
  if (bad > 3) ADD_FAILURE() << what << ": " << bad << " elements differ in all";
}

/// `t` rounded to `dt` when floating and put on `dev`, as a fresh leaf that keeps t's requires_grad.
inline Tensor rounded(const Tensor& t, DType dt, nb::Device dev = nb::Device::cpu()) {
  if (!t.defined()) return t;
  Tensor r = t.detach();
  if (t.is_floating_point()) r = r.to(dt);
  r = r.to(dev);
  if (t.requires_grad()) r.requires_grad_(true);
  return r;
}

/// Runs row `gr` on `dev` in bf16 and f16 against the CPU's f32 from the same rounded inputs.
/// An error is a failure unless `may_refuse`; then it must name the dtype. Returns whether
/// any pass refused.
inline bool expect_half_matches_f32(const GpuRow& gr, nb::Device dev, bool may_refuse) {
  const OpRow& r = gr.row;
  bool refused = false;
  auto on_error = [&](const nb::Error& e, DType dt, const char* pass) {
    if (!may_refuse) {
      ADD_FAILURE() << pass << " in " << dt << " on " << dev << ": " << e.what();
    } else {
      refused = true;
      EXPECT_NE(std::string(e.what()).find(nb::dtype_name(dt)), std::string::npos) << e.what();
    }
  };
  auto cases = row_cases(r);
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(describe(cases[ci], dt, Layout::Contiguous));
      bool changed = false;
      const uint64_t seed = seed_of(r.name, ci);
      TensorList base = make_inputs(cases[ci], seed, DType::f32, Layout::Contiguous, &changed);
      TensorList in_h, in_f;
      for (const Tensor& t : base) {
        in_h.push_back(rounded(t, dt, dev));
        in_f.push_back(rounded(rounded(t, dt), DType::f32));
      }
      Tensor out_h;
      try {
        out_h = r.fn(in_h);
      } catch (const nb::Error& e) {
        on_error(e, dt, "forward");
        continue;
      }
      Tensor out_f = r.fn(in_f);
      EXPECT_TRUE(out_h.device() == dev) << "output on " << out_h.device();
      bool float_input = false;  // else the result's dtype is the op's own (one_hot's f32)
      for (const Tensor& t : in_h) float_input = float_input || (t.defined() && t.is_floating_point());
      EXPECT_EQ(out_h.dtype(), float_input && out_f.is_floating_point() ? dt : out_f.dtype()) << "result dtype";
      expect_half_close(out_h, out_f, dt, "forward");
      if (!r.differentiable || !out_f.requires_grad()) continue;
      TensorList leaves_h, leaves_f;
      for (size_t i = 0; i < in_h.size(); ++i)
        if (in_h[i].defined() && in_h[i].requires_grad()) {
          leaves_h.push_back(in_h[i]);
          leaves_f.push_back(in_f[i]);
        }
      const Tensor go = cotangent(out_f, seed ^ 0xC0FFEEull).to(out_h.dtype());
      TensorList g_f = nb::grad({out_f}, leaves_f, {go.to(out_f.dtype())}, false, false, true), g_h;
      try {
        g_h = nb::grad({out_h}, leaves_h, {go.to(dev)}, false, false, true);
      } catch (const nb::Error& e) {
        on_error(e, dt, "backward");
        continue;
      }
      for (size_t k = 0; k < g_f.size(); ++k) {
        EXPECT_EQ(g_h[k].defined(), g_f[k].defined()) << "gradient " << k;
        if (!g_f[k].defined() || !g_h[k].defined()) continue;
        EXPECT_EQ(g_h[k].dtype(), leaves_h[k].dtype()) << "gradient " << k << " dtype";
        expect_half_close(g_h[k], g_f[k], dt, "gradient of differentiable input " + std::to_string(k));
      }
    }
  }
  return refused;
}

}  // namespace optest
