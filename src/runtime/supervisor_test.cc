#include "runtime/supervisor.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/cgroup.h"
#include "base/fs.h"
#include "base/http.h"
#include "base/ids.h"
#include "base/net.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/test_busybox.h"

namespace strake::runtime {
namespace {

using namespace std::chrono_literals;

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("STRAKE_TEST_TMP");
  std::string dir =
      PathJoin(base ? base : "/tmp", "supervisor-" + name + "-" + std::to_string(::getpid()));
  (void)RemoveAll(dir);
  EXPECT_TRUE(MakeDirs(dir));
  return dir;
}

SupervisorOptions Fast() {
  SupervisorOptions o;
  o.initial_backoff = 50ms;
  o.max_backoff = 200ms;
  return o;
}

std::vector<std::string> Env() { return {"PATH=/usr/local/bin:/usr/bin:/bin"}; }

GroupSpec HttpGroup(const std::string& key, int replicas) {
  GroupSpec g;
  g.key = key;
  g.replicas = replicas;
  g.tmpl.argv = {"python3", "-m", "http.server", "--bind", "127.0.0.1", "$(PORT)"};
  g.tmpl.env = Env();
  ProbeSpec p;
  p.path = "/";
  p.period_seconds = 1;
  g.tmpl.readiness = p;
  g.tmpl.grace_seconds = 2;
  return g;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

int ReadyCount(const Supervisor& s, const std::string& key) {
  int n = 0;
  for (const auto& r : s.Replicas(key)) n += r.ready;
  return n;
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// Alive and not a zombie (a process that is not our child may wait for a
// reaper that never comes in a container).
bool Running(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("");
  return !stat.empty() && stat.find(") Z") == std::string::npos;
}

// A root filesystem with this machine's BusyBox (and the libraries it
// loads) and a page to serve, as an unpacked image would be. Not under
// /tmp when that can be helped: the container assembles over another
// directory then, which is what a server whose data is under /tmp does.
std::string BusyboxRoot(const std::string& dir) {
  std::string root = dir + "/root";
  auto copy = [&](const std::string& host, const std::string& in_root) {
    auto data = ReadFile(host);
    EXPECT_TRUE(data) << host;
    EXPECT_TRUE(MakeDirs(PathJoin(root, in_root.substr(0, in_root.rfind('/')))));
    EXPECT_TRUE(WriteFile(PathJoin(root, in_root), data.value_or("")));
    ::chmod(PathJoin(root, in_root).c_str(), 0755);
  };
  for (const auto& host : testing::BusyboxFiles()) {
    copy(host, host == "/usr/bin/busybox" ? "bin/busybox" : host.substr(1));
  }
  for (const char* applet :
       {"sh", "cat", "echo", "httpd", "test", "sleep", "ls", "grep", "touch"}) {
    (void)::symlink("busybox", PathJoin(root, std::string("bin/") + applet).c_str());
  }
  EXPECT_TRUE(MakeDirs(root + "/www"));
  EXPECT_TRUE(WriteFile(root + "/www/index.html", "in the image\n"));
  return root;
}

// A replica in its image: its own PID namespace (its command is process 1
// and sees only its own processes), its own writable layer, and an exec
// probe that runs inside it (the file it reads exists in the container's
// /tmp only).
TEST(SupervisorTest, AReplicaRunsInItsImageWithItsOwnPidNamespace) {
  if (!PathExists("/usr/bin/busybox")) GTEST_SKIP() << "busybox is not installed";
  std::string dir = TempDir("image");
  Supervisor sup(dir + "/sup", Fast());
  GroupSpec g;
  g.key = "img/v1";
  g.replicas = 1;
  g.tmpl.argv = {"sh", "-c",
                 "echo $$ > /www/pid; ls /proc | grep -c '^[0-9]' > /www/procs; "
                 "ls /dev > /www/dev; echo x > /dev/null && echo null >> /www/dev; "
                 "touch /tmp/ready; exec httpd -f -p 127.0.0.1:$PORT -h /www"};
  g.tmpl.env = {"PATH=/bin"};
  ContainerSpec c;
  c.image_root = BusyboxRoot(dir);
  c.pid_namespace = true;
  g.tmpl.container = c;
  ProbeSpec ready;
  ready.kind = ProbeSpec::Kind::kExec;
  // What the probe sees of processes, written where the replica serves it.
  ready.command = {"sh", "-c",
                   "ls /proc | grep -c '^[0-9]' > /www/probe-procs; test -f /tmp/ready"};
  ready.period_seconds = 1;
  g.tmpl.readiness = ready;
  g.tmpl.grace_seconds = 1;
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return ReadyCount(sup, "img/v1") == 1; }))
      << sup.Replicas("img/v1")[0].message << ReadFile(sup.LogPath("img/v1", 0)).value_or("");
  auto rs = sup.Replicas("img/v1");
  auto get = [&](const std::string& path) {
    http::Request req;
    req.target = path;
    auto r = http::Fetch("127.0.0.1", rs[0].port, req, 2s);
    return r ? r->body : "error: " + r.error().message;
  };
  EXPECT_EQ(get("/index.html"), "in the image\n");
  EXPECT_EQ(get("/pid"), "1\n");
  // Process 1 and the ls: nothing of the host's.
  EXPECT_LE(std::stoi(get("/procs")), 3) << get("/procs");
  // A /dev of its own: the harmless devices, a private shm, the links.
  EXPECT_EQ(get("/dev"),
            "fd\nfull\nnull\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\nnull\n");
  // The probe ran in its PID namespace too: process 1, itself, ls, grep.
  EXPECT_LE(std::stoi(get("/probe-procs")), 5) << get("/probe-procs");
  // Nothing the replica wrote reached the image's root.
  EXPECT_FALSE(PathExists(c.image_root + "/www/pid"));
  pid_t waiter = rs[0].pid;
  sup.StopAll();
  EXPECT_FALSE(Running(waiter));
  (void)RemoveAll(dir);
}

