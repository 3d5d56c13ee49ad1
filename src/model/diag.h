// Diagnostics: every problem found in one pass over the input, each naming
// file:line:col and the field path, as Tekton's validation collects them.
// Not thread-safe; one per decode.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "model/node.h"

namespace strake::model {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  Mark mark;
  std::string path;  // "spec.tasks[2].runAfter[0]"
  std::string message;

  // "pipeline.yaml:14:9: spec.tasks[2].runAfter[0]: unknown task ..."
  std::string ToString() const;
};

class Diagnostics {
 public:
  void Error(const std::string& file, Mark mark, std::string path, std::string message);
  // A warning is reported once per (file, message): "ignored" notices repeat otherwise.
  void Warning(const std::string& file, Mark mark, std::string path, std::string message);

  bool HasErrors() const { return errors_ > 0; }
  const std::vector<Diagnostic>& all() const { return items_; }
  std::vector<std::string> ErrorStrings() const;
  std::vector<std::string> WarningStrings() const;
  // All errors joined by newlines, for a Result.
  std::string ErrorText() const;

 private:
  std::vector<Diagnostic> items_;
  std::set<std::string> warned_;
  std::set<std::string> seen_;
  size_t errors_ = 0;
};

}  // namespace strake::model
