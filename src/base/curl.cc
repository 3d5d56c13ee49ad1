#include "base/curl.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::curl {
namespace {

struct UrlParts {
  std::string scheme;
  std::string host;
  uint16_t port = 0;
};

Result<UrlParts> PartsOf(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return Fail(ErrorCode::kInvalid, fmt::format("not a URL: {}", UrlForMessage(url)));
  }
  auto part = [&](CURLUPart p, unsigned flags = 0) {
    char* v = nullptr;
    std::string out;
    if (curl_url_get(u.get(), p, &v, flags) == CURLUE_OK && v) out = v;
    curl_free(v);
    return out;
  };
  UrlParts out{ToLower(part(CURLUPART_SCHEME)), ToLower(part(CURLUPART_HOST)), 0};
  if (out.scheme != "http" && out.scheme != "https") {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: only http and https", UrlForMessage(url)));
  }
  out.port = static_cast<uint16_t>(std::atoi(part(CURLUPART_PORT, CURLU_DEFAULT_PORT).c_str()));
  if (out.host.size() > 2 && out.host.front() == '[') {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: IPv6 hosts are not supported", UrlForMessage(url)));
  }
  return out;
}

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

bool NoProxyMatches(const std::string& list, const std::string& host) {
  for (const std::string& item : Split(list, ',')) {
    std::string pattern = ToLower(Trim(item));
    if (pattern.empty()) continue;
    if (pattern == "*") return true;
    if (pattern.front() == '.') pattern.erase(0, 1);
    if (auto colon = pattern.rfind(':'); colon != std::string::npos && pattern.find(':') == colon) {
      pattern.erase(colon);  // host:port: curl matches the host
    }
    if (host == pattern) return true;
    if (host.size() > pattern.size() && host.ends_with(pattern) &&
        host[host.size() - pattern.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What the open-socket hook checks against, and what it refused.
struct SocketGate {
  const EgressPolicy* egress = nullptr;
  std::string host;                   // for the refusal's words
  std::vector<uint32_t> proxy_addrs;  // network byte order: always allowed
  std::string refusal;
};

curl_socket_t OpenSocket(void* clientp, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* gate = static_cast<SocketGate*>(clientp);
  if (address->family != AF_INET) {
    gate->refusal = fmt::format("{}: only IPv4 addresses are allowed", gate->host);
    return CURL_SOCKET_BAD;
  }
  sockaddr_in sin{};
  std::memcpy(&sin, &address->addr, std::min<size_t>(sizeof(sin), address->addrlen));
  bool proxy = std::find(gate->proxy_addrs.begin(), gate->proxy_addrs.end(), sin.sin_addr.s_addr) !=
               gate->proxy_addrs.end();
  if (!proxy) {
    if (auto ok = gate->egress->CheckAddress(gate->host, sin.sin_addr); !ok) {
      gate->refusal = ok.error().message;
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

struct Sink {
  Response* response;
  size_t max_body;
  CURL* handle = nullptr;
  const std::function<bool(std::string_view)>* on_body = nullptr;
  size_t streamed = 0;
  bool too_long = false;
  bool refused = false;  // on_body said stop
};

size_t WriteBody(char* data, size_t size, size_t n, void* userp) {
  auto* sink = static_cast<Sink*>(userp);
  size_t len = size * n;
  if (sink->on_body && *sink->on_body) {
    long status = 0;
    curl_easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (sink->streamed + len > sink->max_body) {
        sink->too_long = true;
        return 0;
      }
      sink->streamed += len;
      if (!(*sink->on_body)(std::string_view(data, len))) {
        sink->refused = true;
        return 0;
      }
      return len;
    }
  }
  if (sink->response->body.size() + len > sink->max_body) {
    sink->too_long = true;
    return 0;  // aborts the transfer
  }
  sink->response->body.append(data, len);
  return len;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* userp) {
  auto* response = static_cast<Response*>(userp);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a 100 Continue or a proxy's CONNECT answer came first
    return line.size();
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  response->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                 std::string(Trim(line.substr(colon + 1))));
  return line.size();
}

using Handle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using Headers = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// One request to `url`, no redirect followed. `redirect` gets the absolute
// URL a 3xx answer points to.
Result<Response> SendOnce(const Request& req, const std::string& url, bool with_auth,
                          const EgressPolicy& egress, std::chrono::milliseconds timeout,
                          std::string& redirect) {
  STRAKE_TRY_ASSIGN(parts, PartsOf(url));
  SocketGate gate{&egress, parts.host, {}, {}};
  std::string proxy = ProxyFor(url);
  if (!proxy.empty()) {
    STRAKE_TRY_ASSIGN(proxy_parts,
                      PartsOf(proxy.find("://") == std::string::npos ? "http://" + proxy : proxy));
    STRAKE_TRY_ASSIGN(proxy_addr, ResolveTcp(proxy_parts.host, proxy_parts.port));
    gate.proxy_addrs.push_back(proxy_addr.sin_addr.s_addr);
  }
  Handle h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return Fail("curl_easy_init failed");
  CURL* c = h.get();
  Response response;
  Sink sink{&response, req.max_body, c, &req.on_body};
  Headers headers(nullptr, curl_slist_free_all);
  auto add_header = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  for (const auto& [k, v] : req.headers) {
    // A name is an RFC 9110 token and a value holds no line break: no
    // header or request is smuggled in through either.
    bool token = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char ch) {
      return std::isalnum(ch) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) !=
                                     std::string_view::npos;
    });
    if (!token || v.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("header {}: a name must be a token and a value one line", Quote(k)));
    }
    if (!with_auth && http::EqualsIgnoreCase(k, "Authorization")) continue;
    std::string line = k;
    line += v.empty() ? ";" : ": ";  // curl drops "Name:" with nothing after it
    line += v;
    add_header(line);
  }
  add_header("Expect:");  // no 100-continue round trip
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), 10'000)));
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &gate);
  curl_easy_setopt(c, CURLOPT_PROXY, proxy.c_str());  // "" = none, whatever the environment says
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "strake");
  if (req.stall_timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.stall_timeout.count()));
  }
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  if (req.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET" || !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());  // a GET with a body stays GET
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  curl_slist* pin = nullptr;
  // With every address allowed (the CLI's own calls) the proxy may choose:
  // plain HTTP goes through it as curl sends it.
  const bool tunnel = !proxy.empty() && !egress.allows_all();
  if (tunnel && parts.scheme != "https") {
    // Plain HTTP through a proxy lets the proxy choose the address; a tunnel
    // to port 80 is refused by most proxies. Refused, with the reason.
    return Fail(ErrorCode::kForbidden,
                fmt::format("{} {}: plain http through a proxy is refused (the proxy would pick "
                            "the address past the egress policy); use https or NO_PROXY",
                            req.method, UrlForMessage(url)));
  }
  if (tunnel) {
    // The proxy connects where this process checked, not where its own
    // resolver says (rebinding): a tunnel, pinned to the checked address.
    STRAKE_TRY_ASSIGN(target, ResolveTcp(parts.host, parts.port, &egress));
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &target.sin_addr, ip, sizeof ip);
    pin = curl_slist_append(
        nullptr, fmt::format("{}:{}:{}:{}", parts.host, parts.port, ip, parts.port).c_str());
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, pin);
    curl_easy_setopt(c, CURLOPT_HTTPPROXYTUNNEL, 1L);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(pin);
  std::string where = fmt::format("{} {}", req.method, UrlForMessage(url));
  if (!gate.refusal.empty()) return Fail(ErrorCode::kForbidden, where + ": " + gate.refusal);
  if (sink.refused) return Fail(where + ": the download was stopped");
  if (sink.too_long) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: the answer is longer than {} bytes", where, req.max_body));
  }
  if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{}: the server's certificate is not trusted: {}", where,
                            *error ? error : curl_easy_strerror(rc)));
  }
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{}: {}", where, *error ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  char* location = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location) {
    redirect = location;
  }
  return response;
}

