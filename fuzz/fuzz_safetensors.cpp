// libFuzzer target: any byte string given to the safetensors reader either parses into
// tensors whose bytes lie inside the input or throws nabla::Error; never a crash, an
// out-of-bounds read (ASan), undefined behaviour (UBSan) or another exception type.
#include <cstdint>
#include <cstdlib>

#include "nabla/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    nabla::io::SafetensorsFile f = nabla::io::parse_safetensors(data, size, "fuzz");
    uint64_t total = 0;
    for (const auto& [name, t] : f.tensors) total += uint64_t(t.numel()) * nabla::dtype_size(t.dtype());
    if (total > size) std::abort();  // tensors cannot hold more bytes than the file has
  } catch (const nabla::Error&) {
  }
  return 0;
}
