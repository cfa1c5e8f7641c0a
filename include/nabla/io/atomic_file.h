// Crash-safe file writes: a reader of `path` sees either the old file or the complete new
// one, never a partial file, even if the process is killed or the disk fills up mid-write.
//
// How: the bytes go to a temp file `.<name>.tmp.<pid>.<n>` in the same folder (so the final
// rename stays on one file system and is atomic), which is fsync'ed, renamed over `path`, and
// then the folder is fsync'ed so the rename itself survives a power cut. Temp files left by
// processes that no longer exist are removed when the next AtomicFile for the same path opens.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nabla::io {

class AtomicFile {
 public:
  /// Opens the temp file next to `path`. `op` names the caller in error messages.
  /// Throws nabla::Error naming `path` if the temp file cannot be created.
  explicit AtomicFile(std::string path, std::string op = "write_file_atomic");
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Removes the temp file unless commit() succeeded; `path` is left as it was.
  ~AtomicFile();

  /// Appends bytes (buffered). Throws nabla::Error naming `path` on failure (e.g. disk full).
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  /// Flushes, fsyncs, renames over `path` and fsyncs the folder. Throws on failure, after
  /// which the temp file is gone and `path` is untouched.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_ + buf_.size(); }

 private:
  [[noreturn]] void fail_step(const std::string& step, int err);
  void flush();
  void write_fd(const char* p, size_t n);
  void discard() noexcept;

  std::string path_, temp_, op_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;  ///< bytes handed to the OS so far
  std::vector<char> buf_;
  int fault_ = 0;  ///< injected fault for this file (testing::Fault)
  uint64_t fault_after_ = 0;
};

/// Writes `contents` to `path` atomically (see AtomicFile).
void write_file_atomic(const std::string& path, std::string_view contents);

namespace testing {
/// Where an injected failure strikes: a write() returning ENOSPC once `after_bytes` bytes are
/// written (a full disk), fsync() returning EIO, or rename() returning EIO.
enum class Fault { none, write, fsync, rename };
/// Test hook: the next AtomicFile opened (in any thread) fails at `where`. One-shot.
void inject_fault(Fault where, uint64_t after_bytes = 0);
}  // namespace testing

}  // namespace nabla::io
