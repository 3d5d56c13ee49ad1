#include "rollout/expr.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <vector>

#include "base/regex.h"
#include "base/strings.h"

namespace strake::rollout {

// ---- tokens ----------------------------------------------------------------

namespace {

enum class Tok { kEnd, kNumber, kString, kIdent, kOp };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  // identifier, operator, or decoded string
  Value number;      // kNumber
  int col = 1;
};

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

Result<std::vector<Token>> Lex(std::string_view s) {
  static constexpr std::string_view kOps2[] = {"==", "!=", "<=", ">=", "&&",
                                               "||", "**", "??", "?.", ".."};
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    int col = static_cast<int>(i) + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (j < s.size() && s[j] == '.' && !(j + 1 < s.size() && s[j + 1] == '.')) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          is_float = true;
          j = k;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        }
      }
      std::string text;
      for (size_t k = i; k < j; ++k) {
        if (s[k] != '_') text += s[k];
      }
      Token t{Tok::kNumber, text, {}, col};
      errno = 0;
      char* end = nullptr;
      if (is_float) {
        t.number = std::strtod(text.c_str(), &end);
      } else {
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno == ERANGE) return Failf("col {}: integer {} is out of range", col, text);
        t.number = static_cast<int64_t>(v);
      }
      if (end == nullptr || *end != '\0') return Failf("col {}: bad number {}", col, Quote(text));
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '"' || c == '\'') {
      std::string v;
      size_t j = i + 1;
      bool closed = false;
      while (j < s.size()) {
        char d = s[j];
        if (d == c) {
          closed = true;
          ++j;
          break;
        }
        if (d == '\\' && j + 1 < s.size()) {
          char e = s[j + 1];
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            case '\\':
              v += '\\';
              break;
            case '\'':
              v += '\'';
              break;
            case '"':
              v += '"';
              break;
            default:
              return Failf("col {}: unknown escape \\{} in string", j + 1,
                           s.substr(j + 1, std::max<size_t>(1, Utf8CharLength(s.substr(j + 1)))));
          }
          j += 2;
          continue;
        }
        v += d;
        ++j;
      }
      if (!closed) return Failf("col {}: unterminated string", col);
      out.push_back(Token{Tok::kString, std::move(v), {}, col});
      i = j;
      continue;
    }
    if (IsIdentStart(c)) {
      size_t j = i;
      while (j < s.size() && IsIdentChar(s[j])) ++j;
      out.push_back(Token{Tok::kIdent, std::string(s.substr(i, j - i)), {}, col});
      i = j;
      continue;
    }
    bool matched = false;
    for (std::string_view op : kOps2) {
      if (s.substr(i, 2) == op) {
        out.push_back(Token{Tok::kOp, std::string(op), {}, col});
        i += 2;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string_view("+-*/%^<>!()[]{},.?:#").find(c) != std::string_view::npos) {
      out.push_back(Token{Tok::kOp, std::string(1, c), {}, col});
      ++i;
      continue;
    }
    // The whole character, not its first byte: `≥` is one character to whoever wrote it.
    size_t len = std::max<size_t>(1, Utf8CharLength(s.substr(i)));
    return Failf("col {}: unexpected character {}", col, Quote(s.substr(i, len)));
  }
  out.push_back(Token{Tok::kEnd, "", {}, static_cast<int>(s.size()) + 1});
  return out;
}

}  // namespace

// ---- syntax tree -------------------------------------------------------------

enum class NodeKind {
  kLiteral,
  kVariable,
  kPointer,  // `#`, the element inside a predicate
  kUnary,
  kBinary,
  kMember,  // obj.name, obj?.name
  kIndex,   // obj[idx]
  kCall,
  kConditional,
  kArray,
  kClosure,  // { expr } or a bare predicate argument
};

struct ExprNode {
  NodeKind kind = NodeKind::kLiteral;
  int col = 1;
  std::string name;  // variable, operator, member, function
  bool optional = false;
  Value literal;
  std::vector<std::unique_ptr<ExprNode>> kids;
  std::optional<Regex> re;  // `matches` with a literal pattern: compiled once, by Compile
};

namespace {

using NodePtr = std::unique_ptr<ExprNode>;

NodePtr MakeNode(NodeKind kind, int col, std::string name = {}) {
  auto n = std::make_unique<ExprNode>();
  n->kind = kind;
  n->col = col;
  n->name = std::move(name);
  return n;
}

struct BinaryOp {
  std::string_view op;
  int precedence;
  bool right_assoc;
};

constexpr BinaryOp kBinaryOps[] = {
    {"??", 500, false},      {"or", 10, false},       {"||", 10, false},
    {"and", 15, false},      {"&&", 15, false},       {"==", 20, false},
    {"!=", 20, false},       {"<", 20, false},        {">", 20, false},
    {"<=", 20, false},       {">=", 20, false},       {"in", 20, false},
    {"matches", 20, false},  {"contains", 20, false}, {"startsWith", 20, false},
    {"endsWith", 20, false}, {"+", 30, false},        {"-", 30, false},
    {"*", 60, false},        {"/", 60, false},        {"%", 60, false},
    {"**", 100, true},       {"^", 100, true},
};

constexpr std::string_view kFunctions[] = {"len",   "abs",   "int",   "float",   "string",  "isNaN",
                                           "isInf", "isNil", "asInt", "asFloat", "default", "all",
                                           "any",   "none",  "one",   "filter",  "map",     "count",
                                           "min",   "max",   "sum",   "avg"};

bool IsPredicateFunction(std::string_view f) {
  return f == "all" || f == "any" || f == "none" || f == "one" || f == "filter" || f == "map" ||
         f == "count";
}

class Parser {
 public:
  Parser(std::vector<Token> toks, const std::set<std::string>& host)
      : toks_(std::move(toks)), host_(host) {}

