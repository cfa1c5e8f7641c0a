#include "file_bytes.h"

#include <zlib.h>

#include <memory>

#include "nabla/error.h"
#include "nabla/file.h"

namespace nabla::data::internal {

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op) {
  FileHandle file = open_regular_file(path, op);
  gzFile f = gzdopen(file.get(), "rb");
  NB_CHECK(f != nullptr, "[", op, "] ", path, ": cannot open");
  file.release();  // gzclose closes it now
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 16);
  int n;
  while ((n = gzread(f, buf.data(), unsigned(buf.size()))) > 0) out.insert(out.end(), buf.data(), buf.data() + n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  NB_CHECK(n == 0 && err == Z_OK, "[", op, "] ", path, ": corrupt or truncated compressed data (", msg, ")");
  return out;
}

}  // namespace nabla::data::internal
