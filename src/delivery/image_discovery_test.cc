#include "delivery/image_discovery.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fs.h"
#include "delivery/freight.h"
#include "delivery/warehouse.h"
#include "images/test_registry.h"
#include "store/sqlite_store.h"

namespace strake::delivery {
namespace {

using model::Json;

model::ImageSubscription Sub(const std::string& strategy, const std::string& constraint = "") {
  model::ImageSubscription s;
  s.repo_url = "ghcr.io/team/app";
  s.image_selection_strategy = strategy;
  s.constraint = constraint;
  return s;
}

std::vector<std::string> Ordered(const model::ImageSubscription& sub,
                                 const std::vector<std::string>& tags) {
  auto r = OrderTags(sub, tags);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : std::vector<std::string>{};
}

TEST(ImageDiscovery, SemVerTakesVersionsHighestFirstUnderTheConstraint) {
  std::vector<std::string> tags = {"1.2.0", "v1.10.0", "1.9.3", "latest",    "2.0.0-rc.1",
                                   "1.3",   "abc1234", "2.0.0", "1.2.0-beta"};
  EXPECT_EQ(
      Ordered(Sub("SemVer"), tags),
      (std::vector<std::string>{"2.0.0", "2.0.0-rc.1", "v1.10.0", "1.9.3", "1.2.0", "1.2.0-beta"}));
  EXPECT_EQ(Ordered(Sub("SemVer", "^1.2"), tags),
            (std::vector<std::string>{"v1.10.0", "1.9.3", "1.2.0"}));
  auto loose = Sub("SemVer", "<1.5");
  loose.strict_semvers = false;
  EXPECT_EQ(Ordered(loose, tags), (std::vector<std::string>{"1.3", "1.2.0"}));
  auto bad = OrderTags(Sub("SemVer", "not a constraint !!"), tags);
  EXPECT_FALSE(bad);
}

TEST(ImageDiscovery, TagRegexesIgnoreFirstThenAllow) {
  auto sub = Sub("Lexical");
  sub.allow_tags_regexes = {"^main-"};
  sub.ignore_tags_regexes = {"-dirty$"};
  EXPECT_EQ(Ordered(sub, {"main-001", "main-003-dirty", "dev-009", "main-002"}),
            (std::vector<std::string>{"main-002", "main-001"}));
  EXPECT_EQ(Ordered(Sub("Digest", "latest"), {"a", "b"}), (std::vector<std::string>{"latest"}));
}

images::ImageInfo Info(const std::string& digest, int64_t created,
                       std::vector<images::Platform> platforms = {{"linux", "amd64", ""}}) {
  images::ImageInfo i;
  i.digest = digest;
  i.created_ms = created;
  i.platforms = std::move(platforms);
  return i;
}

TEST(ImageDiscovery, ReadsOnlyWhatTheLimitNeedsAndSkipsOtherPlatforms) {
  std::map<std::string, images::ImageInfo> registry = {
      {"3.0.0", Info("sha256:3", 3, {{"linux", "arm64", "v8"}})},
      {"2.0.0", Info("sha256:2", 2)},
      {"1.0.0", Info("sha256:1", 1)},
      {"0.9.0", Info("sha256:0", 0)}};
  std::vector<std::string> asked;
  auto lookup = [&](const std::string& tag) -> Result<std::optional<images::ImageInfo>> {
    asked.push_back(tag);
    auto it = registry.find(tag);
    if (it == registry.end()) return std::optional<images::ImageInfo>();
    return std::optional<images::ImageInfo>(it->second);
  };
  auto sub = Sub("SemVer");
  sub.platform = "linux/amd64";
  sub.discovery_limit = 2;
  auto got = SelectImages(sub, {"0.9.0", "1.0.0", "2.0.0", "3.0.0", "4.0.0"}, lookup);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].tag, "2.0.0");
  EXPECT_EQ((*got)[0].digest, "sha256:2");
  EXPECT_EQ((*got)[1].tag, "1.0.0");
  // 4.0.0 vanished after the listing; 0.9.0 was never needed.
  EXPECT_EQ(asked, (std::vector<std::string>{"4.0.0", "3.0.0", "2.0.0", "1.0.0"}));

