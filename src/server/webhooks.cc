#include "server/webhooks.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decode.h"

namespace strake::server {

using store::Json;

namespace {

constexpr const char* kDeliveryScope = "webhook-delivery";

// The clone URLs a payload names, by forge.
std::vector<std::string> UrlsOf(const std::string& forge, const Json& body) {
  std::vector<std::string> out;
  auto add = [&](const Json& obj, std::initializer_list<const char*> fields) {
    if (!obj.is_object()) return;
    for (const char* f : fields) {
      if (obj.contains(f) && obj[f].is_string()) out.push_back(obj[f].get<std::string>());
    }
  };
  if (!body.is_object()) return out;
  if (forge == "gitlab") {
    add(body.value("project", Json::object()),
        {"git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url"});
    add(body.value("repository", Json::object()),
        {"git_http_url", "git_ssh_url", "homepage", "url"});
  } else {
    add(body.value("repository", Json::object()),
        {"clone_url", "ssh_url", "html_url", "git_url", "url"});
  }
  return out;
}

std::string Header(const Request& req, const char* name) { return req.Header(name); }

}  // namespace

std::string Webhooks::NormalizeUrl(const std::string& url) {
  std::string u(Trim(url));
  auto scheme = u.find("://");
  if (scheme != std::string::npos) {
    std::string lower = ToLower(u.substr(0, scheme));
    std::string rest = u.substr(scheme + 3);
    auto at = rest.find('@');
    auto slash = rest.find('/');
    if (at != std::string::npos && (slash == std::string::npos || at < slash))
      rest = rest.substr(at + 1);
    slash = rest.find('/');
    std::string host = ToLower(rest.substr(0, slash));
    u = lower + "://" + host + (slash == std::string::npos ? "" : rest.substr(slash));
  }
  // "shop/.git/" and "shop.git/" are "shop": slashes and ".git" in any order.
  while (true) {
    if (!u.empty() && u.back() == '/') {
      u.pop_back();
    } else if (EndsWith(u, ".git")) {
      u.resize(u.size() - 4);
    } else {
      return u;
    }
  }
}

Result<std::vector<std::string>> Webhooks::PayloadUrls(const std::string& forge,
                                                       const std::string& body) {
  if (!JsonDepthWithin(body, 64)) return Fail(ErrorCode::kInvalid, "the payload nests too deep");
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Fail(ErrorCode::kInvalid, "the payload is not a JSON object");
  std::vector<std::string> urls;
  for (const auto& u : UrlsOf(forge, j)) urls.push_back(NormalizeUrl(u));
  return urls;
}

Webhooks::Webhooks(store::Store& store, const Clock& clock,
                   std::function<void(const store::Key&)> push,
                   std::function<Status(const WebhookDelivery&)> record)
    : store_(store), clock_(clock), push_(std::move(push)), record_(std::move(record)) {}

Response Webhooks::Answer(WebhookDelivery& d, int status, const std::string& message) {
  d.status = status;
  d.message = message;
  if (record_) {
    if (auto st = record_(d); !st) {
      // A delivery that cannot be recorded is not acted on: the forge retries.
      return ErrorResponse(503, "ServiceUnavailable", "cannot record the delivery: try again");
    }
  }
  if (status >= 400)
    return ErrorResponse(status, status == 401 ? "Unauthorized" : "BadRequest", message);
  Json body = {{"message", message}};
  Json repos = Json::array();
  for (const auto& k : d.repositories) repos.push_back(k.ns + "/" + k.name);
  if (!repos.empty()) body["repositories"] = repos;
  return JsonResponse(status, body);
}

Response Webhooks::Handle(const Request& req) {
  WebhookDelivery d;
  d.forge = req.path.substr(std::string("/webhooks/").size());
  if (d.forge != "github" && d.forge != "gitlab" && d.forge != "gitea" && d.forge != "generic") {
    return ErrorResponse(
        404, "NotFound",
        fmt::format("no webhook {} (github, gitlab, gitea, generic)", Quote(d.forge)));
  }
  if (req.method != "POST") return ErrorResponse(405, "MethodNotAllowed", "webhooks are POSTed");
  std::string signature;
  if (d.forge == "github") {
    d.event = Header(req, "X-GitHub-Event");
    d.delivery_id = Header(req, "X-GitHub-Delivery");
    signature = Header(req, "X-Hub-Signature-256");
  } else if (d.forge == "gitea") {
    d.event = Header(req, "X-Gitea-Event");
    d.delivery_id = Header(req, "X-Gitea-Delivery");
    signature = Header(req, "X-Gitea-Signature");
  } else if (d.forge == "gitlab") {
    d.event = Header(req, "X-Gitlab-Event");
    d.delivery_id = Header(req, "X-Gitlab-Event-UUID");
    signature = Header(req, "X-Gitlab-Token");
  } else {
    d.event = "push";
    d.delivery_id = Header(req, "X-Strake-Delivery");
    signature = Header(req, "X-Strake-Signature-256");
  }
  if (signature.empty()) {
    const char* header = d.forge == "github"   ? "X-Hub-Signature-256"
                         : d.forge == "gitea"  ? "X-Gitea-Signature"
                         : d.forge == "gitlab" ? "X-Gitlab-Token"
                                               : "X-Strake-Signature-256";
    return Answer(d, 401, fmt::format("the delivery is not signed: {} is missing", header));
  }
  auto urls = PayloadUrls(d.forge, req.body);
  if (!urls) return Answer(d, 400, urls.error().message);

  // The Repositories the payload names.
  auto repos = store_.List("Repository", "");
  if (!repos) return ErrorResponse(repos.error());
  bool any_named = false;
  for (const auto& r : *repos) {
    std::string url = NormalizeUrl(r.object.value("spec", Json::object()).value("url", ""));
    if (std::find(urls->begin(), urls->end(), url) == urls->end()) continue;
    any_named = true;
    auto decoded = model::DecodeObject(r.object, "repository");
    if (!decoded) continue;
    const auto& spec = std::get<model::Repository>(decoded->value).spec;
    if (spec.webhook_secret_ref.empty()) continue;  // accepts no delivery
    auto secret = store_.Get({"Secret", r.key.ns, spec.webhook_secret_ref});
    if (!secret || !*secret) continue;
    auto s = model::DecodeObject((*secret)->object, "secret");
    if (!s) continue;
    const auto& data = std::get<model::ConfigMap>(s->value).data.data;
    auto key = data.find("secret");
    if (key == data.end() || key->second.empty()) continue;
    bool ok = false;
    if (d.forge == "gitlab") {
      ok = ConstantTimeEquals(signature, key->second);
    } else {
      std::string want = HmacSha256Hex(key->second, req.body);
      std::string got = signature;
      if (d.forge != "gitea") {
        if (!StartsWith(got, "sha256=")) continue;
        got = got.substr(7);
      }
      ok = ConstantTimeEquals(ToLower(got), want);
    }
    if (ok) d.repositories.push_back(r.key);
  }
  if (d.repositories.empty()) {
    return Answer(d, 401,
                  any_named ? "the signature does not match the webhook secret of any Repository "
                              "with this URL"
                            : "no Repository with a webhook secret has this payload's URL");
  }
  if (d.delivery_id.empty()) d.delivery_id = "sha256:" + Sha256Hex(req.body);
  return Act(d);
}

Response Webhooks::Act(WebhookDelivery& d) {
  std::string id = d.forge + "/" + d.delivery_id;
  int64_t now = UnixMillis(clock_.Now());
  auto first = store_.MarkOnce(kDeliveryScope, id, now,
                               now - std::chrono::milliseconds(kReplayWindow).count());
  if (!first) {
    return ErrorResponse(503, "ServiceUnavailable",
                         "cannot tell whether the delivery was seen before: try again");
  }
  if (!*first) return Answer(d, 200, "duplicate delivery, ignored");
  bool push = d.forge == "generic" || d.event == "push" || d.event == "Push Hook" ||
              d.event == "Tag Push Hook" || d.event == "create" || d.event == "delete";
  int status = 202;
  std::string message = "fetch queued";
  if (d.event == "ping") {
    push = false;
    status = 200;
    message = "pong";
  } else if (!push) {
    message = fmt::format("event {} ignored", Quote(d.event));
  }
  // Recorded before it is acted on; not recorded, it is not seen either.
  Response r = Answer(d, status, message);
  if (r.status != status) {
    (void)store_.UnmarkOnce(kDeliveryScope, id);
    return r;
  }
  if (push) {
    for (const auto& k : d.repositories) push_(k);
  }
  return r;
}

}  // namespace strake::server
