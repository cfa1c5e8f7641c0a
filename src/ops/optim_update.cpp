// Fused optimizer updates and multi-tensor helpers: checks, then one kernel call per dtype.
// The slot lists are rebuilt in reused thread-local buffers, so a step allocates nothing.
#include <algorithm>
#include "nabla/ops/optim_update.h"

#include "nabla/ops/adafactor_update.h"

#include <cmath>

#include "../backend/optim_kernels.h"
#include "op_util.h"

namespace nabla {

namespace {

/// Every floating dtype, in the order the fused calls run (the order does not change results:
/// each call touches only its own dtype's tensors).
constexpr DType kFloatingDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16};

const char* algo_name(OptimAlgo a) {
  switch (a) {
    case OptimAlgo::SGD: return "SGD";
    case OptimAlgo::Adagrad: return "Adagrad";
    case OptimAlgo::RMSprop: return "RMSprop";
    case OptimAlgo::Adadelta: return "Adadelta";
    case OptimAlgo::Adam: return "Adam";
    case OptimAlgo::NAdam: return "NAdam";
    case OptimAlgo::RAdam: return "RAdam";
    case OptimAlgo::Adamax: return "Adamax";
    case OptimAlgo::Rprop: return "Rprop";
    case OptimAlgo::ASGD: return "ASGD";
  }
  return "?";
}

/// Which of the three state buffers `algo` reads and writes under `h`.
std::array<bool, 3> states_used(OptimAlgo algo, const OptimHyper& h) {
  switch (algo) {
    case OptimAlgo::SGD: return {h.momentum != 0, false, false};
    case OptimAlgo::Adagrad:
    case OptimAlgo::ASGD: return {true, false, false};
    case OptimAlgo::RMSprop: return {true, h.momentum > 0, h.centered};
    case OptimAlgo::Adadelta: return {true, true, false};
    case OptimAlgo::Adam: return {true, true, h.amsgrad};
    case OptimAlgo::NAdam:
    case OptimAlgo::RAdam:
    case OptimAlgo::Adamax:
    case OptimAlgo::Rprop: return {true, true, false};
  }
  return {false, false, false};
}

void check_buffer(const Tensor& t, const Tensor& param, const char* what, size_t i, const char* op) {
  NB_CHECK(t.defined(), "[", op, "] parameter ", i, ": ", what, " is undefined");
  NB_CHECK(t.device() == param.device(), "[", op, "] parameter ", i, ": ", what, " is on ", t.device(),
           " but the parameter is on ", param.device(), "; optimizer state lives on the parameter's device");
  NB_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype(), "[", op, "] parameter ", i, ": ", what,
           " has shape ", t.shape(), " and dtype ", t.dtype(), ", expected the parameter's ", param.shape(), " ",
           param.dtype());
  NB_CHECK(t.is_contiguous(), "[", op, "] parameter ", i, ": ", what, " must be contiguous");
  NB_CHECK(!t.shares_storage(param), "[", op, "] parameter ", i, ": ", what, " shares memory with the parameter");
}

/// Pointers and sizes of the defined tensors of `tensors` with dtype `dt` (contiguous copies
/// of non-contiguous ones are kept in `keep`).
struct Gathered {
  Device device;  ///< every gathered tensor lives here
  std::vector<void*> data;
  std::vector<int64_t> n;
  std::vector<Tensor> keep;
  void clear() {
    data.clear();
    n.clear();
    keep.clear();
  }
};

}  // namespace

