#include "model/go_template.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "base/sha256.h"
#include "base/strings.h"

namespace strake::model {
namespace go_template_internal {

// ---- values -----------------------------------------------------------------

const Json& NullJson() {
  static const Json kNull;
  return kNull;
}

// A value during execution: a JSON value, or no value (Go's invalid
// reflect.Value: what a missing key gives). It points into the caller's data,
// into the tree's literals, or into a value it shares ownership of, so that
// taking a field or an element copies nothing.
class Val {
 public:
  Val() = default;
  static Val Ref(const Json* j, std::shared_ptr<const Json> owner = nullptr) {
    Val v;
    v.json_ = j;
    v.owner_ = std::move(owner);
    return v;
  }
  static Val Own(Json j) {
    auto owner = std::make_shared<const Json>(std::move(j));
    const Json* p = owner.get();
    return Ref(p, std::move(owner));
  }
  bool missing() const { return json_ == nullptr; }
  // No value, or a null: Go's nil interface.
  bool nil() const { return json_ == nullptr || json_->is_null(); }
  const Json& json() const { return json_ != nullptr ? *json_ : NullJson(); }
  Val Child(const Json& j) const { return Ref(&j, owner_); }
  const std::shared_ptr<const Json>& owner() const { return owner_; }

 private:
  const Json* json_ = nullptr;
  std::shared_ptr<const Json> owner_;  // null: json_ is the caller's data or a literal
};

using Args = std::vector<Val>;
using BuiltinFn = Result<Val> (*)(const Args& args);
enum class Special { kNone, kAnd, kOr, kCall };

struct BuiltinDef {
  int min_args = 0;
  int max_args = -1;  // -1: any number
  BuiltinFn fn = nullptr;
  Special special = Special::kNone;
};

// A function a template names, resolved when it is parsed.
struct FuncRef {
  std::string name;
  const BuiltinDef* builtin = nullptr;
  const GoTemplateFunc* host = nullptr;
};

// Where a node is, for errors: line, 1-based byte column, and its source.
struct Loc {
  size_t offset = 0;
  size_t end = 0;
  int line = 0;
  int col = 0;
  std::string text;
};

struct Pipe;

enum class ArgKind { kDot, kNil, kLiteral, kField, kVariable, kChain, kPipe, kFunc, kHostRef };

// An operand: `.`, nil, a literal, `.a.b`, `$x.a`, `(pipe).a`, `(pipe)`, a
// function, or the target of `call`.
struct Arg {
  ArgKind kind = ArgKind::kDot;
  Loc loc;
  Json literal;                      // kLiteral: a bool, number or string
  std::string name;                  // kVariable: "$x"; kFunc, kHostRef: the function
  std::vector<std::string> fields;   // kField, kVariable, kChain
  std::shared_ptr<const Arg> base;   // kChain
  std::shared_ptr<const Pipe> pipe;  // kPipe
  const FuncRef* func = nullptr;     // kFunc, kHostRef
};

struct Command {
  Loc loc;
  std::vector<Arg> args;
};

struct Pipe {
  Loc loc;
  std::vector<std::string> decl;  // "$x" of `$x := …`; two for `range $i, $e := …`
  bool is_assign = false;         // `=` rather than `:=`
  std::vector<Command> cmds;
};

enum class NodeKind { kText, kAction, kIf, kRange, kWith, kTemplate, kBreak, kContinue };

struct Node {
  NodeKind kind = NodeKind::kText;
  Loc loc;
  std::string text;                  // kText: the text; kTemplate: the template's name
  std::shared_ptr<const Pipe> pipe;  // null for a text, and for {{template "x"}}
  std::vector<Node> list;
  std::vector<Node> else_list;
};

struct Impl {
  std::string name;
  GoTemplateFuncs funcs;
  std::map<std::string, FuncRef, std::less<>> resolved;  // stable addresses for Arg::func
  std::map<std::string, std::vector<Node>, std::less<>> templates;
};

namespace {

constexpr size_t kMaxOutput = GoTemplate::kMaxOutput;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// Go's letters and digits; any byte of a multi-byte character counts as one.
bool IsAlnum(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || u >= 0x80;
}

// Integers as Go sees them (int64); an unsigned beyond int64 is a float.
bool IsInt(const Json& j) {
  return j.is_number_integer() &&
         (!j.is_number_unsigned() ||
          j.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}
int64_t AsInt(const Json& j) { return j.get<int64_t>(); }

// The Go type of a value, as errors and %T name it.
std::string_view TypeName(const Json& j) {
  if (j.is_null()) return "<nil>";
  if (j.is_boolean()) return "bool";
  if (IsInt(j)) return "int";
  if (j.is_number()) return "float64";
  if (j.is_string()) return "string";
  if (j.is_array()) return "[]interface {}";
  return "map[string]interface {}";
}

const std::string& StrRef(const Json& j) { return j.get_ref<const std::string&>(); }

// Go's truth (text/template's IsTrue).
bool Truth(const Val& v) {
  const Json& j = v.json();
  if (j.is_boolean()) return j.get<bool>();
  if (IsInt(j)) return AsInt(j) != 0;
  if (j.is_number()) return j.get<double>() != 0;
  if (j.is_string()) return !StrRef(j).empty();
  if (j.is_array() || j.is_object()) return !j.empty();
  return false;
}

std::vector<std::pair<std::string_view, const Json*>> SortedItems(const Json& obj) {
  std::vector<std::pair<std::string_view, const Json*>> items;
  items.reserve(obj.size());
  for (auto it = obj.begin(); it != obj.end(); ++it) items.emplace_back(it.key(), &it.value());
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return items;
}

// ---- text -------------------------------------------------------------------

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The code point of the well-formed character `s` starts with (n bytes long).
uint32_t DecodeUtf8(std::string_view s, size_t n) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i])); };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

size_t RuneCount(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The first n characters of s.
std::string_view TruncRunes(std::string_view s, size_t n) {
  size_t i = 0;
  for (size_t seen = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && seen++ == n) break;
  }
  return s.substr(0, i);
}

// strconv.Quote: a double-quoted Go string literal.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8CharLength(s.substr(i));
      if (n == 0) {
        out += fmt::format("\\x{:02x}", c);
        n = 1;
      } else {
        out += s.substr(i, n);
      }
      i += n;
      continue;
    }
    static constexpr std::string_view kShort = "a\ab\bf\fn\nr\rt\tv\v";
    size_t k = kShort.find(static_cast<char>(c));
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 && k != std::string_view::npos && k % 2 == 1) {
      out += '\\';
      out += kShort[k - 1];
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
  return out;
}

// ---- numbers as Go prints and parses them -----------------------------------

struct Decimal {
  std::string digits;  // "12345": no leading zero unless the value is 0
  int exp = 0;         // the value is d.dddd × 10^exp
};

// The shortest digits that read back as v (finite, >= 0), as strconv finds them.
Decimal Shortest(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  size_t e = s.find('e');
  Decimal d;
  for (char c : s.substr(0, e)) {
    if (c != '.') d.digits += c;
  }
  std::string_view ex = s.substr(e + 1);
  bool neg = !ex.empty() && ex[0] == '-';
  if (!ex.empty() && (ex[0] == '-' || ex[0] == '+')) ex.remove_prefix(1);
  std::from_chars(ex.data(), ex.data() + ex.size(), d.exp);
  if (neg) d.exp = -d.exp;
  return d;
}

std::string ExpForm(const Decimal& d, bool json) {
  std::string s(1, d.digits[0]);
  if (d.digits.size() > 1) s.append(".").append(d.digits, 1);
  s += d.exp < 0 ? "e-" : "e+";
  int e = std::abs(d.exp);
  if (e < 10 && !(json && d.exp < 0)) s += '0';  // Go: e+06; its JSON: e-7
  return s + std::to_string(e);
}

std::string FixedForm(const Decimal& d) {
  const std::string& g = d.digits;
  if (d.exp < 0) return "0." + std::string(static_cast<size_t>(-d.exp - 1), '0') + g;
  auto int_len = static_cast<size_t>(d.exp) + 1;
  if (g.size() <= int_len) return g + std::string(int_len - g.size(), '0');
  return g.substr(0, int_len) + "." + g.substr(int_len);
}

// A float as fmt's %v prints it (strconv 'g', shortest), or as encoding/json
// writes it (`json`).
std::string FormatFloat(double v, bool json = false) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  double a = std::fabs(v);
  Decimal d = Shortest(a);
  bool exp_form = json ? (a != 0 && (a < 1e-6 || a >= 1e21)) : (d.exp < -4 || d.exp >= 6);
  return (std::signbit(v) ? "-" : "") + (exp_form ? ExpForm(d, json) : FixedForm(d));
}

enum class NumParse { kOk, kBad, kOverflow };

// Digits of `base` with Go's `_` separators (between digits, or after a
// base prefix); false if malformed.
bool ParseDigits(std::string_view t, int base, bool prefixed, uint64_t& out, bool& overflow) {
  if (t.empty()) return false;
  bool prev_digit = prefixed;  // "0x_1F" is allowed
  out = 0;
  for (char c : t) {
    if (c == '_') {
      if (!prev_digit) return false;
      prev_digit = false;
      continue;
    }
    int v = IsDigit(c)
                ? c - '0'
                : (std::isxdigit(static_cast<unsigned char>(c)) != 0 ? (c | 0x20) - 'a' + 10 : 99);
    if (v >= base) return false;
    if (out > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(v)) /
                  static_cast<uint64_t>(base))
      overflow = true;
    out = out * static_cast<uint64_t>(base) + static_cast<uint64_t>(v);
    prev_digit = true;
  }
  return prev_digit;
}

// strconv.ParseInt(t, 0, 64): a sign, then 0x, 0o, 0b, a leading 0 (octal)
// or decimal digits, with `_` separators.
NumParse ParseGoInt(std::string_view t, int64_t& out) {
  bool neg = !t.empty() && t[0] == '-';
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
  int base = 10;
  bool prefixed = false;
  if (t.size() > 1 && t[0] == '0') {
    char p = static_cast<char>(t[1] | 0x20);
    base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 8;
    prefixed = p == 'x' || p == 'o' || p == 'b';
    t.remove_prefix(prefixed ? 2 : 1);
  }
  uint64_t u = 0;
  bool overflow = false;
  if (!ParseDigits(t, base, prefixed, u, overflow)) return NumParse::kBad;
  uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (neg ? 1 : 0);
  if (overflow || u > limit) return NumParse::kOverflow;
  out = neg ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
  return NumParse::kOk;
}

// strconv.ParseFloat for decimal text ("1.5", "-2e3", "1_000.5", "Inf").
std::optional<double> ParseGoFloat(std::string_view t) {
  bool neg = !t.empty() && t[0] == '-';
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
  std::string s;
  for (char c : t) {
    if (c != '_') s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  double v = 0;
  if (s == "inf" || s == "infinity") {
    v = std::numeric_limits<double>::infinity();
  } else if (s == "nan") {
    v = std::numeric_limits<double>::quiet_NaN();
  } else {
    if (s.empty() || s.find_first_of("xp") != std::string::npos) return std::nullopt;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  }
  return neg ? -v : v;
}

// A number literal of the template: an int64 or a float64, as Go's parser
// and idealConstant type it.
Result<Json> ParseNumber(std::string_view t) {
  if (!t.empty() && t.back() == 'i') return Fail("complex numbers are not supported");
  std::string_view body = t.substr(!t.empty() && (t[0] == '-' || t[0] == '+') ? 1 : 0);
  bool hex = body.size() > 1 && body[0] == '0' && (body[1] | 0x20) == 'x';
  if (!hex && body.find_first_of(".eE") != std::string_view::npos) {
    if (auto f = ParseGoFloat(t)) return Json(*f);
  } else {
    int64_t i = 0;
    NumParse r = ParseGoInt(t, i);
    if (r == NumParse::kOk) return Json(i);
    if (r == NumParse::kOverflow) return Failf("{} overflows int", t);
  }
  return Failf("illegal number syntax: {}", GoQuote(t));
}

// ---- fmt's %v and encoding/json ---------------------------------------------

void AppendV(std::string& out, const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      out += "<nil>";
      return;
    case Json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(j.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(j.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      out += FormatFloat(j.get<double>());
      return;
    case Json::value_t::string:
      out += StrRef(j);
      return;
    case Json::value_t::array:
      out += '[';
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out += ' ';
        AppendV(out, j[i]);
      }
      out += ']';
      return;
    default:
      break;
  }
  out += "map[";
  bool first = true;
  for (const auto& [k, v] : SortedItems(j)) {
    if (!first) out += ' ';
    first = false;
    out.append(k).append(":");
    AppendV(out, *v);
  }
  out += ']';
}

std::string V(const Json& j) {
  std::string s;
  AppendV(s, j);
  return s;
}

// Sprig's strval: a string as is, anything else as %v.
std::string StrVal(const Json& j) { return j.is_string() ? StrRef(j) : V(j); }

struct JsonStyle {
  bool escape_html = true;  // json.Marshal's default; toRawJson turns it off
  bool pretty = false;      // json.MarshalIndent(v, "", "  ")
};

void AppendJsonString(std::string& out, std::string_view s, bool escape_html) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8CharLength(s.substr(i));
      std::string_view ch = s.substr(i, n);
      if (n == 0) {
        out += "\\ufffd";
        n = 1;
      } else if (ch == "\xE2\x80\xA8" || ch == "\xE2\x80\xA9") {
        out += ch == "\xE2\x80\xA8" ? "\\u2028" : "\\u2029";
      } else {
        out += ch;
      }
      i += n;
      continue;
    }
    static constexpr std::string_view kShort = "\"\"\\\\\nn\rr\tt\bb\ff";
    size_t k = kShort.find(static_cast<char>(c));
    if (k != std::string_view::npos && k % 2 == 0) {
      out += '\\';
      out += kShort[k + 1];
    } else if (c < 0x20 || (escape_html && (c == '<' || c == '>' || c == '&'))) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

bool AppendJson(std::string& out, const Json& j, const JsonStyle& st, int level);

void JsonNewLine(std::string& out, const JsonStyle& st, int level) {
  if (!st.pretty) return;
  out += '\n';
  out.append(static_cast<size_t>(level) * 2, ' ');
}

