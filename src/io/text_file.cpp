#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nabla/file.h"
#include "nabla/io/json.h"

namespace nabla::io {

std::string read_text_file(const std::string& path, const std::string& op) {
  check_regular_file(path, op);
  std::ifstream in(path, std::ios::binary);
  NB_CHECK(in.good(), "[", op, "] ", path, ": cannot open: ", std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  NB_CHECK(!in.bad(), "[", op, "] ", path, ": read failed");
  return ss.str();
}

Json parse_json_text(std::string_view text, const std::string& op, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const JsonParseError& e) {
    fail("[", op, "] ", source, ": invalid JSON", text.empty() ? " (empty)" : "", ": ", e.what());
  }
}

}  // namespace nabla::io
