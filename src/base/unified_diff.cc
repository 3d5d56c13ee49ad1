#include "base/unified_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/strings.h"

namespace strake {

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out = Split(text, '\n');
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

}  // namespace

std::string UnifiedDiff(const std::string& from_name, const std::string& from,
                        const std::string& to_name, const std::string& to) {
  if (from == to) return "";
  std::vector<std::string> a = Lines(from), b = Lines(to);
  // Edit script by longest common subsequence; manifests are small, and a
  // pair too large for the table is shown as a whole replacement.
  enum class Op { kKeep, kDel, kAdd };
  std::vector<std::pair<Op, std::string>> script;
  size_t n = a.size(), m = b.size();
  if (n * m <= 4'000'000) {
    std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
    for (size_t i = n; i-- > 0;) {
      for (size_t j = m; j-- > 0;) {
        lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] == b[j]) {
        script.emplace_back(Op::kKeep, a[i]);
        ++i;
        ++j;
      } else if (j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j])) {
        script.emplace_back(Op::kAdd, b[j++]);
      } else {
        script.emplace_back(Op::kDel, a[i++]);
      }
    }
  } else {
    for (const auto& l : a) script.emplace_back(Op::kDel, l);
    for (const auto& l : b) script.emplace_back(Op::kAdd, l);
  }
  // Hunks with 3 lines of context.
  constexpr size_t kContext = 3;
  std::string out = fmt::format("--- {}\n+++ {}\n", from_name, to_name);
  size_t k = 0;
  while (k < script.size()) {
    while (k < script.size() && script[k].first == Op::kKeep) ++k;
    if (k == script.size()) break;
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;
    // Extend while changes are within 2*context of each other.
    while (end < script.size()) {
      if (script[end].first != Op::kKeep) {
        ++end;
        continue;
      }
      size_t run = end;
      while (run < script.size() && script[run].first == Op::kKeep) ++run;
      if (run == script.size() || run - end > 2 * kContext) {
        end = std::min(end + kContext, script.size());
        break;
      }
      end = run;
    }
    size_t a_line = 1, b_line = 1;
    for (size_t x = 0; x < start; ++x) {
      if (script[x].first != Op::kAdd) ++a_line;
      if (script[x].first != Op::kDel) ++b_line;
    }
    size_t a_count = 0, b_count = 0;
    std::string body;
    for (size_t x = start; x < end; ++x) {
      char mark = script[x].first == Op::kKeep ? ' ' : script[x].first == Op::kDel ? '-' : '+';
      if (script[x].first != Op::kAdd) ++a_count;
      if (script[x].first != Op::kDel) ++b_count;
      body += mark + script[x].second + "\n";
    }
    out += fmt::format("@@ -{},{} +{},{} @@\n", a_count ? a_line : a_line - 1, a_count,
                       b_count ? b_line : b_line - 1, b_count);
    out += body;
    k = end;
  }
  return out;
}

}  // namespace strake
