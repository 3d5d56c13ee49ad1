#include "insight/notify.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "base/clock.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/label_selector.h"

namespace strake::insight {

namespace {

using rollout::Value;

// base64url (no padding) of sha1(text): Argo's condition hash.
std::string ConditionHash(const std::string& text) {
  const std::string hex = Sha1Hex(text);
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  std::string b64 = Base64Encode(raw);
  for (char& c : b64) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return b64;
}

// Go's fmt %v of a value: how Argo turns an oncePer result into a key.
std::string GoPrint(const Value& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const auto& e : v) parts.push_back(GoPrint(e));
    return "[" + Join(parts, " ") + "]";
  }
  if (v.is_object()) {
    std::vector<std::string> parts;
    for (const auto& [k, e] : v.items()) parts.push_back(k + ":" + GoPrint(e));
    return "map[" + Join(parts, " ") + "]";
  }
  return v.dump();
}

// RFC 3339 with milliseconds: "2026-12-07T10:00:00.123Z".
std::string TimeWithMillis(int64_t ms) {
  std::string t = FormatRfc3339(FromUnixMillis(ms - ms % 1000));
  if (!t.empty() && t.back() == 'Z') t.pop_back();
  return fmt::format("{}.{:03d}Z", t, ms % 1000);
}

void AddUnique(std::vector<Destination>& list, Destination d) {
  if (std::find(list.begin(), list.end(), d) == list.end()) list.push_back(std::move(d));
}

const std::vector<std::string>& DefaultTriggers(const NotificationConfig& cfg,
                                                const std::string& service) {
  auto it = cfg.default_triggers_by_service.find(service);
  return it != cfg.default_triggers_by_service.end() ? it->second : cfg.default_triggers;
}

// notifications.argoproj.io/subscribe.<trigger>.<service>: "r1;r2".
void FromAnnotation(const NotificationConfig& cfg, const std::string& key, const std::string& value,
                    std::map<std::string, std::vector<Destination>>& out) {
  // As notifications-engine: the first part is the trigger, the second
  // the service (more parts are ignored); one part is a service.
  const std::vector<std::string> parts = Split(key.substr(strlen(kSubscribePrefix)), '.');
  if (parts.empty()) return;
  const std::string trigger = parts.size() >= 2 ? parts[0] : "";
  const std::string service = parts.size() >= 2 ? parts[1] : parts[0];
  std::vector<std::string> recipients;
  for (const auto& r : Split(value, ';')) {
    std::string t(Trim(r));
    if (!t.empty()) recipients.push_back(t);
  }
  if (Trim(value).empty()) recipients.emplace_back();
  const std::vector<std::string> triggers =
      trigger.empty() ? DefaultTriggers(cfg, service) : std::vector<std::string>{trigger};
  for (const auto& t : triggers)
    for (const auto& r : recipients) AddUnique(out[t], {service, r});
}

// The condition's key, Argo's StateItemKey.
std::string StateKey(const std::string& once, const std::string& trigger, size_t i,
                     const std::string& when, const Destination& d) {
  return fmt::format("{}{}:[{}].{}:{}:{}", once.empty() ? "" : once + ":", trigger, i,
                     ConditionHash(when), d.service, d.recipient);
}

// Applies the templates `send` names, in order, onto one notification.
Result<Json> Render(const NotificationConfig& cfg, const std::vector<std::string>& send,
                    const Json& vars, const Destination& to) {
  Json n = Json::object();
  auto apply = [&](const std::optional<model::GoTemplate>& t, Json& into,
                   const char* field) -> Status {
    if (!t) return Ok();
    STRAKE_TRY_ASSIGN(text, t->Execute(vars));
    if (!text.empty()) into[field] = text;
    return Ok();
  };
  for (const auto& name : send) {
    auto it = cfg.templates.find(name);
    if (it == cfg.templates.end()) return Failf("no template {}", Quote(name));
    const NotificationTemplate& t = it->second;
    STRAKE_TRY(apply(t.message, n, "message"));
    STRAKE_TRY(apply(t.email_subject, n["email"], "subject"));
    STRAKE_TRY(apply(t.email_body, n["email"], "body"));
    STRAKE_TRY(apply(t.slack_attachments, n["slack"], "attachments"));
    STRAKE_TRY(apply(t.slack_blocks, n["slack"], "blocks"));
    if (!t.slack_username.empty()) n["slack"]["username"] = t.slack_username;
    if (!t.slack_icon.empty()) n["slack"]["icon"] = t.slack_icon;
    STRAKE_TRY(apply(t.mattermost_attachments, n["mattermost"], "attachments"));
    auto hook = t.webhook.find(to.service);
    if (hook != t.webhook.end()) {
      Json& w = n["webhook"];
      w["method"] = hook->second.method;
      w["body"] = "";  // a webhook template's body, even empty, is the body
      STRAKE_TRY(apply(hook->second.path, w, "path"));
      STRAKE_TRY(apply(hook->second.body, w, "body"));
    }
  }
  for (const char* block : {"email", "slack", "mattermost"})
    if (n.contains(block) && n[block].is_null()) n.erase(block);
  return n;
}

