#include "base/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace strake {

static LogLevel ConfiguredLevel() {
  static const LogLevel level = [] {
    const char* v = std::getenv("STRAKE_LOG");
    if (v == nullptr) return LogLevel::kWarn;
    if (std::strcmp(v, "error") == 0) return LogLevel::kError;
    if (std::strcmp(v, "info") == 0) return LogLevel::kInfo;
    if (std::strcmp(v, "debug") == 0) return LogLevel::kDebug;
    return LogLevel::kWarn;
  }();
  return level;
}

bool LogEnabled(LogLevel level) { return level <= ConfiguredLevel(); }

void LogLine(LogLevel level, std::string_view message) {
  static std::mutex mu;
  static const char* names[] = {"error", "warn", "info", "debug"};
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "strake: %s: %.*s\n", names[static_cast<int>(level)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace strake
