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
  EXPECT_NE(err("CRON_TZ=UTC * * * * *").find("a time zone goes in its own field"),
            std::string::npos);
}

int64_t Unix(const std::string& rfc3339) { return UnixMillis(At(rfc3339)) / 1000; }
std::string Rfc(int64_t unix_seconds) { return FormatRfc3339(FromUnixMillis(unix_seconds * 1000)); }
std::string NextIn(const std::string& spec, const std::string& zone, const std::string& after) {
  auto c = ParseCron(spec);
  auto z = TimeZone::Get(zone);
  if (!c || !z) return "bad";
  auto n = c->NextIn(**z, Unix(after));
  return n ? Rfc(*n) : "never";
}
std::string PrevIn(const std::string& spec, const std::string& zone, const std::string& at) {
  auto c = ParseCron(spec);
  auto z = TimeZone::Get(zone);
  if (!c || !z) return "bad";
  auto n = c->PrevIn(**z, Unix(at));
  return n ? Rfc(*n) : "never";
}

// GitLab's freeze periods read their crons on the wall clock of
// `cron_timezone`.
TEST(Cron, InAZoneTheFieldsAreItsWallClock) {
  // Friday 23:00 in Berlin is 22:00Z in winter, 21:00Z in summer.
  EXPECT_EQ(NextIn("0 23 * * 5", "Europe/Berlin", "2026-12-05T10:00:00Z"), "2026-12-11T22:00:00Z");
  EXPECT_EQ(NextIn("0 23 * * 5", "Europe/Berlin", "2026-07-01T00:00:00Z"), "2026-07-03T21:00:00Z");
  EXPECT_EQ(PrevIn("0 23 * * 5", "Europe/Berlin", "2026-12-05T10:00:00Z"), "2026-12-04T22:00:00Z");
  EXPECT_EQ(PrevIn("0 23 * * 5", "Europe/Berlin", "2026-12-04T22:00:00Z"), "2026-12-04T22:00:00Z")
      << "at or before";
  EXPECT_EQ(NextIn("0 23 * * 5", "Europe/Berlin", "2026-12-04T22:00:00Z"), "2026-12-11T22:00:00Z")
      << "strictly after";
  EXPECT_EQ(NextIn("0 0 30 2 *", "UTC", "2026-12-05T10:00:00Z"), "never");
  EXPECT_EQ(PrevIn("0 0 30 2 *", "UTC", "2026-12-05T10:00:00Z"), "never");
  EXPECT_EQ(PrevIn("0 0 29 2 *", "UTC", "2026-12-05T10:00:00Z"), "2024-02-29T00:00:00Z");
}

