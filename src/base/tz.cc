#include "base/tz.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "base/fs.h"

namespace strake {

namespace {

constexpr int64_t kDay = kSecondsPerDay;

// --- POSIX TZ strings -------------------------------------------------------

// A reader over a TZ string; each Take* returns false on a malformed part.
struct TzReader {
  std::string_view s;
  size_t i = 0;

  bool AtEnd() const { return i == s.size(); }
  bool Peek(char c) const { return i < s.size() && s[i] == c; }
  bool Accept(char c) {
    if (!Peek(c)) return false;
    ++i;
    return true;
  }
  bool TakeNumber(int& out, int max) {
    size_t start = i;
    out = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4)
      out = out * 10 + (s[i++] - '0');
    return i > start && out <= max;
  }
  // A designation: three or more letters, or <...> of letters, digits, + and -.
  bool TakeName() {
    size_t start = i;
    if (Accept('<')) {
      while (i < s.size() && s[i] != '>') ++i;
      return Accept('>') && i - start >= 5;
    }
    while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return i - start >= 3;
  }
  // [+-]hh[:mm[:ss]], hours up to `max_hours`, as seconds.
  bool TakeTime(int32_t& out, int max_hours) {
    int sign = 1;
    if (Accept('-')) {
      sign = -1;
    } else {
      (void)Accept('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!TakeNumber(h, max_hours)) return false;
    if (Accept(':') && (!TakeNumber(m, 59) || (Accept(':') && !TakeNumber(sec, 59)))) return false;
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool TakeDate(PosixTzRule::Date& d) {
    using D = PosixTzRule::Date;
    if (Accept('M')) {
      d.kind = D::kMonthWeekDay;
      if (!TakeNumber(d.month, 12) || d.month < 1 || !Accept('.') || !TakeNumber(d.week, 5) ||
          d.week < 1 || !Accept('.') || !TakeNumber(d.weekday, 6))
        return false;
    } else if (Accept('J')) {
      d.kind = D::kJulianNoLeap;
      if (!TakeNumber(d.day, 365) || d.day < 1) return false;
    } else {
      d.kind = D::kDayOfYear;
      if (!TakeNumber(d.day, 365)) return false;
    }
    d.time = 7200;
    return !Accept('/') || TakeTime(d.time, 167);
  }
};

int64_t DayOf(const PosixTzRule::Date& d, int year) {
  using D = PosixTzRule::Date;
  int64_t jan1 = DaysFromCivil(year, 1, 1);
  if (d.kind == D::kJulianNoLeap) return jan1 + d.day - 1 + (IsLeapYear(year) && d.day >= 60);
  if (d.kind == D::kDayOfYear) return jan1 + d.day;
  int64_t first = DaysFromCivil(year, static_cast<unsigned>(d.month), 1);
  int64_t day = first + (d.weekday - Weekday(first) + 7) % 7 + int64_t{d.week - 1} * 7;
  int64_t after = first + DaysInMonth(year, static_cast<unsigned>(d.month));
  while (day >= after) day -= 7;  // week 5: the last such weekday
  return day;
}

uint32_t Be32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) << 24 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

int64_t Be64(std::string_view b, size_t at) {
  return static_cast<int64_t>(static_cast<uint64_t>(Be32(b, at)) << 32 | Be32(b, at + 4));
}

// The six counts of a TZif header at `at`.
struct TzifCounts {
  size_t isut, isstd, leap, time, type, chars;
  size_t DataSize(size_t time_bytes) const {
    return time * time_bytes + time + type * 6 + chars + leap * (time_bytes + 4) + isstd + isut;
  }
};

Result<TzifCounts> CountsAt(std::string_view b, size_t at) {
  if (b.size() < at + 44 || b.substr(at, 4) != "TZif") return Fail("not a TZif file");
  TzifCounts c{Be32(b, at + 20), Be32(b, at + 24), Be32(b, at + 28),
               Be32(b, at + 32), Be32(b, at + 36), Be32(b, at + 40)};
  if (c.type == 0 || c.type > 256 || c.time > 100000 || c.leap > 10000 || c.chars > 65536)
    return Fail("a TZif header with impossible counts");
  return c;
}

bool IsZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/') {
      char c = name[i];
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '+' || c == '.';
      if (!ok) return false;
      continue;
    }
    std::string_view part = name.substr(start, i - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = i + 1;
  }
  return true;
}

}  // namespace