TEST(SupervisorTest, ReplicasGetTheirOwnPortsAndBecomeReady) {
  Supervisor sup(TempDir("ready"), Fast());
  ASSERT_TRUE(sup.Apply(HttpGroup("web/v1", 2)));
  ASSERT_TRUE(WaitFor([&] { return ReadyCount(sup, "web/v1") == 2; }));
  auto reps = sup.Replicas("web/v1");
  ASSERT_EQ(reps.size(), 2u);
  EXPECT_NE(reps[0].port, reps[1].port);
  for (const auto& r : reps) {
    auto resp = http::Fetch("127.0.0.1", r.port, {}, 2s);
    ASSERT_TRUE(resp) << resp.error().message;
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(r.state, "Ready");
  }
  sup.StopAll();
  for (const auto& r : reps) EXPECT_FALSE(Alive(r.pid));
}

TEST(SupervisorTest, CrashingReplicaBacksOff) {
  Supervisor sup(TempDir("crash"), Fast());
  GroupSpec g;
  g.key = "crash/v1";
  g.replicas = 1;
  g.tmpl.argv = {"sh", "-c", "echo failing; exit 3"};
  g.tmpl.env = Env();
  g.tmpl.ready_when_listening = false;
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return sup.Replicas("crash/v1")[0].restarts >= 3; }));
  auto r = sup.Replicas("crash/v1")[0];
  EXPECT_EQ(r.message, "exited with status 3");
  auto log = ReadFile(r.log_path);
  ASSERT_TRUE(log);
  EXPECT_NE(log->find("failing\nfailing\n"), std::string::npos);
  sup.StopAll();
}

