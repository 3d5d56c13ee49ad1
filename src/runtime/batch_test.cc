#include "runtime/batch.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <thread>

#include "base/fs.h"

namespace strake::runtime {
namespace {

using namespace std::chrono_literals;

// What on_end was told, for a test to wait on.
class Ends {
 public:
  void operator()(const std::string& key, const BatchEnd& end) {
    std::lock_guard<std::mutex> lock(mu_);
    ends_[key] = end;
    cv_.notify_all();
  }
  std::optional<BatchEnd> Wait(const std::string& key) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return ends_.count(key) > 0; })) return std::nullopt;
    return ends_[key];
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return ends_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, BatchEnd> ends_;
};

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("batch");
    ASSERT_TRUE(d);
    dir_ = *d;
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  BatchAttempt Sh(const std::string& script) {
    BatchAttempt a;
    a.argv = {"/bin/sh", "-c", script};
    a.env = {"PATH=/usr/bin:/bin"};
    a.cwd = dir_;
    a.log_path = dir_ + "/out.log";
    a.marker = "STRAKE_TEST_BATCH=" + dir_;
    return a;
  }
  static bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }
  template <typename Pred>
  static bool WaitFor(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  std::string dir_;
  Ends ends_;
};

TEST_F(BatchTest, AnAttemptEndsWithItsExitCodeAndItsOutputMaskedInTheLog) {
  BatchRunner runner(std::ref(ends_));
  BatchAttempt a = Sh("echo token=hunter2hunter2; exit 3");
  a.secrets = {"hunter2hunter2"};
  ASSERT_TRUE(runner.Start("ns/a", a));
  auto end = ends_.Wait("ns/a");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->exit_code, 3);
  EXPECT_FALSE(end->deadline);
  EXPECT_EQ(end->error, "");
  EXPECT_FALSE(runner.Running("ns/a"));
  auto log = ReadFile(dir_ + "/out.log");
  ASSERT_TRUE(log);
  EXPECT_EQ(log->find("hunter2"), std::string::npos) << *log;
  EXPECT_NE(log->find("token=***"), std::string::npos) << *log;
}

TEST_F(BatchTest, AnAttemptPastItsLimitIsKilledWithWhatItStartedOutOfItsGroup) {
  BatchRunner runner(std::ref(ends_));
  std::string pidfile = dir_ + "/escaped.pid";
  BatchAttempt a = Sh("setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 300' & sleep 300");
  a.limit = 300ms;
  ASSERT_TRUE(runner.Start("ns/slow", a));
  auto end = ends_.Wait("ns/slow");
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->deadline);
  EXPECT_EQ(end->exit_code, 137);
  pid_t escaped = std::atoi(ReadFile(pidfile).value_or("0").c_str());
  ASSERT_GT(escaped, 0);
  EXPECT_TRUE(WaitFor([&] { return !Alive(escaped); })) << "the setsid descendant outlived it";
}

TEST_F(BatchTest, StopEndsAnAttemptAndASecondStartOfARunningKeyFails) {
  BatchRunner runner(std::ref(ends_));
  auto pid = runner.Start("ns/s", Sh("sleep 300"));
  ASSERT_TRUE(pid);
  EXPECT_TRUE(runner.Running("ns/s"));
  EXPECT_FALSE(runner.Start("ns/s", Sh("true")));
  runner.Stop("ns/s");
  auto end = ends_.Wait("ns/s");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->error, "stopped");
  EXPECT_FALSE(end->deadline);
  EXPECT_TRUE(WaitFor([&] { return !Alive(*pid); }));
}

TEST_F(BatchTest, TheRunnerGoneKillsItsAttemptsAndTellsNoOne) {
  pid_t pid = 0;
  {
    BatchRunner runner(std::ref(ends_));
    auto started = runner.Start("ns/d", Sh("sleep 300"));
    ASSERT_TRUE(started);
    pid = *started;
  }
  EXPECT_TRUE(WaitFor([&] { return !Alive(pid); }));
  EXPECT_EQ(ends_.count(), 0u);
}

TEST_F(BatchTest, LeftoversOfAnotherProcessAreFoundByTheirMarker) {
  BatchAttempt a = Sh("exec sleep 300");
  Ends other;
  pid_t pid = 0;
  {
    BatchRunner first(std::ref(other));
    auto started = first.Start("ns/l", a);
    ASSERT_TRUE(started);
    pid = *started;
    EXPECT_TRUE(WaitFor([&] {
      return ReadFile("/proc/" + std::to_string(pid) + "/cmdline")
          .value_or("")
          .starts_with("sleep");
    }));
    EXPECT_EQ(BatchRunner::KillLeftovers(a.marker), 1);
    auto end = other.Wait("ns/l");
    ASSERT_TRUE(end);
    EXPECT_EQ(end->exit_code, 137);
  }
  EXPECT_TRUE(WaitFor([&] { return !Alive(pid); }))
      << pid << " " << ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("?");
}

}  // namespace
}  // namespace strake::runtime
