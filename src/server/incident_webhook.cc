#include "server/incident_webhook.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/clock.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/incidents.h"
#include "model/kinds.h"
#include "server/api.h"

namespace strake::server {

namespace {

using Json = model::Json;

std::string Str(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

Json Obj(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : Json::object();
}

// An RFC 3339 time, or `fallback`.
int64_t TimeOr(const std::string& text, int64_t fallback) {
  auto t = ParseRfc3339(text);
  return t ? UnixMillis(*t) : fallback;
}

// "source-id" as a DNS label (lowercase letters, digits and '-', at most
// 63): an id that does not fit is named by its hash.
std::string NameOf(const std::string& source, const std::string& id) {
  std::string label;
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    label += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  while (!label.empty() && label.back() == '-') label.pop_back();
  while (!label.empty() && label.front() == '-') label.erase(0, 1);
  std::string name = source + "-" + label;
  if (label.empty() || name.size() > 63) name = source + "-" + Sha256Hex(id).substr(0, 20);
  return name;
}

// The cause named in `fields` (labels, details), each else the query's.
void CauseFrom(const Json& fields, IncidentSignal& s) {
  if (auto v = Str(fields, "environment"); !v.empty()) s.environment = v;
  if (auto v = Str(fields, "deployment"); !v.empty()) s.deployment = v;
  if (auto v = Str(fields, "commit"); !v.empty()) s.commit = ToLower(v);
}

// At most an Incident's 1024 bytes, cut between UTF-8 characters.
std::string Title(std::string t) {
  constexpr size_t kMax = 1024;
  if (t.size() <= kMax) return t;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;
  t.resize(cut);
  return t;
}

Result<IncidentSignals> PagerDuty(const Json& event, int64_t now_ms) {
  IncidentSignals out;
  const std::string type = Str(event, "event_type");
  const Json data = Obj(event, "data");
  if (type != "incident.triggered" && type != "incident.reopened" && type != "incident.resolved") {
    out.ignored.push_back("pagerduty " + (type.empty() ? std::string("event") : type));
    return out;
  }
  IncidentSignal s;
  s.source = "pagerduty";
  s.open = type != "incident.resolved";
  s.reopen = type == "incident.reopened";
  s.external_id = Str(data, "id");
  if (s.external_id.empty()) return Fail("a PagerDuty incident event without event.data.id");
  s.title = Str(data, "title");
  if (s.title.empty()) s.title = "PagerDuty incident " + s.external_id;
  s.at_ms = TimeOr(Str(event, "occurred_at"), now_ms);
  out.signals.push_back(std::move(s));
  return out;
}

Result<IncidentSignals> Opsgenie(const Json& body, int64_t now_ms) {
  IncidentSignals out;
  const std::string action = Str(body, "action");
  const Json alert = Obj(body, "alert");
  if (action != "Create" && action != "Close") {
    out.ignored.push_back("opsgenie " + (action.empty() ? std::string("action") : action));
    return out;
  }
  IncidentSignal s;
  s.source = "opsgenie";
  s.open = action == "Create";
  s.external_id = Str(alert, "alertId");
  if (s.external_id.empty()) return Fail("an Opsgenie alert without alert.alertId");
  s.title = Str(alert, "message");
  if (s.title.empty()) s.title = "Opsgenie alert " + s.external_id;
  // Opsgenie sends times in epoch milliseconds.
  const char* when = s.open ? "createdAt" : "updatedAt";
  s.at_ms =
      alert.contains(when) && alert[when].is_number_integer() ? alert[when].get<int64_t>() : now_ms;
  CauseFrom(Obj(alert, "details"), s);
  out.signals.push_back(std::move(s));
  return out;
}

Result<IncidentSignals> Alertmanager(const Json& body, int64_t now_ms) {
  IncidentSignals out;
  if (!body["alerts"].is_array()) return Fail("an Alertmanager payload's alerts is not a list");
  const Json common = Obj(body, "commonLabels");
  for (const Json& a : body["alerts"]) {
    const std::string status = Str(a, "status");
    if (status != "firing" && status != "resolved") {
      out.ignored.push_back("alertmanager alert with status " + Quote(status));
      continue;
    }
    const Json labels = Obj(a, "labels");
    IncidentSignal s;
    s.source = "alertmanager";
    s.open = status == "firing";
    // One firing of an alert: a firing after its resolution is another.
    const std::string starts = Str(a, "startsAt");
    std::string fingerprint = Str(a, "fingerprint");
    if (fingerprint.empty()) fingerprint = Sha256Hex(labels.dump()).substr(0, 16);
    auto started_at = ParseRfc3339(starts);
    if (!started_at) {
      // Its firing is named by its start: without one, a resend would
      // open another incident.
      out.ignored.push_back("alertmanager alert " + fingerprint + " without a startsAt time");
      continue;
    }
    const int64_t started = UnixMillis(*started_at);
    s.external_id = fingerprint + "-" + std::to_string(started / 1000);
    const Json annotations = Obj(a, "annotations");
    s.title = Str(annotations, "summary");
    if (s.title.empty()) s.title = Str(labels, "alertname");
    if (s.title.empty()) s.title = "Alertmanager alert " + fingerprint;
    s.at_ms = s.open ? started : TimeOr(Str(a, "endsAt"), now_ms);
    CauseFrom(common, s);
    CauseFrom(labels, s);
    out.signals.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Result<IncidentSignals> ParseIncidentWebhook(const Json& body, int64_t now_ms) {
  if (!body.is_object()) return Fail("the payload is not a JSON object");
  Result<IncidentSignals> out;
  if (body.contains("event") && body["event"].is_object()) {
    out = PagerDuty(body["event"], now_ms);
  } else if (body.contains("alert") && body.contains("action")) {
    out = Opsgenie(body, now_ms);
  } else if (body.contains("alerts")) {
    out = Alertmanager(body, now_ms);
  } else {
    return Fail(
        "not a payload strake reads: PagerDuty's v3 webhook ({\"event\": …}), Opsgenie's "
        "({\"action\": …, \"alert\": …}) or Alertmanager's ({\"alerts\": […]})");
  }
  if (!out) return out;
  // What every tool's signal gets alike: its Incident's name, a title that fits.
  for (IncidentSignal& s : out->signals) {
    s.name = NameOf(s.source, s.external_id);
    s.title = Title(std::move(s.title));
  }
  return out;
}

// The route: an Api member, as it writes Incidents as the API does.

namespace {

// What one signal does to its Incident, decided before anything is written.
struct Planned {
  std::string name;
  const char* outcome = "unchanged";  // opened, reopened, closed, unchanged
  Json body;                          // the Incident to create, or the merge patch
  std::string ignored;                // why it is ignored ("" when it is not)
};

// The Incident a signal opens, checked as the API would check it.
Result<Json> SpecOf(const IncidentSignal& s) {
  Json spec = {{"title", s.title},
               {"source", s.source},
               {"externalID", s.external_id},
               {"openedAt", FormatRfc3339(FromUnixMillis(s.at_ms))}};
  if (!s.environment.empty()) spec["environment"] = s.environment;
  if (!s.deployment.empty()) spec["deployment"] = s.deployment;
  if (!s.commit.empty()) spec["commit"] = s.commit;
  auto checked = model::IncidentSpecFromJson(spec);
  if (!checked) return Failf("{} {}: {}", s.source, s.external_id, checked.error().message);
  return spec;
}

}  // namespace

Response Api::IncidentWebhook(const std::string& ns, const Request& req) {
  if (req.method != "POST")
    return ErrorResponse(405, "MethodNotAllowed", "alerting tools POST their payloads here");
  if (ns.empty()) {
    return ErrorResponse(400, "BadRequest",
                         "incidents belong to a namespace: /apis/strake.dev/v1/namespaces/NS/"
                         "dora/incidents");
  }
  const Json body = Json::parse(req.body, nullptr, false);
  const int64_t now = UnixMillis(std::chrono::system_clock::now());
  auto parsed = ParseIncidentWebhook(body.is_discarded() ? Json() : body, now);
  if (!parsed) return ErrorResponse(400, "BadRequest", parsed.error().message);
  auto query = [&](const char* key) { return req.query.count(key) ? req.query.at(key) : ""; };
  const KindInfo& kind = *model::KindByName("Incident");
  // Every signal is checked before any is written: nothing half-applied.
  std::vector<Planned> plan;
  for (IncidentSignal& s : parsed->signals) {
    if (s.environment.empty()) s.environment = query("environment");
    if (s.deployment.empty()) s.deployment = query("deployment");
    if (s.commit.empty()) s.commit = ToLower(query("commit"));
    Planned p;
    p.name = s.name;
    auto live = store_.Get({"Incident", ns, p.name});
    if (!live) return ErrorResponse(live.error());
    if (*live) {
      // Another incident's name (made by hand, or an id that reads the
      // same as a label): this one goes by its hash.
      const Json spec = (*live)->object.value("spec", Json::object());
      if (spec.value("source", "") != s.source || spec.value("externalID", "") != s.external_id) {
        p.name = s.source + "-" + Sha256Hex(s.external_id).substr(0, 20);
        live = store_.Get({"Incident", ns, p.name});
        if (!live) return ErrorResponse(live.error());
      }
    }
    const Json spec = *live ? (*live)->object.value("spec", Json::object()) : Json::object();
    if (s.open && !*live) {
      if (s.environment.empty() && s.deployment.empty() && s.commit.empty()) {
        return ErrorResponse(
            400, "BadRequest",
            fmt::format("{} {}: nothing says what it hit: give the alert an `environment`, "
                        "`deployment` or `commit` label (details in Opsgenie), or the URL "
                        "?environment=…",
                        s.source, s.external_id));
      }
      auto checked = SpecOf(s);
      if (!checked) return ErrorResponse(400, "BadRequest", checked.error().message);
      p.outcome = "opened";
      p.body = Json{{"apiVersion", kind.api_version},
                    {"kind", kind.kind},
                    {"metadata", {{"name", p.name}, {"namespace", ns}}},
                    {"spec", *checked}};
    } else if (s.open) {
      if (s.reopen && spec.contains("closedAt")) {
        p.outcome = "reopened";
        p.body = {{"spec", {{"closedAt", nullptr}}}};
      }
    } else if (!*live) {
      p.ignored = fmt::format("{} {}: no incident {} to close", s.source, s.external_id, p.name);
    } else if (!spec.contains("closedAt")) {
      // Not before it opened (a tool's clock, a resolution sent first).
      int64_t at = s.at_ms;
      if (auto opened = ParseRfc3339(spec.value("openedAt", ""))) {
        at = std::max(at, UnixMillis(*opened));
      }
      p.outcome = "closed";
      p.body = {{"spec", {{"closedAt", FormatRfc3339(FromUnixMillis(at))}}}};
    }
    plan.push_back(std::move(p));
  }
  Json report = {{"opened", Json::array()},
                 {"reopened", Json::array()},
                 {"closed", Json::array()},
                 {"unchanged", Json::array()},
                 {"ignored", parsed->ignored}};
  for (const Planned& p : plan) {
    if (!p.ignored.empty()) {
      report["ignored"].push_back(p.ignored);
      continue;
    }
    const std::string outcome = p.outcome;
    Response r;
    if (outcome == "opened") {
      Request create;
      create.method = "POST";
      create.body = p.body.dump();
      r = Put(kind, ns, "", create, true);
      // Opened meanwhile by the same alert's other delivery.
      if (r.status == 409) {
        report["unchanged"].push_back(p.name);
        continue;
      }
    } else if (outcome != "unchanged") {
      r = PatchObject(kind, ns, p.name, PatchMode::kMerge, p.body);
    }
    if (r.status >= 400) return r;
    report[outcome].push_back(p.name);
  }
  return JsonResponse(200, report);
}

}  // namespace strake::server
