#include "e2e_support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "base/fs.h"
#include "base/net.h"
#include "base/process.h"

extern char** environ;

namespace strake::e2e {

namespace {
std::vector<std::string> BaseEnv(const std::string& run_on_host) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    if (v.rfind("STRAKE_", 0) == 0) continue;
    env.push_back(v);
  }
  if (!run_on_host.empty()) env.push_back("STRAKE_RUN_ON_HOST=" + run_on_host);
  return env;
}
}  // namespace

void E2E::SetUp() {
  char tmpl[] = "/tmp/strake-e2e-XXXXXX";
  dir_ = mkdtemp(tmpl);
  data_ = dir_ + "/data";
}

void E2E::TearDown() {
  if (!HasFailure()) (void)RemoveAll(dir_);
}

std::string E2E::File(const std::string& name, const std::string& text) {
  std::string path = dir_ + "/" + name;
  EXPECT_TRUE(WriteFile(path, text));
  return path;
}

Ran E2E::Strake(std::vector<std::string> args, std::chrono::milliseconds limit,
                const std::vector<std::string>& extra_env) {
  args.insert(args.begin(), {STRAKE_BINARY, "--data-dir", data_});
  std::string out_path = dir_ + "/.out", err_path = dir_ + "/.err";
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto env = BaseEnv(run_on_host_);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  int in = stdin_path_.empty() ? -1 : ::open(stdin_path_.c_str(), O_RDONLY | O_CLOEXEC);
  auto p = Spawn({args, env, "", in, out, err, {}});
  ::close(out);
  ::close(err);
  if (in >= 0) ::close(in);
  Ran r;
  if (!p) {
    ADD_FAILURE() << p.error().message;
    return r;
  }
  auto w = WaitProcess(*p, limit);
  if (!w || w->outcome != WaitOutcome::kExited) {
    KillAndReap(*p);
    ADD_FAILURE() << "strake did not finish in time: " << args[3];
  } else {
    r.exit_code = w->exit_code;
  }
  r.out = ReadFile(out_path).value_or("");
  r.err = ReadFile(err_path).value_or("");
  return r;
}

int E2E::StartStrake(std::vector<std::string> args) {
  args.insert(args.begin(), {STRAKE_BINARY, "--data-dir", data_});
  std::string log = dir_ + "/.bg";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto p = Spawn({args, BaseEnv(run_on_host_), "", -1, fd, fd, {}});
  ::close(fd);
  EXPECT_TRUE(p);
  int pid = p ? p->pid() : -1;
  // The Process handle closes its pidfd; the test reaps the pid itself.
  return pid;
}

Json E2E::RunJson(const std::string& file, std::vector<std::string> extra) {
  std::vector<std::string> args = {"run", "-f", file, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Ran r = Strake(args);
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout: " << r.out << "\nstderr: " << r.err;
  return j.is_discarded() ? Json::object() : j;
}

std::vector<Json> E2E::TaskRuns() {
  Ran r = Strake({"get", "taskruns", "-o", "json"});
  Json j = Json::parse(r.out, nullptr, false);
  std::vector<Json> out;
  if (j.is_object() && j.contains("items")) {
    for (const auto& i : j["items"]) out.push_back(i);
  }
  return out;
}

std::string Reason(const Json& obj) {
  if (!obj.contains("status") || !obj["status"].contains("conditions")) return "";
  return obj["status"]["conditions"][0].value("reason", "");
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

int ReapWithin(int pid, std::chrono::milliseconds limit) {
  int status = 0;
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

bool PidAlive(int pid) {
  if (pid <= 0) return false;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("");
  return !stat.empty() && stat.find(") Z") == std::string::npos;
}

void ServerE2E::TearDown() {
  StopServer(SIGTERM);
  E2E::TearDown();
}

void ServerE2E::StartServer() {
  std::string log = dir_ + "/.bg";
  (void)RemoveAll(log);
  // The test's directory is the work directory: its files are what the
  // sandboxed workloads and jobs may read and write.
  // Everything a test serves is on loopback, and its repositories are
  // often file:// ones: the egress policy is opened to those (the tests of
  // the policy itself clear serve_egress_).
  std::vector<std::string> args = {"serve",      "--listen", "127.0.0.1:0", "--stop-workloads",
                                   "--work-dir", dir_};
  if (!serve_egress_.empty()) args.insert(args.end(), {"--egress-allow", serve_egress_});
  args.insert(args.end(), serve_args_.begin(), serve_args_.end());
  pid_ = StartStrake(args);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto text = ReadFile(log).value_or("");
        auto at = text.find("serving on ");
        if (at == std::string::npos) return false;
        server_ = text.substr(at + 11, text.find(' ', at + 11) - at - 11);
        // The first start of a data directory prints its admin token once.
        auto tok = text.find("strk_");
        if (tok != std::string::npos && token_.empty()) {
          token_ = text.substr(tok, text.find_first_of(" \n", tok) - tok);
        }
        return true;
      },
      // A wait, not a measure: under ASan with three e2e shards on two
      // cores a first start once took longer than 10 s (CI, session 40).
      std::chrono::seconds(30)))
      << ReadFile(log).value_or("");
  ASSERT_FALSE(token_.empty()) << "no admin token printed: " << ReadFile(log).value_or("");
}

void ServerE2E::StopServer(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Ran ServerE2E::Cli(std::vector<std::string> args, std::chrono::milliseconds limit) {
  args.push_back("--server");
  args.push_back(server_);
  std::vector<std::string> env = {"STRAKE_TOKEN=" + token_};
  env.insert(env.end(), cli_env_.begin(), cli_env_.end());
  return Strake(args, limit, env);
}

std::vector<std::pair<std::string, std::string>> ServerE2E::Auth() const {
  return {{"Authorization", "Bearer " + token_}};
}

uint16_t FreePort() {
  // Below the kernel's ephemeral range: a port the kernel hands out (to an
  // outgoing connection, or a listener on port 0) would be taken again while
  // the test starts its server on it. Random, so that tests running side by
  // side rarely try the same one; bound once to see that it is free.
  int low = 32768;
  if (auto range = ReadFile("/proc/sys/net/ipv4/ip_local_port_range")) {
    low = std::atoi(range->c_str());
  }
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick(10000, std::max(10001, low - 1));
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto port = static_cast<uint16_t>(pick(rng));
    if (ListenTcp("127.0.0.1", port)) return port;
  }
  auto l = ListenTcp("127.0.0.1", 0);
  EXPECT_TRUE(l);
  return l ? l->port : 0;
}

}  // namespace strake::e2e
