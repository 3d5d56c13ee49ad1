// A loopback HTTP server for unit tests of clients: each connection's
// first request head is kept and answered with what `answer` makes of it,
// then the connection is closed. Test-only; heads is read after the
// client's call returned.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
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
      heads.push_back(head);
      std::string out = answer_(head);
      (void)!::write(c, out.data(), out.size());
      ::close(c);
    }
  }
  std::function<std::string(const std::string&)> answer_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace strake::testing
