#include "insight/notify.h"

#include <gtest/gtest.h>

#include <string>

#include "base/fs.h"
#include "model/node.h"
#include "model/secrets.h"

namespace strake::insight {
namespace {

// A test file of tests/notifications/ as the store holds it (JSON).
Json ReadObject(const std::string& file) {
  auto docs = model::ParseYamlFile(STRAKE_SOURCE_DIR "/tests/notifications/" + file);
  EXPECT_TRUE(docs) << docs.error().message;
  return docs ? model::ToJson(docs->front().root) : Json();
}

std::map<std::string, std::string> Secrets() {
  const Json secret = ReadObject("argocd-notifications-secret.yaml");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : secret["stringData"].items()) out[k] = *model::SecretValue(secret, k);
  return out;
}

NotificationConfig ArgoExample() {
  auto cfg = ParseNotificationConfig(ReadObject("argocd-notifications-cm.yaml")["data"], Secrets(),
                                     "configmap argocd-notifications-cm");
  EXPECT_TRUE(cfg) << cfg.error().message;
  return cfg ? std::move(*cfg) : NotificationConfig{};
}

Json App(const std::string& sync, const std::string& phase, const std::string& revision,
         Json annotations = Json::object(), Json labels = Json::object()) {
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Application"},
          {"metadata",
           {{"name", "guestbook"},
            {"namespace", "demo"},
            {"uid", "u-1"},
            {"resourceVersion", "7"},
            {"labels", std::move(labels)},
            {"annotations", std::move(annotations)}}},
          {"status",
           {{"sync", {{"status", sync}, {"revision", revision}}},
            {"health", {{"status", "Healthy"}}},
            {"operationState",
             {{"phase", phase},
              {"finishedAt", "2026-12-07T10:00:00Z"},
              {"syncResult", {{"revision", revision}}}}}}}};
}

Subject Of(Json app) { return {"Application", "app", "u-1", std::move(app), "guestbook"}; }

TEST(NotificationConfig, ArgoCdsOwnExampleIsReadWithTheSecretsValues) {
  NotificationConfig cfg = ArgoExample();
  ASSERT_EQ(cfg.triggers.count("on-deployed"), 1u);
  EXPECT_EQ(cfg.triggers["on-deployed"][0].send, std::vector<std::string>{"app-sync-succeeded"});
  EXPECT_TRUE(cfg.triggers["on-deployed"][0].once_per);
  EXPECT_EQ(cfg.services["slack"].type, "slack");
  EXPECT_EQ(cfg.services["slack"].options["token"], "<my-slack-token>");
  EXPECT_EQ(cfg.services["email"].options["password"], "<mypassword>");
  EXPECT_EQ(cfg.services["email"].options["port"], 587);
  EXPECT_EQ(cfg.context["argocdUrl"], "https://cd.apps.argoproj.io/");
  ASSERT_EQ(cfg.subscriptions.size(), 2u);
  EXPECT_EQ(cfg.subscriptions[1].selector, "test=true");
  EXPECT_EQ(cfg.subscriptions[0].recipients[1],
            (std::pair<std::string, std::string>{"email", "test@gmail.com"}));
  EXPECT_EQ(cfg.default_triggers, std::vector<std::string>{"on-sync-status-unknown"});
}

TEST(NotificationConfig, WhatCannotWorkIsRefusedWithItsField) {
  Json data = {{"trigger.on-x", "- when: app.status ==\n  send: [t]\n"},
               {"template.t", "message: '{{.app.metadata.name'\n"},
               {"template.u", "teams: {title: x}\n"},
               {"service.teams", "recipientUrls: {}\n"},
               {"service.webhook.hook", "headers: []\n"},
               {"trigger.on-y", "- when: 'true'\n  send: [missing]\n"},
               {"subscriptions", "- recipients: [nowhere:x]\n  triggers: [on-z]\n"},
               {"unknown", "x"}};
  auto cfg = ParseNotificationConfig(data, {}, "configmap argocd-notifications-cm");
  ASSERT_FALSE(cfg);
  const std::string& m = cfg.error().message;
  for (const char* want : {
           "configmap argocd-notifications-cm: data.trigger.on-x[0].when: col",
           "data.template.t.message",
           "data.template.u.teams: not sent by strake",
           "data.service.teams: service type \"teams\" is not sent by strake",
           "data.service.webhook.hook.url: missing",
           "data.trigger.on-y[0].send: no template \"missing\"",
           "data.subscriptions[0].triggers: no trigger \"on-z\"",
           "data.subscriptions[0].recipients: no service \"nowhere\"",
           "data.unknown: not a key of Argo CD Notifications' ConfigMap",
       }) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  }
}

