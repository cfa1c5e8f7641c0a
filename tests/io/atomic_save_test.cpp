// Crash-safe saves: a failed or killed save leaves the previous file bit for bit and no temp
// file behind; failures name the path.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "io_test_util.h"
#include "nabla/io/atomic_file.h"
#include "nabla/io/safetensors.h"

using namespace io_test;
using nabla::io::AtomicFile;
using nabla::io::load_safetensors;
using nabla::io::save_safetensors;
using nabla::io::TensorMap;
using Fault = nabla::io::testing::Fault;

namespace {

TensorMap small_a() { return {{"a", tensor_of<float>({3}, {1.f, 2.f, 3.f})}}; }

// Big enough (4 MiB) that the writer's 1 MiB buffer is flushed several times mid-save.
TensorMap big_b() {
  std::vector<float> v(1 << 20);
  for (size_t k = 0; k < v.size(); ++k) v[k] = float(k) * 0.5f;
  return {{"b", tensor_of<float>({1 << 10, 1 << 10}, v)}, {"c", tensor_of<int64_t>({2}, {7, 8})}};
}

}  // namespace

TEST(AtomicSave, InjectedWriteFailureHalfwayKeepsThePreviousFile) {
  ScratchDir dir;
  std::string path = dir.file("ckpt.safetensors");
  save_safetensors(small_a(), path);
  Bytes before = read_file(path);
  const uint64_t b_size = 8 + 200 + (uint64_t(1) << 22) + 16;  // about the size B would have
  nabla::io::testing::inject_fault(Fault::write, b_size / 2);
  std::string msg = error_of([&] { save_safetensors(big_b(), path); });
  expect_contains(msg, {"[save_safetensors] cannot save '" + path + "'", "write failed", "No space left on device",
                        "the previous file, if any, is unchanged"});
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});  // temp removed
  // The fault was one-shot: the next save goes through and replaces A with B.
  save_safetensors(big_b(), path);
  EXPECT_EQ(load_safetensors(path).tensors.at("c").to_vector<int64_t>(), (std::vector<int64_t>{7, 8}));
}

TEST(AtomicSave, EveryInjectedFaultPointKeepsThePreviousFile) {
  struct Point {
    Fault fault;
    uint64_t after;
    const char* message;
  };
  for (Point p : {Point{Fault::write, 0, "write failed"}, Point{Fault::write, 8, "No space left"},
                  Point{Fault::write, 3 << 20, "No space left"}, Point{Fault::fsync, 0, "fsync failed"},
                  Point{Fault::rename, 0, "rename failed"}}) {
    ScratchDir dir;
    std::string path = dir.file("m.safetensors");
    save_safetensors(small_a(), path);
    Bytes before = read_file(path);
    nabla::io::testing::inject_fault(p.fault, p.after);
    expect_contains(error_of([&] { save_safetensors(big_b(), path); }), {path, p.message});
    EXPECT_EQ(read_file(path), before) << p.message;
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.safetensors"}) << p.message;
  }
}

TEST(AtomicSave, FailedFirstSaveCreatesNoFile) {
  ScratchDir dir;
  std::string path = dir.file("new.safetensors");
  nabla::io::testing::inject_fault(Fault::fsync);
  EXPECT_THROW(save_safetensors(small_a(), path), nabla::Error);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicSave, MissingFolderIsAnErrorNamingThePath) {
  ScratchDir dir;
  std::string path = dir.file("no/such/folder/x.safetensors");
  expect_contains(error_of([&] { save_safetensors(small_a(), path); }),
                  {"[save_safetensors] cannot save '" + path + "'", "cannot create a temp file", "No such file or directory"});
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicSave, ReadOnlyFolderIsAnErrorAndKeepsThePreviousFile) {
  ScratchDir dir;
  std::string path = dir.file("ro.safetensors");
  save_safetensors(small_a(), path);
  Bytes before = read_file(path);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0555), 0);
  if (::geteuid() != 0) {
    std::string msg = error_of([&] { save_safetensors(big_b(), path); });
    expect_contains(msg, {path, "Permission denied"});
  } else {
    // Root ignores folder permissions, so the save runs in a child that drops to "nobody".
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      try {
        save_safetensors(big_b(), path);
      } catch (const nabla::Error& e) {
        std::string msg = e.what();
        ::_exit(msg.find(path) != msg.npos && msg.find("Permission denied") != msg.npos ? 0 : 1);
      }
      ::_exit(3);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong message, 2: could not drop privileges, 3: save succeeded";
  }
  ::chmod(dir.path().c_str(), 0755);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ro.safetensors"});
}