void optim_update_(OptimAlgo algo, const OptimHyper& h, const std::vector<OptimSlot>& slots) {
  const char* op = algo_name(algo);
  const auto used = states_used(algo, h);
  static const char* kStateNames[3] = {"state[0]", "state[1]", "state[2]"};
  thread_local std::vector<backend::OptimSlot> ks;
  thread_local std::vector<Tensor> keep;  // contiguous copies of non-contiguous gradients
  // Non-contiguous parameters (a transposed leaf, as PyTorch accepts) are updated in a contiguous
  // copy that is written back after the kernel.
  thread_local std::vector<std::pair<Tensor, Tensor>> write_back;
  for (size_t i = 0; i < slots.size(); ++i) {
    NB_CHECK(slots[i].param.defined(), "[", op, "] parameter ", i, " is undefined");
    NB_CHECK(is_floating(slots[i].param.dtype()), "[", op, "] parameter ", i, " has dtype ", slots[i].param.dtype(),
             "; optimizers need floating parameters (f16, bf16, f32 or f64)");
  }
  // One fused call per (device, dtype) present; nearly always a single one. 16-bit slots (pure
  // f16/bf16 training) compute in float and round each written value once (the kernels' opmath).
  std::vector<Device> devices;
  for (const OptimSlot& s : slots)
    if (std::find(devices.begin(), devices.end(), s.param.device()) == devices.end()) devices.push_back(s.param.device());
  for (Device dev : devices)
  for (DType dt : kFloatingDTypes) {
    ks.clear();
    keep.clear();
    write_back.clear();
    for (size_t i = 0; i < slots.size(); ++i) {
      const OptimSlot& s = slots[i];
      if (s.param.dtype() != dt || s.param.device() != dev) continue;
      ops::check_tensor(s.param, op);
      ops::check_no_internal_overlap(s.param, op);
      NB_CHECK(s.grad.defined(), "[", op, "] parameter ", i, " has no gradient");
      Tensor p = s.param;
      if (!p.is_contiguous()) {
        write_back.emplace_back(s.param, ops::contiguous_data(s.param));
        p = write_back.back().second;
      }
      Tensor g = s.grad;
      if (!g.is_contiguous() && g.shape() == s.param.shape()) {
        keep.push_back(ops::contiguous_data(g));
        g = keep.back();
      }
      check_buffer(g, s.param, "gradient", i, op);
      backend::OptimSlot k{};
      k.param = p.raw_data();
      k.grad = g.raw_data();
      for (int j = 0; j < 3; ++j) {
        if (!used[j]) continue;
        check_buffer(s.state[j], s.param, kStateNames[j], i, op);
        k.state[j] = s.state[j].raw_data();
      }
      k.n = s.param.numel();
      for (int j = 0; j < 4; ++j) k.c[j] = s.c[j];
      ks.push_back(k);
    }
    if (ks.empty()) continue;
    backend::OptimHyper kh;
    kh.lr = h.lr, kh.momentum = h.momentum, kh.dampening = h.dampening, kh.alpha = h.alpha;
    kh.beta1 = h.beta1, kh.beta2 = h.beta2, kh.eps = h.eps, kh.weight_decay = h.weight_decay, kh.decay = h.decay;
    kh.etaminus = h.etaminus, kh.etaplus = h.etaplus;
    kh.step_size_min = h.step_size_min, kh.step_size_max = h.step_size_max;
    kh.nesterov = h.nesterov, kh.centered = h.centered, kh.amsgrad = h.amsgrad, kh.maximize = h.maximize;
    backend::get(dev).optim_update(backend::OptimAlgo(algo), dt, ks.data(), int64_t(ks.size()), kh);
    for (auto& [param, copy] : write_back) ops::copy_into(param, copy);
  }
  keep.clear();
  write_back.clear();
  for (const OptimSlot& s : slots) {
    ops::bump_version(s.param, "optim_update_");
    for (int j = 0; j < 3; ++j)
      if (used[j]) ops::bump_version(s.state[j], "optim_update_");
  }
}

namespace {

/// Collects the defined tensors of dtype `dt` (erroring on non-floating ones or mixed devices).
/// Non-contiguous tensors are copied into `keep` when `copy_strided`, else skipped.
void gather(const TensorList& tensors, DType dt, bool copy_strided, const char* op, Gathered& out) {
  out.clear();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (!t.defined()) continue;
    ops::check_tensor(t, op);
    NB_CHECK(is_floating(t.dtype()), "[", op, "] tensor ", i, " has dtype ", t.dtype(),
             "; expected a floating dtype (f16, bf16, f32 or f64)");
    if (out.data.empty() && out.keep.empty()) out.device = t.device();
    NB_CHECK(t.device() == out.device, "[", op, "] tensor ", i, " is on ", t.device(), " but earlier ones are on ",
             out.device, "; expected all tensors on one device");
    if (t.dtype() != dt || t.numel() == 0) continue;
    if (t.is_contiguous()) {
      out.data.push_back(t.raw_data());
    } else {
      if (!copy_strided) continue;
      out.keep.push_back(ops::contiguous_data(t));
      out.data.push_back(out.keep.back().raw_data());
    }
    out.n.push_back(t.numel());
  }
}

}  // namespace

double foreach_norm(const TensorList& tensors, double p) {
  NB_CHECK(p > 0 && !std::isnan(p), "[foreach_norm] norm type must be positive (or inf), got ", p);
  thread_local Gathered g;
  const bool is_inf = std::isinf(p);
  double acc = 0;
  for (DType dt : kFloatingDTypes) {
    gather(tensors, dt, true, "foreach_norm", g);
    if (g.data.empty()) continue;
    double part = backend::get(g.device).multi_abs_pow_sum(dt, g.data.data(), g.n.data(), int64_t(g.n.size()), p);
    if (is_inf) {
      acc = (part > acc || std::isnan(part)) ? part : acc;
    } else {
      acc += part;
    }
  }
  g.clear();
  if (is_inf) return acc;
  if (p == 2.0) return std::sqrt(acc);
  if (p == 1.0) return acc;
  return std::pow(acc, 1.0 / p);
}

