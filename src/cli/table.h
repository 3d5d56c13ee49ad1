// Plain-text tables for the CLI: columns padded to their widest cell.
#pragma once

#include <string>
#include <vector>

namespace strake::cli {

// Prints rows (the first is the header) with three spaces between columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace strake::cli
