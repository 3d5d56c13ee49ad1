#include "server/router_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/ids.h"
#include "base/log.h"
#include "router/remote.h"
#include "router/router.h"
#include "router/wire.h"
#include "server/http_server.h"

namespace strake::server {

namespace {

using nlohmann::json;

constexpr std::string_view kServicesPath = "/v1/services/";

// The control API over one Router. Mutations are serialised so a service's
// stored table always matches the one installed.
class Control {
 public:
  Control(router::Router& router, std::atomic<bool>& shutdown)
      : router_(router), shutdown_(shutdown), instance_(RandomSuffix(16)) {}

  Response Handle(const Request& req) {
    if (req.path == "/v1/info" && req.method == "GET") {
      return JsonResponse(200, json{{"protocol", router::kControlProtocol},
                                    {"instance", instance_},
                                    {"pid", ::getpid()}});
    }
    if (req.path == "/v1/services") {
      if (req.method == "GET") return List();
      if (req.method == "POST") return Add(req);
      return ErrorResponse(405, "MethodNotAllowed", req.method + " " + req.path);
    }
    if (req.path.compare(0, kServicesPath.size(), kServicesPath) == 0) {
      std::string name = req.path.substr(kServicesPath.size());
      if (req.method == "PUT") return Replace(name, req);
      if (req.method == "DELETE") return Remove(name);
      return ErrorResponse(405, "MethodNotAllowed", req.method + " " + req.path);
    }
    if (req.path == "/v1/counters" && req.method == "GET") {
      return JsonResponse(200, json{{"services", router::CountersToJson(router_.Snapshot())}});
    }
    if (req.path == "/metrics" && req.method == "GET") {
      return Response{200, "text/plain; version=0.0.4", router_.PrometheusText(), nullptr};
    }
    if (req.path == "/v1/shutdown" && req.method == "POST") {
      shutdown_ = true;
      return JsonResponse(200, json::object());
    }
    return ErrorResponse(404, "NotFound", req.method + " " + req.path);
  }

 private:
  // What this process serves; Control is the router's only writer, so this
  // is also what the router has.
  struct Entry {
    std::string host;
    uint16_t port = 0;  // as bound
    json table;
  };

  static Result<json> Body(const Request& req) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Fail("body: expected a JSON object");
    return j;
  }

  Response List() {
    std::lock_guard<std::mutex> lock(mu_);
    json services = json::object();
    for (const auto& [name, e] : entries_) {
      services[name] = json{{"host", e.host}, {"port", e.port}, {"table", e.table}};
    }
    return JsonResponse(200, json{{"services", std::move(services)}});
  }

  Response Add(const Request& req) {
    auto body = Body(req);
    if (!body) return ErrorResponse(400, "BadRequest", body.error().message);
    const json& b = *body;
    if (!b.contains("name") || !b["name"].is_string() || !b.contains("host") ||
        !b["host"].is_string() || !b.contains("port") || !b["port"].is_number_unsigned() ||
        b["port"].get<uint64_t>() > 65535 || !b.contains("table")) {
      return ErrorResponse(400, "BadRequest", "body: expected name, host, port and table");
    }
    auto table = router::TableFromJson(b["table"]);
    if (!table) return ErrorResponse(422, "Invalid", table.error().message);
    std::string name = b["name"].get<std::string>();
    std::string host = b["host"].get<std::string>();
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.count(name)) {
      return ErrorResponse(409, "AlreadyExists", fmt::format("service {} exists", name));
    }
    auto bound = router_.AddService(name, host, b["port"].get<uint16_t>(), std::move(*table));
    if (!bound) return ErrorResponse(422, "Invalid", bound.error().message);
    entries_[name] = Entry{host, *bound, b["table"]};
    Log(LogLevel::kInfo, "service {} listening on {}:{}", name, host, *bound);
    return JsonResponse(201, json{{"port", *bound}});
  }

  Response Replace(const std::string& name, const Request& req) {
    auto body = Body(req);
    if (!body) return ErrorResponse(400, "BadRequest", body.error().message);
    if (!body->contains("table")) return ErrorResponse(400, "BadRequest", "body: expected table");
    auto table = router::TableFromJson((*body)["table"]);
    if (!table) return ErrorResponse(422, "Invalid", table.error().message);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      return ErrorResponse(404, "NotFound", fmt::format("service {} not found", name));
    }
    auto st = router_.SetRoutes(name, std::move(*table));
    if (!st) return ErrorResponse(422, "Invalid", st.error().message);
    it->second.table = (*body)["table"];
    return JsonResponse(200, json::object());
  }

  Response Remove(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!entries_.erase(name)) {
      return ErrorResponse(404, "NotFound", fmt::format("service {} not found", name));
    }
    (void)router_.RemoveService(name);
    Log(LogLevel::kInfo, "service {} removed", name);
    return JsonResponse(200, json::object());
  }

  router::Router& router_;
  std::atomic<bool>& shutdown_;
  const std::string instance_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// The socket file as it was bound; a different inode means another process
// owns the path now.
bool SameFile(const std::string& path, const struct stat& bound) {
  struct stat now {};
  return ::stat(path.c_str(), &now) == 0 && now.st_ino == bound.st_ino &&
         now.st_dev == bound.st_dev;
}

}  // namespace

Status RunRouterProcess(const RouterProcessOptions& options) {
  if (options.socket_path.empty()) return Fail("strake router: --socket is required");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  router::RouterOptions ropt;
  ropt.workers = options.workers;
  router::Router router(ropt);
  STRAKE_TRY(router.Start());
  std::atomic<bool> shutdown{false};
  Control control(router, shutdown);
  HttpServerOptions hopt;
  hopt.idle_timeout = std::chrono::hours(24 * 365);  // the control plane's connection stays open
  HttpServer http([&control](const Request& req) { return control.Handle(req); }, hopt);
  STRAKE_TRY(http.ListenUnix(options.socket_path));
  struct stat bound {};
  if (::stat(options.socket_path.c_str(), &bound) != 0) {
    return Failf("stat {}: {}", options.socket_path, std::strerror(errno));
  }
  http.Start();
  Log(LogLevel::kInfo, "strake router: pid {} controlled on {}", ::getpid(), options.socket_path);

  timespec tick{0, 200'000'000};
  std::string why;
  while (why.empty()) {
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      why = sig == SIGINT ? "SIGINT" : "SIGTERM";
    } else if (shutdown) {
      why = "shutdown requested";
    } else if (!SameFile(options.socket_path, bound)) {
      why = "socket file removed or replaced";
    }
  }
  Log(LogLevel::kInfo, "strake router: {}, stopping", why);
  router.Stop();  // listeners close first: the ports are free once the socket is gone
  http.Stop();
  if (SameFile(options.socket_path, bound)) ::unlink(options.socket_path.c_str());
  return Ok();
}

}  // namespace strake::server
