#include "base/rrule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <numeric>

#include "base/strings.h"

namespace strake {

namespace {

constexpr int64_t kDay = kSecondsPerDay;
constexpr int64_t kMaxPeriods = 1000000;
constexpr std::array<std::string_view, 7> kWeekdays = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};

template <typename T, typename U>
bool Contains(const std::vector<T>& v, const U& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void SortUnique(std::vector<int>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  const char* first = s.data();
  if (!s.empty() && s.front() == '+') ++first;
  auto [end, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || first == s.data() + s.size())
    return std::nullopt;
  return v;
}

std::optional<int> WeekdayOf(std::string_view code) {
  for (size_t i = 0; i < kWeekdays.size(); ++i)
    if (kWeekdays[i] == code) return static_cast<int>(i);
  return std::nullopt;
}

tl::unexpected<Error> Bad(std::string_view part, std::string_view why) {
  return Failf(ErrorCode::kInvalid, "rrule {}: {}", part, why);
}

// A list of integers each within ±lo..hi (zero never; negative only if `signed_ok`).
Result<std::vector<int>> IntList(std::string_view key, std::string_view value, int lo, int hi,
                                 bool signed_ok) {
  std::vector<int> out;
  for (const auto& item : Split(value, ',')) {
    auto v = ParseInt(item);
    bool ok = v && ((*v >= lo && *v <= hi) || (signed_ok && *v <= -1 && *v >= -hi && *v != 0));
    if (!ok || (signed_ok && *v == 0))
      return Bad(key, fmt::format("{:?} is not in {}..{}{}", item, lo, hi,
                                  signed_ok ? fmt::format(" or -{}..-1", hi) : ""));
    out.push_back(*v);
  }
  return out;
}

Result<std::vector<RRule::Day>> DayList(std::string_view value) {
  std::vector<RRule::Day> out;
  for (const auto& item : Split(value, ',')) {
    std::string_view s = item;
    auto day = s.size() >= 2 ? WeekdayOf(s.substr(s.size() - 2)) : std::nullopt;
    if (!day)
      return Bad("BYDAY", fmt::format("{:?} does not end in MO, TU, WE, TH, FR, SA or SU", item));
    RRule::Day d{*day, 0};
    if (s.size() > 2) {
      auto n = ParseInt(s.substr(0, s.size() - 2));
      if (!n || *n == 0 || *n > 53 || *n < -53)
        return Bad("BYDAY", fmt::format("{:?}: the ordinal must be 1..53 or -53..-1", item));
      d.n = *n;
    }
    out.push_back(d);
  }
  return out;
}

Result<RRule::Freq> FreqOf(std::string_view v) {
  static constexpr std::array<std::pair<std::string_view, RRule::Freq>, 6> kFreqs = {{
      {"YEARLY", RRule::kYearly},
      {"MONTHLY", RRule::kMonthly},
      {"WEEKLY", RRule::kWeekly},
      {"DAILY", RRule::kDaily},
      {"HOURLY", RRule::kHourly},
      {"MINUTELY", RRule::kMinutely},
  }};
  for (const auto& [name, f] : kFreqs)
    if (name == v) return f;
  if (v == "SECONDLY") return Bad("FREQ", "SECONDLY is not supported (MINUTELY is the finest)");
  return Bad("FREQ", fmt::format("{:?} is not YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY",
                                 std::string(v)));
}

// One KEY=VALUE part into `r`.
Status ApplyPart(RRule& r, std::string_view key, std::string_view value) {
  auto assign = [&](std::vector<int>& to, int lo, int hi, bool signed_ok) -> Status {
    STRAKE_TRY_ASSIGN(list, IntList(key, value, lo, hi, signed_ok));
    to = std::move(list);
    return Ok();
  };
  if (key == "FREQ") {
    STRAKE_TRY_ASSIGN(f, FreqOf(value));
    r.freq = f;
  } else if (key == "INTERVAL" || key == "COUNT") {
    auto v = ParseInt(value);
    if (!v || *v < 1) return Bad(key, fmt::format("{:?} is not a positive integer", value));
    if (key == "COUNT") {
      r.count = *v;
    } else {
      r.interval = *v;
    }
  } else if (key == "UNTIL") {
    r.until = std::string(value);
  } else if (key == "BYMONTH") {
    return assign(r.by_month, 1, 12, false);
  } else if (key == "BYMONTHDAY") {
    return assign(r.by_month_day, 1, 31, true);
  } else if (key == "BYYEARDAY") {
    return assign(r.by_year_day, 1, 366, true);
  } else if (key == "BYHOUR") {
    return assign(r.by_hour, 0, 23, false);
  } else if (key == "BYMINUTE") {
    return assign(r.by_minute, 0, 59, false);
  } else if (key == "BYSECOND") {
    return assign(r.by_second, 0, 59, false);
  } else if (key == "BYSETPOS") {
    return assign(r.by_set_pos, 1, 366, true);
  } else if (key == "BYDAY") {
    STRAKE_TRY_ASSIGN(days, DayList(value));
    r.by_day = std::move(days);
  } else if (key == "WKST") {
    auto d = WeekdayOf(value);
    if (!d) return Bad(key, fmt::format("{:?} is not MO, TU, WE, TH, FR, SA or SU", value));
    r.week_start = *d;
  } else if (key == "BYWEEKNO") {
    return Bad(key, "is not supported (use BYYEARDAY or BYMONTH with BYDAY)");
  } else {
    return Bad(key, "is not a part of a recurrence rule");
  }
  return Ok();
}

// The combinations RFC 5545 forbids.
Status CheckRule(const RRule& r) {
  if (r.count && r.until) return Bad("COUNT", "and UNTIL cannot both be given");
  bool ordinal = std::any_of(r.by_day.begin(), r.by_day.end(), [](auto d) { return d.n != 0; });
  if (ordinal && r.freq != RRule::kMonthly && r.freq != RRule::kYearly)
    return Bad("BYDAY", "an ordinal (1MO, -1FR) is allowed only with FREQ=MONTHLY or YEARLY");
  if (!r.by_month_day.empty() && r.freq == RRule::kWeekly)
    return Bad("BYMONTHDAY", "is not allowed with FREQ=WEEKLY");
  if (!r.by_year_day.empty() &&
      (r.freq == RRule::kMonthly || r.freq == RRule::kWeekly || r.freq == RRule::kDaily))
    return Bad("BYYEARDAY", "is not allowed with FREQ=MONTHLY, WEEKLY or DAILY");
  return Ok();
}

Result<int> Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return Fail("too short");
  auto v = ParseInt(s.substr(at, n));
  if (!v || s[at] == '+' || s[at] == '-') return Fail("not a number");
  return *v;
}

Result<int64_t> CivilSeconds(std::string_view t) {
  auto y = Digits(t, 0, 4), mo = Digits(t, 4, 2), d = Digits(t, 6, 2);
  if (!y || !mo || !d || *mo < 1 || *mo > 12 || *d < 1 ||
      static_cast<unsigned>(*d) > DaysInMonth(*y, static_cast<unsigned>(*mo)))
    return Fail("the date is not YYYYMMDD");
  int64_t secs = DaysFromCivil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * kDay;
  if (t.size() == 8) return secs;
  auto h = Digits(t, 9, 2), mi = Digits(t, 11, 2), s = Digits(t, 13, 2);
  if (t.size() != 15 || t[8] != 'T' || !h || !mi || !s || *h > 23 || *mi > 59 || *s > 59)
    return Fail("the time is not THHMMSS");
  return secs + int64_t{*h} * 3600 + int64_t{*mi} * 60 + *s;
}

}  // namespace

