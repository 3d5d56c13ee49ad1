#include "cli/table.h"

#include <fmt/format.h>

#include <algorithm>

namespace strake::cli {

int Die(const std::string& message) {
  fmt::print(stderr, "strake: {}\n", message);
  return 2;
}

void TableColumns::Widen(const std::vector<std::string>& row) {
  if (widths_.size() < row.size()) widths_.resize(row.size(), 0);
  for (size_t i = 0; i < row.size(); ++i) widths_[i] = std::max(widths_[i], row[i].size());
}

std::string TableColumns::Line(const std::vector<std::string>& row) {
  Widen(row);
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) line += std::string(widths_[i] - row[i].size() + 3, ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string TableText(const std::vector<std::vector<std::string>>& rows) {
  TableColumns columns;
  for (const auto& r : rows) columns.Widen(r);
  std::string out;
  for (const auto& r : rows) out += columns.Line(r);
  return out;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  fmt::print("{}", TableText(rows));
}

}  // namespace strake::cli
