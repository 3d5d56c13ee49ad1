// Step logs of PipelineRuns and TaskRuns as the API serves them
// (GET .../pipelineruns/NAME/logs and .../taskruns/NAME/logs): which logs a
// request asks for, in the order they ran, and how much of each one answer
// carries. A client that follows a run sends back the cursor of the answer
// before and gets only what was written since, as `kubectl logs -f` would.
//
// Pure: the API reads the files (a slice of each, from the cursor's offset)
// and masks them; nothing here opens a file or reads a clock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace strake::server {

// One answer carries at most this much log text; the rest comes with the
// next request (the answer says "more").
inline constexpr size_t kLogAnswerBytes = size_t{4} << 20;

struct StepLog {
  std::string task;       // the pipeline task; a TaskRun's own name without one
  std::string task_run;   // the TaskRun
  size_t index = 0;       // of the step in its TaskRun
  std::string step;       // its name (its container's, "step-...", without one)
  std::string path;       // the log file the TaskRun's status names
  bool finished = false;  // the step has ended: its log is whole
};

// The step logs of `task_runs` in the order the TaskRuns were created (then
// by name): of pipeline task `task` and step `step` only, when given.
std::vector<StepLog> StepLogsOf(const std::vector<store::Resource>& task_runs,
                                const std::string& task, const std::string& step);

// Where the answers so far stopped: "TASKRUN/INDEX" (StepLog::task_run and
// index) -> the bytes of that log sent.
using LogCursor = std::map<std::string, uint64_t>;
std::string CursorKey(const StepLog& log);
// The text a client sends back: "TASKRUN/INDEX:BYTES,..." ("" is the
// start). Anything else is a kInvalid error.
Result<LogCursor> ParseLogCursor(std::string_view text);
std::string FormatLogCursor(const LogCursor& cursor);

// How much of `slice` (a log's bytes from the cursor on, read up to
// `budget`) to send now: up to its last newline, so that a line is never
// sent (nor masked) in two pieces; all of it when the step has finished and
// the slice holds the rest of its log; and a line longer than the whole
// budget is cut at the budget, so that a follower still moves on.
size_t SendableEnd(std::string_view slice, bool finished, size_t budget);

}  // namespace strake::server
