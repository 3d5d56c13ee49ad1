#include "server/run_logs.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "base/strings.h"

namespace strake::server {

namespace {

bool ParseNumber(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::vector<StepLog> StepLogsOf(const std::vector<store::Resource>& task_runs,
                                const std::string& task, const std::string& step) {
  std::vector<const store::Resource*> ordered;
  ordered.reserve(task_runs.size());
  for (const auto& tr : task_runs) ordered.push_back(&tr);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) {
    return std::tie(a->created_ms, a->key.name) < std::tie(b->created_ms, b->key.name);
  });
  std::vector<StepLog> out;
  for (const auto* tr : ordered) {
    std::string ptask = tr->Label("tekton.dev/pipelineTask", tr->key.name);
    if (!task.empty() && ptask != task) continue;
    if (!tr->status.is_object() || !tr->status.contains("steps")) continue;
    const auto& steps = tr->status["steps"];
    if (!steps.is_array()) continue;
    for (size_t i = 0; i < steps.size(); ++i) {
      const auto& s = steps[i];
      if (!s.is_object()) continue;
      std::string name = s.value("name", "");
      if (name.empty()) name = s.value("container", "");
      if (!step.empty() && name != step) continue;
      std::string path = s.value("log", "");
      if (path.empty()) continue;
      out.push_back({ptask, tr->key.name, i, name, path, s.contains("terminated")});
    }
  }
  return out;
}

std::string CursorKey(const StepLog& log) { return fmt::format("{}/{}", log.task_run, log.index); }

Result<LogCursor> ParseLogCursor(std::string_view text) {
  LogCursor out;
  if (text.empty()) return out;
  for (const auto& part : Split(std::string(text), ',')) {
    auto colon = part.rfind(':');
    auto slash = part.rfind('/', colon);
    uint64_t index = 0, bytes = 0;
    if (colon == std::string::npos || slash == std::string::npos ||
        !IsDnsSubdomain(std::string_view(part).substr(0, slash)) ||
        !ParseNumber(std::string_view(part).substr(slash + 1, colon - slash - 1), index) ||
        !ParseNumber(std::string_view(part).substr(colon + 1), bytes)) {
      return Failf(ErrorCode::kInvalid,
                   "after: {} is not a log cursor (TASKRUN/STEP:BYTES, as an answer's \"cursor\" "
                   "gives it)",
                   Quote(part.substr(0, 300)));
    }
    out[part.substr(0, colon)] = bytes;
  }
  return out;
}

std::string FormatLogCursor(const LogCursor& cursor) {
  std::string out;
  for (const auto& [key, bytes] : cursor) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{}", key, bytes);
  }
  return out;
}

size_t SendableEnd(std::string_view slice, bool finished, size_t budget) {
  bool whole_rest = slice.size() < budget;
  if (finished && whole_rest) return slice.size();
  size_t newline = slice.rfind('\n');
  if (newline != std::string_view::npos) return newline + 1;
  return whole_rest ? 0 : slice.size();
}

}  // namespace strake::server
