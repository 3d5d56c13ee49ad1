#include "insight/notify_config.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <set>
#include <utility>

#include "base/strings.h"
#include "model/label_selector.h"

namespace strake::insight {

namespace {

// Every problem found, each with its place; reported together.
class Problems {
 public:
  void Add(std::string what) { list_.push_back(std::move(what)); }
  void Add(const Error& e) { list_.push_back(e.message); }
  bool empty() const { return list_.empty(); }
  Error ToError() const { return Error{Join(list_, "\n"), ErrorCode::kInvalid}; }

 private:
  std::vector<std::string> list_;
};

// A key's value read as YAML (one document), as JSON; `place` names it.
std::optional<Json> ReadYaml(const Json& value, const std::string& place, Problems& problems) {
  if (!value.is_string()) {
    problems.Add(place + ": not a string");
    return std::nullopt;
  }
  auto docs = model::ParseYaml(value.get<std::string>(), place);
  if (!docs) {
    problems.Add(docs.error());
    return std::nullopt;
  }
  if (docs->empty()) return Json();
  if (docs->size() > 1) {
    problems.Add(place + ": more than one YAML document");
    return std::nullopt;
  }
  return model::ToJson(docs->front().root);
}

// Fields of `object` that are not `known`, each a problem.
void Unknown(const Json& object, const std::set<std::string>& known, const std::string& place,
             Problems& problems, const std::string& why = "") {
  if (!object.is_object()) return;
  for (const auto& [k, v] : object.items()) {
    if (known.count(k) == 0)
      problems.Add(fmt::format("{}.{}: {}", place, k, why.empty() ? "unknown field" : why));
  }
}

std::string Text(const Json& object, const char* key, const std::string& place,
                 Problems& problems) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "";
  if (!object[key].is_string()) {
    problems.Add(fmt::format("{}.{}: not a string", place, key));
    return "";
  }
  return object[key].get<std::string>();
}

std::vector<std::string> Names(const Json& list, const std::string& place, Problems& problems) {
  std::vector<std::string> out;
  if (list.is_null()) return out;
  if (!list.is_array()) {
    problems.Add(place + ": not a list");
    return out;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      problems.Add(fmt::format("{}[{}]: not a string", place, i));
      continue;
    }
    out.push_back(list[i].get<std::string>());
  }
  return out;
}

std::optional<model::GoTemplate> Template(const Json& object, const char* key,
                                          const std::string& place, Problems& problems) {
  std::string text = Text(object, key, place, problems);
  if (text.empty()) return std::nullopt;
  if (text.find(".secrets") != std::string::npos) {
    problems.Add(
        fmt::format("{}.{}: templates do not see .secrets in strake (a rendered "
                    "notification is stored until it is sent): put the secret in the "
                    "service's options as $key",
                    place, key));
    return std::nullopt;
  }
  auto t = model::GoTemplate::Parse(text, fmt::format("{}.{}", place, key));
  if (!t) {
    problems.Add(t.error());
    return std::nullopt;
  }
  return std::move(*t);
}

std::optional<rollout::Expr> Expression(const std::string& text, const std::string& place,
                                        Problems& problems) {
  if (text.empty()) return std::nullopt;
  auto e = rollout::Expr::Compile(text);
  if (!e) {
    problems.Add(fmt::format("{}: {}", place, e.error().message));
    return std::nullopt;
  }
  return std::move(*e);
}

std::vector<TriggerCondition> Trigger(const Json& list, const std::string& place,
                                      Problems& problems) {
  std::vector<TriggerCondition> out;
  if (!list.is_array()) {
    problems.Add(place + ": not a list of conditions");
    return out;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", place, i);
    const Json& c = list[i];
    if (!c.is_object()) {
      problems.Add(at + ": not a mapping");
      continue;
    }
    Unknown(c, {"when", "oncePer", "send", "description"}, at, problems);
    TriggerCondition t;
    t.when_text = Text(c, "when", at, problems);
    t.when = Expression(t.when_text, at + ".when", problems);
    t.once_per = Expression(Text(c, "oncePer", at, problems), at + ".oncePer", problems);
    t.send = Names(c.value("send", Json()), at + ".send", problems);
    t.description = Text(c, "description", at, problems);
    if (t.send.empty()) problems.Add(at + ".send: no template to send");
    out.push_back(std::move(t));
  }
  return out;
}

