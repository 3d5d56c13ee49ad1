#include "router/remote.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"
#include "base/process.h"
#include "router/wire.h"

namespace strake::router {

using nlohmann::json;

RemoteRouter::RemoteRouter(RemoteRouterOptions options) : options_(std::move(options)) {}

RemoteRouter::~RemoteRouter() = default;

Status RemoteRouter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(Connect());
  // Adopt what a router process that outlived its last control plane serves,
  // so a crash of the process later can put it back too.
  STRAKE_TRY_ASSIGN(listed, RoundTrip("GET", "/v1/services", nullptr));
  for (const auto& [name, s] : listed.at("services").items()) {
    desired_[name] =
        Desired{s.at("host").get<std::string>(), s.at("port").get<uint16_t>(), s.at("table")};
  }
  return Ok();
}

int RemoteRouter::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return info_.pid;
}

Result<RemoteRouter::Info> RemoteRouter::ReadInfo() const {
  STRAKE_TRY_ASSIGN(j, RoundTrip("GET", "/v1/info", nullptr));
  Info info;
  info.protocol = j.value("protocol", 0);
  info.instance = j.value("instance", "");
  info.pid = j.value("pid", 0);
  return info;
}

Status RemoteRouter::Connect() const {
  bool spawned = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto c = http::Connection::OpenUnix(options_.socket_path);
    if (!c) {
      if (options_.spawn_argv.empty() || spawned) {
        return tl::unexpected(c.error().Wrap("router process"));
      }
      STRAKE_TRY(SpawnProcess());
      spawned = true;
      continue;
    }
    conn_ = std::move(*c);
    auto info = ReadInfo();
    if (!info) {
      conn_.reset();
      return tl::unexpected(info.error().Wrap("router process"));
    }
    if (info->protocol != kControlProtocol) {
      if (options_.spawn_argv.empty() || spawned) {
        conn_.reset();
        return Failf("router process at {} speaks protocol {}, not {}", options_.socket_path,
                     info->protocol, kControlProtocol);
      }
      // Left by another strake version: replaced, with a gap in service.
      Log(LogLevel::kWarn, "router process {} speaks protocol {}; replacing it", info->pid,
          info->protocol);
      (void)RoundTrip("POST", "/v1/shutdown", nullptr);
      conn_.reset();
      WaitUntilGone();
      STRAKE_TRY(SpawnProcess());
      spawned = true;
      continue;
    }
    bool restarted = !info_.instance.empty() && info_.instance != info->instance;
    info_ = *info;
    if (restarted) {
      Log(LogLevel::kWarn, "router process restarted (pid {}); restoring {} services", info_.pid,
          desired_.size());
      STRAKE_TRY(Replay());
    }
    return Ok();
  }
  return Failf("router process at {} did not start", options_.socket_path);
}

Status RemoteRouter::SpawnProcess() const {
  if (child_) {  // one we started before, now gone: reap it
    (void)WaitProcess(*child_, std::chrono::milliseconds(0));
    child_.reset();
  }
  Fd log(::open(options_.log_path.empty() ? "/dev/null" : options_.log_path.c_str(),
                O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return Failf("open {}: {}", options_.log_path, std::strerror(errno));
  SpawnOptions o;
  o.argv = options_.spawn_argv;
  o.env = CurrentEnv();
  o.stdout_fd = log.get();
  o.stderr_fd = log.get();
  auto proc = Spawn(o);
  if (!proc) return tl::unexpected(proc.error().Wrap("start router process"));
  child_ = std::move(*proc);
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ConnectUnix(options_.socket_path)) return Ok();
    auto w = WaitProcess(*child_, std::chrono::milliseconds(10));
    if (w && w->outcome == WaitOutcome::kExited) {
      child_.reset();
      return Failf("router process exited with status {} before listening; see {}", w->exit_code,
                   options_.log_path);
    }
  }
  return Failf("router process did not listen on {} within {} ms; see {}", options_.socket_path,
               options_.start_timeout.count(), options_.log_path);
}

