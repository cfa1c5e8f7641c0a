// Convolution through oneDNN primitives (built with NABLA_CONV_ONEDNN), in f32 and, where oneDNN
// has a native kernel for the CPU, in bf16 / f16. The primitive picks its own (blocked) layouts;
// the NCHW buffers of the kernel interface are reordered in and out. Everything but the data
// pointers is cached per geometry, pass, dtype and thread count: primitive, reorders, the
// intermediate blocked buffers, the scratchpad and the argument arrays, so a steady training
// step allocates nothing and calls only dnnl_primitive_execute.
#include "conv_impl.h"

#ifdef NABLA_CONV_ONEDNN
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "nabla/error.h"
#endif

namespace nabla::backend::cpu::onednn {

#ifndef NABLA_CONV_ONEDNN

bool forward(DType, const ConvGeom&, const void*, const void*, const void*, void*) { return false; }
bool input_grad(DType, const ConvGeom&, const void*, const void*, void*) { return false; }
bool weight_grad(DType, const ConvGeom&, const void*, const void*, void*) { return false; }
bool input_weight_grad(DType, const ConvGeom&, const void*, const void*, const void*, void*, void*) { return false; }
std::string impl_name(DType, const ConvGeom&, OneDnnPass) { return ""; }
int64_t half_native_runs() { return 0; }
void set_winograd(bool) {}
bool winograd() { return false; }
int winograd_primitives() { return 0; }

#else

namespace {
std::atomic<bool> g_winograd = [] {
  const char* v = std::getenv("NABLA_CONV_WINOGRAD");
  return v == nullptr || std::strcmp(v, "0") != 0;
}();
}  // namespace

void set_winograd(bool on) { g_winograd = on; }
bool winograd() { return g_winograd; }

namespace {

using dnnl::memory;
using tag = memory::format_tag;

enum Pass { kForward = 0, kForwardBias, kInputGrad, kWeightGrad };

struct Key {
  int64_t v[20];
  bool operator==(const Key& o) const { return std::memcmp(v, o.v, sizeof v) == 0; }
};

Key make_key(const ConvGeom& g, Pass pass, DType dt) {
  return Key{{g.N, g.C, g.H, g.W, g.O, g.kh, g.kw, g.Ho, g.Wo, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups, int64_t(pass),
              int64_t(omp_get_max_threads()), int64_t(winograd()), int64_t(dt)}};
}

memory::data_type dnnl_type(DType dt) {
  switch (dt) {
    case DType::bf16:
      return memory::data_type::bf16;
    case DType::f16:
      return memory::data_type::f16;
    default:
      return memory::data_type::f32;
  }
}

// One user (NCHW) buffer of a primitive: its memory object (data handle set per call) and, when
// the primitive wants another layout, the cached blocked buffer and the reorder between them.
struct Operand {
  int arg;
  bool output;
  memory user, inner;
  dnnl::reorder reorder;  // user -> inner for inputs, inner -> user for outputs
  dnnl_exec_arg_t rargs[2];
};

struct Entry {
  Key key;
  DType dt = DType::f32;
  bool ok = false;
  std::string impl;  // the primitive's impl_info_str() (tests, benchmarks)
  bool winograd = false;  // built with oneDNN's Winograd algorithm
  dnnl::primitive prim;
  std::vector<Operand> ops;  // in the order the caller passes pointers
  memory scratch;
  std::vector<dnnl_exec_arg_t> args;
};

struct Cache {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::vector<std::unique_ptr<Entry>> entries;
};

Cache& cache() {
  // Per thread: entries hold buffers that one execution writes, so two threads must not share them.
  thread_local Cache c;
  return c;
}

memory::dims src_dims(const ConvGeom& g) { return {g.N, g.C, g.H, g.W}; }
memory::dims dst_dims(const ConvGeom& g) { return {g.N, g.O, g.Ho, g.Wo}; }
memory::dims wei_dims(const ConvGeom& g) {
  if (g.groups == 1) return {g.O, g.C, g.kh, g.kw};
  return {g.groups, g.O / g.groups, g.C / g.groups, g.kh, g.kw};
}
tag wei_tag(const ConvGeom& g) { return g.groups == 1 ? tag::oihw : tag::goihw; }

memory::desc any_md(const memory::dims& d, memory::data_type t) { return memory::desc(d, t, tag::any); }
memory::desc user_md(const memory::dims& d, tag t, memory::data_type dt) { return memory::desc(d, dt, t); }

// Whether a 16-bit primitive may run: oneDNN falls back to its reference kernels ("ref" in the
// implementation name: plain loops, many times slower than widening to f32 and running the f32
// JIT kernels) for the cases its 16-bit JIT kernels do not cover, so those are declined and stay
// on the widened path. f32 keeps whatever oneDNN picks, as measured before the 16-bit paths.
bool usable(DType dt, const char* impl) { return dt == DType::f32 || std::strstr(impl, "ref") == nullptr; }

// Adds operand `arg` with user layout `user` and the primitive's layout `want`.
void add_operand(Cache& c, Entry& e, int arg, const memory::desc& user, const memory::desc& want, bool output) {
  Operand op{arg, output, memory(user, c.eng, DNNL_MEMORY_NONE), memory(), dnnl::reorder(), {}};
  if (want != user) {
    op.inner = memory(want, c.eng);
    op.reorder = output ? dnnl::reorder(op.inner, op.user) : dnnl::reorder(op.user, op.inner);
    op.rargs[0] = {DNNL_ARG_FROM, (output ? op.inner : op.user).get()};
    op.rargs[1] = {DNNL_ARG_TO, (output ? op.user : op.inner).get()};
  }
  e.ops.push_back(op);
}

// Builds the argument array once the operands and scratchpad exist.
void bind(Entry& e) {
  e.args.clear();
  for (const Operand& op : e.ops) e.args.push_back({op.arg, (op.inner ? op.inner : op.user).get()});
  if (e.scratch) e.args.push_back({DNNL_ARG_SCRATCHPAD, e.scratch.get()});
}

bool padding(const ConvGeom& g, memory::dims& pl, memory::dims& pr) {
  const int64_t rh = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.H - g.ph;
  const int64_t rw = (g.Wo - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.W - g.pw;
  if (rh < 0 || rw < 0) return false;  // the last rows/columns are never read: left to im2col
  pl = {g.ph, g.pw};
  pr = {rh, rw};
  return true;
}

void build_with(Cache& c, Entry& e, const ConvGeom& g, Pass pass, dnnl::algorithm algo, DType dtype) {
  memory::dims st{g.sh, g.sw}, dl{g.dh - 1, g.dw - 1}, pl, pr;
  if (!padding(g, pl, pr)) return;
  // Every tensor in the caller's dtype, accumulation in f32 (oneDNN's rule for its 16-bit
  // convolutions), so a 16-bit output is its f32 sum rounded once, as the widened path's. The one
  // exception is the 16-bit weight gradient (below).
  const memory::data_type dt = dnnl_type(dtype);
  // Layouts left to oneDNN (`any`): its blocked kernels plus reorders beat the primitives it has
  // for plain NCHW (gemm-based, 1.3-1.7x slower on the CNN's conv2; bench/README.md).
  const memory::desc src_u = user_md(src_dims(g), tag::nchw, dt), dst_u = user_md(dst_dims(g), tag::nchw, dt),
                     wei_u = user_md(wei_dims(g), wei_tag(g), dt), bias_u = user_md({g.O}, tag::x, dt);
  const memory::desc src_a = any_md(src_dims(g), dt), dst_a = any_md(dst_dims(g), dt), wei_a = any_md(wei_dims(g), dt);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  using dnnl::algorithm;
  using dnnl::prop_kind;
  memory::desc scratch_md;
  if (pass == kForward || pass == kForwardBias) {
    const bool with_bias = pass == kForwardBias;
    auto d = with_bias
                 ? dnnl::convolution_forward::desc(prop_kind::forward_training, algo, src_a,
                                                   wei_a, bias_u, dst_a, st, dl, pl, pr)
                 : dnnl::convolution_forward::desc(prop_kind::forward_training, algo, src_a,
                                                   wei_a, dst_a, st, dl, pl, pr);
    dnnl::convolution_forward::primitive_desc pd(d, attr, c.eng);
    e.impl = pd.impl_info_str();
    if (!usable(dtype, e.impl.c_str())) return;
    add_operand(c, e, DNNL_ARG_SRC, src_u, pd.src_desc(), false);
    add_operand(c, e, DNNL_ARG_WEIGHTS, wei_u, pd.weights_desc(), false);
    if (with_bias) add_operand(c, e, DNNL_ARG_BIAS, bias_u, pd.bias_desc(), false);
    add_operand(c, e, DNNL_ARG_DST, dst_u, pd.dst_desc(), true);
    e.prim = dnnl::convolution_forward(pd);
    scratch_md = pd.scratchpad_desc();
  } else {
    // The backward primitives take the forward one as a hint for their layouts.
    dnnl::convolution_forward::primitive_desc hint(
        dnnl::convolution_forward::desc(prop_kind::forward_training, algo, src_a, wei_a, dst_a,
                                        st, dl, pl, pr),
        c.eng);
    if (pass == kInputGrad) {
      dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(algo, src_a, wei_a, dst_a, st, dl, pl, pr),
          attr, c.eng, hint);
      e.impl = pd.impl_info_str();
      if (!usable(dtype, e.impl.c_str())) return;
      add_operand(c, e, DNNL_ARG_DIFF_DST, dst_u, pd.diff_dst_desc(), false);
      add_operand(c, e, DNNL_ARG_WEIGHTS, wei_u, pd.weights_desc(), false);
      add_operand(c, e, DNNL_ARG_DIFF_SRC, src_u, pd.diff_src_desc(), true);
      e.prim = dnnl::convolution_backward_data(pd);
      scratch_md = pd.scratchpad_desc();
    } else {
      // A 16-bit weight gradient is a sum over the whole batch and every output position: it is
      // kept in f32 by the primitive and rounded once by the reorder into the caller's 16-bit
      // buffer, never accumulated in 16 bits (the f32 destination makes the one rounding ours,
      // not a choice inside the kernel, for one small reorder).
      const memory::desc diff_wei_a = any_md(wei_dims(g), memory::data_type::f32);
      // oneDNN's 16-bit weight-gradient kernels split the batch over the threads they are built
      // for and add the partial sums, so the result's bits depended on the thread count (bf16,
      // the CNN's conv2: one ulp apart between 1 and 2 threads; tests/ops/half_conv_native_test.cpp),
      // which nabla promises they do not. Built for one thread, the primitive sums in the same
      // order at every thread count (the f32 kernels keep their own choice, tested in conv_test.cpp).
      struct OneThread {
        int saved = omp_get_max_threads();
        bool on;
        explicit OneThread(bool on_) : on(on_) {
          if (on) omp_set_num_threads(1);
        }
        ~OneThread() {
          if (on) omp_set_num_threads(saved);
        }
      } one_thread(dtype != DType::f32);
      dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(algo, src_a, diff_wei_a, dst_a, st, dl, pl, pr),
          attr, c.eng, hint);
      e.impl = pd.impl_info_str();
      if (!usable(dtype, e.impl.c_str())) return;
      add_operand(c, e, DNNL_ARG_SRC, src_u, pd.src_desc(), false);
      add_operand(c, e, DNNL_ARG_DIFF_DST, dst_u, pd.diff_dst_desc(), false);
      add_operand(c, e, DNNL_ARG_DIFF_WEIGHTS, wei_u, pd.diff_weights_desc(), true);
      e.prim = dnnl::convolution_backward_weights(pd);
      scratch_md = pd.scratchpad_desc();
    }
  }
  if (scratch_md.get_size() > 0) e.scratch = memory(scratch_md, c.eng);
  bind(e);
  e.ok = true;
}

// Winograd F(4x4, 3x3) where oneDNN 2.x has it (3x3, stride 1, no dilation, one group, channels
// in multiples of 16) for the forward and input-gradient passes: a layer's forward + backward ran
// 1.2-1.7x faster than on the direct kernels from 32 to 512 channels, and at par with 16
// (bench_ops BM_Conv3x3Train, bench/README.md).
// Not with few channels, where the transforms dominate (the CNN's conv1, 1->32: forward 0.7 ->
// 3.1 ms), and not for the weight gradient, whose Winograd kernel sums over the batch in an order
// that depends on the thread count (tests/ops/conv_test.cpp), which nabla promises it does not.
// Its rounding differs from the direct kernels': within 5e-5 of the f64 result where those stay
// within 1e-5 (the same test).
bool winograd_candidate(const ConvGeom& g, Pass pass, DType dt) {
  return dt == DType::f32 && winograd() && pass != kWeightGrad && g.groups == 1 && g.kh == 3 && g.kw == 3 &&
         g.sh == 1 && g.sw == 1 &&
         g.dh == 1 && g.dw == 1 && g.C % 16 == 0 && g.O % 16 == 0;
}

// Winograd where it is a candidate and oneDNN builds it for this pass, the direct kernels otherwise.
// (oneDNN 2.x has Winograd for f32 only.)
void build(Cache& c, Entry& e, const ConvGeom& g, Pass pass, DType dt) {
  if (winograd_candidate(g, pass, dt)) {
    try {
      build_with(c, e, g, pass, dnnl::algorithm::convolution_winograd, dt);
      e.winograd = e.ok;
      return;
    } catch (const dnnl::error&) {
      e.ops.clear();  // no Winograd kernel for this shape or pass on this CPU
      e.args.clear();
      e.scratch = memory();
      e.ok = false;
    }
  }
  build_with(c, e, g, pass, dnnl::algorithm::convolution_direct, dt);
}

constexpr size_t kMaxEntries = 64;

Entry* lookup(const ConvGeom& g, Pass pass, DType dt) {
  if (omp_in_parallel()) return nullptr;  // inside someone's parallel region: im2col, single-threaded
  Cache& c = cache();
  const Key k = make_key(g, pass, dt);
  for (auto& e : c.entries)
    if (e->key == k) return e->ok ? e.get() : nullptr;
  if (c.entries.size() >= kMaxEntries) c.entries.erase(c.entries.begin());
  auto e = std::make_unique<Entry>();
  e->key = k;
  e->dt = dt;
  try {
    build(c, *e, g, pass, dt);
  } catch (const dnnl::error&) {
    e->ok = false;  // remembered: this case stays on im2col (f32) or the widened path (16-bit)
  }
  if (!e->ok) {
    e->ops.clear();
    e->prim = dnnl::primitive();
    e->scratch = memory();
  }
  c.entries.push_back(std::move(e));
  return c.entries.back()->ok ? c.entries.back().get() : nullptr;
}

}  // namespace

