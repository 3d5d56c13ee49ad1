#include "rollout/service.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"
#include "model/rollouts.h"
#include "rollout/workload_ref.h"

namespace strake::rollout {

namespace {

constexpr uint32_t kFirstOwn = 0x7F010001;  // 127.1.0.1
constexpr uint32_t kLastOwn = 0x7FFFFFFE;   // 127.255.255.254

std::string AddressText(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// The Service that has one of `ports` at `address`, or "".
std::string Holder(const std::string& address, const std::vector<int>& ports,
                   const std::vector<AddressInUse>& others) {
  for (const auto& o : others) {
    if (o.address != address) continue;
    for (int p : ports) {
      if (std::find(o.ports.begin(), o.ports.end(), p) != o.ports.end()) return o.service;
    }
  }
  return "";
}

bool Names(const model::RolloutSpec& spec, const std::string& service) {
  if (spec.canary)
    return spec.canary->stable_service == service || spec.canary->canary_service == service;
  if (spec.blue_green) {
    return spec.blue_green->active_service == service ||
           spec.blue_green->preview_service == service;
  }
  return false;
}

Json ConditionJson(const ServiceCondition& c) {
  return Json::array({{{"type", "Ready"},
                       {"status", c.ready ? "True" : "False"},
                       {"reason", c.reason},
                       {"message", c.message}}});
}

}  // namespace

Result<std::string> AllocateClusterIp(const std::string& requested, const std::string& current,
                                      const std::vector<int>& ports,
                                      const std::vector<AddressInUse>& others) {
  if (!requested.empty()) {
    std::string holder = Holder(requested, ports, others);
    if (!holder.empty()) {
      return Failf(ErrorCode::kConflict,
                   "spec.clusterIP {}: a port of this Service is service {}'s there; choose "
                   "another address of 127.0.0.0/8 or leave clusterIP out",
                   requested, holder);
    }
    return requested;
  }
  if (!current.empty() && Holder(current, ports, others).empty()) return current;
  if (Holder("127.0.0.1", ports, others).empty()) return std::string("127.0.0.1");
  for (uint32_t a = kFirstOwn; a <= kLastOwn; ++a) {
    uint32_t last = a & 0xFF;
    if (last == 0 || last == 0xFF) continue;
    std::string text = AddressText(a);
    if (Holder(text, ports, others).empty()) return text;
  }
  return Failf(ErrorCode::kUnavailable, "no loopback address is left for this Service's ports");
}

std::string ServingProblem(const Error& error, const std::string& address, int port) {
  if (error.Is(ErrorCode::kConflict)) {
    return fmt::format(
        "port {} on {} is taken by another process: stop it, or give the Service another "
        "port or address (spec.clusterIP, any of 127.0.0.0/8)",
        port, address);
  }
  if (error.Is(ErrorCode::kForbidden)) {
    return fmt::format(
        "port {} on {} is below 1024 and this server may not bind it: give the strake binary "
        "the capability (sudo setcap cap_net_bind_service=+ep \"$(command -v strake)\"), or "
        "lower the first unprivileged port (sudo sysctl net.ipv4.ip_unprivileged_port_start={}), "
        "or use a port of 1024 or above",
        port, address, port);
  }
  return fmt::format("cannot listen on {}:{}: {}", address, port, error.message);
}

bool Selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    auto it = labels.find(kv.first);
    return it != labels.end() && it->second == kv.second;
  });
}

std::string SelectorText(const std::map<std::string, std::string>& selector) {
  std::string out;
  for (const auto& [k, v] : selector) out += fmt::format("{}{}={}", out.empty() ? "" : ",", k, v);
  return out;
}

ServiceCondition JudgeService(const model::Service& service, const ServiceFacts& f) {
  const ServiceServing& s = f.serving;
  int port = service.ports.empty() ? 0 : service.ports.front().port;
  if (!f.address_error.empty()) return {false, "AddressConflict", f.address_error};
  if (!s.listening && s.error) {
    const char* reason = s.error->Is(ErrorCode::kConflict)    ? "PortTaken"
                         : s.error->Is(ErrorCode::kForbidden) ? "PortPrivileged"
                                                              : "ListenFailed";
    return {false, reason, ServingProblem(*s.error, f.address, port)};
  }
  if (f.workloads.empty()) {
    std::string why = service.selector.empty()
                          ? "it has no selector and no Rollout names it"
                          : fmt::format("its selector {} matches no Rollout or Deployment",
                                        SelectorText(service.selector));
    if (!s.listening) return {false, "Pending", why + "; waiting for its listener"};
    return {false, "SelectsNothing",
            fmt::format("{}: requests to {}:{} are answered 503", why, f.address, port)};
  }
  if (!s.listening || !s.backed || s.claim == 0 || s.address != f.address) {
    return {false, "Pending", fmt::format("waiting for {} to route it", Join(f.workloads, ", "))};
  }
  if (s.ready_endpoints == 0) {
    return {false, "NoReadyReplica",
            fmt::format("no ready replica of {}: requests to {}:{} are answered 503",
                        Join(f.workloads, ", "), f.address, port)};
  }
  return {true, "Serving",
          fmt::format("{}:{} to {} ready replica{} of {}", f.address, port, s.ready_endpoints,
                      s.ready_endpoints == 1 ? "" : "s", Join(f.workloads, ", "))};
}

ServiceReconciler::ServiceReconciler(store::Store& store, TrafficRouter& router)
    : store_(store), router_(router) {}

