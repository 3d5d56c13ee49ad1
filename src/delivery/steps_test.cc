#include "delivery/steps.h"

#include <gtest/gtest.h>

#include "model/kargo.h"

namespace strake::delivery {
namespace {

StepRecord Record(std::string alias, StepStatus s, bool continue_on_error = false) {
  StepRecord r;
  r.alias = std::move(alias);
  r.status = s;
  r.continue_on_error = continue_on_error;
  return r;
}

rollout::Value Call(const rollout::HostFunctions& fns, const std::string& name,
                    std::vector<rollout::Value> args = {}) {
  auto r = fns.at(name)(args);
  EXPECT_TRUE(r) << name << ": " << r.error().message;
  return r ? *r : rollout::Value();
}

// Kargo's StepExecutionMetadataList.HasFailures and its status functions.
TEST(Steps, AFailureOfAStepThatMustNotFailSkipsTheStepsWithoutACondition) {
  std::vector<StepRecord> records = {Record("clone", StepStatus::kSucceeded),
                                     Record("lint", StepStatus::kFailed, true)};
  EXPECT_FALSE(SkipWithoutCondition(records)) << "continueOnError does not count";
  auto fns = StatusFunctions(records, "push");
  EXPECT_EQ(Call(fns, "success"), true);
  EXPECT_EQ(Call(fns, "failure"), false);
  EXPECT_EQ(Call(fns, "always"), true);
  EXPECT_EQ(Call(fns, "status", {"lint"}), "Failed");
  EXPECT_EQ(Call(fns, "status", {"nosuch"}), "");
  records.push_back(Record("commit", StepStatus::kErrored));
  EXPECT_TRUE(SkipWithoutCondition(records));
  fns = StatusFunctions(records, "push");
  EXPECT_EQ(Call(fns, "failure"), true);
  EXPECT_FALSE(fns.at("status")({}));
}

TEST(Steps, AStepOfATaskFindsItsSiblingsByTheirShortAlias) {
  std::vector<StepRecord> records = {Record("task-1::clone", StepStatus::kSucceeded),
                                     Record("clone", StepStatus::kFailed)};
  EXPECT_EQ(Call(StatusFunctions(records, "task-1::push"), "status", {"clone"}), "Succeeded");
  EXPECT_EQ(Call(StatusFunctions(records, "push"), "status", {"clone"}), "Failed");
}

TEST(Steps, AnErrorIsRetriedUpToTheThresholdThenErrored) {
  StepRecord r = Record("push", StepStatus::kRunning);
  r.started_ms = 1000;
  Attempt a;
  a.status = StepStatus::kRunning;
  a.error = "remote hung up";
  EXPECT_FALSE(CompleteStep(r, a, 3, 0, 2000));
  EXPECT_EQ(r.status, StepStatus::kRunning);
  EXPECT_EQ(r.error_count, 1);
  EXPECT_EQ(r.message, "remote hung up; step will be retried");
  EXPECT_FALSE(CompleteStep(r, a, 3, 0, 3000));
  EXPECT_TRUE(CompleteStep(r, a, 3, 0, 4000));
  EXPECT_EQ(r.status, StepStatus::kErrored);
  EXPECT_EQ(r.message, "step \"push\" met error threshold of 3: remote hung up");
  EXPECT_EQ(r.finished_ms, 4000);
}

TEST(Steps, TheDefaultThresholdIsOneAndATerminalErrorEndsAtOnce) {
  StepRecord r = Record("push", StepStatus::kRunning);
  Attempt a;
  a.error = "no such branch";
  EXPECT_TRUE(CompleteStep(r, a, 0, 0, 10));
  EXPECT_EQ(r.status, StepStatus::kErrored);
  StepRecord t = Record("wait", StepStatus::kRunning);
  Attempt terminal;
  terminal.error = "closed without merging";
  terminal.terminal = true;
  EXPECT_TRUE(CompleteStep(t, terminal, 10, 0, 10));
  EXPECT_EQ(t.status, StepStatus::kErrored);
  EXPECT_EQ(t.message, "an unrecoverable error occurred: closed without merging");
  StepRecord f = Record("wait", StepStatus::kRunning);
  terminal.status = StepStatus::kFailed;
  EXPECT_TRUE(CompleteStep(f, terminal, 10, 0, 10));
  EXPECT_EQ(f.status, StepStatus::kFailed);
}

TEST(Steps, ARunningStepPastItsTimeoutErrs) {
  StepRecord r = Record("argocd-wait", StepStatus::kRunning);
  r.started_ms = 0;
  Attempt still;
  still.status = StepStatus::kRunning;
  EXPECT_FALSE(CompleteStep(r, still, 1, 300'000, 299'000));
  EXPECT_EQ(r.status, StepStatus::kRunning);
  EXPECT_TRUE(CompleteStep(r, still, 1, 300'000, 300'001));
  EXPECT_EQ(r.status, StepStatus::kErrored);
  EXPECT_EQ(r.message, "step \"argocd-wait\" timed out after 5m0s");
}

TEST(Steps, ThePhaseIsTheWorstStepThatMustNotFail) {
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kSucceeded), Record("b", StepStatus::kSkipped)}),
            std::make_pair(std::string("Succeeded"), std::string()));
  StepRecord failed = Record("b", StepStatus::kFailed);
  failed.message = "Always fails";
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kSucceeded), failed}).first, "Failed");
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kSucceeded), failed}).second, "Always fails");
  failed.continue_on_error = true;
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kSucceeded), failed}).first, "Succeeded");
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kFailed), Record("b", StepStatus::kErrored)}).first,
            "Errored");
  EXPECT_EQ(FinalPhase({Record("a", StepStatus::kAborted)}).first, "Aborted");
}

TEST(Steps, AliasesAsKargoNamesAndReservesThem) {
  EXPECT_EQ(DefaultAlias(0, false), "step-1");
  EXPECT_EQ(DefaultAlias(2, true), "task-3");
  EXPECT_TRUE(model::IsReservedStepAlias("step-12"));
  EXPECT_TRUE(model::IsReservedStepAlias("task-1"));
  EXPECT_FALSE(model::IsReservedStepAlias("step-"));
  EXPECT_FALSE(model::IsReservedStepAlias("step-one"));
  EXPECT_FALSE(model::IsReservedStepAlias("commit"));
  EXPECT_EQ(StepStatusFromName("Errored"), StepStatus::kErrored);
  EXPECT_EQ(StepStatusFromName("Bogus"), std::nullopt);
  EXPECT_EQ(StepStatusName(StepStatus::kSkipped), "Skipped");
}

}  // namespace
}  // namespace strake::delivery
