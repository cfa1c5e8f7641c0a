// 2-D convolution through cuDNN's convolution API (NCHW, f16, bf16, f32 and f64, any stride,
// padding, dilation and group count; the 16-bit types compute in float on the tensor cores).
// Each geometry gets, once per thread and device, its descriptors
// and a ranked list of algorithms from cuDNN's heuristics; a steady training step therefore
// does no descriptor work and allocates nothing (the workspace buffer only grows).
// Numerics: f32 runs with CUDNN_FMA_MATH unless allow_tf32() (options.h), because
// CUDNN_DEFAULT_MATH lets cuDNN use TF32 tensor cores for f32 on Ampere and later.
// Algorithms: cuDNN's heuristic ranking, restricted to deterministic ones while
// deterministic_algorithms() is on (the default, so a run repeats bit for bit as on the CPU);
// with the benchmark option the first call for a geometry times the candidates and keeps the
// fastest, as PyTorch's cudnn.benchmark.
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <cstring>
#include <map>
#include <vector>

#include "kernels.h"
#include "options.h"
#include "runtime.h"
#include "scratch.h"

namespace nabla::backend::cuda {
namespace {

const char* direction_name(int d) {
  static const char* names[] = {"conv2d", "conv2d_input_grad", "conv2d_weight_grad"};
  return names[d];
}

[[noreturn]] void fail_cudnn(const char* op, const char* call, cudnnStatus_t st, const ConvGeom& g) {
  fail("[", op, "] cuDNN ", call, " failed: ", cudnnGetErrorString(st), " (input [", g.N, ", ", g.C, ", ", g.H, ", ",
       g.W, "], weight [", g.O, ", ", g.C / std::max<int64_t>(g.groups, 1), ", ", g.kh, ", ", g.kw, "], stride (", g.sh,
       ", ", g.sw, "), padding (", g.ph, ", ", g.pw, "), dilation (", g.dh, ", ", g.dw, "), groups ", g.groups, ")");
}

#define NB_CUDNN(op, g, expr)                                    \
  do {                                                           \
    cudnnStatus_t nb_st_ = (expr);                               \
    if (nb_st_ != CUDNN_STATUS_SUCCESS) [[unlikely]]             \
      fail_cudnn(op, #expr, nb_st_, g);                          \
  } while (0)

// Statuses after which another algorithm may still work (the heuristics list algorithms whose
// support for an unusual geometry is only known when they are asked).
bool try_next(cudnnStatus_t st) {
  const int s = int(st);
  return (s >= 3000 && s < 4000) || s == CUDNN_STATUS_BAD_PARAM;
}

enum Dir { kForward = 0, kInputGrad = 1, kWeightGrad = 2 };

struct Candidate {
  int algo;
  cudnnMathType_t math;
  size_t workspace;
  bool deterministic;  // as cuDNN reports it for this algorithm and geometry
};

// Everything cuDNN needs for one (geometry, dtype, TF32 setting): never destroyed, see scratch.h.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  std::array<std::vector<Candidate>, 3> candidates;
  std::array<bool, 3> searched{};
  std::array<size_t, 3> pick{};
};

// The algorithm policy in force when a plan was made: a change makes new plans.
struct Policy {
  bool tf32, benchmark, deterministic;
};

Policy current_policy(DType dt) {
  return {dt == DType::f32 && allow_tf32(), conv_benchmark(), conv_deterministic()};
}

using Key = std::array<int64_t, 20>;

Key make_key(DType dt, const ConvGeom& g, const Policy& pol) {
  return {g.N,  g.C,  g.H,      g.W,         g.O,          g.kh,   g.kw,
          g.Ho, g.Wo, g.sh,     g.sw,        g.ph,         g.pw,   g.dh,
          g.dw, g.groups, int64_t(dt), int64_t(pol.tf32), int64_t(pol.benchmark), int64_t(pol.deterministic)};
}

struct DeviceState {
  cudnnHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  std::map<Key, Plan> plans;
};

// The calling thread's cuDNN handle for the current device (a handle must not be used by two
// threads at once), bound to the device's compute stream.
DeviceState& device_state(const char* op, const ConvGeom& g) {
  thread_local std::vector<DeviceState> states;  // never destroyed, see scratch.h
  const int dev = current_device();
  if (dev >= int(states.size())) states.resize(size_t(dev) + 1);
  DeviceState& s = states[size_t(dev)];
  if (s.handle == nullptr) NB_CUDNN(op, g, cudnnCreate(&s.handle));
  cudaStream_t stream = compute_stream();
  if (s.stream != stream) {
    NB_CUDNN(op, g, cudnnSetStream(s.handle, stream));
    s.stream = stream;
  }
  return s;
}

int to_int(int64_t v, const char* op, const ConvGeom& g) {
  if (v > INT_MAX || v < INT_MIN) [[unlikely]]
    fail("[", op, "] size ", v, " exceeds cuDNN's 32-bit limit (input [", g.N, ", ", g.C, ", ", g.H, ", ", g.W,
         "], ", g.O, " output channels)");
  return int(v);
}

cudnnDataType_t data_type(DType dt) {
  switch (dt) {
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    case DType::f32: return CUDNN_DATA_FLOAT;
    default: return CUDNN_DATA_DOUBLE;
  }
}
// The convolution's arithmetic: float for 16-bit tensors (the configuration cuDNN 9 supports for
// both, PyTorch's too: products summed in float, the output rounded once), else the data's type.
cudnnDataType_t compute_type(DType dt) { return is_half(dt) ? CUDNN_DATA_FLOAT : data_type(dt); }

cudnnMathType_t base_math(DType dt, bool tf32) {
  if (is_half(dt)) return CUDNN_TENSOR_OP_MATH;  // the reason to compute in 16 bits
  return dt == DType::f32 && !tf32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

Plan& plan_for(DeviceState& s, DType dt, const ConvGeom& g, const Policy& pol, const char* op) {
  const bool tf32 = pol.tf32;
  const Key key = make_key(dt, g, pol);
  auto it = s.plans.find(key);
  if (it != s.plans.end()) return it->second;
  Plan p;
  const cudnnDataType_t t = data_type(dt);
  NB_CUDNN(op, g, cudnnCreateTensorDescriptor(&p.x));
  NB_CUDNN(op, g, cudnnCreateTensorDescriptor(&p.y));
  NB_CUDNN(op, g, cudnnCreateTensorDescriptor(&p.bias));
  NB_CUDNN(op, g, cudnnCreateFilterDescriptor(&p.w));
  NB_CUDNN(op, g, cudnnCreateConvolutionDescriptor(&p.conv));
  NB_CUDNN(op, g,
           cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, t, to_int(g.N, op, g), to_int(g.C, op, g),
                                      to_int(g.H, op, g), to_int(g.W, op, g)));
  NB_CUDNN(op, g,
           cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, t, to_int(g.N, op, g), to_int(g.O, op, g),
                                      to_int(g.Ho, op, g), to_int(g.Wo, op, g)));
  NB_CUDNN(op, g, cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, t, 1, to_int(g.O, op, g), 1, 1));
  NB_CUDNN(op, g,
           cudnnSetFilter4dDescriptor(p.w, t, CUDNN_TENSOR_NCHW, to_int(g.O, op, g), to_int(g.C / g.groups, op, g),
                                      to_int(g.kh, op, g), to_int(g.kw, op, g)));
  NB_CUDNN(op, g,
           cudnnSetConvolution2dDescriptor(p.conv, to_int(g.ph, op, g), to_int(g.pw, op, g), to_int(g.sh, op, g),
                                           to_int(g.sw, op, g), to_int(g.dh, op, g), to_int(g.dw, op, g),
                                           CUDNN_CROSS_CORRELATION, compute_type(dt)));
  NB_CUDNN(op, g, cudnnSetConvolutionGroupCount(p.conv, to_int(g.groups, op, g)));
  NB_CUDNN(op, g, cudnnSetConvolutionMathType(p.conv, base_math(dt, tf32)));
  // ops/ computed Ho, Wo with the same floor rule; a mismatch would mean a wrong geometry.
  int n = 0, c = 0, h = 0, w = 0;
  NB_CUDNN(op, g, cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c, &h, &w));
  if (h != g.Ho || w != g.Wo || c != g.O)
    fail("[", op, "] cuDNN output size [", c, ", ", h, ", ", w, "] differs from the expected [", g.O, ", ", g.Ho, ", ",
         g.Wo, "]");
  return s.plans.emplace(key, std::move(p)).first->second;
}

