#include "cli/jsonpath.h"

#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <utility>

#include "base/strings.h"

namespace strake::cli {

using Json = JsonPath::Json;

namespace {

struct Segment;

// Where an expression starts and the steps it takes.
struct Path {
  bool from_root = false;  // `$`; else the current object
  std::vector<Segment> steps;
};

struct Slice {
  bool is_slice = false;  // [a:b:step]; else the single index `start`
  std::optional<int64_t> start, end;
  int64_t step = 1;
};

struct Segment {
  enum Kind { kField, kWildcard, kRecursive, kIndex, kFilter } kind = kField;
  std::vector<std::string> names;  // kField: a union; kRecursive: one name, "*" for all
  std::vector<Slice> slices;       // kIndex: a union
  Path lhs;                        // kFilter: @...
  std::string op;                  // kFilter: "" for presence
  Json rhs;                        // kFilter
};

}  // namespace

struct JsonPath::Node {
  enum Kind { kText, kExpr, kRange } kind = kText;
  std::string text;
  Path path;
  std::vector<Node> children;  // kRange
};

namespace {

using Node = JsonPath::Node;

// The end of s[i..] up to the first of `stops` outside quotes (and, when
// `parens`, outside parentheses); s.size() if none.
size_t Until(std::string_view s, size_t i, std::string_view stops, bool parens = false) {
  char quote = 0;
  int depth = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && i + 1 < s.size()) {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (parens && c == '(') {
      ++depth;
    } else if (parens && c == ')') {
      --depth;
    } else if (depth == 0 && stops.find(c) != std::string_view::npos) {
      return i;
    }
  }
  return s.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A quoted literal ('...' or "...") with \n, \t, \r, \\ and the quote escaped.
Result<std::string> Unquote(std::string_view s) {
  if (s.size() < 2 || (s[0] != '"' && s[0] != '\'') || s.back() != s[0])
    return Failf("{} is not a quoted string", s);
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 2 < s.size()) {
      char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
    } else {
      out += c;
    }
  }
  return out;
}

Result<int64_t> Integer(std::string_view s) {
  s = Trim(s);
  std::string text(s);
  char* end = nullptr;
  int64_t v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') return Failf("{} is not an index", Quote(s));
  return v;
}

Result<Slice> ParseSlice(std::string_view s) {
  Slice out;
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    STRAKE_TRY_ASSIGN(index, Integer(s));
    out.start = index;
    return out;
  }
  out.is_slice = true;
  std::string_view a = Trim(s.substr(0, colon));
  std::string_view rest = s.substr(colon + 1);
  size_t colon2 = rest.find(':');
  std::string_view b = Trim(rest.substr(0, colon2));
  if (!a.empty()) {
    STRAKE_TRY_ASSIGN(start, Integer(a));
    out.start = start;
  }
  if (!b.empty()) {
    STRAKE_TRY_ASSIGN(end, Integer(b));
    out.end = end;
  }
  if (colon2 != std::string_view::npos && !Trim(rest.substr(colon2 + 1)).empty()) {
    STRAKE_TRY_ASSIGN(step, Integer(rest.substr(colon2 + 1)));
    if (step <= 0) return Failf("[{}]: a slice's step must be positive", s);
    out.step = step;
  }
  return out;
}

Result<Path> ParsePath(std::string_view s);

// `?(@.path OP literal)` or `?(@.path)`.
Result<Segment> ParseFilter(std::string_view s) {
  Segment seg;
  seg.kind = Segment::kFilter;
  std::string_view body = Trim(s.substr(2, s.size() - 3));
  size_t at = Until(body, 0, "=!<>");
  std::string_view lhs = Trim(body.substr(0, at));
  if (lhs.empty() || lhs[0] != '@')
    return Failf("[{}]: a filter starts at @, the element it tests", s);
  STRAKE_TRY_ASSIGN(tested, ParsePath(lhs));
  seg.lhs = std::move(tested);
  if (at == body.size()) return seg;
  size_t op_len = at + 1 < body.size() && body[at + 1] == '=' ? 2 : 1;
  seg.op = std::string(body.substr(at, op_len));
  if (seg.op == "=" || seg.op == "!") return Failf("[{}]: unknown operator {}", s, seg.op);
  std::string_view rhs = Trim(body.substr(at + op_len));
  if (!rhs.empty() && (rhs[0] == '"' || rhs[0] == '\'')) {
    STRAKE_TRY_ASSIGN(text, Unquote(rhs));
    seg.rhs = text;
    return seg;
  }
  seg.rhs = Json::parse(rhs, nullptr, false);
  if (seg.rhs.is_discarded() || seg.rhs.is_structured())
    return Failf("[{}]: {} is not a string, number, true, false or null", s, rhs);
  return seg;
}

