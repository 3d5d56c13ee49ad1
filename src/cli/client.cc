#include "cli/client.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "base/curl.h"
#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"

namespace strake::cli {

namespace {

std::string RecordPath(const std::string& data_dir) { return PathJoin(data_dir, "server.json"); }

// The record's {"url", "pid"}, or null when there is none to read.
Json ReadRecord(const std::string& data_dir) {
  auto text = ReadFile(RecordPath(data_dir), 4096);
  Json record = text ? Json::parse(*text, nullptr, false) : Json();
  if (!record.is_object() || !record.contains("pid") || !record["pid"].is_number_integer() ||
      !record.contains("url") || !record["url"].is_string()) {
    return Json();
  }
  return record;
}

// An answer of 400 or more as an Error with its code and the server's message.
Result<Answer> Checked(Answer a) {
  if (a.status < 400) return a;
  std::string message = a.body.is_object() ? a.body.value("message", a.text) : a.text;
  std::string reason = a.body.is_object() ? a.body.value("reason", "") : "";
  return Fail(CodeOfStatus(a.status, reason), message);
}

}  // namespace

void AddServerFlags(CLI::App* c, Context& ctx) {
  c->add_option("--server", ctx.server,
                fmt::format("strake server URL (default $STRAKE_SERVER, else the server of the "
                            "data directory, else {})",
                            kDefaultServer));
  c->add_option("--token", ctx.token, "API token (default $STRAKE_TOKEN)");
  c->add_option("--ca-cert", ctx.ca_cert,
                "CA certificate (PEM) of an https server (default $STRAKE_CA_CERT, else the "
                "system's)");
  c->add_flag("--insecure-skip-tls-verify", ctx.insecure,
              "accept any certificate from an https server (testing only)");
}

void AddApiFlags(CLI::App* c, Context& ctx) {
  AddServerFlags(c, ctx);
  c->add_option("-n,--namespace", ctx.ns, "namespace (default: default)");
}

Client::Client(const Context& ctx, NoServer none)
    : server_(ctx.server),
      token_(ctx.token),
      ca_cert_(ctx.ca_cert),
      insecure_(ctx.insecure),
      local_api_(ctx.local_api) {
  if (server_.empty()) {
    if (const char* s = std::getenv("STRAKE_SERVER"); s && *s) server_ = s;
  }
  if (server_.empty()) server_ = RecordedServer(ctx.data_dir);
  if (server_.empty() && none == NoServer::kDataDirectory && local_api_) data_dir_ = ctx.data_dir;
  if (server_.empty() && data_dir_.empty()) server_ = kDefaultServer;
  if (token_.empty()) {
    if (const char* t = std::getenv("STRAKE_TOKEN"); t) token_ = t;
  }
  if (ca_cert_.empty()) {
    if (const char* c = std::getenv("STRAKE_CA_CERT"); c) ca_cert_ = c;
  }
}

Client::~Client() = default;

Result<Answer> Client::Call(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& content_type) {
  if (!data_dir_.empty()) return InProcess(method, path, body, content_type);
  return Remote(method, path, body, content_type);
}

Result<Answer> Client::Remote(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type) {
  auto url = ParseHttpUrl(server_);
  if (!url) return tl::unexpected(url.error());
  // libcurl, as every call to a server beyond this process: the system's
  // CAs (or --ca-cert), HTTPS_PROXY and NO_PROXY as curl reads them.
  curl::Request req;
  req.method = method;
  req.url = fmt::format("{}://{}:{}{}{}", url->tls ? "https" : "http", url->host, url->port,
                        url->path == "/" ? "" : url->path, path);
  req.body = body;
  req.max_body = size_t{1} << 30;
  req.ca_file = ca_cert_;
  req.insecure_skip_tls_verify = insecure_;
  if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  // The user's own call: to whatever address the user named.
  auto resp = curl::Send(req, EgressPolicy::Open());
  if (!resp) {
    const std::string& why = resp.error().message;
    return Failf(ErrorCode::kUnavailable,
                 "cannot reach the strake server at {}: {}{} (start one with `strake serve`, or "
                 "set --server / STRAKE_SERVER)",
                 server_, why,
                 why.find("certificate is not trusted") != std::string::npos
                     ? "; give its CA with --ca-cert or STRAKE_CA_CERT"
                 : url->tls ? "; if it serves plain HTTP, its URL starts http://"
                            : "");
  }
  Json parsed = Json::parse(resp->body, nullptr, false);
  if (!StartsWith(resp->HeaderValue("server"), "strake") && !parsed.is_object() &&
      !StartsWith(resp->HeaderValue("content-type"), "text/plain")) {
    std::string start = resp->body.substr(0, 60);
    for (char& ch : start) ch = ch == '\n' || ch == '\r' ? ' ' : ch;
    return Failf(ErrorCode::kUnavailable,
                 "{} is not a strake server: it answered HTTP {} ({}) with {} (--server / "
                 "STRAKE_SERVER names the address of `strake serve`'s API)",
                 server_, resp->status, resp->HeaderValue("content-type"), Quote(start));
  }
  Answer answer{resp->status, std::move(parsed), resp->body};
  answer.unchanged = resp->HeaderValue("strake-result") == "unchanged";
  return Checked(std::move(answer));
}

Result<Answer> Client::InProcess(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& content_type) {
  if (!api_) {
    STRAKE_TRY_ASSIGN(opened, local_api_(data_dir_));
    api_ = std::move(opened);
  }
  STRAKE_TRY_ASSIGN(answer, api_->Call(method, path, body, content_type));
  answer.body = Json::parse(answer.text, nullptr, false);
  return Checked(std::move(answer));
}

NoServer NoServerFor(const model::KindInfo& k) {
  return StartsWith(k.api_version, "tekton.dev/") ? NoServer::kDataDirectory
                                                  : NoServer::kDefaultAddress;
}

ErrorCode CodeOfStatus(int status, std::string_view reason) {
  switch (status) {
    case 400:
    case 422:
      return ErrorCode::kInvalid;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? ErrorCode::kAlreadyExists : ErrorCode::kConflict;
    case 413:
      return ErrorCode::kTooLarge;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kUnknown;
  }
}

Result<const model::KindInfo*> ServedKind(std::string_view name) {
  const model::KindInfo* k = model::KindByName(name);
  if (!k) {
    return Failf(ErrorCode::kInvalid, "unknown kind {}{}", Quote(name),
                 DidYouMean(name, model::KindNames()));
  }
  if (!k->served) return Failf(ErrorCode::kInvalid, "{}s are not served by the API", k->kind);
  return k;
}

bool LearnCustomKinds(const Context& ctx) {
  Client c(ctx, NoServer::kDefaultAddress);
  auto a = c.Call("GET", Collection(*model::KindByName("customresourcedefinitions"), ""));
  if (!a || !a->body.is_object() || !a->body.contains("items") || !a->body["items"].is_array())
    return false;
  std::vector<model::KindInfo> kinds;
  for (const auto& crd : a->body["items"]) {
    if (auto k = model::KindFromCrd(crd)) kinds.push_back(std::move(*k));
  }
  if (kinds.empty()) return false;
  model::SetCustomKinds(kinds);
  return true;
}

std::string Collection(const model::KindInfo& k, const std::string& ns) {
  std::string base = k.api_version == "v1" ? "/api/v1" : "/apis/" + k.api_version;
  if (!k.namespaced) return fmt::format("{}/{}", base, k.plural);
  return fmt::format("{}/namespaces/{}/{}", base, ns, k.plural);
}

Status RecordServer(const std::string& data_dir, const std::string& url) {
  Json record = {{"url", url}, {"pid", ::getpid()}};
  return WriteFileAtomic(RecordPath(data_dir), record.dump() + "\n", 0600);
}

void ForgetServer(const std::string& data_dir) {
  Json record = ReadRecord(data_dir);
  // Only this process's record: another server may have started since.
  if (!record.is_null() && record["pid"].get<int64_t>() == ::getpid()) {
    (void)RemoveAll(RecordPath(data_dir));
  }
}

std::string RecordedServer(const std::string& data_dir) {
  Json record = ReadRecord(data_dir);
  if (record.is_null()) return "";
  auto pid = record["pid"].get<int64_t>();
  // A server killed with -9 leaves its record behind.
  if (pid <= 0 || pid > INT32_MAX || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) {
    return "";
  }
  return record["url"].get<std::string>();
}

}  // namespace strake::cli
