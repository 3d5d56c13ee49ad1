#include "targets/local.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"

namespace strake::targets {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kKeepSamples = std::chrono::minutes(15);

runtime::ProbeSpec MapProbe(const model::Probe& p) {
  runtime::ProbeSpec out;
  switch (p.kind) {
    case model::Probe::Kind::kHttpGet:
      out.kind = runtime::ProbeSpec::Kind::kHttpGet;
      break;
    case model::Probe::Kind::kTcpSocket:
      out.kind = runtime::ProbeSpec::Kind::kTcpSocket;
      break;
    case model::Probe::Kind::kExec:
      out.kind = runtime::ProbeSpec::Kind::kExec;
      break;
  }
  out.path = p.path;
  out.headers = p.http_headers;
  out.command = p.command;
  out.initial_delay_seconds = p.initial_delay_seconds;
  out.period_seconds = p.period_seconds;
  out.timeout_seconds = p.timeout_seconds;
  out.success_threshold = p.success_threshold;
  out.failure_threshold = p.failure_threshold;
  return out;
}

router::StringMatch::Kind MapKind(model::StringMatchSpec::Kind k) {
  switch (k) {
    case model::StringMatchSpec::Kind::kExact:
      return router::StringMatch::Kind::kExact;
    case model::StringMatchSpec::Kind::kPrefix:
      return router::StringMatch::Kind::kPrefix;
    case model::StringMatchSpec::Kind::kRegex:
      return router::StringMatch::Kind::kRegex;
  }
  return router::StringMatch::Kind::kExact;
}

Result<router::StringMatch> MapMatch(const model::StringMatchSpec& m) {
  return router::StringMatch::Make(MapKind(m.kind), m.value);
}

// An image in a layout or archive on this machine (images/archive.h), not
// a registry's: read again rather than kept by digest.
bool IsOnDisk(const std::string& image) {
  return StartsWith(image, "oci:") || StartsWith(image, "oci-archive:") ||
         StartsWith(image, "docker-archive:");
}

std::string ServiceName(const std::string& ns, const std::string& service) {
  return ns + "/" + service;
}

}  // namespace

LocalTarget::LocalTarget(runtime::Supervisor& supervisor, router::RouterControl& router,
                         std::string work_dir)
    : supervisor_(supervisor), router_(router), work_dir_(std::move(work_dir)) {
  for (const auto& [name, at] : router_.Services()) {
    Entry e;
    e.at = at;
    e.listening = true;
    e.backed = true;  // its table is unknown until its next SetTraffic
    services_[name] = e;
    unclaimed_.insert(name);
  }
  sampler_ = std::thread([this] { SampleLoop(); });
  supervisor_.SetDrain([this](uint16_t port) { AwaitUnrouted(port); });
}

LocalTarget::~LocalTarget() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  routes_cv_.notify_all();
  supervisor_.SetDrain(nullptr);  // returns once no replica waits here
  sampler_.join();
}

void LocalTarget::AwaitUnrouted(uint16_t port) {
  // Long enough for the owner of any table to look again after the
  // replica's change (the controllers are woken by it), short enough that
  // a replica nobody routes away from still stops.
  constexpr std::chrono::seconds kMaxDrainWait{10};
  std::unique_lock<std::mutex> lock(mu_);
  const bool drained = routes_cv_.wait_for(lock, kMaxDrainWait, [&] {
    return stopping_ || std::none_of(services_.begin(), services_.end(),
                                     [&](const auto& s) { return s.second.ports.count(port); });
  });
  if (!drained) {
    Log(LogLevel::kWarn, "router: port {} is still routed after {} s; its replica stops anyway",
        port, kMaxDrainWait.count());
  }
}

std::string LocalTarget::GroupKey(const std::string& ns, const std::string& workload,
                                  const std::string& hash) {
  return ns + "/" + workload + "/" + hash;
}

void LocalTarget::UseImages(ContainerImages* images, std::function<void(const std::string&)> wake,
                            std::string pins) {
  std::lock_guard<std::mutex> lock(images_mu_);
  images_ = images;
  wake_ = std::move(wake);
  if (pins.empty() || pins == pins_path_) return;
  pins_path_ = std::move(pins);
  kept_pins_.clear();
  auto text = ReadFile(pins_path_, 16 << 20);
  if (!text) return;  // none kept yet
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    Log(LogLevel::kWarn, "{}: not a JSON object; revisions' image pins start afresh", pins_path_);
    return;
  }
  for (const auto& [key, ref] : j.items()) {
    if (ref.is_string()) kept_pins_[key] = ref.get<std::string>();
  }
}

