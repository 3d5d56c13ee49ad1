#include "server/dora_api.h"

#include <gtest/gtest.h>

#include "base/tz.h"
#include "store/temp_store.h"

namespace strake::server {
namespace {

using Json = nlohmann::json;

constexpr int64_t kHour = 3'600'000;
const int64_t kDay0 = DaysFromCivil(2026, 11, 2);

int64_t At(int day, int64_t hours) { return (kDay0 + day) * 24 * kHour + hours * kHour; }

store::DeploymentRecord Dep(const std::string& id, const std::string& env, const std::string& tier,
                            int64_t finished, std::vector<store::DeploymentRecord::Commit> c = {}) {
  store::DeploymentRecord d;
  d.id = id;
  d.ns = "shop";
  d.environment = env;
  d.tier = tier;
  d.revision = "abc";
  d.finished_ms = finished;
  d.changes = std::move(c);
  return d;
}

class DoraApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("dora-api");
    ASSERT_TRUE(t);
    temp_ = std::move(*t);
    ledger_ = std::make_unique<insight::Ledger>(temp_.store());
    ASSERT_TRUE(ledger_->Load());
    ASSERT_TRUE(ledger_->Record(Dep("p/1", "prod", "production", At(0, 10), {{"aaa", At(0, 8)}})));
    ASSERT_TRUE(ledger_->Record(Dep("p/2", "prod", "production", At(1, 10), {{"bbb", At(1, 9)}})));
    ASSERT_TRUE(ledger_->Record(Dep("s/1", "staging", "staging", At(1, 11))));
    ASSERT_TRUE(ledger_->MarkFailed("p/1", At(0, 11), "verification failed"));
  }
  Response Ask(const std::string& query) {
    Request req = MakeRequest("GET", "/apis/strake.dev/v1/namespaces/shop/dora/metrics?" + query);
    return DoraMetrics(*ledger_, "shop", req, kDay0 + 1);
  }
  Json AskJson(const std::string& query) {
    Response r = Ask(query);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  }
  store::TempStore temp_;
  std::unique_ptr<insight::Ledger> ledger_;
};

TEST_F(DoraApiTest, AnswersInGitLabsShape) {
  Json daily = AskJson("metric=deployment_frequency&start_date=2026-11-02&end_date=2026-11-03");
  EXPECT_EQ(daily, Json::parse(R"([{"date":"2026-11-02","value":1.0},
                                  {"date":"2026-11-03","value":1.0}])"));
  Json all = AskJson(
      "metric=deployment_frequency&start_date=2026-11-02&end_date=2026-11-03&interval=all&"
      "environment_tiers[]=production&environment_tiers[]=staging");
  EXPECT_EQ(all, Json::parse(R"([{"date":null,"value":1.5}])"));
  Json lead = AskJson("metric=lead_time_for_changes&start_date=2026-11-02&interval=all");
  ASSERT_EQ(lead.size(), 1u);
  EXPECT_EQ(lead[0]["value"], 5400.0);  // 2 h and 1 h
  EXPECT_TRUE(lead[0].contains("p90"));
  Json cfr = AskJson("metric=change_failure_rate&start_date=2026-11-02&interval=monthly");
  EXPECT_EQ(cfr, Json::parse(R"([{"date":"2026-11-01","value":0.5}])"));
}

TEST_F(DoraApiTest, BadParametersAreA400SayingWhatTheyTake) {
  Response r = Ask("metric=lead_time");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("metric"), std::string::npos) << r.body;
  r = Ask("metric=deployment_frequency&start_date=2026-11-05&end_date=2026-11-01");
  EXPECT_EQ(r.status, 400) << r.body;
  r = Ask("metric=deployment_frequency&colour=blue");
  EXPECT_EQ(r.status, 400) << r.body;
  Request post = MakeRequest("POST", "/x?metric=deployment_frequency");
  EXPECT_EQ(DoraMetrics(*ledger_, "shop", post, kDay0).status, 405);
}

TEST_F(DoraApiTest, ExplainListsTheRecordsBehindEachValue) {
  Json lead = AskJson("metric=lead_time_for_changes&start_date=2026-11-02&explain=1");
  ASSERT_EQ(lead.size(), 2u);
  ASSERT_EQ(lead[0]["changes"].size(), 1u);
  EXPECT_EQ(lead[0]["changes"][0]["commit"], "aaa");
  EXPECT_EQ(lead[0]["changes"][0]["deployment"], "p/1");
  EXPECT_EQ(lead[0]["changes"][0]["seconds"], 7200.0);
  EXPECT_EQ(lead[0]["changes"][0]["committedAt"], "2026-11-02T08:00:00Z");
  Json restore = AskJson(
      "metric=failed_deployment_recovery_time&start_date=2026-11-02&"
      "interval=all&explain=true");
  ASSERT_EQ(restore[0]["failures"].size(), 1u);
  EXPECT_EQ(restore[0]["failures"][0]["failure"], "verification failed");
  EXPECT_EQ(restore[0]["failures"][0]["restoredAt"], "2026-11-03T10:00:00Z");
  EXPECT_EQ(restore[0]["value"], 23 * 3600.0);
  Json cfr = AskJson("metric=change_failure_rate&start_date=2026-11-02&interval=all&explain=1");
  ASSERT_EQ(cfr[0]["deployments"].size(), 2u);
  EXPECT_EQ(cfr[0]["deployments"][0]["id"], "p/1");
  EXPECT_EQ(cfr[0]["deployments"][0]["failure"], "verification failed");
  EXPECT_FALSE(cfr[0]["deployments"][1].contains("failure"));
}

}  // namespace
}  // namespace strake::server
