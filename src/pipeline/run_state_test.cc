#include "pipeline/run_state.h"

#include <gtest/gtest.h>

#include "pipeline/test_run.h"

namespace strake::pipeline {
namespace {

using model::Millis;
using std::chrono::minutes;

constexpr int64_t kMinute = 60'000;

const char* const kChain = R"(tasks:
  - {name: a, taskSpec: {steps: [{script: 'true'}]}}
  - {name: b, runAfter: [a], taskSpec: {steps: [{script: 'true'}]}}
finally:
  - {name: f, taskSpec: {steps: [{script: 'true'}]}}
)";

TEST(RunState, AStartedTaskRunsUntilEveryTaskRunIsCreatedAndDone) {
  PipelineTaskState t;
  t.facts.state = TaskState::kPending;
  EXPECT_EQ(Aggregate(t), TaskState::kPending) << "not started: its own facts";
  t.started = true;
  t.combos = {{}, {}};
  t.children.resize(2);
  t.children[0] = {"x-0", "u0", TaskState::kSucceeded, {}, true, ""};
  EXPECT_EQ(Aggregate(t), TaskState::kRunning) << "one TaskRun is still to be created";
  t.children[1] = {"x-1", "u1", TaskState::kFailed, {}, true, ""};
  EXPECT_EQ(Aggregate(t), TaskState::kFailed);
  t.children[0].state = TaskState::kCancelled;
  EXPECT_EQ(Aggregate(t), TaskState::kCancelled) << "a cancel outweighs a failure";
  t.children[1].state = TaskState::kRunning;
  EXPECT_EQ(Aggregate(t), TaskState::kRunning);
}

TEST(RunState, SetKeepsThePlannersCountsInStep) {
  RunState run = TestRun(kChain);
  EXPECT_EQ(run.pending, 2u);
  EXPECT_EQ(run.unfinished, 2u);
  run.Set(false, 0, {TaskState::kRunning, {}});
  EXPECT_EQ(run.pending, 1u);
  EXPECT_EQ(run.unfinished, 2u);
  run.Set(false, 0, {TaskState::kSucceeded, {}});
  run.Set(false, 1, {TaskState::kSkipped, skip::kStopping});
  EXPECT_EQ(run.pending, 0u);
  EXPECT_EQ(run.unfinished, 0u);
  EXPECT_EQ(run.facts.tasks[1].skip_reason, skip::kStopping);
  run.Set(true, 0, {TaskState::kRunning, {}});
  EXPECT_EQ(run.facts.finally[0].state, TaskState::kRunning);
  EXPECT_EQ(run.unfinished, 0u) << "finally tasks are not counted";
}

TEST(RunState, ABadGraphIsAnError) {
  RunState run;
  run.spec.tasks.resize(1);
  run.spec.tasks[0].name = "a";
  run.spec.tasks[0].run_after = {"a"};
  EXPECT_FALSE(BuildGraph(run));
}

TEST(RunState, ParamsComeFromTheRunOrTheirDefaultsWithTheirTypes) {
  RunState run = TestRun(R"(params:
  - {name: env, default: dev}
  - {name: flags, type: array, default: []}
tasks: [{name: a, taskSpec: {steps: [{script: 'true'}]}}]
)");
  BindParams(run, {{"env", model::ParamValue::String("prod"), {}}});
  EXPECT_EQ(run.params["env"].str, "prod");
  EXPECT_EQ(run.params["flags"].type, model::ParamType::kArray);
  EXPECT_EQ(run.failure_reason, "");
  BindParams(run, {{"flags", model::ParamValue::String("-v"), {}}});
  EXPECT_EQ(run.failure_reason, "ParameterTypeMismatch");
  EXPECT_EQ(run.failure_message, "param \"flags\" is of type array but was given a string");
  RunState bare = TestRun(R"(params: [{name: p}]
tasks: [{name: a, taskSpec: {steps: [{script: 'true'}]}}]
)");
  BindParams(bare, {});
  EXPECT_EQ(bare.failure_reason, "ParameterMissing");
  EXPECT_NE(bare.failure_message.find("pass --param p=VALUE"), std::string::npos);
}

TEST(RunState, DeadlinesFlagWhatHasPassedAndSayWhenTheNextFalls) {
  RunState run = TestRun(kChain);
  run.timeouts.pipeline = minutes(10);
  run.timeouts.tasks = minutes(5);
  run.timeouts.finally = minutes(2);
  EXPECT_EQ(CheckDeadlines(run, run.start_ms), run.start_ms + 5 * kMinute);
  EXPECT_FALSE(run.facts.tasks_timed_out);
  EXPECT_EQ(CheckDeadlines(run, run.start_ms + 6 * kMinute), run.start_ms + 10 * kMinute);
  EXPECT_TRUE(run.facts.tasks_timed_out);
  EXPECT_FALSE(run.facts.pipeline_timed_out);
  run.finally_start_ms = run.start_ms + 6 * kMinute;
  EXPECT_EQ(CheckDeadlines(run, run.start_ms + 7 * kMinute), run.start_ms + 8 * kMinute);
  EXPECT_EQ(CheckDeadlines(run, run.start_ms + 11 * kMinute), std::nullopt);
  EXPECT_TRUE(run.facts.pipeline_timed_out);
  EXPECT_TRUE(run.facts.finally_timed_out);
  // A zero budget is no budget; cancel and a failure to start are copied over.
  run.timeouts = {};
  run.timeouts.pipeline = Millis(0);
  run.cancel = CancelMode::kStoppedRunFinally;
  run.failure_reason = "InvalidTaskResultReference";
  EXPECT_EQ(CheckDeadlines(run, run.start_ms + 100 * kMinute), std::nullopt);
  EXPECT_FALSE(run.facts.pipeline_timed_out);
  EXPECT_EQ(run.facts.cancel, CancelMode::kStoppedRunFinally);
  EXPECT_TRUE(run.facts.failed_to_start);
}

TEST(RunState, QuietOnlyWhileTasksRunAndNothingIsPendingOrStopping) {
  RunState run = TestRun(kChain);
  EXPECT_FALSE(Quiet(run)) << "tasks are pending";
  run.Set(false, 0, {TaskState::kRunning, {}});
  run.Set(false, 1, {TaskState::kRunning, {}});
  EXPECT_TRUE(Quiet(run));
  run.facts.cancel = CancelMode::kCancelled;
  EXPECT_FALSE(Quiet(run));
  run.facts.cancel = CancelMode::kNone;
  run.facts.tasks_timed_out = true;
  EXPECT_FALSE(Quiet(run));
  run.facts.tasks_timed_out = false;
  run.Set(false, 0, {TaskState::kSucceeded, {}});
  run.Set(false, 1, {TaskState::kSucceeded, {}});
  EXPECT_FALSE(Quiet(run)) << "everything finished: finally is to plan";
}

TEST(RunState, CarryingAPlanOutSkipsAndStartsTasks) {
  RunState run = TestRun(R"(tasks:
  - {name: a, taskSpec: {steps: [{script: 'true'}]}}
  - name: w
    when: [{input: x, operator: in, values: [y]}]
    taskSpec: {steps: [{script: 'true'}]}
  - {name: b, runAfter: [a], taskSpec: {steps: [{script: 'true'}]}}
)");
  PlanStep step = ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  EXPECT_EQ(run.tasks[0].facts.state, TaskState::kRunning);
  EXPECT_TRUE(run.tasks[0].started);
  EXPECT_EQ(run.tasks[1].facts.state, TaskState::kSkipped);
  EXPECT_EQ(run.tasks[1].facts.skip_reason, skip::kWhen);
  EXPECT_EQ(run.tasks[2].facts.state, TaskState::kPending);
  EXPECT_EQ(step.skipped, (std::vector<TaskRef>{{false, 1}}));
  EXPECT_TRUE(step.status_dirty);
  EXPECT_TRUE(step.progressed);
  EXPECT_EQ(run.creating, (std::deque<TaskRef>{{false, 0}}));
  EXPECT_FALSE(run.finally_start_ms);
}

TEST(RunState, AResultThatWasNotProducedFailsTheRunAtStart) {
  RunState run = TestRun(R"(tasks:
  - {name: a, taskSpec: {steps: [{script: 'true'}]}}
  - name: b
    params: [{name: v, value: $(tasks.a.results.out)}]
    taskSpec: {params: [{name: v}], steps: [{script: 'true'}]}
)");
  Succeed(run, 0);
  PlanStep step = ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  EXPECT_EQ(run.failure_reason, "InvalidTaskResultReference");
  EXPECT_EQ(run.tasks[1].facts.state, TaskState::kFailed);
  EXPECT_TRUE(step.status_dirty);
  EXPECT_TRUE(run.creating.empty());
}

TEST(RunState, FinallyStartsOnceWithItsStartTime) {
  RunState run = TestRun(kChain);
  Succeed(run, 0);
  Succeed(run, 1);
  ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms + 5);
  EXPECT_EQ(run.finally_start_ms, run.start_ms + 5);
  EXPECT_TRUE(run.finally[0].started);
  PlanStep again = ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms + 9);
  EXPECT_EQ(run.finally_start_ms, run.start_ms + 5);
  EXPECT_FALSE(again.status_dirty);
}