// Called with images_mu_ held.
void LocalTarget::SavePins() {
  if (pins_path_.empty()) return;
  auto saved = WriteFileAtomic(pins_path_, nlohmann::json(kept_pins_).dump(1));
  if (!saved) Log(LogLevel::kWarn, "image pins: {}", saved.error().message);
}

std::set<std::string> LocalTarget::PinnedRoots() {
  std::lock_guard<std::mutex> lock(images_mu_);
  std::set<std::string> out;
  for (const auto& [key, image] : pinned_) out.insert(image.root);
  return out;
}

Status LocalTarget::ScaleRevision(const rollout::RevisionSpec& spec) {
  if (spec.pod.containers.empty())
    return Failf("{}: the pod template has no container", spec.workload);
  const std::string key = GroupKey(spec.ns, spec.workload, spec.hash);
  STRAKE_TRY_ASSIGN(tmpl, Template(spec, key));
  if (!tmpl) return Ok();  // its image is on its way: Observe says so
  runtime::GroupSpec g;
  g.key = key;
  g.replicas = spec.replicas;
  g.tmpl = std::move(*tmpl);
  return supervisor_.Apply(g);
}

Result<std::optional<runtime::ReplicaTemplate>> LocalTarget::Template(
    const rollout::RevisionSpec& spec, const std::string& key) {
  const model::Container& c = spec.pod.containers.front();
  runtime::ReplicaTemplate t;
  for (const auto& [k, v] : spec.env) t.env.push_back(fmt::format("{}={}", k, v));
  t.env.push_back("STRAKE_REVISION=" + spec.hash);
  if (c.readiness) t.readiness = MapProbe(*c.readiness);
  if (c.liveness) t.liveness = MapProbe(*c.liveness);
  t.ready_when_listening = !c.ports.empty();
  t.grace_seconds = spec.pod.termination_grace_period_seconds;
  t.limits = c.resources;
  {
    std::lock_guard<std::mutex> lock(images_mu_);
    if (images_ && !images_->OnHost(c.image)) return InImage(spec, key, std::move(t));
  }
  if (c.command.empty()) {
    return Failf(
        "{}: container {}: image {} runs with this machine's programs (strake serve "
        "--no-sandbox or --run-on-host), so it needs its command "
        "(spec.template.spec.containers[0].command)",
        spec.workload, c.name, c.image.empty() ? "(none)" : Quote(c.image));
  }
  t.argv = c.command;
  t.argv.insert(t.argv.end(), c.args.begin(), c.args.end());
  t.env.insert(t.env.begin(), {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + work_dir_});
  t.cwd = c.working_dir.empty() ? work_dir_ : c.working_dir;
  return std::optional<runtime::ReplicaTemplate>(std::move(t));
}

