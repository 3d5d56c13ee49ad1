#include "pipeline/task_runner.h"

#include "base/mask.h"

namespace strake::pipeline {

std::vector<std::string> SecretValues(const TaskRunJob& job) {
  std::vector<std::string> out;
  if (!job.secrets) return out;
  for (const auto& [name, data] : *job.secrets) {
    for (const auto& [key, value] : data.data) out.push_back(value);
  }
  return out;
}

void MaskOutcome(TaskRunOutcome& outcome, const std::vector<std::string>& secrets) {
  SecretMasker masker;
  for (const auto& s : secrets) (void)masker.Add(s);
  if (masker.empty()) return;
  auto mask = [&](std::string& text) { text = masker.Mask(text); };
  mask(outcome.message);
  mask(outcome.artifacts);
  for (auto& step : outcome.steps) mask(step.message);
  for (auto& r : outcome.results) {
    mask(r.value.str);
    for (auto& item : r.value.arr) mask(item);
    for (auto& [key, value] : r.value.obj) mask(value);
  }
}

}  // namespace strake::pipeline