  Result<NodePtr> ParseAll() {
    auto n = ParseExpression(0);
    if (!n) return n;
    if (Peek().type != Tok::kEnd) return Unexpected();
    return n;
  }

 private:
  const Token& Peek() const { return toks_[pos_]; }
  const Token& Next() { return toks_[pos_++]; }
  bool IsOp(std::string_view op) const {
    return (Peek().type == Tok::kOp || Peek().type == Tok::kIdent) && Peek().text == op;
  }
  tl::unexpected<Error> Unexpected() const {
    if (Peek().type == Tok::kEnd) return Failf("col {}: unexpected end of expression", Peek().col);
    return Failf("col {}: unexpected {}", Peek().col, Quote(Peek().text));
  }
  Status Expect(std::string_view op) {
    if (!IsOp(op)) {
      return Failf(
          "col {}: expected {} but found {}", Peek().col, Quote(op),
          Peek().type == Tok::kEnd ? std::string("end of expression") : Quote(Peek().text));
    }
    ++pos_;
    return Ok();
  }

  // The binary operator at the cursor, if any ("not in" is read as one).
  std::optional<BinaryOp> PeekBinary() const {
    const Token& t = Peek();
    if (t.type != Tok::kOp && t.type != Tok::kIdent) return std::nullopt;
    if (t.type == Tok::kIdent && t.text == "not" && pos_ + 1 < toks_.size() &&
        toks_[pos_ + 1].text == "in") {
      return BinaryOp{"not in", 20, false};
    }
    for (const BinaryOp& op : kBinaryOps) {
      if (t.text == op.op) return op;
    }
    return std::nullopt;
  }

  Result<NodePtr> ParseExpression(int min_precedence) {
    if (++depth_ > Expr::kMaxDepth) {
      return Failf("col {}: expression nested deeper than {}", Peek().col, Expr::kMaxDepth);
    }
    auto left = ParseUnary();
    if (!left) return left;
    while (true) {
      auto op = PeekBinary();
      if (!op || op->precedence < min_precedence) break;
      int col = Peek().col;
      pos_ += op->op == "not in" ? 2 : 1;
      auto right = ParseExpression(op->right_assoc ? op->precedence : op->precedence + 1);
      if (!right) return right;
      auto n = MakeNode(NodeKind::kBinary, col, std::string(op->op));
      n->kids.push_back(std::move(*left));
      n->kids.push_back(std::move(*right));
      STRAKE_TRY(CompilePattern(*n));
      left = std::move(n);
    }
    if (min_precedence == 0 && IsOp("?")) {
      int col = Next().col;
      auto yes = ParseExpression(0);
      if (!yes) return yes;
      STRAKE_TRY(Expect(":"));
      auto no = ParseExpression(0);
      if (!no) return no;
      auto n = MakeNode(NodeKind::kConditional, col);
      n->kids.push_back(std::move(*left));
      n->kids.push_back(std::move(*yes));
      n->kids.push_back(std::move(*no));
      left = std::move(n);
    }
    --depth_;
    return left;
  }

  Result<NodePtr> ParseUnary() {
    const Token& t = Peek();
    bool is_not = t.type == Tok::kIdent && t.text == "not" &&
                  !(pos_ + 1 < toks_.size() && toks_[pos_ + 1].text == "in");
    if (is_not || (t.type == Tok::kOp && (t.text == "!" || t.text == "-" || t.text == "+"))) {
      int col = t.col;
      std::string op = is_not ? "!" : t.text;
      ++pos_;
      auto operand = ParseExpression(op == "!" ? 50 : 90);
      if (!operand) return operand;
      auto n = MakeNode(NodeKind::kUnary, col, op);
      n->kids.push_back(std::move(*operand));
      return ParsePostfix(std::move(n));
    }
    auto primary = ParsePrimary();
    if (!primary) return primary;
    return ParsePostfix(std::move(*primary));
  }

  Result<NodePtr> ParsePrimary() {
    const Token t = Next();
    switch (t.type) {
      case Tok::kNumber: {
        auto n = MakeNode(NodeKind::kLiteral, t.col);
        n->literal = t.number;
        return n;
      }
      case Tok::kString: {
        auto n = MakeNode(NodeKind::kLiteral, t.col);
        n->literal = t.text;
        return n;
      }
      case Tok::kIdent:
        return ParseIdentifier(t);
      case Tok::kOp:
        if (t.text == "(") {
          auto inner = ParseExpression(0);
          if (!inner) return inner;
          STRAKE_TRY(Expect(")"));
          return inner;
        }
        if (t.text == "[") {
          auto n = MakeNode(NodeKind::kArray, t.col);
          if (!IsOp("]")) {
            while (true) {
              auto e = ParseExpression(0);
              if (!e) return e;
              n->kids.push_back(std::move(*e));
              if (IsOp("]")) break;
              STRAKE_TRY(Expect(","));
            }
          }
          ++pos_;
          return n;
        }
        if (t.text == "#") return MakeNode(NodeKind::kPointer, t.col);
        if (t.text == "." && closures_ > 0 && Peek().type == Tok::kIdent) {
          // `.name` in a predicate is `#.name` (expr-lang's shorthand).
          auto m = MakeNode(NodeKind::kMember, t.col, Next().text);
          m->kids.push_back(MakeNode(NodeKind::kPointer, t.col));
          return m;
        }
        break;
      case Tok::kEnd:
        break;
    }
    --pos_;
    return Unexpected();
  }