// Called with images_mu_ held.
Result<std::optional<runtime::ReplicaTemplate>> LocalTarget::InImage(
    const rollout::RevisionSpec& spec, const std::string& key, runtime::ReplicaTemplate t) {
  const model::Container& c = spec.pod.containers.front();
  auto pinned = pinned_.find(key);
  if (pinned == pinned_.end()) {
    const bool running = !supervisor_.Replicas(key).empty();  // adopted after a restart
    if (spec.replicas == 0) {
      // Nothing to run, nothing to pull: what runs (adopted) stops.
      waiting_.erase(key);
      if (running) supervisor_.Remove(key);
      return std::optional<runtime::ReplicaTemplate>();
    }
    // One wake per revision and pull, however often its owner looks meanwhile.
    std::function<void()> wake;
    if (woken_.insert(key).second) {
      wake = [this, key] {
        std::function<void(const std::string&)> fn;
        {
          std::lock_guard<std::mutex> lock(images_mu_);
          woken_.erase(key);
          fn = wake_;
        }
        if (fn) fn(key);
      };
    }
    // Pinned before a restart: those bytes, by digest, whatever the tag says now.
    auto kept = kept_pins_.find(key);
    auto got = kept != kept_pins_.end()
                   ? images_->Get(kept->second, "IfNotPresent", running, spec.pull_secrets, wake)
                   : images_->Get(c.image, c.image_pull_policy, running, spec.pull_secrets, wake);
    if (!got || *got) woken_.erase(key);  // no pull runs: no wake comes
    if (!got) {
      waiting_[key] = fmt::format("ErrImagePull: {}: {}", c.image, got.error().message);
      return std::optional<runtime::ReplicaTemplate>();
    }
    if (!*got) {
      waiting_[key] = fmt::format("ContainerCreating: pulling image {}", c.image);
      return std::optional<runtime::ReplicaTemplate>();
    }
    waiting_.erase(key);
    pinned = pinned_.emplace(key, std::move(**got)).first;
    // A registry's image, kept by digest (one on disk is read again).
    const RunnableImage& img = pinned->second;
    if (kept == kept_pins_.end() && !img.name.empty() && !img.digest.empty() &&
        !IsOnDisk(c.image)) {
      kept_pins_[key] = img.name + "@" + img.digest;
      SavePins();
    }
  }
  auto run = ContainerFor(pinned->second, c.command, c.args, t.env, c.working_dir);
  if (!run) {
    return Failf("{}: container {}: image {}: {}", spec.workload, c.name, c.image,
                 run.error().message);
  }
  t.argv = std::move(run->argv);
  t.env = std::move(run->env);
  t.cwd = run->spec.cwd;
  t.container = std::move(run->spec);
  return std::optional<runtime::ReplicaTemplate>(std::move(t));
}

std::map<std::string, std::string> LocalTarget::RevisionGroups(const std::string& ns,
                                                               const std::string& workload) const {
  std::map<std::string, std::string> out;
  std::string prefix = GroupKey(ns, workload, "");
  for (const auto& key : supervisor_.Groups()) {
    if (StartsWith(key, prefix)) out[key.substr(prefix.size())] = key;
  }
  return out;
}

void LocalTarget::Prune(const std::string& ns, const std::string& workload,
                        const std::set<std::string>& keep) {
  for (const auto& [hash, key] : RevisionGroups(ns, workload)) {
    if (!keep.count(hash)) supervisor_.Remove(key);
  }
  std::lock_guard<std::mutex> lock(images_mu_);
  const std::string prefix = GroupKey(ns, workload, "");
  std::erase_if(pinned_, [&](const auto& e) {
    return StartsWith(e.first, prefix) && !keep.count(e.first.substr(prefix.size()));
  });
  std::erase_if(waiting_, [&](const auto& e) {
    return StartsWith(e.first, prefix) && !keep.count(e.first.substr(prefix.size()));
  });
  const size_t before = kept_pins_.size();
  std::erase_if(kept_pins_, [&](const auto& e) {
    return StartsWith(e.first, prefix) && !keep.count(e.first.substr(prefix.size()));
  });
  if (kept_pins_.size() != before) SavePins();
}

std::map<std::string, rollout::RevisionObservation> LocalTarget::Observe(
    const std::string& ns, const std::string& workload) {
  std::map<std::string, rollout::RevisionObservation> out;
  for (const auto& [hash, key] : RevisionGroups(ns, workload)) {
    rollout::RevisionObservation o;
    auto now = std::chrono::steady_clock::now();
    for (const auto& r : supervisor_.Replicas(key)) {
      o.replicas++;
      o.ready += r.ready;
      if (r.ready) {
        o.ready_for.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - r.ready_since));
      }
      if (!r.ready && !r.message.empty() && o.problem.empty()) {
        o.problem = fmt::format("replica {}: {}", r.index, r.message);
      }
    }
    out[hash] = o;
  }
  // Revisions whose replicas wait for their image (or its pull failed).
  std::lock_guard<std::mutex> lock(images_mu_);
  const std::string prefix = GroupKey(ns, workload, "");
  for (auto it = waiting_.lower_bound(prefix);
       it != waiting_.end() && StartsWith(it->first, prefix); ++it) {
    auto& o = out[it->first.substr(prefix.size())];
    if (o.problem.empty()) o.problem = it->second;
  }
  return out;
}