NotificationTemplate TemplateOf(const Json& t, const std::string& place, Problems& problems) {
  NotificationTemplate out;
  if (!t.is_object()) {
    problems.Add(place + ": not a mapping");
    return out;
  }
  Unknown(t, {"message", "email", "slack", "mattermost", "webhook"}, place, problems,
          "not sent by strake (its services: webhook, slack, mattermost, email)");
  out.message = Template(t, "message", place, problems);
  const Json email = t.value("email", Json::object());
  Unknown(email, {"subject", "body"}, place + ".email", problems);
  out.email_subject = Template(email, "subject", place + ".email", problems);
  out.email_body = Template(email, "body", place + ".email", problems);
  const Json slack = t.value("slack", Json::object());
  Unknown(slack, {"attachments", "blocks", "username", "icon"}, place + ".slack", problems,
          "not supported: strake posts each message anew (no threads or updates)");
  out.slack_attachments = Template(slack, "attachments", place + ".slack", problems);
  out.slack_blocks = Template(slack, "blocks", place + ".slack", problems);
  out.slack_username = Text(slack, "username", place + ".slack", problems);
  out.slack_icon = Text(slack, "icon", place + ".slack", problems);
  const Json mm = t.value("mattermost", Json::object());
  Unknown(mm, {"attachments"}, place + ".mattermost", problems);
  out.mattermost_attachments = Template(mm, "attachments", place + ".mattermost", problems);
  const Json hooks = t.value("webhook", Json::object());
  for (const auto& [name, hook] : hooks.items()) {
    const std::string at = fmt::format("{}.webhook.{}", place, name);
    Unknown(hook, {"method", "path", "body"}, at, problems);
    NotificationTemplate::Webhook w;
    w.method = Text(hook, "method", at, problems);
    w.path = Template(hook, "path", at, problems);
    w.body = Template(hook, "body", at, problems);
    out.webhook.emplace(name, std::move(w));
  }
  return out;
}

// `$key` anywhere in each string (map keys too) is the Secret's value of
// key, as notifications-engine's replaceStringSecret does; with no Secret
// given (admission), strings are kept as written.
Json WithSecrets(const Json& j, const std::map<std::string, std::string>* secret) {
  static const RE2 kKey(R"(\$([\w-]+))");
  auto replace = [&](const std::string& s) {
    if (!secret || s.find('$') == std::string::npos) return s;
    std::string out;
    re2::StringPiece input(s), key;
    size_t done = 0;
    while (RE2::FindAndConsume(&input, kKey, &key)) {
      const size_t end = static_cast<size_t>(input.data() - s.data());
      const size_t start = end - key.size() - 1;
      out.append(s, done, start - done);
      auto it = secret->find(std::string(key));
      out += it == secret->end() ? s.substr(start, end - start) : it->second;
      done = end;
    }
    return out + s.substr(done);
  };
  if (j.is_string()) return replace(j.get<std::string>());
  if (j.is_array()) {
    Json out = Json::array();
    for (const auto& v : j) out.push_back(WithSecrets(v, secret));
    return out;
  }
  if (!j.is_object()) return j;
  Json out = Json::object();
  for (const auto& [k, v] : j.items()) out[replace(k)] = WithSecrets(v, secret);
  return out;
}

const std::map<std::string, std::vector<std::string>>& RequiredOptions() {
  static const std::map<std::string, std::vector<std::string>> kRequired = {
      {"webhook", {"url"}},
      {"slack", {"token"}},
      {"mattermost", {"apiURL", "token"}},
      {"email", {"host", "port", "from"}}};
  return kRequired;
}