// Workspaces beyond this are used only when no algorithm needs less (some FFT variants ask
// for gigabytes).
constexpr size_t kWorkspaceCap = size_t(1) << 30;

// Ranks cuDNN's heuristic list: supported entries only (deterministic ones only when
// `deterministic`), those within the workspace cap before those above it (stable: cuDNN's own
// order decides within each class). Without TF32 every candidate runs with CUDNN_FMA_MATH,
// since an entry reported as CUDNN_DEFAULT_MATH may still use TF32 for f32; tensor-op entries
// are dropped. Should the deterministic filter leave nothing, the others follow as a last resort.
template <typename Perf, typename WsQuery>
std::vector<Candidate> rank(const Perf* perf, int count, cudnnConvolutionDescriptor_t conv, bool no_tensor_ops,
                            bool deterministic, WsQuery&& ws_query) {
  struct Ranked {
    Candidate c;
    int cls;
  };
  std::vector<Ranked> out;
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    const bool tensor_op =
        perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (no_tensor_ops && tensor_op) continue;
    const cudnnMathType_t math = no_tensor_ops ? CUDNN_FMA_MATH : perf[i].mathType;
    if (cudnnSetConvolutionMathType(conv, math) != CUDNN_STATUS_SUCCESS) continue;
    size_t ws = 0;
    if (ws_query(perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS) continue;
    const bool nondeterministic = deterministic && perf[i].determinism != CUDNN_DETERMINISTIC;
    const int cls = (nondeterministic ? 2 : 0) + (ws <= kWorkspaceCap ? 0 : 1);
    out.push_back({{int(perf[i].algo), math, ws, perf[i].determinism == CUDNN_DETERMINISTIC}, cls});
  }
  std::stable_sort(out.begin(), out.end(), [](const Ranked& a, const Ranked& b) { return a.cls < b.cls; });
  std::vector<Candidate> result;
  for (const Ranked& r : out) result.push_back(r.c);
  return result;
}