// A replica over its resources.limits.memory is killed by the kernel and
// says so (OOMKilled), then restarts as any crash does; its cgroup goes.
TEST(SupervisorTest, AReplicaOverItsMemoryLimitIsOomKilled) {
  auto cgroups = Cgroups::Open("sup-test-" + std::to_string(::getpid()));
  if (!cgroups) GTEST_SKIP() << "cgroups not usable here: " << cgroups.error().message;
  SupervisorOptions o = Fast();
  o.cgroups = cgroups->get();
  {
    Supervisor sup(TempDir("oom"), o);
    GroupSpec g;
    g.key = "oom/v1";
    g.replicas = 1;
    g.tmpl.argv = {"sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); sleep 60"};
    g.tmpl.env = Env();
    g.tmpl.ready_when_listening = false;
    g.tmpl.limits.memory_bytes = 32 << 20;
    ASSERT_TRUE(sup.Apply(g));
    ASSERT_TRUE(WaitFor([&] { return sup.Replicas("oom/v1")[0].restarts >= 1; }));
    EXPECT_TRUE(StartsWith(sup.Replicas("oom/v1")[0].message, "OOMKilled: exited with status"))
        << sup.Replicas("oom/v1")[0].message;
    sup.StopAll();
  }
  (*cgroups)->SweepEmpty();
  for (const auto& b : (*cgroups)->bases())
    EXPECT_EQ(::rmdir(b.c_str()), 0) << b << ": " << std::strerror(errno);
}

// Most real servers bind a fixed port: one that exits without ever
// listening on the port strake gave it is told so (issue 12 §2).
TEST(SupervisorTest, AReplicaThatNeverListenedOnItsPortGetsAHint) {
  Supervisor sup(TempDir("deaf"), Fast());
  GroupSpec g;
  g.key = "deaf/v1";
  g.replicas = 1;
  g.tmpl.argv = {"sh", "-c", "exit 1"};
  g.tmpl.env = Env();
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return sup.Replicas("deaf/v1")[0].restarts >= 1; }));
  auto r = sup.Replicas("deaf/v1")[0];
  EXPECT_EQ(r.message, fmt::format("exited with status 1 without ever listening on $PORT ({}): a "
                                   "server must listen on the port strake gives it in PORT",
                                   r.port));
  sup.StopAll();
}

TEST(SupervisorTest, MissingCommandIsAClearFailure) {
  Supervisor sup(TempDir("missing"), Fast());
  GroupSpec g;
  g.key = "bad/v1";
  g.replicas = 1;
  g.tmpl.argv = {"no-such-command-xyz"};
  g.tmpl.env = Env();
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return sup.Replicas("bad/v1")[0].state == "Failed"; }));
  EXPECT_EQ(sup.Replicas("bad/v1")[0].message, "no-such-command-xyz: command not found");
  sup.StopAll();
}

TEST(SupervisorTest, ScaleDownStopsGracefullyThenKills) {
  Supervisor sup(TempDir("scale"), Fast());
  GroupSpec g;
  g.key = "stubborn/v1";
  g.replicas = 2;
  g.tmpl.argv = {"sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"};
  g.tmpl.env = Env();
  g.tmpl.ready_when_listening = false;
  g.tmpl.grace_seconds = 1;
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return ReadyCount(sup, "stubborn/v1") == 2; }));
  pid_t second = sup.Replicas("stubborn/v1")[1].pid;
  g.replicas = 1;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup.Apply(g));
  EXPECT_EQ(sup.Replicas("stubborn/v1").size(), 1u);
  ASSERT_TRUE(WaitFor([&] { return !Alive(second); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);  // waited out the grace period
  sup.StopAll();
}

// A replica that is scaled away keeps answering until the drain says its
// port is out of every route, however long that takes (no fixed delay).
TEST(SupervisorTest, AStoppingReplicaServesUntilItsPortIsDrained) {
  SupervisorOptions o = Fast();
  o.drain_delay = 0ms;
  Supervisor sup(TempDir("drain"), o);
  ASSERT_TRUE(sup.Apply(HttpGroup("web/v1", 2)));
  ASSERT_TRUE(WaitFor([&] { return ReadyCount(sup, "web/v1") == 2; }));
  ReplicaStatus second = sup.Replicas("web/v1")[1];
  std::mutex mu;
  std::condition_variable cv;
  bool routed = true;
  std::vector<uint16_t> drained;
  sup.SetDrain([&](uint16_t port) {
    std::unique_lock<std::mutex> lock(mu);
    drained.push_back(port);
    cv.notify_all();
    cv.wait(lock, [&] { return !routed; });
  });
  ASSERT_TRUE(sup.Apply(HttpGroup("web/v1", 1)));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return !drained.empty(); }));
  }
  std::this_thread::sleep_for(1500ms);  // far past any fixed drain delay
  auto still = http::Fetch("127.0.0.1", second.port, {}, 2s);
  ASSERT_TRUE(still) << still.error().message;
  EXPECT_EQ(still->status, 200);
  {
    std::lock_guard<std::mutex> lock(mu);
    routed = false;
  }
  cv.notify_all();
  EXPECT_TRUE(WaitFor([&] { return !Alive(second.pid); }));
  EXPECT_EQ(drained, std::vector<uint16_t>{second.port});
  sup.SetDrain(nullptr);
  sup.StopAll();
}

