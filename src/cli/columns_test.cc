#include "cli/columns.h"

#include <gtest/gtest.h>

#include "cli/table.h"

namespace strake::cli {
namespace {

TimePoint At(const std::string& rfc3339) { return *ParseRfc3339(rfc3339); }

TEST(Columns, ARunShowsWhenItStartedHowLongItTookAndItsReason) {
  const model::KindInfo& k = *model::KindByName("pipelinerun");
  EXPECT_EQ(Header(k), (std::vector<std::string>{"NAME", "STARTED", "DURATION", "STATUS"}));
  Json done = Json::parse(R"({"metadata":{"name":"build-1"},
    "status":{"startTime":"2026-01-02T10:00:00Z","completionTime":"2026-01-02T10:01:05Z",
              "conditions":[{"type":"Succeeded","status":"True","reason":"Succeeded"}]}})");
  EXPECT_EQ(Row(k, done, At("2026-01-02T11:00:00Z")),
            (std::vector<std::string>{"build-1", "2026-01-02T10:00:00Z", "1m5s", "Succeeded"}));
  Json running = Json::parse(R"({"metadata":{"name":"build-2"},
    "status":{"startTime":"2026-01-02T10:00:00Z",
              "conditions":[{"status":"Unknown","reason":"Running","message":"1 of 3"}]}})");
  auto row = Row(k, running, At("2026-01-02T10:00:30Z"));
  EXPECT_EQ(row[2], "30.0s") << "until now";
  EXPECT_EQ(row[3], "Running");
  EXPECT_EQ(RunConditionStatus(running["status"]), "Unknown");
  EXPECT_EQ(RunMessage(running["status"]), "1 of 3");
}

TEST(Columns, AMissingPartShowsAsUnknownNotAsACrash) {
  const model::KindInfo& k = *model::KindByName("taskrun");
  Json bare = Json::parse(R"({"metadata":{"name":"t"}})");
  EXPECT_EQ(Row(k, bare, At("2026-01-02T10:00:00Z")),
            (std::vector<std::string>{"t", "", "---", "Unknown"}));
  EXPECT_EQ(RunReason(Json()), "Unknown");
  const model::KindInfo& ro = *model::KindByName("rollout");
  EXPECT_EQ(Row(ro, bare, At("2026-01-02T10:00:00Z")).size(), Header(ro).size());
}

// As kubectl shows a pod: ready containers, a waiting or terminated
// container's reason (else the phase), restarts.
TEST(Columns, APodShowsWhatKubectlShows) {
  const model::KindInfo& k = *model::KindByName("po");
  EXPECT_EQ(Header(k),
            (std::vector<std::string>{"NAME", "READY", "STATUS", "RESTARTS", "CREATED"}));
  Json crashing = Json::parse(R"({"metadata":{"name":"web","creationTimestamp":"T"},
    "spec":{"containers":[{"name":"main"}]},
    "status":{"phase":"Running","containerStatuses":[{"ready":false,"restartCount":3,
      "state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}})");
  EXPECT_EQ(Row(k, crashing, At("2026-01-02T10:00:00Z")),
            (std::vector<std::string>{"web", "0/1", "CrashLoopBackOff", "3", "T"}));
  Json running = Json::parse(R"({"metadata":{"name":"web"},"spec":{"containers":[{}]},
    "status":{"phase":"Running","containerStatuses":[{"ready":true,"state":{"running":{}}}]}})");
  EXPECT_EQ(Row(k, running, At("2026-01-02T10:00:00Z"))[2], "Running");
  EXPECT_EQ(Row(k, running, At("2026-01-02T10:00:00Z"))[1], "1/1");
  Json bare = Json::parse(R"({"metadata":{"name":"new"}})");
  EXPECT_EQ(Row(k, bare, At("2026-01-02T10:00:00Z"))[2], "Pending");
}

TEST(Columns, EveryOtherKindShowsItsNameAndCreationTime) {
  const model::KindInfo& k = *model::KindByName("configmap");
  Json cm =
      Json::parse(R"({"metadata":{"name":"settings","creationTimestamp":"2026-01-02T10:00:00Z"}})");
  EXPECT_EQ(Header(k), (std::vector<std::string>{"NAME", "CREATED"}));
  EXPECT_EQ(Row(k, cm, At("2026-01-02T10:00:00Z")),
            (std::vector<std::string>{"settings", "2026-01-02T10:00:00Z"}));
}

// An Incident: open or closed, and the deployment it failed.
TEST(Columns, AnIncidentShowsWhatItFailed) {
  const model::KindInfo& k = *model::KindByName("incident");
  EXPECT_EQ(Header(k),
            (std::vector<std::string>{"NAME", "PHASE", "OPENED", "CLOSED", "DEPLOYMENT", "TITLE"}));
  Json linked = Json::parse(R"({"metadata":{"name":"down"},"spec":{"title":"500s"},
    "status":{"phase":"Closed","openedAt":"2026-12-07T06:00:00Z","closedAt":"2026-12-07T07:00:00Z",
              "deployment":"Application/shop/web#3"}})");
  EXPECT_EQ(Row(k, linked, At("2026-12-07T08:00:00Z")),
            (std::vector<std::string>{"down", "Closed", "2026-12-07T06:00:00Z",
                                      "2026-12-07T07:00:00Z", "Application/shop/web#3", "500s"}));
  Json fresh = Json::parse(
      R"({"metadata":{"name":"new"},"spec":{"title":"t","openedAt":"2026-12-07T06:00:00Z"}})");
  EXPECT_EQ(Row(k, fresh, At("2026-12-07T08:00:00Z")),
            (std::vector<std::string>{"new", "Open", "2026-12-07T06:00:00Z", "-", "-", "t"}));
}

// An Attestation: the run it signs, what it built, the key.
TEST(Columns, AnAttestationShowsItsRunSubjectsAndKey) {
  const model::KindInfo& k = *model::KindByName("att");
  EXPECT_EQ(Header(k), (std::vector<std::string>{"NAME", "RUN", "SUBJECTS", "KEY", "CREATED"}));
  Json att = Json::parse(R"({"metadata":{"name":"pipelinerun-u1","creationTimestamp":"T"},
    "spec":{"run":{"kind":"PipelineRun","name":"build-7"},"keyID":"ea6e392b40d8f211f776",
            "subjects":[{"name":"reg/web","digest":"sha256:a"},{"name":"x","digest":"sha256:b"}]}})");
  EXPECT_EQ(Row(k, att, At("2026-12-07T08:00:00Z")),
            (std::vector<std::string>{"pipelinerun-u1", "PipelineRun/build-7", "reg/web (+1)",
                                      "ea6e392b40d8f211", "T"}));
  Json none = Json::parse(R"({"metadata":{"name":"taskrun-u2"},
    "spec":{"run":{"kind":"TaskRun","name":"t"},"subjects":[]}})");
  EXPECT_EQ(Row(k, none, At("2026-12-07T08:00:00Z"))[2], "-");
}

