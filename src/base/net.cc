#include "base/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/egress.h"
#include "base/http.h"
#include "base/strings.h"

namespace strake {

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

namespace {

Result<sockaddr_in> Address(const std::string& host, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (::inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    return Failf("bad IPv4 address {}", Quote(host));
  }
  return addr;
}

}  // namespace

Result<Listener> ListenTcp(const std::string& host, uint16_t port, int backlog) {
  auto addr = Address(host, port);
  if (!addr) return tl::unexpected(addr.error());
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Failf("socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    // The codes a caller tells apart: taken by another socket, or a port
    // below the unprivileged start without the capability to bind it.
    int err = errno;
    ErrorCode code = err == EADDRINUSE ? ErrorCode::kConflict
                     : err == EACCES   ? ErrorCode::kForbidden
                                       : ErrorCode::kUnknown;
    return Failf(code, "listen on {}:{}: {}", host, port, std::strerror(err));
  }
  if (::listen(fd.get(), backlog) != 0) {
    return Failf("listen on {}:{}: {}", host, port, std::strerror(errno));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  return Listener{std::move(fd), ntohs(bound.sin_port)};
}

Result<Fd> ConnectTcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                      const EgressPolicy* egress) {
  auto addr = ResolveTcp(host, port, egress);
  if (!addr) return tl::unexpected(addr.error());
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Failf("socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    if (errno != EINPROGRESS)
      return Failf("connect to {}:{}: {}", host, port, std::strerror(errno));
    pollfd p{fd.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n == 0) return Failf("connect to {}:{}: timed out", host, port);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Failf("connect to {}:{}: {}", host, port, std::strerror(err));
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

namespace {

// A socket address for `path`. A path longer than sun_path allows (deep data
// dirs) is reached through its directory, held open: /proc/self/fd/N/NAME.
struct UnixAddress {
  sockaddr_un addr{};
  Fd dir;

  static Result<UnixAddress> Of(const std::string& path) {
    UnixAddress u;
    u.addr.sun_family = AF_UNIX;
    std::string usable = path;
    if (path.size() >= sizeof u.addr.sun_path) {
      auto slash = path.rfind('/');
      std::string parent = slash == std::string::npos ? "." : path.substr(0, slash);
      u.dir = Fd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!u.dir) return Failf("{}: {}", parent, std::strerror(errno));
      usable = fmt::format("/proc/self/fd/{}/{}", u.dir.get(), path.substr(slash + 1));
    }
    if (usable.empty() || usable.size() >= sizeof u.addr.sun_path) {
      return Failf("unix socket path {}: empty or too long", Quote(path));
    }
    std::memcpy(u.addr.sun_path, usable.c_str(), usable.size() + 1);
    return u;
  }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

}  // namespace

Result<Listener> ListenUnix(const std::string& path, int backlog) {
  auto addr = UnixAddress::Of(path);
  if (!addr) return tl::unexpected(addr.error());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Failf("socket: {}", std::strerror(errno));
  ::unlink(path.c_str());
  // Created 0600 from the start: nobody else may connect in between.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), addr->get(), sizeof addr->addr);
  int bind_errno = errno;
  ::umask(old);
  if (rc != 0) return Failf("listen on {}: {}", path, std::strerror(bind_errno));
  if (::listen(fd.get(), backlog) != 0) {
    return Failf("listen on {}: {}", path, std::strerror(errno));
  }
  return Listener{std::move(fd), 0};
}

Result<Fd> ConnectUnix(const std::string& path) {
  auto addr = UnixAddress::Of(path);
  if (!addr) return tl::unexpected(addr.error());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Failf("socket: {}", std::strerror(errno));
  if (::connect(fd.get(), addr->get(), sizeof addr->addr) != 0) {
    return Failf("connect to {}: {}", path, std::strerror(errno));
  }
  return fd;
}

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, scheme + 3) + "<redacted>@" + url.substr(at + 1);
}

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  HttpUrl u;
  u.tls = StartsWith(url, "https://");
  if (!u.tls && !StartsWith(url, "http://"))
    return Failf("{}: not an http:// or https:// URL", Quote(url));
  if (u.tls) u.port = 443;
  std::string rest = url.substr(u.tls ? 8 : 7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.path = rest.substr(slash);
  size_t colon = hostport.rfind(':');
  u.host = hostport.substr(0, colon);
  if (colon != std::string::npos) {
    char* end = nullptr;
    long p = std::strtol(hostport.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) return Failf("{}: bad port", Quote(url));
    u.port = static_cast<uint16_t>(p);
  }
  if (u.host.empty()) return Failf("{}: no host", Quote(url));
  return u;
}

namespace http {

std::string Response::HeaderValue(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

namespace {

using Clock = std::chrono::steady_clock;

// Reads more bytes into buf before the deadline; false at EOF.
Result<bool> ReadMore(const Link& link, std::string& buf, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return Fail("timed out waiting for the response");
  if (!link.Pending()) {
    pollfd p{link.fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n == 0) return Fail("timed out waiting for the response");
  }
  char tmp[16384];
  long r = link.Recv(tmp, sizeof tmp);
  if (r < 0) return Failf("read: {}", std::strerror(errno));
  if (r == 0) return false;
  buf.append(tmp, static_cast<size_t>(r));
  return true;
}

}  // namespace

Result<Connection> Connection::Open(const std::string& host, uint16_t port,
                                    std::chrono::milliseconds timeout, const TlsContext* tls,
                                    const EgressPolicy* egress) {
  auto fd = ConnectTcp(host, port, timeout, egress);
  if (!fd) return tl::unexpected(fd.error());
  Connection c;
  c.fd_ = std::move(*fd);
  if (tls) {
    auto s = TlsSession::Connect(*tls, c.fd_.get(), host, timeout);
    if (!s) return tl::unexpected(s.error());
    c.tls_ = std::move(*s);
  }
  c.host_ = fmt::format("{}:{}", host, port);
  return c;
}

Result<Connection> Connection::OpenUnix(const std::string& path) {
  auto fd = ConnectUnix(path);
  if (!fd) return tl::unexpected(fd.error());
  Connection c;
  c.fd_ = std::move(*fd);
  c.host_ = "localhost";
  return c;
}

Result<Response> Connection::RoundTrip(const Request& req, std::chrono::milliseconds timeout) {
  if (!fd_) return Fail("connection is closed");
  auto deadline = Clock::now() + timeout;
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", req.method, req.target, host_);
  bool has_length = false;
  for (const auto& [k, v] : req.headers) {
    out += fmt::format("{}: {}\r\n", k, v);
    has_length = has_length || EqualsIgnoreCase(k, "content-length") ||
                 EqualsIgnoreCase(k, "transfer-encoding");
  }
  if (!has_length && (!req.body.empty() || req.method == "POST" || req.method == "PUT")) {
    out += fmt::format("Content-Length: {}\r\n", req.body.size());
  }
  out += "\r\n";
  out += req.body;
  if (!link().SendAll(out)) {
    Close();
    return Failf("write: {}", std::strerror(errno));
  }
  Head head;
  size_t head_len = 0;
  while (true) {
    auto parsed = ParseResponseHead(buf_, head);
    if (!parsed) {
      Close();
      return tl::unexpected(parsed.error());
    }
    head_len = *parsed;
    if (head_len > 0 && head.status >= 100 && head.status < 200 && head.status != 101) {
      buf_.erase(0, head_len);  // interim response: keep reading
      continue;
    }
    if (head_len > 0) break;
    if (buf_.size() > size_t{64} * 1024) return Fail("response head too large");
    auto more = ReadMore(link(), buf_, deadline);
    if (!more || !*more) {
      Close();
      return more ? Fail("connection closed before a response") : tl::unexpected(more.error());
    }
  }
  Response resp;
  resp.status = head.status;
  for (const auto& [k, v] : head.headers) resp.headers.emplace_back(k, v);
  bool keep_alive = head.keep_alive;
  std::string method = req.method;
  bool no_body = ResponseHasNoBody(method, head.status);
  int64_t length = head.content_length;
  bool chunked = head.chunked;
  buf_.erase(0, head_len);
  auto fail = [this](Error e) -> Result<Response> {
    Close();
    return tl::unexpected(std::move(e));
  };
  if (no_body) {
    // nothing to read
  } else if (chunked) {
    ChunkedScanner scan;
    std::string raw;
    while (true) {
      auto used = scan.Feed(buf_);
      if (!used) return fail(used.error());
      raw.append(buf_, 0, *used);
      buf_.erase(0, *used);
      if (scan.done()) break;
      if (raw.size() > kMaxBody) return fail(Error{"response body too large"});
      auto more = ReadMore(link(), buf_, deadline);
      if (!more) return fail(more.error());
      if (!*more) return fail(Error{"connection closed inside a chunked body"});
    }
    // Decode: size line, data, CRLF ... (the scanner has validated the framing).
    size_t i = 0;
    while (i < raw.size()) {
      size_t eol = raw.find("\r\n", i);
      uint64_t n = std::stoull(raw.substr(i, eol - i), nullptr, 16);
      i = eol + 2;
      if (n == 0) break;
      resp.body.append(raw, i, n);
      i += n + 2;
    }
  } else if (length >= 0) {
    if (static_cast<uint64_t>(length) > kMaxBody) return fail(Error{"response body too large"});
    while (buf_.size() < static_cast<size_t>(length)) {
      auto more = ReadMore(link(), buf_, deadline);
      if (!more) return fail(more.error());
      if (!*more) return fail(Error{"connection closed inside the body"});
    }
    resp.body = buf_.substr(0, static_cast<size_t>(length));
    buf_.erase(0, static_cast<size_t>(length));
  } else {
    while (true) {
      auto more = ReadMore(link(), buf_, deadline);
      if (!more) return fail(more.error());
      if (!*more) break;
      if (buf_.size() > kMaxBody) return fail(Error{"response body too large"});
    }
    resp.body = std::move(buf_);
    buf_.clear();
    keep_alive = false;
  }
  if (!keep_alive) Close();
  return resp;
}

Result<Response> Fetch(const std::string& host, uint16_t port, const Request& req,
                       std::chrono::milliseconds timeout, const TlsContext* tls,
                       const EgressPolicy* egress) {
  auto c = Connection::Open(host, port, timeout, tls, egress);
  if (!c) return tl::unexpected(c.error());
  return c->RoundTrip(req, timeout);
}

}  // namespace http
}  // namespace strake
