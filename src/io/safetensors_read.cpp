// Reading safetensors from memory or from a file. The file reader reads the header first and
// validates it completely before it allocates a tensor, then reads each tensor straight into
// its storage, so memory is the header plus the tensors (never a second copy of the file).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nabla/file.h"
#include "safetensors_format.h"

namespace nabla::io {
namespace {

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

Tensor make_tensor(const detail::TensorEntry& e) { return empty(e.shape, {.dtype = e.dtype}); }

/// A BOOL tensor's bytes must be 0 or 1: nabla's bool ops rely on it (a 2 would be true for
/// where but unequal to true for eq), so another byte is a corrupt file, not a value to keep.
void check_bool_bytes(const Tensor& t, const std::string& tensor_name, const std::string& file) {
  if (t.dtype() != DType::boolean) return;
  const auto* p = static_cast<const uint8_t*>(t.raw_data());
  for (int64_t i = 0; i < t.numel(); ++i)
    NB_CHECK(p[i] <= 1, detail::where(file), "tensor ", detail::show(tensor_name), ": BOOL element ", i, " is byte ",
             int(p[i]), "; expected 0 or 1");
}

// Owns a file descriptor; reads exactly the bytes asked for or throws naming the file.
class File {
 public:
  explicit File(const std::string& path) : path_(path) {
    fd_ = open_regular_file(path, "safetensors").release();
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  uint64_t size() const {
    struct stat st {};
    NB_CHECK(::fstat(fd_, &st) == 0, detail::where(path_), "cannot stat: ", std::strerror(errno));
    NB_CHECK(S_ISREG(st.st_mode), detail::where(path_), "not a regular file");
    return uint64_t(st.st_size);
  }

  void read_at(void* dst, uint64_t n, uint64_t offset, const char* what) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      size_t chunk = size_t(std::min<uint64_t>(n, uint64_t(1) << 30));
      ssize_t r = ::pread(fd_, p, chunk, off_t(offset));
      if (r < 0 && errno == EINTR) continue;
      NB_CHECK(r >= 0, detail::where(path_), "read of ", what, " failed: ", std::strerror(errno));
      NB_CHECK(r > 0, detail::where(path_), "file ended at byte ", offset, " while reading ", what,
               " (was it changed while being read?)");
      p += r;
      n -= uint64_t(r);
      offset += uint64_t(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  NB_CHECK(size >= 8, detail::where(name), "file is ", size,
           " bytes; a safetensors file starts with an 8-byte header length");
  uint64_t n = read_le64(data);
  detail::check_header_length(n, size, name);
  const uint64_t data_start = 8 + n;
  detail::Header h = detail::parse_header(
      std::string_view(reinterpret_cast<const char*>(data) + 8, size_t(n)), size - data_start, name);
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (detail::TensorEntry& e : h.tensors) {
    Tensor t = make_tensor(e);
    // parse_header proved [begin, end) lies inside the data area.
    if (e.end > e.begin) std::memcpy(t.raw_data(), data + data_start + e.begin, size_t(e.end - e.begin));
    check_bool_bytes(t, e.name, name);
    out.tensors.emplace(std::move(e.name), std::move(t));
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  File f(path);
  uint64_t size = f.size();
  NB_CHECK(size >= 8, detail::where(path), "file is ", size,
           " bytes; a safetensors file starts with an 8-byte header length");
  uint8_t prefix[8];
  f.read_at(prefix, 8, 0, "the header length");
  uint64_t n = read_le64(prefix);
  detail::check_header_length(n, size, path);
  std::string json(size_t(n), '\0');
  f.read_at(json.data(), n, 8, "the header");
  const uint64_t data_start = 8 + n;
  detail::Header h = detail::parse_header(json, size - data_start, path);
  json = std::string();  // the header text is no longer needed; free it before the tensors
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (detail::TensorEntry& e : h.tensors) {
    Tensor t = make_tensor(e);
    if (e.end > e.begin) {
      std::string what = "tensor " + detail::show(e.name);
      f.read_at(t.raw_data(), e.end - e.begin, data_start + e.begin, what.c_str());
    }
    check_bool_bytes(t, e.name, path);
    out.tensors.emplace(std::move(e.name), std::move(t));
  }
  return out;
}

}  // namespace nabla::io
