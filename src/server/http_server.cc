#include "server/http_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/http.h"
#include "base/log.h"
#include "base/strings.h"

namespace strake::server {

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (http::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

int HttpStatusOf(ErrorCode code, int fallback) {
  switch (code) {
    case ErrorCode::kUnknown:
      return fallback;
    case ErrorCode::kInvalid:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
  }
  return fallback;
}

Response ErrorResponse(const Error& e, int fallback) {
  int status = HttpStatusOf(e.code, fallback);
  const char* reason = e.code != ErrorCode::kUnknown ? ErrorCodeName(e.code)
                       : status == 409               ? "Conflict"
                       : status == 400               ? "BadRequest"
                                                     : "InternalError";
  return ErrorResponse(status, reason, e.message);
}

Response ErrorResponse(int status, const std::string& reason, const std::string& message) {
  Response r;
  r.status = status;
  r.body = nlohmann::json{{"kind", "Status"},
                          {"status", "Failure"},
                          {"reason", reason},
                          {"message", message},
                          {"code", status}}
               .dump() +
           "\n";
  return r;
}

Response JsonResponse(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

namespace {

class ChunkedStream : public Stream {
 public:
  explicit ChunkedStream(Link link) : link_(link) {}
  bool Write(std::string_view chunk) override {
    if (chunk.empty() || broken_) return !broken_;
    std::string out = fmt::format("{:x}\r\n", chunk.size());
    out.append(chunk);
    out += "\r\n";
    broken_ = !link_.SendAll(out);
    return !broken_;
  }
  bool broken() const { return broken_; }

 private:
  Link link_;
  bool broken_ = false;
};

void Answer(Link link, const Response& r, bool keep_alive) {
  // `Server: strake` tells the CLI it reached strake's API, not some other
  // server behind a wrong --server (an application's Service port).
  std::string head = fmt::format("HTTP/1.1 {} {}\r\nServer: strake\r\nContent-Type: {}\r\n",
                                 r.status, http::ReasonPhrase(r.status), r.content_type);
  for (const auto& [name, value] : r.headers)
    head.append(name).append(": ").append(value).append("\r\n");
  if (r.stream) {
    head += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
    if (!link.SendAll(head)) return;
    ChunkedStream s(link);
    r.stream(s);
    if (!s.broken()) link.SendAll("0\r\n\r\n");
    return;
  }
  head += fmt::format("Content-Length: {}\r\nConnection: {}\r\n\r\n", r.body.size(),
                      keep_alive ? "keep-alive" : "close");
  link.SendAll(head + r.body);
}

}  // namespace

HttpServer::HttpServer(Handler handler, HttpServerOptions options)
    : handler_(std::move(handler)), options_(options) {}

HttpServer::~HttpServer() { Stop(); }

Result<uint16_t> HttpServer::Listen(const std::string& host, uint16_t port) {
  auto l = ListenTcp(host, port, 128);
  if (!l) return tl::unexpected(l.error());
  listener_ = std::move(l->fd);
  return l->port;
}

Status HttpServer::ListenUnix(const std::string& path) {
  auto l = strake::ListenUnix(path);
  if (!l) return tl::unexpected(l.error());
  listener_ = std::move(l->fd);
  return Ok();
}

void HttpServer::Start() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& [fd, c] : conns_) ::shutdown(fd, SHUT_RDWR);
  idle_cv_.wait(lock, [this] { return active_ == 0; });
  lock.unlock();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void HttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents) break;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (!MakeRoomLocked()) {
      if (!tls_)
        Answer({fd}, ErrorResponse(503, "ServiceUnavailable", "too many connections"), false);
      ::close(fd);
      continue;
    }
    ++active_;
    conns_[fd] = Conn{std::chrono::steady_clock::now()};
    // Detached: a finished connection frees its thread at once; Stop waits
    // for active_ to reach zero.
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

bool HttpServer::MakeRoomLocked() {
  size_t open = 0;
  size_t strangers = 0;
  Conn* oldest = nullptr;
  for (auto& [fd, c] : conns_) {
    if (c.evicted) continue;
    ++open;
    if (c.authenticated) continue;
    ++strangers;
    if (c.waiting && (!oldest || c.since < oldest->since)) oldest = &c;
  }
  if (strangers < options_.max_unauthenticated && open < options_.max_connections) return true;
  // Full: the stranger that has waited longest for a request head makes
  // room (a busy or authenticated connection is never cut).
  if (!oldest) return false;
  oldest->evicted = true;
  for (const auto& [fd, c] : conns_) {
    if (&c == oldest) ::shutdown(fd, SHUT_RDWR);
  }
  return true;
}

void HttpServer::MarkLocked(int fd, bool waiting, bool authenticated) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  if (waiting && !it->second.waiting) it->second.since = std::chrono::steady_clock::now();
  it->second.waiting = waiting;
  it->second.authenticated = it->second.authenticated || authenticated;
}