class Decider {
 public:
  Decider(const NotificationConfig& cfg, const std::map<std::string, std::string>& secrets,
          const Subject& subject, NotifyState state, int64_t now_s)
      : cfg_(cfg), subject_(subject), now_s_(now_s) {
    out_.state = std::move(state);
    for (const auto& d : out_.state.outbox) outbox_bytes_ += d.notification.dump().size();
    expr_vars_[subject.var] = Value(subject.object);
    Json context = Json::object();
    for (const auto& [k, v] : cfg.context) context[k] = v;
    expr_vars_["context"] = Value(context);
    // Triggers see the Secret's values as Argo's do (nothing they give is kept).
    Json secret_values = Json::object();
    for (const auto& [k, v] : secrets) secret_values[k] = v;
    expr_vars_["secrets"] = Value(secret_values);
  }

  Decision Run(const std::vector<SubjectEvent>& events) {
    const auto destinations = Destinations(cfg_, subject_.object);
    for (const auto& [trigger, dests] : destinations) {
      auto t = cfg_.triggers.find(trigger);
      if (t == cfg_.triggers.end()) {
        Problem(fmt::format("trigger {} is not defined", Quote(trigger)));
        continue;
      }
      for (size_t i = 0; i < t->second.size(); ++i)
        if (!t->second[i].when_text.empty()) OnState(trigger, i, t->second[i], dests);
    }
    // Events in the order they happened, each to the triggers of its reason.
    for (const auto& e : events) {
      if (e.revision <= out_.state.revision) continue;
      const std::string trigger = TriggerOfReason(e.reason);
      auto dests = destinations.find(trigger);
      auto t = cfg_.triggers.find(trigger);
      if (dests == destinations.end() || t == cfg_.triggers.end()) continue;
      for (size_t i = 0; i < t->second.size(); ++i)
        if (t->second[i].when_text.empty()) OnEvent(trigger, i, t->second[i], dests->second, e);
    }
    for (const auto& e : events) out_.state.revision = std::max(out_.state.revision, e.revision);
    Trim();
    return std::move(out_);
  }

 private:
  void OnState(const std::string& trigger, size_t i, const TriggerCondition& c,
               const std::vector<Destination>& dests) {
    auto when = c.when->Eval(expr_vars_);
    const bool triggered = when && when->is_boolean() && when->get<bool>();
    for (const auto& d : dests) {
      if (!triggered) {
        // Re-armed: the next true sends again (a oncePer key stays).
        // (With oncePer, the key of a oncePer that failed to evaluate.)
        Forget(StateKey("", trigger, i, c.when_text, d));
        continue;
      }
      const std::string key = StateKey(OncePer(c), trigger, i, c.when_text, d);
      if (out_.state.notified.count(key) != 0) continue;
      const std::string version =
          subject_.object["metadata"].value("resourceVersion", Json("")).dump();
      Add(trigger, c, d, key, Sha256Hex(fmt::format("{}\n{}\n{}", subject_.uid, key, version)));
    }
  }

