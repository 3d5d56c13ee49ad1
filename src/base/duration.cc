#include "base/duration.h"

#include <fmt/format.h>

#include <cmath>

namespace strake {

namespace {

const char* UnitNames(DurationUnits units) {
  return units == DurationUnits::kWithDays ? "ns, us, ms, s, m, h, d" : "ns, us, ms, s, m, h";
}

}  // namespace

Result<Millis> ParseDuration(std::string_view text, DurationUnits units) {
  std::string_view s = text;
  if (s.empty()) return Fail("invalid duration \"\": empty");
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Millis(0);
  if (s.empty()) return Failf("invalid duration \"{}\"", text);
  double total_ms = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) {
      return Failf("invalid duration \"{}\": expected a number, as in \"1h30m\"", text);
    }
    double value = 0;
    try {
      value = std::stod(std::string(s.substr(0, i)));
    } catch (const std::exception&) {
      return Failf("invalid duration \"{}\": bad number", text);
    }
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double scale = 0;
    if (unit == "ns")
      scale = 1e-6;
    else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs")
      scale = 1e-3;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1e3;
    else if (unit == "m")
      scale = 60e3;
    else if (unit == "h")
      scale = 3600e3;
    else if (unit == "d" && units == DurationUnits::kWithDays)
      scale = 86400e3;
    else if (unit.empty())
      return Failf("invalid duration \"{}\": missing unit (one of {})", text, UnitNames(units));
    else
      return Failf("invalid duration \"{}\": unknown unit \"{}\" (one of {})", text, unit,
                   UnitNames(units));
    total_ms += value * scale;
  }
  if (total_ms > 1e15) return Failf("invalid duration \"{}\": too large", text);
  auto ms = static_cast<int64_t>(std::llround(total_ms));
  return Millis(neg ? -ms : ms);
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000);
  int64_t s = ms / 1000;
  if (s < 3600) return fmt::format("{}m{}s", s / 60, s % 60);
  return fmt::format("{}h{}m{}s", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace strake
