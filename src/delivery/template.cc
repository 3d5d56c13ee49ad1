#include "delivery/template.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "base/strings.h"

namespace strake::delivery {

using model::Json;

namespace {

constexpr size_t kMaxTemplate = size_t{64} << 10;

struct Delimiters {
  std::string_view start, end;
};
constexpr Delimiters kDelimiters[] = {{"${{", "}}"}, {"${%", "%}"}};

// Go's encoding/json of a value: integral doubles without ".0", and
// <, >, & escaped as Go escapes them by default.
std::string GoJson(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21)
      return fmt::format("{}", static_cast<int64_t>(d));
  }
  std::string out;
  for (char c : v.dump()) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<rollout::Value> One(const std::vector<rollout::Value>& args, const char* name) {
  if (args.size() != 1) return Failf("{} takes one argument, got {}", name, args.size());
  return args[0];
}

const rollout::HostFunctions& Builtins() {
  static const rollout::HostFunctions kFns = {
      {"quote",
       [](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
         STRAKE_TRY_ASSIGN(v, One(args, "quote"));
         if (v.is_string()) return rollout::Value(GoQuote(v.get<std::string>()));
         return rollout::Value("\"" + GoJson(v) + "\"");
       }},
      {"unsafeQuote",
       [](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
         STRAKE_TRY_ASSIGN(v, One(args, "unsafeQuote"));
         return rollout::Value("\"" + GoJson(v) + "\"");
       }},
      {"asJSON",
       [](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
         STRAKE_TRY_ASSIGN(v, One(args, "asJSON"));
         return rollout::Value("\"" + v.dump(2) + "\n\"");
       }},
  };
  return kFns;
}

// The first expression of `text`: what precedes it, it, and what follows;
// no expression: everything in `before`.
struct Split {
  std::string_view before, expression, after;
  bool found = false;
};

Result<Split> NextExpression(std::string_view text) {
  const Delimiters* delim = nullptr;
  size_t at = std::string_view::npos;
  for (const auto& d : kDelimiters) {
    size_t i = text.find(d.start);
    if (i != std::string_view::npos && (at == std::string_view::npos || i < at)) {
      at = i;
      delim = &d;
    }
  }
  if (!delim) return Split{text, {}, {}, false};
  size_t start = at + delim->start.size();
  size_t end = text.find(delim->end, start);
  if (end == std::string_view::npos) {
    return Failf("unclosed expression: expected {} but reached end of template", Quote(delim->end));
  }
  return Split{text.substr(0, at), text.substr(start, end - start),
               text.substr(end + delim->end.size()), true};
}

bool HasDelimiter(std::string_view text) {
  for (const auto& d : kDelimiters)
    if (text.find(d.start) != std::string_view::npos) return true;
  return false;
}

// Go's strconv.ParseFloat: the whole text a float (not "" or spaces).
std::optional<double> GoParseFloat(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE) return std::nullopt;
  return d;
}

Json Coerce(std::string result) {
  bool newline = EndsWith(result, "\n");
  if (newline) result.pop_back();
  if (result.size() > 1 && result.front() == '"' && result.back() == '"') {
    result = result.substr(1, result.size() - 2);
    if (newline) result += "\n";
    return result;
  }
  if (auto d = GoParseFloat(result)) {
    if (std::isfinite(*d) && *d == std::floor(*d) && std::fabs(*d) < 9.007199254740992e15)
      return static_cast<int64_t>(*d);
    return *d;
  }
  if (auto b = GoParseBool(result)) return *b;
  Json parsed = Json::parse(result, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  if (newline) result += "\n";
  return result;
}

Status EvaluateIn(Json& node, const TemplateEnv& env, const std::string& path) {
  if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      std::string sub = path;
      if (!sub.empty()) sub += '.';
      sub += key;
      STRAKE_TRY(EvaluateIn(value, env, sub));
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i)
      STRAKE_TRY(EvaluateIn(node[i], env, fmt::format("{}[{}]", path, i)));
  } else if (node.is_string()) {
    auto v = EvaluateTemplate(node.get<std::string>(), env);
    if (!v) return tl::unexpected(v.error().Wrap(path));
    node = std::move(*v);
  }
  return Ok();
}

}  // namespace

std::optional<bool> GoParseBool(std::string_view s) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (s == t) return true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (s == f) return false;
  return std::nullopt;
}

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

Result<Json> EvaluateTemplate(std::string_view text, const TemplateEnv& env) {
  if (!HasDelimiter(text)) return Json(std::string(text));
  if (text.size() > kMaxTemplate)
    return Failf("template is {} bytes; the limit is {}", text.size(), kMaxTemplate);
  rollout::HostFunctions fns = Builtins();
  for (const auto& [name, fn] : env.functions) fns[name] = fn;
  std::set<std::string> names;
  for (const auto& [name, fn] : fns) names.insert(name);
  std::string result;
  for (;;) {
    STRAKE_TRY_ASSIGN(part, NextExpression(text));
    result += part.before;
    if (!part.found) break;
    auto e = rollout::Expr::Compile(part.expression, names);
    if (!e) return Failf("${{{{{}}}}}: {}", part.expression, e.error().message);
    auto v = e->Eval(env.vars, &fns);
    if (!v) return Failf("${{{{{}}}}}: {}", part.expression, v.error().message);
    result += v->is_string() ? v->get<std::string>() : GoJson(*v);
    text = part.after;
  }
  return Coerce(std::move(result));
}

Result<Json> EvaluateVars(const std::vector<model::ExpressionVariable>& vars, TemplateEnv& env,
                          Json out) {
  for (const auto& v : vars) {
    env.vars["vars"] = rollout::Value(out);
    auto value = EvaluateTemplate(v.value, env);
    if (!value) return tl::unexpected(value.error().Wrap("vars." + v.name));
    out[v.name] = *value;
  }
  env.vars["vars"] = rollout::Value(out);
  return out;
}

rollout::HostFunction CommitFrom(Json commits) {
  return [commits = std::move(commits)](
             const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.empty() || args.size() > 2 || !args[0].is_string())
      return Fail("commitFrom takes a repository URL (and optionally a Freight origin)");
    const std::string want = model::NormalizeGitUrl(args[0].get<std::string>());
    for (const auto& c : commits) {
      if (!c.is_object() || model::NormalizeGitUrl(c.value("repoURL", "")) != want) continue;
      return rollout::Value{
          {"RepoURL", c.value("repoURL", "")},    {"ID", c.value("id", "")},
          {"Branch", c.value("branch", "")},      {"Tag", c.value("tag", "")},
          {"Message", c.value("message", "")},    {"Author", c.value("author", "")},
          {"Committer", c.value("committer", "")}};
    }
    return Failf("commit from repo {} not found in Freight", args[0].get<std::string>());
  };
}

Status CheckTemplate(std::string_view text, const std::set<std::string>& functions) {
  std::set<std::string> names = functions;
  for (const auto& [name, fn] : Builtins()) names.insert(name);
  for (;;) {
    STRAKE_TRY_ASSIGN(part, NextExpression(text));
    if (!part.found) return Ok();
    if (auto e = rollout::Expr::Compile(part.expression, names); !e)
      return Failf("${{{{{}}}}}: {}", part.expression, e.error().message);
    text = part.after;
  }
}

Result<Json> EvaluateConfig(const Json& config, const TemplateEnv& env) {
  Json out = config;
  STRAKE_TRY(EvaluateIn(out, env, "config"));
  return out;
}

}  // namespace strake::delivery
