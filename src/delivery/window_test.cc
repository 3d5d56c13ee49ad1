#include "delivery/window.h"

#include <gtest/gtest.h>

#include <random>

#include "base/tz.h"

namespace strake::delivery {
namespace {

int64_t At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

Window Make(const std::string& name, bool deny, const std::string& rrule, const std::string& start,
            const std::string& end) {
  model::PromotionWindow w{name, std::nullopt, std::nullopt, deny, rrule, start, end};
  auto c = CompileWindow(w);
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

TEST(PromotionWindows, ADenyClosesUntilItEndsAndIsAnnouncedBefore) {
  std::vector<Window> ws = {
      Make("holiday-freeze", true, "", "20261221T000000Z", "20270104T090000Z")};
  WindowState in = EvaluateWindows(ws, At(2026, 12, 25));
  EXPECT_TRUE(in.closed);
  EXPECT_EQ(in.reason, "window holiday-freeze closed until 2027-01-04T09:00:00Z");
  EXPECT_EQ(in.next_open, At(2027, 1, 4, 9));
  WindowState before = EvaluateWindows(ws, At(2026, 12, 1));
  EXPECT_FALSE(before.closed);
  EXPECT_EQ(before.next_close, At(2026, 12, 21));
  EXPECT_EQ(before.next_close_reason, "window holiday-freeze closed until 2027-01-04T09:00:00Z");
  WindowState after = EvaluateWindows(ws, At(2027, 1, 4, 9));  // dtend is not inside
  EXPECT_FALSE(after.closed);
  EXPECT_FALSE(after.next_close);  // a one-shot window: nothing ahead
  Json status = WindowStatusToJson(in, true);
  EXPECT_EQ(status.dump(), R"({"closed":true,"reason":"window holiday-freeze closed until )"
                           R"(2027-01-04T09:00:00Z","nextOpen":"2027-01-04T09:00:00Z"})");
  EXPECT_TRUE(WindowStatusToJson(WindowState{}, false).is_null());
}

TEST(PromotionWindows, AnAllowOpensOnlyWhileActiveInItsZone) {
  // Weekdays 09:00-17:00 in Berlin (CET in winter: 08:00Z-16:00Z).
  std::vector<Window> ws = {Make("business-hours", false, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                                 "TZID=Europe/Berlin:20260105T090000",
                                 "TZID=Europe/Berlin:20260105T170000")};
  WindowState saturday = EvaluateWindows(ws, At(2026, 12, 5, 12));
  EXPECT_TRUE(saturday.closed);
  EXPECT_EQ(saturday.reason, "window business-hours closed until 2026-12-07T08:00:00Z");
  WindowState tuesday = EvaluateWindows(ws, At(2026, 12, 8, 10));
  EXPECT_FALSE(tuesday.closed);
  EXPECT_EQ(tuesday.next_close, At(2026, 12, 8, 16));
  EXPECT_EQ(tuesday.next_close_reason, "window business-hours closed until 2026-12-09T08:00:00Z");
  // In summer (CEST) the same wall clock is an hour earlier in UTC.
  EXPECT_EQ(EvaluateWindows(ws, At(2026, 7, 7, 6)).next_open, At(2026, 7, 7, 7));
}

TEST(PromotionWindows, ADenyWinsOverAnAllowAndTheReasonNamesIt) {
  std::vector<Window> ws = {
      Make("always", false, "FREQ=DAILY", "20260101T000000Z", "20260102T000000Z"),
      Make("release-night", true, "FREQ=WEEKLY;BYDAY=FR", "20260102T180000Z", "20260102T230000Z")};
  WindowState friday = EvaluateWindows(ws, At(2026, 12, 4, 20));
  EXPECT_TRUE(friday.closed);
  EXPECT_EQ(friday.reason, "window release-night closed until 2026-12-04T23:00:00Z");
  EXPECT_FALSE(EvaluateWindows(ws, At(2026, 12, 4, 23)).closed);
}

// Woken exactly at a change (as the Stage is), with a change exactly at the
// horizon's end: Saturday 00:00 to Monday 00:00 in two occurrences.
TEST(PromotionWindows, AnInstantOnAChangeSeesTheWholeClosure) {
  std::vector<Window> ws = {
      Make("weekend", true, "FREQ=WEEKLY;BYDAY=SA,SU", "20260103T000000Z", "20260104T000000Z")};
  WindowState sat = EvaluateWindows(ws, At(2026, 12, 5));  // a Saturday, 00:00
  EXPECT_TRUE(sat.closed);
  EXPECT_EQ(sat.reason, "window weekend closed until 2026-12-07T00:00:00Z");
  WindowState fri = EvaluateWindows(ws, At(2026, 12, 4, 12));
  EXPECT_EQ(fri.next_close, At(2026, 12, 5));
  EXPECT_EQ(fri.next_close_reason, "window weekend closed until 2026-12-07T00:00:00Z");
}

TEST(PromotionWindows, WindowsSelectTheirStages) {
  model::ProjectConfig pc;
  pc.promotion_windows = {
      {"prod-only", model::StageSelector{"glob:prod*", {}}, std::nullopt, true, "",
       "20260101T000000Z", "20260102T000000Z"},
      {"everywhere", std::nullopt, std::nullopt, true, "", "20260101T000000Z", "20260102T000000Z"},
      {"tier", model::StageSelector{"", {{"tier", "production"}}}, std::nullopt, true, "",
       "20260101T000000Z", "20260102T000000Z"}};
  pc.freeze_periods = {{"prod-nights", model::StageSelector{"glob:prod*", {}}, std::nullopt,
                        "0 20 * * *", "0 6 * * *", "UTC"}};
  auto prod = WindowsFor(pc, "prod-eu", {});
  ASSERT_TRUE(prod);
  ASSERT_EQ(prod->size(), 3u);
  EXPECT_EQ((*prod)[2].Label(), "freeze period prod-nights");
  auto dev = WindowsFor(pc, "dev", {{"tier", "production"}});
  ASSERT_TRUE(dev);
  ASSERT_EQ(dev->size(), 2u);
  EXPECT_EQ((*dev)[1].name, "tier");
}

Window Freeze(const std::string& name, const std::string& start, const std::string& end,
              const std::string& zone = "UTC") {
  auto c = CompileFreeze({name, std::nullopt, std::nullopt, start, end, zone});
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

// GitLab's deploy freeze: from Friday 23:00 to Monday 07:00 on Berlin's
// wall clock.
TEST(FreezePeriods, AFreezeHoldsFromItsStartToItsNextEndInItsZone) {
  std::vector<Window> ws = {Freeze("weekend", "0 23 * * 5", "0 7 * * 1", "Europe/Berlin")};
  WindowState sat = EvaluateWindows(ws, At(2026, 12, 5, 12));
  EXPECT_TRUE(sat.closed);
  EXPECT_EQ(sat.reason, "freeze period weekend closed until 2026-12-07T06:00:00Z");
  WindowState fri = EvaluateWindows(ws, At(2026, 12, 4, 12));
  EXPECT_FALSE(fri.closed);
  EXPECT_EQ(fri.next_close, At(2026, 12, 4, 22));
  EXPECT_EQ(fri.next_close_reason, "freeze period weekend closed until 2026-12-07T06:00:00Z");
  // In summer the same wall-clock times are an hour earlier in UTC.
  WindowState june = EvaluateWindows(ws, At(2026, 6, 6, 12));
  EXPECT_EQ(june.next_open, At(2026, 6, 8, 5));
  // The end is exclusive and the start inclusive.
  EXPECT_TRUE(EvaluateWindows(ws, At(2026, 12, 4, 22)).closed);
  EXPECT_FALSE(EvaluateWindows(ws, At(2026, 12, 7, 6)).closed);
}

TEST(FreezePeriods, AnEndThatNeverComesFreezesForGoodAndAStartWithTheEndDoesNotCount) {
  std::vector<Window> ws = {Freeze("forever", "0 0 1 12 *", "0 0 30 2 *")};
  WindowState dec = EvaluateWindows(ws, At(2026, 12, 5));
  EXPECT_TRUE(dec.closed);
  EXPECT_EQ(dec.reason, "freeze period forever closed, with no known reopening");
  // Daily starts and a Monday end at the same minute: frozen from Tuesday
  // 00:00 to Monday 00:00, and the Monday start is no start.
  std::vector<Window> week = {Freeze("week", "0 0 * * *", "0 0 * * 1")};
  EXPECT_FALSE(EvaluateWindows(week, At(2026, 12, 7, 0, 30)).closed) << "Monday";
  WindowState tue = EvaluateWindows(week, At(2026, 12, 8, 0, 30));
  EXPECT_TRUE(tue.closed);
  EXPECT_EQ(tue.next_open, At(2026, 12, 14));
}

// Crons that fire together nearly always are refused as too costly to
// evaluate (the freeze then counts as in force), not walked minute by
// minute over a year.
TEST(FreezePeriods, CronsThatFireTogetherAreAnErrorNotAYearOfWork) {
  Window w = Freeze("busy", "* * * * *", "* * * * *");
  auto got = w.Between(At(2026, 1, 1), At(2027, 1, 1));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message, "its start and end fire together more than 20000 times");
  WindowState st = EvaluateWindows({w}, At(2026, 6, 1));
  EXPECT_TRUE(st.closed);
  EXPECT_NE(st.reason.find("freeze period busy cannot be evaluated"), std::string::npos)
      << st.reason;
}

// Property: a freeze period's intervals say "frozen" exactly when GitLab's
// rule does (the start cron's last firing later than the end cron's), over
// random crons, zones and instants.
TEST(FreezePeriods, AgreeWithGitLabsRuleAtRandomInstants) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  static const char* kCrons[] = {"0 23 * * 5", "0 7 * * 1",   "30 2 * * *",  "0 */6 * * *",
                                 "0 0 1 * *",  "0 9 * * 1-5", "15 17 * * 5", "0 0 * * *"};
  static const char* kZones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"};
  for (int round = 0; round < 300; ++round) {
    const char* zone = kZones[pick(0, 3)];
    Window w = Freeze("f", kCrons[pick(0, 7)], kCrons[pick(0, 7)], zone);
    int64_t from = At(2026, 1, 1) + pick(0, 360) * 86400LL + pick(0, 86399);
    auto intervals = w.Between(from, from + 40 * 86400LL);
    ASSERT_TRUE(intervals);
    for (int probe = 0; probe < 20; ++probe) {
      int64_t t = from + pick(0, 40 * 86400 - 1);
      bool listed = std::any_of(intervals->begin(), intervals->end(),
                                [t](const auto& i) { return i.first <= t && t < i.second; });
      auto last_start = w.freeze->start.PrevIn(*w.freeze->zone, t);
      auto last_end = w.freeze->end.PrevIn(*w.freeze->zone, t);
      bool gitlab = last_start && (!last_end || *last_start > *last_end);
      ASSERT_EQ(listed, gitlab) << zone << " at " << t << " from " << from;
    }
  }
}

