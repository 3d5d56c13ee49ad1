#include "model/node.h"

#include <fmt/format.h>
#include <yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/strings.h"
#include "model/yaml_scalar.h"

namespace strake::model {

const Node* Node::Get(std::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k.scalar == key) return &v;
  }
  return nullptr;
}

std::string Node::TypeName() const {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kScalar:
      return "string";
    case Kind::kSeq:
      return "sequence";
    case Kind::kMap:
      return "mapping";
  }
  return "?";
}

size_t Node::Count() const {
  size_t n = 1;
  for (const auto& c : seq) n += c.Count();
  for (const auto& [k, v] : map) n += k.Count() + v.Count();
  return n;
}

namespace {

class Builder {
 public:
  Builder(const std::string& file, const ParseLimits& limits) : file_(file), limits_(limits) {}

  Result<std::vector<Document>> Run(std::string_view text) {
    if (text.size() > limits_.max_bytes) {
      return Failf("{}: file is {} bytes, over the limit of {} bytes", file_, text.size(),
                   limits_.max_bytes);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return Failf("{}: cannot start YAML parser", file_);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    auto result = Loop(parser);
    yaml_parser_delete(&parser);
    return result;
  }

 private:
  struct Frame {
    Node node;
    bool have_key = false;
    Node key;
    std::set<std::string> merged;  // keys that came from "<<" and may be overridden
    std::string anchor;
    size_t count = 1;  // nodes in `node` (as Node::Count), kept as children arrive
  };

  Result<std::vector<Document>> Loop(yaml_parser_t& parser) {
    std::vector<Document> docs;
    while (true) {
      yaml_event_t ev;
      if (!yaml_parser_parse(&parser, &ev)) {
        return Failf("{}:{}:{}: {}{}", file_, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "invalid YAML",
                     parser.context ? std::string(" ") + parser.context : "");
      }
      std::unique_ptr<yaml_event_t, void (*)(yaml_event_t*)> guard(&ev, yaml_event_delete);
      Mark mark{static_cast<int>(ev.start_mark.line) + 1,
                static_cast<int>(ev.start_mark.column) + 1};
      switch (ev.type) {
        case YAML_STREAM_END_EVENT:
          return docs;
        case YAML_DOCUMENT_START_EVENT:
          anchors_.clear();
          root_.reset();
          break;
        case YAML_DOCUMENT_END_EVENT:
          if (root_ && !root_->IsNull()) {
            if (docs.size() >= limits_.max_documents) {
              return Failf("{}:{}:{}: more than {} documents in one file", file_, mark.line,
                           mark.col, limits_.max_documents);
            }
            docs.push_back(Document{file_, std::move(*root_)});
          }
          root_.reset();
          break;
        case YAML_SCALAR_EVENT: {
          Node n;
          n.kind = Node::Kind::kScalar;
          n.scalar.assign(reinterpret_cast<const char*>(ev.data.scalar.value),
                          ev.data.scalar.length);
          n.quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
          n.mark = mark;
          if (!n.quoted && (n.scalar.empty() || n.scalar == "~" || n.scalar == "null" ||
                            n.scalar == "Null" || n.scalar == "NULL")) {
            n.kind = Node::Kind::kNull;
          }
          STRAKE_TRY(Emit(std::move(n), 1, Anchor(ev.data.scalar.anchor), mark));
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          if (stack_.size() >= limits_.max_depth) {
            return Failf("{}:{}:{}: nesting deeper than the limit of {}", file_, mark.line,
                         mark.col, limits_.max_depth);
          }
          Frame f;
          f.node.kind = ev.type == YAML_SEQUENCE_START_EVENT ? Node::Kind::kSeq : Node::Kind::kMap;
          f.node.mark = mark;
          f.anchor = Anchor(ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                                 : ev.data.mapping_start.anchor);
          STRAKE_TRY(CountNodes(1, mark));
          stack_.push_back(std::move(f));
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
          Frame f = std::move(stack_.back());
          stack_.pop_back();
          STRAKE_TRY(Emit(std::move(f.node), f.count, f.anchor, mark, /*counted=*/true));
          break;
        }
        case YAML_ALIAS_EVENT: {
          std::string name(reinterpret_cast<const char*>(ev.data.alias.anchor));
          auto it = anchors_.find(name);
          if (it == anchors_.end()) {
            return Failf("{}:{}:{}: unknown alias *{}", file_, mark.line, mark.col, name);
          }
          if (++alias_expansions_ > limits_.max_alias_expansions) {
            return Failf(ErrorCode::kTooLarge, "{}:{}:{}: more than {} alias expansions", file_,
                         mark.line, mark.col, limits_.max_alias_expansions);
          }
          // Count before copying, so a bomb is refused before it takes memory.
          alias_nodes_ += it->second.size;
          if (alias_nodes_ > limits_.max_alias_nodes) {
            return Failf(ErrorCode::kTooLarge,
                         "{}:{}:{}: aliases expand to more than {} nodes (YAML alias bomb?)", file_,
                         mark.line, mark.col, limits_.max_alias_nodes);
          }
          STRAKE_TRY(CountNodes(it->second.size, mark));
          Node copy = *it->second.node;
          STRAKE_TRY(Emit(std::move(copy), it->second.size, "", mark, /*counted=*/true));
          break;
        }
        default:
          break;
      }
    }
  }

  static std::string Anchor(const yaml_char_t* a) {
    return a ? std::string(reinterpret_cast<const char*>(a)) : std::string();
  }

  Status CountNodes(size_t n, Mark mark) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes) {
      return Failf(ErrorCode::kTooLarge,
                   "{}:{}:{}: document expands to more than {} nodes (YAML alias bomb?)", file_,
                   mark.line, mark.col, limits_.max_nodes);
    }
    return Ok();
  }