TEST(AtomicSave, PathThatIsAFolderIsAnError) {
  ScratchDir dir;
  std::filesystem::create_directory(dir.path() / "sub");
  expect_contains(error_of([&] { save_safetensors(small_a(), dir.file("sub")); }),
                  {dir.file("sub"), "is a directory, not a regular file"});
  expect_contains(error_of([&] { save_safetensors(small_a(), dir.path().string() + "/"); }), {"names a folder"});
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "sub"));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"sub"});
}

// The final rename would replace a FIFO or a device node (such as /dev/full) with the file:
// a target that exists and is not a regular file is refused before anything is written.
TEST(AtomicSave, PathThatIsNotARegularFileIsRefusedAndLeftAlone) {
  ScratchDir dir;
  std::string fifo = dir.file("pipe.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_contains(error_of([&] { save_safetensors(small_a(), fifo); }), {fifo, "FIFO", "not a regular file"});
  expect_contains(error_of([&] { nabla::io::write_file_atomic(fifo, "text"); }), {fifo, "FIFO"});
  struct stat st {};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"pipe.safetensors"});  // no temp file left
  // A device, named the same way (only the check runs: nothing is created next to it).
  if (::access("/dev/full", F_OK) == 0)
    expect_contains(error_of([&] { AtomicFile f("/dev/full", "save"); }), {"/dev/full", "character device"});
}

TEST(AtomicSave, StaleTempsOfDeadProcessesAreRemoved) {
  ScratchDir dir;
  std::string path = dir.file("s.safetensors");
  // pid 2^30 is above Linux's pid_max (2^22), so no such process exists.
  std::string stale = ".s.safetensors.tmp.1073741824.0";
  std::string live_parent = ".s.safetensors.tmp." + std::to_string(::getppid()) + ".3";
  std::string other = ".t.safetensors.tmp.1073741824.0";
  for (const std::string& f : {stale, live_parent, other}) write_file(dir.file(f), bytes_of("partial"));
  save_safetensors(small_a(), path);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{live_parent, other, "s.safetensors"}));
}

TEST(AtomicSave, AtomicFileWithoutCommitLeavesNothing) {
  ScratchDir dir;
  std::string path = dir.file("plain.txt");
  {
    AtomicFile f(path);
    f.write("half a file");
    EXPECT_EQ(f.bytes_written(), 11u);
    EXPECT_TRUE(std::filesystem::exists(f.temp_path()));
    EXPECT_EQ(std::filesystem::path(f.temp_path()).parent_path(), dir.path());  // same folder: rename is atomic
  }
  EXPECT_TRUE(dir.entries().empty());
  nabla::io::write_file_atomic(path, "config = 1\n");
  EXPECT_EQ(read_file(path), bytes_of("config = 1\n"));
  AtomicFile g(path);
  g.write("x");
  g.commit();
  expect_contains(error_of([&] { g.write("more"); }), {"after it was committed"});
  expect_contains(error_of([&] { g.commit(); }), {"after it was committed"});
}

// A writer killed by SIGKILL at a random moment: the final name always holds a complete file
// (the old one or the new one, bitwise), and the temp it leaves is cleaned by the next save.
TEST(AtomicSave, SigkillDuringSaveNeverLeavesAPartialFile) {
  ScratchDir dir;
  std::string path = dir.file("k.safetensors");
  TensorMap a = small_a(), b = big_b();
  save_safetensors(a, path);
  Bytes bytes_a = read_file(path);
  save_safetensors(b, dir.file("ref_b.safetensors"));
  Bytes bytes_b = read_file(dir.file("ref_b.safetensors"));
  std::filesystem::remove(dir.file("ref_b.safetensors"));

  std::mt19937 rng(1234);
  int saw_a = 0, saw_b = 0;
  for (int round = 0; round < 20; ++round) {
    save_safetensors(a, path);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        for (;;) save_safetensors(round % 2 ? b : a, path), save_safetensors(b, path);
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited by itself with status " << status;
    Bytes now = read_file(path);
    ASSERT_TRUE(now == bytes_a || now == bytes_b) << "round " << round << ": file of " << now.size() << " bytes is neither";
    (now == bytes_a ? saw_a : saw_b)++;
    EXPECT_NO_THROW(load_safetensors(path));
  }
  EXPECT_EQ(saw_a + saw_b, 20);
  save_safetensors(a, path);  // removes the temps the killed writers left
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"k.safetensors"});
}
