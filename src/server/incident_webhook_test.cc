#include "server/incident_webhook.h"

#include <gtest/gtest.h>

#include "server/api.h"
#include "store/temp_store.h"

namespace strake::server {
namespace {

using Json = model::Json;

constexpr int64_t kNow = 1796623200000;  // 2026-12-07T06:00:00Z

// Payloads in the shapes the tools document: PagerDuty's v3 webhook
// (developer.pagerduty.com, "Webhooks v3 overview": event.event_type,
// event.occurred_at, event.data), Opsgenie's webhook integration
// (action, alert.alertId, alert.message, alert.details, createdAt in epoch
// ms) and Alertmanager's webhook_config (version 4: status, alerts[] with
// labels, annotations, startsAt, endsAt, fingerprint).
TEST(IncidentWebhook, PagerDutyTriggersAndResolvesOneIncident) {
  Json triggered = Json::parse(R"({"event": {
    "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
    "event_type": "incident.triggered", "resource_type": "incident",
    "occurred_at": "2026-12-07T05:00:00.250Z",
    "data": {"id": "PT4KHLK", "type": "incident", "number": 1234, "status": "triggered",
             "title": "The server is on fire.", "service": {"id": "PIJ90N7"}}}})");
  auto got = ParseIncidentWebhook(triggered, kNow);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->signals.size(), 1u);
  const IncidentSignal& s = got->signals[0];
  EXPECT_TRUE(s.open);
  EXPECT_EQ(s.source, "pagerduty");
  EXPECT_EQ(s.name, "pagerduty-pt4khlk");
  EXPECT_EQ(s.title, "The server is on fire.");
  EXPECT_EQ(s.at_ms, kNow - 3'600'000 + 250);
  Json resolved = triggered;
  resolved["event"]["event_type"] = "incident.resolved";
  resolved["event"]["occurred_at"] = "2026-12-07T05:30:00Z";
  got = ParseIncidentWebhook(resolved, kNow);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->signals.size(), 1u);
  EXPECT_FALSE(got->signals[0].open);
  EXPECT_EQ(got->signals[0].name, "pagerduty-pt4khlk");  // the same incident
  EXPECT_EQ(got->signals[0].at_ms, kNow - 1'800'000);
  Json acked = triggered;
  acked["event"]["event_type"] = "incident.acknowledged";
  got = ParseIncidentWebhook(acked, kNow);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->signals.empty());
  EXPECT_EQ(got->ignored, std::vector<std::string>{"pagerduty incident.acknowledged"});
}

TEST(IncidentWebhook, OpsgenieAlertsCarryTheirCauseInDetails) {
  Json create = Json::parse(R"({"action": "Create",
    "alert": {"alertId": "70413a06-38d6-4c85-92b8-5ebc900d42e2-1517393958063",
              "message": "Checkout 500s", "tags": ["prod"], "createdAt": 1796619600000,
              "details": {"environment": "prod", "commit": "3f2a9c1"}},
    "source": {"name": "", "type": "web"}, "integrationName": "strake"})");
  auto got = ParseIncidentWebhook(create, kNow);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->signals.size(), 1u);
  const IncidentSignal& s = got->signals[0];
  EXPECT_TRUE(s.open);
  EXPECT_EQ(s.name, "opsgenie-70413a06-38d6-4c85-92b8-5ebc900d42e2-1517393958063");
  EXPECT_LE(s.name.size(), 63u);
  EXPECT_EQ(s.environment, "prod");
  EXPECT_EQ(s.commit, "3f2a9c1");
  EXPECT_EQ(s.at_ms, 1796619600000);
  Json close = create;
  close["action"] = "Close";
  close["alert"]["updatedAt"] = 1796621400000;
  got = ParseIncidentWebhook(close, kNow);
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->signals[0].open);
  EXPECT_EQ(got->signals[0].at_ms, 1796621400000);
}

