#include "pipeline/run_status.h"

#include <gtest/gtest.h>

#include "pipeline/test_run.h"

namespace strake::pipeline {
namespace {

const TimePoint kNow = FromUnixMillis(1'700'000'000'000);

const char* const kSpec = R"Y(tasks:
  - {name: a, taskSpec: {steps: [{script: 'true'}]}}
  - name: w
    when: [{input: x, operator: in, values: [y]}]
    taskSpec: {steps: [{script: 'true'}]}
  - {name: b, runAfter: [a], taskSpec: {steps: [{script: 'true'}]}}
finally:
  - {name: f, taskSpec: {steps: [{script: 'true'}]}}
results:
  - {name: out, value: "$(tasks.a.results.out)"}
  - {name: never, value: "$(tasks.w.results.out)"}
  - {name: both, value: ["$(tasks.a.results.out)", "fixed"]}
)Y";

TEST(RunStatus, ConditionsAreReadAsTektonWritesThem) {
  Json status = {{"conditions", Condition("False", "Failed", "it broke", kNow)}};
  EXPECT_EQ(status["conditions"][0]["type"], "Succeeded");
  EXPECT_EQ(status["conditions"][0]["lastTransitionTime"], FormatRfc3339(kNow));
  EXPECT_EQ(ConditionStatus(status), "False");
  EXPECT_EQ(ConditionReason(status), "Failed");
  EXPECT_EQ(ConditionStatus(Json::object()), "Unknown");
  EXPECT_EQ(ConditionReason(Json()), "");
}

TEST(RunStatus, SkippedTasksCarryTheirReasonAndWhenExpressionsOnlyForAWhenSkip) {
  RunState run = TestRun(kSpec);
  run.Set(false, 1, {TaskState::kSkipped, skip::kWhen});
  run.Set(false, 2, {TaskState::kSkipped, skip::kStopping});
  run.Set(true, 0, {TaskState::kSkipped, skip::kCancelled});
  Json skipped = SkippedTasks(run);
  ASSERT_EQ(skipped.size(), 3u) << skipped.dump(2);
  EXPECT_EQ(skipped[0]["name"], "w");
  EXPECT_EQ(skipped[0]["reason"], skip::kWhen);
  EXPECT_EQ(skipped[0]["whenExpressions"][0]["operator"], "in");
  EXPECT_EQ(skipped[0]["whenExpressions"][0]["values"][0], "y");
  EXPECT_EQ(skipped[1]["name"], "b");
  EXPECT_FALSE(skipped[1].contains("whenExpressions"));
  EXPECT_EQ(skipped[2]["name"], "f");
  EXPECT_EQ(skipped[2]["reason"], skip::kCancelled);
}

TEST(RunStatus, ChildReferencesNameEveryCreatedTaskRunTasksFirst) {
  RunState run = TestRun(kSpec);
  run.finally[0].children.push_back({"run-f", "uf", TaskState::kSucceeded, {}, true, ""});
  Succeed(run, 0);
  run.tasks[2].children.push_back({"run-b", "ub", TaskState::kRunning, {}, false, ""});
  Json refs = ChildReferences(run);
  ASSERT_EQ(refs.size(), 2u) << "run-b was never created";
  EXPECT_EQ(refs[0], Json({{"apiVersion", "tekton.dev/v1"},
                           {"kind", "TaskRun"},
                           {"name", "run-a"},
                           {"pipelineTaskName", "a"}}));
  EXPECT_EQ(refs[1]["name"], "run-f");
}

TEST(RunStatus, PipelineResultsLeaveOutThoseOfTasksThatGaveNone) {
  RunState run = TestRun(kSpec);
  Succeed(run, 0, {StringResult("out", "v1")});
  run.Set(false, 1, {TaskState::kSkipped, skip::kWhen});
  Json results = PipelineResults(run);
  ASSERT_EQ(results.size(), 2u) << results.dump(2);
  EXPECT_EQ(results[0], Json({{"name", "out"}, {"value", "v1"}}));
  EXPECT_EQ(results[1]["name"], "both");
  EXPECT_EQ(results[1]["value"], Json::array({"v1", "fixed"}));
}

TEST(RunStatus, TheOutcomeTellsFailuresToStartTimeoutsAndCancels) {
  RunState run = TestRun(kSpec);
  Succeed(run, 0);
  run.Set(false, 1, {TaskState::kSkipped, skip::kWhen});
  RunOutcome ok = FinalOutcome(run, {true, "Completed"});
  EXPECT_TRUE(ok.succeeded);
  EXPECT_EQ(ok.reason, "Completed");
  EXPECT_EQ(ok.message, "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 1");
  run.timeouts.pipeline = std::chrono::minutes(90);
  EXPECT_EQ(FinalOutcome(run, {false, "PipelineRunTimeout"}).message,
            "PipelineRun \"run\" failed to finish within \"1h30m0s\"");
  EXPECT_EQ(FinalOutcome(run, {false, "Cancelled"}).message, "PipelineRun \"run\" was cancelled");
  run.failure_reason = "ParameterMissing";
  run.failure_message = "missing value for param \"p\"";
  RunOutcome failed = FinalOutcome(run, {false, "Failed"});
  EXPECT_EQ(failed.reason, "ParameterMissing");
  EXPECT_EQ(failed.message, "missing value for param \"p\"");
}

TEST(RunStatus, TheStatusGainsAnOutcomeOnlyAtTheEnd) {
  RunState run = TestRun(kSpec);
  Succeed(run, 0, {StringResult("out", "v1")});
  run.finally_start_ms = 1'700'000'000'000;
  Json stored = {{"startTime", "kept"},
                 {"startTimeMs", 1'699'999'998'766},
                 {"skippedTasks", Json::array({{{"name", "old"}}})}};
  Json going = UpdatedStatus(stored, StatusUpdate(run, Plan{}, false), kNow);
  EXPECT_EQ(going["startTime"], "kept");
  EXPECT_EQ(going["skippedTasks"], Json::array());
  EXPECT_EQ(going["finallyStartTime"], FormatRfc3339(kNow));
  EXPECT_FALSE(going.contains("conditions"));
  EXPECT_FALSE(going.contains("childReferences"));
  EXPECT_FALSE(going.contains("durationMs"));
  Plan done;
  done.done = true;
  done.outcome = {true, "Succeeded"};
  Json end = UpdatedStatus(stored, StatusUpdate(run, done, true), kNow);
  EXPECT_EQ(ConditionStatus(end), "True");
  EXPECT_EQ(ConditionReason(end), "Succeeded");
  EXPECT_EQ(end["completionTime"], FormatRfc3339(kNow));
  EXPECT_EQ(end["durationMs"], 1234);  // shown as 1.234s, not as whole seconds
  EXPECT_EQ(end["childReferences"].size(), 1u);
  EXPECT_EQ(end["results"][0]["value"], "v1");
}

TEST(RunStatus, ATaskRunIsStoredWithTektonsLabelsOwnerAndRunningSteps) {
  NewTaskRun n;
  n.is_finally = true;
  n.matrix_index = 2;
  TaskRunJob& j = n.job;
  j.ns = "default";
  j.name = "run-build-2";
  j.uid = "u2";
  j.task_name = "compile";
  j.pipeline_run = "run";
  j.pipeline_run_uid = "run-uid";
  j.pipeline = "ci";
  j.pipeline_task = "build";
  j.retries = 1;
  j.timeout = std::chrono::minutes(5);
  j.params = {{"os", model::ParamValue::String("linux"), {}}};
  j.spec.steps.resize(2);
  j.spec.steps[0].name = "make";
  j.workspaces.push_back({"src", "/data/src", "", false, ""});
  store::Resource tr = TaskRunResource(n, kNow, [](const std::string& c) { return "/logs/" + c; });
  EXPECT_EQ(tr.key.name, "run-build-2");
  EXPECT_EQ(tr.uid, "u2");
  EXPECT_EQ(tr.owner, "run-uid");
  EXPECT_EQ(tr.labels,
            (std::map<std::string, std::string>{{"tekton.dev/pipelineRun", "run"},
                                                {"tekton.dev/pipelineTask", "build"},
                                                {"tekton.dev/memberOf", "finally"},
                                                {"app.kubernetes.io/managed-by", "strake"},
                                                {"tekton.dev/pipeline", "ci"},
                                                {"tekton.dev/task", "compile"},
                                                {"strake.dev/matrixIndex", "2"}}));
  EXPECT_EQ(tr.object["metadata"]["ownerReferences"][0]["uid"], "run-uid");
  EXPECT_EQ(tr.object["spec"]["timeout"], "5m0s");
  EXPECT_EQ(tr.object["spec"]["retries"], 1);
  EXPECT_EQ(tr.object["spec"]["params"][0]["value"], "linux");
  EXPECT_EQ(tr.object["spec"]["workspaces"][0]["name"], "src");
  EXPECT_EQ(ConditionReason(tr.status), "Running");
  ASSERT_EQ(tr.status["steps"].size(), 2u);
  EXPECT_EQ(tr.status["steps"][0]["container"], "step-make");
  EXPECT_EQ(tr.status["steps"][1]["container"], "step-unnamed-1");
  EXPECT_EQ(tr.status["steps"][1]["log"], "/logs/step-unnamed-1");
}

TEST(RunStatus, ATaskRunsEndListsStepsResultsRetriesAndIgnoredImages) {
  TaskRunOutcome o;
  o.succeeded = true;
  o.reason = "Succeeded";
  o.steps = {{"step-make", 0, "Completed", "", 1'700'000'000'000, 1'700'000'001'000}};
  o.logs = {{"step-make", "/logs/make"}};
  o.results = {StringResult("digest", "sha256:1")};
  o.cache_key = "k";
  Json retries = Json::array({RetryStatus(o, kNow, kNow)});
  o.ignored_images = {"alpine"};
  Json st = TaskRunFinalStatus(o, 1'699'999'999'000, 2000, retries, kNow);
  EXPECT_EQ(ConditionStatus(st), "True");
  EXPECT_EQ(st["steps"][0]["name"], "make");
  EXPECT_EQ(st["steps"][0]["terminated"]["reason"], "Completed");
  EXPECT_EQ(st["steps"][0]["log"], "/logs/make");
  EXPECT_EQ(st["results"][0],
            Json({{"name", "digest"}, {"type", "string"}, {"value", "sha256:1"}}));
  EXPECT_EQ(st["durationMs"], 2000);
  EXPECT_EQ(st["retriesStatus"].size(), 1u);
  EXPECT_EQ(st["cacheKey"], "k");
  EXPECT_EQ(st["strake"]["ignoredImages"], Json::array({"alpine"}));
  o.ignored_images.clear();
  EXPECT_FALSE(TaskRunFinalStatus(o, 0, 0, Json::array(), kNow).contains("strake"));
  EXPECT_FALSE(TaskRunFinalStatus(o, 0, 0, Json::array(), kNow).contains("retriesStatus"));
  Json retrying = RetryingStatus(o, retries, kNow);
  EXPECT_EQ(ConditionStatus(retrying), "Unknown");
  EXPECT_EQ(retrying["retriesStatus"].size(), 1u);
}

}  // namespace
}  // namespace strake::pipeline