bool AppendJsonContainer(std::string& out, const Json& j, const JsonStyle& st, int level) {
  bool object = j.is_object();
  out += object ? '{' : '[';
  if (j.empty()) {
    out += object ? '}' : ']';
    return true;
  }
  auto one = [&](const Json& v, size_t i, std::string_view key) {
    if (i > 0) out += ',';
    JsonNewLine(out, st, level + 1);
    if (object) {
      AppendJsonString(out, key, st.escape_html);
      out += st.pretty ? ": " : ":";
    }
    return AppendJson(out, v, st, level + 1);
  };
  size_t i = 0;
  if (object) {
    for (const auto& [k, v] : SortedItems(j)) {
      if (!one(*v, i++, k)) return false;
    }
  } else {
    for (const Json& v : j) {
      if (!one(v, i++, {})) return false;
    }
  }
  JsonNewLine(out, st, level);
  out += object ? '}' : ']';
  return true;
}

// encoding/json's text for j: sorted keys, Go's floats; false for NaN or Inf.
bool AppendJson(std::string& out, const Json& j, const JsonStyle& st, int level) {
  switch (j.type()) {
    case Json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      return true;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      AppendV(out, j);
      return true;
    case Json::value_t::number_float: {
      double d = j.get<double>();
      if (!std::isfinite(d)) return false;
      out += FormatFloat(d, true);
      return true;
    }
    case Json::value_t::string:
      AppendJsonString(out, StrRef(j), st.escape_html);
      return true;
    case Json::value_t::array:
    case Json::value_t::object:
      return AppendJsonContainer(out, j, st, level);
    default:
      out += "null";
      return true;
  }
}

// ---- fmt.Sprintf --------------------------------------------------------------

struct Spec {
  bool minus = false;
  bool plus = false;
  bool sharp = false;
  bool space = false;
  bool zero = false;
  int width = -1;
  int prec = -1;
  char verb = 'v';
};

constexpr int kMaxFmtNumber = 1'000'000;  // fmt's tooLarge: %!(BADWIDTH) beyond

std::string Pad(std::string body, const Spec& sp, bool numeric) {
  size_t n = RuneCount(body);
  if (sp.width < 0 || n >= static_cast<size_t>(sp.width)) return body;
  size_t fill = static_cast<size_t>(sp.width) - n;
  if (sp.minus) return body + std::string(fill, ' ');
  if (sp.zero && numeric) {
    size_t at = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
    body.insert(at, fill, '0');
    return body;
  }
  return std::string(fill, ' ') + body;
}

std::string BadVerb(const Json& j, char verb) {
  if (j.is_null()) return fmt::format("%!{}(<nil>)", verb);
  return fmt::format("%!{}({}={})", verb, TypeName(j), V(j));
}

std::string Sign(bool negative, const Spec& sp) {
  return negative ? "-" : sp.plus ? "+" : sp.space ? " " : "";
}

std::string FormatIntVerb(int64_t v, const Spec& sp) {
  if (sp.verb == 'c' || sp.verb == 'q' || sp.verb == 'U') {
    bool valid = v >= 0 && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF);
    std::string ch;
    AppendUtf8(ch, valid ? static_cast<uint32_t>(v) : 0xFFFD);
    if (sp.verb == 'U') return Pad(fmt::format("U+{:04X}", v), sp, false);
    if (sp.verb == 'c') return Pad(ch, sp, false);
    std::string q = GoQuote(ch);
    return Pad(ch == "'" ? "'\\''" : "'" + q.substr(1, q.size() - 2) + "'", sp, false);
  }
  int base = 10;
  std::string prefix;
  switch (sp.verb) {
    case 'x':
    case 'X':
      base = 16;
      prefix = sp.sharp ? (sp.verb == 'x' ? "0x" : "0X") : "";
      break;
    case 'o':
    case 'O':
      base = 8;
      prefix = sp.verb == 'O' ? "0o" : sp.sharp ? "0" : "";
      break;
    case 'b':
      base = 2;
      prefix = sp.sharp ? "0b" : "";
      break;
    case 'd':
    case 'v':
      break;
    default:
      return BadVerb(Json(v), sp.verb);
  }
  uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  char buf[80];
  auto r = std::to_chars(buf, buf + sizeof buf, mag, base);
  std::string digits(buf, r.ptr);
  if (sp.verb == 'X') std::transform(digits.begin(), digits.end(), digits.begin(), ::toupper);
  if (sp.prec == 0 && mag == 0) digits.clear();
  if (sp.prec > 0 && digits.size() < static_cast<size_t>(sp.prec)) {
    digits.insert(0, static_cast<size_t>(sp.prec) - digits.size(), '0');
  }
  std::string head = Sign(v < 0, sp) + prefix;
  if (sp.prec < 0 && sp.zero && !sp.minus && sp.width > 0 &&
      head.size() + digits.size() < static_cast<size_t>(sp.width)) {
    digits.insert(0, static_cast<size_t>(sp.width) - head.size() - digits.size(), '0');
  }
  return Pad(head + digits, sp, false);
}

std::string FormatFloatVerb(double d, const Spec& sp) {
  static constexpr std::string_view kVerbs = "eEfFgGv";
  if (kVerbs.find(sp.verb) == std::string_view::npos) return BadVerb(Json(d), sp.verb);
  if (!std::isfinite(d)) {
    Spec no_zero = sp;
    no_zero.zero = false;
    return Pad(std::isnan(d) ? (sp.plus    ? "+NaN"
                                : sp.space ? " NaN"
                                           : "NaN")
                             : FormatFloat(d),
               no_zero, false);
  }
  char verb = sp.verb == 'v' ? 'g' : sp.verb == 'F' ? 'f' : sp.verb;
  std::string body;
  if ((verb == 'g' || verb == 'G') && sp.prec < 0) {
    body = FormatFloat(std::fabs(d));
    if (verb == 'G') std::transform(body.begin(), body.end(), body.begin(), ::toupper);
  } else {
    int prec = sp.prec < 0 ? 6 : sp.prec;
    const char format[] = {'%', '.', '*', verb, '\0'};
    int n = std::snprintf(nullptr, 0, format, prec, std::fabs(d));
    body.resize(static_cast<size_t>(std::max(n, 0)) + 1);
    std::snprintf(body.data(), body.size(), format, prec, std::fabs(d));
    body.pop_back();
  }
  return Pad(Sign(std::signbit(d), sp) + body, sp, true);
}

std::string FormatStringVerb(const std::string& s, const Spec& sp) {
  std::string_view v = sp.prec >= 0 ? TruncRunes(s, static_cast<size_t>(sp.prec)) : s;
  switch (sp.verb) {
    case 's':
    case 'v':
      return Pad(std::string(v), sp, false);
    case 'q':
      return Pad(GoQuote(v), sp, false);
    case 'x':
    case 'X': {
      std::string hex;
      for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        hex += sp.verb == 'x' ? fmt::format("{:02x}", u) : fmt::format("{:02X}", u);
      }
      return Pad(hex, sp, false);
    }
    default:
      return BadVerb(Json(s), sp.verb);
  }
}

std::string FormatVerb(const Json& j, const Spec& sp);

// A slice or map: each element with the verb, as fmt does.
std::string FormatContainerVerb(const Json& j, const Spec& sp) {
  std::string out = j.is_array() ? "[" : "map[";
  bool first = true;
  if (j.is_array()) {
    for (const Json& e : j) {
      out += first ? "" : " ";
      first = false;
      out += FormatVerb(e, sp);
    }
  } else {
    for (const auto& [k, v] : SortedItems(j)) {
      out += first ? "" : " ";
      first = false;
      out += FormatVerb(Json(std::string(k)), sp) + ":" + FormatVerb(*v, sp);
    }
  }
  return out + "]";
}

std::string FormatVerb(const Json& j, const Spec& sp) {
  if (sp.verb == 'T') return Pad(std::string(TypeName(j)), sp, false);
  if (j.is_null()) return sp.verb == 'v' ? Pad("<nil>", sp, false) : BadVerb(j, sp.verb);
  if (j.is_boolean()) {
    if (sp.verb != 't' && sp.verb != 'v') return BadVerb(j, sp.verb);
    return Pad(j.get<bool>() ? "true" : "false", sp, false);
  }
  if (IsInt(j)) return FormatIntVerb(AsInt(j), sp);
  if (j.is_number()) return FormatFloatVerb(j.get<double>(), sp);
  if (j.is_string()) return FormatStringVerb(StrRef(j), sp);
  return FormatContainerVerb(j, sp);
}

// A width or precision: digits, or `*` (the next argument). nullopt: bad.
std::optional<int> SprintfNumber(std::string_view f, size_t& i, const Args& a, size_t& ai,
                                 bool& present) {
  present = false;
  if (i < f.size() && f[i] == '*') {
    ++i;
    present = true;
    if (ai >= a.size() || !IsInt(a[ai].json())) return std::nullopt;
    int64_t v = AsInt(a[ai++].json());
    if (v > kMaxFmtNumber || v < -kMaxFmtNumber) return std::nullopt;
    return static_cast<int>(v);
  }
  int n = 0;
  while (i < f.size() && IsDigit(f[i])) {
    present = true;
    n = n * 10 + (f[i++] - '0');
    if (n > kMaxFmtNumber) return std::nullopt;
  }
  return n;
}

void SprintfFlags(std::string_view f, size_t& i, Spec& sp) {
  for (; i < f.size(); ++i) {
    switch (f[i]) {
      case '-':
        sp.minus = true;
        break;
      case '+':
        sp.plus = true;
        break;
      case '#':
        sp.sharp = true;
        break;
      case ' ':
        sp.space = true;
        break;
      case '0':
        sp.zero = true;
        break;
      default:
        return;
    }
  }
}

// Reads a directive's flags, width and precision; false with the error text
// appended to `out` when a width or precision is bad.
bool SprintfSpec(std::string_view f, size_t& i, const Args& a, size_t& ai, Spec& sp,
                 std::string& out) {
  SprintfFlags(f, i, sp);
  bool present = false;
  std::optional<int> w = SprintfNumber(f, i, a, ai, present);
  if (!w) {
    out += "%!(BADWIDTH)";
    return false;
  }
  if (present) sp.width = *w < 0 ? -*w : *w;
  if (present && *w < 0) sp.minus = true;
  if (i < f.size() && f[i] == '.') {
    ++i;
    std::optional<int> p = SprintfNumber(f, i, a, ai, present);
    if (!p || *p < 0) {
      out += "%!(BADPREC)";
      return false;
    }
    sp.prec = *p;
  }
  return true;
}

// fmt.Sprintf(a[0], a[1:]...), with Go's %!verb(type=value) for mistakes.
std::string GoSprintf(std::string_view f, const Args& a, size_t first_arg) {
  std::string out;
  size_t ai = first_arg;
  for (size_t i = 0; i < f.size();) {
    if (f[i] != '%') {
      size_t j = std::min(f.find('%', i), f.size());
      out += f.substr(i, j - i);
      i = j;
      continue;
    }
    ++i;
    Spec sp;
    if (!SprintfSpec(f, i, a, ai, sp, out)) continue;
    if (i >= f.size()) {
      out += "%!(NOVERB)";
      break;
    }
    sp.verb = f[i++];
    if (sp.verb == '%') {
      out += '%';
    } else if (ai >= a.size()) {
      out += fmt::format("%!{}(MISSING)", sp.verb);
    } else {
      out += FormatVerb(a[ai++].json(), sp);
    }
  }
  if (ai < a.size()) {
    out += "%!(EXTRA ";
    for (size_t k = ai; k < a.size(); ++k) {
      const Json& j = a[k].json();
      out += k > ai ? ", " : "";
      out += j.is_null() ? "<nil>" : fmt::format("{}={}", TypeName(j), V(j));
    }
    out += ")";
  }
  return out;
}

// fmt.Sprint: a space between operands when neither is a string. With
// `no_value`, a nil operand is "<no value>" (html, js and urlquery).
std::string GoSprint(const Args& a, bool no_value = false) {
  std::string out;
  auto is_string = [&](size_t i) { return a[i].json().is_string() || (no_value && a[i].nil()); };
  for (size_t i = 0; i < a.size(); ++i) {
    if (i > 0 && !is_string(i) && !is_string(i - 1)) out += ' ';
    if (no_value && a[i].nil()) {
      out += "<no value>";
    } else {
      AppendV(out, a[i].json());
    }
  }
  return out;
}

// ---- builtins: arguments and results ------------------------------------------

Val Str(std::string s) { return Val::Own(Json(std::move(s))); }
Val Bool(bool b) { return Val::Own(Json(b)); }
Val Int(int64_t i) { return Val::Own(Json(i)); }

Result<std::string_view> StrArg(const Args& a, size_t i) {
  const Json& j = a[i].json();
  if (j.is_string()) return std::string_view(StrRef(j));
  if (j.is_null()) return Fail("invalid value; expected string");
  return Failf("wrong type for value; expected string; got {}", TypeName(j));
}

Result<int64_t> IntArg(const Args& a, size_t i) {
  const Json& j = a[i].json();
  if (IsInt(j)) return AsInt(j);
  if (j.is_null()) return Fail("invalid value; expected int");
  return Failf("wrong type for value; expected int; got {}", TypeName(j));
}

// A map argument: null is an empty map, as Go's zero map.
Result<const Json*> MapArg(const Args& a, size_t i) {
  const Json& j = a[i].json();
  if (j.is_object() || j.is_null()) return &j;
  return Failf("wrong type for value; expected map[string]interface {{}}; got {}", TypeName(j));
}

Status CheckSize(size_t n) {
  if (n <= kMaxOutput) return Ok();
  return Failf(ErrorCode::kTooLarge, "result of {} bytes exceeds the limit of {}", n, kMaxOutput);
}

// Sprig's empty.
bool Empty(const Val& v) { return !Truth(v); }

// Equality by value: numbers across int and float, objects whatever their
// key order.
bool JsonEqual(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (IsInt(a) && IsInt(b)) return AsInt(a) == AsInt(b);
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), JsonEqual);
  }
  if (!a.is_object()) return a == b;
  if (a.size() != b.size()) return false;
  for (auto it = a.begin(); it != a.end(); ++it) {
    auto other = b.find(it.key());
    if (other == b.end() || !JsonEqual(it.value(), *other)) return false;
  }
  return true;
}

// ---- Go's builtins ----------------------------------------------------------------

Result<Val> FnNot(const Args& a) { return Bool(!Truth(a[0])); }