TEST(IncidentWebhook, EachAlertmanagerFiringIsAnIncidentOfItsOwn) {
  Json body = Json::parse(R"({"version": "4", "status": "firing", "receiver": "strake",
    "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate", "environment": "prod"},
    "alerts": [
      {"status": "firing", "labels": {"alertname": "HighErrorRate", "instance": "a"},
       "annotations": {"summary": "5xx above 5% on a"},
       "startsAt": "2026-12-07T05:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
       "fingerprint": "c6e2f2d1a0b3e4f5"},
      {"status": "resolved", "labels": {"alertname": "HighErrorRate", "instance": "b",
                                         "environment": "staging"},
       "annotations": {}, "startsAt": "2026-12-07T04:00:00Z",
       "endsAt": "2026-12-07T04:20:00Z", "fingerprint": "0a1b2c3d4e5f6a7b"}]})");
  auto got = ParseIncidentWebhook(body, kNow);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->signals.size(), 2u);
  const IncidentSignal& a = got->signals[0];
  EXPECT_TRUE(a.open);
  EXPECT_EQ(a.title, "5xx above 5% on a");
  EXPECT_EQ(a.environment, "prod");  // from the common labels
  EXPECT_EQ(a.at_ms, kNow - 3'600'000 + 123);
  EXPECT_EQ(a.name, "alertmanager-c6e2f2d1a0b3e4f5-" + std::to_string((kNow - 3'600'000) / 1000));
  const IncidentSignal& b = got->signals[1];
  EXPECT_FALSE(b.open);
  EXPECT_EQ(b.title, "HighErrorRate");
  EXPECT_EQ(b.environment, "staging");  // its own label first
  EXPECT_EQ(b.at_ms, kNow - 6'000'000);
  // The same alert firing again after it resolved: another incident.
  body["alerts"][0]["startsAt"] = "2026-12-07T05:50:00Z";
  EXPECT_NE(ParseIncidentWebhook(body, kNow)->signals[0].name, a.name);
}

TEST(IncidentWebhook, AnythingElseIsRefusedSayingWhatIsRead) {
  for (const char* bad : {R"([1, 2])", R"({"hello": "world"})", R"({"alerts": {}})",
                          R"({"event": {"event_type": "incident.triggered", "data": {}}})",
                          R"({"action": "Create", "alert": {}})"}) {
    auto got = ParseIncidentWebhook(Json::parse(bad), kNow);
    EXPECT_FALSE(got) << bad;
  }
  auto got = ParseIncidentWebhook(Json::parse(R"({"x": 1})"), kNow);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("PagerDuty's v3 webhook"), std::string::npos);
}

// Through the API: opened once (sent again: unchanged), refused whole when
// an alert names nothing it hit, closed by its resolution, and a close of
// an incident never opened is said to be ignored.
TEST(IncidentWebhookApi, OpensAndClosesIncidentResourcesOnce) {
  auto temp = store::TempStore::Make("incident-hook");
  ASSERT_TRUE(temp);
  Api api(temp->store());
  auto post = [&](const Json& body, const std::string& query = "") {
    Request req = MakeRequest("POST", "/apis/strake.dev/v1/namespaces/shop/dora/incidents" + query);
    req.body = body.dump();
    return api.Handle(req);
  };
  auto alert = [](const std::string& status, const std::string& fingerprint, Json labels) {
    return Json{{"status", status},
                {"labels", std::move(labels)},
                {"startsAt", "2026-12-07T05:00:00Z"},
                {"endsAt", "2026-12-07T05:30:00Z"},
                {"fingerprint", fingerprint}};
  };
  Json both = {{"alerts",
                {alert("firing", "aaaa", {{"alertname", "A"}, {"environment", "prod"}}),
                 alert("firing", "bbbb", {{"alertname", "B"}})}}};
  Response refused = post(both);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("alertmanager bbbb-"), std::string::npos) << refused.body;
  EXPECT_TRUE(temp->store().List("Incident", "shop")->empty());  // nothing half-applied
  Response opened = post(both, "?environment=prod");
  ASSERT_EQ(opened.status, 200) << opened.body;
  Json report = Json::parse(opened.body);
  EXPECT_EQ(report["opened"].size(), 2u) << opened.body;
  auto a = temp->store().Get({"Incident", "shop", "alertmanager-aaaa-1796619600"});
  ASSERT_TRUE(a && *a) << opened.body;
  EXPECT_EQ((*a)->object["spec"].value("environment", ""), "prod");
  EXPECT_EQ((*a)->object["spec"].value("source", ""), "alertmanager");
  EXPECT_EQ((*a)->object["spec"].value("openedAt", ""), "2026-12-07T05:00:00Z");
  Response again = post(both, "?environment=prod");
  EXPECT_EQ(Json::parse(again.body)["unchanged"].size(), 2u) << again.body;
  Response closed = post({{"alerts",
                           {alert("resolved", "aaaa", {{"alertname", "A"}}),
                            alert("resolved", "cccc", {{"alertname", "C"}})}}});
  ASSERT_EQ(closed.status, 200) << closed.body;
  report = Json::parse(closed.body);
  EXPECT_EQ(report["closed"], Json::array({"alertmanager-aaaa-1796619600"})) << closed.body;
  ASSERT_EQ(report["ignored"].size(), 1u) << closed.body;
  a = temp->store().Get({"Incident", "shop", "alertmanager-aaaa-1796619600"});
  EXPECT_EQ((*a)->object["spec"].value("closedAt", ""), "2026-12-07T05:30:00Z");
  EXPECT_EQ(
      api.Handle(MakeRequest("GET", "/apis/strake.dev/v1/namespaces/shop/dora/incidents")).status,
      405);
  Request no_ns = MakeRequest("POST", "/apis/strake.dev/v1/dora/incidents");
  no_ns.body = both.dump();
  EXPECT_EQ(api.Handle(no_ns).status, 400);

  // Firing again after its resolution (a late resend): still closed.
  Response late = post({{"alerts", {alert("firing", "aaaa", {{"alertname", "A"}})}}});
  EXPECT_EQ(Json::parse(late.body)["unchanged"].size(), 1u) << late.body;
  a = temp->store().Get({"Incident", "shop", "alertmanager-aaaa-1796619600"});
  EXPECT_TRUE((*a)->object["spec"].contains("closedAt"));
  // A commit that is not one refuses the whole payload.
  Json bad = {{"alerts",
               {alert("firing", "dddd", {{"alertname", "D"}, {"environment", "prod"}}),
                alert("firing", "eeee", {{"alertname", "E"}, {"commit", "v1.2"}})}}};
  Response refused_bad = post(bad);
  EXPECT_EQ(refused_bad.status, 400) << refused_bad.body;
  EXPECT_NE(refused_bad.body.find("spec.commit"), std::string::npos) << refused_bad.body;
  EXPECT_FALSE(*temp->store().Get({"Incident", "shop", "alertmanager-dddd-1796619600"}));
}

