// Opening files for reading: open_regular_file checks the descriptor it opened (no window in
// which a checked file can be swapped for a FIFO or a device), never blocks on a FIFO, and hands
// back a plain blocking descriptor; check_regular_file gives the same messages without opening.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "common/within.h"
#include "nabla/file.h"

namespace {

using nabla::FileHandle;
using nabla::open_regular_file;
using nabla_test::TempDir;

TEST(OpenRegularFile, GivesABlockingDescriptorOfTheFile) {
  TempDir dir;
  const std::string path = dir.file("a.txt");
  std::ofstream(path) << "hello";
  FileHandle f = open_regular_file(path, "test");
  ASSERT_GE(f.get(), 0);
  EXPECT_EQ(::fcntl(f.get(), F_GETFL) & O_NONBLOCK, 0) << "reads would fail with EAGAIN instead of waiting";
  EXPECT_NE(::fcntl(f.get(), F_GETFD) & FD_CLOEXEC, 0);
  char buf[16] = {};
  EXPECT_EQ(::read(f.get(), buf, sizeof(buf)), 5);
  EXPECT_STREQ(buf, "hello");
  // Moving hands the descriptor over; release() gives up ownership.
  FileHandle g = std::move(f);
  EXPECT_EQ(f.get(), -1);
  const int fd = g.release();
  EXPECT_EQ(g.get(), -1);
  EXPECT_EQ(::close(fd), 0) << "release() must not have closed it";
}

TEST(OpenRegularFile, RefusesWhatIsNotARegularFileWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer: a plain open() would wait forever.
  nabla_test::within(std::chrono::seconds(30), "open_regular_file on a FIFO", [&] {
    EXPECT_ERROR(open_regular_file(fifo, "op"), "[op]", fifo, "FIFO", "not a regular file");
  });
  EXPECT_ERROR(open_regular_file(dir.str(), "op"), "[op]", "is a directory");
  EXPECT_ERROR(open_regular_file("/dev/null", "op"), "[op]", "/dev/null", "character device");
  EXPECT_ERROR(open_regular_file(dir.file("missing"), "op"), "[op]", "missing", "file not found");
  EXPECT_ERROR(open_regular_file(dir.file("missing/x"), "op"), "file not found");
  EXPECT_ERROR(open_regular_file("", "op"), "[op] empty file path");
  // check_regular_file says the same things without opening.
  EXPECT_ERROR(nabla::check_regular_file(fifo, "op"), "[op]", fifo, "FIFO");
  EXPECT_ERROR(nabla::check_regular_file(dir.file("missing"), "op"), "file not found");
}

}  // namespace
