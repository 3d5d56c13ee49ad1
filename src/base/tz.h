// Time zones from the machine's tz database: the TZif files under
// /usr/share/zoneinfo (or $TZDIR), as glibc and Go read them, including the
// POSIX TZ rule at a file's end that carries the zone past its last listed
// transition (Debian's files list transitions to 2037; "slim" files, none
// after today). "UTC", "Etc/UTC" and "Z" need no file.
//
// Times are seconds: `utc` counts from 1970-01-01T00:00:00Z; `local` counts
// the zone's wall clock from 1970-01-01T00:00:00 as if it were UTC (civil
// seconds, every day 86400 of them). Leap seconds are not counted (POSIX).
// Pure once loaded; a TimeZone is immutable and shared freely.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake {

// A POSIX TZ rule ("EST5EDT,M3.2.0,M11.1.0"): the zone's offsets and, when
// it has daylight time, the yearly rule for the changes. Offsets are
// seconds east of UTC (POSIX writes them west, negated).
struct PosixTzRule {
  int32_t std_offset = 0;
  std::optional<int32_t> dst_offset;  // none: no daylight time
  // A change's date: month/week/weekday (Mm.w.d, week 5 = the last), a Julian
  // day 1..365 without 29 February (Jn) or a day 0..365 with it (n).
  struct Date {
    enum Kind { kMonthWeekDay, kJulianNoLeap, kDayOfYear } kind = kMonthWeekDay;
    int month = 0, week = 0, weekday = 0, day = 0;
    int32_t time = 7200;  // seconds of local time after midnight (may be <0 or >24h)
  };
  Date start, end;  // into and out of daylight time

  // The offset in force at the instant `utc`.
  int32_t OffsetAt(int64_t utc) const;
  // The instants of the changes in the civil year `year`: {start, end}.
  std::pair<int64_t, int64_t> ChangesIn(int year) const;
};

// `text` ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30"), or why not.
Result<PosixTzRule> ParsePosixTz(std::string_view text);

class TimeZone {
 public:
  // The zone named `name` ("Europe/Berlin"), read from the tz database; a
  // name that is not a plain relative path (`..`, a leading `/`) is refused.
  static Result<std::shared_ptr<const TimeZone>> Load(std::string_view name);
  // Load, remembered for the process: a zone is read from disk once.
  static Result<std::shared_ptr<const TimeZone>> Get(std::string_view name);
  static std::shared_ptr<const TimeZone> Utc();
  // A zone from the bytes of a TZif file (for tests and Load).
  static Result<TimeZone> FromTzif(std::string name, std::string_view bytes);

  const std::string& name() const { return name_; }
  // The offset from UTC, seconds east, in force at `utc`.
  int32_t OffsetAt(int64_t utc) const;
  int64_t ToLocal(int64_t utc) const { return utc + OffsetAt(utc); }
  // The instant of the wall-clock time `local`. A time repeated when the
  // clocks go back is its first occurrence; a time skipped when they go
  // forward is read with the offset before the change (RFC 5545 3.3.5), so
  // 02:30 on a day that jumps from 02:00 to 03:00 is 03:30.
  int64_t ToUtc(int64_t local) const;

 private:
  std::string name_;
  std::vector<int64_t> transitions_;  // ascending instants
  std::vector<int32_t> offsets_;      // offsets_[i] in force from transitions_[i]
  int32_t initial_offset_ = 0;        // before the first transition
  std::optional<PosixTzRule> rule_;   // after the last one
};

inline constexpr int64_t kSecondsPerDay = 86400;
// a / b rounded toward negative infinity (b > 0): the day of a time before 1970.
int64_t FloorDiv(int64_t a, int64_t b);

// Civil-calendar arithmetic on days since 1970-01-01.
int64_t DaysFromCivil(int year, unsigned month, unsigned day);
struct CivilDate {
  int year;
  unsigned month, day;
};
CivilDate CivilFromDays(int64_t days);
int Weekday(int64_t days);  // 0 = Sunday
bool IsLeapYear(int year);
unsigned DaysInMonth(int year, unsigned month);

}  // namespace strake