TEST(RunState, TaskRunsAreTakenInStartOrderUpToTheSlots) {
  RunState run = TestRun(R"(tasks:
  - name: m
    params: [{name: os, value: none}, {name: g, value: hi}]
    matrix: {params: [{name: os, value: [linux, mac, win]}]}
    taskSpec: {params: [{name: os}, {name: g}], steps: [{script: 'true'}]}
  - {name: s, retries: 2, taskSpec: {steps: [{script: 'true'}]}}
)");
  ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  auto first = NextTaskRuns(run, 2, run.start_ms);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].job.name, "run-m-0");
  EXPECT_EQ(first[1].job.name, "run-m-1");
  EXPECT_EQ(first[1].matrix_index, 1);
  EXPECT_EQ(first[1].child, 1u);
  EXPECT_EQ(first[1].job.params.size(), 2u) << "the combination's os replaces the task's";
  EXPECT_EQ(first[1].job.params[0].value.str, "mac");
  EXPECT_EQ(first[1].job.params[1].value.str, "hi");
  EXPECT_FALSE(first[0].job.uid.empty());
  EXPECT_NE(first[0].job.uid, first[1].job.uid);
  EXPECT_EQ(run.tasks[0].children[1].state, TaskState::kRunning);
  auto rest = NextTaskRuns(run, 5, run.start_ms);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].job.name, "run-m-2");
  EXPECT_EQ(rest[1].job.name, "run-s");
  EXPECT_EQ(rest[1].matrix_index, -1);
  EXPECT_EQ(rest[1].job.retries, 2);
  EXPECT_EQ(rest[1].job.pipeline_run_uid, "run-uid");
  EXPECT_TRUE(run.creating.empty());
  EXPECT_TRUE(NextTaskRuns(run, 5, run.start_ms).empty());
}

