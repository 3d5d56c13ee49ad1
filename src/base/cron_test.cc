#include "base/cron.h"

#include <gtest/gtest.h>

namespace strake {
namespace {

TimePoint At(const std::string& rfc3339) { return *ParseRfc3339(rfc3339); }
std::string Next(const std::string& spec, const std::string& after) {
  auto c = ParseCron(spec);
  EXPECT_TRUE(c) << spec << ": " << (c ? "" : c.error().message);
  if (!c) return "";
  auto n = c->Next(At(after));
  return n ? FormatRfc3339(*n) : "never";
}

TEST(Cron, FieldsStepsRangesListsAndNames) {
  EXPECT_EQ(Next("* * * * *", "2026-12-05T10:00:30Z"), "2026-12-05T10:01:00Z");
  EXPECT_EQ(Next("* * * * *", "2026-12-05T10:00:00Z"), "2026-12-05T10:01:00Z") << "strictly after";
  EXPECT_EQ(Next("*/15 * * * *", "2026-12-05T10:16:00Z"), "2026-12-05T10:30:00Z");
  EXPECT_EQ(Next("5/20 * * * *", "2026-12-05T10:26:00Z"), "2026-12-05T10:45:00Z");
  EXPECT_EQ(Next("0 9-17/4 * * *", "2026-12-05T10:00:00Z"), "2026-12-05T13:00:00Z");
  EXPECT_EQ(Next("30 2 * * MON,fri", "2026-12-05T10:00:00Z"), "2026-12-07T02:30:00Z");
  EXPECT_EQ(Next("0 0 1 JAN *", "2026-12-05T10:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Next("0 0 * * 0", "2026-12-05T10:00:00Z"), "2026-12-06T00:00:00Z") << "0 is Sunday";
  EXPECT_EQ(Next("0\t0 * *\tSUN", "2026-12-05T10:00:00Z"), "2026-12-06T00:00:00Z") << "tabs";
  EXPECT_EQ(Next("@hourly", "2026-12-05T10:00:00Z"), "2026-12-05T11:00:00Z");
  EXPECT_EQ(Next("@weekly", "2026-12-05T10:00:00Z"), "2026-12-06T00:00:00Z");
  EXPECT_EQ(Next("0 0 29 2 *", "2026-12-05T10:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Next("0 0 30 2 *", "2026-12-05T10:00:00Z"), "never");
}

// As cron: both day fields restricted means either; one of them '*' means
// both (that is, the other alone).
TEST(Cron, TheDayFieldsCombineAsCronsDo) {
  // 2026-12-05 is a Saturday. The 10th, or any Monday: Monday the 7th.
  EXPECT_EQ(Next("0 0 10 * MON", "2026-12-05T10:00:00Z"), "2026-12-07T00:00:00Z");
  // The 10th, any weekday ('*'): the 10th.
  EXPECT_EQ(Next("0 0 10 * *", "2026-12-05T10:00:00Z"), "2026-12-10T00:00:00Z");
  EXPECT_EQ(Next("0 0 ? * MON", "2026-12-05T10:00:00Z"), "2026-12-07T00:00:00Z");
  // A bare '*' among a field's parts makes it "any", as robfig/cron has it.
  EXPECT_EQ(Next("0 0 10,* * MON", "2026-12-05T10:00:00Z"), "2026-12-07T00:00:00Z");
}

TEST(Cron, BadSchedulesSayWhichFieldAndWhy) {
  auto err = [](const std::string& spec) {
    auto c = ParseCron(spec);
    return c ? std::string("parsed") : c.error().message;
  };
  EXPECT_EQ(err("* * * *"),
            "\"* * * *\" has 4 fields, not 5 (minute hour day-of-month month day-of-week)");
  EXPECT_EQ(err("60 * * * *"), "minute: \"60\" is not a value from 0 to 59");
  EXPECT_EQ(err("* * 0 * *"), "day of month: \"0\" is not a value from 1 to 31");
  EXPECT_EQ(err("* * * FOO *"), "month: \"FOO\" is not a value from 1 to 12");
  EXPECT_EQ(err("*/0 * * * *"), "minute: \"0\" is not a step");
  EXPECT_EQ(err("* 5-2 * * *"), "hour: \"5-2\" runs backwards");
  EXPECT_EQ(err("* * * * 7"), "day of week: \"7\" is not a value from 0 to 6")
      << "Kubernetes' parser takes 0-6";
  EXPECT_NE(err("@every 5m").find("is not supported"), std::string::npos);
  EXPECT_NE(err("CRON_TZ=UTC * * * * *").find("spec.timeZone"), std::string::npos);
}

}  // namespace
}  // namespace strake
