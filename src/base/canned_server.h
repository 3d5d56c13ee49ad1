// A loopback HTTP server for unit tests of clients: each connection's
// first request (its head and the body its Content-Length announces) is
// kept and answered with what `answer` makes of it,
// then the connection is closed. Test-only; heads is read after the
// client's call returned.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/net.h"

namespace strake::testing {

class CannedServer {
 public:
  explicit CannedServer(std::function<std::string(const std::string& head)> answer)
      : answer_(std::move(answer)) {
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l) << l.error().message;
    port_ = l->port;
    thread_ = std::thread([this, l = std::move(*l)]() mutable { Serve(l.fd.get()); });
  }
  ~CannedServer() {
    stop_ = true;
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<std::string> heads;
  // A copy of heads, for a test that polls while requests arrive.
  std::vector<std::string> Received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heads;
  }

 private:
  void Serve(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      // The body a Content-Length announces is read too (and kept after
      // the head).
      const size_t end = head.find("\r\n\r\n");
      const size_t want = end == std::string::npos ? 0 : end + 4 + ContentLength(head);
      while (head.size() < want) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        heads.push_back(head);
      }
      std::string out = answer_(head);
      (void)!::write(c, out.data(), out.size());
      ::close(c);
    }
  }
  static size_t ContentLength(const std::string& head) {
    std::string lower;
    for (char ch : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const size_t at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(head.substr(at + 17));
  }
  mutable std::mutex mu_;  // guards heads while the server runs
  std::function<std::string(const std::string&)> answer_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace strake::testing