// PagerDuty: only `incident.reopened` opens a closed incident again; a
// name taken by another Incident gives this one its hash's name.
TEST(IncidentWebhookApi, PagerDutyReopensAndNamesDoNotCollide) {
  auto temp = store::TempStore::Make("incident-hook-pd");
  ASSERT_TRUE(temp);
  Api api(temp->store());
  auto post = [&](const std::string& type, const std::string& at, const std::string& id) {
    Request req =
        MakeRequest("POST", "/apis/strake.dev/v1/namespaces/shop/dora/incidents?environment=prod");
    req.body = Json{{"event",
                     {{"event_type", type},
                      {"occurred_at", at},
                      {"data", {{"id", id}, {"title", "down"}}}}}}
                   .dump();
    Response r = api.Handle(req);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  };
  auto spec = [&](const std::string& name) {
    auto got = temp->store().Get({"Incident", "shop", name});
    return got && *got ? (*got)->object["spec"] : Json();
  };
  post("incident.triggered", "2026-12-07T05:00:00Z", "PT4KHLK");
  // Resolved "before" it opened (a tool's clock): closed at its opening.
  post("incident.resolved", "2026-12-07T04:59:00Z", "PT4KHLK");
  EXPECT_EQ(spec("pagerduty-pt4khlk").value("closedAt", ""), "2026-12-07T05:00:00Z");
  EXPECT_EQ(post("incident.triggered", "2026-12-07T05:10:00Z", "PT4KHLK")["unchanged"].size(), 1u);
  EXPECT_EQ(post("incident.reopened", "2026-12-07T05:20:00Z", "PT4KHLK")["reopened"].size(), 1u);
  EXPECT_FALSE(spec("pagerduty-pt4khlk").contains("closedAt"));
  // "pt4khlk" reads as the same label: another incident, by its hash.
  Json other = post("incident.triggered", "2026-12-07T05:30:00Z", "pt4khlk");
  ASSERT_EQ(other["opened"].size(), 1u) << other.dump();
  const std::string name = other["opened"][0].get<std::string>();
  EXPECT_NE(name, "pagerduty-pt4khlk");
  EXPECT_EQ(spec(name).value("externalID", ""), "pt4khlk");
}

}  // namespace
}  // namespace strake::server