Result<std::vector<std::string>> ServiceReconciler::Workloads(const std::string& ns,
                                                              const model::Service& service) {
  std::vector<std::string> out;
  // A template's Service, made and routed by its Experiment.
  if (auto e = service.meta.labels.find("strake.dev/experiment"); e != service.meta.labels.end())
    out.push_back("experiment " + e->second);
  STRAKE_TRY_ASSIGN(rollouts, store_.List("Rollout", ns));
  for (auto& r : rollouts) {
    if (!ResolveWorkloadRef(store_, r)) continue;  // says why in its own status
    auto spec = model::DecodeRolloutSpec(r.object.value("spec", Json::object()));
    if (!spec) continue;
    bool selects = !service.selector.empty() && Selects(service.selector, spec->pod.labels);
    if (Names(*spec, service.meta.name) || selects) out.push_back("rollout " + r.key.name);
  }
  STRAKE_TRY_ASSIGN(deployments, store_.List("Deployment", ns));
  for (const auto& d : deployments) {
    auto dep = model::DecodeDeployment(d.object);
    if (!dep || service.selector.empty() || !Selects(service.selector, dep->pod.labels)) continue;
    out.push_back("deployment " + d.key.name);
  }
  return out;
}

Result<std::vector<AddressInUse>> ServiceReconciler::OthersInUse(const store::Key& self) {
  std::vector<AddressInUse> out;
  STRAKE_TRY_ASSIGN(all, store_.List("Service", ""));
  for (const auto& s : all) {
    if (s.key.ns == self.ns && s.key.name == self.name) continue;
    std::string address = s.status.is_object() ? s.status.value("clusterIP", "") : "";
    if (address.empty()) continue;
    AddressInUse u{s.key.ns + "/" + s.key.name, address, {}};
    const Json spec = s.object.value("spec", Json::object());
    for (const auto& p : spec.value("ports", Json::array())) {
      if (p.is_object() && p.contains("port") && p["port"].is_number_integer())
        u.ports.push_back(p["port"].get<int>());
    }
    out.push_back(std::move(u));
  }
  return out;
}

Result<controller::ReconcileResult> ServiceReconciler::Write(const store::Resource& svc,
                                                             const Json& next,
                                                             const ServiceCondition& cond) {
  controller::ReconcileResult r;
  // Not serving: look again (a port freed, a replica ready, a bind to retry).
  if (!cond.ready) r.requeue_after = std::chrono::seconds(2);
  if (next == svc.status) return r;
  const Json before = svc.status.is_object() ? svc.status : Json::object();
  bool moved = before.value("clusterIP", "") != next.value("clusterIP", "");
  bool changed = before.value("conditions", Json::array()) != next["conditions"];
  std::string reason = changed ? cond.reason : "ClusterIPAllocated";
  std::string message =
      changed ? cond.message : fmt::format("address {}", next.value("clusterIP", ""));
  if (moved && changed) message += fmt::format(" (address {})", next.value("clusterIP", "(none)"));
  auto w = store_.UpdateStatus(svc.key, next, svc.resource_version, reason, message);
  if (!w && w.error().Is(ErrorCode::kConflict)) {
    return controller::ReconcileResult{std::chrono::milliseconds(1)};
  }
  if (!w) return tl::unexpected(w.error());
  return r;
}

Result<controller::ReconcileResult> ServiceReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get(store::Key{"Service", ns, name}));
  if (!got) return controller::ReconcileResult{};  // deleted: the API stopped its routing
  const store::Resource& svc = *got;
  Json next = svc.status.is_object() ? svc.status : Json::object();
  auto decoded = model::DecodeService(svc.object);
  if (!decoded) {
    ServiceCondition bad{false, "InvalidSpec", decoded.error().message};
    next["conditions"] = ConditionJson(bad);
    return Write(svc, next, bad);
  }
  std::vector<int> ports;
  for (const auto& p : decoded->ports) ports.push_back(p.port);
  STRAKE_TRY_ASSIGN(others, OthersInUse(svc.key));
  auto address = AllocateClusterIp(decoded->cluster_ip, next.value("clusterIP", ""), ports, others);
  ServiceFacts facts;
  // Read before the workloads: a workload that routes the Service after
  // this point makes ServeUnbacked below a no-op.
  facts.serving = router_.Serving(ns, name);
  STRAKE_TRY_ASSIGN(workloads, Workloads(ns, *decoded));
  facts.workloads = std::move(workloads);
  if (!address) {
    facts.address_error = address.error().message;
    next.erase("clusterIP");
    if (facts.serving.listening) router_.RemoveService(ns, name);
  } else {
    facts.address = *address;
    next["clusterIP"] = *address;
    if (facts.workloads.empty()) {
      ServiceTraffic t;
      t.ns = ns;
      t.service = *decoded;
      t.address = *address;
      std::string why = decoded->selector.empty()
                            ? "it has no selector"
                            : fmt::format("its selector {} matches no Rollout or Deployment",
                                          SelectorText(decoded->selector));
      (void)router_.ServeUnbacked(t, why, facts.serving.claim);  // a failure shows in Serving()
      facts.serving = router_.Serving(ns, name);
    }
  }
  ServiceCondition cond = JudgeService(*decoded, facts);
  next["conditions"] = ConditionJson(cond);
  return Write(svc, next, cond);
}

}  // namespace strake::rollout
