#include "server/run_logs.h"

#include <gtest/gtest.h>

namespace strake::server {
namespace {

store::Resource TaskRun(const std::string& name, const std::string& task, int64_t created,
                        store::Json steps) {
  store::Resource r;
  r.key = {"TaskRun", "default", name};
  r.created_ms = created;
  if (!task.empty()) r.labels["tekton.dev/pipelineTask"] = task;
  r.status = {{"steps", std::move(steps)}};
  return r;
}

store::Json Step(const std::string& name, const std::string& log, bool ended) {
  store::Json s = {{"name", name}, {"container", "step-" + name}, {"log", log}};
  if (ended) s["terminated"] = {{"exitCode", 0}};
  return s;
}

TEST(StepLogsOf, InTheOrderTheTaskRunsWereCreatedAndFilteredByTaskAndStep) {
  std::vector<store::Resource> trs = {
      TaskRun("run-test", "test", 20, {Step("unit", "/l/t1", false)}),
      TaskRun("run-build", "build", 10,
              {Step("compile", "/l/b1", true), Step("link", "/l/b2", false)}),
      TaskRun("lone", "", 30, {{{"name", ""}, {"container", "step-unnamed-0"}, {"log", "/l/x"}}})};
  auto all = StepLogsOf(trs, "", "");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].task, "build");
  EXPECT_EQ(all[0].step, "compile");
  EXPECT_TRUE(all[0].finished);
  EXPECT_EQ(all[1].step, "link");
  EXPECT_EQ(all[1].index, 1u);
  EXPECT_FALSE(all[1].finished);
  EXPECT_EQ(all[2].task, "test");
  EXPECT_EQ(all[3].task, "lone") << "a TaskRun of no pipeline is its own task";
  EXPECT_EQ(all[3].step, "step-unnamed-0");

  auto build = StepLogsOf(trs, "build", "");
  ASSERT_EQ(build.size(), 2u);
  auto link = StepLogsOf(trs, "", "link");
  ASSERT_EQ(link.size(), 1u);
  EXPECT_EQ(link[0].path, "/l/b2");
  EXPECT_TRUE(StepLogsOf(trs, "deploy", "").empty());
}

TEST(StepLogsOf, AStepNotStartedYetHasNoLog) {
  std::vector<store::Resource> trs = {
      TaskRun("a", "a", 1, {{{"name", "wait"}}, Step("go", "/l/go", false)})};
  auto logs = StepLogsOf(trs, "", "");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].step, "go");
  EXPECT_EQ(CursorKey(logs[0]), "a/1");
}

TEST(LogCursor, RoundTripsAndRefusesAnythingElse) {
  LogCursor c = {{"run-build/0", 120}, {"run-test.x/3", 0}};
  std::string text = FormatLogCursor(c);
  EXPECT_EQ(text, "run-build/0:120,run-test.x/3:0");
  auto parsed = ParseLogCursor(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, c);
  EXPECT_TRUE(ParseLogCursor("").value().empty());
  for (const char* bad : {"run", "run/0", "run:5", "run/x:5", "run/0:-1", "Run/0:1", "../x/0:1",
                          "run/0:1,", "run/0:99999999999999999999", "/0:1"}) {
    auto r = ParseLogCursor(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error().Is(ErrorCode::kInvalid)) << bad;
  }
}

TEST(SendableEnd, WholeLinesUnlessTheStepEndedOrALineOutgrowsTheBudget) {
  EXPECT_EQ(SendableEnd("one\ntwo\nthr", false, 100), 8u) << "the partial line waits";
  EXPECT_EQ(SendableEnd("one\ntwo\nthr", true, 100), 11u) << "an ended step's last line is whole";
  EXPECT_EQ(SendableEnd("one\ntwo\nthr", true, 11), 8u) << "more may follow past the budget";
  EXPECT_EQ(SendableEnd("partial", false, 100), 0u);
  EXPECT_EQ(SendableEnd("averylongline", false, 13), 13u) << "cut, so that a follower moves on";
  EXPECT_EQ(SendableEnd("", false, 100), 0u);
  EXPECT_EQ(SendableEnd("", true, 100), 0u);
}

}  // namespace
}  // namespace strake::server