int winograd_primitives() {
  int n = 0;
  for (const auto& e : cache().entries) n += e->ok && e->winograd;
  return n;
}

namespace {

thread_local int64_t g_half_runs = 0;  // 16-bit primitives executed on this thread

void check(dnnl_status_t st) {
  if (st != dnnl_success) fail("[conv2d] oneDNN primitive execution failed (status ", int(st), ")");
}

// Runs a cached entry on the caller's buffers (in the order of Entry::ops). With `shared_arg`,
// that input is not converted: the primitive reads `shared` (already in its layout) instead.
void run(Entry& e, std::initializer_list<const void*> ptrs, int shared_arg = -1, dnnl_memory_t shared = nullptr) {
  Cache& c = cache();
  if (e.dt != DType::f32) ++g_half_runs;
  size_t i = 0;
  for (const void* p : ptrs) e.ops[i++].user.set_data_handle(const_cast<void*>(p));
  for (Operand& op : e.ops)
    if (!op.output && op.inner && op.arg != shared_arg)
      check(dnnl_primitive_execute(op.reorder.get(), c.stream.get(), 2, op.rargs));
  if (shared_arg < 0) {
    check(dnnl_primitive_execute(e.prim.get(), c.stream.get(), int(e.args.size()), e.args.data()));
  } else {
    dnnl_exec_arg_t args[8];
    const int n = int(e.args.size());
    if (n > 8) fail("[conv2d] internal: too many oneDNN arguments");
    for (int k = 0; k < n; ++k) args[k] = e.args[size_t(k)].arg == shared_arg ? dnnl_exec_arg_t{shared_arg, shared}
                                                                           : e.args[size_t(k)];
    check(dnnl_primitive_execute(e.prim.get(), c.stream.get(), n, args));
  }
  for (Operand& op : e.ops)
    if (op.output && op.inner) check(dnnl_primitive_execute(op.reorder.get(), c.stream.get(), 2, op.rargs));
  check(dnnl_stream_wait(c.stream.get()));
}

}  // namespace

