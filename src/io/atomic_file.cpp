// AtomicFile: temp file + fsync + rename + folder fsync (see the header for why).
#include "nabla/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "nabla/error.h"
#include "nabla/file.h"

namespace nabla::io {
namespace {

constexpr size_t kBufferBytes = size_t(1) << 20;

// The pending injected fault (testing::Fault) and its byte limit; taken by the next AtomicFile.
std::atomic<int> g_fault_kind{0};
std::atomic<uint64_t> g_fault_after{0};
std::atomic<uint64_t> g_temp_counter{0};

std::string folder_of(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.parent_path().string();
  return dir.empty() ? "." : dir;
}

std::string name_of(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// Removes `.<name>.tmp.<pid>.<n>` files whose writer process no longer exists: they are what
// a killed save leaves behind. Temps of live processes (a concurrent save) are left alone.
void remove_stale_temps(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;  // the open of our own temp file will report the real problem
  const std::string prefix = "." + name + ".tmp.";
  while (dirent* e = ::readdir(d)) {
    std::string_view entry(e->d_name);
    if (entry.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = entry.substr(prefix.size());
    long pid = 0;
    size_t k = 0;
    while (k < rest.size() && rest[k] >= '0' && rest[k] <= '9' && pid < (1L << 40)) pid = pid * 10 + (rest[k++] - '0');
    if (k == 0 || pid <= 0 || pid == long(::getpid()) || pid > (1L << 31)) continue;
    if (::kill(pid_t(pid), 0) == -1 && errno == ESRCH) ::unlink((dir + "/" + std::string(entry)).c_str());
  }
  ::closedir(d);
}

}  // namespace

namespace testing {
void inject_fault(Fault where, uint64_t after_bytes) {
  g_fault_after.store(after_bytes);
  g_fault_kind.store(int(where));
}
}  // namespace testing

AtomicFile::AtomicFile(std::string path, std::string op) : path_(std::move(path)), op_(std::move(op)) {
  NB_CHECK(!path_.empty(), "[", op_, "] empty file path");
  std::string dir = folder_of(path_), name = name_of(path_);
  NB_CHECK(!name.empty() && name != "." && name != "..", "[", op_, "] '", path_, "' names a folder, not a file");
  // The rename at commit would replace whatever is at `path` (a device node such as /dev/full,
  // a FIFO): only a regular file, or nothing, may be replaced.
  const std::string kind = non_regular_kind(path_);
  NB_CHECK(kind.empty(), "[", op_, "] cannot save '", path_, "': it is ", kind,
           ", not a regular file; nothing was written");
  remove_stale_temps(dir, name);
  fault_ = g_fault_kind.exchange(0);
  fault_after_ = g_fault_after.load();
  for (int attempt = 0;; ++attempt) {
    temp_ = dir + "/." + name + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    // Our pid and counter make the name unique in this process, so an existing file is
    // left over from an earlier process that had the same pid.
    if (errno == EEXIST && attempt == 0 && ::unlink(temp_.c_str()) == 0) continue;
    int err = errno;
    temp_.clear();
    fail_step("cannot create a temp file in folder '" + dir + "'", err);
  }
  buf_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

void AtomicFile::fail_step(const std::string& step, int err) {
  std::string tmp = temp_;
  discard();
  fail("[", op_, "] cannot save '", path_, "': ", step, (tmp.empty() ? "" : " (temp file '" + tmp + "')"), ": ",
       std::strerror(err), "; the previous file, if any, is unchanged");
}

void AtomicFile::write_fd(const char* p, size_t n) {
  NB_CHECK(fd_ >= 0, "[", op_, "] write to '", path_, "' after it was committed or failed");
  while (n > 0) {
    size_t chunk = std::min(n, size_t(1) << 30);
    if (fault_ == int(testing::Fault::write)) {
      // Simulated full disk: accept bytes up to the limit, then fail like write(2) would.
      uint64_t room = fault_after_ > written_ ? fault_after_ - written_ : 0;
      if (room == 0) fail_step("write failed", ENOSPC);
      chunk = std::min<uint64_t>(chunk, room);
    }
    ssize_t w = ::write(fd_, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_step("write failed", errno);
    }
    p += w;
    n -= size_t(w);
    written_ += uint64_t(w);
  }
}

void AtomicFile::flush() {
  write_fd(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFile::write(const void* data, size_t n) {
  NB_CHECK(fd_ >= 0, "[", op_, "] write to '", path_, "' after it was committed or failed");
  const char* p = static_cast<const char*>(data);
  if (buf_.size() + n <= kBufferBytes) {
    buf_.insert(buf_.end(), p, p + n);
    return;
  }
  flush();
  if (n >= kBufferBytes) {
    write_fd(p, n);  // big tensors go straight to the OS, no copy
  } else {
    buf_.insert(buf_.end(), p, p + n);
  }
}

void AtomicFile::commit() {
  NB_CHECK(fd_ >= 0, "[", op_, "] commit of '", path_, "' after it was committed or failed");
  flush();
  if (fault_ == int(testing::Fault::fsync)) fail_step("fsync failed", EIO);
  if (::fsync(fd_) != 0) fail_step("fsync failed", errno);
  // close() can report a delayed write error (NFS), so it is checked like a write.
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_step("close failed", errno);
  if (fault_ == int(testing::Fault::rename)) fail_step("rename failed", EIO);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) fail_step("rename failed", errno);
  committed_ = true;
  temp_.clear();
  // Persist the rename. Some file systems cannot fsync a folder (EINVAL); the data is safe
  // there anyway, so only real I/O errors are reported.
  std::string dir = folder_of(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int rc = ::fsync(dfd);
    int err = errno;
    ::close(dfd);
    if (rc != 0 && err != EINVAL && err != EROFS)
      fail("[", op_, "] saved '", path_, "' but could not fsync its folder '", dir, "': ", std::strerror(err));
  }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

}  // namespace nabla::io