  Result<NodePtr> ParseIdentifier(const Token& t) {
    if (t.text == "true" || t.text == "false") {
      auto n = MakeNode(NodeKind::kLiteral, t.col);
      n->literal = t.text == "true";
      return n;
    }
    if (t.text == "nil") return MakeNode(NodeKind::kLiteral, t.col);
    if (!IsOp("(")) return MakeNode(NodeKind::kVariable, t.col, t.text);
    std::vector<std::string> known(std::begin(kFunctions), std::end(kFunctions));
    known.insert(known.end(), host_.begin(), host_.end());
    bool is_known = host_.count(t.text) > 0;
    for (std::string_view f : kFunctions) is_known = is_known || f == t.text;
    if (!is_known) {
      return Failf("col {}: unknown function {}{}", t.col, Quote(t.text),
                   DidYouMean(t.text, known));
    }
    return ParseCall(t.col, t.text);
  }

  // The arguments of a call to `name` (at its "("), up to its ")".
  Result<NodePtr> ParseCall(int col, const std::string& name) {
    ++pos_;
    auto n = MakeNode(NodeKind::kCall, col, name);
    if (!IsOp(")")) {
      while (true) {
        Result<NodePtr> arg;
        if (IsPredicateFunction(name) && n->kids.size() == 1) {
          arg = ParseClosure();
        } else {
          arg = ParseExpression(0);
        }
        if (!arg) return arg;
        n->kids.push_back(std::move(*arg));
        if (IsOp(")")) break;
        STRAKE_TRY(Expect(","));
      }
    }
    ++pos_;
    return n;
  }

  // A predicate: `{ expr }` or a bare expression using `#`.
  Result<NodePtr> ParseClosure() {
    int col = Peek().col;
    bool braced = IsOp("{");
    if (braced) ++pos_;
    ++closures_;
    auto body = ParseExpression(0);
    --closures_;
    if (!body) return body;
    if (braced) STRAKE_TRY(Expect("}"));
    auto n = MakeNode(NodeKind::kClosure, col);
    n->kids.push_back(std::move(*body));
    return n;
  }

  Result<NodePtr> ParsePostfix(NodePtr n) {
    while (true) {
      if (IsOp(".") || IsOp("?.")) {
        bool optional = Peek().text == "?.";
        int col = Next().col;
        if (Peek().type != Tok::kIdent) return Unexpected();
        // A host function given as a variable's method (Kargo's
        // response.header(name)): a call of "variable.method".
        if (n->kind == NodeKind::kVariable && !optional && pos_ + 1 < toks_.size() &&
            toks_[pos_ + 1].type == Tok::kOp && toks_[pos_ + 1].text == "(" &&
            host_.count(n->name + "." + Peek().text) > 0) {
          std::string method = n->name + "." + Next().text;
          auto call = ParseCall(col, method);
          if (!call) return call;
          n = std::move(*call);
          continue;
        }
        auto m = MakeNode(NodeKind::kMember, col, Next().text);
        m->optional = optional;
        m->kids.push_back(std::move(n));
        n = std::move(m);
      } else if (IsOp("[")) {
        int col = Next().col;
        auto idx = ParseExpression(0);
        if (!idx) return idx;
        STRAKE_TRY(Expect("]"));
        auto m = MakeNode(NodeKind::kIndex, col);
        m->kids.push_back(std::move(n));
        m->kids.push_back(std::move(*idx));
        n = std::move(m);
      } else {
        return n;
      }
    }
  }

  // `x matches 'literal'`: the pattern is compiled now, so a bad one is an
  // error of the expression (with its column), and never compiled again.
  static Status CompilePattern(ExprNode& n) {
    const ExprNode& pattern = *n.kids[1];
    if (n.name != "matches" || pattern.kind != NodeKind::kLiteral || !pattern.literal.is_string())
      return Ok();
    const auto& text = pattern.literal.get_ref<const std::string&>();
    auto re = Regex::Compile(text);
    if (!re) {
      return Failf("col {}: bad regular expression {}: {}", pattern.col, Quote(text),
                   re.error().message);
    }
    n.re = std::move(*re);
    return Ok();
  }

