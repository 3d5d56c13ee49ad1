// Diagnostic logging to stderr for strake itself (not step logs). Thread-safe.
// Level from STRAKE_LOG (error|warn|info|debug), default warn.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace strake {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(level)) LogLine(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace strake
