#include "insight/notify_send.h"

#include <fmt/format.h>

#include <utility>

#include "base/curl.h"
#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::insight {

namespace {

std::string Opt(const Json& options, const char* key, const std::string& otherwise = "") {
  auto it = options.find(key);
  return it != options.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

// `base` and `path` joined by one slash (Argo's webhook: TrimRight(url,
// "/") + "/" + TrimLeft(path, "/")).
std::string JoinUrl(const std::string& base, const std::string& path) {
  const size_t end = base.find_last_not_of('/');
  const size_t start = path.find_first_not_of('/');
  return (end == std::string::npos ? "" : base.substr(0, end + 1)) + "/" +
         (start == std::string::npos ? "" : path.substr(start));
}

// A boolean option (the settings' parser checked its type).
bool Flag(const Json& options, const char* key) {
  auto it = options.find(key);
  return it != options.end() && it->is_boolean() && it->get<bool>();
}

std::string Message(const Delivery& d) { return d.notification.value("message", ""); }

// A 2xx answer, else an error naming the service and the status, never
// the URL (a webhook's URL is often its secret).
Status Answered(const NotificationService& s, const Result<curl::Response>& r,
                const std::string& url) {
  if (!r) {
    std::string why = r.error().message;
    const std::string shown = curl::UrlForMessage(url);
    for (size_t at = why.find(shown); !shown.empty() && at != std::string::npos;
         at = why.find(shown))
      why.replace(at, shown.size(), "<its url>");
    return Fail(r.error().code, fmt::format("{} {}: {}", s.type, s.name, why));
  }
  if (r->status < 200 || r->status > 299) {
    return Failf(ErrorCode::kUnavailable, "{} {}: the server answered {}", s.type, s.name,
                 r->status);
  }
  return Ok();
}

curl::Request Base(const NotificationService& s, const Delivery& d) {
  curl::Request req;
  req.timeout = kSendTimeout;
  req.max_body = size_t{1} << 20;
  req.insecure_skip_tls_verify =
      Flag(s.options, "insecureSkipVerify") || Flag(s.options, "insecure_skip_verify");
  req.headers.emplace_back("X-Strake-Delivery", d.id);
  return req;
}

class HttpSender final : public NotificationSender {
 public:
  explicit HttpSender(EgressPolicy egress) : egress_(std::move(egress)) {}

  Status Send(const NotificationService& s, const Delivery& d) override {
    if (s.type == "webhook") return Webhook(s, d);
    if (s.type == "slack") return Slack(s, d);
    if (s.type == "mattermost") return Mattermost(s, d);
    if (s.type == "email") return Email(s, d);
    return Failf(ErrorCode::kInvalid, "service type {} is not sent", Quote(s.type));
  }

 private:
  Status Webhook(const NotificationService& s, const Delivery& d) {
    curl::Request req = Base(s, d);
    const Json hook = d.notification.value("webhook", Json());
    std::string url = Opt(s.options, "url");
    req.method = "GET";
    req.body = Message(d);
    if (hook.is_object()) {
      if (!hook.value("method", "").empty()) req.method = hook.value("method", "");
      req.body = hook.value("body", "");
      const std::string path = hook.value("path", "");
      if (!path.empty()) url = JoinUrl(url, path);
    }
    req.url = url;
    const Json headers = s.options.value("headers", Json::array());
    for (const auto& h : headers) {
      if (h.is_object()) req.headers.emplace_back(Opt(h, "name"), Opt(h, "value"));
    }
    const Json auth = s.options.value("basicAuth", Json());
    if (auth.is_object()) {
      req.headers.emplace_back(
          "Authorization",
          "Basic " + Base64Encode(Opt(auth, "username") + ":" + Opt(auth, "password")));
    }
    const std::string secret = Opt(s.options, "signingSecret");
    if (!secret.empty()) {
      req.headers.emplace_back("X-Strake-Signature-256",
                               "sha256=" + HmacSha256Hex(secret, req.body));
    }
    return Answered(s, curl::Send(req, egress_), req.url);
  }

  Status Slack(const NotificationService& s, const Delivery& d) {
    curl::Request req = Base(s, d);
    req.method = "POST";
    req.url = Opt(s.options, "apiURL", "https://slack.com/api/") + "chat.postMessage";
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    const Json slack = d.notification.value("slack", Json::object());
    std::vector<std::pair<std::string, std::string>> form = {
        {"token", Opt(s.options, "token")}, {"channel", d.to.recipient}, {"text", Message(d)}};
    const std::string blocks = slack.value("blocks", "");
    std::string attachments = slack.value("attachments", "");
    if (attachments.empty() && !blocks.empty()) attachments = "[]";
    if (!attachments.empty()) form.emplace_back("attachments", attachments);
    if (!blocks.empty()) form.emplace_back("blocks", blocks);
    const std::string username = slack.value("username", Opt(s.options, "username"));
    if (!username.empty()) form.emplace_back("username", username);
    const std::string icon = slack.value("icon", Opt(s.options, "icon"));
    if (icon.size() > 2 && icon.front() == ':' && icon.back() == ':') {
      form.emplace_back("icon_emoji", icon);
    } else if (icon.starts_with("http://") || icon.starts_with("https://")) {
      form.emplace_back("icon_url", icon);
    }
    if (Flag(s.options, "disableUnfurl")) {
      form.emplace_back("unfurl_links", "false");
      form.emplace_back("unfurl_media", "false");
    }
    std::vector<std::string> parts;
    parts.reserve(form.size());
    for (const auto& [k, v] : form) parts.push_back(k + "=" + http::UrlEncode(v));
    req.body = Join(parts, "&");
    auto r = curl::Send(req, egress_);
    STRAKE_TRY(Answered(s, r, req.url));
    Json answer = Json::parse(r->body, nullptr, false);
    if (!answer.is_object() || !answer.value("ok", false)) {
      return Failf(ErrorCode::kUnavailable, "slack {}: chat.postMessage: {}", s.name,
                   answer.is_object() ? answer.value("error", "not ok") : "not JSON");
    }
    return Ok();
  }

  Status Mattermost(const NotificationService& s, const Delivery& d) {
    curl::Request req = Base(s, d);
    req.method = "POST";
    req.url = JoinUrl(Opt(s.options, "apiURL"), "api/v4/posts");
    req.headers.emplace_back("Authorization", "Bearer " + Opt(s.options, "token"));
    req.headers.emplace_back("Content-Type", "application/json");
    Json attachments = Json::array();
    const std::string text =
        d.notification.value("mattermost", Json::object()).value("attachments", "");
    if (!text.empty()) {
      attachments = Json::parse(text, nullptr, false);
      if (!attachments.is_array())
        return Failf(ErrorCode::kInvalid, "mattermost {}: attachments: not a JSON list", s.name);
    }
    req.body = Json{{"channel_id", d.to.recipient},
                    {"message", Message(d)},
                    {"props", {{"attachments", attachments}}}}
                   .dump();
    return Answered(s, curl::Send(req, egress_), req.url);
  }

  Status Email(const NotificationService& s, const Delivery& d) {
    const Json email = d.notification.value("email", Json::object());
    curl::Mail mail;
    mail.host = Opt(s.options, "host");
    const Json port = s.options.value("port", Json());
    const int64_t number = port.is_number_integer() ? port.get<int64_t>() : 0;
    if (number < 1 || number > 65535)
      return Failf(ErrorCode::kInvalid, "email {}: port: not a port (1-65535)", s.name);
    mail.port = static_cast<uint16_t>(number);
    mail.username = Opt(s.options, "username");
    mail.password = Opt(s.options, "password");
    mail.from = Opt(s.options, "from");
    for (const auto& to : Split(d.to.recipient, ',')) {
      std::string t(Trim(to));
      if (!t.empty()) mail.to.push_back(t);
    }
    mail.subject = email.value("subject", "");
    mail.body = email.value("body", Message(d));
    mail.html = Flag(s.options, "html");
    mail.message_id = d.id;
    mail.timeout = kSendTimeout;
    mail.insecure_skip_tls_verify = Flag(s.options, "insecure_skip_verify");
    auto sent = curl::SendMail(mail, egress_);
    if (!sent) {
      return Fail(sent.error().code, fmt::format("email {}: {}", s.name, sent.error().message));
    }
    return Ok();
  }

  EgressPolicy egress_;
};

}  // namespace

NotificationSenderPtr MakeNotificationSender(EgressPolicy egress) {
  return std::make_unique<HttpSender>(std::move(egress));
}

}  // namespace strake::insight