Result<RRule> ParseRRule(std::string_view text) {
  std::string upper(Trim(text));
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  std::string_view body = upper;
  if (body.rfind("RRULE:", 0) == 0) body.remove_prefix(6);
  if (body.empty()) return Bad("", "is empty");
  RRule r;
  std::vector<std::string> seen;
  for (const auto& part : Split(body, ';')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) return Bad(part, "is not KEY=VALUE");
    std::string key = part.substr(0, eq);
    if (Contains(seen, key)) return Bad(key, "is given twice");
    seen.push_back(key);
    STRAKE_TRY(ApplyPart(r, key, std::string_view(part).substr(eq + 1)));
  }
  if (!Contains(seen, "FREQ")) return Bad("FREQ", "is required");
  STRAKE_TRY(CheckRule(r));
  return r;
}

Result<IcalTime> ParseIcalTime(std::string_view text) {
  std::string_view t = Trim(text);
  IcalTime out{0, TimeZone::Utc()};
  auto bad = [&](std::string_view why) {
    return Failf(ErrorCode::kInvalid, "{:?} is not an iCalendar date-time ({})", std::string(text),
                 why);
  };
  if (t.rfind("TZID=", 0) == 0) {
    auto colon = t.find(':');
    if (colon == std::string_view::npos) return bad("TZID=ZONE: is followed by the time");
    auto zone = TimeZone::Get(t.substr(5, colon - 5));
    if (!zone) return bad(zone.error().message);
    out.zone = *zone;
    t.remove_prefix(colon + 1);
    if (!t.empty() && t.back() == 'Z') return bad("a time with a TZID cannot end in Z");
  }
  if (!t.empty() && t.back() == 'Z') t.remove_suffix(1);
  auto secs = CivilSeconds(t);
  if (!secs) return bad(secs.error().message);
  out.local = *secs;
  return out;
}

