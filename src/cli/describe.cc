#include "cli/describe.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

#include "base/strings.h"
#include "model/merge.h"

namespace strake::cli {

namespace {

// The maps whose keys are data, not field names: shown as written.
bool KeysAsWritten(const std::string& key) {
  static const std::set<std::string> kMaps = {
      "data",        "stringData",   "binaryData", "labels", "annotations",
      "matchLabels", "nodeSelector", "selector",   "args",   "extVars"};
  return kMaps.count(key) > 0;
}

// "readyReplicas" -> "Ready Replicas", as kubectl spells a field; a name that
// is not plain camelCase stays as written.
std::string Label(const std::string& key) {
  bool plain = !key.empty() && std::islower(static_cast<unsigned char>(key[0]));
  for (char c : key) plain = plain && std::isalnum(static_cast<unsigned char>(c));
  if (!plain) return key;
  std::string out(1, static_cast<char>(std::toupper(static_cast<unsigned char>(key[0]))));
  for (size_t i = 1; i < key.size(); ++i) {
    bool upper = std::isupper(static_cast<unsigned char>(key[i]));
    bool after_lower = !std::isupper(static_cast<unsigned char>(key[i - 1]));
    if (upper && after_lower) out += ' ';
    out += key[i];
  }
  return out;
}

std::string Scalar(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  return v.dump();
}

void Render(const Json& v, size_t indent, bool keys_as_written, std::string& out);

void Field(const std::string& key, const Json& v, size_t indent, bool as_written,
           std::string& out) {
  std::string pad(indent, ' ');
  std::string name = as_written ? key : Label(key);
  if (v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos) {
    out += fmt::format("{}{}:\n", pad, name);
    for (const auto& line : Split(std::string(Trim(v.get<std::string>())), '\n'))
      out += fmt::format("{}  {}\n", pad, line);
    return;
  }
  if (!v.is_structured()) {
    out += fmt::format("{}{}:  {}\n", pad, name, Scalar(v));
    return;
  }
  if (v.empty()) {
    out += fmt::format("{}{}:  <none>\n", pad, name);
    return;
  }
  out += fmt::format("{}{}:\n", pad, name);
  Render(v, indent + 2, KeysAsWritten(key), out);
}

void Render(const Json& v, size_t indent, bool keys_as_written, std::string& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) Field(k, x, indent, keys_as_written, out);
    return;
  }
  for (const auto& item : v) {
    if (!item.is_structured()) {
      out += pad + "- " + Scalar(item) + "\n";
      continue;
    }
    out += pad + "-\n";
    Render(item, indent + 2, false, out);
  }
}

// Labels: a=b on the first line, the others under it.
std::string Pairs(const Json& map) {
  if (!map.is_object() || map.empty()) return "<none>\n";
  std::string out;
  for (const auto& [k, v] : map.items())
    out += (out.empty() ? "" : std::string(20, ' ')) + k + "=" + Scalar(v) + "\n";
  return out;
}

}  // namespace

std::string DescribeObject(const Json& obj) {
  if (!obj.is_object()) return Scalar(obj) + "\n";
  const Json meta = obj.value("metadata", Json::object());
  std::string out = fmt::format("{:<20}{}\n", "Name:", meta.value("name", ""));
  if (meta.contains("namespace"))
    out += fmt::format("{:<20}{}\n", "Namespace:", meta.value("namespace", ""));
  out += fmt::format("{:<20}{}", "Labels:", Pairs(meta.value("labels", Json::object())));
  Json annotations = meta.value("annotations", Json::object());
  if (annotations.is_object()) annotations.erase(model::kLastApplied);
  out += fmt::format("{:<20}{}", "Annotations:", Pairs(annotations));
  out += fmt::format("{:<20}{}\n", "API Version:", obj.value("apiVersion", ""));
  out += fmt::format("{:<20}{}\n", "Kind:", obj.value("kind", ""));
  for (const char* field : {"creationTimestamp", "resourceVersion", "uid"}) {
    if (meta.contains(field))
      out += fmt::format("{:<20}{}\n", Label(field) + ":", Scalar(meta[field]));
  }
  for (const auto& [k, v] : obj.items()) {
    if (k == "apiVersion" || k == "kind" || k == "metadata") continue;
    Field(k, v, 0, false, out);
  }
  return out;
}

std::string DescribeStageGates(const Json& report) {
  if (!report.is_object()) return "";
  std::string out = "Gates:\n";
  auto line = [&](const std::string& label, const std::string& value) {
    out += fmt::format("  {:<20}{}\n", label + ":", value);
  };
  const Json freight = report.value("freight", Json::array());
  std::vector<std::string> here;
  for (const auto& f : freight) here.push_back(Scalar(f));
  line("Freight Here", here.empty() ? "<none>" : Join(here, ", "));
  const Json window = report.value("promotionWindowStatus", Json());
  if (!window.is_object()) {
    line("Promotion Window", "<none>");
  } else if (window.value("closed", false)) {
    std::string next = window.contains("nextOpen") ? "; opens " + Scalar(window["nextOpen"]) : "";
    line("Promotion Window", "closed: " + window.value("reason", "") + next);
  } else {
    std::string next =
        window.contains("nextClose") ? "; closes " + Scalar(window["nextClose"]) : "";
    line("Promotion Window", "open" + next);
  }
  const Json lines = report.value("stopTheLine", Json());
  if (!lines.is_array() || lines.empty()) line("Stopped Line", "<none>");
  for (const auto& l : lines.is_array() ? lines : Json::array()) {
    std::vector<std::string> names;
    for (const auto& e : l.value("exceptions", Json::array())) names.push_back(Scalar(e));
    std::string except = names.empty() ? "" : " (exceptions: " + Join(names, ", ") + ")";
    line("Stopped Line", l.value("source", "") + ": " + l.value("reason", "") + except);
  }
  for (const auto& c : report.value("criteria", Json::array())) {
    line("Criterion", fmt::format("{} ({}): {}", c.value("name", ""), c.value("source", ""),
                                  c.value("expression", "")));
  }
  for (const auto& a : report.value("approvals", Json::array())) {
    line("Approval Policy",
         fmt::format("{} ({}): {} approval(s){}", a.value("name", ""), a.value("source", ""),
                     a.value("minApprovals", 1),
                     a.value("allowSelfApproval", false) ? "" : ", not by its creator"));
  }
  const Json candidates = report.value("candidates", Json::array());
  if (candidates.empty()) {
    line("Candidates", "<none>");
    return out;
  }
  out += "  Candidates (newest first):\n";
  for (const auto& c : candidates) {
    std::string state = c.value("current", false)      ? "here now"
                        : !c.value("available", false) ? "not available: " + c.value("why", "")
                        : c.value("gate", Json()).is_string()
                            ? "held: " + c["gate"].get<std::string>()
                            : "may be promoted";
    std::string alias = c.value("alias", "");
    out += fmt::format("    {}{}  {}\n", c.value("name", "").substr(0, 12),
                       alias.empty() ? "" : " (" + alias + ")", state);
  }
  return out;
}

}  // namespace strake::cli
