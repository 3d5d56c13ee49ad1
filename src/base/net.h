// TCP sockets on IPv4 and a small blocking HTTP/1.1 client.
//
// The client is for strake's own calls (tests, metric providers, the CLI
// talking to a server): one request at a time on a keep-alive connection,
// every call bounded by a timeout, bodies capped. A HttpConnection is not
// thread-safe; use one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "base/tls.h"

namespace strake {

class EgressPolicy;

struct Listener {
  Fd fd;
  uint16_t port = 0;  // the bound port (the kernel's choice when 0 was asked)
};

// Binds and listens on host:port (port 0: any free port). Non-blocking,
// close-on-exec, SO_REUSEADDR. "address already in use" names the port;
// its code is kConflict, and kForbidden for a port the process may not bind.
Result<Listener> ListenTcp(const std::string& host, uint16_t port, int backlog = 1024);

// Connects with a timeout; the returned socket is blocking, TCP_NODELAY.
// With `egress`, the address host resolves to must be one it allows.
Result<Fd> ConnectTcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                      const EgressPolicy* egress = nullptr);

// A Unix stream socket at `path`, mode 0600 (a stale socket file is
// replaced). Non-blocking, close-on-exec. Listener::port is 0.
Result<Listener> ListenUnix(const std::string& path, int backlog = 128);

// Connects to the Unix socket at `path`; the returned socket is blocking.
Result<Fd> ConnectUnix(const std::string& path);

void SetNonBlocking(int fd);

struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path = "/";  // with the query, if any
  bool tls = false;        // https://
};

// Parses "http://host[:port][/path]" or "https://..." (port 443 by default).
Result<HttpUrl> ParseHttpUrl(const std::string& url);

// The URL with any user:password@ replaced by "<redacted>@", for messages:
// "https://bob:pw@host/x.git" -> "https://<redacted>@host/x.git".
std::string RedactUrl(const std::string& url);

namespace http {

struct Request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string HeaderValue(std::string_view name) const;  // "" if absent
};

class Connection {
 public:
  static constexpr size_t kMaxBody = size_t{64} << 20;

  // Over TLS when `tls` is given (the server's certificate checked against
  // `host`); to an address `egress` allows when it is given.
  static Result<Connection> Open(const std::string& host, uint16_t port,
                                 std::chrono::milliseconds timeout, const TlsContext* tls = nullptr,
                                 const EgressPolicy* egress = nullptr);
  // A connection to an HTTP server on a Unix socket (Host: localhost).
  static Result<Connection> OpenUnix(const std::string& path);
  // Sends the request (Host and Content-Length added) and reads the whole
  // response. After an error or a response with Connection: close the
  // connection is unusable.
  Result<Response> RoundTrip(const Request& req, std::chrono::milliseconds timeout);

 private:
  Link link() const { return {fd_.get(), tls_.get()}; }
  void Close() {
    tls_.reset();
    fd_ = Fd();
  }
  Fd fd_;
  std::unique_ptr<TlsSession> tls_;
  std::string host_;
  std::string buf_;  // bytes read past the previous response
};

// One request on a fresh connection. Redirects are answers like any other:
// never followed.
Result<Response> Fetch(const std::string& host, uint16_t port, const Request& req,
                       std::chrono::milliseconds timeout, const TlsContext* tls = nullptr,
                       const EgressPolicy* egress = nullptr);

}  // namespace http
}  // namespace strake