Result<Recurrence> Recurrence::Make(RRule rule, IcalTime start) {
  Recurrence rec;
  int64_t day = FloorDiv(start.local, kDay);
  int64_t tod = start.local - day * kDay;
  CivilDate c = CivilFromDays(day);
  RRule& r = rule;
  if (r.by_year_day.empty() && r.by_month_day.empty() && r.by_day.empty()) {
    if (r.freq == RRule::kYearly) {
      if (r.by_month.empty()) r.by_month = {static_cast<int>(c.month)};
      r.by_month_day = {static_cast<int>(c.day)};
    } else if (r.freq == RRule::kMonthly) {
      r.by_month_day = {static_cast<int>(c.day)};
    } else if (r.freq == RRule::kWeekly) {
      r.by_day = {{Weekday(day), 0}};
    }
  }
  // Every INTERVAL hours (minutes) from DTSTART's reaches only some hours
  // (minutes): a rule whose every BYHOUR (BYMINUTE) is out of reach never
  // occurs, and is refused as dateutil refuses it.
  auto reachable = [&](const std::vector<int>& values, int from, int base) {
    int step = std::gcd(r.interval, base);
    return values.empty() || std::any_of(values.begin(), values.end(), [&](int v) {
             return ((v - from) % step + step) % step == 0;
           });
  };
  if (r.freq == RRule::kHourly && !reachable(r.by_hour, static_cast<int>(tod / 3600), 24))
    return Bad("BYHOUR", "no hour of it comes every INTERVAL hours from DTSTART's");
  if (r.freq == RRule::kMinutely && !reachable(r.by_minute, static_cast<int>(tod / 60 % 60), 60))
    return Bad("BYMINUTE", "no minute of it comes every INTERVAL minutes from DTSTART's");
  if (r.freq < RRule::kHourly && r.by_hour.empty()) r.by_hour = {static_cast<int>(tod / 3600)};
  if (r.freq < RRule::kMinutely && r.by_minute.empty())
    r.by_minute = {static_cast<int>(tod / 60 % 60)};
  if (r.by_second.empty()) r.by_second = {static_cast<int>(tod % 60)};
  for (auto* v : {&r.by_month, &r.by_month_day, &r.by_year_day, &r.by_hour, &r.by_minute,
                  &r.by_second, &r.by_set_pos})
    SortUnique(*v);
  if (r.until) {
    if (r.until->rfind("TZID=", 0) == 0) return Bad("UNTIL", "is a UTC time (…Z) or a local one");
    STRAKE_TRY_ASSIGN(until, ParseIcalTime(*r.until));
    bool utc = r.until->back() == 'Z';
    rec.until_ = utc ? until.local : start.zone->ToUtc(until.local);
  }
  rec.rule_ = std::move(rule);
  rec.start_ = std::move(start);
  return rec;
}

namespace {

// The rule's periods and the candidates in each, in wall-clock seconds.
class Periods {
 public:
  Periods(const RRule& r, int64_t start) : r_(r), start_day_(FloorDiv(start, kDay)) {
    // A week begins on WKST: its first day is the unit the weeks count from.
    origin_ = r.freq == RRule::kWeekly ? start_day_ - (Weekday(start_day_) - r.week_start + 7) % 7
                                       : Unit(start);
  }

