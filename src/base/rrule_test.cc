#include "base/rrule.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

namespace strake {
namespace {

int64_t At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

// The first `n` occurrences of `rule` from `dtstart`, within ten years.
std::vector<int64_t> First(const std::string& rule, const std::string& dtstart, size_t n) {
  auto r = ParseRRule(rule);
  EXPECT_TRUE(r) << r.error().message;
  auto start = ParseIcalTime(dtstart);
  EXPECT_TRUE(start) << start.error().message;
  auto rec = Recurrence::Make(*r, *start);
  EXPECT_TRUE(rec) << rec.error().message;
  std::vector<int64_t> out;
  int64_t from = start->Utc();
  auto done = rec->Expand(from, from + 86400LL * 3660, [&](int64_t t) {
    out.push_back(t);
    return out.size() < n;
  });
  EXPECT_TRUE(done) << done.error().message;
  return out;
}

TEST(RRule, ExpandsTheShapesWindowsUse) {
  // Weekdays at 09:00, from a Monday.
  EXPECT_EQ(First("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0;BYSECOND=0", "20260105T000000", 4),
            (std::vector<int64_t>{At(2026, 1, 5, 9), At(2026, 1, 7, 9), At(2026, 1, 12, 9),
                                  At(2026, 1, 14, 9)}));
  // The last Friday of each month.
  EXPECT_EQ(First("FREQ=MONTHLY;BYDAY=-1FR", "20260101T170000", 3),
            (std::vector<int64_t>{At(2026, 1, 30, 17), At(2026, 2, 27, 17), At(2026, 3, 27, 17)}));
  // Christmas Eve, every year.
  EXPECT_EQ(First("RRULE:FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24", "20261201T000000", 2),
            (std::vector<int64_t>{At(2026, 12, 24), At(2027, 12, 24)}));
  // The last working day of the month.
  EXPECT_EQ(First("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "20260101T120000", 3),
            (std::vector<int64_t>{At(2026, 1, 30, 12), At(2026, 2, 27, 12), At(2026, 3, 31, 12)}));
  // A day that some months lack is skipped, never moved.
  EXPECT_EQ(First("FREQ=MONTHLY;BYMONTHDAY=31", "20260101T000000", 3),
            (std::vector<int64_t>{At(2026, 1, 31), At(2026, 3, 31), At(2026, 5, 31)}));
  // COUNT and UNTIL end it; DTSTART counts only when the rule makes it.
  EXPECT_EQ(First("FREQ=DAILY;COUNT=2;BYHOUR=8", "20260101T090000", 9),
            (std::vector<int64_t>{At(2026, 1, 2, 8), At(2026, 1, 3, 8)}));
  EXPECT_EQ(First("FREQ=DAILY;INTERVAL=2;UNTIL=20260105T000000Z", "20260101T000000", 9),
            (std::vector<int64_t>{At(2026, 1, 1), At(2026, 1, 3), At(2026, 1, 5)}));
  EXPECT_EQ(
      First("FREQ=HOURLY;INTERVAL=6;BYMINUTE=30", "20260101T000000", 3),
      (std::vector<int64_t>{At(2026, 1, 1, 0, 30), At(2026, 1, 1, 6, 30), At(2026, 1, 1, 12, 30)}));
}

TEST(RRule, KeepsTheWallClockAcrossDaylightTime) {
  // 09:00 in New York is 14:00Z in winter and 13:00Z in summer.
  auto got = First("FREQ=WEEKLY;BYDAY=MO", "TZID=America/New_York:20260302T090000", 2);
  EXPECT_EQ(got, (std::vector<int64_t>{At(2026, 3, 2, 14), At(2026, 3, 9, 13)}));
  // A local UNTIL is read in DTSTART's zone.
  got = First("FREQ=DAILY;UNTIL=20260303T090000", "TZID=Europe/Berlin:20260301T090000", 9);
  EXPECT_EQ(got.size(), 3u);
}

// On the day the clocks skip 02:00-03:00 (Berlin, 28 March 2027): 02:15 and
// 02:30 read with the offset before (01:15Z, 01:30Z), the same instants as
// 03:15 and 03:30: four wall-clock times, two occurrences, in order.
TEST(RRule, SkippedTimesAreInOrderAndNotTwice) {
  auto got = First("FREQ=DAILY;COUNT=4;BYHOUR=2,3;BYMINUTE=15,30",
                   "TZID=Europe/Berlin:20270328T000000", 9);
  EXPECT_EQ(got, (std::vector<int64_t>{At(2027, 3, 28, 1, 15), At(2027, 3, 28, 1, 30),
                                       At(2027, 3, 29, 0, 15), At(2027, 3, 29, 0, 30)}));
}

TEST(RRule, RefusesBadRulesNamingThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"BYDAY=MO", "FREQ: is required"},
      {"FREQ=FORTNIGHTLY", "FREQ: \"FORTNIGHTLY\" is not"},
      {"FREQ=SECONDLY", "SECONDLY is not supported"},
      {"FREQ=DAILY;INTERVAL=0", "INTERVAL: \"0\" is not a positive integer"},
      {"FREQ=DAILY;COUNT=3;UNTIL=20270101T000000Z", "COUNT: and UNTIL cannot both"},
      {"FREQ=WEEKLY;BYDAY=1MO", "an ordinal (1MO, -1FR) is allowed only"},
      {"FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY: \"0\" is not in 1..31 or -31..-1"},
      {"FREQ=DAILY;BYHOUR=24", "BYHOUR: \"24\" is not in 0..23"},
      {"FREQ=DAILY;BYDAY=XX", "BYDAY: \"XX\" does not end in"},
      {"FREQ=YEARLY;BYWEEKNO=1", "BYWEEKNO: is not supported"},
      {"FREQ=DAILY;FREQ=DAILY", "FREQ: is given twice"},
      {"FREQ=DAILY;COLOR=RED", "COLOR: is not a part"},
      {"FREQ=DAILY;BYHOUR", "BYHOUR: is not KEY=VALUE"},
  };
  for (const auto& [rule, want] : cases) {
    auto r = ParseRRule(rule);
    ASSERT_FALSE(r) << rule;
    EXPECT_NE(r.error().message.find(want), std::string::npos) << rule << ": " << r.error().message;
  }
  for (const char* bad :
       {"2026-01-01", "20261301T000000", "20260230T000000", "20260101T250000",
        "TZID=Nowhere/City:20260101T000000", "TZID=UTC:20260101T000000Z", "20260101T0900"}) {
    EXPECT_FALSE(ParseIcalTime(bad)) << bad;
  }
}

// A random rule that python-dateutil can expand quickly (no rule that never
// occurs: those make it walk to year 9999).
std::string RandomRule(std::mt19937& rng, bool utc) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](int percent) { return pick(1, 100) <= percent; };
  static const char* kFreqs[] = {"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"};
  static const char* kDays[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
  int freq = utc ? pick(0, 5) : pick(0, 3);
  std::string r = fmt::format("FREQ={}", kFreqs[freq]);
  if (chance(50)) r += fmt::format(";INTERVAL={}", pick(1, 4));
  auto list = [&](const char* key, int n, auto value) {
    r += fmt::format(";{}=", key);
    for (int i = 0; i < n; ++i) r += (i ? "," : "") + value();
  };
  bool month_day = freq != 2 && chance(35);
  bool ordinal = (freq == 0 || freq == 1) && !month_day && chance(50);
  bool by_month = freq != 3 && chance(30);
  if (by_month) list("BYMONTH", pick(1, 4), [&] { return std::to_string(pick(1, 12)); });
  if (month_day)
    list("BYMONTHDAY", pick(1, 3),
         [&] { return std::to_string(chance(70) ? pick(1, 28) : -pick(1, 28)); });
  if (chance(45)) {
    list("BYDAY", pick(1, 3), [&] {
      std::string d = kDays[pick(0, 6)];
      if (!ordinal) return d;
      // Within a month (MONTHLY, or YEARLY with BYMONTH) 1..4: dateutil
      // fails with an IndexError on a larger one there.
      int n = freq == 1 || by_month ? pick(1, 4) : pick(1, 40);
      return std::to_string(chance(70) ? n : -n) + d;
    });
  }
  auto hour = [&] { return std::to_string(utc ? pick(0, 23) : pick(5, 22)); };
  if (freq != 5 && chance(40)) list("BYHOUR", pick(1, 2), hour);
  if (chance(30)) list("BYMINUTE", pick(1, 3), [&] { return std::to_string(pick(0, 59)); });
  if (chance(10)) list("BYSECOND", pick(1, 2), [&] { return std::to_string(pick(0, 59)); });
  if (freq <= 2 && chance(20))
    list("BYSETPOS", 1, [&] { return std::to_string(chance(50) ? 1 : -1); });
  if (chance(25)) r += fmt::format(";WKST={}", kDays[pick(0, 6)]);
  if (chance(25)) r += fmt::format(";COUNT={}", pick(1, 30));
  return r;
}

