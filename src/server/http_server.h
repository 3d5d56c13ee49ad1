// HttpServer: the API's HTTP/1.1 server.
//
// A thread per connection (API traffic is a few clients and long-lived
// watch streams, not the data path, which is the router's), keep-alive,
// bodies capped while reading (413 past max_body, before the body is read),
// request heads capped (431), idle connections closed after a timeout, and
// at most max_connections at once (503 past that).
//
// Strangers cannot lock the API's clients out: a connection counts as
// unauthenticated until a request on it is answered with
// Response::authenticated; those share max_unauthenticated places, must send
// each whole request head within head_timeout (no slow drip, no idling), and
// when the places are full the one that has waited longest for a head is
// closed to make room for the newcomer. A handler answers with a
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
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/http.h"
#include "base/net.h"
#include "base/result.h"
#include "base/tls.h"

namespace strake::server {

struct Request {
  std::string method;
  std::string path;                          // decoded, without the query
  std::map<std::string, std::string> query;  // decoded; of a repeated key, the last value
  // Every decoded (key, value) in order: a repeated key's values (a[]=x&a[]=y).
  std::vector<std::pair<std::string, std::string>> query_list;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(std::string_view name) const;
};

// The Request of a method and a request target ("/path?k=v"): the path and
// the query decoded, as the server reads them off the wire.
Request MakeRequest(std::string_view method, std::string_view target);

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
  // More header fields (Server, Content-Type and the framing are the server's).
  std::vector<std::pair<std::string, std::string>> headers{};
  // Set by the handler when the request carried valid credentials: the
  // connection is then no longer a stranger's (see HttpServer).
  bool authenticated = false;
};

using Handler = std::function<Response(const Request&)>;

struct HttpServerOptions {
  size_t max_body = size_t{8} << 20;
  size_t max_header = size_t{64} << 10;
  size_t max_connections = 256;
  size_t max_unauthenticated = 128;
  // Between requests of an authenticated keep-alive connection, and between
  // reads of a body.
  std::chrono::milliseconds idle_timeout{120'000};
  // A request head arrives whole within this of its first byte, and a
  // stranger's connection sends one within this of opening (or of its last
  // answer).
  std::chrono::milliseconds head_timeout{10'000};
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
  // A connection's state, for the limits.
  struct Conn {
    std::chrono::steady_clock::time_point since;  // waiting for a head since
    bool waiting = true;                          // for a request head, nothing of it read yet
    bool authenticated = false;
    bool evicted = false;  // shut down to make room; its thread is ending
  };

  void AcceptLoop();
  // With mu_ held: true when a new connection fits, after closing the
  // longest-waiting stranger if that is what it takes.
  bool MakeRoomLocked();
  void MarkLocked(int fd, bool waiting, bool authenticated);
  void Serve(int fd);
  // Reads until `buf` holds a whole request head; its size, or nullopt when
  // the connection is done (an error was answered, the peer left, a deadline
  // passed).
  std::optional<size_t> ReadHead(const Link& link, std::string& buf, http::Head& head,
                                 bool authenticated);
  static bool Fill(const Link& link, std::string& buf,
                   std::chrono::steady_clock::time_point deadline);

  Handler handler_;
  HttpServerOptions options_;
  std::shared_ptr<TlsContext> tls_;
  Fd listener_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<int, Conn> conns_;  // open connections
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