  // The index of the period holding the wall-clock time `t` (may be < 0).
  int64_t IndexOf(int64_t t) const {
    if (r_.freq == RRule::kWeekly) return FloorDiv(Unit(t) - origin_, 7LL * r_.interval);
    return FloorDiv(Unit(t) - origin_, r_.interval);
  }

  // The first wall-clock second of period `k`.
  int64_t Start(int64_t k) const {
    int64_t unit = origin_ + k * r_.interval;
    switch (r_.freq) {
      case RRule::kYearly:
        return DaysFromCivil(static_cast<int>(unit), 1, 1) * kDay;
      case RRule::kMonthly:
        return MonthDay(unit) * kDay;
      case RRule::kWeekly:
        return (origin_ + 7 * k * r_.interval) * kDay;
      case RRule::kDaily:
        return unit * kDay;
      case RRule::kHourly:
        return unit * 3600;
      case RRule::kMinutely:
        return unit * 60;
    }
    return 0;
  }

  // The occurrences of period `k`, sorted, BYSETPOS applied.
  std::vector<int64_t> Candidates(int64_t k) const {
    std::vector<int64_t> out;
    int64_t first = Start(k);
    if (r_.freq == RRule::kHourly || r_.freq == RRule::kMinutely) {
      int64_t day = FloorDiv(first, kDay);
      int64_t tod = first - day * kDay;
      bool minute_ok = r_.freq == RRule::kHourly || r_.by_minute.empty() ||
                       Contains(r_.by_minute, static_cast<int>(tod / 60 % 60));
      if (DayMatches(day) && minute_ok &&
          (r_.by_hour.empty() || Contains(r_.by_hour, static_cast<int>(tod / 3600)))) {
        const std::vector<int> once = {0};
        const auto& minutes = r_.freq == RRule::kHourly ? r_.by_minute : once;
        for (int m : minutes)
          for (int s : r_.by_second) out.push_back(first + int64_t{m} * 60 + s);
      }
    } else {
      int64_t day = FloorDiv(first, kDay);
      int64_t end = day + (r_.freq == RRule::kWeekly ? 7 : 1);
      // dateutil's (and rrule-go's) first week begins at DTSTART's day: the
      // days before it are not in the set BYSETPOS counts.
      if (r_.freq == RRule::kWeekly && k == 0) day = start_day_;
      int64_t unit = origin_ + k * r_.interval;  // a period is one unit, INTERVAL units apart
      if (r_.freq == RRule::kYearly) end = DaysFromCivil(static_cast<int>(unit) + 1, 1, 1);
      if (r_.freq == RRule::kMonthly) end = MonthDay(unit + 1);
      for (; day < end; ++day) {
        if (!DayMatches(day)) continue;
        for (int h : r_.by_hour)
          for (int m : r_.by_minute)
            for (int s : r_.by_second)
              out.push_back(day * kDay + int64_t{h} * 3600 + int64_t{m} * 60 + s);
      }
    }
    return r_.by_set_pos.empty() ? out : SetPos(out);
  }

 private:
  // The unit of the rule's frequency holding `t`: its year, month index
  // (year * 12 + month - 1), day (also for WEEKLY), hour or minute.
  int64_t Unit(int64_t t) const {
    int64_t day = FloorDiv(t, kDay);
    switch (r_.freq) {
      case RRule::kYearly:
        return CivilFromDays(day).year;
      case RRule::kMonthly: {
        CivilDate c = CivilFromDays(day);
        return int64_t{c.year} * 12 + c.month - 1;
      }
      case RRule::kWeekly:
      case RRule::kDaily:
        return day;
      case RRule::kHourly:
        return FloorDiv(t, 3600);
      case RRule::kMinutely:
        return FloorDiv(t, 60);
    }
    return day;
  }

  static int64_t MonthDay(int64_t month_index) {
    int64_t y = FloorDiv(month_index, 12);
    return DaysFromCivil(static_cast<int>(y), static_cast<unsigned>(month_index - y * 12 + 1), 1);
  }

