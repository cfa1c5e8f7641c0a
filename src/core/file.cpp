#include "nabla/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "nabla/error.h"

namespace nabla {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

}  // namespace

std::string non_regular_kind(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return "";
  return kind_of(st.st_mode);
}

void check_regular_file(const std::string& path, const std::string& op) {
  NB_CHECK(!path.empty(), "[", op, "] empty file path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    NB_CHECK(err != ENOENT && err != ENOTDIR, "[", op, "] ", path, ": file not found");
    fail("[", op, "] ", path, ": cannot read: ", std::strerror(err));
  }
  const char* kind = kind_of(st.st_mode);
  NB_CHECK(*kind == '\0', "[", op, "] ", path, ": is ", kind, ", not a regular file");
}

}  // namespace nabla
