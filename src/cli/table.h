// Terminal output shared by the CLI's commands.
#pragma once

#include <string>
#include <vector>

namespace strake::cli {

// Prints "strake: MESSAGE" to stderr; returns 2, the exit code of a
// command that could not do what it was asked.
int Die(const std::string& message);

// Plain-text tables, columns padded to their widest cell: prints rows (the
// first is the header) with three spaces between columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows);
std::string TableText(const std::vector<std::vector<std::string>>& rows);

// The columns of a table that goes on growing (`get -w`): each line padded
// to the widest cell its column has had so far, so that rows printed later
// line up under the first table's header and rows.
class TableColumns {
 public:
  void Widen(const std::vector<std::string>& row);
  // The row as a line (ending in a newline), after widening for it.
  std::string Line(const std::vector<std::string>& row);

 private:
  std::vector<size_t> widths_;
};

}  // namespace strake::cli
