// cgroups: the kubelet's arithmetic, finding this process's cgroups in the
// kernel's text, and (where this machine lets strake use them) limits that
// hold: a process that joins is inside, a memory hog is killed and seen as
// OOMKilled, the CPU quota is the one written.
#include "base/cgroup.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"

namespace strake {
namespace {

TEST(CgroupMath, CpuAsTheKubeletWritesIt) {
  EXPECT_EQ(CpuShares(0), 2);
  EXPECT_EQ(CpuShares(1), 2);
  EXPECT_EQ(CpuShares(250), 256);
  EXPECT_EQ(CpuShares(1000), 1024);
  EXPECT_EQ(CpuShares(1'000'000), 262'144);
  EXPECT_EQ(CpuWeight(2), 1);
  EXPECT_EQ(CpuWeight(1024), 39);  // runc's conversion of the default shares
  EXPECT_EQ(CpuWeight(262'144), 10'000);
  EXPECT_EQ(CpuQuotaMicros(250), 25'000);
  EXPECT_EQ(CpuQuotaMicros(2000), 200'000);
  EXPECT_EQ(CpuQuotaMicros(1), 1000);  // the kernel's minimum
}

TEST(CgroupPlaces, HybridV1AndV2) {
  // This machine's kind: v1 controllers, an empty v2 hierarchy beside them.
  const char* cg = "8:pids:/\n4:memory:/process_api/7193\n2:cpu,cpuacct:/jobs/a\n0::/\n";
  const char* mi =
      "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:7 - cgroup2 cgroup2 rw\n"
      "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "34 30 0:30 /jobs /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
  CgroupPlaces p = FindCgroupPlaces(cg, mi);
  EXPECT_EQ(p.unified, "/sys/fs/cgroup/unified");
  EXPECT_EQ(p.memory, "/sys/fs/cgroup/memory/process_api/7193");
  EXPECT_EQ(p.cpu, "/sys/fs/cgroup/cpu,cpuacct/a");  // the mount's root is /jobs
}

TEST(CgroupPlaces, UnifiedOnly) {
  const char* cg = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/strake.scope\n";
  const char* mi =
      "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
  CgroupPlaces p = FindCgroupPlaces(cg, mi);
  EXPECT_EQ(p.unified,
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/strake.scope");
  EXPECT_EQ(p.memory, "");
  EXPECT_EQ(p.cpu, "");
}

TEST(CgroupPlaces, NoneMounted) {
  CgroupPlaces p = FindCgroupPlaces("0::/\n", "22 1 0:5 / /proc rw - proc proc rw\n");
  EXPECT_EQ(p.unified, "");
}

TEST(Cgroups, RefusedWhereNothingCanBeUsed) {
  auto dir = MakeTempDir("cgroups");
  ASSERT_TRUE(dir);
  auto c = Cgroups::OpenAt({}, "x");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("no cgroup v1 memory and cpu hierarchies"), std::string::npos)
      << c.error().message;
  // A v2 cgroup without the controllers to give says so.
  ASSERT_TRUE(WriteFile(*dir + "/cgroup.controllers", "io pids\n"));
  c = Cgroups::OpenAt({*dir, "", ""}, "x");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("has no memory and cpu controllers"), std::string::npos)
      << c.error().message;
  (void)RemoveAll(*dir);
}

Result<std::string> Slurp(const std::string& path) {
  auto t = ReadFile(path, 1 << 16);
  if (!t) return t;
  return std::string(Trim(*t));
}

// The machine's own cgroups, where strake may use them (root on v1, or a
// delegated v2 cgroup); skipped, saying why, where it may not.
class LiveCgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cgroups::Open("test-" + std::to_string(::getpid()));
    if (!c) GTEST_SKIP() << "cgroups not usable here: " << c.error().message;
    cgroups_ = std::move(*c);
  }
  void TearDown() override {
    if (!cgroups_) return;
    cgroups_->SweepEmpty();
    const auto bases = cgroups_->bases();
    cgroups_.reset();  // strake's own goes with the last of it
    for (const auto& b : bases) EXPECT_FALSE(PathExists(b)) << b;
  }
  // Runs `script` in the cgroup; its exit code.
  int RunIn(const Cgroup& cg, const std::string& script, std::string* cgroup_text = nullptr) {
    SpawnOptions o;
    o.argv = {"/bin/sh", "-c", script};
    o.env = {"PATH=/usr/bin:/bin"};
    o.cgroup_fds = cg.join_fds();
    auto out = MakeTempDir("cgroup-out");
    EXPECT_TRUE(out);
    std::string file = *out + "/out";
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    o.stdout_fd = fd;
    auto p = Spawn(o);
    ::close(fd);
    EXPECT_TRUE(p) << (p ? "" : p.error().message);
    if (!p) return -1;
    auto w = WaitProcess(*p, std::nullopt);
    EXPECT_TRUE(w);
    if (cgroup_text) *cgroup_text = ReadFile(file).value_or("");
    (void)RemoveAll(*out);
    return w ? w->exit_code : -1;
  }
  std::unique_ptr<Cgroups> cgroups_;
};

TEST_F(LiveCgroups, LimitsWrittenAndTheChildInside) {
  auto cg = cgroups_->Create("c1", {64 << 20, 250, 0});
  ASSERT_TRUE(cg) << cg.error().message;
  if (cgroups_->version() == 2) {
    EXPECT_EQ(Slurp(cg->dirs()[0] + "/memory.max").value_or(""), "67108864");
    EXPECT_EQ(Slurp(cg->dirs()[0] + "/cpu.max").value_or(""), "25000 100000");
    EXPECT_EQ(Slurp(cg->dirs()[0] + "/cpu.weight").value_or(""), "10");
  } else {
    EXPECT_EQ(Slurp(cg->dirs()[0] + "/memory.limit_in_bytes").value_or(""), "67108864");
    EXPECT_EQ(Slurp(cg->dirs()[1] + "/cpu.cfs_quota_us").value_or(""), "25000");
    EXPECT_EQ(Slurp(cg->dirs()[1] + "/cpu.shares").value_or(""), "256");
  }
  std::string seen;
  EXPECT_EQ(RunIn(*cg, "cat /proc/self/cgroup", &seen), 0);
  // Every hierarchy shows the child in it.
  for (const auto& d : cg->dirs()) {
    std::string tail = d.substr(d.find("/strake-test-"));
    EXPECT_NE(seen.find(tail + "\n"), std::string::npos) << seen << " lacks " << tail;
  }
  EXPECT_FALSE(cg->OomKilled());
  auto dirs = cg->dirs();
  cg->Remove();
  for (const auto& d : dirs) EXPECT_FALSE(PathExists(d)) << d;
}

TEST_F(LiveCgroups, MemoryLimitKillsAndIsSeen) {
  auto parent = cgroups_->Create("task", {256 << 20, 0, 0});
  ASSERT_TRUE(parent) << parent.error().message;
  auto cg = cgroups_->Create("step", {32 << 20, 0, 0}, &*parent);
  ASSERT_TRUE(cg) << cg.error().message;
  // 96 MB held in a shell variable: over the limit.
  int code = RunIn(*cg, "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}");
  EXPECT_NE(code, 0);
  EXPECT_TRUE(cg->OomKilled());
  // Within the limit, the same shell is fine.
  auto small = cgroups_->Create("small", {32 << 20, 0, 0}, &*parent);
  ASSERT_TRUE(small);
  EXPECT_EQ(RunIn(*small, "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}"), 0);
  EXPECT_FALSE(small->OomKilled());
  cg->Remove();
  small->Remove();
  parent->Remove();
}

// What a process that is gone left (kill -9) is swept, unless processes
// still run in it (a replica that outlived its server); a running
// process's cgroups are its own, empty or not.
TEST_F(LiveCgroups, SweepTakesWhatTheDeadLeftAndNothingInUse) {
  auto gone = Spawn({{"/bin/true"}, {}, "", -1, -1, -1, {}});
  ASSERT_TRUE(gone);
  const pid_t dead = gone->pid();
  ASSERT_TRUE(WaitProcess(*gone, std::nullopt));
  std::vector<std::string> left, busy;
  std::vector<Fd> busy_fds;
  for (const auto& b : cgroups_->bases()) {
    left.push_back(fmt::format("{}/p{}-left", b, dead));
    busy.push_back(fmt::format("{}/p{}-busy", b, dead));
    ASSERT_EQ(::mkdir(left.back().c_str(), 0755), 0) << left.back();
    ASSERT_EQ(::mkdir(busy.back().c_str(), 0755), 0) << busy.back();
    busy_fds.emplace_back(::open((busy.back() + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  }
  auto mine = cgroups_->Create("idle", {}, nullptr);
  ASSERT_TRUE(mine);
  SpawnOptions o;
  o.argv = {"/bin/sleep", "30"};
  for (const auto& f : busy_fds) o.cgroup_fds.push_back(f.get());
  auto p = Spawn(o);
  ASSERT_TRUE(p);
  // The child joins between its fork and its exec.
  for (int i = 0; i < 500 && Slurp(busy[0] + "/cgroup.procs").value_or("").empty(); ++i)
    ::usleep(2000);
  cgroups_->SweepEmpty();
  for (const auto& d : left) EXPECT_FALSE(PathExists(d)) << d;
  for (const auto& d : busy) EXPECT_TRUE(PathExists(d)) << d;
  for (const auto& d : mine->dirs()) EXPECT_TRUE(PathExists(d)) << d;
  KillAndReap(*p);
  busy_fds.clear();
  for (int i = 0; i < 100 && !Slurp(busy[0] + "/cgroup.procs").value_or("").empty(); ++i)
    ::usleep(10000);
  cgroups_->SweepEmpty();
  for (const auto& d : busy) EXPECT_FALSE(PathExists(d)) << d;
  mine->Remove();
}

}  // namespace
}  // namespace strake