// An address as a mail's envelope takes it: no spaces, brackets, commas
// or control characters (nothing that would add an SMTP parameter).
bool MailAddress(const std::string& a) {
  const size_t at = a.find('@');
  return !a.empty() && a.size() <= 254 && at != std::string::npos && at > 0 && at + 1 < a.size() &&
         std::none_of(a.begin(), a.end(), [](char c) {
           return static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == ',' ||
                  c == '(' || c == ')' || c == '"' || c == '\\' || c == 0x7f;
         });
}

// The text of `m` as an SMTP upload: headers, a blank line, the body in
// base64 (no line is too long, none starts with a dot).
Result<std::string> MailText(const Mail& m) {
  for (const std::string* a : {&m.from}) {
    if (!MailAddress(*a))
      return Failf(ErrorCode::kInvalid, "from: {} is not an address", Quote(*a));
  }
  for (const auto& t : m.to) {
    if (!MailAddress(t)) return Failf(ErrorCode::kInvalid, "to: {} is not an address", Quote(t));
  }
  if (m.message_id.find_first_not_of("0123456789abcdefABCDEF-.") != std::string::npos)
    return Fail(ErrorCode::kInvalid, "a Message-ID of other than hex digits");
  // A subject's line breaks (a YAML block, a rendered field) are spaces.
  std::string subject = m.subject;
  for (char& c : subject)
    if (c == '\r' || c == '\n') c = ' ';
  const bool ascii = std::all_of(subject.begin(), subject.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  char date[64] = {};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string text = fmt::format(
      "Date: {}\r\nFrom: {}\r\nTo: {}\r\nMessage-ID: <{}@strake>\r\nSubject: {}\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/{}; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n",
      date, m.from, Join(m.to, ", "), m.message_id,
      ascii ? subject : "=?UTF-8?B?" + Base64Encode(subject) + "?=", m.html ? "html" : "plain");
  const std::string body = Base64Encode(m.body);
  for (size_t i = 0; i < body.size(); i += 76) text += body.substr(i, 76) + "\r\n";
  return text;
}

struct Upload {
  std::string_view left;
};

bool IsLoopbackHostName(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

size_t ReadUpload(char* buffer, size_t size, size_t n, void* userp) {
  auto* up = static_cast<Upload*>(userp);
  const size_t len = std::min(size * n, up->left.size());
  std::memcpy(buffer, up->left.data(), len);
  up->left.remove_prefix(len);
  return len;
}

}  // namespace

Status SendMail(const Mail& m, const EgressPolicy& egress) {
  GlobalInit();
  if (m.to.empty()) return Fail(ErrorCode::kInvalid, "a mail needs a recipient");
  STRAKE_TRY_ASSIGN(text, MailText(m));
  const std::string url =
      fmt::format("{}://{}:{}", m.port == 465 ? "smtps" : "smtp", m.host, m.port);
  SocketGate gate{&egress, m.host, {}, {}};
  Handle h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return Fail("curl_easy_init failed");
  CURL* c = h.get();
  Headers rcpt(nullptr, curl_slist_free_all);
  for (const auto& t : m.to) {
    curl_slist* next = curl_slist_append(rcpt.get(), ("<" + t + ">").c_str());
    if (next) {
      (void)rcpt.release();
      rcpt.reset(next);
    }
  }
  Upload up{text};
  char error[CURL_ERROR_SIZE] = {};
  const std::string from = "<" + m.from + ">";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(m.timeout.count()));
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &gate);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  // Credentials go only over TLS, but to this machine (as Go's
  // smtp.PlainAuth, which Argo CD's mailer uses).
  const bool must_tls = !m.username.empty() && !IsLoopbackHostName(m.host);
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   static_cast<long>(must_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  if (!m.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, m.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, m.password.c_str());
  }
  if (m.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(c);
  const std::string where = fmt::format("SMTP {}:{}", m.host, m.port);
  if (!gate.refusal.empty()) return Fail(ErrorCode::kForbidden, where + ": " + gate.refusal);
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{}: {}", where, *error ? error : curl_easy_strerror(rc)));
  }
  return Ok();
}

