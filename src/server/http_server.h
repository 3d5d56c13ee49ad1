// HttpServer: the API's HTTP/1.1 server.
//
// A thread per connection (API traffic is a few clients and long-lived
// watch streams, not the data path, which is the router's), keep-alive,
// bodies capped while reading (413 past max_body, before the body is read),
// request heads capped (431), idle connections closed after a timeout, and
// at most max_connections at once (503 past that). A handler answers with a
// Response or streams one (chunked) until it returns or the client leaves.
// One catch per connection thread: a handler that throws answers 500.
//
// Start/Stop are not thread-safe with each other; handlers run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "base/tls.h"

namespace strake::server {

struct Request {
  std::string method;
  std::string path;                          // decoded, without the query
  std::map<std::string, std::string> query;  // decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(std::string_view name) const;
};

// Writes one chunk of a streamed response; false once the client is gone.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual bool Write(std::string_view chunk) = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the response is streamed: the server sends the head and calls
  // this with the connection until it returns.
  std::function<void(Stream&)> stream;
};

using Handler = std::function<Response(const Request&)>;

struct HttpServerOptions {
  size_t max_body = size_t{8} << 20;
  size_t max_header = size_t{64} << 10;
  size_t max_connections = 256;
  std::chrono::milliseconds idle_timeout{120'000};
};

class HttpServer {
 public:
  HttpServer(Handler handler, HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (0: any); returns the port.
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  // Binds a Unix socket at `path` (mode 0600) instead.
  Status ListenUnix(const std::string& path);
  // Serves HTTPS: every connection starts with a TLS handshake (at most 10 s).
  void EnableTls(std::shared_ptr<TlsContext> tls) { tls_ = std::move(tls); }
  void Start();
  // Stops accepting, closes every connection (streams end) and joins.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  HttpServerOptions options_;
  std::shared_ptr<TlsContext> tls_;
  Fd listener_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::set<int> open_fds_;
  size_t active_ = 0;
};

// A JSON error body: {"kind":"Status","status":"Failure","reason":..,"message":..,"code":..}.
Response ErrorResponse(int status, const std::string& reason, const std::string& message);

// The one mapping of error codes to HTTP: the status of `code` (an
// unclassified error is `fallback`), and a Status answer for `e` with it.
int HttpStatusOf(ErrorCode code, int fallback = 500);
Response ErrorResponse(const Error& e, int fallback = 500);

// `body` as JSON, one line.
Response JsonResponse(int status, const nlohmann::json& body);

}  // namespace strake::server
