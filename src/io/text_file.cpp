#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nabla/file.h"
#include "nabla/io/json.h"

namespace nabla::io {

std::string read_text_file(const std::string& path, const std::string& op) {
  FileHandle file = open_regular_file(path, op);
  std::string text;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    NB_CHECK(n >= 0, "[", op, "] ", path, ": read failed: ", std::strerror(errno));
    if (n == 0) return text;
    text.append(buf, size_t(n));
  }
}

Json parse_json_text(std::string_view text, const std::string& op, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const JsonParseError& e) {
    fail("[", op, "] ", source, ": invalid JSON", text.empty() ? " (empty)" : "", ": ", e.what());
  }
}

}  // namespace nabla::io