  void OnEvent(const std::string& trigger, size_t i, const TriggerCondition& c,
               const std::vector<Destination>& dests, const SubjectEvent& e) {
    const std::string once = OncePer(c);
    for (const auto& d : dests) {
      const std::string key = StateKey(once, trigger, i, "", d);
      // Without oncePer, the revision read (written with the outbox) is
      // what keeps an event from being sent twice.
      if (!once.empty() && out_.state.notified.count(key) != 0) continue;
      const std::string id =
          Sha256Hex(fmt::format("{}\n{}\n{}", subject_.uid, key, once.empty() ? e.revision : 0));
      Add(trigger, c, d, once.empty() ? "" : key, id, &e);
    }
  }

  std::string OncePer(const TriggerCondition& c) {
    if (!c.once_per) return "";
    auto v = c.once_per->Eval(expr_vars_);
    return v ? GoPrint(*v) : "";
  }

  void Add(const std::string& trigger, const TriggerCondition& c, const Destination& d,
           const std::string& key, const std::string& id, const SubjectEvent* event = nullptr) {
    if (out_.state.outbox.size() >= kMaxOutbox) {
      Problem(fmt::format("{} to {}:{} dropped: {} notifications wait to be sent already", trigger,
                          d.service, d.recipient, kMaxOutbox));
      return;
    }
    // No `.secrets`: a rendered notification is stored until it is sent
    // (settings that use it are refused; services take `$key`).
    Json vars = {
        {subject_.var, subject_.object}, {"serviceType", d.service}, {"recipient", d.recipient}};
    Json context = Json::object();
    for (const auto& [k, v] : cfg_.context) context[k] = v;
    context["notificationType"] = d.service;
    vars["context"] = std::move(context);
    if (event) {
      vars["event"] = {{"reason", event->reason},
                       {"message", event->message},
                       {"revision", event->revision},
                       {"time", TimeWithMillis(event->time_ms)}};
    }
    auto rendered = Render(cfg_, c.send, vars, d);
    if (!rendered) {
      Problem(fmt::format("{} to {}:{}: {}", trigger, d.service, d.recipient,
                          rendered.error().message));
      return;
    }
    const size_t size = rendered->dump().size();
    if (size > kMaxNotificationBytes || outbox_bytes_ + size > kMaxOutboxBytes) {
      Problem(
          fmt::format("{} to {}:{} dropped: {} bytes rendered ({} waiting to be sent; at most "
                      "{} a notification, {} all told)",
                      trigger, d.service, d.recipient, size, outbox_bytes_, kMaxNotificationBytes,
                      kMaxOutboxBytes));
      return;
    }
    outbox_bytes_ += size;
    if (!key.empty()) out_.state.notified[key] = now_s_;
    Delivery del;
    del.id = id.substr(0, 32);
    del.trigger = trigger;
    del.to = d;
    del.notification = std::move(*rendered);
    out_.state.outbox.push_back(std::move(del));
    out_.changed = true;
  }

  void Forget(const std::string& key) {
    if (out_.state.notified.erase(key) != 0) out_.changed = true;
  }

  // At most kMaxNotifiedKeys, the oldest dropped first.
  void Trim() {
    auto& n = out_.state.notified;
    while (n.size() > kMaxNotifiedKeys) {
      auto oldest = std::min_element(
          n.begin(), n.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      n.erase(oldest);
      out_.changed = true;
    }
  }

  void Problem(std::string what) {
    if (std::find(out_.problems.begin(), out_.problems.end(), what) == out_.problems.end())
      out_.problems.push_back(std::move(what));
  }

  const NotificationConfig& cfg_;
  const Subject& subject_;
  const int64_t now_s_;
  std::map<std::string, Value> expr_vars_;
  Decision out_;
  size_t outbox_bytes_ = 0;
};

}  // namespace

namespace {

// Each notifying kind and the variable its objects are seen as.
const std::map<std::string, std::string>& SubjectVariables() {
  static const std::map<std::string, std::string> kVars = {
      {"Application", "app"},     {"Rollout", "rollout"},         {"Stage", "stage"},
      {"Promotion", "promotion"}, {"PipelineRun", "pipelineRun"}, {"Freight", "freight"}};
  return kVars;
}

}  // namespace

std::string SubjectVariable(const std::string& kind) {
  auto it = SubjectVariables().find(kind);
  return it == SubjectVariables().end() ? "" : it->second;
}

