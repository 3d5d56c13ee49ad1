// TLS over a connected socket, with OpenSSL: the API server's side
// (`strake serve --tls-cert/--tls-key`) and the CLI's (https:// servers).
//
// TLS 1.2 at least. A client verifies the server's certificate chain
// against the system's CAs or a given CA file, and its name (DNS name or IP
// address) against the URL's host, unless told not to. A Link is what the
// HTTP code reads and writes: a plain socket, or one with a TLS session.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace strake {

class TlsContext {
 public:
  // A server's: its certificate chain and private key (PEM files).
  static Result<std::shared_ptr<TlsContext>> Server(const std::string& cert_file,
                                                    const std::string& key_file);
  // A client's: trust `ca_file` (PEM) if given, else the system's CAs;
  // `verify` false accepts any certificate (--insecure-skip-tls-verify).
  static Result<std::shared_ptr<TlsContext>> Client(const std::string& ca_file, bool verify);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  bool verify() const { return verify_; }

 private:
  TlsContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
};

// One TLS session on a connected, blocking socket the caller owns.
class TlsSession {
 public:
  // The server's handshake; at most `timeout` for the client to complete it,
  // and for any later read or write to make progress.
  static Result<std::unique_ptr<TlsSession>> Accept(const TlsContext& ctx, int fd,
                                                    std::chrono::milliseconds timeout);
  // The client's, checking the certificate against `host`; `timeout` as above.
  static Result<std::unique_ptr<TlsSession>> Connect(const TlsContext& ctx, int fd,
                                                     const std::string& host,
                                                     std::chrono::milliseconds timeout);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // > 0 bytes read, 0 at the peer's close, < 0 on an error.
  long Read(char* buf, size_t n);
  bool WriteAll(std::string_view data);
  // Decrypted bytes waiting: read them before polling the socket again.
  bool Pending() const;

 private:
  TlsSession() = default;
  SSL* ssl_ = nullptr;
};

// A connection's transport: the socket, and its TLS session if it has one.
struct Link {
  int fd = -1;
  TlsSession* tls = nullptr;

  long Recv(char* buf, size_t n) const;
  bool SendAll(std::string_view data) const;
  bool Pending() const { return tls && tls->Pending(); }
};

}  // namespace strake
