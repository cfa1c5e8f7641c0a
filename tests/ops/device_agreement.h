// Every op-table row on a device agrees with the CPU: the check behind test_gpu's CudaVsCpu
// (a real GPU) and test_fake_device's FakeDeviceVsCpu (the fake "cuda" device of
// tests/common/fake_device.h, CPU kernels behind device dispatch, run in every build). The
// rows are the ones tests/ops registers (optest::row_registry(): same ops, inputs, shape cases
// and broadcast pairs), plus the nn ops that live outside the table (conv, pooling,
// normalization, resampling). For each row, case, dtype (f32, f64) and layout (contiguous,
// transposed, strided slice, built on the device itself), the forward values and the input
// gradients for a fixed cotangent are computed on both devices and compared with the
// per-family tolerances below.
#pragma once
#include <array>
#include <random>
#include <utility>

#include "gpu/gpu_test_util.h"
#include "ops/op_table.h"

namespace optest {

namespace nb = nabla;
using gputest::expect_same;

// ---- tolerances ----------------------------------------------------------------------------
// CPU and CUDA evaluate the same formulas but not bit-identically: libdevice vs glibc math
// (a few ulp), different summation orders in reductions, GEMM and atomics-based scatters.
// f32 bounds are stated per family; f64 bounds are one shared tight bound.
struct Tol {
  double atol32, rtol32;
  double atol64 = 1e-12, rtol64 = 1e-9;
};

inline Tol family_tolerance(const std::string& family) {
  if (family == "Arithmetic" || family == "Activation") return {1e-5, 1e-4};  // element-wise
  if (family == "View" || family == "Join" || family == "Index") return {1e-6, 1e-6};  // copies, scatter-adds
  if (family == "Reduce" || family == "Softmax" || family == "ArgTopk") return {1e-5, 1e-4};
  if (family == "CrossEntropy" || family == "Loss" || family == "RegressionLoss") return {1e-5, 1e-4};
  if (family == "GroupNorm") return {1e-4, 1e-4};  // layer_norm's kernel: reduction order differs
  if (family == "Linalg") return {1e-4, 1e-4};  // GEMM blocking differs (TF32 is off by default)
  return {1e-4, 1e-4};                          // Nn: convolution, pooling, normalization
}

// ---- rows ----------------------------------------------------------------------------------

struct GpuRow {
  std::string family;
  OpRow row;
};
inline void PrintTo(const GpuRow& r, std::ostream* os) { *os << r.family << '_' << r.row.name; }
inline std::string gpu_row_name(const ::testing::TestParamInfo<GpuRow>& info) {
  return info.param.family + "_" + info.param.row.name;
}

inline OpRow nn_row(std::string name, std::vector<In> inputs, OpFn fn) {
  OpRow r;
  r.name = std::move(name);
  r.inputs = std::move(inputs);
  r.fn = std::move(fn);
  return r;
}

/// The nn ops that tests/ops checks in their own suites (conv_test, pool_test, norm_test)
/// rather than in the table; here they only need inputs and a call.
inline std::vector<OpRow> nn_rows() {
  std::vector<OpRow> rows;
  rows.push_back(nn_row("conv2d_pad1", {F({2, 3, 6, 6}), F({4, 3, 3, 3}), F({4})}, [](const TensorList& x) {
    return nb::conv2d(x[0], x[1], x[2], {.padding = {1, 1}});
  }));
  rows.push_back(nn_row("conv2d_stride2_dilation2_nobias", {F({2, 3, 9, 9}), F({4, 3, 3, 3})}, [](const TensorList& x) {
    return nb::conv2d(x[0], x[1], nb::Tensor(), {.stride = {2, 2}, .dilation = {2, 2}});
  }));
  rows.push_back(nn_row("conv2d_groups2", {F({2, 4, 5, 5}), F({6, 2, 3, 3}), F({6})}, [](const TensorList& x) {
    return nb::conv2d(x[0], x[1], x[2], {.padding = {1, 1}, .groups = 2});
  }));
  rows.push_back(nn_row("conv_transpose2d_stride2", {F({2, 3, 4, 4}), F({3, 2, 3, 3}), F({2})}, [](const TensorList& x) {
    return nb::conv_transpose2d(x[0], x[1], x[2], {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}});
  }));
  rows.push_back(nn_row("max_pool2d_k2", {F({2, 3, 6, 6})}, [](const TensorList& x) { return nb::max_pool2d(x[0]); }));
  rows.push_back(nn_row("max_pool2d_k3_s2_p1", {F({2, 3, 7, 7})}, [](const TensorList& x) {
    return nb::max_pool2d(x[0], {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
  }));
  rows.push_back(nn_row("avg_pool2d_k3_s2_p1", {F({2, 3, 7, 7})}, [](const TensorList& x) {
    return nb::avg_pool2d(x[0], {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
  }));
  rows.push_back(nn_row("adaptive_avg_pool2d_3x2", {F({2, 3, 7, 5})},
                        [](const TensorList& x) { return nb::adaptive_avg_pool2d(x[0], {3, 2}); }));
  rows.push_back(nn_row("global_avg_pool2d", {F({2, 3, 5, 5})},
                        [](const TensorList& x) { return nb::global_avg_pool2d(x[0]); }));
  // Training mode without running buffers (so the check has no side effects to compare).
  rows.push_back(nn_row("batch_norm_train", {F({4, 3, 5, 5}), F({3}, 0.5, 2), F({3})}, [](const TensorList& x) {
    return nb::batch_norm(x[0], nb::Tensor(), nb::Tensor(), x[1], x[2], /*training=*/true);
  }));
  rows.push_back(nn_row("batch_norm1d_train", {F({6, 4}), F({4}, 0.5, 2), F({4})}, [](const TensorList& x) {
    return nb::batch_norm(x[0], nb::Tensor(), nb::Tensor(), x[1], x[2], /*training=*/true);
  }));
  rows.push_back(nn_row("batch_norm_eval", {F({4, 3, 5, 5}), C({3}), C({3}, 0.5, 2), F({3}, 0.5, 2), F({3})},
                        [](const TensorList& x) { return nb::batch_norm(x[0], x[1], x[2], x[3], x[4], false); }));
  // Composed from index_select with host-built index tables (which must be uploaded), cat and max.
  for (auto [name, mode] : {std::pair{"pad_constant", nb::PadMode::Constant}, {"pad_reflect", nb::PadMode::Reflect},
                            {"pad_replicate", nb::PadMode::Replicate}, {"pad_circular", nb::PadMode::Circular}})
    rows.push_back(nn_row(name, {F({2, 3, 4, 5})}, [mode](const TensorList& x) {
      return nb::pad(x[0], {2, 1, 1, 3}, mode, 0.5);
    }));
  rows.push_back(nn_row("interpolate_nearest", {F({2, 3, 4, 5})},
                        [](const TensorList& x) { return nb::interpolate(x[0], {7, 3}); }));
  rows.push_back(nn_row("interpolate_bilinear", {F({2, 3, 4, 5})}, [](const TensorList& x) {
    return nb::interpolate(x[0], {6, 9}, nb::InterpolateMode::Bilinear);
  }));
  rows.push_back(nn_row("interpolate_bilinear_align_corners_scale", {F({2, 3, 4, 5})}, [](const TensorList& x) {
    return nb::interpolate(x[0], {.size = std::nullopt, .scale_factor = std::array<double, 2>{1.5, 0.7},
                                  .mode = nb::InterpolateMode::Bilinear, .align_corners = true});
  }));
  rows.push_back(nn_row("adaptive_max_pool2d_3x2", {F({2, 3, 7, 5})},
                        [](const TensorList& x) { return nb::adaptive_max_pool2d(x[0], {3, 2}); }));
  rows.push_back(nn_row("layer_norm", {F({4, 3, 5}), F({3, 5}, 0.5, 2), F({3, 5})}, [](const TensorList& x) {
    return nb::layer_norm(x[0], {3, 5}, x[1], x[2]);
  }));
  return rows;
}

inline std::vector<GpuRow> all_rows() {
  std::vector<GpuRow> out;
  for (const RowFamily& f : row_registry())
    for (OpRow& r : f.make()) out.push_back({f.name, std::move(r)});
  for (OpRow& r : nn_rows()) out.push_back({"Nn", std::move(r)});
  return out;
}

inline const GpuRow* find_row(const std::string& name) {
  static const std::vector<GpuRow> rows = all_rows();
  for (const GpuRow& r : rows)
    if (r.row.name == name) return &r;
  return nullptr;
}

/// A cotangent with fixed values in [-1, 1] (not from nabla's generator, which the ops share).
inline nb::Tensor cotangent(const nb::Tensor& out, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(size_t(out.numel()));
  for (double& e : v) e = u(rng);
  return nb::from_vector(v, out.shape(), out.dtype());
}

// ---- the check ------------------------------------------------------------------------------

/// Runs row `gr` on `dev` and on the CPU and expects forward values and input gradients to agree.
inline void expect_agrees_with_cpu(const GpuRow& gr, nb::Device dev) {
  const OpRow& r = gr.row;
  const Tol tol = family_tolerance(gr.family);
  auto cases = row_cases(r);
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    for (DType dt : {DType::f32, DType::f64}) {
      if (dt == DType::f32 && !r.f32) continue;
      const double atol = dt == DType::f32 ? tol.atol32 : tol.atol64;
      const double rtol = dt == DType::f32 ? tol.rtol32 : tol.rtol64;
      for (Layout layout : kLayouts) {
        bool changed = false, changed_gpu = false;
        uint64_t seed = seed_of(r.name, ci);
        TensorList in_cpu = make_inputs(cases[ci], seed, dt, layout, &changed);
        if (layout != Layout::Contiguous && !changed) continue;
        SCOPED_TRACE(describe(cases[ci], dt, layout));
        TensorList in_gpu;
        try {
          in_gpu = make_inputs(cases[ci], seed, dt, layout, &changed_gpu, dev);
        } catch (const nb::Error& e) {
          ADD_FAILURE() << "building the inputs on " << dev << ": " << e.what();
          continue;
        }
        for (const Tensor& t : in_gpu) EXPECT_TRUE(t.device() == dev) << "input not on " << dev << "";

        Tensor out_cpu = r.fn(in_cpu), out_gpu;
        try {
          out_gpu = r.fn(in_gpu);
        } catch (const nb::Error& e) {
          ADD_FAILURE() << "forward on " << dev << ": " << e.what();
          continue;
        }
        EXPECT_TRUE(out_gpu.device() == dev) << "output on " << out_gpu.device();
        expect_same(out_gpu, out_cpu, atol, rtol, "forward");

        if (!r.differentiable || !out_cpu.requires_grad()) continue;
        TensorList leaves_cpu, leaves_gpu;
        for (size_t i = 0; i < in_cpu.size(); ++i)
          if (in_cpu[i].defined() && in_cpu[i].requires_grad()) {
            leaves_cpu.push_back(in_cpu[i]);
            leaves_gpu.push_back(in_gpu[i]);
          }
        Tensor go_cpu = cotangent(out_cpu, seed ^ 0xC0FFEEull);
        TensorList g_cpu = nb::grad({out_cpu}, leaves_cpu, {go_cpu}, false, false, /*allow_unused=*/true), g_gpu;
        try {
          g_gpu = nb::grad({out_gpu}, leaves_gpu, {go_cpu.to(dev)}, false, false, /*allow_unused=*/true);
        } catch (const nb::Error& e) {
          ADD_FAILURE() << "backward on " << dev << ": " << e.what();
          continue;
        }
        ASSERT_EQ(g_cpu.size(), g_gpu.size());
        for (size_t k = 0; k < g_cpu.size(); ++k) {
          std::string what = "gradient of differentiable input " + std::to_string(k);
          ASSERT_EQ(g_cpu[k].defined(), g_gpu[k].defined()) << what << " defined on one device only";
          if (!g_cpu[k].defined()) continue;
          EXPECT_TRUE(g_gpu[k].device() == dev) << what << " on " << g_gpu[k].device();
          expect_same(g_gpu[k], g_cpu[k], atol, rtol, what);
        }
      }
    }
  }
}

}  // namespace optest
