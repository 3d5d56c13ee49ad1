#include "pipeline/cel.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <variant>
#include <vector>

namespace strake::pipeline {
namespace {

struct Value;
using List = std::vector<Value>;
struct Value {
  std::variant<std::string, int64_t, bool, List> v;
};

const char* TypeName(const Value& x) {
  switch (x.v.index()) {
    case 0:
      return "string";
    case 1:
      return "int";
    case 2:
      return "bool";
    default:
      return "list";
  }
}

bool Equal(const Value& a, const Value& b) {
  if (a.v.index() != b.v.index()) return false;
  if (const auto* l = std::get_if<List>(&a.v)) {
    const auto& r = std::get<List>(b.v);
    if (l->size() != r.size()) return false;
    for (size_t i = 0; i < l->size(); ++i) {
      if (!Equal((*l)[i], r[i])) return false;
    }
    return true;
  }
  if (const auto* s = std::get_if<std::string>(&a.v)) return *s == std::get<std::string>(b.v);
  if (const auto* i = std::get_if<int64_t>(&a.v)) return *i == std::get<int64_t>(b.v);
  return std::get<bool>(a.v) == std::get<bool>(b.v);
}

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(std::string_view s, const std::function<Result<std::string>(const std::string&)>* sub)
      : s_(s), sub_(sub) {}

  Result<Value> Parse() {
    STRAKE_TRY_ASSIGN(v, Or(0));
    Skip();
    if (pos_ != s_.size()) return Err(fmt::format("unexpected \"{}\"", s_.substr(pos_, 10)));
    return v;
  }

 private:
  tl::unexpected<Error> Err(const std::string& what) const {
    return Failf(
        "CEL at {}: {} (strake supports literals, lists, == != < <= > >= in && || ! and "
        "parentheses)",
        pos_ + 1, what);
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  static Result<bool> AsBool(const Value& v, const char* op) {
    if (const bool* b = std::get_if<bool>(&v.v)) return *b;
    return Failf("CEL: {} needs booleans, found a {}", op, TypeName(v));
  }

  Result<Value> Or(int depth) {
    STRAKE_TRY_ASSIGN(left, And(depth));
    while (Eat("||")) {
      STRAKE_TRY_ASSIGN(right, And(depth));
      STRAKE_TRY_ASSIGN(a, AsBool(left, "||"));
      STRAKE_TRY_ASSIGN(b, AsBool(right, "||"));
      left = Value{a || b};
    }
    return left;
  }
  Result<Value> And(int depth) {
    STRAKE_TRY_ASSIGN(left, Relation(depth));
    while (Eat("&&")) {
      STRAKE_TRY_ASSIGN(right, Relation(depth));
      STRAKE_TRY_ASSIGN(a, AsBool(left, "&&"));
      STRAKE_TRY_ASSIGN(b, AsBool(right, "&&"));
      left = Value{a && b};
    }
    return left;
  }
  Result<Value> Relation(int depth) {
    STRAKE_TRY_ASSIGN(left, Unary(depth));
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">", "in"}) {
      if (!Eat(op)) continue;
      if (std::string_view(op) == "in" && pos_ < s_.size() &&
          (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        pos_ -= 2;  // an identifier that starts with "in"
        break;
      }
      STRAKE_TRY_ASSIGN(right, Unary(depth));
      return Compare(op, left, right);
    }
    return left;
  }
  Result<Value> Compare(std::string_view op, const Value& a, const Value& b) const {
    if (op == "==") return Value{Equal(a, b)};
    if (op == "!=") return Value{!Equal(a, b)};
    if (op == "in") {
      const auto* l = std::get_if<List>(&b.v);
      if (!l) return Failf("CEL: `in` needs a list on its right, found a {}", TypeName(b));
      for (const auto& x : *l) {
        if (Equal(a, x)) return Value{true};
      }
      return Value{false};
    }
    if (a.v.index() != b.v.index() || a.v.index() > 1) {
      return Failf("CEL: {} compares two strings or two ints, found a {} and a {}", op, TypeName(a),
                   TypeName(b));
    }
    int c = 0;
    if (const auto* sa = std::get_if<std::string>(&a.v)) {
      c = sa->compare(std::get<std::string>(b.v));
    } else {
      int64_t x = std::get<int64_t>(a.v), y = std::get<int64_t>(b.v);
      c = x < y ? -1 : (x > y ? 1 : 0);
    }
    bool r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    return Value{r};
  }
  Result<Value> Unary(int depth) {
    if (depth > kMaxDepth) return Err("nested too deeply");
    Skip();
    if (pos_ < s_.size() && s_[pos_] == '!' && s_.substr(pos_, 2) != "!=") {
      ++pos_;
      STRAKE_TRY_ASSIGN(v, Unary(depth + 1));
      STRAKE_TRY_ASSIGN(b, AsBool(v, "!"));
      return Value{!b};
    }
    return Primary(depth);
  }
  Result<Value> Primary(int depth) {
    Skip();
    if (pos_ >= s_.size()) return Err("the expression ends early");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      STRAKE_TRY_ASSIGN(v, Or(depth + 1));
      if (!Eat(")")) return Err("a \")\" is missing");
      return v;
    }
    if (c == '[') {
      ++pos_;
      List items;
      if (!Eat("]")) {
        do {
          STRAKE_TRY_ASSIGN(v, Or(depth + 1));
          items.push_back(std::move(v));
        } while (Eat(","));
        if (!Eat("]")) return Err("a \"]\" is missing");
      }
      return Value{std::move(items)};
    }
    if (c == '\'' || c == '"') return String(c);
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') return Int();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '_' || s_[pos_] == '.')) {
      ++pos_;
    }
    std::string_view word = s_.substr(start, pos_ - start);
    if (word == "true") return Value{true};
    if (word == "false") return Value{false};
    pos_ = start;
    if (s_.substr(pos_, 2) == "$(") {
      return Err("a reference must be inside quotes ('$(params.x)'), so its value stays a string");
    }
    return Err(word.empty() ? fmt::format("unexpected \"{}\"", c)
                            : fmt::format("unknown name \"{}\"", word));
  }
  Result<Value> String(char quote) {
    ++pos_;
    std::string text;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      char c = s_[pos_++];
      if (c == '\\' && pos_ < s_.size()) {
        char e = s_[pos_++];
        text += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        text += c;
      }
    }
    if (pos_ >= s_.size()) return Err("a string is not closed");
    ++pos_;
    if (sub_) {
      STRAKE_TRY_ASSIGN(v, (*sub_)(text));
      return Value{std::move(v)};
    }
    return Value{std::move(text)};
  }
  Result<Value> Int() {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    std::string digits(s_.substr(start, pos_ - start));
    if (digits == "-" || digits.size() > 18) return Err("not an int");
    return Value{static_cast<int64_t>(std::stoll(digits))};
  }

  std::string_view s_;
  const std::function<Result<std::string>(const std::string&)>* sub_;
  size_t pos_ = 0;
};

}  // namespace

Result<bool> EvalCel(std::string_view expr,
                     const std::function<Result<std::string>(const std::string&)>& substitute) {
  STRAKE_TRY_ASSIGN(v, Parser(expr, &substitute).Parse());
  if (const bool* b = std::get_if<bool>(&v.v)) return *b;
  return Failf("CEL: the expression is a {}, not a bool", TypeName(v));
}

Status CheckCel(std::string_view expr) {
  auto v = Parser(expr, nullptr).Parse();
  if (!v) return tl::unexpected(v.error());
  return Ok();
}

}  // namespace strake::pipeline
