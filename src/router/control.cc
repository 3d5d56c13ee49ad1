#include "router/control.h"

#include <fmt/format.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/log.h"
#include "router/remote.h"
#include "router/wire.h"

namespace strake::router {

namespace {

using nlohmann::json;

constexpr std::string_view kServicesPath = "/v1/services/";

ControlAnswer JsonAnswer(int status, const json& body) {
  return ControlAnswer{status, "application/json", body.dump() + "\n"};
}

ControlAnswer ErrorAnswer(int status, std::string_view reason, const std::string& message) {
  return JsonAnswer(status, json{{"kind", "Status"},
                                 {"status", "Failure"},
                                 {"reason", reason},
                                 {"message", message},
                                 {"code", status}});
}

ControlAnswer NotAllowed(std::string_view method, std::string_view path) {
  return ErrorAnswer(405, "MethodNotAllowed", fmt::format("{} {}", method, path));
}

Result<json> Body(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail("body: expected a JSON object");
  return j;
}

}  // namespace

Control::Control(Router& router, std::atomic<bool>& shutdown)
    : router_(router), shutdown_(shutdown), instance_(RandomSuffix(16)) {}

ControlAnswer Control::Handle(std::string_view method, std::string_view path,
                              std::string_view body) {
  if (path == "/v1/info" && method == "GET") {
    return JsonAnswer(
        200, json{{"protocol", kControlProtocol}, {"instance", instance_}, {"pid", ::getpid()}});
  }
  if (path == "/v1/services") {
    if (method == "GET") return List();
    if (method == "POST") return Add(body);
    return NotAllowed(method, path);
  }
  if (path.substr(0, kServicesPath.size()) == kServicesPath) {
    std::string name(path.substr(kServicesPath.size()));
    if (method == "PUT") return Replace(name, body);
    if (method == "DELETE") return Remove(name);
    return NotAllowed(method, path);
  }
  if (path == "/v1/counters" && method == "GET") {
    return JsonAnswer(200, json{{"services", CountersToJson(router_.Snapshot())}});
  }
  if (path == "/metrics" && method == "GET") {
    return ControlAnswer{200, "text/plain; version=0.0.4", router_.PrometheusText()};
  }
  if (path == "/v1/shutdown" && method == "POST") {
    shutdown_ = true;
    return JsonAnswer(200, json::object());
  }
  return ErrorAnswer(404, "NotFound", fmt::format("{} {}", method, path));
}

ControlAnswer Control::List() {
  std::lock_guard<std::mutex> lock(mu_);
  json services = json::object();
  for (const auto& [name, e] : entries_) {
    services[name] = json{{"host", e.host}, {"port", e.port}, {"table", e.table}};
  }
  return JsonAnswer(200, json{{"services", std::move(services)}});
}

ControlAnswer Control::Add(std::string_view text) {
  auto body = Body(text);
  if (!body) return ErrorAnswer(400, "BadRequest", body.error().message);
  const json& b = *body;
  if (!b.contains("name") || !b["name"].is_string() || !b.contains("host") ||
      !b["host"].is_string() || !b.contains("port") || !b["port"].is_number_unsigned() ||
      b["port"].get<uint64_t>() > 65535 || !b.contains("table")) {
    return ErrorAnswer(400, "BadRequest", "body: expected name, host, port and table");
  }
  auto table = TableFromJson(b["table"]);
  if (!table) return ErrorAnswer(422, "Invalid", table.error().message);
  std::string name = b["name"].get<std::string>();
  std::string host = b["host"].get<std::string>();
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(name)) {
    return ErrorAnswer(409, "AlreadyExists", fmt::format("service {} exists", name));
  }
  auto bound = router_.AddService(name, host, b["port"].get<uint16_t>(), std::move(*table));
  if (!bound) {
    // A port taken (Conflict) or not ours to bind (Forbidden) keeps its
    // code, so the control plane can say which.
    ErrorCode code = bound.error().code;
    if (code == ErrorCode::kConflict) return ErrorAnswer(409, "Conflict", bound.error().message);
    if (code == ErrorCode::kForbidden) return ErrorAnswer(403, "Forbidden", bound.error().message);
    return ErrorAnswer(422, "Invalid", bound.error().message);
  }
  entries_[name] = Entry{host, *bound, b["table"]};
  Log(LogLevel::kInfo, "service {} listening on {}:{}", name, host, *bound);
  return JsonAnswer(201, json{{"port", *bound}});
}

ControlAnswer Control::Replace(const std::string& name, std::string_view text) {
  auto body = Body(text);
  if (!body) return ErrorAnswer(400, "BadRequest", body.error().message);
  if (!body->contains("table")) return ErrorAnswer(400, "BadRequest", "body: expected table");
  auto table = TableFromJson((*body)["table"]);
  if (!table) return ErrorAnswer(422, "Invalid", table.error().message);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return ErrorAnswer(404, "NotFound", fmt::format("service {} not found", name));
  }
  auto st = router_.SetRoutes(name, std::move(*table));
  if (!st) return ErrorAnswer(422, "Invalid", st.error().message);
  it->second.table = (*body)["table"];
  return JsonAnswer(200, json::object());
}

ControlAnswer Control::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!entries_.erase(name)) {
    return ErrorAnswer(404, "NotFound", fmt::format("service {} not found", name));
  }
  (void)router_.RemoveService(name);
  Log(LogLevel::kInfo, "service {} removed", name);
  return JsonAnswer(200, json::object());
}

}  // namespace strake::router