  std::vector<Token> toks_;
  const std::set<std::string>& host_;
  size_t pos_ = 0;
  int depth_ = 0;
  int closures_ = 0;  // predicates being parsed: `.name` is `#.name` inside one
};

// ---- evaluation ----------------------------------------------------------------

std::string TypeName(const Value& v) {
  switch (v.type()) {
    case Value::value_t::null:
      return "nil";
    case Value::value_t::boolean:
      return "bool";
    case Value::value_t::number_integer:
    case Value::value_t::number_unsigned:
      return "int";
    case Value::value_t::number_float:
      return "float";
    case Value::value_t::string:
      return "string";
    case Value::value_t::array:
      return "array";
    case Value::value_t::object:
      return "map";
    default:
      return "unknown";
  }
}

// A value as JSON text, for messages and string(): a string that is not
// valid UTF-8 (indexing a string takes one byte of it) shows U+FFFD where
// the bad bytes were, instead of throwing.
std::string Show(const Value& v) { return v.dump(-1, ' ', false, Value::error_handler_t::replace); }

bool IsInt(const Value& v) { return v.is_number_integer(); }
double AsDouble(const Value& v) { return v.get<double>(); }

size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool DeepEqual(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (IsInt(a) && IsInt(b)) return a.get<int64_t>() == b.get<int64_t>();
    return AsDouble(a) == AsDouble(b);
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!DeepEqual(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

class Evaluator {
 public:
  Evaluator(const std::map<std::string, Value>& vars, const HostFunctions* host)
      : vars_(vars), host_(host) {}

  Result<Value> Eval(const ExprNode& n) {
    if (++steps_ > Expr::kMaxSteps) {
      return Failf("col {}: evaluation exceeded {} steps", n.col, Expr::kMaxSteps);
    }
    switch (n.kind) {
      case NodeKind::kLiteral:
        return n.literal;
      case NodeKind::kVariable: {
        auto it = vars_.find(n.name);
        if (it != vars_.end()) return it->second;
        std::vector<std::string> names;
        for (const auto& [k, v] : vars_) names.push_back(k);
        return Failf("col {}: unknown name {}{}", n.col, Quote(n.name), DidYouMean(n.name, names));
      }
      case NodeKind::kPointer:
        if (pointers_.empty()) return Failf("col {}: # is only valid inside a predicate", n.col);
        return pointers_.back();
      case NodeKind::kUnary:
        return EvalUnary(n);
      case NodeKind::kBinary:
        return EvalBinary(n);
      case NodeKind::kMember:
        return EvalMember(n);
      case NodeKind::kIndex:
        return EvalIndex(n);
      case NodeKind::kCall:
        return EvalCall(n);
      case NodeKind::kConditional: {
        auto cond = EvalBoolOperand(*n.kids[0], "?:");
        if (!cond) return tl::unexpected(cond.error());
        return Eval(*n.kids[*cond ? 1 : 2]);
      }
      case NodeKind::kArray: {
        Value arr = Value::array();
        for (const auto& k : n.kids) {
          auto v = Eval(*k);
          if (!v) return v;
          arr.push_back(std::move(*v));
        }
        return arr;
      }
      case NodeKind::kClosure:
        return Failf("col {}: a predicate is only valid as a function argument", n.col);
    }
    return Failf("col {}: internal: unknown node", n.col);
  }

 private:
  Result<bool> EvalBoolOperand(const ExprNode& n, std::string_view op) {
    auto v = Eval(n);
    if (!v) return tl::unexpected(v.error());
    if (!v->is_boolean()) {
      return Failf("col {}: {} needs a bool, got {} ({})", n.col, op, TypeName(*v), Show(*v));
    }
    return v->get<bool>();
  }

  Result<Value> EvalUnary(const ExprNode& n) {
    if (n.name == "!") {
      auto b = EvalBoolOperand(*n.kids[0], "not");
      if (!b) return tl::unexpected(b.error());
      return Value(!*b);
    }
    auto v = Eval(*n.kids[0]);
    if (!v) return v;
    if (!v->is_number()) {
      return Failf("col {}: unary {} needs a number, got {}", n.col, n.name, TypeName(*v));
    }
    if (n.name == "+") return v;
    if (IsInt(*v)) {
      int64_t i = v->get<int64_t>();
      if (i == INT64_MIN) return Failf("col {}: integer overflow", n.col);
      return Value(-i);
    }
    return Value(-AsDouble(*v));
  }

  Result<Value> EvalBinary(const ExprNode& n) {
    const std::string& op = n.name;
    if (op == "&&" || op == "and" || op == "||" || op == "or") {
      bool is_and = op == "&&" || op == "and";
      auto l = EvalBoolOperand(*n.kids[0], op);
      if (!l) return tl::unexpected(l.error());
      if (*l != is_and) return Value(*l);  // short circuit
      auto r = EvalBoolOperand(*n.kids[1], op);
      if (!r) return tl::unexpected(r.error());
      return Value(*r);
    }
    auto l = Eval(*n.kids[0]);
    if (!l) return l;
    if (op == "??") {
      if (!l->is_null()) return l;
      return Eval(*n.kids[1]);
    }
    auto r = Eval(*n.kids[1]);
    if (!r) return r;
    if (op == "==") return Value(DeepEqual(*l, *r));
    if (op == "!=") return Value(!DeepEqual(*l, *r));
    if (op == "<" || op == "<=" || op == ">" || op == ">=") return Compare(n, *l, *r);
    if (op == "in" || op == "not in") {
      auto in = In(n, *l, *r);
      if (!in) return in;
      return op == "in" ? *in : Value(!in->get<bool>());
    }
    if (op == "matches" || op == "contains" || op == "startsWith" || op == "endsWith") {
      return StringOp(n, *l, *r);
    }
    return Arithmetic(n, *l, *r);
  }

  Result<Value> Compare(const ExprNode& n, const Value& l, const Value& r) {
    const std::string& op = n.name;
    int c = 0;
    if (l.is_number() && r.is_number()) {
      if (IsInt(l) && IsInt(r)) {
        int64_t a = l.get<int64_t>(), b = r.get<int64_t>();
        c = a < b ? -1 : (a > b ? 1 : 0);
      } else {
        double a = AsDouble(l), b = AsDouble(r);
        if (std::isnan(a) || std::isnan(b)) return Value(false);  // NaN compares false
        c = a < b ? -1 : (a > b ? 1 : 0);
      }
    } else if (l.is_string() && r.is_string()) {
      int k = l.get_ref<const std::string&>().compare(r.get_ref<const std::string&>());
      c = k < 0 ? -1 : (k > 0 ? 1 : 0);
    } else {
      return Failf("col {}: cannot compare {} {} {} ({} {} {})", n.col, TypeName(l), op,
                   TypeName(r), Show(l), op, Show(r));
    }
    if (op == "<") return Value(c < 0);
    if (op == "<=") return Value(c <= 0);
    if (op == ">") return Value(c > 0);
    return Value(c >= 0);
  }

  Result<Value> In(const ExprNode& n, const Value& needle, const Value& hay) {
    if (hay.is_array()) {
      for (const auto& e : hay) {
        steps_ += 1;
        if (DeepEqual(needle, e)) return Value(true);
      }
      return Value(false);
    }
    if (hay.is_object()) {
      if (!needle.is_string()) {
        return Failf("col {}: a map key is a string, got {}", n.col, TypeName(needle));
      }
      return Value(hay.contains(needle.get<std::string>()));
    }
    if (hay.is_null()) return Value(false);
    return Failf("col {}: operator in needs an array or map on the right, got {}", n.col,
                 TypeName(hay));
  }

  Result<Value> StringOp(const ExprNode& n, const Value& l, const Value& r) {
    const std::string& op = n.name;
    if (!l.is_string() || !r.is_string()) {
      return Failf("col {}: {} needs two strings, got {} and {}", n.col, op, TypeName(l),
                   TypeName(r));
    }
    const auto& a = l.get_ref<const std::string&>();
    const auto& b = r.get_ref<const std::string&>();
    if (op == "contains") return Value(a.find(b) != std::string::npos);
    if (op == "startsWith") return Value(StartsWith(a, b));
    if (op == "endsWith") return Value(EndsWith(a, b));
    steps_ += static_cast<int64_t>(a.size() + b.size());
    if (steps_ > Expr::kMaxSteps) {
      return Failf("col {}: evaluation exceeded {} steps", n.col, Expr::kMaxSteps);
    }
    // RE2 (Go's syntax, as expr-lang's): linear in the subject, so the
    // step budget above bounds the time. A literal pattern was compiled by
    // Compile; one computed at run time is compiled here.
    if (n.re) return Value(n.re->PartialMatch(a));
    auto re = Regex::Compile(b);
    if (!re)
      return Failf("col {}: bad regular expression {}: {}", n.col, Quote(b), re.error().message);
    return Value(re->PartialMatch(a));
  }

  Result<Value> Arithmetic(const ExprNode& n, const Value& l, const Value& r) {
    const std::string& op = n.name;
    if (op == "+" && l.is_string() && r.is_string()) {
      return Value(l.get<std::string>() + r.get<std::string>());
    }
    if (op == "+" && l.is_array() && r.is_array()) {
      Value out = l;
      for (const auto& e : r) out.push_back(e);
      return out;
    }
    if (!l.is_number() || !r.is_number()) {
      return Failf("col {}: operator {} needs numbers, got {} and {}", n.col, op, TypeName(l),
                   TypeName(r));
    }
    if (op == "**" || op == "^") return Value(std::pow(AsDouble(l), AsDouble(r)));
    if (op == "/") return Value(AsDouble(l) / AsDouble(r));
    if (IsInt(l) && IsInt(r)) {
      int64_t a = l.get<int64_t>(), b = r.get<int64_t>(), out = 0;
      bool overflow = false;
      if (op == "+") overflow = __builtin_add_overflow(a, b, &out);
      if (op == "-") overflow = __builtin_sub_overflow(a, b, &out);
      if (op == "*") overflow = __builtin_mul_overflow(a, b, &out);
      if (op == "%") {
        if (b == 0) return Failf("col {}: integer modulo by zero", n.col);
        if (a == INT64_MIN && b == -1) return Value(int64_t{0});
        out = a % b;
      }
      if (overflow) return Failf("col {}: integer overflow in {} {} {}", n.col, a, op, b);
      return Value(out);
    }
    double a = AsDouble(l), b = AsDouble(r);
    if (op == "+") return Value(a + b);
    if (op == "-") return Value(a - b);
    if (op == "*") return Value(a * b);
    return Value(std::fmod(a, b));
  }

  Result<Value> EvalMember(const ExprNode& n) {
    auto obj = Eval(*n.kids[0]);
    if (!obj) return obj;
    if (obj->is_null() && n.optional) return Value();
    if (!obj->is_object()) {
      return Failf("col {}: cannot read field {} of {}", n.col, Quote(n.name), TypeName(*obj));
    }
    auto it = obj->find(n.name);
    if (it == obj->end()) return Value();  // expr-lang: a missing map key is nil
    return *it;
  }

  Result<Value> EvalIndex(const ExprNode& n) {
    auto obj = Eval(*n.kids[0]);
    if (!obj) return obj;
    auto idx = Eval(*n.kids[1]);
    if (!idx) return idx;
    if (obj->is_array() || obj->is_string()) {
      if (!IsInt(*idx)) {
        return Failf("col {}: an index is an int, got {}", n.col, TypeName(*idx));
      }
      int64_t size = obj->is_array()
                         ? static_cast<int64_t>(obj->size())
                         : static_cast<int64_t>(obj->get_ref<const std::string&>().size());
      int64_t i = idx->get<int64_t>();
      if (i < 0) i += size;
      if (i < 0 || i >= size) {
        return Failf("col {}: index {} out of range (length {})", n.col, idx->get<int64_t>(), size);
      }
      if (obj->is_array()) return (*obj)[static_cast<size_t>(i)];
      return Value(std::string(1, obj->get_ref<const std::string&>()[static_cast<size_t>(i)]));
    }
    if (obj->is_object()) {
      if (!idx->is_string())
        return Failf("col {}: a map key is a string, got {}", n.col, TypeName(*idx));
      auto it = obj->find(idx->get<std::string>());
      if (it == obj->end()) return Value();
      return *it;
    }
    return Failf("col {}: cannot index {}", n.col, TypeName(*obj));
  }

  Status Arity(const ExprNode& n, size_t lo, size_t hi) const {
    if (n.kids.size() < lo || n.kids.size() > hi) {
      if (lo == hi) {
        return Failf("col {}: {}() takes {} argument{}, got {}", n.col, n.name, lo,
                     lo == 1 ? "" : "s", n.kids.size());
      }
      return Failf("col {}: {}() takes {} to {} arguments, got {}", n.col, n.name, lo, hi,
                   n.kids.size());
    }
    return Ok();
  }

  // A host function: its arguments evaluated, then its body.
  Result<Value> EvalHostCall(const ExprNode& n) {
    auto fn = host_ ? host_->find(n.name) : HostFunctions::const_iterator();
    if (!host_ || fn == host_->end())
      return Failf("col {}: function {} is not available here", n.col, Quote(n.name));
    std::vector<Value> args;
    for (const auto& k : n.kids) {
      auto v = Eval(*k);
      if (!v) return v;
      args.push_back(std::move(*v));
    }
    auto r = fn->second(args);
    if (!r) return Failf("col {}: {}(): {}", n.col, n.name, r.error().message);
    return r;
  }

  Result<Value> EvalCall(const ExprNode& n) {
    const std::string& f = n.name;
    if (std::find(std::begin(kFunctions), std::end(kFunctions), f) == std::end(kFunctions))
      return EvalHostCall(n);
    if (IsPredicateFunction(f)) return EvalPredicate(n);
    if (f == "min" || f == "max" || f == "sum" || f == "avg") return EvalAggregate(n);
    if (f == "default") {
      STRAKE_TRY(Arity(n, 2, 2));
      auto v = Eval(*n.kids[0]);
      if (!v) return v;
      if (!v->is_null()) return v;
      return Eval(*n.kids[1]);
    }
    STRAKE_TRY(Arity(n, 1, 1));
    auto v = Eval(*n.kids[0]);
    if (!v) return v;
    if (f == "isNil") return Value(v->is_null());
    if (f == "isNaN" || f == "isInf") {
      if (!v->is_number())
        return Failf("col {}: {}() needs a number, got {}", n.col, f, TypeName(*v));
      double d = AsDouble(*v);
      return Value(f == "isNaN" ? std::isnan(d) : std::isinf(d));
    }
    if (f == "len") {
      if (v->is_string()) return Value(static_cast<int64_t>(Utf8Length(v->get<std::string>())));
      if (v->is_array() || v->is_object()) return Value(static_cast<int64_t>(v->size()));
      return Failf("col {}: len() needs a string, array or map, got {}", n.col, TypeName(*v));
    }
    if (f == "abs") {
      if (IsInt(*v)) {
        int64_t i = v->get<int64_t>();
        if (i == INT64_MIN) return Failf("col {}: integer overflow", n.col);
        return Value(i < 0 ? -i : i);
      }
      if (v->is_number()) return Value(std::fabs(AsDouble(*v)));
      return Failf("col {}: abs() needs a number, got {}", n.col, TypeName(*v));
    }
    if (f == "string") {
      if (v->is_string()) return v;
      return Value(Show(*v));
    }
    return Convert(n, *v);
  }

  // int, float, asInt, asFloat.
  Result<Value> Convert(const ExprNode& n, const Value& v) {
    const std::string& f = n.name;
    bool to_int = f == "int" || f == "asInt";
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      std::string t(Trim(s));
      errno = 0;
      char* end = nullptr;
      if (to_int) {
        long long i = std::strtoll(t.c_str(), &end, 10);
        if (t.empty() || *end != '\0' || errno == ERANGE) {
          return Failf("col {}: {}(): {} is not an integer", n.col, f, Quote(s));
        }
        return Value(static_cast<int64_t>(i));
      }
      double d = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != '\0')
        return Failf("col {}: {}(): {} is not a number", n.col, f, Quote(s));
      return Value(d);
    }
    if (!v.is_number())
      return Failf("col {}: {}() needs a number or string, got {}", n.col, f, TypeName(v));
    if (!to_int) return Value(AsDouble(v));
    if (IsInt(v)) return v;
    double d = AsDouble(v);
    if (!std::isfinite(d) || d >= 9.2e18 || d <= -9.2e18) {
      return Failf("col {}: {}(): {} does not fit an integer", n.col, f, Show(v));
    }
    return Value(static_cast<int64_t>(d));
  }

  Result<Value> EvalAggregate(const ExprNode& n) {
    const std::string& f = n.name;
    if (n.kids.empty()) return Failf("col {}: {}() needs arguments", n.col, f);
    Value items = Value::array();
    for (const auto& k : n.kids) {
      auto v = Eval(*k);
      if (!v) return v;
      if (n.kids.size() == 1 && v->is_array()) {
        items = std::move(*v);
      } else {
        items.push_back(std::move(*v));
      }
    }
    if (items.empty()) {
      if (f == "sum") return Value(int64_t{0});
      return Failf("col {}: {}() of an empty array", n.col, f);
    }
    bool all_int = true;
    for (const auto& e : items) {
      if (!e.is_number()) return Failf("col {}: {}() needs numbers, got {}", n.col, f, TypeName(e));
      all_int = all_int && IsInt(e);
    }
    if (f == "avg") {
      double s = 0;
      for (const auto& e : items) s += AsDouble(e);
      return Value(s / static_cast<double>(items.size()));
    }
    if (f == "sum") {
      if (all_int) {
        int64_t s = 0;
        for (const auto& e : items) {
          if (__builtin_add_overflow(s, e.get<int64_t>(), &s))
            return Failf("col {}: integer overflow", n.col);
        }
        return Value(s);
      }
      double s = 0;
      for (const auto& e : items) s += AsDouble(e);
      return Value(s);
    }
    const Value* best = &items[0];
    for (const auto& e : items) {
      bool less = AsDouble(e) < AsDouble(*best);
      if (f == "min" ? less : AsDouble(e) > AsDouble(*best)) best = &e;
    }
    return *best;
  }

  Result<Value> EvalPredicate(const ExprNode& n) {
    const std::string& f = n.name;
    STRAKE_TRY(Arity(n, 2, 2));
    auto arr = Eval(*n.kids[0]);
    if (!arr) return arr;
    if (!arr->is_array())
      return Failf("col {}: {}() needs an array, got {}", n.col, f, TypeName(*arr));
    const ExprNode& body = *n.kids[1]->kids[0];
    Value mapped = Value::array();
    int64_t matched = 0;
    for (const auto& e : *arr) {
      pointers_.push_back(e);
      auto v = Eval(body);
      pointers_.pop_back();
      if (!v) return v;
      if (f == "map") {
        mapped.push_back(std::move(*v));
        continue;
      }
      if (!v->is_boolean()) {
        return Failf("col {}: the predicate of {}() must be a bool, got {}", body.col, f,
                     TypeName(*v));
      }
      bool b = v->get<bool>();
      if (b) {
        ++matched;
        if (f == "filter") mapped.push_back(e);
      }
      if (f == "all" && !b) return Value(false);
      if (f == "any" && b) return Value(true);
      if (f == "none" && b) return Value(false);
    }
    if (f == "all" || f == "none") return Value(true);
    if (f == "any") return Value(false);
    if (f == "one") return Value(matched == 1);
    if (f == "count") return Value(matched);
    return mapped;
  }

 public:
  // The first element (and its index) of predicate call `n`'s array whose
  // predicate is `want`: what made all() false, any() true, none() false.
  Result<std::optional<std::pair<size_t, Value>>> FirstWhere(const ExprNode& n, bool want) {
    using Found = std::optional<std::pair<size_t, Value>>;
    if (n.kids.size() != 2 || n.kids[1]->kind != NodeKind::kClosure) return Found();
    auto arr = Eval(*n.kids[0]);
    if (!arr) return tl::unexpected(arr.error());
    if (!arr->is_array()) return Found();
    const ExprNode& body = *n.kids[1]->kids[0];
    for (size_t i = 0; i < arr->size(); ++i) {
      pointers_.push_back((*arr)[i]);
      auto v = Eval(body);
      pointers_.pop_back();
      if (!v) return tl::unexpected(v.error());
      if (v->is_boolean() && v->get<bool>() == want) return Found(std::in_place, i, (*arr)[i]);
    }
    return Found();
  }
  // A second pass (an explanation) gets its own budget.
  void ResetSteps() { steps_ = 0; }

 private:
  const std::map<std::string, Value>& vars_;
  const HostFunctions* host_;
  std::vector<Value> pointers_;
  int64_t steps_ = 0;
};

}  // namespace

