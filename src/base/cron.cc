#include "base/cron.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <vector>

#include "base/strings.h"

namespace strake {

namespace {

struct Field {
  const char* name;
  int min;
  int max;
  std::array<const char*, 12> names;  // for min.. (months from 1, weekdays from 0)
};

constexpr Field kMinute{"minute", 0, 59, {}};
constexpr Field kHour{"hour", 0, 23, {}};
constexpr Field kDay{"day of month", 1, 31, {}};
constexpr Field kMonth{
    "month",
    1,
    12,
    {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}};
constexpr Field kWeekday{"day of week", 0, 6, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}};

Result<int> Value(const Field& f, std::string_view text) {
  std::string upper(text);
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (size_t i = 0; i < f.names.size() && f.names[i]; ++i) {
    if (upper == f.names[i]) return f.min + static_cast<int>(i);
  }
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < f.min || v > f.max) {
    return Failf("{}: {} is not a value from {} to {}", f.name, Quote(text), f.min, f.max);
  }
  return v;
}

// Sets in `bits` what one field's text selects.
template <size_t N>
Status ParseField(const Field& f, std::string_view text, std::bitset<N>& bits) {
  if (text.empty()) return Failf("{}: empty", f.name);
  for (const auto& part : Split(text, ',')) {
    std::string_view range = part;
    int step = 1;
    if (auto slash = range.find('/'); slash != std::string_view::npos) {
      std::string_view s = range.substr(slash + 1);
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || end != s.data() + s.size() || step < 1 || step > f.max + 1)
        return Failf("{}: {} is not a step", f.name, Quote(s));
      range = range.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (range != "*" && range != "?") {
      auto dash = range.find('-');
      STRAKE_TRY_ASSIGN(a, Value(f, range.substr(0, dash)));
      lo = hi = a;
      if (dash != std::string_view::npos) {
        STRAKE_TRY_ASSIGN(b, Value(f, range.substr(dash + 1)));
        hi = b;
      } else if (step > 1) {
        hi = f.max;  // "a/n": from a to the end
      }
      if (lo > hi) return Failf("{}: {} runs backwards", f.name, Quote(part));
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v));
  }
  return Ok();
}

std::tm Broken(std::time_t t, bool local) {
  std::tm tm{};
  if (local) {
    localtime_r(&t, &tm);
  } else {
    gmtime_r(&t, &tm);
  }
  return tm;
}

std::time_t Join(std::tm tm, bool local) {
  if (local) {
    tm.tm_isdst = -1;
    return std::mktime(&tm);
  }
  return timegm(&tm);
}

}  // namespace