std::vector<rollout::ReplicaLog> LocalTarget::Logs(const std::string& ns,
                                                   const std::string& workload,
                                                   const std::string& hash) const {
  std::vector<rollout::ReplicaLog> out;
  for (const auto& [h, key] : RevisionGroups(ns, workload)) {
    if (!hash.empty() && h != hash) continue;
    for (const auto& r : supervisor_.Replicas(key)) {
      auto text = ReadFile(r.log_path, size_t{4} << 20);
      if (text) out.push_back({r.log_path, std::move(*text)});
    }
  }
  return out;
}

std::vector<rollout::ReplicaProcess> LocalTarget::Replicas(const std::string& ns) const {
  std::vector<rollout::ReplicaProcess> out;
  for (const auto& key : supervisor_.Groups()) {
    auto parts = Split(key, '/');  // GroupKey: ns/workload/hash
    if (parts.size() != 3 || (!ns.empty() && parts[0] != ns)) continue;
    for (const auto& r : supervisor_.Replicas(key)) {
      out.push_back({parts[0], parts[1], parts[2], r.index, r.pid, r.port, r.ready, r.restarts,
                     r.state, r.message});
    }
  }
  return out;
}

Status LocalTarget::SetTraffic(const rollout::ServiceTraffic& t) {
  if (t.service.ports.empty()) return Failf("service {}: no port", t.service.meta.name);
  router::RouteTable table;
  auto ready_ports = [&](const std::string& hash, const std::string& workload) {
    std::vector<uint16_t> ports;
    for (const auto& r : supervisor_.Replicas(GroupKey(t.ns, workload, hash))) {
      if (r.ready && r.port) ports.push_back(r.port);
    }
    return ports;
  };
  int stable_weight = 100 - t.canary_weight;
  for (const auto& e : t.extra) stable_weight -= e.weight;
  table.backends.push_back({t.stable_hash, static_cast<uint32_t>(std::max(0, stable_weight)),
                            ready_ports(t.stable_hash, t.workload)});
  if (!t.canary_hash.empty()) {
    table.backends.push_back({t.canary_hash, static_cast<uint32_t>(t.canary_weight),
                              ready_ports(t.canary_hash, t.workload)});
    for (const auto& hr : t.header_routes) {
      router::HeaderRoute route;
      route.name = hr.name;
      route.backend = 1;
      for (const auto& m : hr.match) {
        auto sm = MapMatch(m.value);
        if (!sm) return Failf("setHeaderRoute {}: {}", hr.name, sm.error().message);
        route.headers.emplace_back(m.header_name, *sm);
      }
      table.header_routes.push_back(std::move(route));
    }
    for (const auto& mr : t.mirror_routes) {
      router::MirrorRoute route;
      route.name = mr.name;
      route.backend = 1;
      route.percentage = static_cast<uint32_t>(mr.percentage);
      if (mr.method) {
        auto sm = MapMatch(*mr.method);
        if (!sm) return Failf("setMirrorRoute {}: {}", mr.name, sm.error().message);
        route.method = *sm;
      }
      if (mr.path) {
        auto sm = MapMatch(*mr.path);
        if (!sm) return Failf("setMirrorRoute {}: {}", mr.name, sm.error().message);
        route.path = *sm;
      }
      for (const auto& h : mr.headers) {
        auto sm = MapMatch(h.value);
        if (!sm) return Failf("setMirrorRoute {}: {}", mr.name, sm.error().message);
        route.headers.emplace_back(h.header_name, *sm);
      }
      table.mirror_routes.push_back(std::move(route));
    }
  }
  // After the canary: header and mirror routes name it as backend 1.
  for (const auto& e : t.extra) {
    table.backends.push_back(
        {e.hash, static_cast<uint32_t>(e.weight), ready_ports(e.hash, e.workload)});
  }
  std::string name = ServiceName(t.ns, t.service.meta.name);
  uint16_t port = static_cast<uint16_t>(t.service.ports.front().port);
  std::lock_guard<std::mutex> lock(mu_);
  unclaimed_.erase(name);
  Entry& e = services_[name];
  e.claim++;
  e.ready_endpoints = 0;
  for (const auto& b : table.backends) e.ready_endpoints += static_cast<int>(b.ports.size());
  return Install(name, t.address.empty() ? "127.0.0.1" : t.address, port, std::move(table), true);
}