  // An anchor keeps a copy of its node, for aliases to copy again. Nested
  // anchors copy each level's subtree once more (O(size x depth) with no
  // alias at all), so the copy is counted against the node budget first.
  Status CountAnchorCopy(const std::string& anchor, size_t count, Mark at) {
    nodes_ += count;
    if (nodes_ > limits_.max_nodes) {
      return Failf(ErrorCode::kTooLarge,
                   "{}:{}:{}: anchor &{} copies {} nodes, and the document with its anchor and "
                   "alias copies passes the limit of {} nodes (nested YAML anchors?)",
                   file_, at.line, at.col, anchor, count, limits_.max_nodes);
    }
    return Ok();
  }

  // `count` is the number of nodes in `n`.
  Status Emit(Node n, size_t count, const std::string& anchor, Mark mark, bool counted = false) {
    if (!counted) STRAKE_TRY(CountNodes(1, mark));
    if (!anchor.empty()) {
      STRAKE_TRY(CountAnchorCopy(anchor, count, n.mark));
      anchors_[anchor] = Anchored{std::make_shared<Node>(n), count};
    }
    if (stack_.empty()) {
      root_ = std::move(n);
      return Ok();
    }
    Frame& top = stack_.back();
    top.count += count;
    if (top.node.IsSeq()) {
      top.node.seq.push_back(std::move(n));
      return Ok();
    }
    if (!top.have_key) {
      if (!n.IsScalar() && !n.IsNull()) {
        return Failf("{}:{}:{}: mapping keys must be scalars", file_, n.mark.line, n.mark.col);
      }
      top.key = std::move(n);
      top.have_key = true;
      return Ok();
    }
    top.have_key = false;
    if (top.key.scalar == "<<" && !top.key.quoted) return Merge(top, std::move(n));
    for (auto& [k, v] : top.node.map) {
      if (k.scalar == top.key.scalar) {
        if (top.merged.erase(k.scalar)) {
          v = std::move(n);
          return Ok();
        }
        return Failf("{}:{}:{}: duplicate key \"{}\" (first at line {})", file_, top.key.mark.line,
                     top.key.mark.col, top.key.scalar, k.mark.line);
      }
    }
    top.node.map.push_back(MapEntry{std::move(top.key), std::move(n)});
    return Ok();
  }

  // YAML merge key: "<<: *base" or "<<: [*a, *b]"; explicit keys win.
  Status Merge(Frame& frame, Node src) {
    Node& target = frame.node;
    std::vector<Node*> sources;
    if (src.IsMap())
      sources.push_back(&src);
    else if (src.IsSeq())
      for (auto& s : src.seq) sources.push_back(&s);
    for (Node* s : sources) {
      if (!s->IsMap()) {
        return Failf("{}:{}:{}: merge key \"<<\" needs a mapping", file_, s->mark.line,
                     s->mark.col);
      }
      for (auto& [k, v] : s->map) {
        if (!target.Get(k.scalar)) {
          frame.merged.insert(k.scalar);
          target.map.push_back(MapEntry{std::move(k), std::move(v)});
        }
      }
    }
    return Ok();
  }

  struct Anchored {
    std::shared_ptr<const Node> node;
    size_t size = 0;
  };