TEST(RunState, TaskRunsDoneBeforeACrashAreNotTakenAndRunningOnesRecover) {
  RunState run = TestRun(R"(tasks:
  - name: m
    matrix: {params: [{name: os, value: [linux, mac]}]}
    taskSpec: {params: [{name: os}], steps: [{script: 'true'}]}
)");
  store::Resource done;
  done.key = {"TaskRun", "default", "run-m-0"};
  done.uid = "u0";
  done.labels = {{"tekton.dev/pipelineTask", "m"}, {"strake.dev/matrixIndex", "0"}};
  done.status = {{"conditions", {{{"status", "True"}, {"reason", "Succeeded"}}}}};
  store::Resource running = done;
  running.key.name = "run-m-1";
  running.uid = "u1";
  running.labels["strake.dev/matrixIndex"] = "1";
  running.status["conditions"][0]["status"] = "Unknown";
  EXPECT_EQ(RestoreChild(run, done), "");
  EXPECT_EQ(RestoreChild(run, running), "u1");
  ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  auto next = NextTaskRuns(run, 5, run.start_ms);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].job.name, "run-m-1");
  EXPECT_EQ(next[0].job.uid, "u1") << "the TaskRun keeps its uid";
  EXPECT_TRUE(next[0].recovering);
}

TEST(RunState, ATaskRunsTimeoutIsItsOwnWithinWhatIsLeftOfTheRuns) {
  RunState run = TestRun(R"(tasks:
  - {name: a, timeout: 5m, taskSpec: {steps: [{script: 'true'}]}}
  - {name: b, taskSpec: {steps: [{script: 'true'}]}}
finally:
  - {name: f, timeout: 1h, taskSpec: {steps: [{script: 'true'}]}}
)");
  const int64_t t0 = run.start_ms;
  EXPECT_EQ(TaskRunTimeout(run, false, 0, t0), Millis(minutes(5))) << "no budget: its own";
  run.timeouts.pipeline = kDefaultTimeout;
  EXPECT_EQ(TaskRunTimeout(run, false, 0, t0), Millis(minutes(5)));
  EXPECT_EQ(TaskRunTimeout(run, false, 1, t0 + 50 * kMinute), Millis(minutes(10)));
  run.timeouts.tasks = minutes(20);
  EXPECT_EQ(TaskRunTimeout(run, false, 1, t0 + 18 * kMinute), Millis(minutes(2)));
  EXPECT_EQ(TaskRunTimeout(run, false, 1, t0 + 30 * kMinute), Millis(0)) << "spent";
  run.timeouts.finally = minutes(3);
  run.finally_start_ms = t0 + 30 * kMinute;
  EXPECT_EQ(TaskRunTimeout(run, true, 0, t0 + 31 * kMinute), Millis(minutes(2)));
  run.timeouts = {};
  run.spec.tasks[1].timeout = Millis(0);
  EXPECT_EQ(TaskRunTimeout(run, false, 1, t0), kDefaultTimeout)
      << "no pipeline timeout and none of its own: Tekton's default";
}