void foreach_mul_(const TensorList& tensors, double factor) {
  thread_local Gathered g;
  for (DType dt : kFloatingDTypes) {
    gather(tensors, dt, false, "foreach_mul_", g);
    if (!g.data.empty()) backend::get(g.device).multi_scale(dt, g.data.data(), g.n.data(), int64_t(g.n.size()), factor);
  }
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (t.is_contiguous()) {
      ops::bump_version(t, "foreach_mul_");
    } else {  // rare (strided gradients): out of place, then copied back
      ops::copy_into(t, ops::unary_kernel(backend::UnaryOp::MulScalar, t, factor));
      ops::bump_version(t, "foreach_mul_");
    }
  }
}

void foreach_clamp_(const TensorList& tensors, double min, double max) {
  NB_CHECK(!(min > max), "[foreach_clamp_] min ", min, " is greater than max ", max);
  thread_local Gathered g;
  for (DType dt : kFloatingDTypes) {
    gather(tensors, dt, false, "foreach_clamp_", g);
    if (!g.data.empty()) backend::get(g.device).multi_clamp(dt, g.data.data(), g.n.data(), int64_t(g.n.size()), min, max);
  }
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (!t.is_contiguous()) ops::copy_into(t, ops::unary_kernel(backend::UnaryOp::Clamp, t, min, max));
    ops::bump_version(t, "foreach_clamp_");
  }
}

}  // namespace nabla

// ---- Adafactor ------------------------------------------------------------------------------

namespace nabla {

namespace {
void check_adafactor_state(const Tensor& t, const Tensor& p, const Shape& want, const char* what) {
  NB_CHECK(t.defined(), "[Adafactor] ", what, " is undefined");
  NB_CHECK(t.device() == p.device(), "[Adafactor] ", what, " is on ", t.device(), " but the parameter is on ",
           p.device(), "; optimizer state lives on the parameter's device");
  NB_CHECK(t.shape() == want && t.dtype() == p.dtype(), "[Adafactor] ", what, " has shape ", t.shape(),
           " and dtype ", t.dtype(), ", expected ", want, " ", p.dtype(), " for a parameter of shape ", p.shape());
  NB_CHECK(t.is_contiguous(), "[Adafactor] ", what, " must be contiguous");
  NB_CHECK(!t.shares_storage(p), "[Adafactor] ", what, " shares memory with the parameter");
}
}  // namespace

bool has_fused_adafactor(Device device) { return device.is_cpu(); }

void adafactor_update_(const Tensor& param, const Tensor& grad, const Tensor& row_var, const Tensor& col_var,
                       const Tensor& variance, const AdafactorStepScalars& s) {
  NB_CHECK(param.defined(), "[Adafactor] the parameter is undefined");
  NB_CHECK(is_floating(param.dtype()), "[Adafactor] the parameter has dtype ", param.dtype(),
           "; optimizers need floating parameters (f16, bf16, f32 or f64)");
  NB_CHECK(has_fused_adafactor(param.device()), "[Adafactor] the fused step runs on the CPU; the parameter is on ",
           param.device(), " (use fused(false): the composed step runs on every device)");
  ops::check_tensor(param, "Adafactor");
  ops::check_no_internal_overlap(param, "Adafactor");
  NB_CHECK(grad.defined(), "[Adafactor] the parameter has no gradient");
  const Tensor g = grad.is_contiguous() || grad.shape() != param.shape() ? grad : ops::contiguous_data(grad);
  check_buffer(g, param, "gradient", 0, "Adafactor");
  const bool factored = param.dim() >= 2;
  backend::AdafactorSlot k{};
  Tensor p = param.is_contiguous() ? param : ops::contiguous_data(param);
  k.param = p.raw_data();
  k.grad = g.raw_data();
  k.n = param.numel();
  if (factored) {
    Shape rs = param.shape(), cs = param.shape();
    rs.back() = 1;
    cs[cs.size() - 2] = 1;
    check_adafactor_state(row_var, param, rs, "row_var");
    check_adafactor_state(col_var, param, cs, "col_var");
    k.rows = param.shape()[param.dim() - 2];
    k.cols = param.shape().back();
    k.batch = k.rows * k.cols == 0 ? 0 : k.n / (k.rows * k.cols);
    k.row = row_var.raw_data();
    k.col = col_var.raw_data();
  } else {
    check_adafactor_state(variance, param, param.shape(), "variance");
    k.var = variance.raw_data();
  }
  backend::AdafactorHyper h{s.new_weight, s.rho, s.eps1, s.eps2, s.d, s.decay, s.maximize};
  if (k.n > 0) backend::get(param.device()).adafactor_update(param.dtype(), k, h);
  if (!param.is_contiguous()) ops::copy_into(param, p);
  ops::bump_version(param, "Adafactor");
  for (const Tensor* t : {&row_var, &col_var, &variance})
    if (t->defined()) ops::bump_version(*t, "Adafactor");
}

}  // namespace nabla
