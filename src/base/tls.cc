#include "base/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>

namespace strake {

namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Blocking reads and writes on `fd` give up after `timeout` (0: never).
void SetTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// OpenSSL writes with write(2): a peer that is gone raises SIGPIPE, which
// would end the process. Blocked on this thread for the call, and a
// SIGPIPE raised meanwhile is taken.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~NoSigpipe() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      (void)sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

Result<std::shared_ptr<TlsContext>> TlsContext::Server(const std::string& cert_file,
                                                       const std::string& key_file) {
  std::shared_ptr<TlsContext> c(new TlsContext());
  c->ctx_ = SSL_CTX_new(TLS_server_method());
  if (!c->ctx_) return Failf("TLS: {}", OpenSslError());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_use_certificate_chain_file(c->ctx_, cert_file.c_str()) != 1)
    return Failf("--tls-cert {}: {}", cert_file, OpenSslError());
  if (SSL_CTX_use_PrivateKey_file(c->ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Failf(
        "--tls-key {}: not a PEM private key, or one that does not match --tls-cert {} "
        "({})",
        key_file, cert_file, OpenSslError());
  }
  if (SSL_CTX_check_private_key(c->ctx_) != 1)
    return Failf("--tls-key {} does not match --tls-cert {}", key_file, cert_file);
  return c;
}

Result<std::shared_ptr<TlsContext>> TlsContext::Client(const std::string& ca_file, bool verify) {
  std::shared_ptr<TlsContext> c(new TlsContext());
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return Failf("TLS: {}", OpenSslError());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_AUTO_RETRY);
  c->verify_ = verify;
  if (verify) {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(c->ctx_)
                             : SSL_CTX_load_verify_locations(c->ctx_, ca_file.c_str(), nullptr);
    if (ok != 1) return Failf("CA certificates {}: {}", ca_file, OpenSslError());
  } else {
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);
  }
  return c;
}

TlsSession::~TlsSession() {
  if (ssl_) {
    NoSigpipe guard;
    (void)SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
}

Result<std::unique_ptr<TlsSession>> TlsSession::Accept(const TlsContext& ctx, int fd,
                                                       std::chrono::milliseconds timeout) {
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->ssl_ = SSL_new(ctx.get());
  if (!s->ssl_ || SSL_set_fd(s->ssl_, fd) != 1) return Failf("TLS: {}", OpenSslError());
  // Kept after the handshake: a peer that stalls inside a TLS record (the
  // socket said readable, the record never completes) or stops reading
  // frees this thread after `timeout`, instead of holding it forever.
  SetTimeout(fd, timeout);
  NoSigpipe guard;
  int r = SSL_accept(s->ssl_);
  if (r != 1) return Failf("TLS handshake: {}", OpenSslError());
  return s;
}

Result<std::unique_ptr<TlsSession>> TlsSession::Connect(const TlsContext& ctx, int fd,
                                                        const std::string& host,
                                                        std::chrono::milliseconds timeout) {
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->ssl_ = SSL_new(ctx.get());
  if (!s->ssl_ || SSL_set_fd(s->ssl_, fd) != 1) return Failf("TLS: {}", OpenSslError());
  bool is_ip = host.find_first_not_of("0123456789.") == std::string::npos ||
               host.find(':') != std::string::npos;
  if (!is_ip) SSL_set_tlsext_host_name(s->ssl_, host.c_str());
  if (ctx.verify()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(s->ssl_);
    int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (set != 1) return Failf("TLS: cannot check the certificate against {}", host);
  }
  SetTimeout(fd, timeout);
  NoSigpipe guard;
  int r = SSL_connect(s->ssl_);
  if (r != 1) {
    long verify = SSL_get_verify_result(s->ssl_);
    if (verify != X509_V_OK) {
      return Failf(
          "TLS: the server's certificate is not trusted: {} (give its CA with "
          "--ca-cert or STRAKE_CA_CERT)",
          X509_verify_cert_error_string(verify));
    }
    return Failf("TLS handshake with {}: {}", host, OpenSslError());
  }
  return s;
}

long TlsSession::Read(char* buf, size_t n) {
  int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, 1 << 30)));
  if (r > 0) return r;
  int e = SSL_get_error(ssl_, r);
  ERR_clear_error();
  return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

bool TlsSession::WriteAll(std::string_view data) {
  NoSigpipe guard;
  while (!data.empty()) {
    int w = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
    if (w <= 0) {
      ERR_clear_error();
      return false;
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

bool TlsSession::Pending() const { return SSL_pending(ssl_) > 0; }

long Link::Recv(char* buf, size_t n) const {
  if (tls) return tls->Read(buf, n);
  while (true) {
    ssize_t r = ::recv(fd, buf, n, 0);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

bool Link::SendAll(std::string_view data) const {
  if (tls) return tls->WriteAll(data);
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace strake
