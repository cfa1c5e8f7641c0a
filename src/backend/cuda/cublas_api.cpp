#include "cublas_api.h"

#include <dlfcn.h>

#include <cstdlib>

#include "nabla/error.h"

// The symbol a cublas_v2.h name stands for (cublasCreate is a macro for cublasCreate_v2).
#define NB_EXPANDED_NAME(fn) NB_NAME_OF(fn)
#define NB_NAME_OF(fn) #fn

namespace nabla::backend::cuda {
namespace {

const char* library_path_env() {
  const char* p = std::getenv("LD_LIBRARY_PATH");
  return p != nullptr && *p != '\0' ? p : "(unset)";
}

template <typename Fn>
void look_up(void* handle, const std::string& library, const char* symbol, Fn& out) {
  dlerror();  // clear a stale message
  void* p = dlsym(handle, symbol);
  if (p == nullptr) {
    const char* why = dlerror();
    fail("[cuda] ", library, " has no entry point ", symbol, " (", why != nullptr ? why : "null symbol",
         "): is it older than the cuBLAS ", CUBLAS_VER_MAJOR, ".", CUBLAS_VER_MINOR, " nabla was built with?");
  }
  out = reinterpret_cast<Fn>(p);
}

}  // namespace

std::string cublas_library_name() { return "libcublas.so." NB_EXPANDED_NAME(CUBLAS_VER_MAJOR); }

CublasApi load_cublas(const std::string& library) {
  // RTLD_LOCAL: our lookups go through the handle, nothing else needs its symbols.
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    fail("[cuda] cannot load cuBLAS (", library, ") for a GPU matrix product: ", why != nullptr ? why : "unknown reason",
         ". Install the CUDA ", CUBLAS_VER_MAJOR, " toolkit's cuBLAS or put its folder on LD_LIBRARY_PATH (now ",
         library_path_env(), ")");
  }
  CublasApi api;
  try {
    look_up(handle, library, NB_EXPANDED_NAME(cublasCreate), api.create);
    look_up(handle, library, NB_EXPANDED_NAME(cublasSetStream), api.set_stream);
    look_up(handle, library, NB_EXPANDED_NAME(cublasSetMathMode), api.set_math_mode);
    look_up(handle, library, NB_EXPANDED_NAME(cublasGetStatusString), api.status_string);
    look_up(handle, library, NB_EXPANDED_NAME(cublasSgemmStridedBatched_64), api.sgemm_strided_batched);
    look_up(handle, library, NB_EXPANDED_NAME(cublasDgemmStridedBatched_64), api.dgemm_strided_batched);
    look_up(handle, library, NB_EXPANDED_NAME(cublasGemmStridedBatchedEx_64), api.gemm_strided_batched_ex);
  } catch (...) {
    dlclose(handle);
    throw;
  }
  return api;  // the handle is never closed: cuBLAS handles created through it live until exit
}

const CublasApi& cublas() {
  static const CublasApi api = load_cublas(cublas_library_name());
  return api;
}

}  // namespace nabla::backend::cuda
