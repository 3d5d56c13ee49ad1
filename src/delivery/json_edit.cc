#include "delivery/json_edit.h"

#include <fmt/format.h>

#include <utility>

#include "base/strings.h"

namespace strake::delivery {

using model::Json;

namespace {

constexpr size_t kMaxDepth = 100;

// A span of the text: [begin, end).
struct Span {
  size_t begin = 0;
  size_t end = 0;
};

// A member of an object: where its key starts (after the white space that
// follows the comma or brace before it), the key, and its value.
struct Member {
  size_t lead = 0;  // just after the ',' or '{' before the key
  Span key;
  std::string name;
  Span value;
};

// Walks a document already known to be valid JSON.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}

  size_t SkipSpace(size_t p) const {
    while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t' || t_[p] == '\n' || t_[p] == '\r')) ++p;
    return p;
  }

  // The end of the value that starts at p.
  size_t ValueEnd(size_t p) const {
    if (p >= t_.size()) return p;
    if (t_[p] == '"') return StringEnd(p);
    if (t_[p] != '{' && t_[p] != '[') {
      while (p < t_.size() && std::string_view(",]} \t\r\n").find(t_[p]) == std::string_view::npos)
        ++p;
      return p;
    }
    int depth = 0;
    while (p < t_.size()) {
      char c = t_[p];
      if (c == '"') {
        p = StringEnd(p);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return p + 1;
      ++p;
    }
    return p;
  }

  std::vector<Member> Members(size_t open) const {
    std::vector<Member> out;
    size_t p = SkipSpace(open + 1);
    size_t lead = open + 1;
    while (p < t_.size() && t_[p] == '"') {
      Member m;
      m.lead = lead;
      m.key = {p, StringEnd(p)};
      Json name = Json::parse(t_.substr(m.key.begin, m.key.end - m.key.begin), nullptr, false);
      m.name = name.is_string() ? name.get<std::string>() : "";
      p = SkipSpace(SkipSpace(m.key.end) + 1);  // past ':'
      m.value = {p, ValueEnd(p)};
      out.push_back(std::move(m));
      p = SkipSpace(out.back().value.end);
      if (p >= t_.size() || t_[p] != ',') break;
      lead = p + 1;
      p = SkipSpace(p + 1);
    }
    return out;
  }

  // Each element's span, and where the white space before it starts.
  std::vector<std::pair<size_t, Span>> Elements(size_t open) const {
    std::vector<std::pair<size_t, Span>> out;
    size_t lead = open + 1;
    size_t p = SkipSpace(open + 1);
    while (p < t_.size() && t_[p] != ']') {
      out.push_back({lead, {p, ValueEnd(p)}});
      p = SkipSpace(out.back().second.end);
      if (p >= t_.size() || t_[p] != ',') break;
      lead = p + 1;
      p = SkipSpace(p + 1);
    }
    return out;
  }

 private:
  size_t StringEnd(size_t p) const {
    for (++p; p < t_.size(); ++p) {
      if (t_[p] == '\\') {
        ++p;
      } else if (t_[p] == '"') {
        return p + 1;
      }
    }
    return p;
  }

  std::string_view t_;
};

std::string Raw(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string TypeOf(char c) {
  switch (c) {
    case '"':
      return "a string";
    case 't':
    case 'f':
      return "a boolean";
    case 'n':
      return "null";
    default:
      return "a number";
  }
}

// What the rest of the path makes below a missing key, as sjson's
// appendBuild: lists for index parts (padded with nulls), objects else.
Result<Json> Build(const std::vector<KeyPart>& path, size_t from, const Json& value) {
  if (from == path.size()) return value;
  STRAKE_TRY_ASSIGN(below, Build(path, from + 1, value));
  if (IsIndex(path[from])) {
    Json list = Json::array();
    for (size_t i = 0; i < std::stoul(path[from].name); ++i) list.push_back(nullptr);
    list.push_back(std::move(below));
    return list;
  }
  Json object = Json::object();
  object[path[from].name] = std::move(below);
  return object;
}

std::string Splice(std::string_view text, size_t at, size_t end, std::string_view with) {
  std::string out(text.substr(0, at));
  out.append(with);
  out.append(text.substr(end));
  return out;
}

// A new member of the object at `open`, with the rest of the path below it.
Result<std::string> AddMember(std::string_view text, const Scanner& scan, size_t open,
                              const std::vector<KeyPart>& path, size_t i, const Json& value) {
  STRAKE_TRY_ASSIGN(below, Build(path, i + 1, value));
  const std::string key = Raw(Json(path[i].name));
  std::vector<Member> members = scan.Members(open);
  if (members.empty()) return Splice(text, open + 1, open + 1, key + ":" + Raw(below));
  const Member& last = members.back();
  std::string_view lead = text.substr(last.lead, last.key.begin - last.lead);
  std::string_view colon = text.substr(last.key.end, last.value.begin - last.key.end);
  std::string add = fmt::format(",{}{}{}{}", lead, key, colon, Raw(below));
  return Splice(text, last.value.end, last.value.end, add);
}

// A new element of the list at `open` at index `index` (past its end).
Result<std::string> AddElement(std::string_view text, const Scanner& scan, size_t open,
                               size_t index, const std::vector<KeyPart>& path, size_t i,
                               const Json& value) {
  STRAKE_TRY_ASSIGN(below, Build(path, i + 1, value));
  auto elements = scan.Elements(open);
  if (elements.empty()) {
    std::string add;
    for (size_t k = 0; k < index; ++k) add += "null,";
    return Splice(text, open + 1, open + 1, add + Raw(below));
  }
  const auto& [lead_at, last] = elements.back();
  std::string_view lead = text.substr(lead_at, last.begin - lead_at);
  std::string add;
  for (size_t k = elements.size(); k < index; ++k) add += fmt::format(",{}null", lead);
  add += fmt::format(",{}{}", lead, Raw(below));
  return Splice(text, last.end, last.end, add);
}

}  // namespace

Result<std::vector<KeyPart>> SplitKey(std::string_view key) {
  key = Trim(key);
  if (key.empty()) return Fail("empty key");
  std::vector<KeyPart> parts;
  KeyPart cur;
  bool escaped = false;
  auto end_part = [&]() -> Status {
    if (cur.name.empty()) return Failf("empty key part in key {}", Quote(key));
    parts.push_back(std::move(cur));
    cur = KeyPart{};
    return Ok();
  };
  for (char c : key) {
    if (escaped) {
      if (c != '.' && c != ':') return Failf("invalid escape sequence in key {}", Quote(key));
      cur.name += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == '.') {
      STRAKE_TRY(end_part());
    } else if (c == ':') {
      if (!cur.name.empty() || cur.forced_key)
        return Failf("unexpected colon in key {}", Quote(key));
      cur.forced_key = true;
    } else {
      cur.name += c;
    }
  }
  if (escaped) return Failf("invalid escape sequence in key {}", Quote(key));
  STRAKE_TRY(end_part());
  return parts;
}

std::string JoinKey(const std::vector<KeyPart>& path, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < path.size(); ++i) {
    if (i) out += '.';
    std::string name = path[i].name;
    ReplaceAll(name, ".", "\\.");
    out += name;
  }
  return out;
}

bool IsIndex(const KeyPart& part) {
  if (part.forced_key || part.name.empty() || part.name.size() > 9) return false;
  for (char c : part.name) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Result<std::string> SetJsonValue(std::string_view text, const std::vector<KeyPart>& path,
                                 const Json& value) {
  if (!value.is_string() && !value.is_number() && !value.is_boolean())
    return Fail("the value must be a string, a number or a boolean");
  std::string doc(text);
  if (Trim(doc).empty()) doc = "{}";
  if (!JsonDepthWithin(doc, kMaxDepth) || Json::parse(doc, nullptr, false).is_discarded())
    return Fail("the file is not valid JSON");
  for (const auto& part : path) {
    if (part.name.find_first_of("|#@*?") != std::string::npos)
      return Failf("{}: gjson's query syntax is not supported yet", Quote(part.name));
    if (part.name == "-1" && !part.forced_key)
      return Fail("-1 (append) is not supported: a run again would append again");
  }
  Scanner scan(doc);
  size_t at = scan.SkipSpace(StartsWith(doc, "\xEF\xBB\xBF") ? 3 : 0);
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string here = i == 0 ? "the document" : Quote(JoinKey(path, i));
    if (doc[at] == '{') {
      auto members = scan.Members(at);
      const Member* found = nullptr;
      for (const auto& m : members) {
        if (!found && m.name == path[i].name) found = &m;
      }
      if (!found) return AddMember(doc, scan, at, path, i, value);
      at = found->value.begin;
    } else if (doc[at] == '[') {
      if (!IsIndex(path[i]))
        return Failf("{} is a list, and {} is not an index", here, Quote(path[i].name));
      size_t index = std::stoul(path[i].name);
      auto elements = scan.Elements(at);
      if (index >= elements.size()) return AddElement(doc, scan, at, index, path, i, value);
      at = elements[index].second.begin;
    } else {
      return Failf("{} is {}, not an object or a list", here, TypeOf(doc[at]));
    }
  }
  return Splice(doc, at, scan.ValueEnd(at), Raw(value));
}

}  // namespace strake::delivery
