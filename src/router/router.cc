#include "router/router.h"

#include <unistd.h>

#include <algorithm>

#include "base/net.h"
#include "router/service.h"
#include "router/worker.h"

namespace strake::router {

Router::Router(RouterOptions options) : options_(options) {}

Router::~Router() { Stop(); }

Status Router::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Ok();
  WorkerShared shared{options_, connections_, next_worker_, workers_};
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    auto w = std::make_unique<Worker>(shared);
    if (auto st = w->Init(); !st) {
      workers_.clear();
      return st;
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->Start();
  started_ = true;
  return Ok();
}

void Router::Stop() {
  // Workers read workers_ (to hand connections over) until they are joined:
  // the vector changes only after every thread has ended.
  std::vector<Worker*> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : workers_) running.push_back(w.get());
  }
  for (Worker* w : running) w->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  workers_.clear();
  started_ = false;
  for (auto& svc : services_) {
    std::lock_guard<std::mutex> accept_lock(svc->accept_mu);
    if (svc->listen_fd >= 0) ::close(svc->listen_fd);
    svc->listen_fd = -1;
  }
}

Result<uint16_t> Router::AddService(const std::string& service, const std::string& host,
                                    uint16_t port, RouteTable table) {
  STRAKE_TRY(
      table.Validate().map_error([&](const Error& e) { return e.Wrap("service " + service); }));
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return Fail("router is not started");
  for (const auto& s : services_) {
    if (s->name == service && s->listen_fd >= 0) return Failf("service {} exists", service);
  }
  auto listener = ListenTcp(host, port);
  if (!listener) return tl::unexpected(listener.error().Wrap("service " + service));
  auto svc = std::make_unique<Service>();
  svc->name = service;
  svc->host = host;
  svc->port = listener->port;
  svc->index = services_.size();
  svc->listen_fd = listener->fd.release();
  svc->installed = svc->Install(std::move(table));
  svc->generation.store(1);
  for (auto& w : workers_) w->Listen(*svc);
  uint16_t bound = svc->port;
  services_.push_back(std::move(svc));
  return bound;
}

Status Router::SetRoutes(const std::string& service, RouteTable table) {
  STRAKE_TRY(
      table.Validate().map_error([&](const Error& e) { return e.Wrap("service " + service); }));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& svc : services_) {
    if (svc->name != service || svc->listen_fd < 0) continue;
    std::lock_guard<std::mutex> svc_lock(svc->mu);
    svc->installed = svc->Install(std::move(table));
    svc->generation.fetch_add(1, std::memory_order_release);
    return Ok();
  }
  return Failf("service {} not found", service);
}

Status Router::RemoveService(const std::string& service) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& svc : services_) {
    if (svc->name != service || svc->listen_fd < 0) continue;
    for (auto& w : workers_) w->Unlisten(*svc);
    std::lock_guard<std::mutex> accept_lock(svc->accept_mu);
    ::close(svc->listen_fd);
    svc->listen_fd = -1;
    return Ok();
  }
  return Failf("service {} not found", service);
}

std::vector<ServiceCounters> Router::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ServiceCounters> out;
  for (const auto& svc : services_) {
    if (svc->listen_fd < 0) continue;  // removed: its series end with it
    ServiceCounters sc;
    sc.service = svc->name;
    sc.port = svc->port;
    sc.no_backend = svc->no_backend.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> svc_lock(svc->mu);
    for (const auto& [revision, stats] : svc->stats) sc.revisions.push_back(stats->Load());
    out.push_back(std::move(sc));
  }
  return out;
}

std::map<std::string, Listening> Router::Services() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Listening> out;
  for (const auto& svc : services_) {
    if (svc->listen_fd >= 0) out[svc->name] = Listening{svc->host, svc->port};
  }
  return out;
}

std::string RouterControl::PrometheusText() const { return router::PrometheusText(Snapshot()); }

}  // namespace strake::router
