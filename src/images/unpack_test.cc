#include "images/unpack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/fd.h"
#include "base/fs.h"
#include "images/test_layers.h"

namespace strake::images {
namespace {

using test_layers::E;
using test_layers::Tar;

class Unpack : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("unpack");
    ASSERT_TRUE(d);
    dir_ = *d;
    root_ = dir_ + "/root";
    ASSERT_TRUE(MakeDir(root_));
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  Result<LayerStats> Apply(const std::string& tar, const UnpackLimits& limits = {}) {
    const std::string path = dir_ + "/layer" + std::to_string(++layers_);
    EXPECT_TRUE(WriteFile(path, tar));
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return ApplyLayer(root_, fd.get(), "layer" + std::to_string(layers_), limits);
  }
  std::string Read(const std::string& rel) {
    auto r = ReadFile(root_ + "/" + rel);
    return r ? *r : "<missing>";
  }
  bool Exists(const std::string& rel) { return PathExists(root_ + "/" + rel); }
  mode_t Mode(const std::string& rel) {
    struct stat st {};
    ::lstat((root_ + "/" + rel).c_str(), &st);
    return st.st_mode;
  }

  std::string dir_, root_;
  int layers_ = 0;
};

TEST_F(Unpack, MakesFilesDirectoriesLinksAndModesAsTheLayerSays) {
  auto stats = Apply(Tar({{'d', "bin/", "", 0755},
                          {'f', "bin/tool", "#!/bin/sh\n", 04755},
                          {'l', "bin/sh", "/bin/tool"},
                          {'h', "bin/tool2", "bin/tool"},
                          {'f', "deep/er/file.txt", "made its parents"},
                          {'p', "run/fifo", "", 0600}}));
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->entries, 6u);
  EXPECT_EQ(Read("bin/tool"), "#!/bin/sh\n");
  EXPECT_EQ(Mode("bin/tool") & 07777, 0755u) << "setuid is dropped";
  char target[64] = {};
  ASSERT_GT(::readlink((root_ + "/bin/sh").c_str(), target, sizeof target), 0);
  EXPECT_STREQ(target, "/bin/tool");
  struct stat a {
  }, b{};
  ::stat((root_ + "/bin/tool").c_str(), &a);
  ::stat((root_ + "/bin/tool2").c_str(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(Read("deep/er/file.txt"), "made its parents");
  EXPECT_TRUE(S_ISFIFO(Mode("run/fifo")));
}

TEST_F(Unpack, WhiteoutsDeleteWhatTheLayersBelowMade) {
  ASSERT_TRUE(Apply(Tar({{'f', "etc/keep", "k"},
                         {'f', "etc/gone", "g"},
                         {'f', "var/cache/a", "a"},
                         {'f', "var/cache/sub/b", "b"},
                         {'f', "opt/old", "o"}})));
  auto stats = Apply(Tar({{'f', "etc/.wh.gone", ""},
                          {'f', "var/cache/new", "n"},
                          {'f', "var/cache/.wh..wh..opq", ""},
                          {'f', ".wh.opt", ""}},
                         "gzip"));
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->whiteouts, 3u);
  EXPECT_EQ(Read("etc/keep"), "k");
  EXPECT_FALSE(Exists("etc/gone"));
  EXPECT_FALSE(Exists("etc/.wh.gone"));
  // Opaque: the layers below are hidden, this layer's entries stay.
  EXPECT_FALSE(Exists("var/cache/a"));
  EXPECT_FALSE(Exists("var/cache/sub"));
  EXPECT_EQ(Read("var/cache/new"), "n");
  EXPECT_FALSE(Exists("opt"));
  // A whiteout hides the layers below, not an entry of its own layer.
  ASSERT_TRUE(Apply(Tar({{'f', "etc/mine", "m"}, {'f', "etc/.wh.mine", ""}})));
  EXPECT_EQ(Read("etc/mine"), "m");
  // A file replaces a directory and a directory a file.
  ASSERT_TRUE(Apply(Tar({{'f', "etc", "now a file"}, {'d', "var/cache/new/", "", 0700}}, "zstd")));
  EXPECT_EQ(Read("etc"), "now a file");
  EXPECT_TRUE(S_ISDIR(Mode("var/cache/new")));
}

TEST_F(Unpack, AHostileLayerCannotReachOutsideTheRoot) {
  const std::string outside = dir_ + "/outside";
  ASSERT_TRUE(MakeDir(outside));
  // "..": the whole layer is refused.
  auto up = Apply(Tar({{'f', "../escape.txt", "x"}}));
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("leaves the root"), std::string::npos) << up.error().message;
  EXPECT_FALSE(PathExists(dir_ + "/escape.txt"));
  auto up_link = Apply(Tar({{'h', "pw", "../../../../etc/passwd"}}));
  ASSERT_FALSE(up_link);
  EXPECT_NE(up_link.error().message.find("leaves the root"), std::string::npos);
  auto no_name = Apply(Tar({{'f', "etc/.wh...", ""}}));
  EXPECT_FALSE(no_name);

  // Absolute paths and symlinks resolve inside the root, as in the container.
  auto stats = Apply(Tar({{'f', "/abs.txt", "abs"},
                          {'l', "up", "../../.."},
                          {'l', "slash", "/"},
                          {'l', "out", outside},
                          {'f', "up/through-up.txt", "u"},
                          {'f', "slash/through-slash.txt", "s"},
                          {'c', "dev/null", ""}}));
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(Read("abs.txt"), "abs");
  EXPECT_EQ(Read("through-up.txt"), "u");
  EXPECT_EQ(Read("through-slash.txt"), "s");
  EXPECT_FALSE(PathExists(dir_ + "/through-up.txt"));
  EXPECT_EQ(stats->devices_skipped, 1u);
  EXPECT_FALSE(Exists("dev/null"));
  // Through a symlink to a host directory: the host directory's path inside
  // the root (absent there, so refused), never the host directory.
  auto through = Apply(Tar({{'f', "out/evil.txt", "e"}}));
  EXPECT_FALSE(through);
  EXPECT_FALSE(PathExists(outside + "/evil.txt"));
  // A file where a symlink to the host stood replaces the link, not its target.
  ASSERT_TRUE(Apply(Tar({{'f', "out", "replaced"}})));
  EXPECT_EQ(Read("out"), "replaced");
  EXPECT_TRUE(S_ISDIR(Mode("../outside")));
}

TEST_F(Unpack, ALayerPastItsLimitsIsRefused) {
  UnpackLimits few;
  few.max_entries = 3;
  auto many = Apply(Tar({{'f', "a", "1"}, {'f', "b", "2"}, {'f', "c", "3"}, {'f', "d", "4"}}), few);
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(many.error().message.find("more than 3 entries"), std::string::npos);
  UnpackLimits small;
  small.max_bytes = 10;
  auto big = Apply(Tar({{'f', "big", std::string(20, 'x')}}, "gzip"), small);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(big.error().message.find("more than 10 bytes"), std::string::npos);
}

TEST_F(Unpack, ALayerThatIsNotATarIsAnError) {
  auto bad = Apply("this is not a tar archive at all, not even close to one............");
  EXPECT_FALSE(bad);
}

}  // namespace
}  // namespace strake::images