TEST(SupervisorTest, LivenessFailureRestarts) {
  Supervisor sup(TempDir("liveness"), Fast());
  GroupSpec g = HttpGroup("live/v1", 1);
  ProbeSpec live;
  live.path = "/no-such-file";  // http.server answers 404
  live.period_seconds = 1;
  live.failure_threshold = 1;
  live.initial_delay_seconds = 1;  // the server is up by then: the 404 is what fails
  g.tmpl.liveness = live;
  ASSERT_TRUE(sup.Apply(g));
  ASSERT_TRUE(WaitFor([&] { return sup.Replicas("live/v1")[0].restarts >= 1; }));
  EXPECT_EQ(sup.Replicas("live/v1")[0].message,
            "liveness probe failed: HTTP probe /no-such-file returned 404");
  sup.StopAll();
}

TEST(SupervisorTest, ReplicasSurviveTheSupervisorAndAreReadopted) {
  std::string dir = TempDir("adopt");
  pid_t pid = -1;
  uint16_t port = 0;
  {
    Supervisor first(dir, Fast());
    ASSERT_TRUE(first.Apply(HttpGroup("web/v1", 1)));
    ASSERT_TRUE(first.Apply(HttpGroup("old/v0", 1)));
    ASSERT_TRUE(WaitFor(
        [&] { return ReadyCount(first, "web/v1") == 1 && ReadyCount(first, "old/v0") == 1; }));
    pid = first.Replicas("web/v1")[0].pid;
    port = first.Replicas("web/v1")[0].port;
  }  // the control plane goes away; its replicas do not
  ASSERT_TRUE(Alive(pid));
  Supervisor second(dir, Fast());
  ASSERT_TRUE(second.Recover());
  // Before any Apply claims them, adopted replicas show as they were: ready,
  // so the router keeps sending them traffic across the restart.
  ASSERT_EQ(second.Replicas("web/v1").size(), 1u);
  EXPECT_TRUE(second.Replicas("web/v1")[0].ready);
  EXPECT_EQ(second.Replicas("web/v1")[0].port, port);
  ASSERT_TRUE(second.Apply(HttpGroup("web/v1", 1)));
  EXPECT_TRUE(second.Replicas("web/v1")[0].ready);  // no probe needed to stay ready
  ASSERT_TRUE(WaitFor([&] { return ReadyCount(second, "web/v1") == 1; }));
  auto r = second.Replicas("web/v1")[0];
  EXPECT_EQ(r.pid, pid);  // the same process, not a restart
  EXPECT_EQ(r.port, port);
  EXPECT_EQ(r.restarts, 0);
  second.CollectOrphans();  // old/v0 was not claimed
  second.StopAll();
  EXPECT_FALSE(Alive(pid));
}

