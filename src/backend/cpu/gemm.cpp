// GEMM on the CPU. f64, and f32 calls that oneDNN does not take, go through CBLAS (OpenBLAS,
// OpenMP build: shares our thread pool). With NABLA_GEMM_ONEDNN (the default where libdnnl-dev is
// found), f32 GEMMs of at least 2^18 multiply-adds run as cached oneDNN matmul primitives
// (gemm_onednn.cpp), measured faster on the MLP's shapes and on square matmul (bench/README.md);
// smaller ones stay on BLAS, whose call overhead is lower (crossover between 96^3 and 128^3).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../backend.h"
#include "../kernels/elementwise_ops.h"
#include "gemm_impl.h"
#include "half_buffer.h"
#include "parallel.h"
#include "scratch.h"

namespace nabla::backend::cpu {

namespace {

GemmImpl g_impl = GemmImpl::Auto;

constexpr int64_t kOneDnnMinFma = int64_t(1) << 18;

bool want_onednn(const GemmArgs& g) {
  switch (g_impl) {
    case GemmImpl::Blas: return false;
    case GemmImpl::OneDnn: return true;
    case GemmImpl::Auto: break;
  }
  return g.m * g.n * g.k >= kOneDnnMinFma;
}

void blas_sgemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, int(g.m),
              int(g.n), int(g.k), float(g.alpha), a, int(g.lda), b, int(g.ldb), float(g.beta), c, int(g.ldc));
}

// oneDNN's matmul splits the k sum across threads when A is read transposed (k-major: a weight
// gradient gᵀ·x over a batch) and the output has few columns, so the rounding follows the thread
// count. Probed over k 128-30000, m 10-1024, n 10-1024 and all transposes: results differed
// between 1, 2 and 4 threads exactly when trans_a, k >= 2048 and n <= 128. Those calls (n <= 256,
// for margin) are cut here into k-chunks whose size depends on the shape alone, each a
// single-threaded BLAS GEMM into its own partial (inside the parallel region, or at one thread,
// OpenBLAS runs on the calling thread), and the partials are added in chunk order: the same bits
// at any thread count (tests/ops/gemm_test.cpp). Partials are capped at 2^24 floats.
constexpr int64_t kLongKMinK = 2048, kLongKMaxN = 256, kLongKChunk = 1024, kLongKMaxChunks = 64;
constexpr int64_t kLongKMaxPartialFloats = int64_t(1) << 24;

// The k-chunk width for g: at least kLongKChunk, and wide enough to keep the chunk count within
// kLongKMaxChunks and the partials within kLongKMaxPartialFloats.
int64_t long_k_step(const GemmArgs& g) {
  const int64_t max_chunks = std::clamp<int64_t>(kLongKMaxPartialFloats / std::max<int64_t>(g.m * g.n, 1), 1,
                                                 kLongKMaxChunks);
  return std::max(kLongKChunk, (g.k + max_chunks - 1) / max_chunks);
}

bool long_k(const GemmArgs& g) {
  return g_impl == GemmImpl::Auto && g.trans_a && g.k >= kLongKMinK && g.n <= kLongKMaxN && g.m * g.n > 0 &&
         long_k_step(g) < g.k;
}

void long_k_sgemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  const int64_t step = long_k_step(g);
  const int64_t chunks = (g.k + step - 1) / step, mn = g.m * g.n;
  Scratch<float> partial_buf(size_t(chunks * mn));
  float* partial = partial_buf.get();
  parallel_for(chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t j = cb; j < ce; ++j) {
      const int64_t k0 = j * step, kn = std::min(step, g.k - k0);
      // op(A)[:, k0:k0+kn] and op(B)[k0:k0+kn, :] as plain sub-matrices of the stored ones.
      GemmArgs part = g;
      part.k = kn;
      part.alpha = 1;
      part.beta = 0;
      part.ldc = g.n;
      blas_sgemm(part, a + (g.trans_a ? k0 * g.lda : k0), b + (g.trans_b ? k0 : k0 * g.ldb), partial + j * mn);
    }
  });
  const float alpha = float(g.alpha), beta = float(g.beta);
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t jn = 0; jn < g.n; ++jn) {
      float sum = partial[i * g.n + jn];
      for (int64_t j = 1; j < chunks; ++j) sum += partial[j * mn + i * g.n + jn];
      float& out = c[i * g.ldc + jn];
      out = beta == 0 ? alpha * sum : alpha * sum + beta * out;  // beta 0: c's old values (NaN too) unread
    }
}

