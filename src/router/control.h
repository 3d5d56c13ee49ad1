// router::Control: the control protocol of a `strake router` process over
// its Router, what router/remote.h's RemoteRouter speaks. Small JSON over
// HTTP/1.1; the process (app/router_process.h) serves it on a Unix socket:
//
//   GET    /v1/info            {protocol, instance, pid}
//   GET    /v1/services        {services: {NAME: {host, port, table}}}
//   POST   /v1/services        {name, host, port, table} -> {port}; 409 AlreadyExists if
//                               it exists, 409 Conflict if the address is taken, 403
//                               Forbidden if the port is privileged
//   PUT    /v1/services/NAME   {table}: swapped in atomically; 404 if unknown
//   DELETE /v1/services/NAME
//   GET    /v1/counters        {services: [per-revision counters]}
//   GET    /metrics            Prometheus text
//   POST   /v1/shutdown        sets the flag the process watches
//
// Errors are Kubernetes Status objects ({kind: Status, reason, message,
// code}), as the API's. Mutations are serialised, so a service's stored
// table always matches the one installed. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "router/router.h"

namespace strake::router {

struct ControlAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class Control {
 public:
  // `router` and `shutdown` outlive this.
  Control(Router& router, std::atomic<bool>& shutdown);

  ControlAnswer Handle(std::string_view method, std::string_view path, std::string_view body);

 private:
  // What this process serves; Control is the router's only writer, so this
  // is also what the router has.
  struct Entry {
    std::string host;
    uint16_t port = 0;  // as bound
    nlohmann::json table;
  };

  ControlAnswer List();
  ControlAnswer Add(std::string_view body);
  ControlAnswer Replace(const std::string& name, std::string_view body);
  ControlAnswer Remove(const std::string& name);

  Router& router_;
  std::atomic<bool>& shutdown_;
  const std::string instance_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace strake::router
