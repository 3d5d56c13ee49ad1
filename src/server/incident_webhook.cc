#include "server/incident_webhook.h"

#include <fmt/format.h>

#include <cctype>

#include "base/clock.h"
#include "base/sha256.h"
#include "base/strings.h"
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
  if (auto v = Str(fields, "commit"); !v.empty()) s.commit = v;
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
  s.external_id = Str(data, "id");
  if (s.external_id.empty()) return Fail("a PagerDuty incident event without event.data.id");
  s.name = NameOf(s.source, s.external_id);
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
  s.name = NameOf(s.source, s.external_id);
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
    const int64_t started = TimeOr(starts, now_ms);
    s.external_id = fingerprint + "-" + std::to_string(started / 1000);
    s.name = NameOf(s.source, s.external_id);
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
  if (body.contains("event") && body["event"].is_object()) return PagerDuty(body["event"], now_ms);
  if (body.contains("alert") && body.contains("action")) return Opsgenie(body, now_ms);
  if (body.contains("alerts")) return Alertmanager(body, now_ms);
  return Fail(
      "not a payload strake reads: PagerDuty's v3 webhook ({\"event\": …}), Opsgenie's "
      "({\"action\": …, \"alert\": …}) or Alertmanager's ({\"alerts\": […]})");
}

// The route: an Api member, as it writes Incidents as the API does.

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
  for (IncidentSignal& s : parsed->signals) {
    if (s.environment.empty()) s.environment = query("environment");
    if (s.deployment.empty()) s.deployment = query("deployment");
    if (s.commit.empty()) s.commit = query("commit");
    if (s.open && s.environment.empty() && s.deployment.empty() && s.commit.empty()) {
      // Checked for all before any is written: nothing half-applied.
      return ErrorResponse(
          400, "BadRequest",
          fmt::format("{} {}: nothing says what it hit: give the alert an `environment`, "
                      "`deployment` or `commit` label (details in Opsgenie), or the URL "
                      "?environment=…",
                      s.source, s.external_id));
    }
  }
  const KindInfo& kind = *model::KindByName("Incident");
  Json report = {{"opened", Json::array()},
                 {"reopened", Json::array()},
                 {"closed", Json::array()},
                 {"unchanged", Json::array()},
                 {"ignored", parsed->ignored}};
  for (const IncidentSignal& s : parsed->signals) {
    auto live = store_.Get({"Incident", ns, s.name});
    if (!live) return ErrorResponse(live.error());
    const std::string at = FormatRfc3339(FromUnixMillis(s.at_ms));
    Response r;
    const char* outcome = "unchanged";
    if (s.open && !*live) {
      Json spec = {{"title", s.title},
                   {"source", s.source},
                   {"externalID", s.external_id},
                   {"openedAt", at}};
      if (!s.environment.empty()) spec["environment"] = s.environment;
      if (!s.deployment.empty()) spec["deployment"] = s.deployment;
      if (!s.commit.empty()) spec["commit"] = s.commit;
      Request create;
      create.method = "POST";
      create.body = Json{
          {"apiVersion", kind.api_version},
          {"kind", kind.kind},
          {"metadata", {{"name", s.name}, {"namespace", ns}}},
          {"spec",
           spec}}.dump();
      r = Put(kind, ns, "", create, true);
      outcome = "opened";
    } else if (s.open) {
      const Json spec = (*live)->object.value("spec", Json::object());
      if (spec.contains("closedAt")) {  // PagerDuty's reopened
        r = PatchObject(kind, ns, s.name, PatchMode::kMerge, {{"spec", {{"closedAt", nullptr}}}});
        outcome = "reopened";
      }
    } else if (!*live) {
      report["ignored"].push_back(
          fmt::format("{} {}: no incident {} to close", s.source, s.external_id, s.name));
      continue;
    } else if (!(*live)->object.value("spec", Json::object()).contains("closedAt")) {
      r = PatchObject(kind, ns, s.name, PatchMode::kMerge, {{"spec", {{"closedAt", at}}}});
      outcome = "closed";
    }
    if (r.status >= 400) return r;
    report[outcome].push_back(s.name);
  }
  return JsonResponse(200, report);
}

}  // namespace strake::server
