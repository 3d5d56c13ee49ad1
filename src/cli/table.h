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

}  // namespace strake::cli
