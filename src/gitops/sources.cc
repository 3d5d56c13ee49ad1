#include "gitops/sources.h"

#include "base/log.h"
#include "base/net.h"
#include "model/decode.h"

namespace strake::gitops {

namespace {

int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

}  // namespace

Sources::Sources(std::string mirror_root, store::Store& store, const Clock& clock,
                 EgressPolicy egress)
    : root_(std::move(mirror_root)), store_(store), clock_(clock), egress_(std::move(egress)) {}

Sources::Entry& Sources::EntryOf(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& e = entries_[url];
  if (!e) e = std::make_unique<Entry>();
  return *e;
}

std::optional<store::Resource> Sources::RepositoryOf(const std::string& url,
                                                     const std::string& ns) {
  auto repos = store_.List("Repository", ns);
  if (!repos) return std::nullopt;
  for (auto& r : *repos) {
    if (r.object.value("spec", model::Json::object()).value("url", "") == url) return r;
  }
  return std::nullopt;
}

GitCredentials Sources::CredentialsIn(const std::string& ns, const std::string& url) {
  if (ns.empty()) return {};
  auto repo = RepositoryOf(url, ns);
  if (!repo) return {};
  auto spec = model::DecodeObject(repo->object, "repository " + repo->key.name);
  if (!spec) return {};
  return CredentialsOf(*repo, std::get<model::Repository>(spec->value));
}

GitCredentials Sources::CredentialsFor(const std::string& url) {
  auto repo = RepositoryOf(url);
  if (!repo) return {};
  auto spec = model::DecodeObject(repo->object, "repository " + repo->key.name);
  if (!spec) return {};
  return CredentialsOf(*repo, std::get<model::Repository>(spec->value));
}

GitCredentials Sources::CredentialsOf(const store::Resource& repo, const model::Repository& spec) {
  GitCredentials c;
  if (spec.spec.secret_ref.empty()) return c;
  auto secret = store_.Get({"Secret", repo.key.ns, spec.spec.secret_ref});
  if (!secret || !*secret) return c;
  auto s = model::DecodeObject((*secret)->object, "secret");
  if (!s) return c;
  const auto& data = std::get<model::ConfigMap>(s->value).data.data;
  auto get = [&](const char* k) {
    auto it = data.find(k);
    return it == data.end() ? std::string() : it->second;
  };
  c.username = get("username");
  c.password = get("password");
  c.ssh_private_key = get("sshPrivateKey");
  return c;
}

SourceState Sources::SnapshotLocked(const Entry& e) {
  SourceState s;
  s.mirror = e.ok ? e.mirror.get() : nullptr;
  s.error = e.error;
  s.fetched_ms = e.fetched_ms;
  s.generation = e.generation;
  return s;
}

SourceState Sources::Snapshot(Entry& e) {
  std::lock_guard<std::mutex> lock(e.mu);
  return SnapshotLocked(e);
}

SourceState Sources::Get(const std::string& url, bool force) {
  Entry& e = EntryOf(url);
  auto due = [&] {
    std::lock_guard<std::mutex> lock(e.mu);
    return e.attempted_ms == 0 || NowMs(clock_) - e.attempted_ms >= e.interval_ms.load();
  };
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    first = !e.ok;
  }
  // Until one fetch has succeeded there is nothing to show: wait for it.
  if (!force && !first && !due()) return Snapshot(e);
  std::unique_lock<std::mutex> fetching(e.fetch_mu, std::defer_lock);
  if (force || first) {
    fetching.lock();
  } else if (!fetching.try_lock()) {
    return Snapshot(e);  // someone is fetching it right now
  }
  if (!force && !due()) return Snapshot(e);  // fetched while this thread waited
  int64_t now = NowMs(clock_);
  {
    std::lock_guard<std::mutex> lock(e.mu);
    e.attempted_ms = now;
  }
  GitCredentials creds;
  int64_t interval = kDefaultRefresh.count();
  if (auto repo = RepositoryOf(url)) {
    auto decoded = model::DecodeObject(repo->object, "repository");
    if (decoded) {
      const auto& spec = std::get<model::Repository>(decoded->value);
      interval = spec.spec.poll_interval.count();
      creds = CredentialsOf(*repo, spec);
    }
  }
  e.interval_ms = interval;
  std::string error;
  if (!e.mirror) {
    auto m = Mirror::Open(root_, url, egress_);
    if (!m) {
      error = m.error().message;
    } else {
      e.mirror = std::move(*m);
    }
  }
  if (e.mirror) {
    auto st = e.mirror->Fetch(creds, std::chrono::minutes(2));
    if (!st) error = st.error().message;
  }
  std::lock_guard<std::mutex> lock(e.mu);
  if (!error.empty()) {
    e.error = error;
    Log(LogLevel::kWarn, "git: {}", error);
    // A mirror filled by an earlier run of strake is still good content.
    if (!e.ok && e.mirror && e.mirror->Resolve("HEAD")) e.ok = true;
    return SnapshotLocked(e);
  }
  e.error.clear();
  e.ok = true;
  e.fetched_ms = now;
  auto branches = e.mirror->Branches();
  if (branches && *branches != e.branches) {
    SourceChange change;
    change.everything = e.branches.empty();
    for (const auto& [name, sha] : *branches) {
      auto old = e.branches.find(name);
      if (old == e.branches.end()) {
        change.everything = true;  // a new branch
        continue;
      }
      if (old->second == sha) continue;
      auto paths = e.mirror->ChangedPaths(old->second, sha);
      if (!paths || !*paths) {
        change.everything = true;
        continue;
      }
      change.paths.insert(change.paths.end(), (*paths)->begin(), (*paths)->end());
    }
    e.last_change = std::move(change);
    e.branches = std::move(*branches);
    ++e.generation;
  }
  {
    std::lock_guard<std::mutex> rl(e.resolved_mu);
    e.resolved.clear();
    ++e.fetches;
  }
  return SnapshotLocked(e);
}

SourceChange Sources::LastChange(const std::string& url) {
  Entry& e = EntryOf(url);
  std::lock_guard<std::mutex> lock(e.mu);
  return e.last_change;
}

Millis Sources::Interval(const std::string& url) { return Millis(EntryOf(url).interval_ms.load()); }

Result<std::string> Sources::Resolve(const std::string& url, const std::string& revision) {
  Entry& e = EntryOf(url);
  uint64_t fetches = 0;
  {
    std::lock_guard<std::mutex> rl(e.resolved_mu);
    auto it = e.resolved.find(revision);
    if (it != e.resolved.end()) return it->second;
    fetches = e.fetches;
  }
  if (!e.mirror) return Failf("{} has not been fetched", RedactUrl(url));
  STRAKE_TRY_ASSIGN(sha, e.mirror->Resolve(revision));
  std::lock_guard<std::mutex> rl(e.resolved_mu);
  // Not cached if a fetch landed meanwhile: the answer may be older than it.
  if (e.fetches == fetches) e.resolved[revision] = sha;
  return sha;
}

}  // namespace strake::gitops
