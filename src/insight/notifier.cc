#include "insight/notifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "base/log.h"
#include "base/strings.h"
#include "insight/kind_key.h"
#include "model/secrets.h"

namespace strake::insight {

namespace {

constexpr size_t kEventsPerPass = 1000;
constexpr int kSendsPerPass = 10;
constexpr int64_t kFirstLookBackMs = 60'000;
constexpr const char* kNotifiedAnnotation = "notified.notifications.argoproj.io";
constexpr int64_t kFirstRetryMs = 1000;
constexpr int64_t kLongestRetryMs = int64_t{5} * 60 * 1000;

// The object as the API shows it: templates and triggers read its
// metadata (uid, resourceVersion), spec and status.
Json ApiShape(const store::Resource& r) {
  Json o = r.object;
  o["metadata"]["uid"] = r.uid;
  o["metadata"]["resourceVersion"] = std::to_string(r.resource_version);
  o["status"] = r.status.is_null() ? Json::object() : r.status;
  return o;
}

// Every key of a Secret with its value.
std::map<std::string, std::string> SecretMap(const Json& secret) {
  std::map<std::string, std::string> out;
  for (const char* field : {"data", "stringData"}) {
    const Json values = secret.value(field, Json::object());
    for (const auto& [k, v] : values.items()) {
      if (auto value = model::SecretValue(secret, k)) out[k] = *value;
    }
  }
  return out;
}

// `text` with each of the Secret's values replaced: an error of a send
// (kept in the record, logged) never carries one.
std::string Masked(std::string text, const std::map<std::string, std::string>& secrets) {
  for (const auto& [k, v] : secrets) {
    if (v.size() < 4) continue;
    for (size_t at = text.find(v); at != std::string::npos; at = text.find(v, at))
      text.replace(at, v.size(), "<redacted>");
  }
  return text;
}

int64_t Backoff(int attempts) {
  int64_t ms = kFirstRetryMs;
  for (int i = 1; i < attempts && ms < kLongestRetryMs; ++i) ms *= 2;
  return std::min(ms, kLongestRetryMs);
}

}  // namespace

std::string Notifier::KeyOf(const store::Key& key) { return KindKey(key); }

std::string Notifier::SubjectKeyOf(const store::Resource& record) {
  const Json subject = record.object.value("spec", Json::object()).value("subject", Json::object());
  return KindKey({subject.value("kind", ""), record.key.ns, subject.value("name", "")});
}

Status Notifier::EnqueueNamespace(const std::string& ns) {
  if (!enqueue_) return Ok();
  for (const auto& kind : SubjectKinds()) {
    STRAKE_TRY_ASSIGN(all, store_.ListHeads(kind, ns));
    for (const auto& o : all) enqueue_(KeyOf(o.key));
  }
  return Ok();
}

bool Notifier::IsSettings(const store::Key& key) {
  return (key.kind == "ConfigMap" &&
          (key.name == kNotificationsConfigMap || key.name == kRolloutsConfigMap)) ||
         (key.kind == "Secret" &&
          (key.name == kNotificationsSecret || key.name == kRolloutsSecret));
}

std::string Notifier::StateName(const std::string& kind, const std::string& name) {
  return ToLower(kind) + "." + name;
}

Result<std::shared_ptr<const Notifier::Settings>> Notifier::SettingsFor(const std::string& kind,
                                                                        const std::string& ns) {
  // Argo Rollouts' own ConfigMap for Rollouts, when there is one.
  std::string cm_name = kNotificationsConfigMap, secret_name = kNotificationsSecret;
  STRAKE_TRY_ASSIGN(cm, store_.Get({"ConfigMap", ns, cm_name}));
  if (kind == "Rollout") {
    STRAKE_TRY_ASSIGN(own, store_.Get({"ConfigMap", ns, kRolloutsConfigMap}));
    if (own) {
      cm = std::move(own);
      cm_name = kRolloutsConfigMap;
      secret_name = kRolloutsSecret;
    }
  }
  if (!cm) return std::shared_ptr<const Settings>();
  STRAKE_TRY_ASSIGN(secret, store_.Get({"Secret", ns, secret_name}));
  const int64_t secret_version = secret ? secret->resource_version : 0;
  const std::string cache_key = ns + "/" + cm_name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Cached& c = cache_[cache_key];
    if (c.cm_version == cm->resource_version && c.secret_version == secret_version)
      return c.settings;
  }
  // Parsed outside the lock; kept only if no newer version was cached
  // meanwhile (a worker that read older objects never replaces newer ones).
  auto s = std::make_shared<Settings>();
  s->version = cm->resource_version;
  if (secret) s->secrets = SecretMap(secret->object);
  auto parsed = ParseNotificationConfig(cm->object.value("data", Json::object()), s->secrets,
                                        fmt::format("configmap {}/{}", ns, cm_name));
  std::shared_ptr<const Settings> out;
  const std::string error = parsed ? "" : Masked(parsed.error().message, s->secrets);
  if (parsed) {
    s->config = std::make_shared<const NotificationConfig>(std::move(*parsed));
    out = std::move(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Cached& c = cache_[cache_key];
  if (c.cm_version > cm->resource_version ||
      (c.cm_version == cm->resource_version && c.secret_version >= secret_version))
    return c.settings;
  if (!error.empty()) Log(LogLevel::kWarn, "notifications: {}", error);
  c = Cached{cm->resource_version, secret_version, out};
  return out;
}

Result<int64_t> Notifier::Write(const store::Key& key, const Subject& subject,
                                const NotifyState& state, int64_t version,
                                const std::string& reason, const std::string& message) {
  Json status = NotifyStateToJson(state);
  status["subjectUid"] = subject.uid;
  if (version == 0) {
    store::Resource r;
    r.key = key;
    r.owner = subject.uid;
    r.object = {{"apiVersion", "strake.dev/v1"},
                {"kind", kNotificationStateKind},
                {"metadata", {{"name", key.name}, {"namespace", key.ns}}},
                {"spec", {{"subject", {{"kind", subject.kind}, {"name", subject.name}}}}}};
    r.status = std::move(status);
    STRAKE_TRY_ASSIGN(made, store_.Create(std::move(r), reason, message));
    return made.resource_version;
  }
  STRAKE_TRY_ASSIGN(done, store_.UpdateStatus(key, status, version, reason, message));
  return done.resource_version;
}

Result<std::optional<int64_t>> Notifier::SendDue(const store::Key& key, const Subject& subject,
                                                 const Settings& settings, NotifyState& state,
                                                 int64_t& version) {
  std::optional<int64_t> next;
  std::set<std::string> failing;  // services that failed in this pass: not asked again
  int sent_in_pass = 0;
  for (size_t i = 0; i < state.outbox.size();) {
    Delivery& d = state.outbox[i];
    const int64_t now = UnixMillis(clock_.Now());
    if (d.next_attempt_ms > now || failing.contains(d.to.service) ||
        sent_in_pass >= kSendsPerPass) {
      // One pass sends a few: a receiver that hangs holds one worker for
      // one timeout, not for a whole outbox.
      next = std::min(next.value_or(std::max(d.next_attempt_ms, now + 1)),
                      std::max(d.next_attempt_ms, now + 1));
      ++i;
      continue;
    }
    ++sent_in_pass;
    const std::string what =
        fmt::format("{} to {}:{} (delivery {})", d.trigger, d.to.service, d.to.recipient, d.id);
    auto service = settings.config->services.find(d.to.service);
    Status sent = service == settings.config->services.end()
                      ? Failf(ErrorCode::kInvalid, "no service {}", Quote(d.to.service))
                      : sender_->Send(service->second, d);
    if (sent) {
      state.outbox.erase(state.outbox.begin() + static_cast<std::ptrdiff_t>(i));
      STRAKE_TRY_ASSIGN(v, Write(key, subject, state, version, "Sent", what));
      version = v;
      continue;
    }
    failing.insert(d.to.service);
    d.attempts++;
    d.last_error = Masked(sent.error().message, settings.secrets);
    if (d.attempts >= kMaxAttempts || sent.error().code == ErrorCode::kInvalid) {
      const std::string why =
          fmt::format("{}: dropped after {} attempts: {}", what, d.attempts, d.last_error);
      Log(LogLevel::kWarn, "notifications: {}/{}: {}", key.ns, subject.name, why);
      state.outbox.erase(state.outbox.begin() + static_cast<std::ptrdiff_t>(i));
      STRAKE_TRY_ASSIGN(v, Write(key, subject, state, version, "Dropped", why));
      version = v;
      continue;
    }
    d.next_attempt_ms = now + Backoff(d.attempts);
    next = std::min(next.value_or(d.next_attempt_ms), d.next_attempt_ms);
    STRAKE_TRY_ASSIGN(v, Write(key, subject, state, version, "SendFailed",
                               fmt::format("{}: attempt {}: {}", what, d.attempts, d.last_error)));
    version = v;
    ++i;
  }
  return next;
}

Result<controller::ReconcileResult> Notifier::Gone(const store::Key& key,
                                                   const store::Resource& stored,
                                                   const Settings* settings) {
  // What was decided before the object went is still sent; then its record goes.
  NotifyState state = NotifyStateFromJson(stored.status);
  const Json subject_spec = stored.object.value("spec", Json::object()).value("subject", Json());
  const Subject subject{
      subject_spec.value("kind", ""), SubjectVariable(subject_spec.value("kind", "")),
      stored.status.value("subjectUid", ""), Json::object(), subject_spec.value("name", "")};
  int64_t version = stored.resource_version;
  controller::ReconcileResult out;
  if (settings && !state.outbox.empty()) {
    STRAKE_TRY_ASSIGN(next, SendDue(key, subject, *settings, state, version));
    if (next) {
      out.requeue_after =
          std::chrono::milliseconds(std::max<int64_t>(*next - UnixMillis(clock_.Now()), 10));
      return out;
    }
  }
  if (!state.outbox.empty()) {
    std::vector<std::string> lost;
    for (const auto& d : state.outbox) lost.push_back(d.id);
    STRAKE_TRY_ASSIGN(v, Write(key, subject, NotifyState{}, version, "Dropped",
                               fmt::format("{} of a deleted object with no settings left: {}",
                                           lost.size(), Join(lost, ", "))));
    (void)v;
  }
  STRAKE_TRY(store_.Delete(key));
  return out;
}

Result<controller::ReconcileResult> Notifier::Reconcile(const std::string& key) {
  STRAKE_TRY_ASSIGN(k, ParseKindKey(key, "notifications"));
  if (IsSettings(k)) {
    STRAKE_TRY(EnqueueNamespace(k.ns));
    return controller::ReconcileResult{};
  }
  const std::string var = SubjectVariable(k.kind);
  if (var.empty()) return controller::ReconcileResult{};
  const store::Key state_key{kNotificationStateKind, k.ns, StateName(k.kind, k.name)};
  STRAKE_TRY_ASSIGN(settings, SettingsFor(k.kind, k.ns));
  STRAKE_TRY_ASSIGN(subject, store_.Get(k));
  STRAKE_TRY_ASSIGN(stored, store_.Get(state_key));
  if (stored && (!subject || stored->status.value("subjectUid", "") != subject->uid))
    return Gone(state_key, *stored, settings.get());
  if (!settings || !subject) return controller::ReconcileResult{};
  const Subject subj{k.kind, var, subject->uid, ApiShape(*subject), k.name};
  // Argo CD's wait for a refreshed status after an operation ends (the
  // status write that refreshes it wakes this again).
  if (k.kind == "Application" && !AppStatusRefreshed(subj.object))
    return controller::ReconcileResult{std::chrono::milliseconds(1000)};
  if (!stored && Destinations(*settings->config, subj.object).empty())
    return controller::ReconcileResult{};
  NotifyState prior;
  int64_t version = 0;
  if (stored) {
    version = stored->resource_version;
    prior = NotifyStateFromJson(stored->status);
  } else {
    STRAKE_TRY_ASSIGN(first, FirstState(k, subj.object, settings->version));
    prior = std::move(first);
  }
  STRAKE_TRY_ASSIGN(changes,
                    store_.ChangesSince(prior.revision, kEventsPerPass, {k.kind, k.ns, k.name}));
  std::vector<SubjectEvent> events;
  for (const auto& c : changes) events.push_back({c.revision, c.reason, c.message, c.time_ms});
  const int64_t now_ms = UnixMillis(clock_.Now());
  Decision d = Decide(*settings->config, settings->secrets, subj, prior, events, now_ms / 1000);
  std::string problems;
  for (const auto& p : d.problems) problems += "; " + Masked(p, settings->secrets);
  if (!problems.empty())
    Log(LogLevel::kWarn, "notifications: {} {}/{}: {}", k.kind, k.ns, k.name, problems.substr(2));
  // Every pass that read events records how far it read (with what it
  // decided), so no event is read, or sent, twice.
  if (d.changed || !events.empty() || !problems.empty()) {
    const size_t added =
        d.state.outbox.size() - std::min(d.state.outbox.size(), prior.outbox.size());
    STRAKE_TRY_ASSIGN(
        v, Write(state_key, subj, d.state, version, problems.empty() ? "Notified" : "NotifyFailed",
                 fmt::format("{} notification(s) to send{}", added, problems)));
    version = v;
  }
  controller::ReconcileResult out;
  STRAKE_TRY_ASSIGN(next, SendDue(state_key, subj, *settings, d.state, version));
  if (next) out.requeue_after = std::chrono::milliseconds(std::max<int64_t>(*next - now_ms, 1));
  // More events than one pass reads: the next pass at once.
  if (changes.size() == kEventsPerPass) out.requeue_after = std::chrono::milliseconds(1);
  return out;
}

Result<NotifyState> Notifier::FirstState(const store::Key& k, const Json& object,
                                         int64_t settings_version) {
  // The keys Argo CD kept on the object (a server moving from Argo CD to
  // strake sends nothing it sent already).
  NotifyState s;
  const Json meta = object.value("metadata", Json::object());
  const Json annotations = meta.value("annotations", Json::object());
  const Json notified = Json::parse(annotations.value(kNotifiedAnnotation, "{}"), nullptr, false);
  if (notified.is_object()) {
    for (const auto& [key, at] : notified.items())
      if (at.is_number_integer()) s.notified[key] = at.get<int64_t>();
  }
  // Events are read from the object's making (its last ADDED: not a
  // former object's of the same name), after the settings were written,
  // and from the last minute only: what happened before the object was
  // subscribed is its history, not news.
  s.revision = settings_version;
  const int64_t recent = UnixMillis(clock_.Now()) - kFirstLookBackMs;
  for (int64_t from = s.revision;;) {
    STRAKE_TRY_ASSIGN(changes, store_.ChangesSince(from, kEventsPerPass, {k.kind, k.ns, k.name}));
    for (const auto& c : changes) {
      if (c.time_ms < recent) {
        s.revision = c.revision;
      } else if (c.type == "ADDED") {
        s.revision = c.revision - 1;
      }
    }
    if (changes.size() < kEventsPerPass) break;
    from = changes.back().revision;
  }
  return s;
}

}  // namespace strake::insight