  const std::string& file_;
  const ParseLimits& limits_;
  std::vector<Frame> stack_;
  std::optional<Node> root_;
  std::map<std::string, Anchored> anchors_;
  size_t nodes_ = 0;
  size_t alias_expansions_ = 0;
  size_t alias_nodes_ = 0;
};

}  // namespace

Result<std::vector<Document>> ParseYaml(std::string_view text, const std::string& file,
                                        const ParseLimits& limits) {
  return Builder(file, limits).Run(text);
}

Result<std::vector<Document>> ParseYamlFile(const std::string& path, const ParseLimits& limits) {
  auto text = ReadFile(path, limits.max_bytes);
  if (!text) return tl::unexpected(text.error());
  return ParseYaml(*text, path, limits);
}

namespace {

// YAML 1.2 core schema, written out rather than as std::regex (which
// recurses per character and overflows the stack on a long scalar).
size_t Digits(std::string_view s, size_t i) {
  size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i - start;
}

size_t Sign(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0; }

// [-+]?[0-9]+
bool IsYamlInt(std::string_view s) {
  size_t i = Sign(s);
  return i < s.size() && Digits(s, i) == s.size() - i;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsYamlFloat(std::string_view s) {
  size_t i = Sign(s);
  size_t whole = Digits(s, i);
  i += whole;
  if (i < s.size() && s[i] == '.') {
    size_t fraction = Digits(s, i + 1);
    if (whole == 0 && fraction == 0) return false;
    i += 1 + fraction;
  } else if (whole == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    i += Sign(s.substr(i));
    size_t exponent = Digits(s, i);
    if (exponent == 0) return false;
    i += exponent;
  }
  return i == s.size();
}

}  // namespace

static Json ScalarToJson(const Node& n) {
  if (n.quoted) return n.scalar;
  const std::string& s = n.scalar;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (IsYamlInt(s)) {
    try {
      return std::stoll(s);
    } catch (const std::exception&) {
      return s;
    }
  }
  if (IsYamlFloat(s)) {
    try {
      return std::stod(s);
    } catch (const std::exception&) {
      return s;
    }
  }
  return s;
}

std::string PlaceOf(const std::string& file, const Node& n) {
  return fmt::format("{}:{}:{}", file, n.mark.line, n.mark.col);
}

Json ToJson(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull:
      return nullptr;
    case Node::Kind::kScalar:
      return ScalarToJson(n);
    case Node::Kind::kSeq: {
      Json a = Json::array();
      for (const auto& c : n.seq) a.push_back(ToJson(c));
      return a;
    }
    case Node::Kind::kMap: {
      Json o = Json::object();
      for (const auto& [k, v] : n.map) o[k.scalar] = ToJson(v);
      return o;
    }
  }
  return nullptr;
}