Result<Val> FnLen(const Args& a) {
  const Json& j = a[0].json();
  if (j.is_null()) return Fail("len of nil pointer");
  if (j.is_string()) return Int(static_cast<int64_t>(StrRef(j).size()));
  if (j.is_array() || j.is_object()) return Int(static_cast<int64_t>(j.size()));
  return Failf("len of type {}", TypeName(j));
}

Result<int64_t> IndexArg(const Val& index, size_t size, bool allow_end) {
  const Json& j = index.json();
  if (!IsInt(j)) return Failf("cannot index slice/array with type {}", TypeName(j));
  int64_t x = AsInt(j);
  if (x < 0 || static_cast<uint64_t>(x) > size ||
      (!allow_end && static_cast<uint64_t>(x) == size)) {
    return Failf("index out of range: {}", x);
  }
  return x;
}

Result<Val> FnIndex(const Args& a) {
  if (a[0].nil()) return Fail("index of untyped nil");
  Val item = a[0];
  for (size_t i = 1; i < a.size(); ++i) {
    const Json& j = item.json();
    if (item.nil()) return Fail("index of nil pointer");
    if (j.is_array() || j.is_string()) {
      size_t size = j.is_array() ? j.size() : StrRef(j).size();
      STRAKE_TRY_ASSIGN(x, IndexArg(a[i], size, false));
      item = j.is_array() ? item.Child(j[static_cast<size_t>(x)])
                          : Int(static_cast<unsigned char>(StrRef(j)[static_cast<size_t>(x)]));
    } else if (j.is_object()) {
      const Json& key = a[i].json();
      if (!key.is_string() && !key.is_null()) {
        return Failf("value has type {}; should be string", TypeName(key));
      }
      auto it = j.find(key.is_string() ? StrRef(key) : std::string());
      item = it == j.end() ? Val::Ref(&NullJson()) : item.Child(*it);
    } else {
      return Failf("can't index item of type {}", TypeName(j));
    }
  }
  return item;
}

Result<Val> FnSlice(const Args& a) {
  const Json& j = a[0].json();
  if (a[0].nil()) return Fail("slice of untyped nil");
  if (a.size() > 4) return Failf("too many slice indexes: {}", a.size() - 1);
  if (!j.is_array() && !j.is_string()) return Failf("can't slice item of type {}", TypeName(j));
  if (j.is_string() && a.size() == 4) return Fail("cannot 3-index slice a string");
  size_t size = j.is_array() ? j.size() : StrRef(j).size();
  int64_t idx[3] = {0, static_cast<int64_t>(size), static_cast<int64_t>(size)};
  for (size_t i = 1; i < a.size(); ++i) {
    STRAKE_TRY_ASSIGN(x, IndexArg(a[i], size, true));
    idx[i - 1] = x;
  }
  if (idx[0] > idx[1]) return Failf("invalid slice index: {} > {}", idx[0], idx[1]);
  if (a.size() == 4 && idx[1] > idx[2])
    return Failf("invalid slice index: {} > {}", idx[1], idx[2]);
  auto from = static_cast<size_t>(idx[0]);
  auto to = static_cast<size_t>(idx[1]);
  if (j.is_string()) return Str(StrRef(j).substr(from, to - from));
  return Val::Own(Json(j.begin() + static_cast<std::ptrdiff_t>(from),
                       j.begin() + static_cast<std::ptrdiff_t>(to)));
}

Result<Val> FnPrint(const Args& a) { return Str(GoSprint(a)); }

Result<Val> FnPrintln(const Args& a) {
  std::string out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (i > 0) out += ' ';
    AppendV(out, a[i].json());
  }
  return Str(out + "\n");
}

Result<Val> FnPrintf(const Args& a) {
  STRAKE_TRY_ASSIGN(f, StrArg(a, 0));
  return Str(GoSprintf(f, a, 1));
}

// Go's basicKind: what eq and lt can compare.
enum class Kind { kInvalid, kBool, kInt, kFloat, kString };

Kind BasicKind(const Json& j) {
  if (j.is_boolean()) return Kind::kBool;
  if (IsInt(j)) return Kind::kInt;
  if (j.is_number()) return Kind::kFloat;
  if (j.is_string()) return Kind::kString;
  return Kind::kInvalid;
}

bool IsNumberKind(Kind k) { return k == Kind::kInt || k == Kind::kFloat; }

// -1, 0 or 1; numbers by value whether int or float (Go refuses to mix them).
int CompareNumbers(const Json& a, const Json& b) {
  if (IsInt(a) && IsInt(b)) return AsInt(a) < AsInt(b) ? -1 : AsInt(a) > AsInt(b) ? 1 : 0;
  double x = a.get<double>();
  double y = b.get<double>();
  return x < y ? -1 : x > y ? 1 : 0;
}

Result<bool> Equal(const Val& va, const Val& vb) {
  const Json& a = va.json();
  const Json& b = vb.json();
  Kind ka = BasicKind(a);
  Kind kb = BasicKind(b);
  if (IsNumberKind(ka) && IsNumberKind(kb)) return CompareNumbers(a, b) == 0;
  if (ka == Kind::kInvalid && kb == Kind::kInvalid) {
    if (a.is_null() || b.is_null()) return a.is_null() == b.is_null();
    return Failf("non-comparable type {}", TypeName(a));
  }
  if (ka != kb) {
    if (a.is_null() || b.is_null()) return false;
    return Fail("incompatible types for comparison");
  }
  return a == b;
}

Result<bool> Less(const Val& va, const Val& vb) {
  const Json& a = va.json();
  const Json& b = vb.json();
  Kind ka = BasicKind(a);
  Kind kb = BasicKind(b);
  if (ka == Kind::kInvalid || kb == Kind::kInvalid) return Fail("invalid type for comparison");
  if (IsNumberKind(ka) && IsNumberKind(kb)) return CompareNumbers(a, b) < 0;
  if (ka != kb) return Fail("incompatible types for comparison");
  if (ka == Kind::kBool) return Fail("invalid type for comparison");
  return StrRef(a) < StrRef(b);
}

Result<Val> FnEq(const Args& a) {
  if (a.size() < 2) return Fail("missing argument for comparison");
  for (size_t i = 1; i < a.size(); ++i) {
    STRAKE_TRY_ASSIGN(eq, Equal(a[0], a[i]));
    if (eq) return Bool(true);
  }
  return Bool(false);
}

Result<Val> FnNe(const Args& a) {
  STRAKE_TRY_ASSIGN(eq, Equal(a[0], a[1]));
  return Bool(!eq);
}

Result<Val> FnLt(const Args& a) {
  STRAKE_TRY_ASSIGN(lt, Less(a[0], a[1]));
  return Bool(lt);
}

Result<Val> FnLe(const Args& a) {
  STRAKE_TRY_ASSIGN(lt, Less(a[0], a[1]));
  if (lt) return Bool(true);
  STRAKE_TRY_ASSIGN(eq, Equal(a[0], a[1]));
  return Bool(eq);
}

Result<Val> FnGt(const Args& a) {
  STRAKE_TRY_ASSIGN(le, FnLe(a));
  return Bool(!le.json().get<bool>());
}

Result<Val> FnGe(const Args& a) {
  STRAKE_TRY_ASSIGN(lt, Less(a[0], a[1]));
  return Bool(!lt);
}

// text/template's evalArgs: one string as is, else fmt.Sprint of the operands.
std::string EvalArgs(const Args& a) {
  if (a.size() == 1 && a[0].json().is_string()) return StrRef(a[0].json());
  return GoSprint(a, true);
}

Result<Val> FnHtml(const Args& a) {
  std::string out;
  for (char c : EvalArgs(a)) {
    switch (c) {
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\0':
        out += "\uFFFD";
        break;
      default:
        out += c;
    }
  }
  return Str(out);
}

// Characters Go's unicode.IsPrint refuses that text may hold: C1 controls,
// format characters and the line and paragraph separators.
bool IsUnprintable(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF;
}

Result<Val> FnJs(const Args& a) {
  static constexpr std::string_view kSpecial = "\\\\''\"\"<<>>&&==";
  static constexpr std::string_view kEscapes[] = {"\\\\",    "\\'",     "\\\"",   "\\u003C",
                                                  "\\u003E", "\\u0026", "\\u003D"};
  std::string in = EvalArgs(a);
  std::string out;
  for (size_t i = 0; i < in.size();) {
    char c = in[i];
    size_t n = std::max<size_t>(Utf8CharLength(std::string_view(in).substr(i)), 1);
    size_t k = kSpecial.find(c);
    if (k != std::string_view::npos) {
      out += kEscapes[k / 2];
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
    } else if (n > 1 && IsUnprintable(DecodeUtf8(std::string_view(in).substr(i), n))) {
      out += fmt::format("\\u{:04X}", DecodeUtf8(std::string_view(in).substr(i), n));
    } else {
      out.append(in, i, n);
    }
    i += n;
  }
  return Str(out);
}

// url.QueryEscape.
std::string QueryEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

Result<Val> FnUrlquery(const Args& a) { return Str(QueryEscape(EvalArgs(a))); }

using Table = std::map<std::string_view, BuiltinDef, std::less<>>;

void AddGoBuiltins(Table& t) {
  t["and"] = {1, -1, nullptr, Special::kAnd};
  t["or"] = {1, -1, nullptr, Special::kOr};
  t["call"] = {1, -1, nullptr, Special::kCall};
  t["not"] = {1, 1, FnNot};
  t["len"] = {1, 1, FnLen};
  t["index"] = {1, -1, FnIndex};
  t["slice"] = {1, -1, FnSlice};
  t["print"] = {0, -1, FnPrint};
  t["printf"] = {1, -1, FnPrintf};
  t["println"] = {0, -1, FnPrintln};
  t["eq"] = {1, -1, FnEq};
  t["ne"] = {2, 2, FnNe};
  t["lt"] = {2, 2, FnLt};
  t["le"] = {2, 2, FnLe};
  t["gt"] = {2, 2, FnGt};
  t["ge"] = {2, 2, FnGe};
  t["html"] = {0, -1, FnHtml};
  t["js"] = {0, -1, FnJs};
  t["urlquery"] = {0, -1, FnUrlquery};
}

// ---- Sprig: strings ---------------------------------------------------------------

template <typename F>
Result<Val> MapString(const Args& a, size_t i, F f) {
  STRAKE_TRY_ASSIGN(s, StrArg(a, i));
  return Str(f(s));
}

std::string AsciiCase(std::string_view s, bool upper) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(upper ? std::toupper(u) : std::tolower(u));
  }
  return out;
}

// strings.Title: the first letter of each word upper case.
std::string Title(std::string_view s) {
  std::string out(s);
  bool after_separator = true;
  for (char& c : out) {
    if (after_separator) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    after_separator = !IsAlnum(c);
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (IsSpace(s.front()) || s.front() == '\v' || s.front() == '\f')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (IsSpace(s.back()) || s.back() == '\v' || s.back() == '\f')) {
    s.remove_suffix(1);
  }
  return s;
}

// strings.Trim(s, cutset): the characters of cutset off both ends.
std::string_view TrimCutset(std::string_view s, std::string_view cutset) {
  auto in_set = [&](std::string_view ch) {
    return !ch.empty() && cutset.find(ch) != std::string_view::npos;
  };
  auto first_char = [](std::string_view x) {
    return x.substr(0, std::max<size_t>(Utf8CharLength(x), 1));
  };
  while (!s.empty() && in_set(first_char(s))) s.remove_prefix(first_char(s).size());
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!in_set(s.substr(start))) break;
    s.remove_suffix(s.size() - start);
  }
  return s;
}