const std::vector<std::string>& SubjectKinds() {
  static const std::vector<std::string> kKinds = [] {
    std::vector<std::string> out;
    for (const auto& [kind, var] : SubjectVariables()) out.push_back(kind);
    return out;
  }();
  return kKinds;
}

bool AppStatusRefreshed(const Json& app) {
  const Json status = app.value("status", Json());
  if (!status.is_object()) return false;
  const Json op = status.value("operationState", Json());
  if (!op.is_object()) return true;
  const std::string phase = op.value("phase", "");
  if (phase != "Succeeded" && phase != "Failed" && phase != "Error") return true;
  auto time_of = [](const Json& j, const char* key) {
    auto t = ParseRfc3339(j.value(key, ""));
    return t ? UnixMillis(*t) : int64_t{0};
  };
  const int64_t finished = time_of(op, "finishedAt");
  return finished <= time_of(status, "reconciledAt") || finished <= time_of(status, "observedAt");
}

std::string TriggerOfReason(const std::string& reason) {
  std::string out = "on";
  for (size_t i = 0; i < reason.size(); ++i) {
    const char c = reason[i];
    if (std::isupper(static_cast<unsigned char>(c)) != 0) {
      out += '-';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      if (i == 0) out += '-';
      out += c;
    }
  }
  return out;
}

std::map<std::string, std::vector<Destination>> Destinations(const NotificationConfig& cfg,
                                                             const Json& object) {
  std::map<std::string, std::vector<Destination>> out;
  const Json meta = object.value("metadata", Json::object());
  const auto labels = model::StringMap(meta.value("labels", Json::object()));
  for (const auto& s : cfg.subscriptions) {
    if (!s.selector.empty() && !model::LabelSelectorMatches(s.selector, labels)) continue;
    for (const auto& [service, recipient] : s.recipients) {
      const std::vector<std::string>& triggers =
          s.triggers.empty() ? DefaultTriggers(cfg, service) : s.triggers;
      for (const auto& t : triggers) AddUnique(out[t], {service, recipient});
    }
  }
  for (const auto& [key, value] : model::StringMap(meta.value("annotations", Json::object()))) {
    if (key.starts_with(kSubscribePrefix)) FromAnnotation(cfg, key, value, out);
  }
  return out;
}

Json NotifyStateToJson(const NotifyState& s) {
  Json outbox = Json::array();
  for (const auto& d : s.outbox) {
    Json j = {{"id", d.id},
              {"trigger", d.trigger},
              {"service", d.to.service},
              {"recipient", d.to.recipient},
              {"notification", d.notification},
              {"attempts", d.attempts}};
    if (d.next_attempt_ms != 0) j["nextAttemptMs"] = d.next_attempt_ms;
    if (!d.last_error.empty()) j["lastError"] = d.last_error;
    outbox.push_back(std::move(j));
  }
  Json notified = Json::object();
  for (const auto& [k, v] : s.notified) notified[k] = v;
  return {
      {"notified", std::move(notified)}, {"revision", s.revision}, {"outbox", std::move(outbox)}};
}

NotifyState NotifyStateFromJson(const Json& j) {
  NotifyState s;
  if (!j.is_object()) return s;
  const Json notified = j.value("notified", Json::object());
  for (const auto& [k, v] : notified.items())
    if (v.is_number_integer()) s.notified[k] = v.get<int64_t>();
  s.revision = j.value("revision", int64_t{0});
  for (const auto& d : j.value("outbox", Json::array())) {
    if (!d.is_object()) continue;
    Delivery del;
    del.id = d.value("id", "");
    del.trigger = d.value("trigger", "");
    del.to = {d.value("service", ""), d.value("recipient", "")};
    del.notification = d.value("notification", Json::object());
    del.attempts = d.value("attempts", 0);
    del.next_attempt_ms = d.value("nextAttemptMs", int64_t{0});
    del.last_error = d.value("lastError", "");
    s.outbox.push_back(std::move(del));
  }
  return s;
}

Decision Decide(const NotificationConfig& cfg, const std::map<std::string, std::string>& secrets,
                const Subject& subject, const NotifyState& prior,
                const std::vector<SubjectEvent>& events, int64_t now_s) {
  return Decider(cfg, secrets, subject, prior, now_s).Run(events);
}

}  // namespace strake::insight