std::map<std::string, std::string> StringMap(const Json& object) {
  std::map<std::string, std::string> out;
  if (!object.is_object()) return out;
  for (const auto& [k, v] : object.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

Node FromJson(const Json& j) {
  Node n;
  if (j.is_null()) return n;
  if (j.is_object()) {
    n.kind = Node::Kind::kMap;
    for (const auto& [k, v] : j.items()) {
      Node key;
      key.kind = Node::Kind::kScalar;
      key.scalar = k;
      n.map.push_back(MapEntry{std::move(key), FromJson(v)});
    }
  } else if (j.is_array()) {
    n.kind = Node::Kind::kSeq;
    for (const auto& v : j) n.seq.push_back(FromJson(v));
  } else {
    n.kind = Node::Kind::kScalar;
    if (j.is_string()) {
      n.scalar = j.get<std::string>();
      n.quoted = true;
    } else {
      n.scalar = j.dump();
    }
  }
  return n;
}

namespace {

// A string is written plain only if reading it back plain gives the same
// string, not a bool, a number or null ("True", "~", ".5", "+1"; YAML 1.1's
// "yes"/"off" too, for other readers of the output).
bool ReadsBackAsString(const std::string& s) {
  static const std::set<std::string> kNotStrings = {
      "~",  "null", "Null", "NULL", "yes", "Yes", "YES", "no", "No", "NO",
      "on", "On",   "ON",   "off",  "Off", "OFF", "y",   "Y",  "n",  "N"};
  if (kNotStrings.count(s)) return false;
  Node n;
  n.kind = Node::Kind::kScalar;
  n.scalar = s;
  return ScalarToJson(n).is_string();
}

// A code point that must not appear raw in an emitted scalar: libyaml
// refuses C0 controls but tab and line breaks, DEL, C1 controls but NEL,
// U+FFFE and U+FFFF in any stream; tab, line breaks (NEL, U+2028, U+2029
// included) and a byte order mark would change on reading back.
bool MustEscape(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
         cp == 0xFFFE || cp == 0xFFFF;
}

// The code point of the well-formed UTF-8 character of `n` bytes at the
// start of `s`.
uint32_t CodePoint(std::string_view s, size_t n) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  if (n == 1) return byte(0);
  uint32_t cp = byte(0) & (0x7Fu >> n);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (byte(i) & 0x3Fu);
  return cp;
}

// True if `s` can be written plain: it reads back as the same string,
// starts with no indicator (nor as "..." or the merge key "<<"), and holds
// nothing that must be escaped or that YAML gives a meaning to.
bool CanBePlain(const std::string& s) {
  if (s.empty() || s == "<<" || s.front() == ' ' || s.back() == ' ' ||
      std::string_view("-?").find(s.front()) != std::string_view::npos || StartsWith(s, "...") ||
      std::isdigit(static_cast<unsigned char>(s.front())) || !ReadsBackAsString(s)) {
    return false;
  }
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8CharLength(std::string_view(s).substr(i));
    if (n == 0 || MustEscape(CodePoint(std::string_view(s).substr(i), n))) return false;
    if (std::string_view(":#{}[]&*!|>'\"%@`,").find(s[i]) != std::string_view::npos) return false;
    i += n;
  }
  return true;
}

std::string Scalar(const Json& v) {
  if (!v.is_string()) return v.dump();
  const std::string& s = v.get_ref<const std::string&>();
  return CanBePlain(s) ? s : YamlDoubleQuoted(s);
}

// A value in flow style ([a, {k: v}]): a list inside a list.
std::string Flow(const Json& v) {
  if (!v.is_structured()) return Scalar(v);
  std::vector<std::string> parts;
  if (v.is_array()) {
    for (const auto& e : v) parts.push_back(Flow(e));
    return "[" + Join(parts, ", ") + "]";
  }
  for (const auto& [k, e] : v.items()) parts.push_back(Scalar(Json(k)) + ": " + Flow(e));
  return "{" + Join(parts, ", ") + "}";
}

void EmitYaml(const Json& j, int indent, std::string& out, bool in_list) {
  std::string pad(static_cast<size_t>(indent), ' ');
  auto key = [&](const std::string& k) { return Scalar(Json(k)); };
  if (j.is_object()) {
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      std::string lead = (in_list && first) ? "" : pad;
      first = false;
      if ((v.is_object() && !v.empty()) || (v.is_array() && !v.empty())) {
        out += fmt::format("{}{}:\n", lead, key(k));
        EmitYaml(v, indent + 2, out, false);
      } else {
        out += fmt::format("{}{}: {}\n", lead, key(k),
                           v.is_object()  ? "{}"
                           : v.is_array() ? "[]"
                                          : Scalar(v));
      }
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_object() && !v.empty()) {
        out += pad + "- ";
        EmitYaml(v, indent + 2, out, true);
      } else {
        out += fmt::format("{}- {}\n", pad, Flow(v));
      }
    }
  } else {
    out += pad + Scalar(j) + "\n";
  }
}

}  // namespace

std::string YamlDoubleQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8CharLength(s.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    uint32_t cp = CodePoint(s.substr(i), n);
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (MustEscape(cp)) {
      out += fmt::format("\\u{:04X}", cp);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out += '"';
  return out;
}

std::string ToYaml(const Json& j) {
  std::string out;
  EmitYaml(j, 0, out, false);
  return out;
}

const Node* NodeAtPath(const Node& root, std::string_view path) {
  const Node* at = &root;
  const Node* found = nullptr;
  size_t i = 0;
  while (i < path.size() && at) {
    if (path[i] == '.') ++i;
    const Node* next = nullptr;
    if (i < path.size() && path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string_view::npos) break;
      size_t index = 0;
      auto [p, ec] = std::from_chars(path.data() + i + 1, path.data() + end, index);
      if (ec != std::errc() || p != path.data() + end) break;
      if (at->IsSeq() && index < at->seq.size()) next = &at->seq[index];
      i = end + 1;
    } else {
      size_t end = path.find_first_of(".[", i);
      if (end == std::string_view::npos) end = path.size();
      next = at->IsMap() ? at->Get(path.substr(i, end - i)) : nullptr;
      i = end;
    }
    if (!next) break;
    found = at = next;
  }
  return found;
}

}  // namespace strake::model