// kill -9 of the control plane between a replica's spawn and the record of
// its pid: the record written before the start names the replica's marker,
// and the next supervisor stops by it the process and what it started out
// of its process group.
TEST(SupervisorTest, AReplicaStartedButNotRecordedIsStoppedAfterARestart) {
  std::string dir = TempDir("unrecorded");
  std::string group = PathJoin(dir, KeyToDir("web/v1"));
  ASSERT_TRUE(MakeDirs(group));
  ASSERT_TRUE(WriteFile(PathJoin(group, "key"), "web/v1"));
  std::string marker = NewUid();
  nlohmann::json record = {{"pid", -1}, {"startTicks", 0}, {"port", 0}, {"marker", marker}};
  ASSERT_TRUE(WriteFile(PathJoin(group, "0.json"), record.dump()));
  std::string pidfile = PathJoin(dir, "descendant.pid");
  SpawnOptions o;
  o.argv = {"sh", "-c",
            "setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 300' & exec sleep 300"};
  o.env = Env();
  o.env.push_back(std::string(kReplicaMarker) + "=" + marker);
  auto replica = Spawn(o);
  ASSERT_TRUE(replica) << replica.error().message;
  pid_t descendant = 0;
  ASSERT_TRUE(WaitFor([&] {
    descendant = std::atoi(ReadFile(pidfile).value_or("0").c_str());
    return descendant > 0;
  }));

  Supervisor second(dir, Fast());
  ASSERT_TRUE(second.Recover());
  auto w = WaitProcess(*replica, 5s);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kExited) << "the unrecorded replica is still running";
  EXPECT_TRUE(WaitFor([&] { return !Running(descendant); }, 5s)) << "descendant " << descendant;
  EXPECT_FALSE(PathExists(PathJoin(group, "0.json")));
  EXPECT_TRUE(second.Replicas("web/v1").empty());
  if (w && w->outcome != WaitOutcome::kExited) KillAndReap(*replica);
  if (Running(descendant)) ::kill(descendant, SIGKILL);
}

// A replica's record is on disk, with its marker, before its process runs;
// what the replica starts with setsid ends when the replica is stopped.
TEST(SupervisorTest, StoppingAReplicaEndsWhatItStartedOutOfItsGroup) {
  std::string dir = TempDir("setsid");
  std::string pidfile = PathJoin(dir, "descendant.pid");
  Supervisor sup(dir, Fast());
  GroupSpec g;
  g.key = "daemon/v1";
  g.replicas = 1;
  g.tmpl.argv = {"sh", "-c",
                 "setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 300' & exec sleep 300"};
  g.tmpl.env = Env();
  g.tmpl.ready_when_listening = false;
  g.tmpl.grace_seconds = 1;
  ASSERT_TRUE(sup.Apply(g));
  pid_t descendant = 0;
  ASSERT_TRUE(WaitFor([&] {
    descendant = std::atoi(ReadFile(pidfile).value_or("0").c_str());
    return descendant > 0;
  }));
  auto record = ReadFile(PathJoin(PathJoin(dir, KeyToDir("daemon/v1")), "0.json"));
  ASSERT_TRUE(record);
  std::string marker = nlohmann::json::parse(*record).value("marker", "");
  ASSERT_FALSE(marker.empty());
  // Read again until it holds: /proc/PID/environ reads empty while the
  // descendant is inside its execve of sleep.
  EXPECT_TRUE(WaitFor(
      [&] { return HasEnvMarker(descendant, std::string(kReplicaMarker) + "=" + marker); }, 5s));
  sup.StopAll();
  EXPECT_TRUE(WaitFor([&] { return !Running(descendant); }, 5s)) << "descendant " << descendant;
  if (Running(descendant)) ::kill(descendant, SIGKILL);
}

}  // namespace
}  // namespace strake::runtime

namespace strake::runtime {
namespace {

TEST(NextBackoffTest, DoublesToTheCapAndStartsOverAfterALongRun) {
  using std::chrono::milliseconds;
  SupervisorOptions o;
  o.initial_backoff = milliseconds(10'000);
  o.max_backoff = milliseconds(300'000);
  o.backoff_reset_after = milliseconds(600'000);
  milliseconds b{0};
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; ++i) {
    b = NextBackoff(b, milliseconds(50), o);
    waits.push_back(b.count());
  }
  EXPECT_EQ(waits,
            (std::vector<int64_t>{10'000, 20'000, 40'000, 80'000, 160'000, 300'000, 300'000}));
  EXPECT_EQ(NextBackoff(milliseconds(300'000), milliseconds(600'000), o).count(), 10'000);
  EXPECT_EQ(NextBackoff(milliseconds(300'000), milliseconds(599'999), o).count(), 300'000);
}

}  // namespace
}  // namespace strake::runtime