Request ProbeRequest(uint16_t port, const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout) {
  Request req;
  req.url = fmt::format("http://127.0.0.1:{}{}{}", port, StartsWith(path, "/") ? "" : "/", path);
  req.headers = headers;
  req.timeout = timeout;
  req.on_body = [](std::string_view) { return true; };
  return req;
}

std::string UrlForMessage(const std::string& url) {
  std::string out = RedactUrl(url);
  return out.substr(0, out.find_first_of("?#"));
}

std::string ProxyFor(const std::string& url, std::optional<std::string> (*env)(const char*)) {
  if (!env) env = GetEnv;
  auto parts = PartsOf(url);
  if (!parts) return "";
  auto first = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* n : names) {
      if (auto v = env(n)) return *v;
    }
    return "";
  };
  // This machine itself never through a proxy (as Go's ProxyFromEnvironment):
  // the CLI's own server, a probe, a registry on loopback.
  in_addr v4{};
  if (parts->host == "localhost" ||
      (inet_pton(AF_INET, parts->host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127))
    return "";
  if (NoProxyMatches(first({"no_proxy", "NO_PROXY"}), parts->host)) return "";
  // curl reads http_proxy in lower case only (an upper-case HTTP_PROXY can
  // come from a CGI request's Proxy: header, "httpoxy").
  std::string proxy =
      parts->scheme == "https" ? first({"https_proxy", "HTTPS_PROXY"}) : first({"http_proxy"});
  if (proxy.empty()) proxy = first({"all_proxy", "ALL_PROXY"});
  return proxy;
}

Result<Response> Send(const Request& req, const EgressPolicy& egress) {
  GlobalInit();
  auto deadline = std::chrono::steady_clock::now() + req.timeout;
  std::string url = req.url;
  STRAKE_TRY_ASSIGN(first, PartsOf(url));
  for (int hop = 0;; ++hop) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("{} {}: timed out", req.method, UrlForMessage(req.url)));
    }
    STRAKE_TRY_ASSIGN(parts, PartsOf(url));
    // Credentials go only where the caller sent them.
    bool with_auth =
        parts.host == first.host && parts.port == first.port && parts.scheme == first.scheme;
    std::string redirect;
    STRAKE_TRY_ASSIGN(response, SendOnce(req, url, with_auth, egress, left, redirect));
    bool redirected = response.status >= 300 && response.status < 400 && !redirect.empty() &&
                      (req.method == "GET" || req.method == "HEAD");
    if (!redirected || hop >= req.max_redirects) return response;
    if (req.same_host_redirects_only) {
      auto next = PartsOf(redirect);
      if (!next || next->host != first.host || next->port != first.port ||
          next->scheme != first.scheme) {
        return response;
      }
    }
    url = redirect;
  }
}

}  // namespace strake::curl
