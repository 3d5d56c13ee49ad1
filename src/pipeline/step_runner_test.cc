// RunSteps with a Slot: nothing runs before the slot is taken, and the first
// step may be started by the thread that gives the slot.
#include "pipeline/step_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"

namespace strake::pipeline {
namespace {

// A slot whose Acquire either refuses or waits until another thread gives
// it, as the engine's does: that thread runs `start`.
class TestSlot final : public Slot {
 public:
  explicit TestSlot(bool grant) : grant_(grant) {}
  bool Acquire(const std::function<void()>& start) override {
    if (!grant_) return false;
    std::thread giver([&] {
      giver_id_ = std::this_thread::get_id();
      if (start) start();
    });
    giver.join();
    return true;
  }
  void Release() override {}
  std::thread::id giver_id() const { return giver_id_; }

 private:
  bool grant_;
  std::thread::id giver_id_;
};

class StepRunnerSlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("strake-steps-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Two steps, each writing its shell's pid to a file named after it.
  TaskPlan Plan() const {
    TaskPlan plan;
    for (const char* name : {"step-one", "step-two"}) {
      StepPlan s;
      s.name = name;
      s.argv = {"/bin/sh", "-c", std::string("echo $$ > ") + name};
      s.env = {"PATH=/usr/bin:/bin"};
      s.cwd = dir_.string();
      s.log_path = (dir_ / (std::string(name) + ".log")).string();
      plan.steps.push_back(std::move(s));
    }
    return plan;
  }

  std::filesystem::path dir_;
};

TEST_F(StepRunnerSlotTest, NothingRunsWhenTheSlotIsNotGiven) {
  TestSlot slot(false);
  StepsOutcome out = RunSteps(Plan(), -1, &slot);
  EXPECT_TRUE(out.cancelled);
  EXPECT_TRUE(out.steps.empty());
  EXPECT_FALSE(PathExists((dir_ / "step-one").string()));
  EXPECT_FALSE(PathExists((dir_ / "step-one.log").string()));
}

TEST_F(StepRunnerSlotTest, TheGiverStartsTheFirstStepAndTheRestFollowOnThisThread) {
  TestSlot slot(true);
  StepsOutcome out = RunSteps(Plan(), -1, &slot);
  EXPECT_FALSE(out.failed) << out.message;
  ASSERT_EQ(out.steps.size(), 2u);
  for (const auto& s : out.steps) {
    EXPECT_EQ(s.reason, "Completed") << s.name;
    EXPECT_GT(s.started_ms, 0) << s.name;
  }
  EXPECT_NE(slot.giver_id(), std::this_thread::get_id());
  EXPECT_TRUE(PathExists((dir_ / "step-one").string()));
  EXPECT_TRUE(PathExists((dir_ / "step-two").string()));
}

TEST_F(StepRunnerSlotTest, WithSidecarsTheSlotIsTakenFirstAndEverythingStartsHere) {
  TaskPlan plan = Plan();
  StepPlan sc;
  sc.name = "sidecar-s";
  sc.argv = {"/bin/sh", "-c", "echo up > sidecar; sleep 30"};
  sc.env = {"PATH=/usr/bin:/bin"};
  sc.cwd = dir_.string();
  sc.log_path = (dir_ / "sidecar.log").string();
  plan.sidecars.push_back(sc);
  TestSlot slot(true);
  StepsOutcome out = RunSteps(plan, -1, &slot);
  ASSERT_EQ(out.steps.size(), 2u);
  EXPECT_EQ(out.steps[0].reason, "Completed");
  EXPECT_EQ(out.steps[1].reason, "Completed");
}

// A step reads an earlier step's results as it starts (an array expands
// into argv), and a `when` that does not hold skips a step, not the task.
TEST_F(StepRunnerSlotTest, StepResultsReachLaterStepsAndWhenSkipsAStep) {
  TaskPlan plan;
  std::string steps = dir_.string();
  auto step = [&](const std::string& name, std::string script) {
    StepPlan s;
    s.name = "step-" + name;
    s.argv = {"/bin/sh", "-c", std::move(script), "sh"};
    s.env = {"PATH=/usr/bin:/bin"};
    s.cwd = steps;
    s.log_path = steps + "/" + name + ".log";
    return s;
  };
  ASSERT_TRUE(MakeDirs(steps + "/step-make/results"));
  plan.steps.push_back(step("make",
                            "printf '[\"a\",\"b c\"]' > step-make/results/list; "
                            "printf yes > step-make/results/go"));
  StepPlan skipped = step("skipped", "echo ran > skipped");
  skipped.when = {{"$(steps.make.results.go)", "in", {"no"}}};
  skipped.step_results_dir = steps;
  plan.steps.push_back(skipped);
  StepPlan use = step("use", "printf '%s|' \"$@\" \"$GO\" > used");
  use.argv.push_back("$(steps.make.results.list[*])");
  use.env.push_back("GO=$(steps.make.results.go)");
  use.when = {{"$(steps.make.results.go)", "in", {"yes"}}};
  use.step_results_dir = steps;
  plan.steps.push_back(use);
  StepPlan missing = step("missing", "true");
  missing.argv.push_back("$(steps.make.results.none)");
  missing.step_results_dir = steps;
  plan.steps.push_back(missing);

  StepsOutcome out = RunSteps(plan, -1);
  ASSERT_EQ(out.steps.size(), 4u);
  EXPECT_EQ(out.steps[1].reason, "Skipped");
  EXPECT_FALSE(PathExists(steps + "/skipped"));
  EXPECT_EQ(out.steps[2].reason, "Completed");
  EXPECT_EQ(ReadFile(steps + "/used").value_or(""), "a|b c|yes|");
  EXPECT_EQ(out.steps[3].reason, "Error");
  EXPECT_TRUE(out.failed);
  EXPECT_NE(out.message.find("step \"make\" wrote no result \"none\""), std::string::npos)
      << out.message;
}

// stdoutConfig / stderrConfig: a stream goes to its file as written and to
// the log masked; the same path for both is one file with both.
TEST_F(StepRunnerSlotTest, StreamsGoToTheirFilesAndTheLog) {
  TaskPlan plan;
  plan.secrets = {"s3cr3t-value"};
  StepPlan s;
  s.name = "step-streams";
  s.argv = {"/bin/sh", "-c", "echo out s3cr3t-value; echo err >&2"};
  s.env = {"PATH=/usr/bin:/bin"};
  s.cwd = dir_.string();
  s.log_path = (dir_ / "streams.log").string();
  s.stdout_path = (dir_ / "deep/out.txt").string();
  s.stderr_path = (dir_ / "err.txt").string();
  plan.steps.push_back(s);
  StepPlan both = s;
  both.name = "step-both";
  both.log_path = (dir_ / "both.log").string();
  both.stdout_path = both.stderr_path = (dir_ / "both.txt").string();
  plan.steps.push_back(both);
  StepsOutcome out = RunSteps(plan, -1);
  ASSERT_FALSE(out.failed) << out.message;
  EXPECT_EQ(ReadFile((dir_ / "deep/out.txt").string()).value_or(""), "out s3cr3t-value\n");
  EXPECT_EQ(ReadFile((dir_ / "err.txt").string()).value_or(""), "err\n");
  std::string log = ReadFile((dir_ / "streams.log").string()).value_or("");
  EXPECT_NE(log.find("out ***\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;
  std::string combined = ReadFile((dir_ / "both.txt").string()).value_or("");
  EXPECT_NE(combined.find("out s3cr3t-value\n"), std::string::npos) << combined;
  EXPECT_NE(combined.find("err\n"), std::string::npos) << combined;
}

// A sidecar's probes hold the steps back until they succeed; a startupProbe
// that keeps failing fails the task before any step runs.
TEST_F(StepRunnerSlotTest, SidecarProbesHoldTheStepsUntilReady) {
  TaskPlan plan = Plan();
  StepPlan sc;
  sc.name = "sidecar-s";
  sc.argv = {"/bin/sh", "-c", "sleep 1; touch ready; sleep 30"};
  sc.env = {"PATH=/usr/bin:/bin"};
  sc.cwd = dir_.string();
  ProbePlan ready;
  ready.name = "readinessProbe";
  ready.handler = "exec";
  ready.command = {"test", "-e", "ready"};
  ready.period_seconds = 1;
  sc.probes = {ready};
  plan.sidecars.push_back(sc);
  plan.steps[0].argv = {"/bin/sh", "-c", "test -e ready"};
  StepsOutcome out = RunSteps(plan, -1);
  ASSERT_FALSE(out.failed) << out.message;
  EXPECT_EQ(out.steps.at(0).reason, "Completed");

  ProbePlan startup = ready;
  startup.name = "startupProbe";
  startup.command = {"test", "-e", "never"};
  startup.failure_threshold = 2;
  plan.sidecars[0].probes = {startup};
  out = RunSteps(plan, -1);
  EXPECT_TRUE(out.failed);
  EXPECT_EQ(out.message, "sidecar sidecar-s: its startupProbe failed 2 times: exited with code 1");
  EXPECT_TRUE(out.steps.empty());
}

}  // namespace
}  // namespace strake::pipeline