// --- civil calendar (H. Hinnant's algorithms) ------------------------------

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  int64_t y = static_cast<int64_t>(year) - (month <= 2);
  int64_t era = FloorDiv(y, 400);
  int64_t yoe = y - era * 400;
  int64_t mp = month > 2 ? month - 3 : month + 9;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(int64_t days) {
  int64_t z = days + 719468;
  int64_t era = FloorDiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  auto d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  auto m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {static_cast<int>(yoe + era * 400 + (m <= 2)), m, d};
}

int Weekday(int64_t days) { return static_cast<int>(((days % 7) + 11) % 7); }

bool IsLeapYear(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

unsigned DaysInMonth(int year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// --- POSIX rule ------------------------------------------------------------

Result<PosixTzRule> ParsePosixTz(std::string_view text) {
  TzReader r{text};
  PosixTzRule rule;
  int32_t west = 0;
  auto bad = [&](const char* what) {
    return Failf(ErrorCode::kInvalid, "TZ rule {:?}: {} at offset {}", std::string(text), what,
                 r.i);
  };
  if (!r.TakeName()) return bad("a zone abbreviation is expected");
  if (!r.TakeTime(west, 24)) return bad("an offset is expected");
  rule.std_offset = -west;
  if (r.AtEnd()) return rule;
  if (!r.TakeName()) return bad("a daylight-time abbreviation is expected");
  rule.dst_offset = rule.std_offset + 3600;
  if (!r.AtEnd() && !r.Peek(',')) {
    if (!r.TakeTime(west, 24)) return bad("a daylight-time offset is expected");
    rule.dst_offset = -west;
  }
  if (r.AtEnd()) {  // POSIX leaves the dates to the implementation: the US rule, as glibc
    rule.start = {PosixTzRule::Date::kMonthWeekDay, 3, 2, 0, 0, 7200};
    rule.end = {PosixTzRule::Date::kMonthWeekDay, 11, 1, 0, 0, 7200};
    return rule;
  }
  if (!r.Accept(',') || !r.TakeDate(rule.start) || !r.Accept(',') || !r.TakeDate(rule.end))
    return bad("a change date (Mm.w.d, Jn or n) is expected");
  if (!r.AtEnd()) return bad("unexpected text");
  return rule;
}

std::pair<int64_t, int64_t> PosixTzRule::ChangesIn(int year) const {
  int32_t dst = dst_offset.value_or(std_offset);
  return {DayOf(start, year) * kDay + start.time - std_offset,
          DayOf(end, year) * kDay + end.time - dst};
}

int32_t PosixTzRule::OffsetAt(int64_t utc) const {
  if (!dst_offset) return std_offset;
  int year = CivilFromDays(FloorDiv(utc + std_offset, kDay)).year;
  auto [in, out] = ChangesIn(year);
  bool dst = in < out ? (utc >= in && utc < out) : !(utc >= out && utc < in);
  return dst ? *dst_offset : std_offset;
}

// --- TimeZone --------------------------------------------------------------

Result<TimeZone> TimeZone::FromTzif(std::string name, std::string_view b) {
  STRAKE_TRY_ASSIGN(v1, CountsAt(b, 0));
  TimeZone z;
  z.name_ = std::move(name);
  size_t at = 44;
  size_t time_bytes = 4;
  TzifCounts c = v1;
  if (b[4] >= '2') {  // version 2+: a second header with 64-bit times follows
    at = 44 + v1.DataSize(4);
    STRAKE_TRY_ASSIGN(v2, CountsAt(b, at));
    c = v2;
    at += 44;
    time_bytes = 8;
  }
  if (b.size() < at + c.DataSize(time_bytes)) return Fail("a truncated TZif file");
  size_t idx_at = at + c.time * time_bytes;
  size_t type_at = idx_at + c.time;
  auto type_offset = [&](size_t t) { return static_cast<int32_t>(Be32(b, type_at + t * 6)); };
  z.initial_offset_ = type_offset(0);  // RFC 8536: type 0 before the first transition
  for (size_t i = 0; i < c.time; ++i) {
    int64_t when =
        time_bytes == 8 ? Be64(b, at + i * 8) : static_cast<int32_t>(Be32(b, at + i * 4));
    auto type = static_cast<unsigned char>(b[idx_at + i]);
    if (type >= c.type) return Fail("a TZif transition names a type that is not there");
    if (!z.transitions_.empty() && when <= z.transitions_.back())
      return Fail("TZif transitions out of order");
    z.transitions_.push_back(when);
    z.offsets_.push_back(type_offset(type));
  }
  size_t footer = at + c.DataSize(time_bytes);
  if (time_bytes == 8 && footer < b.size() && b[footer] == '\n') {
    size_t end = b.find('\n', footer + 1);
    std::string_view tz =
        b.substr(footer + 1, end == std::string_view::npos ? 0 : end - footer - 1);
    if (!tz.empty()) {
      STRAKE_TRY_ASSIGN(rule, ParsePosixTz(tz));
      z.rule_ = rule;
    }
  }
  return z;
}

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const auto* utc = [] {
    TimeZone z;
    z.name_ = "UTC";
    return new std::shared_ptr<const TimeZone>(std::make_shared<const TimeZone>(std::move(z)));
  }();
  return *utc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(std::string_view name) {
  if (name == "UTC" || name == "Etc/UTC" || name == "Z" || name == "Etc/GMT" || name == "GMT")
    return Utc();
  if (!IsZoneName(name))
    return Failf(ErrorCode::kInvalid, "time zone {:?} is not a tz database name",
                 std::string(name));
  const char* dir = std::getenv("TZDIR");
  std::string path = std::string(dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo") +
                     "/" + std::string(name);
  auto bytes = ReadFile(path, 1 << 20);
  if (!bytes)
    return Failf(ErrorCode::kInvalid, "time zone {:?} is not in the tz database ({})",
                 std::string(name), bytes.error().message);
  auto zone = FromTzif(std::string(name), *bytes);
  if (!zone) return tl::unexpected(zone.error().Wrap(path));
  return std::make_shared<const TimeZone>(std::move(*zone));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Get(std::string_view name) {
  static std::mutex mu;
  static auto* zones = new std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>>();
  {
    std::lock_guard lock(mu);
    if (auto it = zones->find(name); it != zones->end()) return it->second;
  }
  STRAKE_TRY_ASSIGN(zone, Load(name));
  std::lock_guard lock(mu);
  zones->emplace(std::string(name), zone);
  return zone;
}

int32_t TimeZone::OffsetAt(int64_t utc) const {
  if (transitions_.empty() || utc < transitions_.front())
    return transitions_.empty() && rule_ ? rule_->OffsetAt(utc) : initial_offset_;
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  auto i = static_cast<size_t>(it - transitions_.begin()) - 1;
  if (i + 1 == transitions_.size() && rule_) return rule_->OffsetAt(utc);
  return offsets_[i];
}

int64_t TimeZone::ToUtc(int64_t local) const {
  // The instant lies within local - 14h .. local + 12h: the offsets in force
  // just before and just after that span are the only candidates.
  int32_t before = OffsetAt(local - int64_t{15} * 3600);
  int32_t after = OffsetAt(local + int64_t{13} * 3600);
  bool before_ok = OffsetAt(local - before) == before;
  bool after_ok = OffsetAt(local - after) == after;
  if (before_ok && after_ok) return std::min(local - before, local - after);
  if (after_ok) return local - after;
  return local - before;  // valid, or in a gap: the offset before the change
}

}  // namespace strake
