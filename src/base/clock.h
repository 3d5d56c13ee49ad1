// Clock: the one way logic reads time, so tests can use a fake.
// Both are thread-safe: a FakeClock may be read by the threads of the code
// under test while the test (one thread) advances it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace strake {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{}) : now_(start) {}
  TimePoint Now() const override { return now_.load(); }
  void Advance(std::chrono::milliseconds d) { now_.store(now_.load() + d); }

 private:
  std::atomic<TimePoint> now_;
};

// RFC 3339 in UTC with second precision, as Kubernetes writes timestamps.
std::string FormatRfc3339(TimePoint t);
int64_t UnixMillis(TimePoint t);
// RFC 3339: "2026-11-22T20:30:00Z" (what FormatRfc3339 writes), with a
// fraction ("….525Z", milliseconds kept) or an offset ("…+02:00", "…-05:30");
// nullopt otherwise.
std::optional<TimePoint> ParseRfc3339(const std::string& text);
TimePoint FromUnixMillis(int64_t ms);

}  // namespace strake
