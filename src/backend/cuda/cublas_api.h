// cuBLAS, opened on the first GEMM instead of linked. libcublas pulls in libcublasLt (540 MB),
// and loading the two costs about 0.35 s and 210 MB of resident memory in every process that
// links them, GPU or not: every CPU-only program, `nabla --help`, and each of the ~1,350 test
// processes paid it. Only the entry points gemm.cpp calls are looked up; their types are taken
// from cublas_v2.h with decltype, so a signature cannot drift from the header compiled against.
#pragma once
#include <cublas_v2.h>

#include <string>

namespace nabla::backend::cuda {

struct CublasApi {
  decltype(&cublasCreate) create = nullptr;
  decltype(&cublasSetStream) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
  decltype(&cublasSgemmStridedBatched_64) sgemm_strided_batched = nullptr;
  decltype(&cublasDgemmStridedBatched_64) dgemm_strided_batched = nullptr;
  decltype(&cublasGemmStridedBatchedEx_64) gemm_strided_batched_ex = nullptr;  // f16 / bf16 operands
};

/// The name the dynamic loader searches for: libcublas.so.<major version of the headers>.
std::string cublas_library_name();
/// Opens `library` and looks up every entry point of CublasApi, or throws a nabla::Error naming
/// the library, the loader's reason and LD_LIBRARY_PATH. The library stays open for the life of
/// the process. Apart from cublas() so tests can check both outcomes without a GPU.
CublasApi load_cublas(const std::string& library);
/// The process-wide table, opened from cublas_library_name() on first use (thread-safe; a
/// failed open is retried on the next call).
const CublasApi& cublas();

}  // namespace nabla::backend::cuda