Result<Val> FnTrimAll(const Args& a) {
  STRAKE_TRY_ASSIGN(cutset, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Str(std::string(TrimCutset(s, cutset)));
}

Result<Val> FnTrimPrefix(const Args& a) {
  STRAKE_TRY_ASSIGN(prefix, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Str(std::string(StartsWith(s, prefix) ? s.substr(prefix.size()) : s));
}

Result<Val> FnTrimSuffix(const Args& a) {
  STRAKE_TRY_ASSIGN(suffix, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Str(std::string(EndsWith(s, suffix) ? s.substr(0, s.size() - suffix.size()) : s));
}

// strings.Split: by sep, or into characters when sep is "".
std::vector<std::string> GoSplit(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      size_t n = std::max<size_t>(Utf8CharLength(s.substr(i)), 1);
      parts.emplace_back(s.substr(i, n));
      i += n;
    }
    return parts;
  }
  size_t start = 0;
  for (size_t at = s.find(sep); at != std::string_view::npos; at = s.find(sep, start)) {
    parts.emplace_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

Result<Val> FnReplace(const Args& a) {
  STRAKE_TRY_ASSIGN(old_s, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(new_s, StrArg(a, 1));
  STRAKE_TRY_ASSIGN(src, StrArg(a, 2));
  std::vector<std::string> parts = GoSplit(src, old_s);
  if (old_s.empty()) parts.insert(parts.begin(), "");  // Go: before each character and at the end
  if (old_s.empty()) parts.emplace_back("");
  STRAKE_TRY(CheckSize(src.size() + (parts.size() - 1) * new_s.size()));
  return Str(Join(parts, new_s));
}

Result<Val> FnContains(const Args& a) {
  STRAKE_TRY_ASSIGN(sub, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Bool(s.find(sub) != std::string_view::npos);
}

Result<Val> FnHasPrefix(const Args& a) {
  STRAKE_TRY_ASSIGN(prefix, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Bool(StartsWith(s, prefix));
}

Result<Val> FnHasSuffix(const Args& a) {
  STRAKE_TRY_ASSIGN(suffix, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  return Bool(EndsWith(s, suffix));
}

Result<Val> FnQuote(const Args& a, bool single) {
  std::vector<std::string> out;
  for (const Val& v : a) {
    if (v.nil()) continue;
    out.push_back(single ? "'" + V(v.json()) + "'" : GoQuote(StrVal(v.json())));
  }
  return Str(Join(out, " "));
}

Result<std::string> Repeat(std::string_view s, int64_t count) {
  if (count < 0) return Fail("strings: negative Repeat count");
  uint64_t size = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(count), s.size(), &size)) size = UINT64_MAX;
  STRAKE_TRY(CheckSize(size));
  std::string out;
  for (int64_t i = 0; i < count; ++i) out += s;
  return out;
}

Result<Val> FnRepeat(const Args& a) {
  STRAKE_TRY_ASSIGN(count, IntArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  STRAKE_TRY_ASSIGN(out, Repeat(s, count));
  return Str(std::move(out));
}

Result<Val> FnSubstr(const Args& a) {
  STRAKE_TRY_ASSIGN(start, IntArg(a, 0));
  STRAKE_TRY_ASSIGN(end, IntArg(a, 1));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 2));
  auto len = static_cast<int64_t>(s.size());
  if (start < 0) {
    if (end < 0 || end > len)
      return Failf("slice bounds out of range [:{}] with length {}", end, len);
    return Str(std::string(s.substr(0, static_cast<size_t>(end))));
  }
  if (end < 0 || end > len) end = len;
  if (start > end) return Failf("slice bounds out of range [{}:{}]", start, end);
  return Str(std::string(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start))));
}

Result<Val> FnTrunc(const Args& a) {
  STRAKE_TRY_ASSIGN(c, IntArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  auto len = static_cast<int64_t>(s.size());
  if (c < 0 && len + c > 0) return Str(std::string(s.substr(static_cast<size_t>(len + c))));
  if (c >= 0 && len > c) return Str(std::string(s.substr(0, static_cast<size_t>(c))));
  return Str(std::string(s));
}

Result<Val> FnAbbrev(const Args& a) {
  STRAKE_TRY_ASSIGN(width, IntArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  if (width < 4 || static_cast<int64_t>(s.size()) <= width) return Str(std::string(s));
  return Str(std::string(s.substr(0, static_cast<size_t>(width - 3))) + "...");
}

Result<Val> FnNospace(const Args& a) {
  STRAKE_TRY_ASSIGN(s, StrArg(a, 0));
  std::string out;
  for (char c : s) {
    if (!IsSpace(c) && c != '\v' && c != '\f') out += c;
  }
  return Str(out);
}

Result<Val> FnIndent(const Args& a, bool newline) {
  STRAKE_TRY_ASSIGN(n, IntArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  STRAKE_TRY_ASSIGN(pad, Repeat(" ", n));
  auto lines = static_cast<size_t>(std::count(s.begin(), s.end(), '\n')) + 1;
  STRAKE_TRY(CheckSize(s.size() + lines * pad.size() + 1));
  std::string out = newline ? "\n" + pad : pad;
  for (char c : s) {
    out += c;
    if (c == '\n') out += pad;
  }
  return Str(out);
}

Result<Val> FnCat(const Args& a) {
  std::string out;
  for (const Val& v : a) {
    if (v.nil()) continue;
    if (!out.empty()) out += ' ';
    AppendV(out, v.json());
    STRAKE_TRY(CheckSize(out.size()));
  }
  return Str(out);
}

void AddSprigStrings(Table& t) {
  t["upper"] = {1, 1, [](const Args& a) {
                  return MapString(a, 0, [](auto s) { return AsciiCase(s, true); });
                }};
  t["lower"] = {1, 1, [](const Args& a) {
                  return MapString(a, 0, [](auto s) { return AsciiCase(s, false); });
                }};
  t["title"] = {1, 1, [](const Args& a) { return MapString(a, 0, Title); }};
  t["trim"] = {1, 1, [](const Args& a) {
                 return MapString(a, 0, [](auto s) { return std::string(TrimSpace(s)); });
               }};
  t["trimAll"] = {2, 2, FnTrimAll};
  t["trimPrefix"] = {2, 2, FnTrimPrefix};
  t["trimSuffix"] = {2, 2, FnTrimSuffix};
  t["replace"] = {3, 3, FnReplace};
  t["contains"] = {2, 2, FnContains};
  t["hasPrefix"] = {2, 2, FnHasPrefix};
  t["hasSuffix"] = {2, 2, FnHasSuffix};
  t["quote"] = {0, -1, [](const Args& a) { return FnQuote(a, false); }};
  t["squote"] = {0, -1, [](const Args& a) { return FnQuote(a, true); }};
  t["repeat"] = {2, 2, FnRepeat};
  t["substr"] = {3, 3, FnSubstr};
  t["trunc"] = {2, 2, FnTrunc};
  t["abbrev"] = {2, 2, FnAbbrev};
  t["nospace"] = {1, 1, FnNospace};
  t["indent"] = {2, 2, [](const Args& a) { return FnIndent(a, false); }};
  t["nindent"] = {2, 2, [](const Args& a) { return FnIndent(a, true); }};
  t["cat"] = {0, -1, FnCat};
}

// ---- Sprig: lists, dicts, encodings -------------------------------------------------

// Sprig's strslice: an array's non-null elements as strings; a scalar alone.
std::vector<std::string> StrSlice(const Val& v) {
  std::vector<std::string> out;
  const Json& j = v.json();
  if (j.is_array()) {
    for (const Json& e : j) {
      if (!e.is_null()) out.push_back(StrVal(e));
    }
  } else if (!j.is_null()) {
    out.push_back(StrVal(j));
  }
  return out;
}

Result<Val> FnJoin(const Args& a) {
  STRAKE_TRY_ASSIGN(sep, StrArg(a, 0));
  std::string out;
  std::vector<std::string> parts = StrSlice(a[1]);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
    STRAKE_TRY(CheckSize(out.size()));
  }
  return Str(out);
}

Result<Val> FnSplit(const Args& a, bool list) {
  STRAKE_TRY_ASSIGN(sep, StrArg(a, 0));
  STRAKE_TRY_ASSIGN(s, StrArg(a, 1));
  Json out = list ? Json::array() : Json::object();
  std::vector<std::string> parts = GoSplit(s, sep);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (list) {
      out.push_back(std::move(parts[i]));
    } else {
      out["_" + std::to_string(i)] = std::move(parts[i]);
    }
  }
  return Val::Own(std::move(out));
}

Result<Val> FnToStrings(const Args& a) {
  Json out = Json::array();
  for (std::string& s : StrSlice(a[0])) out.push_back(std::move(s));
  return Val::Own(std::move(out));
}

Result<Val> FnToJson(const Args& a, JsonStyle st, bool must) {
  std::string out;
  if (AppendJson(out, a[0].json(), st, 0)) return Str(std::move(out));
  if (must) return Fail("json: unsupported value: NaN or Inf");
  return Str("");  // Sprig's toJson and toPrettyJson drop the error
}

// base64.StdEncoding.DecodeString; on error Sprig's b64dec gives the error's text.
std::string B64Decode(std::string_view s) {
  std::string clean;
  std::vector<size_t> at;  // clean[i] came from s[at[i]]: Go ignores \r and \n
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\r' && s[i] != '\n') {
      clean += s[i];
      at.push_back(i);
    }
  }
  auto bad = [&](size_t i) {
    return fmt::format("illegal base64 data at input byte {}", i < at.size() ? at[i] : s.size());
  };
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (clean.size() % 4 != 0) return bad(clean.size() - clean.size() % 4);
  size_t pad = clean.size() >= 2 && clean.substr(clean.size() - 2) == "==" ? 2
               : !clean.empty() && clean.back() == '='                     ? 1
                                                                           : 0;
  std::string out;
  uint32_t acc = 0;
  for (size_t i = 0; i < clean.size() - pad; ++i) {
    size_t v = kAlphabet.find(clean[i]);
    if (v == std::string_view::npos) return bad(i);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (i % 4 == 3) {
      out += static_cast<char>(acc >> 16);
      out += static_cast<char>(acc >> 8);
      out += static_cast<char>(acc);
    }
  }
  if (pad == 2) out += static_cast<char>(acc >> 4);
  if (pad == 1) {
    out += static_cast<char>(acc >> 10);
    out += static_cast<char>(acc >> 2);
  }
  return out;
}

Result<Val> FnDefault(const Args& a) {
  if (a.size() < 2 || Empty(a[1])) return a[0];
  return a[1];
}

Result<Val> FnCoalesce(const Args& a) {
  for (const Val& v : a) {
    if (!Empty(v)) return v;
  }
  return Val();
}

Result<Val> FnTernary(const Args& a) {
  const Json& c = a[2].json();
  if (!c.is_boolean()) return Failf("wrong type for value; expected bool; got {}", TypeName(c));
  return c.get<bool>() ? a[0] : a[1];
}

Result<Val> FnList(const Args& a) {
  Json out = Json::array();
  for (const Val& v : a) out.push_back(v.json());
  return Val::Own(std::move(out));
}

Result<Val> FnDict(const Args& a) {
  Json out = Json::object();
  for (size_t i = 0; i < a.size(); i += 2) {
    out[StrVal(a[i].json())] = i + 1 < a.size() ? a[i + 1].json() : Json("");
  }
  return Val::Own(std::move(out));
}

Result<Val> FnGet(const Args& a, bool has_key) {
  STRAKE_TRY_ASSIGN(m, MapArg(a, 0));
  STRAKE_TRY_ASSIGN(key, StrArg(a, 1));
  auto it = m->is_object() ? m->find(std::string(key)) : m->end();
  if (has_key) return Bool(m->is_object() && it != m->end());
  if (!m->is_object() || it == m->end()) return Str("");
  return a[0].Child(*it);
}

Result<Val> FnKeys(const Args& a) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < a.size(); ++i) {
    STRAKE_TRY_ASSIGN(m, MapArg(a, i));
    if (!m->is_object()) continue;
    for (auto it = m->begin(); it != m->end(); ++it) keys.push_back(it.key());
  }
  std::sort(keys.begin(), keys.end());
  return Val::Own(Json(keys));
}

Result<Val> FnFirstLast(const Args& a, bool first) {
  const Json& j = a[0].json();
  if (!j.is_array()) {
    return Failf("Cannot find {} on type {}", first ? "first" : "last", TypeName(j));
  }
  if (j.empty()) return Val();
  return a[0].Child(first ? j.front() : j.back());
}

Result<Val> FnHas(const Args& a) {
  const Json& haystack = a[1].json();
  if (haystack.is_null()) return Bool(false);
  if (!haystack.is_array()) return Failf("Cannot find has on type {}", TypeName(haystack));
  for (const Json& e : haystack) {
    if (JsonEqual(a[0].json(), e)) return Bool(true);
  }
  return Bool(false);
}

void AddSprigData(Table& t) {
  t["join"] = {2, 2, FnJoin};
  t["split"] = {2, 2, [](const Args& a) { return FnSplit(a, false); }};
  t["splitList"] = {2, 2, [](const Args& a) { return FnSplit(a, true); }};
  t["toString"] = {1, 1, [](const Args& a) -> Result<Val> { return Str(StrVal(a[0].json())); }};
  t["toStrings"] = {1, 1, FnToStrings};
  t["toJson"] = {1, 1, [](const Args& a) { return FnToJson(a, {}, false); }};
  t["toPrettyJson"] = {1, 1, [](const Args& a) { return FnToJson(a, {true, true}, false); }};
  t["toRawJson"] = {1, 1, [](const Args& a) { return FnToJson(a, {false, false}, true); }};
  t["b64enc"] = {1, 1, [](const Args& a) { return MapString(a, 0, Base64Encode); }};
  t["b64dec"] = {1, 1, [](const Args& a) { return MapString(a, 0, B64Decode); }};
  t["sha256sum"] = {1, 1, [](const Args& a) { return MapString(a, 0, Sha256Hex); }};
  t["sha1sum"] = {1, 1, [](const Args& a) { return MapString(a, 0, Sha1Hex); }};
  t["default"] = {1, -1, FnDefault};
  t["empty"] = {1, 1, [](const Args& a) -> Result<Val> { return Bool(Empty(a[0])); }};
  t["coalesce"] = {0, -1, FnCoalesce};
  t["ternary"] = {3, 3, FnTernary};
  t["list"] = {0, -1, FnList};
  t["dict"] = {0, -1, FnDict};
  t["get"] = {2, 2, [](const Args& a) { return FnGet(a, false); }};
  t["hasKey"] = {2, 2, [](const Args& a) { return FnGet(a, true); }};
  t["keys"] = {0, -1, FnKeys};
  t["first"] = {1, 1, [](const Args& a) { return FnFirstLast(a, true); }};
  t["last"] = {1, 1, [](const Args& a) { return FnFirstLast(a, false); }};
  t["has"] = {2, 2, FnHas};
}

// ---- Sprig: numbers ---------------------------------------------------------------

// cast's trimZeroDecimal: "12.000" reads as "12".
std::string_view TrimZeroDecimal(std::string_view s) {
  bool zero = false;
  for (size_t i = s.size(); i > 0; --i) {
    if (s[i - 1] == '.') return zero ? s.substr(0, i - 1) : s;
    if (s[i - 1] != '0') return s;
    zero = true;
  }
  return s;
}

int64_t FloatToInt(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

// cast.ToInt64: numbers (floats truncated), bools, numeric strings; else 0.
int64_t CastInt(const Json& j) {
  if (IsInt(j)) return AsInt(j);
  if (j.is_number()) return FloatToInt(j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  int64_t v = 0;
  if (j.is_string() && ParseGoInt(TrimZeroDecimal(StrRef(j)), v) == NumParse::kOk) return v;
  return 0;
}

// cast.ToFloat64.
double CastFloat(const Json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_string()) return ParseGoFloat(StrRef(j)).value_or(0);
  return 0;
}

// Go's int64 arithmetic wraps around.
int64_t Wrap(uint64_t u) { return static_cast<int64_t>(u); }
uint64_t U(int64_t i) { return static_cast<uint64_t>(i); }

Result<Val> FnAdd(const Args& a) {
  uint64_t sum = 0;
  for (const Val& v : a) sum += U(CastInt(v.json()));
  return Int(Wrap(sum));
}

Result<Val> FnMul(const Args& a) {
  uint64_t product = U(CastInt(a[0].json()));
  for (size_t i = 1; i < a.size(); ++i) product *= U(CastInt(a[i].json()));
  return Int(Wrap(product));
}

Result<Val> FnDivMod(const Args& a, bool mod) {
  int64_t x = CastInt(a[0].json());
  int64_t y = CastInt(a[1].json());
  if (y == 0) return Fail("runtime error: integer divide by zero");
  if (y == -1) return Int(mod ? 0 : Wrap(0 - U(x)));
  return Int(mod ? x % y : x / y);
}

Result<Val> FnMaxMin(const Args& a, bool max) {
  int64_t best = CastInt(a[0].json());
  for (size_t i = 1; i < a.size(); ++i) {
    int64_t v = CastInt(a[i].json());
    if (max ? v > best : v < best) best = v;
  }
  return Int(best);
}

// strconv.Atoi (decimal only); Sprig's atoi makes an error 0.
Result<Val> FnAtoi(const Args& a) {
  STRAKE_TRY_ASSIGN(s, StrArg(a, 0));
  std::string_view digits = s.substr(!s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0);
  bool ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), IsDigit);
  int64_t v = 0;
  return Int(ok && ParseGoInt(s, v) == NumParse::kOk ? v : 0);
}

