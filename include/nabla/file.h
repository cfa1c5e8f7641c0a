// Checks on files the library opens: reading (checkpoints, data files, images, specs,
// config.json) and replacing (atomic saves). Opening a FIFO for reading blocks until a writer
// appears, a device such as /dev/zero never ends, and a save renamed over /dev/full would replace
// the device node. Readers open with open_regular_file, which checks the descriptor it opened
// (nothing can be swapped in between); check_regular_file only looks.
#pragma once
#include <string>

namespace nabla {

/// Throws nabla::Error "[op] path: ..." unless `path` (symbolic links followed) is an existing
/// regular file: missing, a directory, a FIFO, a device or a socket each get their own words.
void check_regular_file(const std::string& path, const std::string& op);

/// An open file descriptor, closed on destruction (move-only).
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(FileHandle&& other) noexcept;
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int get() const { return fd_; }
  /// Gives up ownership (for an API that closes the descriptor itself, such as gzdopen).
  int release();

 private:
  int fd_ = -1;
};

/// Opens `path` for reading (blocking reads, close-on-exec) and checks on the open descriptor that
/// it is a regular file; the same errors as check_regular_file. Never blocks on a FIFO.
FileHandle open_regular_file(const std::string& path, const std::string& op);

/// What `path` (symbolic links followed) is when it exists but is not a regular file: "a
/// directory", "a FIFO (named pipe)", "a character device", ...; "" for a regular file or
/// when nothing (reachable) is there.
std::string non_regular_kind(const std::string& path);

}  // namespace nabla