TEST(RunState, AJobMountsTheRunsWorkspacesAsBound) {
  RunState run = TestRun(R"(workspaces: [{name: src}, {name: cfg}, {name: cache}]
tasks:
  - name: a
    workspaces:
      - {name: source, workspace: src, subPath: app}
      - {name: config, workspace: cfg}
      - {name: cache, workspace: cache}
    taskSpec:
      workspaces: [{name: source}, {name: config}, {name: cache, readOnly: true}]
      steps: [{script: 'true'}]
)");
  run.workspace_paths = {{"src", "/data/volumes/default/pvc"}, {"cfg", "/data/cm"}, {"cache", ""}};
  run.workspace_sub_paths = {{"src", "run-1"}};
  run.workspace_claims = {{"src", "pvc"}};
  run.read_only_workspaces = {"cfg"};
  ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  auto next = NextTaskRuns(run, 1, run.start_ms);
  ASSERT_EQ(next.size(), 1u);
  const auto& ws = next[0].job.workspaces;
  ASSERT_EQ(ws.size(), 3u);
  EXPECT_EQ(ws[0].host_path, "/data/volumes/default/pvc");
  EXPECT_EQ(ws[0].sub_path, "run-1/app");
  EXPECT_EQ(ws[0].claim, "pvc");
  EXPECT_FALSE(ws[0].read_only);
  EXPECT_TRUE(ws[1].read_only) << "the binding is read-only";
  EXPECT_EQ(ws[2].host_path, "") << "an unbound optional workspace";
  EXPECT_TRUE(ws[2].read_only) << "the task declares it read-only";
}