TEST(Cron, ASkippedWallTimeFiresOnceAfterTheChangeAndARepeatedOneOnce) {
  // 2026-03-29: Berlin's clocks go from 02:00 to 03:00 (01:00Z). 02:30 does
  // not exist; it is read with the offset before the change: 03:30 CEST.
  EXPECT_EQ(NextIn("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z"), "2026-03-29T01:30:00Z");
  EXPECT_EQ(PrevIn("30 2 * * *", "Europe/Berlin", "2026-03-29T01:20:00Z"), "2026-03-28T01:30:00Z")
      << "the skipped time fires after the instant asked about, so the one before is a day earlier";
  // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00Z); 02:30 occurs at
  // 00:30Z and 01:30Z and fires at the first.
  EXPECT_EQ(NextIn("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z"), "2026-10-25T00:30:00Z");
  EXPECT_EQ(NextIn("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00Z")
      << "not again at the second 02:30";
  EXPECT_EQ(PrevIn("30 2 * * *", "Europe/Berlin", "2026-10-25T01:45:00Z"), "2026-10-25T00:30:00Z");
}

// Property: on the days the clocks change (an hour in Berlin and New York,
// half an hour on Lord Howe Island), NextIn and PrevIn agree with a brute
// force that maps every matching wall-clock minute of the days around with
// TimeZone::ToUtc (a repeated time to its first occurrence, a skipped one
// with the offset before) and takes the nearest instant on each side.
TEST(Cron, AroundAChangeOfTheClocksTheZoneAnswersAgreeWithABruteForce) {
  auto matches = [](const CronSchedule& c, int64_t civil) {
    int64_t day = FloorDiv(civil, kSecondsPerDay);
    CivilDate d = CivilFromDays(day);
    int minute = static_cast<int>((civil - day * kSecondsPerDay) / 60);
    bool dom = c.days[d.day], dow = c.weekdays[static_cast<size_t>(Weekday(day))];
    bool day_ok = c.any_day || c.any_weekday ? dom && dow : dom || dow;
    return c.months[d.month] && day_ok && c.hours[static_cast<size_t>(minute / 60)] &&
           c.minutes[static_cast<size_t>(minute % 60)];
  };
  struct Change {
    const char* zone;
    const char* at;  // an instant on the day of a change
  };
  const Change changes[] = {{"Europe/Berlin", "2026-03-29T01:00:00Z"},
                            {"Europe/Berlin", "2026-10-25T01:00:00Z"},
                            {"America/New_York", "2026-03-08T07:00:00Z"},
                            {"America/New_York", "2026-11-01T06:00:00Z"},
                            {"Australia/Lord_Howe", "2026-04-04T15:00:00Z"},
                            {"Australia/Lord_Howe", "2026-10-03T15:30:00Z"}};
  const char* specs[] = {"30 2 * * *", "*/20 * * * *", "0 1-3 * * *", "15,45 0-4 * * *",
                         "0 0 * * *"};
  for (const auto& ch : changes) {
    auto zone = TimeZone::Get(ch.zone);
    ASSERT_TRUE(zone) << ch.zone;
    for (const char* spec : specs) {
      auto c = ParseCron(spec);
      ASSERT_TRUE(c);
      for (int64_t t = Unix(ch.at) - 8 * 3600 + 17; t < Unix(ch.at) + 8 * 3600; t += 13 * 60) {
        std::optional<int64_t> prev, next;
        int64_t local = FloorDiv((*zone)->ToLocal(t), 60) * 60;
        for (int64_t m = local - 30 * 3600; m <= local + 30 * 3600; m += 60) {
          if (!matches(*c, m)) continue;
          int64_t at = (*zone)->ToUtc(m);
          if (at <= t && (!prev || at > *prev)) prev = at;
          if (at > t && (!next || at < *next)) next = at;
        }
        auto got_prev = c->PrevIn(**zone, t);
        auto got_next = c->NextIn(**zone, t);
        if (prev) {
          EXPECT_EQ(got_prev, prev) << ch.zone << " " << spec << " at or before " << Rfc(t);
        }
        if (next) {
          EXPECT_EQ(got_next, next) << ch.zone << " " << spec << " after " << Rfc(t);
        }
      }
    }
  }
}

// In UTC the zone's answers are Next's, and PrevIn is the last firing at or
// before: checked over many schedules and instants.
TEST(Cron, InUtcTheZoneAnswersAgreeWithNext) {
  auto utc = TimeZone::Utc();
  const char* specs[] = {"*/7 3-5 * * *", "0 0 1 * *",  "15 10 * * MON-FRI", "0 12 13 * 5",
                         "59 23 31 12 *", "0 0 29 2 *", "*/20 * 1-7 * SUN"};
  uint64_t x = 88172645463325252ULL;
  for (const char* spec : specs) {
    auto c = ParseCron(spec);
    ASSERT_TRUE(c) << spec;
    for (int i = 0; i < 60; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int64_t t = Unix("2020-01-01T00:00:00Z") + static_cast<int64_t>(x % (6ULL * 366 * 86400));
      auto want = c->Next(FromUnixMillis(t * 1000));
      auto got = c->NextIn(*utc, t);
      ASSERT_EQ(want.has_value(), got.has_value()) << spec << " after " << Rfc(t);
      if (!got) continue;
      EXPECT_EQ(Rfc(*got), FormatRfc3339(*want)) << spec << " after " << Rfc(t);
      auto prev = c->PrevIn(*utc, *got);
      ASSERT_TRUE(prev);
      EXPECT_EQ(*prev, *got) << spec;
      auto before = c->PrevIn(*utc, *got - 1);
      if (before) {
        auto again = c->NextIn(*utc, *before);
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, *got) << spec << ": no firing between " << Rfc(*before) << " and "
                                << Rfc(*got);
      }
    }
  }
}

}  // namespace
}  // namespace strake
