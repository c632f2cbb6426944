// export/output_test.cc: export/output.c writes each kind of path as its kind
// asks: a regular or new file replaced atomically (permissions kept), a
// symbolic link followed (the link stays a link), a character device and a
// FIFO written in place (never replaced by a file), a directory refused.
// The character device is made with mknod, which needs root outside a
// sandbox (the test is tagged no-sandbox); without the right it is skipped
// with a message.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

extern "C" {
#include "export/output.h"
}

namespace {

class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char *t = getenv("TEST_TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/outXXXXXX", t ? t : "/tmp");
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string P(const char *name) const { return dir_ + "/" + name; }
  std::string dir_;
  char why_[PATH_MAX + 256] = "";
};

std::string Slurp(const std::string &path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<missing>";
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
  close(fd);
  return out;
}

mode_t Kind(const std::string &path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & S_IFMT : 0;
}

bool Write(const std::string &path, const std::string &data, int wait_ms, char *why, size_t cap) {
  return xsmem_output_write(path.c_str(), data.data(), data.size(), wait_ms, why, cap);
}

TEST_F(OutputTest, RegularAndNewFilesAreReplacedAtomicallyKeepingTheirMode) {
  std::string f = P("report.html");
  ASSERT_TRUE(Write(f, "first", 0, why_, sizeof why_)) << why_;
  EXPECT_EQ(Slurp(f), "first");
  ASSERT_EQ(chmod(f.c_str(), 0600), 0);
  struct stat before, after;
  ASSERT_EQ(stat(f.c_str(), &before), 0);
  ASSERT_TRUE(Write(f, "second", 0, why_, sizeof why_)) << why_;
  ASSERT_EQ(stat(f.c_str(), &after), 0);
  EXPECT_EQ(Slurp(f), "second");
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file renamed over the old
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  // Nothing but the file is left in the directory.
  std::string ls = "test \"$(ls -A '" + dir_ + "')\" = report.html";
  EXPECT_EQ(system(ls.c_str()), 0);
}

