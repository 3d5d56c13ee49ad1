#include "insight/notifier.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "store/temp_store.h"

namespace strake::insight {
namespace {

// Records what it is asked to send; fails while `failures` is above 0.
class FakeSender final : public NotificationSender {
 public:
  struct Sent {
    std::string service, recipient, id, message;
  };
  Status Send(const NotificationService& s, const Delivery& d) override {
    if (failures > 0) {
      --failures;
      return Failf(ErrorCode::kUnavailable, "webhook {}: POST answered 503 (token s3cret-token)",
                   s.name);
    }
    sent->push_back({s.name, d.to.recipient, d.id, d.notification.value("message", "")});
    return Ok();
  }
  std::vector<Sent>* sent;
  int failures = 0;
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("strake-notifier-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    Put("Secret", "argocd-notifications-secret", {{"stringData", {{"token", "s3cret-token"}}}});
    Put("ConfigMap", "argocd-notifications-cm",
        {{"data",
          {{"trigger.on-unknown", "- when: app.status.sync.status == 'Unknown'\n  send: [t]\n"},
           {"template.t", "message: '{{.app.metadata.name}} is {{.app.status.sync.status}}'\n"},
           {"service.webhook.hook",
            "url: http://127.0.0.1:1/\nheaders:\n- {name: Authorization, value: $token}\n"}}}});
    Put("Application", "guestbook",
        {{"metadata",
          {{"name", "guestbook"},
           {"namespace", "demo"},
           {"annotations", {{"notifications.argoproj.io/subscribe.on-unknown.hook", ""}}}}}},
        {{"sync", {{"status", "Unknown"}}}});
  }
  store::Store& st() { return temp_.store(); }

  void Put(const std::string& kind, const std::string& name, Json object,
           Json status = Json::object()) {
    store::Resource r;
    r.key = {kind, "demo", name};
    object["kind"] = kind;
    r.object = std::move(object);
    r.status = std::move(status);
    ASSERT_TRUE(st().Create(r, "Created", ""));
  }

  Notifier Make(int failures = 0) {
    auto s = std::make_unique<FakeSender>();
    s->sent = &sent_;
    s->failures = failures;
    return Notifier(st(), clock_, std::move(s));
  }

  std::vector<std::string> Reasons() {
    std::vector<std::string> out;
    auto changes = st().ChangesSince(0, 100, {kNotificationStateKind, "demo", ""});
    EXPECT_TRUE(changes);
    for (const auto& c : *changes) out.push_back(c.reason);
    return out;
  }

  Json State() {
    auto s = st().Get({kNotificationStateKind, "demo", "application.guestbook"});
    EXPECT_TRUE(s && *s);
    return s && *s ? (*s)->status : Json();
  }

  const std::string key_ = "Application/demo/guestbook";
  FakeClock clock_{TimePoint{} + std::chrono::hours(24 * 365 * 56)};
  std::vector<FakeSender::Sent> sent_;
  store::TempStore temp_;
};

TEST_F(NotifierTest, ATriggerIsRecordedThenSentOnce) {
  Notifier n = Make();
  auto done = n.Reconcile(key_);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].service, "hook");
  EXPECT_EQ(sent_[0].message, "guestbook is Unknown");
  EXPECT_EQ(Reasons(), (std::vector<std::string>{"Notified", "Sent"}));
  EXPECT_TRUE(State()["outbox"].empty());
  EXPECT_EQ(State()["notified"].size(), 1u);
  // Looked at again, or by a restarted server: nothing is sent twice.
  ASSERT_TRUE(n.Reconcile(key_));
  ASSERT_TRUE(Make().Reconcile(key_));
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(NotifierTest, AFailedSendIsTriedAgainWithTheSameIdAndNoSecretIsKept) {
  auto first = Make(/*failures=*/1).Reconcile(key_);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(sent_.empty());
  ASSERT_TRUE(first->requeue_after);
  EXPECT_EQ(*first->requeue_after, std::chrono::milliseconds(1000));
  const Json pending = State()["outbox"][0];
  EXPECT_EQ(pending["attempts"], 1);
  EXPECT_EQ(pending["lastError"], "webhook hook: POST answered 503 (token <redacted>)");
  // Not due yet: not sent. Then a restarted server sends it, once.
  ASSERT_TRUE(Make().Reconcile(key_));
  EXPECT_TRUE(sent_.empty());
  clock_.Advance(std::chrono::seconds(1));
  Notifier restarted = Make();
  ASSERT_TRUE(restarted.Reconcile(key_));
  ASSERT_TRUE(restarted.Reconcile(key_));
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].id, pending["id"]);
  EXPECT_EQ(Reasons(), (std::vector<std::string>{"Notified", "SendFailed", "Sent"}));
}