Result<CronSchedule> ParseCron(std::string_view text) {
  std::string spec(Trim(text));
  static const std::vector<std::pair<std::string, std::string>> kMacros = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  for (const auto& [name, expansion] : kMacros) {
    if (spec == name) spec = expansion;
  }
  if (StartsWith(spec, "@") || StartsWith(spec, "TZ=") || StartsWith(spec, "CRON_TZ=")) {
    return Failf(
        "{} is not supported (five fields, or @yearly, @monthly, @weekly, @daily, "
        "@hourly; a time zone goes in its own field)",
        Quote(spec));
  }
  std::vector<std::string> fields;
  for (char& ch : spec) {
    if (ch == '\t') ch = ' ';
  }
  for (const auto& f : Split(spec, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return Failf("{} has {} fields, not 5 (minute hour day-of-month month day-of-week)",
                 Quote(spec), fields.size());
  }
  CronSchedule c;
  STRAKE_TRY(ParseField(kMinute, fields[0], c.minutes));
  STRAKE_TRY(ParseField(kHour, fields[1], c.hours));
  STRAKE_TRY(ParseField(kDay, fields[2], c.days));
  STRAKE_TRY(ParseField(kMonth, fields[3], c.months));
  STRAKE_TRY(ParseField(kWeekday, fields[4], c.weekdays));
  // As robfig/cron: a field with a bare `*` or `?` among its parts is "any".
  auto any = [](const std::string& field) {
    for (const auto& part : Split(field, ',')) {
      if (part == "*" || part == "?") return true;
    }
    return false;
  };
  c.any_day = any(fields[2]);
  c.any_weekday = any(fields[4]);
  return c;
}

std::optional<TimePoint> CronSchedule::Next(TimePoint after) const {
  using std::chrono::system_clock;
  std::time_t t = system_clock::to_time_t(after);
  t = t - (t % 60) + 60;
  const std::time_t limit = t + std::time_t{5} * 366 * 86400;
  while (t <= limit) {
    std::tm tm = Broken(t, local_time);
    std::tm next = tm;
    next.tm_sec = 0;
    bool day = days[static_cast<size_t>(tm.tm_mday)];
    bool weekday = weekdays[static_cast<size_t>(tm.tm_wday)];
    bool day_matches = any_day || any_weekday ? day && weekday : day || weekday;
    if (!months[static_cast<size_t>(tm.tm_mon) + 1]) {
      next.tm_mon += 1;
      next.tm_mday = 1;
      next.tm_hour = next.tm_min = 0;
    } else if (!day_matches) {
      next.tm_mday += 1;
      next.tm_hour = next.tm_min = 0;
    } else if (!hours[static_cast<size_t>(tm.tm_hour)]) {
      next.tm_hour += 1;
      next.tm_min = 0;
    } else if (!minutes[static_cast<size_t>(tm.tm_min)]) {
      next.tm_min += 1;
    } else {
      return system_clock::from_time_t(t);
    }
    std::time_t moved = Join(next, local_time);
    t = moved > t ? moved : t + 60;  // a time-zone change may not move it
  }
  return std::nullopt;
}

bool CronSchedule::DayMatches(int64_t civil_day) const {
  CivilDate d = CivilFromDays(civil_day);
  if (!months[d.month]) return false;
  bool day = days[d.day];
  bool weekday = weekdays[static_cast<size_t>(Weekday(civil_day))];
  return any_day || any_weekday ? day && weekday : day || weekday;
}

bool CronSchedule::MinuteMatches(int minute_of_day) const {
  return hours[static_cast<size_t>(minute_of_day / 60)] &&
         minutes[static_cast<size_t>(minute_of_day % 60)];
}

namespace {
constexpr int kMinutesPerDay = 1440;
constexpr int64_t kSearchDays = int64_t{5} * 366;
// How many firings NextIn and PrevIn pass over that a change of the clocks
// makes fall on the wrong side of the instant (at most an hour's worth).
constexpr int kZoneRetries = 4 * 60;
// Near a change of the clocks (within kNear of the instant) the wall clock
// skips or repeats: the wall times within kBand of the instant's are all
// mapped to instants and the nearest taken. A change moves the clocks by
// two hours at most, so a skipped or repeated stretch lies inside the band,
// and beyond it wall times and instants run in the same order.
constexpr int64_t kNear = int64_t{3} * 3600;
constexpr int64_t kBand = int64_t{6} * 3600;

bool ChangesNear(const TimeZone& zone, int64_t utc) {
  int32_t at = zone.OffsetAt(utc);
  return zone.OffsetAt(utc - kNear) != at || zone.OffsetAt(utc + kNear) != at;
}
}  // namespace

std::optional<int64_t> CronSchedule::NextCivil(int64_t local) const {
  int64_t t = FloorDiv(local, 60) * 60 + 60;
  int64_t day = FloorDiv(t, kSecondsPerDay);
  int first = static_cast<int>((t - day * kSecondsPerDay) / 60);
  for (int64_t end = day + kSearchDays; day <= end; ++day, first = 0) {
    if (!DayMatches(day)) continue;
    for (int m = first; m < kMinutesPerDay; ++m) {
      if (MinuteMatches(m)) return day * kSecondsPerDay + int64_t{m} * 60;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::PrevCivil(int64_t local) const {
  int64_t t = FloorDiv(local, 60) * 60;
  int64_t day = FloorDiv(t, kSecondsPerDay);
  int last = static_cast<int>((t - day * kSecondsPerDay) / 60);
  for (int64_t end = day - kSearchDays; day >= end; --day, last = kMinutesPerDay - 1) {
    if (!DayMatches(day)) continue;
    for (int m = last; m >= 0; --m) {
      if (MinuteMatches(m)) return day * kSecondsPerDay + int64_t{m} * 60;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::NextIn(const TimeZone& zone, int64_t utc) const {
  int64_t local = zone.ToLocal(utc);
  if (ChangesNear(zone, utc)) {
    std::optional<int64_t> best;
    for (auto c = NextCivil(local - kBand - 60); c && *c <= local + kBand; c = NextCivil(*c)) {
      int64_t at = zone.ToUtc(*c);
      if (at > utc && (!best || at < *best)) best = at;
    }
    if (best) return best;
    local += kBand;
  }
  for (int i = 0; i < kZoneRetries; ++i) {
    auto next = NextCivil(local);
    if (!next) return std::nullopt;
    int64_t at = zone.ToUtc(*next);
    if (at > utc) return at;
    local = *next;  // the first of a repeated hour's times, already past
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::PrevIn(const TimeZone& zone, int64_t utc) const {
  int64_t local = zone.ToLocal(utc);
  if (ChangesNear(zone, utc)) {
    std::optional<int64_t> best;
    for (auto c = PrevCivil(local + kBand); c && *c >= local - kBand; c = PrevCivil(*c - 60)) {
      int64_t at = zone.ToUtc(*c);
      if (at <= utc && (!best || at > *best)) best = at;
    }
    if (best) return best;
    local -= kBand;
  }
  for (int i = 0; i < kZoneRetries; ++i) {
    auto prev = PrevCivil(local);
    if (!prev) return std::nullopt;
    int64_t at = zone.ToUtc(*prev);
    if (at <= utc) return at;
    local = *prev - 60;  // a skipped wall time read after `utc`
  }
  return std::nullopt;
}

}  // namespace strake
