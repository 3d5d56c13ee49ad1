// Cron schedules as Kubernetes' CronJob controller reads them (robfig/cron's
// standard parser): five fields (minute, hour, day of month, month, day of
// week) of `*`, numbers, names (JAN-DEC, SUN-SAT), ranges `a-b`, steps
// `*/n` and `a-b/n`, lists `a,b`, `?` for `*` in the day fields, and the
// macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and
// @hourly. The day fields combine as cron's do: when either starts with `*`
// both must match, else either may. Times are UTC or this machine's local
// time. Pure.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

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
};

// The schedule `text`, or an error that names the field and what is wrong.
Result<CronSchedule> ParseCron(std::string_view text);

}  // namespace strake