TEST(Notifications, DestinationsComeFromAnnotationsAndMatchingSubscriptions) {
  NotificationConfig cfg = ArgoExample();
  Json app = App("Synced", "Succeeded", "abc",
                 {{"notifications.argoproj.io/subscribe.on-deployed.slack", "chan-a; chan-b;"},
                  {"notifications.argoproj.io/subscribe.email", "ops@example.com"}},
                 {{"test", "true"}});
  auto d = Destinations(cfg, app);
  EXPECT_EQ(d["on-deployed"], (std::vector<Destination>{{"slack", "chan-a"}, {"slack", "chan-b"}}));
  // Global subscriptions (test3 by its selector), then the email
  // annotation's default trigger; each destination once.
  EXPECT_EQ(d["on-sync-status-unknown"], (std::vector<Destination>{{"slack", "test2"},
                                                                   {"email", "test@gmail.com"},
                                                                   {"slack", "test3"},
                                                                   {"email", "ops@example.com"}}));
  auto other = Destinations(cfg, App("Synced", "Succeeded", "abc"));
  EXPECT_EQ(other["on-sync-status-unknown"].size(), 2u);
}

TEST(Notifications, AStateTriggerSendsOncePerItsValueWithArgosKey) {
  NotificationConfig cfg = ArgoExample();
  const Json subscribe = {{"notifications.argoproj.io/subscribe.on-deployed.slack", "deploys"}};
  Decision first = Decide(cfg, Secrets(), Of(App("Synced", "Succeeded", "abc123", subscribe)),
                          NotifyState{}, {}, 1'700'000'000);
  ASSERT_TRUE(first.problems.empty()) << first.problems[0];
  ASSERT_EQ(first.state.outbox.size(), 1u);
  const Delivery& d = first.state.outbox[0];
  EXPECT_EQ(d.trigger, "on-deployed");
  EXPECT_EQ(d.to, (Destination{"slack", "deploys"}));
  EXPECT_EQ(d.id.size(), 32u);
  EXPECT_EQ(d.notification["message"],
            ":white_check_mark: Application guestbook has been successfully synced at "
            "2026-12-07T10:00:00Z.\nSync operation details are available at: "
            "https://cd.apps.argoproj.io//applications/guestbook?operation=true .\n");
  // The key as notifications-engine writes it: oncePer, trigger, [index].
  // base64url(sha1(when)) (y7b5… is what argocd-notifications #197 shows
  // for this very `when`), service, recipient.
  ASSERT_EQ(first.state.notified.size(), 1u);
  EXPECT_EQ(first.state.notified.begin()->first,
            "abc123:on-deployed:[0].y7b5sbwa2Q329JYH755peeq-fBs:slack:deploys");
  EXPECT_EQ(first.state.notified.begin()->second, 1'700'000'000);
  // Decided again (a restart, another change): nothing more.
  NotifyState sent = first.state;
  sent.outbox.clear();
  Decision again = Decide(cfg, Secrets(), Of(App("Synced", "Succeeded", "abc123", subscribe)), sent,
                          {}, 1'700'000'100);
  EXPECT_FALSE(again.changed);
  EXPECT_TRUE(again.state.outbox.empty());
  // A new revision sends again.
  Decision other = Decide(cfg, Secrets(), Of(App("Synced", "Succeeded", "def456", subscribe)), sent,
                          {}, 1'700'000'200);
  ASSERT_EQ(other.state.outbox.size(), 1u);
  EXPECT_NE(other.state.outbox[0].id, d.id);
  EXPECT_EQ(other.state.notified.size(), 2u);
}

TEST(Notifications, AConditionWithoutOncePerSendsAgainAfterItWasFalse) {
  Json data = {{"trigger.on-unknown", "- when: app.status.sync.status == 'Unknown'\n  send: [t]\n"},
               {"template.t", "message: '{{.app.metadata.name}} is {{.app.status.sync.status}}'\n"},
               {"service.webhook.hook", "url: http://127.0.0.1:1/\n"}};
  auto cfg = ParseNotificationConfig(data, {}, "cm");
  ASSERT_TRUE(cfg) << cfg.error().message;
  const Json sub = {{"notifications.argoproj.io/subscribe.on-unknown.hook", ""}};
  Decision d1 = Decide(*cfg, {}, Of(App("Unknown", "Running", "a", sub)), {}, {}, 100);
  ASSERT_EQ(d1.state.outbox.size(), 1u);
  EXPECT_EQ(d1.state.outbox[0].to, (Destination{"hook", ""}));
  EXPECT_EQ(d1.state.outbox[0].notification["message"], "guestbook is Unknown");
  EXPECT_EQ(d1.state.notified.begin()->first, "on-unknown:[0].6SzWb05EK-0v90hwjyytTbN7S6A:hook:");
  d1.state.outbox.clear();
  Decision d2 = Decide(*cfg, {}, Of(App("Unknown", "Running", "a", sub)), d1.state, {}, 101);
  EXPECT_FALSE(d2.changed);
  Decision d3 = Decide(*cfg, {}, Of(App("Synced", "Running", "a", sub)), d2.state, {}, 102);
  EXPECT_TRUE(d3.changed);
  EXPECT_TRUE(d3.state.notified.empty());  // re-armed
  Json later = App("Unknown", "Running", "a", sub);
  later["metadata"]["resourceVersion"] = "9";
  Decision d4 = Decide(*cfg, {}, Of(later), d3.state, {}, 103);
  ASSERT_EQ(d4.state.outbox.size(), 1u);
}

TEST(Notifications, AnEventTriggerSendsOncePerEventAndNeverAgain) {
  // Argo Rollouts' catalog: triggers without `when`, fired by events.
  Json data = {{"trigger.on-rollout-completed", "- send: [rollout-completed]\n"},
               {"trigger.on-rollout-step-completed",
                "- send: [step]\n  oncePer: rollout.status.currentStepIndex\n"},
               {"template.rollout-completed",
                "message: Rollout {{.rollout.metadata.name}} has been completed "
                "({{.event.reason}} at {{.event.time}}).\n"},
               {"template.step",
                "message: Rollout {{.rollout.metadata.name}} step number {{ add "
                ".rollout.status.currentStepIndex 1}}"
                "/{{len .rollout.spec.strategy.canary.steps}} has been completed.\n"},
               {"service.webhook.hook", "url: http://127.0.0.1:1/\n"}};
  auto cfg = ParseNotificationConfig(data, {}, "cm");
  ASSERT_TRUE(cfg) << cfg.error().message;
  Json rollout = {
      {"metadata",
       {{"name", "web"},
        {"resourceVersion", "5"},
        {"annotations",
         {{"notifications.argoproj.io/subscribe.on-rollout-completed.hook", ""},
          {"notifications.argoproj.io/subscribe.on-rollout-step-completed.hook", ""}}}}},
      {"spec", {{"strategy", {{"canary", {{"steps", Json::array({1, 2, 3})}}}}}}},
      {"status", {{"currentStepIndex", 1}}}};
  Subject s{"Rollout", "rollout", "u-r", rollout, "web"};
  std::vector<SubjectEvent> events = {{10, "RolloutUpdated", "", 0},
                                      {11, "RolloutStepCompleted", "", 0},
                                      {12, "RolloutStepCompleted", "", 0},
                                      {13, "RolloutCompleted", "", 1'765'101'600'123}};
  NotifyState prior;
  prior.revision = 9;
  Decision d = Decide(*cfg, {}, s, prior, events, 100);
  ASSERT_EQ(d.state.outbox.size(), 2u) << NotifyStateToJson(d.state).dump(2);
  EXPECT_EQ(d.state.revision, 13);
  // The step event twice at one step index: once (oncePer).
  EXPECT_EQ(d.state.outbox[0].notification["message"],
            "Rollout web step number 2/3 has been completed.");
  EXPECT_EQ(d.state.outbox[1].notification["message"],
            "Rollout web has been completed (RolloutCompleted at 2025-12-07T10:00:00.123Z).");
  // The same events read again (after the record): nothing.
  d.state.outbox.clear();
  Decision again = Decide(*cfg, {}, s, d.state, events, 101);
  EXPECT_TRUE(again.state.outbox.empty());
  EXPECT_EQ(TriggerOfReason("AnalysisRunFailed"), "on-analysis-run-failed");
}

TEST(Notifications, AnApplicationWaitsForItsStatusToBeRefreshedAfterAnOperation) {
  Json app = App("Synced", "Succeeded", "abc");  // finished 10:00:00, never reconciled since
  EXPECT_FALSE(AppStatusRefreshed(app));
  app["status"]["reconciledAt"] = "2026-12-07T10:00:05Z";
  EXPECT_TRUE(AppStatusRefreshed(app));
  app["status"]["operationState"]["phase"] = "Running";
  app["status"].erase("reconciledAt");
  EXPECT_TRUE(AppStatusRefreshed(app));
  EXPECT_FALSE(AppStatusRefreshed(Json::object()));
}

TEST(Notifications, TheStateRoundTripsThroughJson) {
  NotifyState s;
  s.notified["k"] = 5;
  s.revision = 42;
  Delivery d;
  d.id = "abc";
  d.trigger = "on-x";
  d.to = {"slack", "c"};
  d.notification = {{"message", "hi"}};
  d.attempts = 2;
  d.next_attempt_ms = 99;
  d.last_error = "slack slack: the server answered 500";
  s.outbox.push_back(d);
  const NotifyState back = NotifyStateFromJson(NotifyStateToJson(s));
  EXPECT_EQ(NotifyStateToJson(back), NotifyStateToJson(s));
}

}  // namespace
}  // namespace strake::insight
