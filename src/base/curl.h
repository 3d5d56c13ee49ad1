// Outgoing HTTP(S) through libcurl: the field's client, for calls to
// servers strake does not run (OCI registries, the analysis providers, the
// http promotion step; in time webhooks and notifications; issue 17). libcurl brings what
// those servers need: the system's CA store, HTTP/1.1 and HTTP/2, proxies
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as curl reads them), redirects to
// object storage where the caller allows them.
//
// Every connection obeys an EgressPolicy (base/egress.h): libcurl's
// open-socket hook sees each address it is about to connect to, the first
// and any a redirect leads to, and refuses one the policy does not allow, so
// a name that resolves somewhere private (or rebinds to it) is caught at
// the connect. Through a proxy the connection goes to the proxy (the
// operator's setting, allowed); the target host is then resolved here,
// checked, and the proxy is asked for a tunnel to that very address
// (CONNECT, pinned), so its own resolver cannot lead elsewhere. IPv4 only,
// as the policy is.
//
// Requests are bounded: a whole-call timeout, a body cap, http and https
// only. Errors name the method and the URL without its credentials and
// query (a signed URL's signature is one), never a header's value. Send is thread-safe (one curl
// handle per call).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/egress.h"
#include "base/net.h"
#include "base/result.h"

namespace strake::curl {

struct Request {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};
  size_t max_body = size_t{64} << 20;  // a longer body fails the call
  // How many redirects a GET or HEAD follows (to any host the policy
  // allows, never with this request's Authorization header to another
  // host); 0: a redirect is an answer like any other.
  int max_redirects = 0;
  bool same_host_redirects_only = false;  // a redirect to another host is the answer
  bool insecure_skip_tls_verify = false;
  std::string ca_file;  // PEM: the CAs trusted instead of the system's store
  // When set, the body of a 2xx answer goes to it as it arrives (and not
  // into Response::body); returning false aborts the call. max_body still
  // bounds it. Other answers' bodies are kept as usual.
  std::function<bool(std::string_view chunk)> on_body;
  // When non-zero, a transfer slower than 1 KiB/s for this long fails
  // (for long downloads, beside the whole-call timeout).
  std::chrono::seconds stall_timeout{0};
};

// status, headers (names as the server sent them) and body.
using Response = http::Response;

Result<Response> Send(const Request& req, const EgressPolicy& egress);

// A kubelet's httpGet probe of a process on this machine: GET
// http://127.0.0.1:PORT/PATH with `headers`; a success's body is read and
// dropped (only the status counts), no redirect followed (a 3xx is a
// success).
Request ProbeRequest(uint16_t port, const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout);

// One mail sent over SMTP (RFC 5321) to `host`:`port` (465: implicit TLS;
// otherwise STARTTLS when the server offers it, and required when a
// username is given, but to loopback), with AUTH when a username is given.
// The message is text/plain (html: text/html) UTF-8 in base64, with Date,
// From, To, Subject (its line breaks spaces; RFC 2047 encoded when not
// ASCII) and Message-ID `<message_id@strake>` (hex digits); an address with
// a space, bracket, comma or control character is refused. Connections
// obey the egress policy as HTTP's do.
struct Mail {
  std::string host;
  uint16_t port = 25;
  std::string username, password;
  std::string from;
  std::vector<std::string> to;
  std::string subject, body;
  bool html = false;
  std::string message_id;
  std::chrono::milliseconds timeout{30'000};
  bool insecure_skip_tls_verify = false;
};
Status SendMail(const Mail& mail, const EgressPolicy& egress);

// `url` for a message: without credentials and without its query (a signed
// URL's signature is a credential too).
std::string UrlForMessage(const std::string& url);

// The proxy curl would use for `url` given the environment's proxy
// variables (`https_proxy`/`HTTPS_PROXY` for https, `http_proxy` for http,
// `all_proxy`/`ALL_PROXY` for either; `no_proxy`/`NO_PROXY`: "*" or a comma
// list of host names, domain suffixes with or without a leading dot, and
// addresses): "" for none, and always for loopback (localhost,
// 127.0.0.0/8). `env` looks a variable up (getenv by default).
std::string ProxyFor(const std::string& url,
                     std::optional<std::string> (*env)(const char* name) = nullptr);

}  // namespace strake::curl
