#include "pipeline/planner.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

Dag Chain() { return *BuildDag({{"a", {}}, {"b", {"a"}}, {"c", {"b"}}, {"d", {}}}); }

RunFacts Facts(std::vector<TaskState> states, size_t finals = 0) {
  RunFacts f;
  for (auto s : states) f.tasks.push_back({s, ""});
  f.finally.resize(finals);
  return f;
}

TEST(Planner, StartsRootsFirst) {
  auto plan = MakePlan(Chain(), Facts({TaskState::kPending, TaskState::kPending,
                                       TaskState::kPending, TaskState::kPending}));
  EXPECT_EQ(plan.start, (std::vector<size_t>{0, 3}));
  EXPECT_FALSE(plan.done);
}

TEST(Planner, FailureStopsNewWorkAndSkipsPending) {
  auto plan = MakePlan(Chain(), Facts({TaskState::kFailed, TaskState::kPending, TaskState::kPending,
                                       TaskState::kRunning},
                                      1));
  EXPECT_TRUE(plan.start.empty());
  ASSERT_EQ(plan.skip.size(), 2u);
  EXPECT_EQ(plan.skip[0].second, skip::kStopping);
  EXPECT_TRUE(plan.start_finally.empty());  // d still runs
  EXPECT_FALSE(plan.done);
}

TEST(Planner, FinallyRunsAfterFailureThenRunFails) {
  auto f = Facts(
      {TaskState::kFailed, TaskState::kSkipped, TaskState::kSkipped, TaskState::kSucceeded}, 1);
  auto plan = MakePlan(Chain(), f);
  EXPECT_EQ(plan.start_finally, std::vector<size_t>{0});
  f.finally[0].state = TaskState::kSucceeded;
  plan = MakePlan(Chain(), f);
  EXPECT_TRUE(plan.done);
  EXPECT_FALSE(plan.outcome.succeeded);
  EXPECT_EQ(plan.outcome.reason, "Failed");
}

TEST(Planner, WhenSkipDoesNotSkipChildrenOtherSkipsDo) {
  auto f =
      Facts({TaskState::kSkipped, TaskState::kPending, TaskState::kPending, TaskState::kSucceeded});
  f.tasks[0].skip_reason = skip::kWhen;
  auto plan = MakePlan(Chain(), f);
  EXPECT_EQ(plan.start, std::vector<size_t>{1});
  f.tasks[0].skip_reason = skip::kMissingResults;
  plan = MakePlan(Chain(), f);
  ASSERT_EQ(plan.skip.size(), 2u);  // b and then c, in one pass
  EXPECT_EQ(plan.skip[0].second, skip::kParent);
  EXPECT_EQ(plan.skip[1].second, skip::kParent);
  EXPECT_TRUE(plan.done);
  EXPECT_EQ(plan.outcome.reason, "Completed");
}

TEST(Planner, AllSucceeded) {
  auto plan = MakePlan(Chain(), Facts({TaskState::kSucceeded, TaskState::kSucceeded,
                                       TaskState::kSucceeded, TaskState::kSucceeded}));
  EXPECT_TRUE(plan.done);
  EXPECT_TRUE(plan.outcome.succeeded);
  EXPECT_EQ(plan.outcome.reason, "Succeeded");
}

TEST(Planner, CancelledSkipsFinallyCancelledRunFinallyRunsIt) {
  auto f = Facts(
      {TaskState::kRunning, TaskState::kPending, TaskState::kPending, TaskState::kSucceeded}, 1);
  f.cancel = CancelMode::kCancelled;
  auto plan = MakePlan(Chain(), f);
  EXPECT_TRUE(plan.cancel_running_tasks);
  EXPECT_TRUE(plan.cancel_running_finally);
  f.tasks[0].state = TaskState::kCancelled;
  f.tasks[1] = f.tasks[2] = {TaskState::kSkipped, skip::kCancelled};
  plan = MakePlan(Chain(), f);
  EXPECT_EQ(plan.skip_finally.size(), 1u);
  EXPECT_TRUE(plan.done);
  EXPECT_EQ(plan.outcome.reason, "Cancelled");

  f.cancel = CancelMode::kCancelledRunFinally;
  plan = MakePlan(Chain(), f);
  EXPECT_EQ(plan.start_finally, std::vector<size_t>{0});
}

TEST(Planner, StoppedRunFinallyLetsRunningTasksFinish) {
  auto f =
      Facts({TaskState::kRunning, TaskState::kPending, TaskState::kPending, TaskState::kPending});
  f.cancel = CancelMode::kStoppedRunFinally;
  auto plan = MakePlan(Chain(), f);
  EXPECT_FALSE(plan.cancel_running_tasks);
  EXPECT_EQ(plan.skip.size(), 3u);
  EXPECT_EQ(plan.skip[0].second, skip::kStopped);
}

TEST(Planner, TasksTimeoutCancelsTasksButRunsFinally) {
  auto f = Facts(
      {TaskState::kCancelled, TaskState::kPending, TaskState::kPending, TaskState::kSucceeded}, 1);
  f.tasks_timed_out = true;
  auto plan = MakePlan(Chain(), f);
  EXPECT_TRUE(plan.cancel_running_tasks);
  EXPECT_FALSE(plan.cancel_running_finally);
  EXPECT_EQ(plan.skip[0].second, skip::kTasksTimeout);
  EXPECT_EQ(plan.start_finally, std::vector<size_t>{0});
}

TEST(Planner, CompletionMessageAsTektonWritesIt) {
  auto f = Facts(
      {TaskState::kSucceeded, TaskState::kFailed, TaskState::kSkipped, TaskState::kCancelled});
  EXPECT_EQ(CompletionMessage(f), "Tasks Completed: 3 (Failed: 1, Cancelled 1), Skipped: 1");
}

// onError: continue (Tekton's "Specifying onError for PipelineTasks"): the
// failure neither stops the run nor holds back its dependents, and the run
// succeeds, its message counting the failure as ignored.
TEST(Planner, AnIgnoredFailureLetsDependentsRunAndTheRunSucceed) {
  auto f =
      Facts({TaskState::kFailed, TaskState::kPending, TaskState::kPending, TaskState::kSucceeded});
  f.tasks[0].failure_ignored = true;
  auto plan = MakePlan(Chain(), f);
  EXPECT_EQ(plan.start, std::vector<size_t>{1});
  EXPECT_TRUE(plan.skip.empty());
  f.tasks[1].state = f.tasks[2].state = TaskState::kSucceeded;
  plan = MakePlan(Chain(), f);
  ASSERT_TRUE(plan.done);
  EXPECT_TRUE(plan.outcome.succeeded);
  EXPECT_EQ(plan.outcome.reason, "Succeeded");
  EXPECT_EQ(CompletionMessage(f),
            "Tasks Completed: 4 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0");
}

}  // namespace
}  // namespace strake::pipeline