// What is between [ and ].
Result<Segment> ParseBracket(std::string_view s) {
  s = Trim(s);
  Segment seg;
  if (s == "*") {
    seg.kind = Segment::kWildcard;
    return seg;
  }
  if (s.size() >= 3 && s.substr(0, 2) == "?(" && s.back() == ')') return ParseFilter(s);
  bool names = !s.empty() && (s[0] == '\'' || s[0] == '"');
  seg.kind = names ? Segment::kField : Segment::kIndex;
  for (size_t i = 0; i <= s.size();) {
    size_t comma = Until(s, i, ",");
    std::string_view part = Trim(s.substr(i, comma - i));
    if (names) {
      STRAKE_TRY_ASSIGN(name, Unquote(part));
      seg.names.push_back(std::move(name));
    } else {
      STRAKE_TRY_ASSIGN(slice, ParseSlice(part));
      seg.slices.push_back(slice);
    }
    i = comma + 1;
  }
  return seg;
}

// A field name after `.` or `..`: up to the next `.` or `[`; `\.` is a
// dot of the name (`.labels.kubernetes\.io/hostname`).
std::string FieldAt(std::string_view s, size_t& i) {
  std::string name;
  for (; i < s.size() && s[i] != '.' && s[i] != '['; ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    name += s[i];
  }
  return name;
}

Result<Path> ParsePath(std::string_view s) {
  Path path;
  size_t i = 0;
  if (i < s.size() && (s[i] == '$' || s[i] == '@')) {
    path.from_root = s[i] == '$';
    ++i;
  }
  while (i < s.size()) {
    Segment seg;
    if (s.substr(i, 2) == "..") {
      i += 2;
      seg.kind = Segment::kRecursive;
      std::string name = FieldAt(s, i);
      if (name.empty()) return Failf("{}: .. needs a name or *", Quote(s));
      seg.names.emplace_back(name);
    } else if (s[i] == '.') {
      ++i;
      std::string name = FieldAt(s, i);
      if (name.empty()) {
        if (i == s.size()) break;  // `{.}`: the current object
        return Failf("{}: an empty field name at column {}", Quote(s), i + 1);
      }
      seg.kind = name == "*" ? Segment::kWildcard : Segment::kField;
      if (name != "*") seg.names.emplace_back(name);
    } else if (s[i] == '[') {
      size_t close = Until(s, i + 1, "]", true);
      if (close == s.size()) return Failf("{}: [ without ]", Quote(s));
      STRAKE_TRY_ASSIGN(bracket, ParseBracket(s.substr(i + 1, close - i - 1)));
      seg = std::move(bracket);
      i = close + 1;
    } else {
      return Failf("{}: unexpected {} at column {}", Quote(s), Quote(s.substr(i, 1)), i + 1);
    }
    path.steps.push_back(std::move(seg));
  }
  return path;
}

Result<Path> ParseExpression(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && s[0] != '$' && s[0] != '@' && s[0] != '.' && s[0] != '[') {
    return ParsePath("." + std::string(s));  // {metadata.name} reads as {.metadata.name}
  }
  return ParsePath(s);
}

// ---- evaluation --------------------------------------------------------------------

std::vector<const Json*> Eval(const Path& path, const Json& root, const Json& current);

void Descendants(const Json& j, std::vector<const Json*>& out) {
  out.push_back(&j);
  if (!j.is_structured()) return;
  for (const auto& child : j) Descendants(child, out);
}

void Children(const Json& j, std::vector<const Json*>& out) {
  if (!j.is_structured()) return;
  for (const auto& child : j) out.push_back(&child);
}

void Indexes(const Segment& seg, const Json& j, std::vector<const Json*>& out) {
  if (!j.is_array()) return;
  const auto n = static_cast<int64_t>(j.size());
  auto clamp = [n](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  for (const Slice& s : seg.slices) {
    if (!s.is_slice) {
      int64_t at = *s.start < 0 ? *s.start + n : *s.start;
      if (at >= 0 && at < n) out.push_back(&j[static_cast<size_t>(at)]);
      continue;
    }
    int64_t from = s.start ? clamp(*s.start) : 0;
    int64_t to = s.end ? clamp(*s.end) : n;
    for (int64_t k = from; k < to; k += s.step) {
      out.push_back(&j[static_cast<size_t>(k)]);
      if (s.step > to - k) break;  // the next would pass the end (and a huge step overflow)
    }
  }
}

bool Compare(const Json& a, const std::string& op, const Json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    if (op == "==") return x == y;
    if (op == "!=") return x != y;
    if (op == "<") return x < y;
    if (op == "<=") return x <= y;
    if (op == ">") return x > y;
    return x >= y;
  }
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (!a.is_string() || !b.is_string()) return false;
  const auto& x = a.get_ref<const std::string&>();
  const auto& y = b.get_ref<const std::string&>();
  if (op == "<") return x < y;
  if (op == "<=") return x <= y;
  if (op == ">") return x > y;
  return x >= y;
}