  asked.clear();
  auto newest = Sub("NewestBuild");
  newest.discovery_limit = 2;
  registry["old-name"] = Info("sha256:9", 9);
  got = SelectImages(newest, {"0.9.0", "old-name", "1.0.0", "3.0.0"}, lookup);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].tag, "old-name");  // built last
  EXPECT_EQ((*got)[1].tag, "3.0.0");
  EXPECT_EQ(asked.size(), 4u);  // NewestBuild reads every tag

  auto failing = [](const std::string&) -> Result<std::optional<images::ImageInfo>> {
    return Fail("registry down");
  };
  EXPECT_FALSE(SelectImages(Sub("Lexical"), {"a"}, failing));
}

// A Warehouse subscribed to a real registry (Debian's docker-registry on
// loopback) makes Freight named by tag and digest, as Kargo's.
class ImageWarehouseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!registry_.Start()) {
      GTEST_SKIP() << "docker-registry is not installed (scripts/setup.sh installs it)";
    }
    auto dir = MakeTempDir("image-warehouse");
    ASSERT_TRUE(dir);
    dir_ = *dir;
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st) << st.error().message;
    store_ = std::move(*st);
    sources_ =
        std::make_unique<gitops::Sources>(dir_ + "/git", *store_, clock_, EgressPolicy::Open());
    reconciler_ = std::make_unique<WarehouseReconciler>(*store_, *sources_, clock_,
                                                        *EgressPolicy::Parse("loopback"));
  }
  void TearDown() override {
    if (!dir_.empty()) (void)RemoveAll(dir_);
  }

  void Apply(const Json& image) {
    store::Resource r;
    r.key = {"Warehouse", "demo", "app"};
    r.object = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
                {"kind", "Warehouse"},
                {"metadata", {{"name", "app"}, {"namespace", "demo"}}},
                {"spec", {{"subscriptions", Json::array({{{"image", image}}})}}}};
    auto existing = store_->Get(r.key);
    ASSERT_TRUE(existing);
    if (*existing) {
      ASSERT_TRUE(store_->Update(r, (*existing)->resource_version));
    } else {
      ASSERT_TRUE(store_->Create(r, "Applied", ""));
    }
  }
  void Discover() {
    clock_.Advance(std::chrono::hours(1));  // past the interval
    auto got = reconciler_->Reconcile("demo/app");
    ASSERT_TRUE(got) << got.error().message;
  }
  Json Status() { return (*store_->Get({"Warehouse", "demo", "app"}))->status; }
  std::vector<store::Resource> Freight() { return *store_->List("Freight", "demo"); }
  // The Freight with `tag`, or null.
  Json FreightWithTag(const std::string& tag) {
    for (const auto& f : Freight()) {
      for (const auto& i : f.object.value("images", Json::array()))
        if (i.value("tag", "") == tag) return f.object;
    }
    return nullptr;
  }

  images::TestRegistry registry_;
  std::string dir_;
  store::StorePtr store_;
  FakeClock clock_{FromUnixMillis(1'800'000'000'000)};
  std::unique_ptr<gitops::Sources> sources_;
  std::unique_ptr<WarehouseReconciler> reconciler_;
};