// The options the senders read, of the types they read them as.
void CheckOptionTypes(const Json& options, const std::string& place, Problems& problems) {
  for (const char* flag : {"insecureSkipVerify", "insecure_skip_verify", "disableUnfurl", "html"}) {
    if (options.contains(flag) && !options[flag].is_boolean())
      problems.Add(fmt::format("{}.{}: not true or false", place, flag));
  }
  for (const char* text : {"url", "token", "apiURL", "host", "from", "username", "password",
                           "signingSecret", "icon"}) {
    if (options.contains(text) && !options[text].is_string())
      problems.Add(fmt::format("{}.{}: not a string", place, text));
  }
  if (options.contains("port")) {
    const Json& port = options["port"];
    if (!port.is_number_integer() || port.get<int64_t>() < 1 || port.get<int64_t>() > 65535)
      problems.Add(fmt::format("{}.port: not a port (1-65535)", place));
  }
  const Json headers = options.value("headers", Json::array());
  if (!headers.is_array()) problems.Add(place + ".headers: not a list of {name, value}");
  for (size_t i = 0; headers.is_array() && i < headers.size(); ++i) {
    if (!headers[i].is_object() || !headers[i].value("name", Json()).is_string() ||
        !headers[i].value("value", Json()).is_string())
      problems.Add(fmt::format("{}.headers[{}]: not {{name, value}} strings", place, i));
  }
  if (options.contains("basicAuth") && !options["basicAuth"].is_object())
    problems.Add(place + ".basicAuth: not {username, password}");
}

void Service(const std::string& key, const Json& options,
             const std::map<std::string, std::string>* secret, NotificationConfig& cfg,
             const std::string& place, Problems& problems) {
  std::vector<std::string> parts = Split(key.substr(std::string("service.").size()), '.');
  if (parts.empty() || parts.size() > 2 || parts[0].empty()) {
    problems.Add(place + ": invalid service key; expected 'service.<type>(.<name>)'");
    return;
  }
  const std::string& type = parts[0];
  const auto required = RequiredOptions().find(type);
  if (required == RequiredOptions().end()) {
    problems.Add(
        fmt::format("{}: service type {} is not sent by strake (webhook, slack, "
                    "mattermost, email)",
                    place, Quote(type)));
    return;
  }
  if (!options.is_object()) {
    problems.Add(place + ": not a mapping");
    return;
  }
  for (const auto& field : required->second) {
    if (!options.contains(field)) problems.Add(fmt::format("{}.{}: missing", place, field));
  }
  CheckOptionTypes(options, place, problems);
  const std::string name = parts.size() == 2 ? parts[1] : type;
  cfg.services[name] = NotificationService{type, name, WithSecrets(options, secret)};
}

void Subscriptions(const Json& list, NotificationConfig& cfg, const std::string& place,
                   Problems& problems) {
  if (!list.is_array()) {
    problems.Add(place + ": not a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", place, i);
    if (!list[i].is_object()) {
      problems.Add(at + ": not a mapping {recipients, triggers, selector}");
      continue;
    }
    Unknown(list[i], {"recipients", "triggers", "selector"}, at, problems);
    Subscription s;
    for (const auto& r : Names(list[i].value("recipients", Json()), at + ".recipients", problems)) {
      // "service:recipient", read as notifications-engine reads it: what
      // follows a second colon is not part of it.
      const std::vector<std::string> parts = Split(r, ':');
      s.recipients.emplace_back(parts.empty() ? "" : parts[0], parts.size() > 1 ? parts[1] : "");
    }
    s.triggers = Names(list[i].value("triggers", Json()), at + ".triggers", problems);
    s.selector = Text(list[i], "selector", at, problems);
    if (auto sel = model::ParseLabelSelector(s.selector); !sel)
      problems.Add(fmt::format("{}.selector: {}", at, sel.error().message));
    cfg.subscriptions.push_back(std::move(s));
  }
}