// Property: for random rules and starts, in UTC and in zones with daylight
// time, strake's occurrences equal python-dateutil's — the first ones from
// DTSTART, and those in a random later range (the skip ahead).
TEST(RRule, AgreesWithDateutilOnRandomRules) {
  const char* python = "/usr/bin/python3";
  unsigned seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937 rng(seed);
  struct Case {
    std::string rule, dtstart, tz;
    int64_t horizon, from, to;
  };
  std::vector<Case> cases;
  static const char* kZones[] = {"America/New_York", "Europe/Berlin", "Australia/Sydney"};
  for (int i = 0; i < 300; ++i) {
    bool utc = i % 3 != 0;
    std::string rule = RandomRule(rng, utc);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    int h = utc ? pick(0, 23) : pick(5, 22);
    // Zoned cases end before 2037: dateutil 2.8 reads only a TZif file's
    // 32-bit table and so loses daylight time after it (glibc and strake
    // keep it, by the file's rule: tz_test.cc).
    int year = utc ? pick(2020, 2030) : pick(2020, 2027);
    std::string dtstart = fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}", year, pick(1, 12),
                                      pick(1, 28), h, pick(0, 59), pick(0, 59));
    int64_t horizon = 86400LL * (rule.find("MINUTELY") != std::string::npos ? 2
                                 : rule.find("HOURLY") != std::string::npos ? 40
                                                                            : 365 * 8);
    auto start = ParseIcalTime(dtstart);
    ASSERT_TRUE(start);
    int64_t from = start->local + pick(0, 100) * (horizon / 100);
    int64_t to = from + horizon / 10;
    cases.push_back({rule, dtstart, utc ? "UTC" : kZones[i % 9 / 3], horizon, from, to});
  }
  std::string in = ::testing::TempDir() + "/rrule_cases.jsonl";
  {
    std::ofstream f(in);
    for (const auto& c : cases)
      f << nlohmann::json{{"rule", c.rule},       {"dtstart", c.dtstart}, {"tz", c.tz}, {"n", 25},
                          {"horizon", c.horizon}, {"from", c.from},       {"to", c.to}}
               .dump()
        << "\n";
  }
  std::string cmd =
      fmt::format("{} {}/tests/tools/rrule_reference.py < {}", python, STRAKE_SOURCE_DIR, in);
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << "the reference failed (is python3-dateutil installed? "
                               "scripts/setup.sh installs it)";
  std::istringstream lines(out);
  for (const auto& c : cases) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << "the reference answered fewer cases";
    auto want = nlohmann::json::parse(line);
    SCOPED_TRACE(fmt::format("{} from {} in {}", c.rule, c.dtstart, c.tz));
    auto rule = ParseRRule(c.rule);
    ASSERT_TRUE(rule) << rule.error().message;
    auto start = ParseIcalTime(c.tz == "UTC" ? c.dtstart : "TZID=" + c.tz + ":" + c.dtstart);
    ASSERT_TRUE(start);
    auto rec = Recurrence::Make(*rule, *start);
    if (want.contains("error")) {  // dateutil refuses it: so does strake
      EXPECT_FALSE(rec) << want["error"];
      continue;
    }
    ASSERT_TRUE(rec) << rec.error().message;
    std::vector<int64_t> first, between;
    int64_t s = start->Utc();
    ASSERT_TRUE(rec->Expand(s, s + c.horizon, [&](int64_t t) {
      if (t > s + c.horizon) return false;
      first.push_back(t);
      return first.size() < 25;
    }));
    ASSERT_TRUE(rec->Expand(c.from, c.to, [&](int64_t t) {
      if (t > c.to) return false;
      if (t >= c.from) between.push_back(t);
      return true;
    }));
    EXPECT_EQ(first, want["first"].get<std::vector<int64_t>>());
    EXPECT_EQ(between, want["between"].get<std::vector<int64_t>>());
  }
}

}  // namespace
}  // namespace strake