  std::vector<int64_t> SetPos(const std::vector<int64_t>& all) const {
    std::vector<int64_t> picked;
    auto n = static_cast<int64_t>(all.size());
    for (int pos : r_.by_set_pos) {
      int64_t i = pos > 0 ? pos - 1 : n + pos;
      if (i >= 0 && i < n) picked.push_back(all[static_cast<size_t>(i)]);
    }
    std::sort(picked.begin(), picked.end());
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    return picked;
  }

  // Whether `day` is the n-th (from the end when negative) `weekday` of its
  // month (or of its year, in a YEARLY rule without BYMONTH).
  bool IsNth(int64_t day, const CivilDate& c, RRule::Day want) const {
    bool by_year = r_.freq == RRule::kYearly && r_.by_month.empty();
    int64_t lo = by_year ? DaysFromCivil(c.year, 1, 1) : DaysFromCivil(c.year, c.month, 1);
    int64_t hi = by_year ? DaysFromCivil(c.year + 1, 1, 1) : lo + DaysInMonth(c.year, c.month);
    int64_t target = 0;
    if (want.n > 0) {
      target = lo + (want.weekday - Weekday(lo) + 7) % 7 + int64_t{want.n - 1} * 7;
    } else {
      target = hi - 1 - (Weekday(hi - 1) - want.weekday + 7) % 7 + int64_t{want.n + 1} * 7;
    }
    return day == target && target >= lo && target < hi;
  }

  bool DayMatches(int64_t day) const {
    CivilDate c = CivilFromDays(day);
    int wd = Weekday(day);
    if (!r_.by_month.empty() && !Contains(r_.by_month, static_cast<int>(c.month))) return false;
    bool plain = false, plain_ok = false, nth = false, nth_ok = false;
    for (const auto& d : r_.by_day) {
      if (d.n == 0) {
        plain = true;
        plain_ok = plain_ok || d.weekday == wd;
      } else {
        nth = true;
        nth_ok = nth_ok || (d.weekday == wd && IsNth(day, c, d));
      }
    }
    if ((plain && !plain_ok) || (nth && !nth_ok)) return false;
    if (!r_.by_month_day.empty()) {
      int dim = static_cast<int>(DaysInMonth(c.year, c.month));
      int md = static_cast<int>(c.day);
      if (!Contains(r_.by_month_day, md) && !Contains(r_.by_month_day, md - dim - 1)) return false;
    }
    if (!r_.by_year_day.empty()) {
      auto yd = static_cast<int>(day - DaysFromCivil(c.year, 1, 1) + 1);
      int len = IsLeapYear(c.year) ? 366 : 365;
      if (!Contains(r_.by_year_day, yd) && !Contains(r_.by_year_day, yd - len - 1)) return false;
    }
    return true;
  }

  const RRule& r_;
  int64_t start_day_;
  int64_t origin_ = 0;  // the unit (year, month index, day, hour, minute) of period 0
};

}  // namespace

Status Recurrence::Expand(int64_t from, int64_t to,
                          const std::function<bool(int64_t)>& visit) const {
  Periods periods(rule_, start_.local);
  const TimeZone& zone = *start_.zone;
  int64_t to_local = zone.ToLocal(to);
  int64_t k = rule_.count ? 0 : std::max<int64_t>(0, periods.IndexOf(zone.ToLocal(from)));
  int64_t emitted = 0;
  for (int64_t looked = 0;; ++k, ++looked) {
    if (looked == kMaxPeriods)
      return Failf(ErrorCode::kTooLarge,
                   "the recurrence takes more than {} periods to reach the time asked for",
                   kMaxPeriods);
    int64_t first = periods.Start(k);
    if (first > to_local || first > 253402300799) return Ok();  // past `to`, or year 9999
    // A time the clocks skip reads with the offset before the change, so a
    // period's instants are sorted again after conversion.
    std::vector<int64_t> instants;
    for (int64_t local : periods.Candidates(k))
      if (local >= start_.local) instants.push_back(zone.ToUtc(local));
    std::sort(instants.begin(), instants.end());
    instants.erase(std::unique(instants.begin(), instants.end()), instants.end());
    for (int64_t at : instants) {
      if ((until_ && at > *until_) || (rule_.count && emitted == *rule_.count)) return Ok();
      ++emitted;
      if (!visit(at)) return Ok();
    }
  }
}

}  // namespace strake
