#include "nabla/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

namespace {

[[noreturn]] void fail_to_reach(const std::string& path, const std::string& op, int err) {
  NB_CHECK(err != ENOENT && err != ENOTDIR, "[", op, "] ", path, ": file not found");
  fail("[", op, "] ", path, ": cannot read: ", std::strerror(err));
}

void check_kind(const std::string& path, const std::string& op, mode_t mode) {
  const char* kind = kind_of(mode);
  NB_CHECK(*kind == '\0', "[", op, "] ", path, ": is ", kind, ", not a regular file");
}

}  // namespace

void check_regular_file(const std::string& path, const std::string& op) {
  NB_CHECK(!path.empty(), "[", op, "] empty file path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_to_reach(path, op, errno);
  check_kind(path, op, st.st_mode);
}

FileHandle open_regular_file(const std::string& path, const std::string& op) {
  // A first look without opening: devices are never opened (a tty could become the controlling
  // terminal, a watchdog would start). O_NONBLOCK: a FIFO swapped in since would otherwise wait
  // for a writer; the kind is checked again on the open descriptor, so nothing swapped in between
  // the look and the open is read.
  check_regular_file(path, op);
  int fd;
  do fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) fail_to_reach(path, op, errno);
  FileHandle file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_to_reach(path, op, errno);
  check_kind(path, op, st.st_mode);
  // Regular files never block; clear the flag so later reads behave as plain blocking reads.
  const int flags = ::fcntl(fd, F_GETFL);
  NB_CHECK(flags >= 0 && ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0, "[", op, "] ", path,
           ": cannot set blocking mode: ", std::strerror(errno));
  return file;
}

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

FileHandle::FileHandle(FileHandle&& other) noexcept : fd_(other.release()) {}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int FileHandle::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

}  // namespace nabla