Status LocalTarget::ServeUnbacked(const rollout::ServiceTraffic& t, const std::string& why,
                                  uint64_t claim) {
  if (t.service.ports.empty()) return Failf("service {}: no port", t.service.meta.name);
  std::string name = ServiceName(t.ns, t.service.meta.name);
  uint16_t port = static_cast<uint16_t>(t.service.ports.front().port);
  router::RouteTable table;
  table.unavailable = why;
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = services_[name];
  if (e.claim != claim) return Ok();  // a workload took it meanwhile
  unclaimed_.erase(name);
  e.ready_endpoints = 0;
  return Install(name, t.address.empty() ? "127.0.0.1" : t.address, port, std::move(table), false);
}

Status LocalTarget::Install(const std::string& name, const std::string& host, uint16_t port,
                            router::RouteTable table, bool backed) {
  Entry& e = services_[name];
  e.backed = backed;
  std::set<uint16_t> ports;
  for (const auto& b : table.backends) ports.insert(b.ports.begin(), b.ports.end());
  router::Listening want{host, port};
  if (e.listening && e.at == want) {
    STRAKE_TRY(router_.SetRoutes(name, std::move(table)));
    Routed(e, std::move(ports));
    return Ok();
  }
  if (e.listening) {  // the Service's address or port changed
    (void)router_.RemoveService(name);
    e.listening = false;
    Routed(e, {});
  }
  e.at = want;
  auto bound = router_.AddService(name, host, port, std::move(table));
  if (!bound) {
    e.error = bound.error();
    return tl::unexpected(bound.error());
  }
  e.listening = true;
  e.error.reset();
  Routed(e, std::move(ports));
  return Ok();
}

// Called with mu_ held.
void LocalTarget::Routed(Entry& e, std::set<uint16_t> ports) {
  const bool fewer = !std::includes(ports.begin(), ports.end(), e.ports.begin(), e.ports.end());
  e.ports = std::move(ports);
  if (fewer) routes_cv_.notify_all();
}

rollout::ServiceServing LocalTarget::Serving(const std::string& ns, const std::string& service) {
  std::lock_guard<std::mutex> lock(mu_);
  rollout::ServiceServing out;
  auto it = services_.find(ServiceName(ns, service));
  if (it == services_.end()) return out;
  const Entry& e = it->second;
  out.listening = e.listening;
  out.address = e.at.host;
  out.port = e.at.port;
  out.backed = e.backed;
  out.ready_endpoints = e.ready_endpoints;
  out.error = e.error;
  out.claim = e.claim;
  return out;
}

void LocalTarget::RemoveService(const std::string& ns, const std::string& service) {
  std::string name = ServiceName(ns, service);
  std::lock_guard<std::mutex> lock(mu_);
  unclaimed_.erase(name);
  auto it = services_.find(name);
  if (it == services_.end()) return;
  if (it->second.listening) (void)router_.RemoveService(name);
  services_.erase(it);
  routes_cv_.notify_all();
}

void LocalTarget::CollectOrphans() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& name : unclaimed_) {
    Log(LogLevel::kInfo, "router: service {} is no longer declared; removing it", name);
    services_.erase(name);
    (void)router_.RemoveService(name);
  }
  unclaimed_.clear();
  routes_cv_.notify_all();
}

void LocalTarget::SampleLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto snap = router_.Snapshot();
    auto now = SteadyClock::now();
    lock.lock();
    if (first_sample_ == SteadyClock::time_point{}) first_sample_ = now;
    for (const auto& s : snap) {
      for (const auto& r : s.revisions) {
        auto& q = samples_[s.service + "|" + r.revision];
        q.push_back({now, r});
        while (!q.empty() && now - q.front().at > kKeepSamples) q.pop_front();
      }
    }
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

namespace {

// The window between two readings of a revision's counters.
rollout::RevisionWindow Between(const router::RevisionCounters& from,
                                const router::RevisionCounters& to, double seconds) {
  rollout::RevisionWindow w;
  for (double b : router::kLatencyBuckets) w.bucket_bounds.push_back(b);
  w.bucket_bounds.push_back(std::numeric_limits<double>::infinity());
  w.buckets.assign(w.bucket_bounds.size(), 0);
  w.seconds = seconds;
  if (to.requests < from.requests) return w;  // the router restarted between them
  w.requests = to.requests - from.requests;
  w.errors = to.by_class[5] - from.by_class[5];
  for (size_t i = 0; i < w.buckets.size() && i < to.buckets.size(); ++i)
    w.buckets[i] = to.buckets[i] - from.buckets[i];
  return w;
}

}  // namespace