// One key of the ConfigMap.
void Key(const std::string& key, const Json& value,
         const std::map<std::string, std::string>* secret, NotificationConfig& cfg,
         const std::string& place, Problems& problems) {
  if (key.starts_with("trigger.")) {
    if (auto y = ReadYaml(value, place, problems))
      cfg.triggers[key.substr(8)] = Trigger(*y, place, problems);
  } else if (key.starts_with("template.")) {
    if (auto y = ReadYaml(value, place, problems))
      cfg.templates[key.substr(9)] = TemplateOf(*y, place, problems);
  } else if (key.starts_with("service.")) {
    if (auto y = ReadYaml(value, place, problems)) Service(key, *y, secret, cfg, place, problems);
  } else if (key == "subscriptions") {
    if (auto y = ReadYaml(value, place, problems)) Subscriptions(*y, cfg, place, problems);
  } else if (key == "defaultTriggers") {
    if (auto y = ReadYaml(value, place, problems))
      cfg.default_triggers = Names(*y, place, problems);
  } else if (key.starts_with("defaultTriggers.")) {
    if (auto y = ReadYaml(value, place, problems))
      cfg.default_triggers_by_service[key.substr(16)] = Names(*y, place, problems);
  } else if (key == "context") {
    if (auto y = ReadYaml(value, place, problems); y && y->is_object()) {
      for (const auto& [k, v] : y->items())
        cfg.context[k] = v.is_string() ? v.get<std::string>() : v.dump();
    } else if (y && !y->is_null()) {
      problems.Add(place + ": not a mapping");
    }
  } else {
    problems.Add(place +
                 ": not a key of Argo CD Notifications' ConfigMap (trigger.<name>, "
                 "template.<name>, service.<type>[.<name>], subscriptions, "
                 "defaultTriggers, context)");
  }
}

// What the parts name must exist: templates, triggers, services.
void CrossCheck(const NotificationConfig& cfg, const std::string& where, Problems& problems) {
  for (const auto& [name, conditions] : cfg.triggers) {
    for (size_t i = 0; i < conditions.size(); ++i) {
      for (const auto& t : conditions[i].send) {
        if (cfg.templates.count(t) == 0)
          problems.Add(fmt::format("{}: data.trigger.{}[{}].send: no template {}", where, name, i,
                                   Quote(t)));
      }
    }
  }
  auto check_triggers = [&](const std::vector<std::string>& names, const std::string& at) {
    for (const auto& t : names) {
      if (cfg.triggers.count(t) == 0)
        problems.Add(fmt::format("{}: {}: no trigger {}", where, at, Quote(t)));
    }
  };
  check_triggers(cfg.default_triggers, "data.defaultTriggers");
  for (const auto& [svc, names] : cfg.default_triggers_by_service)
    check_triggers(names, "data.defaultTriggers." + svc);
  for (size_t i = 0; i < cfg.subscriptions.size(); ++i) {
    const std::string at = fmt::format("data.subscriptions[{}]", i);
    check_triggers(cfg.subscriptions[i].triggers, at + ".triggers");
    for (const auto& [svc, rcpt] : cfg.subscriptions[i].recipients) {
      if (cfg.services.count(svc) == 0)
        problems.Add(fmt::format("{}: {}.recipients: no service {}", where, at, Quote(svc)));
    }
  }
}

}  // namespace

Result<NotificationConfig> ParseNotificationConfig(const Json& data,
                                                   const std::map<std::string, std::string>& secret,
                                                   const std::string& where) {
  NotificationConfig cfg;
  Problems problems;
  if (!data.is_null() && !data.is_object())
    return Failf(ErrorCode::kInvalid, "{}: data: not a mapping", where);
  for (const auto& [key, value] : data.items())
    Key(key, value, &secret, cfg, fmt::format("{}: data.{}", where, key), problems);
  CrossCheck(cfg, where, problems);
  if (!problems.empty()) return tl::unexpected(problems.ToError());
  return cfg;
}

}  // namespace strake::insight