// Property: for random schedules of Allow and Deny windows and random
// instants, EvaluateWindows agrees with a brute-force reading of the
// occurrences (themselves checked against dateutil in rrule_test.cc): the
// state at the instant, no change before the next one it names, and a
// change at it.
TEST(PromotionWindows, AgreeWithABruteForceReadingOfRandomSchedules) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  static const char* kRules[] = {"",
                                 "FREQ=DAILY",
                                 "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                                 "FREQ=DAILY;BYHOUR=9,15",
                                 "FREQ=MONTHLY;BYDAY=-1FR",
                                 "FREQ=HOURLY;INTERVAL=5"};
  for (int round = 0; round < 200; ++round) {
    std::vector<Window> ws;
    int n = pick(1, 3);
    for (int i = 0; i < n; ++i) {
      int64_t s = At(2026, 1, 1) + pick(0, 60) * 3600LL * 24 + pick(0, 23) * 3600LL;
      int64_t len = pick(1, 30) * 1800LL;
      std::string rule = kRules[pick(0, 5)];
      auto fmt_t = [](int64_t t) {
        CivilDate c = CivilFromDays(t / 86400);
        int64_t tod = t % 86400;
        return fmt::format("{:04}{:02}{:02}T{:02}{:02}00Z", c.year, c.month, c.day, tod / 3600,
                           tod / 60 % 60);
      };
      ws.push_back(Make(fmt::format("w{}", i), pick(0, 1) == 1, rule, fmt_t(s), fmt_t(s + len)));
    }
    int64_t now = At(2026, 1, 1) + pick(0, 90) * 86400LL + pick(0, 86399);
    // The reference: every occurrence over the next 100 days, read minute by minute.
    auto open_at = [&](int64_t t) {
      bool any_allow = false, allowed = false;
      for (const auto& w : ws) {
        auto occ = w.Between(t, t + 1);
        EXPECT_TRUE(occ);
        bool active = !occ->empty();
        if (w.deny && active) return false;
        any_allow = any_allow || !w.deny;
        allowed = allowed || (!w.deny && active);
      }
      return !any_allow || allowed;
    };
    WindowState st = EvaluateWindows(ws, now);
    ASSERT_EQ(st.closed, !open_at(now)) << "at " << now;
    auto next = st.closed ? st.next_open : st.next_close;
    int64_t limit = next ? *next : now + 100 * 86400LL;
    for (int64_t t = now; t < std::min<int64_t>(limit, now + 100 * 86400LL); t += 60 + pick(0, 600))
      ASSERT_EQ(open_at(t), !st.closed) << "changed at " << t << " before " << limit;
    if (next) {
      ASSERT_EQ(open_at(*next), st.closed) << "no change at " << *next;
      ASSERT_EQ(open_at(*next - 1), !st.closed);
    }
  }
}

}  // namespace
}  // namespace strake::delivery