Result<rollout::RevisionWindow> LocalTarget::Window(const std::string& ns,
                                                    const std::string& service,
                                                    const std::string& revision,
                                                    std::chrono::milliseconds window) {
  std::string name = ServiceName(ns, service);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!services_.count(name)) return Failf("service {} is not routed by strake", Quote(service));
  }
  std::optional<router::RevisionCounters> current;
  for (const auto& s : router_.Snapshot()) {
    if (s.service != name) continue;
    for (const auto& r : s.revisions) {
      if (r.revision == revision) current = r;
    }
  }
  if (!current) {
    // No request has reached the revision yet.
    return Between({}, {}, static_cast<double>(window.count()) / 1000.0);
  }
  auto now = SteadyClock::now();
  router::RevisionCounters base;  // zero: counted from the revision's first request
  double span = static_cast<double>(window.count()) / 1000.0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = samples_.find(name + "|" + revision);
    if (it != samples_.end()) {
      const Sample* pick = nullptr;
      for (const auto& s : it->second) {
        if (now - s.at >= window) pick = &s;  // the newest sample at least `window` old
      }
      if (pick) {
        base = pick->counters;
        span = std::chrono::duration<double>(now - pick->at).count();
      } else if (!it->second.empty()) {
        const Sample& oldest = it->second.front();
        span = std::chrono::duration<double>(now - oldest.at).count();
        // Counters that were there at the first sample may hold requests
        // from long before (the router outlived a restart): count from the
        // sample. A revision that appeared later is counted from zero.
        if (oldest.at <= first_sample_) base = oldest.counters;
      }
    }
  }
  return Between(base, *current, span);
}

Result<std::vector<rollout::RevisionWindow>> LocalTarget::Series(
    const std::string& ns, const std::string& service, const std::string& revision,
    std::chrono::milliseconds ago, std::chrono::milliseconds span, std::chrono::milliseconds step) {
  if (step.count() <= 0 || span.count() <= 0 || ago.count() < 0)
    return Failf("a series needs a positive span and step");
  auto steps = static_cast<size_t>((span.count() + step.count() - 1) / step.count());
  if (steps > 100'000) return Failf("a series of {} steps is too long (100,000 at most)", steps);
  std::string name = ServiceName(ns, service);
  router::RevisionCounters current;
  current.revision = revision;
  for (const auto& s : router_.Snapshot()) {
    if (s.service != name) continue;
    for (const auto& r : s.revisions)
      if (r.revision == revision) current = r;
  }
  auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (!services_.count(name)) return Failf("service {} is not routed by strake", Quote(service));
  static const std::deque<Sample> kNone;
  auto it = samples_.find(name + "|" + revision);
  const std::deque<Sample>& q = it == samples_.end() ? kNone : it->second;
  // The counters at time t: the newest sample at or before it. Before the
  // first sample: what that sample held if the revision was there when
  // sampling began (nothing before it is known), else zero (it appeared
  // later: nothing had reached it).
  auto at = [&](SteadyClock::time_point t) -> router::RevisionCounters {
    if (t >= now) return current;
    if (q.empty() || t < q.front().at) {
      if (!q.empty() && q.front().at <= first_sample_) return q.front().counters;
      return q.empty() ? current : router::RevisionCounters{};
    }
    auto after = std::upper_bound(
        q.begin(), q.end(), t, [](SteadyClock::time_point v, const Sample& s) { return v < s.at; });
    return std::prev(after)->counters;
  };
  std::vector<rollout::RevisionWindow> out;
  out.reserve(steps);
  auto from = now - ago - span;
  double seconds = std::chrono::duration<double>(step).count();
  for (size_t k = 0; k < steps; ++k) {
    auto t0 = from + step * static_cast<int64_t>(k);
    out.push_back(Between(at(t0), at(t0 + step), seconds));
  }
  return out;
}

}  // namespace strake::targets
