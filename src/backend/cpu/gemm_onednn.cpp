// f32 (and 16-bit) GEMM through oneDNN matmul primitives (built with NABLA_GEMM_ONEDNN). Transposes and
// leading dimensions become the strides of plain memory descriptors, so no operand is copied or
// reordered; beta = 1 is a sum post-op and linear's bias is the primitive's bias (a following ReLU
// is our own pass: oneDNN's zero-slope ReLU post-op maps NaN to 0). Everything but the data pointers is cached per call shape and thread count:
// a steady training step only sets three or four handles and executes (no JIT, no dispatch).
#include "gemm_impl.h"

#ifdef NABLA_GEMM_ONEDNN
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "nabla/error.h"
#endif

namespace nabla::backend::cpu::onednn {

#ifndef NABLA_GEMM_ONEDNN

bool sgemm(const GemmArgs&, const float*, const float*, float*, const float*) { return false; }
bool gemm16(DType, const GemmArgs&, const void*, const void*, void*) { return false; }

#else

namespace {

using dnnl::memory;

struct Key {
  int64_t v[12];
  bool operator==(const Key& o) const { return std::memcmp(v, o.v, sizeof v) == 0; }
};

struct Entry {
  Key key;
  bool ok = false;
  dnnl::matmul prim;
  memory a, b, c, bias, scratch;
  size_t scratch_bytes = 0;
  dnnl_exec_arg_t args[5];
  int nargs = 0;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Cache {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::vector<std::unique_ptr<Entry>> entries;  // most recently created last
  // One scratchpad for all entries (executions on a thread are sequential), grown to the largest
  // any entry asked for, instead of one per cached shape.
  std::unique_ptr<void, FreeDeleter> scratch;
  size_t scratch_bytes = 0;

  void* scratch_for(size_t bytes) {
    if (bytes > scratch_bytes) {
      const size_t n = (bytes + 63) / 64 * 64;
      scratch.reset(std::aligned_alloc(64, n));
      if (!scratch) fail("[matmul] could not allocate a ", n, "-byte oneDNN scratchpad");
      scratch_bytes = n;
    }
    return scratch.get();
  }
};

Cache& cache() {
  // Per thread: a primitive's scratchpad is written by each execution, so threads must not share one.
  thread_local Cache c;
  return c;
}

void build(Cache& c, Entry& e, const GemmArgs& g, bool bias, memory::data_type dt) {
  // A is [m, k], B is [k, n], C is [m, n]; a transposed operand is the same matrix read with
  // swapped strides (what CBLAS's trans flag means for row-major storage).
  const memory::dims sa = g.trans_a ? memory::dims{1, g.lda} : memory::dims{g.lda, 1};
  const memory::dims sb = g.trans_b ? memory::dims{1, g.ldb} : memory::dims{g.ldb, 1};
  const memory::desc ad({g.m, g.k}, dt, sa), bd({g.k, g.n}, dt, sb), cd({g.m, g.n}, dt, memory::dims{g.ldc, 1});
  const memory::desc biasd({1, g.n}, dt, memory::dims{g.n, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops po;
  if (g.beta == 1) po.append_sum(1.f);
  if (po.len() > 0) attr.set_post_ops(po);
  auto pd = bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, biasd, cd), attr, c.eng)
                 : dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), attr, c.eng);
  e.prim = dnnl::matmul(pd);
  e.a = memory(ad, c.eng, DNNL_MEMORY_NONE);
  e.b = memory(bd, c.eng, DNNL_MEMORY_NONE);
  e.c = memory(cd, c.eng, DNNL_MEMORY_NONE);
  e.args[0] = {DNNL_ARG_SRC, e.a.get()};
  e.args[1] = {DNNL_ARG_WEIGHTS, e.b.get()};
  e.args[2] = {DNNL_ARG_DST, e.c.get()};
  e.nargs = 3;
  if (bias) {
    e.bias = memory(biasd, c.eng, DNNL_MEMORY_NONE);
    e.args[e.nargs++] = {DNNL_ARG_BIAS, e.bias.get()};
  }
  e.scratch_bytes = pd.scratchpad_desc().get_size();
  if (e.scratch_bytes > 0) {
    e.scratch = memory(pd.scratchpad_desc(), c.eng, DNNL_MEMORY_NONE);
    e.args[e.nargs++] = {DNNL_ARG_SCRATCHPAD, e.scratch.get()};
  }
  e.ok = true;
}

constexpr size_t kMaxEntries = 128;

Entry* lookup(const GemmArgs& g, bool bias, memory::data_type dt) {
  Cache& c = cache();
  const Key k{{int64_t(g.trans_a), int64_t(g.trans_b), g.m, g.n, g.k, g.lda, g.ldb, g.ldc, int64_t(g.beta != 0),
               int64_t(bias), int64_t(omp_get_max_threads()), int64_t(dt)}};
  // Newest first: a training step reuses the few shapes it created last.
  for (size_t i = c.entries.size(); i-- > 0;)
    if (c.entries[i]->key == k) return c.entries[i]->ok ? c.entries[i].get() : nullptr;
  if (c.entries.size() >= kMaxEntries) c.entries.erase(c.entries.begin());
  auto e = std::make_unique<Entry>();
  e->key = k;
  try {
    build(c, *e, g, bias, dt);
  } catch (const dnnl::error&) {
    *e = Entry{};  // remembered: this case stays on BLAS
    e->key = k;
  }
  c.entries.push_back(std::move(e));
  return c.entries.back()->ok ? c.entries.back().get() : nullptr;
}

void check(dnnl_status_t st, const GemmArgs& g) {
  if (st != dnnl_success)
    fail("[matmul] oneDNN matmul failed (status ", int(st), ") for m=", g.m, " n=", g.n, " k=", g.k, " lda=", g.lda,
         " ldb=", g.ldb, " ldc=", g.ldc);
}

// One matrix in dtype dt (f32, or the 16-bit types for which the bias, when given, is of dt too).
bool run(const GemmArgs& g, memory::data_type dt, const void* a, const void* b, void* c, const void* bias) {
  if (g.alpha != 1 || (g.beta != 0 && g.beta != 1) || omp_in_parallel()) return false;
  Entry* e = lookup(g, bias != nullptr, dt);
  if (!e) return false;
  e->a.set_data_handle(const_cast<void*>(a));
  e->b.set_data_handle(const_cast<void*>(b));
  e->c.set_data_handle(c);
  if (bias) e->bias.set_data_handle(const_cast<void*>(bias));
  Cache& ch = cache();
  if (e->scratch_bytes > 0) e->scratch.set_data_handle(ch.scratch_for(e->scratch_bytes));
  check(dnnl_primitive_execute(e->prim.get(), ch.stream.get(), e->nargs, e->args), g);
  check(dnnl_stream_wait(ch.stream.get()), g);
  return true;
}

}  // namespace

bool sgemm(const GemmArgs& g, const float* a, const float* b, float* c, const float* bias) {
  return run(g, memory::data_type::f32, a, b, c, bias);
}

bool gemm16(DType dt, const GemmArgs& g, const void* a, const void* b, void* c) {
  return run(g, dt == DType::bf16 ? memory::data_type::bf16 : memory::data_type::f16, a, b, c, nullptr);
}

#endif

}  // namespace nabla::backend::cpu::onednn
