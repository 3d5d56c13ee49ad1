#include "server/jobs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "base/fs.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

using namespace std::chrono_literals;
using store::Json;

// Alive and not a zombie (a process that is not our child may wait for a
// reaper that never comes in a container).
bool Running(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("");
  return !stat.empty() && stat.find(") Z") == std::string::npos;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A command that leaves a descendant out of its process group (setsid),
// which writes its pid to `pidfile`.
std::string Escaping(const std::string& pidfile) {
  return "setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 300' & sleep 300";
}

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("jobs");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st);
    store_ = std::move(*st);
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  void Create(const std::string& name, const std::string& script, const Json& status,
              int deadline_seconds = 1) {
    store::Resource r;
    r.key = {"Job", "default", name};
    r.object = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"backoffLimit", 0},
                  {"activeDeadlineSeconds", deadline_seconds},
                  {"template",
                   {{"spec",
                     {{"restartPolicy", "Never"},
                      {"containers", Json::array({{{"name", "main"},
                                                   {"image", "alpine"},
                                                   {"command", {"sh", "-c", script}}}})}}}}}}}};
    r.status = status;
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  pid_t ReadPid(const std::string& pidfile) {
    pid_t pid = 0;
    EXPECT_TRUE(WaitFor(
        [&] {
          pid = std::atoi(ReadFile(pidfile).value_or("0").c_str());
          return pid > 0;
        },
        10s));
    return pid;
  }

  std::string dir_;
  SystemClock clock_;
  store::StorePtr store_;
  std::atomic<int> enqueued_{0};
};

// A Job's output reaches its log masked with the Secrets of its namespace,
// raw, base64 and split across writes alike (issue 19 §3).
TEST_F(JobsTest, ItsLogIsMaskedWithTheNamespacesSecrets) {
  store::Resource secret;
  secret.key = {"Secret", "default", "db"};
  secret.object = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "db"}, {"namespace", "default"}}},
                   {"stringData", {{"password", "hunter2-correct-horse"}}}};
  ASSERT_TRUE(store_->Create(secret, "Created", ""));
  // printf in two writes, with a pause between, and base64 of it.
  Create("leak",
         "printf 'pw=hunter2-cor'; sleep 0.2; printf 'rect-horse\\n'; "
         "printf hunter2-correct-horse | base64; echo done",
         Json::object(), 60);
  JobReconciler jobs(*store_, clock_, AttemptPlace{dir_ + "/logs", dir_, nullptr},
                     [this](const std::string&) { ++enqueued_; });
  ASSERT_TRUE(jobs.Reconcile("default/leak"));
  ASSERT_TRUE(WaitFor([&] { return enqueued_ > 0; }, 10s)) << "the attempt did not end";
  std::string log = ReadFile(dir_ + "/logs/default/leak.log").value_or("");
  EXPECT_NE(log.find("done"), std::string::npos) << log;
  EXPECT_NE(log.find("pw=***"), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  EXPECT_EQ(log.find("aHVudGVyMi1jb3JyZWN0LWhvcnNl"), std::string::npos) << log;
}

// Without the sandbox's PID namespace, an attempt past its deadline still
// ends with everything it started, found by its marker.
TEST_F(JobsTest, AnAttemptPastItsDeadlineEndsWithWhatItStartedOutOfItsGroup) {
  std::string pidfile = dir_ + "/escaped.pid";
  Create("deadline", Escaping(pidfile), Json::object());
  JobReconciler jobs(*store_, clock_, AttemptPlace{dir_ + "/logs", dir_, nullptr},
                     [this](const std::string&) { ++enqueued_; });
  ASSERT_TRUE(jobs.Reconcile("default/deadline"));
  pid_t escaped = ReadPid(pidfile);
  ASSERT_GT(escaped, 0);
  ASSERT_TRUE(WaitFor([&] { return enqueued_ > 0; }, 10s)) << "the attempt did not end";
  EXPECT_TRUE(WaitFor([&] { return !Running(escaped); }, 5s))
      << "the setsid descendant " << escaped << " outlived its attempt";
  if (Running(escaped)) ::kill(escaped, SIGKILL);
}

// kill -9 of the server between an attempt's spawn and the record of its
// pid: the attempt's marker, recorded before the spawn, finds its
// processes, which the next server kills.
TEST_F(JobsTest, AnAttemptWhosePidWasNeverRecordedIsKilledAfterARestart) {
  std::string marker = "default/lost/" + std::to_string(::getpid()) + "/0";
  Create("lost", "sleep 300",
         {{"active", 1}, {"failed", 0}, {"marker", marker}, {"startTime", "2026-01-01T00:00:00Z"}});
  SpawnOptions o;
  o.argv = {"sh", "-c", "sleep 300"};
  o.env = {"PATH=/usr/bin:/bin", "STRAKE_JOB=" + marker};
  auto lost = Spawn(o);
  ASSERT_TRUE(lost) << lost.error().message;
  JobReconciler jobs(*store_, clock_, AttemptPlace{dir_ + "/logs", dir_, nullptr},
                     [this](const std::string&) { ++enqueued_; });
  ASSERT_TRUE(jobs.Reconcile("default/lost"));
  auto w = WaitProcess(*lost, 5s);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kExited) << "the unrecorded attempt is still running";
  if (w->outcome != WaitOutcome::kExited) KillAndReap(*lost);
  auto job = store_->Get({"Job", "default", "lost"});
  ASSERT_TRUE(job && *job);
  EXPECT_EQ((*job)->status.value("failed", 0), 1);
}

}  // namespace
}  // namespace strake::server