Result<Expr> Expr::Compile(std::string_view source, const std::set<std::string>& host) {
  if (source.size() > kMaxSource) {
    return Failf("expression is {} characters; the limit is {}", source.size(), kMaxSource);
  }
  if (Trim(source).empty()) return Fail("expression is empty");
  auto toks = Lex(source);
  if (!toks) return tl::unexpected(toks.error());
  Parser p(std::move(*toks), host);
  auto root = p.ParseAll();
  if (!root) return tl::unexpected(root.error());
  Expr e;
  e.source_ = std::string(source);
  e.root_ = std::shared_ptr<const ExprNode>(std::move(*root));
  return e;
}

// The evaluator's edge: no input throws through it. Expected failures are
// values already; a library throw left anywhere (nlohmann's type errors, an
// allocation) becomes an error of this evaluation, which an analysis counts
// as a measurement with phase Error.
Result<Value> Expr::Eval(const std::map<std::string, Value>& vars,
                         const HostFunctions* host) const {
  try {
    Evaluator ev(vars, host);
    return ev.Eval(*root_);
  } catch (const std::exception& e) {
    return Failf("evaluating {}: {}", Quote(source_), e.what());
  }
}

namespace {

bool IsComparison(const std::string& op) {
  return op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=";
}

// The operator that holds when `op` does not ("<" for ">=").
std::string Negated(const std::string& op) {
  static const std::map<std::string, std::string> kNot = {
      {"==", "!="}, {"!=", "=="}, {"<", ">="},      {">=", "<"},
      {">", "<="},  {"<=", ">"},  {"in", "not in"}, {"not in", "in"}};
  auto it = kNot.find(op);
  return it != kNot.end() ? it->second : "not " + op;
}

// What a node that is not explained further shows itself as.
std::string NodeText(const ExprNode& n) {
  switch (n.kind) {
    case NodeKind::kVariable:
      return n.name;
    case NodeKind::kCall: {
      // Literal arguments are shown (`verifiedIn("dev")`), others elided.
      std::vector<std::string> args;
      for (const auto& kid : n.kids)
        args.push_back(kid->kind == NodeKind::kLiteral ? Show(kid->literal) : "...");
      return n.name + "(" + Join(args, ", ") + ")";
    }
    case NodeKind::kMember:
      return NodeText(*n.kids[0]) + "." + n.name;
    default:
      return "the expression";
  }
}

class Explainer {
 public:
  // `source`: the whole expression's text, shown for `root`.
  Explainer(Evaluator& ev, const ExprNode& root, const std::string& source)
      : ev_(ev), root_(root), source_(source) {}