void AddSprigMath(Table& t) {
  t["add"] = {0, -1, FnAdd};
  t["add1"] = {1, 1,
               [](const Args& a) -> Result<Val> { return Int(Wrap(U(CastInt(a[0].json())) + 1)); }};
  t["sub"] = {2, 2, [](const Args& a) -> Result<Val> {
                return Int(Wrap(U(CastInt(a[0].json())) - U(CastInt(a[1].json()))));
              }};
  t["mul"] = {1, -1, FnMul};
  t["div"] = {2, 2, [](const Args& a) { return FnDivMod(a, false); }};
  t["mod"] = {2, 2, [](const Args& a) { return FnDivMod(a, true); }};
  t["max"] = {1, -1, [](const Args& a) { return FnMaxMin(a, true); }};
  t["min"] = {1, -1, [](const Args& a) { return FnMaxMin(a, false); }};
  t["int"] = {1, 1, [](const Args& a) -> Result<Val> { return Int(CastInt(a[0].json())); }};
  t["int64"] = {1, 1, [](const Args& a) -> Result<Val> { return Int(CastInt(a[0].json())); }};
  t["float64"] = {
      1, 1, [](const Args& a) -> Result<Val> { return Val::Own(Json(CastFloat(a[0].json()))); }};
  t["atoi"] = {1, 1, FnAtoi};
}

const Table& Builtins() {
  static const Table kTable = [] {
    Table t;
    AddGoBuiltins(t);
    AddSprigStrings(t);
    AddSprigData(t);
    AddSprigMath(t);
    return t;
  }();
  return kTable;
}

// ---- lexer ------------------------------------------------------------------------

enum class Tok {
  kEOF,
  kText,
  kLeftDelim,
  kRightDelim,
  kSpace,
  kField,
  kVariable,
  kIdent,
  kDot,
  kString,
  kRawString,
  kChar,
  kNumber,
  kBool,
  kNil,
  kPipe,
  kLeftParen,
  kRightParen,
  kDeclare,
  kAssign,
  kComma,
  kOther,  // another printable character: always a syntax error
  kBlock,
  kBreak,
  kContinue,
  kDefine,
  kElse,
  kEnd,
  kIf,
  kRange,
  kTemplate,
  kWith,
};

struct Token {
  Tok type = Tok::kEOF;
  size_t pos = 0;
  std::string_view text;
  size_t end() const { return pos + text.size(); }
};

// The template's text, for positions in errors.
class Source {
 public:
  Source(std::string_view text, std::string name) : text_(text), name_(std::move(name)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }
  std::string_view text() const { return text_; }
  std::pair<int, int> LineCol(size_t pos) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    auto line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<int>(line), static_cast<int>(pos - line_starts_[line - 1] + 1)};
  }
  tl::unexpected<Error> Err(size_t pos, std::string_view msg,
                            ErrorCode code = ErrorCode::kInvalid) const {
    auto [line, col] = LineCol(pos);
    return tl::unexpected(
        Error{fmt::format("template: {}:{}:{}: {}", name_, line, col, msg), code});
  }
  // Where [start, end) is; its text shortened for messages.
  Loc MakeLoc(size_t start, size_t end) const {
    auto [line, col] = LineCol(start);
    std::string_view t = text_.substr(start, end > start ? end - start : 0);
    if (t.size() > 64) {
      size_t cut = 60;
      while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;
      return Loc{start, end, line, col, std::string(t.substr(0, cut)) + "..."};
    }
    return Loc{start, end, line, col, std::string(t)};
  }

 private:
  std::string_view text_;
  std::string name_;
  std::vector<size_t> line_starts_;
};

Tok KeywordOr(std::string_view w) {
  static const std::map<std::string_view, Tok> kWords = {
      {"block", Tok::kBlock},   {"break", Tok::kBreak}, {"continue", Tok::kContinue},
      {"define", Tok::kDefine}, {"else", Tok::kElse},   {"end", Tok::kEnd},
      {"if", Tok::kIf},         {"range", Tok::kRange}, {"template", Tok::kTemplate},
      {"with", Tok::kWith},     {"nil", Tok::kNil},     {"true", Tok::kBool},
      {"false", Tok::kBool}};
  auto it = kWords.find(w);
  return it == kWords.end() ? Tok::kIdent : it->second;
}

// text/template/parse's lexer: the whole text to tokens, or the first error.
class Lexer {
 public:
  explicit Lexer(const Source& src) : src_(src), s_(src.text()) {}
  Result<std::vector<Token>> Run();

 private:
  void Emit(Tok t, size_t start, size_t end) {
    toks_.push_back(Token{t, start, s_.substr(start, end - start)});
  }
  Status Single(Tok t) {
    Emit(t, pos_, pos_ + 1);
    ++pos_;
    return Ok();
  }
  bool RightDelimAt(size_t p, bool& trim) const;
  bool AtTerminator(size_t p) const;
  tl::unexpected<Error> BadChar(size_t p) const;
  Status LexComment(size_t open, size_t after);
  Status LexAction(size_t open, size_t after);
  Status LexOne(int& parens);
  void LexSpace();
  Status LexQuoted(char quote);
  Status LexName(Tok kind);
  Status LexIdent();
  Status LexNumber();

  const Source& src_;
  std::string_view s_;
  size_t pos_ = 0;
  std::vector<Token> toks_;
};

Result<std::vector<Token>> Lexer::Run() {
  while (pos_ < s_.size()) {
    size_t open = s_.find("{{", pos_);
    if (open == std::string_view::npos) {
      Emit(Tok::kText, pos_, s_.size());
      break;
    }
    bool trim = open + 3 < s_.size() && s_[open + 2] == '-' && IsSpace(s_[open + 3]);
    size_t text_end = open;
    while (trim && text_end > pos_ && IsSpace(s_[text_end - 1])) --text_end;
    if (text_end > pos_) Emit(Tok::kText, pos_, text_end);
    size_t after = open + (trim ? 4 : 2);
    if (s_.substr(after).starts_with("/*")) {
      STRAKE_TRY(LexComment(open, after));
    } else {
      STRAKE_TRY(LexAction(open, after));
    }
  }
  Emit(Tok::kEOF, s_.size(), s_.size());
  return std::move(toks_);
}

bool Lexer::RightDelimAt(size_t p, bool& trim) const {
  std::string_view rest = s_.substr(std::min(p, s_.size()));
  trim = rest.size() >= 4 && IsSpace(rest[0]) && rest[1] == '-' && rest.substr(2, 2) == "}}";
  return trim || rest.starts_with("}}");
}

bool Lexer::AtTerminator(size_t p) const {
  if (p >= s_.size()) return true;
  char c = s_[p];
  return IsSpace(c) || std::string_view(".,|:)(}").find(c) != std::string_view::npos;
}

tl::unexpected<Error> Lexer::BadChar(size_t p) const {
  auto c = static_cast<unsigned char>(s_[p]);
  std::string shown = c >= 0x20 && c < 0x7F ? fmt::format(" '{}'", static_cast<char>(c)) : "";
  return src_.Err(p, fmt::format("bad character U+{:04X}{}", c, shown));
}

