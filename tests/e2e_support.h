// Helpers for end-to-end tests: run the real strake binary in a temp data
// directory and read what it printed and stored.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/http.h"
#include "base/net.h"

namespace strake::e2e {

using Json = nlohmann::ordered_json;

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class E2E : public ::testing::Test {
 public:
  void SetUp() override;
  void TearDown() override;

  // Writes text to a file in the test's directory; returns its path.
  std::string File(const std::string& name, const std::string& text);
  // Runs strake with --data-dir set; waits at most `limit`.
  Ran Strake(std::vector<std::string> args,
             std::chrono::milliseconds limit = std::chrono::seconds(60),
             const std::vector<std::string>& extra_env = {});
  // Starts strake in the background; returns its pid.
  int StartStrake(std::vector<std::string> args);
  // The final PipelineRun of a `run -o json`.
  Json RunJson(const std::string& file, std::vector<std::string> extra = {});
  std::vector<Json> TaskRuns();

  std::string dir_;
  std::string data_;
  std::string stdin_path_;  // Strake's standard input when set (else none)
  // STRAKE_RUN_ON_HOST for `strake run` and `serve`: every image runs with
  // this machine's programs (the tests' YAML names public images, and
  // tests reach nothing beyond loopback), unless a test clears it to run
  // images from its own registry.
  std::string run_on_host_ = "**";
};

// An E2E that runs `strake serve` in the background, stopped at TearDown.
class ServerE2E : public E2E {
 public:
  void TearDown() override;
  // Starts the server on a free port; server_ is its URL.
  void StartServer();
  // Sends sig and reaps the server.
  void StopServer(int sig);
  // Runs the CLI against the server.
  Ran Cli(std::vector<std::string> args,
          std::chrono::milliseconds limit = std::chrono::seconds(90));

  // The Authorization header of the admin token, for raw API requests.
  std::vector<std::pair<std::string, std::string>> Auth() const;

  int pid_ = -1;
  std::string server_;
  std::string token_;                    // the admin token the server printed at its first start
  std::vector<std::string> serve_args_;  // more flags for `strake serve`
  std::string serve_egress_ = "loopback,file";  // --egress-allow for `strake serve`
  std::vector<std::string> cli_env_;            // more environment for Cli
};

// A loopback port nobody listens on (at the moment of asking).
uint16_t FreePort();

std::string Reason(const Json& obj);
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit);
bool PidAlive(int pid);
// The exit status of child `pid` once it ends (128 + signal if killed);
// -1, after killing it, if it runs longer than `limit`.
int ReapWithin(int pid, std::chrono::milliseconds limit);

// Requests to 127.0.0.1:port on keep-alive connections until stopped;
// tallies answers.
class Load {
 public:
  explicit Load(uint16_t port, int connections = 2) : port_(port) {
    for (int i = 0; i < connections; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int failures() const { return failures_.load(); }
  int total() const { return total_.load(); }
  std::map<std::string, int> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::string last_failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_failure_;
  }

 private:
  void Loop() {
    std::optional<http::Connection> c;
    while (!stop_) {
      if (!c) {
        auto opened = http::Connection::Open("127.0.0.1", port_, std::chrono::seconds(2));
        if (!opened) {
          Fail(opened.error().message);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        c = std::move(*opened);
      }
      auto r = c->RoundTrip({}, std::chrono::seconds(5));
      total_++;
      if (!r) {
        Fail(r.error().message);
        c.reset();
        continue;
      }
      if (r->status != 200) Fail(fmt::format("HTTP {}: {}", r->status, r->body));
      // A server that closes after each answer says so; a client reconnects.
      if (r->HeaderValue("Connection") == "close") c.reset();
      std::lock_guard<std::mutex> lock(mu_);
      bodies_[r->body]++;
    }
  }
  void Fail(const std::string& why) {
    failures_++;
    std::lock_guard<std::mutex> lock(mu_);
    last_failure_ = why;
  }

  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0}, total_{0};
  std::mutex mu_;
  std::map<std::string, int> bodies_;
  std::string last_failure_;
  std::vector<std::thread> threads_;
};

}  // namespace strake::e2e
