#include "server/cronjobs.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

using namespace std::chrono_literals;
using store::Json;

class CronJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("cronjobs");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st);
    store_ = std::move(*st);
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  // A CronJob made at 10:00:30 UTC on 2026-12-05.
  void Create(const std::string& name, const Json& spec_extra) {
    created_ms_ = UnixMillis(clock_.Now());
    Json spec = {
        {"schedule", "*/5 * * * *"},
        {"timeZone", "UTC"},
        {"jobTemplate",
         {{"metadata", {{"labels", {{"app", "report"}}}}},
          {"spec",
           {{"template",
             {{"spec",
               {{"restartPolicy", "Never"},
                {"containers",
                 Json::array(
                     {{{"name", "main"}, {"image", "busybox"}, {"command", {"true"}}}})}}}}}}}}}};
    spec.update(spec_extra);
    store::Resource r;
    r.key = {"CronJob", "default", name};
    r.created_ms = created_ms_;
    r.object = {
        {"apiVersion", "batch/v1"},
        {"kind", "CronJob"},
        {"metadata",
         {{"name", name}, {"namespace", "default"}, {"creationTimestamp", "2026-12-05T10:00:30Z"}}},
        {"spec", spec}};
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  std::vector<store::Resource> Jobs(const std::string& cron) {
    auto got = store_->Get({"CronJob", "default", cron});
    auto jobs = store_->List("Job", "default", (*got)->uid);
    EXPECT_TRUE(jobs);
    return jobs ? *jobs : std::vector<store::Resource>{};
  }
  Json Status(const std::string& cron) {
    return (*store_->Get({"CronJob", "default", cron}))->status;
  }
  void Finish(const store::Resource& job, const char* type) {
    Json st = {{"conditions", Json::array({{{"type", type}, {"status", "True"}}})},
               {"completionTime", "2026-12-05T10:06:00Z"}};
    ASSERT_TRUE(store_->UpdateStatus(job.key, st, job.resource_version, type, ""));
  }

  int64_t created_ms_ = 0;
  std::string dir_;
  FakeClock clock_{*ParseRfc3339("2026-12-05T10:00:30Z")};
  store::StorePtr store_;
};

// At each time of its schedule a Job, named by the time, owned, with the
// template's labels; a reconcile between times makes none; the status says
// when and which run.
TEST_F(CronJobsTest, EachScheduledTimeMakesOneJob) {
  Create("report", Json::object());
  CronJobReconciler crons(*store_, clock_);
  auto r = crons.Reconcile("default/report");
  ASSERT_TRUE(r);
  EXPECT_TRUE(Jobs("report").empty());
  ASSERT_TRUE(r->requeue_after);
  EXPECT_LE(*r->requeue_after, 270'050ms) << "wakes at 10:05";
  clock_.Advance(270s);  // 10:05:00
  ASSERT_TRUE(crons.Reconcile("default/report"));
  ASSERT_TRUE(crons.Reconcile("default/report"));  // again: no second Job
  auto jobs = Jobs("report");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].key.name, "report-29941085");  // minutes since the epoch of 10:05
  EXPECT_EQ(jobs[0].labels.at("app"), "report");
  EXPECT_EQ(jobs[0].object["metadata"]["ownerReferences"][0]["kind"], "CronJob");
  Json st = Status("report");
  EXPECT_EQ(st["lastScheduleTime"], "2026-12-05T10:05:00Z");
  ASSERT_EQ(st["active"].size(), 1u);
  EXPECT_EQ(st["active"][0]["name"], "report-29941085");
  // Done: no longer active; its completion is the last success.
  Finish(jobs[0], "Complete");
  ASSERT_TRUE(crons.Reconcile("default/report"));
  st = Status("report");
  EXPECT_TRUE(st["active"].empty());
  EXPECT_EQ(st["lastSuccessfulTime"], "2026-12-05T10:06:00Z");
}

// A server killed after making the Job and before its status: the same time
// finds the same Job, and no second one is made.
TEST_F(CronJobsTest, ATimeRunsOnceWhateverTheStatusSays) {
  Create("report", Json::object());
  CronJobReconciler crons(*store_, clock_);
  clock_.Advance(270s);
  ASSERT_TRUE(crons.Reconcile("default/report"));
  auto got = *store_->Get({"CronJob", "default", "report"});
  ASSERT_TRUE(store_->UpdateStatus(got->key, Json::object(), got->resource_version, "Lost", ""));
  ASSERT_TRUE(crons.Reconcile("default/report"));
  EXPECT_EQ(Jobs("report").size(), 1u);
  EXPECT_EQ(Status("report")["lastScheduleTime"], "2026-12-05T10:05:00Z");
}