bool forward(DType dt, const ConvGeom& g, const void* x, const void* w, const void* bias, void* out) {
  Entry* e = lookup(g, bias ? kForwardBias : kForward, dt);
  if (!e) return false;
  if (bias) {
    run(*e, {x, w, bias, out});
  } else {
    run(*e, {x, w, out});
  }
  return true;
}

bool input_grad(DType dt, const ConvGeom& g, const void* gout, const void* w, void* gx) {
  Entry* e = lookup(g, kInputGrad, dt);
  if (!e) return false;
  run(*e, {gout, w, gx});
  return true;
}

bool weight_grad(DType dt, const ConvGeom& g, const void* x, const void* gout, void* gw) {
  Entry* e = lookup(g, kWeightGrad, dt);
  if (!e) return false;
  run(*e, {x, gout, gw});
  return true;
}

bool input_weight_grad(DType dt, const ConvGeom& g, const void* x, const void* w, const void* gout, void* gx,
                       void* gw) {
  // A new entry evicts the oldest, which may be the other one: look the first up again once both
  // exist (a hit evicts nothing; a rebuild evicts the oldest, never the entry just made).
  if (!lookup(g, kWeightGrad, dt) || !lookup(g, kInputGrad, dt)) return false;
  Entry* ew = lookup(g, kWeightGrad, dt);
  Entry* ei = ew ? lookup(g, kInputGrad, dt) : nullptr;
  if (!ei) return false;
  const Operand& di = ei->ops[0];  // DIFF_DST of the input-gradient pass
  const Operand& dw = ew->ops[1];  // DIFF_DST of the weight-gradient pass
  run(*ei, {gout, w, gx});
  if (di.inner && dw.inner && di.inner.get_desc() == dw.inner.get_desc()) {
    run(*ew, {x, gout, gw}, DNNL_ARG_DIFF_DST, di.inner.get());  // gout converted once, for both
  } else {
    run(*ew, {x, gout, gw});
  }
  return true;
}

std::string impl_name(DType dt, const ConvGeom& g, OneDnnPass pass) {
  const Pass p = pass == OneDnnPass::Forward       ? kForward
                 : pass == OneDnnPass::ForwardBias ? kForwardBias
                 : pass == OneDnnPass::InputGrad   ? kInputGrad
                                                   : kWeightGrad;
  if (omp_in_parallel()) return "";
  lookup(g, p, dt);  // builds the entry (or remembers that oneDNN declined) as a call would
  const Key k = make_key(g, p, dt);
  for (const auto& e : cache().entries)
    if (e->key == k) return e->impl;
  return "";
}

int64_t half_native_runs() { return g_half_runs; }

#endif

}  // namespace nabla::backend::cpu::onednn
