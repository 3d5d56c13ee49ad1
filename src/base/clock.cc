#include "base/clock.h"

#include <ctime>

namespace strake {

std::string FormatRfc3339(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<TimePoint> ParseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* p = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) return std::nullopt;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  int64_t ms = 0;
  if (*p == '.') {  // a fraction: milliseconds kept, the rest dropped
    int digits = 0;
    for (++p; digit(*p); ++p, ++digits) {
      if (digits < 3) ms = ms * 10 + (*p - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    ++p;
  } else if (*p == '+' || *p == '-') {
    const int64_t sign = *p == '-' ? -1 : 1;
    ++p;
    if (!digit(p[0]) || !digit(p[1]) || p[2] != ':' || !digit(p[3]) || !digit(p[4]))
      return std::nullopt;
    const int hours = (p[0] - '0') * 10 + (p[1] - '0');
    const int minutes = (p[3] - '0') * 10 + (p[4] - '0');
    if (hours > 23 || minutes > 59) return std::nullopt;
    offset_s = sign * (int64_t{hours} * 3600 + int64_t{minutes} * 60);
    p += 5;
  } else {
    return std::nullopt;
  }
  if (*p || tm.tm_sec > 59) return std::nullopt;  // no leap second, as Go's time.Parse
  std::tm normal = tm;
  const time_t secs = timegm(&normal);  // normalises: February 30 becomes March 2
  if (normal.tm_mday != tm.tm_mday || normal.tm_mon != tm.tm_mon) return std::nullopt;
  return std::chrono::system_clock::from_time_t(secs) + std::chrono::milliseconds(ms) -
         std::chrono::seconds(offset_s);
}

int64_t UnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

}  // namespace strake