void Filter(const Segment& seg, const Json& root, const Json& j, std::vector<const Json*>& out) {
  if (!j.is_array()) return;
  for (const auto& e : j) {
    auto found = Eval(seg.lhs, root, e);
    bool keep = seg.op.empty() ? !found.empty() : false;
    for (const Json* f : found) keep = keep || (!seg.op.empty() && Compare(*f, seg.op, seg.rhs));
    if (keep) out.push_back(&e);
  }
}

void Step(const Segment& seg, const Json& root, const Json& j, std::vector<const Json*>& out) {
  switch (seg.kind) {
    case Segment::kField:
      if (!j.is_object()) return;
      for (const auto& name : seg.names) {
        if (auto it = j.find(name); it != j.end()) out.push_back(&*it);
      }
      return;
    case Segment::kWildcard:
      Children(j, out);
      return;
    case Segment::kRecursive: {
      std::vector<const Json*> all;
      Descendants(j, all);
      for (const Json* d : all) {
        if (seg.names[0] == "*") {
          Children(*d, out);
        } else if (d->is_object()) {
          if (auto it = d->find(seg.names[0]); it != d->end()) out.push_back(&*it);
        }
      }
      return;
    }
    case Segment::kIndex:
      Indexes(seg, j, out);
      return;
    case Segment::kFilter:
      Filter(seg, root, j, out);
      return;
  }
}

std::vector<const Json*> Eval(const Path& path, const Json& root, const Json& current) {
  std::vector<const Json*> at{path.from_root ? &root : &current};
  for (const Segment& seg : path.steps) {
    std::vector<const Json*> next;
    for (const Json* j : at) Step(seg, root, *j, next);
    at = std::move(next);
  }
  return at;
}

std::string Print(const Json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

void Run(const std::vector<Node>& nodes, const Json& root, const Json& current, std::string& out) {
  for (const Node& n : nodes) {
    if (n.kind == Node::kText) {
      out += n.text;
      continue;
    }
    auto found = Eval(n.path, root, current);
    if (n.kind == Node::kRange) {
      for (const Json* j : found) Run(n.children, root, *j, out);
      continue;
    }
    for (size_t i = 0; i < found.size(); ++i) out += (i ? " " : "") + Print(*found[i]);
  }
}

// One `{...}` of the template, added to the innermost open range (`open`).
Status AddAction(std::string_view inner, std::vector<std::vector<Node>*>& open) {
  std::string_view action = Trim(inner);
  if (action == "end") {
    if (open.size() == 1) return Fail("{end} without {range}");
    open.pop_back();
    return Ok();
  }
  Node node;
  if (!action.empty() && (action[0] == '"' || action[0] == '\'')) {
    STRAKE_TRY_ASSIGN(text, Unquote(action));
    node.text = std::move(text);
    open.back()->push_back(std::move(node));
    return Ok();
  }
  if (action.substr(0, 6) == "range ") {
    node.kind = Node::kRange;
    STRAKE_TRY_ASSIGN(range, ParseExpression(action.substr(6)));
    node.path = std::move(range);
    open.back()->push_back(std::move(node));
    open.push_back(&open.back()->back().children);
    return Ok();
  }
  node.kind = Node::kExpr;
  STRAKE_TRY_ASSIGN(expr, ParseExpression(action));
  node.path = std::move(expr);
  open.back()->push_back(std::move(node));
  return Ok();
}

}  // namespace

Result<JsonPath> JsonPath::Parse(std::string_view text) {
  auto nodes = std::make_shared<std::vector<Node>>();
  std::vector<std::vector<Node>*> open{nodes.get()};
  size_t i = 0;
  while (i < text.size()) {
    size_t brace = text.find('{', i);
    if (brace != i) {
      Node literal;
      literal.text = std::string(text.substr(i, brace - i));
      open.back()->push_back(std::move(literal));
      if (brace == std::string_view::npos) break;
    }
    size_t close = Until(text, brace + 1, "}");
    if (close == text.size())
      return Failf("jsonpath {}: {{ at column {} without }}", Quote(text), brace + 1);
    auto added = AddAction(text.substr(brace + 1, close - brace - 1), open);
    if (!added) return Failf("jsonpath {}: {}", Quote(text), added.error().message);
    i = close + 1;
  }
  if (open.size() > 1) return Failf("jsonpath {}: {{range}} without {{end}}", Quote(text));
  JsonPath out;
  out.nodes_ = std::move(nodes);
  return out;
}

std::string JsonPath::Execute(const Json& doc) const {
  std::string out;
  Run(*nodes_, doc, doc, out);
  return out;
}

}  // namespace strake::cli
