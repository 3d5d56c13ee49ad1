#include "model/diag.h"

#include <fmt/format.h>

#include "base/strings.h"

namespace strake::model {

std::string Diagnostic::ToString() const {
  std::string where = file;
  if (mark.line > 0) where += fmt::format(":{}:{}", mark.line, mark.col);
  std::string out = where.empty() ? "" : where + ": ";
  if (!path.empty()) out += path + ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  return out + message;
}

void Diagnostics::Error(const std::string& file, Mark mark, std::string path, std::string message) {
  Diagnostic d{Diagnostic::Severity::kError, file, mark, std::move(path), std::move(message)};
  if (!seen_.insert(d.ToString()).second) return;  // The same reference twice on a line.
  items_.push_back(std::move(d));
  ++errors_;
}

void Diagnostics::Warning(const std::string& file, Mark mark, std::string path,
                          std::string message) {
  if (!warned_.insert(file + "\n" + message).second) return;
  items_.push_back(
      {Diagnostic::Severity::kWarning, file, mark, std::move(path), std::move(message)});
}

std::vector<std::string> Diagnostics::ErrorStrings() const {
  std::vector<std::string> out;
  for (const auto& d : items_) {
    if (d.severity == Diagnostic::Severity::kError) out.push_back(d.ToString());
  }
  return out;
}

std::vector<std::string> Diagnostics::WarningStrings() const {
  std::vector<std::string> out;
  for (const auto& d : items_) {
    if (d.severity == Diagnostic::Severity::kWarning) out.push_back(d.ToString());
  }
  return out;
}

std::string Diagnostics::ErrorText() const { return Join(ErrorStrings(), "\n"); }

}  // namespace strake::model