void search(DeviceState& s, Plan& p, Dir d, DType dt, const Policy& pol, const ConvGeom& g) {
  const char* op = direction_name(d);
  const bool tf32 = pol.tf32, det = pol.deterministic;
  const bool no_tensor_ops = dt == DType::f32 && !tf32;
  NB_CUDNN(op, g, cudnnSetConvolutionMathType(p.conv, base_math(dt, tf32)));
  int max_count = 0, returned = 0;
  if (d == kForward) {
    NB_CUDNN(op, g, cudnnGetConvolutionForwardAlgorithmMaxCount(s.handle, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
    NB_CUDNN(op, g,
             cudnnGetConvolutionForwardAlgorithm_v7(s.handle, p.x, p.w, p.conv, p.y, max_count, &returned, perf.data()));
    p.candidates[d] = rank(perf.data(), returned, p.conv, no_tensor_ops, det, [&](cudnnConvolutionFwdAlgo_t a, size_t* ws) {
      return cudnnGetConvolutionForwardWorkspaceSize(s.handle, p.x, p.w, p.conv, p.y, a, ws);
    });
  } else if (d == kInputGrad) {
    NB_CUDNN(op, g, cudnnGetConvolutionBackwardDataAlgorithmMaxCount(s.handle, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
    NB_CUDNN(op, g,
             cudnnGetConvolutionBackwardDataAlgorithm_v7(s.handle, p.w, p.y, p.conv, p.x, max_count, &returned,
                                                         perf.data()));
    p.candidates[d] =
        rank(perf.data(), returned, p.conv, no_tensor_ops, det, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* ws) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(s.handle, p.w, p.y, p.conv, p.x, a, ws);
        });
  } else {
    NB_CUDNN(op, g, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(s.handle, &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
    NB_CUDNN(op, g,
             cudnnGetConvolutionBackwardFilterAlgorithm_v7(s.handle, p.x, p.y, p.conv, p.w, max_count, &returned,
                                                           perf.data()));
    p.candidates[d] =
        rank(perf.data(), returned, p.conv, no_tensor_ops, det, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* ws) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(s.handle, p.x, p.y, p.conv, p.w, a, ws);
        });
  }
  p.searched[d] = true;
  p.pick[d] = 0;
}

// One workspace per thread and device, shared by the three directions (used one at a time).
GrowBuffer& workspace_buffer() {
  thread_local GrowBuffer workspace;
  return workspace;
}

// The benchmark option: runs each eligible candidate (once to warm up, then kTimedRuns times
// between two events on the compute stream) on the call's own buffers, which the final run
// overwrites, and moves the eligible ones to the front, fastest first; the others keep their
// rank order behind them. Eligible: within the workspace cap and, under deterministic
// algorithms, deterministic (unless none is: rank()'s last resort). Timing only the deterministic
// ones matters: a faster non-deterministic algorithm (cuDNN's weight-gradient ALGO_0 adds with
// atomics) would otherwise win the timing and break the bit-for-bit promise. Candidates that
// fail with a "try another" status go last. One host synchronization per candidate, geometry
// and direction, on first use only.
constexpr int kTimedRuns = 3;  // one run alone is noisy at the ~0.1 ms of a batch-64 layer

template <typename Exec>
void time_candidates(DeviceState& s, Plan& p, Dir d, const ConvGeom& g, bool deterministic_only,
                     GrowBuffer& workspace, Exec&& exec) {
  const char* op = direction_name(d);
  std::vector<Candidate>& cands = p.candidates[d];
  const bool any_deterministic =
      std::any_of(cands.begin(), cands.end(), [](const Candidate& c) { return c.deterministic; });
  const bool skip_nondeterministic = deterministic_only && any_deterministic;
  std::vector<float> ms(cands.size(), std::numeric_limits<float>::infinity());
  // Destroyed on every way out: a failing candidate throws from inside the loop.
  struct Events {
    cudaEvent_t start = nullptr, stop = nullptr;
    ~Events() {
      if (start != nullptr) cudaEventDestroy(start);
      if (stop != nullptr) cudaEventDestroy(stop);
    }
  } ev;
  NB_CUDA_CHECK(cudaEventCreate(&ev.start));
  NB_CUDA_CHECK(cudaEventCreate(&ev.stop));
  cudaEvent_t start = ev.start, stop = ev.stop;
  for (size_t i = 0; i < cands.size(); ++i) {
    const Candidate& c = cands[i];
    if (c.workspace > kWorkspaceCap) continue;  // timed only if nothing else runs (left in order)
    if (skip_nondeterministic && !c.deterministic) continue;
    NB_CUDNN(op, g, cudnnSetConvolutionMathType(p.conv, c.math));
    void* ws = c.workspace > 0 ? workspace.get(c.workspace) : nullptr;
    cudnnStatus_t st = exec(s.handle, p, c.algo, ws, c.workspace);
    if (st != CUDNN_STATUS_SUCCESS) {
      if (!try_next(st)) fail_cudnn(op, "convolution (timing an algorithm)", st, g);
      continue;
    }
    NB_CUDA_CHECK(cudaEventRecord(start, s.stream));
    for (int r = 0; r < kTimedRuns && st == CUDNN_STATUS_SUCCESS; ++r) st = exec(s.handle, p, c.algo, ws, c.workspace);
    NB_CUDA_CHECK(cudaEventRecord(stop, s.stream));
    NB_CUDA_CHECK(cudaEventSynchronize(stop));
    if (st == CUDNN_STATUS_SUCCESS) NB_CUDA_CHECK(cudaEventElapsedTime(&ms[i], start, stop));
  }
  std::vector<size_t> order(cands.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ms[a] < ms[b]; });
  std::vector<Candidate> sorted;
  for (size_t i : order) sorted.push_back(cands[i]);
  cands = std::move(sorted);
}

// Runs direction d with the plan's current algorithm; an algorithm that turns out not to
// support the geometry is dropped for good and the next one is tried.
template <typename Exec>
void run(DType dt, const ConvGeom& g, Dir d, Exec&& exec) {
  const char* op = direction_name(d);
  const Policy pol = current_policy(dt);
  DeviceState& s = device_state(op, g);
  Plan& p = plan_for(s, dt, g, pol, op);
  GrowBuffer& workspace = workspace_buffer();
  if (!p.searched[d]) {
    search(s, p, d, dt, pol, g);
    if (pol.benchmark && p.candidates[d].size() > 1)
      time_candidates(s, p, d, g, pol.deterministic, workspace, exec);
  }
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (; p.pick[d] < p.candidates[d].size(); ++p.pick[d]) {
    const Candidate& c = p.candidates[d][p.pick[d]];
    NB_CUDNN(op, g, cudnnSetConvolutionMathType(p.conv, c.math));
    void* ws = c.workspace > 0 ? workspace.get(c.workspace) : nullptr;
    last = exec(s.handle, p, c.algo, ws, c.workspace);
    if (last == CUDNN_STATUS_SUCCESS) return;
    if (!try_next(last)) fail_cudnn(op, "convolution", last, g);
  }
  fail_cudnn(op, "algorithm selection (no algorithm supports this geometry)", last, g);
}

void check_dtype(DType dt, const char* op) {
  if (!is_floating(dt)) fail("[", op, "] expected a floating dtype (f16, bf16, f32 or f64), got ", dt);
}

// Scaling factors: cuDNN reads them as double for f64 data and as float otherwise (f16 and bf16
// included).
struct Scale {
  float f;
  double d;
  const void* get(DType dt) const { return dt == DType::f64 ? static_cast<const void*>(&d) : &f; }
};
constexpr Scale kOne{1.0f, 1.0};
constexpr Scale kZero{0.0f, 0.0};

// out += bias for 16-bit data, through the element-wise kernel (a float sum, rounded once):
// cudnnAddTensor does not list BFLOAT16 among its types.
void add_bias_half(DType dt, const ConvGeom& g, const void* bias, void* out) {
  const int64_t shape[4] = {g.N, g.O, g.Ho, g.Wo};
  const int64_t out_strides[4] = {g.O * g.Ho * g.Wo, g.Ho * g.Wo, g.Wo, 1}, bias_strides[4] = {0, 1, 0, 0};
  binary(BinaryOp::Add, dt, Geometry{4, shape}, Operand{out, out_strides}, Operand{out, out_strides},
         Operand{const_cast<void*>(bias), bias_strides});
}

// out += bias (broadcast over N, H, W), with the plan's descriptors.
void add_bias(DType dt, const ConvGeom& g, const void* bias, void* out) {
  if (is_half(dt)) return add_bias_half(dt, g, bias, out);
  const char* op = direction_name(kForward);
  DeviceState& s = device_state(op, g);
  Plan& p = plan_for(s, dt, g, current_policy(dt), op);
  NB_CUDNN(op, g, cudnnAddTensor(s.handle, kOne.get(dt), p.bias, bias, kOne.get(dt), p.y, out));
}

// out = bias (or 0) when the convolution sums over nothing (no input channels or an empty
// kernel), as the CPU's k = 0 GEMM gives. cuDNN rejects such filters, so this rare path builds
// its own output and bias descriptors.
void forward_empty_reduction(DType dt, const ConvGeom& g, const void* bias, void* out) {
  fill(dt, out, g.N * g.O * g.Ho * g.Wo, 0.0);
  if (!bias) return;
  if (is_half(dt)) return add_bias_half(dt, g, bias, out);
  const char* op = direction_name(kForward);
  DeviceState& s = device_state(op, g);
  cudnnTensorDescriptor_t y = nullptr, b = nullptr;
  NB_CUDNN(op, g, cudnnCreateTensorDescriptor(&y));
  NB_CUDNN(op, g, cudnnCreateTensorDescriptor(&b));
  cudnnStatus_t st = cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, data_type(dt), to_int(g.N, op, g),
                                                to_int(g.O, op, g), to_int(g.Ho, op, g), to_int(g.Wo, op, g));
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnSetTensor4dDescriptor(b, CUDNN_TENSOR_NCHW, data_type(dt), 1, to_int(g.O, op, g), 1, 1);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnAddTensor(s.handle, kOne.get(dt), b, bias, kOne.get(dt), y, out);
  cudnnDestroyTensorDescriptor(y);
  cudnnDestroyTensorDescriptor(b);
  if (st != CUDNN_STATUS_SUCCESS) fail_cudnn(op, "cudnnAddTensor", st, g);
}

}  // namespace