void RemoteRouter::WaitUntilGone() const {
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (ConnectUnix(options_.socket_path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status RemoteRouter::Replay() const {
  for (const auto& [name, d] : desired_) {
    json body{{"name", name}, {"host", d.host}, {"port", d.port}, {"table", d.table}};
    auto r = RoundTrip("POST", "/v1/services", &body);
    if (!r) return tl::unexpected(r.error().Wrap("restore service " + name));
  }
  return Ok();
}

Result<json> RemoteRouter::RoundTrip(const std::string& method, const std::string& target,
                                     const json* body, bool* broken) const {
  if (broken) *broken = true;
  if (!conn_) return Fail("not connected");
  http::Request req;
  req.method = method;
  req.target = target;
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  auto r = conn_->RoundTrip(req, options_.call_timeout);
  if (!r) {
    conn_.reset();
    return tl::unexpected(r.error());
  }
  if (broken) *broken = false;
  if (r->HeaderValue("Connection") == "close") conn_.reset();
  json j = r->body.empty() ? json() : json::parse(r->body, nullptr, false);
  if (r->status / 100 != 2) {
    std::string message = j.is_object() ? j.value("message", r->body) : r->body;
    std::string reason = j.is_object() ? j.value("reason", "") : "";
    ErrorCode code = reason == "Conflict"    ? ErrorCode::kConflict
                     : reason == "Forbidden" ? ErrorCode::kForbidden
                                             : ErrorCode::kUnknown;
    return Failf(code, "{}", message);
  }
  if (j.is_discarded()) return Failf("router process: {} {}: answer is not JSON", method, target);
  return j;
}

Result<json> RemoteRouter::Call(const std::string& method, const std::string& target,
                                const json* body) const {
  if (stopped_) return Fail("router process was shut down");
  if (conn_) {
    bool broken = false;
    auto r = RoundTrip(method, target, body, &broken);
    if (!broken) return r;  // answered (an error from the router is an answer)
  }
  // The connection broke: the router process restarted or died. Once more.
  STRAKE_TRY(Connect());
  return RoundTrip(method, target, body);
}

Result<uint16_t> RemoteRouter::AddService(const std::string& service, const std::string& host,
                                          uint16_t port, RouteTable table) {
  std::lock_guard<std::mutex> lock(mu_);
  json t = TableToJson(table);
  json body{{"name", service}, {"host", host}, {"port", port}, {"table", t}};
  STRAKE_TRY_ASSIGN(r, Call("POST", "/v1/services", &body));
  uint16_t bound = r.value("port", uint16_t{0});
  desired_[service] = Desired{host, bound, std::move(t)};
  return bound;
}

Status RemoteRouter::SetRoutes(const std::string& service, RouteTable table) {
  std::lock_guard<std::mutex> lock(mu_);
  json t = TableToJson(table);
  json body{{"table", t}};
  STRAKE_TRY(Call("PUT", "/v1/services/" + service, &body));
  auto it = desired_.find(service);
  if (it != desired_.end()) it->second.table = std::move(t);
  return Ok();
}

Status RemoteRouter::RemoveService(const std::string& service) {
  std::lock_guard<std::mutex> lock(mu_);
  desired_.erase(service);
  STRAKE_TRY(Call("DELETE", "/v1/services/" + service, nullptr));
  return Ok();
}

std::map<std::string, Listening> RemoteRouter::Services() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Listening> out;
  auto r = Call("GET", "/v1/services", nullptr);
  if (!r) {
    if (!stopped_) Log(LogLevel::kWarn, "router process: list services: {}", r.error().message);
    return out;
  }
  for (const auto& [name, s] : r->at("services").items())
    out[name] = Listening{s.value("host", "127.0.0.1"), s.value("port", uint16_t{0})};
  return out;
}

std::vector<ServiceCounters> RemoteRouter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = Call("GET", "/v1/counters", nullptr);
  if (!r) {
    if (!stopped_) Log(LogLevel::kWarn, "router process: counters: {}", r.error().message);
    return {};
  }
  auto counters = CountersFromJson(*r);
  if (!counters) {
    Log(LogLevel::kWarn, "{}", counters.error().message);
    return {};
  }
  return std::move(*counters);
}

Status RemoteRouter::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return Ok();
  if (!conn_) STRAKE_TRY(Connect());
  (void)RoundTrip("POST", "/v1/shutdown", nullptr);
  conn_.reset();
  stopped_ = true;  // no call may start another one now
  WaitUntilGone();
  if (child_) {
    (void)WaitProcess(*child_, options_.start_timeout);
    child_.reset();
  }
  return Ok();
}

}  // namespace strake::router