// One f32 matrix (pointers already offset to the batch element): the measured choice between
// long-k chunks, oneDNN and BLAS.
void sgemm_one(const GemmArgs& g, bool dnn, const float* a, const float* b, float* c) {
  if (long_k(g)) {
    long_k_sgemm(g, a, b, c);
  } else if (!dnn || !onednn::sgemm(g, a, b, c, nullptr)) {
    blas_sgemm(g, a, b, c);
  }
}

// rows x cols of a 16-bit matrix with leading dimension ld, widened into a packed f32 one.
void widen_matrix(DType dt, const void* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  if (ld == cols) return widen_to_f32(dt, src, dst, rows * cols);
  const int64_t esize = int64_t(dtype_size(dt));
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      widen_to_f32(dt, static_cast<const char*>(src) + r * ld * esize, dst + r * cols, cols);
  });
}

// A 16-bit GEMM as an f32 one: A and B widened (exactly), the f32 path's float accumulation, and
// C narrowed once at the end; alpha and beta apply in float, and with beta != 0 C's old values
// are widened too, so C = alpha·op(A)·op(B) + beta·C is rounded once, as PyTorch's CPU GEMM for
// 16-bit types does. Debian's OpenBLAS 0.3.21 declares cblas_sbgemm but is built without it
// (no symbol in libopenblasp-r0.3.21.so); oneDNN's bf16 matmul is measured against this in
// bench/bench_half_gemm.cpp (want_onednn16 below).
void half_gemm_widened(DType dt, const GemmArgs& g, const void* a, const void* b, void* c) {
  const int64_t ra = g.trans_a ? g.k : g.m, ca = g.trans_a ? g.m : g.k;
  const int64_t rb = g.trans_b ? g.n : g.k, cb = g.trans_b ? g.k : g.n;
  Scratch<float> a32(size_t(ra * ca)), b32(size_t(rb * cb)), c32(size_t(g.m * g.n));
  widen_matrix(dt, a, ra, ca, g.lda, a32.get());
  widen_matrix(dt, b, rb, cb, g.ldb, b32.get());
  if (g.beta != 0) widen_matrix(dt, c, g.m, g.n, g.ldc, c32.get());
  GemmArgs f = g;
  f.lda = ca;
  f.ldb = cb;
  f.ldc = g.n;
  f.batch = 1;
  sgemm_one(f, want_onednn(f), a32.get(), b32.get(), c32.get());
  const int64_t esize = int64_t(dtype_size(dt));
  parallel_for(g.m, std::max<int64_t>(1, kGrain / std::max<int64_t>(g.n, 1)), [&](int64_t rb0, int64_t re) {
    for (int64_t r = rb0; r < re; ++r)
      narrow_from_f32(dt, c32.get() + r * g.n, static_cast<char*>(c) + r * g.ldc * esize, g.n);
  });
}

// Whether a 16-bit GEMM goes to oneDNN's own 16-bit matmul rather than the widened f32 path.
// bf16 (AVX512_BF16's dot products; bench_half_gemm, one thread, bench/README.md): oneDNN was
// 1.5-2.3x faster than f32 from 64^3 up (148 against 334 us at 256^3, 10.1 against 24.2 ms at
// 1024^3), 2-3x faster than widening, and at par at 16^3 (0.63 against 0.72 us): it takes every
// size. f16: oneDNN 2.6 has no f16 matmul without AVX512_FP16 (none here to measure), so the f32
// rule applies to where it might. Long-k GEMMs into small outputs stay on the widened path,
// whose f32 GEMM sums them in fixed k-chunks, the same bits at any thread count by construction
// (oneDNN's bf16 matmul gave the same bits at 1, 2 and 4 threads on half_gemm_test's long-k
// shapes too, but its f32 sibling splits k by thread count, so this is not left to chance).
bool want_onednn16(DType dt, const GemmArgs& g) {
  switch (g_impl) {
    case GemmImpl::Blas: return false;
    case GemmImpl::OneDnn: return true;
    case GemmImpl::Auto: break;
  }
  return !long_k(g) && (dt == DType::bf16 || g.m * g.n * g.k >= kOneDnnMinFma);
}

void half_gemm(DType dt, const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  const bool dnn = want_onednn16(dt, g);
  const int64_t esize = int64_t(dtype_size(dt));
  for (int64_t i = 0; i < g.batch; ++i) {
    const void* a = static_cast<const char*>(g.a) + i * g.stride_a * esize;
    const void* b = static_cast<const char*>(g.b) + i * g.stride_b * esize;
    void* c = static_cast<char*>(g.c) + i * g.stride_c * esize;
    if (!dnn || !onednn::gemm16(dt, g, a, b, c)) half_gemm_widened(dt, g, a, b, c);
  }
}