TEST_F(ImageWarehouseTest, NewTagsBecomeFreightAndTheSameBytesAgainDoNot) {
  std::string repo = registry_.host() + "/team/app";
  std::string v1 = registry_.Push("team/app", "v1.0.0", "--content one");
  registry_.Push("team/app", "latest", "--content one");
  Apply({{"repoURL", repo}, {"constraint", "^1.0.0"}});
  Discover();
  ASSERT_EQ(Freight().size(), 1u) << Status().dump();
  Json f = FreightWithTag("v1.0.0");
  ASSERT_TRUE(f.is_object());
  EXPECT_EQ(f["images"][0]["digest"], v1);
  EXPECT_EQ(f["images"][0]["repoURL"], repo);
  model::FreightImage image{repo, "v1.0.0", v1, {}, ""};
  EXPECT_EQ(f["metadata"]["name"], FreightName({"Warehouse", "app"}, {}, {}, {image}));
  Json found = Status()["discoveredArtifacts"]["images"][0];
  EXPECT_EQ(found["repoURL"], repo);
  EXPECT_EQ(found["references"][0]["tag"], "v1.0.0");
  EXPECT_EQ(found["references"][0]["createdAt"], "2026-01-01T00:00:00Z");

  // The same bytes pushed again under the same tag: nothing new.
  registry_.Push("team/app", "v1.0.0", "--content one");
  Discover();
  EXPECT_EQ(Freight().size(), 1u);

  // A higher version: new Freight; a version outside the constraint: none.
  registry_.Push("team/app", "v1.1.0", "--content two");
  registry_.Push("team/app", "v2.0.0", "--content three");
  Discover();
  EXPECT_EQ(Freight().size(), 2u);
  EXPECT_TRUE(FreightWithTag("v1.1.0").is_object());
  EXPECT_FALSE(FreightWithTag("v2.0.0").is_object());
}

TEST_F(ImageWarehouseTest, TheDigestStrategyFollowsAMovingTag) {
  std::string repo = registry_.host() + "/team/app";
  std::string first = registry_.Push("team/app", "latest", "--content one");
  Apply({{"repoURL", repo}, {"imageSelectionStrategy", "Digest"}, {"constraint", "latest"}});
  Discover();
  ASSERT_EQ(Freight().size(), 1u) << Status().dump();
  std::string second = registry_.Push("team/app", "latest", "--content two");
  ASSERT_NE(first, second);
  Discover();
  ASSERT_EQ(Freight().size(), 2u);
  std::set<std::string> digests;
  for (const auto& f : Freight()) digests.insert(f.object["images"][0]["digest"]);
  EXPECT_EQ(digests, (std::set<std::string>{first, second}));
}

TEST_F(ImageWarehouseTest, APlatformFilterAndAMissingRepositorySayWhatHappened) {
  std::string repo = registry_.host() + "/team/multi";
  registry_.Push("team/multi", "1.0.0", "--platforms linux/arm64/v8");
  Apply({{"repoURL", repo}, {"platform", "linux/amd64"}});
  Discover();
  EXPECT_TRUE(Freight().empty());
  std::string ready;
  for (const auto& c : Status().value("conditions", Json::array()))
    if (c["type"] == "Ready") ready = c.value("message", "");
  EXPECT_NE(ready.find("No images discovered for image repository"), std::string::npos) << ready;

  Apply({{"repoURL", registry_.host() + "/team/none"}});
  Discover();
  std::string healthy;
  for (const auto& c : Status().value("conditions", Json::array()))
    if (c["type"] == "Healthy") healthy = c.value("message", "");
  EXPECT_NE(healthy.find("no such repository"), std::string::npos) << healthy;
}

TEST_F(ImageWarehouseTest, CredentialsComeFromKargosImageCredentialSecrets) {
  auto secret = [&](const std::string& name, const Json& data) {
    store::Resource r;
    r.key = {"Secret", "demo", name};
    r.object = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata",
                 {{"name", name},
                  {"namespace", "demo"},
                  {"labels", {{"kargo.akuity.io/cred-type", "image"}}}}},
                {"stringData", data}};
    r.labels = {{"kargo.akuity.io/cred-type", "image"}};
    ASSERT_TRUE(store_->Create(r, "Applied", ""));
  };
  secret("b-exact", {{"repoURL", "GHCR.io/team/app"}, {"username", "bob"}, {"password", "pw"}});
  secret("a-regex", {{"repoURL", "^docker\\.io/"},
                     {"repoURLIsRegex", "true"},
                     {"username", "hub"},
                     {"password", "x"}});
  auto c = ImageCredentials(*store_, "demo", "ghcr.io/team/app");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "bob");
  c = ImageCredentials(*store_, "demo", "docker.io/library/nginx");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hub");
  c = ImageCredentials(*store_, "demo", "quay.io/x/y");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->empty());
}

}  // namespace
}  // namespace strake::delivery