void conv2d_forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out) {
  check_dtype(dt, "conv2d");
  const int64_t n_out = g.N * g.O * g.Ho * g.Wo;
  if (n_out == 0) return;
  if (g.C == 0 || g.kh * g.kw == 0) return forward_empty_reduction(dt, g, bias, out);
  run(dt, g, kForward, [&](cudnnHandle_t h, const Plan& p, int algo, void* ws, size_t ws_size) {
    return cudnnConvolutionForward(h, kOne.get(dt), p.x, x, p.w, w, p.conv, cudnnConvolutionFwdAlgo_t(algo), ws,
                                   ws_size, kZero.get(dt), p.y, out);
  });
  if (bias) add_bias(dt, g, bias, out);
}

void conv2d_input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx) {
  check_dtype(dt, "conv2d_input_grad");
  const int64_t n_in = g.N * g.C * g.H * g.W;
  if (n_in == 0) return;
  if (g.O == 0 || g.Ho * g.Wo == 0 || g.kh * g.kw == 0) {
    fill(dt, gx, n_in, 0.0);
    return;
  }
  run(dt, g, kInputGrad, [&](cudnnHandle_t h, const Plan& p, int algo, void* ws, size_t ws_size) {
    return cudnnConvolutionBackwardData(h, kOne.get(dt), p.w, w, p.y, gout, p.conv,
                                        cudnnConvolutionBwdDataAlgo_t(algo), ws, ws_size, kZero.get(dt), p.x, gx);
  });
}

void conv2d_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw) {
  check_dtype(dt, "conv2d_weight_grad");
  const int64_t n_w = g.O * (g.groups > 0 ? g.C / g.groups : 0) * g.kh * g.kw;
  if (n_w == 0) return;
  if (g.N == 0 || g.Ho * g.Wo == 0) {
    fill(dt, gw, n_w, 0.0);
    return;
  }
  run(dt, g, kWeightGrad, [&](cudnnHandle_t h, const Plan& p, int algo, void* ws, size_t ws_size) {
    return cudnnConvolutionBackwardFilter(h, kOne.get(dt), p.x, x, p.y, gout, p.conv,
                                          cudnnConvolutionBwdFilterAlgo_t(algo), ws, ws_size, kZero.get(dt), p.w, gw);
  });
}

}  // namespace nabla::backend::cuda