TEST_F(OutputTest, SymlinksAreFollowedAndStayLinks) {
  ASSERT_EQ(mkdir(P("real").c_str(), 0755), 0);
  std::string target = P("real/out.pb");
  ASSERT_TRUE(Write(target, "old", 0, why_, sizeof why_));
  // An absolute link, a relative one, and a chain of both.
  ASSERT_EQ(symlink(target.c_str(), P("abs").c_str()), 0);
  ASSERT_EQ(symlink("real/out.pb", P("rel").c_str()), 0);
  ASSERT_EQ(symlink("abs", P("chain").c_str()), 0);
  for (const char *link : {"abs", "rel", "chain"}) {
    std::string data = std::string("via ") + link;
    ASSERT_TRUE(Write(P(link), data, 0, why_, sizeof why_)) << why_;
    EXPECT_EQ(Kind(P(link)), (mode_t)S_IFLNK) << link << " replaced by a file";
    EXPECT_EQ(Kind(target), (mode_t)S_IFREG);
    EXPECT_EQ(Slurp(target), data);
  }
  // A link to a missing file creates the file.
  ASSERT_EQ(symlink("real/new.pb", P("dangling").c_str()), 0);
  ASSERT_TRUE(Write(P("dangling"), "created", 0, why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(P("dangling")), (mode_t)S_IFLNK);
  EXPECT_EQ(Slurp(P("real/new.pb")), "created");
  // A loop is an error, not a hang.
  ASSERT_EQ(symlink("loop2", P("loop1").c_str()), 0);
  ASSERT_EQ(symlink("loop1", P("loop2").c_str()), 0);
  errno = 0;
  EXPECT_FALSE(Write(P("loop1"), "x", 0, why_, sizeof why_));
  EXPECT_EQ(errno, ELOOP);
  EXPECT_NE(strstr(why_, "loop1"), nullptr) << why_;
}

TEST_F(OutputTest, ACharacterDeviceIsWrittenInPlace) {
  std::string dev = P("null");  // a second /dev/null (1, 3) in the temporary directory
  if (mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod: " << strerror(errno) << " (needs root outside a sandbox)";
  }
  ASSERT_TRUE(Write(dev, "<html>report</html>", 0, why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(dev), (mode_t)S_IFCHR) << "the device was replaced by a file";
  // Through a link too, and as a stream.
  ASSERT_EQ(symlink("null", P("link").c_str()), 0);
  ASSERT_TRUE(Write(P("link"), "x", 0, why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(dev), (mode_t)S_IFCHR);
  EXPECT_TRUE(xsmem_output_reset(dev.c_str(), why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(dev), (mode_t)S_IFCHR) << "reset removed the device";
  bool regular, empty;
  int fd = xsmem_output_append_open(dev.c_str(), 0, &regular, &empty, why_, sizeof why_);
  ASSERT_GE(fd, 0) << why_;
  EXPECT_FALSE(regular);
  close(fd);
  EXPECT_TRUE(xsmem_output_check(dev.c_str(), why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(dev), (mode_t)S_IFCHR);
}

struct FifoReader {
  std::string path, got;
  pthread_t thread;
  static void *Run(void *arg) {
    FifoReader *r = static_cast<FifoReader *>(arg);
    r->got = Slurp(r->path);
    return nullptr;
  }
};

TEST_F(OutputTest, AFifoIsWrittenInPlace) {
  std::string fifo = P("pipe");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Without a reader: refused after the wait, with a message that says why.
  errno = 0;
  EXPECT_FALSE(Write(fifo, "x", 50, why_, sizeof why_));
  EXPECT_EQ(errno, ENXIO);
  EXPECT_NE(strstr(why_, "no process reads the FIFO"), nullptr) << why_;
  // With one: the data goes through and the FIFO stays a FIFO. 200 KiB is
  // more than a pipe holds, so the writer waits for the reader as it reads.
  std::string data(200 * 1024, 'a');
  FifoReader r{fifo, "", {}};
  ASSERT_EQ(pthread_create(&r.thread, nullptr, FifoReader::Run, &r), 0);
  bool ok = Write(fifo, data, -1, why_, sizeof why_);  // -1: waits for the reader to open
  pthread_join(r.thread, nullptr);
  EXPECT_TRUE(ok) << why_;
  EXPECT_EQ(r.got.size(), data.size());
  EXPECT_EQ(Kind(fifo), (mode_t)S_IFIFO);
}

TEST_F(OutputTest, ADirectoryIsRefused) {
  ASSERT_EQ(mkdir(P("d").c_str(), 0755), 0);
  errno = 0;
  EXPECT_FALSE(Write(P("d"), "x", 0, why_, sizeof why_));
  EXPECT_EQ(errno, EISDIR);
  EXPECT_NE(strstr(why_, "it is a directory"), nullptr) << why_;
  EXPECT_FALSE(xsmem_output_check(P("d").c_str(), why_, sizeof why_));
  EXPECT_FALSE(xsmem_output_reset(P("d").c_str(), why_, sizeof why_));
  bool regular, empty;
  EXPECT_LT(xsmem_output_append_open(P("d").c_str(), 0, &regular, &empty, why_, sizeof why_), 0);
  EXPECT_EQ(Kind(P("d")), (mode_t)S_IFDIR);
}

TEST_F(OutputTest, CheckNamesTheMissingDirectory) {
  std::string f = P("no/such/dir/r.html");
  EXPECT_FALSE(xsmem_output_check(f.c_str(), why_, sizeof why_));
  EXPECT_NE(strstr(why_, "cannot write"), nullptr) << why_;
  EXPECT_NE(strstr(why_, "no/such/dir: No such file or directory"), nullptr) << why_;
  EXPECT_TRUE(xsmem_output_check(P("new.pb").c_str(), why_, sizeof why_)) << why_;
}

TEST_F(OutputTest, StreamsAppendThroughLinksAndResetRemovesOnlyRegularFiles) {
  std::string target = P("series.pb");
  ASSERT_EQ(symlink("series.pb", P("link").c_str()), 0);
  for (const char *piece : {"ab", "cd"}) {
    bool regular, empty;
    int fd = xsmem_output_append_open(P("link").c_str(), 0, &regular, &empty, why_, sizeof why_);
    ASSERT_GE(fd, 0) << why_;
    EXPECT_TRUE(regular);
    EXPECT_EQ(empty, piece[0] == 'a');
    ASSERT_TRUE(xsmem_output_write_fd(fd, piece, 2, 0));
    close(fd);
  }
  EXPECT_EQ(Slurp(target), "abcd");
  EXPECT_EQ(Kind(P("link")), (mode_t)S_IFLNK);
  ASSERT_TRUE(xsmem_output_reset(P("link").c_str(), why_, sizeof why_)) << why_;
  EXPECT_EQ(Kind(target), 0u);                  // the file the link names is gone
  EXPECT_EQ(Kind(P("link")), (mode_t)S_IFLNK);  // the link stays
  EXPECT_TRUE(xsmem_output_reset(P("missing").c_str(), why_, sizeof why_));
}

}  // namespace
