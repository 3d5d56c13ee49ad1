// Cron schedules as Kubernetes' CronJob controller reads them (robfig/cron's
// standard parser): five fields (minute, hour, day of month, month, day of
// week) of `*`, numbers, names (JAN-DEC, SUN-SAT), ranges `a-b`, steps
// `*/n` and `a-b/n`, lists `a,b`, `?` for `*` in the day fields, and the
// macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and
// @hourly. The day fields combine as cron's do: when either starts with `*`
// both must match, else either may. Times are UTC, this machine's local
// time, or any zone of the tz database (GitLab's freeze periods'
// `cron_timezone`). Pure.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/tz.h"

namespace strake {

struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;      // 1..31
  std::bitset<13> months;    // 1..12
  std::bitset<7> weekdays;   // 0 = Sunday
  bool any_day = false;      // the day-of-month field starts with '*'
  bool any_weekday = false;  // the day-of-week field starts with '*'
  bool local_time = false;   // this machine's time zone, else UTC

  // The first time strictly after `after` that matches (whole minutes);
  // nullopt when none comes within five years (such as 30 February).
  std::optional<TimePoint> Next(TimePoint after) const;

  // On a zone's wall clock, in civil seconds (base/tz.h): the first matching
  // minute strictly after `local`, and the last one at or before it; nullopt
  // when none comes within five years.
  std::optional<int64_t> NextCivil(int64_t local) const;
  std::optional<int64_t> PrevCivil(int64_t local) const;
  // The same in the zone `zone`, in Unix seconds: the first firing strictly
  // after `utc` and the last at or before it. A wall time that occurs twice
  // (clocks going back) fires at its first occurrence; one that is skipped
  // (clocks going forward) fires as TimeZone::ToUtc reads it, the offset
  // before the change.
  std::optional<int64_t> NextIn(const TimeZone& zone, int64_t utc) const;
  std::optional<int64_t> PrevIn(const TimeZone& zone, int64_t utc) const;

 private:
  bool DayMatches(int64_t civil_day) const;
  bool MinuteMatches(int minute_of_day) const;
};

// The schedule `text`, or an error that names the field and what is wrong.
Result<CronSchedule> ParseCron(std::string_view text);

}  // namespace strake