// Integer GEMM (PyTorch multiplies integer matrices on the CPU; BLAS has no integer routine).
// Products and sums run in uint64, so they wrap modulo 2^64 without signed overflow, and the
// cast back to T keeps the residue (mod 2^64 for i64, mod 256 for u8): the result the dtype's
// own wrapping arithmetic gives. Loop order i-p-j reads B and writes C along rows.
template <typename T>
void integer_gemm(const GemmArgs& g, const T* a, const T* b, T* c) {
  const auto to_integer = [](double v, const char* what) {
    NB_CHECK(v == std::nearbyint(v) && std::abs(v) < 0x1p63, "[matmul] an integer GEMM needs a whole ", what,
             ", got ", v);
    return uint64_t(int64_t(v));
  };
  const uint64_t alpha = to_integer(g.alpha, "alpha"), beta = to_integer(g.beta, "beta");
  const auto a_at = [&](int64_t i, int64_t p) { return uint64_t(g.trans_a ? a[p * g.lda + i] : a[i * g.lda + p]); };
  const auto b_at = [&](int64_t p, int64_t j) { return uint64_t(g.trans_b ? b[j * g.ldb + p] : b[p * g.ldb + j]); };
  parallel_for(g.m, std::max<int64_t>(1, 4096 / std::max<int64_t>(g.n * g.k, 1)), [&](int64_t ib, int64_t ie) {
    std::vector<uint64_t> row(size_t(g.n));
    for (int64_t i = ib; i < ie; ++i) {
      std::fill(row.begin(), row.end(), uint64_t(0));
      for (int64_t p = 0; p < g.k; ++p) {
        const uint64_t x = a_at(i, p);
        for (int64_t j = 0; j < g.n; ++j) row[size_t(j)] += x * b_at(p, j);
      }
      for (int64_t j = 0; j < g.n; ++j) {
        T& out = c[i * g.ldc + j];
        // beta 0: C's old values are not read, as in BLAS.
        out = T(beta == 0 ? alpha * row[size_t(j)] : alpha * row[size_t(j)] + beta * uint64_t(out));
      }
    }
  });
}

template <typename T>
void integer_gemm_batched(const GemmArgs& g) {
  for (int64_t i = 0; i < g.batch; ++i)
    integer_gemm(g, static_cast<const T*>(g.a) + i * g.stride_a, static_cast<const T*>(g.b) + i * g.stride_b,
                 static_cast<T*>(g.c) + i * g.stride_c);
}

}  // namespace

void set_gemm_impl(GemmImpl impl) { g_impl = impl; }
GemmImpl get_gemm_impl() { return g_impl; }
bool gemm_onednn_built() {
#ifdef NABLA_GEMM_ONEDNN
  return true;
#else
  return false;
#endif
}

void gemm(DType dt, const GemmArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  if (dt == DType::f32) {
    const bool dnn = want_onednn(g);
    for (int64_t i = 0; i < g.batch; ++i)
      sgemm_one(g, dnn, static_cast<const float*>(g.a) + i * g.stride_a,
                static_cast<const float*>(g.b) + i * g.stride_b, static_cast<float*>(g.c) + i * g.stride_c);
  } else if (is_half(dt)) {
    half_gemm(dt, g);
  } else if (dt == DType::f64) {
    for (int64_t i = 0; i < g.batch; ++i)
      cblas_dgemm(CblasRowMajor, ta, tb, int(g.m), int(g.n), int(g.k), g.alpha,
                  static_cast<const double*>(g.a) + i * g.stride_a, int(g.lda),
                  static_cast<const double*>(g.b) + i * g.stride_b, int(g.ldb), g.beta,
                  static_cast<double*>(g.c) + i * g.stride_c, int(g.ldc));
  } else if (dt == DType::i64) {
    integer_gemm_batched<int64_t>(g);
  } else if (dt == DType::u8) {
    integer_gemm_batched<uint8_t>(g);
  } else {
    fail("[matmul] unsupported dtype ", dt);
  }
}

bool gemm_bias_relu_fused(DType dt, const GemmArgs& g, const void* bias, bool relu) {
  if (!(dt == DType::f32 && g.batch == 1 && g.beta == 0 && want_onednn(g) && !long_k(g) &&
        onednn::sgemm(g, static_cast<const float*>(g.a), static_cast<const float*>(g.b), static_cast<float*>(g.c),
                      static_cast<const float*>(bias))))
    return false;
  // Our own pass, not oneDNN's ReLU post-op, whose zero-slope form maps NaN to 0.
  if (relu) {
    float* c = static_cast<float*>(g.c);
    parallel_for(g.m, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t j = 0; j < g.n; ++j) c[i * g.ldc + j] = relu_of(c[i * g.ldc + j]);
    });
  }
  return true;
}

}  // namespace nabla::backend::cpu
