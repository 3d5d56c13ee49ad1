// Recurrence rules of RFC 5545 (iCalendar's RRULE), expanded as
// python-dateutil's rrule and Go's rrule-go expand them (the reference the
// tests compare against): FREQ YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or
// MINUTELY; INTERVAL; COUNT or UNTIL; BYMONTH, BYMONTHDAY (negative from the
// month's end), BYYEARDAY, BYDAY (with an ordinal such as 1MO or -1FR in
// MONTHLY and YEARLY rules), BYHOUR, BYMINUTE, BYSECOND, BYSETPOS and WKST.
// What a rule leaves out comes from DTSTART (a MONTHLY rule without a day
// repeats DTSTART's day of the month). DTSTART is an occurrence only when
// the rule produces it. FREQ=SECONDLY and BYWEEKNO are refused.
//
// Occurrences are wall-clock times in DTSTART's time zone, converted to
// instants with base/tz (a time the clocks skip is read with the offset
// before the change). Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/tz.h"

namespace strake {

struct RRule {
  enum Freq { kYearly, kMonthly, kWeekly, kDaily, kHourly, kMinutely };
  struct Day {
    int weekday = 0;  // 0 = Sunday
    int n = 0;        // 0: every such weekday; else the n-th (negative: from the end)
  };
  Freq freq = kDaily;
  int interval = 1;
  std::optional<int64_t> count;
  std::optional<std::string> until;  // as written: checked against DTSTART's zone
  std::vector<int> by_month, by_month_day, by_year_day, by_hour, by_minute, by_second, by_set_pos;
  std::vector<Day> by_day;
  int week_start = 1;  // WKST, Monday by default
};

// `text` ("FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=9", an "RRULE:" prefix allowed),
// or an error naming the part that is wrong.
Result<RRule> ParseRRule(std::string_view text);

// An iCalendar DATE-TIME or DATE ("20260101T090000", "20260101T090000Z",
// "TZID=Europe/Berlin:20260101T090000", "20260101"): the wall-clock time in
// civil seconds and its zone (UTC for "Z" and for a floating time).
struct IcalTime {
  int64_t local = 0;
  std::shared_ptr<const TimeZone> zone;
  int64_t Utc() const { return zone->ToUtc(local); }
};
Result<IcalTime> ParseIcalTime(std::string_view text);

// A rule anchored at its DTSTART: the occurrences.
class Recurrence {
 public:
  // The rule's UNTIL is read in `start`'s zone unless it ends in "Z".
  static Result<Recurrence> Make(RRule rule, IcalTime start);

  // Calls `visit(instant)` for each occurrence, in order, from the one of
  // the period holding `from` (earlier ones may come: a period starts before
  // `from`) — or from DTSTART when the rule counts — until `visit` returns
  // false, the rule ends, or the periods pass `to`. An error when the rule
  // would take more than a million periods to get there.
  Status Expand(int64_t from, int64_t to, const std::function<bool(int64_t)>& visit) const;

 private:
  RRule rule_;
  IcalTime start_;
  std::optional<int64_t> until_;  // an instant
};

}  // namespace strake