  // Why `n` is `value` (what it evaluated to).
  Result<std::string> Why(const ExprNode& n, bool value) {
    if (n.kind == NodeKind::kUnary && n.name == "!") return Why(*n.kids[0], !value);
    if (n.kind == NodeKind::kCall) return Call(n, value);
    if (n.kind != NodeKind::kBinary) return NodeText(n) + (value ? " is true" : " is false");
    const std::string& op = n.name;
    if (op == "&&" || op == "and" || op == "||" || op == "or") return Logical(n, value);
    // Only an operator that evaluates both sides is shown with them (`??`
    // may not have evaluated its right side; arithmetic is no boolean).
    if (!IsComparison(op) && op != "in" && op != "not in" && op != "matches" && op != "contains" &&
        op != "startsWith" && op != "endsWith")
      return NodeText(n) + (value ? " is true" : " is false");
    auto l = ev_.Eval(*n.kids[0]);
    if (!l) return tl::unexpected(l.error());
    auto r = ev_.Eval(*n.kids[1]);
    if (!r) return tl::unexpected(r.error());
    return fmt::format("{} {} {}", Show(*l), value ? op : Negated(op), Show(*r));
  }

 private:
  // all() that is false, any() that is true, none() that is false: the
  // first element that decided it ("[3] {…} matches").
  Result<std::string> Call(const ExprNode& n, bool value) {
    std::string text = (&n == &root_ ? source_ : NodeText(n)) + (value ? " is true" : " is false");
    const bool decided =
        (n.name == "all" && !value) || (n.name == "any" && value) || (n.name == "none" && !value);
    if (!decided) return text;
    const bool want = n.name != "all";
    auto first = ev_.FirstWhere(n, want);
    if (!first) return tl::unexpected(first.error());
    if (!*first) return text;
    constexpr size_t kShown = 300;  // bytes, cut at a character's start
    std::string element = Show((*first)->second);
    if (element.size() > kShown) {
      size_t cut = kShown;
      while (cut > 0 && (static_cast<unsigned char>(element[cut]) & 0xC0) == 0x80) --cut;
      element = element.substr(0, cut) + "…";
    }
    return fmt::format("{}: [{}] {} {}", text, (*first)->first, element,
                       want ? "matches" : "does not match");
  }