TEST_F(NotifierTest, ASendThatNeverPassesIsDroppedSayingWhy) {
  Notifier n = Make(/*failures=*/100);
  for (int i = 0; i < kMaxAttempts; ++i) {
    auto r = n.Reconcile(key_);
    ASSERT_TRUE(r) << r.error().message;
    clock_.Advance(std::chrono::minutes(5));
  }
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(State()["outbox"].empty());
  const auto reasons = Reasons();
  EXPECT_EQ(reasons.back(), "Dropped");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "SendFailed"), kMaxAttempts - 1);
}

TEST_F(NotifierTest, NoSettingsNotifyNothingAndASubscriptionThatCannotWorkSaysWhy) {
  ASSERT_TRUE(st().Delete({"ConfigMap", "demo", "argocd-notifications-cm"}));
  ASSERT_TRUE(Make().Reconcile(key_));
  EXPECT_TRUE(Reasons().empty());
  Put("ConfigMap", "argocd-notifications-cm", {{"data", Json::object()}});
  ASSERT_TRUE(Make().Reconcile(key_));
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(Reasons(), std::vector<std::string>{"NotifyFailed"});
  auto changes = st().ChangesSince(0, 100, {kNotificationStateKind, "demo", ""});
  ASSERT_TRUE(changes);
  EXPECT_NE(changes->back().message.find("trigger \"on-unknown\" is not defined"),
            std::string::npos)
      << changes->back().message;
}

TEST_F(NotifierTest, AnObjectThatGoesHasItsOutboxSentAndItsRecordRemoved) {
  ASSERT_TRUE(Make(/*failures=*/1).Reconcile(key_));
  ASSERT_TRUE(st().Delete({"Application", "demo", "guestbook"}));
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(Make().Reconcile(key_));
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].message, "guestbook is Unknown");
  auto record = st().Get({kNotificationStateKind, "demo", "application.guestbook"});
  ASSERT_TRUE(record);
  EXPECT_FALSE(*record);
}

TEST_F(NotifierTest, AFirstRecordReadsNoHistoryAndKeepsArgoCdsKeys) {
  // Argo CD notified on-unknown already (its annotation), and the object
  // has old events: nothing is sent on moving to strake.
  ASSERT_TRUE(st().Delete({"Application", "demo", "guestbook"}));
  const std::string hash = "6SzWb05EK-0v90hwjyytTbN7S6A";  // sha1 of the when, base64url
  Put("Application", "guestbook",
      {{"metadata",
        {{"name", "guestbook"},
         {"namespace", "demo"},
         {"annotations",
          {{"notifications.argoproj.io/subscribe.on-unknown.hook", ""},
           {"notified.notifications.argoproj.io",
            Json{{"on-unknown:[0]." + hash + ":hook:", 1615318957}}.dump()}}}}}},
      {{"sync", {{"status", "Unknown"}}}});
  ASSERT_TRUE(Make().Reconcile(key_));
  EXPECT_TRUE(sent_.empty());
}

}  // namespace
}  // namespace strake::insight
