#include "delivery/steps.h"

#include <fmt/format.h>

#include <cctype>

#include "base/duration.h"
#include "base/strings.h"

namespace strake::delivery {

namespace {

constexpr std::pair<StepStatus, const char*> kNames[] = {
    {StepStatus::kRunning, "Running"}, {StepStatus::kSucceeded, "Succeeded"},
    {StepStatus::kSkipped, "Skipped"}, {StepStatus::kAborted, "Aborted"},
    {StepStatus::kFailed, "Failed"},   {StepStatus::kErrored, "Errored"}};

// "task-1::step-2" -> ("task-1", "step-2"); no "::" -> ("", alias).
std::pair<std::string, std::string> SplitAlias(const std::string& alias) {
  size_t sep = alias.find("::");
  if (sep == std::string::npos) return {"", alias};
  return {alias.substr(0, sep), alias.substr(sep + 2)};
}

Result<rollout::Value> NoArguments(const std::vector<rollout::Value>& args, const char* name) {
  if (!args.empty()) return Failf("{} takes no argument, got {}", name, args.size());
  return rollout::Value();
}

}  // namespace

std::string StepStatusName(StepStatus s) {
  for (const auto& [status, name] : kNames)
    if (status == s) return name;
  return "";
}

std::optional<StepStatus> StepStatusFromName(const std::string& name) {
  if (name.empty()) return StepStatus::kPending;
  for (const auto& [status, n] : kNames)
    if (name == n) return status;
  return std::nullopt;
}

int Severity(StepStatus s) {
  switch (s) {
    case StepStatus::kSucceeded:
      return 0;
    case StepStatus::kSkipped:
      return 1;
    case StepStatus::kPending:
    case StepStatus::kRunning:
      return 2;
    case StepStatus::kAborted:
      return 3;
    case StepStatus::kFailed:
      return 4;
    case StepStatus::kErrored:
      return 5;
  }
  return 5;
}

bool HasFailures(const std::vector<StepRecord>& records) {
  for (const auto& r : records) {
    if (r.continue_on_error) continue;
    if (r.status == StepStatus::kFailed || r.status == StepStatus::kErrored) return true;
  }
  return false;
}

bool SkipWithoutCondition(const std::vector<StepRecord>& records) { return HasFailures(records); }

rollout::HostFunctions StatusFunctions(const std::vector<StepRecord>& records,
                                       const std::string& current) {
  const std::string space = SplitAlias(current).first;
  rollout::HostFunctions fns;
  fns["always"] = [](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    STRAKE_TRY(NoArguments(args, "always"));
    return rollout::Value(true);
  };
  fns["failure"] = [records](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    STRAKE_TRY(NoArguments(args, "failure"));
    return rollout::Value(HasFailures(records));
  };
  fns["success"] = [records](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    STRAKE_TRY(NoArguments(args, "success"));
    return rollout::Value(!HasFailures(records));
  };
  fns["status"] = [records,
                   space](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.size() != 1) return Failf("status takes one argument, got {}", args.size());
    if (!args[0].is_string() || args[0].get<std::string>().empty())
      return Fail("status takes the alias of a step");
    const std::string alias = args[0].get<std::string>();
    for (const auto& r : records) {
      auto [ns, short_alias] = SplitAlias(r.alias);
      if (ns == space && short_alias == alias) return rollout::Value(StepStatusName(r.status));
    }
    return rollout::Value("");
  };
  return fns;
}

bool CompleteStep(StepRecord& r, const Attempt& a, int error_threshold, int64_t timeout_ms,
                  int64_t now_ms) {
  r.status = a.status;
  r.message = a.message;
  bool err = !a.error.empty();
  if (err) {
    if (r.status != StepStatus::kFailed) r.status = StepStatus::kErrored;
    r.message = a.error;
  } else if (a.status == StepStatus::kErrored) {
    err = true;  // Kargo: "step X errored", counted; the step keeps its own message
    if (r.message.empty()) r.message = "no details provided";
  }
  auto finish = [&] {
    r.finished_ms = now_ms;
    return true;
  };
  if (r.status == StepStatus::kSucceeded || r.status == StepStatus::kSkipped) return finish();
  if (a.terminal && r.status == StepStatus::kFailed) return finish();
  if (a.terminal) {
    r.status = StepStatus::kErrored;
    r.message = "an unrecoverable error occurred: " + r.message;
    return finish();
  }
  if (err) {
    ++r.error_count;
    int threshold = error_threshold > 0 ? error_threshold : 1;
    if (r.error_count >= threshold) {
      if (r.status != StepStatus::kFailed) r.status = StepStatus::kErrored;
      r.message = fmt::format("step {} met error threshold of {}: {}", Quote(r.alias), threshold,
                              r.message);
      return finish();
    }
  }
  if (timeout_ms > 0 && now_ms - r.started_ms > timeout_ms) {
    r.status = StepStatus::kErrored;
    r.message = fmt::format("step {} timed out after {}", Quote(r.alias),
                            FormatDuration(Millis(timeout_ms)));
    return finish();
  }
  if (err) {
    r.status = StepStatus::kRunning;
    r.message += "; step will be retried";
  }
  return false;
}

std::pair<std::string, std::string> FinalPhase(const std::vector<StepRecord>& records) {
  StepStatus worst = StepStatus::kSucceeded;
  std::string message;
  for (const auto& r : records) {
    if (r.continue_on_error) continue;
    if (Severity(r.status) > Severity(worst)) {
      worst = r.status;
      message = r.message;
    }
  }
  switch (worst) {
    case StepStatus::kSucceeded:
    case StepStatus::kSkipped:
      return {"Succeeded", message};
    case StepStatus::kAborted:
      return {"Aborted", message};
    case StepStatus::kFailed:
      return {"Failed", message};
    default:
      return {"Errored", message};
  }
}

bool IsFinalPhase(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Errored" || phase == "Aborted";
}

std::string DefaultAlias(size_t index, bool task) {
  return fmt::format("{}-{}", task ? "task" : "step", index + 1);
}

}  // namespace strake::delivery