Status Lexer::LexComment(size_t open, size_t after) {
  size_t close = s_.find("*/", after + 2);
  if (close == std::string_view::npos) return src_.Err(open, "unclosed comment");
  pos_ = close + 2;
  bool trim = false;
  if (!RightDelimAt(pos_, trim)) return src_.Err(open, "comment ends before closing delimiter");
  pos_ += trim ? 4 : 2;
  while (trim && pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  return Ok();
}

Status Lexer::LexAction(size_t open, size_t after) {
  Emit(Tok::kLeftDelim, open, after);
  pos_ = after;
  int parens = 0;
  for (;;) {
    bool trim = false;
    if (RightDelimAt(pos_, trim)) {
      if (parens > 0) return src_.Err(pos_, "unclosed left paren");
      size_t delim = pos_ + (trim ? 2 : 0);
      Emit(Tok::kRightDelim, delim, delim + 2);
      pos_ = delim + 2;
      while (trim && pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
      return Ok();
    }
    if (pos_ >= s_.size()) return src_.Err(open, "unclosed action");
    STRAKE_TRY(LexOne(parens));
  }
}

Status Lexer::LexOne(int& parens) {
  char c = s_[pos_];
  switch (c) {
    case ':':
      if (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '=') return src_.Err(pos_, "expected :=");
      Emit(Tok::kDeclare, pos_, pos_ + 2);
      pos_ += 2;
      return Ok();
    case '|':
      return Single(Tok::kPipe);
    case '(':
      ++parens;
      return Single(Tok::kLeftParen);
    case ')':
      if (--parens < 0) return src_.Err(pos_, "unexpected right paren U+0029 ')'");
      return Single(Tok::kRightParen);
    case '=':
      return Single(Tok::kAssign);
    case ',':
      return Single(Tok::kComma);
    case '"':
    case '`':
    case '\'':
      return LexQuoted(c);
    case '$':
      return LexName(Tok::kVariable);
    case '.':
      return pos_ + 1 < s_.size() && IsDigit(s_[pos_ + 1]) ? LexNumber() : LexName(Tok::kField);
    default:
      break;
  }
  if (IsSpace(c)) {
    LexSpace();
    return Ok();
  }
  if (c == '+' || c == '-' || IsDigit(c)) return LexNumber();
  if (IsAlnum(c)) return LexIdent();
  if (c > 0x20 && c < 0x7F) return Single(Tok::kOther);
  return src_.Err(pos_, fmt::format("unrecognized character in action: U+{:04X}",
                                    static_cast<unsigned char>(c)));
}

void Lexer::LexSpace() {
  size_t start = pos_;
  while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  bool trim = false;
  // " -}}" closes the action: leave its space to it.
  if (RightDelimAt(pos_ - 1, trim) && trim) --pos_;
  if (pos_ > start) Emit(Tok::kSpace, start, pos_);
}

Status Lexer::LexQuoted(char quote) {
  size_t start = pos_++;
  while (pos_ < s_.size()) {
    char c = s_[pos_];
    if (quote != '`' &&
        (c == '\n' || (c == '\\' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n'))) {
      break;
    }
    pos_ += quote != '`' && c == '\\' ? 2 : 1;
    if (c == quote) {
      Emit(quote == '"' ? Tok::kString : quote == '`' ? Tok::kRawString : Tok::kChar, start, pos_);
      return Ok();
    }
  }
  return src_.Err(start, quote == '"'   ? "unterminated quoted string"
                         : quote == '`' ? "unterminated raw quoted string"
                                        : "unterminated character constant");
}

Status Lexer::LexName(Tok kind) {
  size_t start = pos_++;
  if (AtTerminator(pos_)) {
    Emit(kind == Tok::kField ? Tok::kDot : Tok::kVariable, start, pos_);
    return Ok();
  }
  while (pos_ < s_.size() && IsAlnum(s_[pos_])) ++pos_;
  if (!AtTerminator(pos_)) return BadChar(pos_);
  Emit(kind, start, pos_);
  return Ok();
}

Status Lexer::LexIdent() {
  size_t start = pos_;
  while (pos_ < s_.size() && IsAlnum(s_[pos_])) ++pos_;
  if (!AtTerminator(pos_)) return BadChar(pos_);
  Emit(KeywordOr(s_.substr(start, pos_ - start)), start, pos_);
  return Ok();
}

// Go's scanNumber: the parser checks what it scanned.
Status Lexer::LexNumber() {
  size_t start = pos_;
  auto accept = [&](std::string_view valid) {
    if (pos_ < s_.size() && valid.find(s_[pos_]) != std::string_view::npos) {
      ++pos_;
      return true;
    }
    return false;
  };
  auto accept_run = [&](std::string_view valid) {
    while (accept(valid)) {
    }
  };
  accept("+-");
  std::string_view digits = "0123456789_";
  if (accept("0")) {
    if (accept("xX")) {
      digits = "0123456789abcdefABCDEF_";
    } else if (accept("oO")) {
      digits = "01234567_";
    } else if (accept("bB")) {
      digits = "01_";
    }
  }
  accept_run(digits);
  if (accept(".")) accept_run(digits);
  if (digits.size() == 11 && accept("eE")) {
    accept("+-");
    accept_run("0123456789_");
  }
  accept("i");
  bool bad = pos_ < s_.size() && (IsAlnum(s_[pos_]) || s_[pos_] == '+' || s_[pos_] == '-');
  if (bad) ++pos_;
  if (bad)
    return src_.Err(start,
                    fmt::format("bad number syntax: {}", GoQuote(s_.substr(start, pos_ - start))));
  Emit(Tok::kNumber, start, pos_);
  return Ok();
}

// ---- parser -----------------------------------------------------------------------

// Go's escape sequences (strconv.UnquoteChar) after the backslash at s[i];
// advances i. `is_byte`: \x and octal give a byte, not a character.
std::optional<uint32_t> Escape(std::string_view s, size_t& i, char quote, bool& is_byte) {
  static constexpr std::string_view kSimple = "a\ab\bf\fn\nr\rt\tv\v\\\\";
  is_byte = false;
  if (++i >= s.size()) return std::nullopt;
  char c = s[i++];
  size_t k = kSimple.find(c);
  if (k != std::string_view::npos && k % 2 == 0) return static_cast<uint32_t>(kSimple[k + 1]);
  if (c == '\'' || c == '"') {
    return c == quote ? std::optional<uint32_t>(c) : std::nullopt;
  }
  int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : c >= '0' && c <= '7' ? 3 : 0;
  int base = c == 'x' || c == 'u' || c == 'U' ? 16 : 8;
  if (digits == 0) return std::nullopt;
  if (base == 8) --i;
  if (i + static_cast<size_t>(digits) > s.size()) return std::nullopt;
  uint32_t v = 0;
  auto r = std::from_chars(s.data() + i, s.data() + i + digits, v, base);
  if (r.ec != std::errc() || r.ptr != s.data() + i + digits) return std::nullopt;
  i += static_cast<size_t>(digits);
  is_byte = c == 'x' || base == 8;
  if (is_byte ? v > 255 : (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))) return std::nullopt;
  return v;
}

// strconv.Unquote of a "…" or `…` literal.
std::optional<std::string> Unquote(std::string_view lit) {
  std::string_view body = lit.substr(1, lit.size() - 2);
  std::string out;
  if (lit[0] == '`') {
    for (char c : body) {
      if (c != '\r') out += c;
    }
    return out;
  }
  for (size_t i = 0; i < body.size();) {
    if (body[i] != '\\') {
      out += body[i++];
      continue;
    }
    bool is_byte = false;
    std::optional<uint32_t> v = Escape(body, i, '"', is_byte);
    if (!v) return std::nullopt;
    if (is_byte) {
      out += static_cast<char>(*v);
    } else {
      AppendUtf8(out, *v);
    }
  }
  return out;
}

// A 'c' literal's code point.
std::optional<uint32_t> CharValue(std::string_view lit) {
  std::string_view body = lit.substr(1, lit.size() - 2);
  size_t i = 0;
  std::optional<uint32_t> v;
  bool is_byte = false;
  if (!body.empty() && body[0] == '\\') {
    v = Escape(body, i, '\'', is_byte);
  } else if (size_t n = Utf8CharLength(body); n > 0) {
    v = DecodeUtf8(body, n);
    i = n;
  }
  if (i != body.size()) return std::nullopt;
  return v;
}

bool IsOperandStart(Tok t) {
  switch (t) {
    case Tok::kBool:
    case Tok::kChar:
    case Tok::kDot:
    case Tok::kField:
    case Tok::kIdent:
    case Tok::kNumber:
    case Tok::kNil:
    case Tok::kRawString:
    case Tok::kString:
    case Tok::kVariable:
    case Tok::kLeftParen:
      return true;
    default:
      return false;
  }
}

bool IsEmptyTree(const std::vector<Node>& list) {
  return std::all_of(list.begin(), list.end(), [](const Node& n) {
    return n.kind == NodeKind::kText && TrimSpace(n.text).empty();
  });
}

// What ends an item list: {{end}} or {{else}} (then an `if` or `with` may
// follow it, for else-if and else-with).
struct ListEnd {
  bool is_else = false;
  size_t pos = 0;
};

// text/template/parse's recursive descent, over the tokens.
class Parser {
 public:
  Parser(const Source& src, std::vector<Token> toks, Impl& impl)
      : src_(src), toks_(std::move(toks)), impl_(impl) {}
  Status Run();

 private:
  // An item of a list: a node, or the {{end}} / {{else}} that ends the list.
  struct Item {
    std::optional<Node> node;
    ListEnd end;
  };
  // Counts a level of nesting for as long as it lives.
  class Nest {
   public:
    explicit Nest(int& depth) : depth_(depth) { ++depth_; }
    ~Nest() { --depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    int& depth_;
  };

  // Past the end, the tokens read as EOF.
  const Token& Peek() const { return toks_[std::min(i_, toks_.size() - 1)]; }
  const Token& Next() {
    const Token& t = Peek();
    ++i_;
    return t;
  }
  const Token& PeekNonSpace() {
    while (Peek().type == Tok::kSpace) ++i_;
    return Peek();
  }
  const Token& NextNonSpace() {
    PeekNonSpace();
    return Next();
  }
  void Backup() { --i_; }
  tl::unexpected<Error> Err(size_t pos, std::string_view msg,
                            ErrorCode code = ErrorCode::kInvalid) const {
    return src_.Err(pos, msg, code);
  }
  tl::unexpected<Error> Unexpected(const Token& t, std::string_view context) const;
  Status CheckDepth(size_t pos) const;
  bool HasVar(std::string_view name) const {
    return std::find(vars_.begin(), vars_.end(), name) != vars_.end();
  }
  const FuncRef* Resolve(const std::string& name, bool dotted);
  Status AddTemplate(const std::string& name, std::vector<Node> body, size_t pos);

  Status ParseDefinition();
  Result<std::vector<Node>> ParseBody(std::string_view context);
  Result<ListEnd> ItemList(std::vector<Node>& out);
  Result<Item> TextOrAction();
  Result<Item> Action(const Token& open);
  Result<Item> LoopControl(const Token& keyword);
  Result<Node> Control(NodeKind kind, std::string_view context, size_t keyword_pos);
  Status ElseBranch(NodeKind kind, std::string_view context, Node& node);
  Result<Node> TemplateControl(const Token& keyword, bool block);
  Result<std::string> TemplateName(std::string_view context);
  Result<std::shared_ptr<const Pipe>> Pipeline(std::string_view context, Tok end);
  Status Decls(Pipe& pipe, std::string_view context);
  Status CheckPipeline(const Pipe& pipe, std::string_view context, size_t pos) const;
  Result<Command> ParseCommand();
  Status BindCall(Command& cmd);
  Result<std::optional<Arg>> Operand();
  Result<std::optional<Arg>> Term();
  Result<Arg> Literal(const Token& t);
  Result<Arg> Parenthesized(const Token& open);

  const Source& src_;
  std::vector<Token> toks_;
  Impl& impl_;
  size_t i_ = 0;
  std::vector<std::string> vars_ = {"$"};
  int depth_ = 0;
  int range_depth_ = 0;
};

tl::unexpected<Error> Parser::Unexpected(const Token& t, std::string_view context) const {
  std::string shown;
  if (t.type == Tok::kEOF) {
    shown = "EOF";
  } else if (t.type >= Tok::kBlock || t.type == Tok::kNil) {
    shown = fmt::format("<{}>", t.text);
  } else if (RuneCount(t.text) > 10) {
    shown = GoQuote(TruncRunes(t.text, 10)) + "...";
  } else {
    shown = GoQuote(t.text);
  }
  return Err(t.pos, fmt::format("unexpected {} in {}", shown, context));
}

Status Parser::CheckDepth(size_t pos) const {
  if (depth_ <= GoTemplate::kMaxParseDepth) return Ok();
  return Err(pos, fmt::format("nesting deeper than {} levels", GoTemplate::kMaxParseDepth),
             ErrorCode::kTooLarge);
}

Status Parser::Run() {
  std::vector<Node> main;
  while (Peek().type != Tok::kEOF) {
    if (Peek().type == Tok::kLeftDelim) {
      size_t save = i_;
      Next();
      if (NextNonSpace().type == Tok::kDefine) {
        STRAKE_TRY(ParseDefinition());
        continue;
      }
      i_ = save;
    }
    STRAKE_TRY_ASSIGN(item, TextOrAction());
    if (!item.node) {
      return Err(item.end.pos, item.end.is_else ? "unexpected {{else}}" : "unexpected {{end}}");
    }
    main.push_back(std::move(*item.node));
  }
  return AddTemplate(impl_.name, std::move(main), 0);
}

Status Parser::AddTemplate(const std::string& name, std::vector<Node> body, size_t pos) {
  auto it = impl_.templates.find(name);
  if (it == impl_.templates.end() || IsEmptyTree(it->second)) {
    impl_.templates[name] = std::move(body);
    return Ok();
  }
  if (IsEmptyTree(body)) return Ok();
  return Err(pos, fmt::format("template: multiple definition of template {}", GoQuote(name)));
}

// {{define "name"}} … {{end}}: the keyword is past.
Status Parser::ParseDefinition() {
  size_t pos = PeekNonSpace().pos;
  STRAKE_TRY_ASSIGN(name, TemplateName("define clause"));
  const Token& close = NextNonSpace();
  if (close.type != Tok::kRightDelim) return Unexpected(close, "define clause");
  STRAKE_TRY_ASSIGN(body, ParseBody("define clause"));
  return AddTemplate(name, std::move(body), pos);
}

// The body of a define or a block, to its {{end}}: a template of its own,
// with only `$` in scope and no range around it.
Result<std::vector<Node>> Parser::ParseBody(std::string_view context) {
  Nest nest(depth_);
  STRAKE_TRY(CheckDepth(Peek().pos));
  std::vector<std::string> saved_vars = std::exchange(vars_, {"$"});
  int saved_range = std::exchange(range_depth_, 0);
  std::vector<Node> body;
  STRAKE_TRY_ASSIGN(end, ItemList(body));
  if (end.is_else) return Err(end.pos, fmt::format("unexpected {{{{else}}}} in {}", context));
  vars_ = std::move(saved_vars);
  range_depth_ = saved_range;
  return body;
}

Result<ListEnd> Parser::ItemList(std::vector<Node>& out) {
  for (;;) {
    const Token& t = PeekNonSpace();
    if (t.type == Tok::kEOF) return Err(t.pos, "unexpected EOF");
    STRAKE_TRY_ASSIGN(item, TextOrAction());
    if (!item.node) return item.end;
    out.push_back(std::move(*item.node));
  }
}

Result<Parser::Item> Parser::TextOrAction() {
  const Token& t = NextNonSpace();
  if (t.type == Tok::kText) {
    Node n;
    n.loc = src_.MakeLoc(t.pos, t.pos);
    n.text = std::string(t.text);
    return Item{std::move(n), {}};
  }
  if (t.type == Tok::kLeftDelim) return Action(t);
  return Unexpected(t, "input");
}

Result<Parser::Item> Parser::Action(const Token& open) {
  const Token& t = NextNonSpace();
  switch (t.type) {
    case Tok::kBlock:
    case Tok::kTemplate: {
      STRAKE_TRY_ASSIGN(n, TemplateControl(t, t.type == Tok::kBlock));
      return Item{std::move(n), {}};
    }
    case Tok::kBreak:
    case Tok::kContinue:
      return LoopControl(t);
    case Tok::kElse: {
      const Token& p = PeekNonSpace();
      if (p.type != Tok::kIf && p.type != Tok::kWith && NextNonSpace().type != Tok::kRightDelim) {
        return Unexpected(toks_[i_ - 1], "else");
      }
      return Item{std::nullopt, {true, open.pos}};
    }
    case Tok::kEnd: {
      const Token& close = NextNonSpace();
      if (close.type != Tok::kRightDelim) return Unexpected(close, "end");
      return Item{std::nullopt, {false, open.pos}};
    }
    case Tok::kIf:
    case Tok::kRange:
    case Tok::kWith: {
      NodeKind kind = t.type == Tok::kIf      ? NodeKind::kIf
                      : t.type == Tok::kRange ? NodeKind::kRange
                                              : NodeKind::kWith;
      STRAKE_TRY_ASSIGN(n, Control(kind, t.text, t.pos));
      return Item{std::move(n), {}};
    }
    default:
      break;
  }
  Backup();
  Node n;
  n.kind = NodeKind::kAction;
  STRAKE_TRY_ASSIGN(pipe, Pipeline("command", Tok::kRightDelim));
  n.loc = pipe->loc;
  n.pipe = std::move(pipe);
  return Item{std::move(n), {}};
}

Result<Parser::Item> Parser::LoopControl(const Token& keyword) {
  std::string context = fmt::format("{{{{{}}}}}", keyword.text);
  const Token& close = NextNonSpace();
  if (close.type != Tok::kRightDelim) return Unexpected(close, context);
  if (range_depth_ == 0) return Err(keyword.pos, context + " outside {{range}}");
  Node n;
  n.kind = keyword.type == Tok::kBreak ? NodeKind::kBreak : NodeKind::kContinue;
  n.loc = src_.MakeLoc(keyword.pos, keyword.end());
  return Item{std::move(n), {}};
}

// {{if p}}, {{range p}}, {{with p}} … [{{else}} …] {{end}}: the keyword is past.
Result<Node> Parser::Control(NodeKind kind, std::string_view context, size_t keyword_pos) {
  Nest nest(depth_);
  STRAKE_TRY(CheckDepth(keyword_pos));
  size_t var_mark = vars_.size();
  Node node;
  node.kind = kind;
  STRAKE_TRY_ASSIGN(pipe, Pipeline(context, Tok::kRightDelim));
  node.loc = pipe->loc;
  node.pipe = std::move(pipe);
  if (kind == NodeKind::kRange) ++range_depth_;
  STRAKE_TRY_ASSIGN(end, ItemList(node.list));
  if (kind == NodeKind::kRange) --range_depth_;
  if (end.is_else) STRAKE_TRY(ElseBranch(kind, context, node));
  vars_.resize(var_mark);
  return node;
}

// After {{else}}: `else if` and `else with` are an if or with alone in the
// else branch, ending at the same {{end}}.
Status Parser::ElseBranch(NodeKind kind, std::string_view context, Node& node) {
  Tok next = Peek().type;
  if ((kind == NodeKind::kIf && next == Tok::kIf) ||
      (kind == NodeKind::kWith && next == Tok::kWith)) {
    size_t keyword_pos = Next().pos;
    STRAKE_TRY_ASSIGN(inner, Control(kind, context, keyword_pos));
    node.else_list.push_back(std::move(inner));
    return Ok();
  }
  STRAKE_TRY_ASSIGN(end, ItemList(node.else_list));
  if (end.is_else) return Err(end.pos, "expected end; found {{else}}");
  return Ok();
}

Result<std::string> Parser::TemplateName(std::string_view context) {
  const Token& t = NextNonSpace();
  if (t.type != Tok::kString && t.type != Tok::kRawString) return Unexpected(t, context);
  std::optional<std::string> name = Unquote(t.text);
  if (!name) return Err(t.pos, "invalid syntax");
  return *name;
}

// {{template "name" [pipeline]}}, or {{block "name" pipeline}} … {{end}},
// which defines the template and calls it.
Result<Node> Parser::TemplateControl(const Token& keyword, bool block) {
  std::string_view context = block ? "block clause" : "template clause";
  Node n;
  n.kind = NodeKind::kTemplate;
  size_t name_pos = PeekNonSpace().pos;
  STRAKE_TRY_ASSIGN(name, TemplateName(context));
  n.text = name;
  n.loc = src_.MakeLoc(keyword.pos, toks_[i_ - 1].end());
  if (block || NextNonSpace().type != Tok::kRightDelim) {
    if (!block) Backup();
    STRAKE_TRY_ASSIGN(pipe, Pipeline(context, Tok::kRightDelim));
    n.pipe = std::move(pipe);
  }
  if (block) {
    STRAKE_TRY_ASSIGN(body, ParseBody(context));
    STRAKE_TRY(AddTemplate(name, std::move(body), name_pos));
  }
  return n;
}

Result<std::shared_ptr<const Pipe>> Parser::Pipeline(std::string_view context, Tok end) {
  auto pipe = std::make_shared<Pipe>();
  size_t start = PeekNonSpace().pos;
  STRAKE_TRY(Decls(*pipe, context));
  for (;;) {
    const Token& t = NextNonSpace();
    if (t.type == end) {
      STRAKE_TRY(CheckPipeline(*pipe, context, t.pos));
      pipe->loc = src_.MakeLoc(start, pipe->cmds.back().loc.end);
      return std::shared_ptr<const Pipe>(std::move(pipe));
    }
    if (!IsOperandStart(t.type)) return Unexpected(t, context);
    Backup();
    STRAKE_TRY_ASSIGN(cmd, ParseCommand());
    pipe->cmds.push_back(std::move(cmd));
  }
}

// `$x :=`, `$x =`, `$i, $e :=` before a pipeline's commands.
Status Parser::Decls(Pipe& pipe, std::string_view context) {
  while (PeekNonSpace().type == Tok::kVariable) {
    size_t at = i_;
    const Token& v = Next();
    const Token& n = PeekNonSpace();
    std::string name(v.text);
    if (n.type == Tok::kAssign || n.type == Tok::kDeclare) {
      Next();
      pipe.is_assign = n.type == Tok::kAssign;
      if (pipe.is_assign && !HasVar(name)) {
        return Err(v.pos, fmt::format("undefined variable {}", GoQuote(name)));
      }
      pipe.decl.push_back(name);
      if (!pipe.is_assign) vars_.push_back(name);
      return Ok();
    }
    if (n.type != Tok::kComma) {
      i_ = at;
      return Ok();
    }
    Next();
    pipe.decl.push_back(name);
    vars_.push_back(name);
    if (context != "range" || pipe.decl.size() >= 2) {
      return Err(n.pos, fmt::format("too many declarations in {}", context));
    }
    Tok k = PeekNonSpace().type;
    if (k != Tok::kVariable && k != Tok::kRightDelim && k != Tok::kRightParen) {
      return Err(n.pos, "range can only initialize variables");
    }
  }
  return Ok();
}

Status Parser::CheckPipeline(const Pipe& pipe, std::string_view context, size_t pos) const {
  if (pipe.cmds.empty()) return Err(pos, fmt::format("missing value for {}", context));
  for (size_t i = 1; i < pipe.cmds.size(); ++i) {
    ArgKind k = pipe.cmds[i].args[0].kind;
    if (k == ArgKind::kLiteral || k == ArgKind::kDot || k == ArgKind::kNil) {
      return Err(pipe.cmds[i].loc.offset,
                 fmt::format("non executable command in pipeline stage {}", i + 1));
    }
  }
  return Ok();
}

Result<Command> Parser::ParseCommand() {
  Command cmd;
  size_t start = PeekNonSpace().pos;
  size_t stop = start;
  for (;;) {
    PeekNonSpace();
    STRAKE_TRY_ASSIGN(op, Operand());
    if (op) {
      cmd.args.push_back(std::move(*op));
      stop = toks_[i_ - 1].end();
    }
    const Token& t = Next();
    if (t.type == Tok::kSpace) continue;
    if (t.type == Tok::kRightDelim || t.type == Tok::kRightParen) {
      Backup();
    } else if (t.type != Tok::kPipe) {
      return Unexpected(t, "operand");
    }
    break;
  }
  if (cmd.args.empty()) return Err(start, "empty command");
  cmd.loc = src_.MakeLoc(start, stop);
  STRAKE_TRY(BindCall(cmd));
  return cmd;
}

// `call .time.Parse x`: the host's dotted function, known when parsing, as
// JSON data holds no functions.
Status Parser::BindCall(Command& cmd) {
  const Arg& f = cmd.args[0];
  if (f.kind != ArgKind::kFunc || f.func->builtin == nullptr ||
      f.func->builtin->special != Special::kCall) {
    return Ok();
  }
  if (cmd.args.size() < 2) return Err(cmd.loc.offset, "call needs a function: call .name ARGS");
  Arg& target = cmd.args[1];
  bool named = target.kind == ArgKind::kField ||
               (target.kind == ArgKind::kVariable && target.name == "$" && !target.fields.empty());
  if (!named) {
    return Err(target.loc.offset,
               fmt::format("call of {}: not a function of the host", GoQuote(target.loc.text)));
  }
  std::string dotted = Join(target.fields, ".");
  const FuncRef* host = Resolve(dotted, true);
  if (host == nullptr) {
    return Err(target.loc.offset, fmt::format("function {} not defined", GoQuote(dotted)));
  }
  target.kind = ArgKind::kHostRef;
  target.name = dotted;
  target.func = host;
  return Ok();
}

// A term and the fields after it: `.a.b`, `$x.a`, `(p).a`.
Result<std::optional<Arg>> Parser::Operand() {
  STRAKE_TRY_ASSIGN(term, Term());
  if (!term || Peek().type != Tok::kField) return term;
  std::vector<std::string> fields;
  size_t end = 0;
  while (Peek().type == Tok::kField) {
    const Token& f = Next();
    fields.emplace_back(f.text.substr(1));
    end = f.end();
  }
  Arg& t = *term;
  Loc loc = src_.MakeLoc(t.loc.offset, end);
  switch (t.kind) {
    case ArgKind::kField:
    case ArgKind::kVariable:
      t.fields.insert(t.fields.end(), fields.begin(), fields.end());
      break;
    case ArgKind::kLiteral:
    case ArgKind::kDot:
    case ArgKind::kNil:
      return Err(toks_[i_ - fields.size()].pos,
                 fmt::format("unexpected . after term {}", GoQuote(t.loc.text)));
    default: {
      Arg chain;
      chain.kind = ArgKind::kChain;
      chain.fields = std::move(fields);
      chain.base = std::make_shared<const Arg>(std::move(t));
      t = std::move(chain);
    }
  }
  t.loc = std::move(loc);
  return term;
}

Result<std::optional<Arg>> Parser::Term() {
  const Token& t = NextNonSpace();
  Arg a;
  a.loc = src_.MakeLoc(t.pos, t.end());
  switch (t.type) {
    case Tok::kIdent: {
      a.kind = ArgKind::kFunc;
      a.name = std::string(t.text);
      a.func = Resolve(a.name, false);
      if (a.func == nullptr)
        return Err(t.pos, fmt::format("function {} not defined", GoQuote(a.name)));
      return a;
    }
    case Tok::kDot:
      return a;
    case Tok::kNil:
      a.kind = ArgKind::kNil;
      return a;
    case Tok::kVariable:
      a.kind = ArgKind::kVariable;
      a.name = std::string(t.text);
      if (!HasVar(a.name)) return Err(t.pos, fmt::format("undefined variable {}", GoQuote(a.name)));
      return a;
    case Tok::kField:
      a.kind = ArgKind::kField;
      a.fields.emplace_back(t.text.substr(1));
      return a;
    case Tok::kLeftParen:
      return Parenthesized(t);
    case Tok::kBool:
    case Tok::kChar:
    case Tok::kNumber:
    case Tok::kString:
    case Tok::kRawString:
      return Literal(t);
    default:
      Backup();
      return std::optional<Arg>();
  }
}

Result<Arg> Parser::Literal(const Token& t) {
  Arg a;
  a.kind = ArgKind::kLiteral;
  a.loc = src_.MakeLoc(t.pos, t.end());
  if (t.type == Tok::kBool) {
    a.literal = t.text == "true";
  } else if (t.type == Tok::kChar) {
    std::optional<uint32_t> v = CharValue(t.text);
    if (!v) return Err(t.pos, fmt::format("malformed character constant: {}", t.text));
    a.literal = static_cast<int64_t>(*v);
  } else if (t.type == Tok::kNumber) {
    Result<Json> n = ParseNumber(t.text);
    if (!n) return Err(t.pos, n.error().message);
    a.literal = std::move(*n);
  } else {
    std::optional<std::string> s = Unquote(t.text);
    if (!s) return Err(t.pos, fmt::format("invalid syntax in string literal {}", t.text));
    a.literal = std::move(*s);
  }
  return a;
}

Result<Arg> Parser::Parenthesized(const Token& open) {
  Nest nest(depth_);
  STRAKE_TRY(CheckDepth(open.pos));
  Arg a;
  a.kind = ArgKind::kPipe;
  STRAKE_TRY_ASSIGN(pipe, Pipeline("parenthesized pipeline", Tok::kRightParen));
  a.pipe = std::move(pipe);
  a.loc = src_.MakeLoc(open.pos, toks_[i_ - 1].end());
  return a;
}

const FuncRef* Parser::Resolve(const std::string& name, bool dotted) {
  auto it = impl_.resolved.find(name);
  // `call .and` names no host function, though `and` was resolved as a
  // builtin (found by fuzz_template).
  if (it != impl_.resolved.end())
    return dotted && it->second.host == nullptr ? nullptr : &it->second;
  FuncRef f;
  f.name = name;
  auto host = impl_.funcs.find(name);
  if (host != impl_.funcs.end() && static_cast<bool>(host->second)) {
    f.host = &host->second;
  } else if (auto b = Builtins().find(name); !dotted && b != Builtins().end()) {
    f.builtin = &b->second;
  } else {
    return nullptr;
  }
  return &impl_.resolved.emplace(name, std::move(f)).first->second;
}

// ---- execution --------------------------------------------------------------------

// One execution: the variables, the output and the counts of the limits.
class Exec {
 public:
  // Null data is Go's nil: no value.
  Exec(const Impl& impl, const Json& data)
      : impl_(impl), root_(data.is_null() ? Val() : Val::Ref(&data)) {}
  Result<std::string> Run();

 private:
  enum class Flow { kNext, kBreak, kContinue };
  using Vars = std::vector<std::pair<std::string_view, Val>>;

  tl::unexpected<Error> Fail(const Loc& at, std::string_view msg,
                             ErrorCode code = ErrorCode::kInvalid) const;
  Status Charge(const Loc& at, int64_t steps);
  Status ChargeResult(const Loc& at, const Val& result, const Args& args);
  Status Write(const Loc& at, std::string_view text);
  Status Print(const Loc& at, const Val& v);

  Result<Flow> WalkList(const Val& dot, const std::vector<Node>& list, const Loc& at);
  Result<Flow> Walk(const Val& dot, const Node& n);
  Result<Flow> WalkIfWith(const Val& dot, const Node& n);
  Status WalkRange(const Val& dot, const Node& n);
  Result<size_t> RangeOver(const Val& v, const Node& n);
  Result<bool> Iteration(const Node& n, size_t body, const Json& index, const Val& elem);
  Status WalkTemplate(const Val& dot, const Node& n);

  Result<Val> EvalPipeline(const Val& dot, const Pipe& p);
  Result<Val> EvalCommand(const Val& dot, const Command& c, const Val* final);
  Result<Val> EvalArg(const Val& dot, const Arg& a);
  Result<Val> EvalFields(Val v, const std::vector<std::string>& fields, const Loc& at);
  Result<Val> Var(const Loc& at, std::string_view name) const;
  Status SetVar(const Loc& at, std::string_view name, const Val& v);
  Result<Val> Call(const Val& dot, const FuncRef& f, std::span<const Arg> args, const Val* final,
                   const Loc& at);
  Result<Val> AndOr(bool is_and, const Val& dot, std::span<const Arg> args, const Val* final,
                    const Loc& at);
  Result<Val> CallBuiltin(const FuncRef& f, const Args& args, const Loc& at);
  Result<Val> CallHost(const FuncRef& f, const Args& args, const Loc& at);

  const Impl& impl_;
  Val root_;
  Vars vars_;
  std::string out_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  int depth_ = 0;
  std::string_view executing_;  // the template being executed, for errors
};

tl::unexpected<Error> Exec::Fail(const Loc& at, std::string_view msg, ErrorCode code) const {
  std::string where = at.text.empty() ? "" : fmt::format(" at <{}>", at.text);
  return tl::unexpected(Error{fmt::format("template: {}:{}:{}: executing {}{}: {}", impl_.name,
                                          at.line, at.col, GoQuote(executing_), where, msg),
                              code});
}

Status Exec::Charge(const Loc& at, int64_t steps) {
  steps_ += steps;
  if (steps_ <= GoTemplate::kMaxSteps) return Ok();
  return Fail(at, fmt::format("evaluation exceeds {} steps", GoTemplate::kMaxSteps),
              ErrorCode::kTooLarge);
}

// How many steps making j costs: one per value, one per 64 bytes of string;
// counting stops past `cap`.
int64_t Weight(const Json& j, int64_t cap) {
  if (j.is_string()) return 1 + static_cast<int64_t>(StrRef(j).size() / 64);
  int64_t w = 1;
  if (j.is_array() || j.is_object()) {
    for (const Json& e : j) {
      if (w > cap) break;
      w += Weight(e, cap - w);
    }
  }
  return w;
}

// A function's result costs what it made: nothing when it is (part of) an
// argument or of the data.
Status Exec::ChargeResult(const Loc& at, const Val& result, const Args& args) {
  if (!result.owner()) return Ok();
  for (const Val& a : args) {
    if (a.owner() == result.owner()) return Ok();
  }
  const Json& j = result.json();
  if (j.is_string() && StrRef(j).size() > kMaxOutput) {
    return Fail(
        at,
        fmt::format("a result of {} bytes exceeds the limit of {}", StrRef(j).size(), kMaxOutput),
        ErrorCode::kTooLarge);
  }
  return Charge(at, Weight(j, GoTemplate::kMaxSteps - steps_ + 1));
}

Status Exec::Write(const Loc& at, std::string_view text) {
  if (out_.size() + text.size() > kMaxOutput) {
    return Fail(at, fmt::format("output exceeds {} bytes", kMaxOutput), ErrorCode::kTooLarge);
  }
  out_ += text;
  return Ok();
}

Status Exec::Print(const Loc& at, const Val& v) {
  if (v.missing()) return Write(at, "<no value>");
  if (v.json().is_string()) return Write(at, StrRef(v.json()));
  return Write(at, V(v.json()));
}

Result<std::string> Exec::Run() {
  auto it = impl_.templates.find(impl_.name);
  executing_ = impl_.name;
  vars_.emplace_back("$", root_);
  if (it != impl_.templates.end()) STRAKE_TRY(WalkList(root_, it->second, Loc{}));
  return std::move(out_);
}

Result<Exec::Flow> Exec::WalkList(const Val& dot, const std::vector<Node>& list, const Loc& at) {
  if (++depth_ > GoTemplate::kMaxExecDepth) {
    return Fail(at, fmt::format("nesting deeper than {} levels", GoTemplate::kMaxExecDepth),
                ErrorCode::kTooLarge);
  }
  for (const Node& n : list) {
    STRAKE_TRY_ASSIGN(flow, Walk(dot, n));
    if (flow != Flow::kNext) {
      --depth_;
      return flow;
    }
  }
  --depth_;
  return Flow::kNext;
}

Result<Exec::Flow> Exec::Walk(const Val& dot, const Node& n) {
  STRAKE_TRY(Charge(n.loc, 1));
  switch (n.kind) {
    case NodeKind::kText:
      STRAKE_TRY(Write(n.loc, n.text));
      break;
    case NodeKind::kAction: {
      STRAKE_TRY_ASSIGN(v, EvalPipeline(dot, *n.pipe));
      if (n.pipe->decl.empty()) STRAKE_TRY(Print(n.loc, v));
      break;
    }
    case NodeKind::kIf:
    case NodeKind::kWith:
      return WalkIfWith(dot, n);
    case NodeKind::kRange:
      STRAKE_TRY(WalkRange(dot, n));
      break;
    case NodeKind::kTemplate:
      STRAKE_TRY(WalkTemplate(dot, n));
      break;
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
  }
  return Flow::kNext;
}

Result<Exec::Flow> Exec::WalkIfWith(const Val& dot, const Node& n) {
  size_t mark = vars_.size();
  STRAKE_TRY_ASSIGN(v, EvalPipeline(dot, *n.pipe));
  Result<Flow> flow = Flow::kNext;
  if (Truth(v)) {
    flow = WalkList(n.kind == NodeKind::kWith ? v : dot, n.list, n.loc);
  } else if (!n.else_list.empty()) {
    flow = WalkList(dot, n.else_list, n.loc);
  }
  vars_.resize(mark);
  return flow;
}

Status Exec::WalkRange(const Val& dot, const Node& n) {
  size_t mark = vars_.size();
  STRAKE_TRY_ASSIGN(v, EvalPipeline(dot, *n.pipe));
  STRAKE_TRY_ASSIGN(count, RangeOver(v, n));
  if (count == 0 && !n.else_list.empty()) STRAKE_TRY(WalkList(dot, n.else_list, n.loc));
  vars_.resize(mark);
  return Ok();
}

// Runs the body for each element (arrays; objects by sorted key; integers
// 0..n-1); the number of iterations begun.
Result<size_t> Exec::RangeOver(const Val& v, const Node& n) {
  const Json& j = v.json();
  size_t body = vars_.size();
  size_t count = 0;
  if (v.nil()) return count;
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      ++count;
      STRAKE_TRY_ASSIGN(go_on, Iteration(n, body, Json(i), v.Child(j[i])));
      if (!go_on) break;
    }
  } else if (j.is_object()) {
    for (const auto& [key, elem] : SortedItems(j)) {
      ++count;
      STRAKE_TRY_ASSIGN(go_on, Iteration(n, body, Json(std::string(key)), v.Child(*elem)));
      if (!go_on) break;
    }
  } else if (IsInt(j)) {
    if (n.pipe->decl.size() > 1) {
      return Fail(n.loc, fmt::format("can't use {} to iterate over more than one variable", V(j)));
    }
    for (int64_t i = 0; i < AsInt(j); ++i) {
      ++count;
      STRAKE_TRY_ASSIGN(go_on, Iteration(n, body, Json(i), Int(i)));
      if (!go_on) break;
    }
  } else {
    return Fail(n.loc, fmt::format("range can't iterate over {}", V(j)));
  }
  return count;
}

// One iteration: sets `$e` or `$i, $e` and walks the body; false after {{break}}.
Result<bool> Exec::Iteration(const Node& n, size_t body, const Json& index, const Val& elem) {
  STRAKE_TRY(Charge(n.loc, 1));
  const Pipe& p = *n.pipe;
  Val key = p.decl.size() > 1 ? Val::Own(index) : Val();
  if (p.is_assign) {
    if (p.decl.size() > 1) STRAKE_TRY(SetVar(n.loc, p.decl[0], key));
    if (!p.decl.empty()) STRAKE_TRY(SetVar(n.loc, p.decl.back(), elem));
  } else {
    if (!p.decl.empty()) vars_[body - 1].second = elem;
    if (p.decl.size() > 1) vars_[body - 2].second = key;
  }
  STRAKE_TRY_ASSIGN(flow, WalkList(elem, n.list, n.loc));
  vars_.resize(body);
  return flow != Flow::kBreak;
}

Status Exec::WalkTemplate(const Val& dot, const Node& n) {
  auto it = impl_.templates.find(n.text);
  if (it == impl_.templates.end()) {
    return Fail(n.loc, fmt::format("template {} not defined", GoQuote(n.text)));
  }
  if (call_depth_ >= GoTemplate::kMaxCallDepth) {
    return Fail(n.loc,
                fmt::format("exceeded maximum template depth ({})", GoTemplate::kMaxCallDepth),
                ErrorCode::kTooLarge);
  }
  Val new_dot;
  if (n.pipe) {
    STRAKE_TRY_ASSIGN(v, EvalPipeline(dot, *n.pipe));
    new_dot = std::move(v);
  }
  // No dynamic scoping: the template sees only `$`, its dot.
  Vars saved = std::exchange(vars_, Vars{{"$", new_dot}});
  std::string_view saved_name = std::exchange(executing_, it->first);
  ++call_depth_;
  Result<Flow> flow = WalkList(new_dot, it->second, n.loc);
  --call_depth_;
  executing_ = saved_name;
  vars_ = std::move(saved);
  if (!flow) return tl::unexpected(flow.error());
  return Ok();
}

Result<Val> Exec::EvalPipeline(const Val& dot, const Pipe& p) {
  Val v;
  bool first = true;
  for (const Command& c : p.cmds) {
    STRAKE_TRY_ASSIGN(next, EvalCommand(dot, c, first ? nullptr : &v));
    v = std::move(next);
    first = false;
  }
  if (v.nil()) v = Val();  // Go digs into the interface: a null is no value
  for (const std::string& name : p.decl) {
    if (p.is_assign) {
      STRAKE_TRY(SetVar(p.loc, name, v));
    } else {
      vars_.emplace_back(name, v);
    }
  }
  return v;
}

Result<Val> Exec::EvalCommand(const Val& dot, const Command& c, const Val* final) {
  STRAKE_TRY(Charge(c.loc, 1));
  const Arg& first = c.args[0];
  if (first.kind == ArgKind::kFunc) {
    return Call(dot, *first.func, std::span<const Arg>(c.args).subspan(1), final, c.loc);
  }
  if (first.kind == ArgKind::kNil) return Fail(c.loc, "nil is not a command");
  if (c.args.size() > 1 || final != nullptr) {
    return Fail(c.loc, fmt::format("can't give argument to non-function {}", first.loc.text));
  }
  return EvalArg(dot, first);
}

Result<Val> Exec::EvalArg(const Val& dot, const Arg& a) {
  switch (a.kind) {
    case ArgKind::kDot:
      return dot;
    case ArgKind::kNil:
      return Val::Ref(&NullJson());
    case ArgKind::kLiteral:
      return Val::Ref(&a.literal);
    case ArgKind::kField:
      return EvalFields(dot, a.fields, a.loc);
    case ArgKind::kVariable: {
      STRAKE_TRY_ASSIGN(v, Var(a.loc, a.name));
      return EvalFields(std::move(v), a.fields, a.loc);
    }
    case ArgKind::kChain: {
      STRAKE_TRY_ASSIGN(base, EvalArg(dot, *a.base));
      return EvalFields(std::move(base), a.fields, a.loc);
    }
    case ArgKind::kPipe:
      return EvalPipeline(dot, *a.pipe);
    case ArgKind::kFunc:
      return Call(dot, *a.func, {}, nullptr, a.loc);
    case ArgKind::kHostRef:
      break;
  }
  return Fail(a.loc, fmt::format("{} is a function, not a value", a.name));
}

// .a.b over map[string]interface{}: a missing key is no value, and so is a
// field of no value; a field of nil or of a non-map is an error.
Result<Val> Exec::EvalFields(Val v, const std::vector<std::string>& fields, const Loc& at) {
  for (const std::string& f : fields) {
    if (v.missing()) return v;
    const Json& j = v.json();
    if (j.is_null()) return Fail(at, fmt::format("nil pointer evaluating interface {{}}.{}", f));
    if (!j.is_object())
      return Fail(at, fmt::format("can't evaluate field {} in type {}", f, TypeName(j)));
    auto it = j.find(f);
    v = it == j.end() ? Val() : v.Child(*it);
  }
  return v;
}

Result<Val> Exec::Var(const Loc& at, std::string_view name) const {
  for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return Fail(at, fmt::format("undefined variable: {}", name));
}

Status Exec::SetVar(const Loc& at, std::string_view name, const Val& v) {
  for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
    if (it->first == name) {
      it->second = v;
      return Ok();
    }
  }
  return Fail(at, fmt::format("undefined variable: {}", name));
}

Result<Val> Exec::Call(const Val& dot, const FuncRef& f, std::span<const Arg> args,
                       const Val* final, const Loc& at) {
  Special special = f.builtin != nullptr ? f.builtin->special : Special::kNone;
  if (special == Special::kAnd || special == Special::kOr) {
    return AndOr(special == Special::kAnd, dot, args, final, at);
  }
  bool call = special == Special::kCall;
  if (call && (args.empty() || args[0].kind != ArgKind::kHostRef)) {
    return Fail(at, "call needs a function: call .name ARGS");
  }
  Args vals;
  vals.reserve(args.size() + 1);
  for (size_t i = call ? 1 : 0; i < args.size(); ++i) {
    STRAKE_TRY_ASSIGN(v, EvalArg(dot, args[i]));
    vals.push_back(std::move(v));
  }
  if (final != nullptr) vals.push_back(*final);
  if (call) return CallHost(*args[0].func, vals, at);
  if (f.host != nullptr) return CallHost(f, vals, at);
  return CallBuiltin(f, vals, at);
}

// and, or: the first operand that decides, evaluating no further.
Result<Val> Exec::AndOr(bool is_and, const Val& dot, std::span<const Arg> args, const Val* final,
                        const Loc& at) {
  if (args.empty() && final == nullptr) {
    return Fail(at, fmt::format("wrong number of args for {}: want at least 1 got 0",
                                is_and ? "and" : "or"));
  }
  Val v;
  for (const Arg& a : args) {
    STRAKE_TRY_ASSIGN(x, EvalArg(dot, a));
    if (Truth(x) != is_and) return x;
    v = std::move(x);
  }
  if (final != nullptr) v = *final;
  return v;
}

Result<Val> Exec::CallBuiltin(const FuncRef& f, const Args& args, const Loc& at) {
  const BuiltinDef& d = *f.builtin;
  auto n = static_cast<int>(args.size());
  if (n < d.min_args || (d.max_args >= 0 && n > d.max_args)) {
    std::string want = d.min_args == d.max_args ? std::to_string(d.min_args)
                       : n < d.min_args         ? fmt::format("at least {}", d.min_args)
                                                : fmt::format("at most {}", d.max_args);
    return Fail(at, fmt::format("wrong number of args for {}: want {} got {}", f.name, want, n));
  }
  Result<Val> r = d.fn(args);
  if (!r) {
    ErrorCode code = r.error().code == ErrorCode::kUnknown ? ErrorCode::kInvalid : r.error().code;
    return Fail(at, fmt::format("error calling {}: {}", f.name, r.error().message), code);
  }
  STRAKE_TRY(ChargeResult(at, *r, args));
  return r;
}

Result<Val> Exec::CallHost(const FuncRef& f, const Args& args, const Loc& at) {
  std::vector<Json> js;
  js.reserve(args.size());
  for (const Val& v : args) js.push_back(v.json());
  Result<Json> r = (*f.host)(js);
  if (!r) {
    ErrorCode code = r.error().code == ErrorCode::kUnknown ? ErrorCode::kInvalid : r.error().code;
    return Fail(at, fmt::format("error calling {}: {}", f.name, r.error().message), code);
  }
  Val v = Val::Own(std::move(*r));
  STRAKE_TRY(ChargeResult(at, v, {}));
  return v;
}

}  // namespace
}  // namespace go_template_internal

