// The paths that cannot leave their root: lexical checks, links planted in
// the tree, FIFOs, and the names Kubernetes allows.
#include "base/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strings.h"

namespace strake {
namespace {

class BeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("beneath");
    ASSERT_TRUE(d);
    top_ = *d;
    root_ = top_ + "/root";
    ASSERT_TRUE(MakeDirs(root_ + "/in/sub"));
    ASSERT_TRUE(WriteFile(top_ + "/secret", "TOPSECRET"));
    ASSERT_TRUE(WriteFile(root_ + "/in/file", "inside"));
    // What a step could leave in a volume it writes.
    ASSERT_EQ(::symlink("../..", (root_ + "/in/up").c_str()), 0);
    ASSERT_EQ(::symlink((top_ + "/secret").c_str(), (root_ + "/abs").c_str()), 0);
    ASSERT_EQ(::symlink("../secret", (root_ + "/rel").c_str()), 0);
    ASSERT_EQ(::symlink("in/file", (root_ + "/ok-link").c_str()), 0);
    ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  }
  void TearDown() override { (void)RemoveAll(top_); }
  std::string top_, root_;
};

TEST(ReadFileAt, ReadsASliceAndNothingPastTheEnd) {
  auto d = MakeTempDir("readat");
  ASSERT_TRUE(d);
  std::string path = *d + "/log";
  ASSERT_TRUE(WriteFile(path, "one\ntwo\nthree\n"));
  EXPECT_EQ(ReadFileAt(path, 0, 4).value_or("?"), "one\n");
  EXPECT_EQ(ReadFileAt(path, 4, 100).value_or("?"), "two\nthree\n");
  EXPECT_EQ(ReadFileAt(path, 14, 100).value_or("?"), "");
  EXPECT_EQ(ReadFileAt(path, 1000, 100).value_or("?"), "");
  EXPECT_FALSE(ReadFileAt(*d + "/missing", 0, 10));
  (void)RemoveAll(*d);
}

TEST(Paths, PathUnderRefusesWhatLeavesItsRoot) {
  EXPECT_EQ(*PathUnder("/d", "a/b"), "/d/a/b");
  EXPECT_EQ(*PathUnder("/d", "./a//b/."), "/d/a/b");
  EXPECT_EQ(*PathUnder("/d", ""), "/d");
  for (const std::string& bad : std::vector<std::string>{"..", "../x", "a/../../x", "a/..", "/etc",
                                                         std::string("a\0b", 3)}) {
    EXPECT_FALSE(PathUnder("/d", bad)) << bad;
  }
  EXPECT_NE(PathUnder("/d", "a/../../x").error().message.find("leaves its directory"),
            std::string::npos);
}

TEST_F(BeneathTest, ReadsInsideAndFollowsLinksThatStayInside) {
  EXPECT_EQ(*ReadFileBeneath(root_, "in/file", 100), "inside");
  EXPECT_EQ(*ReadFileBeneath(root_, "ok-link", 100), "inside");
  EXPECT_EQ(*ResolveBeneath(root_, "in/sub"), root_ + "/in/sub");
}

TEST_F(BeneathTest, RefusesEveryLinkOut) {
  for (const char* rel : {"abs", "rel", "in/up/secret", "in/up", "../secret"}) {
    auto r = ReadFileBeneath(root_, rel, 100);
    EXPECT_FALSE(r) << rel << " read: " << r.value_or("");
    EXPECT_FALSE(ResolveBeneath(root_, rel)) << rel;
    EXPECT_FALSE(OpenBeneath(root_, rel, O_RDONLY)) << rel;
  }
  EXPECT_NE(ReadFileBeneath(root_, "abs", 100).error().message.find("leads out of the directory"),
            std::string::npos);
  EXPECT_TRUE(OpenBeneath(root_, "abs", O_RDONLY).error().Is(ErrorCode::kInvalid));
  EXPECT_TRUE(OpenBeneath(root_, "in/missing", O_RDONLY).error().Is(ErrorCode::kNotFound));
}

TEST_F(BeneathTest, AFifoOrADirectoryIsRefusedRatherThanRead) {
  auto r = ReadFileBeneath(root_, "fifo", 100);  // Would block for ever if opened blocking.
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
  EXPECT_FALSE(ReadFileBeneath(root_, "in", 100));
  EXPECT_FALSE(ReadFileBeneath(root_, "in/file", 3)) << "over the limit";
}

TEST_F(BeneathTest, MakeDirsBeneathMakesWhatIsMissingAndNeverFollowsALinkOut) {
  auto made = MakeDirsBeneath(root_, "in/sub/a/b", 0777);
  ASSERT_TRUE(made) << made.error().message;
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/in/sub/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0777u);
  EXPECT_TRUE(MakeDirsBeneath(root_, "in/sub/a/b", 0777)) << "existing is fine";
  for (const char* rel : {"in/up/x", "in/up", "abs/x", "rel"}) {
    EXPECT_FALSE(MakeDirsBeneath(root_, rel, 0777)) << rel;
  }
  EXPECT_FALSE(PathExists(top_ + "/x"));
}

TEST(Names, DnsSubdomainAndConfigMapKeyAsKubernetesChecksThem) {
  EXPECT_TRUE(IsDnsSubdomain("a"));
  EXPECT_TRUE(IsDnsSubdomain("my-app.v1.example"));
  EXPECT_TRUE(IsDnsSubdomain(std::string(253, 'a').replace(63, 1, ".")));
  EXPECT_TRUE(IsDnsSubdomain(std::string(253, 'a'))) << "as Kubernetes: no limit per part";
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "a..b", "a.", ".a", "A", "a/b", "a_b", "-a", "a-",
                                std::string(254, 'a')}) {
    EXPECT_FALSE(IsDnsSubdomain(bad)) << bad;
  }
  EXPECT_TRUE(IsConfigMapKey("app.properties"));
  EXPECT_TRUE(IsConfigMapKey("_A-b.c"));
  EXPECT_TRUE(IsConfigMapKey(".hidden"));
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "..x", "a/b", "a b", std::string(254, 'k')}) {
    EXPECT_FALSE(IsConfigMapKey(bad)) << bad;
  }
  EXPECT_TRUE(IsLocalDescendingPath("a/b/c"));
  EXPECT_TRUE(IsLocalDescendingPath("a..b/c"));
  for (const std::string& bad :
       std::vector<std::string>{"/a", "..", "a/../b", "a/..", std::string("a\0", 2)}) {
    EXPECT_FALSE(IsLocalDescendingPath(bad)) << bad;
  }
}

}  // namespace
}  // namespace strake

namespace strake {
namespace {

TEST(TryLockFileTest, OneHolderAtATimeUntilItsDescriptorCloses) {
  std::string path = std::string(::testing::TempDir()) + "/strake-lock-test";
  auto first = TryLockFile(path);
  ASSERT_TRUE(first) << first.error().message;
  auto second = TryLockFile(path);  // another open file description: refused
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().Is(ErrorCode::kConflict)) << second.error().message;
  *first = Fd();
  EXPECT_TRUE(TryLockFile(path));
}

}  // namespace
}  // namespace strake
