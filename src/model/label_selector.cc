#include "model/label_selector.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"

namespace strake::model {

namespace {

// The terms of a selector: commas split them, but not inside "( )".
Result<std::vector<std::string>> Terms(std::string_view selector) {
  std::vector<std::string> out;
  std::string term;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0)
      return Failf(ErrorCode::kInvalid, "unbalanced ) in {}", Quote(selector));
    if (c == ',' && depth == 0) {
      out.emplace_back(Trim(term));
      term.clear();
      continue;
    }
    term += c;
  }
  if (depth != 0) return Failf(ErrorCode::kInvalid, "unbalanced ( in {}", Quote(selector));
  out.emplace_back(Trim(term));
  return out;
}

Result<LabelRequirement> Requirement(const std::string& term) {
  using Op = LabelRequirement::Op;
  LabelRequirement r;
  auto bad = [&](const char* why) {
    return Failf(ErrorCode::kInvalid, "label selector term {}: {}", Quote(term), why);
  };
  for (const auto& [word, op] : {std::pair{" notin ", Op::kNotIn}, std::pair{" in ", Op::kIn}}) {
    const size_t at = term.find(word);
    if (at == std::string::npos) continue;
    r.key = std::string(Trim(term.substr(0, at)));
    r.op = op;
    std::string_view set = Trim(std::string_view(term).substr(at + strlen(word)));
    if (set.size() < 2 || set.front() != '(' || set.back() != ')') return bad("expected (values)");
    for (const auto& v : Split(std::string(set.substr(1, set.size() - 2)), ','))
      r.values.emplace_back(Trim(v));
    return r.key.empty() ? bad("no key") : Result<LabelRequirement>(r);
  }
  for (const auto& [text, op] : {std::pair{"!=", Op::kNotEquals}, std::pair{"==", Op::kEquals},
                                 std::pair{"=", Op::kEquals}}) {
    const size_t at = term.find(text);
    if (at == std::string::npos) continue;
    r.key = std::string(Trim(term.substr(0, at)));
    r.op = op;
    r.values.emplace_back(Trim(term.substr(at + strlen(text))));
    return r.key.empty() ? bad("no key") : Result<LabelRequirement>(r);
  }
  r.op = term.starts_with("!") ? Op::kNotExists : Op::kExists;
  r.key = std::string(Trim(r.op == Op::kNotExists ? term.substr(1) : term));
  if (r.key.empty() || r.key.find_first_of(" ()") != std::string::npos) return bad("not a key");
  return r;
}

}  // namespace

Result<std::vector<LabelRequirement>> ParseLabelSelector(std::string_view selector) {
  std::vector<LabelRequirement> out;
  if (Trim(selector).empty()) return out;
  STRAKE_TRY_ASSIGN(terms, Terms(selector));
  for (const auto& t : terms) {
    if (t.empty()) return Failf(ErrorCode::kInvalid, "empty term in {}", Quote(selector));
    STRAKE_TRY_ASSIGN(r, Requirement(t));
    out.push_back(std::move(r));
  }
  return out;
}

bool LabelsMatch(const std::vector<LabelRequirement>& selector,
                 const std::map<std::string, std::string>& labels) {
  using Op = LabelRequirement::Op;
  return std::all_of(selector.begin(), selector.end(), [&](const LabelRequirement& r) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool in =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        return in;
      case Op::kNotEquals:
      case Op::kNotIn:
        return !in;
      case Op::kExists:
        return has;
      case Op::kNotExists:
        return !has;
    }
    return false;
  });
}

bool LabelSelectorMatches(std::string_view selector,
                          const std::map<std::string, std::string>& labels) {
  auto parsed = ParseLabelSelector(selector);
  return parsed && LabelsMatch(*parsed, labels);
}

}  // namespace strake::model