// The same with Replace and Forbid, whose Job of that time is running or
// done (and gone from the history): it is recorded, not made again.
TEST_F(CronJobsTest, ATimeRunsOnceUnderReplaceAndForbidToo) {
  Create("replace", {{"concurrencyPolicy", "Replace"}});
  Create("forbid", {{"concurrencyPolicy", "Forbid"}, {"successfulJobsHistoryLimit", 0}});
  CronJobReconciler crons(*store_, clock_);
  clock_.Advance(270s);
  for (const char* c : {"replace", "forbid"}) {
    std::string key = std::string("default/") + c;
    ASSERT_TRUE(crons.Reconcile(key));
    auto job = Jobs(c).at(0);
    if (std::string(c) == "forbid") Finish(job, "Complete");
    auto got = *store_->Get({"CronJob", "default", c});
    ASSERT_TRUE(store_->UpdateStatus(got->key, Json::object(), got->resource_version, "Lost", ""));
    ASSERT_TRUE(crons.Reconcile(key));
    ASSERT_TRUE(crons.Reconcile(key));
    EXPECT_EQ(Status(c)["lastScheduleTime"], "2026-12-05T10:05:00Z") << c;
    auto jobs = Jobs(c);
    if (std::string(c) == "replace") {
      ASSERT_EQ(jobs.size(), 1u);
      EXPECT_EQ(jobs[0].uid, job.uid) << "the running Job is not replaced by itself";
    }
  }
  // Forbid's done Job went with its history (limit 0): not made again.
  EXPECT_TRUE(Jobs("forbid").empty());
}

// After a pause only the latest missed time runs, and none past
// startingDeadlineSeconds.
TEST_F(CronJobsTest, MissedTimesRunOnceAndNotPastTheirDeadline) {
  Create("late", Json::object());
  Create("strict", {{"startingDeadlineSeconds", 60}});
  CronJobReconciler crons(*store_, clock_);
  clock_.Advance(std::chrono::minutes(32));  // 10:32:30: six times missed
  ASSERT_TRUE(crons.Reconcile("default/late"));
  ASSERT_TRUE(crons.Reconcile("default/strict"));
  auto jobs = Jobs("late");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(
      jobs[0].object["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
      "2026-12-05T10:30:00Z");
  EXPECT_TRUE(Jobs("strict").empty()) << "10:30 is 150 s past, its deadline 60 s";
}

// Forbid skips a time while a Job runs; Replace deletes the running one;
// suspend makes none; finished Jobs beyond the history limits go.
TEST_F(CronJobsTest, ConcurrencySuspendAndHistory) {
  Create("forbid", {{"concurrencyPolicy", "Forbid"}});
  Create("replace", {{"concurrencyPolicy", "Replace"}});
  Create("paused", {{"suspend", true}});
  Create("history", {{"successfulJobsHistoryLimit", 1}});
  CronJobReconciler crons(*store_, clock_);
  clock_.Advance(270s);  // 10:05
  for (const char* c : {"forbid", "replace", "paused", "history"})
    ASSERT_TRUE(crons.Reconcile(std::string("default/") + c));
  EXPECT_TRUE(Jobs("paused").empty());
  for (const auto& j : Jobs("history")) Finish(j, "Complete");
  clock_.Advance(300s);  // 10:10: the 10:05 Jobs still run
  for (const char* c : {"forbid", "replace", "history"})
    ASSERT_TRUE(crons.Reconcile(std::string("default/") + c));
  EXPECT_EQ(Jobs("forbid").size(), 1u);
  EXPECT_EQ(Status("forbid")["lastScheduleTime"], "2026-12-05T10:05:00Z");
  auto replaced = Jobs("replace");
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(replaced[0].key.name, "replace-29941090");
  for (const auto& j : Jobs("history")) Finish(j, "Complete");
  ASSERT_TRUE(crons.Reconcile("default/history"));
  auto kept = Jobs("history");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].key.name, "history-29941090");
}

}  // namespace
}  // namespace strake::server