bool HttpServer::Fill(const Link& link, std::string& buf,
                      std::chrono::steady_clock::time_point deadline) {
  if (!link.Pending()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{link.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  }
  char tmp[16384];
  long r = link.Recv(tmp, sizeof tmp);
  if (r <= 0) return false;
  buf.append(tmp, static_cast<size_t>(r));
  return true;
}

std::optional<size_t> HttpServer::ReadHead(const Link& link, std::string& buf, http::Head& head,
                                           bool authenticated) {
  using std::chrono::steady_clock;
  // Waiting for a request: an authenticated keep-alive connection may idle;
  // anyone else must send a whole head soon. Once a head has begun it must
  // be whole within head_timeout (no slow drip).
  auto deadline = steady_clock::now() +
                  (authenticated && buf.empty() ? options_.idle_timeout : options_.head_timeout);
  bool began = !buf.empty();
  for (;;) {
    auto parsed = http::ParseRequestHead(buf, head);
    if (!parsed) {
      Answer(link, ErrorResponse(400, "BadRequest", parsed.error().message), false);
      return std::nullopt;
    }
    if (*parsed > 0) return *parsed;
    if (buf.size() > options_.max_header) {
      Answer(link, ErrorResponse(431, "RequestHeaderFieldsTooLarge", "request head too large"),
             false);
      return std::nullopt;
    }
    if (!Fill(link, buf, deadline)) return std::nullopt;
    // A TLS ClientHello (a record of type 22) on the plain API: an https://
    // URL for an http server. Closed at once, so that the client fails its
    // handshake now rather than after the head timeout.
    if (!tls_ && buf[0] == '\x16') return std::nullopt;
    if (!began) {
      began = true;
      deadline = steady_clock::now() + options_.head_timeout;
      std::lock_guard<std::mutex> lock(mu_);
      MarkLocked(link.fd, false, false);
    }
  }
}

Request MakeRequest(std::string_view method, std::string_view target_view) {
  Request req;
  req.method = std::string(method);
  std::string target(target_view);
  size_t q = target.find('?');
  req.path = http::UrlDecode(target.substr(0, q));
  if (q != std::string::npos) {
    for (const auto& kv : Split(target.substr(q + 1), '&')) {
      size_t eq = kv.find('=');
      std::string key = http::UrlDecode(kv.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : http::UrlDecode(kv.substr(eq + 1));
      req.query[key] = value;
      req.query_list.emplace_back(std::move(key), std::move(value));
    }
  }
  return req;
}

namespace {

Request RequestOf(const http::Head& head) {
  Request req = MakeRequest(head.method, head.target);
  for (const auto& [k, v] : head.headers) req.headers.emplace_back(k, v);
  return req;
}

}  // namespace

void HttpServer::Serve(int fd) {
  std::unique_ptr<TlsSession> session;
  if (tls_) {
    auto s = TlsSession::Accept(*tls_, fd, std::chrono::seconds(10));
    if (s) session = std::move(*s);
  }
  Link link{fd, session.get()};
  std::string buf;
  bool authenticated = false;
  while (!stopping_ && (!tls_ || session)) {
    http::Head head;
    auto head_size = ReadHead(link, buf, head, authenticated);
    if (!head_size) break;
    Request req = RequestOf(head);
    if (head.chunked) {
      Answer(link, ErrorResponse(411, "LengthRequired", "send the body with a Content-Length"),
             false);
      break;
    }
    if (head.content_length > 0 && static_cast<size_t>(head.content_length) > options_.max_body) {
      // Refused before reading it: a 2 GB body costs nothing.
      Answer(link,
             ErrorResponse(413, "RequestEntityTooLarge",
                           fmt::format("request body of {} bytes is over the {} byte limit",
                                       head.content_length, options_.max_body)),
             false);
      break;
    }
    size_t need = *head_size + static_cast<size_t>(std::max<int64_t>(head.content_length, 0));
    bool complete = true;
    while (complete && buf.size() < need)
      complete = Fill(link, buf, std::chrono::steady_clock::now() + options_.idle_timeout);
    if (!complete) break;
    req.body = buf.substr(*head_size, need - *head_size);
    buf.erase(0, need);
    Response resp;
    try {
      resp = handler_(req);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "api: {} {}: {}", req.method, req.path, e.what());
      resp = ErrorResponse(500, "InternalError", e.what());
    }
    authenticated = authenticated || resp.authenticated;
    {
      std::lock_guard<std::mutex> lock(mu_);
      MarkLocked(fd, !resp.stream, authenticated);
    }
    Answer(link, resp, head.keep_alive && !resp.stream);
    if (!head.keep_alive || resp.stream) break;
  }
  session.reset();  // the TLS close_notify, before the socket goes
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(fd);
  ::close(fd);
  if (--active_ == 0) idle_cv_.notify_all();
}

}  // namespace strake::server