TEST(RunState, StoppingATaskListUnstartsTasksWithNoTaskRunCreated) {
  RunState run = TestRun(R"(tasks:
  - name: m
    matrix: {params: [{name: os, value: [linux, mac]}]}
    taskSpec: {params: [{name: os}], steps: [{script: 'true'}]}
  - {name: s, taskSpec: {steps: [{script: 'true'}]}}
)");
  ApplyPlan(run, MakePlan(run.dag, run.facts), run.start_ms);
  auto taken = NextTaskRuns(run, 1, run.start_ms);
  ASSERT_EQ(taken.size(), 1u);
  run.tasks[0].children[0].created = true;
  EXPECT_TRUE(StopCreating(run, false));
  EXPECT_EQ(run.tasks[0].combos.size(), 1u) << "its second TaskRun will never be created";
  EXPECT_TRUE(run.tasks[0].started);
  EXPECT_FALSE(run.tasks[1].started) << "none of its TaskRuns was created";
  EXPECT_EQ(run.tasks[1].facts.state, TaskState::kPending);
  EXPECT_EQ(run.pending, 1u);
  RefreshFacts(run);
  EXPECT_EQ(run.tasks[0].facts.state, TaskState::kRunning);
  EXPECT_EQ(run.facts.tasks[1].state, TaskState::kPending);
  EXPECT_FALSE(StopCreating(run, false));
}

TEST(RunState, RestoringPlacesTaskRunsAndSkipsWhereTheyWere) {
  RunState run = TestRun(kChain);
  store::Resource tr;
  tr.key = {"TaskRun", "default", "run-f"};
  tr.uid = "uf";
  tr.labels = {{"tekton.dev/pipelineTask", "f"}, {"tekton.dev/memberOf", "finally"}};
  tr.status = {{"conditions", {{{"status", "False"}, {"reason", "TaskRunCancelled"}}}}};
  EXPECT_EQ(RestoreChild(run, tr), "");
  EXPECT_EQ(run.finally[0].children[0].state, TaskState::kCancelled);
  tr.labels = {{"tekton.dev/pipelineTask", "a"}};
  tr.key.name = "run-a";
  tr.status = {{"conditions", {{{"status", "True"}}}},
               {"results", {{{"name", "out"}, {"value", "x"}}}}};
  EXPECT_EQ(RestoreChild(run, tr), "");
  ASSERT_EQ(run.tasks[0].children[0].results.size(), 1u);
  EXPECT_EQ(run.tasks[0].children[0].results[0].value.str, "x");
  EXPECT_TRUE(run.recover.empty());
  tr.labels["tekton.dev/pipelineTask"] = "gone";
  EXPECT_EQ(RestoreChild(run, tr), "") << "a task the spec no longer has";

  RestoreSkipped(run, Json::array({{{"name", "b"}, {"reason", skip::kStopping}},
                                   {{"name", "f"}, {"reason", skip::kCancelled}}}));
  EXPECT_EQ(run.tasks[1].facts.state, TaskState::kSkipped);
  EXPECT_EQ(run.tasks[1].facts.skip_reason, skip::kStopping);
  EXPECT_EQ(run.finally[0].facts.skip_reason, skip::kCancelled);
}

TEST(RunState, TaskRunNamesStayWithinKubernetesLimits) {
  EXPECT_EQ(TaskRunName("run", "build", -1), "run-build");
  EXPECT_EQ(TaskRunName("run", "build", 3), "run-build-3");
  std::string long_name = TaskRunName(std::string(40, 'r'), std::string(40, 't'), 7);
  EXPECT_EQ(long_name.size(), 63u);
  EXPECT_NE(long_name, TaskRunName(std::string(40, 'r'), std::string(40, 't'), 8));
}

}  // namespace
}  // namespace strake::pipeline
