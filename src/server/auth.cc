#include "server/auth.h"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>

#include "base/log.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::server {

using store::Json;

namespace {

// A token's "user" and "claims" from a create request into `out`; the
// error when they are malformed.
std::optional<std::string> IdentityOf(const Json& b, Json& out) {
  if (b.contains("user")) {
    if (!b["user"].is_string() || b["user"].get<std::string>().size() > 253 ||
        StartsWith(b["user"].get<std::string>(), "token:"))
      return "user: a name of at most 253 characters (not token:...)";
    if (!b["user"].get<std::string>().empty()) out["user"] = b["user"];
  }
  if (!b.contains("claims")) return std::nullopt;
  const Json& c = b["claims"];
  const char* bad = "claims: an object of strings or lists of strings";
  if (!c.is_object()) return bad;
  for (const auto& [k, v] : c.items()) {
    bool list = v.is_array() &&
                std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_string(); });
    if (!v.is_string() && !list) return bad;
  }
  out["claims"] = c;
  return std::nullopt;
}

constexpr const char* kTokenKind = "ApiToken";

// base64url without padding: a token is one shell word.
std::string Base64Url(const std::string& bytes) {
  std::string b = Base64Encode(bytes);
  for (char& c : b) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

int64_t Ms(const Clock& clock) { return UnixMillis(clock.Now()); }

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kDeployer:
      return "deployer";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(const std::string& name) {
  for (Role r : {Role::kViewer, Role::kDeployer, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

std::string Principal::Name() const {
  std::string scope = fmt::format("{}{}", RoleName(role), ns.empty() ? "" : " in " + ns);
  if (user.empty()) return fmt::format("token:{} ({})", token_id, scope);
  return fmt::format("{} (token:{}, {})", user, token_id, scope);
}

std::string Principal::Identity() const { return user.empty() ? "token:" + token_id : user; }

Json Principal::ToJson() const {
  return {{"token", token_id},
          {"role", RoleName(role)},
          {"namespace", ns},
          {"user", Identity()},
          {"claims", claims}};
}

std::optional<Principal> PrincipalOf(const Request& req) {
  std::string header = req.Header(kPrincipalHeader);
  if (header.empty()) return std::nullopt;
  Json j = Json::parse(header, nullptr, false);
  auto role = j.is_object() ? ParseRole(j.value("role", "")) : std::nullopt;
  if (!role) return std::nullopt;
  Principal p;
  p.token_id = j.value("token", "");
  p.role = *role;
  p.ns = j.value("namespace", "");
  p.user = j.value("user", "");
  p.claims = j.value("claims", Json::object());
  return p;
}

std::string NamespaceOf(const std::string& path) {
  auto at = path.find("/namespaces/");
  if (at == std::string::npos) return "";
  auto start = at + std::string("/namespaces/").size();
  auto end = path.find('/', start);
  // /api/v1/namespaces/NAME is the Namespace itself: cluster-scoped, out of
  // reach of a token of one namespace, as in Kubernetes.
  if (end == std::string::npos || end + 1 == path.size()) return "";
  return path.substr(start, end - start);
}

Need Classify(const Request& req) {
  const std::string& p = req.path;
  if (req.method == "GET" && (p == "/healthz" || p == "/metrics")) return Need::kPublic;
  if (StartsWith(p, "/webhooks/")) return Need::kPublic;
  if (StartsWith(p, "/apis/strake.dev/v1/tokens") || StartsWith(p, "/apis/strake.dev/v1/audit"))
    return Need::kAdmin;
  if (req.method == "GET" || req.method == "HEAD") return Need::kRead;
  // A Project's policies (its promotion windows, freezes, stopped line, who
  // promotes by itself) are its admins', and the server's are the server's:
  // a deployer cannot lift a freeze by editing them, nor move a Project out
  // of a ClusterConfig's projectSelector by relabelling it.
  if (StartsWith(p, "/apis/kargo.akuity.io/")) {
    for (const char* admin : {"/projectconfigs", "/clusterconfigs", "/projects"}) {
      if (p.find(admin) != std::string::npos) return Need::kAdmin;
    }
  }
  // A response to a Promotion's approval step: any token may reach it, its
  // rules decide who counts (no rules: deployers and above; approval.h).
  if (req.method == "POST" && p.find("/promotions/") != std::string::npos &&
      (EndsWith(p, "/approve") || EndsWith(p, "/reject")) &&
      StartsWith(p, "/apis/kargo.akuity.io/"))
    return Need::kRead;
  return Need::kWrite;  // PUT, POST, PATCH, DELETE: changes and actions
}

bool Allows(const Principal& p, Need need, const std::string& ns, const std::string& path) {
  if (need == Need::kPublic) return true;
  if (!p.ns.empty()) {
    // The event log is filtered to the token's namespace instead.
    bool events = path == "/apis/strake.dev/v1/events";
    if (ns != p.ns && !events) return false;
  }
  switch (need) {
    case Need::kRead:
      return true;
    case Need::kWrite:
      return p.role >= Role::kDeployer;
    case Need::kAdmin:
      return p.role == Role::kAdmin;
    case Need::kPublic:
      return true;
  }
  return false;
}

Result<Tokens::Created> Tokens::Create(Role role, const std::string& ns, Millis expires,
                                       const std::string& description, const std::string& by,
                                       const Json& spec) {
  Created c;
  c.id = HexEncode(RandomBytes(8));
  std::string secret = Base64Url(RandomBytes(24));
  c.token = "strk_" + c.id + "_" + secret;
  int64_t now = Ms(clock_);
  c.record = {{"apiVersion", "strake.dev/v1"},
              {"kind", kTokenKind},
              {"metadata", {{"name", c.id}}},
              {"spec",
               {{"role", RoleName(role)},
                {"namespace", ns},
                {"description", description},
                {"createdBy", by},
                {"createdAtMs", now},
                {"expiresAtMs", expires.count() > 0 ? now + expires.count() : 0}}},
              {"secretSha256", Sha256Hex(secret)}};
  c.record["spec"].update(spec);
  store::Resource r;
  r.key = {kTokenKind, "", c.id};
  r.object = c.record;
  auto created =
      store_.Create(r, "TokenCreated", fmt::format("token {} ({}) created", c.id, RoleName(role)));
  if (!created) return tl::unexpected(created.error());
  c.record.erase("secretSha256");
  return c;
}

Result<std::optional<Tokens::Created>> Tokens::Bootstrap() {
  STRAKE_TRY_ASSIGN(all, store_.List(kTokenKind, ""));
  std::vector<std::string> unseen;
  for (const auto& t : all) {
    const Json spec = t.object.value("spec", Json::object());
    // Tokens made before "shown" existed count as seen.
    if (!spec.value("firstAdmin", false) || spec.value("shown", true)) return std::nullopt;
    if (!spec.value("revoked", false)) unseen.push_back(t.key.name);
  }
  for (const auto& id : unseen) STRAKE_TRY(Revoke(id));
  STRAKE_TRY_ASSIGN(c, Create(Role::kAdmin, "", Millis(0), "the first admin token", "strake",
                              {{"firstAdmin", true}, {"shown", false}}));
  return std::optional<Created>(std::move(c));
}

Status Tokens::Shown(const std::string& id) {
  return UpdateSpec(id, [](Json& spec) {
    if (spec.value("shown", true)) return false;
    spec["shown"] = true;
    return true;
  });
}

Result<Principal> Tokens::Authenticate(const std::string& authorization) const {
  if (authorization.empty())
    return Fail("no token: send Authorization: Bearer <token> (strake --token, STRAKE_TOKEN)");
  if (!StartsWith(authorization, "Bearer ")) return Fail("the Authorization header is not Bearer");
  std::string token(Trim(authorization.substr(7)));
  // "strk_" + 16 hex digits + "_" + the secret (base64url: may hold '_').
  if (token.size() < 23 || !StartsWith(token, "strk_") || token[21] != '_')
    return Fail("not a strake token");
  std::string id = token.substr(5, 16), secret = token.substr(22);
  auto got = store_.Get({kTokenKind, "", id});
  // The same answer whatever is wrong: nothing to learn by probing.
  auto invalid = Fail("invalid, expired or revoked token");
  if (!got || !*got) return invalid;
  const Json& o = (*got)->object;
  if (!ConstantTimeEquals(Sha256Hex(secret), o.value("secretSha256", ""))) return invalid;
  const Json spec = o.value("spec", Json::object());
  if (spec.value("revoked", false)) return invalid;
  int64_t expires = spec.value("expiresAtMs", int64_t{0});
  if (expires > 0 && Ms(clock_) >= expires) return invalid;
  auto role = ParseRole(spec.value("role", ""));
  if (!role) return invalid;
  Principal p;
  p.token_id = id;
  p.role = *role;
  p.ns = spec.value("namespace", "");
  p.user = spec.value("user", "");
  p.claims = spec.value("claims", Json::object());
  return p;
}

Result<Json> Tokens::List() const {
  STRAKE_TRY_ASSIGN(all, store_.List(kTokenKind, ""));
  Json items = Json::array();
  for (const auto& r : all) {
    Json spec = r.object.value("spec", Json::object());
    spec["id"] = r.key.name;
    items.push_back(spec);
  }
  return Json{{"items", items}};
}

Status Tokens::Revoke(const std::string& id) {
  return UpdateSpec(id, [this](Json& spec) {
    if (spec.value("revoked", false)) return false;
    spec["revoked"] = true;
    spec["revokedAtMs"] = Ms(clock_);
    return true;
  });
}

Status Tokens::UpdateSpec(const std::string& id, const std::function<bool(Json&)>& change) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get({kTokenKind, "", id});
    if (!got) return tl::unexpected(got.error());
    if (!*got) return Failf("token {} not found", Quote(id));
    store::Resource r = **got;
    if (!change(r.object["spec"])) return Ok();
    auto w = store_.Update(r, r.resource_version);
    if (w) return Ok();
    if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  }
  return Failf("token {} kept changing", id);
}

Response Gate::Handle(const Request& sent) {
  // Who asked is the Gate's to say, never the client's.
  Request req = sent;
  // The path as the API routes it, so that what is classified is what runs:
  // the API skips empty segments, so "//apis/..." would otherwise be read
  // as a path of no group here and as the group's there.
  auto canonical = CanonicalPath(req.path);
  if (!canonical) return ErrorResponse(400, "BadRequest", canonical.error().message);
  req.path = std::move(*canonical);
  std::erase_if(req.headers,
                [](const auto& h) { return strcasecmp(h.first.c_str(), kPrincipalHeader) == 0; });
  Need need = Classify(req);
  if (need == Need::kPublic) return api_(req);
  auto who = tokens_.Authenticate(req.Header("Authorization"));
  if (!who) return ErrorResponse(401, "Unauthorized", who.error().message);
  Response r = HandleAs(req, need, *who);
  r.authenticated = true;  // whatever the answer, the caller is known
  return r;
}

Result<std::string> CanonicalPath(const std::string& path) {
  std::string out;
  for (const auto& seg : Split(path, '/')) {
    if (seg.empty()) continue;
    if (seg == "." || seg == "..")
      return Failf("the path {} has a {} segment", Quote(path), Quote(seg));
    out += "/" + seg;
  }
  return out.empty() ? std::string("/") : out;
}

namespace {

// What a change's audit entry says beside its method and path: a token's
// role, an approval's or rejection's comment (at most 200 bytes).
std::string ChangeDetail(const Request& req) {
  if (req.method != "POST") return "";
  const bool token = StartsWith(req.path, "/apis/strake.dev/v1/tokens");
  const bool response = EndsWith(req.path, "/approve") || EndsWith(req.path, "/reject");
  if (!token && !response) return "";
  Json b = Json::parse(req.body, nullptr, false);
  if (!b.is_object()) return "";
  if (token) return fmt::format("role {}", b.value("role", ""));
  std::string message = b.contains("message") && b["message"].is_string() ? b["message"] : "";
  if (message.size() > 200) message = message.substr(0, 200) + "…";
  return message.empty() ? "" : "message: " + message;
}

}  // namespace

Response Gate::HandleAs(const Request& req, Need need, const Principal& principal) {
  const Principal* who = &principal;
  std::string ns = NamespaceOf(req.path);
  if (!Allows(*who, need, ns, req.path)) {
    (void)audit_.Append({who->Name(), req.method, req.path, "denied"});
    std::string why =
        !who->ns.empty() && ns != who->ns
            ? fmt::format("this token is limited to namespace {}", Quote(who->ns))
            : fmt::format("a {} token cannot {} {}", RoleName(who->role), req.method, req.path);
    return ErrorResponse(403, "Forbidden", why);
  }
  if (req.method == "GET" || req.method == "HEAD") return Dispatch(req, *who);
  // A dry run (`strake diff`) changes nothing: no entry claims it did. Only an
  // apply takes one (the API refuses dryRun on any other method).
  if (req.method == "PATCH" && req.query.count("dryRun")) return Dispatch(req, *who);
  // A change: its intent is recorded before it is made (it is not made if
  // that fails), its entry once it is made (audit.h says why).
  std::string detail = ChangeDetail(req);
  auto intent = audit_.Begin({who->Name(), req.method, req.path, detail});
  if (!intent) {
    return ErrorResponse(503, "ServiceUnavailable",
                         "the audit entry of this change cannot be written, so it is not made: " +
                             intent.error().message);
  }
  Response r = Dispatch(req, *who);
  // An answer of 2xx is a change made; any other, a change refused.
  bool made = r.status >= 200 && r.status < 300;
  if (auto st = audit_.Finish(*intent, made); !st) {
    // Made, and its entry stays owed: written before the next one.
    Log(LogLevel::kError, "audit: {} {}: {}", req.method, req.path, st.error().message);
  }
  // A change a policy refused (a gate: a window, a freeze, a stopped line)
  // is a decision too, recorded with its reason.
  if (r.status == 403) {
    Json body = Json::parse(r.body, nullptr, false);
    std::string why = body.is_object() ? body.value("message", "") : "";
    (void)audit_.Append({who->Name(), req.method, req.path, "refused: " + why});
  }
  return r;
}

Response Gate::Dispatch(const Request& req, const Principal& who) {
  if (StartsWith(req.path, "/apis/strake.dev/v1/tokens")) return TokenRequest(req, who);
  if (StartsWith(req.path, "/apis/strake.dev/v1/audit")) return AuditRequest(req);
  Request told = req;
  told.headers.emplace_back(kPrincipalHeader, who.ToJson().dump());
  if (!who.ns.empty() && req.path == "/apis/strake.dev/v1/events") told.query["namespace"] = who.ns;
  return api_(told);
}

Response Gate::TokenRequest(const Request& req, const Principal& p) {
  std::string rest = req.path.substr(std::string("/apis/strake.dev/v1/tokens").size());
  if (req.method == "GET" && rest.empty()) {
    auto l = tokens_.List();
    if (!l) return ErrorResponse(l.error());
    return JsonResponse(200, *l);
  }
  if (req.method == "POST" && rest.empty()) {
    Json b = Json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object())
      return ErrorResponse(400, "BadRequest", "the body must be a JSON object");
    auto role = ParseRole(b.value("role", ""));
    if (!role) {
      return ErrorResponse(
          422, "Invalid",
          fmt::format("role: {} is not admin, deployer or viewer", Quote(b.value("role", ""))));
    }
    Millis expires{0};
    if (!b.value("expires", "").empty()) {
      auto d = ParseDuration(b.value("expires", ""), DurationUnits::kWithDays);
      if (!d || d->count() <= 0)
        return ErrorResponse(422, "Invalid", "expires: a duration such as 30d, 12h or 90m");
      expires = *d;
    }
    Json identity = Json::object();
    if (auto bad = IdentityOf(b, identity)) return ErrorResponse(422, "Invalid", *bad);
    auto c = tokens_.Create(*role, b.value("namespace", ""), expires, b.value("description", ""),
                            p.Name(), identity);
    if (!c) return ErrorResponse(c.error());
    Json out = c->record["spec"];
    out["id"] = c->id;
    out["token"] = c->token;
    return JsonResponse(201, out);
  }
  if (req.method == "DELETE" && rest.size() > 1) {
    auto st = tokens_.Revoke(rest.substr(1));
    if (!st) return ErrorResponse(404, "NotFound", st.error().message);
    return JsonResponse(200, {{"message", fmt::format("token {} revoked", rest.substr(1))}});
  }
  return ErrorResponse(405, "MethodNotAllowed", fmt::format("{} {}", req.method, req.path));
}

Response Gate::AuditRequest(const Request& req) {
  if (req.path == "/apis/strake.dev/v1/audit/verify") {
    AuditVerdict v = AuditLog::Verify(audit_.path());
    Json out = {{"ok", v.ok}, {"entries", v.entries}};
    if (!v.ok) out["problem"] = v.problem;
    return JsonResponse(200, out);
  }
  int64_t since = 0;
  if (req.query.count("since")) {
    const std::string& s = req.query.at("since");
    since = std::strtoll(s.c_str(), nullptr, 10);
    if (s.find('-') != std::string::npos) {
      auto t = ParseRfc3339(s);
      if (!t) return ErrorResponse(400, "BadRequest", "since: RFC 3339 time or Unix ms");
      since = UnixMillis(*t);
    }
  }
  size_t limit = 1000;
  if (req.query.count("limit")) limit = std::strtoull(req.query.at("limit").c_str(), nullptr, 10);
  auto entries = audit_.Read(since, limit);
  if (!entries) return ErrorResponse(entries.error());
  Json items = Json::array();
  for (auto& e : *entries) items.push_back(std::move(e));
  return JsonResponse(200, {{"items", items}});
}

}  // namespace strake::server