using go_template_internal::Exec;
using go_template_internal::Impl;
using go_template_internal::Lexer;
using go_template_internal::Parser;
using go_template_internal::Source;

Result<GoTemplate> GoTemplate::Parse(std::string_view text, const std::string& name,
                                     const GoTemplateFuncs& funcs) {
  if (text.size() > kMaxText) {
    return Failf(ErrorCode::kTooLarge, "template: {}: {} bytes exceeds the limit of {}", name,
                 text.size(), kMaxText);
  }
  try {
    auto impl = std::make_shared<Impl>();
    impl->name = name;
    impl->funcs = funcs;
    Source src(text, name);
    STRAKE_TRY_ASSIGN(tokens, Lexer(src).Run());
    STRAKE_TRY(Parser(src, std::move(tokens), *impl).Run());
    GoTemplate t;
    t.impl_ = std::move(impl);
    return t;
  } catch (const std::exception& e) {
    return Failf(ErrorCode::kInvalid, "template: {}: {}", name, e.what());
  }
}

Result<std::string> GoTemplate::Execute(const Json& data) const {
  if (!impl_) return Fail(ErrorCode::kInvalid, "template: executing an unparsed template");
  try {
    return Exec(*impl_, data).Run();
  } catch (const std::exception& e) {
    return Failf(ErrorCode::kInvalid, "template: {}: {}", impl_->name, e.what());
  }
}

const std::string& GoTemplate::name() const {
  static const std::string kNone;
  return impl_ ? impl_->name : kNone;
}

}  // namespace strake::model
