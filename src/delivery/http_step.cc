#include "delivery/http_step.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/curl.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/http.h"
#include "base/strings.h"
#include "delivery/step_config.h"
#include "model/node.h"
#include "rollout/expr.h"

namespace strake::delivery {
namespace {

constexpr size_t kMaxResponse = size_t{2} << 20;
constexpr Millis kDefaultTimeout{10'000};
constexpr Millis kMaxTimeout{60'000};  // a step holds a Promotion worker meanwhile
constexpr Millis kDefaultPoll{30'000};

struct HttpConfig {
  curl::Request request;
  std::string content_type;  // responseContentType: "" = from the response
  std::string success, failure, error;
  std::vector<std::pair<std::string, std::string>> outputs;  // name, fromExpression
  Millis poll = kDefaultPoll;
};

// [{name, value}] of `key`, each a string.
Result<std::vector<std::pair<std::string, std::string>>> Pairs(const Json& c, const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  const Json list = c.value(key, Json::array());
  if (!list.is_array()) return Failf("config.{} must be a list", key);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = fmt::format("config.{}[{}].", key, i);
    STRAKE_TRY(OnlyFields(list[i], {"name", "value", "fromExpression"}, at));
    STRAKE_TRY_ASSIGN(name, Text(list[i], "name", true, at));
    const char* value_key = std::string(key) == "outputs" ? "fromExpression" : "value";
    STRAKE_TRY_ASSIGN(value, Text(list[i], value_key, true, at));
    if (name.empty()) return Failf("{}name may not be empty", at);
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Result<HttpConfig> ReadConfig(const StepContext& ctx) {
  const Json& c = ctx.config;
  STRAKE_TRY(OnlyFields(
      c,
      {"method", "url", "headers", "queryParams", "body", "bodyFromFile", "insecureSkipTLSVerify",
       "proxy", "timeout", "pollInterval", "responseContentType", "successExpression",
       "failureExpression", "errorExpression", "outputs"},
      "config."));
  HttpConfig cfg;
  STRAKE_TRY_ASSIGN(method, Text(c, "method"));
  cfg.request.method = method.empty() ? "GET" : method;
  std::transform(cfg.request.method.begin(), cfg.request.method.end(), cfg.request.method.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  static const std::vector<std::string> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                    "PATCH", "DELETE", "OPTIONS"};
  if (std::find(kMethods.begin(), kMethods.end(), cfg.request.method) == kMethods.end())
    return Failf("config.method: {} is not an HTTP method strake sends", Quote(method));
  STRAKE_TRY_ASSIGN(url, Text(c, "url", true));
  STRAKE_TRY_ASSIGN(query, Pairs(c, "queryParams"));
  for (const auto& [k, v] : query) {
    url += (url.find('?') == std::string::npos ? "?" : "&") + http::UrlEncode(k) + "=" +
           http::UrlEncode(v);
  }
  cfg.request.url = url;
  STRAKE_TRY_ASSIGN(headers, Pairs(c, "headers"));
  cfg.request.headers = std::move(headers);
  STRAKE_TRY_ASSIGN(body, Text(c, "body"));
  STRAKE_TRY_ASSIGN(body_file, Text(c, "bodyFromFile"));
  if (!body.empty() && !body_file.empty())
    return Fail("config.body and config.bodyFromFile are mutually exclusive");
  cfg.request.body = body;
  if (!body_file.empty()) {
    STRAKE_TRY_ASSIGN(rel, WorkRelative(body_file, "config.bodyFromFile"));
    STRAKE_TRY_ASSIGN(text, ReadFileBeneath(ctx.work_dir, rel, kMaxResponse));
    cfg.request.body = std::move(text);
  }
  STRAKE_TRY_ASSIGN(insecure, Flag(c, "insecureSkipTLSVerify", false));
  cfg.request.insecure_skip_tls_verify = insecure;
  STRAKE_TRY(NotYet(c, {"proxy"}, "config."));
  STRAKE_TRY_ASSIGN(timeout, DurationField(c, "timeout", kDefaultTimeout));
  if (timeout.count() <= 0 || timeout > kMaxTimeout)
    return Failf("config.timeout must be more than 0s and at most {}", FormatDuration(kMaxTimeout));
  cfg.request.timeout = timeout;
  STRAKE_TRY_ASSIGN(poll, DurationField(c, "pollInterval", kDefaultPoll));
  cfg.poll = std::max(poll, kMinPollInterval);
  cfg.request.max_body = kMaxResponse;
  cfg.request.max_redirects = 5;
  cfg.request.same_host_redirects_only = true;
  STRAKE_TRY_ASSIGN(content_type, Text(c, "responseContentType"));
  if (!content_type.empty() && content_type != "application/json" &&
      content_type != "application/yaml" && content_type != "text/plain") {
    return Failf(
        "config.responseContentType: {} is not application/json, application/yaml or "
        "text/plain",
        Quote(content_type));
  }
  cfg.content_type = content_type;
  STRAKE_TRY_ASSIGN(success, Text(c, "successExpression"));
  STRAKE_TRY_ASSIGN(failure, Text(c, "failureExpression"));
  STRAKE_TRY_ASSIGN(error, Text(c, "errorExpression"));
  cfg.success = success;
  cfg.failure = failure;
  cfg.error = error;
  STRAKE_TRY_ASSIGN(outputs, Pairs(c, "outputs"));
  cfg.outputs = std::move(outputs);
  return cfg;
}

// The response's body as Kargo parses it.
Json ParseBody(const std::string& body, std::string type) {
  if (body.empty()) return Json::object();
  type = ToLower(std::string(Trim(type.substr(0, type.find(';')))));
  if (type == "text/plain") return body;
  // A response nested deeper than any real one is refused before it is
  // parsed (the evaluator copies values recursively).
  if (!JsonDepthWithin(body, 64)) return Json::object();
  if (type == "application/yaml" || type == "text/yaml" || type == "application/x-yaml") {
    auto docs = model::ParseYaml(body, "response");
    if (docs && !docs->empty()) return model::ToJson(docs->front().root);
    return Json::object();
  }
  Json j = Json::parse(body, nullptr, false);
  return j.is_discarded() ? Json::object() : j;
}

// Go's textproto.CanonicalMIMEHeaderKey, as Kargo's response.headers keys
// are: "content-type" -> "Content-Type".
std::string CanonicalHeaderKey(std::string k) {
  bool upper = true;
  for (char& c : k) {
    c = upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
              : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return k;
}

// `response` for the expressions, and header(name) (also called as
// response.header(name), as Kargo's docs write it).
struct ResponseEnv {
  std::map<std::string, rollout::Value> vars;
  rollout::HostFunctions functions;
};

ResponseEnv EnvOf(const curl::Response& r, const std::string& content_type) {
  Json headers = Json::object();
  for (const auto& [k, v] : r.headers) headers[CanonicalHeaderKey(k)].push_back(v);
  ResponseEnv env;
  env.vars["response"] = {
      {"status", r.status},
      {"headers", headers},
      {"body",
       ParseBody(r.body, content_type.empty() ? r.HeaderValue("Content-Type") : content_type)}};
  env.functions["header"] = [r](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.size() != 1 || !args[0].is_string()) return Fail("header takes a header's name");
    return rollout::Value(r.HeaderValue(args[0].get<std::string>()));
  };
  env.functions["response.header"] = env.functions["header"];  // Kargo's spelling
  return env;
}

Result<rollout::Value> Evaluate(const std::string& field, const std::string& text,
                                const ResponseEnv& env) {
  auto e = rollout::Expr::Compile(text, {"header", "response.header"});
  if (!e) return Fail(ErrorCode::kInvalid, fmt::format("config.{}: {}", field, e.error().message));
  auto v = e->Eval(env.vars, &env.functions);
  if (!v) return Failf("config.{}: {}", field, v.error().message);
  return *v;
}

// successExpression / failureExpression: nullopt when not given.
Result<std::optional<bool>> Criterion(const std::string& field, const std::string& text,
                                      const ResponseEnv& env) {
  if (text.empty()) return std::optional<bool>();
  STRAKE_TRY_ASSIGN(v, Evaluate(field, text, env));
  if (!v.is_boolean())
    return Failf("config.{}: the result is a {}, not a boolean", field, v.type_name());
  return std::optional<bool>(v.get<bool>());
}

StepOutcome Succeeded(const HttpConfig& cfg, const ResponseEnv& env) {
  StepOutcome out;
  for (const auto& [name, expr] : cfg.outputs) {
    auto v = Evaluate("outputs." + name, expr, env);
    if (!v) return ErroredStep(v.error().message, false);
    out.output[name] = *v;
  }
  return out;
}

class HttpStep : public StepRunner {
 public:
  explicit HttpStep(EgressPolicy egress) : egress_(std::move(egress)) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadConfig(ctx);
    if (!cfg) return ErroredStep(cfg.error().message, true);
    auto resp = curl::Send(cfg->request, egress_);
    if (!resp) return ErroredStep(resp.error().message, resp.error().Is(ErrorCode::kForbidden));
    const ResponseEnv env = EnvOf(*resp, cfg->content_type);
    auto failure = Criterion("failureExpression", cfg->failure, env);
    if (!failure)
      return ErroredStep(failure.error().message, failure.error().Is(ErrorCode::kInvalid));
    auto success = Criterion("successExpression", cfg->success, env);
    if (!success)
      return ErroredStep(success.error().message, success.error().Is(ErrorCode::kInvalid));
    if (*failure && **failure) {
      std::string message = fmt::format("HTTP ({}) response met failure criteria", resp->status);
      if (!cfg->error.empty()) {
        auto why = Evaluate("errorExpression", cfg->error, env);
        if (why && why->is_string() && !why->get<std::string>().empty())
          message += ": " + Quote(why->get<std::string>());
      }
      StepOutcome out;
      out.attempt = {StepStatus::kFailed, "", message, true};
      return out;
    }
    if (*success && **success) return Succeeded(*cfg, env);
    if (!*success && !*failure) {
      if (resp->status >= 200 && resp->status < 300) return Succeeded(*cfg, env);
      StepOutcome out;
      out.attempt = {StepStatus::kFailed, "",
                     fmt::format("HTTP ({}) {} {}", resp->status, cfg->request.method,
                                 curl::UrlForMessage(cfg->request.url)),
                     false};
      return out;
    }
    StepOutcome out;
    out.attempt = {
        StepStatus::kRunning,
        fmt::format("HTTP ({}): waiting for the success or failure criteria", resp->status), "",
        false};
    out.retry_after = cfg->poll;
    return out;
  }

 private:
  EgressPolicy egress_;
};

}  // namespace

void AddHttpStep(StepRegistry& registry, EgressPolicy egress) {
  registry.Add(kHttpStep, std::make_unique<HttpStep>(std::move(egress)));
}

}  // namespace strake::delivery