  // `a && b` false: the first false operand; true: both. `||` the mirror.
  Result<std::string> Logical(const ExprNode& n, bool value) {
    bool is_and = n.name == "&&" || n.name == "and";
    std::vector<std::string> parts;
    for (const auto& kid : n.kids) {
      auto v = ev_.Eval(*kid);
      if (!v) return tl::unexpected(v.error());
      if (!v->is_boolean()) continue;
      bool b = v->get<bool>();
      if (b != value) continue;
      auto why = Why(*kid, b);
      if (!why) return why;
      // One operand decides an `&&` that is false or an `||` that is true.
      if (is_and != value) return why;
      parts.push_back(*why);
    }
    return Join(parts, " and ");
  }

  Evaluator& ev_;
  const ExprNode& root_;
  const std::string& source_;
};

}  // namespace

Result<std::string> Expr::Explain(const std::map<std::string, Value>& vars,
                                  const HostFunctions* host) const {
  try {
    Evaluator ev(vars, host);
    auto v = ev.Eval(*root_);
    if (!v) return tl::unexpected(v.error());
    if (!v->is_boolean()) return fmt::format("{} is {}", Quote(source_), Show(*v));
    ev.ResetSteps();
    return Explainer(ev, *root_, source_).Why(*root_, v->get<bool>());
  } catch (const std::exception& e) {
    return Failf("evaluating {}: {}", Quote(source_), e.what());
  }
}

Result<bool> Expr::EvalBool(const std::map<std::string, Value>& vars) const {
  auto v = Eval(vars);
  if (!v) return tl::unexpected(v.error());
  if (!v->is_boolean()) {
    return Failf("condition {} must be a bool, got {}", Quote(source_), Show(*v));
  }
  return v->get<bool>();
}

}  // namespace strake::rollout