// A Stage: its Freight, its last Promotion, and its promotion windows.
TEST(Columns, AStageShowsItsFreightPromotionAndWindow) {
  const model::KindInfo& k = *model::KindByName("stage");
  EXPECT_EQ(Header(k),
            (std::vector<std::string>{"NAME", "FREIGHT", "PROMOTION", "PHASE", "WINDOW"}));
  Json frozen = Json::parse(R"({"metadata":{"name":"prod"},"status":{"freightSummary":"abc",
    "lastPromotion":{"name":"prod.x.abc","status":{"phase":"Succeeded"}},
    "promotionWindowStatus":{"closed":true,"reason":"window freeze closed until T",
                             "nextOpen":"2027-01-04T09:00:00Z"}}})");
  EXPECT_EQ(Row(k, frozen, At("2026-01-02T10:00:00Z")),
            (std::vector<std::string>{"prod", "abc", "prod.x.abc", "Succeeded",
                                      "closed until 2027-01-04T09:00:00Z"}));
  Json open = Json::parse(R"({"metadata":{"name":"dev"},"status":{
    "promotionWindowStatus":{"closed":false}}})");
  EXPECT_EQ(Row(k, open, At("2026-01-02T10:00:00Z"))[4], "open");
  Json none = Json::parse(R"({"metadata":{"name":"qa"}})");
  EXPECT_EQ(Row(k, none, At("2026-01-02T10:00:00Z"))[4], "");
  Json stopped = Json::parse(R"({"metadata":{"name":"qa"},"status":{
    "promotionWindowStatus":{"closed":false},
    "stopTheLine":[{"source":"ClusterConfig","reason":"region down"}]}})");
  EXPECT_EQ(Row(k, stopped, At("2026-01-02T10:00:00Z"))[4], "line stopped: region down");
}

// `get -w`: a row printed later lines up under the first table, and a
// wider one widens its column for the rows after it.
TEST(TableColumnsTest, LaterRowsLineUpUnderTheFirstTable) {
  std::vector<std::vector<std::string>> first{{"NAME", "STATUS"}, {"a-long-name", "Running"}};
  EXPECT_EQ(TableText(first), "NAME          STATUS\na-long-name   Running\n");
  TableColumns columns;
  for (const auto& row : first) columns.Widen(row);
  EXPECT_EQ(columns.Line({"b", "Succeeded"}), "b             Succeeded\n");
  EXPECT_EQ(columns.Line({"an-even-longer-name", "Failed"}), "an-even-longer-name   Failed\n");
  EXPECT_EQ(columns.Line({"c", ""}), "c\n");
  EXPECT_EQ(columns.Line({"c", "x"}), "c                     x\n");
}

}  // namespace
}  // namespace strake::cli
